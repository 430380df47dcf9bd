//! Freshdesk API v2 objects, as documented at <https://developers.freshdesk.com/api/>
//! ("View a ticket" with `?include=conversations,requester,stats`, and "List all conversations
//! of a ticket"), cross-checked with the Freshworks SDK model pages
//! (<https://developers.freshworks.com/freshdesk-sdk/docs/Conversation.html>) and the enums in
//! `jscarle/Freshdesk.NET` (`Tickets/TicketSource.cs`).
//!
//! * A **ticket**: `id`, `subject`, `description` (HTML), `description_text`, `requester_id`,
//!   `responder_id`, `group_id`, `status` (2 Open, 3 Pending, 4 Resolved, 5 Closed, 6 and up
//!   custom), `priority`, `source` (1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback widget,
//!   10 Outbound email, …), `tags`, `created_at`, `updated_at`, `attachments`; with
//!   `include=requester` a `requester` object (`id`, `name`, `email`, `phone`, `mobile`), with
//!   `include=stats` a `stats` object (`resolved_at`, `closed_at`, `reopened_at`,
//!   `status_updated_at`, `pending_since`), with `include=conversations` up to ten
//!   `conversations`.
//! * A **conversation** (reply or note): `id`, `ticket_id`, `body` (HTML), `body_text`,
//!   `incoming`, `private`, `user_id`, `source` (0 Reply, 2 Note, 5 Tweet, 6 Survey feedback,
//!   7 Facebook, …), `from_email`, `to_emails`, `created_at`, `attachments`.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Ticket {
    pub id: i64,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub description_text: Option<String>,
    pub requester_id: i64,
    pub group_id: Option<i64>,
    pub status: i64,
    pub source: Option<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    #[serde(default)]
    pub to_emails: Option<Vec<String>>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub requester: Option<Requester>,
    pub stats: Option<Stats>,
    /// Each conversation is parsed on its own, so one bad conversation stays alone.
    pub conversations: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
pub struct Requester {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Stats {
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub reopened_at: Option<String>,
    pub status_updated_at: Option<String>,
    pub pending_since: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Conversation {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub body: Option<String>,
    pub body_text: Option<String>,
    pub incoming: bool,
    pub private: bool,
    pub user_id: Option<i64>,
    pub source: Option<i64>,
    pub from_email: Option<String>,
    #[serde(default)]
    pub to_emails: Option<Vec<String>>,
    pub created_at: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub name: Option<String>,
}
