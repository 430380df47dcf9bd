//! `generic`: Rapport's own scheme, for producers posting `rapport.generic.v1` JSON
//! (`docs/GENERIC.md`, "Sending over HTTPS").
//!
//! - `X-Rapport-Timestamp: <Unix seconds>`
//! - `X-Rapport-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; several
//!   comma-separated `v1=` entries are allowed (a producer signing with an old and a new
//!   secret during its own rotation); entries of other versions are ignored.
//! - Refused when the timestamp is more than the tolerance (default 300 s) from now.
//!
//! The same shape as Stripe's and Standard Webhooks' schemes, so producers find libraries and
//! examples for it; HMAC-SHA256 hex over timestamp, a dot and the raw body.

use chrono::{DateTime, Utc};
use http::Method;

use super::mac::{self, Algo};
use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::request::{Request, Verified, parse_unix_seconds, require_fresh};
use crate::secret::{Environment, Secret};

pub const SIGNATURE_HEADER: &str = "x-rapport-signature";
pub const TIMESTAMP_HEADER: &str = "x-rapport-timestamp";
/// The most signature entries read from one header.
const MAX_ENTRIES: usize = 8;

#[derive(Debug)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance_seconds: i64,
    body_limit: usize,
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint generic/{}", endpoint.id);
        Self {
            secrets: super::load_all(&endpoint.secrets, env, &at, "secrets", problems),
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
        let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let signature = request.credential_header(SIGNATURE_HEADER)?;
        require_fresh(
            parse_unix_seconds(timestamp, TIMESTAMP_HEADER)?,
            now,
            self.tolerance_seconds,
        )?;
        let presented: Vec<Vec<u8>> = signature
            .split(',')
            .take(MAX_ENTRIES)
            .filter_map(|entry| entry.trim().strip_prefix("v1="))
            .map(|hex| {
                mac::decode_hex(hex, 32)
                    .ok_or_else(|| VerifyError::malformed("a v1 signature is not 64 hex digits"))
            })
            .collect::<Result<_, _>>()?;
        if presented.is_empty() {
            return Err(VerifyError::malformed(format!(
                "{SIGNATURE_HEADER} has no v1= entry"
            )));
        }
        let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", request.body];
        if mac::any_key_signs(Algo::Sha256, &self.secrets, &parts, &presented) {
            Ok(Verified::event(None))
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

/// The `X-Rapport-Signature` value for `body` sent at `timestamp` (what a producer sends).
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let tag = mac::sign(Algo::Sha256, secret, &[ts.as_bytes(), b".", body]);
    format!("v1={}", hex::encode(tag))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    const NOW: i64 = 1_716_000_000;
    const BODY: &str = r#"{"schema":"rapport.generic.v1","events":[]}"#;

    fn verifier(secrets: &[&str]) -> Verifier {
        let mut e = endpoint(Source::Generic);
        e.secrets = values(secrets);
        let mut problems = vec![];
        let v = Verifier::build(&e, &no_env(), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        v
    }

    fn signed(secret: &str, ts: i64, body: &str) -> Owned {
        Owned::post(
            "/hooks/generic/test",
            &[
                (TIMESTAMP_HEADER, &ts.to_string()),
                (
                    SIGNATURE_HEADER,
                    &signature_header(secret.as_bytes(), ts, body.as_bytes()),
                ),
            ],
            body,
        )
    }

    fn reason(v: &Verifier, r: &Owned) -> Reason {
        v.verify(&r.request(), at(NOW)).unwrap_err().reason()
    }

    // Written by hand from the scheme, checked with
    // `printf '1716000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret`.
    #[test]
    fn signs_timestamp_dot_body_in_hex() {
        assert_eq!(
            signature_header(b"s3cret", 1_716_000_000, br#"{"a":1}"#),
            "v1=0395b935f09a6876bbd14cb6192e543cc31c21052551295b1d13ce53d7c147db"
        );
    }

    #[test]
    fn a_request_signed_as_documented_is_accepted() {
        let v = verifier(&["s3cret"]);
        let ok = v
            .verify(&signed("s3cret", NOW - 10, BODY).request(), at(NOW))
            .unwrap();
        assert!(ok.forward());
    }

    #[test]
    fn a_second_active_secret_is_accepted() {
        let v = verifier(&["old", "new"]);
        assert!(
            v.verify(&signed("new", NOW, BODY).request(), at(NOW))
                .is_ok()
        );
        assert!(
            v.verify(&signed("old", NOW, BODY).request(), at(NOW))
                .is_ok()
        );
    }

    #[test]
    fn a_rotated_out_secret_is_refused() {
        let v = verifier(&["new"]);
        assert_eq!(reason(&v, &signed("old", NOW, BODY)), Reason::BadSignature);
    }

    #[test]
    fn a_body_altered_after_signing_is_refused() {
        let v = verifier(&["s3cret"]);
        let r = signed("s3cret", NOW, BODY).with_body(BODY.replace("[]", "[{}]"));
        assert_eq!(reason(&v, &r), Reason::BadSignature);
    }

    #[test]
    fn a_wrong_signature_is_refused() {
        let v = verifier(&["s3cret"]);
        let r = signed("s3cret", NOW, BODY).without(SIGNATURE_HEADER);
        let r = Owned {
            headers: {
                let mut h = r.headers.clone();
                h.insert(
                    SIGNATURE_HEADER,
                    format!("v1={}", "ab".repeat(32)).parse().unwrap(),
                );
                h
            },
            ..r
        };
        assert_eq!(reason(&v, &r), Reason::BadSignature);
    }

    #[test]
    fn a_stale_timestamp_is_refused_even_when_signed() {
        let v = verifier(&["s3cret"]);
        assert_eq!(
            reason(&v, &signed("s3cret", NOW - 301, BODY)),
            Reason::StaleTimestamp
        );
        assert_eq!(
            reason(&v, &signed("s3cret", NOW + 301, BODY)),
            Reason::StaleTimestamp
        );
    }

    #[test]
    fn a_missing_header_is_refused() {
        let v = verifier(&["s3cret"]);
        for h in [SIGNATURE_HEADER, TIMESTAMP_HEADER] {
            let r = signed("s3cret", NOW, BODY).without(h);
            assert_eq!(reason(&v, &r), Reason::MissingCredentials, "{h}");
        }
    }

    #[test]
    fn several_entries_and_unknown_versions_are_read() {
        let v = verifier(&["new"]);
        let good = signature_header(b"new", NOW, BODY.as_bytes());
        let header = format!("v0=zz, v1={}, {good}", "00".repeat(32));
        let r = Owned::post(
            "/",
            &[
                (TIMESTAMP_HEADER, &NOW.to_string()),
                (SIGNATURE_HEADER, &header),
            ],
            BODY,
        );
        assert!(v.verify(&r.request(), at(NOW)).is_ok());
        let r = Owned::post(
            "/",
            &[
                (TIMESTAMP_HEADER, &NOW.to_string()),
                (SIGNATURE_HEADER, "v1=xyz"),
            ],
            BODY,
        );
        assert_eq!(reason(&v, &r), Reason::Malformed);
    }

    #[test]
    fn only_post_within_the_body_limit_is_read() {
        let mut e = endpoint(Source::Generic);
        e.secrets = values(&["s3cret"]);
        e.body_limit_bytes = 8;
        let v = Verifier::build(&e, &no_env(), &mut vec![]);
        assert_eq!(
            reason(&v, &signed("s3cret", NOW, BODY)),
            Reason::BodyTooLarge
        );
        let mut r = signed("s3cret", NOW, BODY);
        r.method = Method::GET;
        assert_eq!(reason(&verifier(&["s3cret"]), &r), Reason::MethodNotAllowed);
    }
}
