//! `rapport-linker`: resolves every customer identifier the interactions reveal into customers
//! (connected sets of identifiers, see `rapport-identity`), stores links and the identifier →
//! customer mapping in ClickHouse, publishes each change on the identity topic, and lets an
//! operator retract a link (`POST /v1/identity/unlink`, used by `rapport identity unlink`).
//! Offsets are stored only after the links, customers and change events of the interactions
//! before them are written. See the crate README for the guarantees and the tests that prove them.

mod admin;
mod config;
pub mod metrics;
mod pipeline;
mod route;
mod shard;
mod store;

use std::sync::Arc;

pub use config::{LinkerBatch, LinkerConfig, ShardConfig};
use rapport_clickhouse::ClickHouseError;
use rapport_runtime::Shutdown;
pub use shard::partition_of;

#[derive(Debug, thiserror::Error)]
pub enum LinkerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the dead-letter topic refused a record, so it cannot be kept: {0}")]
    DeadLetter(rdkafka::error::KafkaError),
    #[error("the identity topic refused a change event: {0}")]
    Publish(rdkafka::error::KafkaError),
    #[error(transparent)]
    KafkaSetup(#[from] rapport_kafka::KafkaError),
    #[error(transparent)]
    Registry(#[from] rapport_kafka::RegistryError),
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the linker's topic {topic:?} has no partitions the broker reports")]
    NoPartitions { topic: String },
    #[error(
        "stopping: an operator's change to the identity graph could not be stored ({0}); the restart rebuilds the graph from the store"
    )]
    AdminFailed(String),
}

/// Runs the service until `shutdown` triggers; the admin API shares the operations port.
pub async fn serve(config: LinkerConfig, shutdown: Shutdown) -> Result<(), LinkerError> {
    rapport_runtime::metrics::install(&metrics::catalogue());
    let config = Arc::new(config);
    let core = pipeline::Core::new(Arc::clone(&config))?;
    let routes = admin::routes(core.clone(), config.admin.token.clone());
    rapport_runtime::http::run_service_with(
        &config.http.clone(),
        routes,
        shutdown,
        |health, stop| async move {
            // TLS or credentials the brokers refuse stop the linker now, with the reason.
            if !rapport_kafka::check_connection(&config.kafka, stop.cancelled()).await? {
                return Ok(());
            }
            pipeline::run(config, core, health, stop).await
        },
    )
    .await
}
