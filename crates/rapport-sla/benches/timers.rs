// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! rapport-sla timer harness, on the local stack, with the service as a release-built process:
//! `RAPPORT_BENCH_TIMERS` pending SLA cycles (default 1,000,000) are written to `sla_ledger`
//! across the interactions topic's partitions, as the service leaves them; the service is
//! started and arms them all when it is assigned the partitions. Reported: the time to arm, the
//! service's peak RSS with every timer armed, and how late the `RAPPORT_BENCH_FIRING` of them
//! (default 100,000) that come due, spread over `RAPPORT_BENCH_FIRE_SECONDS` (default 60), fire
//! (`rapport_sla_timer_delay_seconds`: p50, p99, max).
//!
//! A firing timer re-derives its conversation from the store (the ledger and the events, by key
//! prefix, 500 conversations per read); these conversations have no events, so nothing is
//! announced and the work per timer is the reads alone.
//!
//! `cargo build --release -p rapport-sla && cargo bench -p rapport-sla --bench timers`.
//! The machine is shared: the load averages before and after are printed.

use std::time::{Duration, Instant};

use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::{TopicSpec, Topics, ensure_topics};
use rapport_model::Timestamp;
use rapport_testkit::{
    ScratchDir, Service, Stack, binary, free_addr, kafka_and_topics_toml, metric_sum, peak_rss_mib,
    unique_name,
};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_averages() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quantile(body: &str, name: &str, q: &str) -> Option<f64> {
    let prefix = format!("{name}{{quantile=\"{q}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let timers: u64 = env_or("RAPPORT_BENCH_TIMERS", 1_000_000);
    let firing: u64 = env_or("RAPPORT_BENCH_FIRING", 100_000).min(timers);
    let window_ms: i64 = env_or::<i64>("RAPPORT_BENCH_FIRE_SECONDS", 60) * 1000;
    println!("load averages before: {}", load_averages());
    let stack = Stack::from_env();
    let prefix = unique_name("bench-sla");
    let topics = Topics::prefixed(&prefix);
    let sla_topic = topics.sla.clone();
    ensure_topics(
        &stack.kafka,
        &[
            TopicSpec {
                name: topics.interactions.clone(),
                compacted: false,
            },
            TopicSpec {
                name: sla_topic.clone(),
                compacted: false,
            },
        ],
    )
    .await
    .expect("topics created; is the stack up? run `make up`");
    let database = prefix.replace(['.', '-'], "_");
    let clickhouse = ClickHouseConfig {
        url: stack.clickhouse_url.clone(),
        database: database.clone(),
        ..ClickHouseConfig::default()
    };
    rapport_clickhouse::migrations::migrate(&clickhouse)
        .await
        .expect("migrations");

    // Due times: the first `firing` spread over the window, which opens once the service has
    // had time to start and arm; the rest an hour later.
    let arm_patience_ms = 120_000;
    let opens = Timestamp::now().as_millis() + arm_patience_ms;
    let partitions = stack.kafka.partitions;
    let written = Instant::now();
    stack
        .clickhouse_within(
            &format!(
                "INSERT INTO {database}.sla_ledger (kafka_partition, tenant_id, conversation_id, \
                 target, cycle, status, at_risk_at_ms, due_at_ms, pending, announced, outcome, \
                 outcome_event_id, corrections, version) \
                 SELECT toInt32(number % {partitions}), 'acme', concat('bench:', toString(number)), \
                 'first_response', 'first', 'active', NULL, \
                 if(number < {firing}, {opens} + intDiv(number * {window_ms}, {firing}), {opens} + 3600000), \
                 1, ['at_risk'], '', '', 0, 1 FROM numbers({timers})"
            ),
            Duration::from_secs(600),
        )
        .await;
    println!(
        "{timers} pending cycles written in {:.1} s",
        written.elapsed().as_secs_f64()
    );

    let dir = ScratchDir::new(&prefix);
    let config = dir.join("sla.toml");
    std::fs::write(
        &config,
        format!(
            "group_id = \"{prefix}-sla\"\n\
             [[sla.policies]]\nname = \"bench\"\nfirst_response = \"1h\"\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\nrequest_timeout_ms = 60000\n{}",
            stack.clickhouse_url,
            kafka_and_topics_toml(&stack.kafka, &topics)
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut service = Service::start(
        binary("rapport-sla").to_str().unwrap(),
        &config,
        free_addr(),
        "warn",
    )
    .await;
    let armed = loop {
        let (_, body) = service.get("/metrics").await;
        if metric_sum(&body, "rapport_sla_timers") >= timers as f64 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_millis(arm_patience_ms as u64),
            "not every timer armed in time: {} of {timers}",
            metric_sum(&body, "rapport_sla_timers")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rss_armed = peak_rss_mib(service.pid());
    println!(
        "armed {timers} timers {:.1} s after start; peak RSS {rss_armed:.0} MiB",
        armed.as_secs_f64()
    );

    let closes = opens + window_ms + 10_000;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(closes - Timestamp::now().as_millis()).unwrap_or(0),
    ))
    .await;
    let (_, body) = service.get("/metrics").await;
    let name = "rapport_sla_timer_delay_seconds";
    let fired = metric_sum(&body, &format!("{name}_count"));
    let q = |level: &str| quantile(&body, name, level).map_or(f64::NAN, |s| s * 1000.0);
    println!(
        "{fired} of {firing} due timers fired over {} s: delay p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; peak RSS {:.0} MiB",
        window_ms / 1000,
        q("0.5"),
        q("0.99"),
        q("1"),
        peak_rss_mib(service.pid())
    );
    println!("load averages after: {}", load_averages());
    service.signal("TERM");
    stack.drop_database(&database).await;
}
