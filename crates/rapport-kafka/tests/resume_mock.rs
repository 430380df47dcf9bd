//! The resume guard through a real consumer group, on librdkafka's in-process mock cluster: an
//! assigned partition is held until the consume loop has its committed offset, then read from
//! exactly that offset, also when the coordinator cannot answer at first.

mod common;

use std::time::Duration;

use rapport_kafka::{KafkaConfig, ServiceContext};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "raw";
const GROUP: &str = "resumers";
const RECORDS: i64 = 100;
const COMMITTED: i64 = 60;

async fn cluster_with_a_commit() -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    KafkaConfig,
) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 1, 1).unwrap();
    let kafka = config(&cluster);
    // A previous owner of the partition got as far as COMMITTED.
    fill(&kafka, Some(COMMITTED)).await;
    (cluster, kafka)
}

fn config(
    cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
) -> KafkaConfig {
    KafkaConfig {
        brokers: cluster.bootstrap_servers(),
        session_timeout_ms: 6_000,
        resume_rewind_records: 10,
        ..KafkaConfig::default()
    }
}

/// Produces RECORDS records as one producer batch (one fetch answers with all of them, however
/// slow the leader) and commits `committed` for the group.
async fn fill(kafka: &KafkaConfig, committed: Option<i64>) {
    let producer: FutureProducer = kafka.producer_config().create().unwrap();
    let payloads: Vec<String> = (0..RECORDS).map(|i| i.to_string()).collect();
    let deliveries: Vec<_> = payloads
        .iter()
        .map(|payload| {
            producer
                .send_result(FutureRecord::<(), _>::to(TOPIC).payload(payload))
                .unwrap()
        })
        .collect();
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
    if let Some(committed) = committed {
        let committer: BaseConsumer = kafka.consumer_config(GROUP).create().unwrap();
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(TOPIC, 0, Offset::Offset(committed))
            .unwrap();
        committer.commit(&offsets, CommitMode::Sync).unwrap();
    }
}

/// Consumes through the guard the way the services do; returns the offsets admitted and how many
/// times committed offsets were asked for.
async fn admitted_offsets(kafka: &KafkaConfig) -> (Vec<i64>, u64) {
    let context = ServiceContext::new("test").with_resume_rewind(kafka.resume_rewind_records);
    let consumer = common::subscribed(kafka, GROUP, TOPIC, &context);
    let mut admitted = Vec::new();
    let mut check = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while admitted.last() != Some(&(RECORDS - 1)) && tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = check.tick() => context.check_resumed(&consumer),
            received = consumer.recv() => {
                let message = received.unwrap();
                if context.admit(&*consumer, &message) {
                    admitted.push(message.offset());
                }
            }
        }
    }
    (admitted, context.committed_asks())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assigned_partition_resumes_exactly_at_its_committed_offset() {
    let (_cluster, kafka) = cluster_with_a_commit().await;
    let (admitted, asks) = admitted_offsets(&kafka).await;
    assert_eq!(admitted, (COMMITTED..RECORDS).collect::<Vec<_>>());
    assert_eq!(asks, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_are_asked_for_again_until_the_coordinator_answers() {
    let (cluster, kafka) = cluster_with_a_commit().await;
    // The coordinator fails offset fetches for longer than one ask waits (librdkafka retries each
    // with a backoff growing to 1 s, so 20 failures last some 17 s, past the first ask's 10 s):
    // the partition must wait and be asked for again, not start unguarded or at the log start.
    cluster.request_errors(
        RDKafkaApiKey::OffsetFetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS; 20],
    );
    let (admitted, asks) = admitted_offsets(&kafka).await;
    assert_eq!(admitted, (COMMITTED..RECORDS).collect::<Vec<_>>());
    assert!(asks >= 2, "asked {asks} times");
}

/// A cluster whose group coordinator (broker 1) answers at once and whose partition leader
/// (broker 2) answers every request `rtt` late, like a leader whose connection is coming back
/// after an outage; `committed` is what a previous owner of the partition committed.
async fn cluster_with_a_slow_leader(
    committed: Option<i64>,
    rtt: Duration,
) -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    KafkaConfig,
) {
    let cluster = MockCluster::new(2).unwrap();
    cluster.create_topic(TOPIC, 1, 1).unwrap();
    cluster.partition_leader(TOPIC, 0, Some(2)).unwrap();
    cluster
        .coordinator(rdkafka::mocking::MockCoordinator::Group(GROUP.into()), 1)
        .unwrap();
    let kafka = config(&cluster);
    fill(&kafka, committed).await;
    cluster.broker_round_trip_time(2, rtt).unwrap();
    (cluster, kafka)
}

// An assigned partition starts at the log end, a logical offset librdkafka resolves with a
// ListOffsets query to the partition's leader, and the guard seeks it to its start once the
// coordinator has given the committed offset and the statistics show the fetcher active (a seek
// made while that query is out may be undone by its answer). With a slow leader the seek comes
// seconds after the commit is known; these hold the resume to every record all the same. On
// this mock they pass without the wait for the fetcher as well: the case it guards against, seen
// in the normalizer's outage test, has not been reproduced here. Nor with the wait removed and
// ListOffsets failing six times (LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION,
// REQUEST_TIMED_OUT), OffsetForLeaderEpoch or Fetch failing, or the leader down for 2, 5 or 8 s
// while the partition is assigned: each resumed exactly at its committed offset.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_to_the_end_offset_query_does_not_move_a_resumed_partition() {
    let (_cluster, kafka) =
        cluster_with_a_slow_leader(Some(COMMITTED), Duration::from_secs(3)).await;
    let (admitted, _) = admitted_offsets(&kafka).await;
    assert_eq!(admitted, (COMMITTED..RECORDS).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_to_the_end_offset_query_does_not_move_a_partition_without_a_commit() {
    let (_cluster, kafka) = cluster_with_a_slow_leader(None, Duration::from_secs(1)).await;
    let (admitted, _) = admitted_offsets(&kafka).await;
    assert_eq!(admitted, (0..RECORDS).collect::<Vec<_>>());
}
