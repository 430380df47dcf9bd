//! Zendesk Support payloads, as documented by Zendesk:
//!
//! * **Ticket Audits API** (primary shape): the `{"audit": {…}}` response of
//!   `GET /api/v2/tickets/{ticket_id}/audits/{id}` and the `{"audits": […]}` list of
//!   `GET /api/v2/tickets/{ticket_id}/audits`, with optional side-load arrays in Zendesk's
//!   `?include=` convention: `users`, `tickets`, `groups` (plus a single `ticket`
//!   as a ticket update response carries it). Whether the audits endpoint itself side-loads all
//!   three was not confirmed in the docs checked; a producer may also assemble them from the
//!   Users, Tickets and Groups APIs. Checked against
//!   <https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_audits/> and the
//!   "Ticket Audit events reference"
//!   (<https://developer.zendesk.com/documentation/ticketing/reference-guides/ticket-audit-events-reference>):
//!   `Comment` events carry `id`, `public`, `body`, `html_body`, `plain_body`, `author_id`,
//!   `attachments`; `Create`/`Change` events carry `field_name`, `value` and (`Change` only)
//!   `previous_value`. Zendesk warns that event types are added at any time and must be ignored
//!   when unknown, which is why [`AuditEvent`] keeps `type` as a string.
//! * **Event webhooks** (`zendesk_event_version` 2022-11-06): `{"type":
//!   "zen:event-type:ticket.comment_added" | "…status_changed" | …, "id", "time", "subject",
//!   "detail": {ticket}, "event": {…}}`, checked against
//!   <https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/> and the
//!   sample payloads in `dust-tt/dust`
//!   (`front/lib/triggers/built-in-webhooks/zendesk/schemas/ticket_comment_added.ts`,
//!   `ticket_status_changed.ts`). Ids there are strings, hence [`Id`].

use serde::Deserialize;

use crate::support::shared::Id;

/// The audit form of a Kafka value: one audit or a page of audits, with side-loads.
#[derive(Debug, Deserialize)]
pub struct AuditEnvelope {
    /// Whether `type` names an event webhook. Read here (leniently: any value is accepted) so
    /// that one pass can both route and read an audit.
    #[serde(rename = "type", default)]
    pub webhook_type: WebhookType,
    pub audit: Option<Audit>,
    pub audits: Option<Vec<Audit>>,
    /// `audits` as read one by one: `None` where an audit did not parse (see
    /// [`AuditEnvelope::paged`]).
    #[serde(skip)]
    pub page: Option<Vec<Option<Audit>>>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    pub ticket: Option<Ticket>,
    #[serde(default)]
    pub groups: Vec<Group>,
}

impl AuditEnvelope {
    /// Moves `audits` into `page`, every audit read.
    pub fn paged(mut self) -> Self {
        if self.page.is_none() {
            self.page = self
                .audits
                .take()
                .map(|list| list.into_iter().map(Some).collect());
        }
        self
    }
}

#[derive(Debug, Deserialize)]
pub struct Audit {
    pub id: Id,
    pub ticket_id: Id,
    pub created_at: Option<String>,
    pub author_id: Option<Id>,
    pub via: Option<Via>,
    #[serde(default)]
    pub events: Vec<AuditEvent>,
}

/// One event of an audit. Only `Comment`, `Create` and `Change` are read; every other type is
/// skipped, so its fields are not modelled.
#[derive(Debug, Deserialize)]
pub struct AuditEvent {
    pub id: Option<Id>,
    #[serde(rename = "type")]
    pub kind: String,
    pub public: Option<bool>,
    pub body: Option<String>,
    pub html_body: Option<String>,
    pub plain_body: Option<String>,
    pub author_id: Option<Id>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub field_name: Option<String>,
    pub value: Option<serde_json::Value>,
    pub previous_value: Option<serde_json::Value>,
    pub via: Option<Via>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub file_name: Option<String>,
}

/// How an audit or event was made: `channel` is `web`, `email`, `api`, `rule` (a trigger or
/// automation), `system`, …; for email, `source.from.address` is the sender.
#[derive(Debug, Deserialize)]
pub struct Via {
    pub channel: Option<serde_json::Value>,
    pub source: Option<ViaSource>,
}

#[derive(Debug, Deserialize)]
pub struct ViaSource {
    pub from: Option<ViaParty>,
    pub rel: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ViaParty {
    pub address: Option<String>,
    pub name: Option<String>,
}

/// A side-loaded user: `role` is `end-user`, `agent` or `admin`.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: Id,
    pub role: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Ticket {
    pub id: Id,
    pub requester_id: Option<Id>,
    pub subject: Option<String>,
    pub group_id: Option<Id>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Group {
    pub id: Id,
    pub name: Option<String>,
}

/// The event-webhook form: common envelope; `event` depends on `type`.
#[derive(Debug, Deserialize)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub time: Option<String>,
    pub detail: Option<WebhookTicket>,
    #[serde(default)]
    pub event: serde_json::Value,
}

/// `detail` of a ticket event: the ticket after the change (ids as strings).
#[derive(Debug, Deserialize)]
pub struct WebhookTicket {
    pub id: Id,
    pub actor_id: Option<Id>,
    pub requester_id: Option<Id>,
    pub group_id: Option<Id>,
    pub subject: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `event` of `zen:event-type:ticket.comment_added`.
#[derive(Debug, Deserialize)]
pub struct CommentAdded {
    pub comment: WebhookComment,
}

#[derive(Debug, Deserialize)]
pub struct WebhookComment {
    pub id: Id,
    pub body: Option<String>,
    pub is_public: Option<bool>,
    pub author: Option<WebhookAuthor>,
}

#[derive(Debug, Deserialize)]
pub struct WebhookAuthor {
    pub id: Option<Id>,
    pub is_staff: Option<bool>,
    pub name: Option<String>,
}

/// `event` of `zen:event-type:ticket.status_changed`: upper-case status names.
#[derive(Debug, Deserialize)]
pub struct StatusChanged {
    pub current: String,
    pub previous: Option<String>,
}

/// True when a value is a string starting with `zen:event-type:`; any other value is false.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WebhookType(pub bool);

impl<'de> Deserialize<'de> for WebhookType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = WebhookType;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }

            fn visit_str<E>(self, v: &str) -> Result<WebhookType, E> {
                Ok(WebhookType(v.starts_with(super::WEBHOOK_PREFIX)))
            }

            fn visit_bool<E>(self, _: bool) -> Result<WebhookType, E> {
                Ok(WebhookType(false))
            }

            fn visit_i64<E>(self, _: i64) -> Result<WebhookType, E> {
                Ok(WebhookType(false))
            }

            fn visit_u64<E>(self, _: u64) -> Result<WebhookType, E> {
                Ok(WebhookType(false))
            }

            fn visit_f64<E>(self, _: f64) -> Result<WebhookType, E> {
                Ok(WebhookType(false))
            }

            fn visit_unit<E>(self) -> Result<WebhookType, E> {
                Ok(WebhookType(false))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<WebhookType, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(WebhookType(false))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<WebhookType, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(WebhookType(false))
            }
        }

        d.deserialize_any(Visitor)
    }
}
