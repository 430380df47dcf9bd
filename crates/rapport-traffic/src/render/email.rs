//! Email: one RFC 5322 message per scenario message, then delivered the way each provider
//! delivers it: raw (`rfc822`), as a SendGrid Inbound Parse post, as a Mailgun route post, or
//! inside an SES receipt notification sent through SNS.
//!
//! Agent replies are in the traffic too (a copy of every outgoing mail reaches the inbound
//! address, as with a BCC or journaling rule), so a thread's both sides are seen.
//!
//! Webhook signatures are not part of the payload here: Mailgun's `timestamp`, `token` and
//! `signature` fields and SNS's `Signature` fields can only be made with the provider's (or the
//! gateway's test) key, so whoever sends a payload to the gateway adds them; the adapters never
//! read them.

use base64::Engine as _;
use rapport_model::Timestamp;
use serde_json::json;

use super::{Event, rfc3339_millis, uuid};
use crate::scenario::{Author, Step};

/// The parts of one message a delivery needs.
struct Mail {
    /// Header fields in order.
    headers: Vec<(&'static str, String)>,
    /// The whole plain body, quoted history included.
    body: String,
    /// What the author wrote, without the quote.
    own_text: String,
    from: String,
    from_address: String,
    to: String,
    to_address: String,
    subject: String,
    message_id: String,
}

impl Mail {
    fn header_block(&self) -> String {
        let mut block = String::new();
        for (name, value) in &self.headers {
            block.push_str(name);
            block.push_str(": ");
            block.push_str(value);
            block.push_str("\r\n");
        }
        block
    }

    /// The message as it travels: header block, blank line, body.
    fn raw(&self) -> String {
        format!("{}\r\n{}", self.header_block(), self.body)
    }

    fn html(&self) -> String {
        let own = super::html_paragraph(&self.own_text);
        match self.body.find("\r\n\r\nOn ") {
            Some(at) => format!(
                "<div dir=\"ltr\">{own}</div><br><div class=\"gmail_quote\"><blockquote>{}</blockquote></div>",
                super::html_paragraph(self.body[at + 4..].trim())
            ),
            None => format!("<div dir=\"ltr\">{own}</div>"),
        }
    }
}

fn rfc2822(at: Timestamp) -> String {
    at.to_datetime().to_rfc2822()
}

fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("example.org", |(_, d)| d)
}

/// The message's own id, on the sender's domain.
fn message_id(event: &Event<'_>) -> Option<String> {
    let sender_domain = match event.step() {
        Step::Message {
            author: Author::Customer,
            ..
        } => domain(&event.customer().email),
        Step::Message {
            author: Author::Agent(_),
            ..
        } => event.agent_domain,
        _ => return None,
    };
    Some(format!(
        "<c{}.m{}@{sender_domain}>",
        event.conversation.id, event.n
    ))
}

/// Who wrote a message, as `(display, address)`.
fn author(event: &Event<'_>, author: Author) -> Option<(String, String)> {
    match author {
        Author::Customer => {
            let c = event.customer();
            Some((format!("\"{}\" <{}>", c.name, c.email), c.email.clone()))
        }
        Author::Agent(a) => {
            let agent = event.agent(a);
            Some((
                format!("\"{}\" <{}>", agent.name, agent.email),
                agent.email.clone(),
            ))
        }
        Author::Bot => None,
    }
}

/// The message of a scenario event, or `None` for events mail does not carry.
fn mail(event: &Event<'_>) -> Option<Mail> {
    let Step::Message { author: who, text } = event.step() else {
        return None;
    };
    let (from, from_address) = author(event, *who)?;
    let customer = event.customer();
    let support = format!("support@{}", event.agent_domain);
    let (to, to_address) = match who {
        Author::Customer => (support.clone(), support),
        _ => (
            format!("\"{}\" <{}>", customer.name, customer.email),
            customer.email.clone(),
        ),
    };
    let earlier: Vec<usize> = (0..event.n)
        .filter(|i| {
            matches!(
                event.conversation.events[*i].step,
                Step::Message {
                    author: Author::Customer | Author::Agent(_),
                    ..
                }
            )
        })
        .collect();
    let earlier_ids: Vec<String> = earlier
        .iter()
        .filter_map(|i| message_id(&event.earlier(*i)))
        .collect();
    let own_id = message_id(event)?;
    let subject = if earlier.is_empty() {
        event.conversation.subject.clone()
    } else {
        format!("Re: {}", event.conversation.subject)
    };
    let mut headers = vec![("Message-ID", own_id.clone())];
    if let Some(parent) = earlier_ids.last() {
        headers.push(("In-Reply-To", parent.clone()));
        headers.push(("References", earlier_ids.join(" ")));
    }
    headers.extend([
        ("From", from.clone()),
        ("To", to.clone()),
        ("Subject", subject.clone()),
        ("Date", rfc2822(event.at())),
        ("MIME-Version", "1.0".to_owned()),
        ("Content-Type", "text/plain; charset=utf-8".to_owned()),
    ]);
    let mut body = format!("{text}\r\n");
    if let Some(&parent) = earlier.last() {
        let parent = event.earlier(parent);
        if let Step::Message {
            author: parent_author,
            text: parent_text,
        } = parent.step()
        {
            let name = author(&parent, *parent_author).map_or_else(String::new, |(d, _)| d);
            body.push_str(&format!(
                "\r\nOn {}, {name} wrote:\r\n> {parent_text}\r\n",
                rfc2822(parent.at())
            ));
        }
    }
    Some(Mail {
        headers,
        body,
        own_text: text.clone(),
        from,
        from_address,
        to,
        to_address,
        subject,
        message_id: own_id,
    })
}

/// The raw message, as an MTA or a mailbox export hands it over.
pub(super) fn rfc822(event: &Event<'_>) -> Option<Vec<u8>> {
    Some(mail(event)?.raw().into_bytes())
}

/// A SendGrid Inbound Parse POST, default ("parsed") setting: `multipart/form-data` with the
/// header block, the address and subject fields, `text`, `html`, the SMTP envelope and the
/// charsets, in the order SendGrid sends them.
pub(super) fn sendgrid(event: &Event<'_>) -> Option<Vec<u8>> {
    let mail = mail(event)?;
    let parse_address = format!("support@parse.{}", event.agent_domain);
    let envelope = json!({"to": [parse_address], "from": mail.from_address}).to_string();
    let received = format!(
        "Received: by mx0047p1mdw1.sendgrid.net with SMTP id {} {}\r\n",
        uuid(&["sendgrid", &mail.message_id]).simple(),
        rfc2822(event.at())
    );
    let fields: [(&str, String); 14] = [
        ("headers", format!("{received}{}", mail.header_block())),
        (
            "dkim",
            format!("{{@{} : pass}}", domain(&mail.from_address)),
        ),
        ("content-ids", "{}".to_owned()),
        ("to", mail.to.clone()),
        ("from", mail.from.clone()),
        ("text", mail.body.clone()),
        ("html", mail.html()),
        ("sender_ip", "209.85.208.49".to_owned()),
        ("envelope", envelope),
        ("attachments", "0".to_owned()),
        ("subject", mail.subject.clone()),
        ("spam_score", "0.1".to_owned()),
        (
            "charsets",
            r#"{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}"#
                .to_owned(),
        ),
        ("SPF", "pass".to_owned()),
    ];
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--xYzZY\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str("--xYzZY--\r\n");
    Some(body.into_bytes())
}

/// A Mailgun route `forward()` POST (`application/x-www-form-urlencoded`, no attachments): the
/// parsed fields, Mailgun's quote-stripped text, `message-headers` as `[name, value]` pairs and
/// the header fields repeated at the top level.
pub(super) fn mailgun(event: &Event<'_>) -> Option<Vec<u8>> {
    let mail = mail(event)?;
    let recipient = match mail.to_address.rsplit_once('@') {
        Some((local, domain)) if domain == event.agent_domain => {
            format!("{local}@mg.{domain}")
        }
        _ => mail.to_address.clone(),
    };
    let received = format!(
        "by luna.mailgun.net with SMTP mgrt {}; {}",
        event.serial(),
        rfc2822(event.at())
    );
    let mut pairs: Vec<(&str, String)> = vec![("Received", received)];
    pairs.extend(mail.headers.iter().map(|(n, v)| (*n, v.clone())));
    let message_headers = serde_json::Value::Array(
        pairs
            .iter()
            .map(|(n, v)| json!([if *n == "Message-ID" { "Message-Id" } else { n }, v]))
            .collect(),
    )
    .to_string();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("recipient", &recipient)
        .append_pair("sender", &mail.from_address)
        .append_pair("subject", &mail.subject)
        .append_pair("from", &mail.from);
    for (name, value) in &pairs {
        let name = if *name == "Message-ID" {
            "Message-Id"
        } else {
            name
        };
        form.append_pair(name, value);
    }
    form.append_pair("body-plain", &mail.body)
        .append_pair("stripped-text", &mail.own_text)
        .append_pair("stripped-signature", "")
        .append_pair("body-html", &mail.html())
        .append_pair(
            "stripped-html",
            &format!(
                "<div dir=\"ltr\">{}</div>",
                super::html_paragraph(&mail.own_text)
            ),
        )
        .append_pair("attachment-count", "0")
        .append_pair("message-headers", &message_headers)
        .append_pair("content-id-map", "{}");
    Some(form.finish().into_bytes())
}

/// An SNS notification carrying an SES `Received` notification from an SNS receipt action:
/// the message itself is in `content`, UTF-8 or base64 (two receipt rules, half the
/// conversations each), with `mail.headers` and `mail.commonHeaders` as SES fills them.
pub(super) fn ses(event: &Event<'_>) -> Option<Vec<u8>> {
    let mail = mail(event)?;
    let topic = "arn:aws:sns:us-east-1:123456789012:rapport-inbound";
    let ses_id = uuid(&["ses", &mail.message_id]).simple().to_string();
    let received = Timestamp::from_millis(event.at().as_millis() + 1_400);
    let base64 = event.conversation.id.is_multiple_of(2);
    let raw = format!(
        "Return-Path: <{}>\r\nReceived: from mail.{} by inbound-smtp.us-east-1.amazonaws.com with SMTP id {ses_id} for {}; {}\r\n{}",
        mail.from_address,
        domain(&mail.from_address),
        mail.to_address,
        rfc2822(received),
        mail.raw()
    );
    let content = if base64 {
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    } else {
        raw
    };
    let mut headers =
        vec![json!({"name": "Return-Path", "value": format!("<{}>", mail.from_address)})];
    headers.extend(
        mail.headers
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value})),
    );
    let notification = json!({
        "notificationType": "Received",
        "mail": {
            "timestamp": rfc3339_millis(received),
            "source": mail.from_address,
            "messageId": ses_id,
            "destination": [mail.to_address],
            "headersTruncated": false,
            "headers": headers,
            "commonHeaders": {
                "returnPath": mail.from_address,
                "from": [mail.from],
                "date": rfc2822(event.at()),
                "to": [mail.to],
                "messageId": mail.message_id,
                "subject": mail.subject,
            },
        },
        "receipt": {
            "timestamp": rfc3339_millis(received),
            "processingTimeMillis": 412,
            "recipients": [mail.to_address],
            "spamVerdict": {"status": "PASS"},
            "virusVerdict": {"status": "PASS"},
            "spfVerdict": {"status": "PASS"},
            "dkimVerdict": {"status": "PASS"},
            "dmarcVerdict": {"status": "PASS"},
            "action": {
                "type": "SNS",
                "topicArn": topic,
                "encoding": if base64 { "BASE64" } else { "UTF8" },
            },
        },
        "content": content,
    });
    let sns = json!({
        "Type": "Notification",
        "MessageId": uuid(&["sns", &ses_id]).to_string(),
        "TopicArn": topic,
        "Subject": "Amazon SES Email Receipt Notification",
        "Message": notification.to_string(),
        "Timestamp": rfc3339_millis(Timestamp::from_millis(received.as_millis() + 300)),
        "UnsubscribeURL": format!("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1d2e3f4a"),
    });
    serde_json::to_vec(&sns).ok()
}
