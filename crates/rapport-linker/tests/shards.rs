//! Two sharded linkers (`shard.enabled`) against the local broker and ClickHouse: a second
//! instance joins mid-stream, then the first stops (SIGTERM) or the second is killed (SIGKILL)
//! mid-stream; the stored customers, links
//! and change events must equal what the in-memory graph (`rapport-identity`, the oracle) derives
//! from the same interactions in one process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rapport_identity::{IdentityGraph, Policies};
use rapport_kafka::{Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source,
    Timestamp, event_id,
};
use rapport_testkit::{
    ScratchDir, Service, Stack, binary, free_addr, kafka_and_topics_toml, query_in, reader,
    unique_name,
};
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::Value;

const ADMIN_TOKEN: &str = "linker-shard-test-admin-token";
const TENANTS: usize = 12;
const CUSTOMERS_PER_TENANT: usize = 150;
const INTERACTIONS: usize = 6_000;
const PARTITIONS: i32 = 4;

/// SplitMix64: a deterministic stream, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// Customer `c` of tenant `t` owns one address and one phone number, and writes with one, the
/// other or both: linked exactly when some interaction carries both, and never joined to another
/// customer (which would be a wrong merge).
fn workload() -> Vec<Interaction> {
    let mut rng = Rng(25);
    (0..INTERACTIONS)
        .map(|n| {
            let t = rng.below(TENANTS);
            let c = rng.below(CUSTOMERS_PER_TENANT);
            let tenant = format!("tenant-{t:02}");
            let email = Identity::email(&format!("customer{c}@t{t}.example.com")).unwrap();
            let phone = Identity::phone(&format!("+1415{:03}{:04}", 200 + t, c), None).unwrap();
            let identities = match rng.below(3) {
                0 => vec![email],
                1 => vec![phone],
                _ => vec![email, phone],
            };
            let id = format!("shard-{n}");
            Interaction {
                event_id: event_id(&tenant, Source::Generic, &id),
                tenant_id: tenant,
                channel: Channel::Email,
                source: Source::Generic,
                source_event_id: id.clone(),
                kind: InteractionKind::Message,
                direction: Direction::Inbound,
                actor: Actor {
                    role: ActorRole::Customer,
                    id: None,
                    name: None,
                },
                identities,
                conversation_id: format!("generic:{id}"),
                occurred_at: Timestamp::from_millis(1_717_405_200_000 + n as i64 * 1_000),
                received_at: Timestamp::from_millis(1_717_405_200_000 + n as i64 * 1_000),
                subject: None,
                text: Some("hello".into()),
                rating: None,
                status: None,
                tags: vec![],
                language: None,
                team: None,
                auto_reply: false,
                attachment_count: 0,
                attachment_names: vec![],
                raw_ref: None,
                threading: None,
            }
        })
        .collect()
}

struct Run {
    stack: Stack,
    topics: Topics,
    database: String,
    config: PathBuf,
    _files: ScratchDir,
}

impl Run {
    async fn new(name: &str) -> Self {
        let mut stack = Stack::from_env();
        stack.kafka.partitions = PARTITIONS;
        let prefix = unique_name(name);
        let topics = Topics::prefixed(&prefix);
        ensure_topics(&stack.kafka, &topics.specs())
            .await
            .expect("topics created; is the stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let files = ScratchDir::new(&prefix);
        let config = files.join("linker.toml");
        std::fs::write(
            &config,
            format!(
                "group_id = \"{prefix}-linker\"\n\
                 [shard]\nenabled = true\ntopic = \"{prefix}.linker.v1\"\nroute_group_id = \"{prefix}-route\"\n\
                 [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n\
                 [batch]\nmax_delay_ms = 200\n\
                 [admin]\ntoken = \"{ADMIN_TOKEN}\"\n{}",
                stack.clickhouse_url,
                kafka_and_topics_toml(&stack.kafka, &topics),
            ),
        )
        .unwrap();
        Self {
            stack,
            topics,
            database,
            config,
            _files: files,
        }
    }

    async fn start(&self) -> Service {
        Service::start(
            &binary("rapport-linker").display().to_string(),
            &self.config,
            free_addr(),
            "warn,rapport_linker=info,rapport_kafka=info",
        )
        .await
    }

    /// Produces as the normalizer does (keyed by conversation, the tenant in a header), except
    /// every third record without the header: the routing step then reads the tenant from the
    /// record itself.
    async fn produce(&self, interactions: &[Interaction]) {
        let producer: FutureProducer = self.stack.kafka.producer_config().create().unwrap();
        let payloads: Vec<Vec<u8>> = interactions
            .iter()
            .map(|i| encode(i, Framing::SingleObject))
            .collect();
        let mut deliveries = Vec::new();
        for (n, (i, payload)) in interactions.iter().zip(&payloads).enumerate() {
            let mut record = FutureRecord::to(&self.topics.interactions)
                .key(&i.conversation_id)
                .payload(payload);
            if n % 3 != 0 {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: "rapport-tenant",
                    value: Some(&i.tenant_id),
                }));
            }
            deliveries.push(producer.send(record, Timeout::Never));
        }
        for delivery in deliveries {
            delivery.await.expect("produced");
        }
    }

    async fn query(&self, sql: &str) -> Option<String> {
        query_in(&self.stack.clickhouse_url, &self.database, sql).await
    }

    /// [`Run::settle`] that says whether it settled instead of failing.
    async fn settled(&self, sql: &str, expected: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.query(sql).await.unwrap_or_default().trim() == expected {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if self.query(sql).await.unwrap_or_default().trim() == expected {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    }

    /// Which identifiers the store lacks, the interactions that carried them, and whether each
    /// reached the linker's own topic (and in which partition): a loss in the routing step or in
    /// the resolver.
    async fn explain_missing(
        &self,
        expected: &BTreeMap<String, String>,
        stored: &BTreeMap<String, String>,
        interactions: &[Interaction],
    ) -> String {
        let missing: Vec<&String> = expected
            .keys()
            .filter(|k| !stored.contains_key(*k))
            .collect();
        let carriers: Vec<(usize, &Interaction)> = interactions
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                i.identities
                    .iter()
                    .any(|id| missing.contains(&&format!("{}/{}", i.tenant_id, id.to_key())))
            })
            .collect();
        let topic = self
            .topics
            .interactions
            .replace("interactions.v1", "linker.v1");
        let consumer = rapport_testkit::assigned_reader(&self.stack.kafka, &[&topic]);
        let mut routed: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        while let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await
        {
            if let Ok(i) =
                rapport_model::wire::decode_single_object(message.payload().unwrap_or_default())
            {
                routed
                    .entry(i.event_id.to_string())
                    .or_default()
                    .push((message.partition(), message.offset()));
            }
        }
        let lines: Vec<String> = carriers
            .iter()
            .map(|(n, i)| {
                format!(
                    "interaction {n} of {} ({}): copies on the linker's topic (partition, offset) {:?}",
                    i.tenant_id,
                    rapport_linker::partition_of(&i.tenant_id, PARTITIONS),
                    routed.get(&i.event_id.to_string())
                )
            })
            .collect();
        format!(
            "{} of {} identifiers stored; missing {missing:?}; carried by: {lines:?}",
            stored.len(),
            expected.len()
        )
    }

    /// Waits until `sql` answers `expected` and still does 3 s later (nothing more arrives).
    async fn settle(&self, sql: &str, expected: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let answer = self.query(sql).await.unwrap_or_default();
            if answer.trim() == expected {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if self.query(sql).await.unwrap_or_default().trim() == expected {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{sql} answered {answer:?}, not {expected:?}, within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `tenant/identifier` → customer, from ClickHouse (TSV, one row per line).
    async fn stored_customers(&self) -> BTreeMap<String, String> {
        self.query(
            "SELECT tenant_id, identity, customer_id FROM customers FINAL ORDER BY tenant_id, identity",
        )
        .await
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (format!("{}/{}", cols[0], cols[1]), cols[2].to_owned())
        })
        .collect()
    }

    async fn published_customers(&self) -> BTreeMap<String, String> {
        let consumer = reader(&self.stack.kafka, &[&self.topics.identity]);
        let mut latest = BTreeMap::new();
        while let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await
        {
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            let event: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
            latest.insert(key, event["customer_id"].as_str().unwrap().to_owned());
        }
        latest
    }

    /// Drops the database and the run's topics (best effort: the stack is shared).
    async fn drop_all(&self) {
        use rdkafka::admin::{AdminClient, AdminOptions};
        self.query(&format!("DROP DATABASE IF EXISTS {}", self.database))
            .await;
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            self.stack.kafka.client_config().create().unwrap();
        let mut names: Vec<String> = self.topics.specs().into_iter().map(|s| s.name).collect();
        names.push(
            self.topics
                .interactions
                .replace("interactions.v1", "linker.v1"),
        );
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
    }
}

async fn admin(linker: &Service, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", linker.http))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("linker answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What one in-memory graph derives from every interaction: `tenant/identifier` → customer, and
/// the linked pairs.
fn oracle(interactions: &[Interaction]) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut graph = IdentityGraph::new(Policies::default());
    let mut identifiers = BTreeSet::new();
    for i in interactions {
        graph.observe(i);
        for identity in &i.identities {
            identifiers.insert((i.tenant_id.clone(), identity.to_key()));
        }
    }
    let mut customers = BTreeMap::new();
    let mut links = BTreeSet::new();
    for (tenant, key) in &identifiers {
        let customer = graph.customer_of(tenant, key).expect("observed");
        customers.insert(format!("{tenant}/{key}"), customer.to_string());
        for link in graph.links_of(tenant, key) {
            links.insert(format!("{tenant}/{}/{}", link.a, link.b));
        }
    }
    (customers, links)
}

/// How the first two instances part mid-stream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parting {
    /// The first instance (the group's leader) stops with SIGTERM and leaves the group.
    FirstLeaves,
    /// The second instance is killed with SIGKILL: it leaves nothing behind, and its tenants
    /// return to the first once its session expires. (Killing Tansu 0.6's group leader instead
    /// leaves the group without a leader for good: docs/ARCHITECTURE.md, "Broker quirks".)
    SecondKilled,
}

/// Once lost one identifier in 8 runs under load (#25): Tansu 0.6 skipped a batch of the partition
/// that had just moved while both routing steps wrote it; the consumers now read such a gap again
/// (`ResumeGuard::admit` in rapport-kafka, docs/ARCHITECTURE.md "Broker quirks").
#[tokio::test]
async fn a_second_instance_joining_then_the_first_leaving_mid_stream_loses_no_link_and_merges_nothing_wrong()
 {
    two_instances(Parting::FirstLeaves).await;
}

/// Ignored in `make test`: in 1 of 8 runs Tansu 0.6 handed the killed member's partitions to the
/// survivor and revoked them a second later, after which the survivor's groups stalled (its
/// "dead member keeps its partitions" quirk, docs/ARCHITECTURE.md). Run it with `--ignored`.
#[tokio::test]
#[ignore = "Tansu 0.6 may give a killed member's partitions back to it for good (docs/ARCHITECTURE.md, Broker quirks)"]
async fn a_second_instance_joining_then_killed_mid_stream_loses_no_link_and_merges_nothing_wrong() {
    two_instances(Parting::SecondKilled).await;
}

async fn two_instances(parting: Parting) {
    let run = Run::new(match parting {
        Parting::FirstLeaves => "linker-shards-leave",
        Parting::SecondKilled => "linker-shards-kill",
    })
    .await;
    let interactions = workload();
    let (expected, expected_links) = oracle(&interactions);
    let thirds: Vec<&[Interaction]> = interactions.chunks(INTERACTIONS / 3).collect();

    let mut first = run.start().await;
    run.produce(thirds[0]).await;
    // The first instance owns every partition and has stored some of the first third.
    run.settle_some("SELECT count() > 0 FROM customers").await;

    let mut second = run.start().await;
    run.produce(thirds[1]).await;
    // Both instances share the tenants once the group has rebalanced: each tenant has exactly
    // one owner, and both own some.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut owners = BTreeMap::new();
        for t in 0..TENANTS {
            let path = format!("/v1/identity/owner/tenant-{t:02}");
            let a = admin(&first, &path).await.0 == 200;
            let b = admin(&second, &path).await.0 == 200;
            owners.insert(t, (a, b));
        }
        let split = owners.values().all(|(a, b)| a != b)
            && owners.values().any(|(a, _)| *a)
            && owners.values().any(|(_, b)| *b);
        if split {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the two instances never split the tenants: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Any instance answers `show` for any tenant, from memory or from the store; only the owner
    // changes a graph.
    let (status, body) = admin(
        &second,
        "/v1/identity/tenant-00/email:customer0@t0.example.com",
    )
    .await;
    assert!(status == 200 || status == 404, "{status} {body}");
    let not_owner = if admin(&first, "/v1/identity/owner/tenant-00").await.0 == 200 {
        &second
    } else {
        &first
    };
    let refused = reqwest::Client::new()
        .post(format!("http://{}/v1/identity/unlink", not_owner.http))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"tenant_id": "tenant-00", "a": "email:nobody@t0.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 421);

    // One instance stops mid-stream, the other takes its tenants over from the store (records
    // whose batch was not stored are read again).
    let survivor = match parting {
        Parting::FirstLeaves => {
            first.signal("TERM");
            second
        }
        Parting::SecondKilled => {
            second.signal("KILL");
            first
        }
    };
    run.produce(thirds[2]).await;

    let expected_count = expected.len().to_string();
    let settled = run
        .settled(
            "SELECT count() FROM customers FINAL",
            &expected_count,
            Duration::from_secs(240),
        )
        .await;
    let stored = run.stored_customers().await;
    if !settled || stored.len() != expected.len() {
        panic!(
            "{}",
            run.explain_missing(&expected, &stored, &interactions).await
        );
    }
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(*v))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "customers differ from the oracle's (first 10): {wrong:?}"
    );
    let links: BTreeSet<String> = run
        .query(
            "SELECT tenant_id, identity_a, identity_b FROM identity_links FINAL WHERE state = 'linked'",
        )
        .await
        .unwrap_or_default()
        .lines()
        .map(|l| l.replace('\t', "/"))
        .collect();
    assert_eq!(
        links.len(),
        expected_links.len(),
        "linked pairs: {} stored, {} expected",
        links.len(),
        expected_links.len()
    );
    assert_eq!(links, expected_links);
    // Every customer's last change event names the same customer as the store.
    let published = run.published_customers().await;
    assert_eq!(published, expected);
    // The survivor owns every tenant now.
    for t in 0..TENANTS {
        let (status, _) = admin(&survivor, &format!("/v1/identity/owner/tenant-{t:02}")).await;
        assert_eq!(status, 200, "tenant-{t:02}");
    }
    drop(survivor);
    run.drop_all().await;
}

impl Run {
    async fn settle_some(&self, sql: &str) {
        self.settle(sql, "1", Duration::from_secs(120)).await;
    }
}
