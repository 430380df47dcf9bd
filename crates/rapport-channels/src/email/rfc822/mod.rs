//! Raw RFC 5322 / MIME messages (an `.eml` file, an IMAP fetch, an MTA pipe) to interactions.
//!
//! The whole record is the message; everything else — threading, direction, identities,
//! auto-reply detection, body text — is the email family's shared logic in
//! [`crate::email::mime`]. Messages without a `Message-ID` get a UUID v5 of their bytes as event
//! id (`["rfc822-no-message-id", bytes]`), so a retried delivery of the same bytes collapses.

pub mod payload;

use rapport_model::{Interaction, Source};

use crate::email::mime;
use crate::{AdapterError, Context};

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Vec<Interaction>, AdapterError> {
    crate::common::json::check_size(payload, ctx.limits)?;
    Ok(vec![mime::normalize_raw(
        payload,
        Source::Rfc822,
        None,
        ctx,
    )?])
}

/// True when the record starts like an RFC 5322 header block and, before the first blank line,
/// carries a `From:` or `Message-ID:` field.
pub fn detect(payload: &[u8]) -> bool {
    payload::looks_like_message(payload)
}
