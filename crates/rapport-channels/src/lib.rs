//! Native channel payloads to Rapport [`Interaction`]s.
//!
//! One module folder per source, grouped by channel family (`email/sendgrid`, `chat/intercom`,
//! `review/google`, `support/zendesk`, …). Every folder has the same files: `mod.rs` holds the
//! adapter (`normalize` and `detect`), `payload.rs` the source's documented native shape.
//! Golden files under `tests/golden/<source>/` pin each adapter's output.

pub mod chat;
pub mod common;
mod context;
pub mod email;
pub mod envelope;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod generic;
pub mod review;
pub mod support;

pub use context::{Context, Limits, TenantConfig};
pub use envelope::{Envelope, EnvelopeError, RawRecord, RecordError, RecordRules};
pub use error::{AdapterError, ErrorCode};
use rapport_model::{Interaction, Source};

/// Turns one native payload from `source` into the interactions it carries.
///
/// A valid payload that carries no interaction (a webhook ping, a contact update) yields an empty
/// vector; a payload the adapter cannot read is an error with a stable code.
pub fn normalize(
    source: Source,
    payload: &[u8],
    ctx: &Context<'_>,
) -> Result<Vec<Interaction>, AdapterError> {
    common::json::check_size(payload, ctx.limits)?;
    match source {
        Source::Rfc822 => email::rfc822::normalize(payload, ctx),
        Source::Sendgrid => email::sendgrid::normalize(payload, ctx),
        Source::Mailgun => email::mailgun::normalize(payload, ctx),
        Source::Ses => email::ses::normalize(payload, ctx),
        Source::Intercom => chat::intercom::normalize(payload, ctx),
        Source::Chatwoot => chat::chatwoot::normalize(payload, ctx),
        Source::Google => review::google::normalize(payload, ctx),
        Source::Yelp => review::yelp::normalize(payload, ctx),
        Source::Trustpilot => review::trustpilot::normalize(payload, ctx),
        Source::Zendesk => support::zendesk::normalize(payload, ctx),
        Source::Freshdesk => support::freshdesk::normalize(payload, ctx),
        Source::Generic => generic::normalize(payload, ctx),
    }
}

/// Content detection for records that arrive without a `rapport-source` header and on a topic
/// without a default source. Each adapter's `detect` looks only for markers its source always
/// sends; when none matches, the caller must reject the payload rather than guess.
pub fn detect(payload: &[u8]) -> Option<Source> {
    type Detector = fn(&[u8]) -> bool;
    const ORDER: [(Source, Detector); 12] = [
        (Source::Generic, generic::detect),
        (Source::Ses, email::ses::detect),
        (Source::Intercom, chat::intercom::detect),
        (Source::Chatwoot, chat::chatwoot::detect),
        (Source::Zendesk, support::zendesk::detect),
        (Source::Freshdesk, support::freshdesk::detect),
        (Source::Google, review::google::detect),
        (Source::Yelp, review::yelp::detect),
        (Source::Trustpilot, review::trustpilot::detect),
        (Source::Mailgun, email::mailgun::detect),
        (Source::Sendgrid, email::sendgrid::detect),
        (Source::Rfc822, email::rfc822::detect),
    ];
    ORDER
        .iter()
        .find(|(_, detect)| detect(payload))
        .map(|(source, _)| *source)
}

/// Like [`normalize`], but detects the source first when none is given.
pub fn normalize_detected(
    source: Option<Source>,
    payload: &[u8],
    ctx: &Context<'_>,
) -> Result<Vec<Interaction>, AdapterError> {
    let source = source
        .or_else(|| detect(payload))
        .ok_or(AdapterError::UnknownSource)?;
    normalize(source, payload, ctx)
}
