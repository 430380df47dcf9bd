//! The Kafka key of a raw record: the conversation where the payload names it cheaply, so one
//! conversation's records share a partition and keep their order; otherwise a stable hash of
//! the body, so a retried delivery lands on the same partition as its first attempt.
//!
//! | source | key |
//! | --- | --- |
//! | `generic` | `conversation_id` of a single event; a batch: the hash |
//! | `sendgrid` | the mail's `Message-ID` (from the `headers` or raw `email` field) |
//! | `mailgun` | the `Message-Id` field of a route, `event-data.message.headers.message-id` of an event |
//! | `ses` | the SNS `MessageId` (the delivery id) |
//! | `intercom` | `data.item.id`, the conversation |
//! | `chatwoot` | `conversation.id`, or the `id` of a `conversation_*` event |
//! | `zendesk` | the ticket: `audit.ticket_id`, `ticket_id`, or `detail.id` of an event webhook |
//! | `freshdesk` | the ticket: `ticket_id`, else `id` |
//! | `trustpilot` | the first event's review `eventData.id` |
//! | `yelp` | the first update's `review_id` |
//! | `google` | the review's resource name |
//! | `sendgrid_events` | the hash |
//!
//! Each is prefixed with the source (`zendesk:35436`). Reading a key is one serde pass that
//! skips what it does not need, linear in the body; a body it cannot read gets the hash.

use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

use crate::config::Source;
use crate::multipart::form_fields_within;

/// The longest conversation key used; a longer id falls back to the hash.
const MAX_KEY_BYTES: usize = 256;
/// The largest SendGrid `headers` (or raw `email`) field searched for a `Message-ID`; a raw
/// mail with attachments is larger and gets the hash.
const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// The key of a record of `source` with `body`. `delivery_id` is the provider's id of the
/// delivery, `content_type` the request's.
pub fn record_key(
    source: Source,
    body: &[u8],
    content_type: &str,
    delivery_id: Option<&str>,
) -> Vec<u8> {
    let conversation = match source {
        Source::Generic => json::<Generic>(body).and_then(|g| g.conversation_id.map(|s| s.0)),
        Source::Sendgrid => sendgrid_message_id(body, content_type),
        Source::Mailgun => mailgun_message_id(body, content_type),
        Source::Ses => delivery_id.map(str::to_owned),
        Source::Intercom => json::<Intercom>(body).and_then(|i| i.data?.item?.id.map(|s| s.0)),
        Source::Chatwoot => json::<Chatwoot>(body).and_then(|c| {
            c.conversation.and_then(|c| c.id).map(|s| s.0).or_else(|| {
                c.event
                    .filter(|e| e.starts_with("conversation_"))
                    .and(c.id)
                    .map(|s| s.0)
            })
        }),
        Source::Zendesk => json::<Zendesk>(body).and_then(|z| {
            z.audit
                .and_then(|a| a.ticket_id)
                .or(z.ticket_id)
                .or(z.detail.and_then(|d| d.id))
                .map(|s| s.0)
        }),
        Source::Freshdesk => {
            json::<Freshdesk>(body).and_then(|f| f.ticket_id.or(f.id).map(|s| s.0))
        }
        Source::Trustpilot => json::<Trustpilot>(body)
            .and_then(|t| t.events.into_iter().next()?.event_data?.id.map(|s| s.0)),
        Source::Yelp => json::<Yelp>(body)
            .and_then(|y| y.data?.updates.into_iter().next()?.review_id.map(|s| s.0)),
        // The service keys a review by its resource name itself.
        Source::Google | Source::SendgridEvents => None,
    };
    match conversation.filter(|c| !c.is_empty() && c.len() <= MAX_KEY_BYTES) {
        Some(id) => format!("{}:{id}", source.as_str()).into_bytes(),
        None => body_hash(body),
    }
}

/// The key of a landed Google review: its resource name.
pub fn review_key(name: &str) -> Vec<u8> {
    format!("google:{name}").into_bytes()
}

/// `sha256:` and the hex SHA-256 of the body, truncated to 128 bits.
pub fn body_hash(body: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(body);
    format!("sha256:{}", hex::encode(&digest[..16])).into_bytes()
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// A JSON string or number, as text (ids are either, depending on the provider).
#[derive(Debug)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            U(u64),
            I(i64),
            Other(IgnoredAny),
        }
        Ok(Scalar(match Either::deserialize(d)? {
            Either::S(s) => s,
            Either::U(n) => n.to_string(),
            Either::I(n) => n.to_string(),
            Either::Other(_) => String::new(),
        }))
    }
}

#[derive(Deserialize)]
struct Generic {
    conversation_id: Option<Scalar>,
}

#[derive(Deserialize)]
struct Intercom {
    data: Option<IntercomData>,
}
#[derive(Deserialize)]
struct IntercomData {
    item: Option<WithId>,
}
#[derive(Deserialize)]
struct WithId {
    id: Option<Scalar>,
}

#[derive(Deserialize)]
struct Chatwoot {
    event: Option<String>,
    id: Option<Scalar>,
    conversation: Option<WithId>,
}

#[derive(Deserialize)]
struct Zendesk {
    audit: Option<ZendeskAudit>,
    ticket_id: Option<Scalar>,
    detail: Option<WithId>,
}
#[derive(Deserialize)]
struct ZendeskAudit {
    ticket_id: Option<Scalar>,
}

#[derive(Deserialize)]
struct Freshdesk {
    ticket_id: Option<Scalar>,
    id: Option<Scalar>,
}

#[derive(Deserialize)]
struct Trustpilot {
    #[serde(default)]
    events: Vec<TrustpilotEvent>,
}
#[derive(Deserialize)]
struct TrustpilotEvent {
    #[serde(rename = "eventData")]
    event_data: Option<WithId>,
}

#[derive(Deserialize)]
struct Yelp {
    data: Option<YelpData>,
}
#[derive(Deserialize)]
struct YelpData {
    #[serde(default)]
    updates: Vec<YelpUpdate>,
}
#[derive(Deserialize)]
struct YelpUpdate {
    review_id: Option<Scalar>,
}

#[derive(Deserialize)]
struct MailgunEvent {
    #[serde(rename = "event-data")]
    event_data: Option<MailgunEventData>,
}
#[derive(Deserialize)]
struct MailgunEventData {
    message: Option<MailgunMessage>,
}
#[derive(Deserialize)]
struct MailgunMessage {
    headers: Option<MailgunHeaders>,
}
#[derive(Deserialize)]
struct MailgunHeaders {
    #[serde(rename = "message-id")]
    message_id: Option<String>,
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn mailgun_message_id(body: &[u8], content_type: &str) -> Option<String> {
    if media_type(content_type) == "application/json" {
        return json::<MailgunEvent>(body)?
            .event_data?
            .message?
            .headers?
            .message_id;
    }
    let mut fields = form_fields_within(content_type, body, &["Message-Id"], 1024).ok()?;
    fields.remove("Message-Id")
}

fn sendgrid_message_id(body: &[u8], content_type: &str) -> Option<String> {
    let fields =
        form_fields_within(content_type, body, &["headers", "email"], MAX_HEADER_BLOCK).ok()?;
    fields
        .get("headers")
        .or_else(|| fields.get("email"))
        .and_then(|text| header_value(text, "message-id"))
}

/// The value of the first header `name` in a mail's header block (up to the first empty line).
fn header_value(text: &str, name: &str) -> Option<String> {
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':')
            && key.trim().eq_ignore_ascii_case(name)
        {
            return Some(value.trim().to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(source: Source, body: &str) -> String {
        String::from_utf8(record_key(
            source,
            body.as_bytes(),
            "application/json",
            None,
        ))
        .unwrap()
    }

    #[test]
    fn json_sources_are_keyed_by_their_conversation() {
        assert_eq!(
            key(
                Source::Generic,
                r#"{"schema":"rapport.generic.v1","conversation_id":"c-1"}"#
            ),
            "generic:c-1"
        );
        assert_eq!(
            key(
                Source::Intercom,
                r#"{"data":{"item":{"type":"conversation","id":"147"}}}"#
            ),
            "intercom:147"
        );
        assert_eq!(
            key(
                Source::Chatwoot,
                r#"{"event":"message_created","conversation":{"id":7}}"#
            ),
            "chatwoot:7"
        );
        assert_eq!(
            key(
                Source::Chatwoot,
                r#"{"event":"conversation_resolved","id":412}"#
            ),
            "chatwoot:412"
        );
        assert_eq!(
            key(Source::Zendesk, r#"{"audit":{"id":1,"ticket_id":35436}}"#),
            "zendesk:35436"
        );
        assert_eq!(
            key(
                Source::Zendesk,
                r#"{"type":"zen:event-type:ticket.comment_added","detail":{"id":"42"}}"#
            ),
            "zendesk:42"
        );
        assert_eq!(
            key(Source::Freshdesk, r#"{"id":9,"ticket_id":43}"#),
            "freshdesk:43"
        );
        assert_eq!(key(Source::Freshdesk, r#"{"id":43}"#), "freshdesk:43");
        assert_eq!(
            key(
                Source::Trustpilot,
                r#"{"events":[{"eventData":{"id":"r1"}},{"eventData":{"id":"r2"}}]}"#
            ),
            "trustpilot:r1"
        );
        assert_eq!(
            key(
                Source::Yelp,
                r#"{"data":{"id":"b","updates":[{"review_id":"y1"}]}}"#
            ),
            "yelp:y1"
        );
    }

    #[test]
    fn mail_is_keyed_by_its_message_id() {
        let form = "recipient=a%40b&Message-Id=%3Cm1%40mail%3E&body-plain=hi";
        assert_eq!(
            record_key(
                Source::Mailgun,
                form.as_bytes(),
                "application/x-www-form-urlencoded",
                None
            ),
            b"mailgun:<m1@mail>"
        );
        let event =
            r#"{"signature":{},"event-data":{"message":{"headers":{"message-id":"m2@x"}}}}"#;
        assert_eq!(
            record_key(Source::Mailgun, event.as_bytes(), "application/json", None),
            b"mailgun:m2@x"
        );
        let multipart = "--B\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\nFrom: a@b\nMessage-ID: <m3@x>\nSubject: s\r\n--B--\r\n";
        assert_eq!(
            record_key(
                Source::Sendgrid,
                multipart.as_bytes(),
                "multipart/form-data; boundary=B",
                None
            ),
            b"sendgrid:<m3@x>"
        );
        assert_eq!(
            record_key(Source::Ses, b"{}", "text/plain", Some("sns-id")),
            b"ses:sns-id"
        );
    }

    #[test]
    fn anything_else_gets_a_stable_hash_of_the_body() {
        let batch = r#"{"schema":"rapport.generic.v1","events":[]}"#;
        let a = key(Source::Generic, batch);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 32, "{a}");
        assert_eq!(a, key(Source::Generic, batch));
        assert_ne!(a, key(Source::Generic, &format!("{batch} ")));
        assert!(key(Source::Zendesk, "not json").starts_with("sha256:"));
        let long = format!(
            r#"{{"conversation_id":"{}"}}"#,
            "x".repeat(MAX_KEY_BYTES + 1)
        );
        assert!(key(Source::Generic, &long).starts_with("sha256:"));
        assert!(key(Source::SendgridEvents, "[]").starts_with("sha256:"));
    }
}
