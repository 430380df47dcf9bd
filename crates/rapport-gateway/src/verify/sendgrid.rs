//! `sendgrid` (Inbound Parse) and `sendgrid_events` (the signed Event Webhook).
//!
//! Signed scheme (Twilio SendGrid, "Getting Started with the Event Webhook Security Features",
//! twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features,
//! and the `EventWebhook` helpers of the official SDKs):
//! - SendGrid holds an ECDSA P-256 key pair; the console (Settings → Mail Settings → Event
//!   Webhooks → Signature verification) shows the **verification key**: a base64 DER
//!   SubjectPublicKeyInfo (`MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…`);
//! - `X-Twilio-Email-Event-Webhook-Timestamp: <Unix seconds>` and
//!   `X-Twilio-Email-Event-Webhook-Signature: base64(DER ECDSA signature)` over SHA-256 of the
//!   timestamp followed by the raw body, no separator;
//! - SendGrid documents no timestamp tolerance; the endpoint's (default 300 s) applies.
//!
//! Inbound Parse was unsigned until SendGrid added security policies ("Securing your Inbound
//! Parse Webhooks", twilio.com/docs/sendgrid/for-developers/parsing-email/securing-your-parse-webhooks):
//! a policy with `"signature": {"enabled": true}` returns a `public_key` of the same form, and
//! requests are signed with ECDSA. That page does not name the headers in the stored copy; the
//! gateway reads the Event Webhook's, since policies are shared by both webhooks
//! (`/v3/user/webhooks/security/policies`). Without a policy, give the endpoint `basic_auth`
//! (in the Parse URL: `https://user:pass@…`) or `url_tokens` instead of `public_keys`.

use base64::Engine;
use chrono::{DateTime, Utc};
use http::Method;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::unsigned::Unsigned;
use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::request::{Request, Verified, parse_unix_seconds, require_fresh};
use crate::secret::Environment;

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";
/// A DER P-256 signature is at most 72 bytes; its base64 at most 96 characters.
const MAX_SIGNATURE_CHARS: usize = 96;

#[derive(Debug)]
pub struct Verifier {
    keys: Vec<VerifyingKey>,
    unsigned: Unsigned,
    tolerance_seconds: i64,
    body_limit: usize,
}

/// Reads a verification key as SendGrid shows it (base64 DER) or as PEM.
pub fn parse_public_key(text: &[u8]) -> Result<VerifyingKey, String> {
    let text = std::str::from_utf8(text)
        .map_err(|_| "the key is not text".to_string())?
        .trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|_| "the PEM key is not a P-256 public key".into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| "the key is neither PEM nor base64".to_string())?;
    VerifyingKey::from_public_key_der(&der).map_err(|_| "the key is not a P-256 public key".into())
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint {}/{}", endpoint.source.as_str(), endpoint.id);
        let keys = super::load_all(&endpoint.public_keys, env, &at, "public_keys", problems)
            .iter()
            .enumerate()
            .filter_map(|(i, k)| match parse_public_key(k.expose()) {
                Ok(key) => Some(key),
                Err(e) => {
                    problems.push(format!("{at}: public_keys[{i}]: {e}"));
                    None
                }
            })
            .collect();
        Self {
            keys,
            unsigned: Unsigned::build(endpoint, env, problems),
            tolerance_seconds: super::tolerance(endpoint),
            body_limit: endpoint.body_limit_bytes,
        }
    }

    pub fn verify(
        &self,
        request: &Request<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        request.require_method(&Method::POST)?;
        request.require_body_within(self.body_limit)?;
        if self.keys.is_empty() {
            self.unsigned.check(request)?;
            return Ok(Verified::event(None));
        }
        let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let signature = request.credential_header(SIGNATURE_HEADER)?;
        require_fresh(
            parse_unix_seconds(timestamp, TIMESTAMP_HEADER)?,
            now,
            self.tolerance_seconds,
        )?;
        let malformed =
            || VerifyError::malformed("the signature is not a base64 DER ECDSA signature");
        if signature.len() > MAX_SIGNATURE_CHARS {
            return Err(malformed());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| malformed())?;
        let signature = Signature::from_der(&der).map_err(|_| malformed())?;
        let mut message = Vec::with_capacity(timestamp.len() + request.body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(request.body);
        if self
            .keys
            .iter()
            .any(|k| k.verify(&message, &signature).is_ok())
        {
            Ok(Verified::event(None))
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;

    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    // The published test vector of SendGrid's Python SDK (`sendgrid/sendgrid-python`
    // `test/unit/test_eventwebhook.py`): its public key, signature, timestamp and payload
    // (`json.dumps(…, sort_keys=True, separators=(',', ':')) + '\r\n'`, written out here).
    const SDK_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    const SDK_SIGNATURE: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    const SDK_TIMESTAMP: i64 = 1_600_112_502;
    const SDK_PAYLOAD: &str = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
    // The SDK test's "bad key": a valid P-256 key that did not sign the payload.
    const SDK_OTHER_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

    fn verifier(source: Source, keys: &[&str]) -> Verifier {
        let mut e = endpoint(source);
        e.public_keys = values(keys);
        let mut problems = vec![];
        let v = Verifier::build(&e, &no_env(), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        v
    }

    fn request(signature: &str, ts: i64, body: &str) -> Owned {
        Owned::post(
            "/hooks/sendgrid_events/test",
            &[
                (SIGNATURE_HEADER, signature),
                (TIMESTAMP_HEADER, &ts.to_string()),
            ],
            body,
        )
    }

    fn reason(v: &Verifier, r: &Owned, now: i64) -> Reason {
        v.verify(&r.request(), at(now)).unwrap_err().reason()
    }

    /// A key of our own: a fixed scalar, so the test needs no random source.
    fn our_key(byte: u8) -> (SigningKey, String) {
        let signing = SigningKey::from_slice(&[byte; 32]).unwrap();
        let public = signing.verifying_key().to_public_key_der().unwrap();
        (
            signing,
            base64::engine::general_purpose::STANDARD.encode(public.as_bytes()),
        )
    }

    fn signed_by(key: &SigningKey, ts: i64, body: &str) -> Owned {
        let signature: Signature = key.sign(format!("{ts}{body}").as_bytes());
        request(
            &base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes()),
            ts,
            body,
        )
    }

    #[test]
    fn sendgrids_published_test_vector_is_accepted() {
        let v = verifier(Source::SendgridEvents, &[SDK_PUBLIC_KEY]);
        let r = request(SDK_SIGNATURE, SDK_TIMESTAMP, SDK_PAYLOAD);
        assert!(v.verify(&r.request(), at(SDK_TIMESTAMP + 60)).is_ok());
    }

    #[test]
    fn the_published_vector_is_refused_when_anything_changes() {
        let v = verifier(Source::SendgridEvents, &[SDK_PUBLIC_KEY]);
        let now = SDK_TIMESTAMP;
        let other = verifier(Source::SendgridEvents, &[SDK_OTHER_KEY]);
        assert_eq!(
            reason(&other, &request(SDK_SIGNATURE, now, SDK_PAYLOAD), now),
            Reason::BadSignature
        );
        let trimmed = request(SDK_SIGNATURE, now, SDK_PAYLOAD.trim_end());
        assert_eq!(
            reason(&v, &trimmed, now),
            Reason::BadSignature,
            "the trailing CRLF is signed"
        );
        assert_eq!(
            reason(&v, &request(SDK_SIGNATURE, now - 1, SDK_PAYLOAD), now),
            Reason::BadSignature
        );
        // The SDK's "bad signature" case: a valid signature of something else.
        let sdk_bad = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
        assert_eq!(
            reason(&v, &request(sdk_bad, now, SDK_PAYLOAD), now),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&v, &request(SDK_SIGNATURE, now, SDK_PAYLOAD), now + 301),
            Reason::StaleTimestamp
        );
    }

    #[test]
    fn our_own_signatures_verify_and_a_second_key_is_accepted() {
        let (old, old_pub) = our_key(7);
        let (new, new_pub) = our_key(9);
        let both = verifier(Source::SendgridEvents, &[&old_pub, &new_pub]);
        for key in [&old, &new] {
            assert!(
                both.verify(&signed_by(key, 1000, "[]").request(), at(1000))
                    .is_ok()
            );
        }
        let rotated = verifier(Source::SendgridEvents, &[&new_pub]);
        assert_eq!(
            reason(&rotated, &signed_by(&old, 1000, "[]"), 1000),
            Reason::BadSignature
        );
    }

    #[test]
    fn missing_and_malformed_signatures_are_told_apart() {
        let (key, public) = our_key(7);
        let v = verifier(Source::SendgridEvents, &[&public]);
        for h in [SIGNATURE_HEADER, TIMESTAMP_HEADER] {
            assert_eq!(
                reason(&v, &signed_by(&key, 1000, "[]").without(h), 1000),
                Reason::MissingCredentials
            );
        }
        assert_eq!(
            reason(&v, &request("bm90IGRlcg==", 1000, "[]"), 1000),
            Reason::Malformed
        );
        assert_eq!(
            reason(&v, &request(&"A".repeat(200), 1000, "[]"), 1000),
            Reason::Malformed
        );
    }

    #[test]
    fn keys_are_read_as_shown_in_the_console_or_as_pem() {
        let (_, public) = our_key(7);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &public[..64],
            &public[64..]
        );
        assert!(parse_public_key(public.as_bytes()).is_ok());
        assert!(parse_public_key(pem.as_bytes()).is_ok());
        assert!(parse_public_key(b"not a key").is_err());
        let mut e = endpoint(Source::SendgridEvents);
        e.public_keys = values(&["bm9wZQ=="]);
        let mut problems = vec![];
        Verifier::build(&e, &no_env(), &mut problems);
        assert!(problems[0].contains("public_keys[0]"), "{problems:?}");
    }

    #[test]
    fn an_unsigned_inbound_parse_endpoint_takes_a_url_token() {
        let mut e = endpoint(Source::Sendgrid);
        e.url_tokens = values(&["parse-t0ken"]);
        let v = Verifier::build(&e, &no_env(), &mut vec![]);
        let ok = Owned::post(
            "/hooks/sendgrid/test?token=parse-t0ken",
            &[("content-type", "multipart/form-data; boundary=x")],
            "--x--",
        );
        assert!(v.verify(&ok.request(), at(0)).is_ok());
        let bad = Owned::post("/hooks/sendgrid/test", &[], "--x--");
        assert_eq!(
            v.verify(&bad.request(), at(0)).unwrap_err().reason(),
            Reason::MissingCredentials
        );
    }
}
