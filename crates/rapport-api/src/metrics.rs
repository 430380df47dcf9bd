//! Every metric the API exports ([`rapport_runtime::metrics`]).

use rapport_runtime::metrics::{Metric, buckets};

/// The API's metrics.
pub const METRICS: &[Metric] = &[
    Metric::counter(
        "rapport_api_requests_total",
        "Answers, by route template (the JSON API's and the web pages') and status code.",
    )
    .by(&["route", "status"]),
    Metric::histogram(
        "rapport_api_request_duration_seconds",
        "Time to answer a request, by route template, in seconds.",
        buckets::HTTP_SECONDS,
    )
    .by(&["route"]),
    Metric::counter(
        "rapport_api_key_lookups_total",
        "API key verifications, by source: the key cache, or a ClickHouse lookup.",
    )
    .by(&["source"]),
    Metric::counter(
        "rapport_api_auth_failures_total",
        "Refused authentications, by error code (missing_key, malformed_key, unknown_key, revoked_key, rate_limited, unavailable).",
    )
    .by(&["code"]),
    Metric::counter(
        "rapport_api_auth_throttled_total",
        "Failed authentications that emptied a client address's allowance (later ones get 429 without a lookup).",
    ),
    Metric::counter(
        "rapport_api_rate_limited_total",
        "Requests refused with 429 because their key's token bucket was empty.",
    ),
    Metric::counter(
        "rapport_api_clickhouse_errors_total",
        "Failed ClickHouse queries, by class: retryable (answered 503) or fatal (answered 500).",
    )
    .by(&["class"]),
    Metric::gauge(
        "rapport_api_clickhouse_up",
        "1 while the readiness check reaches ClickHouse, 0 while it does not.",
    ),
];

/// Everything `rapport-api` exports.
pub fn catalogue() -> Vec<Metric> {
    METRICS.to_vec()
}
