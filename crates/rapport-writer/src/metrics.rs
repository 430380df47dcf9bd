//! Every metric the writer exports ([`rapport_runtime::metrics`]).

use rapport_runtime::metrics::{Metric, buckets};

/// The service name in the consumer's metrics (`rapport_writer_consumer_lag`, …).
pub const SERVICE: &str = "writer";

/// The writer's own metrics.
pub const METRICS: &[Metric] = &[
    Metric::counter(
        "rapport_writer_messages_in_total",
        "Records read from the interactions topic, dead-lettered ones included.",
    ),
    Metric::counter(
        "rapport_writer_rows_written_total",
        "Rows ClickHouse accepted into interactions (rows re-read after a restart count again).",
    ),
    Metric::histogram(
        "rapport_writer_batch_rows",
        "Rows per inserted batch.",
        buckets::BATCH_ROWS,
    ),
    Metric::histogram(
        "rapport_writer_insert_seconds",
        "Time of a successful insert of a batch into interactions, bisection of rejected rows included, in seconds.",
        buckets::STORE_SECONDS,
    ),
    Metric::histogram(
        "rapport_writer_state_seconds",
        "Time to recompute and store the read model (conversations, replies, resolutions, waiting) of the conversations the inserted batches touched (one or, while a backlog drains, several batches), in seconds.",
        buckets::STORE_SECONDS,
    ),
    Metric::gauge(
        "rapport_writer_state_owed_conversations",
        "Conversations whose state inserted batches still owe (their records complete once it is stored).",
    ),
    Metric::counter(
        "rapport_writer_conversations_recomputed_total",
        "Conversations whose stored state was recomputed.",
    ),
    Metric::counter(
        "rapport_writer_conversations_rethreaded_total",
        "Stored email conversations whose thread changed (a late parent or middle message joined them to another).",
    ),
    Metric::counter(
        "rapport_writer_retries_total",
        "Failed ClickHouse inserts that are retried (the store unreachable, overloaded or timing out).",
    ),
    Metric::counter(
        "rapport_writer_dlq_total",
        "Records dead-lettered, by error code family (undecodable, unknown_schema, clickhouse_rejected).",
    )
    .by(&["code"]),
    Metric::counter(
        "rapport_writer_forgotten_dropped_total",
        "Interactions dropped because their customer or conversation is on the forget list.",
    ),
    Metric::histogram(
        "rapport_writer_end_to_end_seconds",
        "Insert time minus the interaction's received_at: from the raw record's arrival to its row in the store, in seconds.",
        buckets::END_TO_END_SECONDS,
    ),
    Metric::gauge("rapport_writer_pending_rows", "Rows in the open batch."),
    Metric::gauge(
        "rapport_writer_clickhouse_up",
        "1 after each successful insert, 0 while inserts are retried.",
    ),
];

/// Everything `rapport-writer` exports: its own metrics and its consumer's.
pub fn catalogue() -> Vec<Metric> {
    let mut all = METRICS.to_vec();
    all.extend(rapport_kafka::consumer_metrics(SERVICE));
    all
}
