//! `rapport-normalizer`: consumes the raw channel topics in a consumer group, runs the channel
//! adapters, and produces Avro interactions to `rapport.interactions.v1` and rejected input,
//! unchanged, to `rapport.dlq`. A raw record's offset is stored only after every output it
//! produced was acknowledged by the broker. See the crate README for the guarantees and the
//! tests that prove them.

mod config;
pub mod output;
mod pipeline;

use std::sync::Arc;

pub use config::{ExtraTopic, NormalizerConfig, PipelineConfig, RegistryConfig};
use rapport_runtime::{Health, Shutdown};

#[derive(Debug, thiserror::Error)]
pub enum NormalizerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the dead-letter topic refused a record, so it cannot be kept: {0}")]
    DeadLetter(rdkafka::error::KafkaError),
    #[error("schema registry: {0}")]
    Registry(#[from] rapport_kafka::RegistryError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl NormalizerError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Kafka(_) | Self::Io(_) => false,
            Self::DeadLetter(_) => false,
            Self::Registry(e) => e.is_retryable(),
        }
    }
}

/// Runs the service until `shutdown` triggers (a signal, or a failing component): health and
/// metrics endpoints, then the pipeline; drains in order: readiness off, stop polling, wait for
/// in-flight outputs, commit, stop HTTP.
pub async fn serve(config: NormalizerConfig, shutdown: Shutdown) -> Result<(), NormalizerError> {
    let health = Health::default();
    let listener = rapport_runtime::http::bind(&config.http).await?;
    let http_stop = tokio_util::sync::CancellationToken::new();
    let http = tokio::spawn(rapport_runtime::http::serve(
        listener,
        health.clone(),
        http_stop.clone(),
    ));
    let result = pipeline::run(Arc::new(config), health, shutdown.token()).await;
    shutdown.trigger();
    http_stop.cancel();
    let _ = http.await;
    result
}
