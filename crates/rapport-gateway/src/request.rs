//! What a verifier reads (the request as received) and what it answers.

use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, Uri};

use crate::error::{VerifyError, quote};

/// One webhook request exactly as it arrived: the verifier reads the raw body, never a
/// re-serialized copy, because every signature covers the bytes.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    /// Path and query as received (`/hooks/yelp/acme?token=…`).
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// An authentic request, with what the service needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The provider's own id of this delivery, stable across its retries where the provider
    /// documents one (SNS `MessageId`, Pub/Sub `messageId`, Intercom notification `id`, Chatwoot
    /// `X-Chatwoot-Delivery`, Mailgun's one-time `token`). Usable as a deduplication key.
    pub delivery_id: Option<String>,
    /// Set when the request is the provider talking to the endpoint rather than an event:
    /// answer it as said and do not forward it to Kafka.
    pub control: Option<Control>,
}

impl Verified {
    pub(crate) fn event(delivery_id: Option<String>) -> Self {
        Self {
            delivery_id,
            control: None,
        }
    }

    /// True when the body goes to the raw topic.
    pub fn forward(&self) -> bool {
        self.control.is_none()
    }
}

/// A provider's control message: handled by the gateway, never forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// SNS `SubscriptionConfirmation`: GET `subscribe_url` (already checked to be https on an
    /// `sns.<region>.amazonaws.com` host) to confirm, then answer 200.
    ConfirmSubscription { subscribe_url: String },
    /// SNS `UnsubscribeConfirmation`: the subscription is gone; answer 200 and alert.
    Unsubscribed,
    /// Answer 200 with this body (Yelp's URL verification echoes a value back).
    Respond {
        content_type: &'static str,
        body: String,
    },
    /// A liveness probe carrying no event (Intercom's `ping` topic): answer 200.
    Ping,
}

impl Request<'_> {
    /// The header's value, if present; a value that is not visible ASCII is malformed.
    pub(crate) fn header(&self, name: &'static str) -> Result<Option<&str>, VerifyError> {
        match self.headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(|v| Some(v.trim()))
                .map_err(|_| VerifyError::malformed(format!("header {name} is not ASCII"))),
        }
    }

    /// The header's value; its absence means the credential is missing.
    pub(crate) fn credential_header(&self, name: &'static str) -> Result<&str, VerifyError> {
        match self.header(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(VerifyError::MissingCredentials(name)),
        }
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub(crate) fn media_type(&self) -> Result<String, VerifyError> {
        let value = self.header("content-type")?.unwrap_or("");
        Ok(value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase())
    }

    /// Refuses any method but `allowed`.
    pub(crate) fn require_method(&self, allowed: &Method) -> Result<(), VerifyError> {
        if self.method == allowed {
            Ok(())
        } else {
            Err(VerifyError::MethodNotAllowed(quote(self.method.as_str())))
        }
    }

    /// Refuses a body over `limit` bytes. The service should stop reading at the limit; this
    /// keeps the verifier safe on its own.
    pub(crate) fn require_body_within(&self, limit: usize) -> Result<(), VerifyError> {
        if self.body.len() > limit {
            Err(VerifyError::BodyTooLarge {
                size: self.body.len(),
                limit,
            })
        } else {
            Ok(())
        }
    }

    /// The first value of query parameter `name`.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let query = self.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Parses a Unix timestamp in whole seconds (at most 12 digits, no sign).
pub(crate) fn parse_unix_seconds(value: &str, what: &str) -> Result<DateTime<Utc>, VerifyError> {
    let ok = !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit());
    let seconds: i64 = if ok {
        value
            .parse()
            .map_err(|_| VerifyError::malformed(format!("{what} is not a number")))?
    } else {
        return Err(VerifyError::malformed(format!(
            "{what} {} is not a Unix time in seconds",
            quote(value)
        )));
    };
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| VerifyError::malformed(format!("{what} is out of range")))
}

/// Refuses a signed time further than `tolerance_seconds` from `now`, either way (a clock
/// ahead of ours is as suspect as a replay).
pub(crate) fn require_fresh(
    signed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let skew = (now - signed_at).num_seconds();
    if skew.abs() > tolerance_seconds {
        Err(VerifyError::StaleTimestamp {
            skew_seconds: skew,
            tolerance_seconds,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_must_be_plain_digits() {
        assert_eq!(
            parse_unix_seconds("1600112502", "t").unwrap().timestamp(),
            1_600_112_502
        );
        for bad in ["", "-1", "1.5", " 1", "1e9", "9999999999999"] {
            assert!(parse_unix_seconds(bad, "t").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn freshness_is_checked_both_ways() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert!(require_fresh(at(1_000_000 - 300), now, 300).is_ok());
        assert!(require_fresh(at(1_000_000 + 300), now, 300).is_ok());
        assert!(require_fresh(at(1_000_000 - 301), now, 300).is_err());
        assert!(require_fresh(at(1_000_000 + 301), now, 300).is_err());
    }
}
