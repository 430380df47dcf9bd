use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::security::{SecurityConfig, is_sensitive};

/// Connection and client settings. TLS and SASL are typed, in `security` (`[kafka.security]`);
/// any other librdkafka property (tuning) goes through `extra`, verbatim and applied last:
/// `[kafka.extra] "socket.keepalive.enable" = "true"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap servers.
    pub brokers: String,
    /// How long the broker may hold a fetch waiting for data. librdkafka's 500 ms default halves
    /// throughput on brokers that always hold fetches for the full wait (Tansu); 10 ms is cheap
    /// locally, raise it against a busy production cluster to save requests.
    pub fetch_wait_max_ms: u32,
    /// Consumer-group session timeout; short in tests so rebalances after a kill are quick.
    pub session_timeout_ms: u32,
    /// Partitions for topics Rapport creates itself.
    pub partitions: i32,
    pub replication_factor: i32,
    /// Caps how many records a producer packs into one batch (`batch.num.messages`); unset keeps
    /// librdkafka's default.
    pub producer_batch_messages: Option<u32>,
    /// Consumers start a resumed partition this many records before its committed offset and drop
    /// what they already handled. Set it (10000) against Tansu 0.6, which answers a fetch from
    /// inside a record batch with the *next* batch, so a consumer resuming mid-batch would skip
    /// the rest of it (docs/ARCHITECTURE.md, "Broker quirks"). 0, off, for Apache Kafka.
    pub resume_rewind_records: u32,
    /// The largest record a client produces (`message.max.bytes`) and the `max.message.bytes` of
    /// every topic Rapport creates. Room for the largest payload (`limits.max_payload_bytes`,
    /// 25 MiB) with its headers, so a raw record's dead letter always fits; Kafka's own default
    /// is 1 MB.
    pub max_message_bytes: usize,
    /// A consumed partition that has records waiting and makes no progress for this long fails
    /// the service's `/livez` probe (a consumer that silently stopped, or a stage blocked for
    /// good); use the probe as the orchestrator's liveness check.
    pub stall_timeout_ms: u64,
    /// A consumed partition that has records waiting while librdkafka holds it out of fetching
    /// (its fetch state not `active`: an offset query or a leader-epoch validation that its
    /// leader does not answer, a stopped fetcher) for this long fails `/livez` too. Shorter than
    /// `stall_timeout_ms` by default: such a partition reads nothing at all, and a healthy
    /// fetcher leaves those states within seconds of an assignment or a leader change.
    pub fetch_inactive_timeout_ms: u64,
    /// TLS and SASL (`[kafka.security]`).
    pub security: SecurityConfig,
    pub extra: BTreeMap<String, String>,
}

/// Written by hand so that credentials in `security` and `extra` never print.
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: BTreeMap<&str, &str> = self
            .extra
            .iter()
            .map(|(k, v)| {
                let shown = if is_sensitive(k) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("fetch_wait_max_ms", &self.fetch_wait_max_ms)
            .field("session_timeout_ms", &self.session_timeout_ms)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("producer_batch_messages", &self.producer_batch_messages)
            .field("resume_rewind_records", &self.resume_rewind_records)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("stall_timeout_ms", &self.stall_timeout_ms)
            .field("fetch_inactive_timeout_ms", &self.fetch_inactive_timeout_ms)
            .field("security", &self.security)
            .field("extra", &extra)
            .finish()
    }
}

/// 26 MiB: the 25 MiB payload limit plus 1 MiB for key, headers and framing.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 26 * 1024 * 1024;

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:19092".into(),
            fetch_wait_max_ms: 10,
            session_timeout_ms: 10_000,
            partitions: 3,
            replication_factor: 1,
            producer_batch_messages: None,
            resume_rewind_records: 0,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            stall_timeout_ms: 120_000,
            fetch_inactive_timeout_ms: 60_000,
            security: SecurityConfig::default(),
            extra: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.brokers.trim().is_empty() {
            problems.push("kafka.brokers must name at least one broker".to_owned());
        }
        if self.partitions < 1 {
            problems.push("kafka.partitions must be at least 1".to_owned());
        }
        if self.producer_batch_messages == Some(0) {
            problems.push("kafka.producer_batch_messages must be at least 1".to_owned());
        }
        if self.max_message_bytes < 128 * 1024 {
            problems.push("kafka.max_message_bytes must be at least 131072".to_owned());
        }
        if self.stall_timeout_ms == 0 {
            problems.push("kafka.stall_timeout_ms must be positive".to_owned());
        }
        if self.fetch_inactive_timeout_ms == 0 {
            problems.push("kafka.fetch_inactive_timeout_ms must be positive".to_owned());
        }
        if self.replication_factor < 1 {
            problems.push("kafka.replication_factor must be at least 1".to_owned());
        }
        problems.extend(self.security.validate(&self.extra));
        problems
    }

    pub fn stall_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stall_timeout_ms)
    }

    /// What `/livez` allows a partition before it counts as stalled: `stall_timeout_ms` without
    /// progress, `fetch_inactive_timeout_ms` held out of fetching with records waiting.
    pub fn stall_limits(&self) -> crate::StallLimits {
        crate::StallLimits {
            progress: self.stall_timeout(),
            fetch_inactive: std::time::Duration::from_millis(self.fetch_inactive_timeout_ms),
        }
    }

    /// The settings every client shares; callers add role-specific ones.
    pub fn client_config(&self) -> ClientConfig {
        self.with_extra(self.base())
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in self.security.properties() {
            config.set(key, value);
        }
        config
    }

    /// `extra` goes last so an operator's pass-through setting always wins over our defaults.
    fn with_extra(&self, mut config: ClientConfig) -> ClientConfig {
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        config
    }

    /// A producer that never loses or reorders an acknowledged record.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = self.base();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "0")
            .set("message.max.bytes", self.max_message_bytes.to_string());
        if let Some(records) = self.producer_batch_messages {
            config.set("batch.num.messages", records.to_string());
        }
        self.with_extra(config)
    }

    /// A consumer that stores offsets only when told to (see `rapport-kafka`'s README).
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut config = self.base();
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", self.fetch_wait_max_ms.to_string())
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Lag, liveness, and the resume guard's wait for a partition's fetcher to be active
            // before it is sought (`ServiceContext::check_resumed`) read librdkafka's statistics.
            .set("statistics.interval.ms", "1000");
        self.with_extra(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_settings_override_defaults() {
        let mut cfg = KafkaConfig::default();
        cfg.extra.insert("acks".into(), "1".into());
        cfg.extra
            .insert("security.protocol".into(), "SASL_SSL".into());
        let producer = cfg.producer_config();
        assert_eq!(producer.get("acks"), Some("1"));
        assert_eq!(producer.get("security.protocol"), Some("SASL_SSL"));
        assert!(cfg.validate().is_empty(), "extra alone stays valid");
    }

    #[test]
    fn credentials_in_extra_never_print() {
        let mut cfg = KafkaConfig::default();
        cfg.extra
            .insert("sasl.password".into(), "hunter2-extra".into());
        cfg.extra
            .insert("sasl.oauthbearer.client.secret".into(), "hunter3".into());
        cfg.extra.insert("linger.ms".into(), "7".into());
        cfg.security.sasl_password = rapport_runtime::Secret::new("hunter4-typed");
        let printed = format!("{cfg:?}");
        for secret in ["hunter2-extra", "hunter3", "hunter4-typed"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("\"linger.ms\": \"7\""), "{printed}");
    }

    #[test]
    fn consumer_never_stores_offsets_automatically() {
        let consumer = KafkaConfig::default().consumer_config("g");
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("10"));
    }

    #[test]
    fn invalid_settings_are_all_reported() {
        let cfg = KafkaConfig {
            brokers: " ".into(),
            partitions: 0,
            fetch_inactive_timeout_ms: 0,
            ..KafkaConfig::default()
        };
        assert_eq!(cfg.validate().len(), 3);
    }
}
