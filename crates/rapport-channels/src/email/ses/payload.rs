//! Amazon SES email-receiving notifications, delivered through Amazon SNS.
//!
//! - The SNS HTTP(S) message: `Type` (`Notification`, `SubscriptionConfirmation`,
//!   `UnsubscribeConfirmation`), `MessageId`, `TopicArn`, `Message` (the SES notification as a
//!   JSON *string*), `Timestamp`, signature fields (Amazon SNS "HTTP/HTTPS notification JSON
//!   format"). With raw message delivery enabled the body is the SES notification itself.
//! - The SES notification ("Contents of notifications for Amazon SES email receiving",
//!   docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html, and its
//!   "Examples of notifications" page): `notificationType` (`Received`), `receipt` (`timestamp`,
//!   `recipients`, verdicts, `action` with `type`, `topicArn` and, for the SNS action,
//!   `encoding` `UTF8` or `BASE64`), `mail` (`timestamp`, `source`, `messageId`, `destination`,
//!   `headersTruncated`, `headers` as `{name, value}` objects, `commonHeaders` with `returnPath`,
//!   `from`, `date`, `to`, `cc`, `bcc`, `replyTo`, `sender`, `messageId`, `subject`) and
//!   `content` — the raw MIME message, present only when the notification comes from an SNS
//!   action.
//!
//! Checked against the AWS pages above and the sample `Received` event in `asskii/ses-catchall`
//! `sample-sesMsg.json`.

use serde::Deserialize;

/// The outer JSON: an SNS message, or (raw delivery) the SES notification directly.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Envelope {
    /// SNS message type.
    #[serde(rename = "Type")]
    pub sns_type: Option<String>,
    #[serde(rename = "MessageId")]
    pub sns_message_id: Option<String>,
    #[serde(rename = "TopicArn")]
    pub topic_arn: Option<String>,
    /// The SES notification, as a JSON string.
    #[serde(rename = "Message")]
    pub message: Option<String>,
    /// Present when the body is the SES notification itself.
    #[serde(rename = "notificationType")]
    pub notification_type: Option<String>,
}

/// One SES notification.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    #[serde(rename = "notificationType")]
    pub notification_type: String,
    #[serde(default)]
    pub mail: Option<Mail>,
    #[serde(default)]
    pub receipt: Option<Receipt>,
    /// The raw message (SNS action only), UTF-8 or base64 per `receipt.action.encoding`.
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Mail {
    /// When SES received the message (ISO 8601).
    pub timestamp: Option<String>,
    /// The envelope `MAIL FROM` address.
    pub source: Option<String>,
    /// SES's own id of the received message.
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    pub destination: Vec<String>,
    #[serde(rename = "headersTruncated")]
    pub headers_truncated: bool,
    pub headers: Vec<Header>,
    #[serde(rename = "commonHeaders")]
    pub common_headers: CommonHeaders,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CommonHeaders {
    #[serde(rename = "returnPath")]
    pub return_path: Option<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    #[serde(rename = "replyTo")]
    pub reply_to: Vec<String>,
    pub date: Option<String>,
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    pub subject: Option<String>,
}

impl CommonHeaders {
    /// The common headers as `(name, value)` pairs of a header block.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, list) in [
            ("From", &self.from),
            ("To", &self.to),
            ("Cc", &self.cc),
            ("Reply-To", &self.reply_to),
        ] {
            if !list.is_empty() {
                pairs.push((name, list.join(", ")));
            }
        }
        for (name, value) in [
            ("Date", &self.date),
            ("Message-ID", &self.message_id),
            ("Subject", &self.subject),
        ] {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        pairs
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Receipt {
    pub timestamp: Option<String>,
    pub action: Option<Action>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Action {
    #[serde(rename = "type")]
    pub action_type: Option<String>,
    /// `UTF8` or `BASE64` (SNS action only).
    pub encoding: Option<String>,
    #[serde(rename = "topicArn")]
    pub topic_arn: Option<String>,
}
