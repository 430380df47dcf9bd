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
//!
//! `RAPPORT_BENCH_SLA=compare` measures SLAs' cost instead (issue #23: ingest within 15 % of the
//! same run without them): per mix, the backlog drain alone, in turn without SLAs, with the
//! writer deriving business time and SLA outcomes under `SLA_RULES`, and with `rapport-sla`
//! running beside that writer, `RAPPORT_BENCH_ROUNDS` times each (default 2), then a table of
//! the medians. `RAPPORT_BENCH_STATE=compare` does the same for the stored per-conversation
//! state (issue #18: ingest within 20 % of the same run without it): the writer with
//! `store_state = false`, then as deployed.

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

/// With SLAs on: the demo's business hours and policy (`deploy/local/demo.sh`), for the writer
/// and `rapport-sla` alike. The traffic's day is in the past, so every timer is due at once.
const SLA_RULES: &str = r#"
[business_hours]
[[business_hours.calendars.acme-office.versions]]
zone = "Europe/Berlin"
week = { mon = ["09:00-18:00"], tue = ["09:00-18:00"], wed = ["09:00-18:00"], thu = ["09:00-18:00"], fri = ["09:00-18:00"] }
[[business_hours.assign]]
tenant = "acme"
calendar = "acme-office"

[[sla.policies]]
name = "standard"
tenant = "acme"
first_response = "30m"
next_reply = "1h"
resolution = "8h"
"#;

struct Run {
    kafka: KafkaConfig,
    topics: Topics,
    clickhouse: String,
    database: String,
    dir: std::path::PathBuf,
}

impl Run {
    async fn new(stack: &Stack, name: &str) -> Self {
        Self::with(stack, name, false, true).await
    }

    /// With `sla`, the writer gets `SLA_RULES` and `sla.toml` configures `rapport-sla`; without
    /// `state`, the writer has `store_state = false`.
    async fn with(stack: &Stack, name: &str, sla: bool, state: bool) -> Self {
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
        let store = format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n",
            stack.clickhouse_url
        );
        let rules = if sla { SLA_RULES } else { "" };
        // Top-level keys go before the first table.
        let state = if state { "" } else { "store_state = false\n" };
        std::fs::write(
            dir.join("writer.toml"),
            format!("group_id = \"{prefix}-w\"\n{state}{common}{store}{rules}"),
        )
        .unwrap();
        std::fs::write(
            dir.join("sla.toml"),
            format!("group_id = \"{prefix}-s\"\n{common}{store}{rules}"),
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
        self.count("SELECT count() FROM interaction_log").await
    }

    /// Distinct event ids stored: what "done" means.
    async fn distinct(&self) -> usize {
        self.count("SELECT uniqExact(event_id) FROM interaction_log")
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
    let rounds: usize = env_or("RAPPORT_BENCH_ROUNDS", 2);
    if std::env::var("RAPPORT_BENCH_SLA").as_deref() == Ok("compare") {
        let settings = [Sla::Off, Sla::Writer, Sla::Service];
        compare(&stack, &mixes, customers, rounds, &settings).await;
        return;
    }
    if std::env::var("RAPPORT_BENCH_STATE").as_deref() == Ok("compare") {
        compare(&stack, &mixes, customers, rounds, &[Sla::NoState, Sla::Off]).await;
        return;
    }
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
            .query(&format!("SELECT event_id, received_at_ms, written_at_ms FROM interaction_log WHERE written_at_ms >= {since} FORMAT TSV"))
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

/// One backlog drain: raw records produced first, then the services started; timed from start to
/// the last interaction stored (and, with SLAs, until `rapport-sla` has evaluated every record).
struct Drain {
    records: usize,
    interactions: usize,
    /// Raw records per second, start-up included.
    records_per_s: f64,
    /// Interactions per second from the first stored row to the last.
    drained_per_s: Option<f64>,
    /// With SLAs: seconds from start until `rapport-sla` had evaluated every record.
    sla_done_s: Option<f64>,
}

/// What a drain's writer does besides inserting: the stored state, SLAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sla {
    /// The writer with `store_state = false`: the log only, no read model.
    NoState,
    Off,
    /// The writer with `SLA_RULES`: business time and SLA outcomes in the stored state.
    Writer,
    /// That writer and `rapport-sla` beside it.
    Service,
}

impl Sla {
    fn name(self) -> &'static str {
        match self {
            Self::NoState => "off, and no stored state",
            Self::Off => "off",
            Self::Writer => "writer rules",
            Self::Service => "writer rules + rapport-sla",
        }
    }
}

async fn drain(stack: &Stack, mix: &Mix, customers: usize, sla: Sla) -> Drain {
    let run = Run::with(
        stack,
        "bench-sla-cost",
        !matches!(sla, Sla::Off | Sla::NoState),
        sla != Sla::NoState,
    )
    .await;
    let records = generate::generate(&Options {
        seed: 21,
        customers,
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.0,
        mix: mix.clone(),
    });
    generate::produce(&records, &run.kafka, &run.topics)
        .await
        .unwrap();
    let expected = generate::expected(&records, &tenant()).0.len();
    let started = Instant::now();
    let normalizer = run.start("normalizer").await;
    let writer = run.start("writer").await;
    let sla_service = if sla == Sla::Service {
        Some(run.start("sla").await)
    } else {
        None
    };
    let mut first_row = None;
    let mut stored_at = None;
    let mut sla_done_s = None;
    loop {
        if stored_at.is_none() {
            let stored = run.stored().await;
            if stored > 0 && first_row.is_none() {
                first_row = Some((Instant::now(), stored));
            }
            if stored >= expected && run.distinct().await >= expected {
                stored_at = Some(started.elapsed().as_secs_f64());
            }
        }
        if let Some(service) = &sla_service
            && sla_done_s.is_none()
        {
            let (_, body) = service.get("/metrics").await;
            if rapport_testkit::metric_sum(&body, "rapport_sla_messages_in_total")
                >= expected as f64
            {
                sla_done_s = Some(started.elapsed().as_secs_f64());
            }
        }
        if stored_at.is_some() && (sla_service.is_none() || sla_done_s.is_some()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "pipeline did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = stored_at.expect("stored");
    let (first_at, first_count) = first_row.expect("rows were stored");
    let drain_s = elapsed - (first_at - started).as_secs_f64();
    drop((normalizer, writer, sla_service));
    // Each drain writes 150,000 rows or so into a database of its own: not kept.
    stack.drop_database(&run.database).await;
    let _ = std::fs::remove_dir_all(&run.dir);
    Drain {
        records: records.len(),
        interactions: expected,
        records_per_s: records.len() as f64 / elapsed,
        drained_per_s: (first_count < expected && drain_s > 0.0)
            .then(|| (expected - first_count) as f64 / drain_s),
        sla_done_s,
    }
}

/// `settings` in turn, `rounds` times each per mix; the medians side by side, each against the
/// first.
async fn compare(stack: &Stack, mixes: &[Mix], customers: usize, rounds: usize, settings: &[Sla]) {
    println!("load averages before: {}", load_averages());
    let mut rows = Vec::new();
    for mix in mixes {
        let mut runs: Vec<Vec<Drain>> = settings.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for (i, &sla) in settings.iter().enumerate() {
                let d = drain(stack, mix, customers, sla).await;
                println!(
                    "{mix} round {}, SLAs {}: {} records, {} interactions; {:.0} records/s incl. start-up; {} interactions/s after start-up{}",
                    round + 1,
                    sla.name(),
                    d.records,
                    d.interactions,
                    d.records_per_s,
                    d.drained_per_s
                        .map_or_else(|| "not measurable".to_owned(), |v| format!("{v:.0}")),
                    d.sla_done_s.map_or_else(String::new, |s| format!(
                        "; rapport-sla evaluated every record by {s:.1} s"
                    ))
                );
                runs[i].push(d);
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            match v.len() {
                0 => f64::NAN,
                n if n % 2 == 1 => v[n / 2],
                n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
            }
        };
        let figures: Vec<(f64, f64)> = runs
            .iter()
            .map(|r| {
                (
                    median(r.iter().map(|d| d.records_per_s).collect()),
                    median(r.iter().filter_map(|d| d.drained_per_s).collect()),
                )
            })
            .collect();
        rows.push((mix.to_string(), figures));
    }
    println!("load averages after: {}", load_averages());
    println!();
    println!(
        "| mix | writer | records/s incl. start-up | / first | interactions/s after start-up | / first |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (mix, figures) in rows {
        let (off, off_drain) = figures[0];
        for (sla, (rps, drain)) in settings.iter().zip(figures) {
            println!(
                "| {mix} | {} | {rps:.0} | {:.2} | {drain:.0} | {:.2} |",
                sla.name(),
                rps / off,
                drain / off_drain
            );
        }
    }
}

fn load_averages() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
