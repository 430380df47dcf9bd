//! Every metric the gateway exports ([`rapport_runtime::metrics`]).

use rapport_runtime::metrics::{Metric, buckets};

/// The gateway's metrics (it produces, and consumes nothing).
pub const METRICS: &[Metric] = &[
    Metric::counter(
        "rapport_gateway_requests_total",
        "Webhook requests answered, by source, endpoint and outcome (accepted, duplicate, refused reasons, kafka_unavailable, …).",
    )
    .by(&["source", "endpoint", "outcome"]),
    Metric::histogram(
        "rapport_gateway_ack_seconds",
        "Time from producing a webhook's raw body to Kafka's acknowledgement, in seconds.",
        buckets::STORE_SECONDS,
    ),
];

/// Everything `rapport-gateway` exports.
pub fn catalogue() -> Vec<Metric> {
    METRICS.to_vec()
}
