use std::collections::BTreeMap;

use rapport_channels::envelope::{ExtraTopic, default_sources};
use rapport_channels::{Limits, RecordRules, TenantConfig};
use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::{KafkaConfig, Topics};
use rapport_model::{Channel, Source};
use rapport_responsiveness::{BusinessHoursConfig, Rules, SlaConfig};
use rapport_runtime::{LogConfig, Secret, Validate};
use serde::{Deserialize, Serialize};

/// The CLI's configuration: `rapport.toml` (or `--config`), then `RAPPORT_*` variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CliConfig {
    /// The tenant payloads belong to when a record does not say (`rapport-tenant` header).
    pub tenant_id: String,
    pub tenant: TenantConfig,
    /// The rest of the normalizer's rules for raw records, so `rapport normalize` reads a record
    /// exactly as the service would (same keys and meaning as in the normalizer's config).
    pub tenants: BTreeMap<String, TenantConfig>,
    pub default_sources: BTreeMap<Channel, Source>,
    pub extra_raw_topics: Vec<ExtraTopic>,
    pub topic_tenants: BTreeMap<String, Vec<String>>,
    pub limits: Limits,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub clickhouse: ClickHouseConfig,
    /// rapport-linker's HTTP address, for `rapport identity` (`https://` when the linker serves
    /// TLS, `[http.tls]`).
    pub linker_url: String,
    /// The other instances of a sharded linker (`shard.enabled`): `rapport identity` asks
    /// `linker_url` first, then these in turn while an instance answers that another owns the
    /// tenant.
    pub linker_urls: Vec<String>,
    /// PEM file of the CA that signs the linker's certificate; unset trusts the system's CAs.
    pub linker_ca_file: Option<std::path::PathBuf>,
    /// The linker's admin token (its `admin.token`): `RAPPORT_LINKER_TOKEN`, or from a file with
    /// `RAPPORT_LINKER_TOKEN_FILE`.
    pub linker_token: Secret,
    /// The writer's `[business_hours]`: `rapport forget` and `rapport recompute` derive the
    /// stored state exactly as the writer does, and `rapport report` names the calendars.
    pub business_hours: BusinessHoursConfig,
    /// The writer's `[sla]` (same reason).
    pub sla: SlaConfig,
    pub log: LogConfig,
}

impl Validate for CliConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.clickhouse.validate());
        if let Some(path) = &self.linker_ca_file
            && let Err(error) = rapport_runtime::tls::check_trust(Some(path))
        {
            problems.push(format!("linker_ca_file: {error}"));
        }
        if self.tenant_id.trim().is_empty() {
            problems.push("tenant_id must not be empty".into());
        }
        if self.limits.max_payload_bytes == 0 || self.limits.max_json_depth == 0 {
            problems
                .push("limits.max_payload_bytes and limits.max_json_depth must be positive".into());
        }
        problems.extend(Rules::validate(&self.business_hours, &self.sla));
        problems
    }
}

impl CliConfig {
    /// The compiled `[business_hours]` and `[sla]` (checked by `validate` already).
    pub fn derivation_rules(&self) -> anyhow::Result<Rules> {
        Ok(Rules::from_config(&self.business_hours, &self.sla)?)
    }

    /// Every linker instance to ask, `linker_url` first.
    pub fn linkers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.linker_url.as_str()).chain(self.linker_urls.iter().map(String::as_str))
    }

    /// An HTTP client for the linker's admin API: over `https://` it trusts `linker_ca_file` (or
    /// the system's CAs), as the services trust theirs.
    pub fn linker_client(&self) -> anyhow::Result<reqwest::Client> {
        let mut client = reqwest::Client::builder();
        if self.linkers().any(|url| url.starts_with("https://")) {
            let tls = rapport_runtime::tls::client_config(self.linker_ca_file.as_deref())?;
            client = client.use_preconfigured_tls((*tls).clone());
        }
        Ok(client.build()?)
    }

    /// How raw records are read: the normalizer's rules, from the same keys.
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

impl Default for CliConfig {
    fn default() -> Self {
        Self {
            tenant_id: "default".into(),
            tenant: TenantConfig::default(),
            tenants: BTreeMap::new(),
            default_sources: default_sources(),
            extra_raw_topics: Vec::new(),
            topic_tenants: BTreeMap::new(),
            limits: Limits::default(),
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            clickhouse: ClickHouseConfig::default(),
            linker_url: "http://127.0.0.1:9473".into(),
            linker_urls: Vec::new(),
            linker_ca_file: None,
            linker_token: Secret::default(),
            business_hours: BusinessHoursConfig::default(),
            sla: SlaConfig::default(),
            // The CLI reports what it did itself; library progress logs are for services.
            log: LogConfig {
                filter: "warn".into(),
                ..LogConfig::default()
            },
        }
    }
}
