//! `rapport-sla` against the local stack (`make up`), with the real writer in front of it: a
//! conversation left unanswered gets `at_risk` and then `breached` at their due times (± 1 s)
//! with no new input; killing the service between the two loses neither and, by event id,
//! duplicates none; a late reply that predates the due time yields `corrected`. With live
//! instances joining and leaving one group (the leader among them) and the last one killed while
//! timers are pending, every due announcement is made, on time while its partition's owner
//! lives, once per id.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{Interaction, Source, Timestamp};
use rapport_sla::event::{Kind, SlaEvent};
use rapport_testkit::{
    ScratchDir, Service, ServiceOptions, Stack, binary, free_addr, kafka_and_topics_toml, reader,
    unique_name,
};
use rdkafka::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::json;

const S: i64 = 1_000;

/// One generic event through the real adapter.
fn interaction(id: &str, conversation: &str, at_ms: i64, role: &str) -> Interaction {
    let event = json!({
        "schema": "rapport.generic.v1",
        "event_id": id, "channel": "chat", "conversation_id": conversation,
        "occurred_at": Timestamp::from_millis(at_ms).to_string(),
        "actor": {"role": role, "id": format!("{role}-1")},
        "customer": {"email": format!("{conversation}@example.com")},
        "text": format!("{id} says hello"),
    });
    let ctx = Context {
        tenant_id: "acme",
        received_at: Timestamp::from_millis(at_ms),
        tenant: &TenantConfig::default(),
        limits: &Limits::default(),
        raw_ref: None,
    };
    normalize(Source::Generic, &serde_json::to_vec(&event).unwrap(), &ctx)
        .expect("a valid generic event")
        .remove(0)
}

struct Run {
    kafka: KafkaConfig,
    topics: Topics,
    sla_topic: String,
    dir: ScratchDir,
}

impl Run {
    /// 24/7: a first response within 6 s, at risk 3 s before. `extra` goes into rapport-sla's
    /// configuration (a `[registry]` section, say).
    async fn new(extra: &str) -> Self {
        Self::with_rules(
            "[sla]\nat_risk_before = \"3s\"\n[[sla.policies]]\nname = \"fast\"\nfirst_response = \"6s\"\n",
            extra,
        )
        .await
    }

    /// `rules` are rapport-sla's `[sla]` (and `[business_hours]`) sections.
    async fn with_rules(rules: &str, extra: &str) -> Self {
        let stack = Stack::from_env();
        // A member that was killed leaves the group after its session times out: keep it short,
        // so the restarted instance is assigned the partitions soon.
        let kafka = KafkaConfig {
            session_timeout_ms: 6_000,
            ..stack.kafka.clone()
        };
        let prefix = unique_name("sla-stream");
        let topics = Topics::prefixed(&prefix);
        let sla_topic = topics.sla.clone();
        ensure_topics(&kafka, &topics.specs())
            .await
            .expect("topics created; is the stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let dir = ScratchDir::new(&prefix);
        let url = &stack.clickhouse_url;
        let store = format!("[clickhouse]\nurl = \"{url}\"\ndatabase = \"{database}\"\n");
        let shared = kafka_and_topics_toml(&kafka, &topics);
        std::fs::write(
            dir.join("writer.toml"),
            format!(
                "group_id = \"{prefix}-writer\"\n[batch]\nidle_ms = 50\nmax_delay_ms = 200\n{store}{shared}"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("sla.toml"),
            format!(
                "group_id = \"{prefix}-sla\"\nstore_poll_ms = 50\nbatch_delay_ms = 50\n\
                 {rules}{store}{shared}{extra}"
            ),
        )
        .unwrap();
        Self {
            kafka,
            topics,
            sla_topic,
            dir,
        }
    }

    async fn start(&self, service: &str) -> Service {
        Service::start(
            binary(&format!("rapport-{service}")).to_str().unwrap(),
            &self.dir.join(format!("{service}.toml")),
            free_addr(),
            &std::env::var("RAPPORT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .await
    }

    /// A rapport-sla instance whose log (partitions gained and lost) goes to `<name>.log`.
    async fn start_logged(&self, name: &str) -> (Service, std::path::PathBuf) {
        let log = self.dir.join(format!("{name}.log"));
        let service = Service::start_with(
            binary("rapport-sla").to_str().unwrap(),
            &self.dir.join("sla.toml"),
            free_addr(),
            "warn,rapport_sla=info",
            &ServiceOptions {
                log_file: Some(log.clone()),
                ..ServiceOptions::default()
            },
        )
        .await;
        (service, log)
    }

    async fn produce(&self, interactions: &[Interaction]) {
        let producer: FutureProducer = self.kafka.producer_config().create().unwrap();
        for i in interactions {
            producer
                .send(
                    FutureRecord::to(&self.topics.interactions)
                        .key(&i.conversation_id)
                        .payload(&encode(i, Framing::SingleObject)),
                    Timeout::Never,
                )
                .await
                .expect("produced");
        }
    }
}

/// Every announcement read, with the time it was received.
type Seen = Arc<Mutex<Vec<(i64, SlaEvent)>>>;

fn listen(kafka: &KafkaConfig, topic: &str) -> Seen {
    let seen: Seen = Arc::default();
    let consumer = reader(kafka, &[topic]);
    let sink = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            if let Ok(message) = consumer.recv().await {
                let event = SlaEvent::decode(message.payload().unwrap_or_default())
                    .expect("every record on the topic is an SlaEvent");
                sink.lock()
                    .unwrap()
                    .push((Timestamp::now().as_millis(), event));
            }
        }
    });
    seen
}

async fn wait_for(seen: &Seen, conversation: &str, kind: Kind, limit: Duration) -> (i64, SlaEvent) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) =
            seen.lock().unwrap().iter().find(|(_, e)| {
                e.conversation_id == format!("generic:{conversation}") && e.kind == kind
            })
        {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind:?} for {conversation} within {limit:?}; seen: {:#?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn announcements_fire_on_time_survive_a_kill_and_correct_a_late_reply() {
    let run = Run::new("").await;
    let seen = listen(&run.kafka, &run.sla_topic);
    let _writer = run.start("writer").await;
    let mut sla = run.start("sla").await;

    // A: nobody answers. At risk 3 s after the message, breached at 6 s, with no new input.
    let a = Timestamp::now().as_millis();
    run.produce(&[interaction("a1", "A", a, "customer")]).await;
    let (received, at_risk) = wait_for(&seen, "A", Kind::AtRisk, Duration::from_secs(30)).await;
    assert_eq!(at_risk.at_risk_at_ms, Some(a + 3 * S));
    assert_eq!(at_risk.occurred_at_ms, a + 3 * S);
    assert!(
        (a + 3 * S..=a + 4 * S).contains(&received),
        "at_risk received {} ms after its time",
        received - (a + 3 * S)
    );
    let (received, breached) = wait_for(&seen, "A", Kind::Breached, Duration::from_secs(30)).await;
    assert_eq!(breached.due_at_ms, Some(a + 6 * S));
    assert!(
        (a + 6 * S..=a + 7 * S).contains(&received),
        "breached received {} ms after its due time",
        received - (a + 6 * S)
    );
    assert_eq!(
        (breached.target.as_str(), breached.policy.as_str()),
        ("first_response", "fast")
    );

    // B: the service is killed after at_risk and the due time passes while it is down; the next
    // instance announces the breach from the ledger.
    let b = Timestamp::now().as_millis();
    run.produce(&[interaction("b1", "B", b, "customer")]).await;
    wait_for(&seen, "B", Kind::AtRisk, Duration::from_secs(30)).await;
    sla.signal("KILL");
    let down_until = b + 8 * S;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(down_until - Timestamp::now().as_millis()).unwrap_or(0),
    ))
    .await;
    let mut sla = run.start("sla").await;
    let (_, breached_b) = wait_for(&seen, "B", Kind::Breached, Duration::from_secs(90)).await;
    assert_eq!(breached_b.due_at_ms, Some(b + 6 * S));

    // C: breached, then an agent's reply from before the due time arrives late: corrected to met.
    let c = Timestamp::now().as_millis();
    run.produce(&[interaction("c1", "C", c, "customer")]).await;
    let (_, breached_c) = wait_for(&seen, "C", Kind::Breached, Duration::from_secs(30)).await;
    run.produce(&[interaction("c2", "C", c + 2 * S, "agent")])
        .await;
    let (_, corrected) = wait_for(&seen, "C", Kind::Corrected, Duration::from_secs(30)).await;
    assert_eq!(corrected.outcome.as_deref(), Some("met"));
    assert_eq!(corrected.corrects, Some(breached_c.event_id));
    assert_eq!(corrected.stopped_at_ms, Some(c + 2 * S));

    // Give redeliveries a moment to show up, then: one id per conversation and kind, whatever
    // was sent twice; and nothing that did not happen (no met, no second outcome).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = seen.lock().unwrap().clone();
    let mut ids: std::collections::BTreeMap<
        (String, Kind),
        std::collections::BTreeSet<uuid::Uuid>,
    > = std::collections::BTreeMap::new();
    for (_, e) in &events {
        let conversation = e.conversation_id.trim_start_matches("generic:").to_owned();
        ids.entry((conversation, e.kind))
            .or_default()
            .insert(e.event_id);
    }
    let kinds: Vec<(String, Kind, usize)> = ids
        .iter()
        .map(|((c, k), set)| (c.clone(), *k, set.len()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("A".to_owned(), Kind::AtRisk, 1),
            ("A".to_owned(), Kind::Breached, 1),
            ("B".to_owned(), Kind::AtRisk, 1),
            ("B".to_owned(), Kind::Breached, 1),
            ("C".to_owned(), Kind::AtRisk, 1),
            ("C".to_owned(), Kind::Breached, 1),
            ("C".to_owned(), Kind::Corrected, 1),
        ],
        "{events:#?}"
    );
    sla.signal("TERM");
}

/// (subject, schema) of every registration.
type Registered = Arc<Mutex<Vec<(String, String)>>>;

/// A registry that accepts registrations and remembers them; every schema gets id 42.
async fn start_registry() -> (String, Registered) {
    use axum::extract::{Path, State};
    let registered: Registered = Arc::default();
    let app = axum::Router::new()
        .route(
            "/subjects/{subject}/versions",
            axum::routing::post(
                |State(seen): State<Registered>,
                 Path(subject): Path<String>,
                 body: String| async move {
                    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
                    seen.lock()
                        .unwrap()
                        .push((subject, body["schema"].as_str().unwrap().to_owned()));
                    json!({"id": 42}).to_string()
                },
            ),
        )
        .with_state(Arc::clone(&registered));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, registered)
}

#[tokio::test]
async fn with_a_registry_the_schema_is_registered_and_announcements_carry_its_id() {
    let (url, registered) = start_registry().await;
    let run = Run::new(&format!("[registry]\nurl = \"{url}\"\n")).await;
    let consumer = reader(&run.kafka, &[&run.sla_topic]);
    let _writer = run.start("writer").await;
    let _sla = run.start("sla").await;
    // Answered at once: one met, in the Confluent framing with the registered id.
    let d = Timestamp::now().as_millis();
    run.produce(&[
        interaction("d1", "D", d, "customer"),
        interaction("d2", "D", d + 1, "agent"),
    ])
    .await;
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("an announcement within 30 s")
        .unwrap();
    let payload = message.payload().unwrap();
    assert_eq!(payload[..5], [0, 0, 0, 0, 42]);
    let met = SlaEvent::decode(payload).unwrap();
    assert_eq!((met.kind, met.stopped_at_ms), (Kind::Met, Some(d + 1)));
    assert_eq!(
        registered.lock().unwrap().clone(),
        [(
            format!("{}-value", run.sla_topic),
            rapport_sla::event::SLA_EVENT_SCHEMA_JSON.to_owned()
        )]
    );
}

/// Partitions an instance's log says it gained.
fn gained(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("partition assigned"))
        .count()
}

/// Waits until `seen` holds every (conversation, kind) of `wanted`.
async fn wait_for_all(seen: &Seen, wanted: &[(String, Kind)], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<&(String, Kind)> = {
            let seen = seen.lock().unwrap();
            wanted
                .iter()
                .filter(|(c, k)| {
                    !seen
                        .iter()
                        .any(|(_, e)| e.conversation_id == format!("generic:{c}") && e.kind == *k)
                })
                .collect()
        };
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not announced within {limit:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn timers_move_with_their_partitions_when_instances_join_leave_and_die() {
    // 24/7: a first response within 20 s, at risk 10 s before, so every timer is pending across
    // one of the group changes below.
    let run = Run::with_rules(
        "[sla]\nat_risk_before = \"10s\"\n[[sla.policies]]\nname = \"slow\"\nfirst_response = \"20s\"\n",
        "",
    )
    .await;
    let seen = listen(&run.kafka, &run.sla_topic);
    let _writer = run.start("writer").await;
    let (mut first, first_log) = run.start_logged("sla-1").await;

    // Wave 1 (12 conversations over the 3 partitions), at t0: at risk at t0+10 s, due at t0+20 s.
    let t0 = Timestamp::now().as_millis();
    let wave = |name: &str, at: i64| -> Vec<Interaction> {
        (0..12)
            .map(|n| {
                interaction(
                    &format!("{name}{n}-m"),
                    &format!("{name}{n}"),
                    at,
                    "customer",
                )
            })
            .collect()
    };
    run.produce(&wave("W", t0)).await;
    let sleep_until = |at: i64| {
        tokio::time::sleep(Duration::from_millis(
            u64::try_from(at - Timestamp::now().as_millis()).unwrap_or(0),
        ))
    };
    // Each group change below leaves 5 s before the next due time, for the group to settle.
    // t0+2 s: a second instance joins; the group splits the partitions and their timers.
    sleep_until(t0 + 2 * S).await;
    let (mut second, second_log) = run.start_logged("sla-2").await;
    // t0+13 s, after wave 1's at-risk time and before its due time: the second leaves gracefully;
    // the first takes its partitions back, with the pending breaches.
    sleep_until(t0 + 13 * S).await;
    assert!(
        gained(&second_log) > 0,
        "the second instance was assigned no partition: no rebalance happened"
    );
    assert!(second.signal("TERM").success());
    // Wave 2 at t0+21 s: at risk at t0+31 s, due at t0+41 s. A third instance joins at t0+23 s,
    // and at t0+33 s the first (the group's leader) leaves gracefully: the third takes over
    // every partition with wave 2's breaches pending.
    sleep_until(t0 + 21 * S).await;
    run.produce(&wave("X", Timestamp::now().as_millis())).await;
    sleep_until(t0 + 23 * S).await;
    let (mut third, third_log) = run.start_logged("sla-3").await;
    sleep_until(t0 + 33 * S).await;
    assert!(
        gained(&third_log) > 0,
        "the third instance was assigned no partition before the first left"
    );
    assert!(first.signal("TERM").success());
    // Wave 3 at t0+35 s: at risk at t0+45 s, due at t0+55 s. The third, alone now, is killed at
    // t0+47 s; a fourth starts once the dead member's session has expired and announces the
    // breaches from the ledger. (Tansu 0.6 never hands a SIGKILLed member's partitions to a
    // live one, so the kill is of the group's last member: docs/ARCHITECTURE.md, "Broker
    // quirks".)
    sleep_until(t0 + 35 * S).await;
    run.produce(&wave("Y", Timestamp::now().as_millis())).await;
    sleep_until(t0 + 47 * S).await;
    third.signal("KILL");
    let killed_at = Timestamp::now().as_millis();
    let session_ms = i64::from(run.kafka.session_timeout_ms);
    sleep_until(killed_at + session_ms + 2 * S).await;
    let (_fourth, fourth_log) = run.start_logged("sla-4").await;

    let wanted: Vec<(String, Kind)> = ["W", "X", "Y"]
        .iter()
        .flat_map(|w| (0..12).map(move |n| format!("{w}{n}")))
        .flat_map(|c| [(c.clone(), Kind::AtRisk), (c, Kind::Breached)])
        .collect();
    wait_for_all(&seen, &wanted, Duration::from_secs(120)).await;
    // Redeliveries after the kill show up here.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = seen.lock().unwrap().clone();
    let log = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let context = format!(
        "sla-1:\n{}\nsla-2:\n{}\nsla-3:\n{}\nsla-4:\n{}",
        log(&first_log),
        log(&second_log),
        log(&third_log),
        log(&fourth_log)
    );

    // Nothing but at_risk and breached, one id per (conversation, kind), and an id sent twice
    // has the same content (but the time it was emitted).
    let mut ids: std::collections::BTreeMap<
        (String, Kind),
        std::collections::BTreeSet<uuid::Uuid>,
    > = Default::default();
    let mut contents: std::collections::BTreeMap<uuid::Uuid, SlaEvent> = Default::default();
    for (_, e) in &events {
        assert!(
            matches!(e.kind, Kind::AtRisk | Kind::Breached),
            "{e:?}\n{context}"
        );
        ids.entry((e.conversation_id.clone(), e.kind))
            .or_default()
            .insert(e.event_id);
        let mut same = e.clone();
        same.emitted_at_ms = 0;
        let first_seen = contents.entry(e.event_id).or_insert_with(|| same.clone());
        assert_eq!(*first_seen, same, "one id, two contents\n{context}");
    }
    assert_eq!(ids.len(), wanted.len(), "{ids:?}");
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}\n{context}");

    // On time (within 1 s of when it was due) wherever the partition's owner was alive: every
    // announcement but those that fell due between the kill and the fourth's assignment.
    for (id, e) in &contents {
        let due = e.occurred_at_ms;
        let first_received = events
            .iter()
            .filter(|(_, x)| x.event_id == *id)
            .map(|(r, _)| *r)
            .min()
            .unwrap();
        assert!(
            first_received >= due,
            "announced {} ms early: {e:?}",
            due - first_received
        );
        let orphaned = (killed_at..killed_at + session_ms + 12 * S).contains(&due);
        assert!(
            orphaned || first_received - due <= S,
            "{:?} of {} received {} ms after its time\n{context}",
            e.kind,
            e.conversation_id,
            first_received - due
        );
    }
}

#[tokio::test]
async fn a_next_reply_cycle_a_late_earlier_message_replaces_is_corrected_to_void() {
    // 24/7: first response and next reply within 6 s each, at risk 3 s before.
    let run = Run::with_rules(
        "[sla]\nat_risk_before = \"3s\"\n[[sla.policies]]\nname = \"fast\"\nfirst_response = \"6s\"\nnext_reply = \"6s\"\n",
        "",
    )
    .await;
    let seen = listen(&run.kafka, &run.sla_topic);
    let _writer = run.start("writer").await;
    let _sla = run.start("sla").await;
    // Answered at once, then asked again: the next reply (cycle e3) breaches at e3 + 6 s.
    let e = Timestamp::now().as_millis();
    run.produce(&[
        interaction("e1", "E", e, "customer"),
        interaction("e2", "E", e + 500, "agent"),
        interaction("e3", "E", e + 1_000, "customer"),
    ])
    .await;
    let next_reply = |kind: Kind| {
        let seen = Arc::clone(&seen);
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found: Vec<SlaEvent> = seen
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(_, e)| e.clone())
                    .filter(|e| e.target == "next_reply" && e.kind == kind)
                    .collect();
                if !found.is_empty() || Instant::now() > deadline {
                    return found;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let breached = next_reply(Kind::Breached).await;
    assert_eq!(breached.len(), 1, "{:#?}", seen.lock().unwrap());
    let old_cycle = breached[0].cycle.clone();
    assert_eq!(breached[0].due_at_ms, Some(e + 7_000));

    // A customer message from between the reply and e3 arrives late: the run starts there, under
    // its id. The old cycle's breach is corrected to void; the new cycle is announced.
    run.produce(&[interaction("e2b", "E", e + 700, "customer")])
        .await;
    let corrected = next_reply(Kind::Corrected).await;
    assert_eq!(corrected.len(), 1, "{:#?}", seen.lock().unwrap());
    let void = &corrected[0];
    assert_eq!(void.cycle, old_cycle);
    assert_eq!(void.outcome.as_deref(), Some("void"));
    assert_eq!(void.corrects, Some(breached[0].event_id));
    assert_eq!(void.started_at_ms, e + 700, "the run that holds e3 now");
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_breach = loop {
        let found = next_reply(Kind::Breached).await;
        if let Some(b) = found.into_iter().find(|b| b.cycle != old_cycle) {
            break b;
        }
        assert!(Instant::now() < deadline, "{:#?}", seen.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(new_breach.due_at_ms, Some(e + 6_700));
    // Nothing more for the old cycle, and one id per (cycle, kind).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = seen.lock().unwrap().clone();
    let mut ids: std::collections::BTreeMap<
        (String, Kind),
        std::collections::BTreeSet<uuid::Uuid>,
    > = Default::default();
    for (_, e) in events.iter().filter(|(_, e)| e.target == "next_reply") {
        ids.entry((e.cycle.clone(), e.kind))
            .or_default()
            .insert(e.event_id);
    }
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}");
    assert_eq!(
        ids.keys()
            .filter(|(c, _)| *c == old_cycle)
            .map(|(_, k)| *k)
            .collect::<Vec<_>>(),
        [Kind::AtRisk, Kind::Breached, Kind::Corrected]
    );
}
