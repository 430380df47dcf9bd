//! `generic`: the documented Rapport JSON shape (`"schema": "rapport.generic.v1"`) for any system
//! without its own adapter. Field reference, examples and error codes: `docs/GENERIC.md`.
//!
//! A record is one event object or a batch `{"schema": …, "events": […]}`. Every valid event of
//! a batch yields its interaction; an invalid one (a duplicate `event_id` included) is rejected
//! alone, with its index, as a one-event batch; an empty batch is intentionally skipped (reason
//! `empty_batch`). The producer's
//! `event_id` is the source event id, so a redelivered event keeps its Rapport `event_id`; the
//! producer's `conversation_id` becomes `generic:<conversation_id>`. Unknown fields are
//! rejected (`invalid_value:<path>` naming the unknown field) so typos surface at once.

pub mod payload;

use std::collections::HashSet;

use rapport_model::{
    ActorRole, Channel, Direction, IdentityType, Interaction, InteractionKind, Source,
};
use serde::de::DeserializeOwned;

use self::payload::{Batch, Event, SCHEMA};
use crate::common::identifiers::Identities;
use crate::common::{self, Core, json, text};
use crate::{AdapterError, Context, Outcome, Skip};

const SOURCE: Source = Source::Generic;

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let items = match parse(payload, ctx)? {
        Parsed::Event(event) => return Ok(Outcome::from(vec![build(&event, "", ctx)?])),
        Parsed::Batch(batch) => match whole_batch(&batch, ctx) {
            Some(out) => return Ok(Outcome::or_skip(out, EMPTY_BATCH)),
            // Some event is invalid: read each on its own, from the values.
            None => batch_items(json::parse(payload, ctx.limits)?)?,
        },
        Parsed::Items(value) => batch_items(*value)?,
    };
    let mut seen = HashSet::new();
    let mut outcome = Outcome::default();
    for (index, item) in items.into_iter().enumerate() {
        let path = format!("events[{index}].");
        let read = decode::<Event>(item.clone())
            .map_err(|e| within(&path, e))
            .and_then(|event| {
                check_item(&event, &path, seen.insert(event.event_id.trim().to_owned()))?;
                build(&event, &path, ctx)
            });
        outcome.item(index, read.map(|i| vec![i]), || {
            serde_json::to_vec(&serde_json::json!({"schema": SCHEMA, "events": [item]}))
                .unwrap_or_default()
        });
    }
    if outcome.interactions.is_empty() && outcome.rejected.is_empty() {
        outcome.skipped = Some(EMPTY_BATCH);
    }
    Ok(outcome)
}

/// A batch without events: valid, and documented as carrying nothing.
const EMPTY_BATCH: Skip = Skip::documented("empty_batch");

/// Every event of a batch whose events all parsed, or `None` when one of them is invalid (then
/// the batch is read item by item, and each invalid event is rejected alone).
fn whole_batch(batch: &Batch, ctx: &Context<'_>) -> Option<Vec<Interaction>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(batch.events.len());
    for (index, event) in batch.events.iter().enumerate() {
        let path = format!("events[{index}].");
        check_item(event, &path, seen.insert(event.event_id.trim())).ok()?;
        out.push(build(event, &path, ctx).ok()?);
    }
    Some(out)
}

/// What a batch demands of each event beyond its own shape: a unique id (`fresh`: the first of
/// its id in the batch), and no other schema.
fn check_item(event: &Event, path: &str, fresh: bool) -> Result<(), AdapterError> {
    if event.schema.as_deref().is_some_and(|s| s != SCHEMA) {
        return Err(AdapterError::invalid(
            format!("{path}schema"),
            format!("expected {SCHEMA:?}"),
        ));
    }
    if !fresh {
        return Err(AdapterError::invalid(
            format!("{path}event_id"),
            "duplicate event_id in batch",
        ));
    }
    Ok(())
}

/// The `events` array of a batch, or why it is not one.
fn batch_items(value: serde_json::Value) -> Result<Vec<serde_json::Value>, AdapterError> {
    let serde_json::Value::Object(mut object) = value else {
        return Err(AdapterError::shape("generic", "expected a JSON object"));
    };
    if let Some(key) = object.keys().find(|k| *k != "schema" && *k != "events") {
        return Err(AdapterError::invalid(key.clone(), "unknown field"));
    }
    match object.remove("events") {
        Some(serde_json::Value::Array(items)) => Ok(items),
        _ => Err(AdapterError::invalid(
            "events",
            "expected an array of events",
        )),
    }
}

/// An event's error with its fields named under `events[i].`.
fn within(path: &str, error: AdapterError) -> AdapterError {
    match error {
        AdapterError::MissingField(f) => AdapterError::MissingField(format!("{path}{f}")),
        AdapterError::InvalidValue { field, reason } => AdapterError::InvalidValue {
            field: format!("{path}{field}"),
            reason,
        },
        AdapterError::UnknownShape { reason, .. } => {
            AdapterError::invalid(path.trim_end_matches('.'), reason)
        }
        other => other,
    }
}

enum Parsed {
    Batch(Batch),
    Event(Box<Event>),
    /// A batch with an event that does not parse: read event by event.
    Items(Box<serde_json::Value>),
}

/// The marker and whether the record is a batch, then the typed parse: two passes over the
/// bytes cost less than building a `Value` first. `None` (no marker, another schema, any parse
/// error) sends the payload down the tracked path, which names the error.
fn parse_untracked(payload: &[u8]) -> Option<Parsed> {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        schema: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        events: json::Present,
    }
    let probe: Probe<'_> = json::parse_object_untracked(payload)?;
    if probe.schema.as_deref() != Some(SCHEMA) {
        return None;
    }
    if probe.events.0 {
        json::parse_object_untracked(payload).map(Parsed::Batch)
    } else {
        json::parse_object_untracked(payload).map(|e| Parsed::Event(Box::new(e)))
    }
}

fn parse(payload: &[u8], ctx: &Context<'_>) -> Result<Parsed, AdapterError> {
    json::check(payload, ctx.limits)?;
    if let Some(parsed) = parse_untracked(payload) {
        return Ok(parsed);
    }
    let value: serde_json::Value = json::parse(payload, ctx.limits)?;
    let object = value
        .as_object()
        .ok_or_else(|| AdapterError::shape("generic", "expected a JSON object"))?;
    match object.get("schema") {
        None => {
            return Err(AdapterError::shape(
                "generic",
                format!("no \"schema\": \"{SCHEMA}\" marker"),
            ));
        }
        Some(serde_json::Value::String(s)) if s == SCHEMA => {}
        Some(other) => {
            return Err(AdapterError::invalid(
                "schema",
                format!("unsupported schema {other}, expected {SCHEMA:?}"),
            ));
        }
    }
    if object.contains_key("events") {
        Ok(Parsed::Items(Box::new(value)))
    } else {
        decode(value).map(|e| Parsed::Event(Box::new(e)))
    }
}

/// True when the payload carries the generic schema marker.
pub fn detect(payload: &[u8]) -> bool {
    let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    has(b"\"schema\"") && has(SCHEMA.as_bytes())
}

/// Typed decoding with the codes producers see: a missing field is `missing_field:<path>`, an
/// unknown or mistyped one `invalid_value:<path>`.
fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AdapterError> {
    // The path is only needed for the error: decode untracked first (see `json::parse`).
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let join = |field: &str| {
            if path == "." || path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            }
        };
        let message = err.into_inner().to_string();
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            AdapterError::MissingField(join(field))
        } else if let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
        {
            // The path already ends at the unknown key when serde reports it there.
            let named = if path == field || path.ends_with(&format!(".{field}")) {
                path.clone()
            } else {
                join(field)
            };
            AdapterError::invalid(named, "unknown field")
        } else if path == "." || path.is_empty() {
            AdapterError::shape("generic", message)
        } else {
            AdapterError::invalid(path, message)
        }
    })
}

fn required<'a>(path: &str, field: &str, value: &'a str) -> Result<&'a str, AdapterError> {
    let value = value.trim();
    if value.is_empty() {
        Err(AdapterError::invalid(
            format!("{path}{field}"),
            "must not be empty",
        ))
    } else {
        Ok(value)
    }
}

fn parse_enum<T>(
    path: &str,
    field: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, rapport_model::ParseEnumError>,
) -> Result<T, AdapterError> {
    parse(text.trim()).map_err(|e| AdapterError::invalid(format!("{path}{field}"), e))
}

/// Fills in direction and role from each other and checks they agree: customers only write
/// inbound, everyone else only outbound or internal.
fn direction_and_role(
    event: &Event,
    kind: InteractionKind,
    path: &str,
) -> Result<(Direction, ActorRole), AdapterError> {
    let direction = event
        .direction
        .as_deref()
        .map(|d| parse_enum(path, "direction", d, Direction::parse))
        .transpose()?;
    let role = event
        .actor
        .as_ref()
        .and_then(|a| a.role.as_deref())
        .map(|r| parse_enum(path, "actor.role", r, ActorRole::parse))
        .transpose()?;
    let direction = match (direction, kind, role) {
        (Some(d), _, _) => d,
        (
            None,
            InteractionKind::Note | InteractionKind::StatusChange | InteractionKind::Assignment,
            _,
        ) => Direction::Internal,
        (None, InteractionKind::Review, _) => Direction::Inbound,
        (None, InteractionKind::ReviewReply, _) => Direction::Outbound,
        (None, InteractionKind::Message, Some(ActorRole::Customer)) => Direction::Inbound,
        (None, InteractionKind::Message, Some(ActorRole::Agent | ActorRole::Bot)) => {
            Direction::Outbound
        }
        (None, InteractionKind::Message, _) => {
            return Err(AdapterError::missing(format!("{path}direction")));
        }
    };
    let role = role.unwrap_or(match direction {
        Direction::Inbound => ActorRole::Customer,
        Direction::Outbound => ActorRole::Agent,
        Direction::Internal => ActorRole::System,
    });
    let agrees = match direction {
        Direction::Inbound => role == ActorRole::Customer,
        Direction::Outbound | Direction::Internal => role != ActorRole::Customer,
    };
    if !agrees {
        return Err(AdapterError::invalid(
            format!("{path}actor.role"),
            format!("role {role} cannot write {direction}"),
        ));
    }
    let kind_agrees = match kind {
        InteractionKind::Note | InteractionKind::StatusChange | InteractionKind::Assignment => {
            direction == Direction::Internal
        }
        InteractionKind::Review => direction == Direction::Inbound,
        InteractionKind::ReviewReply => direction == Direction::Outbound,
        InteractionKind::Message => direction != Direction::Internal,
    };
    if !kind_agrees {
        return Err(AdapterError::invalid(
            format!("{path}direction"),
            format!("a {kind} cannot be {direction}"),
        ));
    }
    Ok((direction, role))
}

fn build(event: &Event, path: &str, ctx: &Context<'_>) -> Result<Interaction, AdapterError> {
    let event_id = required(path, "event_id", &event.event_id)?;
    let conversation = required(path, "conversation_id", &event.conversation_id)?;
    let channel = parse_enum(path, "channel", &event.channel, Channel::parse)?;
    let occurred_at = common::rfc3339(&format!("{path}occurred_at"), &event.occurred_at)?;
    let kind = match event.kind.as_deref() {
        Some(k) => parse_enum(path, "kind", k, InteractionKind::parse)?,
        None => InteractionKind::Message,
    };
    if matches!(kind, InteractionKind::Review | InteractionKind::ReviewReply)
        && channel != Channel::Review
    {
        return Err(AdapterError::invalid(
            format!("{path}kind"),
            format!("a {kind} needs channel review"),
        ));
    }
    let (direction, mut role) = direction_and_role(event, kind, path)?;
    let actor = event.actor.as_ref();
    let actor_id = actor.and_then(|a| text::non_empty(a.id.clone()));
    if role == ActorRole::Agent && actor_id.as_deref().is_some_and(|id| ctx.tenant.is_bot(id)) {
        role = ActorRole::Bot;
    }
    let customer = event.customer.as_ref();
    let mut actor_name = actor.and_then(|a| a.name.clone());
    if role == ActorRole::Customer && text::non_empty(actor_name.clone()).is_none() {
        actor_name = customer.and_then(|c| c.name.clone());
    }
    let rating = match &event.rating {
        None => None,
        Some(n) => match n
            .as_u64()
            .and_then(|r| u8::try_from(r).ok())
            .filter(|r| (1..=5).contains(r))
        {
            Some(r) => Some(r),
            None => {
                return Err(AdapterError::invalid(
                    format!("{path}rating"),
                    format!("{n} is not a whole number from 1 to 5"),
                ));
            }
        },
    };
    let status = text::non_empty(event.status.clone());
    if kind == InteractionKind::StatusChange && status.is_none() {
        return Err(AdapterError::missing(format!("{path}status")));
    }

    let mut interaction = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel,
            source_event_id: event_id,
            kind,
            direction,
            actor: common::actor(role, actor_id, actor_name),
            conversation_id: common::conversation_id(SOURCE, conversation),
            occurred_at,
        },
    );
    let mut ids = Identities::new(ctx);
    if let Some(c) = customer {
        ids.email(c.email.as_deref());
        ids.phone(c.phone.as_deref());
        ids.scoped(IdentityType::ExternalId, c.external_id.as_deref());
    }
    interaction.identities = ids.finish();
    interaction.subject = text::non_empty(event.subject.clone());
    interaction.text = match (text::non_empty(event.text.clone()), event.html.as_deref()) {
        (Some(t), _) => Some(text::tidy(&t)),
        (None, Some(html)) => text::non_empty(Some(text::html_to_text(html))),
        (None, None) => None,
    };
    interaction.rating = rating;
    interaction.status = status;
    interaction.tags = event
        .tags
        .iter()
        .filter_map(|t| text::non_empty(Some(t.clone())))
        .collect();
    interaction.language = text::non_empty(event.language.clone());
    interaction.team = text::non_empty(event.team.clone());
    interaction.auto_reply = event.auto_reply;
    interaction.attachment_count = u32::try_from(event.attachments.len()).unwrap_or(u32::MAX);
    interaction.attachment_names = event
        .attachments
        .iter()
        .filter_map(|a| text::non_empty(Some(a.name.clone())))
        .collect();
    Ok(interaction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, TenantConfig};

    fn run(json: &str) -> Result<Vec<Interaction>, AdapterError> {
        let tenant = TenantConfig {
            agent_domains: vec!["acme.com".into()],
            ..Default::default()
        };
        let limits = Limits::default();
        let ctx = Context {
            tenant_id: "acme",
            received_at: rapport_model::Timestamp::from_millis(0),
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        let outcome = normalize(json.as_bytes(), &ctx)?;
        // A batch's first rejected event stands for the batch in these tests.
        match outcome.rejected.into_iter().next() {
            Some(item) => Err(item.error),
            None => Ok(outcome.interactions),
        }
    }

    fn code(json: &str) -> String {
        run(json).unwrap_err().code().to_string()
    }

    const BASE: &str = r#""schema":"rapport.generic.v1","event_id":"e1","channel":"chat","conversation_id":"c1","occurred_at":"2024-05-01T10:00:00Z""#;

    #[test]
    fn direction_follows_from_role_and_kind() {
        let out = run(&format!(r#"{{{BASE},"actor":{{"role":"agent"}}}}"#)).unwrap();
        assert_eq!(out[0].direction, Direction::Outbound);
        let out = run(&format!(r#"{{{BASE},"kind":"note"}}"#)).unwrap();
        assert_eq!(
            (out[0].direction, out[0].actor.role),
            (Direction::Internal, ActorRole::System)
        );
        assert_eq!(code(&format!(r#"{{{BASE}}}"#)), "missing_field:direction");
    }

    #[test]
    fn contradictions_are_rejected() {
        assert_eq!(
            code(&format!(
                r#"{{{BASE},"direction":"inbound","actor":{{"role":"agent"}}}}"#
            )),
            "invalid_value:actor.role"
        );
        assert_eq!(
            code(&format!(
                r#"{{{BASE},"kind":"note","direction":"outbound"}}"#
            )),
            "invalid_value:direction"
        );
        assert_eq!(
            code(&format!(
                r#"{{{BASE},"kind":"review","direction":"inbound"}}"#
            )),
            "invalid_value:kind"
        );
        assert_eq!(
            code(&format!(r#"{{{BASE},"kind":"status_change"}}"#)),
            "missing_field:status"
        );
    }

    #[test]
    fn nested_unknown_field_is_named() {
        assert_eq!(
            code(&format!(
                r#"{{{BASE},"direction":"inbound","customer":{{"mail":"a@b.io"}}}}"#
            )),
            "invalid_value:customer.mail"
        );
    }

    #[test]
    fn ratings_outside_one_to_five_are_rejected() {
        for bad in ["0", "6", "4.5", "-1"] {
            assert_eq!(
                code(&format!(
                    r#"{{{BASE},"direction":"inbound","rating":{bad}}}"#
                )),
                "invalid_value:rating",
                "{bad}"
            );
        }
    }

    #[test]
    fn batch_rejects_duplicate_ids_and_names_the_index() {
        let e = r#"{"event_id":"e1","channel":"chat","conversation_id":"c1","occurred_at":"2024-05-01T10:00:00Z","direction":"inbound"}"#;
        let json = format!(r#"{{"schema":"rapport.generic.v1","events":[{e},{e}]}}"#);
        assert_eq!(code(&json), "invalid_value:events[1].event_id");
        let json = r#"{"schema":"rapport.generic.v1","events":[{"event_id":"x"}]}"#;
        assert_eq!(code(json), "missing_field:events[0].channel");
    }

    #[test]
    fn other_schema_versions_are_rejected() {
        assert_eq!(
            code(r#"{"schema":"rapport.generic.v2"}"#),
            "invalid_value:schema"
        );
        assert_eq!(code(r#"{"event_id":"x"}"#), "unknown_shape");
    }
}
