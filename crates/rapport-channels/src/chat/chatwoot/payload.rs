//! Chatwoot webhook payloads.
//!
//! Shape checked against the payload builders in `chatwoot/chatwoot`:
//! `app/listeners/webhook_listener.rb` (which event sends which object, `event` merged into the
//! top level, `changed_attributes` on conversation updates), `Message#webhook_data` in
//! `app/models/message.rb` (`id`, `content`, `created_at`, `message_type` as a name, `private`,
//! `content_type`, `content_attributes`, `sender`, `conversation`, `account`, `attachments`),
//! `Conversations::EventDataPresenter#push_data` (`id` = display id, `status`, `meta.sender`,
//! `meta.assignee`, `meta.team`, `labels`, `created_at` in seconds, `updated_at` as float
//! seconds), `AgentBot#webhook_data` (`type: "agent_bot"`), and the sample payloads in
//! `chatwoot/docs` `docs/product/others/webhook-events.md`. Older releases send `created_at` as
//! `"2020-03-03 13:05:57 UTC"` and `message_type` as a number (push data); both are accepted.

use serde::{Deserialize, Deserializer};

use crate::common::scalar::{self, Scalar};

/// First pass: route on the event name.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub event: String,
}

/// `message_created` / `message_updated`.
#[derive(Debug, Deserialize)]
pub struct MessageEvent {
    /// Read here too so that one pass can both route and read a message event.
    pub event: Option<String>,
    #[serde(deserialize_with = "crate::chat::shared::id")]
    pub id: String,
    pub content: Option<String>,
    pub created_at: Option<Time>,
    pub message_type: MessageType,
    #[serde(default)]
    pub private: bool,
    pub content_attributes: Option<ContentAttributes>,
    pub sender: Option<Sender>,
    pub conversation: Conversation,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `conversation_created`, `conversation_status_changed`, `conversation_updated`, …: the
/// conversation itself at the top level.
#[derive(Debug, Deserialize)]
pub struct ConversationEvent {
    #[serde(flatten)]
    pub conversation: Conversation,
    #[serde(default)]
    pub changed_attributes: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

#[derive(Debug, Deserialize)]
pub struct Conversation {
    #[serde(deserialize_with = "crate::chat::shared::id")]
    pub id: String,
    pub status: Option<String>,
    /// `Channel::WebWidget`, `Channel::Email`, `Channel::Whatsapp`, …
    pub channel: Option<String>,
    pub meta: Option<Meta>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<String>,
    pub additional_attributes: Option<ConversationAttributes>,
    pub created_at: Option<Time>,
    pub updated_at: Option<Time>,
    pub timestamp: Option<Time>,
}

#[derive(Debug, Deserialize)]
pub struct ConversationAttributes {
    pub mail_subject: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Meta {
    /// The contact the conversation is with.
    pub sender: Option<Sender>,
    pub team: Option<Team>,
}

#[derive(Debug, Deserialize)]
pub struct Team {
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A contact (`type: "contact"`), an agent (`"user"`), an agent bot (`"agent_bot"`) or another
/// automated sender (`"captain_assistant"` in recent releases).
#[derive(Debug, Deserialize)]
pub struct Sender {
    #[serde(default, deserialize_with = "crate::chat::shared::opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ContentAttributes {
    pub email: Option<EmailAttributes>,
    pub automation_rule_id: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct EmailAttributes {
    #[serde(default, deserialize_with = "null_as_default")]
    pub auto_reply: bool,
    pub subject: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub data_url: Option<String>,
    pub file_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Incoming,
    Outgoing,
    Activity,
    Template,
}

impl<'de> Deserialize<'de> for MessageType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar::read(d, "Repr")? {
            Scalar::Text(n) if n == "incoming" => Ok(Self::Incoming),
            Scalar::Text(n) if n == "outgoing" => Ok(Self::Outgoing),
            Scalar::Text(n) if n == "activity" => Ok(Self::Activity),
            Scalar::Text(n) if n == "template" => Ok(Self::Template),
            Scalar::Unsigned(0) => Ok(Self::Incoming),
            Scalar::Unsigned(1) => Ok(Self::Outgoing),
            Scalar::Unsigned(2) => Ok(Self::Activity),
            Scalar::Unsigned(3) => Ok(Self::Template),
            Scalar::Text(n) => Err(serde::de::Error::custom(format!(
                "unknown message_type {n:?}"
            ))),
            Scalar::Unsigned(n) => Err(serde::de::Error::custom(format!(
                "unknown message_type {n}"
            ))),
            Scalar::Signed(_) | Scalar::Float(_) => Err(scalar::no_variant("Repr")),
        }
    }
}

/// Chatwoot serializes times three ways: ISO 8601 (`Message#webhook_data`), epoch seconds
/// (`created_at` of a conversation), float epoch seconds (`updated_at`).
#[derive(Debug, Clone)]
pub enum Time {
    Seconds(i64),
    Fractional(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Whole seconds when they fit an i64, else float seconds, as the first matching
        // variant of the untagged enum this replaced.
        #[allow(clippy::cast_precision_loss)]
        Ok(match scalar::read(d, "Time")? {
            Scalar::Signed(n) => Self::Seconds(n),
            Scalar::Unsigned(n) => {
                i64::try_from(n).map_or(Self::Fractional(n as f64), Self::Seconds)
            }
            Scalar::Float(f) => Self::Fractional(f),
            Scalar::Text(t) => Self::Text(t),
        })
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
