//! What the gateway's integration tests share: requests signed as each provider signs them
//! (written from the providers' pages, independently of the verifiers: see each function),
//! a loopback stand-in for the provider URLs the gateway fetches (SNS certificates and
//! `SubscribeURL`s, Google's JWKS, the Business Profile API), and the gateway's config.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rapport_kafka::Topics;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

pub const TENANT: &str = "acme";
pub const GENERIC_SECRET: &str = "generic-secret-0123456789";
pub const PARSE_TOKEN: &str = "parse-token-0123456789";
pub const MAILGUN_KEY: &str = "key-mailgun-signing-0123456789";
pub const INTERCOM_SECRET: &str = "intercom-client-secret";
pub const CHATWOOT_SECRET: &str = "chatwoot-webhook-secret";
pub const ZENDESK_SECRET: &str = "zendesk-signing-secret";
pub const FRESHDESK_PASSWORD: &str = "freshdesk-password";
pub const TRUSTPILOT_TOKEN: &str = "trustpilot-token-0123456789";
pub const YELP_TOKEN: &str = "yelp-token-0123456789";
pub const GOOGLE_API_TOKEN: &str = "ya29.test-access-token";
pub const GOOGLE_AUDIENCE: &str = "https://gateway.test/hooks/google/gbp";
pub const GOOGLE_ACCOUNT: &str = "gbp-push@acme-project.iam.gserviceaccount.com";
pub const SNS_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-inbound";
pub const SNS_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";

/// A golden payload of the adapters' tests: a real provider's shape.
pub fn golden(path: &str) -> Vec<u8> {
    let file = format!(
        "{}/../rapport-channels/tests/golden/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// One request as a provider sends it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub method: &'static str,
    /// Path and query: `/hooks/zendesk/zd`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Signed {
    pub fn post(target: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: "POST",
            target: target.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn to(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Sends it to the gateway at `addr`: (status, request id, retry-after, body).
    pub async fn send(&self, client: &reqwest::Client, addr: SocketAddr) -> Answer {
        let method = reqwest::Method::from_str(self.method).unwrap();
        let mut request = client
            .request(method, format!("http://{addr}{}", self.target))
            .body(self.body.clone());
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let response = request.send().await.expect("the gateway answers");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Answer {
            status: response.status().as_u16(),
            request_id: header("rapport-request-id"),
            retry_after: header("retry-after"),
            body: response.text().await.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Rapport's own scheme (docs/GENERIC.md): `v1=` hex HMAC-SHA256 of `"<ts>.<body>"`.
pub fn generic(endpoint: &str, secret: &str, at: DateTime<Utc>, body: &[u8]) -> Signed {
    let ts = at.timestamp().to_string();
    let sig = hex::encode(hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]));
    Signed::post(format!("/hooks/generic/{endpoint}"), body)
        .header("content-type", "application/json")
        .header("x-rapport-timestamp", ts)
        .header("x-rapport-signature", format!("v1={sig}"))
}

/// Zendesk ("Verifying webhook authenticity"): base64 HMAC-SHA256 of timestamp + body, the
/// timestamp RFC 3339.
pub fn zendesk(endpoint: &str, secret: &str, at: DateTime<Utc>, body: &[u8]) -> Signed {
    let ts = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let sig = b64(&hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), body]));
    Signed::post(format!("/hooks/zendesk/{endpoint}"), body)
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-signature-timestamp", ts)
        .header("x-zendesk-webhook-signature", sig)
}

/// Intercom ("Webhook models", signed notifications): `X-Hub-Signature: sha1=` hex
/// HMAC-SHA1 of the body with the app's client secret.
pub fn intercom(endpoint: &str, secret: &str, body: &[u8]) -> Signed {
    let sig = hex::encode(hmac_sha1(secret.as_bytes(), &[body]));
    Signed::post(format!("/hooks/intercom/{endpoint}"), body)
        .header("content-type", "application/json")
        .header("x-hub-signature", format!("sha1={sig}"))
}

/// Chatwoot 4.x: `sha256=` hex HMAC-SHA256 of `"<ts>.<body>"`, with a delivery id.
pub fn chatwoot(
    endpoint: &str,
    secret: &str,
    at: DateTime<Utc>,
    delivery: &str,
    body: &[u8],
) -> Signed {
    let ts = at.timestamp().to_string();
    let sig = hex::encode(hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]));
    Signed::post(format!("/hooks/chatwoot/{endpoint}"), body)
        .header("content-type", "application/json")
        .header("x-chatwoot-timestamp", ts)
        .header("x-chatwoot-signature", format!("sha256={sig}"))
        .header("x-chatwoot-delivery", delivery)
}

/// Mailgun ("Securing Webhooks"): `signature` = hex HMAC-SHA256(signing key, timestamp +
/// token), posted as form fields beside the route's message fields.
pub fn mailgun(endpoint: &str, key: &str, at: DateTime<Utc>, token: &str, form: &[u8]) -> Signed {
    let ts = at.timestamp().to_string();
    let sig = hex::encode(hmac_sha256(
        key.as_bytes(),
        &[ts.as_bytes(), token.as_bytes()],
    ));
    // A route's form carries the fields of its own delivery: replaced by this one's.
    let form = String::from_utf8(form.to_vec()).expect("a urlencoded form is ASCII");
    let kept: Vec<&str> = form
        .trim_end()
        .split('&')
        .filter(|pair| {
            !["timestamp=", "token=", "signature="]
                .iter()
                .any(|f| pair.starts_with(f))
        })
        .collect();
    let body = format!(
        "{}&timestamp={ts}&token={token}&signature={sig}",
        kept.join("&")
    );
    Signed::post(format!("/hooks/mailgun/{endpoint}"), body)
        .header("content-type", "application/x-www-form-urlencoded")
}

/// A SendGrid-style P-256 key pair: (signing key, the base64 DER public key the console shows).
pub fn sendgrid_keys() -> (p256::ecdsa::SigningKey, String) {
    let key = p256::ecdsa::SigningKey::random(&mut rsa::rand_core::OsRng);
    let public = key
        .verifying_key()
        .to_public_key_der()
        .expect("a P-256 public key encodes");
    (key, b64(public.as_bytes()))
}

/// SendGrid's signed Event Webhook: ECDSA P-256 / SHA-256 over timestamp + body, base64 DER.
pub fn sendgrid_events(
    endpoint: &str,
    key: &p256::ecdsa::SigningKey,
    at: DateTime<Utc>,
    body: &[u8],
) -> Signed {
    let ts = at.timestamp().to_string();
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let sig: p256::ecdsa::Signature = key.sign(&signed);
    Signed::post(format!("/hooks/sendgrid_events/{endpoint}"), body)
        .header("content-type", "application/json")
        .header("x-twilio-email-event-webhook-timestamp", ts)
        .header(
            "x-twilio-email-event-webhook-signature",
            b64(sig.to_der().as_ref()),
        )
}

/// The test's RSA key (SNS certificate and Google JWTs), made once per test binary.
pub fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
}

/// Another RSA key: a forger's.
pub fn other_rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
}

/// A self-signed certificate like SNS's, for [`rsa_key`].
pub fn sns_certificate() -> Vec<u8> {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;
    let key = rsa_key();
    let signer = SigningKey::<sha2::Sha256>::new(key.clone());
    let public = RsaPublicKey::from(key).to_public_key_der().unwrap();
    let spki = SubjectPublicKeyInfoOwned::try_from(public.as_bytes()).unwrap();
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        Validity::from_now(Duration::from_secs(7 * 86_400)).unwrap(),
        Name::from_str("CN=sns.amazonaws.com,O=Amazon.com Inc.").unwrap(),
        spki,
        &signer,
    )
    .unwrap();
    let cert = builder.build::<rsa::pkcs1v15::Signature>().unwrap();
    cert.to_pem(x509_cert::der::pem::LineEnding::LF)
        .unwrap()
        .into_bytes()
}

/// An SNS message signed as the SNS developer guide says ("Verifying the signatures of Amazon
/// SNS messages"): `SignatureVersion` 2, RSA PKCS#1 v1.5 with SHA-256 over `Key\nValue\n` for
/// Message, MessageId, Subject (if any), Timestamp, TopicArn, Type (a notification), or Message,
/// MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type (a subscription confirmation).
pub fn sns_message(mut message: serde_json::Value, key: &RsaPrivateKey) -> Vec<u8> {
    let text = |k: &str| message[k].as_str().map(str::to_owned);
    let kind = text("Type").unwrap();
    let order: &[&str] = if kind == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut canonical = String::new();
    for k in order {
        if let Some(v) = text(k) {
            canonical.push_str(&format!("{k}\n{v}\n"));
        }
    }
    let sig = SigningKey::<sha2::Sha256>::new(key.clone()).sign(canonical.as_bytes());
    message["SignatureVersion"] = "2".into();
    message["SigningCertURL"] = SNS_CERT_URL.into();
    message["Signature"] = b64(&sig.to_vec()).into();
    serde_json::to_vec(&message).unwrap()
}

/// POSTs an SNS message as SNS does.
pub fn ses(endpoint: &str, body: Vec<u8>, kind: &str) -> Signed {
    Signed::post(format!("/hooks/ses/{endpoint}"), body)
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", kind)
}

/// The JWKS of [`rsa_key`] under key id `k1`.
pub fn jwks() -> Vec<u8> {
    let public = RsaPublicKey::from(rsa_key());
    let url = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    serde_json::json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
        "n": url(public.n().to_bytes_be()), "e": url(public.e().to_bytes_be()),
    }]})
    .to_string()
    .into_bytes()
}

/// A Google OIDC token as Pub/Sub push sends it ("Authentication for push subscriptions").
pub fn google_token(key: &RsaPrivateKey, at: DateTime<Utc>, lifetime_s: i64) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let der = key.to_pkcs1_der().unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({
        "aud": GOOGLE_AUDIENCE, "iss": "https://accounts.google.com", "azp": "1137",
        "email": GOOGLE_ACCOUNT, "email_verified": true, "sub": "1137",
        "iat": at.timestamp(), "exp": at.timestamp() + lifetime_s,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

/// A Pub/Sub push of a Business Profile notification.
pub fn google_push(
    endpoint: &str,
    token: &str,
    message_id: &str,
    notification: &serde_json::Value,
) -> Signed {
    let body = serde_json::json!({
        "message": {
            "data": b64(notification.to_string().as_bytes()),
            "messageId": message_id,
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": "projects/acme-project/subscriptions/gbp",
    });
    Signed::post(format!("/hooks/google/{endpoint}"), body.to_string())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
}

/// Loopback stand-in for the provider URLs the gateway fetches.
#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    /// Every request it got: `GET /path?query`.
    pub hits: Arc<Mutex<Vec<String>>>,
    /// Business Profile reviews by resource name.
    pub reviews: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl StandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stand_in = Self {
            addr,
            hits: Arc::default(),
            reviews: Arc::default(),
        };
        let certificate = sns_certificate();
        let jwks = jwks();
        let state = stand_in.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let (state, certificate, jwks) = (state.clone(), certificate.clone(), jwks.clone());
            async move { state.answer(&uri, &headers, certificate, jwks) }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    fn answer(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        certificate: Vec<u8>,
        jwks: Vec<u8>,
    ) -> axum::response::Response {
        let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        self.hits.lock().unwrap().push(format!("GET {target}"));
        let path = uri.path();
        if path == "/SimpleNotificationService-test.pem" {
            return certificate.into_response();
        }
        if path == "/oauth2/v3/certs" {
            return jwks.into_response();
        }
        if path == "/"
            && uri
                .query()
                .is_some_and(|q| q.contains("Action=ConfirmSubscription"))
        {
            return "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>".into_response();
        }
        if let Some(name) = path.strip_prefix("/v4/") {
            let authorized = headers
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == format!("Bearer {GOOGLE_API_TOKEN}").as_bytes());
            if !authorized {
                return (
                    StatusCode::UNAUTHORIZED,
                    r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#,
                )
                    .into_response();
            }
            return match self.reviews.lock().unwrap().get(name) {
                Some(review) => review.clone().into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    r#"{"error":{"code":404,"status":"NOT_FOUND"}}"#,
                )
                    .into_response(),
            };
        }
        StatusCode::NOT_FOUND.into_response()
    }

    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }

    /// The `[outbound]` section sending every provider host to this stand-in.
    pub fn outbound_toml(&self) -> String {
        let base = format!("http://{}", self.addr);
        format!(
            "[outbound]\ntimeout_ms = 3000\n[outbound.test_only_reroute]\n\"sns.us-east-1.amazonaws.com\" = \"{base}\"\n\"www.googleapis.com\" = \"{base}\"\n\"mybusiness.googleapis.com\" = \"{base}\"\n"
        )
    }
}

/// One endpoint per source, with the secrets above.
pub fn endpoints_toml(sendgrid_public_key: &str) -> String {
    format!(
        r#"
[[endpoints]]
id = "gen"
tenant = "{TENANT}"
source = "generic"
secrets = [{{ value = "{GENERIC_SECRET}" }}]

[[endpoints]]
id = "parse"
tenant = "{TENANT}"
source = "sendgrid"
url_tokens = [{{ value = "{PARSE_TOKEN}" }}]

[[endpoints]]
id = "sg-events"
tenant = "{TENANT}"
source = "sendgrid_events"
public_keys = [{{ value = "{sendgrid_public_key}" }}]

[[endpoints]]
id = "mg"
tenant = "{TENANT}"
source = "mailgun"
secrets = [{{ value = "{MAILGUN_KEY}" }}]

[[endpoints]]
id = "ses"
tenant = "{TENANT}"
source = "ses"
sns = {{ topic_arns = ["{SNS_TOPIC}"] }}

[[endpoints]]
id = "ic"
tenant = "{TENANT}"
source = "intercom"
secrets = [{{ value = "{INTERCOM_SECRET}" }}]

[[endpoints]]
id = "cw"
tenant = "{TENANT}"
source = "chatwoot"
secrets = [{{ value = "{CHATWOOT_SECRET}" }}]

[[endpoints]]
id = "zd"
tenant = "{TENANT}"
source = "zendesk"
secrets = [{{ value = "{ZENDESK_SECRET}" }}]

[[endpoints]]
id = "fd"
tenant = "{TENANT}"
source = "freshdesk"
basic_auth = [{{ username = "rapport", password = {{ value = "{FRESHDESK_PASSWORD}" }} }}]

[[endpoints]]
id = "tp"
tenant = "{TENANT}"
source = "trustpilot"
body_limit_bytes = 65536
url_tokens = [{{ value = "{TRUSTPILOT_TOKEN}" }}]

[[endpoints]]
id = "yelp"
tenant = "{TENANT}"
source = "yelp"
url_tokens = [{{ value = "{YELP_TOKEN}" }}]

[[endpoints]]
id = "gbp"
tenant = "{TENANT}"
source = "google"
google = {{ audiences = ["{GOOGLE_AUDIENCE}"], service_accounts = ["{GOOGLE_ACCOUNT}"], api_token = {{ value = "{GOOGLE_API_TOKEN}" }} }}
"#
    )
}

/// The topic SendGrid's delivery events go to (no adapter reads them).
pub fn sendgrid_events_topic(topics: &Topics) -> String {
    format!(
        "{}.sendgrid.events",
        topics.raw_email.trim_end_matches(".raw.email")
    )
}

/// A whole gateway config: endpoints, Kafka and topics, the stand-in, and `extra` top-level
/// keys (which go first).
pub fn gateway_toml(
    extra: &str,
    kafka: &rapport_kafka::KafkaConfig,
    topics: &Topics,
    stand_in: &StandIn,
    sendgrid_public_key: &str,
) -> String {
    format!(
        "{extra}\n[source_topics]\nsendgrid_events = \"{}\"\n{}\n{}\n{}",
        sendgrid_events_topic(topics),
        stand_in.outbound_toml(),
        rapport_testkit::kafka_and_topics_toml(kafka, topics),
        endpoints_toml(sendgrid_public_key),
    )
}

/// Polls `/readyz` until 200.
pub async fn wait_ready(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            drop(stream);
            let (status, _) = rapport_testkit::http_get(addr, "/readyz").await;
            if status == 200 {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway at {addr} was not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
