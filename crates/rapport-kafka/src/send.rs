use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rapport_runtime::retry::Backoff;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use tracing::{debug, info, warn};

/// Whether sends are failing, process-wide: an outage hits every in-flight record at once, and
/// the log should say so once, not once per record.
static SENDS_FAILING: AtomicBool = AtomicBool::new(false);

/// Refusals no retry can change: the record itself, or our permissions, are the problem.
fn is_permanent(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::PolicyViolation
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::Fatal
        )
    )
}

/// Produces one record and waits for the broker's acknowledgement, retrying everything that a
/// broker restart or outage causes (disconnects, timeouts, "unknown" errors a broker returns
/// while it shuts down) with backoff up to 5 s, for as long as it takes: a record that was read
/// must not be dropped or dead-lettered because the broker was away. Returns the error only
/// when it is permanent, or when the producer itself hit a fatal error (then only a new
/// producer, i.e. a restart, can continue).
pub async fn send_reliably<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    key: Option<&[u8]>,
    payload: &[u8],
    headers: &OwnedHeaders,
) -> Result<(), KafkaError> {
    send_record(producer, topic, key, Some(payload), headers).await
}

/// A record with `key` and no value (a tombstone: compaction drops the key's earlier records),
/// sent like [`send_reliably`].
pub async fn send_tombstone<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    key: &[u8],
) -> Result<(), KafkaError> {
    send_record(producer, topic, Some(key), None, &OwnedHeaders::new()).await
}

async fn send_record<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    headers: &OwnedHeaders,
) -> Result<(), KafkaError> {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers.clone());
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        match producer.send(record, Timeout::Never).await {
            Ok(_) => {
                if SENDS_FAILING.load(Ordering::Relaxed)
                    && SENDS_FAILING.swap(false, Ordering::SeqCst)
                {
                    info!("sends are acknowledged again");
                }
                return Ok(());
            }
            Err((error, _)) if is_permanent(&error) => return Err(error),
            Err((error, _)) => {
                if let Some((code, reason)) = producer.client().fatal_error() {
                    warn!(?code, reason, "the producer hit a fatal error");
                    return Err(error);
                }
                if SENDS_FAILING.swap(true, Ordering::SeqCst) {
                    debug!(%error, topic, "send failed; retrying");
                } else {
                    warn!(%error, topic, "sends failing; retrying until the broker accepts them");
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Hands a record to librdkafka without waiting for the broker, so records enqueued together share
/// batches (awaiting each in turn costs `linger.ms` per record). `None` when librdkafka cannot take
/// it now (its queue is full); [`confirm`] then sends it reliably.
pub fn enqueue<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    key: Option<&[u8]>,
    payload: &[u8],
    headers: &OwnedHeaders,
) -> Option<DeliveryFuture> {
    let mut record = FutureRecord::to(topic)
        .payload(payload)
        .headers(headers.clone());
    if let Some(key) = key {
        record = record.key(key);
    }
    producer.send_result(record).ok()
}

/// Waits for an [`enqueue`]d record's acknowledgement; a record that was not enqueued or not
/// acknowledged goes through [`send_reliably`], with its guarantees and its errors.
pub async fn confirm<C: ClientContext + 'static>(
    enqueued: Option<DeliveryFuture>,
    producer: &FutureProducer<C>,
    topic: &str,
    key: Option<&[u8]>,
    payload: &[u8],
    headers: &OwnedHeaders,
) -> Result<(), KafkaError> {
    if let Some(delivery) = enqueued
        && let Ok(Ok(_)) = delivery.await
    {
        return Ok(());
    }
    send_reliably(producer, topic, key, payload, headers).await
}

/// Sends records that need no handling of their own: all are enqueued before any is awaited.
pub async fn send_all_reliably<C: ClientContext + 'static>(
    producer: &FutureProducer<C>,
    topic: &str,
    records: &[(Vec<u8>, Vec<u8>)],
    headers: &OwnedHeaders,
) -> Result<(), KafkaError> {
    let enqueued: Vec<_> = records
        .iter()
        .map(|(key, payload)| enqueue(producer, topic, Some(key), payload, headers))
        .collect();
    for ((key, payload), delivery) in records.iter().zip(enqueued) {
        confirm(delivery, producer, topic, Some(key), payload, headers).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_of_the_record_itself_are_permanent() {
        let produce = |code| KafkaError::MessageProduction(code);
        assert!(is_permanent(&produce(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(is_permanent(&produce(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
        assert!(!is_permanent(&produce(RDKafkaErrorCode::Unknown)));
        assert!(!is_permanent(&produce(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_permanent(&produce(
            RDKafkaErrorCode::NotLeaderForPartition
        )));
        assert!(!is_permanent(&produce(RDKafkaErrorCode::MessageTimedOut)));
    }
}
