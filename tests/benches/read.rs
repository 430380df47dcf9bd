// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! The read path at size: `make bench-read N=1000000` (or 10000000).
//!
//! 1. Fills a fresh database through the real write path: N normalized interactions (a fast
//!    generator of Avro records) on the interactions topic, read by the release-built writer
//!    (which stores the per-conversation state) and linker (which merges customers). The shape:
//!    20 tenants of Zipf-like sizes over 180 days of history per million events (so a tenant's
//!    week, a customer and a conversation are the same size at 1 M and 10 M rows: the history
//!    grows longer, not denser); conversations of 2–10 events mostly, some of 11–100, a few of
//!    1,000–3,000; customers with several conversations, some on two channels joined by a second
//!    identifier (merges); about 5 % of events delivered late or twice. The reads start once
//!    ClickHouse has finished merging the fill.
//! 2. Calls every API endpoint over HTTP on random keys: a warm-up, then `RAPPORT_BENCH_REQUESTS`
//!    (200) requests each, one at a time, and prints p50 and p99 per endpoint, with the rows,
//!    the active parts and the machine in the header.
//! 3. The same reads on a current ClickHouse: the read model's queries, as 18.16 logged them, are
//!    timed in chDB over the same stored tables (`tests/sql/bench_read_chdb.py`).
//!
//! Numbers go to docs/BENCHMARKS.md ("Read path").

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rapport_clickhouse::{ClickHouseConfig, read};
use rapport_kafka::{Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source,
    Timestamp, event_id,
};
use rapport_testkit::{
    Rng, Service, Stack, free_addr, kafka_and_topics_toml, metric_sum, query_in, unique_name,
};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TENANTS: usize = 20;
const DAY: i64 = 86_400_000;
/// 2024-01-01T00:00:00Z; conversations spread over the days after it.
const START: i64 = 1_704_067_200_000;

/// Days of history: 180 per million events, so a tenant's week, a customer and a conversation
/// hold as much at 10 M rows as at 1 M: the history grows longer, as a real one does, not denser.
/// What grows with the table is then only the table, which is what the growth target is about.
fn history_days(n: usize) -> u64 {
    (180 * n as u64 / 1_000_000).max(180)
}

fn tenant(i: usize) -> String {
    format!("tenant{i:02}")
}

/// The conversations of one tenant, as interactions, until `budget` events.
fn tenant_events(rng: &mut Rng, t: usize, budget: usize, days: u64, out: &mut Vec<Interaction>) {
    let tenant_id = tenant(t);
    let mut customer = 0usize;
    let mut produced = 0usize;
    while produced < budget {
        customer += 1;
        let email = format!("c{customer}@t{t}.example");
        // A valid NANP number: the exchange (the three digits after the area code) starts at 2.
        let k = t * 1_000_000 + customer;
        let phone = format!("+1415{}{:04}", 200 + (k / 10_000) % 700, k % 10_000);
        let conversations = 1 + rng.below(4) as usize;
        for c in 0..conversations {
            let size = match rng.below(100) {
                0 => 1_000 + rng.below(2_000) as usize,
                1..=9 => 11 + rng.below(90) as usize,
                _ => 2 + rng.below(9) as usize,
            }
            .min(budget - produced + 1);
            let channel = [Channel::Email, Channel::Chat, Channel::Support][rng.below(3) as usize];
            // A second channel's conversation carries the phone too: the linker merges.
            let merge = c > 0 && rng.below(5) == 0;
            let conversation_id = format!("generic:{tenant_id}-{customer}-{c}");
            let mut at = START + rng.below(days) as i64 * DAY + rng.below(DAY as u64) as i64;
            let team = ["billing", "tech", "sales"][rng.below(3) as usize];
            for n in 0..size {
                at += 1 + rng.below(3_600_000) as i64;
                let (kind, direction, role, status) = match (n % 2, rng.below(12)) {
                    (_, 0) => (
                        InteractionKind::StatusChange,
                        Direction::Internal,
                        ActorRole::Agent,
                        Some("solved"),
                    ),
                    (_, 1) => (
                        InteractionKind::Note,
                        Direction::Internal,
                        ActorRole::Agent,
                        None,
                    ),
                    (0, _) => (
                        InteractionKind::Message,
                        Direction::Inbound,
                        ActorRole::Customer,
                        None,
                    ),
                    _ => (
                        InteractionKind::Message,
                        Direction::Outbound,
                        ActorRole::Agent,
                        None,
                    ),
                };
                let mut identities = Vec::new();
                if role == ActorRole::Customer || rng.below(2) == 0 {
                    identities.push(Identity::email(&email).unwrap());
                    if merge {
                        identities.push(Identity::phone(&phone, None).unwrap());
                    }
                }
                let source_event_id = format!("{conversation_id}-{n}");
                out.push(Interaction {
                    event_id: event_id(&tenant_id, Source::Generic, &source_event_id),
                    tenant_id: tenant_id.clone(),
                    channel,
                    source: Source::Generic,
                    source_event_id,
                    kind,
                    direction,
                    actor: Actor {
                        role,
                        id: (role == ActorRole::Agent).then(|| format!("agent-{}", rng.below(30))),
                        name: (role == ActorRole::Agent).then(|| "Agent".to_owned()),
                    },
                    identities,
                    conversation_id: conversation_id.clone(),
                    occurred_at: Timestamp::from_millis(at),
                    received_at: Timestamp::from_millis(at + 500),
                    subject: None,
                    text: Some(format!("message {n} of {conversation_id}, written in a sentence or two of ordinary length")),
                    rating: None,
                    status: status.map(str::to_owned),
                    tags: vec![],
                    language: None,
                    team: Some(team.to_owned()),
                    auto_reply: false,
                    attachment_count: 0,
                    attachment_names: vec![],
                    raw_ref: None,
                    threading: None,
                });
                produced += 1;
            }
        }
    }
}

/// N events over the tenants (Zipf-like weights), in delivery order: about 3 % again at the
/// end (redeliveries) and 2 % held back to the end (late).
fn traffic(n: usize, seed: u64) -> (Vec<Interaction>, usize) {
    let mut rng = Rng::new(seed);
    let weights: Vec<f64> = (0..TENANTS).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let total: f64 = weights.iter().sum();
    let mut events = Vec::with_capacity(n + n / 20);
    for (t, w) in weights.iter().enumerate() {
        let budget = ((n as f64) * w / total) as usize;
        tenant_events(&mut rng, t, budget.max(1), history_days(n), &mut events);
    }
    let distinct = events.len();
    let mut late = Vec::new();
    let mut kept = Vec::with_capacity(events.len());
    for e in events {
        if rng.below(50) == 0 {
            late.push(e);
        } else {
            kept.push(e);
        }
    }
    let again: Vec<Interaction> = kept
        .iter()
        .filter(|_| rng.below(33) == 0)
        .cloned()
        .collect();
    kept.extend(late);
    kept.extend(again);
    (kept, distinct)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024 / 1024);
    format!("{cores} cores, {cpu}, {memory} GiB")
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Minutes of filling at a million rows: only when asked for (`make bench-read`), not in
    // every `cargo bench --workspace`.
    let Some(n) = std::env::var("RAPPORT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        println!("read path: skipped (run `make bench-read N=1000000`)");
        return;
    };
    let requests: usize = env_or("RAPPORT_BENCH_REQUESTS", 200);
    let stack = Stack::from_env();
    let prefix = unique_name("bench-read");
    let topics = Topics::prefixed(&prefix);
    ensure_topics(&stack.kafka, &topics.specs())
        .await
        .expect("stack up? run `make up`");
    let database = prefix.replace(['.', '-'], "_");
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let common = kafka_and_topics_toml(&stack.kafka, &topics);
    let store = format!(
        "[clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\nrequest_timeout_ms = 60000\n",
        stack.clickhouse_url
    );
    std::fs::write(
        dir.join("writer.toml"),
        format!("group_id = \"{prefix}-w\"\n{common}{store}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("linker.toml"),
        format!("group_id = \"{prefix}-l\"\n{common}{store}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("api.toml"),
        format!("{store}[rate_limit]\nrequests_per_second = 1000000.0\nburst = 1000000\n"),
    )
    .unwrap();
    let start = |service: &'static str| {
        let dir = dir.clone();
        async move {
            let binary = rapport_testkit::binary(&format!("rapport-{service}"));
            Service::start(
                binary.to_str().unwrap(),
                &dir.join(format!("{service}.toml")),
                free_addr(),
                "warn",
            )
            .await
        }
    };

    // 1. Fill through the write path.
    let (events, distinct) = traffic(n, 42);
    println!(
        "generated {} records ({distinct} distinct interactions)",
        events.len()
    );
    let writer = start("writer").await;
    let linker = start("linker").await;
    let producer: FutureProducer = stack.kafka.producer_config().create().unwrap();
    let filling = Instant::now();
    for chunk in events.chunks(50_000) {
        let payloads: Vec<(String, Vec<u8>)> = chunk
            .iter()
            .map(|i| {
                (
                    format!("{}/{}", i.tenant_id, i.conversation_id),
                    encode(i, Framing::SingleObject),
                )
            })
            .collect();
        for (key, payload) in &payloads {
            loop {
                match producer.send_result(
                    FutureRecord::to(&topics.interactions)
                        .key(key)
                        .payload(payload),
                ) {
                    Ok(_) => break,
                    Err(_) => producer.poll(Duration::from_millis(10)),
                }
            }
        }
        producer.flush(Duration::from_secs(120)).unwrap();
    }
    drop(events);
    let query = |sql: String| {
        let (url, db) = (stack.clickhouse_url.clone(), database.clone());
        async move { query_in(&url, &db, &sql).await.unwrap_or_default() }
    };
    loop {
        let stored: usize = query("SELECT uniqExact(event_id) FROM interaction_log".into())
            .await
            .trim()
            .parse()
            .unwrap_or(0);
        let (_, metrics) = linker.get("/metrics").await;
        let linked = metric_sum(&metrics, "rapport_linker_interactions_in_total") as usize;
        if stored >= distinct && linked >= distinct {
            break;
        }
        assert!(
            filling.elapsed() < Duration::from_secs(3_600),
            "{stored} of {distinct} stored, {linked} linked after an hour"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The writer stores a batch's state before its offsets; give its last batch the time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fill_seconds = filling.elapsed().as_secs_f64();
    let (_, writer_metrics) = writer.get("/metrics").await;
    drop(writer);
    drop(linker);
    // Background merges of the fill compete with the reads for the two cores: measure the store
    // at rest, as it is between bursts (the wait is printed; a busy store is slower).
    let settling = Instant::now();
    let mut quiet = 0;
    while quiet < 3 && settling.elapsed() < Duration::from_secs(900) {
        let merges = query(format!(
            "SELECT count() FROM system.merges WHERE database = '{database}'"
        ))
        .await;
        quiet = if merges.trim() == "0" { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let settle_seconds = settling.elapsed().as_secs_f64();

    let rows = query("SELECT count() FROM interaction_log".into()).await;
    let conversations = query("SELECT count() FROM conversations FINAL".into()).await;
    let parts = query(format!(
        "SELECT count() FROM system.parts WHERE database = '{database}' AND active"
    ))
    .await;
    println!(
        "\nread path at {} rows ({} conversations over {} days, {} active parts after {settle_seconds:.0} s of merges), filled through the writer and linker in {fill_seconds:.0} s \
         ({:.0} interactions/s, {} conversations recomputed); {}",
        rows.trim(),
        conversations.trim(),
        history_days(n),
        parts.trim(),
        distinct as f64 / fill_seconds,
        metric_sum(
            &writer_metrics,
            "rapport_writer_conversations_recomputed_total"
        ),
        machine()
    );

    // 2. Keys: random customers (by identifier), conversations and tenants.
    let config = ClickHouseConfig {
        url: stack.clickhouse_url.clone(),
        database: database.clone(),
        ..ClickHouseConfig::default()
    };
    let client = config.client().with_setting("wait_end_of_query", "1");
    let keys_per_tenant: Vec<String> = {
        let mut keys = Vec::new();
        for t in 0..TENANTS {
            let created = rapport_clickhouse::keys::create(&client, &tenant(t), "bench")
                .await
                .unwrap();
            keys.push(created.token);
        }
        keys
    };
    let sample = |sql: &str| {
        let (url, db, sql) = (
            stack.clickhouse_url.clone(),
            database.clone(),
            sql.to_owned(),
        );
        async move {
            query_in(&url, &db, &sql)
                .await
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let (t, k) = l.split_once('\t').unwrap();
                    (t.to_owned(), k.to_owned())
                })
                .collect::<Vec<(String, String)>>()
        }
    };
    let customer_keys = sample(&format!(
        "SELECT tenant_id, identity FROM customers FINAL ORDER BY cityHash64(identity) LIMIT {requests} FORMAT TSV"
    ))
    .await;
    let conversation_keys = sample(&format!(
        "SELECT tenant_id, conversation_id FROM conversations FINAL ORDER BY cityHash64(conversation_id) LIMIT {requests} FORMAT TSV"
    ))
    .await;
    let api = start("api").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", api.http);
    let key_of = |tenant_id: &str| {
        let t: usize = tenant_id.trim_start_matches("tenant").parse().unwrap();
        keys_per_tenant[t].clone()
    };
    let encode_path = |s: &str| {
        s.replace('%', "%25")
            .replace('<', "%3C")
            .replace('>', "%3E")
            .replace('/', "%2F")
    };
    let mut endpoints: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (i, (t, identity)) in customer_keys.iter().enumerate() {
        endpoints
            .entry("customer timeline (first page)")
            .or_default()
            .push((
                key_of(t),
                format!("/v1/customers/{}/timeline", encode_path(identity)),
            ));
        endpoints.entry("customer").or_default().push((
            key_of(t),
            format!("/v1/customers/{}", encode_path(identity)),
        ));
        let tenant_i = i % TENANTS;
        let week = START + (i as i64 * 7919 % (history_days(n) as i64 - 10)) * DAY;
        endpoints
            .entry("responsiveness report (one tenant, 7 days)")
            .or_default()
            .push((
                keys_per_tenant[tenant_i].clone(),
                format!(
                    "/v1/metrics/responsiveness?from={}&to={}&group_by=channel",
                    Timestamp::from_millis(week),
                    Timestamp::from_millis(week + 7 * DAY)
                ),
            ));
        endpoints
            .entry("unanswered (first page)")
            .or_default()
            .push((keys_per_tenant[tenant_i].clone(), "/v1/unanswered".into()));
        // The web pages (issue #24: each under 200 ms p99 at 10 M rows), signed in by cookie.
        endpoints
            .entry("page: customer (first timeline page)")
            .or_default()
            .push((
                key_of(t),
                format!("/ui/customers/{}", encode_path(identity)),
            ));
        let day = |ms: i64| Timestamp::from_millis(ms).to_string()[..10].to_owned();
        endpoints
            .entry("page: responsiveness (one tenant, 30 days)")
            .or_default()
            .push((
                keys_per_tenant[tenant_i].clone(),
                format!(
                    "/ui/responsiveness?from={}&to={}",
                    day(week),
                    day(week + 29 * DAY)
                ),
            ));
    }
    for (t, conversation) in &conversation_keys {
        endpoints
            .entry("conversation (events and responsiveness)")
            .or_default()
            .push((
                key_of(t),
                format!("/v1/conversations/{}", encode_path(conversation)),
            ));
        endpoints.entry("page: conversation").or_default().push((
            key_of(t),
            format!("/ui/conversations/{}", encode_path(conversation)),
        ));
    }
    // The API takes a bearer key, the pages the session cookie the sign-in form sets.
    let get = |path: &str, key: &str| {
        let request = http.get(format!("{base}{path}"));
        if path.starts_with("/ui") {
            request.header("cookie", format!("rapport_key={key}"))
        } else {
            request.bearer_auth(key)
        }
    };
    println!(
        "\n| endpoint (ClickHouse 18.16, through the API) | requests | p50 ms | p99 ms |\n| --- | --- | --- | --- |"
    );
    for (name, calls) in &endpoints {
        for (key, path) in calls.iter().take(20) {
            let _ = get(path, key).send().await;
        }
        let mut times = Vec::with_capacity(calls.len());
        for (key, path) in calls {
            let started = Instant::now();
            let response = get(path, key).send().await.unwrap();
            let status = response.status();
            assert!(
                !response.url().path().starts_with("/ui/login"),
                "{name}: {path} sent the session to the sign-in form"
            );
            let _ = response.bytes().await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(status.is_success(), "{name}: {path} answered {status}");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {:.1} | {:.1} |",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    drop(api);

    // 3. The read model's own queries, logged by 18.16, timed on chDB over the same tables.
    let logged = config
        .client()
        .with_setting("wait_end_of_query", "1")
        .with_setting("log_queries", "1");
    let since = Timestamp::now().as_millis() / 1000 - 1;
    let mut labels: Vec<(&str, i64)> = Vec::new();
    for (label, calls) in [
        ("conversation", &conversation_keys),
        ("customer timeline", &customer_keys),
    ] {
        let begin = Timestamp::now().as_millis() / 1000;
        for (tenant_id, key) in calls.iter().take(100) {
            if label == "conversation" {
                read::conversations::events(&logged, tenant_id, key, 1000)
                    .await
                    .unwrap();
                read::conversations::state(&logged, tenant_id, key)
                    .await
                    .unwrap();
            } else {
                let customer = read::resolve_customer(&logged, tenant_id, key)
                    .await
                    .unwrap()
                    .unwrap();
                read::timeline::page(
                    &logged,
                    &read::timeline::TimelineQuery {
                        tenant_id,
                        customer_id: &customer,
                        order: read::Order::Desc,
                        limit: 50,
                        channel: None,
                        from: None,
                        to: None,
                        after: None,
                    },
                )
                .await
                .unwrap();
            }
        }
        labels.push((label, begin));
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let begin = Timestamp::now().as_millis() / 1000;
    for i in 0..100 {
        let week = START + (i as i64 * 7919 % (history_days(n) as i64 - 10)) * DAY;
        read::responsiveness::report(
            &logged,
            &read::responsiveness::ReportQuery {
                tenant_id: &tenant(i % TENANTS),
                from: week,
                to: week + 7 * DAY,
                channel: None,
                group_by: Some(read::responsiveness::GroupBy::Channel),
                clock: read::responsiveness::Clock::Wall,
            },
        )
        .await
        .unwrap();
        read::unanswered::page(
            &logged,
            &read::unanswered::UnansweredQuery {
                tenant_id: &tenant(i % TENANTS),
                channel: None,
                since_at_most: None,
                limit: 50,
            },
        )
        .await
        .unwrap();
    }
    labels.push(("report and unanswered", begin));
    client.query("SYSTEM FLUSH LOGS").execute().await.unwrap();
    let queries: Vec<(i64, String)> = client
        .query(
            "SELECT toInt64(toUnixTimestamp(event_time)), query FROM system.query_log WHERE type = 2 \
             AND event_time >= toDateTime(?) AND query NOT LIKE '%system.%' ORDER BY event_time",
        )
        .bind(since)
        .fetch_all()
        .await
        .unwrap();
    let mut by_label: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (at, sql) in queries {
        if let Some((label, _)) = labels.iter().rev().find(|(_, begin)| at >= *begin) {
            by_label.entry(label).or_default().push(sql);
        }
    }
    let out = dir.join("chdb");
    std::fs::create_dir_all(&out).unwrap();
    for table in [
        "interaction_log",
        "interaction_identities",
        "conversations",
        "replies",
        "resolutions",
        "waiting",
        "customers",
        "customer_identities",
    ] {
        let bytes = reqwest::Client::new()
            .post(format!("{}/?database={database}", stack.clickhouse_url))
            .body(format!("SELECT * FROM {table} FORMAT Native"))
            .timeout(Duration::from_secs(1_800))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::fs::write(out.join(format!("{table}.native")), bytes).unwrap();
    }
    std::fs::write(
        out.join("queries.json"),
        serde_json::to_string(&by_label).unwrap(),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/bench_read_chdb.py");
    let status = std::process::Command::new("python3")
        .arg(script)
        .arg(&out)
        .status()
        .expect("python3 runs (make chdb installs chdb-core)");
    assert!(status.success(), "the chDB half failed");
    // RAPPORT_BENCH_KEEP=1 keeps both for looking into a number afterwards.
    if std::env::var_os("RAPPORT_BENCH_KEEP").is_some() {
        println!(
            "\nkept: database {database}, tables and queries in {}",
            out.display()
        );
    } else {
        std::fs::remove_dir_all(&dir).ok();
        stack.drop_database(&database).await;
    }
}
