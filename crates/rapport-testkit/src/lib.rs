//! Test support for the local stack that `make up` (deploy/local/stack.sh) starts.
//!
//! Integration tests never skip when the stack is missing: they fail and say how to start it,
//! so a green run always means the real broker and ClickHouse were exercised.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rapport_kafka::{KafkaConfig, TopicSpec, Topics, ensure_topics};

mod gateway;
mod process;
mod tls;
pub use gateway::{GatewayFiles, SES_TOPIC_ARN, SNS_CERT_URL, gateway_files};
pub use process::{
    ClickHouseOptions, PrivateBroker, PrivateClickHouse, Service, ServiceOptions, binary,
    free_addr, http_get, stable_port,
};
pub use tls::{Issued, Pki, Stunnel};

/// Where the local stack listens, from the same variables the stack script reads.
#[derive(Debug, Clone)]
pub struct Stack {
    pub kafka: KafkaConfig,
    pub clickhouse_url: String,
}

impl Stack {
    pub fn from_env() -> Self {
        let port = |var: &str, default: u16| {
            std::env::var(var)
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(default)
        };
        let kafka = KafkaConfig {
            brokers: format!("127.0.0.1:{}", port("RAPPORT_STACK_KAFKA_PORT", 19092)),
            session_timeout_ms: 6_000,
            partitions: 3,
            // Tansu skips the rest of a batch when a consumer resumes mid-batch.
            resume_rewind_records: 10_000,
            ..KafkaConfig::default()
        };
        let clickhouse_url = format!(
            "http://127.0.0.1:{}",
            port("RAPPORT_STACK_CH_HTTP_PORT", 18123)
        );
        Self {
            kafka,
            clickhouse_url,
        }
    }

    /// Creates a fresh topic for one test.
    pub async fn topic(&self, prefix: &str, partitions: i32) -> String {
        let name = unique_name(prefix);
        let config = KafkaConfig {
            partitions,
            ..self.kafka.clone()
        };
        ensure_topics(
            &config,
            &[TopicSpec {
                name: name.clone(),
                compacted: false,
            }],
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot create topic {name} on {}: {e}; is the stack up? run `make up`",
                config.brokers
            )
        });
        name
    }

    /// Runs one statement over ClickHouse's HTTP interface and returns the body.
    pub async fn clickhouse(&self, sql: &str) -> String {
        self.clickhouse_within(sql, Duration::from_secs(30)).await
    }

    /// [`Stack::clickhouse`] with its own time limit.
    pub async fn clickhouse_within(&self, sql: &str, limit: Duration) -> String {
        let response = reqwest::Client::new()
            .post(&self.clickhouse_url)
            .timeout(limit)
            .body(sql.to_owned())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "ClickHouse at {} unreachable: {e}; is the stack up? run `make up`",
                    self.clickhouse_url
                )
            });
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "ClickHouse rejected {sql:?}: {status} {body}"
        );
        body
    }

    /// Creates a fresh database for one test; drop it with [`Stack::drop_database`].
    pub async fn database(&self, prefix: &str) -> String {
        let name = unique_name(prefix).replace(['.', '-'], "_");
        self.clickhouse(&format!("CREATE DATABASE {name}")).await;
        name
    }

    pub async fn drop_database(&self, name: &str) {
        // 18.16 takes a while to drop a database of millions of rows (the read benchmark's).
        self.clickhouse_within(
            &format!("DROP DATABASE IF EXISTS {name}"),
            Duration::from_secs(600),
        )
        .await;
    }
}

/// Runs `sql` in `database` over ClickHouse's HTTP interface at `url`: the body, or `None` while
/// ClickHouse is unreachable or refuses the query (tests poll through outages with it).
pub async fn query_in(url: &str, database: &str, sql: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .post(format!("{url}/?database={database}"))
        .timeout(Duration::from_secs(10))
        .body(sql.to_owned())
        .send()
        .await
        .ok()?;
    let ok = response.status().is_success();
    let body = response.text().await.ok()?;
    ok.then_some(body)
}

/// Polls `sql` in `database` until its trimmed answer is `expected`; fails after `timeout`
/// showing the last answer.
pub async fn wait_for_answer(
    url: &str,
    database: &str,
    sql: &str,
    expected: &str,
    timeout: Duration,
) {
    let deadline = std::time::Instant::now() + timeout;
    let mut last = None;
    while std::time::Instant::now() < deadline {
        last = query_in(url, database, sql).await;
        if last.as_deref().map(str::trim) == Some(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{sql} never returned {expected:?}; last answer {last:?}");
}

/// The `[kafka]` and `[topics]` sections of a service's config file, serialized from the settings
/// themselves, so every test runs its services with the stack's Kafka settings (Tansu's resume
/// rewind among them) instead of a hand-written copy. Tables only: put top-level keys first.
pub fn kafka_and_topics_toml(kafka: &KafkaConfig, topics: &Topics) -> String {
    #[derive(serde::Serialize)]
    struct Sections<'a> {
        kafka: &'a KafkaConfig,
        topics: &'a Topics,
    }
    toml::to_string(&Sections { kafka, topics }).expect("Kafka settings and topics serialize")
}

/// A consumer in a group of its own, reading `topics` from their start: how tests and benchmarks
/// look at what the services published.
pub fn reader(kafka: &KafkaConfig, topics: &[&str]) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = kafka
        .consumer_config(&unique_name("reader"))
        .create()
        .expect("consumer created");
    consumer.subscribe(topics).expect("topics subscribed");
    consumer
}

/// A consumer outside any group, assigned every partition of `topics` from their start: no group
/// coordinator, no session and no rebalance to lose through a broker outage, so a test that takes
/// the broker down reads what was published without depending on its own group recovering.
pub fn assigned_reader(kafka: &KafkaConfig, topics: &[&str]) -> rdkafka::consumer::StreamConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::StreamConsumer = kafka
        .consumer_config(&unique_name("assigned-reader"))
        .create()
        .expect("consumer created");
    let mut assignment = rdkafka::TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .expect("topic metadata");
        for t in metadata.topics() {
            for p in t.partitions() {
                assignment
                    .add_partition_offset(t.name(), p.id(), rdkafka::Offset::Beginning)
                    .expect("partition added");
            }
        }
    }
    consumer.assign(&assignment).expect("partitions assigned");
    consumer
}

/// The sum of every sample of a Prometheus metric (all label sets) in a `/metrics` body.
pub fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The peak resident memory of a running process (VmHWM), in MiB; 0 when it cannot be read.
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// A name no other test run on this machine uses: prefix, process id, time and a counter.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{millis}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_and_topics_round_trip_through_the_config_file() {
        #[derive(serde::Deserialize)]
        struct Sections {
            kafka: KafkaConfig,
            topics: Topics,
        }
        let stack = Stack::from_env();
        let topics = Topics::prefixed("t");
        let text = format!(
            "group_id = \"g\"\n{}",
            kafka_and_topics_toml(&stack.kafka, &topics)
        );
        let back: Sections = toml::from_str(&text).unwrap();
        assert_eq!(back.kafka, stack.kafka);
        assert_eq!(back.kafka.resume_rewind_records, 10_000);
        assert_eq!(back.topics, topics);
    }

    #[test]
    fn metric_sum_adds_every_label_set_of_exactly_that_metric() {
        let body = "# TYPE x_total counter\nx_total{a=\"1\"} 2\nx_total{a=\"2\"} 3\nx_total_other 100\nx 7\n";
        assert_eq!(metric_sum(body, "x_total"), 5.0);
        assert_eq!(metric_sum(body, "x"), 7.0);
        assert_eq!(metric_sum(body, "y"), 0.0);
    }
}

/// A directory of its own under the system temp dir for a test's config and data files, removed
/// when dropped; kept, and its path printed, when the test panicked, since it explains the failure.
#[derive(Debug)]
pub struct ScratchDir {
    path: std::path::PathBuf,
}

impl ScratchDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(unique_name(name));
        std::fs::create_dir_all(&path).expect("scratch dir created");
        Self { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn join(&self, file: impl AsRef<std::path::Path>) -> std::path::PathBuf {
        self.path.join(file)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A small seeded generator (xorshift) for test and benchmark traffic: fast, and a failure can be
/// reproduced from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
