//! `rapport-normalizer`: consumes the raw channel topics in a consumer group, runs the channel
//! adapters, and produces Avro interactions to `rapport.interactions.v1` and rejected input,
//! unchanged, to `rapport.dlq`. A raw record's offset is stored only after every output it
//! produced was acknowledged by the broker. See the crate README for the guarantees and the
//! tests that prove them.

mod config;
pub mod output;
mod pipeline;

use std::sync::Arc;

pub use config::{NormalizerConfig, PipelineConfig};
pub use rapport_channels::envelope::ExtraTopic;
pub use rapport_kafka::RegistryConfig;
use rapport_runtime::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum NormalizerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the dead-letter topic refused a record, so it cannot be kept: {0}")]
    DeadLetter(rdkafka::error::KafkaError),
    #[error(transparent)]
    KafkaSetup(#[from] rapport_kafka::KafkaError),
    #[error(transparent)]
    Registry(#[from] rapport_kafka::RegistryError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the service until `shutdown` triggers (a signal, or a failing component): health and
/// metrics endpoints, then the pipeline; drains in order: readiness off, stop polling, wait for
/// in-flight outputs, commit, stop HTTP.
pub async fn serve(config: NormalizerConfig, shutdown: Shutdown) -> Result<(), NormalizerError> {
    let config = Arc::new(config);
    let http = config.http.clone();
    rapport_runtime::http::run_service(&http, shutdown, |health, stop| async move {
        // TLS or credentials the brokers refuse stop the normalizer now, with the reason.
        if !rapport_kafka::check_connection(&config.kafka, stop.cancelled()).await? {
            return Ok(());
        }
        pipeline::run(config, health, stop).await
    })
    .await
}
