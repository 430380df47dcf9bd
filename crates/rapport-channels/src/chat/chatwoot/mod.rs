//! Chatwoot webhooks to interactions.
//!
//! - `message_created` / `message_updated`: one interaction with event id `{message id}` (an
//!   update is the same message, so it replaces rather than adds). `incoming` is inbound from the
//!   contact; `outgoing` is outbound, role agent for a `user` sender and bot for an agent bot,
//!   any other automated sender, no sender at all (automation rules, campaigns) or a sender the
//!   tenant lists as `chatwoot:<type>:<id>`; `private` messages are internal notes; `template`
//!   messages (CSAT, email collection, greetings) are outbound bot messages marked `auto_reply`;
//!   `activity` messages are Chatwoot's own log lines and yield nothing (the structured status
//!   change arrives as `conversation_status_changed`). An email auto-reply
//!   (`content_attributes.email.auto_reply`) is marked `auto_reply`.
//! - `conversation_status_changed` (and the deprecated `conversation_resolved` /
//!   `conversation_opened`): an internal status change, event id
//!   `{conversation}:status:{status}:{updated_at ms}`, at the conversation's `updated_at`.
//! - `conversation_created`: a status change to the initial status (`{conversation}:created`),
//!   so resolution time can be measured from creation.
//! - `conversation_updated` whose `changed_attributes` include `assignee_id` or `team_id`: an
//!   assignment (`{conversation}:assignment:{updated_at ms}`); other updates yield nothing.
//! - Intentionally skipped (counted, never dead-lettered): every other event Chatwoot sends
//!   (`webwidget_triggered`, `contact_*`, typing, `inbox_*`, deletions; reason `other_event`),
//!   `activity` messages (reason `activity_message`), and `conversation_updated` without an
//!   assignee or team change (reason `conversation_updated_other`). An event name not listed here
//!   is rejected (`unknown_shape`).
//!
//! Conversation ids are Chatwoot's per-account display ids (`chatwoot:{id}`): the account id is
//! missing from conversation events, so a tenant with several Chatwoot accounts needs one
//! tenant id per account. Identities are the conversation's contact (`meta.sender`) and an
//! incoming message's sender: `chatwoot_contact` id, email, phone.

pub mod payload;

use rapport_model::{
    ActorRole, Channel, Direction, IdentityType, Interaction, InteractionKind, Source, Timestamp,
};

use self::payload::{
    Conversation, ConversationEvent, Envelope, MessageEvent, MessageType, Sender, Time,
};
use crate::chat::shared;
use crate::common::identifiers::Identities;
use crate::common::{self, Core, json, text};
use crate::{AdapterError, Context, Outcome, Skip};

const EVENTS: [&str; 16] = [
    "message_created",
    "message_updated",
    "conversation_created",
    "conversation_status_changed",
    "conversation_updated",
    "conversation_resolved",
    "conversation_opened",
    "conversation_typing_on",
    "conversation_typing_off",
    "webwidget_triggered",
    "contact_created",
    "contact_updated",
    "inbox_created",
    "inbox_updated",
    "message_deleted",
    "conversation_deleted",
];

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    read(payload, ctx).map(|(interactions, skip)| Outcome::or_skip(interactions, skip))
}

/// The interactions, and why there are none when there are none.
fn read(payload: &[u8], ctx: &Context<'_>) -> Result<(Vec<Interaction>, Skip), AdapterError> {
    const ACTIVITY: Skip = Skip::documented("activity_message");
    const UPDATED: Skip = Skip::documented("conversation_updated_other");
    json::check(payload, ctx.limits)?;
    // Most deliveries are messages: reading one in a single pass, and routing on the event name
    // it carries, skips the envelope pass. Anything else (conversation events, errors) goes the
    // two-pass way, which also names the error.
    if let Some(event) = json::parse_object_untracked::<MessageEvent>(payload)
        && matches!(
            event.event.as_deref(),
            Some("message_created" | "message_updated")
        )
    {
        return Ok((message(&event, ctx).into_iter().collect(), ACTIVITY));
    }
    if let Some(result) = conversation_untracked(payload, ctx) {
        return Ok((result, UPDATED));
    }
    let envelope: Envelope = json::parse(payload, ctx.limits)?;
    match envelope.event.as_str() {
        "message_created" | "message_updated" => {
            let event: MessageEvent = json::parse(payload, ctx.limits)?;
            Ok((message(&event, ctx).into_iter().collect(), ACTIVITY))
        }
        "conversation_status_changed" | "conversation_resolved" | "conversation_opened" => {
            let event: ConversationEvent = json::parse(payload, ctx.limits)?;
            Ok((vec![status_change(&event.conversation, ctx)], UPDATED))
        }
        "conversation_created" => {
            let event: ConversationEvent = json::parse(payload, ctx.limits)?;
            Ok((vec![created(&event.conversation, ctx)], UPDATED))
        }
        "conversation_updated" => {
            let event: ConversationEvent = json::parse(payload, ctx.limits)?;
            Ok((assignment(&event, ctx).into_iter().collect(), UPDATED))
        }
        other if EVENTS.contains(&other) => Ok((Vec::new(), Skip::documented("other_event"))),
        other => Err(AdapterError::shape(
            "chatwoot",
            format!("unknown event {other:?}"),
        )),
    }
}

/// Conversation events without the flattened [`ConversationEvent`]: `#[serde(flatten)]` buffers
/// the whole object before reading it, so the event name and `changed_attributes` are read in one
/// pass and the conversation, which is the top-level object itself, in a second. `None` sends
/// the payload down the tracked path, which names the error.
fn conversation_untracked(payload: &[u8], ctx: &Context<'_>) -> Option<Vec<Interaction>> {
    #[derive(serde::Deserialize)]
    struct Routing<'a> {
        #[serde(borrow)]
        event: std::borrow::Cow<'a, str>,
        #[serde(default)]
        changed_attributes: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    }
    let routing: Routing<'_> = json::parse_object_untracked(payload)?;
    let name = routing.event.as_ref();
    if !matches!(
        name,
        "conversation_status_changed"
            | "conversation_resolved"
            | "conversation_opened"
            | "conversation_created"
            | "conversation_updated"
    ) {
        return None;
    }
    let event = ConversationEvent {
        conversation: json::parse_object_untracked(payload)?,
        changed_attributes: routing.changed_attributes,
    };
    Some(match name {
        "conversation_created" => vec![created(&event.conversation, ctx)],
        "conversation_updated" => assignment(&event, ctx).into_iter().collect(),
        _ => vec![status_change(&event.conversation, ctx)],
    })
}

/// True for a top-level `"event"` naming a Chatwoot webhook event.
pub fn detect(payload: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        event: Option<String>,
    }
    let needle: &[u8] = b"\"event\"";
    if !payload.windows(needle.len()).any(|w| w == needle) {
        return false;
    }
    serde_json::from_slice::<Probe>(payload)
        .is_ok_and(|p| p.event.is_some_and(|e| EVENTS.contains(&e.as_str())))
}

fn message(event: &MessageEvent, ctx: &Context<'_>) -> Option<Interaction> {
    let sender = event.sender.as_ref();
    let sender_kind = sender.and_then(|s| s.kind.as_deref());
    let agent_role = match (
        sender_kind,
        sender.and_then(|s| shared::real(s.id.as_ref())),
    ) {
        (Some(kind), Some(id)) if ctx.tenant.is_bot(&format!("chatwoot:{kind}:{id}")) => {
            ActorRole::Bot
        }
        (Some("user"), _) => ActorRole::Agent,
        _ => ActorRole::Bot,
    };
    let (kind, direction, role) = match (event.message_type, event.private) {
        (MessageType::Activity, _) => return None,
        (_, true) => (InteractionKind::Note, Direction::Internal, agent_role),
        (MessageType::Incoming, false) => (
            InteractionKind::Message,
            Direction::Inbound,
            ActorRole::Customer,
        ),
        (MessageType::Outgoing, false) => {
            (InteractionKind::Message, Direction::Outbound, agent_role)
        }
        (MessageType::Template, false) => (
            InteractionKind::Message,
            Direction::Outbound,
            ActorRole::Bot,
        ),
    };
    let conversation = &event.conversation;
    let occurred_at = event
        .created_at
        .as_ref()
        .and_then(to_timestamp)
        .unwrap_or(ctx.received_at);
    let actor = common::actor(
        role,
        sender
            .and_then(|s| shared::real(s.id.as_ref()))
            .map(str::to_owned),
        sender.and_then(|s| s.name.clone()),
    );
    let mut i = build(
        ctx,
        event.id.as_str(),
        kind,
        direction,
        actor,
        conversation,
        occurred_at,
    );
    let mut ids = Identities::new(ctx);
    add_contact(
        &mut ids,
        conversation.meta.as_ref().and_then(|m| m.sender.as_ref()),
    );
    if role == ActorRole::Customer {
        add_contact(&mut ids, sender);
    }
    i.identities = ids.finish();

    let email = event
        .content_attributes
        .as_ref()
        .and_then(|c| c.email.as_ref());
    let is_email = conversation.channel.as_deref() == Some("Channel::Email");
    i.text = shared::body_text(event.content.as_deref()).map(|t| {
        if is_email && direction == Direction::Inbound {
            text::strip_quoted(&t)
        } else {
            t
        }
    });
    i.subject = email
        .and_then(|e| text::non_empty(e.subject.clone()))
        .or_else(|| {
            conversation
                .additional_attributes
                .as_ref()
                .and_then(|a| text::non_empty(a.mail_subject.clone()))
        });
    i.auto_reply =
        event.message_type == MessageType::Template || email.is_some_and(|e| e.auto_reply);
    i.attachment_count = u32::try_from(event.attachments.len()).unwrap_or(u32::MAX);
    i.attachment_names = event
        .attachments
        .iter()
        .filter_map(|a| {
            text::non_empty(a.file_name.clone())
                .or_else(|| a.data_url.as_deref().and_then(shared::file_name_from_url))
        })
        .collect();
    Some(i)
}

fn status_change(conversation: &Conversation, ctx: &Context<'_>) -> Interaction {
    let status = conversation
        .status
        .clone()
        .unwrap_or_else(|| "unknown".into());
    let changed_at = conversation
        .updated_at
        .as_ref()
        .or(conversation.timestamp.as_ref())
        .and_then(to_timestamp);
    let id = match changed_at {
        Some(at) => format!(
            "{}:status:{status}:{}",
            conversation.id.as_str(),
            at.as_millis()
        ),
        None => format!("{}:status:{status}", conversation.id.as_str()),
    };
    let mut i = system_event(
        ctx,
        &id,
        InteractionKind::StatusChange,
        conversation,
        changed_at,
    );
    i.status = Some(status);
    i
}

fn created(conversation: &Conversation, ctx: &Context<'_>) -> Interaction {
    let id = format!("{}:created", conversation.id.as_str());
    let at = conversation.created_at.as_ref().and_then(to_timestamp);
    let mut i = system_event(ctx, &id, InteractionKind::StatusChange, conversation, at);
    i.status = conversation.status.clone();
    i
}

fn assignment(event: &ConversationEvent, ctx: &Context<'_>) -> Option<Interaction> {
    let changed = event
        .changed_attributes
        .iter()
        .flatten()
        .any(|c| c.contains_key("assignee_id") || c.contains_key("team_id"));
    if !changed {
        return None;
    }
    let conversation = &event.conversation;
    let at = conversation
        .updated_at
        .as_ref()
        .or(conversation.timestamp.as_ref())
        .and_then(to_timestamp);
    let id = match at {
        Some(at) => format!("{}:assignment:{}", conversation.id.as_str(), at.as_millis()),
        None => format!("{}:assignment", conversation.id.as_str()),
    };
    Some(system_event(
        ctx,
        &id,
        InteractionKind::Assignment,
        conversation,
        at,
    ))
}

/// Conversation events name no actor: they are the system's record of a change.
fn system_event(
    ctx: &Context<'_>,
    id: &str,
    kind: InteractionKind,
    conversation: &Conversation,
    at: Option<Timestamp>,
) -> Interaction {
    let actor = common::actor(ActorRole::System, None, None);
    let mut i = build(
        ctx,
        id,
        kind,
        Direction::Internal,
        actor,
        conversation,
        at.unwrap_or(ctx.received_at),
    );
    let mut ids = Identities::new(ctx);
    add_contact(
        &mut ids,
        conversation.meta.as_ref().and_then(|m| m.sender.as_ref()),
    );
    i.identities = ids.finish();
    i
}

fn build(
    ctx: &Context<'_>,
    id: &str,
    kind: InteractionKind,
    direction: Direction,
    actor: rapport_model::Actor,
    conversation: &Conversation,
    occurred_at: Timestamp,
) -> Interaction {
    let mut i = common::interaction(
        ctx,
        Core {
            source: Source::Chatwoot,
            channel: Channel::Chat,
            source_event_id: id,
            kind,
            direction,
            actor,
            conversation_id: common::conversation_id(Source::Chatwoot, conversation.id.as_str()),
            occurred_at,
        },
    );
    i.tags = conversation
        .labels
        .iter()
        .filter_map(|l| text::non_empty(Some(l.clone())))
        .collect();
    i.team = conversation
        .meta
        .as_ref()
        .and_then(|m| m.team.as_ref())
        .and_then(|t| {
            text::non_empty(t.name.clone())
                .or_else(|| shared::real(t.id.as_ref()).map(str::to_owned))
        });
    i
}

fn add_contact(ids: &mut Identities<'_>, contact: Option<&Sender>) {
    let Some(contact) = contact.filter(|c| c.kind.as_deref().is_none_or(|k| k == "contact")) else {
        return;
    };
    ids.scoped(
        IdentityType::ChatwootContact,
        shared::real(contact.id.as_ref()),
    );
    ids.email(contact.email.as_deref());
    ids.phone(contact.phone_number.as_deref());
}

fn to_timestamp(time: &Time) -> Option<Timestamp> {
    match time {
        Time::Seconds(s) => Some(Timestamp::from_unix_seconds(*s)),
        // Float seconds keep sub-second precision; rounding to ms makes the id stable.
        #[allow(clippy::cast_possible_truncation)]
        Time::Fractional(f) if f.is_finite() => {
            Some(Timestamp::from_millis((f * 1000.0).round() as i64))
        }
        Time::Fractional(_) => None,
        Time::Text(t) => Timestamp::parse_rfc3339(t).or_else(|| {
            let t = t.trim().strip_suffix("UTC")?.trim();
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|dt| Timestamp::from_millis(dt.and_utc().timestamp_millis()))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chatwoot_time_format_is_read() {
        let at = |t: Time| to_timestamp(&t).map(|t| t.to_string());
        assert_eq!(
            at(Time::Text("2021-07-23T18:02:48.000Z".into())).as_deref(),
            Some("2021-07-23T18:02:48.000Z")
        );
        assert_eq!(
            at(Time::Text("2020-03-03 13:05:57 UTC".into())).as_deref(),
            Some("2020-03-03T13:05:57.000Z")
        );
        assert_eq!(
            at(Time::Seconds(1_627_063_369)).as_deref(),
            Some("2021-07-23T18:02:49.000Z")
        );
        assert_eq!(
            at(Time::Fractional(1_627_063_369.256_8)).as_deref(),
            Some("2021-07-23T18:02:49.257Z")
        );
        assert_eq!(at(Time::Text("yesterday".into())), None);
    }

    #[test]
    fn detection_needs_a_known_event_name() {
        assert!(detect(br#"{"event":"message_created","id":1}"#));
        assert!(!detect(br#"{"event":"ticket.created","id":1}"#));
        assert!(!detect(br#"{"type":"notification_event","topic":"ping"}"#));
    }
}
