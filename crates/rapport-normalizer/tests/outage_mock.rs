//! A broker outage while the normalizer's sends are in flight, on librdkafka's in-process mock
//! cluster. The local Tansu cannot take this one: its sqlite storage fails after a restart under
//! an idempotent producer's in-flight batches (docs/ARCHITECTURE.md, "Broker quirks"), so the
//! whole-pipeline test restarts it between bursts; the mock broker goes down mid-stream.

use std::time::{Duration, Instant};

use rapport_kafka::{KafkaConfig, Topics};
use rapport_model::{Channel, Source};
use rapport_normalizer::NormalizerConfig;
use rapport_runtime::{HttpConfig, Shutdown};
use rapport_testkit::{assigned_reader, free_addr, http_get, metric_sum};
use rapport_traffic as generate;
use rdkafka::mocking::MockCluster;

mod support;
use support::{Collected, expected, tenant, traffic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_with_sends_in_flight_loses_nothing() {
    // The service's own log (rebalances, seeks, partitions' fetch states) in the failure output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_test_writer()
        .try_init();
    let cluster = MockCluster::new(1).unwrap();
    let topics = Topics::prefixed("outage");
    for spec in topics.specs() {
        cluster.create_topic(&spec.name, 3, 1).unwrap();
    }
    let kafka = KafkaConfig {
        brokers: cluster.bootstrap_servers(),
        session_timeout_ms: 6_000,
        resume_rewind_records: 10_000,
        ..KafkaConfig::default()
    };
    let records = traffic(21, 600);
    let (ids, invalid) = expected(&records);
    let (first, second) = records.split_at(records.len() / 2);
    generate::produce(first, &kafka, &topics).await.unwrap();

    let ops = free_addr();
    let config = NormalizerConfig {
        group_id: "outage-normalizer".into(),
        tenant_id: "acme".into(),
        tenant: tenant(),
        kafka: kafka.clone(),
        topics: topics.clone(),
        default_sources: [(Channel::Email, Source::Rfc822)].into(),
        http: HttpConfig::on(ops),
        ..NormalizerConfig::default()
    };
    let shutdown = Shutdown::new();
    let service = tokio::spawn(rapport_normalizer::serve(config, shutdown.clone()));

    // Outside any group: the test's own consumer group would have to recover from the outage as
    // well, and a run once failed because it did not (the normalizer had read and published
    // everything, its counters showed; the group reader saw only what came before the outage).
    let output = assigned_reader(&kafka, &[&topics.interactions, &topics.dlq]);
    let mut seen = Collected::default();
    // Down as soon as the first outputs arrive: the rest of the first half is mid-flight.
    while seen.interactions.is_empty() {
        seen.record(&topics, &output.recv().await.unwrap());
    }
    cluster.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, metrics) = http_get(ops, "/metrics").await;
    let stuck = metric_sum(&metrics, "rapport_normalizer_in_flight_messages");
    assert!(stuck > 0.0, "sends in flight during the outage\n{metrics}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.broker_up(1).unwrap();
    generate::produce(second, &kafka, &topics).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let distinct = seen.distinct();
        let dead = seen.dead_payloads();
        if distinct.len() >= ids.len() && dead.len() >= invalid.len() {
            // Every id is a produced one, every dead letter an invalid record; duplicates are
            // same-id redeliveries only.
            assert_eq!(distinct, ids);
            assert_eq!(dead, invalid);
            break;
        }
        if Instant::now() >= deadline {
            // What the service itself saw, to tell a normalizer that stopped consuming from a
            // reader that stopped reading.
            let (_, metrics) = http_get(ops, "/metrics").await;
            let (_, live) = http_get(ops, "/livez").await;
            let lines: Vec<&str> = metrics
                .lines()
                .filter(|l| {
                    !l.starts_with('#')
                        && (l.contains("_total")
                            || l.contains("lag")
                            || l.contains("in_flight")
                            || l.contains("stalled")
                            || l.contains("broker_up"))
                })
                .collect();
            // And what the topics hold, read again from the start by a new reader: the
            // normalizer lost records if this one misses them too, the test's reader stalled if
            // it does not.
            let fresh = assigned_reader(&kafka, &[&topics.interactions, &topics.dlq]);
            let mut again = Collected::default();
            while let Ok(Ok(message)) =
                tokio::time::timeout(Duration::from_secs(5), fresh.recv()).await
            {
                again.record(&topics, &message);
            }
            panic!(
                "after the outage: {} of {} interactions, {} of {} dead letters; a new reader \
                 finds {} and {}\nnormalizer:\n{}\nlivez: {}",
                distinct.len(),
                ids.len(),
                dead.len(),
                invalid.len(),
                again.distinct().len(),
                again.dead_payloads().len(),
                lines.join("\n"),
                live.lines().last().unwrap_or_default()
            );
        }
        // The reader sees the outage too: its connection errors are not the service's.
        if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), output.recv()).await {
            seen.record(&topics, &message);
        }
    }
    shutdown.trigger();
    service.await.unwrap().unwrap();
}
