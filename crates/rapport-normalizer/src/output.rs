//! What one raw record turns into: Avro interaction records, or one dead-letter record.

use rapport_channels::{AdapterError, Context, normalize_detected};
use rapport_kafka::{Rejection, dead_letter_headers};
use rapport_model::wire::{Framing, encode};
use rapport_model::{IdentityType, Interaction, RawRef, Source, Timestamp};
use rdkafka::message::{Headers, Message, OwnedHeaders};

use crate::NormalizerConfig;

pub const HEADER_SOURCE: &str = "rapport-source";
pub const HEADER_TENANT: &str = "rapport-tenant";
pub const HEADER_RECEIVED_AT: &str = "rapport-received-at";

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
    Interaction { source: Source },
    DeadLetter { code: String },
}

fn header<'a, M: Message>(message: &'a M, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
        .map(str::trim)
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
        Err(rejection) => vec![dead_letter(config, message, rejection, now)],
    }
}

fn interactions<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    now: Timestamp,
) -> Result<Vec<Interaction>, Rejection> {
    let reject = |code: &str, message: String| Rejection {
        code: code.to_owned(),
        message,
    };
    let source = match header(message, HEADER_SOURCE) {
        Some(name) => Some(
            Source::parse(name)
                .map_err(|e| reject("invalid_header:rapport-source", e.to_string()))?,
        ),
        None => config.default_source(message.topic()),
    };
    let tenant_id = header(message, HEADER_TENANT)
        .filter(|t| !t.is_empty())
        .unwrap_or(&config.tenant_id);
    let received_at = match header(message, HEADER_RECEIVED_AT) {
        Some(text) => Timestamp::parse_rfc3339(text)
            .or_else(|| text.parse().ok().map(Timestamp::from_millis))
            .ok_or_else(|| {
                reject(
                    "invalid_header:rapport-received-at",
                    format!("not an RFC 3339 time or epoch milliseconds: {text:?}"),
                )
            })?,
        None => message
            .timestamp()
            .to_millis()
            .map(Timestamp::from_millis)
            .unwrap_or(now),
    };
    let payload = message.payload().unwrap_or_default();
    let ctx = Context {
        tenant_id,
        received_at,
        tenant: config.tenant_config(tenant_id),
        limits: &config.limits,
        raw_ref: Some(RawRef {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
        }),
    };
    normalize_detected(source, payload, &ctx)
        .map_err(|e: AdapterError| reject(&e.code().to_string(), e.to_string()))
}

/// The original bytes, key and headers, unchanged, plus where they came from and why they failed.
pub fn dead_letter<M: Message>(
    config: &NormalizerConfig,
    message: &M,
    rejection: Rejection,
    now: Timestamp,
) -> Output {
    let headers = dead_letter_headers(message, &rejection, &now.to_string());
    Output {
        topic: config.topics.dlq.clone(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers,
        kind: OutputKind::DeadLetter {
            code: rejection.code,
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
