use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, info, warn};

use crate::Frontiers;

/// The client context every Rapport consumer and producer shares: which partitions this instance
/// owns (revoked partitions drop their in-flight work, so its offsets are never stored), whether
/// the broker answers (an outage is logged once per change, never per message), and consumer lag
/// from librdkafka's statistics as `rapport_<service>_consumer_lag`.
#[derive(Clone)]
pub struct ServiceContext {
    frontiers: Arc<Mutex<Frontiers>>,
    broker_down: Arc<AtomicBool>,
    broker_up_reported: Arc<AtomicBool>,
    broker_up_metric: String,
    lag_metric: String,
}

impl std::fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceContext")
            .field("broker_down", &self.broker_down)
            .finish_non_exhaustive()
    }
}

impl ServiceContext {
    /// `service` names the metrics: `rapport_<service>_broker_up`, `rapport_<service>_consumer_lag`.
    pub fn new(service: &str) -> Self {
        Self {
            frontiers: Arc::default(),
            broker_down: Arc::default(),
            broker_up_reported: Arc::default(),
            broker_up_metric: format!("rapport_{service}_broker_up"),
            lag_metric: format!("rapport_{service}_consumer_lag"),
        }
    }

    pub fn frontiers(&self) -> MutexGuard<'_, Frontiers> {
        // A panic while holding this lock already stopped the service; the data is still sound.
        self.frontiers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks records done and stores each partition's new frontier: the offset after the longest
    /// prefix of records that are all done.
    pub fn complete<'a, C, M>(&self, consumer: &C, messages: impl IntoIterator<Item = &'a M>)
    where
        C: rdkafka::consumer::Consumer<Self>,
        M: rdkafka::Message + 'a,
    {
        let mut next_by_partition: std::collections::BTreeMap<(String, i32), i64> =
            std::collections::BTreeMap::new();
        {
            let mut frontiers = self.frontiers();
            for m in messages {
                if let Some(next) = frontiers.complete(m.topic(), m.partition(), m.offset()) {
                    next_by_partition.insert((m.topic().to_owned(), m.partition()), next);
                }
            }
        }
        for ((topic, partition), next) in next_by_partition {
            let mut tpl = rdkafka::TopicPartitionList::new();
            if tpl
                .add_partition_offset(&topic, partition, rdkafka::Offset::Offset(next))
                .is_ok()
                && let Err(error) = consumer.store_offsets(&tpl)
            {
                // Revoked between read and store: the new owner reads these records again.
                debug!(%error, topic, partition, "offset not stored");
            }
        }
    }

    pub fn broker_unreachable(&self, reason: &str) {
        if !self.broker_down.swap(true, Ordering::SeqCst) {
            warn!(
                reason,
                "broker unreachable; progress blocked until it returns"
            );
            metrics::gauge!(self.broker_up_metric.clone()).set(0.0);
        }
    }

    /// Called for every acknowledged send or received record, so it does nothing unless the
    /// state changed (or the gauge was never set).
    pub fn broker_reachable(&self) {
        if self.broker_up_reported.load(Ordering::Relaxed)
            && !self.broker_down.load(Ordering::Relaxed)
        {
            return;
        }
        if self.broker_down.swap(false, Ordering::SeqCst) {
            info!("broker reachable again; resuming");
        }
        self.broker_up_reported.store(true, Ordering::Relaxed);
        metrics::gauge!(self.broker_up_metric.clone()).set(1.0);
    }
}

impl ClientContext for ServiceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        // librdkafka repeats connection errors for every retry; state changes are reported by
        // `error` below, so its own lines stay at debug.
        debug!(?level, fac, log_message, "librdkafka");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure) => {
                self.broker_unreachable(reason)
            }
            _ => warn!(%error, reason, "kafka client error"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(self.lag_metric.clone(), "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for ServiceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                let mut frontiers = self.frontiers();
                for p in partitions.elements() {
                    frontiers.revoke(p.topic(), p.partition());
                }
                info!(
                    partitions = partitions.count(),
                    "partitions revoked; their in-flight work will be redelivered"
                );
            }
            Rebalance::Assign(partitions) => {
                info!(partitions = partitions.count(), "partitions assigned")
            }
            Rebalance::Error(error) => warn!(%error, "rebalance error"),
        }
    }
}

/// Commits what is stored and leaves the group, in a blocking task bounded by `limit`: both wait
/// on the group coordinator, and one that never answers must not keep the process alive. Offsets
/// that do not get committed are redelivered, which deterministic event ids make harmless.
pub async fn leave_group(
    consumer: rdkafka::consumer::StreamConsumer<ServiceContext>,
    limit: std::time::Duration,
) {
    use rdkafka::consumer::{CommitMode, Consumer};
    let leave = tokio::task::spawn_blocking(move || {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => info!("offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => warn!(%error, "final commit failed; the last records are read again"),
        }
        consumer.unsubscribe();
    });
    if tokio::time::timeout(limit, leave).await.is_err() {
        warn!("committing and leaving the group timed out; exiting anyway");
    }
}
