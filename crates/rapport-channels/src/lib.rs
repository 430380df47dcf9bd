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
mod outcome;
pub mod review;
pub mod support;

pub use context::{Context, Limits, TenantConfig};
pub use envelope::{Envelope, EnvelopeError, RawRecord, RecordError, RecordRules};
pub use error::{AdapterError, ErrorCode};
pub use outcome::{Outcome, RejectedItem, Skip};
use rapport_model::{Interaction, MAX_KEY_BYTES, Source};

/// Turns one native payload from `source` into everything it gives: its interactions, the items
/// of a list payload that could not be read (each on its own, with its index), and, when it gives
/// neither, why ([`Skip`]). A payload the adapter cannot read at all is an error with a stable
/// code.
///
/// Company-side automation is a bot on every source: an outbound or internal interaction the
/// adapter marked `auto_reply` (an auto-responder on the support address, a trigger's message)
/// never keeps the role `agent` ([`Outcome::settle`]).
pub fn read(source: Source, payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    common::json::check_size(payload, ctx.limits)?;
    let outcome = match source {
        Source::Rfc822 => email::rfc822::normalize(payload, ctx).map(Outcome::from),
        Source::Sendgrid => email::sendgrid::normalize(payload, ctx).map(Outcome::from),
        Source::Mailgun => email::mailgun::normalize(payload, ctx).map(Outcome::from),
        Source::Ses => email::ses::normalize(payload, ctx),
        Source::Intercom => chat::intercom::normalize(payload, ctx),
        Source::Chatwoot => chat::chatwoot::normalize(payload, ctx),
        Source::Google => review::google::normalize(payload, ctx),
        Source::Yelp => review::yelp::normalize(payload, ctx),
        Source::Trustpilot => review::trustpilot::normalize(payload, ctx),
        Source::Zendesk => support::zendesk::normalize(payload, ctx),
        Source::Freshdesk => support::freshdesk::normalize(payload, ctx),
        Source::Generic => generic::normalize(payload, ctx),
    }?;
    if let Some((field, len)) = outcome
        .interactions
        .iter()
        .find_map(Interaction::oversized_key)
    {
        return Err(AdapterError::invalid(
            field,
            format!("is {len} bytes, over the {MAX_KEY_BYTES}-byte limit of a key"),
        ));
    }
    Ok(Outcome {
        source: Some(source),
        ..outcome
    }
    .settle())
}

/// The interactions of [`read`] alone, for callers that only need them (tests, benchmarks): the
/// rejected items and the skip reason are dropped.
pub fn normalize(
    source: Source,
    payload: &[u8],
    ctx: &Context<'_>,
) -> Result<Vec<Interaction>, AdapterError> {
    read(source, payload, ctx).map(|o| o.interactions)
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

/// Like [`read`], but detects the source first when none is given.
pub fn read_detected(
    source: Option<Source>,
    payload: &[u8],
    ctx: &Context<'_>,
) -> Result<Outcome, AdapterError> {
    let source = source
        .or_else(|| detect(payload))
        .ok_or(AdapterError::UnknownSource)?;
    read(source, payload, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_generic(conversation: &str) -> Result<Outcome, AdapterError> {
        let json = format!(
            r#"{{"schema":"rapport.generic.v1","event_id":"e1","channel":"chat","conversation_id":"{conversation}","occurred_at":"2024-05-01T10:00:00Z","direction":"inbound"}}"#
        );
        let ctx = Context {
            tenant_id: "acme",
            received_at: rapport_model::Timestamp::from_millis(0),
            tenant: &TenantConfig::default(),
            limits: &Limits::default(),
            raw_ref: None,
        };
        read(Source::Generic, json.as_bytes(), &ctx)
    }

    #[test]
    fn a_key_over_the_bound_rejects_the_payload_and_says_so() {
        // `generic:` and 1,016 bytes: exactly the bound.
        let at = "c".repeat(MAX_KEY_BYTES - "generic:".len());
        assert_eq!(read_generic(&at).unwrap().interactions.len(), 1);
        let over = format!("{at}c");
        let error = read_generic(&over).unwrap_err();
        assert_eq!(error.code().to_string(), "invalid_value:conversation_id");
        assert!(
            error
                .to_string()
                .contains("is 1025 bytes, over the 1024-byte limit"),
            "{error}"
        );
    }
}
