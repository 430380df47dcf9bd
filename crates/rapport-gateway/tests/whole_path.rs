//! The whole path as separate processes on the local stack: signed webhooks of eleven sources
//! → `rapport-gateway` → the raw topics → `rapport-normalizer` → `rapport-writer` →
//! ClickHouse. Every accepted request is stored: the deduplicated `timeline` view holds exactly
//! the event ids the adapters make, in-process, of what the gateway landed (for Google, the
//! review the stand-in API served).
//!
//! Needs the three binaries in this target directory (`cargo build --workspace`; nextest builds
//! them first).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use rapport_channels::{Context, Limits, TenantConfig};
use rapport_kafka::{TopicSpec, Topics, ensure_topics};
use rapport_model::{Source, Timestamp};
use rapport_testkit::{
    ScratchDir, Service, Stack, binary, free_addr, kafka_and_topics_toml, query_in, unique_name,
};
use support::*;

fn tenant() -> TenantConfig {
    TenantConfig {
        agent_domains: vec!["acme.com".into()],
        bot_ids: vec!["intercom:bot:814860".into(), "chatwoot:agent_bot:1".into()],
        default_phone_region: Some("US".into()),
    }
}

/// The event ids the adapters make of `payload`, as the normalizer will.
fn ids_of(source: &str, payload: &[u8]) -> BTreeSet<String> {
    let source = Source::parse(source).expect("a model source");
    let (tenant, limits) = (tenant(), Limits::default());
    let ctx = Context {
        tenant_id: TENANT,
        received_at: Timestamp::now(),
        tenant: &tenant,
        limits: &limits,
        raw_ref: None,
    };
    let interactions = rapport_channels::normalize(source, payload, &ctx)
        .unwrap_or_else(|e| panic!("{source:?} payload does not normalize: {e}"));
    assert!(
        !interactions.is_empty(),
        "{source:?} payload yields nothing"
    );
    interactions
        .iter()
        .map(|i| i.event_id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_of_every_source_reach_clickhouse_each_once() {
    let stack = Stack::from_env();
    let prefix = unique_name("gw-path");
    let topics = Topics::prefixed(&prefix);
    let mut specs = topics.specs();
    specs.push(TopicSpec {
        name: sendgrid_events_topic(&topics),
        compacted: false,
    });
    ensure_topics(&stack.kafka, &specs)
        .await
        .expect("topics created; is the stack up? run `make up`");
    let database = prefix.replace(['.', '-'], "_");
    let dir = ScratchDir::new(&prefix);
    let stand_in = StandIn::start().await;
    let (_, sendgrid_public) = sendgrid_keys();
    let kafka_and_topics = kafka_and_topics_toml(&stack.kafka, &topics);
    let files = [
        (
            "gateway",
            gateway_toml("", &stack.kafka, &topics, &stand_in, &sendgrid_public),
        ),
        (
            "normalizer",
            format!(
                "group_id = \"{prefix}-normalizer\"\ntenant_id = \"{TENANT}\"\n\
                 [tenant]\nagent_domains = [\"acme.com\"]\nbot_ids = [\"intercom:bot:814860\", \"chatwoot:agent_bot:1\"]\ndefault_phone_region = \"US\"\n\
                 [default_sources]\nemail = \"rfc822\"\n{kafka_and_topics}"
            ),
        ),
        (
            "writer",
            format!(
                "group_id = \"{prefix}-writer\"\n[batch]\nmax_delay_ms = 300\nidle_ms = 100\n\
                 [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\nrequest_timeout_ms = 5000\n{kafka_and_topics}",
                stack.clickhouse_url
            ),
        ),
    ];
    for (service, text) in &files {
        std::fs::write(dir.join(format!("{service}.toml")), text).unwrap();
    }
    let log = std::env::var("RAPPORT_TEST_LOG").unwrap_or_else(|_| "warn".into());
    let start = |service: &'static str| {
        let (config, log) = (dir.join(format!("{service}.toml")), log.clone());
        async move {
            Service::start(
                binary(&format!("rapport-{service}")).to_str().unwrap(),
                &config,
                free_addr(),
                &log,
            )
            .await
        }
    };
    let gateway = start("gateway").await;
    let _normalizer = start("normalizer").await;
    let _writer = start("writer").await;
    wait_ready(gateway.http).await;

    let review_name = "accounts/1001/locations/2002/reviews/path-1";
    let review = golden("google/01-five-star-with-reply.json");
    stand_in
        .reviews
        .lock()
        .unwrap()
        .insert(review_name.into(), review.clone());
    let mut ses_message: serde_json::Value = serde_json::from_slice(&golden(
        "ses/01-sns-action-content-same-thread-as-sendgrid.json",
    ))
    .unwrap();
    ses_message["TopicArn"] = SNS_TOPIC.into();
    ses_message["Timestamp"] = Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
        .into();
    let basic = {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("rapport:{FRESHDESK_PASSWORD}"))
        )
    };

    // (source name, request, what lands)
    let now = Utc::now();
    let mut requests: Vec<(&str, Signed, Vec<u8>)> = Vec::new();
    for file in [
        "generic/01-email-inbound.json",
        "generic/02-chat-agent-reply.json",
        "generic/05-batch-mixed.json",
    ] {
        let body = golden(file);
        requests.push(("generic", generic("gen", GENERIC_SECRET, now, &body), body));
    }
    for file in [
        "zendesk/01-customer-email-comment.json",
        "zendesk/10-webhook-comment-added.json",
    ] {
        let body = golden(file);
        requests.push(("zendesk", zendesk("zd", ZENDESK_SECRET, now, &body), body));
    }
    for file in [
        "intercom/01-customer-created-conversation.json",
        "intercom/02-admin-reply.json",
    ] {
        let body = golden(file);
        requests.push(("intercom", intercom("ic", INTERCOM_SECRET, &body), body));
    }
    for (n, file) in [
        "chatwoot/01-incoming-message-from-contact.json",
        "chatwoot/02-agent-reply.json",
    ]
    .iter()
    .enumerate()
    {
        let body = golden(file);
        requests.push((
            "chatwoot",
            chatwoot("cw", CHATWOOT_SECRET, now, &format!("{prefix}-{n}"), &body),
            body,
        ));
    }
    let body = golden("freshdesk/01-email-ticket-with-requester.json");
    requests.push((
        "freshdesk",
        Signed::post("/hooks/freshdesk/fd", body.clone())
            .header("content-type", "application/json")
            .header("authorization", basic.clone()),
        body,
    ));
    let body = golden("trustpilot/02-one-star-webhook-without-reply.json");
    requests.push((
        "trustpilot",
        Signed::post(
            format!("/hooks/trustpilot/tp?token={TRUSTPILOT_TOKEN}"),
            body.clone(),
        )
        .header("content-type", "application/json"),
        body,
    ));
    let body = golden("yelp/04-new-review-webhook-with-language.json");
    requests.push((
        "yelp",
        Signed::post(format!("/hooks/yelp/yelp?token={YELP_TOKEN}"), body.clone())
            .header("content-type", "application/json"),
        body,
    ));
    let signed = mailgun(
        "mg",
        MAILGUN_KEY,
        now,
        &format!("{:050}", 7),
        &golden("mailgun/01-urlencoded-reply-stripped-text.txt"),
    );
    let body = signed.body.clone();
    requests.push(("mailgun", signed, body));
    let body = golden("sendgrid/01-default-reply-with-quote.txt");
    requests.push((
        "sendgrid",
        Signed::post(
            format!("/hooks/sendgrid/parse?token={PARSE_TOKEN}"),
            body.clone(),
        )
        .header("content-type", "multipart/form-data; boundary=xYzZY"),
        body,
    ));
    let body = sns_message(ses_message, rsa_key());
    requests.push(("ses", ses("ses", body.clone(), "Notification"), body));
    let notification = serde_json::json!({"type": "NEW_REVIEW", "reviewName": review_name});
    requests.push((
        "google",
        google_push(
            "gbp",
            &google_token(rsa_key(), now, 3600),
            "path-push-1",
            &notification,
        ),
        review,
    ));

    let client = reqwest::Client::new();
    let mut expected = BTreeSet::new();
    for (source, request, landed) in &requests {
        let answer = request.send(&client, gateway.http).await;
        assert_eq!(answer.status, 200, "{source}: {answer:?}");
        expected.extend(ids_of(source, landed));
    }
    let sources: BTreeSet<&str> = requests.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(sources.len(), 11, "every source with an adapter");

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = BTreeSet::new();
    while Instant::now() < deadline {
        if let Some(body) = query_in(
            &stack.clickhouse_url,
            &database,
            "SELECT event_id FROM timeline FORMAT TSV",
        )
        .await
        {
            let rows: Vec<String> = body.lines().map(str::to_owned).collect();
            stored = rows.iter().cloned().collect();
            assert_eq!(
                rows.len(),
                stored.len(),
                "the timeline shows an event twice"
            );
            if stored == expected {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        stored,
        expected,
        "{} stored, {} expected",
        stored.len(),
        expected.len()
    );
    let (_, metrics) = gateway.get("/metrics").await;
    assert_eq!(
        rapport_testkit::metric_sum(&metrics, "rapport_gateway_requests_total"),
        requests.len() as f64,
        "{metrics}"
    );
    Stack::from_env().drop_database(&database).await;
}
