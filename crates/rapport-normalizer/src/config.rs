use std::collections::BTreeMap;

use rapport_channels::envelope::{self, ExtraTopic};
use rapport_channels::{Limits, RecordRules, TenantConfig};
use rapport_kafka::{KafkaConfig, RegistryConfig, Topics};
use rapport_model::{Channel, Source};
use rapport_runtime::{HttpConfig, LogConfig, Validate};
use serde::{Deserialize, Serialize};

/// `rapport-normalizer`'s configuration (file + `RAPPORT_*` environment; see the README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizerConfig {
    /// Consumer group; every instance with the same id shares the raw topics' partitions.
    pub group_id: String,
    /// Tenant of records without a `rapport-tenant` header.
    pub tenant_id: String,
    /// Settings for tenants not listed in `tenants`.
    pub tenant: TenantConfig,
    /// Per-tenant settings, by tenant id.
    pub tenants: BTreeMap<String, TenantConfig>,
    pub limits: Limits,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    /// Source assumed for records without a `rapport-source` header, per raw topic family
    /// (`email`, `chat`, `review`, `support`). Families not listed fall back to content detection;
    /// a payload nothing recognises is dead-lettered.
    pub default_sources: BTreeMap<Channel, Source>,
    /// Extra raw topics to consume besides the four standard ones.
    pub extra_raw_topics: Vec<ExtraTopic>,
    /// Raw topic → the tenants its records may claim (`rapport-tenant`); a record claiming
    /// another is dead-lettered as `tenant_not_allowed`. Topics not listed may carry any tenant,
    /// which suits a single-tenant install; bind every topic when producers are not trusted.
    pub topic_tenants: BTreeMap<String, Vec<String>>,
    pub registry: RegistryConfig,
    pub pipeline: PipelineConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Raw messages read but not yet acknowledged downstream; polling pauses above it.
    pub max_in_flight_messages: usize,
    /// Raw bytes read but not yet acknowledged downstream; polling pauses above it.
    pub max_in_flight_bytes: usize,
    /// How long shutdown waits for in-flight outputs before leaving them to be redelivered.
    pub drain_timeout_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_in_flight_messages: 5_000,
            max_in_flight_bytes: 32 * 1024 * 1024,
            drain_timeout_ms: 10_000,
        }
    }
}

impl Default for NormalizerConfig {
    fn default() -> Self {
        let topics = Topics::default();
        Self {
            group_id: "rapport-normalizer".into(),
            tenant_id: "default".into(),
            tenant: TenantConfig::default(),
            tenants: BTreeMap::new(),
            limits: Limits::default(),
            kafka: KafkaConfig::default(),
            default_sources: envelope::default_sources(),
            topics,
            extra_raw_topics: Vec::new(),
            topic_tenants: BTreeMap::new(),
            registry: RegistryConfig::default(),
            pipeline: PipelineConfig::default(),
            http: HttpConfig::on("127.0.0.1:9471".parse().expect("valid address")),
            log: LogConfig::default(),
        }
    }
}

impl NormalizerConfig {
    pub fn raw_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.topics.raw().iter().map(|t| (*t).to_owned()).collect();
        topics.extend(self.extra_raw_topics.iter().map(|t| t.topic.clone()));
        topics
    }

    /// How this service reads a raw record's envelope and payload.
    pub fn rules(&self) -> RecordRules<'_> {
        RecordRules {
            default_tenant: &self.tenant_id,
            tenant: &self.tenant,
            tenants: &self.tenants,
            limits: &self.limits,
            topic_tenants: &self.topic_tenants,
            families: self.topics.families(),
            default_sources: &self.default_sources,
            extra_topics: &self.extra_raw_topics,
        }
    }
}

impl Validate for NormalizerConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.http.validate("http"));
        if self.group_id.trim().is_empty() {
            problems.push("group_id must not be empty".into());
        }
        if self.tenant_id.trim().is_empty() {
            problems.push("tenant_id must not be empty".into());
        }
        if self.pipeline.max_in_flight_messages == 0 || self.pipeline.max_in_flight_bytes == 0 {
            problems.push(
                "pipeline.max_in_flight_messages and pipeline.max_in_flight_bytes must be positive"
                    .into(),
            );
        }
        if self.limits.max_payload_bytes > self.pipeline.max_in_flight_bytes {
            problems.push(
                "limits.max_payload_bytes must not exceed pipeline.max_in_flight_bytes".into(),
            );
        }
        for (topic, tenants) in &self.topic_tenants {
            if tenants.is_empty() {
                problems.push(format!(
                    "topic_tenants.\"{topic}\" lists no tenant (remove it to allow any)"
                ));
            }
        }
        for (channel, source) in &self.default_sources {
            if source.channel().is_some_and(|c| c != *channel) {
                problems.push(format!(
                    "default_sources.{channel} = {source:?} is not a {channel} source"
                ));
            }
        }
        problems.extend(self.registry.validate());
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sources_follow_renamed_topics() {
        let mut config = NormalizerConfig::default();
        config.topics.raw_email = "acme.mail".into();
        config.extra_raw_topics.push(ExtraTopic {
            topic: "acme.zd".into(),
            default_source: Some(Source::Zendesk),
        });
        let rules = config.rules();
        assert_eq!(rules.default_source("acme.mail"), Some(Source::Rfc822));
        assert_eq!(rules.default_source("acme.zd"), Some(Source::Zendesk));
        assert_eq!(rules.default_source(&config.topics.raw_chat), None);
        assert!(config.validate().is_empty());
    }

    #[test]
    fn a_default_source_must_fit_its_family() {
        let mut config = NormalizerConfig::default();
        config
            .default_sources
            .insert(Channel::Chat, Source::Zendesk);
        assert_eq!(config.validate().len(), 1);
    }
}
