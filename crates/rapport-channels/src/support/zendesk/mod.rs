//! Zendesk Support tickets.
//!
//! Reads the **Ticket Audits API** shape (one `audit` or a page of `audits`, see
//! [`payload`]) and, as a second documented shape, the **event webhooks**
//! (`zen:event-type:ticket.comment_added` and `…ticket.status_changed`; every other event type,
//! including `ticket.created`, is a valid payload with no interaction, because its `detail`
//! carries no comment id to deduplicate the first comment against).
//!
//! Audits: each `Comment` event is one interaction (public → message, private → internal note);
//! each `Change` of `status` is a `status_change` carrying the new status (`solved`, `closed`,
//! `open` after `solved` is a reopen). `Create` events, priority, assignee and other changes and
//! unknown event types yield nothing; `Create`/`Change` of `requester_id`, `subject`, `group_id`
//! and `tags` fill in ticket facts when no ticket is side-loaded.
//!
//! **Who wrote a comment.** An audit does not say whether its author is an agent, so a comment
//! needs one of, in this order:
//! 1. the comment was made by a trigger/automation (`via.channel` = `rule`) or by the system
//!    user (`author_id` -1), or the tenant lists `zendesk:user:<id>` as a bot → bot;
//! 2. the author in the `users` side-load (`?include=users`): `end-user` → customer, `agent` or
//!    `admin` → agent;
//! 3. else the ticket's requester (from a side-loaded `ticket`/`tickets`, or a `requester_id`
//!    `Create`/`Change` event in the audit): the requester → customer, anyone else → agent.
//!
//! Without any of these the payload is rejected with `missing_field:users`.
//!
//! A page of audits is read audit by audit: an audit that cannot be read (it does not parse, or
//! its comment's author cannot be placed) is rejected alone, with its index, as an `{"audit": …}`
//! payload with the side-loaded users, tickets and groups it names, and the page's other audits
//! still yield their interactions. Intentionally skipped: event webhooks of other types (reason
//! `other_webhook_event`) and audits without a comment or a status change (reason
//! `no_comment_or_status`).
//!
//! Identities are the customer's: for an inbound comment its author; otherwise the ticket's
//! requester. A user contributes `zendesk_user:<id>` plus the side-loaded email and phone, and an
//! emailed comment its `via.source.from.address`. Agents' identifiers never appear.
//!
//! Source event ids: a comment's id (the same number in audits and in webhooks, so both routes
//! deduplicate); a status change's audit event id; a webhook status change's event `id`.

pub mod payload;

use std::collections::{HashMap, HashSet};

use rapport_model::{
    ActorRole, Channel, Direction, IdentityType, Interaction, InteractionKind, Source, Timestamp,
};
use serde::Deserialize;

use self::payload::{
    Audit, AuditEnvelope, AuditEvent, CommentAdded, StatusChanged, User, Via, WebhookEvent,
};
use crate::common::identifiers::Identities;
use crate::common::{self, Core, json};
use crate::support::shared::{Id, body_text, from_value};
use crate::{AdapterError, Context, Outcome, Skip};

const SOURCE: Source = Source::Zendesk;
pub(crate) const WEBHOOK_PREFIX: &str = "zen:event-type:";

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    match parse(payload, ctx)? {
        Parsed::Webhook(event) => webhook(*event, ctx),
        Parsed::Audits(envelope, mut failed) => {
            let (interactions, unreadable) = audits(&envelope, ctx)?;
            failed.extend(unreadable);
            failed.sort_by_key(|(index, _)| *index);
            let mut outcome = Outcome::from(interactions);
            if !failed.is_empty() {
                let letters = Letters::new(payload);
                for (index, error) in failed {
                    outcome.item(index, Err(error), || letters.audit(index));
                }
            }
            if outcome.interactions.is_empty() && outcome.rejected.is_empty() {
                outcome.skipped = Some(Skip::documented("no_comment_or_status"));
            }
            Ok(outcome)
        }
    }
}

enum Parsed {
    Webhook(Box<WebhookEvent>),
    /// The envelope with the audits that parsed, and the page's audits that did not (by index):
    /// `envelope.audits` then holds `None` where an audit did not parse.
    Audits(Box<AuditEnvelope>, Vec<(usize, AdapterError)>),
}

/// The dead letters of a page's rejected audits: each audit as an `{"audit": …}` payload of its
/// own, with only the side-loaded users, tickets and groups it names (an id anywhere in the audit
/// or in its ticket), so it replays alone and a page of many bad audits costs what the page costs,
/// not the side-loads once per audit. The page is parsed once, and only when an audit failed.
///
/// Many bad audits naming one large ticket would still copy that ticket into every letter
/// (measured: 0.5 MB page 4 s, 2 MB page 60 s and 1.6 GB). So the letters together carry side-loads
/// only up to twice the page's size; past that, a letter holds its audit alone, which keeps the
/// cost linear in the page and the audit's own bytes kept.
struct Letters {
    /// Bytes of side-loads the letters may still copy.
    budget: std::cell::Cell<usize>,
    audits: Vec<serde_json::Value>,
    users: HashMap<String, serde_json::Value>,
    tickets: HashMap<String, serde_json::Value>,
    groups: HashMap<String, serde_json::Value>,
}

impl Letters {
    fn new(payload: &[u8]) -> Self {
        let mut page = match serde_json::from_slice(payload) {
            Ok(serde_json::Value::Object(page)) => page,
            _ => serde_json::Map::new(),
        };
        let mut list = |key: &str| match page.remove(key) {
            Some(serde_json::Value::Array(items)) => items,
            Some(one @ serde_json::Value::Object(_)) => vec![one],
            _ => Vec::new(),
        };
        let audits = list("audits");
        let by_id = |items: Vec<serde_json::Value>| -> HashMap<String, serde_json::Value> {
            items
                .into_iter()
                .filter_map(|item| Some((scalar(item.get("id")?)?, item)))
                .collect()
        };
        let users = by_id(list("users"));
        let groups = by_id(list("groups"));
        let mut tickets = list("tickets");
        tickets.extend(list("ticket"));
        Self {
            budget: std::cell::Cell::new(payload.len().saturating_mul(2)),
            audits,
            users,
            tickets: by_id(tickets),
            groups,
        }
    }

    fn audit(&self, index: usize) -> Vec<u8> {
        let audit = self
            .audits
            .get(index)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if self.budget.get() == 0 {
            let letter = serde_json::json!({
                "audit": audit, "users": [], "tickets": [], "groups": [],
            });
            return serde_json::to_vec(&letter).unwrap_or_default();
        }
        let mut named = HashSet::new();
        scalars(&audit, &mut named);
        let ticket = audit
            .get("ticket_id")
            .and_then(scalar)
            .and_then(|id| self.tickets.get(&id));
        if let Some(ticket) = ticket {
            scalars(ticket, &mut named);
        }
        let pick = |side: &HashMap<String, serde_json::Value>| -> Vec<serde_json::Value> {
            let mut ids: Vec<&String> = named.iter().filter(|id| side.contains_key(*id)).collect();
            ids.sort();
            ids.into_iter()
                .filter_map(|id| side.get(id).cloned())
                .collect()
        };
        let letter = serde_json::json!({
            "audit": audit,
            "users": pick(&self.users),
            "tickets": ticket.into_iter().collect::<Vec<_>>(),
            "groups": pick(&self.groups),
        });
        let bytes = serde_json::to_vec(&letter).unwrap_or_default();
        self.budget
            .set(self.budget.get().saturating_sub(bytes.len()));
        bytes
    }
}

/// An id as text: a string, or a number written out.
fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every string and number in `value`: the ids it may name.
fn scalars(value: &serde_json::Value, out: &mut HashSet<String>) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => stack.extend(map.values()),
            other => out.extend(scalar(other)),
        }
    }
}

/// A page whose audits do not all parse: each audit on its own, the rest of the envelope without
/// them. `None` when the payload is not such a page.
fn audits_one_by_one(mut value: serde_json::Value) -> Option<Result<Parsed, AdapterError>> {
    let object = value.as_object_mut()?;
    let serde_json::Value::Array(items) = object.remove("audits")? else {
        return None;
    };
    let envelope = match from_value::<AuditEnvelope>(value, "") {
        Ok(envelope) => envelope,
        Err(error) => return Some(Err(error)),
    };
    let mut audits = Vec::with_capacity(items.len());
    let mut unreadable = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match from_value::<Audit>(item, &format!("audits[{index}]")) {
            Ok(audit) => audits.push(Some(audit)),
            Err(error) => {
                audits.push(None);
                unreadable.push((index, error));
            }
        }
    }
    Some(Ok(Parsed::Audits(
        Box::new(AuditEnvelope {
            page: Some(audits),
            ..envelope
        }),
        unreadable,
    )))
}

fn parse(payload: &[u8], ctx: &Context<'_>) -> Result<Parsed, AdapterError> {
    json::check(payload, ctx.limits)?;
    // Audits are the primary shape: read one in a single pass when it routes as an audit.
    if let Some(envelope) = json::parse_object_untracked::<AuditEnvelope>(payload)
        && !envelope.webhook_type.0
        && (envelope.audit.is_some() || envelope.audits.is_some())
    {
        return Ok(Parsed::Audits(Box::new(envelope.paged()), Vec::new()));
    }
    if let Some(parsed) = parse_untracked(payload) {
        return Ok(parsed);
    }
    let value: serde_json::Value = json::parse(payload, ctx.limits)?;
    match classify(&value) {
        Some(Shape::Webhook) => from_value(value, "").map(|w| Parsed::Webhook(Box::new(w))),
        Some(Shape::Audits) => match from_value::<AuditEnvelope>(value.clone(), "") {
            Ok(envelope) => Ok(Parsed::Audits(Box::new(envelope.paged()), Vec::new())),
            Err(error) => audits_one_by_one(value).unwrap_or(Err(error)),
        },
        None => Err(AdapterError::shape(
            "zendesk",
            "expected an `audit`, `audits` or a `zen:event-type:` webhook event",
        )),
    }
}

/// The shape routed on the top-level keys, then the typed parse: two passes over the bytes cost
/// less than building a `Value` first. Routes as [`classify`] does; `None` sends the payload
/// down the tracked path, which names the error.
fn parse_untracked(payload: &[u8]) -> Option<Parsed> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        audit: json::Present,
        #[serde(default)]
        audits: json::Present,
    }
    let probe: Probe<'_> = json::parse_object_untracked(payload)?;
    if probe.kind.is_some_and(|k| k.starts_with(WEBHOOK_PREFIX)) {
        json::parse_object_untracked(payload).map(|w| Parsed::Webhook(Box::new(w)))
    } else if probe.audit.0 || probe.audits.0 {
        json::parse_object_untracked::<AuditEnvelope>(payload)
            .map(|e| Parsed::Audits(Box::new(e.paged()), Vec::new()))
    } else {
        None
    }
}

/// True for ticket audits and Zendesk event webhooks: a cheap parse of the top-level keys only.
pub fn detect(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        audit: Option<serde::de::IgnoredAny>,
        audits: Option<serde::de::IgnoredAny>,
    }
    let Ok(probe) = serde_json::from_slice::<Probe<'_>>(payload) else {
        return false;
    };
    probe.audit.is_some()
        || probe.audits.is_some()
        || probe.kind.is_some_and(|k| k.starts_with(WEBHOOK_PREFIX))
}

enum Shape {
    Webhook,
    Audits,
}

fn classify(value: &serde_json::Value) -> Option<Shape> {
    let object = value.as_object()?;
    if object
        .get("type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.starts_with(WEBHOOK_PREFIX))
    {
        Some(Shape::Webhook)
    } else if object.contains_key("audit") || object.contains_key("audits") {
        Some(Shape::Audits)
    } else {
        None
    }
}

fn time_or_received(
    field: &str,
    text: Option<&str>,
    ctx: &Context<'_>,
) -> Result<Timestamp, AdapterError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => common::rfc3339(field, text),
        None => Ok(ctx.received_at),
    }
}

/// The value of a `Create`/`Change` event as text (ids arrive as numbers or strings).
fn value_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn value_list(value: Option<&serde_json::Value>) -> Option<Vec<String>> {
    match value? {
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .map(str::to_owned)
                .collect(),
        ),
        serde_json::Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        _ => None,
    }
}

fn via_channel(via: Option<&Via>) -> Option<&str> {
    via.and_then(|v| v.channel.as_ref())
        .and_then(|c| c.as_str())
}

/// Ticket facts an audit's interactions share.
#[derive(Default)]
struct TicketFacts {
    requester_id: Option<String>,
    subject: Option<String>,
    group_id: Option<String>,
    tags: Vec<String>,
}

struct Sideloads<'a> {
    users: HashMap<&'a str, &'a User>,
    groups: HashMap<&'a str, Option<&'a str>>,
    tickets: HashMap<&'a str, TicketFacts>,
}

/// Audits of a page that could not be read, by index.
type Failed = Vec<(usize, AdapterError)>;

/// The interactions of every audit that parsed, and the page's audits that cannot be normalized
/// (their author's role unknown, a bad time), by index: each is rejected alone.
fn audits(
    envelope: &AuditEnvelope,
    ctx: &Context<'_>,
) -> Result<(Vec<Interaction>, Failed), AdapterError> {
    let mut tickets = HashMap::new();
    for ticket in envelope.tickets.iter().chain(envelope.ticket.as_ref()) {
        tickets.insert(
            ticket.id.0.as_str(),
            TicketFacts {
                requester_id: ticket.requester_id.as_ref().map(|i| i.0.clone()),
                subject: common::text::non_empty(ticket.subject.clone()),
                group_id: ticket.group_id.as_ref().map(|i| i.0.clone()),
                tags: ticket.tags.clone(),
            },
        );
    }
    let side = Sideloads {
        users: envelope
            .users
            .iter()
            .map(|u| (u.id.0.as_str(), u))
            .collect(),
        groups: envelope
            .groups
            .iter()
            .map(|g| (g.id.0.as_str(), g.name.as_deref()))
            .collect(),
        tickets,
    };
    let (mut interactions, mut failed) = (Vec::new(), Vec::new());
    match (&envelope.audit, &envelope.page) {
        (Some(audit), _) => {
            normalize_audit(audit, "audit", &side, ctx, &mut interactions)?;
        }
        (None, Some(page)) => {
            for (index, audit) in page.iter().enumerate() {
                let Some(audit) = audit else { continue };
                let mut out = Vec::new();
                match normalize_audit(audit, &format!("audits[{index}]"), &side, ctx, &mut out) {
                    Ok(()) => interactions.extend(out),
                    Err(error) => failed.push((index, error)),
                }
            }
        }
        (None, None) => return Err(AdapterError::missing("audit")),
    }
    Ok((interactions, failed))
}

/// The ticket facts for one audit: the side-loaded ticket, completed by what the audit's own
/// `Create`/`Change` events set.
fn facts_for(audit: &Audit, side: &Sideloads<'_>) -> TicketFacts {
    let mut facts = match side.tickets.get(audit.ticket_id.0.as_str()) {
        Some(t) => TicketFacts {
            requester_id: t.requester_id.clone(),
            subject: t.subject.clone(),
            group_id: t.group_id.clone(),
            tags: t.tags.clone(),
        },
        None => TicketFacts::default(),
    };
    let known_ticket = side.tickets.contains_key(audit.ticket_id.0.as_str());
    for event in audit
        .events
        .iter()
        .filter(|e| e.kind == "Create" || e.kind == "Change")
    {
        match event.field_name.as_deref() {
            Some("requester_id") if facts.requester_id.is_none() => {
                facts.requester_id = value_text(event.value.as_ref())
            }
            Some("subject") if facts.subject.is_none() => {
                facts.subject = value_text(event.value.as_ref())
            }
            Some("group_id") if !known_ticket => facts.group_id = value_text(event.value.as_ref()),
            Some("tags") if !known_ticket => {
                facts.tags = value_list(event.value.as_ref()).unwrap_or_default()
            }
            _ => {}
        }
    }
    facts
}

fn normalize_audit(
    audit: &Audit,
    path: &str,
    side: &Sideloads<'_>,
    ctx: &Context<'_>,
    out: &mut Vec<Interaction>,
) -> Result<(), AdapterError> {
    let occurred_at = time_or_received(
        &format!("{path}.created_at"),
        audit.created_at.as_deref(),
        ctx,
    )?;
    let facts = facts_for(audit, side);
    let conversation_id = common::conversation_id(SOURCE, &audit.ticket_id);
    let team = facts
        .group_id
        .as_deref()
        .map(|id| match side.groups.get(id) {
            Some(Some(name)) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => id.to_owned(),
        });
    for (index, event) in audit.events.iter().enumerate() {
        let event_path = format!("{path}.events[{index}]");
        let mut interaction = match (event.kind.as_str(), event.field_name.as_deref()) {
            ("Comment", _) => comment(audit, event, &event_path, &facts, side, ctx)?,
            ("Change", Some("status")) => {
                status_change(audit, event, &event_path, &facts, side, ctx)?
            }
            _ => continue,
        };
        interaction.conversation_id.clone_from(&conversation_id);
        interaction.occurred_at = occurred_at;
        interaction.subject.clone_from(&facts.subject);
        interaction.tags.clone_from(&facts.tags);
        interaction.team.clone_from(&team);
        out.push(interaction);
    }
    Ok(())
}

/// The role of a comment's author, by the rules in the module documentation.
fn author_role(
    author_id: Option<&str>,
    via: Option<&str>,
    requester_id: Option<&str>,
    side: &Sideloads<'_>,
    ctx: &Context<'_>,
) -> Option<ActorRole> {
    let user = author_id.and_then(|id| side.users.get(id));
    let bot_listed = author_id.is_some_and(|id| ctx.tenant.is_bot(&format!("zendesk:user:{id}")))
        || user
            .and_then(|u| u.email.as_deref())
            .is_some_and(|e| ctx.tenant.is_bot(e));
    if via == Some("rule") || author_id == Some("-1") || bot_listed {
        return Some(ActorRole::Bot);
    }
    if let Some(role) = user.and_then(|u| u.role.as_deref()) {
        return Some(if role == "end-user" {
            ActorRole::Customer
        } else {
            ActorRole::Agent
        });
    }
    match (author_id, requester_id) {
        (Some(author), Some(requester)) => Some(if author == requester {
            ActorRole::Customer
        } else {
            ActorRole::Agent
        }),
        _ => None,
    }
}

/// Adds a user's identifiers, unless the side-load says the user is staff.
fn add_user(ids: &mut Identities<'_>, user_id: Option<&str>, side: &Sideloads<'_>) {
    let Some(user_id) = user_id else { return };
    let user = side.users.get(user_id);
    if user
        .and_then(|u| u.role.as_deref())
        .is_some_and(|r| r != "end-user")
    {
        return;
    }
    ids.scoped(IdentityType::ZendeskUser, Some(user_id));
    if let Some(user) = user {
        ids.email(user.email.as_deref());
        ids.phone(user.phone.as_deref());
    }
}

fn comment(
    audit: &Audit,
    event: &AuditEvent,
    path: &str,
    facts: &TicketFacts,
    side: &Sideloads<'_>,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let id = event
        .id
        .as_ref()
        .ok_or_else(|| AdapterError::missing(format!("{path}.id")))?;
    let author_id = event
        .author_id
        .as_ref()
        .or(audit.author_id.as_ref())
        .map(|a| a.0.as_str());
    let via = event.via.as_ref().or(audit.via.as_ref());
    let role = author_role(
        author_id,
        via_channel(via),
        facts.requester_id.as_deref(),
        side,
        ctx,
    )
    .ok_or_else(|| AdapterError::missing("users"))?;
    let public = event.public.unwrap_or(true);
    let (kind, direction) = match (public, role) {
        (false, _) => (InteractionKind::Note, Direction::Internal),
        (true, ActorRole::Customer) => (InteractionKind::Message, Direction::Inbound),
        (true, _) => (InteractionKind::Message, Direction::Outbound),
    };
    let name = author_id
        .and_then(|a| side.users.get(a))
        .and_then(|u| u.name.clone());
    let mut interaction = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel: Channel::Support,
            source_event_id: &id.0,
            kind,
            direction,
            actor: common::actor(role, author_id.map(str::to_owned), name),
            conversation_id: String::new(),
            occurred_at: ctx.received_at,
        },
    );
    let mut ids = Identities::new(ctx);
    if role == ActorRole::Customer {
        add_user(&mut ids, author_id, side);
        if via_channel(via) == Some("email") {
            ids.email(
                via.and_then(|v| v.source.as_ref())
                    .and_then(|s| s.from.as_ref())
                    .and_then(|f| f.address.as_deref()),
            );
        }
    } else {
        add_user(&mut ids, facts.requester_id.as_deref(), side);
    }
    interaction.identities = ids.finish();
    interaction.text = body_text(
        &[event.plain_body.as_deref(), event.body.as_deref()],
        event.html_body.as_deref(),
    );
    interaction.attachment_names = event
        .attachments
        .iter()
        .filter_map(|a| common::text::non_empty(a.file_name.clone()))
        .collect();
    interaction.attachment_count = u32::try_from(event.attachments.len()).unwrap_or(u32::MAX);
    Ok(interaction)
}

fn status_change(
    audit: &Audit,
    event: &AuditEvent,
    path: &str,
    facts: &TicketFacts,
    side: &Sideloads<'_>,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let id = event
        .id
        .as_ref()
        .ok_or_else(|| AdapterError::missing(format!("{path}.id")))?;
    let status = value_text(event.value.as_ref())
        .map(|s| s.to_ascii_lowercase())
        .ok_or_else(|| AdapterError::missing(format!("{path}.value")))?;
    let author_id = audit.author_id.as_ref().map(|a| a.0.as_str());
    let via = via_channel(event.via.as_ref().or(audit.via.as_ref()));
    let author = author_role(author_id, via, facts.requester_id.as_deref(), side, ctx);
    // A status the requester's reply or a trigger changed is Zendesk's doing, not a person's.
    let (role, actor_id) = match author {
        Some(ActorRole::Agent) => (ActorRole::Agent, author_id.map(str::to_owned)),
        _ => (ActorRole::System, None),
    };
    let mut interaction = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel: Channel::Support,
            source_event_id: &id.0,
            kind: InteractionKind::StatusChange,
            direction: Direction::Internal,
            actor: common::actor(role, actor_id, None),
            conversation_id: String::new(),
            occurred_at: ctx.received_at,
        },
    );
    let customer = match (facts.requester_id.as_deref(), author) {
        (Some(requester), _) => Some(requester),
        (None, Some(ActorRole::Customer)) => author_id,
        _ => None,
    };
    let mut ids = Identities::new(ctx);
    add_user(&mut ids, customer, side);
    interaction.identities = ids.finish();
    interaction.status = Some(status);
    Ok(interaction)
}

fn webhook(event: WebhookEvent, ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let kind = event
        .kind
        .strip_prefix(WEBHOOK_PREFIX)
        .unwrap_or(&event.kind);
    if kind != "ticket.comment_added" && kind != "ticket.status_changed" {
        return Ok(Outcome::skipped(Skip::documented("other_webhook_event")));
    }
    let detail = event
        .detail
        .as_ref()
        .ok_or_else(|| AdapterError::missing("detail"))?;
    let occurred_at = time_or_received("time", event.time.as_deref(), ctx)?;
    let requester = detail.requester_id.as_ref().map(|r| r.0.as_str());
    let mut interaction = if kind == "ticket.comment_added" {
        let added: CommentAdded = from_value(event.event.clone(), "event")?;
        webhook_comment(&added, requester, ctx)
    } else {
        let changed: StatusChanged = from_value(event.event.clone(), "event")?;
        // The event id is the status change's source event id, which must not be empty.
        if event.id.trim().is_empty() {
            return Err(AdapterError::missing("id"));
        }
        webhook_status(
            &event.id,
            &changed,
            detail.actor_id.as_ref(),
            requester,
            ctx,
        )
    };
    interaction.conversation_id = common::conversation_id(SOURCE, &detail.id);
    interaction.occurred_at = occurred_at;
    interaction.subject = common::text::non_empty(detail.subject.clone());
    interaction.tags.clone_from(&detail.tags);
    interaction.team = detail.group_id.as_ref().map(|g| g.0.clone());
    Ok(Outcome::from(vec![interaction]))
}

fn webhook_comment(
    added: &CommentAdded,
    requester: Option<&str>,
    ctx: &Context<'_>,
) -> Interaction {
    let comment = &added.comment;
    let author = comment.author.as_ref();
    let author_id = author.and_then(|a| a.id.as_ref()).map(|a| a.0.as_str());
    let role = if author_id.is_some_and(|id| ctx.tenant.is_bot(&format!("zendesk:user:{id}"))) {
        ActorRole::Bot
    } else if author.and_then(|a| a.is_staff).unwrap_or(false) {
        ActorRole::Agent
    } else {
        ActorRole::Customer
    };
    let (kind, direction) = match (comment.is_public.unwrap_or(true), role) {
        (false, _) => (InteractionKind::Note, Direction::Internal),
        (true, ActorRole::Customer) => (InteractionKind::Message, Direction::Inbound),
        (true, _) => (InteractionKind::Message, Direction::Outbound),
    };
    let mut interaction = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel: Channel::Support,
            source_event_id: &comment.id.0,
            kind,
            direction,
            actor: common::actor(
                role,
                author_id.map(str::to_owned),
                author.and_then(|a| a.name.clone()),
            ),
            conversation_id: String::new(),
            occurred_at: ctx.received_at,
        },
    );
    let mut ids = Identities::new(ctx);
    let customer = if role == ActorRole::Customer {
        author_id
    } else {
        requester
    };
    ids.scoped(IdentityType::ZendeskUser, customer);
    interaction.identities = ids.finish();
    interaction.text = body_text(&[comment.body.as_deref()], None);
    interaction
}

fn webhook_status(
    event_id: &str,
    changed: &StatusChanged,
    actor_id: Option<&Id>,
    requester: Option<&str>,
    ctx: &Context<'_>,
) -> Interaction {
    let actor_id = actor_id
        .map(|a| a.0.as_str())
        .filter(|a| *a != "-1" && Some(*a) != requester);
    let role = if actor_id.is_some() {
        ActorRole::Agent
    } else {
        ActorRole::System
    };
    let mut interaction = common::interaction(
        ctx,
        Core {
            source: SOURCE,
            channel: Channel::Support,
            source_event_id: event_id,
            kind: InteractionKind::StatusChange,
            direction: Direction::Internal,
            actor: common::actor(role, actor_id.map(str::to_owned), None),
            conversation_id: String::new(),
            occurred_at: ctx.received_at,
        },
    );
    interaction.status =
        Some(changed.current.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let mut ids = Identities::new(ctx);
    ids.scoped(IdentityType::ZendeskUser, requester);
    interaction.identities = ids.finish();
    interaction
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bad audits that all name one large ticket: the letters copy the ticket only while their
    /// side-load budget (twice the page) lasts, so their total size stays linear in the page.
    #[test]
    fn letters_of_many_audits_naming_one_large_ticket_stay_linear_in_the_page() {
        let audits: Vec<serde_json::Value> = (0..400)
            .map(|i| serde_json::json!({"id": 100 + i, "ticket_id": 1, "events": []}))
            .collect();
        let page = serde_json::to_vec(&serde_json::json!({
            "audits": audits,
            "tickets": [{"id": 1, "description": "x".repeat(200_000)}],
        }))
        .unwrap();
        let letters = Letters::new(&page);
        let total: usize = (0..400).map(|i| letters.audit(i).len()).sum();
        assert!(
            total <= 3 * page.len() + 400 * 200,
            "{total} bytes of letters for a page of {}",
            page.len()
        );
        let last: serde_json::Value = serde_json::from_slice(&letters.audit(399)).unwrap();
        assert_eq!(
            last["audit"]["id"], 499,
            "a letter past the budget keeps its audit"
        );
        let first: serde_json::Value =
            serde_json::from_slice(&Letters::new(&page).audit(0)).unwrap();
        assert_eq!(
            first["tickets"][0]["id"], 1,
            "within the budget the ticket comes along"
        );
    }
    use crate::{Limits, TenantConfig};

    #[test]
    fn a_bad_audit_of_a_page_is_dead_lettered_with_only_the_side_loads_it_names() {
        let page = r#"{"audits":[
            {"id":1,"ticket_id":7,"created_at":"2024-05-01T10:00:00Z","author_id":42,
             "events":[{"id":2,"type":"Comment","author_id":42,"body":"hi","public":true}]},
            {"id":3,"ticket_id":8,"created_at":"soon","author_id":43,
             "events":[{"id":4,"type":"Comment","author_id":43,"body":"yo","public":true}]}],
            "users":[{"id":42,"role":"end-user","email":"a@example.com"},
                     {"id":43,"role":"end-user","email":"b@example.com"},
                     {"id":44,"role":"agent","email":"c@acme.com"},
                     {"id":45,"role":"end-user","email":"d@example.com"}],
            "tickets":[{"id":7,"requester_id":42},{"id":8,"requester_id":45}]}"#;
        let (tenant, limits) = (TenantConfig::default(), Limits::default());
        let ctx = Context {
            tenant_id: "t",
            received_at: Timestamp::from_millis(0),
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        let outcome = normalize(page.as_bytes(), &ctx).unwrap();
        assert_eq!(outcome.interactions.len(), 1);
        assert_eq!(outcome.rejected.len(), 1);
        let rejected = &outcome.rejected[0];
        assert_eq!(rejected.index, 1);
        assert_eq!(
            rejected.error.code().to_string(),
            "invalid_value:audits[1].created_at"
        );
        let letter: serde_json::Value = serde_json::from_slice(&rejected.payload).unwrap();
        let ids = |key: &str| -> Vec<u64> {
            letter[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(letter["audit"]["id"], 3);
        assert_eq!(
            ids("users"),
            [43, 45],
            "its author and its ticket's requester"
        );
        assert_eq!(ids("tickets"), [8]);
        // Fixed, it replays alone.
        let fixed = String::from_utf8(rejected.payload.clone())
            .unwrap()
            .replace("soon", "2024-05-01T11:00:00Z");
        let replayed = normalize(fixed.as_bytes(), &ctx).unwrap();
        assert_eq!(replayed.interactions.len(), 1);
        assert_eq!(replayed.interactions[0].source_event_id, "4");
    }

    #[test]
    fn a_webhook_status_change_needs_its_event_id() {
        let event = |id: &str| {
            format!(
                r#"{{"type":"zen:event-type:ticket.status_changed","id":"{id}","time":"2024-05-27T16:45:20Z",
                "detail":{{"id":"5158","requester_id":"1"}},"event":{{"current":"SOLVED","previous":"OPEN"}}}}"#
            )
        };
        let tenant = TenantConfig::default();
        assert_eq!(
            run(&event("e-1"), &tenant).unwrap()[0].source_event_id,
            "e-1"
        );
        let error = run(&event(" "), &tenant).unwrap_err();
        assert_eq!(error.code().to_string(), "missing_field:id");
    }

    fn run(json: &str, tenant: &TenantConfig) -> Result<Vec<Interaction>, AdapterError> {
        let limits = Limits::default();
        let ctx = Context {
            tenant_id: "acme",
            received_at: Timestamp::from_millis(0),
            tenant,
            limits: &limits,
            raw_ref: None,
        };
        let outcome = normalize(json.as_bytes(), &ctx)?;
        match outcome.rejected.into_iter().next() {
            Some(item) => Err(item.error),
            None => Ok(outcome.interactions),
        }
    }

    const AUDIT: &str = r#"{"audit":{"id":1,"ticket_id":7,"created_at":"2024-05-01T10:00:00Z","author_id":42,
        "events":[{"id":2,"type":"Comment","author_id":42,"body":"hi","public":true}]},
        "users":[{"id":42,"role":"end-user","email":"x@example.com"}],"ticket":{"id":7,"requester_id":99}}"#;

    #[test]
    fn users_side_load_wins_over_requester_fallback() {
        // The author is not the requester (a CC'd end-user), yet the side-load says end-user.
        let out = run(AUDIT, &TenantConfig::default()).unwrap();
        assert_eq!(
            (out[0].direction, out[0].actor.role),
            (Direction::Inbound, ActorRole::Customer)
        );
        assert_eq!(
            out[0].identities.len(),
            2,
            "author's id and email, not the requester's"
        );
    }

    #[test]
    fn tenant_listed_bot_user_is_a_bot() {
        let tenant = TenantConfig {
            bot_ids: vec!["zendesk:user:42".into()],
            ..Default::default()
        };
        let out = run(AUDIT, &tenant).unwrap();
        assert_eq!(
            (out[0].direction, out[0].actor.role),
            (Direction::Outbound, ActorRole::Bot)
        );
    }

    #[test]
    fn agent_identifiers_never_become_identities() {
        let json = AUDIT.replace("end-user", "agent");
        let out = run(&json, &TenantConfig::default()).unwrap();
        assert_eq!(out[0].direction, Direction::Outbound);
        assert_eq!(
            out[0]
                .identities
                .iter()
                .map(|i| i.to_key())
                .collect::<Vec<_>>(),
            ["zendesk_user:99"]
        );
    }

    #[test]
    fn private_webhook_comment_is_an_internal_note() {
        let json = r#"{"type":"zen:event-type:ticket.comment_added","id":"e1","time":"2024-05-01T10:00:00Z",
            "detail":{"id":"7","requester_id":"99"},
            "event":{"comment":{"id":"5","body":"note","is_public":false,"author":{"id":"42","is_staff":true}}}}"#;
        let out = run(json, &TenantConfig::default()).unwrap();
        assert_eq!(
            (out[0].kind, out[0].direction),
            (InteractionKind::Note, Direction::Internal)
        );
        assert_eq!(
            out[0].source_event_id, "5",
            "same id as the audit's Comment event"
        );
    }

    #[test]
    fn webhook_without_comment_is_named() {
        let json = r#"{"type":"zen:event-type:ticket.comment_added","id":"e1","detail":{"id":"7"},"event":{}}"#;
        assert_eq!(
            run(json, &TenantConfig::default())
                .unwrap_err()
                .code()
                .to_string(),
            "missing_field:event.comment"
        );
    }

    #[test]
    fn detect_is_specific() {
        assert!(detect(br#"{"audits":[]}"#));
        assert!(detect(br#"{"type":"zen:event-type:user.created"}"#));
        assert!(!detect(br#"{"type":"message.created"}"#));
        assert!(!detect(br#"{"id":1,"requester_id":2,"status":2}"#));
        assert!(!detect(b"\xff\xfe"));
    }
}
