//! Every source against the local stack: a request signed as its provider signs it is
//! answered 2xx and is on the source's raw topic, unchanged, with the envelope headers; a
//! wrong signature (or credential), a stale timestamp, a body altered after signing and an
//! unknown endpoint are refused with their status, and none of them is on any topic. Control
//! messages (SNS subscription, Yelp's verification, Intercom's ping) are answered and not
//! produced; the SNS handshake GETs the `SubscribeURL` from the stand-in.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rapport_gateway::service::ServiceConfig;
use rapport_kafka::{KafkaConfig, TopicSpec, Topics, ensure_topics};
use rapport_runtime::Shutdown;
use rapport_testkit::{Stack, free_addr, metric_sum, reader, unique_name};
use rdkafka::Message;
use rdkafka::message::Headers;
use support::*;

struct Gateway {
    addr: SocketAddr,
    kafka: KafkaConfig,
    topics: Topics,
    stand_in: StandIn,
    sendgrid_key: p256::ecdsa::SigningKey,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<Result<(), rapport_gateway::service::ServiceError>>,
}

impl Gateway {
    /// A gateway in this process on fresh topics of the local stack; `extra` is more config.
    async fn start(name: &str, extra: &str) -> Self {
        let kafka = Stack::from_env().kafka;
        let topics = Topics::prefixed(&unique_name(name));
        let mut specs = topics.specs();
        specs.push(TopicSpec {
            name: sendgrid_events_topic(&topics),
            compacted: false,
        });
        ensure_topics(&kafka, &specs)
            .await
            .expect("topics created; is the stack up? run `make up`");
        let stand_in = StandIn::start().await;
        let (sendgrid_key, sendgrid_public) = sendgrid_keys();
        let addr = free_addr();
        let text = gateway_toml(
            &format!("[http]\nlisten = \"{addr}\"\n{extra}"),
            &kafka,
            &topics,
            &stand_in,
            &sendgrid_public,
        );
        let config: ServiceConfig = toml::from_str(&text).expect("the test config parses");
        let shutdown = Shutdown::new();
        let task = tokio::spawn(rapport_gateway::service::serve(config, shutdown.clone()));
        wait_ready(addr).await;
        Self {
            addr,
            kafka,
            topics,
            stand_in,
            sendgrid_key,
            shutdown,
            task,
        }
    }

    fn raw_topics(&self) -> Vec<String> {
        let mut all: Vec<String> = self.topics.raw().iter().map(|t| t.to_string()).collect();
        all.push(sendgrid_events_topic(&self.topics));
        all
    }

    async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

/// What an accepted request must have put on a topic.
#[derive(Debug, Clone)]
struct Expected {
    topic: String,
    source: &'static str,
    payload: Vec<u8>,
    delivery_id: Option<String>,
    key: Option<String>,
}

/// A landed record, by request id.
#[derive(Debug)]
struct Landed {
    topic: String,
    key: String,
    payload: Vec<u8>,
    headers: BTreeMap<String, String>,
}

/// Reads every raw topic until every id in `wanted` arrived, then for 3 quiet seconds more.
async fn landed(gateway: &Gateway, wanted: &BTreeSet<String>) -> Vec<Landed> {
    let topics = gateway.raw_topics();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let consumer = reader(&gateway.kafka, &names);
    let mut out: Vec<Landed> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let seen: BTreeSet<&String> = out
            .iter()
            .filter_map(|l| l.headers.get("rapport-request-id"))
            .collect();
        let complete = wanted.iter().all(|w| seen.contains(w));
        let wait = if complete { 3 } else { 1 };
        match tokio::time::timeout(Duration::from_secs(wait), consumer.recv()).await {
            Ok(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Landed {
                    topic: m.topic().to_owned(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
            Ok(Err(e)) => panic!("reading the raw topics: {e}"),
            Err(_) if complete => return out,
            Err(_) => assert!(
                Instant::now() < deadline,
                "not every accepted request landed within 90 s: {} of {}",
                seen.len(),
                wanted.len()
            ),
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_lands_signed_requests_and_refuses_forgeries() {
    let gw = Gateway::start("gw-sources", "").await;
    let client = reqwest::Client::new();
    let t = &gw.topics;
    let mut accepted: BTreeMap<String, Expected> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();

    // Each case: the request, the status it must get, and what it lands (if it does).
    let mut cases: Vec<(&str, Signed, u16, Option<Expected>)> = Vec::new();
    let expect = |topic: &str,
                  source: &'static str,
                  payload: &[u8],
                  delivery: Option<&str>,
                  key: Option<&str>| {
        Some(Expected {
            topic: topic.to_owned(),
            source,
            payload: payload.to_vec(),
            delivery_id: delivery.map(str::to_owned),
            key: key.map(str::to_owned),
        })
    };

    // generic
    let body = golden("generic/01-email-inbound.json");
    cases.push((
        "generic",
        generic("gen", GENERIC_SECRET, now(), &body),
        200,
        expect(
            &t.raw_chat,
            "generic",
            &body,
            None,
            Some("generic:helpscout:conv:4410"),
        ),
    ));
    cases.push((
        "generic wrong secret",
        generic("gen", "not-the-secret", now(), &body),
        401,
        None,
    ));
    cases.push((
        "generic stale",
        generic("gen", GENERIC_SECRET, ago(301), &body),
        401,
        None,
    ));
    cases.push((
        "generic altered",
        generic("gen", GENERIC_SECRET, now(), &body)
            .with_body(golden("generic/02-chat-agent-reply.json")),
        401,
        None,
    ));
    cases.push((
        "generic unknown endpoint",
        generic("nope", GENERIC_SECRET, now(), &body),
        404,
        None,
    ));
    cases.push((
        "generic under another source",
        generic("gen", GENERIC_SECRET, now(), &body).to("/hooks/zendesk/gen"),
        404,
        None,
    ));

    // zendesk
    let body = golden("zendesk/10-webhook-comment-added.json");
    cases.push((
        "zendesk",
        zendesk("zd", ZENDESK_SECRET, now(), &body),
        200,
        expect(&t.raw_support, "zendesk", &body, None, None),
    ));
    cases.push((
        "zendesk wrong secret",
        zendesk("zd", "wrong", now(), &body),
        401,
        None,
    ));
    cases.push((
        "zendesk stale",
        zendesk("zd", ZENDESK_SECRET, ago(600), &body),
        401,
        None,
    ));
    cases.push((
        "zendesk altered",
        zendesk("zd", ZENDESK_SECRET, now(), &body)
            .with_body(golden("zendesk/11-webhook-status-solved.json")),
        401,
        None,
    ));
    cases.push((
        "zendesk unknown endpoint",
        zendesk("zd2", ZENDESK_SECRET, now(), &body),
        404,
        None,
    ));

    // intercom (no timestamp in the scheme: nothing to go stale)
    let body = golden("intercom/01-customer-created-conversation.json");
    cases.push((
        "intercom",
        intercom("ic", INTERCOM_SECRET, &body),
        200,
        expect(
            &t.raw_chat,
            "intercom",
            &body,
            Some("notif_5c7e0a10-1e5b-11ef-9f6a-0b6f1f2f3a4b"),
            Some("intercom:215468392713012"),
        ),
    ));
    cases.push((
        "intercom wrong secret",
        intercom("ic", "wrong", &body),
        401,
        None,
    ));
    cases.push((
        "intercom altered",
        intercom("ic", INTERCOM_SECRET, &body).with_body(golden("intercom/02-admin-reply.json")),
        401,
        None,
    ));
    cases.push((
        "intercom ping",
        intercom("ic", INTERCOM_SECRET, &golden("intercom/09-ping.json")),
        200,
        None,
    ));

    // chatwoot
    let body = golden("chatwoot/01-incoming-message-from-contact.json");
    let delivery = unique_name("cw-delivery");
    cases.push((
        "chatwoot",
        chatwoot("cw", CHATWOOT_SECRET, now(), &delivery, &body),
        200,
        expect(&t.raw_chat, "chatwoot", &body, Some(&delivery), None),
    ));
    cases.push((
        "chatwoot wrong secret",
        chatwoot("cw", "wrong", now(), "d2", &body),
        401,
        None,
    ));
    cases.push((
        "chatwoot stale",
        chatwoot("cw", CHATWOOT_SECRET, ago(400), "d3", &body),
        401,
        None,
    ));
    cases.push((
        "chatwoot altered",
        chatwoot("cw", CHATWOOT_SECRET, now(), "d4", &body)
            .with_body(golden("chatwoot/02-agent-reply.json")),
        401,
        None,
    ));

    // mailgun: the signature covers timestamp and token, not the body
    let form = golden("mailgun/01-urlencoded-reply-stripped-text.txt");
    let token = format!("{:050}", rand_token());
    let signed = mailgun("mg", MAILGUN_KEY, now(), &token, &form);
    cases.push((
        "mailgun",
        signed.clone(),
        200,
        expect(
            &t.raw_email,
            "mailgun",
            &signed.body,
            Some(&token),
            Some("mailgun:<CAMg1-reply-7@mail.gmail.com>"),
        ),
    ));
    cases.push((
        "mailgun wrong key",
        mailgun(
            "mg",
            "wrong",
            now(),
            &format!("{:050}", rand_token()),
            &form,
        ),
        401,
        None,
    ));
    cases.push((
        "mailgun stale",
        mailgun(
            "mg",
            MAILGUN_KEY,
            ago(400),
            &format!("{:050}", rand_token()),
            &form,
        ),
        401,
        None,
    ));
    let mut altered = mailgun(
        "mg",
        MAILGUN_KEY,
        now(),
        &format!("{:050}", rand_token()),
        &form,
    );
    let text = String::from_utf8(altered.body.clone()).unwrap();
    let (head, _) = text.rsplit_once("&token=").unwrap();
    altered.body = format!(
        "{head}&token={:050}&signature={}",
        rand_token(),
        text.rsplit_once("&signature=").unwrap().1
    )
    .into_bytes();
    cases.push(("mailgun altered token", altered, 401, None));
    // The same signed token again, with another message: a duplicate, never produced.
    let mut replayed = signed.clone();
    replayed.body = String::from_utf8(signed.body.clone())
        .unwrap()
        .replace("Danke", "Forged")
        .into_bytes();
    cases.push(("mailgun replayed signature", replayed, 200, None));

    // sendgrid inbound parse (unsigned: URL token)
    let parse = golden("sendgrid/01-default-reply-with-quote.txt");
    let parse_request = |token: &str| {
        Signed::post(
            format!("/hooks/sendgrid/parse?token={token}"),
            parse.clone(),
        )
        .header("content-type", "multipart/form-data; boundary=xYzZY")
    };
    cases.push((
        "sendgrid",
        parse_request(PARSE_TOKEN),
        200,
        expect(
            &t.raw_email,
            "sendgrid",
            &parse,
            None,
            Some("sendgrid:<CAF5GBptSG1@mail.gmail.com>"),
        ),
    ));
    cases.push(("sendgrid wrong token", parse_request("wrong"), 401, None));
    cases.push((
        "sendgrid no token",
        parse_request("").to("/hooks/sendgrid/parse"),
        401,
        None,
    ));

    // sendgrid signed event webhook
    let events = br#"[{"email":"maria@example.com","event":"delivered","sg_event_id":"e1","timestamp":1716000000}]"#;
    let sg_topic = sendgrid_events_topic(t);
    cases.push((
        "sendgrid_events",
        sendgrid_events("sg-events", &gw.sendgrid_key, now(), events),
        200,
        expect(&sg_topic, "sendgrid_events", events, None, None),
    ));
    let (forger, _) = sendgrid_keys();
    cases.push((
        "sendgrid_events wrong key",
        sendgrid_events("sg-events", &forger, now(), events),
        401,
        None,
    ));
    cases.push((
        "sendgrid_events stale",
        sendgrid_events("sg-events", &gw.sendgrid_key, ago(400), events),
        401,
        None,
    ));
    cases.push((
        "sendgrid_events altered",
        sendgrid_events("sg-events", &gw.sendgrid_key, now(), events)
            .with_body(&br#"[{"email":"x@example.com","event":"delivered"}]"#[..]),
        401,
        None,
    ));

    // ses through sns
    let mut message: serde_json::Value = serde_json::from_slice(&golden(
        "ses/01-sns-action-content-same-thread-as-sendgrid.json",
    ))
    .unwrap();
    let message_id = unique_name("sns");
    message["MessageId"] = message_id.clone().into();
    message["TopicArn"] = SNS_TOPIC.into();
    message["Timestamp"] = now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into();
    let body = sns_message(message.clone(), rsa_key());
    cases.push((
        "ses",
        ses("ses", body.clone(), "Notification"),
        200,
        expect(
            &t.raw_email,
            "ses",
            &body,
            Some(&message_id),
            Some(&format!("ses:{message_id}")),
        ),
    ));
    let mut other = message.clone();
    other["MessageId"] = unique_name("sns").into();
    cases.push((
        "ses wrong key",
        ses(
            "ses",
            sns_message(other.clone(), other_rsa_key()),
            "Notification",
        ),
        401,
        None,
    ));
    let mut stale = other.clone();
    stale["Timestamp"] = ago(4000)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
        .into();
    cases.push((
        "ses stale",
        ses("ses", sns_message(stale, rsa_key()), "Notification"),
        401,
        None,
    ));
    let mut altered: serde_json::Value =
        serde_json::from_slice(&sns_message(other.clone(), rsa_key())).unwrap();
    altered["Message"] = "{\"notificationType\":\"Received\",\"mail\":{}}".into();
    cases.push((
        "ses altered",
        ses("ses", serde_json::to_vec(&altered).unwrap(), "Notification"),
        401,
        None,
    ));

    // freshdesk (unsigned: basic auth)
    let body = golden("freshdesk/01-email-ticket-with-requester.json");
    let basic = |password: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("rapport:{password}"))
        )
    };
    cases.push((
        "freshdesk",
        Signed::post("/hooks/freshdesk/fd", body.clone())
            .header("content-type", "application/json")
            .header("authorization", basic(FRESHDESK_PASSWORD)),
        200,
        expect(&t.raw_support, "freshdesk", &body, None, None),
    ));
    cases.push((
        "freshdesk wrong password",
        Signed::post("/hooks/freshdesk/fd", body.clone()).header("authorization", basic("wrong")),
        401,
        None,
    ));

    // trustpilot (unsigned: URL token)
    let body = golden("trustpilot/02-one-star-webhook-without-reply.json");
    cases.push((
        "trustpilot",
        Signed::post(
            format!("/hooks/trustpilot/tp?token={TRUSTPILOT_TOKEN}"),
            body.clone(),
        )
        .header("content-type", "application/json"),
        200,
        expect(
            &t.raw_review,
            "trustpilot",
            &body,
            None,
            Some("trustpilot:6659a0b1c2d3e4f5a6b7c8d9"),
        ),
    ));
    cases.push((
        "trustpilot wrong token",
        Signed::post("/hooks/trustpilot/tp?token=wrong", body.clone()),
        401,
        None,
    ));

    // yelp (unsigned: URL token), and its URL verification
    let body = golden("yelp/04-new-review-webhook-with-language.json");
    cases.push((
        "yelp",
        Signed::post(format!("/hooks/yelp/yelp?token={YELP_TOKEN}"), body.clone())
            .header("content-type", "application/json"),
        200,
        expect(&t.raw_review, "yelp", &body, None, None),
    ));
    cases.push((
        "yelp wrong token",
        Signed::post("/hooks/yelp/yelp?token=wrong", body.clone()),
        401,
        None,
    ));
    let mut verification = Signed::post(
        format!("/hooks/yelp/yelp?token={YELP_TOKEN}&verification=abc123"),
        Vec::new(),
    );
    verification.method = "GET";
    cases.push(("yelp verification", verification, 200, None));

    // google: the push names a review; the gateway fetches it and lands the review
    let review_name = "accounts/1001/locations/2002/reviews/r-3003";
    let review = golden("google/01-five-star-with-reply.json");
    gw.stand_in
        .reviews
        .lock()
        .unwrap()
        .insert(review_name.to_owned(), review.clone());
    let notification = serde_json::json!({"type": "NEW_REVIEW", "reviewName": review_name, "locationName": "accounts/1001/locations/2002"});
    let push_id = unique_name("push");
    let token = google_token(rsa_key(), now(), 3600);
    cases.push((
        "google",
        google_push("gbp", &token, &push_id, &notification),
        200,
        expect(
            &t.raw_review,
            "google",
            &review,
            Some(&push_id),
            Some(&format!("google:{review_name}")),
        ),
    ));
    cases.push((
        "google forged token",
        google_push(
            "gbp",
            &google_token(other_rsa_key(), now(), 3600),
            "p2",
            &notification,
        ),
        401,
        None,
    ));
    cases.push((
        "google expired token",
        google_push(
            "gbp",
            &google_token(rsa_key(), ago(7300), 3600),
            "p3",
            &notification,
        ),
        401,
        None,
    ));
    let gone = serde_json::json!({"type": "UPDATED_REVIEW", "reviewName": "accounts/1001/locations/2002/reviews/deleted"});
    cases.push((
        "google review gone",
        google_push("gbp", &token, &unique_name("push"), &gone),
        200,
        None,
    ));
    let question = serde_json::json!({"type": "NEW_QUESTION", "questionName": "accounts/1/locations/2/questions/3"});
    cases.push((
        "google other notification",
        google_push("gbp", &token, &unique_name("push"), &question),
        200,
        None,
    ));

    for (name, request, status, expected) in cases {
        let answer = request.send(&client, gw.addr).await;
        assert_eq!(answer.status, status, "{name}: {answer:?}");
        let id = answer
            .request_id
            .clone()
            .unwrap_or_else(|| panic!("{name}: no request id"));
        match expected {
            Some(e) => {
                accepted.insert(id, e);
            }
            None => refused.push(id),
        }
        if name == "yelp verification" {
            assert_eq!(answer.body, r#"{"verification":"abc123"}"#);
        }
    }
    // Retrying an accepted delivery: answered 200, not produced again.
    let again = google_push("gbp", &token, &push_id, &notification)
        .send(&client, gw.addr)
        .await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("duplicate"), "{again:?}");
    refused.push(again.request_id.unwrap());

    let wanted: BTreeSet<String> = accepted.keys().cloned().collect();
    let records = landed(&gw, &wanted).await;
    let mut seen = BTreeSet::new();
    for record in &records {
        let id = record
            .headers
            .get("rapport-request-id")
            .expect("every record names its request");
        assert!(
            !refused.contains(id),
            "a refused or control request was produced: {record:?}"
        );
        let e = accepted
            .get(id)
            .unwrap_or_else(|| panic!("a record of no request of this test: {record:?}"));
        assert!(seen.insert(id.clone()), "request {id} landed twice");
        assert_eq!(record.topic, e.topic, "{}", e.source);
        assert_eq!(
            record.payload, e.payload,
            "{}: the bytes are unchanged",
            e.source
        );
        assert_eq!(record.headers["rapport-source"], e.source);
        assert_eq!(record.headers["rapport-tenant"], TENANT);
        let received: i64 = record.headers["rapport-received-at"]
            .parse()
            .expect("epoch milliseconds");
        assert!(
            (Utc::now().timestamp_millis() - received).abs() < 300_000,
            "{}",
            e.source
        );
        assert_eq!(
            record.headers.get("rapport-delivery-id"),
            e.delivery_id.as_ref(),
            "{}",
            e.source
        );
        if let Some(key) = &e.key {
            assert_eq!(&record.key, key, "{}", e.source);
        } else {
            assert!(!record.key.is_empty());
        }
    }
    assert_eq!(seen, wanted, "every accepted request landed once");

    // The Business Profile API was asked for both notified reviews, with the token.
    let hits = gw.stand_in.hits();
    assert!(hits.contains(&format!("GET /v4/{review_name}")), "{hits:?}");
    assert!(
        hits.contains(&"GET /v4/accounts/1001/locations/2002/reviews/deleted".to_owned()),
        "{hits:?}"
    );

    let (_, metrics) = rapport_testkit::http_get(gw.addr, "/metrics").await;
    for outcome in [
        "accepted",
        "bad_signature",
        "stale_timestamp",
        "unknown_endpoint",
        "control",
        "duplicate",
        "ignored",
        "bad_credentials",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("rapport_gateway_requests_total{")
                    && l.contains(&format!("outcome=\"{outcome}\""))),
            "no {outcome} in the metrics"
        );
    }
    assert!(
        metric_sum(&metrics, "rapport_gateway_requests_total")
            >= (wanted.len() + refused.len()) as f64
    );
    for secret in [
        GENERIC_SECRET,
        ZENDESK_SECRET,
        MAILGUN_KEY,
        PARSE_TOKEN,
        GOOGLE_API_TOKEN,
    ] {
        assert!(!metrics.contains(secret));
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sns_subscription_handshake_gets_the_subscribe_url_and_produces_nothing() {
    let gw = Gateway::start("gw-sns", "").await;
    let client = reqwest::Client::new();
    let subscribe = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:ses-inbound&Token=2336412f37fb687f";
    let confirmation = serde_json::json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": unique_name("sub"),
        "Token": "2336412f37fb687f",
        "TopicArn": SNS_TOPIC,
        "Message": "You have chosen to subscribe to the topic. To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe,
        "Timestamp": now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    });
    let answer = ses(
        "ses",
        sns_message(confirmation.clone(), rsa_key()),
        "SubscriptionConfirmation",
    )
    .send(&client, gw.addr)
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let hits = gw.stand_in.hits();
    assert!(
        hits.contains(&"GET /?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:ses-inbound&Token=2336412f37fb687f".to_owned()),
        "the stand-in saw the GET of the SubscribeURL: {hits:?}"
    );
    assert!(
        hits.contains(&"GET /SimpleNotificationService-test.pem".to_owned()),
        "{hits:?}"
    );

    // A SubscribeURL off SNS's hosts is never fetched, even when signed.
    let mut elsewhere = confirmation.clone();
    elsewhere["SubscribeURL"] = "https://evil.example/?Action=ConfirmSubscription".into();
    elsewhere["MessageId"] = unique_name("sub").into();
    let answer = ses(
        "ses",
        sns_message(elsewhere, rsa_key()),
        "SubscriptionConfirmation",
    )
    .send(&client, gw.addr)
    .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(!gw.stand_in.hits().iter().any(|h| h.contains("evil")));

    let records = landed(&gw, &BTreeSet::new()).await;
    assert!(
        records.is_empty(),
        "a control message was produced: {records:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_413_429_and_408_before_anything_is_produced() {
    let gw = Gateway::start(
        "gw-limits",
        "[rate_limit]\nrequests_per_second = 1.0\nburst = 3\n[limits]\nbody_read_timeout_ms = 1000\n",
    )
    .await;
    // The trustpilot endpoint takes at most 64 KiB. A Content-Length over it is answered 413
    // before the body is sent; a chunked body over it while it arrives.
    use tokio::io::AsyncWriteExt;
    let client = reqwest::Client::new();
    let target = format!("/hooks/trustpilot/tp?token={TRUSTPILOT_TOKEN}");
    let mut declared = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    declared
        .write_all(
            format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    assert!(read_answer(&mut declared).await.starts_with("HTTP/1.1 413"));
    let mut chunked = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    chunked
        .write_all(
            format!("POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
    for _ in 0..5 {
        // The gateway may answer and close before the last chunk: a failed write is expected.
        if chunked.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    assert!(read_answer(&mut chunked).await.starts_with("HTTP/1.1 413"));

    // A body that never finishes: 408 after the read timeout.
    let mut slow = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    slow.write_all(
        b"POST /hooks/intercom/ic HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .await
    .unwrap();
    let started = Instant::now();
    assert!(read_answer(&mut slow).await.starts_with("HTTP/1.1 408"));
    assert!(started.elapsed() < Duration::from_secs(4));

    // The intercom endpoint's bucket: 3 at once (the slow request took one), then 429.
    let body = golden("intercom/01-customer-created-conversation.json");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = intercom("ic", INTERCOM_SECRET, &body)
            .send(&client, gw.addr)
            .await;
        statuses.push((answer.status, answer.retry_after));
    }
    let limited = statuses
        .iter()
        .find(|(s, _)| *s == 429)
        .expect("the bucket ran out");
    assert_eq!(limited.1.as_deref(), Some("1"), "{statuses:?}");
    let (_, metrics) = rapport_testkit::http_get(gw.addr, "/metrics").await;
    for outcome in ["body_too_large", "body_timeout", "rate_limited"] {
        assert!(
            metrics.contains(&format!("outcome=\"{outcome}\"")),
            "{outcome}\n{metrics}"
        );
    }
    gw.stop().await;
}

/// The start of what the gateway answered on a raw connection.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered within 5 s")
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

fn rand_token() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    u128::from(std::process::id()) << 64
        | u128::from(Utc::now().timestamp_micros() as u64 ^ N.fetch_add(1, Ordering::Relaxed))
}
