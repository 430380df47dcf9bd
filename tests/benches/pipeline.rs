// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Whole-pipeline load harness: raw topics → normalizer → writer → ClickHouse, on the local
//! stack, with the services as release-built processes.
//! 1. sustained throughput draining a raw backlog, against a bare consumer reading the same topics;
//! 2. produce → visible in ClickHouse latency at a steady rate (default 2,000 records/s);
//! 3. each service's peak RSS.
//!
//! `cargo bench -p rapport-e2e --bench pipeline` (part of `make bench`; build the release
//! binaries first, which `make bench` does). Sizes: `RAPPORT_BENCH_CUSTOMERS` (default 2,000,
//! about 15,000 records), `RAPPORT_BENCH_RATE`, `RAPPORT_BENCH_SECONDS` (20). Traffic:
//! by default both mixes, one after the other, each on fresh topics and a fresh database:
//! `classic` (raw mail and `generic` JSON, the traffic of the earlier recorded figures) and
//! `native` (every source's own payloads in the generator's default shares), and a closing
//! table of the two side by side. `RAPPORT_BENCH_MIX`, any `rapport generate --mix` value (or
//! several, separated by `;`), runs only those.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::Timestamp;
use rapport_testkit::{
    Service, Stack, free_addr, kafka_and_topics_toml, peak_rss_mib, query_in, reader, unique_name,
};
use rapport_traffic::{self as generate, Mix, Options, Pace};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    kafka: KafkaConfig,
    topics: Topics,
    clickhouse: String,
    database: String,
    dir: std::path::PathBuf,
}

impl Run {
    async fn new(stack: &Stack, name: &str) -> Self {
        let prefix = unique_name(name);
        let topics = Topics::prefixed(&prefix);
        ensure_topics(&stack.kafka, &topics.specs())
            .await
            .expect("stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        let common = kafka_and_topics_toml(&stack.kafka, &topics);
        std::fs::write(
            dir.join("normalizer.toml"),
            format!("group_id = \"{prefix}-n\"\ntenant_id = \"acme\"\n{common}[tenant]\nagent_domains = [\"acme.com\"]\ndefault_phone_region = \"US\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("writer.toml"),
            format!(
                "group_id = \"{prefix}-w\"\n{common}[clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n",
                stack.clickhouse_url
            ),
        )
        .unwrap();
        Self {
            kafka: stack.kafka.clone(),
            topics,
            clickhouse: stack.clickhouse_url.clone(),
            database,
            dir,
        }
    }

    async fn start(&self, service: &str) -> Service {
        let binary = rapport_testkit::binary(&format!("rapport-{service}"));
        Service::start(
            binary.to_str().unwrap(),
            &self.dir.join(format!("{service}.toml")),
            free_addr(),
            "warn",
        )
        .await
    }

    async fn query(&self, sql: &str) -> String {
        query_in(&self.clickhouse, &self.database, sql)
            .await
            .unwrap_or_default()
    }

    /// Rows stored, redeliveries included: cheap enough to poll often.
    async fn stored(&self) -> usize {
        self.count("SELECT count() FROM interactions").await
    }

    /// Distinct event ids stored: what "done" means.
    async fn distinct(&self) -> usize {
        self.count("SELECT uniqExact(event_id) FROM interactions")
            .await
    }

    async fn count(&self, sql: &str) -> usize {
        self.query(sql).await.trim().parse().unwrap_or(0)
    }
}

/// One mix's headline figures, for the closing comparison.
struct Figures {
    mix: String,
    records: usize,
    interactions: usize,
    records_per_s: f64,
    drained_per_s: Option<f64>,
    bare_per_s: f64,
    p50_ms: i64,
    p99_ms: i64,
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let stack = Stack::from_env();
    let customers: usize = env_or("RAPPORT_BENCH_CUSTOMERS", 2_000);
    let rate: u32 = env_or("RAPPORT_BENCH_RATE", 2_000);
    let seconds: u64 = env_or("RAPPORT_BENCH_SECONDS", 20);
    let mixes: Vec<Mix> = std::env::var("RAPPORT_BENCH_MIX").map_or_else(
        |_| vec![Mix::classic(), Mix::native()],
        |v| {
            v.split(';')
                .map(|m| {
                    m.trim()
                        .parse()
                        .expect("RAPPORT_BENCH_MIX is a --mix value")
                })
                .collect()
        },
    );
    let mut figures = Vec::new();
    for mix in mixes {
        figures.push(bench_mix(&stack, mix, customers, rate, seconds).await);
    }
    println!();
    println!(
        "| mix | records | interactions | raw → ClickHouse records/s (incl. start-up) | interactions/s after start-up | bare consumer records/s | produce → visible p50 / p99 at {rate}/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for f in &figures {
        println!(
            "| {} | {} | {} | {:.0} | {} | {:.0} | {} / {} ms |",
            f.mix,
            f.records,
            f.interactions,
            f.records_per_s,
            f.drained_per_s
                .map_or_else(|| "not measurable".to_owned(), |d| format!("{d:.0}")),
            f.bare_per_s,
            f.p50_ms,
            f.p99_ms
        );
    }
}

/// The whole harness on one traffic mix.
async fn bench_mix(stack: &Stack, mix: Mix, customers: usize, rate: u32, seconds: u64) -> Figures {
    println!("traffic mix: {mix}");
    let options = |seed, customers| Options {
        seed,
        customers,
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.0,
        mix: mix.clone(),
    };

    // 1. Draining a backlog.
    let run = Run::new(stack, "bench-e2e").await;
    let records = generate::generate(&options(21, customers));
    let started = Instant::now();
    generate::produce(&records, &run.kafka, &run.topics)
        .await
        .unwrap();
    println!(
        "backlog: {} raw records produced in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    let consumer = reader(&run.kafka, &run.topics.raw());
    let started = Instant::now();
    for _ in 0..records.len() {
        tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("bare consumer stalled")
            .unwrap();
    }
    let bare = records.len() as f64 / started.elapsed().as_secs_f64();
    drop(consumer);
    // Computed before the services start: it normalizes every record on this machine's cores.
    let expected = generate::expected(&records, &tenant()).0.len();
    let started = Instant::now();
    let normalizer = run.start("normalizer").await;
    let writer = run.start("writer").await;
    // Start-up (process start, migrations, group joins) is timed separately from the drain: the
    // drain is timed from the first stored row to the last.
    let mut first_row = None;
    loop {
        let stored = run.stored().await;
        if stored > 0 && first_row.is_none() {
            first_row = Some((Instant::now(), stored));
        }
        // Redelivered rows count in `stored`, so only then is the costlier distinct count asked.
        if stored >= expected && run.distinct().await >= expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "pipeline did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let redelivered = run.stored().await - expected;
    let (first_at, first_count) = first_row.expect("rows were stored");
    let drain = first_at.elapsed().as_secs_f64();
    println!("bare consumer on the raw topics: {bare:>8.0} records/s (the broker's limit here)");
    println!(
        "raw → ClickHouse:               {:>8.0} records/s ({:.0} interactions/s; {expected} interactions in {elapsed:.1} s incl. start-up); ratio {:.2}",
        records.len() as f64 / elapsed,
        expected as f64 / elapsed,
        records.len() as f64 / elapsed / bare
    );
    let records_per_s = records.len() as f64 / elapsed;
    let (backlog_records, backlog_interactions) = (records.len(), expected);
    let mut drained_per_s = None;
    if first_count < expected {
        let drained = (expected - first_count) as f64 / drain;
        drained_per_s = Some(drained);
        println!(
            "raw → ClickHouse after start-up:  {drained:>8.0} interactions/s (first row at {:.1} s, last at {elapsed:.1} s); ratio {:.2}",
            elapsed - drain,
            drained / bare
        );
    } else {
        // The whole backlog landed between two polls: too small to time the drain apart.
        println!(
            "raw → ClickHouse after start-up:  not measurable (every row arrived in one poll)"
        );
    }
    println!(
        "extra rows from redeliveries and from payloads that restate an interaction (a ticket or review sent again with its new state; the deduplicated views merge them): {redelivered}"
    );
    println!(
        "peak RSS while draining: normalizer {:.0} MB, writer {:.0} MB",
        peak_rss_mib(normalizer.pid()),
        peak_rss_mib(writer.pid())
    );
    drop((normalizer, writer));

    // 2. Steady rate: every record stamped with its produce time.
    let run = Run::new(stack, "bench-e2e-steady").await;
    let normalizer = run.start("normalizer").await;
    let writer = run.start("writer").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut day = generate::generate(&options(22, customers * 4));
    day.truncate(rate as usize * seconds as usize);
    let total = day.len();
    let expected = generate::expected(&day, &tenant()).0.len();
    let (kafka, topics) = (run.kafka.clone(), run.topics.clone());
    // One producer for the whole run, each record stamped as it is enqueued.
    let feeder = tokio::spawn(async move {
        let begun = Instant::now();
        generate::produce_paced(
            &day,
            &kafka,
            &topics,
            Pace {
                rate: Some(rate),
                until: None,
                stamp_now: true,
            },
        )
        .await
        .unwrap();
        begun.elapsed()
    });
    let mut seen: HashMap<String, i64> = HashMap::new();
    let started = Instant::now();
    let mut since = 0i64;
    while started.elapsed() < Duration::from_secs(seconds + 60) {
        let body = run
            .query(&format!("SELECT event_id, received_at_ms, written_at_ms FROM interactions WHERE written_at_ms >= {since} FORMAT TSV"))
            .await;
        let visible = Timestamp::now().as_millis();
        for line in body.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() == 3 {
                since = since.max(f[2].parse::<i64>().unwrap_or(0) - 10_000);
                seen.entry(f[0].to_owned())
                    .or_insert(visible - f[1].parse::<i64>().unwrap_or(visible));
            }
        }
        if seen.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fed_in = feeder.await;
    let seen_count = seen.len();
    let mut latencies: Vec<i64> = seen.into_values().collect();
    latencies.sort_unstable();
    let at = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "steady {rate} records/s for {seconds} s ({total} records produced in {:.1} s; {seen_count} of {expected} interactions visible): produce → visible p50 {} ms, p99 {} ms, max {} ms",
        fed_in.map_or(f64::NAN, |d| d.as_secs_f64()),
        at(0.5),
        at(0.99),
        latencies.last().copied().unwrap_or(0)
    );
    println!(
        "peak RSS at steady rate: normalizer {:.0} MB, writer {:.0} MB",
        peak_rss_mib(normalizer.pid()),
        peak_rss_mib(writer.pid())
    );
    Figures {
        mix: if mix == Mix::classic() {
            "classic".into()
        } else if mix == Mix::native() {
            "native".into()
        } else {
            mix.to_string()
        },
        records: backlog_records,
        interactions: backlog_interactions,
        records_per_s,
        drained_per_s,
        bare_per_s: bare,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

/// The tenant settings the harness gives its normalizer.
fn tenant() -> rapport_channels::TenantConfig {
    rapport_channels::TenantConfig {
        agent_domains: vec!["acme.com".into()],
        default_phone_region: Some("US".into()),
        ..Default::default()
    }
}
