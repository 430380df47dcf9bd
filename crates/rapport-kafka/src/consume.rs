//! The consume loop every consuming service runs. A service supplies a [`Stage`]: what to do
//! with the records it is given, its own events (a batch's deadline, a finished delivery), and
//! how to finish on shutdown. The loop owns the rest, in this order, which is the contract:
//!
//! 1. subscribe, then liveness (`/livez` from the partitions' progress) and readiness;
//! 2. until `stop`: the stage's events first (so finished work frees room and stores offsets
//!    before more is read), then the resume check once a second (see `resume.rs`), then records
//!    while the stage has room. A received record marks the broker reachable, passes admission
//!    (records a resumed partition already processed are skipped, a skipped batch is sought
//!    back, so is a gap after the record before it), and begins in its partition's frontier
//!    before the stage sees it; a consumer error
//!    goes to the broker state or is counted; partitions assigned or revoked meanwhile are
//!    reported to the stage ([`Stage::reassigned`]) before it is given the records, before it
//!    handles its next event, and before it drains: librdkafka runs a rebalance inside any poll
//!    for records, also one that returns none, after which the stage's own event (a batch
//!    falling due) may come first;
//! 3. a stage error stops the loop and is returned;
//! 4. readiness off, the stage drains (bounded by `drain_timeout`) unless it failed, and the
//!    consumer commits what is stored and leaves the group (bounded too).
//!
//! The stage completes records through its [`Subscription`]; only then are their offsets stored,
//! and only as far as every earlier record of the partition is complete.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rapport_runtime::Health;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::{KafkaConfig, ServiceContext, leave_group};

/// Records handed to a stage in one call, at most: taking every record already waiting saves a
/// wake-up per record, which costs more than most stages spend on one.
pub const MAX_CHUNK: usize = 256;

/// A consumer in a group with the service's context: what a stage completes records through.
#[allow(missing_debug_implementations)] // the consumer has no Debug
pub struct Subscription {
    consumer: Arc<StreamConsumer<ServiceContext>>,
    context: ServiceContext,
    topics: Vec<String>,
    group_id: String,
}

impl Subscription {
    /// Joins `group_id` on `topics`. `tuning` adds consumer properties (memory bounds such as
    /// `queued.max.messages.kbytes`); statistics come every second (`KafkaConfig::consumer_config`).
    pub fn new(
        kafka: &KafkaConfig,
        group_id: &str,
        context: &ServiceContext,
        topics: &[&str],
        tuning: &[(&str, &str)],
    ) -> Result<Self, KafkaError> {
        let mut config = kafka.consumer_config(group_id);
        for (key, value) in tuning {
            config.set(*key, *value);
        }
        let consumer: Arc<StreamConsumer<ServiceContext>> =
            Arc::new(config.create_with_context(context.clone())?);
        consumer.subscribe(topics)?;
        Ok(Self {
            consumer,
            context: context.clone(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            group_id: group_id.to_owned(),
        })
    }

    pub fn context(&self) -> &ServiceContext {
        &self.context
    }

    /// Marks records done; their partitions' offsets are stored as far as the frontier reaches.
    pub fn complete<'a>(&self, messages: impl IntoIterator<Item = &'a OwnedMessage>) {
        self.context.complete(&*self.consumer, messages);
    }

    /// Marks records done by their positions (topic, partition, offset).
    pub fn complete_positions<'a>(&self, positions: impl IntoIterator<Item = (&'a str, i32, i64)>) {
        self.context.complete_positions(&*self.consumer, positions);
    }

    /// Marks one record done by its position.
    pub fn complete_offset(&self, topic: &str, partition: i32, offset: i64) {
        self.complete_positions([(topic, partition, offset)]);
    }
}

/// What a consuming service does with its records. The futures are `Send` so a service runs on
/// any runtime thread.
pub trait Stage: Send {
    type Error: From<KafkaError> + Send;
    /// Something the stage waits for besides records.
    type Event: Send;

    /// How many more records the stage takes now; 0 stops polling until an event frees room.
    fn room(&self) -> usize;

    /// Takes admitted records, in the order received (each has begun in its frontier). A stage
    /// that holds a batch inserts it here once it is full.
    fn accept(
        &mut self,
        subscription: &Subscription,
        records: Vec<OwnedMessage>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The stage's next event. Must be cancel-safe: the loop drops it whenever a record or the
    /// resume check comes first.
    fn next_event(&mut self) -> impl Future<Output = Self::Event> + Send;

    fn handle(
        &mut self,
        subscription: &Subscription,
        event: Self::Event,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Partitions assigned and revoked since the last call, in order. Called before any record
    /// of a newly assigned partition is accepted, before the records received together with a
    /// revocation are, and before the stage's next event is handled or it drains: librdkafka
    /// runs the rebalance inside a poll for records (which may return none), so a stage that
    /// keeps state per partition (the linker's tenants) can restore or drop it here before it
    /// writes anything more. Most stages ignore it: revoked partitions' frontiers are dropped by
    /// the loop.
    fn reassigned(
        &mut self,
        subscription: &Subscription,
        changes: Vec<crate::AssignmentChange>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (subscription, changes);
        std::future::ready(Ok(()))
    }

    /// After `stop`: finishes what is in hand until `deadline`; what is not finished is read
    /// again after the restart.
    fn drain(
        &mut self,
        subscription: &Subscription,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Runs `stage` on `subscription` until `stop` or a stage error (see the module docs for the
/// order of everything).
pub async fn consume<S: Stage>(
    subscription: Subscription,
    stage: &mut S,
    kafka: &KafkaConfig,
    health: &Health,
    stop: &CancellationToken,
    drain_timeout: Duration,
) -> Result<(), S::Error> {
    let Subscription {
        consumer, context, ..
    } = &subscription;
    info!(topics = ?subscription.topics, group = %subscription.group_id, "consuming");
    health.set_liveness(context.liveness(kafka.stall_limits()));
    health.set_ready(true);
    let mut resume_check = tokio::time::interval(Duration::from_secs(1));
    let mut failure = None;
    loop {
        let room = stage.room();
        let step = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            // A rebalance may have run inside a poll that returned no record: the stage hears
            // of it before it acts on its own event, so a batch that falls due never writes
            // for a partition another consumer may already own.
            event = stage.next_event() => match tell_reassigned(&subscription, stage).await {
                Ok(()) => stage.handle(&subscription, event).await,
                failed => failed,
            },
            _ = resume_check.tick() => {
                context.check_resumed(consumer);
                tell_reassigned(&subscription, stage).await
            }
            received = consumer.recv(), if room > 0 => {
                let mut chunk = Vec::new();
                let mut next = Some(received);
                while let Some(received) = next.take() {
                    match received {
                        Ok(message) => {
                            context.broker_reachable();
                            if context.admit(&**consumer, &message) {
                                context.frontiers().begin(message.topic(), message.partition(), message.offset());
                                chunk.push(message.detach());
                            }
                        }
                        Err(error) => context.consumer_error(&error),
                    }
                    if chunk.len() < room.min(MAX_CHUNK) {
                        next = ready_now(consumer.recv()).await;
                    }
                }
                match tell_reassigned(&subscription, stage).await {
                    Ok(()) if !chunk.is_empty() => stage.accept(&subscription, chunk).await,
                    other => other,
                }
            }
        };
        if let Err(error) = step {
            failure = Some(error);
            break;
        }
    }
    health.set_ready(false);
    if failure.is_none() {
        // Likewise before the drain: what it finishes must not include a revoked partition's.
        failure = tell_reassigned(&subscription, stage).await.err();
    }
    if failure.is_none() {
        let deadline = tokio::time::Instant::now() + drain_timeout;
        failure = stage.drain(&subscription, deadline).await.err();
    }
    leave_group(Arc::clone(consumer), drain_timeout).await;
    failure.map_or(Ok(()), Err)
}

/// Reports the partitions assigned and revoked since the last report to the stage, if any.
async fn tell_reassigned<S: Stage>(
    subscription: &Subscription,
    stage: &mut S,
) -> Result<(), S::Error> {
    let changes = subscription.context.take_assignment_changes();
    if changes.is_empty() {
        Ok(())
    } else {
        stage.reassigned(subscription, changes).await
    }
}

/// The future's output if it is ready without waiting, else `None` (the future is dropped, which
/// `StreamConsumer::recv` allows: a record is taken from the queue only when it is returned).
async fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// Sleeps until `deadline`, forever when there is none: the event of a stage whose batch flushes
/// by time.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
