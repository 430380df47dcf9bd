//! Liveness through a real consumer on librdkafka's in-process mock cluster: a partition whose
//! fetcher librdkafka holds out of `active` while records wait fails the liveness check the
//! services' `/livez` answers with, named with its fetch state, and passes again once the
//! fetcher is back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rapport_kafka::{KafkaConfig, ServiceContext, StallLimits, consumer_metrics};
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "raw";
const GROUP: &str = "livers";
const RECORDS: i64 = 200;
/// Far beyond the test: only the fetch-inactive rule may fire.
const PROGRESS_LIMIT: Duration = Duration::from_secs(600);
const FETCH_INACTIVE_LIMIT: Duration = Duration::from_secs(2);

type Cluster = MockCluster<'static, rdkafka::producer::DefaultProducerContext>;

/// Three brokers: the group coordinator (2) always answers; the partition's leader (1) answers
/// 100 ms late, so the consumer, which gets one record batch per fetch from the mock, works
/// through a backlog it knows the size of for some 20 s; broker 3 is down.
async fn cluster_with_a_backlog() -> (Cluster, KafkaConfig) {
    let cluster = MockCluster::new(3).unwrap();
    cluster.create_topic(TOPIC, 1, 3).unwrap();
    cluster.partition_leader(TOPIC, 0, Some(1)).unwrap();
    cluster
        .coordinator(MockCoordinator::Group(GROUP.into()), 2)
        .unwrap();
    let kafka = KafkaConfig {
        brokers: cluster.bootstrap_servers(),
        session_timeout_ms: 6_000,
        producer_batch_messages: Some(1),
        stall_timeout_ms: PROGRESS_LIMIT.as_millis() as u64,
        fetch_inactive_timeout_ms: FETCH_INACTIVE_LIMIT.as_millis() as u64,
        ..KafkaConfig::default()
    };
    let producer: FutureProducer = kafka.producer_config().create().unwrap();
    // One at a time, so each record is a batch of its own.
    for i in 0..RECORDS {
        producer
            .send(
                FutureRecord::<(), _>::to(TOPIC).payload(&i.to_string()),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    cluster
        .broker_round_trip_time(1, Duration::from_millis(100))
        .unwrap();
    cluster.broker_down(3).unwrap();
    (cluster, kafka)
}

/// What the test's consume loop has seen so far.
#[derive(Debug, Default)]
struct Seen {
    received: i64,
    /// The liveness check's last answer.
    stuck: Option<String>,
}

/// Consumes like a stage that finishes every record at once (its offset is stored), checking
/// liveness every 200 ms, until `done` says so or `within` passes; returns what it saw.
async fn consume_until(
    consumer: &Arc<StreamConsumer<ServiceContext>>,
    context: &ServiceContext,
    limits: StallLimits,
    seen: &mut Seen,
    within: Duration,
    done: impl Fn(&Seen) -> bool,
) -> bool {
    let liveness = context.liveness(limits);
    let mut check = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = check.tick() => {
                seen.stuck = liveness();
                if done(seen) {
                    return true;
                }
            }
            received = consumer.recv() => match received {
                Ok(message) => {
                    context.frontiers().begin(message.topic(), message.partition(), message.offset());
                    context.complete(&**consumer, [&message.detach()]);
                    seen.received += 1;
                }
                // Broker 3 is down: the consume loop hands these to the broker state too.
                Err(error) => context.consumer_error(&error),
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_held_out_of_fetching_with_records_waiting_fails_liveness_until_it_fetches_again()
 {
    let metrics = rapport_runtime::metrics::install(&consumer_metrics("test"));
    let (cluster, kafka) = cluster_with_a_backlog().await;
    let limits = kafka.stall_limits();
    let context = ServiceContext::new("test");
    let consumer = common::subscribed(&kafka, GROUP, TOPIC, &context);
    let mut seen = Seen::default();

    // Reading the backlog: live throughout, also while the fetcher starts (offset query).
    let reading = consume_until(
        &consumer,
        &context,
        limits,
        &mut seen,
        Duration::from_secs(30),
        |seen| seen.stuck.is_some() || seen.received >= 10,
    )
    .await;
    assert!(reading && seen.stuck.is_none(), "{seen:?}");

    // The leader moves to the broker that is down. librdkafka validates its position with the
    // new leader before it fetches again (`validate-epoch-wait`), which never answers.
    cluster.partition_leader(TOPIC, 0, Some(3)).unwrap();
    let moved = tokio::time::Instant::now();
    let failed = consume_until(
        &consumer,
        &context,
        limits,
        &mut seen,
        Duration::from_secs(30),
        |seen| seen.stuck.is_some(),
    )
    .await;
    let stuck = seen.stuck.clone().unwrap_or_default();
    assert!(failed, "liveness never failed: {seen:?}");
    assert!(
        moved.elapsed() > FETCH_INACTIVE_LIMIT,
        "failed after {:?}, before the limit: {stuck}",
        moved.elapsed()
    );
    assert!(
        stuck.starts_with(&format!("{TOPIC}/0: ")) && stuck.contains("(not active)"),
        "{stuck}"
    );
    assert!(seen.received < RECORDS, "records were waiting: {seen:?}");
    let stalled = context.stalled(limits);
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert!(
        matches!(&stalled[0].reason, rapport_kafka::StallReason::FetchInactive { fetch_state } if fetch_state != "active"),
        "{stalled:?}"
    );
    assert!(stalled[0].lag > 0, "{stalled:?}");
    let gauge = gauge_value(&metrics.render(), "rapport_test_partition_stalled_seconds");
    assert!(
        gauge > FETCH_INACTIVE_LIMIT.as_secs_f64(),
        "the stall gauge shows it: {gauge}"
    );

    // The leader comes back: the fetcher validates, fetches the rest, and liveness passes.
    cluster.broker_up(3).unwrap();
    let recovered = consume_until(
        &consumer,
        &context,
        limits,
        &mut seen,
        Duration::from_secs(60),
        |seen| seen.stuck.is_none() && seen.received == RECORDS,
    )
    .await;
    assert!(recovered, "{seen:?}");
    let gauge = gauge_value(&metrics.render(), "rapport_test_partition_stalled_seconds");
    assert!(gauge < FETCH_INACTIVE_LIMIT.as_secs_f64(), "{gauge}");
}

/// The value of the one series of `name` in a Prometheus exposition.
fn gauge_value(exposition: &str, name: &str) -> f64 {
    let line = exposition
        .lines()
        .find(|line| line.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in\n{exposition}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}
