//! A small store for the ClickHouse-backed commands: two customers of tenant `acme` in their own
//! database. Maria writes by email (answered after 30 min, solved) and chat; Bob's email waits.

#![allow(dead_code)]

use std::process::{Command, Output};

use rapport_clickhouse::{ClickHouseConfig, InteractionRow};
use rapport_testkit::Stack;

pub const MARIA: [&str; 2] = ["email:maria@example.com", "intercom_contact:c-77"];
pub const BOB: &str = "email:bob@example.com";
/// 2024-06-03T09:00:00Z
pub const NINE: i64 = 1_717_405_200_000;
const MINUTE: i64 = 60_000;

pub struct Store {
    pub stack: Stack,
    pub config: ClickHouseConfig,
}

impl Store {
    pub async fn new(prefix: &str) -> Self {
        let stack = Stack::from_env();
        let database = stack.database(prefix).await;
        let config = ClickHouseConfig {
            url: stack.clickhouse_url.clone(),
            database,
            ..ClickHouseConfig::default()
        };
        rapport_clickhouse::migrations::migrate(&config)
            .await
            .unwrap();
        let rows = [
            row(
                "m1",
                "email:<t1@mail.example.com>",
                "email",
                "message",
                "inbound",
                "customer",
                &[("email", "maria@example.com")],
                NINE,
                "Where is my order 1234?",
            ),
            row(
                "m2",
                "email:<t1@mail.example.com>",
                "email",
                "message",
                "outbound",
                "agent",
                &[],
                NINE + 30 * MINUTE,
                "It ships today.",
            ),
            row(
                "m3",
                "email:<t1@mail.example.com>",
                "email",
                "status_change",
                "internal",
                "agent",
                &[],
                NINE + 66 * MINUTE,
                "",
            ),
            row(
                "m4",
                "intercom:1001",
                "chat",
                "message",
                "inbound",
                "customer",
                &[("intercom_contact", "c-77"), ("email", "maria@example.com")],
                NINE + 120 * MINUTE,
                "Thanks, it arrived",
            ),
            row(
                "b1",
                "email:<t2@mail.example.com>",
                "email",
                "message",
                "inbound",
                "customer",
                &[("email", "bob@example.com")],
                NINE + 180 * MINUTE,
                "Hello? Bob here",
            ),
        ];
        rapport_clickhouse::insert_rows(&config.client(), &rows, config.request_timeout())
            .await
            .unwrap();
        // The per-conversation state, as the writer keeps it.
        let touched = rapport_clickhouse::state::Touched::from([(
            "acme".to_owned(),
            rows.iter().map(|r| r.conversation_id.clone()).collect(),
        )]);
        let state = rapport_clickhouse::state::recompute(
            &config.client(),
            &touched,
            1,
            &rapport_clickhouse::state::Rules::default(),
        )
        .await
        .unwrap();
        rapport_clickhouse::state::store(&config.client(), &state, config.request_timeout())
            .await
            .unwrap();
        let db = &config.database;
        stack
            .clickhouse(&format!(
                "INSERT INTO {db}.customers VALUES ('acme', '{}', 'cust-maria', 1), ('acme', '{}', 'cust-maria', 1), ('acme', '{BOB}', 'cust-bob', 1)",
                MARIA[0], MARIA[1]
            ))
            .await;
        stack
            .clickhouse(&format!(
                "INSERT INTO {db}.customer_identities (tenant_id, customer_id, identity, active, changed_at_ms) \
                 VALUES ('acme', 'cust-maria', '{}', 1, 1), ('acme', 'cust-maria', '{}', 1, 1), ('acme', 'cust-bob', '{BOB}', 1, 1)",
                MARIA[0], MARIA[1]
            ))
            .await;
        stack
            .clickhouse(&format!(
                "INSERT INTO {db}.identity_links VALUES ('acme', '{}', '{}', 'linked', 'm4', 'intercom', {}, 1)",
                MARIA[0], MARIA[1], NINE + 120 * MINUTE
            ))
            .await;
        Self { stack, config }
    }

    /// Runs `rapport` against this database (and the stack's broker) with `env` added.
    pub fn rapport(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(args)
            .env("RAPPORT_CLICKHOUSE__URL", &self.config.url)
            .env("RAPPORT_CLICKHOUSE__DATABASE", &self.config.database)
            .env("RAPPORT_KAFKA__BROKERS", &self.stack.kafka.brokers)
            .env("RAPPORT_TENANT_ID", "acme")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    pub async fn drop(self) {
        self.stack.drop_database(&self.config.database).await;
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    event_id: &str,
    conversation_id: &str,
    channel: &str,
    kind: &str,
    direction: &str,
    role: &str,
    identities: &[(&str, &str)],
    occurred_at_ms: i64,
    text: &str,
) -> InteractionRow {
    InteractionRow {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        channel: channel.into(),
        source: if channel == "chat" {
            "intercom"
        } else {
            "rfc822"
        }
        .into(),
        source_event_id: event_id.into(),
        kind: kind.into(),
        direction: direction.into(),
        actor_role: role.into(),
        actor_id: (role == "agent").then(|| "anna@acme.com".into()),
        actor_name: (role == "agent").then(|| "Anna".into()),
        identity_types: identities.iter().map(|(t, _)| (*t).into()).collect(),
        identity_values: identities.iter().map(|(_, v)| (*v).into()).collect(),
        conversation_id: conversation_id.into(),
        occurred_at_ms,
        received_at_ms: occurred_at_ms,
        occurred_date: u16::try_from(occurred_at_ms / 86_400_000).unwrap(),
        subject: None,
        text: (!text.is_empty()).then(|| text.into()),
        rating: None,
        status: (kind == "status_change").then(|| "solved".into()),
        tags: Vec::new(),
        language: None,
        team: Some("billing".into()),
        auto_reply: 0,
        attachment_count: 0,
        attachment_names: Vec::new(),
        raw_topic: None,
        raw_partition: None,
        raw_offset: None,
        written_at_ms: 1,
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
