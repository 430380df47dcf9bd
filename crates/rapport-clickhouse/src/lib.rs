//! The history store's ClickHouse side: the row written per interaction, the versioned
//! migrations in `schemas/clickhouse/`, the start-up check that the table matches the row, and
//! batch inserts that isolate rows the server rejects; and the `api_keys` table's key storage,
//! shared by `rapport keys` and `rapport-api`.
//!
//! Everything here runs unchanged on ClickHouse 18.16 and current releases (see `DOMAIN.md`):
//! the client never sends a setting, and inserts use plain `RowBinary`.

pub mod binds;
pub mod cluster;
mod config;
pub mod erase;
mod error;
pub mod forget;
mod insert;
pub mod keys;
pub mod migrations;
pub mod read;
pub mod repair;
mod row;
mod schema;
pub mod sla;
pub mod state;
pub mod threads;

pub use clickhouse::Client;
pub use config::ClickHouseConfig;
pub use error::{ClickHouseError, ErrorClass};
pub use forget::ForgetList;
pub use insert::{Rejected, insert_into, insert_isolating, insert_rows};
pub use row::{INTERACTION_COLUMNS, INTERACTIONS_TABLE, InteractionRow};
pub use schema::{SchemaMismatch, check_interactions_table, check_tables_exist, prepare};
