//! `rapport forget` through the running pipeline: one customer's 10,000 events are erased, then
//! the linker restarts and the raw topics are replayed from the start, and nothing of that
//! customer comes back: no row, no identifier, no link; everyone else is untouched.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_channels::{Context, Limits, normalize};
use rapport_model::{Channel, Source, Timestamp};
use rapport_testkit::{Stack, binary, metric_sum};
use rapport_traffic::RawRecord;
use serde_json::json;

mod support;
use support::{ADMIN_TOKEN, Pipeline, tenant, traffic};

const MARIA: &str = "maria.forget@example.com";
const MARIA_PHONE: &str = "+14155550199";
/// 100 generic batches of 100 events: 100 conversations of Maria's, each with 80 of her
/// messages and 20 agent replies that carry no identifier.
const CONVERSATIONS: usize = 100;
const PER_CONVERSATION: usize = 100;

fn maria_records() -> Vec<RawRecord> {
    (0..CONVERSATIONS)
        .map(|c| {
            let events: Vec<serde_json::Value> = (0..PER_CONVERSATION)
                .map(|n| {
                    let at = format!("2024-06-03T{:02}:{:02}:{:02}Z", 8 + c / 60, c % 60, n % 60);
                    if n % 5 == 4 {
                        json!({"event_id": format!("maria-{c}-{n}"), "channel": "chat",
                               "conversation_id": format!("maria-conv-{c}"), "occurred_at": at,
                               "actor": {"role": "agent", "id": "agent-1"}, "text": "an answer"})
                    } else {
                        json!({"event_id": format!("maria-{c}-{n}"), "channel": "chat",
                               "conversation_id": format!("maria-conv-{c}"), "occurred_at": at,
                               "direction": "inbound",
                               "customer": {"email": MARIA, "phone": MARIA_PHONE},
                               "text": format!("message {n}")})
                    }
                })
                .collect();
            RawRecord {
                channel: Channel::Chat,
                key: format!("maria-conv-{c}"),
                source: Source::Generic,
                tenant: "acme".into(),
                received_at: Timestamp::parse_rfc3339("2024-06-03T12:00:00Z").unwrap(),
                payload: serde_json::to_vec(
                    &json!({"schema": "rapport.generic.v1", "events": events}),
                )
                .unwrap(),
                invalid: false,
            }
        })
        .collect()
}

/// The event ids of records, normalized in-process as the normalizer does.
fn event_ids(records: &[RawRecord]) -> BTreeSet<String> {
    let (tenant, limits) = (tenant(), Limits::default());
    records
        .iter()
        .flat_map(|r| {
            let ctx = Context {
                tenant_id: "acme",
                received_at: r.received_at,
                tenant: &tenant,
                limits: &limits,
                raw_ref: None,
            };
            normalize(r.source, &r.payload, &ctx).expect("valid payload")
        })
        .map(|i| i.event_id.to_string())
        .collect()
}

/// Rows anywhere in the store that name Maria (identifiers, conversations, events).
async fn maria_rows(pipeline: &Pipeline) -> Vec<String> {
    let checks = [
        (
            "interaction_log",
            "SELECT count() FROM interaction_log WHERE tenant_id = 'acme' AND \
             (has(identity_values, 'maria.forget@example.com') OR conversation_id LIKE 'generic:maria-conv-%')",
        ),
        (
            "interaction_identities",
            "SELECT count() FROM interaction_identities WHERE tenant_id = 'acme' AND \
             (identity LIKE '%maria.forget%' OR identity LIKE '%5550199%')",
        ),
        (
            "identity_links",
            "SELECT count() FROM identity_links WHERE tenant_id = 'acme' AND \
             (identity_a LIKE '%maria.forget%' OR identity_b LIKE '%maria.forget%' \
              OR identity_a LIKE '%5550199%' OR identity_b LIKE '%5550199%')",
        ),
        (
            "customers",
            "SELECT count() FROM customers WHERE tenant_id = 'acme' AND \
             (identity LIKE '%maria.forget%' OR identity LIKE '%5550199%')",
        ),
        (
            "customer_identities",
            "SELECT count() FROM customer_identities WHERE tenant_id = 'acme' AND \
             (identity LIKE '%maria.forget%' OR identity LIKE '%5550199%')",
        ),
        (
            "conversations",
            "SELECT count() FROM conversations WHERE tenant_id = 'acme' AND \
             (has(identities, 'email:maria.forget@example.com') OR conversation_id LIKE 'generic:maria-conv-%')",
        ),
        (
            "replies",
            "SELECT count() FROM replies WHERE tenant_id = 'acme' AND conversation_id LIKE 'generic:maria-conv-%'",
        ),
        (
            "resolutions",
            "SELECT count() FROM resolutions WHERE tenant_id = 'acme' AND conversation_id LIKE 'generic:maria-conv-%'",
        ),
        (
            "waiting",
            "SELECT count() FROM waiting WHERE tenant_id = 'acme' AND conversation_id LIKE 'generic:maria-conv-%'",
        ),
    ];
    let mut found = Vec::new();
    for (table, sql) in checks {
        let count = pipeline.query(sql).await.expect("query answers");
        if count.trim() != "0" {
            found.push(format!("{table}: {}", count.trim()));
        }
    }
    found
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_forgotten_customer_never_comes_back_after_a_linker_restart_and_a_full_replay() {
    let stack = Stack::from_env();
    let pipeline = Pipeline::new(
        "e2e-forget",
        stack.kafka.clone(),
        stack.clickhouse_url.clone(),
    )
    .await;
    let (others, other_ids, _) = traffic(31);
    let maria = maria_records();
    let maria_ids = event_ids(&maria);
    assert_eq!(maria_ids.len(), CONVERSATIONS * PER_CONVERSATION);
    let all: BTreeSet<String> = other_ids.union(&maria_ids).cloned().collect();

    let _normalizer = pipeline.start("normalizer").await;
    let writer = pipeline.start("writer").await;
    let mut linker = pipeline.start("linker").await;
    pipeline.produce(&others).await;
    pipeline.produce(&maria).await;
    pipeline
        .wait_for_store(&all, Duration::from_secs(180))
        .await;
    wait_until("the linker stored Maria", Duration::from_secs(60), async || {
        pipeline
            .query("SELECT count() FROM customers FINAL WHERE identity = 'email:maria.forget@example.com'")
            .await
            .is_some_and(|c| c.trim() == "1")
    })
    .await;
    // The erasure below has something to delete in every kind of table, the writer's
    // per-conversation state included.
    wait_until(
        "Maria is in every kind of table",
        Duration::from_secs(60),
        async || {
            let found = maria_rows(&pipeline).await;
            [
                "interaction_log",
                "customer_identities",
                "conversations",
                "replies",
            ]
            .iter()
            .all(|t| found.iter().any(|f| f.starts_with(&format!("{t}:"))))
        },
    )
    .await;

    let forget = Command::new(binary("rapport"))
        .args([
            "forget",
            &format!("email:{MARIA}"),
            "--tenant",
            "acme",
            "--yes",
        ])
        .env("RAPPORT_CONFIG", pipeline.dir.join("cli.toml"))
        .env("RAPPORT_LINKER_URL", format!("http://{}", linker.http))
        .env("RAPPORT_LINKER_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&forget.stdout).into_owned();
    assert!(
        forget.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&forget.stderr)
    );
    assert!(said.contains("linker: 2 identifiers forgotten"), "{said}");
    assert!(said.contains("10000 interactions"), "{said}");
    assert_eq!(maria_rows(&pipeline).await, Vec::<String>::new());
    let (status, _) = linker
        .get_with_token(&format!("/v1/identity/acme/email:{MARIA}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 404, "the linker no longer knows her");

    // The linker restarts (restoring from the store), and the raw topics are read again from
    // the start by a normalizer of a new group: every record of hers arrives once more.
    linker.signal("TERM");
    let linker = pipeline.start("linker").await;
    let replay = pipeline.start_with_group("normalizer", "replay").await;
    wait_until(
        "the replay went through the writer and the linker",
        Duration::from_secs(180),
        async || {
            let written = metric_sum(
                &writer.get("/metrics").await.1,
                "rapport_writer_messages_in_total",
            );
            let linked = metric_sum(
                &linker.get("/metrics").await.1,
                "rapport_linker_interactions_in_total",
            );
            written >= (2 * all.len()) as f64 && linked >= all.len() as f64
        },
    )
    .await;
    // One more batch interval, so the last inserts of the replay have landed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(replay);

    assert_eq!(
        maria_rows(&pipeline).await,
        Vec::<String>::new(),
        "nothing of hers came back"
    );
    let dropped = metric_sum(
        &writer.get("/metrics").await.1,
        "rapport_writer_forgotten_dropped_total",
    );
    assert!(
        dropped >= maria_ids.len() as f64,
        "the writer dropped the replay: {dropped}"
    );
    let (status, _) = linker
        .get_with_token(&format!("/v1/identity/acme/email:{MARIA}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 404, "the restarted linker does not know her either");
    let stored = pipeline
        .query("SELECT uniqExact(event_id) FROM interaction_log FINAL WHERE tenant_id = 'acme'")
        .await
        .unwrap();
    assert_eq!(
        stored.trim(),
        other_ids.len().to_string(),
        "everyone else is untouched"
    );
}
