//! SendGrid Inbound Parse webhook POSTs to interactions.
//!
//! - **Raw** posts (`email` field) go through the shared MIME path unchanged.
//! - **Default** posts: the `headers` field is parsed as the message's header block (so threading
//!   ids, dates, encoded words and auto-reply headers are read exactly as for raw mail); the
//!   `from`/`to`/`cc`/`subject` fields fill in what a missing or broken header block lacks; the
//!   body is `text` (decoded with the charset `charsets` names), else `html` converted to text;
//!   attachments come from `attachment-info` (names) and `attachments` (count).
//!
//! The event id is the `Message-ID`, so SendGrid's retries (up to three days) and the same mail
//! arriving by another route collapse; without one, a UUID v5 of the message bytes (`email`, or
//! `headers` + `text` + `html`), which SendGrid resends unchanged.

pub mod payload;

use mail_parser::decoders::charsets::map::charset_decoder;
use rapport_model::{Interaction, Source};

use self::payload::InboundParse;
use crate::common::{json, text};
use crate::email::form::Form;
use crate::email::mime::{self, Delivery};
use crate::{AdapterError, Context};

const SOURCE: Source = Source::Sendgrid;

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Vec<Interaction>, AdapterError> {
    json::check_size(payload, ctx.limits)?;
    let form = Form::parse(payload, ctx.limits, "sendgrid")?;
    if !InboundParse::is_inbound_parse(&form) {
        return Err(AdapterError::shape(
            "sendgrid",
            "no Inbound Parse fields (envelope with email, headers or from)",
        ));
    }
    let post = InboundParse::from_form(&form)
        .map_err(|(field, reason)| AdapterError::invalid(field, reason))?;
    if let Some(raw) = post.email.as_deref() {
        return Ok(vec![mime::normalize_raw(raw, SOURCE, None, ctx)?]);
    }
    Ok(vec![default_post(&post, ctx)?])
}

fn default_post(post: &InboundParse, ctx: &Context<'_>) -> Result<Interaction, AdapterError> {
    let header_message = post
        .headers
        .as_deref()
        .and_then(|block| mime::parse_headers(block, "sendgrid").ok());
    let from_headers = header_message.as_ref().map(mime::read_headers);
    // The separate fields repeat what the header block says; parse them only when they can
    // fill something in.
    let fields_needed = from_headers.as_ref().is_none_or(|email| {
        email.lacks_any(
            post.from.is_some(),
            post.to.is_some(),
            post.cc.is_some(),
            post.subject.is_some(),
        )
    });
    let from_fields = if fields_needed {
        mime::header_block(
            [
                ("From", &post.from),
                ("To", &post.to),
                ("Cc", &post.cc),
                ("Subject", &post.subject),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.as_deref()?))),
        )
    } else {
        Vec::new()
    };
    let field_message = fields_needed
        .then(|| mime::parse_headers(&from_fields, "sendgrid").ok())
        .flatten();
    let mut email = match (from_headers, &field_message) {
        (Some(email), _) => email,
        (None, Some(fields)) => mime::read_headers(fields),
        (None, None) => return Err(AdapterError::missing("headers")),
    };
    if let Some(fields) = field_message.as_ref().map(mime::read_headers) {
        email.fill_from(fields);
    }

    let charset = |field: &str| post.charsets.get(field).map(String::as_str);
    let plain = post
        .text
        .as_deref()
        .map(|b| decode(b, charset("text")))
        .filter(|t| !t.trim().is_empty());
    let html = || {
        post.html
            .as_deref()
            .map(|b| mime::html_text(&decode(b, charset("html"))))
    };
    email.body = plain
        .or_else(html)
        .map(|t| text::tidy(&t))
        .filter(|t| !t.is_empty());

    let mut info: Vec<(&String, &payload::AttachmentInfo)> = post.attachment_info.iter().collect();
    info.sort_by_key(|(key, _)| {
        (
            key.trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse::<u32>()
                .unwrap_or(u32::MAX),
            *key,
        )
    });
    let names: Vec<String> = info
        .into_iter()
        .filter_map(|(_, a)| a.filename.clone().or_else(|| a.name.clone()))
        .filter(|n| !n.trim().is_empty())
        .collect();
    email.attachment_names = if names.is_empty() {
        post.files.clone()
    } else {
        names
    };
    email.attachment_count = post
        .attachments
        .unwrap_or(0)
        .max(u32::try_from(post.attachment_info.len().max(post.files.len())).unwrap_or(u32::MAX));

    let fallback_id = || {
        let mut seed = post.headers.clone().unwrap_or_else(|| from_fields.clone());
        seed.extend_from_slice(post.text.as_deref().unwrap_or_default());
        seed.extend_from_slice(post.html.as_deref().unwrap_or_default());
        mime::fallback_id(SOURCE, &seed)
    };
    let delivery = Delivery {
        source: SOURCE,
        fallback_id: &fallback_id,
        received_at: None,
    };
    mime::interaction(email, delivery, ctx)
}

/// Decodes a form field in the charset SendGrid reported for it (UTF-8 when it names none).
fn decode(bytes: &[u8], charset: Option<&str>) -> String {
    match charset.map(str::trim).filter(|c| {
        !c.is_empty() && !c.eq_ignore_ascii_case("utf-8") && !c.eq_ignore_ascii_case("utf8")
    }) {
        Some(label) => match charset_decoder(label.as_bytes()) {
            Some(decoder) => decoder(bytes),
            None => String::from_utf8_lossy(bytes).into_owned(),
        },
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// True for a multipart, URL-encoded or JSON body carrying SendGrid's `envelope` field together
/// with `email` (raw) or `headers` (default) — markers every Inbound Parse POST has.
pub fn detect(payload: &[u8]) -> bool {
    let head = payload.get(..256 * 1024).unwrap_or(payload);
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    let multipart = head.starts_with(b"--")
        && has(b"name=\"envelope\"")
        && (has(b"name=\"email\"") || has(b"name=\"headers\""));
    let json = head.trim_ascii_start().starts_with(b"{")
        && has(b"\"envelope\"")
        && (has(b"\"email\"") || has(b"\"headers\""))
        && !has(b"\"message-headers\"");
    multipart || json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_in_their_reported_charset() {
        assert_eq!(decode(b"Caf\xe9", Some("iso-8859-1")), "Café");
        assert_eq!(
            decode(b"\x93Hi\x94", Some("windows-1252")),
            "\u{201c}Hi\u{201d}"
        );
        assert_eq!(decode("Café".as_bytes(), Some("UTF-8")), "Café");
        assert_eq!(decode(b"plain", Some("x-unknown")), "plain");
    }

    #[test]
    fn detection_needs_the_envelope_and_a_message_field() {
        assert!(detect(b"--xYzZY\r\nContent-Disposition: form-data; name=\"envelope\"\r\n\r\n{}\r\n--xYzZY\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nFrom: a@b.io\r\n--xYzZY--"));
        assert!(detect(
            br#"{"envelope":{"to":["a@b.io"]},"headers":"From: a@b.io"}"#
        ));
        assert!(!detect(br#"{"headers":"From: a@b.io"}"#));
        assert!(!detect(b"From: a@b.io\r\n\r\nenvelope"));
    }
}
