//! Intercom webhook notifications, REST API v2.x.
//!
//! Shape checked against Intercom's "Webhook models" pages (developers.intercom.com,
//! `docs/references/2.x/webhooks/webhook-models`: the notification object with `type:
//! "notification_event"`, `id`, `topic`, `app_id`, `created_at`, `data.item`), the v2 conversation
//! and conversation part models (`docs/references/2.15/rest-api/api.intercom.io/models/
//! conversation_part`: `part_type`, `body`, `created_at`, `author`, `assigned_to`, `attachments`;
//! bodies are plain text in webhooks from API 2.15 on, HTML before), and the official
//! `intercom-client` SDK types (`ConversationPart.d.ts`). The `contact.list` / `tag.list` /
//! `conversation_part.list` wrappers follow the v2 conversation model as consumed by public
//! integrations (e.g. the conversation fixtures in `hull/hull-connectors` for the older
//! `conversation_parts` wrapper). Only the fields the adapter reads are declared.

use serde::Deserialize;

/// First pass: enough to route on the topic before reading the item.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub topic: String,
}

/// A notification whose `data.item` is a conversation.
#[derive(Debug, Deserialize)]
pub struct ConversationNotification {
    /// Read here too so that one pass can both route and read a conversation notification.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub topic: String,
    pub created_at: Option<i64>,
    pub data: ConversationData,
}

#[derive(Debug, Deserialize)]
pub struct ConversationData {
    pub item: Conversation,
}

#[derive(Debug, Deserialize)]
pub struct Conversation {
    #[serde(deserialize_with = "crate::chat::shared::id")]
    pub id: String,
    pub created_at: Option<i64>,
    pub title: Option<String>,
    pub state: Option<String>,
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub team_assignee_id: Option<String>,
    pub source: Option<ConversationSource>,
    pub contacts: Option<ContactList>,
    pub tags: Option<TagList>,
    pub conversation_parts: Option<PartList>,
}

/// The message that started the conversation.
#[derive(Debug, Deserialize)]
pub struct ConversationSource {
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub id: Option<String>,
    /// `customer_initiated`, `admin_initiated`, `automated`, `campaigns_initiated`, …
    pub delivered_as: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub author: Option<Author>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize)]
pub struct Author {
    /// `user`, `lead`, `contact`, `admin`, `bot`, `team`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ContactList {
    #[serde(default)]
    pub contacts: Vec<ContactRef>,
}

/// A contact reference; the v2 model carries `id` and `external_id`, some deliveries also the
/// contact's `email` and `phone`, which are read when present.
#[derive(Debug, Deserialize)]
pub struct ContactRef {
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TagList {
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
pub struct Tag {
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PartList {
    #[serde(default)]
    pub conversation_parts: Vec<Part>,
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(deserialize_with = "crate::chat::shared::id")]
    pub id: String,
    /// `comment`, `note`, `close`, `open`, `assignment`, `assign_and_reopen`, `snoozed`, …
    pub part_type: String,
    pub body: Option<String>,
    pub created_at: i64,
    pub author: Option<Author>,
    pub assigned_to: Option<Reference>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `{type: admin|team|bot|nobody_admin, id}`.
#[derive(Debug, Deserialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub url: Option<String>,
}
