//! Records to the raw topics, with the envelope headers, waiting for every acknowledgement; and
//! the JSON line `rapport generate --output` writes for a record.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use base64::Engine as _;
use rapport_channels::envelope::{HEADER_RECEIVED_AT, HEADER_SOURCE, HEADER_TENANT};
use rapport_kafka::{KafkaConfig, Topics};
use rapport_model::{Channel, Timestamp};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::{RawRecord, TrafficError};

/// How long one record may wait for the broker's acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(120);

/// The raw topic of a channel.
pub fn topic_for(topics: &Topics, channel: Channel) -> &str {
    match channel {
        Channel::Email => &topics.raw_email,
        Channel::Chat => &topics.raw_chat,
        Channel::Review => &topics.raw_review,
        Channel::Support => &topics.raw_support,
    }
}

/// A record as one line of `rapport generate --output`: `{topic, key, headers,
/// payload_base64}`, the format `rapport normalize --records` reads back.
pub fn record_line(record: &RawRecord, topics: &Topics) -> serde_json::Value {
    serde_json::json!({
        "topic": topic_for(topics, record.channel),
        "key": record.key,
        "headers": {
            HEADER_SOURCE: record.source.as_str(),
            HEADER_TENANT: record.tenant,
            HEADER_RECEIVED_AT: record.received_at.to_string(),
        },
        "payload_base64": base64::engine::general_purpose::STANDARD.encode(&record.payload),
    })
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
) -> Result<BTreeMap<String, usize>, TrafficError> {
    produce_paced(records, kafka, topics, Pace::default()).await
}

/// [`produce`] at a steady rate and/or until a deadline.
pub async fn produce_paced(
    records: &[RawRecord],
    kafka: &KafkaConfig,
    topics: &Topics,
    pace: Pace,
) -> Result<BTreeMap<String, usize>, TrafficError> {
    let producer: FutureProducer = kafka
        .producer_config()
        .create()
        .map_err(TrafficError::Producer)?;
    let mut counts = BTreeMap::new();
    let mut pending = VecDeque::new();
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
            Timestamp::now()
        } else {
            record.received_at
        }
        .to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_SOURCE,
                value: Some(record.source.as_str()),
            })
            .insert(Header {
                key: HEADER_TENANT,
                value: Some(&record.tenant),
            })
            .insert(Header {
                key: HEADER_RECEIVED_AT,
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
                Err((source, _)) => {
                    return Err(TrafficError::Enqueue {
                        topic: topic.to_owned(),
                        source,
                    });
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

async fn acknowledged(delivery: DeliveryFuture) -> Result<(), TrafficError> {
    let outcome = tokio::time::timeout(ACK_TIMEOUT, delivery)
        .await
        .map_err(|_| TrafficError::Unacknowledged(ACK_TIMEOUT))?
        .map_err(|_| TrafficError::Dropped)?;
    outcome
        .map(|_| ())
        .map_err(|(e, _)| TrafficError::Rejected(e))
}
