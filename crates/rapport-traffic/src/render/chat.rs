//! Chat: Intercom webhook notifications and Chatwoot webhooks, one delivery per scenario event,
//! as each product sends them when the event happens.

use serde_json::{Value, json};

use super::{Event, html_paragraph, is_reopen, rfc3339_millis, unix_seconds, uuid};
use crate::scenario::{Author, Step};

/// Intercom's team id for a scenario team.
fn intercom_team(team: &str) -> &'static str {
    if team == "Billing" { "4811" } else { "4812" }
}

/// An Intercom webhook notification (API 2.x): `conversation.user.created` for the customer's
/// first message, then one notification per event carrying the conversation with the one part
/// that triggered it (`*.replied`, `admin.noted`, `admin.closed`, `admin.opened`).
pub(super) fn intercom(event: &Event<'_>) -> Option<Vec<u8>> {
    let customer = event.customer();
    let conversation_id = (215_468_300_000_000 + event.conversation.id).to_string();
    let contact = json!({
        "type": "user",
        "id": customer.chat_contact_id,
        "name": customer.name,
        "email": customer.email,
    });
    let admin = |a: usize| {
        let agent = event.agent(a);
        json!({"type": "admin", "id": agent.id.to_string(), "name": agent.name, "email": agent.email})
    };
    let first = event.earlier(0);
    let Step::Message {
        text: first_text, ..
    } = first.step()
    else {
        return None;
    };
    let source = json!({
        "type": "conversation",
        "id": (2_113_000_000 + event.conversation.id).to_string(),
        "delivered_as": "customer_initiated",
        "subject": "",
        "body": html_paragraph(first_text),
        "author": contact,
        "attachments": [],
        "url": null,
        "redacted": false,
    });
    let (topic, part) = match event.step() {
        Step::Message {
            author: Author::Customer,
            ..
        } if event.n == 0 => ("conversation.user.created", None),
        Step::Message { author, text } => {
            let (topic, who) = match author {
                Author::Customer => ("conversation.user.replied", contact.clone()),
                Author::Agent(a) => ("conversation.admin.replied", admin(*a)),
                Author::Bot => (
                    "conversation.operator.replied",
                    json!({"type": "bot", "id": "1452345", "name": "Fin", "email": "operator+lkqcyt9t@intercom.io"}),
                ),
            };
            (topic, Some(("comment", Some(html_paragraph(text)), who)))
        }
        Step::Note { agent, text } => (
            "conversation.admin.noted",
            Some(("note", Some(html_paragraph(text)), admin(*agent))),
        ),
        Step::Status { agent, status } if is_reopen(status) => (
            "conversation.admin.opened",
            Some(("open", None, admin(*agent))),
        ),
        Step::Status { agent, .. } => (
            "conversation.admin.closed",
            Some(("close", None, admin(*agent))),
        ),
        Step::Review { .. } | Step::ReviewReply { .. } => return None,
    };
    let at = unix_seconds(event.at());
    let parts: Vec<Value> = part
        .into_iter()
        .map(|(part_type, body, author)| {
            json!({
                "type": "conversation_part",
                "id": (31_867_000_000 + event.serial()).to_string(),
                "part_type": part_type,
                "body": body,
                "created_at": at,
                "updated_at": at,
                "notified_at": at,
                "assigned_to": null,
                "author": author,
                "attachments": [],
                "external_id": null,
                "redacted": false,
            })
        })
        .collect();
    let closed = matches!(event.step(), Step::Status { status, .. } if !is_reopen(status));
    let notification = json!({
        "type": "notification_event",
        "app_id": "lkqcyt9t",
        "data": {
            "type": "notification_event_data",
            "item": {
                "type": "conversation",
                "id": conversation_id,
                "created_at": unix_seconds(event.started()),
                "updated_at": at,
                "waiting_since": null,
                "snoozed_until": null,
                "title": null,
                "open": !closed,
                "state": if closed { "closed" } else { "open" },
                "read": true,
                "priority": "not_priority",
                "admin_assignee_id": null,
                "team_assignee_id": intercom_team(event.conversation.team),
                "source": source,
                "contacts": {
                    "type": "contact.list",
                    "contacts": [{"type": "contact", "id": customer.chat_contact_id, "external_id": customer.support_user_id.to_string()}],
                },
                "teammates": {"type": "admin.list", "admins": []},
                "tags": {"type": "tag.list", "tags": []},
                "conversation_parts": {
                    "type": "conversation_part.list",
                    "conversation_parts": parts,
                    "total_count": event.n,
                },
            },
        },
        "links": {},
        "id": format!("notif_{}", uuid(&["intercom", &conversation_id, &event.n.to_string()])),
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": at + 1,
        "created_at": at + 1,
        "self": null,
    });
    serde_json::to_vec(&notification).ok()
}

/// The conversation as Chatwoot's webhooks carry it (`Conversations::EventDataPresenter`).
fn chatwoot_conversation(event: &Event<'_>, status: &str) -> Value {
    let customer = event.customer();
    let team_id = if event.conversation.team == "Billing" {
        1
    } else {
        2
    };
    json!({
        "id": event.conversation.id,
        "inbox_id": 3,
        "status": status,
        "channel": "Channel::WebWidget",
        "can_reply": true,
        "meta": {
            "sender": chatwoot_contact(event),
            "assignee": null,
            "team": {"id": team_id, "name": event.conversation.team},
            "hmac_verified": false,
        },
        "labels": [],
        "additional_attributes": {"browser": {"browser_name": "Firefox", "platform_name": "Linux"}},
        "contact_inbox": {"source_id": uuid(&["chatwoot", &customer.chatwoot_contact_id.to_string()]).to_string()},
        "created_at": unix_seconds(event.started()),
        "updated_at": unix_seconds(event.at()) as f64,
        "timestamp": unix_seconds(event.at()),
        "unread_count": 0,
        "priority": null,
    })
}

fn chatwoot_contact(event: &Event<'_>) -> Value {
    let customer = event.customer();
    json!({
        "id": customer.chatwoot_contact_id,
        "name": customer.name,
        "email": customer.email,
        "phone_number": customer.phone,
        "identifier": null,
        "thumbnail": "",
        "type": "contact",
    })
}

/// The status a conversation is in once the event happened.
fn chatwoot_status(event: &Event<'_>) -> &'static str {
    let closing = (0..=event.n)
        .rev()
        .find_map(|i| match &event.conversation.events[i].step {
            Step::Status { status, .. } => Some(!is_reopen(status)),
            _ => None,
        });
    if closing == Some(true) {
        "resolved"
    } else {
        "open"
    }
}

/// A Chatwoot webhook: `message_created` for messages and private notes (`incoming` from the
/// contact, `outgoing` from an agent or an agent bot), `conversation_status_changed` when an
/// agent resolves or reopens the conversation.
pub(super) fn chatwoot(event: &Event<'_>) -> Option<Vec<u8>> {
    let status = chatwoot_status(event);
    let agent = |a: usize| {
        let agent = event.agent(a);
        json!({"id": agent.id, "name": agent.name, "email": agent.email, "type": "user", "avatar_url": ""})
    };
    let (message_type, private, text, sender) = match event.step() {
        Step::Message {
            author: Author::Customer,
            text,
        } => ("incoming", false, text, chatwoot_contact(event)),
        Step::Message {
            author: Author::Agent(a),
            text,
        } => ("outgoing", false, text, agent(*a)),
        Step::Message {
            author: Author::Bot,
            text,
        } => (
            "outgoing",
            false,
            text,
            json!({"id": 12, "name": "Captain", "type": "agent_bot", "avatar_url": ""}),
        ),
        Step::Note { agent: a, text } => ("outgoing", true, text, agent(*a)),
        Step::Status { status: to, .. } => {
            let previous = if is_reopen(to) { "resolved" } else { "open" };
            let mut body = chatwoot_conversation(event, status);
            body["event"] = json!("conversation_status_changed");
            body["changed_attributes"] =
                json!([{"status": {"previous_value": previous, "current_value": status}}]);
            return serde_json::to_vec(&body).ok();
        }
        Step::Review { .. } | Step::ReviewReply { .. } => return None,
    };
    let body = json!({
        "event": "message_created",
        "id": 880_000 + event.serial(),
        "content": text,
        "created_at": rfc3339_millis(event.at()),
        "message_type": message_type,
        "content_type": "text",
        "content_attributes": {},
        "source_id": null,
        "private": private,
        "sender": sender,
        "conversation": chatwoot_conversation(event, status),
        "account": {"id": 1, "name": "Acme"},
        "inbox": {"id": 3, "name": "Website"},
        "additional_attributes": {},
    });
    serde_json::to_vec(&body).ok()
}
