//! `rapport normalize --records` is the operator's dry run of the normalizer: the same raw
//! records, headers and Kafka timestamps included, give the same interactions and the same
//! rejections as the normalizer service does, because both read a record through
//! `rapport_channels::RecordRules::read` with the same settings. This test holds them to it on
//! the generated traffic of every native source plus records whose headers are what an operator
//! would debug: an unknown source, a receive time in epoch milliseconds, an unparsable receive
//! time, a tenant the topic may not carry, and neither tenant nor receive time (the default
//! tenant, and the Kafka timestamp as the receive time), a list whose one bad item is
//! rejected alone, and a payload that gives nothing for a reason its adapter does not document.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use rapport_kafka::Topics;
use rapport_model::wire::decode_single_object;
use rapport_model::{Channel, Timestamp};
use rapport_testkit::{Stack, binary, reader};
use rapport_traffic::{self as generate, Mix, Options};
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

mod support;
use support::Pipeline;

/// One raw record as both sides see it: the broker gets exactly these headers and timestamp, the
/// dry run gets them in its record line.
struct Sent {
    topic: String,
    key: String,
    headers: Vec<(&'static str, String)>,
    payload: Vec<u8>,
    timestamp_ms: i64,
}

impl Sent {
    fn line(&self) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
            .collect();
        serde_json::json!({
            "topic": self.topic,
            "key": self.key,
            "headers": headers,
            "payload_base64": base64::engine::general_purpose::STANDARD.encode(&self.payload),
            "timestamp_ms": self.timestamp_ms,
        })
    }
}

const SOURCE: &str = "rapport-source";
const TENANT: &str = "rapport-tenant";
const RECEIVED_AT: &str = "rapport-received-at";

fn records(topics: &Topics) -> Vec<Sent> {
    let generated = generate::generate(&Options {
        seed: 41,
        customers: 40,
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.02,
        mix: Mix::native(),
    });
    let day_ms = Timestamp::parse_rfc3339("2024-06-03T00:00:00Z")
        .unwrap()
        .as_millis();
    let mut sent: Vec<Sent> = generated
        .iter()
        .enumerate()
        .map(|(n, r)| Sent {
            topic: generate::topic_for(topics, r.channel).to_owned(),
            key: r.key.clone(),
            headers: vec![
                (SOURCE, r.source.as_str().to_owned()),
                (TENANT, r.tenant.clone()),
                (RECEIVED_AT, r.received_at.to_string()),
            ],
            payload: r.payload.clone(),
            timestamp_ms: day_ms + n as i64,
        })
        .collect();
    // Each crafted record takes the payload of a different valid generated record, so a
    // rejection's payload says which crafted record it was.
    let mut valid = generated.iter().filter(|r| !r.invalid);
    let mut craft = |headers: &dyn Fn(&generate::RawRecord) -> Vec<(&'static str, String)>| {
        let base = valid.next().expect("enough valid records");
        Sent {
            topic: generate::topic_for(topics, base.channel).to_owned(),
            key: base.key.clone(),
            headers: headers(base),
            payload: base.payload.clone(),
            timestamp_ms: day_ms + 86_400_000,
        }
    };
    let crafted = [
        craft(&|r| {
            vec![
                (SOURCE, "carrier-pigeon".into()),
                (TENANT, r.tenant.clone()),
                (RECEIVED_AT, r.received_at.to_string()),
            ]
        }),
        craft(&|r| {
            vec![
                (SOURCE, r.source.as_str().into()),
                (TENANT, r.tenant.clone()),
                (RECEIVED_AT, r.received_at.as_millis().to_string()),
            ]
        }),
        craft(&|r| {
            vec![
                (SOURCE, r.source.as_str().into()),
                (TENANT, r.tenant.clone()),
                (RECEIVED_AT, "yesterday afternoon".into()),
            ]
        }),
        craft(&|r| {
            vec![
                (SOURCE, r.source.as_str().into()),
                (TENANT, "intruder".into()),
                (RECEIVED_AT, r.received_at.to_string()),
            ]
        }),
        craft(&|r| vec![(SOURCE, r.source.as_str().into())]),
    ];
    sent.extend(crafted);
    // A generic batch with one bad event: the others are stored, the bad one is dead-lettered
    // alone. An SES notification of a type the adapter does not know: dead-lettered whole.
    let event = |n: usize, kind: &str| {
        format!(
            "{{\"event_id\":\"dry-{n}\",\"channel\":\"chat\",\"conversation_id\":\"dry\",\
             \"occurred_at\":\"2024-06-03T10:00:0{n}Z\",\"kind\":\"{kind}\",\"direction\":\"inbound\",\
             \"customer\":{{\"email\":\"dry@example.com\"}},\"text\":\"hi\"}}"
        )
    };
    let batch = format!(
        "{{\"schema\":\"rapport.generic.v1\",\"events\":[{},{},{}]}}",
        event(0, "message"),
        event(1, "telepathy"),
        event(2, "message")
    );
    let unknown_ses = r#"{"notificationType":"Mystery","mail":{"messageId":"dry-ses"}}"#;
    for (channel, source, payload) in [
        (Channel::Chat, "generic", batch.into_bytes()),
        (Channel::Email, "ses", unknown_ses.as_bytes().to_vec()),
    ] {
        sent.push(Sent {
            topic: generate::topic_for(topics, channel).to_owned(),
            key: "dry".into(),
            headers: vec![(SOURCE, source.into()), (TENANT, "acme".into())],
            payload,
            timestamp_ms: day_ms + 86_400_000,
        });
    }
    sent
}

/// The interaction as both sides are compared: everything but `raw_ref`, which only a record
/// read from a broker has.
fn comparable(mut interaction: serde_json::Value) -> String {
    interaction["raw_ref"] = serde_json::Value::Null;
    interaction.to_string()
}

#[tokio::test]
async fn the_dry_run_gives_what_the_normalizer_gives_record_by_record() {
    let stack = Stack::from_env();
    let pipeline = Pipeline::new(
        "e2e-dryrun",
        stack.kafka.clone(),
        stack.clickhouse_url.clone(),
    )
    .await;
    let topics = pipeline.topics.clone();
    // The chat topic is bound to the tenant, so the "intruder" record must be refused by both.
    let bound = format!("[topic_tenants]\n\"{}\" = [\"acme\"]\n", topics.raw_chat);
    let normalizer_toml = pipeline.dir.join("normalizer.toml");
    let mut text = std::fs::read_to_string(&normalizer_toml).unwrap();
    text.push_str(&bound);
    std::fs::write(&normalizer_toml, text).unwrap();
    std::fs::write(
        pipeline.dir.join("dry-run.toml"),
        format!(
            "tenant_id = \"acme\"\n[tenant]\nagent_domains = [\"acme.com\"]\n\
             default_phone_region = \"US\"\n[default_sources]\nemail = \"rfc822\"\n{bound}"
        ),
    )
    .unwrap();
    let sent = records(&topics);
    let lines: String = sent.iter().map(|s| format!("{}\n", s.line())).collect();
    std::fs::write(pipeline.dir.join("records.jsonl"), lines).unwrap();

    let dry = Command::new(binary("rapport"))
        .arg("--config")
        .arg(pipeline.dir.join("dry-run.toml"))
        .args(["normalize", "--records"])
        .arg(pipeline.dir.join("records.jsonl"))
        .env("RUST_LOG", "error")
        .output()
        .expect("rapport runs");
    assert_eq!(dry.status.code(), Some(2), "some records are rejected");
    let mut dry_interactions: Vec<String> = String::from_utf8(dry.stdout)
        .unwrap()
        .lines()
        .map(|l| comparable(serde_json::from_str(l).expect("an interaction per line")))
        .collect();
    let mut dry_rejections: Vec<(Vec<u8>, String)> = String::from_utf8(dry.stderr)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("code").is_some())
        .map(|v| {
            let line = v["line"].as_u64().expect("a record line number") as usize;
            // An item of a list is dead-lettered alone: the dry run shows its bytes.
            let payload = match v["item_base64"].as_str() {
                Some(item) => base64::engine::general_purpose::STANDARD
                    .decode(item)
                    .expect("base64"),
                None => sent[line - 1].payload.clone(),
            };
            (payload, v["code"].as_str().unwrap().to_owned())
        })
        .collect();
    let codes: BTreeMap<String, usize> = dry_rejections.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.1.clone()).or_default() += 1;
        m
    });
    for code in [
        "invalid_value:events[1].kind",
        "ignored:ses_notification_type",
    ] {
        assert_eq!(codes.get(code), Some(&1), "{code} once: {codes:?}");
    }
    assert!(
        codes.len() >= 3,
        "the crafted headers and the invalid payloads give several codes: {codes:?}"
    );

    let _normalizer = pipeline.start("normalizer").await;
    let producer: FutureProducer = stack.kafka.producer_config().create().unwrap();
    for s in &sent {
        let headers = s.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        });
        producer
            .send(
                FutureRecord::to(&s.topic)
                    .key(&s.key)
                    .payload(&s.payload)
                    .headers(headers)
                    .timestamp(s.timestamp_ms),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("record produced");
    }

    let consumer = reader(&stack.kafka, &[&topics.interactions, &topics.dlq]);
    let mut interactions = Vec::new();
    let mut rejections = Vec::new();
    let wanted = dry_interactions.len() + dry_rejections.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while interactions.len() + rejections.len() < wanted && tokio::time::Instant::now() < deadline {
        let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await else {
            continue;
        };
        if m.topic() == topics.dlq {
            let code = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "rapport-error-code"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .expect("a dead letter names its error code");
            rejections.push((m.payload().unwrap_or_default().to_vec(), code));
        } else {
            let interaction = decode_single_object(m.payload().unwrap_or_default())
                .expect("the normalizer publishes interactions");
            interactions.push(comparable(serde_json::to_value(interaction).unwrap()));
        }
    }
    // Anything beyond the dry run's count arrives within the next quiet seconds.
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {
        if m.topic() == topics.dlq {
            rejections.push((m.payload().unwrap_or_default().to_vec(), "late".into()));
        } else {
            interactions.push(m.payload().map(|p| format!("late {}", p.len())).unwrap());
        }
    }

    dry_interactions.sort();
    interactions.sort();
    dry_rejections.sort();
    rejections.sort();
    assert_eq!(
        interactions.len(),
        dry_interactions.len(),
        "as many interactions from the service as from the dry run"
    );
    for (service, dry) in interactions.iter().zip(&dry_interactions) {
        assert_eq!(service, dry, "the same interaction from both");
    }
    assert_eq!(
        rejections.len(),
        dry_rejections.len(),
        "as many rejections from the service as from the dry run: {codes:?}"
    );
    for ((payload, code), (dry_payload, dry_code)) in rejections.iter().zip(&dry_rejections) {
        assert_eq!(
            (payload.len(), code),
            (dry_payload.len(), dry_code),
            "the same rejection from both"
        );
        assert!(
            payload == dry_payload,
            "the dead letter keeps the original bytes"
        );
    }
}
