//! Versioned, idempotent schema migrations, embedded from `schemas/clickhouse/NNN_name.sql`.
//!
//! Each applied version is recorded in `rapport_migrations` with the checksum of its text. Every
//! statement is written to be idempotent (`IF NOT EXISTS`), so running the migrations on every
//! start, or from several instances at once, is safe: two runners racing on the same version both
//! execute harmless statements and both record it; the table collapses the duplicate record.

use std::time::Duration;

use rapport_runtime::retry::Backoff;
use sha2::{Digest, Sha256};
use tracing::info;

use crate::{ClickHouseConfig, ClickHouseError};

/// One file of `schemas/clickhouse/`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// In order. A test checks this list against the directory, so a new file cannot be forgotten.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "interactions",
        sql: include_str!("../../../schemas/clickhouse/001_interactions.sql"),
    },
    Migration {
        version: 2,
        name: "views",
        sql: include_str!("../../../schemas/clickhouse/002_views.sql"),
    },
    Migration {
        version: 3,
        name: "identity",
        sql: include_str!("../../../schemas/clickhouse/003_identity.sql"),
    },
    Migration {
        version: 4,
        name: "api_keys",
        sql: include_str!("../../../schemas/clickhouse/004_api_keys.sql"),
    },
    Migration {
        version: 5,
        name: "forget",
        sql: include_str!("../../../schemas/clickhouse/005_forget.sql"),
    },
    Migration {
        version: 6,
        name: "read_model",
        sql: include_str!("../../../schemas/clickhouse/006_read_model.sql"),
    },
    Migration {
        version: 7,
        name: "business_time_sla",
        sql: include_str!("../../../schemas/clickhouse/007_business_time_sla.sql"),
    },
    Migration {
        version: 8,
        name: "email_threads",
        sql: include_str!("../../../schemas/clickhouse/008_email_threads.sql"),
    },
    Migration {
        version: 9,
        name: "interaction_log",
        sql: include_str!("../../../schemas/clickhouse/009_interaction_log.sql"),
    },
];

pub const MIGRATIONS_TABLE: &str = "rapport_migrations";

impl Migration {
    /// The statements of the file: full-line `--` comments dropped, split on `;`.
    pub fn statements(&self) -> Vec<String> {
        statements(self.sql)
    }

    pub fn checksum(&self) -> String {
        let digest = Sha256::digest(self.statements().join(";\n").as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The splitting rule every tool applying these files uses (tests/sql/check_sql.py too).
pub fn statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<u32>,
    pub already_applied: Vec<u32>,
}

#[derive(Debug, serde::Deserialize, clickhouse::Row)]
struct Applied {
    version: u32,
    checksum: String,
}

/// Creates the database if needed and applies every migration not yet recorded: each file's own
/// statements on one server, their cluster form (`crate::cluster`) when `config.cluster` is set.
pub async fn migrate(config: &ClickHouseConfig) -> Result<MigrationReport, ClickHouseError> {
    match &config.cluster {
        None => {
            let plan = Plan {
                create_database: format!("CREATE DATABASE IF NOT EXISTS {}", config.database),
                create_table: format!(
                    "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version UInt32, name String, \
                     checksum String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version"
                ),
                statements: MIGRATIONS.iter().map(Migration::statements).collect(),
            };
            run(&config.server_client(), &config.client(), &plan).await
        }
        Some(cluster) => {
            let client = config.ddl_client();
            // Nothing to do is answered without a statement on the cluster: an `ON CLUSTER`
            // statement waits for every server, so a service restarting while one server is
            // down would otherwise wait for it.
            if let Ok(applied) = applied(&client).await
                && let Some(report) = up_to_date(&applied)
            {
                return Ok(report);
            }
            let layout = crate::cluster::Layout {
                cluster,
                database: &config.database,
            };
            let plan = Plan {
                create_database: layout.create_database(),
                create_table: layout.migrations_table(MIGRATIONS_TABLE),
                statements: statements_for(config)?,
            };
            run(&config.ddl_server_client(), &client, &plan).await
        }
    }
}

/// The statements `migrate` runs for `config`, file by file (`rapport migrate --print`).
pub fn statements_for(config: &ClickHouseConfig) -> Result<Vec<Vec<String>>, ClickHouseError> {
    let Some(cluster) = &config.cluster else {
        return Ok(MIGRATIONS.iter().map(Migration::statements).collect());
    };
    let layout = crate::cluster::Layout {
        cluster,
        database: &config.database,
    };
    crate::cluster::rewrite_migrations(layout, MIGRATIONS).map_err(|(version, error)| {
        let name = MIGRATIONS
            .iter()
            .find(|m| m.version == version)
            .map_or("", |m| m.name);
        ClickHouseError::Migration {
            version,
            name: name.into(),
            reason: error.to_string(),
        }
    })
}

/// What one mode runs: the database, the record table, and each file's statements.
struct Plan {
    create_database: String,
    create_table: String,
    statements: Vec<Vec<String>>,
}

async fn applied(client: &clickhouse::Client) -> Result<Vec<Applied>, ClickHouseError> {
    Ok(client
        .query_raw(&format!(
            "SELECT version, any(checksum) AS checksum FROM {MIGRATIONS_TABLE} GROUP BY version ORDER BY version"
        ))
        .fetch_all()
        .await?)
}

/// Every migration recorded with its file's checksum: the report of a run with nothing to do.
fn up_to_date(applied: &[Applied]) -> Option<MigrationReport> {
    let mut report = MigrationReport::default();
    for migration in MIGRATIONS {
        match applied.iter().find(|a| a.version == migration.version) {
            Some(done) if done.checksum == migration.checksum() => {
                report.already_applied.push(migration.version);
            }
            _ => return None,
        }
    }
    Some(report)
}

async fn run(
    server: &clickhouse::Client,
    client: &clickhouse::Client,
    plan: &Plan,
) -> Result<MigrationReport, ClickHouseError> {
    execute(server, &plan.create_database).await?;
    execute(client, &plan.create_table).await?;
    let applied = applied(client).await?;
    let mut report = MigrationReport::default();
    for (migration, statements) in MIGRATIONS.iter().zip(&plan.statements) {
        let checksum = migration.checksum();
        if let Some(done) = applied.iter().find(|a| a.version == migration.version) {
            if done.checksum != checksum {
                return Err(ClickHouseError::Migration {
                    version: migration.version,
                    name: migration.name.into(),
                    reason: "its file changed after it was applied; add a new migration instead of editing an applied one".into(),
                });
            }
            report.already_applied.push(migration.version);
            continue;
        }
        match apply(client, migration.version, statements).await {
            Ok(Outcome::Here) => {}
            Ok(Outcome::Elsewhere) => {
                info!(
                    version = migration.version,
                    "migration applied by another runner meanwhile"
                );
                report.already_applied.push(migration.version);
                continue;
            }
            // A server that went away mid-file (on a cluster, any server of it: an ON CLUSTER
            // statement waits for all of them) is a reason to run again, not to stop: every
            // statement is idempotent, and a service's start-up retries retryable errors.
            Err(error) if error.is_retryable() => return Err(error),
            Err(error) => {
                return Err(ClickHouseError::Migration {
                    version: migration.version,
                    name: migration.name.into(),
                    reason: error.to_string(),
                });
            }
        }
        execute(
            client,
            &format!(
                "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum, applied_at) VALUES ({}, '{}', '{checksum}', now())",
                migration.version, migration.name
            ),
        )
        .await?;
        info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        report.applied.push(migration.version);
    }
    Ok(report)
}

/// Who applied a migration.
enum Outcome {
    Here,
    /// Another runner recorded it (or a later one) while this one was applying it.
    Elsewhere,
}

/// Runs every statement of migration `version`. A runner next to this one (the writer, the linker and a
/// `rapport migrate` job start together) may be applying the same file: a file that replaces
/// views drops them before it creates them again, so a statement of one runner can fail on what
/// the other just dropped, or on a later file's views if the other is already past this one.
/// Every statement is idempotent, so the file is applied again from the start after a short,
/// random pause, until it succeeds or another runner recorded it.
async fn apply(
    client: &clickhouse::Client,
    version: u32,
    statements: &[String],
) -> Result<Outcome, ClickHouseError> {
    let mut attempt = 0u64;
    // Spread concurrent runners apart: each retries after its own random wait.
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let mut result = Ok(());
        for statement in statements {
            result = execute_racing(client, statement).await;
            if result.is_err() {
                break;
            }
        }
        let Err(error) = result else {
            return Ok(Outcome::Here);
        };
        if recorded_from(client, version).await? {
            return Ok(Outcome::Elsewhere);
        }
        attempt += 1;
        if attempt > 5 || error.is_retryable() {
            return Err(error);
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Whether `version` or a later one is recorded as applied.
async fn recorded_from(client: &clickhouse::Client, version: u32) -> Result<bool, ClickHouseError> {
    let count: u64 = client
        .query_raw(&format!(
            "SELECT count() FROM {MIGRATIONS_TABLE} WHERE version >= {version}"
        ))
        .fetch_one()
        .await?;
    Ok(count > 0)
}

async fn execute(client: &clickhouse::Client, sql: &str) -> Result<(), ClickHouseError> {
    client.query_raw(sql).execute().await.map_err(Into::into)
}

/// A concurrent runner can create the same object between our `IF NOT EXISTS` check and our
/// create (TABLE_ALREADY_EXISTS, 57); the statement is idempotent, so running it again settles it.
/// `ADD COLUMN` has no `IF NOT EXISTS` on 18.16: a column that already exists (added by an earlier
/// attempt or another runner; ILLEGAL_COLUMN, 44, on 18.16, DUPLICATE_COLUMN, 15, on current
/// ClickHouse, both saying "already exists") is what it asked for.
async fn execute_racing(client: &clickhouse::Client, sql: &str) -> Result<(), ClickHouseError> {
    let mut attempt = 0;
    loop {
        match execute(client, sql).await {
            Err(error) if adds_an_existing_column(sql, &error) => return Ok(()),
            Err(error) if error.code() == Some(57) && attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            other => return other,
        }
    }
}

fn adds_an_existing_column(sql: &str, error: &ClickHouseError) -> bool {
    let statement = sql.trim_start().to_ascii_uppercase();
    statement.starts_with("ALTER TABLE")
        && statement.contains(" ADD COLUMN ")
        && matches!(error.code(), Some(44 | 15))
        && error.to_string().contains("already exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_file_is_registered_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let registered: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:03}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, registered);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are 1, 2, 3, …");
            assert!(!m.statements().is_empty());
        }
    }

    #[test]
    fn comments_and_blank_statements_are_dropped() {
        let sql =
            "-- a; comment\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\n  -- another\n;SELECT 1;";
        assert_eq!(
            statements(sql),
            vec!["CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1"]
        );
    }
}
