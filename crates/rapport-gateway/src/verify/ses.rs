//! `ses`: Amazon SES receipt notifications, delivered by an Amazon SNS HTTPS subscription.
//!
//! Scheme (Amazon SNS Developer Guide, "Verifying the signatures of Amazon SNS messages",
//! docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html, and the "HTTP/HTTPS
//! notification / subscription confirmation / unsubscribe confirmation JSON format" pages):
//! - the body is JSON with `Type`, `MessageId`, `TopicArn`, `Message`, `Timestamp`,
//!   `SignatureVersion`, `Signature` (base64) and `SigningCertURL`;
//! - `SignatureVersion` `1` is RSA PKCS#1 v1.5 with SHA-1, `2` the same with SHA-256;
//! - the signed string is, for each key in this order, the key name, `\n`, the value, `\n`:
//!   `Notification`: `Message`, `MessageId`, `Subject` (only if present), `Timestamp`,
//!   `TopicArn`, `Type`; `SubscriptionConfirmation` and `UnsubscribeConfirmation`:
//!   `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`;
//! - the certificate is fetched from `SigningCertURL`, which must be https on an SNS host
//!   ([`crate::keys::check_sns_url`]); AWS asks to "reject any message with an unexpected
//!   TopicArn", so the endpoint lists its topics;
//! - `Timestamp` is the publish time, kept on retries; retries may span up to 3600 s
//!   ("Amazon SNS message delivery retries"), hence the default tolerance of 3900 s.
//!
//! A `SubscriptionConfirmation` must be confirmed by a GET of its `SubscribeURL`
//! ([`Control::ConfirmSubscription`]). With "raw message delivery" on, SNS posts the SES JSON
//! unsigned: such a body has no signature and is refused; leave raw delivery off.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use http::Method;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;
use serde::Deserialize;

use crate::config::EndpointConfig;
use crate::error::{VerifyError, quote};
use crate::keys::{SnsCertificates, check_sns_url};
use crate::request::{Control, Request, Verified, require_fresh};

pub const MESSAGE_TYPE_HEADER: &str = "x-amz-sns-message-type";

#[derive(Debug)]
pub struct Verifier {
    topic_arns: Vec<String>,
    certificates: Arc<SnsCertificates>,
    fetch: bool,
    tolerance_seconds: i64,
    body_limit: usize,
}

/// The SNS HTTP(S) message. Field names are AWS's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Message {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    subject: Option<String>,
    token: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        certificates: Arc<SnsCertificates>,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint ses/{}", endpoint.id);
        let sns = endpoint.sns.clone().expect("validated: ses has sns");
        for (i, pinned) in sns.certificates.iter().enumerate() {
            let loaded = std::fs::read(&pinned.file)
                .map_err(|e| format!("cannot read {}: {e}", pinned.file.display()))
                .and_then(|pem| certificates.pin(&pinned.url, &pem));
            if let Err(e) = loaded {
                problems.push(format!("{at}: sns.certificates[{i}]: {e}"));
            }
        }
        if !sns.fetch_certificates && sns.certificates.is_empty() {
            problems.push(format!(
                "{at}: sns.fetch_certificates is off and no sns.certificates are given"
            ));
        }
        Self {
            topic_arns: sns.topic_arns,
            certificates,
            fetch: sns.fetch_certificates,
            tolerance_seconds: super::tolerance(endpoint),
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
        let message: Message = serde_json::from_slice(request.body).map_err(|e| {
            if e.is_data() {
                VerifyError::MissingCredentials(
                    "SNS signature fields (is raw message delivery on?)",
                )
            } else {
                VerifyError::malformed("the body is not JSON")
            }
        })?;
        if let Some(header) = request.header(MESSAGE_TYPE_HEADER)?
            && header != message.kind
        {
            return Err(VerifyError::malformed(
                "x-amz-sns-message-type differs from Type",
            ));
        }
        if !self.topic_arns.contains(&message.topic_arn) {
            return Err(VerifyError::UntrustedSender(format!(
                "topic {} is not one of this endpoint's",
                quote(&message.topic_arn)
            )));
        }
        let published = DateTime::parse_from_rfc3339(&message.timestamp)
            .map_err(|_| VerifyError::malformed("Timestamp is not ISO 8601"))?;
        require_fresh(published.with_timezone(&Utc), now, self.tolerance_seconds)?;

        let string_to_sign = string_to_sign(&message)?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&message.signature)
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| VerifyError::malformed("Signature is not base64"))?;
        let key = self
            .certificates
            .key(&message.signing_cert_url, now, self.fetch)
            .await?;
        let verified = match message.signature_version.as_str() {
            "1" => VerifyingKey::<sha1::Sha1>::new(key.public_key.clone())
                .verify(string_to_sign.as_bytes(), &signature),
            "2" => VerifyingKey::<sha2::Sha256>::new(key.public_key.clone())
                .verify(string_to_sign.as_bytes(), &signature),
            other => {
                return Err(VerifyError::malformed(format!(
                    "SignatureVersion {} is not 1 or 2",
                    quote(other)
                )));
            }
        };
        verified.map_err(|_| VerifyError::BadSignature)?;

        let control = match message.kind.as_str() {
            "Notification" => None,
            "SubscriptionConfirmation" => {
                let url = message.subscribe_url.as_deref().unwrap_or("");
                let url = check_sns_url(url).map_err(VerifyError::UntrustedSender)?;
                Some(Control::ConfirmSubscription {
                    subscribe_url: url.to_string(),
                })
            }
            _ => Some(Control::Unsubscribed),
        };
        Ok(Verified {
            delivery_id: Some(message.message_id),
            control,
        })
    }
}

/// The canonical string SNS signs for this message's type.
fn string_to_sign(message: &Message) -> Result<String, VerifyError> {
    let missing = |field: &'static str| VerifyError::malformed(format!("{field} is missing"));
    let pairs: Vec<(&str, &str)> = match message.kind.as_str() {
        "Notification" => {
            let mut pairs = vec![
                ("Message", message.message.as_str()),
                ("MessageId", &message.message_id),
            ];
            if let Some(subject) = &message.subject {
                pairs.push(("Subject", subject));
            }
            pairs.extend([
                ("Timestamp", message.timestamp.as_str()),
                ("TopicArn", &message.topic_arn),
                ("Type", &message.kind),
            ]);
            pairs
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => vec![
            ("Message", message.message.as_str()),
            ("MessageId", &message.message_id),
            (
                "SubscribeURL",
                message
                    .subscribe_url
                    .as_deref()
                    .ok_or_else(|| missing("SubscribeURL"))?,
            ),
            ("Timestamp", &message.timestamp),
            (
                "Token",
                message.token.as_deref().ok_or_else(|| missing("Token"))?,
            ),
            ("TopicArn", &message.topic_arn),
            ("Type", &message.kind),
        ],
        other => {
            return Err(VerifyError::malformed(format!(
                "Type {} is not an SNS message type",
                quote(other)
            )));
        }
    };
    let mut out = String::new();
    for (key, value) in pairs {
        out.push_str(key);
        out.push('\n');
        out.push_str(value);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::str::FromStr;
    use std::sync::OnceLock;
    use std::time::Duration;

    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::{RsaPrivateKey, RsaPublicKey};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;

    use super::super::testing::{Owned, endpoint};
    use super::*;
    use crate::config::{PinnedCertificate, SnsConfig, Source};
    use crate::error::Reason;
    use crate::keys::testing::MapFetch;

    pub const CERT_URL: &str =
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-inbound";

    /// An RSA key made once per test run. 1024 bits keeps debug-mode key generation short; the
    /// verification path does not depend on the size.
    pub fn rsa_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
    }

    fn other_rsa_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap())
    }

    /// A self-signed certificate like SNS's (CN=sns.amazonaws.com), valid for `valid_days`
    /// from now.
    pub(crate) fn certificate(key: &RsaPrivateKey, valid_days: u64) -> Vec<u8> {
        let signer = SigningKey::<sha2::Sha256>::new(key.clone());
        let public = RsaPublicKey::from(key).to_public_key_der().unwrap();
        let spki = SubjectPublicKeyInfoOwned::try_from(public.as_bytes()).unwrap();
        let builder = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            Validity::from_now(Duration::from_secs(valid_days * 86_400)).unwrap(),
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

    fn message(
        kind: &str,
        version: &str,
        key: &RsaPrivateKey,
        timestamp: &str,
    ) -> serde_json::Value {
        let mut m = serde_json::json!({
            "Type": kind,
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": "{\"notificationType\":\"Received\",\"mail\":{}}",
            "Timestamp": timestamp,
            "SignatureVersion": version,
            "SigningCertURL": CERT_URL,
        });
        if kind == "Notification" {
            m["Subject"] = "Amazon SES Email Receipt Notification".into();
        } else {
            m["Token"] = "2336412f37fb687f5d51e6e2425dacbba8de0b1f".into();
            m["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=y".into();
        }
        let parsed: Message = serde_json::from_value({
            let mut unsigned = m.clone();
            unsigned["Signature"] = "".into();
            unsigned
        })
        .unwrap();
        let text = string_to_sign(&parsed).unwrap();
        let signature = match version {
            "1" => SigningKey::<sha1::Sha1>::new(key.clone())
                .sign(text.as_bytes())
                .to_vec(),
            _ => SigningKey::<sha2::Sha256>::new(key.clone())
                .sign(text.as_bytes())
                .to_vec(),
        };
        m["Signature"] = base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into();
        m
    }

    fn post(m: &serde_json::Value) -> Owned {
        Owned::post(
            "/hooks/ses/test",
            &[
                (MESSAGE_TYPE_HEADER, m["Type"].as_str().unwrap()),
                ("content-type", "text/plain; charset=UTF-8"),
            ],
            m.to_string(),
        )
    }

    fn verifier_with(fetch: Arc<MapFetch>) -> Verifier {
        let mut e = endpoint(Source::Ses);
        e.sns = Some(SnsConfig {
            topic_arns: vec![TOPIC.into()],
            certificates: vec![],
            fetch_certificates: true,
        });
        let store = Arc::new(SnsCertificates::new(Some(fetch)));
        let mut problems = vec![];
        let v = Verifier::build(&e, store, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        v
    }

    fn serving(key: &RsaPrivateKey) -> Arc<MapFetch> {
        Arc::new(MapFetch::with(CERT_URL, certificate(key, 30)))
    }

    fn now() -> DateTime<Utc> {
        // The certificates are made valid from the real clock's now, so the tests use it too.
        Utc::now()
    }

    fn iso(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    async fn reason(v: &Verifier, r: &Owned) -> Reason {
        v.verify(&r.request(), now()).await.unwrap_err().reason()
    }

    #[test]
    fn the_string_to_sign_follows_the_documented_order() {
        let m = Message {
            kind: "Notification".into(),
            message_id: "id".into(),
            topic_arn: "arn".into(),
            message: "hello\nworld".into(),
            timestamp: "2012-04-26T20:45:04.751Z".into(),
            signature_version: "1".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subject: None,
            token: None,
            subscribe_url: None,
        };
        assert_eq!(
            string_to_sign(&m).unwrap(),
            "Message\nhello\nworld\nMessageId\nid\nTimestamp\n2012-04-26T20:45:04.751Z\nTopicArn\narn\nType\nNotification\n"
        );
        let c = Message {
            kind: "SubscriptionConfirmation".into(),
            token: Some("tok".into()),
            subscribe_url: Some("https://s".into()),
            ..m
        };
        assert_eq!(
            string_to_sign(&c).unwrap(),
            "Message\nhello\nworld\nMessageId\nid\nSubscribeURL\nhttps://s\nTimestamp\n2012-04-26T20:45:04.751Z\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n"
        );
    }

    #[tokio::test]
    async fn notifications_signed_with_either_version_are_accepted_and_the_certificate_is_cached() {
        let fetch = serving(rsa_key());
        let v = verifier_with(fetch.clone());
        for version in ["1", "2"] {
            let m = message("Notification", version, rsa_key(), &iso(now()));
            let ok = v.verify(&post(&m).request(), now()).await.unwrap();
            assert!(ok.forward());
            assert_eq!(
                ok.delivery_id.as_deref(),
                Some("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324")
            );
        }
        assert_eq!(fetch.count(), 1, "fetched once, then cached by URL");
    }

    #[tokio::test]
    async fn a_subscription_confirmation_asks_for_the_subscribe_url() {
        let v = verifier_with(serving(rsa_key()));
        let m = message("SubscriptionConfirmation", "2", rsa_key(), &iso(now()));
        let ok = v.verify(&post(&m).request(), now()).await.unwrap();
        assert!(!ok.forward());
        assert!(
            matches!(ok.control, Some(Control::ConfirmSubscription { subscribe_url }) if subscribe_url.starts_with("https://sns.us-east-1.amazonaws.com/"))
        );
        let m = message("UnsubscribeConfirmation", "2", rsa_key(), &iso(now()));
        assert_eq!(
            v.verify(&post(&m).request(), now()).await.unwrap().control,
            Some(Control::Unsubscribed)
        );
    }

    #[tokio::test]
    async fn forged_altered_stale_and_foreign_messages_are_refused() {
        let v = verifier_with(serving(rsa_key()));
        let forged = message("Notification", "2", other_rsa_key(), &iso(now()));
        assert_eq!(reason(&v, &post(&forged)).await, Reason::BadSignature);

        let mut altered = message("Notification", "2", rsa_key(), &iso(now()));
        altered["Message"] = "{\"notificationType\":\"Received\",\"mail\":{\"x\":1}}".into();
        assert_eq!(reason(&v, &post(&altered)).await, Reason::BadSignature);

        let mut subject_dropped = message("Notification", "2", rsa_key(), &iso(now()));
        subject_dropped.as_object_mut().unwrap().remove("Subject");
        assert_eq!(
            reason(&v, &post(&subject_dropped)).await,
            Reason::BadSignature
        );

        let stale = message(
            "Notification",
            "2",
            rsa_key(),
            &iso(now() - chrono::Duration::seconds(3901)),
        );
        assert_eq!(reason(&v, &post(&stale)).await, Reason::StaleTimestamp);

        let mut foreign = message("Notification", "2", rsa_key(), &iso(now()));
        foreign["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:other".into();
        assert_eq!(reason(&v, &post(&foreign)).await, Reason::UntrustedSender);
    }

    #[tokio::test]
    async fn a_certificate_url_off_the_allow_list_is_never_fetched() {
        let fetch = serving(rsa_key());
        let v = verifier_with(fetch.clone());
        for url in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        ] {
            let mut m = message("Notification", "2", rsa_key(), &iso(now()));
            m["SigningCertURL"] = url.into();
            assert_eq!(
                reason(&v, &post(&m)).await,
                Reason::UntrustedCertificate,
                "{url}"
            );
        }
        assert_eq!(fetch.count(), 0);
    }

    #[tokio::test]
    async fn an_unreachable_certificate_is_retryable_and_an_expired_one_untrusted() {
        let v = verifier_with(Arc::new(MapFetch::default()));
        let m = message("Notification", "2", rsa_key(), &iso(now()));
        let err = v.verify(&post(&m).request(), now()).await.unwrap_err();
        assert_eq!(err.reason(), Reason::KeyUnavailable);
        assert!(err.is_retryable());

        let v = verifier_with(serving(rsa_key()));
        let later = now() + chrono::Duration::days(31);
        let m = message("Notification", "2", rsa_key(), &iso(later));
        assert_eq!(
            v.verify(&post(&m).request(), later)
                .await
                .unwrap_err()
                .reason(),
            Reason::UntrustedCertificate
        );
    }

    #[tokio::test]
    async fn a_configured_certificate_is_used_without_fetching() {
        let dir = std::env::temp_dir().join(format!("rapport-gateway-sns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sns.pem");
        std::fs::write(&file, certificate(rsa_key(), 30)).unwrap();
        let mut e = endpoint(Source::Ses);
        e.sns = Some(SnsConfig {
            topic_arns: vec![TOPIC.into()],
            certificates: vec![PinnedCertificate {
                url: CERT_URL.into(),
                file,
            }],
            fetch_certificates: false,
        });
        let fetch = Arc::new(MapFetch::default());
        let v = Verifier::build(
            &e,
            Arc::new(SnsCertificates::new(Some(fetch.clone()))),
            &mut vec![],
        );
        let m = message("Notification", "2", rsa_key(), &iso(now()));
        assert!(v.verify(&post(&m).request(), now()).await.is_ok());
        let mut elsewhere = m.clone();
        elsewhere["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com/other.pem".into();
        assert_eq!(
            reason(&v, &post(&elsewhere)).await,
            Reason::UntrustedCertificate
        );
        assert_eq!(fetch.count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_raw_delivery_body_is_refused_as_unsigned() {
        let v = verifier_with(serving(rsa_key()));
        let raw = Owned::post(
            "/hooks/ses/test",
            &[],
            r#"{"notificationType":"Received","mail":{},"receipt":{}}"#,
        );
        assert_eq!(reason(&v, &raw).await, Reason::MissingCredentials);
    }
}
