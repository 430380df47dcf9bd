//! The consume loop tells a stage about a revoked partition before the stage acts on anything
//! else, on librdkafka's in-process mock cluster. librdkafka runs a rebalance inside the poll
//! that looks for records; when that poll returns no record, the stage's own next event (a
//! batch's deadline) may come first, and a stage that keeps state per partition (the sharded
//! linker's tenants) would then write for a partition another consumer may already own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport_kafka::consume::{MAX_CHUNK, Stage, Subscription, consume};
use rapport_kafka::{AssignmentChange, KafkaConfig, ServiceContext};
use rapport_runtime::Health;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "by-tenant";
const GROUP: &str = "resolvers";
const PARTITIONS: i32 = 2;
const RECORDS_PER_PARTITION: usize = 10;

/// What the stage saw, shared with the test.
#[derive(Debug, Default)]
struct Seen {
    /// Records held per partition (accepted, never completed, so all still in flight).
    held: BTreeMap<i32, usize>,
    revocations_told: usize,
    /// Events handled while the loop had revoked a partition whose records the stage holds.
    acted_unaware: Vec<String>,
}

/// Holds every record it is given, like a batch that is never flushed, and checks at each of its
/// events that it knows of every revocation: the loop drops a revoked partition's in-flight
/// records from the frontier in the rebalance callback, so fewer records in flight than held
/// means a revocation the stage has not been told of.
struct Holder {
    seen: Arc<Mutex<Seen>>,
}

impl Holder {
    fn unaware(&self, subscription: &Subscription) -> Option<String> {
        let held: usize = self.seen.lock().unwrap().held.values().sum();
        let in_flight = subscription.context().frontiers().in_flight();
        (in_flight < held).then(|| format!("{held} records held, {in_flight} in flight"))
    }
}

impl Stage for Holder {
    type Error = KafkaError;
    type Event = ();

    fn room(&self) -> usize {
        MAX_CHUNK
    }

    async fn accept(
        &mut self,
        _: &Subscription,
        records: Vec<OwnedMessage>,
    ) -> Result<(), KafkaError> {
        let mut seen = self.seen.lock().unwrap();
        for record in records {
            *seen.held.entry(record.partition()).or_default() += 1;
        }
        Ok(())
    }

    /// Due a millisecond after the last one while the stage holds records, so whenever a
    /// rebalance runs inside a poll that returns no record, an event comes before the loop's
    /// once-a-second resume check would report the change. With the contract kept, the loop
    /// tells the stage first, so `handle` never sees a partition dropped behind its back.
    fn next_event(&mut self) -> impl std::future::Future<Output = ()> + Send {
        let seen = Arc::clone(&self.seen);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let held: usize = seen.lock().unwrap().held.values().sum();
                if held > 0 {
                    return;
                }
            }
        }
    }

    async fn handle(&mut self, subscription: &Subscription, (): ()) -> Result<(), KafkaError> {
        if let Some(unaware) = self.unaware(subscription) {
            self.seen.lock().unwrap().acted_unaware.push(unaware);
        }
        // Nothing to flush: wait a little so the loop polls for records and rebalances.
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }

    async fn reassigned(
        &mut self,
        _: &Subscription,
        changes: Vec<AssignmentChange>,
    ) -> Result<(), KafkaError> {
        let mut seen = self.seen.lock().unwrap();
        for change in changes {
            if let AssignmentChange::Revoked { partition, .. } = change {
                seen.held.remove(&partition);
                seen.revocations_told += 1;
            }
        }
        Ok(())
    }

    async fn drain(
        &mut self,
        subscription: &Subscription,
        _: tokio::time::Instant,
    ) -> Result<(), KafkaError> {
        if let Some(unaware) = self.unaware(subscription) {
            self.seen
                .lock()
                .unwrap()
                .acted_unaware
                .push(format!("drain: {unaware}"));
        }
        Ok(())
    }
}

async fn fill(kafka: &KafkaConfig) {
    let producer: FutureProducer = kafka.producer_config().create().unwrap();
    for partition in 0..PARTITIONS {
        for n in 0..RECORDS_PER_PARTITION {
            let payload = format!("{partition}-{n}");
            producer
                .send(
                    FutureRecord::<(), _>::to(TOPIC)
                        .partition(partition)
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what} within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_hears_of_a_revocation_before_it_handles_its_next_event() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let kafka = KafkaConfig {
        brokers: cluster.bootstrap_servers(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    fill(&kafka).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = CancellationToken::new();
    let first = {
        let (kafka, seen, stop) = (kafka.clone(), Arc::clone(&seen), stop.clone());
        tokio::spawn(async move {
            let context = ServiceContext::new("test");
            let subscription = Subscription::new(&kafka, GROUP, &context, &[TOPIC], &[]).unwrap();
            let mut stage = Holder { seen };
            consume(
                subscription,
                &mut stage,
                &kafka,
                &Health::default(),
                &stop,
                Duration::from_secs(5),
            )
            .await
        })
    };
    wait_for("the first consumer holds every record", || {
        seen.lock().unwrap().held.values().sum::<usize>()
            == RECORDS_PER_PARTITION * PARTITIONS as usize
    })
    .await;

    // A second member joins: the first gives up one partition, with no record left to read, so
    // the rebalance runs inside a poll that returns nothing.
    let second: Arc<StreamConsumer> = Arc::new(kafka.consumer_config(GROUP).create().unwrap());
    second.subscribe(&[TOPIC]).unwrap();
    let polling = {
        let second = Arc::clone(&second);
        tokio::spawn(async move {
            loop {
                let _ = second.recv().await;
            }
        })
    };
    wait_for("the first consumer is told of a revocation", || {
        seen.lock().unwrap().revocations_told > 0
    })
    .await;
    // Some more events of the stage's own after the hand-over.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    first.await.unwrap().unwrap();
    polling.abort();

    let seen = seen.lock().unwrap();
    assert!(
        seen.acted_unaware.is_empty(),
        "the stage acted before it was told of a revocation: {:?}",
        seen.acted_unaware
    );
    assert_eq!(
        seen.held.values().sum::<usize>(),
        RECORDS_PER_PARTITION,
        "one partition's records were handed over: {:?}",
        seen.held
    );
}
