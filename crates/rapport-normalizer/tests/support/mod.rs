//! What the normalizer's test binaries share: the generated traffic, its oracle, and reading the
//! outputs back.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeSet;

use rapport_channels::TenantConfig;
use rapport_kafka::Topics;
use rapport_model::Timestamp;
use rapport_model::wire::decode_single_object;
use rapport_traffic::{self as generate, Mix, Options, RawRecord};
use rdkafka::Message;
use rdkafka::message::Headers;
use uuid::Uuid;

/// The tests' tenant: agents write from acme.com, phone numbers without a country are American.
pub fn tenant() -> TenantConfig {
    TenantConfig {
        agent_domains: vec!["acme.com".into()],
        default_phone_region: Some("US".into()),
        ..TenantConfig::default()
    }
}

pub fn traffic(seed: u64, customers: usize) -> Vec<RawRecord> {
    generate::generate(&Options {
        seed,
        customers,
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.01,
        // Raw mail and generic JSON: one output per event id, which these tests count on (native
        // payloads restate interactions, e.g. a ticket sent again with its new status; the
        // whole-pipeline tests run on those).
        mix: Mix::classic(),
    })
}

/// The oracle: what the adapters make of the records, in-process, with the tests' tenant.
pub fn expected(records: &[RawRecord]) -> (BTreeSet<Uuid>, BTreeSet<Vec<u8>>) {
    generate::expected(records, &tenant())
}

/// What was read back from the interactions and dead-letter topics.
#[derive(Default, Debug)]
pub struct Collected {
    pub interactions: Vec<Uuid>,
    pub raw_values: Vec<Vec<u8>>,
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Debug)]
pub struct DeadLetter {
    pub payload: Vec<u8>,
    pub code: String,
    pub origin_topic: String,
    pub source: Option<String>,
}

impl Collected {
    /// Takes one record read from `topics`' interactions or dead-letter topic.
    pub fn record(&mut self, topics: &Topics, message: &impl Message) {
        let payload = message.payload().unwrap_or_default().to_vec();
        if message.topic() == topics.dlq {
            let headers = message.headers().expect("dlq headers");
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            self.dead_letters.push(DeadLetter {
                payload,
                code: header("rapport-error-code").unwrap_or_default(),
                origin_topic: header("rapport-origin-topic").unwrap_or_default(),
                source: header("rapport-source"),
            });
        } else {
            self.raw_values.push(payload.clone());
            if let Ok(interaction) = decode_single_object(&payload) {
                self.interactions.push(interaction.event_id);
            }
        }
    }

    pub fn distinct(&self) -> BTreeSet<Uuid> {
        self.interactions.iter().copied().collect()
    }

    pub fn dead_payloads(&self) -> BTreeSet<Vec<u8>> {
        self.dead_letters
            .iter()
            .map(|d| d.payload.clone())
            .collect()
    }
}
