//! `google`: Google Business Profile notifications, delivered by a Cloud Pub/Sub push
//! subscription with authentication.
//!
//! Scheme (Google Cloud, "Authentication for push subscriptions",
//! cloud.google.com/pubsub/docs/authenticate-push-subscriptions):
//! - `Authorization: Bearer <JWT>`, an OpenID Connect token signed by Google (RS256, key id in
//!   the header, keys published at [`crate::keys::GOOGLE_JWKS_URL`]);
//! - claims: `iss` `accounts.google.com` or `https://accounts.google.com`, `aud` the audience
//!   set on the subscription (by default its push endpoint URL), `email` the service account
//!   the subscription pushes as, with `email_verified` true, `iat` and `exp` (tokens live an
//!   hour); all checked here against the receive time with 60 s of leeway;
//! - the body is the push envelope `{"message": {"data", "messageId", "publishTime",
//!   "attributes"}, "subscription"}`; `messageId` is the delivery id.
//!
//! A Business Profile notification (Notifications API v1 `NotificationSetting`, topics given
//! publish rights for `mybusiness-api-pubsub@system.gserviceaccount.com`) names the changed
//! review (`NEW_REVIEW`, `UPDATED_REVIEW`: a review resource name); the review itself must then
//! be fetched with the Business Profile API: the envelope is forwarded as is for that.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::Method;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::keys::GoogleKeys;
use crate::request::{Request, Verified};

const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];
const LEEWAY_SECONDS: i64 = 60;
/// The longest bearer token read; Google's are about 1 KiB.
const MAX_TOKEN_CHARS: usize = 8 * 1024;

#[derive(Debug)]
pub struct Verifier {
    audiences: Vec<String>,
    service_accounts: Vec<String>,
    keys: Arc<GoogleKeys>,
    body_limit: usize,
}

#[derive(Debug, Deserialize)]
struct Claims {
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    exp: i64,
    iat: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    message: PushMessage,
}

#[derive(Debug, Deserialize)]
struct PushMessage {
    #[serde(rename = "messageId", alias = "message_id")]
    message_id: String,
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        shared: Arc<GoogleKeys>,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint google/{}", endpoint.id);
        let google = endpoint
            .google
            .clone()
            .expect("validated: google has google");
        let keys = match &google.jwks_file {
            None => shared,
            Some(file) => match std::fs::read(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
                .and_then(|doc| GoogleKeys::from_jwks(&doc))
            {
                Ok(keys) => Arc::new(keys),
                Err(e) => {
                    problems.push(format!("{at}: google.jwks_file: {e}"));
                    shared
                }
            },
        };
        Self {
            audiences: google.audiences,
            service_accounts: google.service_accounts,
            keys,
            body_limit: endpoint.body_limit_bytes,
        }
    }

    pub async fn verify(
        &self,
        request: &Request<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        request.require_method(&Method::POST)?;
        request.require_body_within(self.body_limit)?;
        let authorization = request.credential_header("authorization")?;
        let token = authorization
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(VerifyError::MissingCredentials("bearer token"))?;
        if token.len() > MAX_TOKEN_CHARS {
            return Err(VerifyError::malformed("the bearer token is too long"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| VerifyError::malformed("the bearer token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::malformed("the JWT is not RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::malformed("the JWT has no key id"))?;
        let key = self.keys.key(&kid, now).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&self.audiences);
        validation.set_issuer(&ISSUERS);
        // Times are checked below against the receive time passed in, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => VerifyError::BadSignature,
                    ErrorKind::InvalidAudience => VerifyError::UntrustedSender(
                        "the JWT audience is not this endpoint's".into(),
                    ),
                    ErrorKind::InvalidIssuer => {
                        VerifyError::UntrustedSender("the JWT is not issued by Google".into())
                    }
                    _ => VerifyError::malformed("the JWT cannot be read"),
                }
            })?
            .claims;
        let now_s = now.timestamp();
        if claims.exp + LEEWAY_SECONDS < now_s {
            return Err(VerifyError::StaleTimestamp {
                skew_seconds: now_s - claims.exp,
                tolerance_seconds: LEEWAY_SECONDS,
            });
        }
        if let Some(iat) = claims.iat
            && iat - LEEWAY_SECONDS > now_s
        {
            return Err(VerifyError::StaleTimestamp {
                skew_seconds: now_s - iat,
                tolerance_seconds: LEEWAY_SECONDS,
            });
        }
        let email_ok = claims.email_verified
            && claims
                .email
                .as_ref()
                .is_some_and(|e| self.service_accounts.iter().any(|a| a == e));
        if !email_ok {
            return Err(VerifyError::UntrustedSender(
                "the JWT's service account is not this endpoint's".into(),
            ));
        }
        let envelope: Envelope = serde_json::from_slice(request.body)
            .map_err(|_| VerifyError::malformed("the body is not a Pub/Sub push envelope"))?;
        Ok(Verified::event(Some(envelope.message.message_id)))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::RsaPublicKey;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;

    use super::super::testing::{Owned, at, endpoint};
    use super::*;
    use crate::config::{GoogleConfig, Source};
    use crate::error::Reason;
    use crate::keys::GOOGLE_JWKS_URL;
    use crate::keys::testing::MapFetch;
    use crate::verify::ses::tests::rsa_key;

    const AUDIENCE: &str = "https://gateway.acme.example/hooks/google/test";
    const ACCOUNT: &str = "gbp-push@acme-project.iam.gserviceaccount.com";
    const NOW: i64 = 1_767_225_600;
    const BODY: &str = r#"{"message":{"data":"eyJ0eXBlIjoiTkVXX1JFVklFVyJ9","messageId":"2070443601311540","publishTime":"2026-01-01T00:00:00Z"},"subscription":"projects/acme/subscriptions/gbp"}"#;

    fn jwks() -> Vec<u8> {
        let public = RsaPublicKey::from(rsa_key());
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        serde_json::json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
            "n": b64(public.n().to_bytes_be()), "e": b64(public.e().to_bytes_be()),
        }]})
        .to_string()
        .into_bytes()
    }

    fn token(claims: serde_json::Value, kid: &str) -> String {
        let der = rsa_key().to_pkcs1_der().unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "aud": AUDIENCE, "iss": "https://accounts.google.com", "azp": "1137",
            "email": ACCOUNT, "email_verified": true, "sub": "1137",
            "iat": NOW - 10, "exp": NOW + 3590,
        })
    }

    fn post(token: &str) -> Owned {
        Owned::post(
            "/hooks/google/test",
            &[("authorization", &format!("Bearer {token}"))],
            BODY,
        )
    }

    fn verifier(fetch: Arc<MapFetch>) -> Verifier {
        let mut e = endpoint(Source::Google);
        e.google = Some(GoogleConfig {
            audiences: vec![AUDIENCE.into()],
            service_accounts: vec![ACCOUNT.into()],
            jwks_file: None,
            api_token: None,
        });
        Verifier::build(&e, Arc::new(GoogleKeys::new(Some(fetch))), &mut vec![])
    }

    async fn reason(v: &Verifier, r: &Owned) -> Reason {
        v.verify(&r.request(), at(NOW)).await.unwrap_err().reason()
    }

    #[tokio::test]
    async fn a_push_with_a_google_signed_token_is_accepted_and_keys_are_cached() {
        let fetch = Arc::new(MapFetch::with(GOOGLE_JWKS_URL, jwks()));
        let v = verifier(fetch.clone());
        for _ in 0..3 {
            let ok = v
                .verify(&post(&token(claims(), "k1")).request(), at(NOW))
                .await
                .unwrap();
            assert_eq!(ok.delivery_id.as_deref(), Some("2070443601311540"));
        }
        assert_eq!(fetch.count(), 1);
    }

    /// Pushes that arrive together while the first one fetches the keys wait for that fetch:
    /// refused as forged, they would be answered 401 for a key on its way.
    #[tokio::test]
    async fn pushes_arriving_during_the_first_key_fetch_wait_for_it() {
        let mut fetch = MapFetch::with(GOOGLE_JWKS_URL, jwks());
        fetch.delay = Some(std::time::Duration::from_millis(200));
        let fetch = Arc::new(fetch);
        let v = Arc::new(verifier(fetch.clone()));
        let pushes: Vec<_> = (0..8)
            .map(|_| {
                let v = v.clone();
                tokio::spawn(async move {
                    v.verify(&post(&token(claims(), "k1")).request(), at(NOW))
                        .await
                        .map(|_| ())
                        .map_err(|e| e.reason())
                })
            })
            .collect();
        for push in pushes {
            assert_eq!(push.await.unwrap(), Ok(()));
        }
        assert_eq!(fetch.count(), 1, "one fetch for all of them");
    }

    #[tokio::test]
    async fn wrong_audience_account_issuer_or_expiry_is_refused() {
        let v = verifier(Arc::new(MapFetch::with(GOOGLE_JWKS_URL, jwks())));
        let with = |k: &str, val: serde_json::Value| {
            let mut c = claims();
            c[k] = val;
            post(&token(c, "k1"))
        };
        assert_eq!(
            reason(&v, &with("aud", "https://elsewhere.example".into())).await,
            Reason::UntrustedSender
        );
        assert_eq!(
            reason(&v, &with("email", "someone@evil.example".into())).await,
            Reason::UntrustedSender
        );
        assert_eq!(
            reason(&v, &with("email_verified", false.into())).await,
            Reason::UntrustedSender
        );
        assert_eq!(
            reason(&v, &with("iss", "https://evil.example".into())).await,
            Reason::UntrustedSender
        );
        assert_eq!(
            reason(&v, &with("exp", (NOW - 61).into())).await,
            Reason::StaleTimestamp
        );
    }

    #[tokio::test]
    async fn a_tampered_token_and_a_missing_one_are_refused() {
        let v = verifier(Arc::new(MapFetch::with(GOOGLE_JWKS_URL, jwks())));
        let good = token(claims(), "k1");
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut c = claims();
        c["email"] = "attacker@evil.example".into();
        let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        parts[1] = &forged_claims;
        assert_eq!(
            reason(&v, &post(&parts.join("."))).await,
            Reason::BadSignature
        );
        assert_eq!(
            reason(&v, &post(&good).without("authorization")).await,
            Reason::MissingCredentials
        );
        let basic = Owned::post("/", &[("authorization", "Basic dTpw")], BODY);
        assert_eq!(reason(&v, &basic).await, Reason::MissingCredentials);
    }

    #[tokio::test]
    async fn an_unknown_key_id_refetches_at_most_once_a_minute() {
        let fetch = Arc::new(MapFetch::with(GOOGLE_JWKS_URL, jwks()));
        let v = verifier(fetch.clone());
        assert!(
            v.verify(&post(&token(claims(), "k1")).request(), at(NOW))
                .await
                .is_ok()
        );
        assert_eq!(
            reason(&v, &post(&token(claims(), "rotated"))).await,
            Reason::BadSignature
        );
        assert_eq!(
            reason(&v, &post(&token(claims(), "rotated"))).await,
            Reason::BadSignature
        );
        assert_eq!(
            fetch.count(),
            1,
            "the second unknown kid within a minute does not refetch"
        );
        let later = v
            .verify(&post(&token(claims(), "rotated")).request(), at(NOW + 61))
            .await;
        assert_eq!(later.unwrap_err().reason(), Reason::BadSignature);
        assert_eq!(fetch.count(), 2);
    }

    #[tokio::test]
    async fn unreachable_keys_are_retryable() {
        let v = verifier(Arc::new(MapFetch::default()));
        let err = v
            .verify(&post(&token(claims(), "k1")).request(), at(NOW))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
