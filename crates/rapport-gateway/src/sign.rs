//! The sending side: a payload turned into the request its provider would send to the gateway,
//! signed (or authenticated) with the endpoint's credentials exactly as the provider does it.
//!
//! `rapport generate --gateway` sends its traffic through this, so the demo exercises the real
//! path (verification included), and it is the reference the verifiers' round-trip tests use.
//! Each scheme is the one its verifier's module comment documents (`crate::verify::*`); the
//! integration tests (`tests/support`) keep an independent copy written from the providers'
//! pages, so a mistake here cannot hide a mistake in a verifier.
//!
//! Two providers sign with keys only they hold: SNS (SES notifications) signs with AWS's
//! certificate key, and a Google Pub/Sub push carries a Google-signed OIDC token. A [`SenderKey`]
//! stands in for both: an RSA key whose self-signed certificate the gateway is given
//! (`sns.certificates`) and whose JWKS it fetches (rerouted to a loopback [`stand_in`]). That is
//! for demos and tests only; a real deployment receives these from AWS and Google.
//!
//! What each request carries beyond the payload:
//! - `generic`, `zendesk`, `chatwoot`, `intercom`: signature headers over the unchanged body.
//! - `sendgrid`, `freshdesk`, `trustpilot`, `yelp` (and `chatwoot` without a secret): the
//!   endpoint's URL token, basic credentials or header; the body unchanged.
//! - `mailgun`: the form gets `timestamp`, `token` and `signature` fields appended, as a route's
//!   forward carries them (the adapters do not read them).
//! - `ses`: the SNS message gets `Timestamp` (the publish time: now), `SignatureVersion`,
//!   `SigningCertURL` and `Signature`; every other field is unchanged.
//! - `google`: the payload is the review; the request is the Pub/Sub push naming it, and
//!   [`Signed::serve`] is what the Business Profile API must answer when the gateway fetches it.

pub mod stand_in;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer as _};

use crate::config::{EndpointConfig, Source};
use crate::secret::{Environment, Secret};
use crate::verify::mac::{self, Algo};
use crate::verify::{TOKEN_PARAM, chatwoot, generic, intercom, zendesk};

/// One request as the provider sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Path and query, `/hooks/{source}/{endpoint}[?token=…]`; the sender prefixes the
    /// gateway's base URL.
    pub path_and_query: String,
    /// Header names in lowercase, with their values.
    pub headers: Vec<(String, String)>,
    /// The body exactly as the provider posts it.
    pub body: Vec<u8>,
    /// For `google`: the review the gateway will fetch, by resource name.
    pub serve: Option<(String, Vec<u8>)>,
}

impl Signed {
    fn header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }
}

/// Why a payload cannot be sent as its provider would send it.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("endpoint {0} has no credential the sender can use")]
    NoCredential(String),
    #[error("endpoint {endpoint}: {problem}")]
    Secret { endpoint: String, problem: String },
    #[error("endpoint {0} needs a signing key (the stand-in for AWS's and Google's keys)")]
    NoSigningKey(String),
    #[error("no endpoint for source {provider} and tenant {tenant}")]
    NoEndpoint { provider: String, tenant: String },
    #[error("a {provider} payload the provider could not send: {reason}")]
    NotSendable {
        provider: &'static str,
        reason: &'static str,
    },
    #[error("the signing key cannot be read: {0}")]
    Key(String),
}

/// The RSA key that stands for AWS's SNS certificate key and Google's token-signing key.
#[derive(Clone)]
pub struct SenderKey {
    key: RsaPrivateKey,
    /// The `kid` of the Google tokens and of [`SenderKey::jwks`].
    pub kid: String,
    /// The `SigningCertURL` SNS messages name; the gateway pins the certificate to it.
    pub sns_cert_url: String,
}

impl std::fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderKey")
            .field("kid", &self.kid)
            .field("sns_cert_url", &self.sns_cert_url)
            .finish_non_exhaustive()
    }
}

/// The key id of the demo's stand-in Google key.
pub const DEMO_KID: &str = "rapport-demo";
/// The certificate URL the demo's SNS messages name (an allowed SNS host, as the gateway
/// requires; the gateway is given the certificate, so nothing is fetched from it).
pub const DEMO_SNS_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-rapport-demo.pem";

impl SenderKey {
    /// A key from PEM (PKCS#8 `PRIVATE KEY` as `openssl genpkey` writes, or PKCS#1
    /// `RSA PRIVATE KEY`), with the demo's key id and certificate URL.
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| SignError::Key("not a PEM RSA private key".into()))?;
        Ok(Self::new(key))
    }

    pub fn new(key: RsaPrivateKey) -> Self {
        Self {
            key,
            kid: DEMO_KID.into(),
            sns_cert_url: DEMO_SNS_CERT_URL.into(),
        }
    }

    /// The key's public half as a JWKS document, as `https://www.googleapis.com/oauth2/v3/certs`
    /// serves Google's.
    pub fn jwks(&self) -> Vec<u8> {
        use rsa::traits::PublicKeyParts;
        let public = rsa::RsaPublicKey::from(&self.key);
        let url = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        serde_json::json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": url(public.n().to_bytes_be()), "e": url(public.e().to_bytes_be()),
        }]})
        .to_string()
        .into_bytes()
    }
}

/// How one endpoint's requests are authenticated, with the secrets loaded.
enum Credential {
    /// HMAC schemes: `generic`, `mailgun`, `intercom`, `chatwoot`, `zendesk`.
    Hmac(Secret),
    Basic {
        username: String,
        password: Secret,
    },
    UrlToken(Secret),
    Header {
        name: String,
        value: Secret,
    },
    Sns(SenderKey),
    Google {
        key: SenderKey,
        audience: String,
        service_account: String,
    },
    /// Nothing the sender can sign with: an error when a payload of this source is sent, not
    /// before, so a config with such an endpoint still serves the others.
    Unusable(Unusable),
}

#[derive(Debug, Clone, Copy)]
enum Unusable {
    NoCredential,
    NoSigningKey,
}

/// One endpoint, ready to sign its provider's requests.
pub struct SenderEndpoint {
    /// The endpoint id, the last segment of its URL.
    pub id: String,
    /// The tenant the gateway writes this endpoint's records for.
    pub tenant: String,
    pub source: Source,
    credential: Credential,
}

impl std::fmt::Debug for SenderEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderEndpoint")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Every endpoint of a gateway config, as its providers would reach them.
#[derive(Debug)]
pub struct Sender {
    endpoints: Vec<SenderEndpoint>,
}

impl Sender {
    /// Loads each endpoint's credentials (the first of each list: the current one during a
    /// rotation); a secret that cannot be loaded is an error. `key` is needed only by `ses` and
    /// `google` endpoints, and an endpoint the sender cannot sign for (an ECDSA-signed Inbound
    /// Parse, a missing key) fails only when a payload is sent to it; `sendgrid_events` (not
    /// traffic the generator makes) is skipped.
    pub fn new(
        endpoints: &[EndpointConfig],
        env: &dyn Environment,
        key: Option<&SenderKey>,
    ) -> Result<Self, SignError> {
        let mut out = Vec::new();
        for e in endpoints {
            if e.source == Source::SendgridEvents {
                continue;
            }
            let name = format!("{}/{}", e.source.as_str(), e.id);
            let load = |s: &crate::secret::SecretSource| {
                s.load(env).map_err(|problem| SignError::Secret {
                    endpoint: name.clone(),
                    problem,
                })
            };
            let credential = match (e.source, key) {
                (Source::Ses | Source::Google, None) => {
                    Credential::Unusable(Unusable::NoSigningKey)
                }
                (Source::Ses, Some(key)) => Credential::Sns(key.clone()),
                (Source::Google, Some(key)) => {
                    let google = e.google.as_ref();
                    match google.map(|g| (g.audiences.first(), g.service_accounts.first())) {
                        Some((Some(audience), Some(service_account))) => Credential::Google {
                            key: key.clone(),
                            audience: audience.clone(),
                            service_account: service_account.clone(),
                        },
                        _ => Credential::Unusable(Unusable::NoCredential),
                    }
                }
                _ => {
                    if let Some(secret) = e.secrets.first() {
                        Credential::Hmac(load(secret)?)
                    } else if let Some(basic) = e.basic_auth.first() {
                        Credential::Basic {
                            username: basic.username.clone(),
                            password: load(&basic.password)?,
                        }
                    } else if let Some(token) = e.url_tokens.first() {
                        Credential::UrlToken(load(token)?)
                    } else if let Some(header) = e.header.as_ref()
                        && let Some(value) = header.values.first()
                    {
                        Credential::Header {
                            name: header.name.clone(),
                            value: load(value)?,
                        }
                    } else {
                        Credential::Unusable(Unusable::NoCredential)
                    }
                }
            };
            out.push(SenderEndpoint {
                id: e.id.clone(),
                tenant: e.tenant.clone(),
                source: e.source,
                credential,
            });
        }
        Ok(Self { endpoints: out })
    }

    /// The endpoint of `source` for `tenant` (the first configured).
    pub fn endpoint(&self, source: Source, tenant: &str) -> Result<&SenderEndpoint, SignError> {
        self.endpoints
            .iter()
            .find(|e| e.source == source && e.tenant == tenant)
            .ok_or_else(|| SignError::NoEndpoint {
                provider: source.as_str().into(),
                tenant: crate::error::quote(tenant),
            })
    }
}

impl SenderEndpoint {
    /// The request the provider would send for `payload` at `now`. Each call draws fresh
    /// one-time values (Mailgun's token, Chatwoot's delivery id, the Pub/Sub message id); a
    /// retry re-sends the same [`Signed`], as providers do.
    pub fn sign(&self, payload: &[u8], now: DateTime<Utc>) -> Result<Signed, SignError> {
        let path = format!("/hooks/{}/{}", self.source.as_str(), self.id);
        let mut signed = Signed {
            path_and_query: path,
            headers: Vec::new(),
            body: payload.to_vec(),
            serve: None,
        };
        let content_type = match self.source {
            Source::Sendgrid => "multipart/form-data; boundary=xYzZY",
            Source::Mailgun => "application/x-www-form-urlencoded",
            Source::Ses => "text/plain; charset=UTF-8",
            _ => "application/json",
        };
        signed.header("content-type", content_type);
        match (&self.credential, self.source) {
            (Credential::Hmac(secret), Source::Generic) => {
                let ts = now.timestamp();
                signed.header(generic::TIMESTAMP_HEADER, ts.to_string());
                signed.header(
                    generic::SIGNATURE_HEADER,
                    generic::signature_header(secret.expose(), ts, payload),
                );
            }
            (Credential::Hmac(secret), Source::Zendesk) => {
                let ts = now.to_rfc3339_opts(SecondsFormat::Secs, true);
                let tag = mac::sign(Algo::Sha256, secret.expose(), &[ts.as_bytes(), payload]);
                signed.header(zendesk::TIMESTAMP_HEADER, ts);
                signed.header(
                    zendesk::SIGNATURE_HEADER,
                    base64::engine::general_purpose::STANDARD.encode(tag),
                );
            }
            (Credential::Hmac(secret), Source::Intercom) => {
                let tag = mac::sign(Algo::Sha1, secret.expose(), &[payload]);
                signed.header(
                    intercom::SIGNATURE_HEADER,
                    format!("sha1={}", hex::encode(tag)),
                );
            }
            (Credential::Hmac(secret), Source::Chatwoot) => {
                let ts = now.timestamp().to_string();
                let tag = mac::sign(
                    Algo::Sha256,
                    secret.expose(),
                    &[ts.as_bytes(), b".", payload],
                );
                signed.header(chatwoot::TIMESTAMP_HEADER, ts);
                signed.header(
                    chatwoot::SIGNATURE_HEADER,
                    format!("sha256={}", hex::encode(tag)),
                );
                signed.header(chatwoot::DELIVERY_HEADER, random_id(32));
            }
            (Credential::Hmac(secret), Source::Mailgun) => {
                signed.body = mailgun_form(secret, payload, now);
            }
            (Credential::Basic { username, password }, _) => {
                let pair = [username.as_bytes(), b":", password.expose()].concat();
                signed.header(
                    "authorization",
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ),
                );
            }
            (Credential::UrlToken(token), _) => {
                let token = std::str::from_utf8(token.expose()).map_err(|_| {
                    SignError::NoCredential(format!("{} (a URL token that is not UTF-8)", self.id))
                })?;
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(TOKEN_PARAM, token)
                    .finish();
                signed.path_and_query = format!("{}?{query}", signed.path_and_query);
            }
            (Credential::Header { name, value }, _) => {
                let value = std::str::from_utf8(value.expose()).map_err(|_| {
                    SignError::NoCredential(format!(
                        "{} (a header value that is not UTF-8)",
                        self.id
                    ))
                })?;
                signed.header(&name.to_ascii_lowercase(), value);
            }
            (Credential::Sns(key), _) => {
                signed.body = sns_notification(key, payload, now)?;
                signed.header(crate::verify::ses::MESSAGE_TYPE_HEADER, "Notification");
            }
            (
                Credential::Google {
                    key,
                    audience,
                    service_account,
                },
                _,
            ) => {
                let name = review_name(payload)?;
                let token = google_token(key, audience, service_account, now)?;
                let notification = serde_json::json!({"type": "NEW_REVIEW", "reviewName": name});
                let push = serde_json::json!({
                    "message": {
                        "data": base64::engine::general_purpose::STANDARD
                            .encode(notification.to_string()),
                        "messageId": random_digits(16),
                        "publishTime": now.to_rfc3339_opts(SecondsFormat::Millis, true),
                    },
                    "subscription": "projects/rapport-demo/subscriptions/gbp",
                });
                signed.body = push.to_string().into_bytes();
                signed.header("authorization", format!("Bearer {token}"));
                signed.serve = Some((name, payload.to_vec()));
            }
            (Credential::Unusable(why), _) => {
                let name = format!("{}/{}", self.source.as_str(), self.id);
                return Err(match why {
                    Unusable::NoCredential => SignError::NoCredential(name),
                    Unusable::NoSigningKey => SignError::NoSigningKey(name),
                });
            }
            (Credential::Hmac(_), _) => {
                return Err(SignError::NoCredential(format!(
                    "{}/{} (an HMAC secret for a source that signs otherwise)",
                    self.source.as_str(),
                    self.id
                )));
            }
        }
        Ok(signed)
    }
}

/// Mailgun's route forward: the form's own delivery fields (if any) replaced by this one's
/// `timestamp`, 50-character `token` and `signature` = hex HMAC-SHA256(key, timestamp + token).
fn mailgun_form(key: &Secret, form: &[u8], now: DateTime<Utc>) -> Vec<u8> {
    let ts = now.timestamp().to_string();
    let token = random_id(50);
    let tag = hex::encode(mac::sign(
        Algo::Sha256,
        key.expose(),
        &[ts.as_bytes(), token.as_bytes()],
    ));
    let mut body = Vec::with_capacity(form.len() + 160);
    for pair in form.trim_ascii_end().split(|b| *b == b'&') {
        let delivery_field = [&b"timestamp="[..], b"token=", b"signature="]
            .iter()
            .any(|f| pair.starts_with(f));
        if !delivery_field && !pair.is_empty() {
            body.extend_from_slice(pair);
            body.push(b'&');
        }
    }
    body.extend_from_slice(format!("timestamp={ts}&token={token}&signature={tag}").as_bytes());
    body
}

/// SNS's notification: the generated message re-published now and signed with
/// `SignatureVersion` 2 (RSA PKCS#1 v1.5, SHA-256) over `Message`, `MessageId`, `Subject` (if
/// any), `Timestamp`, `TopicArn`, `Type`, each as `Key\nValue\n`.
fn sns_notification(
    key: &SenderKey,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    let not_sns = |reason| SignError::NotSendable {
        provider: "ses",
        reason,
    };
    let mut message: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| not_sns("not an SNS message (not JSON)"))?;
    if !message.is_object() || message["Type"] != "Notification" {
        return Err(not_sns("not an SNS notification"));
    }
    message["Timestamp"] = now.to_rfc3339_opts(SecondsFormat::Millis, true).into();
    let mut canonical = String::new();
    for k in [
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ] {
        match message[k].as_str() {
            Some(v) => canonical.push_str(&format!("{k}\n{v}\n")),
            None if k == "Subject" => {}
            None => return Err(not_sns("an SNS field is missing")),
        }
    }
    let signature = SigningKey::<sha2::Sha256>::new(key.key.clone()).sign(canonical.as_bytes());
    message["SignatureVersion"] = "2".into();
    message["SigningCertURL"] = key.sns_cert_url.clone().into();
    message["Signature"] = base64::engine::general_purpose::STANDARD
        .encode(signature.to_vec())
        .into();
    serde_json::to_vec(&message).map_err(|_| not_sns("not serializable"))
}

/// The review's resource name (`accounts/*/locations/*/reviews/*`), which the notification
/// carries.
fn review_name(review: &[u8]) -> Result<String, SignError> {
    #[derive(serde::Deserialize)]
    struct Review {
        name: String,
    }
    let review: Review = serde_json::from_slice(review).map_err(|_| SignError::NotSendable {
        provider: "google",
        reason: "not a Business Profile review with a name",
    })?;
    if crate::service::google::is_review_name(&review.name) {
        Ok(review.name)
    } else {
        Err(SignError::NotSendable {
            provider: "google",
            reason: "the review's name is not a review resource name",
        })
    }
}

/// The OIDC token Pub/Sub push attaches ("Authentication for push subscriptions"): RS256,
/// issued by accounts.google.com for the subscription's audience and service account.
fn google_token(
    key: &SenderKey,
    audience: &str,
    service_account: &str,
    now: DateTime<Utc>,
) -> Result<String, SignError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let der = key
        .key
        .to_pkcs1_der()
        .map_err(|_| SignError::Key("cannot encode the key".into()))?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let claims = serde_json::json!({
        "aud": audience, "iss": "https://accounts.google.com", "azp": "rapport-demo",
        "email": service_account, "email_verified": true, "sub": "rapport-demo",
        "iat": now.timestamp(), "exp": now.timestamp() + 3600,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der.as_bytes()))
        .map_err(|_| SignError::Key("cannot sign the token".into()))
}

fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn random_digits(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

#[cfg(test)]
mod tests;
