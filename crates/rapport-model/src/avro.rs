use std::sync::LazyLock;

use apache_avro::Schema;
use apache_avro::types::Value;

use crate::{
    Actor, ActorRole, Channel, Direction, Identity, IdentityType, Interaction, InteractionKind,
    RawRef, Source, Threading, Timestamp,
};

/// The Avro schema of `rapport.interactions.v1`, as published in `schemas/avro/`.
pub const INTERACTION_SCHEMA_JSON: &str = include_str!("../../../schemas/avro/interaction.avsc");

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::parse_str(INTERACTION_SCHEMA_JSON).expect("schemas/avro/interaction.avsc is valid Avro")
});

pub fn interaction_schema() -> &'static Schema {
    &SCHEMA
}

#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("avro record does not match the interaction schema: field {field}: {reason}")]
    Shape { field: &'static str, reason: String },
}

fn opt_string(value: &Option<String>) -> Value {
    match value {
        Some(text) => Value::Union(1, Box::new(Value::String(text.clone()))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

fn strings(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::String).collect())
}

/// Builds the Avro value of an interaction by hand rather than through serde, so the JSON form
/// (RFC 3339 timestamps) and the Avro form (`timestamp-millis` longs) can differ.
pub fn to_avro_value(i: &Interaction) -> Value {
    let s = |text: &str| Value::String(text.to_owned());
    Value::Record(vec![
        ("event_id".into(), Value::Uuid(i.event_id)),
        ("tenant_id".into(), s(&i.tenant_id)),
        ("channel".into(), s(i.channel.as_str())),
        ("source".into(), s(i.source.as_str())),
        ("source_event_id".into(), s(&i.source_event_id)),
        ("kind".into(), s(i.kind.as_str())),
        ("direction".into(), s(i.direction.as_str())),
        (
            "actor".into(),
            Value::Record(vec![
                ("role".into(), s(i.actor.role.as_str())),
                ("id".into(), opt_string(&i.actor.id)),
                ("name".into(), opt_string(&i.actor.name)),
            ]),
        ),
        (
            "identities".into(),
            Value::Array(
                i.identities
                    .iter()
                    .map(|id| {
                        Value::Record(vec![
                            ("type".into(), s(id.kind.as_str())),
                            ("value".into(), s(&id.value)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("conversation_id".into(), s(&i.conversation_id)),
        (
            "occurred_at".into(),
            Value::TimestampMillis(i.occurred_at.as_millis()),
        ),
        (
            "received_at".into(),
            Value::TimestampMillis(i.received_at.as_millis()),
        ),
        ("subject".into(), opt_string(&i.subject)),
        ("text".into(), opt_string(&i.text)),
        (
            "rating".into(),
            match i.rating {
                Some(r) => Value::Union(1, Box::new(Value::Int(i32::from(r)))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ),
        ("status".into(), opt_string(&i.status)),
        ("tags".into(), strings(&i.tags)),
        ("language".into(), opt_string(&i.language)),
        ("team".into(), opt_string(&i.team)),
        ("auto_reply".into(), Value::Boolean(i.auto_reply)),
        (
            "attachment_count".into(),
            Value::Int(i32::try_from(i.attachment_count).unwrap_or(i32::MAX)),
        ),
        ("attachment_names".into(), strings(&i.attachment_names)),
        (
            "raw_ref".into(),
            match &i.raw_ref {
                Some(r) => Value::Union(
                    1,
                    Box::new(Value::Record(vec![
                        ("topic".into(), s(&r.topic)),
                        ("partition".into(), Value::Int(r.partition)),
                        ("offset".into(), Value::Long(r.offset)),
                    ])),
                ),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ),
        (
            "threading".into(),
            match &i.threading {
                Some(t) => Value::Union(
                    1,
                    Box::new(Value::Record(vec![
                        ("message_id".into(), s(&t.message_id)),
                        ("in_reply_to".into(), strings(&t.in_reply_to)),
                        ("references".into(), strings(&t.references)),
                    ])),
                ),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ),
    ])
}

struct Fields(Vec<(String, Value)>);

impl Fields {
    fn take(&mut self, field: &'static str) -> Result<Value, AvroError> {
        let pos = self
            .0
            .iter()
            .position(|(name, _)| name == field)
            .ok_or(AvroError::Shape {
                field,
                reason: "missing".into(),
            })?;
        Ok(self.0.swap_remove(pos).1)
    }
}

fn shape(field: &'static str, reason: impl ToString) -> AvroError {
    AvroError::Shape {
        field,
        reason: reason.to_string(),
    }
}

fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

fn as_string(field: &'static str, value: Value) -> Result<String, AvroError> {
    match unwrap_union(value) {
        Value::String(text) => Ok(text),
        Value::Uuid(uuid) => Ok(uuid.to_string()),
        other => Err(shape(field, format!("expected string, got {other:?}"))),
    }
}

fn as_opt_string(field: &'static str, value: Value) -> Result<Option<String>, AvroError> {
    match unwrap_union(value) {
        Value::Null => Ok(None),
        other => as_string(field, other).map(Some),
    }
}

fn as_long(field: &'static str, value: Value) -> Result<i64, AvroError> {
    match unwrap_union(value) {
        Value::Long(n) | Value::TimestampMillis(n) => Ok(n),
        Value::Int(n) => Ok(i64::from(n)),
        other => Err(shape(field, format!("expected long, got {other:?}"))),
    }
}

fn as_record(field: &'static str, value: Value) -> Result<Fields, AvroError> {
    match unwrap_union(value) {
        Value::Record(fields) => Ok(Fields(fields)),
        other => Err(shape(field, format!("expected record, got {other:?}"))),
    }
}

fn as_array(field: &'static str, value: Value) -> Result<Vec<Value>, AvroError> {
    match unwrap_union(value) {
        Value::Array(items) => Ok(items),
        other => Err(shape(field, format!("expected array, got {other:?}"))),
    }
}

fn as_strings(field: &'static str, value: Value) -> Result<Vec<String>, AvroError> {
    as_array(field, value)?
        .into_iter()
        .map(|v| as_string(field, v))
        .collect()
}

fn parsed<T>(
    field: &'static str,
    value: Value,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, AvroError> {
    let text = as_string(field, value)?;
    parse(&text).ok_or_else(|| shape(field, format!("unknown value {text:?}")))
}

/// Reads an interaction back from an Avro value decoded with [`interaction_schema`] (or a
/// compatible writer schema resolved against it).
pub fn from_avro_value(value: Value) -> Result<Interaction, AvroError> {
    let mut f = as_record("interaction", value)?;
    let event_id = match unwrap_union(f.take("event_id")?) {
        Value::Uuid(uuid) => uuid,
        Value::String(text) => text.parse().map_err(|e| shape("event_id", e))?,
        other => return Err(shape("event_id", format!("expected uuid, got {other:?}"))),
    };
    let mut actor = as_record("actor", f.take("actor")?)?;
    let identities = as_array("identities", f.take("identities")?)?
        .into_iter()
        .map(|item| {
            let mut id = as_record("identities", item)?;
            Ok(Identity {
                kind: parsed("identities.type", id.take("type")?, IdentityType::parse)?,
                value: as_string("identities.value", id.take("value")?)?,
            })
        })
        .collect::<Result<Vec<_>, AvroError>>()?;
    let rating = match unwrap_union(f.take("rating")?) {
        Value::Null => None,
        Value::Int(n) => Some(u8::try_from(n).map_err(|e| shape("rating", e))?),
        other => return Err(shape("rating", format!("expected int, got {other:?}"))),
    };
    let raw_ref = match unwrap_union(f.take("raw_ref")?) {
        Value::Null => None,
        other => {
            let mut r = as_record("raw_ref", other)?;
            Some(RawRef {
                topic: as_string("raw_ref.topic", r.take("topic")?)?,
                partition: i32::try_from(as_long("raw_ref.partition", r.take("partition")?)?)
                    .map_err(|e| shape("raw_ref.partition", e))?,
                offset: as_long("raw_ref.offset", r.take("offset")?)?,
            })
        }
    };
    let threading = match unwrap_union(f.take("threading")?) {
        Value::Null => None,
        other => {
            let mut t = as_record("threading", other)?;
            Some(Threading {
                message_id: as_string("threading.message_id", t.take("message_id")?)?,
                in_reply_to: as_strings("threading.in_reply_to", t.take("in_reply_to")?)?,
                references: as_strings("threading.references", t.take("references")?)?,
            })
        }
    };
    Ok(Interaction {
        event_id,
        tenant_id: as_string("tenant_id", f.take("tenant_id")?)?,
        channel: parsed("channel", f.take("channel")?, |t| Channel::parse(t).ok())?,
        source: parsed("source", f.take("source")?, |t| Source::parse(t).ok())?,
        source_event_id: as_string("source_event_id", f.take("source_event_id")?)?,
        kind: parsed("kind", f.take("kind")?, |t| InteractionKind::parse(t).ok())?,
        direction: parsed("direction", f.take("direction")?, |t| {
            Direction::parse(t).ok()
        })?,
        actor: Actor {
            role: parsed("actor.role", actor.take("role")?, |t| {
                ActorRole::parse(t).ok()
            })?,
            id: as_opt_string("actor.id", actor.take("id")?)?,
            name: as_opt_string("actor.name", actor.take("name")?)?,
        },
        identities,
        conversation_id: as_string("conversation_id", f.take("conversation_id")?)?,
        occurred_at: Timestamp::from_millis(as_long("occurred_at", f.take("occurred_at")?)?),
        received_at: Timestamp::from_millis(as_long("received_at", f.take("received_at")?)?),
        subject: as_opt_string("subject", f.take("subject")?)?,
        text: as_opt_string("text", f.take("text")?)?,
        rating,
        status: as_opt_string("status", f.take("status")?)?,
        tags: as_strings("tags", f.take("tags")?)?,
        language: as_opt_string("language", f.take("language")?)?,
        team: as_opt_string("team", f.take("team")?)?,
        auto_reply: matches!(unwrap_union(f.take("auto_reply")?), Value::Boolean(true)),
        attachment_count: u32::try_from(as_long("attachment_count", f.take("attachment_count")?)?)
            .map_err(|e| shape("attachment_count", e))?,
        attachment_names: as_strings("attachment_names", f.take("attachment_names")?)?,
        raw_ref,
        threading,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use apache_avro::{from_avro_datum, to_avro_datum};

    use super::*;
    use crate::event_id;

    pub(crate) fn sample() -> Interaction {
        Interaction {
            event_id: event_id("acme", Source::Zendesk, "35436:1"),
            tenant_id: "acme".into(),
            channel: Channel::Support,
            source: Source::Zendesk,
            source_event_id: "35436:1".into(),
            kind: InteractionKind::Message,
            direction: Direction::Inbound,
            actor: Actor {
                role: ActorRole::Customer,
                id: Some("123".into()),
                name: None,
            },
            identities: vec![Identity::email("Maria@Example.com").unwrap()],
            conversation_id: "zendesk:35436".into(),
            occurred_at: Timestamp::from_millis(1_700_000_000_123),
            received_at: Timestamp::from_millis(1_700_000_001_000),
            subject: Some("Order late".into()),
            text: Some("Where is my order?".into()),
            rating: Some(4),
            status: None,
            tags: vec!["vip".into()],
            language: Some("en".into()),
            team: None,
            auto_reply: false,
            attachment_count: 1,
            attachment_names: vec!["receipt.pdf".into()],
            raw_ref: Some(RawRef {
                topic: "rapport.raw.support".into(),
                partition: 3,
                offset: 42,
            }),
            threading: Some(Threading {
                message_id: "m2@x".into(),
                in_reply_to: vec!["m1@x".into()],
                references: vec!["m0@x".into(), "m1@x".into()],
            }),
        }
    }

    #[test]
    fn avro_round_trip_is_lossless() {
        let original = sample();
        let bytes = to_avro_datum(interaction_schema(), to_avro_value(&original)).unwrap();
        let decoded = from_avro_datum(interaction_schema(), &mut bytes.as_slice(), None).unwrap();
        assert_eq!(from_avro_value(decoded).unwrap(), original);
    }

    #[test]
    fn empty_optionals_round_trip() {
        let mut original = sample();
        original.rating = None;
        original.raw_ref = None;
        original.threading = None;
        original.subject = None;
        original.tags.clear();
        let bytes = to_avro_datum(interaction_schema(), to_avro_value(&original)).unwrap();
        let decoded = from_avro_datum(interaction_schema(), &mut bytes.as_slice(), None).unwrap();
        assert_eq!(from_avro_value(decoded).unwrap(), original);
    }

    #[test]
    fn every_optional_field_has_a_default() {
        let schema: serde_json::Value = serde_json::from_str(INTERACTION_SCHEMA_JSON).unwrap();
        let required = [
            "event_id",
            "tenant_id",
            "channel",
            "source",
            "source_event_id",
            "kind",
            "direction",
            "actor",
            "conversation_id",
            "occurred_at",
            "received_at",
        ];
        for field in schema["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            assert!(
                required.contains(&name) || field.get("default").is_some(),
                "field {name} was added without a default"
            );
        }
    }
}
