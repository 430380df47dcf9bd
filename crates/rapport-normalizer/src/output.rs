//! What one raw record turns into: Avro interaction records, or one dead-letter record.

use rapport_channels::envelope::{HEADER_SOURCE, HEADER_TENANT};
use rapport_channels::{RawRecord, RecordError};
use rapport_kafka::{DeadLetter, Rejection};
use rapport_model::wire::{Framing, encode};
use rapport_model::{IdentityType, Interaction, RawRef, Source, Timestamp};
use rdkafka::message::{Headers, Message, OwnedHeaders};

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
    /// only a prefix of the original.
    DeadLetter {
        family: &'static str,
        rejection: Rejection,
        reduced: bool,
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

/// Normalizes one raw record. Never fails: what cannot be normalized becomes a DLQ output.
pub fn process<M: Message>(
    config: &NormalizerConfig,
    framing: Framing,
    message: &M,
    now: Timestamp,
) -> Vec<Output> {
    match interactions(config, message, now) {
        Ok(interactions) => interactions
            .iter()
            .map(|i| Output {
                topic: config.topics.interactions.clone(),
                key: Some(key_for(i).into_bytes()),
                payload: encode(i, framing),
                headers: OwnedHeaders::new_with_capacity(3)
                    .insert(rdkafka::message::Header {
                        key: HEADER_TENANT,
                        value: Some(&i.tenant_id),
                    })
                    .insert(rdkafka::message::Header {
                        key: HEADER_SOURCE,
                        value: Some(i.source.as_str()),
                    })
                    .insert(rdkafka::message::Header {
                        key: "rapport-event-id",
                        value: Some(&i.event_id.to_string()),
                    }),
                kind: OutputKind::Interaction { source: i.source },
            })
            .collect(),
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

/// What the raw record's envelope and payload give, under the service's rules (the same
/// function `rapport normalize` calls).
fn interactions<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    now: Timestamp,
) -> Result<Vec<Interaction>, RecordError> {
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
        }
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
