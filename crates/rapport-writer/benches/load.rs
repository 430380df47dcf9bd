// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Load harness for the history store, against the local broker and ClickHouse:
//! 1. ClickHouse's own insert ceiling here (rows inserted directly, 50,000 per insert);
//! 2. the writer draining a backlog from Kafka into ClickHouse (rows/s, peak RSS), without and
//!    with the per-conversation state, in the same run;
//! 3. end-to-end latency at a steady rate: produce → row visible in ClickHouse, p50/p99.
//!
//! `cargo bench -p rapport-writer --bench load` (part of `make bench`). Sizes:
//! `RAPPORT_BENCH_ROWS` (default 200,000), `RAPPORT_BENCH_RATE` (2,000/s) for
//! `RAPPORT_BENCH_SECONDS` (30). Results: docs/BENCHMARKS.md.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rapport_clickhouse::{ClickHouseConfig, InteractionRow, insert_rows, migrations};
use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source,
    Timestamp, event_id,
};
use rapport_testkit::{Service, Stack, free_addr, peak_rss_mib, unique_name};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Events per conversation (`RAPPORT_BENCH_CONVERSATION_EVENTS`, default 8, the read bench's
/// shape): the state recompute reads a touched conversation's whole history back, so its cost
/// per new event grows with the conversation's length.
fn conversations(rows: usize) -> usize {
    (rows / env_or("RAPPORT_BENCH_CONVERSATION_EVENTS", 8usize).max(1)).max(1)
}

fn interaction(tag: &str, n: usize, received_at: Timestamp, conversations: usize) -> Interaction {
    let customer = n % 5000;
    let inbound = n % 3 != 2;
    Interaction {
        event_id: event_id("acme", Source::Generic, &format!("{tag}-{n}")),
        tenant_id: "acme".into(),
        channel: [Channel::Email, Channel::Chat, Channel::Support, Channel::Review][n % 4],
        source: Source::Generic,
        source_event_id: format!("{tag}-{n}"),
        kind: InteractionKind::Message,
        direction: if inbound { Direction::Inbound } else { Direction::Outbound },
        actor: Actor {
            role: if inbound { ActorRole::Customer } else { ActorRole::Agent },
            id: Some(format!("actor-{}", n % 40)),
            name: Some("Maria Lopez".into()),
        },
        identities: vec![
            Identity::email(&format!("customer{customer}@example.com")).unwrap(),
            Identity::phone(&format!("+1415555{:04}", customer % 10_000), None).unwrap(),
        ],
        conversation_id: format!("generic:{tag}-conv-{}", n % conversations),
        occurred_at: Timestamp::from_millis(1_717_405_200_000 + n as i64 * 1_000),
        received_at,
        subject: Some("Invoice question".into()),
        text: Some("Hello, I was charged twice for my order last week; could you look into it? Thanks, Maria".into()),
        rating: None,
        status: None,
        tags: vec!["billing".into()],
        language: Some("en".into()),
        team: Some("Billing".into()),
        auto_reply: false,
        attachment_count: 0,
        attachment_names: vec![],
        raw_ref: None,
        threading: None,
    }
}

async fn query(config: &ClickHouseConfig, sql: &str) -> String {
    reqwest::Client::new()
        .post(format!("{}/?database={}", config.url, config.database))
        .body(sql.to_owned())
        .send()
        .await
        .expect("clickhouse answers")
        .text()
        .await
        .unwrap_or_default()
}

async fn count(config: &ClickHouseConfig) -> usize {
    query(config, "SELECT count() FROM interaction_log")
        .await
        .trim()
        .parse()
        .unwrap_or(0)
}

struct Setup {
    kafka: KafkaConfig,
    topics: Topics,
    clickhouse: ClickHouseConfig,
    config: std::path::PathBuf,
}

async fn setup(stack: &Stack, name: &str, extra: &str) -> Setup {
    let prefix = unique_name(name);
    let topics = Topics::prefixed(&prefix);
    // Batched produce: the writer reads each batch from its start, which Tansu serves whole.
    let kafka = KafkaConfig {
        producer_batch_messages: None,
        ..stack.kafka.clone()
    };
    ensure_topics(&kafka, &topics.specs())
        .await
        .expect("stack up? run `make up`");
    let clickhouse = ClickHouseConfig {
        url: stack.clickhouse_url.clone(),
        database: prefix.replace(['.', '-'], "_"),
        ..ClickHouseConfig::default()
    };
    let config = std::env::temp_dir().join(format!("{prefix}.toml"));
    std::fs::write(
        &config,
        format!(
            "group_id = \"{prefix}-w\"\n{extra}[kafka]\nbrokers = \"{}\"\n[topics]\ninteractions = \"{}\"\ndlq = \"{}\"\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n",
            kafka.brokers, topics.interactions, topics.dlq, clickhouse.url, clickhouse.database
        ),
    )
    .unwrap();
    Setup {
        kafka,
        topics,
        clickhouse,
        config,
    }
}

async fn start_writer(setup: &Setup) -> Service {
    start_writer_binary(setup, env!("CARGO_BIN_EXE_rapport-writer")).await
}

async fn start_writer_binary(setup: &Setup, binary: &str) -> Service {
    Service::start(binary, &setup.config, free_addr(), "warn").await
}

/// Produces everything, waiting for acknowledgements only when librdkafka's queue is full.
async fn produce(producer: &FutureProducer, topic: &str, interactions: &[Interaction]) {
    let mut pending = Vec::new();
    for i in interactions {
        let payload = encode(i, Framing::SingleObject);
        loop {
            let record = FutureRecord::to(topic)
                .key(&i.conversation_id)
                .payload(&payload);
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err(_) => {
                    for delivery in pending.drain(..) {
                        delivery.await.unwrap().expect("produced");
                    }
                }
            }
        }
    }
    for delivery in pending {
        delivery.await.unwrap().expect("produced");
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows: usize = env_or("RAPPORT_BENCH_ROWS", 200_000);
    let rate: usize = env_or("RAPPORT_BENCH_RATE", 2_000);
    let seconds: usize = env_or("RAPPORT_BENCH_SECONDS", 30);
    let stack = Stack::from_env();

    // 1. ClickHouse's ceiling: the same rows, inserted directly.
    let direct = setup(&stack, "bench-ch", "").await;
    migrations::migrate(&direct.clickhouse).await.unwrap();
    let client = direct.clickhouse.client();
    let batch: Vec<InteractionRow> = (0..50_000)
        .map(|n| {
            InteractionRow::new(
                interaction("d", n, Timestamp::now(), conversations(rows)),
                Timestamp::now(),
            )
        })
        .collect();
    let started = Instant::now();
    let mut inserted = 0;
    while inserted < rows {
        insert_rows(&client, &batch, Duration::from_secs(60))
            .await
            .unwrap();
        inserted += batch.len();
    }
    let ceiling = inserted as f64 / started.elapsed().as_secs_f64();
    println!(
        "clickhouse direct insert: {ceiling:>9.0} rows/s ({inserted} rows, 50,000 per insert)"
    );

    // 2. The writer draining a backlog: without the per-conversation state, then with it (the
    // default), in the same run, so the ratio is what the state costs on this machine today.
    let backlog: Vec<Interaction> = (0..rows)
        .map(|n| interaction("b", n, Timestamp::now(), conversations(rows)))
        .collect();
    // RAPPORT_BENCH_BASELINE_WRITER names another build of rapport-writer (the commit before a
    // change) to drain the same backlogs in the same run: before and after on one machine state.
    let mut writers = vec![(
        "this build",
        env!("CARGO_BIN_EXE_rapport-writer").to_owned(),
    )];
    if let Ok(baseline) = std::env::var("RAPPORT_BENCH_BASELINE_WRITER") {
        writers.insert(0, ("baseline", baseline));
    }
    let mut drains = Vec::new();
    for (label, binary) in &writers {
        let mut rates = Vec::new();
        // RAPPORT_BENCH_STATE=off|on runs only the drains without or with the state (profiling
        // one of them). With it, the state is drained twice: recomputed after every batch
        // (`batch.state_delay_ms = 0`), and with the default, where the batches of a backlog
        // share one recompute for up to `state_delay_ms`.
        let only = std::env::var("RAPPORT_BENCH_STATE").ok();
        for (name, state, each_batch) in [
            ("bench-drain-nostate", false, false),
            ("bench-drain-eachbatch", true, true),
            ("bench-drain", true, false),
        ] {
            if only.as_deref().is_some_and(|o| (o == "on") != state) {
                continue;
            }
            // A baseline build may predate the setting (and refuse the key): it drains once,
            // with its own defaults.
            let baseline = *label != "this build";
            if baseline && each_batch {
                continue;
            }
            let mut config = format!("store_state = {state}\n");
            if each_batch {
                config.push_str("batch = { state_delay_ms = 0 }\n");
            }
            let drain = setup(&stack, name, &config).await;
            let producer: FutureProducer = drain.kafka.producer_config().create().unwrap();
            let started = Instant::now();
            produce(&producer, &drain.topics.interactions, &backlog).await;
            println!(
                "backlog: {rows} interactions produced in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let started = Instant::now();
            let writer = start_writer_binary(&drain, binary).await;
            // Start-up (migrations, the group join) is a fixed cost that dominates small backlogs;
            // the rate from the first stored batch on is what the writer sustains.
            let mut first: Option<(Instant, usize)> = None;
            loop {
                let stored = count(&drain.clickhouse).await;
                if stored > 0 && first.is_none() {
                    first = Some((Instant::now(), stored));
                }
                if stored >= rows {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(900),
                    "writer did not finish"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // With the state on, drained means every event is counted in its conversation's row.
            while state
                && query(
                    &drain.clickhouse,
                    "SELECT sum(events) FROM conversations FINAL",
                )
                .await
                .trim()
                .parse::<usize>()
                .unwrap_or(0)
                    < rows
            {
                assert!(
                    started.elapsed() < Duration::from_secs(900),
                    "writer did not finish the state"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let drained = rows as f64 / started.elapsed().as_secs_f64();
            let (first_at, first_rows) = first.expect("rows were stored");
            let sustained = (rows - first_rows) as f64 / first_at.elapsed().as_secs_f64().max(1e-3);
            println!(
                "writer drain ({label}), store_state = {state:<5}{}: {drained:>9.0} rows/s incl. start-up, migrations and group join; {sustained:>9.0} rows/s after the first batch ({:.2} of ClickHouse alone); peak RSS {:.1} MB",
                if each_batch {
                    ", recomputed after every batch"
                } else {
                    ""
                },
                sustained / ceiling,
                peak_rss_mib(writer.pid())
            );
            // Where the drain's time went, from the writer's own metrics.
            let (_, metrics) = writer.get("/metrics").await;
            let sum = |name: &str| -> f64 {
                metrics
                    .lines()
                    .filter(|l| l.starts_with(name))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum()
            };
            println!(
                "  of which: {:.1} s inserting interactions in {} batches, {:.1} s recomputing and storing the state in {} recomputes",
                sum("rapport_writer_insert_seconds_sum"),
                sum("rapport_writer_insert_seconds_count"),
                sum("rapport_writer_state_seconds_sum"),
                sum("rapport_writer_state_seconds_count"),
            );
            rates.push((name, sustained));
            drains.push(drain);
        }
        let rate = |name: &str| rates.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
        if let (Some(without), Some(with)) = (rate("bench-drain-nostate"), rate("bench-drain")) {
            println!(
                "the stored state costs {:.0} % of the writer's sustained drain rate ({label})",
                100.0 * (1.0 - with / without)
            );
        }
        if let (Some(each_batch), Some(with)) = (rate("bench-drain-eachbatch"), rate("bench-drain"))
        {
            println!(
                "one recompute for the batches of up to state_delay_ms: {:.2}x the drain rate of a recompute after every batch",
                with / each_batch
            );
        }
    }

    // 3. Latency at a steady rate: produce → row visible in ClickHouse.
    let steady = setup(&stack, "bench-steady", "").await;
    let writer = start_writer(&steady).await;
    while query(&steady.clickhouse, "EXISTS TABLE interaction_log")
        .await
        .trim()
        != "1"
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = rate * seconds;
    let topic = steady.topics.interactions.clone();
    let kafka = steady.kafka.clone();
    let feeder = tokio::spawn(async move {
        let producer: FutureProducer = kafka.producer_config().create().unwrap();
        let tick = Duration::from_millis(10);
        let per_tick = rate / 100;
        let mut next = tokio::time::Instant::now();
        let mut n = 0;
        while n < total {
            let now = Timestamp::now();
            let chunk: Vec<Interaction> = (n..(n + per_tick).min(total))
                .map(|k| interaction("s", k, now, conversations(total)))
                .collect();
            n += chunk.len();
            for i in &chunk {
                let payload = encode(i, Framing::SingleObject);
                // Enqueue only: acknowledgements must not pace the feeder.
                let _ = producer.send_result(
                    FutureRecord::to(&topic)
                        .key(&i.conversation_id)
                        .payload(&payload),
                );
            }
            next += tick;
            tokio::time::sleep_until(next).await;
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    });
    let mut seen: HashSet<String> = HashSet::with_capacity(total);
    let mut latencies: Vec<i64> = Vec::with_capacity(total);
    let started = Instant::now();
    let mut since = 0i64;
    while seen.len() < total {
        assert!(
            started.elapsed() < Duration::from_secs(seconds as u64 + 120),
            "only {} of {total} rows became visible",
            seen.len()
        );
        let body = query(
            &steady.clickhouse,
            &format!("SELECT event_id, received_at_ms, written_at_ms FROM interaction_log WHERE written_at_ms >= {since} FORMAT TSV"),
        )
        .await;
        let visible = Timestamp::now().as_millis();
        for line in body.lines() {
            let mut fields = line.split('\t');
            let (Some(id), Some(received), Some(written)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let written: i64 = written.parse().unwrap_or(0);
            // Rows are stamped before the insert finishes; look back far enough to catch them.
            since = since.max(written - 10_000);
            if seen.insert(id.to_owned()) {
                latencies.push(visible - received.parse::<i64>().unwrap_or(visible));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    feeder.await.unwrap();
    latencies.sort_unstable();
    println!(
        "steady {rate}/s for {seconds} s: produce → visible p50 {} ms, p99 {} ms, max {} ms ({} rows, polled every 50 ms); writer peak RSS {:.1} MB",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        latencies.len(),
        peak_rss_mib(writer.pid())
    );
    drop(writer);
    for s in drains.iter().chain([&direct, &steady]) {
        query(
            &s.clickhouse,
            &format!("DROP DATABASE IF EXISTS {}", s.clickhouse.database),
        )
        .await;
    }
}
