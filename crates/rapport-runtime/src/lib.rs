//! What every Rapport binary shares, so that each `main.rs` stays a few lines long:
//!
//! - [`config`]: serde config structs layered built-in defaults → TOML file → `RAPPORT_*`
//!   environment, validated once with every problem reported together;
//! - [`telemetry`]: tracing to stderr as text or JSON;
//! - [`shutdown`]: one signal listener, one cancellation token, components under a task tracker;
//! - [`http`]: `/healthz`, `/readyz` and Prometheus `/metrics`, over HTTP or HTTPS;
//! - [`rate_limit`]: token buckets per key and a throttle for failed authentications;
//! - [`retry`]: exponential back-off with jitter for every loop that waits for something to return;
//! - [`tls`]: rustls client and server configs, certificate reloading, handshake failures in words.

pub mod config;
pub mod http;
pub mod rate_limit;
pub mod retry;
mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use config::{ConfigError, Secret, Validate, load};
pub use http::{Health, HttpConfig};
pub use shutdown::Shutdown;
pub use telemetry::{LogConfig, LogFormat};

/// Everything a service's `main` does after parsing its arguments: load the configuration (a
/// bad one exits 1 naming every problem), install logging, listen for SIGTERM/SIGINT, run
/// `serve`, and exit 0 or 1.
///
/// The process exits here rather than when the runtime drops: a librdkafka close still blocked
/// on an unresponsive group coordinator would otherwise hold it open.
pub async fn service_main<C, F, Fut, E>(
    config_file: Option<&std::path::Path>,
    log: fn(&C) -> &LogConfig,
    serve: F,
) -> !
where
    C: serde::Serialize + serde::de::DeserializeOwned + Default + Validate,
    F: FnOnce(C, Shutdown) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let config: C = match load(config_file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    telemetry::init(log(&config));
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    let result = serve(config, shutdown).await;
    if let Err(error) = &result {
        tracing::error!(%error, "stopped");
    }
    std::process::exit(i32::from(result.is_err()));
}
