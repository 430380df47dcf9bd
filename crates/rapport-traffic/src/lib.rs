//! `rapport generate`: a reproducible day of omnichannel traffic, to the raw topics or to a file.

mod render;
mod scenario;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context as _;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rapport_kafka::{KafkaConfig, Topics};
use rapport_model::{Channel, Timestamp};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

pub use render::RawRecord;

#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub customers: usize,
    pub day: Timestamp,
    pub tenant: String,
    pub agent_domain: String,
    pub invalid_rate: f64,
}

/// Everything the generator decided, in the order a real day would deliver it.
pub fn generate(options: &Options) -> Vec<RawRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let scenario = scenario::build(
        &mut rng,
        &scenario::Params {
            customers: options.customers,
            day_start: options.day,
            agent_domain: options.agent_domain.clone(),
        },
    );
    render::render(
        &mut rng,
        &scenario,
        &render::RenderParams {
            tenant: &options.tenant,
            agent_domain: &options.agent_domain,
            invalid_rate: options.invalid_rate,
        },
    )
}

/// The oracle for generated traffic: the event ids the adapters make of the records, in-process,
/// and the payloads they reject. Tests compare what a pipeline stored or published with it.
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
        match rapport_channels::normalize(r.source, &r.payload, &ctx) {
            Ok(interactions) => ids.extend(interactions.iter().map(|i| i.event_id)),
            Err(_) => {
                invalid.insert(r.payload.clone());
            }
        }
    }
    (ids, invalid)
}

pub fn topic_for(topics: &Topics, channel: Channel) -> &str {
    match channel {
        Channel::Email => &topics.raw_email,
        Channel::Chat => &topics.raw_chat,
        Channel::Review => &topics.raw_review,
        Channel::Support => &topics.raw_support,
    }
}

/// How fast and how long to produce.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pace {
    /// Records per second; `None` is as fast as the broker acknowledges.
    pub rate: Option<u32>,
    /// Stop enqueuing at this moment (records already enqueued are still acknowledged).
    pub until: Option<std::time::Instant>,
    /// Stamp each record's `rapport-received-at` with the moment it is enqueued (live traffic,
    /// and what a latency measurement needs) instead of the generated day's time.
    pub stamp_now: bool,
}

/// Produces every record and waits for each acknowledgement; returns the count per topic.
pub async fn produce(
    records: &[RawRecord],
    kafka: &KafkaConfig,
    topics: &Topics,
) -> anyhow::Result<BTreeMap<String, usize>> {
    produce_paced(records, kafka, topics, Pace::default()).await
}

/// [`produce`] at a steady rate and/or until a deadline.
pub async fn produce_paced(
    records: &[RawRecord],
    kafka: &KafkaConfig,
    topics: &Topics,
    pace: Pace,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let producer: FutureProducer = kafka
        .producer_config()
        .create()
        .context("cannot create the Kafka producer")?;
    let mut counts = BTreeMap::new();
    let mut pending = std::collections::VecDeque::new();
    let started = tokio::time::Instant::now();
    for (n, record) in records.iter().enumerate() {
        if pace
            .until
            .is_some_and(|until| std::time::Instant::now() >= until)
        {
            break;
        }
        if let Some(rate) = pace.rate.filter(|r| *r > 0) {
            tokio::time::sleep_until(started + Duration::from_secs_f64(n as f64 / f64::from(rate)))
                .await;
        }
        let topic = topic_for(topics, record.channel);
        let received_at = if pace.stamp_now {
            rapport_model::Timestamp::now()
        } else {
            record.received_at
        }
        .to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "rapport-source",
                value: Some(record.source.as_str()),
            })
            .insert(Header {
                key: "rapport-tenant",
                value: Some(&record.tenant),
            })
            .insert(Header {
                key: "rapport-received-at",
                value: Some(&received_at),
            });
        let future = loop {
            let sent = producer.send_result(
                FutureRecord::to(topic)
                    .key(&record.key)
                    .payload(&record.payload)
                    .headers(headers.clone()),
            );
            match sent {
                Ok(future) => break future,
                // librdkafka's local queue is full (a large day of traffic): wait for the oldest
                // record's acknowledgement to make room, then try again.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    match pending.pop_front() {
                        Some(oldest) => acknowledged(oldest).await?,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((error, _)) => {
                    return Err(error)
                        .with_context(|| format!("cannot enqueue a record for {topic}"));
                }
            }
        };
        pending.push_back(future);
        *counts.entry(topic.to_owned()).or_insert(0) += 1;
    }
    for delivery in pending {
        acknowledged(delivery).await?;
    }
    Ok(counts)
}

async fn acknowledged(delivery: DeliveryFuture) -> anyhow::Result<()> {
    let outcome = tokio::time::timeout(Duration::from_secs(120), delivery)
        .await
        .context("the broker did not acknowledge within 120 s")?
        .context("the producer was dropped")?;
    outcome
        .map_err(|(e, _)| e)
        .context("the broker rejected a record")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: u64) -> Options {
        Options {
            seed,
            customers: 50,
            day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
            tenant: "acme".into(),
            agent_domain: "acme.com".into(),
            invalid_rate: 0.01,
        }
    }

    #[test]
    fn same_seed_same_traffic() {
        assert_eq!(generate(&options(7)), generate(&options(7)));
        assert_ne!(generate(&options(7)), generate(&options(8)));
    }

    #[test]
    fn traffic_covers_every_channel_in_time_order() {
        let records = generate(&options(1));
        for channel in Channel::ALL {
            assert!(
                records.iter().any(|r| r.channel == *channel),
                "no {channel} traffic"
            );
        }
        assert!(
            records
                .windows(2)
                .all(|w| w[0].received_at <= w[1].received_at)
        );
        assert!(
            records.len() > 150,
            "{} records for 50 customers",
            records.len()
        );
    }

    #[test]
    fn every_valid_record_normalizes_and_every_invalid_one_is_rejected() {
        use rapport_channels::{Context, Limits, TenantConfig, normalize};
        let tenant = TenantConfig {
            agent_domains: vec!["acme.com".into()],
            ..TenantConfig::default()
        };
        let limits = Limits::default();
        let mut channels_per_email =
            std::collections::BTreeMap::<String, std::collections::BTreeSet<_>>::new();
        for record in generate(&options(11)) {
            let ctx = Context {
                tenant_id: &record.tenant,
                received_at: record.received_at,
                tenant: &tenant,
                limits: &limits,
                raw_ref: None,
            };
            let result = normalize(record.source, &record.payload, &ctx);
            match (record.invalid, result) {
                (false, Ok(interactions)) => {
                    assert!(
                        !interactions.is_empty(),
                        "{} record yields nothing",
                        record.source
                    );
                    for i in interactions {
                        for id in i
                            .identities
                            .iter()
                            .filter(|id| id.kind == rapport_model::IdentityType::Email)
                        {
                            channels_per_email
                                .entry(id.value.clone())
                                .or_default()
                                .insert(i.channel);
                        }
                    }
                }
                (false, Err(e)) => panic!(
                    "valid {} record rejected: {e}\n{}",
                    record.source,
                    String::from_utf8_lossy(&record.payload)
                ),
                (true, Ok(_)) => panic!("corrupted {} record accepted", record.source),
                (true, Err(_)) => {}
            }
        }
        assert!(
            channels_per_email.values().any(|c| c.len() >= 3),
            "some customer is seen on three channels"
        );
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
