//! What the whole-pipeline test binaries share: a pipeline of separate service processes on the
//! local stack (each run in its own topics and database), the generated traffic and its oracle.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod read_model;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rapport_channels::TenantConfig;
use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::Timestamp;
use rapport_testkit::{
    CLUSTER_SESSION, ScratchDir, Service, binary, free_addr, kafka_and_topics_toml, query_in_with,
    reader, unique_name,
};
use rapport_traffic::{self as generate, Options, RawRecord};
use rdkafka::Message;

/// The event ids the records normalize to, and the payloads of those that do not, with the tenant
/// settings every whole-pipeline run gives its normalizer (agent domain acme.com, phones in the US).
pub fn expected(records: &[RawRecord]) -> (BTreeSet<String>, BTreeSet<Vec<u8>>) {
    let (ids, invalid) = generate::expected(records, &tenant());
    (ids.iter().map(ToString::to_string).collect(), invalid)
}

pub fn tenant() -> TenantConfig {
    TenantConfig {
        agent_domains: vec!["acme.com".into()],
        default_phone_region: Some("US".into()),
        ..TenantConfig::default()
    }
}

pub fn customers() -> usize {
    std::env::var("RAPPORT_TEST_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

/// The linker's admin token in every pipeline.
pub const ADMIN_TOKEN: &str = "e2e-linker-admin-token";

pub struct Pipeline {
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub clickhouse_url: String,
    pub database: String,
    pub dir: ScratchDir,
    /// The `[clickhouse] cluster` of every service, when the store is a cluster.
    pub cluster: Option<String>,
    /// Session settings of the test's own queries ([`CLUSTER_SESSION`] on a cluster).
    pub settings: &'static str,
}

impl Pipeline {
    pub async fn new(name: &str, kafka: KafkaConfig, clickhouse_url: String) -> Self {
        Self::new_with(name, kafka, clickhouse_url, None).await
    }

    /// A pipeline whose services store into ClickHouse cluster `cluster` through the server at
    /// `clickhouse_url` (`[clickhouse] cluster`), with `insert_quorum` (0 for shards of one
    /// replica).
    pub async fn on_cluster(
        name: &str,
        kafka: KafkaConfig,
        clickhouse_url: String,
        cluster: &str,
        insert_quorum: u32,
    ) -> Self {
        Self::new_with(name, kafka, clickhouse_url, Some((cluster, insert_quorum))).await
    }

    async fn new_with(
        name: &str,
        kafka: KafkaConfig,
        clickhouse_url: String,
        cluster: Option<(&str, u32)>,
    ) -> Self {
        let prefix = unique_name(name);
        let topics = Topics::prefixed(&prefix);
        ensure_topics(&kafka, &topics.specs())
            .await
            .expect("topics created; is the stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let dir = ScratchDir::new(&prefix);
        let kafka_and_topics = kafka_and_topics_toml(&kafka, &topics);
        let mut store = format!(
            "[clickhouse]\nurl = \"{clickhouse_url}\"\ndatabase = \"{database}\"\nrequest_timeout_ms = 5000\n"
        );
        if let Some((cluster, quorum)) = cluster {
            // The quorum's own limit below the request's, as the configuration check wants.
            store.push_str(&format!(
                "cluster = \"{cluster}\"\ninsert_quorum = {quorum}\ninsert_quorum_timeout_ms = 4000\n"
            ));
        }
        let files = [
            (
                "normalizer",
                format!(
                    "group_id = \"{prefix}-normalizer\"\ntenant_id = \"acme\"\n\
                     [tenant]\nagent_domains = [\"acme.com\"]\ndefault_phone_region = \"US\"\n\
                     [default_sources]\nemail = \"rfc822\"\n"
                ),
            ),
            (
                "writer",
                format!(
                    "group_id = \"{prefix}-writer\"\n[batch]\nmax_delay_ms = 300\nidle_ms = 100\ninitial_backoff_ms = 100\nmax_backoff_ms = 1000\n{store}"
                ),
            ),
            (
                "linker",
                format!(
                    "group_id = \"{prefix}-linker\"\n[batch]\nmax_delay_ms = 300\n\
                     [admin]\ntoken = \"{ADMIN_TOKEN}\"\n{store}"
                ),
            ),
            ("cli", format!("tenant_id = \"acme\"\n{store}")),
        ];
        for (service, own) in files {
            std::fs::write(
                dir.join(format!("{service}.toml")),
                format!("{own}{kafka_and_topics}"),
            )
            .unwrap();
        }
        Self {
            kafka,
            topics,
            clickhouse_url,
            database,
            dir,
            cluster: cluster.map(|(c, _)| c.to_owned()),
            settings: if cluster.is_some() {
                CLUSTER_SESSION
            } else {
                ""
            },
        }
    }

    pub async fn start(&self, service: &str) -> Service {
        Service::start(
            binary(&format!("rapport-{service}")).to_str().unwrap(),
            &self.dir.join(format!("{service}.toml")),
            free_addr(),
            &std::env::var("RAPPORT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .await
    }

    /// Starts `service` in a consumer group of its own (`<group>-<suffix>`): a normalizer that
    /// reads the raw topics again from the start, for example.
    pub async fn start_with_group(&self, service: &str, suffix: &str) -> Service {
        let own = self.dir.join(format!("{service}-{suffix}.toml"));
        let text = std::fs::read_to_string(self.dir.join(format!("{service}.toml"))).unwrap();
        let text = text.replacen(
            &format!("-{service}\""),
            &format!("-{service}-{suffix}\""),
            1,
        );
        std::fs::write(&own, text).unwrap();
        Service::start(
            binary(&format!("rapport-{service}")).to_str().unwrap(),
            &own,
            free_addr(),
            &std::env::var("RAPPORT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .await
    }

    pub async fn produce(&self, records: &[RawRecord]) {
        generate::produce(records, &self.kafka, &self.topics)
            .await
            .expect("records produced");
    }

    pub async fn query(&self, sql: &str) -> Option<String> {
        query_in_with(&self.clickhouse_url, &self.database, self.settings, sql).await
    }

    /// Waits until the deduplicated timeline holds exactly `expected`, each once.
    pub async fn wait_for_store(&self, expected: &BTreeSet<String>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut stored = BTreeSet::new();
        while Instant::now() < deadline {
            if let Some(body) = self.query("SELECT event_id FROM timeline FORMAT TSV").await {
                let rows: Vec<String> = body.lines().map(str::to_owned).collect();
                stored = rows.iter().cloned().collect();
                assert_eq!(
                    rows.len(),
                    stored.len(),
                    "the timeline view shows an event twice"
                );
                if &stored == expected {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let missing = expected.difference(&stored).count();
        let extra = stored.difference(expected).count();
        panic!(
            "the store never matched: {} stored, {} expected, {missing} missing, {extra} unexpected",
            stored.len(),
            expected.len()
        );
    }

    /// Every dead letter's payload, read until `expected` distinct payloads arrived.
    pub async fn dead_letters(&self, expected: usize) -> Vec<Vec<u8>> {
        let consumer = reader(&self.kafka, &[&self.topics.dlq]);
        let mut payloads = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while payloads.iter().collect::<BTreeSet<_>>().len() < expected && Instant::now() < deadline
        {
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
                payloads.push(m.payload().unwrap_or_default().to_vec());
            }
        }
        // Anything still on its way arrives within the next quiet seconds.
        while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {
            payloads.push(m.payload().unwrap_or_default().to_vec());
        }
        payloads
    }
}

/// A day of traffic and what the adapters make of it: event ids and the invalid payloads.
pub fn traffic(seed: u64) -> (Vec<RawRecord>, BTreeSet<String>, BTreeSet<Vec<u8>>) {
    let records = generate::generate(&Options {
        seed,
        customers: customers(),
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.01,
        ..Options::default()
    });
    let (ids, invalid) = expected(&records);
    assert!(!invalid.is_empty(), "the traffic includes invalid payloads");
    (records, ids, invalid)
}

/// Produces the records in chunks with pauses, so faults land mid-stream.
pub fn feed(pipeline: &Pipeline, records: Vec<RawRecord>) -> tokio::task::JoinHandle<()> {
    let (kafka, topics) = (pipeline.kafka.clone(), pipeline.topics.clone());
    tokio::spawn(async move {
        for chunk in records.chunks(100) {
            generate::produce(chunk, &kafka, &topics).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Tansu keeps a member that died without leaving in its group, holding its partitions, unless
/// its session expired before the next member joins (docs/ARCHITECTURE.md, broker quirks).
pub async fn outlive_session() {
    tokio::time::sleep(Duration::from_secs(8)).await;
}
