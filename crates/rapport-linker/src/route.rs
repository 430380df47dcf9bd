//! The routing step of a sharded linker: copies each interaction, bytes and headers unchanged,
//! onto the linker's topic in the partition of its tenant, then completes it. The interactions
//! topic is keyed by customer (so the writer's load spreads over partitions even for one large
//! tenant), which scatters a tenant over every partition; the linker needs the opposite.

use std::sync::Arc;
use std::time::Duration;

use rapport_kafka::consume::{Stage, Subscription};
use rapport_kafka::{DecodeFailure, Decoder, ServiceContext};
use rapport_runtime::retry::Backoff;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tracing::warn;

use crate::shard::partition_of;
use crate::{LinkerConfig, LinkerError};

/// The tenant header the normalizer sets on every interaction (`rapport_channels::envelope`).
const HEADER_TENANT: &str = "rapport-tenant";

pub struct Router {
    pub config: Arc<LinkerConfig>,
    pub producer: FutureProducer<ServiceContext>,
    pub partitions: i32,
    pub decoder: Decoder,
}

impl Router {
    /// The tenant from the header, else from the record itself; a record that says neither goes
    /// to partition 0, where the resolver dead-letters it like any unreadable record.
    async fn tenant_of(&mut self, message: &OwnedMessage) -> String {
        let header = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == HEADER_TENANT)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned)
        });
        if let Some(tenant) = header {
            return tenant;
        }
        match self
            .decoder
            .decode(message.payload().unwrap_or_default())
            .await
        {
            Ok(interaction) => interaction.tenant_id,
            Err(DecodeFailure::Reject(_) | DecodeFailure::RegistryMisconfigured(_)) => {
                String::new()
            }
            // The resolver waits for the registry itself; the tenant is all this step needs.
            Err(DecodeFailure::RegistryUnavailable(_)) => String::new(),
        }
    }
}

fn copy_headers(message: &OwnedMessage) -> OwnedHeaders {
    message.headers().map_or_else(OwnedHeaders::new, |headers| {
        headers.iter().fold(OwnedHeaders::new(), |acc, h| {
            acc.insert(Header {
                key: h.key,
                value: h.value,
            })
        })
    })
}

impl Stage for Router {
    type Error = LinkerError;
    type Event = ();

    fn room(&self) -> usize {
        rapport_kafka::consume::MAX_CHUNK
    }

    /// Enqueues the whole chunk before awaiting any acknowledgement, so the copies share
    /// batches; a copy the broker refuses is sent again until it is taken (the records are
    /// completed only then, so a crash re-reads them: copies are at least once, which the
    /// resolver absorbs because observing an interaction twice changes nothing).
    async fn accept(
        &mut self,
        subscription: &Subscription,
        records: Vec<OwnedMessage>,
    ) -> Result<(), LinkerError> {
        let topic = self.config.shard.topic.clone();
        let mut routed = Vec::with_capacity(records.len());
        for message in &records {
            let tenant = self.tenant_of(message).await;
            let partition = partition_of(&tenant, self.partitions);
            routed.push((tenant, partition, copy_headers(message)));
        }
        let mut deliveries = Vec::with_capacity(records.len());
        for (message, (tenant, partition, headers)) in records.iter().zip(&routed) {
            let record = FutureRecord::to(&topic)
                .partition(*partition)
                .key(tenant.as_bytes())
                .payload(message.payload().unwrap_or_default())
                .headers(headers.clone());
            deliveries.push(self.producer.send_result(record).ok());
        }
        for ((message, (tenant, partition, headers)), delivery) in
            records.iter().zip(&routed).zip(deliveries)
        {
            if let Some(delivery) = delivery
                && let Ok(Ok(_)) = delivery.await
            {
                continue;
            }
            let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
            loop {
                let record = FutureRecord::to(&topic)
                    .partition(*partition)
                    .key(tenant.as_bytes())
                    .payload(message.payload().unwrap_or_default())
                    .headers(headers.clone());
                match self.producer.send(record, Timeout::Never).await {
                    Ok(_) => break,
                    Err((error, _)) => {
                        let wait = backoff.next_delay();
                        warn!(%error, ?wait, topic, "routing a record failed; retrying");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        metrics::counter!("rapport_linker_routed_total").increment(records.len() as u64);
        subscription.complete(&records);
        Ok(())
    }

    async fn next_event(&mut self) {
        std::future::pending::<()>().await;
    }

    async fn handle(&mut self, _: &Subscription, (): ()) -> Result<(), LinkerError> {
        Ok(())
    }

    async fn drain(
        &mut self,
        _: &Subscription,
        _: tokio::time::Instant,
    ) -> Result<(), LinkerError> {
        Ok(())
    }
}
