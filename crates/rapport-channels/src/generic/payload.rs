//! The `rapport.generic.v1` payload: Rapport's own documented JSON shape for systems without an
//! adapter. The reference, with an example per channel and every error code, is
//! `docs/GENERIC.md`; this file is its source of truth.
//!
//! Every object denies unknown fields, so a typo (`ocurred_at`) is an error instead of a silently
//! missing value.

use serde::Deserialize;

/// The marker every generic payload carries in `schema`.
pub const SCHEMA: &str = "rapport.generic.v1";

/// Many events in one record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub schema: String,
    pub events: Vec<Event>,
}

/// One interaction, in the producer's words.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Required at the top level; optional inside a batch (the batch carries it).
    pub schema: Option<String>,
    pub event_id: String,
    pub channel: String,
    pub conversation_id: String,
    pub occurred_at: String,
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub actor: Option<Actor>,
    pub customer: Option<Customer>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Any JSON number, so that `4.5` or `7` is reported as a bad rating rather than a type error.
    pub rating: Option<serde_json::Number>,
    pub status: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub language: Option<String>,
    pub team: Option<String>,
    #[serde(default)]
    pub auto_reply: bool,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub role: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub name: String,
}
