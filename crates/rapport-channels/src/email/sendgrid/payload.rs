//! The SendGrid (Twilio SendGrid) Inbound Parse webhook POST, as documented on "Inbound Email
//! Parse Webhook" / "Setting Up The Inbound Parse Webhook"
//! (twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook)
//! and as consumed by SendGrid's own helpers (`sendgrid/sendgrid-python`
//! `sendgrid/helpers/inbound/config.yml` and `parse.py`; `sendgrid/sendgrid-go`
//! `helpers/inbound/inbound.go` with its sample `sample_data/raw_data_plaintext.txt`).
//!
//! The body is `multipart/form-data` (the Kafka value is the raw POST body). Two variants:
//! - **default**: `headers` (the raw header block), `dkim`, `content-ids` (JSON), `to`, `cc`,
//!   `from`, `text`, `html`, `sender_ip`, `spam_report`, `envelope` (JSON `{"to":[…],"from":…}`),
//!   `attachments` (count), `subject`, `spam_score`, `attachment-info` (JSON keyed
//!   `attachment1…` with `filename`, `name`, `type`, `content-id`), `charsets` (JSON: the charset
//!   of each text field, e.g. `{"text":"iso-8859-1"}`), `SPF`, and one file part per attachment.
//! - **raw** ("Send Raw" checked): `email` (the full MIME message) instead of `headers`, `text`,
//!   `html` and the attachment fields.
//!
//! Some bridges forward the same fields as a JSON object; [`crate::email::form`] reads all three.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::email::form::Form;

/// The fields of one Inbound Parse POST that the adapter reads.
#[derive(Debug, Clone, Default)]
pub struct InboundParse {
    /// Raw variant: the full MIME message.
    pub email: Option<Vec<u8>>,
    /// Default variant: the raw header block of the message.
    pub headers: Option<Vec<u8>>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub subject: Option<String>,
    /// Plain body, in the charset `charsets.text` names.
    pub text: Option<Vec<u8>>,
    /// HTML body, in the charset `charsets.html` names.
    pub html: Option<Vec<u8>>,
    pub charsets: Charsets,
    /// `attachments`: how many files were posted.
    pub attachments: Option<u32>,
    pub attachment_info: BTreeMap<String, AttachmentInfo>,
    /// File names of the posted attachment parts.
    pub files: Vec<String>,
    pub envelope: Option<Envelope>,
}

/// `charsets`: field name → charset label.
pub type Charsets = BTreeMap<String, String>;

/// One entry of `attachment-info`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AttachmentInfo {
    pub filename: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    #[serde(rename = "content-id")]
    pub content_id: Option<String>,
}

/// `envelope`: the SMTP envelope (`RCPT TO` list and `MAIL FROM`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Envelope {
    pub to: Vec<String>,
    pub from: Option<String>,
}

/// Why a field could not be read: its name and the reason.
pub type FieldError = (&'static str, String);

impl InboundParse {
    /// True when the form carries the fields every Inbound Parse POST has.
    pub(crate) fn is_inbound_parse(form: &Form) -> bool {
        form.has("envelope") && (form.has("email") || form.has("headers") || form.has("from"))
    }

    pub(crate) fn from_form(form: &Form) -> Result<Self, FieldError> {
        let json_field = |name: &'static str| -> Result<Option<serde_json::Value>, FieldError> {
            form.bytes(name)
                .filter(|b| !b.iter().all(u8::is_ascii_whitespace))
                .map(|b| serde_json::from_slice(b).map_err(|e| (name, e.to_string())))
                .transpose()
        };
        let attachments = form
            .text("attachments")
            .map(|n| {
                n.trim()
                    .parse::<u32>()
                    .map_err(|e| ("attachments", e.to_string()))
            })
            .transpose()?;
        Ok(Self {
            email: form.bytes("email").map(<[u8]>::to_vec),
            headers: form.bytes("headers").map(<[u8]>::to_vec),
            from: form.text("from"),
            to: form.text("to"),
            cc: form.text("cc"),
            subject: form.text("subject"),
            text: form.bytes("text").map(<[u8]>::to_vec),
            html: form.bytes("html").map(<[u8]>::to_vec),
            charsets: typed("charsets", json_field("charsets")?)?.unwrap_or_default(),
            attachments,
            attachment_info: typed("attachment-info", json_field("attachment-info")?)?
                .unwrap_or_default(),
            files: form.files().filter_map(|f| f.filename.clone()).collect(),
            envelope: typed("envelope", json_field("envelope")?)?,
        })
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    name: &'static str,
    value: Option<serde_json::Value>,
) -> Result<Option<T>, FieldError> {
    value
        .map(|v| serde_json::from_value(v).map_err(|e| (name, e.to_string())))
        .transpose()
}
