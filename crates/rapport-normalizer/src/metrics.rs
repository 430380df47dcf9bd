//! Every metric the normalizer exports ([`rapport_runtime::metrics`]).

use rapport_runtime::metrics::{Metric, buckets};

/// The service name in the consumer's metrics (`rapport_normalizer_consumer_lag`, …).
pub const SERVICE: &str = "normalizer";

/// The normalizer's own metrics.
pub const METRICS: &[Metric] = &[
    Metric::counter(
        "rapport_normalizer_messages_in_total",
        "Raw records read, by topic (records re-read after a restart count again).",
    )
    .by(&["topic"]),
    Metric::counter(
        "rapport_normalizer_interactions_out_total",
        "Interactions produced to the interactions topic and acknowledged, by source.",
    )
    .by(&["source"]),
    Metric::counter(
        "rapport_normalizer_dlq_total",
        "Raw records dead-lettered and acknowledged, by error code family.",
    )
    .by(&["code"]),
    Metric::counter(
        "rapport_normalizer_skipped_total",
        "Raw records that gave no interaction, by source and reason (ping, typing, …): documented = true for payload types the adapter documents as carrying none (counted only), false for ones it does not (also dead-lettered as ignored:<reason>).",
    )
    .by(&["source", "reason", "documented"]),
    Metric::counter(
        "rapport_normalizer_dlq_reduced_total",
        "Dead letters whose payload was cut to fit kafka.max_message_bytes.",
    ),
    Metric::histogram(
        "rapport_normalizer_processing_seconds",
        "Time to turn one raw record into its interactions or its dead letter, in seconds (parsing and encoding; not the send).",
        buckets::PROCESSING_SECONDS,
    ),
    Metric::gauge(
        "rapport_normalizer_in_flight_messages",
        "Raw records read whose outputs Kafka has not acknowledged yet.",
    ),
    Metric::gauge(
        "rapport_normalizer_in_flight_bytes",
        "Bytes of the raw records in flight (bounded by pipeline.max_in_flight_bytes).",
    ),
];

/// Everything `rapport-normalizer` exports: its own metrics and its consumer's.
pub fn catalogue() -> Vec<Metric> {
    let mut all = METRICS.to_vec();
    all.extend(rapport_kafka::consumer_metrics(SERVICE));
    all
}
