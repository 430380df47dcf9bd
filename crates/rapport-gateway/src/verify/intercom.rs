//! `intercom`: webhook notifications of an Intercom app (Developer Hub → Webhooks).
//!
//! Scheme (Intercom, "Webhook models" → signed notifications,
//! developers.intercom.com/docs/references/webhooks/webhook-models; the same recipe in
//! Intercom's own sample receivers): every notification carries
//! `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>`, keyed with the app's **client
//! secret** (Developer Hub → Basic information). There is no timestamp, so no tolerance: a
//! captured notification can be replayed, and the notification `id` (returned as the
//! delivery id) is what makes a replay a duplicate.
//!
//! Intercom's `ping` topic (sent when the webhook is saved, and from the "Send test request"
//! button) is answered as a [`Control::Ping`] and not forwarded.

use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;

use super::mac::{self, Algo};
use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::request::{Control, Request, Verified};
use crate::secret::{Environment, Secret};

pub const SIGNATURE_HEADER: &str = "x-hub-signature";

#[derive(Debug)]
pub struct Verifier {
    secrets: Vec<Secret>,
    body_limit: usize,
}

#[derive(Debug, Deserialize)]
struct Notification {
    id: Option<String>,
    topic: Option<String>,
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint intercom/{}", endpoint.id);
        Self {
            secrets: super::load_all(&endpoint.secrets, env, &at, "secrets", problems),
            body_limit: endpoint.body_limit_bytes,
        }
    }

    pub fn verify(
        &self,
        request: &Request<'_>,
        _now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        request.require_method(&Method::POST)?;
        request.require_body_within(self.body_limit)?;
        let header = request.credential_header(SIGNATURE_HEADER)?;
        let presented = header
            .strip_prefix("sha1=")
            .and_then(|hex| mac::decode_hex(hex, 20))
            .ok_or_else(|| VerifyError::malformed("X-Hub-Signature is not sha1=<40 hex digits>"))?;
        if !mac::any_key_signs(Algo::Sha1, &self.secrets, &[request.body], &[presented]) {
            return Err(VerifyError::BadSignature);
        }
        // Authentic; the id and topic are read for dedup and pings. A body that is not a
        // notification object is still forwarded, for the adapter to judge.
        let notification: Option<Notification> = serde_json::from_slice(request.body).ok();
        let (id, topic) = notification.map_or((None, None), |n| (n.id, n.topic));
        Ok(Verified {
            delivery_id: id,
            control: (topic.as_deref() == Some("ping")).then_some(Control::Ping),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    const BODY: &str = r#"{"type":"notification_event","id":"notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3","topic":"conversation.user.replied","app_id":"a86dr8yl","data":{"item":{}}}"#;

    fn verifier(secrets: &[&str]) -> Verifier {
        let mut e = endpoint(Source::Intercom);
        e.secrets = values(secrets);
        Verifier::build(&e, &no_env(), &mut vec![])
    }

    fn signed(secret: &str, body: &str) -> Owned {
        let sig = hex::encode(mac::sign(Algo::Sha1, secret.as_bytes(), &[body.as_bytes()]));
        Owned::post(
            "/hooks/intercom/test",
            &[(SIGNATURE_HEADER, &format!("sha1={sig}"))],
            body,
        )
    }

    fn reason(v: &Verifier, r: &Owned) -> Reason {
        v.verify(&r.request(), at(0)).unwrap_err().reason()
    }

    // Checked with `printf 'hello' | openssl dgst -sha1 -hmac client-secret`.
    #[test]
    fn signs_the_raw_body_with_hmac_sha1() {
        let r = signed("client-secret", "hello");
        assert_eq!(
            r.headers[SIGNATURE_HEADER],
            "sha1=5335a6f3937f7ec4f5b9a817c6678ea479c44b7c"
        );
    }

    #[test]
    fn a_signed_notification_is_accepted_with_its_id() {
        let ok = verifier(&["client-secret"])
            .verify(&signed("client-secret", BODY).request(), at(0))
            .unwrap();
        assert_eq!(
            ok.delivery_id.as_deref(),
            Some("notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3")
        );
        assert!(ok.forward());
    }

    #[test]
    fn a_ping_is_a_control_message() {
        let body = r#"{"type":"notification_event","id":"notif_1","topic":"ping","data":{"item":{"type":"ping","message":"something"}}}"#;
        let ok = verifier(&["s"])
            .verify(&signed("s", body).request(), at(0))
            .unwrap();
        assert_eq!(ok.control, Some(Control::Ping));
    }

    #[test]
    fn rotation_wrong_altered_and_missing_are_told_apart() {
        let both = verifier(&["old", "new"]);
        assert!(both.verify(&signed("new", BODY).request(), at(0)).is_ok());
        assert_eq!(
            reason(&verifier(&["new"]), &signed("old", BODY)),
            Reason::BadSignature
        );
        let altered = signed("new", BODY).with_body(BODY.replace("replied", "closed"));
        assert_eq!(reason(&both, &altered), Reason::BadSignature);
        assert_eq!(
            reason(&both, &signed("new", BODY).without(SIGNATURE_HEADER)),
            Reason::MissingCredentials
        );
        let sha256 = Owned::post(
            "/",
            &[(SIGNATURE_HEADER, &format!("sha256={}", "a".repeat(64)))],
            BODY,
        );
        assert_eq!(reason(&both, &sha256), Reason::Malformed);
    }
}
