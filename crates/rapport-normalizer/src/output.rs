//! What one raw record turns into: Avro interaction records, and dead letters: the whole record
//! when it cannot be read, each unreadable item of a list payload on its own, and the record
//! when it gives nothing for a reason its adapter does not document (`ignored:<reason>`). A
//! record that gives nothing for a documented reason is counted
//! (`rapport_normalizer_skipped_total{source, reason}`) and produces nothing.

use rapport_channels::envelope::{HEADER_SOURCE, HEADER_TENANT};
use rapport_channels::{Outcome, RawRecord, RecordError, RejectedItem};
use rapport_kafka::{DeadLetter, Rejection};
use rapport_model::wire::{Framing, encode};
use rapport_model::{IdentityType, Interaction, RawRef, Source, Timestamp};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};

use crate::NormalizerConfig;

/// One record to produce: to the interactions topic, or to the DLQ.
#[derive(Debug)]
pub struct Output {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
    pub kind: OutputKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    Interaction {
        source: Source,
    },
    /// `family` is the code's closed family (the metric label); `reduced` when the payload is
    /// only a prefix of the original; `item` the payload of the one list item the letter is for
    /// (the letter then carries it instead of the whole record).
    DeadLetter {
        family: &'static str,
        rejection: Rejection,
        reduced: bool,
        item: Option<Vec<u8>>,
    },
}

/// The first header named `name` (what every reader of a record takes).
pub fn header<'a, M: Message>(message: &'a M, name: &str) -> Option<&'a [u8]> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value)
}

/// The partition key that keeps one customer's interactions in order: tenant plus the strongest
/// identity the interaction carries (email, then phone, then a source-scoped id), else its
/// conversation.
pub fn key_for(interaction: &Interaction) -> String {
    let rank = |t: IdentityType| match t {
        IdentityType::Email => 0,
        IdentityType::Phone => 1,
        _ => 2,
    };
    match interaction
        .identities
        .iter()
        .min_by_key(|i| (rank(i.kind), i.kind, &i.value))
    {
        Some(identity) => format!("{}/{}", interaction.tenant_id, identity.to_key()),
        None => format!(
            "{}/conversation:{}",
            interaction.tenant_id, interaction.conversation_id
        ),
    }
}

/// Normalizes one raw record. Never fails: what cannot be normalized becomes a DLQ output, so
/// every record is accounted for as interactions, dead letters, or a documented skip.
pub fn process<M: Message>(
    config: &NormalizerConfig,
    framing: Framing,
    message: &M,
    now: Timestamp,
) -> Vec<Output> {
    match outcome(config, message, now) {
        Ok(outcome) => outputs(config, framing, message, outcome, now),
        Err(error) => {
            let family = error.family();
            let rejection = Rejection {
                code: error.code(),
                message: error.to_string(),
            };
            vec![dead_letter(config, message, family, &rejection, now)]
        }
    }
}

fn outputs<M: Message>(
    config: &NormalizerConfig,
    framing: Framing,
    message: &M,
    outcome: Outcome,
    now: Timestamp,
) -> Vec<Output> {
    let mut out: Vec<Output> = outcome
        .interactions
        .iter()
        .map(|i| interaction_output(config, framing, i))
        .collect();
    for item in &outcome.rejected {
        out.push(item_dead_letter(config, message, item, now));
    }
    if let Some(skip) = outcome.skipped {
        let source = outcome.source.map_or("unknown", Source::as_str);
        metrics::counter!(
            "rapport_normalizer_skipped_total",
            "source" => source,
            "reason" => skip.reason,
            "documented" => if skip.documented { "true" } else { "false" },
        )
        .increment(1);
        if !skip.documented {
            let rejection = Rejection {
                code: skip.code(),
                message: format!(
                    "the {source} payload gives no interaction ({})",
                    skip.reason
                ),
            };
            out.push(dead_letter(config, message, "ignored", &rejection, now));
        }
    }
    out
}

fn interaction_output(config: &NormalizerConfig, framing: Framing, i: &Interaction) -> Output {
    Output {
        topic: config.topics.interactions.clone(),
        key: Some(key_for(i).into_bytes()),
        payload: encode(i, framing),
        headers: OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: HEADER_TENANT,
                value: Some(&i.tenant_id),
            })
            .insert(Header {
                key: HEADER_SOURCE,
                value: Some(i.source.as_str()),
            })
            .insert(Header {
                key: "rapport-event-id",
                value: Some(&i.event_id.to_string()),
            }),
        kind: OutputKind::Interaction { source: i.source },
    }
}

/// The dead letter of one item of a list payload: the record's key, headers and origin with the
/// item alone as its payload (so the item can be fixed and replayed on its own), and the item's
/// index in the message.
fn item_dead_letter<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    item: &RejectedItem,
    now: Timestamp,
) -> Output {
    let rejection = Rejection {
        code: item.error.code().to_string(),
        message: format!("item {}: {}", item.index, item.error),
    };
    let letter = DeadLetter::new(
        &item_message(message, &item.payload),
        &rejection,
        &now.to_string(),
        config.kafka.max_message_bytes,
    );
    let family = item.error.family();
    let mut output = output(config, letter, family, &rejection);
    if let OutputKind::DeadLetter { item: slot, .. } = &mut output.kind {
        *slot = Some(item.payload.clone());
    }
    output
}

/// `message` with `payload` in place of its own: what a dead letter of one of its items is made
/// from.
pub fn item_message<M: Message>(message: &M, payload: &[u8]) -> OwnedMessage {
    let headers = message.headers().map(|h| {
        h.iter().fold(OwnedHeaders::new(), |acc, h| {
            acc.insert(Header {
                key: h.key,
                value: h.value,
            })
        })
    });
    OwnedMessage::new(
        Some(payload.to_vec()),
        message.key().map(<[u8]>::to_vec),
        message.topic().to_owned(),
        message.timestamp(),
        message.partition(),
        message.offset(),
        headers,
    )
}

/// What the raw record's envelope and payload give, under the service's rules (the same
/// function `rapport normalize` calls).
fn outcome<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    now: Timestamp,
) -> Result<Outcome, RecordError> {
    let record = RawRecord {
        topic: message.topic(),
        payload: message.payload().unwrap_or_default(),
        timestamp_ms: message.timestamp().to_millis(),
        raw_ref: Some(RawRef {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
        }),
    };
    config
        .rules()
        .read(&record, |name| header(message, name), now)
}

/// The original bytes, key and headers, unchanged, plus where they came from and why they failed
/// (reduced to a prefix and a hash when the whole would not fit a record).
pub fn dead_letter<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    family: &'static str,
    rejection: &Rejection,
    now: Timestamp,
) -> Output {
    let letter = DeadLetter::new(
        message,
        rejection,
        &now.to_string(),
        config.kafka.max_message_bytes,
    );
    output(config, letter, family, rejection)
}

/// The reduced form of a dead letter whose full form the broker refused for its size.
pub fn reduced_dead_letter<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    family: &'static str,
    rejection: &Rejection,
    now: Timestamp,
) -> Output {
    output(
        config,
        DeadLetter::reduced(message, rejection, &now.to_string()),
        family,
        rejection,
    )
}

fn output(
    config: &NormalizerConfig,
    letter: DeadLetter,
    family: &'static str,
    rejection: &Rejection,
) -> Output {
    Output {
        topic: config.topics.dlq.clone(),
        key: letter.key,
        payload: letter.payload,
        headers: letter.headers,
        kind: OutputKind::DeadLetter {
            family,
            rejection: rejection.clone(),
            reduced: letter.reduced,
            item: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use rapport_model::{
        Actor, ActorRole, Channel, Direction, Identity, InteractionKind, event_id,
    };

    use super::*;

    fn interaction(identities: Vec<Identity>) -> Interaction {
        Interaction {
            event_id: event_id("acme", Source::Generic, "1"),
            tenant_id: "acme".into(),
            channel: Channel::Chat,
            source: Source::Generic,
            source_event_id: "1".into(),
            kind: InteractionKind::Message,
            direction: Direction::Inbound,
            actor: Actor {
                role: ActorRole::Customer,
                id: None,
                name: None,
            },
            identities,
            conversation_id: "generic:c1".into(),
            occurred_at: Timestamp::from_millis(0),
            received_at: Timestamp::from_millis(0),
            subject: None,
            text: None,
            rating: None,
            status: None,
            tags: vec![],
            language: None,
            team: None,
            auto_reply: false,
            attachment_count: 0,
            attachment_names: vec![],
            raw_ref: None,
            threading: None,
        }
    }

    fn raw(source: &str, payload: &str) -> OwnedMessage {
        let headers = OwnedHeaders::new().insert(Header {
            key: HEADER_SOURCE,
            value: Some(source),
        });
        OwnedMessage::new(
            Some(payload.as_bytes().to_vec()),
            Some(b"k".to_vec()),
            "rapport.raw.review".into(),
            rdkafka::Timestamp::CreateTime(1_717_000_000_000),
            0,
            7,
            Some(headers),
        )
    }

    /// What one record produced: interactions, and the dead letters' codes and payloads.
    fn accounted(source: &str, payload: &str) -> (usize, Vec<(String, Vec<u8>)>) {
        let config = NormalizerConfig::default();
        let outputs = process(
            &config,
            Framing::SingleObject,
            &raw(source, payload),
            Timestamp::from_millis(1_717_000_000_000),
        );
        let mut interactions = 0;
        let mut letters = Vec::new();
        for o in outputs {
            match o.kind {
                OutputKind::Interaction { .. } => {
                    assert_eq!(o.topic, config.topics.interactions);
                    interactions += 1;
                }
                OutputKind::DeadLetter { rejection, .. } => {
                    assert_eq!(o.topic, config.topics.dlq);
                    letters.push((rejection.code, o.payload));
                }
            }
        }
        (interactions, letters)
    }

    const REVIEW: &str = r#"{"reviewId":"r1","reviewer":{"displayName":"Ana"},"starRating":"FIVE","createTime":"2024-05-01T10:00:00Z"}"#;

    #[test]
    fn every_record_is_stored_dead_lettered_or_a_documented_skip() {
        // A list with one bad review: the good ones are stored, the bad one is dead-lettered
        // alone.
        let bad = r#"{"reviewId":"r2","starRating":"ONE"}"#;
        let list = format!(
            r#"{{"reviews":[{REVIEW},{bad},{}],"totalReviewCount":3}}"#,
            REVIEW.replace("r1", "r3")
        );
        let (stored, letters) = accounted("google", &list);
        assert_eq!(stored, 2);
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].0, "missing_field:reviews[1].createTime");
        let alone: serde_json::Value = serde_json::from_slice(&letters[0].1).unwrap();
        assert_eq!(alone["reviewId"], "r2", "the letter carries the item alone");

        // A notification type the SES adapter does not know: dead-lettered, not dropped.
        let unknown = r#"{"notificationType":"Mystery","mail":{"messageId":"m1"}}"#;
        let (stored, letters) = accounted("ses", unknown);
        assert_eq!(stored, 0);
        assert_eq!(letters[0].0, "ignored:ses_notification_type");
        assert_eq!(letters[0].1, unknown.as_bytes(), "the record whole");

        // A documented skip (Intercom's ping): nothing produced, only counted.
        let ping =
            r#"{"type":"notification_event","topic":"ping","data":{"item":{"type":"ping"}}}"#;
        assert_eq!(accounted("intercom", ping), (0, vec![]));

        // A record nothing can read: one dead letter, whole.
        let (stored, letters) = accounted("google", "{");
        assert_eq!((stored, letters.len()), (0, 1));
        assert_eq!(letters[0].0, "malformed_json");
    }

    #[test]
    fn key_prefers_email_then_phone_then_scoped_ids() {
        let phone = Identity::phone("+14155552671", None).unwrap();
        let email = Identity::email("maria@example.com").unwrap();
        let scoped = Identity::scoped(IdentityType::IntercomContact, "c-1").unwrap();
        assert_eq!(
            key_for(&interaction(vec![scoped.clone(), phone.clone(), email])),
            "acme/email:maria@example.com"
        );
        assert_eq!(
            key_for(&interaction(vec![scoped.clone(), phone])),
            "acme/phone:+14155552671"
        );
        assert_eq!(
            key_for(&interaction(vec![scoped])),
            "acme/intercom_contact:c-1"
        );
        assert_eq!(
            key_for(&interaction(vec![])),
            "acme/conversation:generic:c1"
        );
    }
}
