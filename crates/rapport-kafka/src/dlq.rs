use rdkafka::ClientContext;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureProducer;

/// Why a record could not be processed, as it travels in the dead-letter topic's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable, machine-readable (`malformed_json`, `clickhouse_rejected`, …).
    pub code: String,
    /// For the operator: names the field or repeats the server's words.
    pub message: String,
}

/// The headers the dead-letter path adds to the original record's; `rapport dlq replay` drops
/// exactly these.
pub const DEAD_LETTER_HEADERS: [&str; 6] = [
    "rapport-error-code",
    "rapport-error-message",
    "rapport-origin-topic",
    "rapport-origin-partition",
    "rapport-origin-offset",
    "rapport-dead-lettered-at",
];

/// The headers of a dead-letter record: the original record's headers unchanged, then the error
/// and where the record came from, so `rapport dlq replay` can send it back where it was read.
pub fn dead_letter_headers<M: Message>(
    message: &M,
    rejection: &Rejection,
    at: &str,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for h in original.iter() {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let values = [
        rejection.code.as_str(),
        rejection.message.as_str(),
        message.topic(),
        partition.as_str(),
        offset.as_str(),
        at,
    ];
    for (key, value) in DEAD_LETTER_HEADERS.into_iter().zip(values) {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}

/// Produces `message` unchanged (bytes, key, headers) to the dead-letter topic with the
/// rejection and its origin, retrying through broker outages (see [`crate::send_reliably`]): a
/// record that cannot be processed is never dropped.
pub async fn send_dead_letter<C: ClientContext + 'static, M: Message>(
    producer: &FutureProducer<C>,
    dlq_topic: &str,
    message: &M,
    rejection: &Rejection,
    at: &str,
) -> Result<(), rdkafka::error::KafkaError> {
    let headers = dead_letter_headers(message, rejection, at);
    crate::send_reliably(
        producer,
        dlq_topic,
        message.key(),
        message.payload().unwrap_or_default(),
        &headers,
    )
    .await
}
