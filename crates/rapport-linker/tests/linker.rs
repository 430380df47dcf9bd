//! The linker (and the writer, for the timelines) against the local broker and ClickHouse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_kafka::{Topics, ensure_topics};
use rapport_model::wire::{Framing, encode};
use rapport_model::{Interaction, Source, Timestamp};
use rapport_testkit::{
    ScratchDir, Service, Stack, free_addr, kafka_and_topics_toml, query_in, reader, unique_name,
    wait_for_answer,
};
use rdkafka::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::{Value, json};

struct Run {
    stack: Stack,
    topics: Topics,
    database: String,
    config: PathBuf,
    _files: ScratchDir,
}

impl Run {
    async fn new(name: &str) -> Self {
        let stack = Stack::from_env();
        let prefix = unique_name(name);
        let topics = Topics::prefixed(&prefix);
        ensure_topics(&stack.kafka, &topics.specs())
            .await
            .expect("topics created; is the stack up? run `make up`");
        let database = prefix.replace(['.', '-'], "_");
        let files = ScratchDir::new(&prefix);
        let config = files.join("service.toml");
        // One file both services read: the writer and the linker share every key used here.
        std::fs::write(
            &config,
            format!(
                "group_id = \"{prefix}\"\n\
                 [clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n\
                 [batch]\nmax_delay_ms = 200\n{}",
                stack.clickhouse_url,
                kafka_and_topics_toml(&stack.kafka, &topics),
            ),
        )
        .unwrap();
        Self {
            stack,
            topics,
            database,
            config,
            _files: files,
        }
    }

    async fn start(&self, binary: &str, group: &str) -> Service {
        let config = self.config.with_extension(format!("{group}.toml"));
        let mut text = std::fs::read_to_string(&self.config).unwrap().replacen(
            "group_id = \"",
            &format!("group_id = \"{group}-"),
            1,
        );
        if binary.ends_with("rapport-linker") {
            text.push_str(&format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"));
        }
        std::fs::write(&config, text).unwrap();
        Service::start(binary, &config, free_addr(), "warn,rapport_linker=info").await
    }

    async fn produce(&self, interactions: &[Interaction]) {
        let producer: FutureProducer = self.stack.kafka.producer_config().create().unwrap();
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

    /// The latest customer id published on the identity topic for each identifier key
    /// (`tenant/type:value`), read until the topic has been quiet for 2 s.
    async fn published_customers(&self) -> BTreeMap<String, String> {
        let consumer = reader(&self.stack.kafka, &[&self.topics.identity]);
        let mut latest = BTreeMap::new();
        while let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await
        {
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            let event: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
            latest.insert(key, event["customer_id"].as_str().unwrap().to_owned());
        }
        latest
    }

    async fn query(&self, sql: &str) -> Option<String> {
        query_in(&self.stack.clickhouse_url, &self.database, sql).await
    }

    async fn wait_for(&self, sql: &str, expected: &str) {
        wait_for_answer(
            &self.stack.clickhouse_url,
            &self.database,
            sql,
            expected,
            Duration::from_secs(60),
        )
        .await;
    }
}

/// Another workspace binary next to this package's (nextest builds the whole workspace; with
/// `-p rapport-linker` alone, build rapport-writer and rapport-cli first).
fn sibling_binary(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_rapport-linker")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace`",
        path.display()
    );
    path.display().to_string()
}

const ADMIN_TOKEN: &str = "linker-test-admin-token";

async fn call(linker: &Service, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call_as(linker, Some(ADMIN_TOKEN), method, path, body).await
}

async fn call_as(
    linker: &Service,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("http://{}{path}", linker.http);
    let client = reqwest::Client::new();
    let mut request = match body {
        Some(body) => client.request(method.parse().unwrap(), url).json(&body),
        None => client.request(method.parse().unwrap(), url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("linker answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn customer(linker: &Service, identity: &str) -> (String, BTreeSet<String>) {
    let (status, body) = call(
        linker,
        "GET",
        &format!("/v1/identity/acme/{identity}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let members = body["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    (body["customer_id"].as_str().unwrap().to_owned(), members)
}

fn generic(events: &[Value]) -> Vec<Interaction> {
    let (tenant, limits) = (TenantConfig::default(), Limits::default());
    events
        .iter()
        .flat_map(|event| {
            let mut event = event.clone();
            event["schema"] = json!("rapport.generic.v1");
            let ctx = Context {
                tenant_id: "acme",
                received_at: Timestamp::from_millis(1_717_500_000_000),
                tenant: &tenant,
                limits: &limits,
                raw_ref: None,
            };
            normalize(Source::Generic, &serde_json::to_vec(&event).unwrap(), &ctx).unwrap()
        })
        .collect()
}

fn event(id: &str, channel: &str, minute: u32, customer: Value) -> Value {
    json!({"event_id": id, "channel": channel, "conversation_id": format!("conv-{id}"),
           "occurred_at": format!("2024-06-03T09:{minute:02}:00Z"), "actor": {"role": "customer"},
           "kind": if channel == "review" { "review" } else { "message" },
           "customer": customer, "text": format!("{id} writes")})
}

/// Maria on four channels with partial overlaps; Bob; both write from one shared support
/// mailbox, which must never join them.
fn people() -> Vec<Interaction> {
    generic(&[
        event(
            "chat-1",
            "chat",
            0,
            json!({"email": "maria@example.com", "external_id": "crm-1"}),
        ),
        event(
            "ticket-1",
            "support",
            1,
            json!({"email": "maria@example.com", "phone": "+14155552671"}),
        ),
        event(
            "review-1",
            "review",
            2,
            json!({"phone": "+14155552671", "external_id": "rev-9"}),
        ),
        event("mail-1", "email", 3, json!({"external_id": "rev-9"})),
        event(
            "bob-1",
            "email",
            4,
            json!({"email": "bob@example.com", "external_id": "crm-2"}),
        ),
        event(
            "shared-1",
            "email",
            5,
            json!({"email": "support@shared.example", "external_id": "crm-2"}),
        ),
        event(
            "shared-2",
            "email",
            6,
            json!({"email": "support@shared.example", "external_id": "crm-1"}),
        ),
    ])
}

#[tokio::test]
async fn one_customer_across_channels_survives_restart_and_splits_on_unlink() {
    let run = Run::new("linker").await;
    let interactions = people();
    let _writer = run.start(&sibling_binary("rapport-writer"), "writer").await;
    let mut linker = run
        .start(env!("CARGO_BIN_EXE_rapport-linker"), "linker")
        .await;
    run.produce(&interactions).await;
    // Identifiers: maria, crm-1, phone, rev-9, bob, crm-2, support@shared.
    run.wait_for("SELECT count() FROM customers FINAL", "7")
        .await;
    run.wait_for("SELECT count() FROM timeline", "7").await;

    let maria: BTreeSet<String> = [
        "email:maria@example.com",
        "external_id:crm-1",
        "external_id:rev-9",
        "phone:+14155552671",
    ]
    .map(String::from)
    .into();
    let (maria_id, members) = customer(&linker, "email:maria@example.com").await;
    assert_eq!(members, maria, "four channels, one customer");
    let (bob_id, bob) = customer(&linker, "email:bob@example.com").await;
    assert_ne!(bob_id, maria_id);
    assert_eq!(bob.len(), 2, "{bob:?}");
    // The operator's view of the same answer, through the CLI, with the token from a file.
    let cli = sibling_binary("rapport");
    let token_file = run.config.with_file_name("linker-token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();
    let output = std::process::Command::new(&cli)
        .args([
            "identity",
            "show",
            "email:bob@example.com",
            "--tenant",
            "acme",
        ])
        .env("RAPPORT_LINKER_URL", format!("http://{}", linker.http))
        .env("RAPPORT_LINKER_TOKEN_FILE", &token_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["customer_id"], json!(bob_id));
    let (_, shared) = customer(&linker, "email:support@shared.example").await;
    assert_eq!(shared.len(), 1, "the shared mailbox links no one");
    // Downstream services learn the same answer from the identity topic.
    let published = run.published_customers().await;
    for identifier in &maria {
        assert_eq!(
            published.get(&format!("acme/{identifier}")),
            Some(&maria_id),
            "the last change event for {identifier}"
        );
    }
    assert_eq!(published.len(), 7, "one key per identifier: {published:?}");

    let timeline = |id: &str| {
        format!(
            "SELECT source_event_id FROM customer_timeline WHERE tenant_id = 'acme' AND customer_id = '{id}' ORDER BY occurred_at_ms FORMAT TSV"
        )
    };
    assert_eq!(
        run.query(&timeline(&maria_id)).await.unwrap(),
        "chat-1\nticket-1\nreview-1\nmail-1\n"
    );

    linker.signal("TERM");
    // As if a crash had hit after a batch's links were stored but before its customers were:
    // the stored customer of one identifier is stale. The restart must correct it.
    run.query("INSERT INTO customers SELECT 'acme', 'phone:+14155552671', '00000000-0000-0000-0000-000000000000', max(changed_at_ms) + 1 FROM customers WHERE identity = 'phone:+14155552671'")
        .await
        .expect("stale row inserted");
    let linker = run
        .start(env!("CARGO_BIN_EXE_rapport-linker"), "linker")
        .await;
    run.wait_for(
        "SELECT customer_id FROM customers FINAL WHERE identity = 'phone:+14155552671'",
        &maria_id,
    )
    .await;
    // The admin API answers only with the admin token: its answers hold every tenant's
    // identifiers, and unlink changes state.
    for token in [None, Some("wrong-token")] {
        let (status, body) = call_as(
            &linker,
            token,
            "GET",
            "/v1/identity/acme/phone:+14155552671",
            None,
        )
        .await;
        assert_eq!(status, 401, "{body}");
        let (status, _) = call_as(
            &linker,
            token,
            "POST",
            "/v1/identity/unlink",
            Some(json!({"tenant_id": "acme", "a": "phone:+14155552671"})),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (after_restart, members) = customer(&linker, "phone:+14155552671").await;
    assert_eq!(
        (after_restart.as_str(), &members),
        (maria_id.as_str(), &maria),
        "a restart reproduces the ids"
    );

    let (status, body) = call(
        &linker,
        "POST",
        "/v1/identity/unlink",
        Some(
            json!({"tenant_id": "acme", "a": "phone:+14155552671", "b": "email:maria@example.com"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (left, left_members) = customer(&linker, "email:maria@example.com").await;
    let (right, right_members) = customer(&linker, "phone:+14155552671").await;
    assert_ne!(left, right);
    assert_eq!(left_members.len() + right_members.len(), 4);
    // Every interaction is on exactly one customer's timeline, before and after the split.
    run.wait_for(
        "SELECT count(), uniqExact(event_id), uniqExact(customer_id) FROM customer_timeline",
        "7\t7\t4",
    )
    .await;
    assert_eq!(
        run.query(&timeline(&left)).await.unwrap(),
        "chat-1\nticket-1\n"
    );
    assert_eq!(
        run.query(&timeline(&right)).await.unwrap(),
        "review-1\nmail-1\n"
    );
    let (status, _) = call(
        &linker,
        "POST",
        "/v1/identity/unlink",
        Some(
            json!({"tenant_id": "acme", "a": "phone:+14155552671", "b": "email:maria@example.com"}),
        ),
    )
    .await;
    assert_eq!(status, 409, "nothing left to unlink");
}
