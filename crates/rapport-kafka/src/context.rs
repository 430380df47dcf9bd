use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rapport_runtime::metrics::{Kind, Metric};
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use tracing::{debug, info, warn};

use crate::Frontiers;
use crate::progress::{StallLimits, StallReason, Stalled};
use crate::resume::{Admission, RESUME_PATIENCE, ResumeGuard, Start};

/// How long one ask for newly assigned partitions' committed offsets waits for the coordinator;
/// after a timeout the next check asks again.
const COMMITTED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const SEEK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The partitions asked for, and what the coordinator said.
type Answer = (
    Vec<(String, i32)>,
    rdkafka::error::KafkaResult<TopicPartitionList>,
);

/// The ask for committed offsets, on a thread of its own: at most one at a time.
#[derive(Default)]
struct CommittedAsk {
    /// Set when an ask starts, cleared when its answer is taken.
    pending: bool,
    answer: Option<Answer>,
    asked: u64,
    /// The last answer was an error (logged once until an ask succeeds again).
    unavailable: bool,
}

const BROKER_UP: &str = "broker_up";
const CONSUMER_LAG: &str = "consumer_lag";
const PARTITION_STALLED: &str = "partition_stalled_seconds";
const CONSUMER_ERRORS: &str = "consumer_errors_total";

fn metric_name(service: &str, metric: &str) -> String {
    format!("rapport_{service}_{metric}")
}

/// The metrics a [`ServiceContext::new`]`(service)` exports, for the service's catalogue
/// ([`rapport_runtime::metrics`]).
pub fn consumer_metrics(service: &str) -> Vec<Metric> {
    vec![
        Metric::named(
            metric_name(service, BROKER_UP),
            Kind::Gauge,
            "1 while a Kafka broker is reachable; 0 once librdkafka reports every broker down, 1 again with the next record read or acknowledged.",
        ),
        Metric::named(
            metric_name(service, CONSUMER_LAG),
            Kind::Gauge,
            "Records between the consumer's position and the end of each assigned partition, by topic and partition (librdkafka statistics, every second).",
        )
        .by(&["topic", "partition"]),
        Metric::named(
            metric_name(service, PARTITION_STALLED),
            Kind::Gauge,
            "Seconds each assigned partition has gone without progress, by topic and partition: records waiting without its stored offset moving, or records waiting while librdkafka's fetcher is not active (a leader that does not answer); 0 while it makes progress.",
        )
        .by(&["topic", "partition"]),
        Metric::named(
            metric_name(service, CONSUMER_ERRORS),
            Kind::Counter,
            "Errors the consumer returned instead of a record, other than an unreachable broker (each also logged at warn).",
        ),
    ]
}

/// One partition joining or leaving this consumer's assignment. Revocations include partitions
/// lost without a clean hand-over (a session timeout), after which another consumer may already
/// own them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentChange {
    Assigned { topic: String, partition: i32 },
    Revoked { topic: String, partition: i32 },
}

/// The client context every Rapport consumer and producer shares: which partitions this instance
/// owns (revoked partitions drop their in-flight work, so its offsets are never stored), whether
/// the broker answers (an outage is logged once per change, never per message), and consumer lag
/// from librdkafka's statistics as `rapport_<service>_consumer_lag`.
#[derive(Clone)]
pub struct ServiceContext {
    frontiers: Arc<Mutex<Frontiers>>,
    assignment_changes: Arc<Mutex<Vec<AssignmentChange>>>,
    progress: Arc<Mutex<crate::progress::Progress>>,
    resume: Arc<Mutex<ResumeGuard>>,
    resume_window: i64,
    committed_ask: Arc<Mutex<CommittedAsk>>,
    broker_down: Arc<AtomicBool>,
    broker_up_reported: Arc<AtomicBool>,
    broker_up_metric: String,
    lag_metric: String,
    stalled_metric: String,
    consumer_errors_metric: String,
    /// Each desired partition's last librdkafka fetch state, to log its changes.
    fetch_states: Arc<Mutex<HashMap<(String, i32), String>>>,
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
            assignment_changes: Arc::default(),
            progress: Arc::default(),
            resume: Arc::default(),
            resume_window: 0,
            committed_ask: Arc::default(),
            broker_down: Arc::default(),
            broker_up_reported: Arc::default(),
            broker_up_metric: metric_name(service, BROKER_UP),
            lag_metric: metric_name(service, CONSUMER_LAG),
            stalled_metric: metric_name(service, PARTITION_STALLED),
            consumer_errors_metric: metric_name(service, CONSUMER_ERRORS),
            fetch_states: Arc::default(),
        }
    }

    /// Starts assigned partitions `records` before their committed offset and re-reads skipped
    /// batches (`kafka.resume_rewind_records`, for brokers such as Tansu 0.6; see `resume.rs`).
    #[must_use]
    pub fn with_resume_rewind(mut self, records: u32) -> Self {
        self.resume_window = i64::from(records);
        self
    }

    fn resume(&self) -> MutexGuard<'_, ResumeGuard> {
        self.resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a received record is new work. `false` for records below a resumed partition's
    /// committed offset, and for the record that revealed a skipped batch or a gap after the
    /// record before it (the partition is sought back and it arrives again).
    pub fn admit<C: rdkafka::consumer::Consumer<Self>>(
        &self,
        consumer: &C,
        message: &impl rdkafka::Message,
    ) -> bool {
        if self.resume_window == 0 {
            return true;
        }
        let admission = self
            .resume()
            .admit(message.topic(), message.partition(), message.offset());
        match admission {
            Admission::Process => true,
            Admission::Skip => false,
            Admission::Rewind(to) => {
                self.seek(consumer, message.topic(), message.partition(), to);
                false
            }
            Admission::Reread(from) => {
                let (topic, partition) = (message.topic(), message.partition());
                warn!(
                    topic,
                    partition,
                    from,
                    to = message.offset(),
                    "the broker skipped records between two of a partition; reading them again"
                );
                // A failed seek leaves the fetcher where it was: the next record shows the same
                // gap and asks again.
                if let Err(error) = consumer.seek(
                    topic,
                    partition,
                    rdkafka::Offset::Offset(from),
                    SEEK_TIMEOUT,
                ) {
                    warn!(%error, topic, partition, "seek failed; retrying");
                }
                false
            }
        }
    }

    /// Asks for newly assigned partitions' committed offsets (on a thread of its own, so a slow
    /// coordinator holds up nothing else), seeks them to their start once known, and seeks back
    /// partitions that have stayed silent since they were resumed; call it about once a second
    /// from the consume loop.
    pub fn check_resumed<C>(&self, consumer: &Arc<C>)
    where
        C: rdkafka::consumer::Consumer<Self> + Send + Sync + 'static,
    {
        if self.resume_window == 0 {
            return;
        }
        self.take_committed_answer();
        self.seek_to_start(consumer.as_ref());
        self.ask_committed(consumer);
        let stalled = self
            .resume()
            .stalled(std::time::Instant::now(), RESUME_PATIENCE);
        for (topic, partition, to) in stalled {
            self.seek(consumer.as_ref(), &topic, partition, to);
        }
    }

    fn seek<C: rdkafka::consumer::Consumer<Self>>(
        &self,
        consumer: &C,
        topic: &str,
        partition: i32,
        to: i64,
    ) {
        info!(
            topic,
            partition,
            to,
            "resumed partition skipped records; reading again from an earlier offset"
        );
        if let Err(error) =
            consumer.seek(topic, partition, rdkafka::Offset::Offset(to), SEEK_TIMEOUT)
        {
            // Revoked meanwhile, or the fetcher is busy: the next stall check (or assignment)
            // asks again.
            warn!(%error, topic, partition, "seek failed; retrying");
            self.resume().seek_failed(topic, partition);
        }
    }

    fn progress(&self) -> MutexGuard<'_, crate::progress::Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Assigned partitions that have made no progress for longer than `limits` allow, with how
    /// long and why, as of the consumer's last statistics: records waiting behind the stored
    /// offset with the offset unchanged (a consumer that silently stopped reading, or a stage
    /// blocked for good) past `limits.progress`, or records waiting while librdkafka's fetcher
    /// stays out of `active` (a leader that does not answer) past `limits.fetch_inactive`.
    /// `/livez` fails on them, and `rapport_<service>_partition_stalled_seconds` charts them.
    pub fn stalled(&self, limits: StallLimits) -> Vec<Stalled> {
        let now = std::time::Instant::now();
        let mut stalled = self.progress().stalled(now, limits, &self.stalled_metric);
        // Records held by a stage that cannot finish them (a sink that is down for good) stop
        // the consume loop from polling, and with it the statistics; the frontier still knows.
        for (topic, partition, in_flight, waited) in
            self.frontiers().waiting_longer_than(now, limits.progress)
        {
            if !stalled
                .iter()
                .any(|s| s.topic == topic && s.partition == partition)
            {
                stalled.push(Stalled {
                    topic,
                    partition,
                    lag: i64::try_from(in_flight).unwrap_or(i64::MAX),
                    for_secs: waited.as_secs(),
                    reason: StallReason::NoProgress,
                });
            }
        }
        stalled
    }

    /// A liveness check for [`rapport_runtime`]'s `/livez`: `None` while every partition makes
    /// progress, else which do not and why ([`ServiceContext::stalled`]).
    pub fn liveness(
        &self,
        limits: StallLimits,
    ) -> impl Fn() -> Option<String> + Send + Sync + 'static {
        let context = self.clone();
        move || {
            let stalled = context.stalled(limits);
            (!stalled.is_empty()).then(|| {
                stalled
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        }
    }

    /// The partitions assigned and revoked since the last call, in the order the rebalances
    /// happened (see [`crate::Stage::reassigned`]).
    pub fn take_assignment_changes(&self) -> Vec<AssignmentChange> {
        std::mem::take(
            &mut *self
                .assignment_changes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn note_assignment(&self, partitions: &TopicPartitionList, assigned: bool) {
        let mut changes = self
            .assignment_changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for p in partitions.elements() {
            let (topic, partition) = (p.topic().to_owned(), p.partition());
            changes.push(if assigned {
                AssignmentChange::Assigned { topic, partition }
            } else {
                AssignmentChange::Revoked { topic, partition }
            });
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
        self.complete_positions(
            consumer,
            messages
                .into_iter()
                .map(|m| (m.topic(), m.partition(), m.offset())),
        );
    }

    /// [`Self::complete`] by position (topic, partition, offset), for a stage that no longer
    /// holds the records.
    pub fn complete_positions<'a, C>(
        &self,
        consumer: &C,
        positions: impl IntoIterator<Item = (&'a str, i32, i64)>,
    ) where
        C: rdkafka::consumer::Consumer<Self>,
    {
        let mut next_by_partition: std::collections::BTreeMap<(String, i32), i64> =
            std::collections::BTreeMap::new();
        {
            let mut frontiers = self.frontiers();
            for (topic, partition, offset) in positions {
                if let Some(next) = frontiers.complete(topic, partition, offset) {
                    next_by_partition.insert((topic.to_owned(), partition), next);
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

    /// An error the consumer handed over instead of a record (a failed fetch, an offset out of
    /// range). Rare, and a sign that records may have been skipped, so it is logged and counted
    /// rather than left at debug level.
    ///
    /// Connection errors are not about records: librdkafka hands one over for every fetch it
    /// cannot make, many a second while a broker is down, so they go to the once-per-outage
    /// broker state instead.
    pub fn consumer_error(&self, error: &KafkaError) {
        if is_connection_error(error) {
            self.broker_unreachable(&error.to_string());
            return;
        }
        warn!(%error, "consumer error");
        metrics::counter!(self.consumer_errors_metric.clone()).increment(1);
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
        if is_connection_error(&error) {
            self.broker_unreachable(reason);
        } else {
            warn!(%error, reason, "kafka client error");
        }
    }

    fn stats(&self, statistics: Statistics) {
        let now = std::time::Instant::now();
        let mut seen = Vec::new();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(self.lag_metric.clone(), "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
                // Every partition assigned to us, whatever its fetch state: one librdkafka holds
                // out of fetching makes no progress either (`progress.rs`).
                if *partition >= 0 && p.desired {
                    self.fetch_state_seen(topic, p);
                    seen.push(crate::progress::Observed::from_statistics(topic, p));
                }
            }
        }
        self.progress().observe(now, seen);
    }
}

impl ServiceContext {
    fn fetch_states(&self) -> MutexGuard<'_, HashMap<(String, i32), String>> {
        self.fetch_states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the statistics since the partition was last assigned show its fetcher active.
    fn fetch_active(&self, topic: &str, partition: i32) -> bool {
        self.fetch_states()
            .get(&(topic.to_owned(), partition))
            .is_some_and(|state| state == "active")
    }

    /// Logs a partition's fetch state when it changes (statistics come every few seconds, so a
    /// state that lasts is seen): a partition that stays out of `active` with records waiting is
    /// one whose records are never read.
    fn fetch_state_seen(&self, topic: &str, p: &rdkafka::statistics::Partition) {
        let mut states = self.fetch_states();
        let key = (topic.to_owned(), p.partition);
        if states.get(&key).map(String::as_str) == Some(p.fetch_state.as_str()) {
            return;
        }
        let before = states.insert(key, p.fetch_state.clone());
        info!(
            topic,
            partition = p.partition,
            from = before.as_deref().unwrap_or("-"),
            to = %p.fetch_state,
            next_offset = p.next_offset,
            app_offset = p.app_offset,
            hi_offset = p.hi_offset,
            "partition fetch state"
        );
    }
}

fn is_connection_error(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
    )
}

impl ServiceContext {
    fn committed_ask(&self) -> MutexGuard<'_, CommittedAsk> {
        self.committed_ask
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many times committed offsets were asked for (each ask covers every partition waiting).
    pub fn committed_asks(&self) -> u64 {
        self.committed_ask().asked
    }

    fn ask_committed<C>(&self, consumer: &Arc<C>)
    where
        C: rdkafka::consumer::Consumer<Self> + Send + Sync + 'static,
    {
        let partitions = self.resume().to_ask();
        if partitions.is_empty() {
            return;
        }
        {
            let mut ask = self.committed_ask();
            if ask.pending {
                return;
            }
            ask.pending = true;
            ask.asked += 1;
        }
        let mut list = TopicPartitionList::new();
        for (topic, partition) in &partitions {
            list.add_partition(topic, *partition);
        }
        let consumer = Arc::clone(consumer);
        let slot = Arc::clone(&self.committed_ask);
        let spawned = std::thread::Builder::new()
            .name("committed-offsets".into())
            .spawn(move || {
                let answer = consumer.committed_offsets(list, COMMITTED_TIMEOUT);
                slot.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .answer = Some((partitions, answer));
            });
        if let Err(error) = spawned {
            warn!(%error, "cannot start a thread to ask for committed offsets; asking again");
            self.committed_ask().pending = false;
        }
    }

    fn take_committed_answer(&self) {
        let mut ask = self.committed_ask();
        let Some((asked, answer)) = ask.answer.take() else {
            return;
        };
        ask.pending = false;
        let was_unavailable = std::mem::replace(&mut ask.unavailable, answer.is_err());
        drop(ask);
        let committed = match answer {
            Ok(committed) => committed,
            Err(error) => {
                // The partitions keep waiting, their records dropped, until an ask is answered.
                if !was_unavailable {
                    warn!(%error, partitions = asked.len(), "committed offsets unavailable; asking again");
                }
                return;
            }
        };
        if was_unavailable {
            info!("committed offsets available again");
        }
        let mut guard = self.resume();
        for (topic, partition) in asked {
            // A partition missing from the answer, or answered with an error, is asked again.
            let Some(answered) = committed.find_partition(&topic, partition) else {
                continue;
            };
            if answered.error().is_err() {
                continue;
            }
            let stored = match answered.offset() {
                rdkafka::Offset::Offset(o) => Some(o),
                _ => None,
            };
            guard.committed_known(&topic, partition, stored, self.resume_window);
        }
    }

    fn seek_to_start<C: rdkafka::consumer::Consumer<Self>>(&self, consumer: &C) {
        let seeks = self.resume().to_seek();
        for (topic, partition, start) in seeks {
            // An assigned partition starts at the log end, which librdkafka resolves with an
            // offset query to the partition's leader. A seek made while that query is still out
            // can be undone by its answer, which moves the fetcher to the end, past every record
            // after the committed offset: after a broker outage, the normalizer's outage test
            // showed its partitions in `offset-wait` for 5 s and then active at the log end with
            // nothing read (`partition fetch state` in the log). So the seek waits until the
            // statistics show the fetcher active (`tests/resume_mock.rs`, slow leader).
            if !self.fetch_active(&topic, partition) {
                continue;
            }
            let to = match start {
                Start::Offset(o) => rdkafka::Offset::Offset(o),
                Start::Beginning => rdkafka::Offset::Beginning,
            };
            match consumer.seek(&topic, partition, to, SEEK_TIMEOUT) {
                Ok(()) => {
                    info!(topic, partition, ?start, "resuming partition");
                    self.resume().sought(&topic, partition);
                }
                // Usually the fetcher has not started the partition yet; the next check seeks
                // again with the same start.
                Err(error) => {
                    debug!(%error, topic, partition, "cannot seek an assigned partition yet")
                }
            }
        }
    }
}

impl ConsumerContext for ServiceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                self.note_assignment(partitions, false);
                let mut frontiers = self.frontiers();
                for p in partitions.elements() {
                    frontiers.revoke(p.topic(), p.partition());
                }
                drop(frontiers);
                let mut resume = self.resume();
                let mut states = self.fetch_states();
                for p in partitions.elements() {
                    resume.revoked(p.topic(), p.partition());
                    states.remove(&(p.topic().to_owned(), p.partition()));
                }
                drop(states);
                info!(
                    partitions = partitions.count(),
                    "partitions revoked; their in-flight work will be redelivered"
                );
            }
            Rebalance::Assign(partitions) => {
                info!(partitions = partitions.count(), "partitions assigned");
                self.note_assignment(partitions, true);
                if self.resume_window > 0 {
                    let mut resume = self.resume();
                    let mut states = self.fetch_states();
                    for mut p in partitions.elements() {
                        resume.assigned(p.topic(), p.partition());
                        // Its fetcher counts as active again only once the statistics say so.
                        states.remove(&(p.topic().to_owned(), p.partition()));
                        // Start where nothing waits: no records to drop before the seek to the
                        // start, and no offset query to the coordinator of librdkafka's own.
                        if let Err(error) = p.set_offset(rdkafka::Offset::End) {
                            warn!(%error, topic = p.topic(), partition = p.partition(), "cannot set start offset");
                        }
                    }
                }
            }
            Rebalance::Error(error) => warn!(%error, "rebalance error"),
        }
    }
}

/// Commits what is stored and leaves the group, in a blocking task bounded by `limit`: both wait
/// on the group coordinator, and one that never answers must not keep the process alive. Offsets
/// that do not get committed are redelivered, which deterministic event ids make harmless.
pub async fn leave_group(
    consumer: Arc<rdkafka::consumer::StreamConsumer<ServiceContext>>,
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

#[cfg(test)]
mod tests {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    use super::*;

    #[test]
    fn connection_errors_from_the_consumer_are_one_outage_not_record_errors() {
        let context = ServiceContext::new("test");
        for _ in 0..3 {
            context.consumer_error(&KafkaError::MessageConsumption(
                RDKafkaErrorCode::AllBrokersDown,
            ));
        }
        assert!(context.broker_down.load(Ordering::SeqCst));
        context.broker_reachable();
        assert!(!context.broker_down.load(Ordering::SeqCst));
        // A record-level error leaves the broker state alone.
        context.consumer_error(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::OffsetOutOfRange,
        ));
        assert!(!context.broker_down.load(Ordering::SeqCst));
    }
}
