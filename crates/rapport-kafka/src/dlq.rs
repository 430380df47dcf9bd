//! Dead letters: the original record with why it failed and where it came from, always small
//! enough to be kept, and never carrying headers its sender could have forged.

use rapport_model::bounded;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use sha2::{Digest, Sha256};
use tracing::warn;

/// Why a record could not be processed, as it travels in the dead-letter topic's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable, machine-readable (`malformed_json`, `clickhouse_rejected`, …).
    pub code: String,
    /// For the operator: names the field or repeats the server's words.
    pub message: String,
}

impl Rejection {
    /// The code without what follows its first `:` (`invalid_value:rating` → `invalid_value`):
    /// the closed set that metric labels use, whatever field names a payload brings.
    pub fn family(&self) -> &str {
        self.code.split(':').next().unwrap_or_default()
    }
}

/// The headers the dead-letter path adds to the original record's; `rapport dlq replay` drops
/// exactly these (and any the original carried, which arrive renamed with [`ORIGINAL_PREFIX`]).
pub const DEAD_LETTER_HEADERS: [&str; 8] = [
    "rapport-error-code",
    "rapport-error-message",
    "rapport-origin-topic",
    "rapport-origin-partition",
    "rapport-origin-offset",
    "rapport-dead-lettered-at",
    HEADER_TRUNCATED,
    HEADER_SHA256,
];

/// Set on a dead letter whose payload is only a prefix of the original: the original's size.
pub const HEADER_TRUNCATED: &str = "rapport-payload-truncated";
/// Set with [`HEADER_TRUNCATED`]: the SHA-256 of the whole original payload, hex.
pub const HEADER_SHA256: &str = "rapport-payload-sha256";

/// A record that arrives already carrying one of [`DEAD_LETTER_HEADERS`] keeps it only under this
/// prefix: the dead letter's own origin and error are the ones Rapport wrote, so a producer cannot
/// choose where `rapport dlq replay` sends its payload or which error it is filed under.
pub const ORIGINAL_PREFIX: &str = "original-";

/// How much of the payload a reduced dead letter keeps.
pub const REDUCED_PAYLOAD_BYTES: usize = 64 * 1024;
/// How many bytes of the original headers a reduced dead letter keeps.
const REDUCED_HEADER_BYTES: usize = 64 * 1024;
const CODE_LIMIT: usize = 160;
const MESSAGE_LIMIT: usize = 1024;
/// What a record costs beyond its key, value and headers (record and batch framing), generously.
const RECORD_OVERHEAD: usize = 1024;

/// One dead-letter record, ready to send.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
    /// The payload is a prefix of the original (see [`DeadLetter::reduced`]).
    pub reduced: bool,
}

impl DeadLetter {
    /// The original bytes, key and headers with the rejection and origin, or the
    /// [`reduced`](Self::reduced) form when the whole would exceed `max_record_bytes` (the
    /// producer's `message.max.bytes`).
    pub fn new<M: Message>(
        message: &M,
        rejection: &Rejection,
        at: &str,
        max_record_bytes: usize,
    ) -> Self {
        let payload = message.payload().unwrap_or_default();
        let key = message.key().unwrap_or_default();
        let header_bytes: usize = message.headers().map_or(0, |h| {
            h.iter()
                .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                .sum()
        });
        let size = payload.len() + key.len() + header_bytes + MESSAGE_LIMIT + RECORD_OVERHEAD;
        if size > max_record_bytes {
            return Self::reduced(message, rejection, at);
        }
        Self {
            key: message.key().map(<[u8]>::to_vec),
            payload: payload.to_vec(),
            headers: headers(message, rejection, at, usize::MAX, None),
            reduced: false,
        }
    }

    /// A dead letter that fits any broker: the rejection, the origin and the original headers (up
    /// to 64 KiB of them), the first 64 KiB of the payload, and the whole payload's size and
    /// SHA-256 in [`HEADER_TRUNCATED`] and [`HEADER_SHA256`], so the original can still be found
    /// and matched in the raw topic or at its sender.
    pub fn reduced<M: Message>(message: &M, rejection: &Rejection, at: &str) -> Self {
        let payload = message.payload().unwrap_or_default();
        let digest = Sha256::digest(payload);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let size = payload.len().to_string();
        let key = message
            .key()
            .filter(|k| k.len() <= 1024)
            .map(<[u8]>::to_vec);
        Self {
            key,
            payload: payload[..payload.len().min(REDUCED_PAYLOAD_BYTES)].to_vec(),
            headers: headers(
                message,
                rejection,
                at,
                REDUCED_HEADER_BYTES,
                Some((&size, &hex)),
            ),
            reduced: true,
        }
    }
}

/// The original headers (renaming any of ours, up to `budget` bytes), then the dead letter's own.
fn headers<M: Message>(
    message: &M,
    rejection: &Rejection,
    at: &str,
    budget: usize,
    truncated: Option<(&str, &str)>,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    let mut used = 0usize;
    if let Some(original) = message.headers() {
        for h in original.iter() {
            used += h.key.len() + h.value.map_or(0, <[u8]>::len);
            if used > budget {
                break;
            }
            if DEAD_LETTER_HEADERS.contains(&h.key) {
                headers = headers.insert(Header {
                    key: &format!("{ORIGINAL_PREFIX}{}", h.key),
                    value: h.value,
                });
            } else {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let code = bounded(&rejection.code, CODE_LIMIT);
    let error = bounded(&rejection.message, MESSAGE_LIMIT);
    let values = [
        code.as_ref(),
        error.as_ref(),
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
    if let Some((size, sha256)) = truncated {
        headers = headers
            .insert(Header {
                key: HEADER_TRUNCATED,
                value: Some(size),
            })
            .insert(Header {
                key: HEADER_SHA256,
                value: Some(sha256),
            });
    }
    headers
}

/// The headers of a full dead-letter record (see [`DeadLetter::new`]).
pub fn dead_letter_headers<M: Message>(
    message: &M,
    rejection: &Rejection,
    at: &str,
) -> OwnedHeaders {
    headers(message, rejection, at, usize::MAX, None)
}

/// Whether the broker refused a record for its size: then its [reduced](DeadLetter::reduced)
/// form goes instead.
pub fn is_too_large(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize)
    )
}

/// Produces `message` to the dead-letter topic with the rejection and its origin, retrying
/// through broker outages (see [`crate::send_reliably`]): a record that cannot be processed is
/// never dropped. One too large for the producer or the topic goes in its reduced form.
pub async fn send_dead_letter<C: ClientContext + 'static, M: Message>(
    producer: &FutureProducer<C>,
    dlq_topic: &str,
    message: &M,
    rejection: &Rejection,
    at: &str,
    max_record_bytes: usize,
) -> Result<(), KafkaError> {
    let letter = DeadLetter::new(message, rejection, at, max_record_bytes);
    let sent = crate::send_reliably(
        producer,
        dlq_topic,
        letter.key.as_deref(),
        &letter.payload,
        &letter.headers,
    )
    .await;
    match sent {
        Err(error) if !letter.reduced && is_too_large(&error) => {
            warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(), %error, "dead letter refused for its size; sending its reduced form");
            let letter = DeadLetter::reduced(message, rejection, at);
            crate::send_reliably(
                producer,
                dlq_topic,
                letter.key.as_deref(),
                &letter.payload,
                &letter.headers,
            )
            .await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    fn record(payload: Vec<u8>, headers: OwnedHeaders) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload),
            Some(b"key".to_vec()),
            "rapport.raw.review".into(),
            Timestamp::NotAvailable,
            2,
            40,
            Some(headers),
        )
    }

    fn rejection() -> Rejection {
        Rejection {
            code: "invalid_value:review.text".into(),
            message: "x".repeat(1 << 20),
        }
    }

    fn header<'a>(headers: &'a OwnedHeaders, name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|h| h.key == name)
            .filter_map(|h| std::str::from_utf8(h.value?).ok())
            .collect()
    }

    #[test]
    fn forged_dead_letter_headers_are_kept_only_under_the_original_prefix() {
        let forged = OwnedHeaders::new()
            .insert(Header {
                key: "rapport-origin-topic",
                value: Some("rapport.interactions.v1"),
            })
            .insert(Header {
                key: "rapport-error-code",
                value: Some("publish_failed"),
            })
            .insert(Header {
                key: "rapport-tenant",
                value: Some("acme"),
            });
        let letter = DeadLetter::new(
            &record(b"{}".to_vec(), forged),
            &rejection(),
            "now",
            1 << 20,
        );
        assert_eq!(
            header(&letter.headers, "rapport-origin-topic"),
            ["rapport.raw.review"]
        );
        assert_eq!(
            header(&letter.headers, "rapport-error-code"),
            ["invalid_value:review.text"]
        );
        assert_eq!(
            header(&letter.headers, "original-rapport-origin-topic"),
            ["rapport.interactions.v1"]
        );
        assert_eq!(header(&letter.headers, "rapport-tenant"), ["acme"]);
    }

    #[test]
    fn the_error_message_is_bounded() {
        let letter = DeadLetter::new(
            &record(b"{}".to_vec(), OwnedHeaders::new()),
            &rejection(),
            "now",
            1 << 20,
        );
        let message = header(&letter.headers, "rapport-error-message")[0];
        assert!(message.len() < MESSAGE_LIMIT + 32, "{}", message.len());
    }

    #[test]
    fn a_letter_over_the_record_limit_keeps_a_prefix_its_size_and_its_hash() {
        let payload = vec![b'a'; 3 << 20];
        let letter = DeadLetter::new(
            &record(payload.clone(), OwnedHeaders::new()),
            &rejection(),
            "now",
            1 << 20,
        );
        assert!(letter.reduced);
        assert_eq!(letter.payload, payload[..REDUCED_PAYLOAD_BYTES]);
        assert_eq!(header(&letter.headers, HEADER_TRUNCATED), ["3145728"]);
        let expected: String = Sha256::digest(&payload)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(header(&letter.headers, HEADER_SHA256), [expected.as_str()]);
        assert_eq!(header(&letter.headers, "rapport-origin-offset"), ["40"]);
        let full = DeadLetter::new(
            &record(vec![b'a'; 1000], OwnedHeaders::new()),
            &rejection(),
            "now",
            1 << 20,
        );
        assert!(!full.reduced);
        assert!(header(&full.headers, HEADER_TRUNCATED).is_empty());
    }

    #[test]
    fn the_family_drops_the_field() {
        assert_eq!(rejection().family(), "invalid_value");
        let plain = Rejection {
            code: "too_large".into(),
            message: String::new(),
        };
        assert_eq!(plain.family(), "too_large");
    }
}
