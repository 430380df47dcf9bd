//! Every source's signed request is accepted by that source's verifier, and the same request
//! with its body altered or its credential changed is refused: the sender and the verifiers
//! agree on each scheme, and the sender's signatures do depend on what they cover.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::*;
use crate::config::{BasicAuth, EndpointConfig, GoogleConfig, SnsConfig};
use crate::error::Reason;
use crate::keys::{GoogleKeys, SnsCertificates};
use crate::request::Request;
use crate::secret::SecretSource;
use crate::verify::{KeyStores, Verifier};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:rapport-inbound";
const AUDIENCE: &str = "https://gateway.test/hooks/google/gbp";
const ACCOUNT: &str = "gbp-push@rapport-demo.iam.gserviceaccount.com";

/// The receive time: now, since the pinned certificate is valid from now on.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

fn key() -> SenderKey {
    SenderKey::new(crate::verify::ses::tests::rsa_key().clone())
}

fn value(v: &str) -> SecretSource {
    SecretSource::Value(v.into())
}

fn endpoint(source: Source, id: &str) -> EndpointConfig {
    let mut e = crate::verify::testing::endpoint(source);
    e.id = id.into();
    match source {
        Source::Generic
        | Source::Mailgun
        | Source::Intercom
        | Source::Chatwoot
        | Source::Zendesk => e.secrets = vec![value(&format!("{id}-secret"))],
        Source::Freshdesk => {
            e.basic_auth = vec![BasicAuth {
                username: "rapport".into(),
                password: value(&format!("{id}-password")),
            }]
        }
        Source::Sendgrid | Source::Trustpilot | Source::Yelp => {
            e.url_tokens = vec![value(&format!("{id}-token"))]
        }
        Source::Ses => {
            e.sns = Some(SnsConfig {
                topic_arns: vec![TOPIC.into()],
                certificates: vec![],
                fetch_certificates: true,
            })
        }
        Source::Google => {
            e.google = Some(GoogleConfig {
                audiences: vec![AUDIENCE.into()],
                service_accounts: vec![ACCOUNT.into()],
                jwks_file: None,
                api_token: Some(value("ya29.token")),
            })
        }
        Source::SendgridEvents => unreachable!("not sent"),
    }
    e
}

/// The key stores the gateway would have: the sender key's certificate pinned for SNS and its
/// JWKS as Google's keys.
fn key_stores() -> KeyStores {
    let sns = SnsCertificates::new(None);
    let pem = crate::verify::ses::tests::certificate(crate::verify::ses::tests::rsa_key(), 2);
    sns.pin(DEMO_SNS_CERT_URL, &pem).unwrap();
    KeyStores {
        sns: Arc::new(sns),
        google: Arc::new(GoogleKeys::from_jwks(&key().jwks()).unwrap()),
    }
}

async fn verify(e: &EndpointConfig, signed: &Signed) -> Result<(), Reason> {
    let env = crate::verify::testing::no_env();
    let verifier = Verifier::build(e, &env, &key_stores()).unwrap();
    let mut headers = HeaderMap::new();
    for (k, v) in &signed.headers {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let uri: Uri = signed.path_and_query.parse().unwrap();
    let request = Request {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
        body: &signed.body,
    };
    verifier
        .verify(&request, now())
        .await
        .map(|_| ())
        .map_err(|e| e.reason())
}

fn golden(path: &str) -> Vec<u8> {
    let file = format!(
        "{}/../rapport-channels/tests/golden/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A payload of each source the generator sends.
fn payload(source: Source) -> Vec<u8> {
    match source {
        Source::Generic => golden("generic/01-email-inbound.json"),
        Source::Sendgrid => golden("sendgrid/01-default-reply-with-quote.txt"),
        // As the generator renders it: without the delivery fields, which the sender adds.
        Source::Mailgun => {
            let form = golden("mailgun/01-urlencoded-reply-stripped-text.txt");
            let form = String::from_utf8(form).unwrap();
            let kept: Vec<&str> = form
                .trim_end()
                .split('&')
                .filter(|p| {
                    !["timestamp=", "token=", "signature="]
                        .iter()
                        .any(|f| p.starts_with(f))
                })
                .collect();
            kept.join("&").into_bytes()
        }
        Source::Ses => {
            let mut m: serde_json::Value = serde_json::from_slice(&golden(
                "ses/01-sns-action-content-same-thread-as-sendgrid.json",
            ))
            .unwrap();
            m["TopicArn"] = TOPIC.into();
            for k in ["Signature", "SignatureVersion", "SigningCertURL"] {
                m.as_object_mut().unwrap().remove(k);
            }
            serde_json::to_vec(&m).unwrap()
        }
        Source::Intercom => golden("intercom/01-customer-created-conversation.json"),
        Source::Chatwoot => golden("chatwoot/01-incoming-message-from-contact.json"),
        Source::Zendesk => golden("zendesk/01-customer-email-comment.json"),
        Source::Freshdesk => golden("freshdesk/01-email-ticket-with-requester.json"),
        Source::Trustpilot => golden("trustpilot/02-one-star-webhook-without-reply.json"),
        Source::Yelp => golden("yelp/04-new-review-webhook-with-language.json"),
        Source::Google => golden("google/01-five-star-with-reply.json"),
        Source::SendgridEvents => unreachable!("not sent"),
    }
}

fn sent() -> impl Iterator<Item = Source> {
    Source::ALL
        .into_iter()
        .filter(|s| *s != Source::SendgridEvents)
}

#[tokio::test]
async fn every_sources_signed_request_is_accepted_by_its_verifier() {
    for source in sent() {
        let e = endpoint(source, "ep");
        let sender = Sender::new(
            std::slice::from_ref(&e),
            &crate::verify::testing::no_env(),
            Some(&key()),
        )
        .unwrap();
        let body = payload(source);
        let signed = sender
            .endpoint(source, "acme")
            .unwrap()
            .sign(&body, now())
            .unwrap();
        assert!(
            signed
                .path_and_query
                .starts_with(&format!("/hooks/{}/ep", source.as_str())),
            "{source:?}: {}",
            signed.path_and_query
        );
        assert_eq!(verify(&e, &signed).await, Ok(()), "{source:?}");
    }
}

#[tokio::test]
async fn a_body_altered_after_signing_or_another_credential_is_refused() {
    for source in sent() {
        let e = endpoint(source, "ep");
        let env = crate::verify::testing::no_env();
        let body = payload(source);
        let signed = Sender::new(std::slice::from_ref(&e), &env, Some(&key()))
            .unwrap()
            .endpoint(source, "acme")
            .unwrap()
            .sign(&body, now())
            .unwrap();
        // Only the schemes that cover the body can notice it changed; Mailgun signs its token.
        let covers_body = matches!(
            source,
            Source::Generic | Source::Intercom | Source::Chatwoot | Source::Zendesk | Source::Ses
        );
        if covers_body {
            let mut altered = signed.clone();
            let at = altered.body.len() / 2;
            altered.body[at] ^= 0x01;
            assert!(
                verify(&e, &altered).await.is_err(),
                "{source:?}: altered body accepted"
            );
        }
        // The same request signed with another endpoint's credentials.
        if source != Source::Google && source != Source::Ses {
            let other = endpoint(source, "other");
            let mut forged = Sender::new(std::slice::from_ref(&other), &env, Some(&key()))
                .unwrap()
                .endpoint(source, "acme")
                .unwrap()
                .sign(&body, now())
                .unwrap();
            forged.path_and_query = forged.path_and_query.replace("/other", "/ep");
            assert!(
                matches!(
                    verify(&e, &forged).await,
                    Err(Reason::BadSignature | Reason::BadCredentials)
                ),
                "{source:?}: another endpoint's credential accepted"
            );
        }
    }
}

#[tokio::test]
async fn what_the_sender_adds_is_only_the_providers_delivery_fields() {
    let env = crate::verify::testing::no_env();
    let sign = |source: Source, body: &[u8]| {
        Sender::new(&[endpoint(source, "ep")], &env, Some(&key()))
            .unwrap()
            .endpoint(source, "acme")
            .unwrap()
            .sign(body, now())
            .unwrap()
    };
    for source in [
        Source::Generic,
        Source::Sendgrid,
        Source::Intercom,
        Source::Chatwoot,
        Source::Zendesk,
        Source::Freshdesk,
        Source::Trustpilot,
        Source::Yelp,
    ] {
        let body = payload(source);
        assert_eq!(sign(source, &body).body, body, "{source:?}");
    }
    let form = payload(Source::Mailgun);
    let signed = sign(Source::Mailgun, &form);
    let kept = form.trim_ascii_end();
    assert!(signed.body.starts_with(kept), "the form is kept as it was");
    let added = std::str::from_utf8(&signed.body[kept.len()..]).unwrap();
    let fields: Vec<&str> = added
        .trim_start_matches('&')
        .split('&')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    assert_eq!(fields, ["timestamp", "token", "signature"], "{added}");

    let sns = payload(Source::Ses);
    let signed = sign(Source::Ses, &sns);
    let (before, mut after): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&sns).unwrap(),
        serde_json::from_slice(&signed.body).unwrap(),
    );
    assert_eq!(
        after["Timestamp"],
        now().to_rfc3339_opts(SecondsFormat::Millis, true).as_str()
    );
    let added: Vec<&str> = ["Signature", "SignatureVersion", "SigningCertURL"].to_vec();
    for k in &added {
        assert!(after[*k].is_string(), "{k}");
        after.as_object_mut().unwrap().remove(*k);
    }
    after["Timestamp"] = before["Timestamp"].clone();
    assert_eq!(after, before);

    let review = payload(Source::Google);
    let signed = sign(Source::Google, &review);
    let (name, served) = signed.serve.expect("google serves its review");
    assert_eq!(served, review);
    assert_eq!(
        crate::service::google::notified(&signed.body),
        crate::service::google::Notified::Review(name)
    );
}

#[test]
fn payloads_a_provider_could_not_send_are_named() {
    let env = crate::verify::testing::no_env();
    for source in [Source::Ses, Source::Google] {
        let sender = Sender::new(&[endpoint(source, "ep")], &env, Some(&key())).unwrap();
        let err = sender
            .endpoint(source, "acme")
            .unwrap()
            .sign(b"{\"cut off", now())
            .unwrap_err();
        assert!(
            matches!(err, SignError::NotSendable { .. }),
            "{source:?}: {err}"
        );
    }
    // Known at send time, so the other endpoints of the config still serve.
    let keyless = Sender::new(&[endpoint(Source::Ses, "ep")], &env, None).unwrap();
    assert!(matches!(
        keyless
            .endpoint(Source::Ses, "acme")
            .unwrap()
            .sign(&payload(Source::Ses), now())
            .unwrap_err(),
        SignError::NoSigningKey(_)
    ));
    let mut signed_parse = endpoint(Source::Sendgrid, "ep");
    signed_parse.url_tokens.clear();
    signed_parse.public_keys = vec![value("MFkw…")];
    let sender = Sender::new(&[signed_parse], &env, None).unwrap();
    assert!(matches!(
        sender
            .endpoint(Source::Sendgrid, "acme")
            .unwrap()
            .sign(b"x", now())
            .unwrap_err(),
        SignError::NoCredential(_)
    ));
    let mut missing = endpoint(Source::Zendesk, "ep");
    missing.secrets = vec![SecretSource::Env("RAPPORT_SIGN_TEST_UNSET".into())];
    assert!(matches!(
        Sender::new(&[missing], &env, None).unwrap_err(),
        SignError::Secret { .. }
    ));
    let sender = Sender::new(&[endpoint(Source::Zendesk, "ep")], &env, None).unwrap();
    assert!(matches!(
        sender.endpoint(Source::Zendesk, "globex").unwrap_err(),
        SignError::NoEndpoint { .. }
    ));
}

#[test]
fn secrets_never_print() {
    let env = crate::verify::testing::no_env();
    let sender = Sender::new(&[endpoint(Source::Zendesk, "ep")], &env, Some(&key())).unwrap();
    let printed = format!("{sender:?} {:?}", key());
    assert!(!printed.contains("ep-secret"), "{printed}");
    assert!(!printed.contains("PRIVATE"), "{printed}");
}
