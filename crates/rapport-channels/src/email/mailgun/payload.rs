//! The Mailgun route `forward()` POST ("Receiving Messages via HTTP through a forward() action",
//! documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http), and
//! the same fields as `store(notify=…)` posts them ("Storing and Retrieving Messages"). Checked
//! against a payload captured from Mailgun's route tester in
//! `yunojuno-archive/django-inbound-email` `inbound_email/tests/test_files/mailgun_post.py`.
//!
//! Parsed posts are `application/x-www-form-urlencoded`, or `multipart/form-data` when the mail
//! has attachments, with: `recipient`, `sender` (SMTP `MAIL FROM`), `from`, `subject`,
//! `body-plain` (always present; generated from HTML for HTML-only mail), `stripped-text`,
//! `stripped-signature`, `body-html`, `stripped-html`, `attachment-count`, files
//! `attachment-1…`, `timestamp`, `token`, `signature` (webhook signing), `message-headers` (a JSON
//! list of `[name, value]` pairs, order preserved) and `content-id-map`; the message's own header
//! fields (`Message-Id`, `In-Reply-To`, `References`, `Date`, `To`, …) are also posted as
//! top-level fields. A route whose URL ends in `mime` posts `body-mime` (the raw MIME message)
//! instead of the parsed fields. Stored-message JSON lists `attachments` as objects with `name`
//! or `filename`. A JSON object of these fields is accepted as well.

use serde::Deserialize;

use crate::email::form::Form;

/// The fields of one route POST that the adapter reads.
#[derive(Debug, Clone, Default)]
pub struct RoutePost {
    /// `body-mime`: the raw MIME message (routes whose URL ends in `mime`).
    pub body_mime: Option<Vec<u8>>,
    /// `message-headers` as `(name, value)` pairs.
    pub message_headers: Option<Vec<(String, String)>>,
    /// Top-level copies of header fields, used when `message-headers` is absent.
    pub header_fields: Vec<(&'static str, String)>,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub stripped_text: Option<String>,
    pub body_plain: Option<String>,
    pub stripped_html: Option<String>,
    pub body_html: Option<String>,
    pub attachment_count: Option<u32>,
    /// Attachment file names (posted files, or the stored-message `attachments` list).
    pub attachment_names: Vec<String>,
}

/// One `message-headers` entry: `["Name", "value"]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct HeaderPair(pub String, pub String);

/// One entry of a stored message's `attachments` list.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct StoredAttachment {
    pub name: Option<String>,
    pub filename: Option<String>,
}

/// Header fields Mailgun repeats as top-level parameters.
const HEADER_FIELDS: [&str; 8] = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-Id",
    "In-Reply-To",
];

/// Why a field could not be read: its name and the reason.
pub type FieldError = (&'static str, String);

impl RoutePost {
    /// True when the form carries the fields every route POST has.
    pub(crate) fn is_route_post(form: &Form) -> bool {
        form.has("body-mime")
            || (form.has("message-headers") || form.has("body-plain"))
                && (form.has("from") || form.has("sender"))
    }

    pub(crate) fn from_form(form: &Form) -> Result<Self, FieldError> {
        let message_headers = form
            .bytes("message-headers")
            .map(|b| {
                serde_json::from_slice::<Vec<HeaderPair>>(b)
                    .map(|pairs| pairs.into_iter().map(|HeaderPair(n, v)| (n, v)).collect())
                    .map_err(|e| ("message-headers", e.to_string()))
            })
            .transpose()?;
        let mut header_fields: Vec<(&'static str, String)> = HEADER_FIELDS
            .iter()
            .filter_map(|&name| Some((name, form.text(name)?)))
            .collect();
        if let Some(references) = form.text("References") {
            header_fields.push(("References", references));
        }
        let attachment_count = form
            .text("attachment-count")
            .map(|n| {
                n.trim()
                    .parse::<u32>()
                    .map_err(|e| ("attachment-count", e.to_string()))
            })
            .transpose()?;
        let mut attachment_names: Vec<String> =
            form.files().filter_map(|f| f.filename.clone()).collect();
        if attachment_names.is_empty()
            && let Some(list) = form.bytes("attachments")
        {
            let stored: Vec<StoredAttachment> =
                serde_json::from_slice(list).map_err(|e| ("attachments", e.to_string()))?;
            attachment_names = stored
                .into_iter()
                .filter_map(|a| a.filename.or(a.name))
                .collect();
        }
        Ok(Self {
            body_mime: form.bytes("body-mime").map(<[u8]>::to_vec),
            message_headers,
            header_fields,
            from: form.text("from"),
            subject: form.text("subject"),
            stripped_text: form.text("stripped-text"),
            body_plain: form.text("body-plain"),
            stripped_html: form.text("stripped-html"),
            body_html: form.all_text("body-html").into_iter().next(),
            attachment_count,
            attachment_names,
        })
    }
}
