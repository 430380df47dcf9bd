//! What every Rapport binary shares, so that each `main.rs` stays a few lines long:
//!
//! - [`config`]: serde config structs layered built-in defaults → TOML file → `RAPPORT_*`
//!   environment, validated once with every problem reported together;
//! - [`telemetry`]: tracing to stderr as text or JSON;
//! - [`shutdown`]: one signal listener, one cancellation token, components under a task tracker;
//! - [`http`]: `/healthz`, `/readyz` and Prometheus `/metrics`.

pub mod config;
pub mod http;
pub mod shutdown;
pub mod telemetry;

pub use config::{ConfigError, Secret, Validate, load};
pub use http::{Health, HttpConfig};
pub use shutdown::Shutdown;
pub use telemetry::{LogConfig, LogFormat};
