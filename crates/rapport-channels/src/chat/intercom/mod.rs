//! Intercom webhook notifications (API v2.x) to interactions.
//!
//! - `conversation.user.created` / `conversation.admin.single.created` yield the conversation's
//!   first message (`source`, event id `{conversation}:source`) plus any parts delivered with it.
//! - The other conversation topics we model (`*.replied`, `admin.noted`, `admin.closed`,
//!   `admin.opened`, `admin.snoozed`, `admin.unsnoozed`, `admin.assigned`,
//!   `admin.open.assigned`, `operator.replied`) yield the parts the notification carries, each
//!   with event id `{conversation}:{part id}`, so a redelivered or overlapping notification
//!   collapses onto the same interactions.
//! - Parts: `comment`/`quick_reply` are messages (a contact is inbound, an admin outbound, a bot
//!   or an admin listed as `intercom:bot:<id>` is role bot); `note` is an internal note;
//!   `close`/`open`/`snoozed`/`unsnoozed` are status changes; `assignment` is an assignment;
//!   `assign_and_reopen` is both a reopen and an assignment (`…:assignment`). Other part types
//!   (attribute updates, participants added, …) are not modelled.
//! - Intentionally skipped (counted, never dead-lettered): `ping` (reason `ping`); the topics of
//!   other objects, `admin.*`, `contact.*`, `user.*`, `visitor.*`, `company.*`, `ticket.*`,
//!   `event.*`, `content_stat.*`, `subscription.*` and `job.*` (reason `other_object`);
//!   `conversation_part.tag.created` and `conversation.deleted` (reason `conversation_metadata`);
//!   a conversation notification whose parts are all of types not modelled (reason
//!   `no_modelled_part`). Any other topic, a `conversation.*` one not listed above included
//!   (ratings, priority, contacts attached), gives nothing as `ignored:unmodelled_topic`, which
//!   the normalizer dead-letters so an operator sees what arrives.
//!
//! Identities are the conversation's contacts (`intercom_contact` id, plus email and phone when
//! the delivery carries them) and every contact author's id and email. `status` is set only on
//! status changes (the conversation's `state` is its state when the notification was sent, not
//! when each part happened). `team` is the conversation's `team_assignee_id`, or the team an
//! assignment part assigned to.

pub mod payload;

use rapport_model::{
    ActorRole, Channel, Direction, Identity, IdentityType, Interaction, InteractionKind, Source,
    Timestamp,
};

use self::payload::{Attachment, Author, Conversation, ConversationNotification, Envelope, Part};
use crate::chat::shared;
use crate::common::identifiers::Identities;
use crate::common::{self, Core, json, text};
use crate::{AdapterError, Context, Outcome, Skip};

/// Topic prefixes of objects other than conversations (Intercom's webhook topics reference).
const OTHER_OBJECTS: [&str; 10] = [
    "admin.",
    "contact.",
    "user.",
    "visitor.",
    "company.",
    "ticket.",
    "event.",
    "content_stat.",
    "subscription.",
    "job.",
];

/// Conversation topics that carry no message, status change or assignment (Intercom's webhook
/// topics reference): a part tagged, a conversation deleted.
const CONVERSATION_METADATA: [&str; 2] = ["conversation_part.tag.created", "conversation.deleted"];

const CONVERSATION_TOPICS: [&str; 12] = [
    "conversation.user.created",
    "conversation.user.replied",
    "conversation.admin.replied",
    "conversation.admin.single.created",
    "conversation.admin.assigned",
    "conversation.admin.open.assigned",
    "conversation.admin.noted",
    "conversation.admin.closed",
    "conversation.admin.opened",
    "conversation.admin.snoozed",
    "conversation.admin.unsnoozed",
    "conversation.operator.replied",
];

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    json::check(payload, ctx.limits)?;
    // Most deliveries are conversation notifications: reading one in a single pass, and routing
    // on what it says, skips the envelope pass. Anything else (pings, other topics, errors) goes
    // the two-pass way, which also names the error.
    if let Some(notification) = json::parse_object_untracked::<ConversationNotification>(payload)
        && notification.kind.as_deref() == Some("notification_event")
        && CONVERSATION_TOPICS.contains(&notification.topic.as_str())
    {
        return Ok(modelled(Normalizer::new(&notification, ctx).run()));
    }
    let envelope: Envelope = json::parse(payload, ctx.limits)?;
    if envelope.kind != "notification_event" {
        return Err(AdapterError::shape(
            "intercom",
            format!("type is {:?}, not \"notification_event\"", envelope.kind),
        ));
    }
    if !CONVERSATION_TOPICS.contains(&envelope.topic.as_str()) {
        let topic = envelope.topic.as_str();
        return Ok(Outcome::skipped(if topic == "ping" {
            Skip::documented("ping")
        } else if OTHER_OBJECTS.iter().any(|p| topic.starts_with(p)) {
            Skip::documented("other_object")
        } else if CONVERSATION_METADATA.contains(&topic) {
            Skip::documented("conversation_metadata")
        } else {
            Skip::ignored("unmodelled_topic")
        }));
    }
    let notification: ConversationNotification = json::parse(payload, ctx.limits)?;
    Ok(modelled(Normalizer::new(&notification, ctx).run()))
}

fn modelled(interactions: Vec<Interaction>) -> Outcome {
    Outcome::or_skip(interactions, Skip::documented("no_modelled_part"))
}

/// True for Intercom's webhook envelope: a top-level `"type": "notification_event"`.
pub fn detect(payload: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: Option<String>,
        topic: Option<String>,
    }
    let needle: &[u8] = b"notification_event";
    if !payload.windows(needle.len()).any(|w| w == needle) {
        return false;
    }
    serde_json::from_slice::<Probe>(payload)
        .is_ok_and(|p| p.kind.as_deref() == Some("notification_event") && p.topic.is_some())
}

struct Normalizer<'a> {
    ctx: &'a Context<'a>,
    notification: &'a ConversationNotification,
    conversation: &'a Conversation,
    conversation_id: String,
    identities: Vec<Identity>,
    tags: Vec<String>,
    team: Option<String>,
}

impl<'a> Normalizer<'a> {
    fn new(notification: &'a ConversationNotification, ctx: &'a Context<'a>) -> Self {
        let conversation = &notification.data.item;
        Self {
            ctx,
            notification,
            conversation,
            conversation_id: common::conversation_id(Source::Intercom, conversation.id.as_str()),
            identities: customer_identities(conversation, ctx),
            tags: conversation
                .tags
                .iter()
                .flat_map(|t| &t.tags)
                .filter_map(|t| text::non_empty(t.name.clone()))
                .collect(),
            team: shared::real(conversation.team_assignee_id.as_ref()).map(str::to_owned),
        }
    }

    fn run(&self) -> Vec<Interaction> {
        let mut out = Vec::new();
        if self.notification.topic.ends_with(".created") {
            out.extend(self.first_message());
        }
        for part in self
            .conversation
            .conversation_parts
            .iter()
            .flat_map(|p| &p.conversation_parts)
        {
            out.extend(self.part(part));
        }
        out
    }

    fn first_message(&self) -> Option<Interaction> {
        let source = self.conversation.source.as_ref()?;
        let (role, direction) = match author_role(source.author.as_ref(), self.ctx) {
            ActorRole::Customer => (ActorRole::Customer, Direction::Inbound),
            ActorRole::Agent if source.delivered_as.as_deref() == Some("automated") => {
                (ActorRole::Bot, Direction::Outbound)
            }
            role => (role, Direction::Outbound),
        };
        let occurred_at = self.time(self.conversation.created_at);
        let mut i = self.build(
            &format!("{}:source", self.conversation.id.as_str()),
            InteractionKind::Message,
            direction,
            role,
            source.author.as_ref(),
            occurred_at,
        );
        i.subject = shared::body_text(source.subject.as_deref())
            .or_else(|| text::non_empty(self.conversation.title.clone()));
        i.text = shared::body_text(source.body.as_deref());
        attachments(&mut i, &source.attachments);
        Some(i)
    }

    fn part(&self, part: &Part) -> Vec<Interaction> {
        let id = format!("{}:{}", self.conversation.id.as_str(), part.id.as_str());
        let occurred_at = Timestamp::from_unix_seconds(part.created_at);
        let author = part.author.as_ref();
        let role = author_role(author, self.ctx);
        let internal_role = if role == ActorRole::Customer {
            ActorRole::Customer
        } else {
            role
        };
        let status = |status: &str| {
            let mut i = self.build(
                &id,
                InteractionKind::StatusChange,
                Direction::Internal,
                internal_role,
                author,
                occurred_at,
            );
            i.status = Some(status.to_owned());
            i
        };
        match part.part_type.as_str() {
            "comment" | "quick_reply" => {
                let direction = if role == ActorRole::Customer {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                };
                let mut i = self.build(
                    &id,
                    InteractionKind::Message,
                    direction,
                    role,
                    author,
                    occurred_at,
                );
                i.text = shared::body_text(part.body.as_deref());
                attachments(&mut i, &part.attachments);
                vec![i]
            }
            "note" | "note_and_reopen" => {
                let mut i = self.build(
                    &id,
                    InteractionKind::Note,
                    Direction::Internal,
                    internal_role,
                    author,
                    occurred_at,
                );
                i.text = shared::body_text(part.body.as_deref());
                attachments(&mut i, &part.attachments);
                vec![i]
            }
            "close" => vec![status("closed")],
            "open" => vec![status("open")],
            "snoozed" => vec![status("snoozed")],
            "unsnoozed" | "timer_unsnooze" => vec![status("open")],
            "assignment" | "away_mode_assignment" | "default_assignment" => {
                vec![self.assignment(&id, part, internal_role, occurred_at)]
            }
            "assign_and_reopen" => {
                vec![
                    status("open"),
                    self.assignment(
                        &format!("{id}:assignment"),
                        part,
                        internal_role,
                        occurred_at,
                    ),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn assignment(
        &self,
        id: &str,
        part: &Part,
        role: ActorRole,
        occurred_at: Timestamp,
    ) -> Interaction {
        let mut i = self.build(
            id,
            InteractionKind::Assignment,
            Direction::Internal,
            role,
            part.author.as_ref(),
            occurred_at,
        );
        if let Some(target) = &part.assigned_to
            && target.kind.as_deref() == Some("team")
            && let Some(team) = shared::real(target.id.as_ref())
        {
            i.team = Some(team.to_owned());
        }
        i.text = shared::body_text(part.body.as_deref());
        i
    }

    fn build(
        &self,
        id: &str,
        kind: InteractionKind,
        direction: Direction,
        role: ActorRole,
        author: Option<&Author>,
        occurred_at: Timestamp,
    ) -> Interaction {
        let actor = common::actor(
            role,
            author
                .and_then(|a| shared::real(a.id.as_ref()))
                .map(str::to_owned),
            author.and_then(|a| a.name.clone()),
        );
        let mut i = common::interaction(
            self.ctx,
            Core {
                source: Source::Intercom,
                channel: Channel::Chat,
                source_event_id: id,
                kind,
                direction,
                actor,
                conversation_id: self.conversation_id.clone(),
                occurred_at,
            },
        );
        i.identities = self.identities.clone();
        i.tags = self.tags.clone();
        i.team = self.team.clone();
        i
    }

    fn time(&self, seconds: Option<i64>) -> Timestamp {
        seconds
            .or(self.notification.created_at)
            .map_or(self.ctx.received_at, Timestamp::from_unix_seconds)
    }
}

/// `System` when nobody is named; a bot when Intercom says so or the tenant lists the id.
fn author_role(author: Option<&Author>, ctx: &Context<'_>) -> ActorRole {
    let Some(author) = author else {
        return ActorRole::System;
    };
    let listed_bot = shared::real(author.id.as_ref())
        .is_some_and(|id| ctx.tenant.is_bot(&format!("intercom:bot:{id}")));
    match author.kind.as_deref() {
        Some("user" | "lead" | "contact") => ActorRole::Customer,
        Some("bot") => ActorRole::Bot,
        _ if listed_bot => ActorRole::Bot,
        Some("admin" | "team") => ActorRole::Agent,
        _ => ActorRole::System,
    }
}

fn customer_identities(conversation: &Conversation, ctx: &Context<'_>) -> Vec<Identity> {
    let mut ids = Identities::new(ctx);
    for contact in conversation.contacts.iter().flat_map(|c| &c.contacts) {
        ids.scoped(
            IdentityType::IntercomContact,
            shared::real(contact.id.as_ref()),
        );
        ids.email(contact.email.as_deref());
        ids.phone(contact.phone.as_deref());
    }
    let source_author = conversation.source.as_ref().and_then(|s| s.author.as_ref());
    let part_authors = conversation
        .conversation_parts
        .iter()
        .flat_map(|p| &p.conversation_parts)
        .filter_map(|p| p.author.as_ref());
    for author in source_author.into_iter().chain(part_authors) {
        if author_role(Some(author), ctx) == ActorRole::Customer {
            ids.scoped(
                IdentityType::IntercomContact,
                shared::real(author.id.as_ref()),
            );
            ids.email(author.email.as_deref());
        }
    }
    ids.finish()
}

fn attachments(i: &mut Interaction, list: &[Attachment]) {
    i.attachment_count = u32::try_from(list.len()).unwrap_or(u32::MAX);
    i.attachment_names = list
        .iter()
        .filter_map(|a| {
            text::non_empty(a.name.clone())
                .or_else(|| a.url.as_deref().and_then(shared::file_name_from_url))
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, TenantConfig};

    fn run(json: &str) -> Result<Vec<Interaction>, AdapterError> {
        run_outcome(json).map(|o| o.interactions)
    }

    #[test]
    fn topics_without_an_interaction_say_why_and_only_unknown_ones_are_dead_lettered() {
        let cases = [
            ("ping", Skip::documented("ping")),
            ("admin.logged_in", Skip::documented("other_object")),
            ("contact.created", Skip::documented("other_object")),
            (
                "conversation_part.tag.created",
                Skip::documented("conversation_metadata"),
            ),
            (
                "conversation.deleted",
                Skip::documented("conversation_metadata"),
            ),
            (
                "conversation.rating.added",
                Skip::ignored("unmodelled_topic"),
            ),
            ("brand.new.topic", Skip::ignored("unmodelled_topic")),
        ];
        for (topic, skip) in cases {
            let json = format!(
                r#"{{"type":"notification_event","topic":"{topic}","data":{{"item":{{"type":"x"}}}}}}"#
            );
            let outcome = run_outcome(&json).unwrap();
            assert!(outcome.interactions.is_empty(), "{topic}");
            assert_eq!(outcome.skipped, Some(skip), "{topic}");
        }
    }

    fn run_outcome(json: &str) -> Result<Outcome, AdapterError> {
        let tenant = TenantConfig {
            bot_ids: vec!["intercom:bot:99".into()],
            ..Default::default()
        };
        let limits = Limits::default();
        let ctx = Context {
            tenant_id: "t",
            received_at: Timestamp::from_millis(0),
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        normalize(json.as_bytes(), &ctx)
    }

    fn reply(author: &str) -> String {
        format!(
            r#"{{"type":"notification_event","topic":"conversation.admin.replied","data":{{"item":{{"type":"conversation","id":"7",
            "conversation_parts":{{"conversation_parts":[{{"id":"1","part_type":"comment","body":"hi","created_at":1700000000,"author":{author}}}]}}}}}}}}"#
        )
    }

    #[test]
    fn admin_listed_as_bot_is_a_bot_not_a_human_reply() {
        let out = run(&reply(r#"{"type":"admin","id":"99"}"#)).unwrap();
        assert_eq!(out[0].actor.role, ActorRole::Bot);
        assert!(!out[0].is_human_reply());
        let out = run(&reply(r#"{"type":"admin","id":"5"}"#)).unwrap();
        assert!(out[0].is_human_reply());
    }

    #[test]
    fn admin_author_email_is_never_a_customer_identity() {
        let out = run(&reply(r#"{"type":"admin","id":"5","email":"ana@shop.io"}"#)).unwrap();
        assert!(out[0].identities.is_empty());
    }

    #[test]
    fn other_sources_envelopes_are_not_intercom() {
        assert_eq!(
            run(r#"{"type":"message","topic":"x"}"#)
                .unwrap_err()
                .code()
                .to_string(),
            "unknown_shape"
        );
        assert!(!detect(
            br#"{"event":"message_created","content":"notification_event"}"#
        ));
    }

    #[test]
    fn part_without_created_at_is_named() {
        let json = r#"{"type":"notification_event","topic":"conversation.user.replied","data":{"item":{"id":"7",
            "conversation_parts":{"conversation_parts":[{"id":"1","part_type":"comment"}]}}}}"#;
        assert_eq!(
            run(json).unwrap_err().code().to_string(),
            "missing_field:data.item.conversation_parts.conversation_parts[0].created_at"
        );
    }
}
