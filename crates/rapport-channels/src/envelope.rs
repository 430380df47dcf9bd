//! The raw-record envelope: the headers a raw record carries beside its native payload, and how
//! the normalizer, `rapport normalize` and the gateway read and write them. One definition, so
//! the dry run and the service give the same outcome for the same record.
//!
//! | header | meaning | when absent |
//! | --- | --- | --- |
//! | `rapport-source` | the source name (`zendesk`, `rfc822`, …) | the topic's default source, else content detection |
//! | `rapport-tenant` | the tenant the payload belongs to | the configured default tenant |
//! | `rapport-received-at` | when the payload reached the company: RFC 3339, or epoch milliseconds | the record's Kafka timestamp, else now |
//!
//! A tenant is checked against the tenants its topic may carry when the topic is bound to some
//! (`topic_tenants`), so a producer allowed to write one raw topic cannot write into another
//! tenant's history.

use std::collections::BTreeMap;

use rapport_model::{Channel, Quote, RawRef, Source, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{AdapterError, Context, Limits, Outcome, TenantConfig, read_detected};

pub const HEADER_SOURCE: &str = "rapport-source";
pub const HEADER_TENANT: &str = "rapport-tenant";
pub const HEADER_RECEIVED_AT: &str = "rapport-received-at";
/// Set by `rapport-gateway`: the id of the HTTP request a record came in with.
pub const HEADER_REQUEST_ID: &str = "rapport-request-id";
/// Set by `rapport-gateway` when the provider names its delivery (SNS `MessageId`, Pub/Sub
/// `messageId`, Intercom's notification id, …): the same on every retry of one delivery.
pub const HEADER_DELIVERY_ID: &str = "rapport-delivery-id";

/// What the envelope of one record says, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// `None`: detect it from the content.
    pub source: Option<Source>,
    pub tenant_id: &'a str,
    pub received_at: Timestamp,
}

/// Why a record's envelope was refused. Its [`code`](EnvelopeError::code) goes into the dead
/// letter, like an adapter's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("header {header} is not valid: {}", Quote::with_limit(.reason, 120))]
    InvalidHeader {
        header: &'static str,
        reason: String,
    },
    #[error("topic {topic} may not carry tenant {}", Quote::with_limit(.tenant, 120))]
    TenantNotAllowed { topic: String, tenant: String },
}

impl EnvelopeError {
    pub fn code(&self) -> String {
        match self {
            Self::InvalidHeader { header, .. } => format!("invalid_header:{header}"),
            Self::TenantNotAllowed { .. } => "tenant_not_allowed".into(),
        }
    }

    pub fn family(&self) -> &'static str {
        match self {
            Self::InvalidHeader { .. } => "invalid_header",
            Self::TenantNotAllowed { .. } => "tenant_not_allowed",
        }
    }
}

/// How one deployment reads raw records: the default tenant, each tenant's settings, the limits,
/// each topic's default source and the tenants each topic may carry.
#[derive(Debug, Clone, Copy)]
pub struct RecordRules<'a> {
    pub default_tenant: &'a str,
    pub tenant: &'a TenantConfig,
    pub tenants: &'a BTreeMap<String, TenantConfig>,
    pub limits: &'a Limits,
    /// Raw topic → the tenants its records may claim; a topic not listed may carry any.
    pub topic_tenants: &'a BTreeMap<String, Vec<String>>,
    /// The four standard raw topics and the channel family each carries.
    pub families: [(&'a str, Channel); 4],
    /// The source assumed per family for records without a `rapport-source` header.
    pub default_sources: &'a BTreeMap<Channel, Source>,
    pub extra_topics: &'a [ExtraTopic],
}

impl<'a> RecordRules<'a> {
    pub fn tenant_config(&self, tenant_id: &str) -> &'a TenantConfig {
        self.tenants.get(tenant_id).unwrap_or(self.tenant)
    }

    /// The source to assume for a header-less record read from `topic` (then content detection).
    pub fn default_source(&self, topic: &str) -> Option<Source> {
        match self.families.iter().find(|(name, _)| *name == topic) {
            Some((_, channel)) => self.default_sources.get(channel).copied(),
            None => self
                .extra_topics
                .iter()
                .find(|t| t.topic == topic)
                .and_then(|t| t.default_source),
        }
    }

    /// Resolves the envelope of a record read from `topic`. `header` looks a header up by name;
    /// `timestamp_ms` is the record's Kafka timestamp.
    pub fn open<'h>(
        &self,
        topic: &str,
        header: impl Fn(&str) -> Option<&'h [u8]>,
        timestamp_ms: Option<i64>,
        now: Timestamp,
    ) -> Result<Envelope<'h>, EnvelopeError>
    where
        'a: 'h,
    {
        let text = |name: &'static str| -> Result<Option<&'h str>, EnvelopeError> {
            match header(name) {
                None => Ok(None),
                Some(bytes) => std::str::from_utf8(bytes)
                    .map(|t| Some(t.trim()))
                    .map_err(|_| EnvelopeError::InvalidHeader {
                        header: name,
                        reason: "not UTF-8".into(),
                    }),
            }
        };
        let source = match text(HEADER_SOURCE)? {
            Some(name) => Some(
                Source::parse(name).map_err(|e| EnvelopeError::InvalidHeader {
                    header: HEADER_SOURCE,
                    reason: e.to_string(),
                })?,
            ),
            None => self.default_source(topic),
        };
        let tenant_id = text(HEADER_TENANT)?
            .filter(|t| !t.is_empty())
            .unwrap_or(self.default_tenant);
        if let Some(allowed) = self.topic_tenants.get(topic)
            && !allowed.iter().any(|t| t == tenant_id)
        {
            return Err(EnvelopeError::TenantNotAllowed {
                topic: topic.to_owned(),
                tenant: tenant_id.to_owned(),
            });
        }
        let received_at = match text(HEADER_RECEIVED_AT)? {
            Some(value) => {
                parse_received_at(value).ok_or_else(|| EnvelopeError::InvalidHeader {
                    header: HEADER_RECEIVED_AT,
                    reason: format!(
                        "not an RFC 3339 time or epoch milliseconds: {:?}",
                        Quote::with_limit(value, 64).to_string()
                    ),
                })?
            }
            None => timestamp_ms.map(Timestamp::from_millis).unwrap_or(now),
        };
        Ok(Envelope {
            source,
            tenant_id,
            received_at,
        })
    }

    /// The whole of reading one raw record: its envelope, then its payload through the adapter
    /// the envelope names (or detects).
    pub fn read<'h>(
        &self,
        record: &RawRecord<'_>,
        header: impl Fn(&str) -> Option<&'h [u8]>,
        now: Timestamp,
    ) -> Result<Outcome, RecordError>
    where
        'a: 'h,
    {
        let envelope = self.open(record.topic, header, record.timestamp_ms, now)?;
        let ctx = Context {
            tenant_id: envelope.tenant_id,
            received_at: envelope.received_at,
            tenant: self.tenant_config(envelope.tenant_id),
            limits: self.limits,
            raw_ref: record.raw_ref.clone(),
        };
        Ok(read_detected(envelope.source, record.payload, &ctx)?)
    }
}

/// A raw topic beyond the standard four, with the source to assume when a record has no header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraTopic {
    pub topic: String,
    pub default_source: Option<Source>,
}

/// The default of `default_sources`: raw RFC 5322 mail on the email topic; the other families
/// are detected from their content.
pub fn default_sources() -> BTreeMap<Channel, Source> {
    BTreeMap::from([(Channel::Email, Source::Rfc822)])
}

/// Epoch milliseconds when the value is all digits, else RFC 3339.
pub fn parse_received_at(value: &str) -> Option<Timestamp> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Timestamp::from_millis);
    }
    Timestamp::parse_rfc3339(value)
}

/// A raw record as the envelope sees it (headers are looked up through a function, so Kafka
/// messages and dumped records both fit without copying).
#[derive(Debug, Clone)]
pub struct RawRecord<'p> {
    pub topic: &'p str,
    pub payload: &'p [u8],
    pub timestamp_ms: Option<i64>,
    pub raw_ref: Option<RawRef>,
}

/// Why a raw record produced no interactions: its envelope, or its payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

impl RecordError {
    /// The dead letter's code: `invalid_header:rapport-source`, `missing_field:ticket.id`, ….
    pub fn code(&self) -> String {
        match self {
            Self::Envelope(e) => e.code(),
            Self::Adapter(e) => e.code().to_string(),
        }
    }

    /// The code's closed family, for metric labels.
    pub fn family(&self) -> &'static str {
        match self {
            Self::Envelope(e) => e.family(),
            Self::Adapter(e) => e.family(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules<'a>(
        tenant: &'a TenantConfig,
        tenants: &'a BTreeMap<String, TenantConfig>,
        limits: &'a Limits,
        bound: &'a BTreeMap<String, Vec<String>>,
    ) -> RecordRules<'a> {
        static SOURCES: std::sync::LazyLock<BTreeMap<Channel, Source>> =
            std::sync::LazyLock::new(|| BTreeMap::from([(Channel::Support, Source::Zendesk)]));
        RecordRules {
            default_tenant: "acme",
            tenant,
            tenants,
            limits,
            topic_tenants: bound,
            families: [
                ("raw.email", Channel::Email),
                ("raw.chat", Channel::Chat),
                ("raw.review", Channel::Review),
                ("raw.support", Channel::Support),
            ],
            default_sources: &SOURCES,
            extra_topics: &[],
        }
    }

    fn headers<'h>(pairs: &'h [(&'h str, &'h str)]) -> impl Fn(&str) -> Option<&'h [u8]> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_bytes())
        }
    }

    #[test]
    fn absent_headers_take_the_defaults() {
        let (t, ts, l, b) = Default::default();
        let rules = rules(&t, &ts, &l, &b);
        let now = Timestamp::from_millis(5);
        let envelope = rules
            .open("raw.support", headers(&[]), Some(7), now)
            .unwrap();
        assert_eq!(
            envelope,
            Envelope {
                source: Some(Source::Zendesk),
                tenant_id: "acme",
                received_at: Timestamp::from_millis(7)
            }
        );
        let envelope = rules.open("raw.chat", headers(&[]), None, now).unwrap();
        assert_eq!(envelope.received_at, now);
        assert_eq!(envelope.source, None);
    }

    #[test]
    fn received_at_takes_rfc3339_or_epoch_milliseconds() {
        let (t, ts, l, b) = Default::default();
        let rules = rules(&t, &ts, &l, &b);
        let now = Timestamp::from_millis(0);
        for value in ["2024-06-03T09:00:00Z", "1717405200000"] {
            let pairs = [(HEADER_RECEIVED_AT, value)];
            let envelope = rules.open("raw", headers(&pairs), None, now).unwrap();
            assert_eq!(envelope.received_at.as_millis(), 1_717_405_200_000);
        }
        let long = "9".repeat(100_000);
        let pairs = [(HEADER_RECEIVED_AT, long.as_str())];
        let error = rules.open("raw", headers(&pairs), None, now).unwrap_err();
        assert_eq!(error.code(), "invalid_header:rapport-received-at");
        assert!(error.to_string().len() < 300, "{}", error.to_string().len());
    }

    #[test]
    fn a_bad_source_header_is_refused() {
        let (t, ts, l, b) = Default::default();
        let rules = rules(&t, &ts, &l, &b);
        let error = rules
            .open(
                "raw.support",
                headers(&[(HEADER_SOURCE, "fax")]),
                None,
                Timestamp::from_millis(0),
            )
            .unwrap_err();
        assert_eq!(error.code(), "invalid_header:rapport-source");
    }

    #[test]
    fn a_bound_topic_refuses_other_tenants() {
        let (t, ts, l) = Default::default();
        let bound = BTreeMap::from([("acme.raw".to_owned(), vec!["acme".to_owned()])]);
        let rules = rules(&t, &ts, &l, &bound);
        let now = Timestamp::from_millis(0);
        let claim = [(HEADER_TENANT, "globex")];
        let error = rules
            .open("acme.raw", headers(&claim), None, now)
            .unwrap_err();
        assert_eq!(error.code(), "tenant_not_allowed");
        assert!(rules.open("acme.raw", headers(&[]), None, now).is_ok());
        assert!(rules.open("other.raw", headers(&claim), None, now).is_ok());
    }
}
