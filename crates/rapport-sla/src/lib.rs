//! `rapport-sla`: announces SLA outcomes on `rapport.sla.v1` (`schemas/avro/sla_event.avsc`) the
//! moment they happen: `at_risk` and `breached` from timers, without any new interaction; `met`
//! when a reply or resolution stops a clock in time; `corrected` when a late or replayed event
//! changes an outcome announced earlier. It reads the interactions topic in its own consumer
//! group (so it scales with partitions like the other services), derives each touched
//! conversation's SLA cycles from all of its stored events with the writer's `[business_hours]`
//! and `[sla]`, and keeps what it announced per cycle in `sla_ledger`, under the partition the
//! conversation lives on, so an instance assigned that partition arms the same timers again.
//! See the README for the guarantees and the tests that prove them.

mod config;
pub mod event;
pub mod plan;
mod service;

use std::sync::Arc;

pub use config::SlaServiceConfig;
use rapport_clickhouse::ClickHouseError;
use rapport_runtime::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum SlaError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    KafkaSetup(#[from] rapport_kafka::KafkaError),
    #[error(transparent)]
    Registry(#[from] rapport_kafka::RegistryError),
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error(transparent)]
    Rules(#[from] rapport_responsiveness::RulesError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the service until `shutdown` triggers.
pub async fn serve(config: SlaServiceConfig, shutdown: Shutdown) -> Result<(), SlaError> {
    let config = Arc::new(config);
    let http = config.http.clone();
    rapport_runtime::http::run_service(&http, shutdown, |health, stop| async move {
        if !rapport_kafka::check_connection(&config.kafka, stop.cancelled()).await? {
            return Ok(());
        }
        service::run(config, health, stop).await
    })
    .await
}
