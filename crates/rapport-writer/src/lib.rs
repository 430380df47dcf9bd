//! `rapport-writer`: consumes `rapport.interactions.v1` (single-object or Confluent-framed Avro),
//! batches rows by count, bytes and time, inserts them into ClickHouse's `interactions` table,
//! and stores a record's offset only after the insert containing it succeeded. Rows the server
//! rejects for good go to the dead-letter topic with the server's error; their batch-mates are
//! stored. See the crate README for the guarantees and the tests that prove them.

mod config;
pub mod metrics;
mod pipeline;

use std::sync::Arc;

pub use config::{BatchConfig, WriterConfig};
use rapport_clickhouse::ClickHouseError;
use rapport_runtime::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the dead-letter topic refused a record, so it cannot be kept: {0}")]
    DeadLetter(rdkafka::error::KafkaError),
    #[error(transparent)]
    KafkaSetup(#[from] rapport_kafka::KafkaError),
    #[error(transparent)]
    Registry(#[from] rapport_kafka::RegistryError),
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Rules(#[from] rapport_responsiveness::RulesError),
}

/// Runs the service until `shutdown` triggers (a signal, or a failing component). Drain order:
/// readiness off, stop polling, insert the open batch, store and commit offsets, stop HTTP.
pub async fn serve(config: WriterConfig, shutdown: Shutdown) -> Result<(), WriterError> {
    rapport_runtime::metrics::install(&metrics::catalogue());
    let config = Arc::new(config);
    let http = config.http.clone();
    rapport_runtime::http::run_service(&http, shutdown, |health, stop| async move {
        // TLS or credentials the brokers refuse stop the writer now, with the reason.
        if !rapport_kafka::check_connection(&config.kafka, stop.cancelled()).await? {
            return Ok(());
        }
        pipeline::run(config, health, stop).await
    })
    .await
}
