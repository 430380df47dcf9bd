//! Seeded omnichannel traffic: a reproducible business day of customers writing on several
//! channels and agents answering, rendered as the native payloads of every source Rapport reads
//! (SendGrid, Mailgun and SES mail, raw RFC 5322 mail, Intercom and Chatwoot chat, Zendesk and
//! Freshdesk tickets, Google, Yelp and Trustpilot reviews, and `generic` JSON), in the
//! proportions a [`Mix`] sets. Used by `rapport generate`, the normalizer's tests and
//! benchmarks, the whole-pipeline tests and the demo.
//!
//! - [`generate`]: the records of one day, in receive order, each with the envelope headers'
//!   values (source, tenant, receive time).
//! - [`expected`]: the oracle: the event ids the real adapters make of a set of records, and the
//!   payloads they reject.
//! - [`produce`] / [`produce_paced`]: to the raw topics, waiting for every acknowledgement.

mod mix;
mod produce;
mod render;
mod scenario;

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rapport_model::Timestamp;

pub use mix::Mix;
pub use produce::{Pace, produce, produce_paced, record_line, topic_for};
pub use render::RawRecord;

/// What goes wrong in this crate: a mix that does not parse, or producing to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("invalid mix: {0}")]
    Mix(String),
    #[error("cannot create the Kafka producer")]
    Producer(#[source] rdkafka::error::KafkaError),
    #[error("cannot enqueue a record for {topic}")]
    Enqueue {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("the broker did not acknowledge within {} s", .0.as_secs())]
    Unacknowledged(std::time::Duration),
    #[error("the producer was dropped")]
    Dropped,
    #[error("the broker rejected a record")]
    Rejected(#[source] rdkafka::error::KafkaError),
}

/// One day of traffic.
#[derive(Debug, Clone)]
pub struct Options {
    /// Same seed (and other options), same traffic, byte for byte.
    pub seed: u64,
    /// How many customers write in during the day.
    pub customers: usize,
    /// The day's UTC midnight.
    pub day: Timestamp,
    /// The tenant every record claims (`rapport-tenant`).
    pub tenant: String,
    /// The company's own mail domain; agents write from it.
    pub agent_domain: String,
    /// Share of records deliberately corrupted, to exercise the dead-letter path.
    pub invalid_rate: f64,
    /// Which sources the conversations come from.
    pub mix: Mix,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 42,
            customers: 300,
            day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").expect("a valid time"),
            tenant: "default".into(),
            agent_domain: "acme.com".into(),
            invalid_rate: 0.01,
            mix: Mix::default(),
        }
    }
}

/// Everything the generator decided, in the order a real day would deliver it.
pub fn generate(options: &Options) -> Vec<RawRecord> {
    let mut records: Vec<RawRecord> = day(options).1.into_iter().map(|r| r.record).collect();
    records.sort_by_key(|r| r.received_at);
    records
}

/// The scenario and its records, each with the event it renders, in scenario order.
fn day(options: &Options) -> (scenario::Scenario, Vec<render::Rendered>) {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let scenario = scenario::build(
        &mut rng,
        &scenario::Params {
            customers: options.customers,
            day_start: options.day,
            agent_domain: options.agent_domain.clone(),
            mix: &options.mix,
        },
    );
    let rendered = render::render(
        &mut rng,
        &scenario,
        &render::RenderParams {
            tenant: &options.tenant,
            agent_domain: &options.agent_domain,
            invalid_rate: options.invalid_rate,
        },
    );
    (scenario, rendered)
}

/// The oracle for generated traffic: the event ids the adapters make of the records, in-process,
/// and the payloads the dead-letter topic must hold: each rejected record whole, each rejected
/// item of a list record alone, and each record that gives nothing for a reason its adapter does
/// not document. Tests compare what a pipeline stored or published with it.
pub fn expected(
    records: &[RawRecord],
    tenant: &rapport_channels::TenantConfig,
) -> (BTreeSet<uuid::Uuid>, BTreeSet<Vec<u8>>) {
    let limits = rapport_channels::Limits::default();
    let (mut ids, mut invalid) = (BTreeSet::new(), BTreeSet::new());
    for r in records {
        let ctx = rapport_channels::Context {
            tenant_id: &r.tenant,
            received_at: r.received_at,
            tenant,
            limits: &limits,
            raw_ref: None,
        };
        match rapport_channels::read(r.source, &r.payload, &ctx) {
            Ok(outcome) => {
                ids.extend(outcome.interactions.iter().map(|i| i.event_id));
                invalid.extend(outcome.rejected.into_iter().map(|item| item.payload));
                if outcome.skipped.is_some_and(|s| !s.documented) {
                    invalid.insert(r.payload.clone());
                }
            }
            Err(_) => {
                invalid.insert(r.payload.clone());
            }
        }
    }
    (ids, invalid)
}

#[cfg(test)]
mod tests {
    use rapport_model::{Channel, Source};

    use super::*;

    fn options(seed: u64) -> Options {
        Options {
            seed,
            customers: 50,
            tenant: "acme".into(),
            ..Options::default()
        }
    }

    #[test]
    fn same_seed_same_traffic() {
        assert_eq!(generate(&options(7)), generate(&options(7)));
        assert_ne!(generate(&options(7)), generate(&options(8)));
        let classic = Options {
            mix: Mix::classic(),
            ..options(7)
        };
        assert_eq!(generate(&classic), generate(&classic));
        assert_ne!(generate(&classic), generate(&options(7)));
    }

    #[test]
    fn traffic_covers_every_channel_and_source_in_time_order() {
        let records = generate(&Options {
            customers: 200,
            ..options(1)
        });
        for channel in Channel::ALL {
            assert!(
                records.iter().any(|r| r.channel == *channel),
                "no {channel} traffic"
            );
        }
        for source in Source::ALL {
            assert!(
                records.iter().any(|r| r.source == *source),
                "no {source} traffic"
            );
        }
        assert!(
            records
                .windows(2)
                .all(|w| w[0].received_at <= w[1].received_at)
        );
        assert!(
            records.len() > 600,
            "{} records for 200 customers",
            records.len()
        );
    }

    #[test]
    fn the_mix_sets_each_sources_share_of_conversations() {
        let mix: Mix = "sendgrid=2,zendesk=1".parse().unwrap();
        let (scenario, _) = day(&Options {
            customers: 400,
            mix,
            ..options(2)
        });
        let total = scenario.conversations.len() as f64;
        let share = |source: Source| {
            scenario
                .conversations
                .iter()
                .filter(|c| c.source == source)
                .count() as f64
                / total
        };
        assert!(
            (0.61..0.72).contains(&share(Source::Sendgrid)),
            "{}",
            share(Source::Sendgrid)
        );
        assert!((0.28..0.39).contains(&share(Source::Zendesk)));
        assert_eq!(share(Source::Sendgrid) + share(Source::Zendesk), 1.0);
        assert!(
            scenario
                .conversations
                .iter()
                .all(|c| Some(c.channel) == c.source.channel())
        );
    }

    #[test]
    fn classic_traffic_is_raw_mail_and_generic_json() {
        let records = generate(&Options {
            mix: Mix::classic(),
            ..options(4)
        });
        assert!(records.iter().all(|r| match r.channel {
            Channel::Email => r.source == Source::Rfc822,
            _ => r.source == Source::Generic,
        }));
    }

    #[test]
    fn invalid_records_follow_the_rate() {
        let mut opts = options(3);
        opts.customers = 400;
        let records = generate(&opts);
        let invalid = records.iter().filter(|r| r.invalid).count() as f64 / records.len() as f64;
        assert!((0.003..0.03).contains(&invalid), "invalid share {invalid}");
        opts.invalid_rate = 0.0;
        assert!(generate(&opts).iter().all(|r| !r.invalid));
    }
}
