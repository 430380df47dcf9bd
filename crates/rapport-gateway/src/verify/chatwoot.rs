//! `chatwoot`: account webhooks (Settings → Integrations → Webhooks) and agent-bot / API-inbox
//! callbacks.
//!
//! Scheme of Chatwoot 4.x (`chatwoot/chatwoot` `lib/webhooks/trigger.rb`, as quoted in public
//! integrations and confirmed by the headers its `SafeFetch` spec forwards): a webhook with a
//! secret is sent with
//! - `X-Chatwoot-Timestamp: <Unix seconds>`,
//! - `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
//! - `X-Chatwoot-Delivery: <uuid>` (returned as the delivery id).
//!
//! Older releases (the `trigger.rb` of 3.x and before posts with `content_type` and `accept`
//! headers only, a 5 s timeout and no retry) sign nothing: for those, give the endpoint
//! `url_tokens` and put the token in the webhook URL.

use chrono::{DateTime, Utc};
use http::Method;

use super::mac::{self, Algo};
use super::unsigned::Unsigned;
use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::request::{Request, Verified, parse_unix_seconds, require_fresh};
use crate::secret::{Environment, Secret};

pub const SIGNATURE_HEADER: &str = "x-chatwoot-signature";
pub const TIMESTAMP_HEADER: &str = "x-chatwoot-timestamp";
pub const DELIVERY_HEADER: &str = "x-chatwoot-delivery";

#[derive(Debug)]
pub struct Verifier {
    secrets: Vec<Secret>,
    unsigned: Unsigned,
    tolerance_seconds: i64,
    body_limit: usize,
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint chatwoot/{}", endpoint.id);
        Self {
            secrets: super::load_all(&endpoint.secrets, env, &at, "secrets", problems),
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
        let delivery = request
            .header(DELIVERY_HEADER)?
            .filter(|d| !d.is_empty() && d.len() <= 128)
            .map(str::to_string);
        if self.secrets.is_empty() {
            self.unsigned.check(request)?;
            return Ok(Verified::event(delivery));
        }
        let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let signature = request.credential_header(SIGNATURE_HEADER)?;
        require_fresh(
            parse_unix_seconds(timestamp, TIMESTAMP_HEADER)?,
            now,
            self.tolerance_seconds,
        )?;
        let presented = signature
            .strip_prefix("sha256=")
            .and_then(|hex| mac::decode_hex(hex, 32))
            .ok_or_else(|| {
                VerifyError::malformed("X-Chatwoot-Signature is not sha256=<64 hex digits>")
            })?;
        let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", request.body];
        if mac::any_key_signs(Algo::Sha256, &self.secrets, &parts, &[presented]) {
            Ok(Verified::event(delivery))
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    const NOW: i64 = 1_760_000_000;
    const BODY: &str = r#"{"event":"message_created","id":1,"content":"Hi","message_type":"incoming","conversation":{"id":7}}"#;

    fn verifier(secrets: &[&str]) -> Verifier {
        let mut e = endpoint(Source::Chatwoot);
        e.secrets = values(secrets);
        Verifier::build(&e, &no_env(), &mut vec![])
    }

    fn signed(secret: &str, ts: i64) -> Owned {
        let tag = mac::sign(
            Algo::Sha256,
            secret.as_bytes(),
            &[ts.to_string().as_bytes(), b".", BODY.as_bytes()],
        );
        Owned::post(
            "/hooks/chatwoot/test",
            &[
                (TIMESTAMP_HEADER, &ts.to_string()),
                (SIGNATURE_HEADER, &format!("sha256={}", hex::encode(tag))),
                (DELIVERY_HEADER, "6d3c3a5e-8d7c-4a0e-9d2b-1f3b5c7a9e01"),
            ],
            BODY,
        )
    }

    fn reason(v: &Verifier, r: &Owned) -> Reason {
        v.verify(&r.request(), at(NOW)).unwrap_err().reason()
    }

    #[test]
    fn a_signed_webhook_is_accepted_with_its_delivery_id() {
        let ok = verifier(&["whsec"])
            .verify(&signed("whsec", NOW).request(), at(NOW))
            .unwrap();
        assert_eq!(
            ok.delivery_id.as_deref(),
            Some("6d3c3a5e-8d7c-4a0e-9d2b-1f3b5c7a9e01")
        );
    }

    #[test]
    fn rotation_staleness_alteration_and_absence_are_refused_with_their_reason() {
        assert!(
            verifier(&["a", "b"])
                .verify(&signed("b", NOW).request(), at(NOW))
                .is_ok()
        );
        assert_eq!(
            reason(&verifier(&["b"]), &signed("a", NOW)),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&verifier(&["a"]), &signed("a", NOW - 400)),
            Reason::StaleTimestamp
        );
        let altered = signed("a", NOW).with_body(BODY.replace("Hi", "Bye"));
        assert_eq!(reason(&verifier(&["a"]), &altered), Reason::BadSignature);
        for h in [SIGNATURE_HEADER, TIMESTAMP_HEADER] {
            assert_eq!(
                reason(&verifier(&["a"]), &signed("a", NOW).without(h)),
                Reason::MissingCredentials
            );
        }
    }

    #[test]
    fn an_older_release_is_authenticated_by_its_url_token() {
        let mut e = endpoint(Source::Chatwoot);
        e.url_tokens = values(&["t0k3n"]);
        let v = Verifier::build(&e, &no_env(), &mut vec![]);
        let ok = Owned::post("/hooks/chatwoot/test?token=t0k3n", &[], BODY);
        assert!(v.verify(&ok.request(), at(NOW)).is_ok());
        let wrong = Owned::post("/hooks/chatwoot/test?token=nope", &[], BODY);
        assert_eq!(reason(&v, &wrong), Reason::BadCredentials);
        let none = Owned::post("/hooks/chatwoot/test", &[], BODY);
        assert_eq!(reason(&v, &none), Reason::MissingCredentials);
    }
}
