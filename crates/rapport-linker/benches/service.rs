// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Load harness for `rapport-linker` as a service, against the local broker and ClickHouse
//! (release binary; results in docs/BENCHMARKS.md, "Identity resolution"):
//! 1. throughput: one instance draining a backlog of interactions from the topic to stored
//!    links, customers and change events (interactions/s, peak RSS);
//! 2. restart: the same instance stopped and started again on what it stored (time until the
//!    admin API answers, i.e. the graph is restored; RSS);
//! 3. restore at size: `RAPPORT_BENCH_RESTORE_IDENTIFIERS` identifiers (default 1,000,000)
//!    written straight into `identity_links` and `customers`, then an unsharded start (whole
//!    restore: seconds, peak RSS) and a sharded start that restores each tenant on its first
//!    interaction (seconds per tenant, from its log);
//! 4. two sharded instances on the phase-1 backlog, the second joining a third of the way in
//!    (interactions/s; the stored customers must equal phase 1's).
//!
//! `cargo bench -p rapport-linker --bench service`. Sizes: `RAPPORT_BENCH_INTERACTIONS`
//! (default 200,000), `RAPPORT_BENCH_TENANTS` (20), `RAPPORT_BENCH_RESTORE_IDENTIFIERS`
//! (1,000,000; 0 skips phase 3). Each phase uses fresh topics and a fresh database, dropped at
//! the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rapport_clickhouse::insert_into;
use rapport_identity::{IdentityGraph, Link, Policies};
use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source,
    Timestamp, event_id,
};
use rapport_testkit::{
    Service, ServiceOptions, Stack, free_addr, peak_rss_mib, query_in, unique_name,
};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

const TOKEN: &str = "bench-admin-token";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tenant(t: usize) -> String {
    format!("tenant-{t:03}")
}

fn email(t: usize, c: usize) -> Identity {
    Identity::email(&format!("c{c}@t{t}.example.com")).unwrap()
}

/// A second address (phone numbers would run out of valid ranges at ten million).
fn phone(t: usize, c: usize) -> Identity {
    Identity::email(&format!("c{c}.work@t{t}.example.org")).unwrap()
}

/// Interaction `n`: customer `n / 2` (two interactions each, the second changes nothing) of
/// tenant `n / 2 % tenants`, carrying its two addresses: `n` identifiers and `n / 2`
/// links in all.
fn interaction(n: usize, tenants: usize) -> Interaction {
    let customer = n / 2;
    let t = customer % tenants;
    let c = customer / tenants;
    let id = format!("bench-{n}");
    let tenant_id = tenant(t);
    Interaction {
        event_id: event_id(&tenant_id, Source::Generic, &id),
        tenant_id,
        channel: Channel::Email,
        source: Source::Generic,
        source_event_id: id.clone(),
        kind: InteractionKind::Message,
        direction: Direction::Inbound,
        actor: Actor {
            role: ActorRole::Customer,
            id: None,
            name: Some("Maria Lopez".into()),
        },
        identities: vec![email(t, c), phone(t, c)],
        conversation_id: format!("generic:{id}"),
        occurred_at: Timestamp::from_millis(1_717_405_200_000 + n as i64),
        received_at: Timestamp::from_millis(1_717_405_200_000 + n as i64),
        subject: Some("Invoice question".into()),
        text: Some(
            "Hello, I was charged twice for my order last week; could you look into it?".into(),
        ),
        rating: None,
        status: None,
        tags: vec![],
        language: Some("en".into()),
        team: None,
        auto_reply: false,
        attachment_count: 0,
        attachment_names: vec![],
        raw_ref: None,
        threading: None,
    }
}

struct Phase {
    kafka: KafkaConfig,
    clickhouse_url: String,
    topics: Topics,
    database: String,
    config: PathBuf,
    log: PathBuf,
}

impl Phase {
    async fn new(stack: &Stack, name: &str, sharded: bool) -> Self {
        let prefix = unique_name(name);
        let kafka = KafkaConfig {
            producer_batch_messages: None,
            partitions: 4,
            ..stack.kafka.clone()
        };
        let topics = Topics::prefixed(&prefix);
        ensure_topics(&kafka, &topics.specs())
            .await
            .expect("stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let config = std::env::temp_dir().join(format!("{prefix}.toml"));
        let shard = if sharded {
            format!(
                "[shard]\nenabled = true\ntopic = \"{prefix}.linker.v1\"\nroute_group_id = \"{prefix}-route\"\n"
            )
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                "group_id = \"{prefix}-l\"\n{shard}[kafka]\nbrokers = \"{}\"\npartitions = 4\n\
                 [topics]\ninteractions = \"{}\"\ndlq = \"{}\"\nidentity = \"{}\"\n\
                 [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n[admin]\ntoken = \"{TOKEN}\"\n",
                kafka.brokers,
                topics.interactions,
                topics.dlq,
                topics.identity,
                stack.clickhouse_url
            ),
        )
        .unwrap();
        let log = std::env::temp_dir().join(format!("{prefix}.log"));
        Self {
            kafka,
            clickhouse_url: stack.clickhouse_url.clone(),
            topics,
            database,
            config,
            log,
        }
    }

    async fn start(&self) -> Service {
        Service::start_with(
            env!("CARGO_BIN_EXE_rapport-linker"),
            &self.config,
            free_addr(),
            "warn,rapport_linker=info",
            &ServiceOptions {
                log_file: Some(self.log.clone()),
                ..ServiceOptions::default()
            },
        )
        .await
    }

    async fn query(&self, sql: &str) -> String {
        query_in(&self.clickhouse_url, &self.database, sql)
            .await
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    async fn produce(&self, interactions: impl Iterator<Item = Interaction>) {
        let producer: FutureProducer = self.kafka.producer_config().create().unwrap();
        let mut pending = Vec::new();
        for i in interactions {
            let payload = encode(&i, Framing::SingleObject);
            loop {
                let record = FutureRecord::to(&self.topics.interactions)
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

    /// Polls until `customers` holds `expected` identifiers; returns the time of the first
    /// stored row and of the last.
    async fn wait_for_identifiers(&self, expected: usize, limit: Duration) -> (Instant, Instant) {
        let deadline = Instant::now() + limit;
        let mut first = None;
        loop {
            let n: usize = self
                .query("SELECT uniqExact(tenant_id, identity) FROM customers")
                .await
                .parse()
                .unwrap_or(0);
            if n > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if n >= expected {
                return (first.unwrap_or_else(Instant::now), Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "{n} of {expected} identifiers stored within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A checksum of the stored identifier → customer mapping, comparable across databases.
    async fn mapping_checksum(&self) -> String {
        self.query(
            "SELECT groupBitXor(cityHash64(tenant_id, identity, customer_id)), count() FROM customers FINAL",
        )
        .await
    }

    async fn drop_all(&self) {
        use rdkafka::admin::{AdminClient, AdminOptions};
        query_in(
            &self.clickhouse_url,
            "default",
            &format!("DROP DATABASE IF EXISTS {}", self.database),
        )
        .await;
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            self.kafka.client_config().create().unwrap();
        let mut names: Vec<String> = self.topics.specs().into_iter().map(|s| s.name).collect();
        names.push(
            self.topics
                .interactions
                .replace("interactions.v1", "linker.v1"),
        );
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Waits until the admin API answers for `identifier` (503 while the graph is restored).
async fn wait_restored(linker: &Service, tenant: &str, identifier: &str) {
    let path = format!("/v1/identity/{tenant}/{identifier}");
    loop {
        let (status, _) = linker.get_with_token(&path, TOKEN).await;
        if status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Serialize, clickhouse::Row)]
struct LinkRow {
    tenant_id: String,
    identity_a: String,
    identity_b: String,
    state: String,
    event_id: String,
    source: String,
    occurred_at_ms: i64,
    changed_at_ms: i64,
}

#[derive(Serialize, clickhouse::Row)]
struct CustomerRow {
    tenant_id: String,
    identity: String,
    customer_id: String,
    changed_at_ms: i64,
}

/// Writes `identifiers` identifiers (pairs of one customer each, over `tenants`) into the
/// linker's tables as a live run would have: the customer ids come from the graph library, so
/// a restore finds nothing to correct.
async fn fill_identity_tables(phase: &Phase, identifiers: usize, tenants: usize) {
    let config = rapport_clickhouse::ClickHouseConfig {
        url: phase.clickhouse_url.clone(),
        database: phase.database.clone(),
        ..Default::default()
    };
    rapport_clickhouse::migrations::migrate(&config)
        .await
        .unwrap();
    let client = config.client();
    let customers = identifiers / 2;
    let chunk = 100_000;
    let now = Timestamp::now().as_millis();
    let started = Instant::now();
    let mut start = 0;
    while start < customers {
        let end = (start + chunk).min(customers);
        let mut graph = IdentityGraph::new(Policies::default());
        let mut links = Vec::with_capacity(end - start);
        let mut rows = Vec::with_capacity(2 * (end - start));
        for customer in start..end {
            let (t, c) = (customer % tenants, customer / tenants);
            let (a, b) = (email(t, c).to_key(), phone(t, c).to_key());
            let id = format!("bench-{}", 2 * customer);
            let link = Link::new(
                tenant(t),
                &a,
                &b,
                event_id(&tenant(t), Source::Generic, &id),
                Source::Generic,
                Timestamp::from_millis(1_717_405_200_000),
            );
            graph.apply_link(&link);
            let customer_id = graph.customer_of(&tenant(t), &a).unwrap().to_string();
            for identity in [&link.a, &link.b] {
                rows.push(CustomerRow {
                    tenant_id: tenant(t),
                    identity: identity.clone(),
                    customer_id: customer_id.clone(),
                    changed_at_ms: now,
                });
            }
            links.push(LinkRow {
                tenant_id: tenant(t),
                identity_a: link.a.clone(),
                identity_b: link.b.clone(),
                state: "linked".into(),
                event_id: link.event_id.to_string(),
                source: "generic".into(),
                occurred_at_ms: 1_717_405_200_000,
                changed_at_ms: now,
            });
        }
        insert_into(&client, "identity_links", &links, Duration::from_secs(300))
            .await
            .unwrap();
        insert_into(&client, "customers", &rows, Duration::from_secs(300))
            .await
            .unwrap();
        start = end;
    }
    println!(
        "  filled {identifiers} identifiers ({customers} links) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The `seconds` and `tenants` of every "tenants restored" line of a sharded linker's log.
fn restores_in_log(log: &PathBuf) -> Vec<(usize, f64)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("tenants restored"))
        .filter_map(|l| {
            let field = |name: &str| {
                l.split(&format!("{name}="))
                    .nth(1)
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_owned)
            };
            Some((
                field("tenants")?.parse().ok()?,
                field("seconds")?.parse().ok()?,
            ))
        })
        .collect()
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = env_or("RAPPORT_BENCH_INTERACTIONS", 200_000);
    let tenants: usize = env_or("RAPPORT_BENCH_TENANTS", 20);
    let restore_identifiers: usize = env_or("RAPPORT_BENCH_RESTORE_IDENTIFIERS", 1_000_000);
    let stack = Stack::from_env();
    let one = (tenant(0), email(0, 0).to_key());

    // 1. One instance drains the backlog.
    println!(
        "linker service: {n} interactions, {tenants} tenants, {n} identifiers, {} links",
        n / 2
    );
    let single = Phase::new(&stack, "bench-linker-one", false).await;
    single
        .produce((0..n).map(|i| interaction(i, tenants)))
        .await;
    let started = Instant::now();
    let mut linker = single.start().await;
    let (first, last) = single
        .wait_for_identifiers(n, Duration::from_secs(1800))
        .await;
    let all = last.duration_since(started).as_secs_f64();
    let drain = last.duration_since(first).as_secs_f64();
    println!(
        "1. one instance: {:.0} interactions/s including start-up ({all:.1} s), {:.0}/s after the first stored row ({drain:.1} s); peak RSS {:.0} MiB",
        n as f64 / all,
        n as f64 / drain.max(0.001),
        peak_rss_mib(linker.pid())
    );
    let links = single
        .query("SELECT count() FROM identity_links FINAL")
        .await;
    println!("   stored links: {links} (expected {})", n / 2);
    let expected_mapping = single.mapping_checksum().await;

    // 2. Restart on what it stored.
    linker.signal("TERM");
    let started = Instant::now();
    let linker = single.start().await;
    wait_restored(&linker, &one.0, &one.1).await;
    println!(
        "2. restart with {n} identifiers: restored and answering in {:.2} s; peak RSS {:.0} MiB",
        started.elapsed().as_secs_f64(),
        peak_rss_mib(linker.pid())
    );
    drop(linker);

    // 4a. One sharded instance: the routing step's cost, without a rebalance.
    let alone = Phase::new(&stack, "bench-linker-sharded", true).await;
    alone.produce((0..n).map(|i| interaction(i, tenants))).await;
    let started = Instant::now();
    let linker = alone.start().await;
    let (_, last) = alone
        .wait_for_identifiers(n, Duration::from_secs(1800))
        .await;
    let all = last.duration_since(started).as_secs_f64();
    println!(
        "4a. one sharded instance: {:.0} interactions/s including start-up ({all:.1} s); peak RSS {:.0} MiB",
        n as f64 / all,
        peak_rss_mib(linker.pid())
    );
    drop(linker);
    alone.drop_all().await;

    // 4. Two sharded instances, the second joining a third of the way in.
    let sharded = Phase::new(&stack, "bench-linker-two", true).await;
    sharded
        .produce((0..n).map(|i| interaction(i, tenants)))
        .await;
    let started = Instant::now();
    let first_instance = sharded.start().await;
    let mut second = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let stored: usize = sharded
            .query("SELECT uniqExact(tenant_id, identity) FROM customers")
            .await
            .parse()
            .unwrap_or(0);
        if second.is_none() && stored >= n / 3 {
            second = Some(sharded.start().await);
            println!("   second instance joined at {stored} stored identifiers");
        }
        if stored >= n {
            break;
        }
        assert!(Instant::now() < deadline, "{stored} of {n} within 30 min");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = started.elapsed().as_secs_f64();
    let mapping = sharded.mapping_checksum().await;
    println!(
        "4. two sharded instances, one joining: {:.0} interactions/s including start-up ({all:.1} s); peak RSS {:.0} / {:.0} MiB; mapping {} phase 1's",
        n as f64 / all,
        peak_rss_mib(first_instance.pid()),
        second.as_ref().map_or(0.0, |s| peak_rss_mib(s.pid())),
        if mapping == expected_mapping {
            "equals"
        } else {
            "DIFFERS FROM"
        }
    );
    assert_eq!(
        mapping, expected_mapping,
        "the sharded run stored other customers"
    );
    drop(first_instance);
    drop(second);
    single.drop_all().await;
    sharded.drop_all().await;

    // 3. Restore at size.
    if restore_identifiers > 0 {
        println!("3. restore with {restore_identifiers} identifiers over {tenants} tenants:");
        let big = Phase::new(&stack, "bench-linker-restore", false).await;
        fill_identity_tables(&big, restore_identifiers, tenants).await;
        let started = Instant::now();
        let linker = big.start().await;
        wait_restored(&linker, &one.0, &one.1).await;
        println!(
            "   one instance, whole restore: {:.2} s to answering; peak RSS {:.0} MiB",
            started.elapsed().as_secs_f64(),
            peak_rss_mib(linker.pid())
        );
        drop(linker);
        // Sharded: nothing up front; each tenant is read on its first interaction.
        let config = std::fs::read_to_string(&big.config).unwrap();
        let prefix = big
            .topics
            .interactions
            .trim_end_matches(".interactions.v1")
            .to_owned();
        let (group, rest) = config.split_once('\n').unwrap();
        std::fs::write(
            &big.config,
            format!(
                "{group}\n[shard]\nenabled = true\ntopic = \"{prefix}.linker.v1\"\nroute_group_id = \"{prefix}-route\"\n{rest}"
            ),
        )
        .unwrap();
        let started = Instant::now();
        let linker = big.start().await;
        let ready = started.elapsed().as_secs_f64();
        // One known interaction per tenant: each loads its tenant's graph.
        big.produce((0..tenants).map(|t| interaction(2 * t + 1, tenants)))
            .await;
        let deadline = Instant::now() + Duration::from_secs(600);
        let restores = loop {
            let restores = restores_in_log(&big.log);
            if restores.iter().map(|(t, _)| t).sum::<usize>() >= tenants {
                break restores;
            }
            assert!(
                Instant::now() < deadline,
                "tenants not restored: {restores:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let seconds: f64 = restores.iter().map(|(_, s)| s).sum();
        println!(
            "   one sharded instance: up in {ready:.2} s with nothing restored; {tenants} tenants ({} identifiers each) restored on their first interaction in {} reads, {seconds:.2} s in all, {:.3} s per tenant; peak RSS {:.0} MiB",
            restore_identifiers / tenants,
            restores.len(),
            seconds / tenants as f64,
            peak_rss_mib(linker.pid())
        );
        drop(linker);
        big.drop_all().await;
    }
}
