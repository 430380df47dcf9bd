use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::{KafkaConfig, RegistryConfig, Topics};
use rapport_responsiveness::{BusinessHoursConfig, Rules, SlaConfig};
use rapport_runtime::{HttpConfig, LogConfig, Validate};
use serde::{Deserialize, Serialize};

/// `rapport-writer`'s configuration (file + `RAPPORT_*` environment; see the README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Consumer group; instances with the same id share the interactions topic's partitions.
    pub group_id: String,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub clickhouse: ClickHouseConfig,
    /// Schema Registry for Confluent-framed records; `url` may stay empty when every producer
    /// uses single-object encoding.
    pub registry: RegistryConfig,
    /// Apply `schemas/clickhouse` migrations on start (idempotent; safe with several instances).
    pub migrate_on_start: bool,
    /// Recompute and store the state of every conversation a batch touched (`conversations`,
    /// `replies`, `resolutions`, `waiting`: what the API and `rapport report` read). Turn it off
    /// only to measure what it costs; the read model is stale without it.
    pub store_state: bool,
    /// Business-hours calendars the stored business times are measured with (`rapport-calendar`
    /// README); wall time for everyone when left out.
    pub business_hours: BusinessHoursConfig,
    /// SLA policies whose outcomes are stored in `sla` (`docs/ANALYTICS.md`, "SLAs"); none when
    /// left out. Every service and command that derives the read model needs the same two
    /// sections, or they store different numbers.
    pub sla: SlaConfig,
    pub batch: BatchConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
}

/// When a batch is inserted: whichever limit is reached first. ClickHouse wants few, large
/// inserts (about one per second per table under load); a quiet topic flushes after `idle_ms`
/// so light traffic is visible quickly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub max_rows: usize,
    pub max_bytes: usize,
    /// The oldest row in a batch waits at most this long.
    pub max_delay_ms: u64,
    /// Flush once no record arrived for this long.
    pub idle_ms: u64,
    /// First wait after a retryable ClickHouse error; doubles up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How long shutdown may spend inserting the last batch before leaving it to be redelivered.
    pub drain_timeout_ms: u64,
    /// Rows refused one after another with none stored in between: beyond this the table, not
    /// the data, is wrong, and the writer stops instead of dead-lettering the whole stream.
    pub max_consecutive_rejections: usize,
    /// While a backlog drains (batches fill before their deadline), the state of the
    /// conversations that batches touch is recomputed once for up to this long of batches
    /// instead of after each one: a conversation touched by several of them is read back once.
    /// Their records complete (their offsets commit) when the state is stored, so this is also
    /// how far the state lags the interactions while catching up. 0 recomputes after every
    /// batch; a batch with emails, a batch flushed by its deadline and shutdown always settle.
    pub state_delay_ms: u64,
    /// ... or until this many conversations are owed, which bounds the memory of one recompute.
    pub state_max_conversations: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_rows: 50_000,
            max_bytes: 16 * 1024 * 1024,
            max_delay_ms: 1_000,
            idle_ms: 200,
            initial_backoff_ms: 250,
            max_backoff_ms: 10_000,
            drain_timeout_ms: 15_000,
            max_consecutive_rejections: 100,
            state_delay_ms: 3_000,
            state_max_conversations: 50_000,
        }
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            group_id: "rapport-writer".into(),
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            clickhouse: ClickHouseConfig::default(),
            registry: RegistryConfig::default(),
            migrate_on_start: true,
            store_state: true,
            business_hours: BusinessHoursConfig::default(),
            sla: SlaConfig::default(),
            batch: BatchConfig::default(),
            http: HttpConfig::on("127.0.0.1:9472".parse().expect("valid address")),
            log: LogConfig::default(),
        }
    }
}

impl Validate for WriterConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.http.validate("http"));
        problems.extend(self.clickhouse.validate());
        if self.group_id.trim().is_empty() {
            problems.push("group_id must not be empty".into());
        }
        let b = &self.batch;
        if b.max_rows == 0 || b.max_bytes == 0 || b.max_delay_ms == 0 {
            problems.push(
                "batch.max_rows, batch.max_bytes and batch.max_delay_ms must be positive".into(),
            );
        }
        if b.initial_backoff_ms == 0 || b.max_backoff_ms < b.initial_backoff_ms {
            problems.push(
                "batch.initial_backoff_ms must be positive and not above batch.max_backoff_ms"
                    .into(),
            );
        }
        problems.extend(self.registry.validate());
        if b.max_consecutive_rejections == 0 {
            problems.push("batch.max_consecutive_rejections must be positive".into());
        }
        problems.extend(Rules::validate(&self.business_hours, &self.sla));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_limits_are_all_reported() {
        assert!(WriterConfig::default().validate().is_empty());
        let mut config = WriterConfig::default();
        config.batch.max_rows = 0;
        config.batch.max_backoff_ms = 1;
        config.clickhouse.url = "ftp://ch".into();
        assert_eq!(config.validate().len(), 3, "{:?}", config.validate());
    }

    #[test]
    fn business_hours_and_sla_problems_are_reported_with_their_fields() {
        let config: WriterConfig = toml::from_str(
            r#"
            [[business_hours.calendars.office.versions]]
            zone = "Mars/Olympus_Mons"
            [[sla.policies]]
            name = "standard"
            calendar = "nowhere"
            first_response = "soon"
            "#,
        )
        .unwrap();
        let problems = config.validate();
        let joined = problems.join("\n");
        assert!(
            joined.contains("business_hours.calendars.office.versions[0].zone"),
            "{joined}"
        );
        assert!(
            joined.contains("nowhere") && joined.contains("soon"),
            "{joined}"
        );
        let good: WriterConfig = toml::from_str(
            r#"
            [business_hours]
            default = "office"
            [[business_hours.calendars.office.versions]]
            zone = "Europe/Berlin"
            week = { mon = ["09:00-17:00"] }
            [[sla.policies]]
            name = "standard"
            first_response = "1h"
            "#,
        )
        .unwrap();
        assert!(good.validate().is_empty(), "{:?}", good.validate());
    }
}
