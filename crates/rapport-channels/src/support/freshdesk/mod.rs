//! Freshdesk tickets and conversations (API v2 objects, see [`payload`]).
//!
//! A Kafka value is one of:
//! * a **ticket** object, as `GET /api/v2/tickets/{id}` returns it, optionally with
//!   `?include=conversations,requester,stats` (recommended: the requester gives the customer's
//!   email and phone, the stats give exact resolve/close/reopen times);
//! * a single **conversation** object, as `GET /api/v2/tickets/{id}/conversations` lists them or
//!   the create-reply/create-note endpoints return them.
//!
//! Freshdesk's automation webhooks post whatever JSON the admin templates, so they have no
//! documented shape; a rule should send one of the API objects above (or the producer fetches it).
//! Arrays (a whole conversation page) are not accepted: send each conversation as its own record.
//! A ticket's embedded `conversations` are read one by one: a conversation that cannot be read
//! is rejected alone, with its index, as a conversation object of its own (its `ticket_id` set),
//! and the ticket's other events still yield their interactions.
//!
//! What comes out:
//! * the ticket's description is the initial message, `ticket:<id>`: inbound from the requester,
//!   or outbound when the ticket was created as an outbound email (`source` 10, agent-created);
//! * each conversation is `conversation:<id>`: `private` → internal note; `incoming` → inbound
//!   message from the customer; a public note (`source` 2) → internal note (Freshdesk does not
//!   send it to the requester); anything else → outbound reply by the agent `user_id` (a bot when
//!   the tenant lists `freshdesk:agent:<user_id>`);
//! * the ticket's current status, when it is not a plain open ticket, is a `status_change`
//!   (`pending`, `resolved`, `closed`, `custom_<n>`; `open` when `stats.reopened_at` says it was
//!   reopened), timed by the matching `stats` field, else `stats.status_updated_at`, else
//!   `updated_at`, with id `ticket:<id>:status:<status>:<epoch ms>`, so a ticket resolved twice
//!   yields two events and a redelivered snapshot the same one.
//!
//! Identities: `freshdesk_contact:<requester_id>` and the requester's email, phone and mobile;
//! an incoming conversation adds its `user_id` and `from_email`; an outbound one without ticket
//! context its `to_emails` (the tenant's own addresses are dropped).

pub mod payload;

use rapport_model::{
    ActorRole, Channel, Direction, IdentityType, Interaction, InteractionKind, Source, Timestamp,
};
use serde::Deserialize;

use self::payload::{Attachment, Conversation, Ticket};
use crate::common::identifiers::Identities;
use crate::common::{self, Core, json, text::non_empty};
use crate::support::shared::{body_text, from_value};
use crate::{AdapterError, Context, Outcome};

const SOURCE: Source = Source::Freshdesk;

/// Outbound email: a ticket an agent created by writing to the customer.
const SOURCE_OUTBOUND_EMAIL: i64 = 10;
/// Conversation source of a note.
const CONVERSATION_NOTE: i64 = 2;

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    match parse(payload, ctx)? {
        Parsed::Conversation(conversation) => {
            let ticket_id = conversation
                .ticket_id
                .ok_or_else(|| AdapterError::missing("ticket_id"))?;
            let customer = Customer::default();
            Ok(Outcome::from(vec![conversation_interaction(
                &conversation,
                ticket_id,
                &customer,
                ctx,
            )?]))
        }
        Parsed::Ticket(t) => ticket(*t, ctx),
    }
}

enum Parsed {
    Conversation(Conversation),
    Ticket(Box<Ticket>),
}

/// Keys that make an object a conversation (checked first) or a ticket.
#[derive(Deserialize)]
struct Keys {
    #[serde(default)]
    incoming: json::Present,
    #[serde(default)]
    ticket_id: json::Present,
    #[serde(default)]
    body_text: json::Present,
    #[serde(default)]
    requester_id: json::Present,
    #[serde(default)]
    description_text: json::Present,
    #[serde(default)]
    description: json::Present,
    #[serde(default)]
    conversations: json::Present,
    #[serde(default)]
    status: json::Present,
}

impl Keys {
    fn is_conversation(&self) -> bool {
        self.incoming.0 || (self.ticket_id.0 && self.body_text.0)
    }

    fn is_ticket(&self) -> bool {
        [
            self.requester_id,
            self.description_text,
            self.description,
            self.conversations,
            self.status,
        ]
        .iter()
        .any(|k| k.0)
    }
}

fn parse(payload: &[u8], ctx: &Context<'_>) -> Result<Parsed, AdapterError> {
    json::check(payload, ctx.limits)?;
    if let Some(parsed) = parse_untracked(payload) {
        return Ok(parsed);
    }
    let value: serde_json::Value = json::parse(payload, ctx.limits)?;
    let object = value.as_object().ok_or_else(|| {
        AdapterError::shape("freshdesk", "expected a ticket or conversation object")
    })?;
    let keys = Keys {
        incoming: json::Present(object.contains_key("incoming")),
        ticket_id: json::Present(object.contains_key("ticket_id")),
        body_text: json::Present(object.contains_key("body_text")),
        requester_id: json::Present(object.contains_key("requester_id")),
        description_text: json::Present(object.contains_key("description_text")),
        description: json::Present(object.contains_key("description")),
        conversations: json::Present(object.contains_key("conversations")),
        status: json::Present(object.contains_key("status")),
    };
    if keys.is_conversation() {
        from_value(value, "").map(Parsed::Conversation)
    } else if keys.is_ticket() {
        from_value(value, "").map(|t| Parsed::Ticket(Box::new(t)))
    } else {
        Err(AdapterError::shape(
            "freshdesk",
            "expected a ticket or conversation object",
        ))
    }
}

/// The keys first, then the typed parse: two passes over the bytes cost less than building a
/// `Value` first. `None` sends the payload down the tracked path, which names the error.
fn parse_untracked(payload: &[u8]) -> Option<Parsed> {
    let keys: Keys = json::parse_object_untracked(payload)?;
    if keys.is_conversation() {
        json::parse_object_untracked(payload).map(Parsed::Conversation)
    } else if keys.is_ticket() {
        json::parse_object_untracked(payload).map(|t| Parsed::Ticket(Box::new(t)))
    } else {
        None
    }
}

/// True for a ticket (numeric `status` and a `requester_id`) or a conversation (`ticket_id`
/// with boolean `incoming` and `private`): a cheap parse of the top-level keys only.
pub fn detect(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        requester_id: Option<serde::de::IgnoredAny>,
        status: Option<serde_json::Number>,
        ticket_id: Option<serde::de::IgnoredAny>,
        incoming: Option<bool>,
        private: Option<bool>,
    }
    let Ok(p) = serde_json::from_slice::<Probe>(payload) else {
        return false;
    };
    (p.requester_id.is_some() && p.status.is_some())
        || (p.ticket_id.is_some() && p.incoming.is_some() && p.private.is_some())
}

fn status_name(status: i64) -> Result<String, AdapterError> {
    Ok(match status {
        2 => "open".into(),
        3 => "pending".into(),
        4 => "resolved".into(),
        5 => "closed".into(),
        n if n > 5 => format!("custom_{n}"),
        n => {
            return Err(AdapterError::invalid(
                "status",
                format!("unknown ticket status {n}"),
            ));
        }
    })
}

fn parse_time(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, AdapterError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => common::rfc3339(field, text).map(Some),
        None => Ok(None),
    }
}

fn attachments(interaction: &mut Interaction, list: &[Attachment]) {
    interaction.attachment_count = u32::try_from(list.len()).unwrap_or(u32::MAX);
    interaction.attachment_names = list
        .iter()
        .filter_map(|a| non_empty(a.name.clone()))
        .collect();
}

/// What the ticket says about its customer, shared by all its interactions.
#[derive(Default)]
struct Customer {
    requester_id: Option<String>,
    name: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
}

impl Customer {
    fn add_to(&self, ids: &mut Identities<'_>) {
        ids.scoped(IdentityType::FreshdeskContact, self.requester_id.as_deref());
        for email in &self.emails {
            ids.email(Some(email));
        }
        for phone in &self.phones {
            ids.phone(Some(phone));
        }
    }
}

fn ticket(ticket: Ticket, ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let status = status_name(ticket.status)?;
    let created_at = common::rfc3339("created_at", &ticket.created_at)?;
    let updated_at = parse_time("updated_at", ticket.updated_at.as_deref())?;
    let customer = Customer {
        requester_id: Some(ticket.requester_id.to_string()),
        name: ticket.requester.as_ref().and_then(|r| r.name.clone()),
        emails: ticket
            .requester
            .as_ref()
            .and_then(|r| r.email.clone())
            .into_iter()
            .collect(),
        phones: ticket
            .requester
            .as_ref()
            .map(|r| {
                [r.phone.clone(), r.mobile.clone()]
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .unwrap_or_default(),
    };
    let subject = non_empty(ticket.subject.clone());
    let team = ticket.group_id.map(|g| g.to_string());
    let mut out = Vec::new();

    let outbound = ticket.source == Some(SOURCE_OUTBOUND_EMAIL);
    let (direction, actor) = if outbound {
        (
            Direction::Outbound,
            common::actor(ActorRole::Agent, None, None),
        )
    } else {
        let name = ticket.requester.as_ref().and_then(|r| r.name.clone());
        (
            Direction::Inbound,
            common::actor(
                ActorRole::Customer,
                Some(ticket.requester_id.to_string()),
                name,
            ),
        )
    };
    let id = format!("ticket:{}", ticket.id);
    let mut first = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel: Channel::Support,
            source_event_id: &id,
            kind: InteractionKind::Message,
            direction,
            actor,
            conversation_id: common::conversation_id(SOURCE, ticket.id),
            occurred_at: created_at,
        },
    );
    let mut ids = Identities::new(ctx);
    customer.add_to(&mut ids);
    if outbound {
        for to in ticket.to_emails.iter().flatten() {
            ids.email(Some(to));
        }
    }
    first.identities = ids.finish();
    first.text = body_text(
        &[ticket.description_text.as_deref()],
        ticket.description.as_deref(),
    );
    attachments(&mut first, &ticket.attachments);
    out.push(first);

    let mut rejected = Outcome::default();
    for (index, value) in ticket.conversations.iter().flatten().enumerate() {
        let path = format!("conversations[{index}]");
        let read = from_value::<Conversation>(value.clone(), &path).and_then(|conversation| {
            conversation_interaction(&conversation, ticket.id, &customer, ctx)
                .map_err(|e| prefix_error(e, &path))
        });
        match read {
            Ok(interaction) => out.push(interaction),
            Err(error) => rejected.item(index, Err(error), || alone(value, ticket.id)),
        }
    }

    if let Some(at) = status_time(&ticket, updated_at)? {
        let id = format!("ticket:{}:status:{status}:{}", ticket.id, at.as_millis());
        let mut change = common::interaction(
            ctx,
            Core {
                source: SOURCE,
                channel: Channel::Support,
                source_event_id: &id,
                kind: InteractionKind::StatusChange,
                direction: Direction::Internal,
                actor: common::actor(ActorRole::System, None, None),
                conversation_id: common::conversation_id(SOURCE, ticket.id),
                occurred_at: at,
            },
        );
        let mut ids = Identities::new(ctx);
        customer.add_to(&mut ids);
        change.identities = ids.finish();
        change.status = Some(status);
        out.push(change);
    }

    for interaction in &mut out {
        interaction.subject.clone_from(&subject);
        interaction.tags.clone_from(&ticket.tags);
        interaction.team.clone_from(&team);
    }
    Ok(Outcome {
        interactions: out,
        ..rejected
    })
}

/// An embedded conversation as a conversation object of its own: what its dead letter carries.
fn alone(conversation: &serde_json::Value, ticket_id: i64) -> Vec<u8> {
    let mut conversation = conversation.clone();
    if let Some(object) = conversation.as_object_mut() {
        object
            .entry("ticket_id")
            .or_insert_with(|| serde_json::Value::from(ticket_id));
    }
    serde_json::to_vec(&conversation).unwrap_or_default()
}

/// When the ticket entered its current status, or `None` for a ticket that is simply open.
fn status_time(
    ticket: &Ticket,
    updated_at: Option<Timestamp>,
) -> Result<Option<Timestamp>, AdapterError> {
    let stats = ticket.stats.as_ref();
    let stat = |name: &str, pick: fn(&payload::Stats) -> Option<&str>| {
        parse_time(&format!("stats.{name}"), stats.and_then(pick))
    };
    let fallback = || -> Result<Option<Timestamp>, AdapterError> {
        Ok(stat("status_updated_at", |s| s.status_updated_at.as_deref())?.or(updated_at))
    };
    Ok(match ticket.status {
        2 => stat("reopened_at", |s| s.reopened_at.as_deref())?,
        3 => match stat("pending_since", |s| s.pending_since.as_deref())? {
            Some(at) => Some(at),
            None => fallback()?,
        },
        4 => match stat("resolved_at", |s| s.resolved_at.as_deref())? {
            Some(at) => Some(at),
            None => fallback()?,
        },
        5 => match stat("closed_at", |s| s.closed_at.as_deref())? {
            Some(at) => Some(at),
            None => fallback()?,
        },
        _ => fallback()?,
    })
}

fn prefix_error(err: AdapterError, prefix: &str) -> AdapterError {
    match err {
        AdapterError::MissingField(f) => AdapterError::MissingField(format!("{prefix}.{f}")),
        AdapterError::InvalidValue { field, reason } => AdapterError::InvalidValue {
            field: format!("{prefix}.{field}"),
            reason,
        },
        other => other,
    }
}

fn conversation_interaction(
    c: &Conversation,
    ticket_id: i64,
    customer: &Customer,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let occurred_at = common::rfc3339("created_at", &c.created_at)?;
    let user_id = c.user_id.map(|u| u.to_string());
    let is_bot = user_id
        .as_deref()
        .is_some_and(|u| ctx.tenant.is_bot(&format!("freshdesk:agent:{u}")))
        || c.from_email
            .as_deref()
            .is_some_and(|e| ctx.tenant.is_bot(e));
    let staff_role = if is_bot {
        ActorRole::Bot
    } else {
        ActorRole::Agent
    };
    let (kind, direction, role) = if c.private {
        let role = if c.incoming {
            ActorRole::Customer
        } else {
            staff_role
        };
        (InteractionKind::Note, Direction::Internal, role)
    } else if c.incoming {
        (
            InteractionKind::Message,
            Direction::Inbound,
            ActorRole::Customer,
        )
    } else if c.source == Some(CONVERSATION_NOTE) {
        (InteractionKind::Note, Direction::Internal, staff_role)
    } else {
        (InteractionKind::Message, Direction::Outbound, staff_role)
    };
    let from_requester =
        role == ActorRole::Customer && user_id.is_some() && user_id == customer.requester_id;
    let id = format!("conversation:{}", c.id);
    let mut interaction = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel: Channel::Support,
            source_event_id: &id,
            kind,
            direction,
            actor: common::actor(
                role,
                user_id.clone(),
                if from_requester {
                    customer.name.clone()
                } else {
                    None
                },
            ),
            conversation_id: common::conversation_id(SOURCE, ticket_id),
            occurred_at,
        },
    );
    let mut ids = Identities::new(ctx);
    if role == ActorRole::Customer {
        ids.scoped(IdentityType::FreshdeskContact, user_id.as_deref());
        ids.email(c.from_email.as_deref());
        if from_requester {
            customer.add_to(&mut ids);
        }
    } else if customer.requester_id.is_some() {
        customer.add_to(&mut ids);
    } else if direction == Direction::Outbound {
        for to in c.to_emails.iter().flatten() {
            ids.email(Some(to));
        }
    }
    interaction.identities = ids.finish();
    interaction.text = body_text(&[c.body_text.as_deref()], c.body.as_deref());
    attachments(&mut interaction, &c.attachments);
    Ok(interaction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, TenantConfig};

    #[test]
    fn a_bad_embedded_conversation_is_rejected_alone_and_replays_on_its_own() {
        let (tenant, limits) = (TenantConfig::default(), Limits::default());
        let ctx = Context {
            tenant_id: "acme",
            received_at: Timestamp::from_millis(0),
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        let ticket = br#"{"id":7,"requester_id":2,"status":2,"created_at":"2024-05-21T08:00:00Z",
            "description_text":"hi","conversations":[
            {"id":1,"incoming":true,"private":false,"body_text":"a","created_at":"2024-05-21T08:10:00Z","ticket_id":7},
            {"id":2,"incoming":true,"private":false,"body_text":"b","created_at":"soon"},
            {"id":3,"incoming":"yes","body_text":"c","created_at":"2024-05-21T08:20:00Z"}]}"#;
        let outcome = normalize(ticket, &ctx).unwrap();
        let ids: Vec<&str> = outcome
            .interactions
            .iter()
            .map(|i| i.source_event_id.as_str())
            .collect();
        assert_eq!(ids, ["ticket:7", "conversation:1"]);
        let codes: Vec<(usize, String)> = outcome
            .rejected
            .iter()
            .map(|r| (r.index, r.error.code().to_string()))
            .collect();
        assert_eq!(
            codes,
            [
                (1, "invalid_value:conversations[1].created_at".to_owned()),
                (2, "invalid_value:conversations[2].incoming".to_owned())
            ]
        );
        // Fixed, the dead letter's payload is a conversation of its own, of the same ticket.
        let fixed = String::from_utf8(outcome.rejected[0].payload.clone())
            .unwrap()
            .replace("soon", "2024-05-21T08:15:00Z");
        let replayed = normalize(fixed.as_bytes(), &ctx).unwrap().interactions;
        assert_eq!(replayed[0].source_event_id, "conversation:2");
        assert_eq!(replayed[0].conversation_id, "freshdesk:7");
    }

    #[test]
    fn status_numbers_map_to_names() {
        assert_eq!(status_name(4).unwrap(), "resolved");
        assert_eq!(status_name(7).unwrap(), "custom_7");
        assert_eq!(
            status_name(1).unwrap_err().code().to_string(),
            "invalid_value:status"
        );
    }

    #[test]
    fn detect_needs_numeric_status_or_conversation_flags() {
        assert!(detect(br#"{"id":1,"requester_id":2,"status":2}"#));
        assert!(detect(
            br#"{"id":1,"ticket_id":2,"incoming":true,"private":false}"#
        ));
        assert!(
            !detect(br#"{"id":1,"requester_id":2,"status":"open"}"#),
            "zendesk-style ticket"
        );
        assert!(!detect(br#"{"audit":{"id":1}}"#));
        assert!(!detect(b"not json"));
    }
}
