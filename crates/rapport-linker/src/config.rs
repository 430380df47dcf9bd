use rapport_clickhouse::ClickHouseConfig;
use rapport_identity::Policies;
use rapport_kafka::{KafkaConfig, RegistryConfig, Topics};
use rapport_runtime::{HttpConfig, LogConfig, Secret, Validate};
use serde::{Deserialize, Serialize};

/// `rapport-linker`'s configuration (file + `RAPPORT_*` environment; see the README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkerConfig {
    /// Consumer group. Run one instance: the identity graph must see every interaction.
    pub group_id: String,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub clickhouse: ClickHouseConfig,
    pub registry: RegistryConfig,
    pub migrate_on_start: bool,
    /// Which identifiers may link, and the per-customer cap (`[identity.default]`,
    /// `[identity.tenants.<id>]`).
    pub identity: Policies,
    pub batch: LinkerBatch,
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
}

/// The admin API (`rapport identity show|unlink`) on the ops port. It answers only requests that
/// carry `Authorization: Bearer <token>`; without a configured token it refuses every request.
/// Set the token with `RAPPORT_ADMIN__TOKEN`, or from a file with `RAPPORT_ADMIN__TOKEN_FILE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub token: Secret,
}

/// How many interactions are resolved before their links, customers and change events are
/// written and their offsets stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkerBatch {
    pub max_interactions: usize,
    pub max_delay_ms: u64,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for LinkerBatch {
    fn default() -> Self {
        Self {
            max_interactions: 10_000,
            max_delay_ms: 500,
            initial_backoff_ms: 250,
            max_backoff_ms: 10_000,
        }
    }
}

impl Default for LinkerConfig {
    fn default() -> Self {
        Self {
            group_id: "rapport-linker".into(),
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            clickhouse: ClickHouseConfig::default(),
            registry: RegistryConfig::default(),
            migrate_on_start: true,
            identity: Policies::default(),
            batch: LinkerBatch::default(),
            admin: AdminConfig::default(),
            http: HttpConfig::on("127.0.0.1:9473".parse().expect("valid address")),
            log: LogConfig::default(),
        }
    }
}

impl Validate for LinkerConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.http.validate("http"));
        problems.extend(self.clickhouse.validate());
        problems.extend(self.registry.validate());
        problems.extend(
            self.identity
                .validate()
                .into_iter()
                .map(|p| format!("identity.{p}")),
        );
        if self.group_id.trim().is_empty() {
            problems.push("group_id must not be empty".into());
        }
        let b = &self.batch;
        if b.max_interactions == 0 || b.max_delay_ms == 0 || b.initial_backoff_ms == 0 {
            problems.push("batch limits must be positive".into());
        }
        problems
    }
}
