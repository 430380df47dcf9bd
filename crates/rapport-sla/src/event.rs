//! The announcements on `rapport.sla.v1` (`schemas/avro/sla_event.avsc`), their deterministic ids
//! and their two framings (as the interactions topic: Avro single-object encoding, or the
//! Confluent wire format when a Schema Registry is configured).

use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::{Schema, from_avro_datum, to_avro_datum};
use rapport_model::wire::Framing;
use serde::Serialize;
use uuid::Uuid;

/// The schema, as registered under `<topic>-value`.
pub const SLA_EVENT_SCHEMA_JSON: &str = include_str!("../../../schemas/avro/sla_event.avsc");

static SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(SLA_EVENT_SCHEMA_JSON).expect("the bundled schema parses"));

static FINGERPRINT: LazyLock<[u8; 8]> = LazyLock::new(|| {
    SCHEMA
        .fingerprint::<Rabin>()
        .bytes
        .try_into()
        .expect("a Rabin fingerprint is 8 bytes")
});

/// Ids are UUID v5 under this namespace (itself the v5 of the topic's name).
static NAMESPACE: LazyLock<Uuid> =
    LazyLock::new(|| Uuid::new_v5(&Uuid::NAMESPACE_OID, b"rapport.sla.v1"));

pub fn schema() -> &'static Schema {
    &SCHEMA
}

/// What an announcement says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The cycle runs and its at-risk time has come.
    AtRisk,
    /// Its due time came before the clock stopped.
    Breached,
    /// The clock stopped in time.
    Met,
    /// A late or replayed event changed an outcome announced earlier.
    Corrected,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtRisk => "at_risk",
            Self::Breached => "breached",
            Self::Met => "met",
            Self::Corrected => "corrected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::AtRisk, Self::Breached, Self::Met, Self::Corrected]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One announcement. Times are epoch milliseconds, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaEvent {
    pub event_id: Uuid,
    pub kind: Kind,
    pub tenant_id: String,
    pub conversation_id: String,
    pub target: String,
    pub cycle: String,
    pub policy: String,
    pub calendar: String,
    pub channel: String,
    pub team: Option<String>,
    pub agent_id: Option<String>,
    pub target_ms: i64,
    pub started_at_ms: i64,
    pub at_risk_at_ms: Option<i64>,
    pub due_at_ms: Option<i64>,
    pub stopped_at_ms: Option<i64>,
    pub occurred_at_ms: i64,
    pub outcome: Option<String>,
    pub corrects: Option<Uuid>,
    pub emitted_at_ms: i64,
}

/// A record on the topic could not be read as an announcement.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not an sla event: {0}")]
    Framing(&'static str),
    #[error("sla event datum does not decode: {0}")]
    Datum(String),
    #[error("sla event field {0} is missing or has another type")]
    Field(&'static str),
}

/// The id of the announcement of `kind` for one cycle; `discriminator` tells corrections of the
/// same cycle apart (empty for the others, which happen once per cycle).
pub fn event_id(
    tenant_id: &str,
    conversation_id: &str,
    target: &str,
    cycle: &str,
    kind: Kind,
    discriminator: &str,
) -> Uuid {
    // Each part with its length first, so no part can run into the next whatever it contains.
    let mut name = String::new();
    for part in [
        tenant_id,
        conversation_id,
        target,
        cycle,
        kind.as_str(),
        discriminator,
    ] {
        name.push_str(&format!("{}:{part};", part.len()));
    }
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

fn optional(value: Option<Value>) -> Value {
    match value {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(v)),
    }
}

impl SlaEvent {
    fn to_value(&self) -> Value {
        let text = |s: &str| Value::String(s.to_owned());
        let time = Value::TimestampMillis;
        Value::Record(vec![
            ("event_id".into(), Value::Uuid(self.event_id)),
            ("kind".into(), text(self.kind.as_str())),
            ("tenant_id".into(), text(&self.tenant_id)),
            ("conversation_id".into(), text(&self.conversation_id)),
            ("target".into(), text(&self.target)),
            ("cycle".into(), text(&self.cycle)),
            ("policy".into(), text(&self.policy)),
            ("calendar".into(), text(&self.calendar)),
            ("channel".into(), text(&self.channel)),
            ("team".into(), optional(self.team.as_deref().map(text))),
            (
                "agent_id".into(),
                optional(self.agent_id.as_deref().map(text)),
            ),
            ("target_ms".into(), Value::Long(self.target_ms)),
            ("started_at".into(), time(self.started_at_ms)),
            ("at_risk_at".into(), optional(self.at_risk_at_ms.map(time))),
            ("due_at".into(), optional(self.due_at_ms.map(time))),
            ("stopped_at".into(), optional(self.stopped_at_ms.map(time))),
            ("occurred_at".into(), time(self.occurred_at_ms)),
            (
                "outcome".into(),
                optional(self.outcome.as_deref().map(text)),
            ),
            ("corrects".into(), optional(self.corrects.map(Value::Uuid))),
            ("emitted_at".into(), time(self.emitted_at_ms)),
        ])
    }

    /// The record value in `framing`.
    pub fn encode(&self, framing: Framing) -> Vec<u8> {
        let datum = to_avro_datum(schema(), self.to_value())
            .expect("an SlaEvent always matches its own schema");
        let mut out = Vec::with_capacity(datum.len() + 10);
        match framing {
            Framing::SingleObject => {
                out.extend_from_slice(&[0xC3, 0x01]);
                out.extend_from_slice(&*FINGERPRINT);
            }
            Framing::Confluent { schema_id } => {
                out.push(0);
                out.extend_from_slice(&schema_id.to_be_bytes());
            }
        }
        out.extend_from_slice(&datum);
        out
    }

    /// Reads a record value back (either framing; a Confluent one is assumed to carry this
    /// schema).
    pub fn decode(bytes: &[u8]) -> Result<Self, EventError> {
        let datum = match bytes {
            [0xC3, 0x01, rest @ ..] => {
                let (fingerprint, datum) = rest
                    .split_at_checked(8)
                    .ok_or(EventError::Framing("truncated single-object header"))?;
                if fingerprint != FINGERPRINT.as_slice() {
                    return Err(EventError::Framing("another schema's fingerprint"));
                }
                datum
            }
            [0x00, rest @ ..] => rest
                .get(4..)
                .ok_or(EventError::Framing("truncated Confluent header"))?,
            _ => return Err(EventError::Framing("unknown framing")),
        };
        let value = from_avro_datum(schema(), &mut &datum[..], None).map_err(|e| {
            EventError::Datum(
                rapport_model::bounded(&e.to_string(), rapport_model::QUOTE_LIMIT).into_owned(),
            )
        })?;
        let Value::Record(fields) = value else {
            return Err(EventError::Field("record"));
        };
        let get = |name: &'static str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .ok_or(EventError::Field(name))
        };
        let unwrap = |v: &Value| match v {
            Value::Union(_, inner) => (**inner).clone(),
            other => other.clone(),
        };
        let text = |name: &'static str| match unwrap(get(name)?) {
            Value::String(s) => Ok(s),
            _ => Err(EventError::Field(name)),
        };
        let opt_text = |name: &'static str| match unwrap(get(name)?) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(EventError::Field(name)),
        };
        let time = |name: &'static str| match unwrap(get(name)?) {
            Value::TimestampMillis(t) | Value::Long(t) => Ok(t),
            _ => Err(EventError::Field(name)),
        };
        let opt_time = |name: &'static str| match unwrap(get(name)?) {
            Value::Null => Ok(None),
            Value::TimestampMillis(t) | Value::Long(t) => Ok(Some(t)),
            _ => Err(EventError::Field(name)),
        };
        let uuid = |name: &'static str| match unwrap(get(name)?) {
            Value::Null => Ok(None),
            Value::Uuid(u) => Ok(Some(u)),
            Value::String(s) => Uuid::parse_str(&s)
                .map(Some)
                .map_err(|_| EventError::Field(name)),
            _ => Err(EventError::Field(name)),
        };
        Ok(Self {
            event_id: uuid("event_id")?.ok_or(EventError::Field("event_id"))?,
            kind: Kind::parse(&text("kind")?).ok_or(EventError::Field("kind"))?,
            tenant_id: text("tenant_id")?,
            conversation_id: text("conversation_id")?,
            target: text("target")?,
            cycle: text("cycle")?,
            policy: text("policy")?,
            calendar: text("calendar")?,
            channel: text("channel")?,
            team: opt_text("team")?,
            agent_id: opt_text("agent_id")?,
            target_ms: time("target_ms")?,
            started_at_ms: time("started_at")?,
            at_risk_at_ms: opt_time("at_risk_at")?,
            due_at_ms: opt_time("due_at")?,
            stopped_at_ms: opt_time("stopped_at")?,
            occurred_at_ms: time("occurred_at")?,
            outcome: opt_text("outcome")?,
            corrects: uuid("corrects")?,
            emitted_at_ms: time("emitted_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SlaEvent {
        SlaEvent {
            event_id: event_id(
                "acme",
                "email:<t1>",
                "first_response",
                "first",
                Kind::Corrected,
                "1:met",
            ),
            kind: Kind::Corrected,
            tenant_id: "acme".into(),
            conversation_id: "email:<t1>".into(),
            target: "first_response".into(),
            cycle: "first".into(),
            policy: "standard".into(),
            calendar: "office".into(),
            channel: "email".into(),
            team: Some("billing".into()),
            agent_id: None,
            target_ms: 3_600_000,
            started_at_ms: 1_717_405_200_000,
            at_risk_at_ms: Some(1_717_407_900_000),
            due_at_ms: Some(1_717_408_800_000),
            stopped_at_ms: None,
            occurred_at_ms: 1_717_409_000_000,
            outcome: Some("met".into()),
            corrects: Some(event_id(
                "acme",
                "email:<t1>",
                "first_response",
                "first",
                Kind::Breached,
                "",
            )),
            emitted_at_ms: 1_717_409_000_001,
        }
    }

    #[test]
    fn an_event_round_trips_in_both_framings() {
        let event = sample();
        for framing in [Framing::SingleObject, Framing::Confluent { schema_id: 7 }] {
            assert_eq!(SlaEvent::decode(&event.encode(framing)).unwrap(), event);
        }
        assert!(SlaEvent::decode(&[0xC3, 0x01, 1, 2]).is_err());
        assert!(SlaEvent::decode(b"{}").is_err());
    }

    #[test]
    fn ids_are_deterministic_and_tell_every_part_apart() {
        let id = |c: &str, k: Kind, d: &str| event_id("acme", c, "first_response", "first", k, d);
        assert_eq!(id("c", Kind::AtRisk, ""), id("c", Kind::AtRisk, ""));
        assert_ne!(id("c", Kind::AtRisk, ""), id("c", Kind::Breached, ""));
        assert_ne!(
            id("c", Kind::Corrected, "1:met"),
            id("c", Kind::Corrected, "2:met")
        );
        // A part cannot leak into the next one.
        assert_ne!(
            event_id("a", "b\u{1f}c", "t", "x", Kind::Met, ""),
            event_id("a\u{1f}b", "c", "t", "x", Kind::Met, "")
        );
    }
}
