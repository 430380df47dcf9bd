//! `rapport-api`: the tenant-scoped HTTP API over the history store — a customer's merged
//! timeline, one conversation, a customer's summary, responsiveness metrics and who is waiting —
//! for analysts, operators and downstream services.
//!
//! Every `/v1` request carries an API key (`Authorization: Bearer rpk_…`, see
//! [`rapport_clickhouse::keys`]); the
//! key's tenant scopes every query the request runs. The API, its OpenAPI document and the
//! operations endpoints (`/healthz`, `/readyz`, `/metrics`) share one port. See the crate README
//! for the guarantees and the tests that prove them.

mod auth;
mod config;
mod cursor;
mod error;
mod http;
pub mod metrics;
mod params;
mod schema;
mod ui;
mod v1;

use std::sync::Arc;
use std::time::Duration;

pub use auth::Caller;
pub use config::{ApiConfig, AuthConfig, LimitsConfig, RateLimitConfig, UiConfig};
pub use cursor::{AtRiskCursor, AtRiskPosition, Cursor, Order, Position};
pub use error::{ApiError, ErrorCode};
pub use http::{OPENAPI_JSON, router};
use rapport_clickhouse::ClickHouseError;
use rapport_runtime::rate_limit::{RateLimiter, Throttle};
use rapport_runtime::retry::{Backoff, retry};
use rapport_runtime::{Health, Shutdown};
pub use schema::check_api_schema;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What every request handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    /// Bound to the database; every query waits for its end (18.16 otherwise streams an error
    /// text as if it were rows) and is stopped by the server once the request has timed out.
    pub client: clickhouse::Client,
    pub keys: auth::KeyCache,
    pub limiter: RateLimiter,
    /// Failed authentications per client address.
    pub failures: Throttle<std::net::IpAddr>,
    pub trust_forwarded_for: bool,
    /// The calendars stored business times name.
    pub hours: rapport_calendar::BusinessHours,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(config: &ApiConfig) -> Self {
        let max_seconds = config.limits.request_timeout_ms.div_ceil(1000).max(1);
        let client = config
            .clickhouse
            .client()
            .with_setting("wait_end_of_query", "1")
            .with_setting("max_execution_time", max_seconds.to_string());
        Self(Arc::new(Inner {
            keys: auth::KeyCache::new(config.key_cache_ttl(), config.auth.cache_max_entries),
            limiter: RateLimiter::new(&config.rate_limit),
            failures: Throttle::new(&RateLimitConfig {
                requests_per_second: config.auth.failures_per_second,
                burst: config.auth.failure_burst,
            }),
            trust_forwarded_for: config.auth.trust_forwarded_for,
            // `ApiConfig::validate` refuses a configuration whose calendars do not compile
            // before any router is built.
            hours: rapport_calendar::BusinessHours::from_config(&config.business_hours)
                .unwrap_or_default(),
            client,
        }))
    }
}

/// Runs the service until `shutdown` triggers: the API and the operations endpoints on
/// `http.listen`, ready once ClickHouse answers and has the tables and views the API reads.
pub async fn serve(config: ApiConfig, shutdown: Shutdown) -> Result<(), ServiceError> {
    rapport_runtime::metrics::install(&metrics::catalogue());
    let routes = router(&config);
    let http = config.http.clone();
    rapport_runtime::http::run_service_with(&http, routes, shutdown, |health, stop| {
        watch_readiness(config, health, stop)
    })
    .await
}

async fn watch_readiness(
    config: ApiConfig,
    health: Health,
    stop: CancellationToken,
) -> Result<(), ServiceError> {
    let (initial, max) = (Duration::from_millis(250), Duration::from_secs(10));
    let prepared = rapport_clickhouse::prepare(
        &config.clickhouse,
        config.migrate_on_start,
        initial,
        max,
        stop.cancelled(),
    )
    .await?;
    if !prepared {
        return Ok(());
    }
    let checked = retry(
        &mut Backoff::new(initial, max),
        stop.cancelled(),
        rapport_clickhouse::ClickHouseError::is_retryable,
        |error, wait| warn!(%error, ?wait, "clickhouse not ready; retrying"),
        || check_api_schema(&config.clickhouse),
    )
    .await?;
    if checked.is_none() {
        return Ok(());
    }
    info!(database = %config.clickhouse.database, "schema checked; serving");
    let client = config.clickhouse.client();
    let interval = Duration::from_millis(config.limits.health_check_interval_ms);
    let mut was_up = None;
    loop {
        let up = tokio::time::timeout(
            config.request_timeout(),
            client.query("SELECT 1").fetch_one::<u8>(),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if was_up != Some(up) {
            if up {
                info!("clickhouse reachable; ready");
            } else {
                warn!("clickhouse unreachable; not ready");
            }
            was_up = Some(up);
        }
        health.set_ready(up);
        ::metrics::gauge!("rapport_api_clickhouse_up").set(if up { 1.0 } else { 0.0 });
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
    health.set_ready(false);
    Ok(())
}
