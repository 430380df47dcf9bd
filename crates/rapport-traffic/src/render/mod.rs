//! Scenario events to the bytes a real producer would put on the raw topics. Email is rendered
//! as RFC 5322 messages; other channels as `generic` JSON (docs/GENERIC.md).

use chrono::SecondsFormat;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rapport_model::{Channel, Source, Timestamp};
use serde_json::{Value, json};

use super::scenario::{Author, Conversation, Scenario, Step};

/// One record for a raw topic, with the headers the contract defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub channel: Channel,
    pub key: String,
    pub source: Source,
    pub tenant: String,
    pub received_at: Timestamp,
    pub payload: Vec<u8>,
    /// Deliberately broken, so the normalizer must dead-letter it.
    pub invalid: bool,
}

pub struct RenderParams<'a> {
    pub tenant: &'a str,
    pub agent_domain: &'a str,
    pub invalid_rate: f64,
}

pub fn render(
    rng: &mut ChaCha8Rng,
    scenario: &Scenario,
    params: &RenderParams<'_>,
) -> Vec<RawRecord> {
    let mut records = Vec::new();
    for conversation in &scenario.conversations {
        for (n, event) in conversation.events.iter().enumerate() {
            let payload = match conversation.channel {
                Channel::Email => email(scenario, conversation, n, params),
                _ => generic(scenario, conversation, n),
            };
            let Some((source, mut payload)) = payload else {
                continue;
            };
            let invalid = rng.random_bool(params.invalid_rate);
            if invalid {
                corrupt(rng, &mut payload);
            }
            records.push(RawRecord {
                channel: conversation.channel,
                key: format!("{}-{}", conversation.channel, conversation.id),
                source,
                tenant: params.tenant.to_owned(),
                received_at: Timestamp::from_millis(
                    event.at.as_millis() + rng.random_range(200..30_000),
                ),
                payload,
                invalid,
            });
        }
    }
    records.sort_by_key(|r| r.received_at);
    records
}

/// Breaks a payload the way real ones break: JSON cut off mid-way, or bytes that are not text at
/// all. (A cut-off mail can still be a readable mail, so mail is always made binary.)
fn corrupt(rng: &mut ChaCha8Rng, payload: &mut Vec<u8>) {
    if payload.first() == Some(&b'{') && rng.random_bool(0.5) {
        payload.truncate(payload.len() / 3);
    } else {
        *payload = (0..64).map(|_| rng.random::<u8>() | 0x80).collect();
    }
}

fn rfc2822(at: Timestamp) -> String {
    at.to_datetime().to_rfc2822()
}

fn message_id(conversation: &Conversation, n: usize, domain: &str) -> String {
    format!("<c{}.m{n}@{domain}>", conversation.id)
}

fn email(
    scenario: &Scenario,
    conversation: &Conversation,
    n: usize,
    params: &RenderParams<'_>,
) -> Option<(Source, Vec<u8>)> {
    let customer = &scenario.customers[conversation.customer];
    let event = &conversation.events[n];
    let Step::Message { author, text } = &event.step else {
        return None;
    };
    let support = format!("support@{}", params.agent_domain);
    let (from, to, domain) = match author {
        Author::Customer => (
            format!("\"{}\" <{}>", customer.name, customer.email),
            support,
            customer
                .email
                .split('@')
                .nth(1)
                .unwrap_or("example.org")
                .to_owned(),
        ),
        Author::Agent(a) => {
            let agent = &scenario.agents[*a];
            (
                format!("\"{}\" <{}>", agent.name, agent.email),
                format!("\"{}\" <{}>", customer.name, customer.email),
                params.agent_domain.to_owned(),
            )
        }
        Author::Bot => return None,
    };
    let earlier: Vec<String> = (0..n)
        .filter(|i| matches!(conversation.events[*i].step, Step::Message { .. }))
        .map(|i| {
            let sender_domain = match conversation.events[i].step {
                Step::Message {
                    author: Author::Customer,
                    ..
                } => customer.email.split('@').nth(1).unwrap_or("example.org"),
                _ => params.agent_domain,
            };
            message_id(conversation, i, sender_domain)
        })
        .collect();
    let mut mail = String::new();
    mail.push_str(&format!(
        "Message-ID: {}\r\n",
        message_id(conversation, n, &domain)
    ));
    if let Some(parent) = earlier.last() {
        mail.push_str(&format!(
            "In-Reply-To: {parent}\r\nReferences: {}\r\n",
            earlier.join(" ")
        ));
    }
    let subject = if earlier.is_empty() {
        conversation.subject.clone()
    } else {
        format!("Re: {}", conversation.subject)
    };
    mail.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n",
        rfc2822(event.at)
    ));
    if n > 0 {
        mail.push_str(&format!(
            "\r\nOn {} someone wrote:\r\n> earlier message\r\n",
            rfc2822(conversation.events[0].at)
        ));
    }
    Some((Source::Rfc822, mail.into_bytes()))
}

fn generic(
    scenario: &Scenario,
    conversation: &Conversation,
    n: usize,
) -> Option<(Source, Vec<u8>)> {
    let customer = &scenario.customers[conversation.customer];
    let event = &conversation.events[n];
    let agent_actor = |a: usize| {
        let agent = &scenario.agents[a];
        json!({"role": "agent", "id": agent.id.to_string(), "name": agent.name})
    };
    let customer_actor =
        json!({"role": "customer", "id": customer.chat_contact_id, "name": customer.name});
    let (kind, direction, actor, text, extra): (&str, &str, Value, Option<&str>, Value) =
        match &event.step {
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
            Step::Review { rating, text } => (
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
        "occurred_at": event.at.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true),
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
    Some((Source::Generic, serde_json::to_vec(&body).ok()?))
}
