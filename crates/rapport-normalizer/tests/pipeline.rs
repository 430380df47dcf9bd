//! The normalizer as a separate process against the local Tansu broker, with exact counts.
//! Every test uses its own topics and consumer group, so tests never see each other's records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rapport_kafka::{KafkaConfig, TopicSpec, Topics, ensure_topics};
use rapport_model::wire::{WriterSchema, decode_datum, split};
use rapport_model::{Channel, Source};
use rapport_testkit::{
    ScratchDir, Service, Stack, free_addr, kafka_and_topics_toml, reader, unique_name,
};
use rapport_traffic::{self as generate, RawRecord};
use uuid::Uuid;

mod support;
use support::{Collected, expected, traffic};

/// One isolated run: its own topics, group and config file.
struct Run {
    stack: Stack,
    topics: Topics,
    config: PathBuf,
    http: std::net::SocketAddr,
    _files: ScratchDir,
}

impl Run {
    async fn new(name: &str, registry: Option<&str>) -> Self {
        let stack = Stack::from_env();
        let prefix = unique_name(name);
        let topics = Topics::prefixed(&prefix);
        let kafka = KafkaConfig {
            partitions: 3,
            ..stack.kafka.clone()
        };
        let specs: Vec<TopicSpec> = topics.specs();
        ensure_topics(&kafka, &specs)
            .await
            .expect("topics created; is the stack up? run `make up`");
        let files = ScratchDir::new(&prefix);
        let config = files.join("normalizer.toml");
        let http = free_addr();
        let registry = registry
            .map(|url| format!("[registry]\nurl = \"{url}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            &config,
            format!(
                "group_id = \"{prefix}-normalizer\"\ntenant_id = \"acme\"\n\
                 [tenant]\nagent_domains = [\"acme.com\"]\ndefault_phone_region = \"US\"\n\
                 [default_sources]\nemail = \"rfc822\"\n\
                 [http]\nlisten = \"{http}\"\n{registry}{}",
                kafka_and_topics_toml(&kafka, &topics),
            ),
        )
        .unwrap();
        Self {
            stack,
            topics,
            config,
            http,
            _files: files,
        }
    }

    async fn start_on(&self, http: std::net::SocketAddr) -> Service {
        Service::start(
            env!("CARGO_BIN_EXE_rapport-normalizer"),
            &self.config,
            http,
            "warn,rapport_normalizer=info",
        )
        .await
    }

    async fn start(&self) -> Service {
        self.start_on(self.http).await
    }

    async fn start_another(&self) -> Service {
        self.start_on(free_addr()).await
    }

    async fn produce(&self, records: &[RawRecord]) {
        generate::produce(records, &self.stack.kafka, &self.topics)
            .await
            .expect("records produced");
    }

    /// Reads the interactions and DLQ topics from the start until `done` says enough, or fails
    /// after `timeout`.
    async fn collect(&self, timeout: Duration, done: impl Fn(&Collected) -> bool) -> Collected {
        let consumer = reader(
            &self.stack.kafka,
            &[&self.topics.interactions, &self.topics.dlq],
        );
        let mut collected = Collected::default();
        let deadline = Instant::now() + timeout;
        while !done(&collected) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out: {} interactions, {} dead letters so far",
                collected.interactions.len(),
                collected.dead_letters.len()
            );
            let Ok(Ok(message)) =
                tokio::time::timeout(left.min(Duration::from_secs(1)), consumer.recv()).await
            else {
                continue;
            };
            collected.record(&self.topics, &message);
        }
        collected
    }
}

/// Records that give no interaction or only part of a list: three a source documents as
/// carrying nothing (an Intercom ping, an SES bounce, a Zendesk webhook of another event type),
/// one it does not (an SES notification of an unknown type), and a generic batch whose middle
/// event is bad.
fn accounting_records() -> Vec<RawRecord> {
    let record = |channel, source, key: &str, payload: &str| RawRecord {
        channel,
        key: key.into(),
        source,
        tenant: "acme".into(),
        received_at: rapport_model::Timestamp::parse_rfc3339("2024-06-03T12:00:00Z").unwrap(),
        payload: payload.as_bytes().to_vec(),
        invalid: false,
    };
    let event = |n: usize, kind: &str| {
        format!(
            "{{\"event_id\":\"acct-{n}\",\"channel\":\"chat\",\"conversation_id\":\"acct\",\
             \"occurred_at\":\"2024-06-03T10:00:0{n}Z\",\"kind\":\"{kind}\",\"direction\":\"inbound\",\
             \"customer\":{{\"email\":\"acct@example.com\"}},\"text\":\"hi\"}}"
        )
    };
    let batch = format!(
        "{{\"schema\":\"rapport.generic.v1\",\"events\":[{},{},{}]}}",
        event(0, "message"),
        event(1, "telepathy"),
        event(2, "message")
    );
    vec![
        record(
            Channel::Chat,
            Source::Intercom,
            "ping",
            r#"{"type":"notification_event","topic":"ping","data":{"item":{"type":"ping"}}}"#,
        ),
        record(
            Channel::Email,
            Source::Ses,
            "bounce",
            r#"{"notificationType":"Bounce","mail":{"messageId":"acct-bounce"}}"#,
        ),
        record(
            Channel::Support,
            Source::Zendesk,
            "user-event",
            r#"{"type":"zen:event-type:user.created","id":"acct-1","detail":{"id":"5"}}"#,
        ),
        record(
            Channel::Email,
            Source::Ses,
            "mystery",
            r#"{"notificationType":"Mystery","mail":{"messageId":"acct-mystery"}}"#,
        ),
        record(Channel::Chat, Source::Generic, "batch", &batch),
    ]
}

#[tokio::test]
async fn every_record_becomes_exactly_its_interactions_or_one_dead_letter() {
    let run = Run::new("norm-steady", None).await;
    let mut records = traffic(1, 120);
    records.extend(accounting_records());
    let (ids, invalid) = expected(&records);
    assert!(!invalid.is_empty(), "the traffic includes invalid records");
    run.produce(&records).await;
    let mut normalizer = run.start().await;
    let got = run
        .collect(Duration::from_secs(90), |c| {
            c.distinct().len() >= ids.len() && c.dead_letters.len() >= invalid.len()
        })
        .await;
    assert_eq!(normalizer.get("/healthz").await.0, 200);
    assert_eq!(
        normalizer.get("/readyz").await.0,
        200,
        "ready while consuming"
    );
    let (_, metrics) = normalizer.get("/metrics").await;
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        metric("rapport_normalizer_messages_in_total") as usize,
        records.len(),
        "{metrics}"
    );
    assert_eq!(
        metric("rapport_normalizer_interactions_out_total") as usize,
        ids.len()
    );
    assert_eq!(
        metric("rapport_normalizer_dlq_total") as usize,
        invalid.len()
    );
    // Nothing vanishes: the three documented skips are counted by source and reason, the
    // undocumented one is dead-lettered and counted as such.
    for series in [
        r#"rapport_normalizer_skipped_total{source="intercom",reason="ping",documented="true"} 1"#,
        r#"rapport_normalizer_skipped_total{source="ses",reason="ses_sending_event",documented="true"} 1"#,
        r#"rapport_normalizer_skipped_total{source="zendesk",reason="other_webhook_event",documented="true"} 1"#,
        r#"rapport_normalizer_skipped_total{source="ses",reason="ses_notification_type",documented="false"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == series), "{series}\n{metrics}");
    }
    assert!(
        metrics.contains("rapport_normalizer_processing_seconds"),
        "latency histogram exported"
    );
    normalizer.signal("TERM");

    assert_eq!(got.distinct(), ids);
    assert_eq!(
        got.interactions.len(),
        ids.len(),
        "no duplicates without restarts"
    );
    assert_eq!(got.dead_payloads(), invalid);
    assert_eq!(got.dead_letters.len(), invalid.len());
    for dead in &got.dead_letters {
        assert!(
            [
                "malformed_json",
                "invalid_encoding",
                "unknown_shape",
                "ignored:ses_notification_type",
                "invalid_value:events[1].kind",
            ]
            .contains(&dead.code.as_str()),
            "code {}",
            dead.code
        );
        assert!(run.topics.raw().contains(&dead.origin_topic.as_str()));
        assert!(dead.source.is_some(), "original headers are kept");
    }
    let channels: BTreeMap<Channel, usize> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.channel).or_default() += 1;
        m
    });
    assert_eq!(
        channels.len(),
        4,
        "all four channels were exercised: {channels:?}"
    );
}

#[tokio::test]
async fn sigkill_mid_stream_loses_nothing() {
    let run = Run::new("norm-kill", None).await;
    let records = traffic(2, 200);
    let (ids, invalid) = expected(&records);
    let (first, second) = records.split_at(records.len() / 2);
    run.produce(first).await;
    let mut normalizer = run.start().await;
    run.collect(Duration::from_secs(60), |c| c.interactions.len() >= 50)
        .await;
    let feeder = {
        let second = second.to_vec();
        let (kafka, topics) = (run.stack.kafka.clone(), run.topics.clone());
        tokio::spawn(async move {
            for chunk in second.chunks(40) {
                generate::produce(chunk, &kafka, &topics).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    normalizer.signal("KILL");
    feeder.await.unwrap();
    // Tansu keeps a member that died without leaving in the group, holding its partitions,
    // unless its session has expired before the next member joins (docs/ARCHITECTURE.md).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut normalizer = run.start().await;
    let got = run
        .collect(Duration::from_secs(120), |c| {
            c.distinct().len() >= ids.len() && c.dead_payloads().len() >= invalid.len()
        })
        .await;
    normalizer.signal("TERM");
    assert_eq!(got.distinct(), ids, "every interaction arrived");
    assert_eq!(
        got.dead_payloads(),
        invalid,
        "every invalid record was dead-lettered"
    );
}

#[tokio::test]
async fn a_second_instance_takes_over_when_the_first_stops() {
    let run = Run::new("norm-scale", None).await;
    let records = traffic(3, 200);
    let (ids, invalid) = expected(&records);
    let (first, second) = records.split_at(records.len() / 3);
    run.produce(first).await;
    let mut a = run.start().await;
    let mut b = run.start_another().await;
    run.collect(Duration::from_secs(90), |c| c.interactions.len() >= 30)
        .await;
    a.signal("TERM");
    run.produce(second).await;
    let got = run
        .collect(Duration::from_secs(120), |c| {
            c.distinct().len() >= ids.len() && c.dead_payloads().len() >= invalid.len()
        })
        .await;
    b.signal("TERM");
    assert_eq!(got.distinct(), ids);
    assert_eq!(got.dead_payloads(), invalid);
}

/// A tiny Schema Registry (just the two endpoints the normalizer uses), so the Confluent framing
/// can be tested without a real registry on this machine.
mod registry {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, State};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{Value, json};

    #[derive(Clone, Default)]
    pub struct Registry {
        pub schemas: Arc<Mutex<Vec<(String, String)>>>,
    }

    pub async fn start() -> (String, Registry) {
        let registry = Registry::default();
        let app = Router::new()
            .route(
                "/subjects/{subject}/versions",
                post(
                    |State(r): State<Registry>,
                     Path(subject): Path<String>,
                     Json(body): Json<Value>| async move {
                        let mut schemas = r.schemas.lock().unwrap();
                        schemas.push((
                            subject,
                            body["schema"].as_str().unwrap_or_default().to_owned(),
                        ));
                        Json(json!({ "id": 100 + schemas.len() }))
                    },
                ),
            )
            .route(
                "/schemas/ids/{id}",
                get(
                    |State(r): State<Registry>, Path(id): Path<usize>| async move {
                        let schemas = r.schemas.lock().unwrap();
                        Json(json!({ "schema": schemas[id - 101].1 }))
                    },
                ),
            )
            .with_state(registry.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, registry)
    }
}

#[tokio::test]
async fn confluent_framing_uses_the_registered_schema() {
    let (url, registry) = registry::start().await;
    let run = Run::new("norm-registry", Some(&url)).await;
    let records: Vec<RawRecord> = traffic(4, 10).into_iter().filter(|r| !r.invalid).collect();
    let (ids, _) = expected(&records);
    run.produce(&records).await;
    let mut normalizer = run.start().await;
    let got = run
        .collect(Duration::from_secs(90), |c| c.raw_values.len() >= ids.len())
        .await;
    normalizer.signal("TERM");

    let (subject, schema_text) = registry.schemas.lock().unwrap()[0].clone();
    assert_eq!(subject, format!("{}-value", run.topics.interactions));
    let writer = apache_avro::Schema::parse_str(&schema_text).unwrap();
    let decoded: BTreeSet<Uuid> = got
        .raw_values
        .iter()
        .map(|value| {
            let (schema, datum) = split(value).unwrap();
            assert_eq!(
                schema,
                WriterSchema::RegistryId(101),
                "framed with the id the registry returned"
            );
            decode_datum(&writer, datum).unwrap().event_id
        })
        .collect();
    assert_eq!(decoded, ids);
}
