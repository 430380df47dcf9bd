//! Mailgun route `forward()` / `store(notify)` POSTs to interactions.
//!
//! - A `body-mime` post (raw MIME route) goes through the shared MIME path unchanged.
//! - A parsed post: `message-headers` is rebuilt into a header block and parsed like a real
//!   message's headers (threading ids, `Date`, auto-reply headers); without it, the top-level
//!   header fields and `from`/`subject` stand in. Text prefers `stripped-text` (Mailgun's own
//!   quote and signature removal), then `body-plain`, then `stripped-html`/`body-html` converted;
//!   the shared quote stripper still runs on it. Attachments come from `attachment-count` and the
//!   posted files' names.
//!
//! `timestamp`, `token` and `signature` only sign the POST and change on every retry, so they are
//! never used for ids or times. The event id is the `Message-ID`; without one, a UUID v5 of the
//! message headers and plain body, which do not change between Mailgun's retries.

pub mod payload;

use rapport_model::{Interaction, Source};

use self::payload::RoutePost;
use crate::common::{json, text};
use crate::email::form::Form;
use crate::email::mime::{self, Delivery};
use crate::{AdapterError, Context};

const SOURCE: Source = Source::Mailgun;

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Vec<Interaction>, AdapterError> {
    json::check_size(payload, ctx.limits)?;
    let form = Form::parse(payload, ctx.limits, "mailgun")?;
    if !RoutePost::is_route_post(&form) {
        return Err(AdapterError::shape(
            "mailgun",
            "no route fields (message-headers or body-plain with from, or body-mime)",
        ));
    }
    let post = RoutePost::from_form(&form)
        .map_err(|(field, reason)| AdapterError::invalid(field, reason))?;
    if let Some(raw) = post.body_mime.as_deref() {
        return Ok(vec![mime::normalize_raw(raw, SOURCE, None, ctx)?]);
    }
    Ok(vec![parsed_post(&post, ctx)?])
}

fn parsed_post(post: &RoutePost, ctx: &Context<'_>) -> Result<Interaction, AdapterError> {
    let block = match &post.message_headers {
        Some(pairs) => mime::header_block(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        None => mime::header_block(post.header_fields.iter().map(|(n, v)| (*n, v.as_str()))),
    };
    let header_message = mime::parse_headers(&block, "mailgun").ok();
    let from_headers = header_message.as_ref().map(mime::read_headers);
    // The separate fields repeat what the header block says; parse them only when they can
    // fill something in.
    let fields_needed = from_headers.as_ref().is_none_or(|email| {
        email.lacks_any(post.from.is_some(), false, false, post.subject.is_some())
    });
    let fields = if fields_needed {
        mime::header_block(
            [("From", &post.from), ("Subject", &post.subject)]
                .into_iter()
                .filter_map(|(name, value)| Some((name, value.as_deref()?))),
        )
    } else {
        Vec::new()
    };
    let field_message = fields_needed
        .then(|| mime::parse_headers(&fields, "mailgun").ok())
        .flatten();
    let mut email = match (from_headers, &field_message) {
        (Some(email), _) => email,
        (None, Some(fields)) => mime::read_headers(fields),
        (None, None) => return Err(AdapterError::missing("message-headers")),
    };
    if let Some(fields) = field_message.as_ref().map(mime::read_headers) {
        email.fill_from(fields);
    }

    let html = || {
        post.stripped_html
            .as_deref()
            .or(post.body_html.as_deref())
            .map(mime::html_text)
    };
    email.body = post
        .stripped_text
        .clone()
        .or_else(|| post.body_plain.clone())
        .or_else(html)
        .map(|t| text::tidy(&t))
        .filter(|t| !t.is_empty());
    email.attachment_names = post.attachment_names.clone();
    email.attachment_count = post.attachment_count.unwrap_or(0);

    let fallback_id = || {
        let mut seed = block.clone();
        seed.extend_from_slice(post.body_plain.as_deref().unwrap_or_default().as_bytes());
        mime::fallback_id(SOURCE, &seed)
    };
    let delivery = Delivery {
        source: SOURCE,
        fallback_id: &fallback_id,
        received_at: None,
    };
    mime::interaction(email, delivery, ctx)
}

/// True for a form (multipart or URL-encoded) or JSON body with a field Mailgun's route POSTs
/// always carry under that exact name: `message-headers` or `body-plain`, or `body-mime` for
/// raw-MIME routes. Field names are matched as field names (`name="…"`, `…=` at a field start,
/// `"…":`), not as words in the mail's text.
pub fn detect(payload: &[u8]) -> bool {
    let head = payload.get(..256 * 1024).unwrap_or(payload);
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    let field = |name: &str| {
        head.starts_with(format!("{name}=").as_bytes())
            || [
                format!("name=\"{name}\""),
                format!("&{name}="),
                format!("\"{name}\":"),
                format!("\"{name}\" :"),
            ]
            .iter()
            .any(|marker| has(marker.as_bytes()))
    };
    field("message-headers") || field("body-plain") || field("body-mime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_needs_mailgun_field_names() {
        assert!(detect(
            b"recipient=a%40b.io&message-headers=%5B%5D&body-plain=hi"
        ));
        assert!(detect(
            br#"{"body-mime":"From: a@b.io","signature":"x","token":"y"}"#
        ));
        assert!(detect(
            b"--b\r\nContent-Disposition: form-data; name=\"body-plain\"\r\n\r\nhi\r\n--b--"
        ));
        assert!(!detect(br#"{"headers":"From: a@b.io","envelope":"{}"}"#));
        assert!(!detect(
            b"From: a@b.io\r\n\r\nOur message-headers and body-plain fields are documented."
        ));
    }
}
