// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Load harness: normalizer throughput through the real local broker, against the broker's own
//! limit (a bare consumer draining the same topics), with the service's peak RSS.
//!
//! `cargo bench -p rapport-normalizer --bench throughput` (part of `make bench`). Sizes:
//! `RAPPORT_BENCH_CUSTOMERS` (default 3000, about 23,000 records). Results: docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::Timestamp;
use rapport_testkit::{
    Service, Stack, free_addr, kafka_and_topics_toml, metric_sum, peak_rss_mib, reader, unique_name,
};
use rapport_traffic::{self as generate, Mix, Options};

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let customers: usize = std::env::var("RAPPORT_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let stack = Stack::from_env();
    let prefix = unique_name("bench");
    let topics = Topics::prefixed(&prefix);
    let kafka = KafkaConfig {
        partitions: 3,
        ..stack.kafka.clone()
    };
    ensure_topics(&kafka, &topics.specs())
        .await
        .expect("stack up? run `make up`");
    let records = generate::generate(&Options {
        seed: 9,
        customers,
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.01,
        // Raw mail and generic JSON, the traffic the recorded figures were measured on.
        mix: Mix::classic(),
    });
    let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
    let started = Instant::now();
    generate::produce(&records, &kafka, &topics).await.unwrap();
    let produce_secs = started.elapsed().as_secs_f64();
    println!(
        "backlog: {} records, {:.1} MB, produced in {produce_secs:.1} s",
        records.len(),
        bytes as f64 / 1e6
    );

    // The broker's limit: a bare consumer that only counts.
    let consumer = reader(&kafka, &topics.raw());
    let started = Instant::now();
    let mut seen = 0;
    while seen < records.len() {
        tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("bare consumer stalled")
            .unwrap();
        seen += 1;
    }
    let bare = records.len() as f64 / started.elapsed().as_secs_f64();
    drop(consumer);

    let config = std::env::temp_dir().join(format!("{prefix}.toml"));
    std::fs::write(
        &config,
        format!(
            "group_id = \"{prefix}-n\"\ntenant_id = \"acme\"\n[tenant]\nagent_domains = [\"acme.com\"]\n{}",
            kafka_and_topics_toml(&kafka, &topics)
        ),
    )
    .unwrap();
    let started = Instant::now();
    let normalizer = Service::start(
        env!("CARGO_BIN_EXE_rapport-normalizer"),
        &config,
        free_addr(),
        "warn",
    )
    .await;
    let metric = |name: &'static str| {
        let normalizer = &normalizer;
        async move { metric_sum(&normalizer.get("/metrics").await.1, name) }
    };
    let (mut last_in, mut last_progress) = (0.0, Instant::now());
    loop {
        let read = metric("rapport_normalizer_messages_in_total").await;
        if read >= records.len() as f64
            && metric("rapport_normalizer_in_flight_messages").await == 0.0
        {
            break;
        }
        if read > last_in {
            (last_in, last_progress) = (read, Instant::now());
        }
        if last_progress.elapsed() > Duration::from_secs(60) {
            // One run once stopped a record short; make a repeat say where.
            let mut produced = std::collections::BTreeMap::<&str, usize>::new();
            for r in &records {
                *produced
                    .entry(generate::topic_for(&topics, r.channel))
                    .or_default() += 1;
            }
            let metrics = normalizer.get("/metrics").await.1;
            let counters: Vec<&str> = metrics
                .lines()
                .filter(|l| l.contains("messages_in_total") || l.contains("consumer_errors"))
                .collect();
            panic!(
                "normalizer stopped at {read} of {} records for 60 s; produced per topic: {produced:?}; {counters:#?}",
                records.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let out = metric("rapport_normalizer_interactions_out_total").await;
    let rss = peak_rss_mib(normalizer.pid());
    drop(normalizer);
    let normalized = records.len() as f64 / elapsed;
    println!("bare consumer:  {bare:>9.0} records/s (the broker's limit here)");
    println!(
        "normalizer:     {normalized:>9.0} records/s end to end ({out} interactions out, {elapsed:.1} s incl. start-up and group join)"
    );
    println!("ratio:          {:.2}", normalized / bare);
    println!("normalizer peak RSS: {rss:.1} MB");
}
