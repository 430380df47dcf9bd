//! Landing a raw record: produced once, unchanged, with the envelope headers, and acknowledged
//! by the broker (`acks=all`, idempotent producer) before the request is answered 2xx.
//!
//! The deadline is librdkafka's own `message.timeout.ms` (`produce.timeout_ms`): a record not
//! acknowledged within it fails with a delivery error and librdkafka never sends it afterwards,
//! so a 503 never turns into a late write that the provider's retry would duplicate. One case
//! remains, as librdkafka's `INTRODUCTION.md` ("Message timeout considerations") explains for
//! the idempotent producer: a record that times out *in flight* (sent, no answer yet) is
//! reported `MSG_TIMED_OUT` with status `POSSIBLY_PERSISTED`, since the broker may have
//! written it; the request is answered 503, the provider retries, and the record may then be
//! on the topic twice (same bytes, same delivery id, different request ids). Records that time
//! out while still queued are `NOT_PERSISTED`: the producer drains, bumps its epoch and skips
//! them, so they are never written. Downstream, the adapters' deterministic event ids collapse
//! the duplicate.
//!
//! librdkafka reports timeouts from a scan that runs about once a second, and the idempotent
//! producer holds further timeout reports while it waits to bump its epoch during an outage
//! (measured on the mock cluster: records with a 2 s timeout reported after up to 6.6 s, at the
//! next reconnect attempt). So the request also stops waiting at the deadline plus
//! [`REPORT_GRACE`] and is answered 503 then. The record is past its `message.timeout.ms` by
//! that time, and librdkafka scans a partition's queue for timed-out records before it sends
//! anything after a reconnect, so it is failed, not sent; it may only be on the topic if it was
//! already in flight, the `POSSIBLY_PERSISTED` case above.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rapport_channels::envelope::{
    HEADER_DELIVERY_ID, HEADER_RECEIVED_AT, HEADER_REQUEST_ID, HEADER_SOURCE, HEADER_TENANT,
};
use rapport_kafka::KafkaConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, info, warn};

/// How long past `message.timeout.ms` a request waits for librdkafka's report before it is
/// answered 503 anyway: one timeout scan interval and some slack.
pub const REPORT_GRACE: Duration = Duration::from_millis(1_500);

/// Why a record did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Kafka did not acknowledge in time, or is unreachable: 503, the provider retries.
    Unavailable(String),
    /// librdkafka's queue is full: 503 at once.
    Busy,
    /// The record itself is refused (over the broker's size): 413, a retry cannot help.
    TooLarge,
    /// The producer cannot go on (an idempotence fatal error): 503, and the service restarts.
    Fatal(String),
}

/// One record to land.
#[derive(Debug)]
pub struct Record<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub source: &'a str,
    pub tenant: &'a str,
    pub received_at_ms: i64,
    pub request_id: &'a str,
    pub delivery_id: Option<&'a str>,
}

/// The gateway's producer.
pub struct Lander {
    producer: FutureProducer,
    failing: AtomicBool,
    /// The deadline plus [`REPORT_GRACE`].
    answer_within: Duration,
}

impl std::fmt::Debug for Lander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lander").finish_non_exhaustive()
    }
}

impl Lander {
    /// The shared producer settings (idempotent, `acks=all`) with `timeout_ms` as
    /// `message.timeout.ms` and Nagle's algorithm off; `kafka.extra` still wins.
    pub fn new(kafka: &KafkaConfig, timeout_ms: u64) -> Result<Self, KafkaError> {
        let mut config = kafka.producer_config();
        if !kafka.extra.contains_key("message.timeout.ms")
            && !kafka.extra.contains_key("delivery.timeout.ms")
        {
            config.set("message.timeout.ms", timeout_ms.to_string());
        }
        // Every request waits for its own acknowledgement: a produce request held back by
        // Nagle's algorithm until the broker acknowledges the previous segment (which it may
        // delay by 40 ms) is latency the provider sees.
        if !kafka.extra.contains_key("socket.nagle.disable") {
            config.set("socket.nagle.disable", "true");
        }
        let timeout_ms = config
            .get("message.timeout.ms")
            .or_else(|| config.get("delivery.timeout.ms"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(timeout_ms);
        Ok(Self {
            producer: config.create()?,
            failing: AtomicBool::new(false),
            answer_within: Duration::from_millis(timeout_ms) + REPORT_GRACE,
        })
    }

    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }

    /// Produces `record` and waits for the broker's acknowledgement or librdkafka's deadline.
    pub async fn land(&self, record: &Record<'_>) -> Result<(), Failure> {
        let received_at = record.received_at_ms.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(5)
            .insert(Header {
                key: HEADER_SOURCE,
                value: Some(record.source),
            })
            .insert(Header {
                key: HEADER_TENANT,
                value: Some(record.tenant),
            })
            .insert(Header {
                key: HEADER_RECEIVED_AT,
                value: Some(&received_at),
            })
            .insert(Header {
                key: HEADER_REQUEST_ID,
                value: Some(record.request_id),
            });
        if let Some(delivery_id) = record.delivery_id {
            headers = headers.insert(Header {
                key: HEADER_DELIVERY_ID,
                value: Some(delivery_id),
            });
        }
        let enqueued = self.producer.send_result(
            FutureRecord::to(record.topic)
                .key(record.key)
                .payload(record.payload)
                .headers(headers),
        );
        let delivery = match enqueued {
            Ok(delivery) => delivery,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(Failure::Busy);
            }
            Err((error, _)) => return Err(self.failed(&error, record.topic)),
        };
        let Ok(reported) = tokio::time::timeout(self.answer_within, delivery).await else {
            return Err(self.failed(
                &KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
                record.topic,
            ));
        };
        match reported {
            Ok(Ok(_)) => {
                if self.failing.load(Ordering::Relaxed)
                    && self.failing.swap(false, Ordering::SeqCst)
                {
                    info!("records are acknowledged again");
                }
                Ok(())
            }
            Ok(Err((error, _))) => Err(self.failed(&error, record.topic)),
            Err(_) => Err(Failure::Unavailable("the producer went away".into())),
        }
    }

    fn failed(&self, error: &KafkaError, topic: &str) -> Failure {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            return Failure::Fatal(format!("{code:?}: {reason}"));
        }
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize)
        ) {
            return Failure::TooLarge;
        }
        // An outage fails every waiting request at once: say so once, then quietly.
        if self.failing.swap(true, Ordering::SeqCst) {
            debug!(%error, topic, "a record was not acknowledged");
        } else {
            warn!(%error, topic, "records are not acknowledged; answering 503 until they are");
        }
        Failure::Unavailable(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_is_librdkafkas_message_timeout_plus_the_grace() {
        let kafka = KafkaConfig {
            brokers: "127.0.0.1:1".into(),
            ..KafkaConfig::default()
        };
        let lander = Lander::new(&kafka, 2_000).unwrap();
        assert_eq!(lander.answer_within, Duration::from_millis(3_500));
        let mut overridden = kafka.clone();
        overridden
            .extra
            .insert("message.timeout.ms".into(), "1000".into());
        let lander = Lander::new(&overridden, 2_000).unwrap();
        assert_eq!(lander.answer_within, Duration::from_millis(2_500));
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_a_503_within_the_deadline_and_the_record_is_not_sent_later() {
        // Nothing listens on port 1: the record stays queued and times out.
        let kafka = KafkaConfig {
            brokers: "127.0.0.1:1".into(),
            ..KafkaConfig::default()
        };
        let lander = Lander::new(&kafka, 1_000).unwrap();
        let started = std::time::Instant::now();
        let landed = lander
            .land(&Record {
                topic: "t",
                key: b"k",
                payload: b"{}",
                source: "generic",
                tenant: "acme",
                received_at_ms: 0,
                request_id: "r",
                delivery_id: None,
            })
            .await;
        assert!(matches!(landed, Err(Failure::Unavailable(_))), "{landed:?}");
        assert!(started.elapsed() < Duration::from_millis(2_500 + 500));
        // librdkafka failed the record rather than keeping it for a later send.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while lander.producer().in_flight_count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the record is still queued"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
