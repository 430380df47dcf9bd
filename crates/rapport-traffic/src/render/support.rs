//! Helpdesks: Zendesk event webhooks, and Freshdesk tickets and conversations as a Freshdesk
//! automation rule's webhook (or a collector) posts the API objects.

use serde_json::{Value, json};

use super::{Event, html_paragraph, is_reopen, rfc3339, rfc3339_millis, uuid};
use crate::scenario::{Author, Step};

/// The ticket status once the event happened: the last status step so far, else open.
fn current_status<'a>(event: &Event<'a>) -> Option<&'a str> {
    (0..=event.n)
        .rev()
        .find_map(|i| match &event.conversation.events[i].step {
            Step::Status { status, .. } => Some(*status),
            _ => None,
        })
}

/// A Zendesk event webhook (`zendesk_event_version` 2022-11-06):
/// `zen:event-type:ticket.comment_added` for every public comment and private note, the first
/// one included, and `zen:event-type:ticket.status_changed` when an agent solves or reopens.
pub(super) fn zendesk(event: &Event<'_>) -> Option<Vec<u8>> {
    let customer = event.customer();
    let ticket = (5_000 + event.conversation.id).to_string();
    let requester = customer.support_user_id.to_string();
    let group = if event.conversation.team == "Billing" {
        "360000111"
    } else {
        "360000112"
    };
    let Step::Message {
        text: description, ..
    } = event.earlier(0).step()
    else {
        return None;
    };
    let status = current_status(event).unwrap_or("open").to_ascii_uppercase();
    let staff = |a: usize| {
        let agent = event.agent(a);
        json!({"id": agent.id.to_string(), "is_staff": true, "name": agent.name})
    };
    let (kind, body, actor) = match event.step() {
        Step::Message { author, text } => {
            let author = match author {
                Author::Customer => {
                    json!({"id": requester, "is_staff": false, "name": customer.name})
                }
                Author::Agent(a) => staff(*a),
                Author::Bot => return None,
            };
            let actor = author["id"].clone();
            let comment = json!({"comment": {
                "id": (9_800_000_000 + event.serial()).to_string(),
                "body": text,
                "is_public": true,
                "author": author,
            }});
            ("ticket.comment_added", comment, actor)
        }
        Step::Note { agent, text } => {
            let comment = json!({"comment": {
                "id": (9_800_000_000 + event.serial()).to_string(),
                "body": text,
                "is_public": false,
                "author": staff(*agent),
            }});
            (
                "ticket.comment_added",
                comment,
                json!(event.agent(*agent).id.to_string()),
            )
        }
        Step::Status {
            agent,
            status: changed,
        } => {
            let previous = if is_reopen(changed) { "SOLVED" } else { "OPEN" };
            (
                "ticket.status_changed",
                json!({"current": changed.to_ascii_uppercase(), "previous": previous}),
                json!(event.agent(*agent).id.to_string()),
            )
        }
        Step::Review { .. } | Step::ReviewReply { .. } => return None,
    };
    let webhook = json!({
        "account_id": 22_129_848,
        "detail": {
            "actor_id": actor,
            "assignee_id": null,
            "brand_id": "360001000001",
            "created_at": rfc3339(event.started()),
            "custom_status": "360000200001",
            "description": description,
            "external_id": null,
            "form_id": "360000300001",
            "group_id": group,
            "id": ticket,
            "is_public": true,
            "organization_id": null,
            "priority": "NORMAL",
            "requester_id": requester,
            "status": status,
            "subject": event.conversation.subject,
            "submitter_id": requester,
            "tags": [],
            "type": "QUESTION",
            "updated_at": rfc3339(event.at()),
            "via": {"channel": "web_service"},
        },
        "event": body,
        "id": uuid(&["zendesk", &ticket, &event.n.to_string()]).to_string(),
        "subject": format!("zen:ticket:{ticket}"),
        "time": rfc3339_millis(event.at()),
        "type": format!("zen:event-type:{kind}"),
        "zendesk_event_version": "2022-11-06",
    });
    serde_json::to_vec(&webhook).ok()
}

fn freshdesk_agent(id: u64) -> u64 {
    48_000_100_000 + id
}

/// The ticket, as `GET /api/v2/tickets/{id}?include=requester,stats` returns it, in the state
/// it is in once the event happened.
fn freshdesk_ticket(event: &Event<'_>) -> Option<Value> {
    let customer = event.customer();
    let Step::Message {
        text: description, ..
    } = event.earlier(0).step()
    else {
        return None;
    };
    let group: u64 = if event.conversation.team == "Billing" {
        48_000_000_111
    } else {
        48_000_000_112
    };
    // When the ticket was last resolved and last reopened, up to this event.
    let mut resolved_at = None;
    let mut reopened_at = None;
    let mut responder = None;
    for i in 0..=event.n {
        let at = event.conversation.events[i].at;
        match &event.conversation.events[i].step {
            Step::Status { status, agent } if is_reopen(status) => {
                reopened_at = Some(rfc3339(at));
                responder = Some(*agent);
            }
            Step::Status { agent, .. } => {
                resolved_at = Some(rfc3339(at));
                responder = Some(*agent);
            }
            Step::Message {
                author: Author::Agent(a),
                ..
            } => responder = Some(*a),
            _ => {}
        }
    }
    let status = match current_status(event) {
        Some(s) if !is_reopen(s) => 4,
        _ => 2,
    };
    Some(json!({
        "id": 40_000 + event.conversation.id,
        "subject": event.conversation.subject,
        "description": format!("<div>{}</div>", html_paragraph(description)),
        "description_text": description,
        "requester_id": customer.freshdesk_contact_id,
        "responder_id": responder.map(|a| freshdesk_agent(event.agent(a).id)),
        "group_id": group,
        "status": status,
        "priority": 1,
        "source": 2,
        "type": "Question",
        "tags": [],
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "to_emails": null,
        "spam": false,
        "is_escalated": false,
        "fr_escalated": false,
        "created_at": rfc3339(event.started()),
        "updated_at": rfc3339(event.at()),
        "attachments": [],
        "requester": {
            "id": customer.freshdesk_contact_id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "mobile": null,
        },
        "stats": {
            "agent_responded_at": null,
            "requester_responded_at": null,
            "first_responded_at": null,
            "status_updated_at": rfc3339(event.at()),
            "reopened_at": reopened_at,
            "resolved_at": resolved_at,
            "closed_at": null,
            "pending_since": null,
        },
    }))
}

/// Freshdesk: the ticket when it is created and whenever its status changes (a rule on
/// "ticket is created" / "status is changed" posting the ticket), and each reply or note as the
/// conversation object (a rule on "reply is sent" / "note is added", or the conversations API).
pub(super) fn freshdesk(event: &Event<'_>) -> Option<Vec<u8>> {
    let customer = event.customer();
    let ticket_id = 40_000 + event.conversation.id;
    let conversation = |incoming: bool,
                        private: bool,
                        source: u8,
                        user_id: u64,
                        from: String,
                        to: Vec<String>,
                        text: &str| {
        json!({
            "id": 66_000_000_000 + event.serial(),
            "ticket_id": ticket_id,
            "body": format!("<div>{}</div>", html_paragraph(text)),
            "body_text": text,
            "incoming": incoming,
            "private": private,
            "user_id": user_id,
            "support_email": format!("support@{}", event.agent_domain),
            "source": source,
            "category": if incoming { 2 } else { 3 },
            "to_emails": to,
            "from_email": from,
            "cc_emails": [],
            "bcc_emails": [],
            "created_at": rfc3339(event.at()),
            "updated_at": rfc3339(event.at()),
            "attachments": [],
            "source_additional_info": null,
        })
    };
    let support = format!("support@{}", event.agent_domain);
    let body = match event.step() {
        Step::Message {
            author: Author::Customer,
            ..
        } if event.n == 0 => freshdesk_ticket(event)?,
        Step::Status { .. } => freshdesk_ticket(event)?,
        Step::Message {
            author: Author::Customer,
            text,
        } => conversation(
            true,
            false,
            0,
            customer.freshdesk_contact_id,
            customer.email.clone(),
            vec![support],
            text,
        ),
        Step::Message {
            author: Author::Agent(a),
            text,
        } => conversation(
            false,
            false,
            0,
            freshdesk_agent(event.agent(*a).id),
            support,
            vec![customer.email.clone()],
            text,
        ),
        Step::Note { agent, text } => conversation(
            false,
            true,
            2,
            freshdesk_agent(event.agent(*agent).id),
            support,
            Vec::new(),
            text,
        ),
        Step::Message {
            author: Author::Bot,
            ..
        }
        | Step::Review { .. }
        | Step::ReviewReply { .. } => return None,
    };
    serde_json::to_vec(&body).ok()
}
