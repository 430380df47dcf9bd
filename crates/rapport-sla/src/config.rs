use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::{KafkaConfig, RegistryConfig, Topics};
use rapport_responsiveness::{BusinessHoursConfig, Rules, SlaConfig};
use rapport_runtime::{HttpConfig, LogConfig, Validate};
use serde::{Deserialize, Serialize};

/// `rapport-sla`'s configuration (file + `RAPPORT_*` environment; see the README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaServiceConfig {
    /// Consumer group on the interactions topic; instances share its partitions, and each
    /// announces for the conversations of the partitions it holds.
    pub group_id: String,
    pub kafka: KafkaConfig,
    /// `topics.interactions` is read; announcements go to `topics.sla` (created at start when
    /// missing, like `rapport topics create` does).
    pub topics: Topics,
    pub clickhouse: ClickHouseConfig,
    /// Schema Registry: reads Confluent-framed interactions, and registers the announcement
    /// schema under `<topics.sla>-value` (single-object encoding without one).
    pub registry: RegistryConfig,
    pub migrate_on_start: bool,
    /// The writer's sections: the cycles announced are the ones the writer stores.
    pub business_hours: BusinessHoursConfig,
    pub sla: SlaConfig,
    /// How often the store is asked whether a record's events are stored yet.
    pub store_poll_ms: u64,
    /// Records gathered before their conversations are evaluated (at most this long).
    pub batch_delay_ms: u64,
    pub http: HttpConfig,
    pub log: LogConfig,
}

impl Default for SlaServiceConfig {
    fn default() -> Self {
        Self {
            group_id: "rapport-sla".into(),
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            clickhouse: ClickHouseConfig::default(),
            registry: RegistryConfig::default(),
            migrate_on_start: true,
            business_hours: BusinessHoursConfig::default(),
            sla: SlaConfig::default(),
            store_poll_ms: 100,
            batch_delay_ms: 100,
            http: HttpConfig::on("127.0.0.1:9474".parse().expect("valid address")),
            log: LogConfig::default(),
        }
    }
}

impl Validate for SlaServiceConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.http.validate("http"));
        problems.extend(self.clickhouse.validate());
        problems.extend(self.registry.validate());
        if self.group_id.trim().is_empty() || self.topics.sla.trim().is_empty() {
            problems.push("group_id and topics.sla must not be empty".into());
        }
        if self.store_poll_ms == 0 || self.batch_delay_ms == 0 {
            problems.push("store_poll_ms and batch_delay_ms must be positive".into());
        }
        problems.extend(Rules::validate(&self.business_hours, &self.sla));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_problems_name_their_fields() {
        assert!(SlaServiceConfig::default().validate().is_empty());
        let config: SlaServiceConfig = toml::from_str(
            "store_poll_ms = 0\n[[sla.policies]]\nname = \"x\"\nfirst_response = \"soon\"\n",
        )
        .unwrap();
        let problems = config.validate().join("\n");
        assert!(
            problems.contains("store_poll_ms") && problems.contains("soon"),
            "{problems}"
        );
    }
}
