use rapport_clickhouse::ClickHouseConfig;
use rapport_identity::Policies;
use rapport_kafka::{KafkaConfig, RegistryConfig, Topics};
use rapport_runtime::{HttpConfig, LogConfig, Secret, Validate};
use serde::{Deserialize, Serialize};

/// `rapport-linker`'s configuration (file + `RAPPORT_*` environment; see the README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkerConfig {
    /// Consumer group. Without `shard.enabled`, run one instance: the identity graph must see
    /// every interaction of a tenant.
    pub group_id: String,
    /// Several instances sharing the tenants (docs/ARCHITECTURE.md, "Identity").
    pub shard: ShardConfig,
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

/// Sharding by tenant. On, each instance copies the interactions it is given (in the
/// `route_group_id` group) onto `topic`, partitioned by tenant, and resolves the partitions of
/// `topic` it is assigned (in `group_id`): a tenant's graph lives on the one instance that owns
/// its partition, is read from the store when its first interaction arrives there, and is
/// dropped when the partition is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardConfig {
    pub enabled: bool,
    /// The linker's own topic, one partition per share of tenants. Its partition count must not
    /// change while linkers run (a tenant would move without its graph); created with
    /// `kafka.partitions` when missing.
    pub topic: String,
    /// The group of the routing step that copies the interactions topic onto `topic`.
    pub route_group_id: String,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            topic: "rapport.linker.v1".into(),
            route_group_id: "rapport-linker-route".into(),
        }
    }
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
            shard: ShardConfig::default(),
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
        if self.shard.enabled {
            if self.shard.topic.trim().is_empty() || self.shard.route_group_id.trim().is_empty() {
                problems.push("shard.topic and shard.route_group_id must not be empty".into());
            }
            if self.shard.route_group_id == self.group_id {
                problems.push("shard.route_group_id must differ from group_id".into());
            }
            if self.shard.topic == self.topics.interactions {
                problems.push("shard.topic must differ from topics.interactions".into());
            }
        }
        let b = &self.batch;
        if b.max_interactions == 0 || b.max_delay_ms == 0 || b.initial_backoff_ms == 0 {
            problems.push("batch limits must be positive".into());
        }
        problems
    }
}
