use rapport_channels::{Limits, TenantConfig};
use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::{KafkaConfig, Topics};
use rapport_runtime::{LogConfig, Validate};
use serde::{Deserialize, Serialize};

/// The CLI's configuration: `rapport.toml` (or `--config`), then `RAPPORT_*` variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CliConfig {
    /// The tenant payloads belong to when a record does not say (`rapport-tenant` header).
    pub tenant_id: String,
    pub tenant: TenantConfig,
    pub limits: Limits,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub clickhouse: ClickHouseConfig,
    /// rapport-linker's HTTP address, for `rapport identity`.
    pub linker_url: String,
    pub log: LogConfig,
}

impl Validate for CliConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.clickhouse.validate());
        if self.tenant_id.trim().is_empty() {
            problems.push("tenant_id must not be empty".into());
        }
        if self.limits.max_payload_bytes == 0 || self.limits.max_json_depth == 0 {
            problems
                .push("limits.max_payload_bytes and limits.max_json_depth must be positive".into());
        }
        problems
    }
}

impl Default for CliConfig {
    fn default() -> Self {
        Self {
            tenant_id: "default".into(),
            tenant: TenantConfig::default(),
            limits: Limits::default(),
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            clickhouse: ClickHouseConfig::default(),
            linker_url: "http://127.0.0.1:9473".into(),
            // The CLI reports what it did itself; library progress logs are for services.
            log: LogConfig {
                filter: "warn".into(),
                ..LogConfig::default()
            },
        }
    }
}
