// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Load harness: normalizer throughput through the real local broker, against the broker's own
//! limit (a bare consumer draining the same topics), with the service's peak RSS.
//!
//! `cargo bench -p rapport-normalizer --bench throughput` (part of `make bench`). Sizes:
//! `RAPPORT_BENCH_CUSTOMERS` (default 3000, about 23,000 records). Results: docs/BENCHMARKS.md.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rapport_cli::generate::{self, Options};
use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::Timestamp;
use rapport_testkit::{Stack, unique_name};
use rdkafka::consumer::{Consumer, StreamConsumer};

fn rss_peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

async fn metric(addr: &str, name: &str) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return -1.0;
    };
    let _ = s
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut body = String::new();
    let _ = s.read_to_string(&mut body).await;
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

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
    let consumer: StreamConsumer = kafka
        .consumer_config(&unique_name("bench-bare"))
        .create()
        .unwrap();
    consumer.subscribe(&topics.raw()).unwrap();
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
    // The same settings as every local run: librdkafka's batching, Tansu's resume workaround.
    let batch = "resume_rewind_records = 10000\n";
    let ops = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let ops = ops.as_str();
    std::fs::write(
        &config,
        format!(
            "group_id = \"{prefix}-n\"\ntenant_id = \"acme\"\n[tenant]\nagent_domains = [\"acme.com\"]\n\
             [kafka]\nbrokers = \"{}\"\n{batch}[topics]\nraw_email = \"{}\"\nraw_chat = \"{}\"\n\
             raw_review = \"{}\"\nraw_support = \"{}\"\ninteractions = \"{}\"\ndlq = \"{}\"\nidentity = \"{}\"\n[http]\nlisten = \"{ops}\"\n",
            kafka.brokers, topics.raw_email, topics.raw_chat, topics.raw_review, topics.raw_support, topics.interactions, topics.dlq, topics.identity
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_rapport-normalizer");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let done = metric(ops, "rapport_normalizer_messages_in_total").await
            >= records.len() as f64
            && metric(ops, "rapport_normalizer_in_flight_messages").await == 0.0;
        if done {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the normalizer exited (see its stderr above)"
        );
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "normalizer did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let out = metric(ops, "rapport_normalizer_interactions_out_total").await;
    let rss = rss_peak_kib(child.id());
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let normalized = records.len() as f64 / elapsed;
    println!("bare consumer:  {bare:>9.0} records/s (the broker's limit here)");
    println!(
        "normalizer:     {normalized:>9.0} records/s end to end ({out} interactions out, {elapsed:.1} s incl. start-up and group join)"
    );
    println!("ratio:          {:.2}", normalized / bare);
    println!("normalizer peak RSS: {:.1} MB", rss as f64 / 1024.0);
}
