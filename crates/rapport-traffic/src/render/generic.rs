//! The `generic` JSON shape (docs/GENERIC.md), for a tenant's own systems on any channel.

use rapport_model::Channel;
use serde_json::{Value, json};

use super::{Event, rfc3339_millis};
use crate::scenario::{Author, Step};

/// One `rapport.generic.v1` event per scenario event.
pub(super) fn generic(event: &Event<'_>) -> Option<Vec<u8>> {
    let customer = event.customer();
    let conversation = event.conversation;
    let n = event.n;
    let agent_actor = |a: usize| {
        let agent = event.agent(a);
        json!({"role": "agent", "id": agent.id.to_string(), "name": agent.name})
    };
    let customer_actor =
        json!({"role": "customer", "id": customer.chat_contact_id, "name": customer.name});
    let (kind, direction, actor, text, extra): (&str, &str, Value, Option<&str>, Value) =
        match event.step() {
            Step::Message {
                author: Author::Customer,
                text,
            } => ("message", "inbound", customer_actor, Some(text), json!({})),
            Step::Message {
                author: Author::Agent(a),
                text,
            } => (
                "message",
                "outbound",
                agent_actor(*a),
                Some(text),
                json!({}),
            ),
            Step::Message {
                author: Author::Bot,
                text,
            } => (
                "message",
                "outbound",
                json!({"role": "bot", "id": "bot-1", "name": "Operator"}),
                Some(text),
                json!({}),
            ),
            Step::Note { agent, text } => (
                "note",
                "internal",
                agent_actor(*agent),
                Some(text),
                json!({}),
            ),
            Step::Status { agent, status } => (
                "status_change",
                "internal",
                agent_actor(*agent),
                None,
                json!({"status": status}),
            ),
            Step::Review { rating, text, .. } => (
                "review",
                "inbound",
                customer_actor,
                Some(text),
                json!({"rating": rating}),
            ),
            Step::ReviewReply { text } => (
                "review_reply",
                "outbound",
                json!({"role": "agent", "id": "owner", "name": "Acme"}),
                Some(text),
                json!({}),
            ),
        };
    let mut body = json!({
        "schema": "rapport.generic.v1",
        "event_id": format!("{}-{}-{n}", conversation.channel, conversation.id),
        "channel": conversation.channel.as_str(),
        "conversation_id": format!("{}-{}", conversation.channel, conversation.id),
        "occurred_at": rfc3339_millis(event.at()),
        "kind": kind,
        "direction": direction,
        "actor": actor,
        "customer": {"email": customer.email, "phone": customer.phone, "external_id": customer.support_user_id.to_string(), "name": customer.name},
        "team": conversation.team,
    });
    if let Some(text) = text {
        body["text"] = json!(text);
    }
    if n == 0 && conversation.channel != Channel::Review {
        body["subject"] = json!(conversation.subject);
    }
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    serde_json::to_vec(&body).ok()
}
