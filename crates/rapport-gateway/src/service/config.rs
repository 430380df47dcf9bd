//! `rapport-gateway`'s configuration: the endpoints (the library's `[[endpoints]]`), where each
//! source's records go, and the limits of the HTTP side and of Kafka acknowledgements.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rapport_kafka::{KafkaConfig, Topics};
use rapport_runtime::rate_limit::RateLimitConfig;
use rapport_runtime::{HttpConfig, LogConfig, Validate};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{EndpointConfig, GatewayConfig, Source};

/// The service's configuration (file + `RAPPORT_*` environment; see the crate README).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Every URL the gateway serves (`POST /hooks/{source}/{id}`); see `gateway.example.toml`.
    pub endpoints: Vec<EndpointConfig>,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    /// The raw topic of a source, where its channel family's is not wanted. `generic` defaults
    /// to `topics.raw_chat` (the normalizer reads the source from the header, so the topic only
    /// decides partitioning and retention); `sendgrid_events` has no default, since no adapter
    /// reads SendGrid's delivery events: an endpoint of that source needs a topic here.
    pub source_topics: BTreeMap<Source, String>,
    pub produce: ProduceConfig,
    pub limits: LimitsConfig,
    /// A token bucket per endpoint (and instance). Past it, 429 with `Retry-After`.
    pub rate_limit: RateLimitConfig,
    pub dedup: DedupConfig,
    pub outbound: OutboundConfig,
    /// The webhooks and the operations endpoints (`/healthz`, `/readyz`, `/livez`, `/metrics`)
    /// share this listener; route only `/hooks/` from outside.
    pub http: HttpConfig,
    pub log: LogConfig,
}

/// How long a request waits for Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProduceConfig {
    /// librdkafka's `message.timeout.ms` for the gateway's producer: a record not acknowledged
    /// within it fails, is never sent afterwards, and its request is answered 503. librdkafka
    /// checks timeouts about once a second, so sub-second values are not meaningful.
    pub timeout_ms: u64,
    /// The `Retry-After` of a 503 (Kafka unavailable or slow, a fetch failed, the gateway busy).
    pub retry_after_seconds: u64,
}

impl Default for ProduceConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5_000,
            retry_after_seconds: 5,
        }
    }
}

/// What one request may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// A request whose body has not arrived whole within this time is answered 408.
    pub body_read_timeout_ms: u64,
    /// Request bodies held at once (read, verifying, or waiting for Kafka), over all
    /// connections. A request that would go over it is answered 503 with `Retry-After`: with
    /// 1024 connections and 25 MiB bodies, memory would otherwise be unbounded.
    pub max_buffered_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_read_timeout_ms: 30_000,
            max_buffered_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Deliveries the provider names (its delivery id) are remembered once acknowledged, so a
/// repeat is answered 200 without producing it again, and a signature replayed with another
/// body (Mailgun signs its one-time token, not the body) is not produced at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long a delivery id is remembered; at least every endpoint's timestamp tolerance, so
    /// a replay is either stale or remembered.
    pub window_seconds: u64,
    /// The most ids remembered (least recently used go first).
    pub max_entries: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            window_seconds: 3_900,
            max_entries: 100_000,
        }
    }
}

/// The HTTP client for what the gateway fetches: SNS signing certificates and `SubscribeURL`s,
/// Google's JWT keys and the Business Profile API. https only, no redirects, responses capped
/// at 64 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// The whole of one fetch: connect, TLS, answer.
    pub timeout_ms: u64,
    /// **Tests only.** Host name → loopback base URL (`http://127.0.0.1:41234`): a request for
    /// `https://<host>/path` goes to `<base>/path` instead. Every allow-list check still runs
    /// on the original URL; only loopback targets are accepted, and the gateway warns at start
    /// when this is set. Empty by default.
    pub test_only_reroute: BTreeMap<String, String>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5_000,
            test_only_reroute: BTreeMap::new(),
        }
    }
}

impl OutboundConfig {
    /// The reroutes, parsed; every problem named.
    pub fn reroutes(&self) -> Result<BTreeMap<String, Url>, Vec<String>> {
        let mut problems = Vec::new();
        let mut out = BTreeMap::new();
        for (host, target) in &self.test_only_reroute {
            match parse_loopback(target) {
                Some(url) => {
                    out.insert(host.to_ascii_lowercase(), url);
                }
                None => problems.push(format!(
                    "outbound.test_only_reroute.\"{host}\": {target:?} is not an http(s) URL of a loopback address without a path (the reroute exists for tests only)"
                )),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}

fn parse_loopback(target: &str) -> Option<Url> {
    let url = Url::parse(target).ok()?;
    let loopback = match url.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    let plain = matches!(url.scheme(), "http" | "https")
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    (loopback && plain).then_some(url)
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            kafka: KafkaConfig::default(),
            topics: Topics::default(),
            source_topics: BTreeMap::new(),
            produce: ProduceConfig::default(),
            limits: LimitsConfig::default(),
            rate_limit: RateLimitConfig {
                requests_per_second: 500.0,
                burst: 1_000,
            },
            dedup: DedupConfig::default(),
            outbound: OutboundConfig::default(),
            http: HttpConfig::on("127.0.0.1:8090".parse().expect("valid address")),
            log: LogConfig::default(),
        }
    }
}

impl ServiceConfig {
    /// The raw topic a source's records go to, if it has one.
    pub fn topic_for(&self, source: Source) -> Option<&str> {
        if let Some(topic) = self.source_topics.get(&source) {
            return Some(topic);
        }
        let t = &self.topics;
        match source {
            Source::Sendgrid | Source::Mailgun | Source::Ses => Some(&t.raw_email),
            Source::Intercom | Source::Chatwoot | Source::Generic => Some(&t.raw_chat),
            Source::Zendesk | Source::Freshdesk => Some(&t.raw_support),
            Source::Trustpilot | Source::Yelp | Source::Google => Some(&t.raw_review),
            Source::SendgridEvents => None,
        }
    }

    /// Every topic some endpoint produces to.
    pub fn used_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .endpoints
            .iter()
            .filter_map(|e| self.topic_for(e.source).map(str::to_owned))
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    pub fn gateway(&self) -> GatewayConfig {
        GatewayConfig {
            endpoints: self.endpoints.clone(),
        }
    }
}

impl Validate for ServiceConfig {
    fn validate(&self) -> Vec<String> {
        let mut problems = self.kafka.validate();
        problems.extend(self.http.validate("http"));
        problems.extend(self.rate_limit.validate("rate_limit"));
        problems.extend(self.gateway().validate());
        if self.endpoints.is_empty() {
            problems.push("no [[endpoints]]: the gateway would refuse every request".into());
        }
        for endpoint in &self.endpoints {
            if self.topic_for(endpoint.source).is_none() {
                problems.push(format!(
                    "endpoint {}/{}: no adapter reads {} records, so they have no raw topic by default; set source_topics.{} to the topic they go to",
                    endpoint.source.as_str(),
                    endpoint.id,
                    endpoint.source.as_str(),
                    endpoint.source.as_str()
                ));
            }
            let tolerance = u64::from(
                endpoint
                    .tolerance_seconds
                    .unwrap_or_else(|| endpoint.source.default_tolerance_seconds()),
            );
            if self.dedup.window_seconds < tolerance {
                problems.push(format!(
                    "dedup.window_seconds ({}) is shorter than the tolerance of endpoint {}/{} ({tolerance} s): a replay could be neither stale nor remembered",
                    self.dedup.window_seconds,
                    endpoint.source.as_str(),
                    endpoint.id
                ));
            }
        }
        for (source, topic) in &self.source_topics {
            if topic.trim().is_empty() {
                problems.push(format!("source_topics.{} is empty", source.as_str()));
            }
        }
        if self.produce.timeout_ms == 0 || self.produce.retry_after_seconds == 0 {
            problems
                .push("produce.timeout_ms and produce.retry_after_seconds must be positive".into());
        }
        if self.limits.body_read_timeout_ms == 0 || self.limits.max_buffered_bytes == 0 {
            problems.push(
                "limits.body_read_timeout_ms and limits.max_buffered_bytes must be positive".into(),
            );
        }
        let largest = self
            .endpoints
            .iter()
            .map(|e| e.body_limit_bytes)
            .max()
            .unwrap_or(0);
        if largest > self.limits.max_buffered_bytes {
            problems.push(format!(
                "limits.max_buffered_bytes ({}) is smaller than the largest endpoint body_limit_bytes ({largest}): such a body could never be taken",
                self.limits.max_buffered_bytes
            ));
        }
        if largest > self.kafka.max_message_bytes.saturating_sub(64 * 1024) {
            problems.push(format!(
                "kafka.max_message_bytes ({}) leaves less than 64 KiB for key and headers beside the largest endpoint body_limit_bytes ({largest})",
                self.kafka.max_message_bytes
            ));
        }
        if self.dedup.max_entries == 0 {
            problems.push("dedup.max_entries must be at least 1".into());
        }
        if self.outbound.timeout_ms == 0 {
            problems.push("outbound.timeout_ms must be positive".into());
        }
        if let Err(p) = self.outbound.reroutes() {
            problems.extend(p);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_example() -> ServiceConfig {
        let example: GatewayConfig =
            toml::from_str(include_str!("../../gateway.example.toml")).unwrap();
        ServiceConfig {
            endpoints: example.endpoints,
            source_topics: [(Source::SendgridEvents, "acme.sendgrid.events".to_owned())].into(),
            ..ServiceConfig::default()
        }
    }

    #[test]
    fn every_source_has_a_topic_and_the_example_validates() {
        let config = with_example();
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        assert_eq!(
            config.topic_for(Source::Zendesk),
            Some("rapport.raw.support")
        );
        assert_eq!(config.topic_for(Source::Generic), Some("rapport.raw.chat"));
        assert_eq!(config.topic_for(Source::Google), Some("rapport.raw.review"));
        assert_eq!(
            config.topic_for(Source::SendgridEvents),
            Some("acme.sendgrid.events")
        );
        assert_eq!(config.used_topics().len(), 5);
    }

    #[test]
    fn sendgrid_events_without_a_topic_and_other_problems_are_all_reported() {
        let mut config = with_example();
        config.source_topics.clear();
        config.dedup.window_seconds = 60;
        config.limits.max_buffered_bytes = 1024;
        config.outbound.test_only_reroute.insert(
            "sns.us-east-1.amazonaws.com".into(),
            "http://10.0.0.1:80".into(),
        );
        let problems = config.validate().join("\n");
        for expected in [
            "set source_topics.sendgrid_events",
            "dedup.window_seconds (60) is shorter",
            "limits.max_buffered_bytes (1024)",
            "the reroute exists for tests only",
        ] {
            assert!(problems.contains(expected), "{expected:?} in {problems}");
        }
    }

    #[test]
    fn only_loopback_reroutes_are_accepted() {
        for ok in [
            "http://127.0.0.1:41234",
            "http://localhost:1",
            "https://[::1]:9/",
        ] {
            assert!(parse_loopback(ok).is_some(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:1",
            "http://example.com",
            "ftp://127.0.0.1",
            "http://127.0.0.1:1/path",
            "http://u:p@127.0.0.1",
            "127.0.0.1:80",
        ] {
            assert!(parse_loopback(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_round_trip_through_toml() {
        let config = with_example();
        let text = toml::to_string(&config).unwrap();
        let back: ServiceConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.endpoints, config.endpoints);
        assert_eq!(back.source_topics, config.source_topics);
    }
}
