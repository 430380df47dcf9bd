use std::time::Duration;

use rapport_clickhouse::ClickHouseConfig;
pub use rapport_runtime::rate_limit::RateLimitConfig;
use rapport_runtime::{HttpConfig, LogConfig, Validate};
use serde::{Deserialize, Serialize};

/// `rapport-api`'s configuration (file + `RAPPORT_*` environment; see the README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub clickhouse: ClickHouseConfig,
    /// Apply `schemas/clickhouse` migrations on start (idempotent; safe with several instances).
    pub migrate_on_start: bool,
    /// The API and the operations endpoints (`/healthz`, `/readyz`, `/metrics`) share this port.
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub limits: LimitsConfig,
    pub ui: UiConfig,
    /// The writer's `[business_hours]`: a waiting conversation's current wait in business time
    /// is measured with the calendar its stored state names (`waiting_business_ms`).
    pub business_hours: rapport_calendar::BusinessHoursConfig,
    pub log: LogConfig,
}

/// The web pages (`/ui`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Mark the session cookie `Secure` (sent over HTTPS only). Unset: when the listener serves
    /// HTTPS itself, or the request came through a proxy that says `X-Forwarded-Proto: https`.
    /// Set `true` behind a TLS-terminating ingress that does not say so.
    pub secure_cookie: Option<bool>,
}

/// How verified keys are remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a key lookup (valid, revoked or unknown) is reused: a revocation reaches every
    /// instance within this time.
    pub cache_ttl_ms: u64,
    /// Bound on remembered lookups, so a flood of made-up keys cannot grow memory.
    pub cache_max_entries: usize,
    /// Failed authentications (missing, malformed, unknown or revoked keys) a client address may
    /// make per second, and at once; past that it gets 429 without a lookup.
    pub failures_per_second: f64,
    pub failure_burst: u32,
    /// Count failures against the first `X-Forwarded-For` address instead of the peer: only
    /// behind a proxy that sets it (and strips what clients send).
    pub trust_forwarded_for: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cache_ttl_ms: 10_000,
            cache_max_entries: 10_000,
            failures_per_second: 1.0,
            failure_burst: 20,
            trust_forwarded_for: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests with a larger body are refused with 413 (every endpoint is a GET).
    pub max_body_bytes: usize,
    /// Upper bound for one request, ClickHouse queries included; also sent to ClickHouse as
    /// `max_execution_time`, so the server stops working on a request the client gave up on.
    pub request_timeout_ms: u64,
    /// How often readiness re-checks that ClickHouse answers.
    pub health_check_interval_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024,
            request_timeout_ms: 10_000,
            health_check_interval_ms: 5_000,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            clickhouse: ClickHouseConfig::default(),
            migrate_on_start: true,
            http: HttpConfig::on("127.0.0.1:8080".parse().expect("valid address")),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            limits: LimitsConfig::default(),
            ui: UiConfig::default(),
            business_hours: rapport_calendar::BusinessHoursConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl ApiConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.request_timeout_ms)
    }

    pub fn key_cache_ttl(&self) -> Duration {
        Duration::from_millis(self.auth.cache_ttl_ms)
    }
}

impl Validate for ApiConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.clickhouse.validate();
        problems.extend(self.rate_limit.validate("rate_limit"));
        if self.auth.cache_max_entries == 0 {
            problems.push("auth.cache_max_entries must be at least 1".into());
        }
        if !(self.auth.failures_per_second.is_finite() && self.auth.failures_per_second > 0.0)
            || self.auth.failure_burst == 0
        {
            problems
                .push("auth.failures_per_second and auth.failure_burst must be positive".into());
        }
        problems.extend(self.http.validate("http"));
        if let Err(e) = rapport_calendar::BusinessHours::from_config(&self.business_hours) {
            problems.extend(e.problems().iter().map(|p| format!("business_hours.{p}")));
        }
        let l = &self.limits;
        if l.max_body_bytes == 0 || l.request_timeout_ms == 0 || l.health_check_interval_ms == 0 {
            problems.push(
                "limits.max_body_bytes, limits.request_timeout_ms and limits.health_check_interval_ms must be positive"
                    .into(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_limits_are_all_reported() {
        assert!(ApiConfig::default().validate().is_empty());
        assert_eq!(ApiConfig::default().http.listen.port(), 8080);
        let mut config = ApiConfig::default();
        config.rate_limit.requests_per_second = 0.0;
        config.rate_limit.burst = 0;
        config.limits.request_timeout_ms = 0;
        let problems = config.validate();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn a_calendar_that_does_not_compile_is_reported_with_its_field() {
        let config: ApiConfig = toml::from_str(
            "[[business_hours.calendars.office.versions]]\nzone = \"Mars/Olympus_Mons\"\n",
        )
        .unwrap();
        let problems = config.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("business_hours.calendars.office.versions[0].zone"),
            "{problems:?}"
        );
    }
}
