//! Every metric the linker exports ([`rapport_runtime::metrics`]).

use rapport_runtime::metrics::Metric;

/// The service name in the consumer's metrics (`rapport_linker_consumer_lag`, …).
pub const SERVICE: &str = "linker";

/// The linker's own metrics.
pub const METRICS: &[Metric] = &[
    Metric::counter(
        "rapport_linker_interactions_in_total",
        "Records read from the interactions topic, dead-lettered ones included.",
    ),
    Metric::counter(
        "rapport_linker_links_written_total",
        "identity_links rows written: new links, held ones, earlier evidence, retractions.",
    ),
    Metric::counter(
        "rapport_linker_customer_changes_total",
        "customers rows written (identifiers new or moved to another customer), each also a change event on the identity topic.",
    ),
    Metric::counter(
        "rapport_linker_retries_total",
        "Failed ClickHouse writes that are retried (the store unreachable, overloaded or timing out).",
    ),
    Metric::counter(
        "rapport_linker_dlq_total",
        "Records dead-lettered, by error code family (undecodable, unknown_schema).",
    )
    .by(&["code"]),
    Metric::counter(
        "rapport_linker_forgotten_dropped_total",
        "Interactions dropped because their customer or conversation is on the forget list.",
    ),
    Metric::counter(
        "rapport_linker_routed_total",
        "Interactions copied onto the linker's own topic by the routing step (sharded mode).",
    ),
    Metric::counter(
        "rapport_linker_tenants_restored_total",
        "Tenants whose graph was read from the store on their first interaction here (sharded mode).",
    ),
    Metric::counter(
        "rapport_linker_tenants_dropped_total",
        "Tenants whose graph was dropped because their partition went to another instance (sharded mode).",
    ),
    Metric::counter(
        "rapport_linker_admin_unauthorized_total",
        "Admin API requests refused for a missing or wrong token.",
    ),
];

/// The service name of the sharded linker's routing consumer (`rapport_linker_route_consumer_lag`, …).
pub const ROUTE_SERVICE: &str = "linker_route";

/// Everything `rapport-linker` exports: its own metrics, its consumer's, and the routing
/// consumer's (sharded mode).
pub fn catalogue() -> Vec<Metric> {
    let mut all = METRICS.to_vec();
    all.extend(rapport_kafka::consumer_metrics(SERVICE));
    all.extend(rapport_kafka::consumer_metrics(ROUTE_SERVICE));
    all
}
