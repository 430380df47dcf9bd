//! The writer against the local broker and ClickHouse (`make up`): each test has its own topics,
//! consumer group and database; the outage test has its own ClickHouse server.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::{Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{Interaction, Source, Timestamp};
use rapport_testkit::{
    PrivateClickHouse, ScratchDir, Service, Stack, free_addr, kafka_and_topics_toml, metric_sum,
    query_in, reader, unique_name, wait_for_answer,
};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::json;

const T0: i64 = 1_717_405_200_000; // 2024-06-03T09:00:00Z
const MINUTE: i64 = 60_000;

struct Run {
    stack: Stack,
    topics: Topics,
    clickhouse_url: String,
    database: String,
    config: PathBuf,
    _files: ScratchDir,
}

impl Run {
    async fn new(name: &str, clickhouse_url: Option<String>, batch_rows: usize) -> Self {
        Self::with_batch(
            name,
            clickhouse_url,
            batch_rows,
            "idle_ms = 50\nmax_delay_ms = 300\n",
        )
        .await
    }

    /// [`Run::new`] with `[batch]` settings (TOML lines) in place of the quick deadlines the
    /// other tests use (`idle_ms = 50`, `max_delay_ms = 300`).
    async fn with_batch(
        name: &str,
        clickhouse_url: Option<String>,
        batch_rows: usize,
        batch: &str,
    ) -> Self {
        let stack = Stack::from_env();
        let prefix = unique_name(name);
        let topics = Topics::prefixed(&prefix);
        ensure_topics(&stack.kafka, &topics.specs())
            .await
            .expect("topics created; is the stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let clickhouse_url = clickhouse_url.unwrap_or_else(|| stack.clickhouse_url.clone());
        let files = ScratchDir::new(&prefix);
        let config = files.join("writer.toml");
        std::fs::write(
            &config,
            format!(
                "group_id = \"{prefix}-writer\"\n\
                 [clickhouse]\nurl = \"{clickhouse_url}\"\ndatabase = \"{database}\"\nrequest_timeout_ms = 5000\n\
                 [batch]\nmax_rows = {batch_rows}\ninitial_backoff_ms = 100\nmax_backoff_ms = 1000\n{batch}{}",
                // A short stall limit, so a stuck writer fails its liveness probe within a test.
                kafka_and_topics_toml(
                    &rapport_kafka::KafkaConfig {
                        stall_timeout_ms: 5_000,
                        ..stack.kafka.clone()
                    },
                    &topics
                ),
            ),
        )
        .unwrap();
        Self {
            stack,
            topics,
            clickhouse_url,
            database,
            config,
            _files: files,
        }
    }

    async fn start(&self) -> Service {
        Service::start(
            env!("CARGO_BIN_EXE_rapport-writer"),
            &self.config,
            free_addr(),
            "warn,rapport_writer=info,rapport_kafka=info",
        )
        .await
    }

    async fn produce(&self, interactions: &[Interaction]) {
        let producer: FutureProducer = self.stack.kafka.producer_config().create().unwrap();
        let sends: Vec<_> = interactions
            .iter()
            .map(|i| (i.conversation_id.clone(), encode(i, Framing::SingleObject)))
            .collect();
        // Enqueued at once, then acknowledged: librdkafka batches them (awaiting each in turn
        // took minutes for a backlog of 20,000 on a loaded machine).
        let mut pending = Vec::with_capacity(sends.len());
        for (key, payload) in &sends {
            let record = FutureRecord::to(&self.topics.interactions)
                .key(key)
                .payload(payload);
            pending.push(producer.send_result(record).expect("enqueued"));
        }
        for delivery in pending {
            delivery.await.expect("delivered").expect("produced");
        }
    }

    async fn produce_bytes(&self, payload: &[u8]) {
        let producer: FutureProducer = self.stack.kafka.producer_config().create().unwrap();
        producer
            .send(
                FutureRecord::<(), _>::to(&self.topics.interactions).payload(payload),
                Timeout::Never,
            )
            .await
            .expect("produced");
    }

    async fn try_query(&self, sql: &str) -> Option<String> {
        query_in(&self.clickhouse_url, &self.database, sql).await
    }

    async fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .await
            .unwrap_or_else(|| panic!("query failed: {sql}"))
    }

    async fn wait_for(&self, sql: &str, expected: &str, timeout: Duration) {
        wait_for_answer(&self.clickhouse_url, &self.database, sql, expected, timeout).await;
    }

    async fn count_distinct(&self) -> u64 {
        self.try_query("SELECT uniqExact(event_id) FROM interaction_log")
            .await
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or(0)
    }

    fn clickhouse_config(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.database.clone(),
            ..ClickHouseConfig::default()
        }
    }

    /// Every record of the DLQ topic: (error code, error message, origin offset, payload).
    async fn dead_letters(&self, expected: usize) -> Vec<(String, String, String, Vec<u8>)> {
        let consumer = reader(&self.stack.kafka, &[&self.topics.dlq]);
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.len() < expected && Instant::now() < deadline {
            let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
            else {
                continue;
            };
            let header = |name: &str| {
                m.headers()
                    .and_then(|h| h.iter().find(|h| h.key == name))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            out.push((
                header("rapport-error-code"),
                header("rapport-error-message"),
                header("rapport-origin-offset"),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
        // Nothing more than expected arrives.
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
            panic!("unexpected extra dead letter at offset {}", m.offset());
        }
        out
    }
}

/// Interactions built the way producers send them: generic payloads through the real adapter.
fn generic(events: &[serde_json::Value]) -> Vec<Interaction> {
    let tenant = TenantConfig::default();
    let limits = Limits::default();
    let mut out = Vec::new();
    for event in events {
        let tenant_id = event["_tenant"].as_str().unwrap_or("acme").to_owned();
        let mut event = event.clone();
        event.as_object_mut().unwrap().remove("_tenant");
        event["schema"] = json!("rapport.generic.v1");
        let ctx = Context {
            tenant_id: &tenant_id,
            received_at: Timestamp::from_millis(T0 + 24 * 60 * MINUTE),
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        let payload = serde_json::to_vec(&event).unwrap();
        out.extend(normalize(Source::Generic, &payload, &ctx).expect("valid generic event"));
    }
    out
}

fn at(minutes: i64) -> String {
    Timestamp::from_millis(T0 + minutes * MINUTE).to_string()
}

fn msg(id: &str, channel: &str, conv: &str, minutes: i64, role: &str) -> serde_json::Value {
    json!({"event_id": id, "channel": channel, "conversation_id": conv, "occurred_at": at(minutes),
           "actor": {"role": role, "id": format!("{role}-{id}")}, "customer": {"email": format!("{conv}@example.com")},
           "text": format!("{id} says hello"), "team": "Billing"})
}

fn with(mut event: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
    event[key] = value;
    event
}

/// A day with known answers; see each conversation's comment for the numbers it must give.
fn scenario() -> Vec<serde_json::Value> {
    vec![
        // email A: two customer messages in a row, an auto-reply, then a human reply 30 min after
        // the run started; a second exchange answered in 20 min.
        msg("a1", "email", "A", 0, "customer"),
        msg("a2", "email", "A", 5, "customer"),
        with(
            msg("a3", "email", "A", 10, "agent"),
            "auto_reply",
            json!(true),
        ),
        with(
            msg("a4", "email", "A", 30, "agent"),
            "actor",
            json!({"role": "agent", "id": "ana"}),
        ),
        msg("a5", "email", "A", 60, "customer"),
        with(
            msg("a6", "email", "A", 80, "agent"),
            "actor",
            json!({"role": "agent", "id": "ben"}),
        ),
        // chat B: a bot answers at once and an agent writes a private note; neither stops the
        // clock, the human reply after 2 min does.
        msg("b1", "chat", "B", 0, "customer"),
        with(
            msg("b2", "chat", "B", 0, "bot"),
            "occurred_at",
            json!(Timestamp::from_millis(T0 + 5_000).to_string()),
        ),
        with(
            with(msg("b3", "chat", "B", 1, "agent"), "kind", json!("note")),
            "direction",
            json!("internal"),
        ),
        with(
            msg("b4", "chat", "B", 2, "agent"),
            "actor",
            json!({"role": "agent", "id": "ana"}),
        ),
        // support C: answered in 15 min, solved at 60, reopened by the customer at 120, answered
        // at 180, solved again at 240: first resolution 60 min, full 240 min, one reopen.
        msg("c1", "support", "C", 0, "customer"),
        with(
            msg("c2", "support", "C", 15, "agent"),
            "actor",
            json!({"role": "agent", "id": "ben"}),
        ),
        with(
            with(
                msg("c3", "support", "C", 60, "system"),
                "kind",
                json!("status_change"),
            ),
            "status",
            json!("solved"),
        ),
        msg("c4", "support", "C", 120, "customer"),
        with(
            with(
                msg("c5", "support", "C", 121, "system"),
                "kind",
                json!("status_change"),
            ),
            "status",
            json!("open"),
        ),
        with(
            msg("c6", "support", "C", 180, "agent"),
            "actor",
            json!({"role": "agent", "id": "ben"}),
        ),
        with(
            with(
                msg("c7", "support", "C", 240, "system"),
                "kind",
                json!("status_change"),
            ),
            "status",
            json!("solved"),
        ),
        // review D: a 2-star review answered publicly after 6 h.
        with(
            with(
                msg("d1", "review", "D", 0, "customer"),
                "kind",
                json!("review"),
            ),
            "rating",
            json!(2),
        ),
        with(
            with(
                msg("d2", "review", "D", 360, "agent"),
                "kind",
                json!("review_reply"),
            ),
            "actor",
            json!({"role": "agent", "id": "ana"}),
        ),
        // chat E: only a bot answered; the customer waits since 09:30.
        msg("e1", "chat", "E", 30, "customer"),
        msg("e2", "chat", "E", 31, "bot"),
        // Tenant globex has a conversation with the same id as acme's A; they must not mix.
        with(
            msg("g1", "email", "A", 0, "customer"),
            "_tenant",
            json!("globex"),
        ),
        with(
            msg("g2", "email", "A", 1, "agent"),
            "_tenant",
            json!("globex"),
        ),
    ]
}

#[tokio::test]
async fn the_views_give_the_known_answers_and_a_late_message_corrects_them() {
    let run = Run::new("writer-answers", None, 1000).await;
    let _writer = run.start().await;
    let interactions = generic(&scenario());
    // Every interaction twice: redelivery must not count twice.
    run.produce(&interactions).await;
    run.produce(&interactions).await;
    let n = interactions.len();
    run.wait_for(
        "SELECT count() FROM timeline",
        &n.to_string(),
        Duration::from_secs(60),
    )
    .await;

    let responsiveness = "SELECT conversation_id, first_response_ms, reopen_count, first_resolution_ms, full_resolution_ms, waiting_since_ms \
         FROM responsiveness WHERE tenant_id = 'acme' ORDER BY conversation_id FORMAT TSV";
    let answer = |a_frt: i64| {
        format!(
            "generic:A\t{a_frt}\t0\t\\N\t\\N\t\\N\n\
             generic:B\t{}\t0\t\\N\t\\N\t\\N\n\
             generic:C\t{}\t1\t{}\t{}\t\\N\n\
             generic:D\t{}\t0\t\\N\t\\N\t\\N\n\
             generic:E\t\\N\t0\t\\N\t\\N\t{}\n",
            2 * MINUTE,
            15 * MINUTE,
            60 * MINUTE,
            240 * MINUTE,
            360 * MINUTE,
            T0 + 30 * MINUTE,
        )
    };
    assert_eq!(run.query(responsiveness).await, answer(30 * MINUTE));
    assert_eq!(
        run.query(
            "SELECT conversation_id, agent_id, reply_latency_ms, is_first_response FROM reply_latencies \
             WHERE tenant_id = 'acme' ORDER BY conversation_id, replied_at_ms FORMAT TSV"
        )
        .await,
        format!(
            "generic:A\tana\t{}\t1\ngeneric:A\tben\t{}\t0\ngeneric:B\tana\t{}\t1\n\
             generic:C\tben\t{}\t1\ngeneric:C\tben\t{}\t0\ngeneric:D\tana\t{}\t1\n",
            30 * MINUTE,
            20 * MINUTE,
            2 * MINUTE,
            15 * MINUTE,
            60 * MINUTE,
            360 * MINUTE
        )
    );
    assert_eq!(
        run.query("SELECT conversation_id, waiting_since_ms FROM unanswered WHERE tenant_id = 'acme' FORMAT TSV")
            .await,
        format!("generic:E\t{}\n", T0 + 30 * MINUTE)
    );
    assert_eq!(
        run.query("SELECT conversation_id, first_response_ms FROM responsiveness WHERE tenant_id = 'globex' FORMAT TSV")
            .await,
        format!("generic:A\t{MINUTE}\n")
    );

    // A customer message from before everything else arrives last: the first response of A now
    // counts from it, and so does the latency of the reply that answered it.
    let late = generic(&[msg("a0", "email", "A", -10, "customer")]);
    run.produce(&late).await;
    run.wait_for(
        "SELECT count() FROM timeline",
        &(n + 1).to_string(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(run.query(responsiveness).await, answer(40 * MINUTE));
    assert_eq!(
        run.query("SELECT max(reply_latency_ms) FROM reply_latencies WHERE tenant_id = 'acme' AND conversation_id = 'generic:A'")
            .await
            .trim(),
        (40 * MINUTE).to_string()
    );
}

/// `count` synthetic chat messages over 100 conversations.
fn traffic(tag: &str, count: usize) -> Vec<Interaction> {
    let events: Vec<serde_json::Value> = (0..count)
        .map(|n| {
            let role = if n % 2 == 0 { "customer" } else { "agent" };
            msg(
                &format!("{tag}-{n}"),
                "chat",
                &format!("{tag}-c{}", n % 100),
                (n / 100) as i64,
                role,
            )
        })
        .collect();
    generic(&events)
}

fn ids(interactions: &[Interaction]) -> BTreeSet<String> {
    interactions
        .iter()
        .map(|i| i.event_id.to_string())
        .collect()
}

async fn stored_ids(run: &Run) -> BTreeSet<String> {
    run.query("SELECT event_id FROM timeline FORMAT TSV")
        .await
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn sigkill_mid_stream_then_restart_stores_every_event_once() {
    let run = Run::new("writer-kill", None, 200).await;
    let interactions = traffic("k", 3000);
    let mut writer = run.start().await;
    let producing = {
        let interactions = interactions.clone();
        let run_topics = run.topics.clone();
        let kafka = run.stack.kafka.clone();
        tokio::spawn(async move {
            let producer: FutureProducer = kafka.producer_config().create().unwrap();
            for i in &interactions {
                let payload = encode(i, Framing::SingleObject);
                producer
                    .send(
                        FutureRecord::to(&run_topics.interactions)
                            .key(&i.conversation_id)
                            .payload(&payload),
                        Timeout::Never,
                    )
                    .await
                    .expect("produced");
            }
        })
    };
    // A liveness bound, not a speed one: on a loaded machine the start (migrations) is slow.
    let deadline = Instant::now() + Duration::from_secs(180);
    while run.count_distinct().await < 500 {
        assert!(
            Instant::now() < deadline,
            "the writer never stored 500 rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.signal("KILL");
    let at_kill = run.count_distinct().await;
    assert!(
        at_kill < 3000,
        "killed too late to prove anything ({at_kill} stored)"
    );
    producing.await.unwrap();
    // Tansu keeps a member that died without leaving in the group, holding its partitions,
    // unless its session has expired before the next member joins (docs/ARCHITECTURE.md).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let _writer = run.start().await;
    run.wait_for(
        "SELECT count() FROM timeline",
        "3000",
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(stored_ids(&run).await, ids(&interactions));
}

/// A backlog's full batches share one state recompute (`batch.state_delay_ms`), and their
/// records complete only once it is stored: killed while the state of the first half's
/// conversations is still owed, the writer's successor reads those records again and counts
/// every event. Had their offsets been committed at insert, the first half's conversations
/// (which the second half does not touch) would keep no state.
#[tokio::test]
async fn a_backlog_shares_one_state_recompute_and_its_records_complete_only_with_it() {
    let run = Run::with_batch(
        "writer-owed",
        None,
        100,
        // Quiet means two seconds without a record here, so a loaded machine's pauses between
        // fetches do not end the backlog early.
        "idle_ms = 2000\nmax_delay_ms = 3000\nstate_delay_ms = 600000\nstate_max_conversations = 1000000\n",
    )
    .await;
    let first = traffic("a", 10_000);
    let second = traffic("b", 10_000);
    run.produce(&first).await;
    run.produce(&second).await;
    let mut writer = run.start().await;
    let deadline = Instant::now() + Duration::from_secs(180);
    while run.count_distinct().await < 10_000 {
        assert!(
            Instant::now() < deadline,
            "the writer never stored the first half"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A batch's rows are visible before the writer has counted its insert: read the counters
    // once they have caught up with the first half's 100 batches.
    let metrics = loop {
        let (_, metrics) = writer.get("/metrics").await;
        if metric_sum(&metrics, "rapport_writer_insert_seconds_count") >= 100.0
            || Instant::now() >= deadline
        {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    writer.signal("KILL");
    let at_kill = run.count_distinct().await;
    assert!(
        at_kill < 20_000,
        "killed too late to prove anything ({at_kill} stored)"
    );
    let counted = run
        .query("SELECT sum(events) FROM conversations FINAL")
        .await;
    assert_eq!(counted.trim(), "0", "the first half's state was still owed");
    let batches = metric_sum(&metrics, "rapport_writer_insert_seconds_count");
    let recomputes = metric_sum(&metrics, "rapport_writer_state_seconds_count");
    assert!(
        batches >= 100.0 && recomputes == 0.0,
        "{batches} batches, {recomputes} recomputes"
    );
    // Tansu keeps a member that died without leaving in the group, holding its partitions,
    // unless its session has expired before the next member joins (docs/ARCHITECTURE.md).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let writer = run.start().await;
    run.wait_for(
        "SELECT sum(events), count() FROM conversations FINAL",
        "20000\t200",
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(run.count_distinct().await, 20_000);
    let (_, metrics) = writer.get("/metrics").await;
    let batches = metric_sum(&metrics, "rapport_writer_insert_seconds_count");
    let recomputes = metric_sum(&metrics, "rapport_writer_state_seconds_count");
    assert!(
        recomputes * 10.0 <= batches,
        "one recompute for many batches: {batches} batches, {recomputes} recomputes"
    );
}

#[tokio::test]
async fn clickhouse_down_for_20s_mid_stream_loses_nothing() {
    let clickhouse = PrivateClickHouse::start("writer-outage");
    let run = Run::new("writer-outage", Some(clickhouse.url()), 100).await;
    let interactions = traffic("o", 1500);
    let writer = run.start().await;
    run.produce(&interactions[..500]).await;
    run.wait_for(
        "SELECT count() FROM timeline",
        "500",
        Duration::from_secs(60),
    )
    .await;

    assert_eq!(
        writer.get("/livez").await.0,
        200,
        "live while it makes progress"
    );
    clickhouse.down();
    run.produce(&interactions[500..]).await;
    // The writer holds a batch it cannot insert: its liveness probe turns red once that has
    // lasted kafka.stall_timeout_ms (5 s here), naming the partition.
    let red = tokio::time::Instant::now() + Duration::from_secs(15);
    let answer = loop {
        let (status, answer) = writer.get("/livez").await;
        if status == 503 || tokio::time::Instant::now() > red {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        answer.contains("stuck:") && answer.contains(&run.topics.interactions),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (_, metrics) = writer.get("/metrics").await;
    assert!(
        metrics.contains("rapport_writer_clickhouse_up 0"),
        "the outage shows in the metrics"
    );
    clickhouse.up();

    run.wait_for(
        "SELECT count() FROM timeline",
        "1500",
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(stored_ids(&run).await, ids(&interactions));
    let (_, metrics) = writer.get("/metrics").await;
    assert!(metrics.contains("rapport_writer_clickhouse_up 1"));
    assert_eq!(
        writer.get("/livez").await.0,
        200,
        "green again once unblocked"
    );
    let retries = metric_sum(&metrics, "rapport_writer_retries_total");
    assert!(retries >= 1.0, "retried during the outage ({retries})");
}

#[tokio::test]
async fn a_poisoned_row_goes_to_the_dlq_and_its_batch_mates_are_stored() {
    let run = Run::new("writer-poison", None, 1000).await;
    rapport_clickhouse::migrations::migrate(&run.clickhouse_config())
        .await
        .unwrap();
    // ClickHouse refuses this one row for its data, as it would a value it cannot store.
    run.query(
        "ALTER TABLE interaction_log ADD COLUMN guard UInt8 DEFAULT throwIf(source_event_id = 'p-17')",
    )
    .await;
    let interactions = traffic("p", 40);
    let poisoned = interactions
        .iter()
        .find(|i| i.source_event_id == "p-17")
        .unwrap()
        .clone();
    // A conversation id over the key bound (ids go into the state queries' `IN` lists, which the
    // store parses only up to 256 KiB): refused before it is stored.
    let mut oversized = interactions[0].clone();
    oversized.source_event_id = "big".into();
    oversized.event_id = rapport_model::event_id(&oversized.tenant_id, oversized.source, "big");
    oversized.conversation_id = format!("generic:{}", "x".repeat(rapport_model::MAX_KEY_BYTES));
    let _writer = run.start().await;
    run.produce(&interactions).await;
    run.produce(std::slice::from_ref(&oversized)).await;
    run.produce_bytes(b"not avro at all").await;

    let dead = run.dead_letters(3).await;
    assert_eq!(dead.len(), 3, "{dead:?}");
    let refused = dead
        .iter()
        .find(|d| d.0 == "oversized_key")
        .expect("oversized key refused");
    assert!(
        refused.1.contains("conversation_id is 1032 bytes"),
        "{}",
        refused.1
    );
    assert_eq!(refused.3, encode(&oversized, Framing::SingleObject));
    let rejected = dead
        .iter()
        .find(|d| d.0 == "clickhouse_rejected")
        .expect("row rejected");
    assert!(
        rejected.1.contains("clickhouse error 395"),
        "{}",
        rejected.1
    );
    assert_eq!(
        rejected.3,
        encode(&poisoned, Framing::SingleObject),
        "original bytes kept"
    );
    assert!(!rejected.2.is_empty());
    let undecodable = dead
        .iter()
        .find(|d| d.0 == "undecodable")
        .expect("garbage rejected");
    assert_eq!(undecodable.3, b"not avro at all");

    run.wait_for(
        "SELECT count() FROM timeline",
        "39",
        Duration::from_secs(30),
    )
    .await;
    let mut expected = ids(&interactions);
    expected.remove(&poisoned.event_id.to_string());
    assert_eq!(stored_ids(&run).await, expected);
}

#[tokio::test]
async fn a_table_that_does_not_match_refuses_to_start() {
    let run = Run::new("writer-schema", None, 100).await;
    rapport_clickhouse::migrations::migrate(&run.clickhouse_config())
        .await
        .unwrap();
    run.query("ALTER TABLE interaction_log DROP COLUMN language")
        .await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rapport-writer"))
        .arg("--config")
        .arg(&run.config)
        .env("RAPPORT_MIGRATE_ON_START", "false")
        .env("RAPPORT_HTTP__LISTEN", free_addr().to_string())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("column language is missing") && stderr.contains("rapport migrate"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_table_that_refuses_every_row_stops_the_writer_instead_of_flooding_the_dlq() {
    let run = Run::new("writer-flood", None, 1).await;
    rapport_clickhouse::migrations::migrate(&run.clickhouse_config())
        .await
        .unwrap();
    run.query(
        "ALTER TABLE interaction_log ADD COLUMN guard UInt8 DEFAULT throwIf(length(event_id) > 0)",
    )
    .await;
    run.produce(&traffic("f", 20)).await;
    let output = tokio::task::spawn_blocking({
        let config = run.config.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rapport-writer"))
                .arg("--config")
                .arg(config)
                .env("RAPPORT_BATCH__MAX_CONSECUTIVE_REJECTIONS", "5")
                .env("RAPPORT_HTTP__LISTEN", free_addr().to_string())
                .env("RUST_LOG", "error")
                .output()
                .unwrap()
        }
    });
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the writer stops by itself")
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("points at the table"), "{stderr}");
    // One-row batches: five rows were dead-lettered before the sixth refusal stopped it.
    assert_eq!(run.dead_letters(5).await.len(), 5);
}

#[tokio::test]
async fn sigterm_inserts_the_open_batch_before_exit() {
    let run = Run::new("writer-drain", None, 1000).await;
    // Nothing but shutdown would flush this batch within the test.
    let config = std::fs::read_to_string(&run.config)
        .unwrap()
        .replace("idle_ms = 50", "idle_ms = 600000")
        .replace("max_delay_ms = 300", "max_delay_ms = 600000");
    std::fs::write(&run.config, config).unwrap();
    let mut writer = run.start().await;
    let interactions = traffic("t", 25);
    run.produce(&interactions).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = writer.get("/metrics").await;
        if metric_sum(&metrics, "rapport_writer_pending_rows") == 25.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never filled: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        run.count_distinct().await,
        0,
        "nothing flushed before shutdown"
    );
    assert_eq!(writer.get("/readyz").await.0, 200);
    let status = writer.signal("TERM");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert_eq!(stored_ids(&run).await, ids(&interactions));
}

/// The two registry endpoints the writer reads, in-test: schema id 7 is the interaction schema,
/// every other id is unknown (HTTP 404 with the registry's error body).
async fn start_registry() -> String {
    use axum::extract::Path;
    use axum::http::StatusCode;
    let app = axum::Router::new().route(
        "/schemas/ids/{id}",
        axum::routing::get(|Path(id): Path<u32>| async move {
            if id == 7 {
                (
                    StatusCode::OK,
                    json!({"schema": rapport_model::INTERACTION_SCHEMA_JSON}).to_string(),
                )
            } else {
                (
                    StatusCode::NOT_FOUND,
                    json!({"error_code": 40403, "message": "Schema not found"}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn confluent_framed_records_decode_with_the_registry_schema() {
    let run = Run::new("writer-registry", None, 100).await;
    let url = start_registry().await;
    let mut config = std::fs::read_to_string(&run.config).unwrap();
    config.push_str(&format!("[registry]\nurl = \"{url}\"\n"));
    std::fs::write(&run.config, config).unwrap();
    let interactions = traffic("r", 3);
    let _writer = run.start().await;
    run.produce_bytes(&encode(
        &interactions[0],
        Framing::Confluent { schema_id: 7 },
    ))
    .await;
    run.produce(&interactions[1..2]).await;
    let unknown = encode(&interactions[2], Framing::Confluent { schema_id: 99 });
    run.produce_bytes(&unknown).await;

    let dead = run.dead_letters(1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "unknown_schema");
    assert!(dead[0].1.contains("99"), "{}", dead[0].1);
    assert_eq!(dead[0].3, unknown);
    run.wait_for("SELECT count() FROM timeline", "2", Duration::from_secs(30))
        .await;
    assert_eq!(stored_ids(&run).await, ids(&interactions[..2]));
}

#[tokio::test]
async fn the_writer_stores_business_time_and_sla_outcomes_with_its_rules() {
    let run = Run::new("writer-sla", None, 1000).await;
    // Weekdays 09:20-17:00 UTC; a 5-minute first response for acme.
    let rules = r#"
[business_hours]
default = "office"
[[business_hours.calendars.office.versions]]
zone = "UTC"
week = { mon = ["09:20-17:00"], tue = ["09:20-17:00"], wed = ["09:20-17:00"], thu = ["09:20-17:00"], fri = ["09:20-17:00"] }
[[sla.policies]]
name = "fast"
tenant = "acme"
first_response = "5m"
"#;
    let mut config = std::fs::read_to_string(&run.config).unwrap();
    config.push_str(rules);
    std::fs::write(&run.config, config).unwrap();
    let _writer = run.start().await;
    // Monday 09:00 a message, 09:30 the reply: 30 wall minutes, 10 business ones; due 09:25.
    run.produce(&generic(&[
        msg("a1", "email", "A", 0, "customer"),
        with(
            msg("a4", "email", "A", 30, "agent"),
            "actor",
            json!({"role": "agent", "id": "ana"}),
        ),
    ]))
    .await;
    run.wait_for(
        "SELECT count() FROM sla FINAL WHERE status != 'none'",
        "1",
        Duration::from_secs(60),
    )
    .await;
    // The state's tables are written one after another, `conversations` last.
    run.wait_for(
        "SELECT count() FROM conversations FINAL WHERE first_response_ms IS NOT NULL",
        "1",
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        run.query(
            "SELECT calendar, first_response_ms, first_response_business_ms FROM conversations FINAL \
             WHERE tenant_id = 'acme' FORMAT TSV"
        )
        .await,
        format!("office\t{}\t{}\n", 30 * MINUTE, 10 * MINUTE)
    );
    assert_eq!(
        run.query(
            "SELECT target, policy, status, breached_at_ms, agent_id FROM sla FINAL \
             WHERE tenant_id = 'acme' ORDER BY target FORMAT TSV"
        )
        .await,
        format!(
            "first_response\tfast\tbreached\t{}\tana\nnext_reply\t\tnone\t\\N\t\\N\nresolution\t\tnone\t\\N\t\\N\n",
            T0 + 25 * MINUTE
        )
    );
}
