//! `mailgun`: routes (`forward()` to our URL) and event webhooks.
//!
//! Scheme (Mailgun, "Securing Webhooks",
//! documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks):
//! - the request carries `timestamp` (Unix seconds), `token` (50 random characters) and
//!   `signature`, where `signature` = hex HMAC-SHA256 keyed with the account's **HTTP webhook
//!   signing key**, over `timestamp` and `token` concatenated with no separator;
//! - a route's forward posts them as form fields beside the message
//!   (`application/x-www-form-urlencoded`, or `multipart/form-data` with attachments); an
//!   event webhook posts JSON `{"signature": {"timestamp", "token", "signature"},
//!   "event-data": {…}}`;
//! - events of a subaccount also carry `parent-signature`, the same HMAC under the parent
//!   account's key; either may match one of the endpoint's keys.
//! - Mailgun suggests caching the token to refuse a replay and checking the timestamp "not too
//!   aggressively"; the token is returned as the delivery id, and the timestamp tolerance
//!   (default 300 s) is the endpoint's.
//!
//! The body itself is not signed: anyone holding one signed request can attach the signature
//! to another body within the tolerance. The token as a dedup key limits that to one use.

use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;

use super::mac::{self, Algo};
use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::multipart::form_fields;
use crate::request::{Request, Verified, parse_unix_seconds, require_fresh};
use crate::secret::{Environment, Secret};

#[derive(Debug)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance_seconds: i64,
    body_limit: usize,
}

/// The signature fields, wherever they came from.
#[derive(Debug, Default, Deserialize)]
struct Signature {
    #[serde(deserialize_with = "string_or_number")]
    timestamp: String,
    token: String,
    signature: String,
    #[serde(rename = "parent-signature", default)]
    parent_signature: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventWebhook {
    signature: Signature,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        S(String),
        N(u64),
    }
    Ok(match S::deserialize(d)? {
        S::S(s) => s,
        S::N(n) => n.to_string(),
    })
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint mailgun/{}", endpoint.id);
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
        let fields = signature_fields(request)?;
        require_fresh(
            parse_unix_seconds(&fields.timestamp, "timestamp")?,
            now,
            self.tolerance_seconds,
        )?;
        let presented: Vec<Vec<u8>> = std::iter::once(&fields.signature)
            .chain(fields.parent_signature.as_ref())
            .map(|s| {
                mac::decode_hex(s, 32)
                    .ok_or_else(|| VerifyError::malformed("signature is not 64 hex digits"))
            })
            .collect::<Result<_, _>>()?;
        let parts: [&[u8]; 2] = [fields.timestamp.as_bytes(), fields.token.as_bytes()];
        if mac::any_key_signs(Algo::Sha256, &self.secrets, &parts, &presented) {
            Ok(Verified::event(Some(fields.token)))
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

fn signature_fields(request: &Request<'_>) -> Result<Signature, VerifyError> {
    let media_type = request.media_type()?;
    let fields = if media_type == "application/json" {
        // Only the `signature` object is read; serde skips the rest in one pass.
        let webhook: EventWebhook = serde_json::from_slice(request.body).map_err(|e| {
            if e.is_data() {
                VerifyError::MissingCredentials("signature")
            } else {
                VerifyError::malformed("the body is not JSON")
            }
        })?;
        webhook.signature
    } else {
        let content_type = request.header("content-type")?.unwrap_or("");
        let mut form = form_fields(
            content_type,
            request.body,
            &["timestamp", "token", "signature", "parent-signature"],
        )
        .map_err(VerifyError::Malformed)?;
        let mut take = |name: &'static str| form.remove(name);
        let (Some(timestamp), Some(token), Some(signature)) =
            (take("timestamp"), take("token"), take("signature"))
        else {
            return Err(VerifyError::MissingCredentials(
                "timestamp, token and signature fields",
            ));
        };
        Signature {
            timestamp,
            token,
            signature,
            parent_signature: take("parent-signature"),
        }
    };
    if fields.token.is_empty() || fields.token.len() > 256 {
        return Err(VerifyError::malformed("token must be 1-256 characters"));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    const NOW: i64 = 1_770_920_800;
    const TOKEN: &str = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";

    fn verifier(secrets: &[&str]) -> Verifier {
        let mut e = endpoint(Source::Mailgun);
        e.secrets = values(secrets);
        Verifier::build(&e, &no_env(), &mut vec![])
    }

    fn sign(key: &str, ts: i64) -> String {
        hex::encode(mac::sign(
            Algo::Sha256,
            key.as_bytes(),
            &[ts.to_string().as_bytes(), TOKEN.as_bytes()],
        ))
    }

    fn route_post(key: &str, ts: i64) -> Owned {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("recipient", "support@acme.example")
            .append_pair("body-plain", "Hello")
            .append_pair("timestamp", &ts.to_string())
            .append_pair("token", TOKEN)
            .append_pair("signature", &sign(key, ts))
            .finish();
        Owned::post(
            "/hooks/mailgun/test",
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
    }

    fn event_post(signature: &str, parent: Option<&str>, ts: i64) -> Owned {
        let mut sig = serde_json::json!({"timestamp": ts.to_string(), "token": TOKEN, "signature": signature});
        if let Some(p) = parent {
            sig["parent-signature"] = p.into();
        }
        let body =
            serde_json::json!({"signature": sig, "event-data": {"event": "delivered", "id": "x"}});
        Owned::post(
            "/hooks/mailgun/test",
            &[("content-type", "application/json")],
            body.to_string(),
        )
    }

    fn reason(v: &Verifier, r: &Owned) -> Reason {
        v.verify(&r.request(), at(NOW)).unwrap_err().reason()
    }

    // The documented recipe, checked with
    // `printf '1770920772e0b5477167110d68991efc6b9f89f0a11066af27834600e123' | openssl dgst -sha256 -hmac key-test`.
    // (Mailgun's own example signature on that page ends in "12345": a placeholder, not a vector.)
    #[test]
    fn signs_timestamp_then_token_without_separator() {
        assert_eq!(
            sign("key-test", 1_770_920_772),
            "097ff1603ce0947833a030fe6b23a46d9597fc9835f074f252b2e662274fb61c"
        );
    }

    #[test]
    fn a_signed_route_post_is_accepted_with_the_token_as_delivery_id() {
        let ok = verifier(&["key-test"])
            .verify(&route_post("key-test", NOW).request(), at(NOW))
            .unwrap();
        assert_eq!(ok.delivery_id.as_deref(), Some(TOKEN));
    }

    #[test]
    fn a_signed_multipart_route_post_is_accepted() {
        let body = format!(
            "--b0\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"a.txt\"\r\n\r\nsignature=0\r\n\
--b0\r\nContent-Disposition: form-data; name=\"timestamp\"\r\n\r\n{NOW}\r\n\
--b0\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{TOKEN}\r\n\
--b0\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n{}\r\n--b0--\r\n",
            sign("key-test", NOW)
        );
        let r = Owned::post(
            "/",
            &[("content-type", "multipart/form-data; boundary=b0")],
            body,
        );
        assert!(
            verifier(&["key-test"])
                .verify(&r.request(), at(NOW))
                .is_ok()
        );
    }

    #[test]
    fn a_signed_event_webhook_is_accepted_also_by_its_parent_signature() {
        let v = verifier(&["key-test"]);
        assert!(
            v.verify(
                &event_post(&sign("key-test", NOW), None, NOW).request(),
                at(NOW)
            )
            .is_ok()
        );
        let sub = event_post(
            &sign("subaccount-key", NOW),
            Some(&sign("key-test", NOW)),
            NOW,
        );
        assert!(v.verify(&sub.request(), at(NOW)).is_ok());
    }

    #[test]
    fn a_second_active_key_is_accepted_and_a_rotated_out_one_refused() {
        assert!(
            verifier(&["old", "new"])
                .verify(&route_post("old", NOW).request(), at(NOW))
                .is_ok()
        );
        assert_eq!(
            reason(&verifier(&["new"]), &route_post("old", NOW)),
            Reason::BadSignature
        );
    }

    #[test]
    fn a_wrong_signature_and_a_stale_timestamp_are_refused() {
        let v = verifier(&["key-test"]);
        assert_eq!(
            reason(&v, &event_post(&"0".repeat(64), None, NOW)),
            Reason::BadSignature
        );
        assert_eq!(
            reason(&v, &route_post("key-test", NOW - 301)),
            Reason::StaleTimestamp
        );
    }

    #[test]
    fn a_signature_moved_to_another_timestamp_is_refused() {
        // The signed material is timestamp + token; changing either breaks it.
        let v = verifier(&["key-test"]);
        let body = serde_json::json!({"signature": {"timestamp": (NOW + 1).to_string(), "token": TOKEN, "signature": sign("key-test", NOW)}});
        let r = Owned::post(
            "/",
            &[("content-type", "application/json")],
            body.to_string(),
        );
        assert_eq!(reason(&v, &r), Reason::BadSignature);
    }

    #[test]
    fn missing_signature_fields_are_refused() {
        let v = verifier(&["key-test"]);
        let r = Owned::post(
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            "recipient=a&token=b",
        );
        assert_eq!(reason(&v, &r), Reason::MissingCredentials);
        let r = Owned::post(
            "/",
            &[("content-type", "application/json")],
            r#"{"event-data":{}}"#,
        );
        assert_eq!(reason(&v, &r), Reason::MissingCredentials);
        let r = Owned::post("/", &[("content-type", "application/json")], "{not json");
        assert_eq!(reason(&v, &r), Reason::Malformed);
    }
}
