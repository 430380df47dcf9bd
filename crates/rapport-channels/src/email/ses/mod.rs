//! Amazon SES receipt notifications (via SNS) to interactions.
//!
//! - Intentionally skipped (no interaction, counted by the normalizer, never dead-lettered):
//!   SNS `SubscriptionConfirmation` / `UnsubscribeConfirmation` (reason `sns_subscription`), and
//!   the SES notifications of sending and of the topic itself, `Bounce`, `Complaint`,
//!   `Delivery`, `Send`, `Reject`, `Open`, `Click`, `Rendering Failure`, `DeliveryDelay`,
//!   `Subscription` and `AmazonSnsSubscriptionSucceeded` (reason `ses_sending_event`). Any other
//!   `notificationType` gives nothing as `ignored:ses_notification_type`, which the normalizer
//!   dead-letters: a type this adapter does not know may carry mail.
//! - A `Received` notification with `content` (SNS action; base64 when `receipt.action.encoding`
//!   is `BASE64`) goes through the shared MIME path. Without `content` (S3, Lambda and other
//!   actions only notify), the message is rebuilt from `mail.headers`, with `mail.commonHeaders`
//!   filling in what those lack; there is then no body text.
//!
//! The event id is the `Message-ID`, so the same mail via SendGrid and via SES dedupes on the
//! same key; without one, SES's own `mail.messageId`, which its retries keep. When the message
//! has no valid `Date`, `mail.timestamp` (when SES received it) is the time.

pub mod payload;

use base64::Engine;
use rapport_model::{Interaction, Source, Timestamp};

use self::payload::{Envelope, Mail, Notification};
use crate::common::json;
use crate::email::mime::{self, Delivery};
use crate::{AdapterError, Context, Outcome, Skip};

const SOURCE: Source = Source::Ses;

/// SES notification types that never carry received mail (sending events and the topic's own
/// confirmation), from the SES developer guide's notification contents for receiving, bounces,
/// complaints and deliveries, and the event publishing `eventType` values.
const SENDING_EVENTS: [&str; 11] = [
    "Bounce",
    "Complaint",
    "Delivery",
    "Send",
    "Reject",
    "Open",
    "Click",
    "Rendering Failure",
    "DeliveryDelay",
    "Subscription",
    "AmazonSnsSubscriptionSucceeded",
];

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let envelope: Envelope = json::parse(payload, ctx.limits)?;
    let notification: Notification = match (
        envelope.sns_type.as_deref(),
        envelope.notification_type.as_deref(),
    ) {
        (Some("Notification"), _) => {
            let message = envelope
                .message
                .ok_or_else(|| AdapterError::missing("Message"))?;
            json::parse(message.as_bytes(), ctx.limits).map_err(|e| within("Message", e))?
        }
        (Some("SubscriptionConfirmation" | "UnsubscribeConfirmation"), _) => {
            return Ok(Outcome::skipped(Skip::documented("sns_subscription")));
        }
        (Some(other), _) => {
            return Err(AdapterError::shape(
                "ses",
                format!("unknown SNS message type {other:?}"),
            ));
        }
        (None, Some(_)) => json::parse(payload, ctx.limits)?,
        (None, None) => {
            return Err(AdapterError::shape(
                "ses",
                "neither an SNS message nor an SES notification",
            ));
        }
    };
    if notification.notification_type != "Received" {
        let known = SENDING_EVENTS.contains(&notification.notification_type.as_str());
        return Ok(Outcome::skipped(if known {
            Skip::documented("ses_sending_event")
        } else {
            Skip::ignored("ses_notification_type")
        }));
    }
    let mail = notification
        .mail
        .as_ref()
        .ok_or_else(|| AdapterError::missing(field(envelope.sns_type.is_some(), "mail")))?;
    let received_at = mail.timestamp.as_deref().and_then(Timestamp::parse_rfc3339);
    Ok(Outcome::from(vec![received(
        &notification,
        mail,
        received_at,
        envelope.sns_type.is_some(),
        ctx,
    )?]))
}

fn received(
    notification: &Notification,
    mail: &Mail,
    received_at: Option<Timestamp>,
    wrapped: bool,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let ses_id = mail
        .message_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty());
    if let Some(content) = notification.content.as_deref() {
        let base64 = notification
            .receipt
            .as_ref()
            .and_then(|r| r.action.as_ref())
            .and_then(|a| a.encoding.as_deref())
            .is_some_and(|e| e.eq_ignore_ascii_case("base64"));
        let raw = if base64 {
            let compact: Vec<u8> = content
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| AdapterError::invalid(field(wrapped, "content"), e))?
        } else {
            content.as_bytes().to_vec()
        };
        let message = mime::parse_message(&raw, "ses")?;
        let email = mime::read_message(&message);
        let fallback_id = || ses_id.map_or_else(|| mime::fallback_id(SOURCE, &raw), str::to_owned);
        return mime::interaction(
            email,
            Delivery {
                source: SOURCE,
                fallback_id: &fallback_id,
                received_at,
            },
            ctx,
        );
    }

    let header_pairs = mail
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()));
    let common_pairs = mail.common_headers.pairs();
    let block = mime::header_block(header_pairs);
    let common_block = mime::header_block(common_pairs.iter().map(|(n, v)| (*n, v.as_str())));
    let header_message = mime::parse_headers(&block, "ses").ok();
    let common_message = mime::parse_headers(&common_block, "ses").ok();
    let mut email = match (&header_message, &common_message) {
        (Some(headers), _) => mime::read_headers(headers),
        (None, Some(common)) => mime::read_headers(common),
        (None, None) => return Err(AdapterError::missing(field(wrapped, "mail.commonHeaders"))),
    };
    if let Some(common) = common_message.as_ref().map(mime::read_headers) {
        email.fill_from(common);
    }
    let fallback_id = || ses_id.map_or_else(|| mime::fallback_id(SOURCE, &block), str::to_owned);
    mime::interaction(
        email,
        Delivery {
            source: SOURCE,
            fallback_id: &fallback_id,
            received_at,
        },
        ctx,
    )
}

/// Field paths inside the SNS `Message` string are reported as `Message.<path>`.
fn field(wrapped: bool, path: &str) -> String {
    if wrapped {
        format!("Message.{path}")
    } else {
        path.to_owned()
    }
}

fn within(prefix: &str, error: AdapterError) -> AdapterError {
    match error {
        AdapterError::MissingField(path) => AdapterError::MissingField(format!("{prefix}.{path}")),
        AdapterError::InvalidValue { field, reason } => AdapterError::InvalidValue {
            field: format!("{prefix}.{field}"),
            reason,
        },
        AdapterError::UnknownShape { reason, .. } => AdapterError::invalid(prefix, reason),
        other => other,
    }
}

/// True for an SNS message that is an SES notification or a subscription handshake
/// (`TopicArn` plus `notificationType` or the handshake type), or for a bare SES notification.
pub fn detect(payload: &[u8]) -> bool {
    let head = payload.get(..256 * 1024).unwrap_or(payload);
    if !head.trim_ascii_start().starts_with(b"{") {
        return false;
    }
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    let sns = has(b"\"TopicArn\"")
        && (has(b"notificationType")
            || has(b"\"SubscriptionConfirmation\"")
            || has(b"\"UnsubscribeConfirmation\""));
    let bare = has(b"\"notificationType\"") && has(b"\"mail\"");
    sns || bare
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_paths_are_prefixed_with_message() {
        assert_eq!(
            within("Message", AdapterError::missing("mail"))
                .code()
                .to_string(),
            "missing_field:Message.mail"
        );
        assert_eq!(
            within("Message", AdapterError::shape("json", "x"))
                .code()
                .to_string(),
            "invalid_value:Message"
        );
    }

    #[test]
    fn detection_needs_ses_or_sns_handshake_markers() {
        assert!(detect(br#"{"Type":"Notification","TopicArn":"arn","Message":"{\"notificationType\":\"Received\"}"}"#));
        assert!(detect(
            br#"{"Type":"SubscriptionConfirmation","TopicArn":"arn"}"#
        ));
        assert!(detect(br#"{"notificationType":"Received","mail":{}}"#));
        assert!(!detect(
            br#"{"Type":"Notification","TopicArn":"arn","Message":"hello"}"#
        ));
    }
}
