//! Against the local ClickHouse (`make up`), each test in its own database.

use std::time::Duration;

use rapport_clickhouse::migrations::{MIGRATIONS, migrate};
use rapport_clickhouse::{
    ClickHouseConfig, ClickHouseError, InteractionRow, check_interactions_table, insert_into,
    insert_isolating,
};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source,
    Timestamp, event_id,
};
use rapport_testkit::{Stack, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

fn config(stack: &Stack, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: stack.clickhouse_url.clone(),
        database: database.to_owned(),
        ..ClickHouseConfig::default()
    }
}

fn fresh_name(prefix: &str) -> String {
    unique_name(prefix).replace(['.', '-'], "_")
}

fn row(n: usize) -> InteractionRow {
    let source_event_id = if n == 7 {
        "poison".to_owned()
    } else {
        format!("m{n}")
    };
    let interaction = Interaction {
        event_id: event_id("acme", Source::Generic, &source_event_id),
        tenant_id: "acme".into(),
        channel: Channel::Chat,
        source: Source::Generic,
        source_event_id,
        kind: InteractionKind::Message,
        direction: Direction::Inbound,
        actor: Actor {
            role: ActorRole::Customer,
            id: Some("c-1".into()),
            name: Some("Maria".into()),
        },
        identities: vec![
            Identity::email("maria@example.com").unwrap(),
            Identity::phone("+14155552671", None).unwrap(),
        ],
        conversation_id: "generic:chat-1".into(),
        occurred_at: Timestamp::from_millis(1_717_400_000_000 + n as i64 * 1000),
        received_at: Timestamp::from_millis(1_717_400_100_000),
        subject: None,
        text: Some(format!("message {n}")),
        rating: None,
        status: None,
        tags: vec!["billing".into()],
        language: Some("en".into()),
        team: None,
        auto_reply: false,
        attachment_count: 0,
        attachment_names: vec![],
        raw_ref: None,
        threading: None,
    };
    InteractionRow::new(interaction, Timestamp::now())
}

#[tokio::test]
async fn migrations_are_idempotent_and_safe_to_run_concurrently() {
    let stack = Stack::from_env();
    let database = fresh_name("migrate");
    let config = config(&stack, &database);
    let runs = futures_join(&config).await;
    for run in &runs {
        let report = run.as_ref().expect("concurrent migrate succeeds");
        assert_eq!(
            report.applied.len() + report.already_applied.len(),
            MIGRATIONS.len()
        );
    }
    let again = migrate(&config).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.already_applied.len(), MIGRATIONS.len());
    let versions = stack
        .clickhouse(&format!(
            "SELECT count(DISTINCT version) FROM {database}.rapport_migrations"
        ))
        .await;
    assert_eq!(versions.trim(), MIGRATIONS.len().to_string());
    check_interactions_table(&config).await.unwrap();
    stack.drop_database(&database).await;
}

async fn futures_join(
    config: &ClickHouseConfig,
) -> Vec<Result<rapport_clickhouse::migrations::MigrationReport, ClickHouseError>> {
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move { migrate(&config).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn an_applied_migration_that_changed_is_refused() {
    let stack = Stack::from_env();
    let database = stack.database("edited").await;
    stack
        .clickhouse(&format!(
            "CREATE TABLE {database}.rapport_migrations (version UInt32, name String, checksum String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version"
        ))
        .await;
    stack
        .clickhouse(&format!(
            "INSERT INTO {database}.rapport_migrations VALUES (1, 'interactions', 'not-the-checksum', now())"
        ))
        .await;
    let error = migrate(&config(&stack, &database)).await.unwrap_err();
    assert!(
        error.to_string().contains("changed after it was applied"),
        "{error}"
    );
    stack.drop_database(&database).await;
}

#[tokio::test]
async fn the_schema_check_names_what_changed() {
    let stack = Stack::from_env();
    let database = fresh_name("schema");
    let config = config(&stack, &database);
    migrate(&config).await.unwrap();
    // A column the writer does not send is fine when the server can fill it.
    stack
        .clickhouse(&format!(
            "ALTER TABLE {database}.interaction_log ADD COLUMN ingest_host String DEFAULT 'x'"
        ))
        .await;
    check_interactions_table(&config).await.unwrap();
    stack
        .clickhouse(&format!(
            "ALTER TABLE {database}.interaction_log DROP COLUMN team"
        ))
        .await;
    let error = check_interactions_table(&config).await.unwrap_err();
    assert!(matches!(error, ClickHouseError::Schema(_)), "{error:?}");
    assert!(
        error.to_string().contains("column team is missing"),
        "{error}"
    );

    let missing = config_for_missing_table(&stack);
    let error = check_interactions_table(&missing).await.unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    stack.drop_database(&database).await;
}

fn config_for_missing_table(stack: &Stack) -> ClickHouseConfig {
    config(stack, "system")
}

#[tokio::test]
async fn a_rejected_row_is_isolated_and_its_batch_mates_are_stored() {
    let stack = Stack::from_env();
    let database = fresh_name("poison");
    let config = config(&stack, &database);
    migrate(&config).await.unwrap();
    // The server refuses one row for its data, as it would a value it cannot store.
    stack
        .clickhouse(&format!(
            "ALTER TABLE {database}.interaction_log ADD COLUMN poison UInt8 DEFAULT throwIf(source_event_id = 'poison')"
        ))
        .await;
    let rows: Vec<InteractionRow> = (0..20).map(row).collect();
    let client = config.client();
    let rejected = insert_isolating(&client, &rows, TIMEOUT).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].index, 7);
    assert!(
        rejected[0]
            .error
            .to_string()
            .contains("clickhouse error 395"),
        "{}",
        rejected[0].error
    );
    // Written twice: the deduplicated read still sees each event once.
    let clean: Vec<InteractionRow> = rows
        .iter()
        .filter(|r| r.source_event_id != "poison")
        .cloned()
        .collect();
    assert!(
        insert_isolating(&client, &clean, TIMEOUT)
            .await
            .unwrap()
            .is_empty()
    );
    let counts = stack
        .clickhouse(&format!(
            "SELECT count(), uniqExact(event_id) FROM {database}.interaction_log FINAL"
        ))
        .await;
    assert_eq!(counts.trim(), "19\t19");
    let identities = stack
        .clickhouse(&format!(
            "SELECT identity, count() FROM {database}.interaction_identities FINAL GROUP BY identity ORDER BY identity"
        ))
        .await;
    assert_eq!(
        identities,
        "email:maria@example.com\t19\nphone:+14155552671\t19\n"
    );
    stack.drop_database(&database).await;
}

#[tokio::test]
async fn a_table_that_rejects_every_row_is_fatal_not_a_dead_letter_storm() {
    let stack = Stack::from_env();
    let database = fresh_name("allbad");
    let config = config(&stack, &database);
    migrate(&config).await.unwrap();
    stack
        .clickhouse(&format!(
            "ALTER TABLE {database}.interaction_log ADD COLUMN poison UInt8 DEFAULT throwIf(length(event_id) > 0)"
        ))
        .await;
    let rows: Vec<InteractionRow> = (0..4).map(row).collect();
    let error = insert_isolating(&config.client(), &rows, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClickHouseError::AllRowsRejected { rows: 4, .. }),
        "{error:?}"
    );
    stack.drop_database(&database).await;
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let config = ClickHouseConfig {
        url: "http://127.0.0.1:9".into(),
        ..ClickHouseConfig::default()
    };
    let error = insert_isolating(&config.client(), &[row(1)], TIMEOUT)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

/// A customer message longer than the state's text preview whose 4,096th byte is inside a
/// character (a long message in Japanese, three bytes a character, has a two-in-three chance):
/// the preview is cut at the character before. A byte `substring` in the recompute's read made
/// the client refuse the String as invalid UTF-8, so the conversation's state could never be
/// recomputed and the writer retried its batch forever.
#[tokio::test]
async fn a_long_message_cut_inside_a_character_is_previewed_and_recomputed() {
    use rapport_clickhouse::state::{self, Rules, Touched};
    let stack = Stack::from_env();
    let database = stack.database("state_preview").await;
    let config = config(&stack, &database);
    migrate(&config).await.unwrap();
    let client = config.client();
    let text = format!("ab{}", "日本語".repeat(1_000));
    let mut message = row(1);
    message.text = Some(text.clone());
    rapport_clickhouse::insert_rows(&client, &[message], TIMEOUT)
        .await
        .unwrap();
    let touched = Touched::from([("acme".to_owned(), ["generic:chat-1".to_owned()].into())]);
    let rows = state::recompute(&client, &touched, 1, &Rules::default())
        .await
        .expect("recomputed");
    let preview = &rows.conversations[0].last_customer_text;
    // 2 + 3 × 1,364 bytes: the next character would end at byte 4,097.
    assert_eq!(preview.len(), 4_094);
    assert!(text.starts_with(preview.as_str()));
    stack.drop_database(&database).await;
}

/// A database of its own holding `n` interactions, each in a conversation whose id is at the key
/// bound: its number padded on the left with `pad`.
async fn stored_with_long_ids(
    name: &str,
    n: usize,
    pad: char,
) -> (Stack, String, clickhouse::Client, Vec<InteractionRow>) {
    let stack = Stack::from_env();
    let database = stack.database(name).await;
    let config = config(&stack, &database);
    migrate(&config).await.unwrap();
    let client = config.client();
    let rows: Vec<InteractionRow> = (0..n)
        .map(|i| {
            let mut r = row(i);
            let number = i.to_string();
            r.conversation_id =
                std::iter::repeat_n(pad, rapport_model::MAX_KEY_BYTES - number.len())
                    .chain(number.chars())
                    .collect();
            r
        })
        .collect();
    rapport_clickhouse::insert_rows(&client, &rows, TIMEOUT)
        .await
        .unwrap();
    (stack, database, client, rows)
}

/// A batch touching 300 conversations whose ids are each at the key bound (1 KiB): 300 KiB of
/// ids, more than the 256 KiB of SQL the server parses, so the reads are cut by bytes too.
#[tokio::test]
async fn a_batch_of_conversations_with_ids_at_the_key_bound_is_recomputed() {
    use rapport_clickhouse::state::{self, Rules, Touched};
    let (stack, database, client, rows) = stored_with_long_ids("state_long_ids", 300, '0').await;
    let touched = Touched::from([(
        "acme".to_owned(),
        rows.iter().map(|r| r.conversation_id.clone()).collect(),
    )]);
    let state = state::recompute(&client, &touched, 1, &Rules::default())
        .await
        .expect("recomputed");
    assert_eq!(state.conversations.len(), 300);
    stack.drop_database(&database).await;
}

/// `rapport-sla` asks which of a batch's events are stored with two key lists in one query, the
/// conversations and the event ids. Each is cut by `binds::halves`: with keys at the bound made
/// of quotes (each escaped to two bytes), two full `chunks` runs pass the 256 KiB the server
/// parses (code 62, which stops the service for good).
#[tokio::test]
async fn stored_events_are_found_with_two_key_lists_of_the_worst_keys() {
    use rapport_clickhouse::{binds, sla};
    let (stack, database, client, rows) =
        stored_with_long_ids("sla_stored_quotes", 100, '\'').await;
    let conversations: Vec<&String> = rows.iter().map(|r| &r.conversation_id).collect();
    // The stored events, and as many more that are not, as a batch's ids would be.
    let mut events: Vec<String> = rows.iter().map(|r| r.event_id.clone()).collect();
    events.extend((0..3_000).map(|n| format!("00000000-0000-0000-0000-{n:012}")));
    let conversation_runs = binds::halves(&conversations);
    let event_runs = binds::halves(&events);
    assert!(conversation_runs.len() > 1 && event_runs.len() > 1);
    let mut found = std::collections::HashSet::new();
    for ids in &conversation_runs {
        for wanted in &event_runs {
            found.extend(
                sla::stored_event_ids(&client, "acme", ids, wanted)
                    .await
                    .expect("both lists fit in one query"),
            );
        }
    }
    let stored: std::collections::HashSet<String> =
        rows.iter().map(|r| r.event_id.clone()).collect();
    assert_eq!(found, stored);
    stack.drop_database(&database).await;
}

/// A store of the previous release (migrations 1 to 8, the log in `interactions`) upgraded while
/// one of that release's writers keeps writing: the history moves to `interaction_log`, the
/// writer's later rows follow it, and every view and index reads them.
#[tokio::test]
async fn the_upgrade_moves_the_log_and_a_writer_of_the_previous_release_loses_nothing() {
    let stack = Stack::from_env();
    let database = stack.database("upgrade").await;
    let config = config(&stack, &database);
    let client = config.client();
    client
        .query(
            "CREATE TABLE rapport_migrations (version UInt32, name String, checksum String, \
             applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version",
        )
        .execute()
        .await
        .unwrap();
    let previous = &MIGRATIONS[..8];
    assert_eq!(previous.last().unwrap().version, 8);
    for migration in previous {
        for statement in migration.statements() {
            client.query(&statement).execute().await.unwrap();
        }
        client
            .query("INSERT INTO rapport_migrations VALUES (?, ?, ?, now())")
            .bind(migration.version)
            .bind(migration.name)
            .bind(migration.checksum())
            .execute()
            .await
            .unwrap();
    }
    let before: Vec<InteractionRow> = (0..20).map(row).collect();
    insert_into(&client, "interactions", &before, TIMEOUT)
        .await
        .unwrap();

    let report = migrate(&config).await.unwrap();
    assert_eq!(report.applied, [9]);
    let count = |sql: &'static str| {
        let stack = &stack;
        let database = &database;
        async move {
            stack
                .clickhouse(&sql.replace("{db}", database))
                .await
                .trim()
                .to_owned()
        }
    };
    assert_eq!(
        count("SELECT uniqExact(event_id) FROM {db}.interaction_log").await,
        "20"
    );
    // The partition key is what the move is for.
    assert_eq!(
        count("SELECT uniqExact(partition) FROM system.parts WHERE database = '{db}' AND table = 'interaction_log' AND active").await,
        "1"
    );

    // The previous release's writer, not yet replaced, appends to `interactions`.
    let after: Vec<InteractionRow> = (20..25).map(row).collect();
    insert_into(&client, "interactions", &after, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        count("SELECT uniqExact(event_id) FROM {db}.interaction_log").await,
        "25"
    );
    assert_eq!(
        count("SELECT uniqExact(event_id) FROM {db}.interaction_identities WHERE identity = 'email:maria@example.com'").await,
        "25"
    );
    assert_eq!(count("SELECT count() FROM {db}.timeline").await, "25");
    assert_eq!(
        count("SELECT count() FROM {db}.interaction_customers").await,
        "25"
    );
    check_interactions_table(&config).await.unwrap();
    stack.drop_database(&database).await;
}

/// The erasure's deletes are mutations that ClickHouse runs in no set order. When the
/// identifier index's delete has run before the log's, the log's delete (and the check of what is
/// left) must still find her events: they are selected by their own identifiers, not through the
/// index. Seen once under load as `rows of the customer kept arriving through 3 rounds`.
#[tokio::test]
async fn an_erasure_finds_her_events_when_the_index_was_emptied_first() {
    use rapport_clickhouse::erase;
    use rapport_clickhouse::forget::{KIND_IDENTITY, digest_hex};

    let stack = Stack::from_env();
    let database = stack.database("erase_order").await;
    let config = config(&stack, &database);
    migrate(&config).await.unwrap();
    let client = config.client();
    let rows: Vec<InteractionRow> = (0..5).map(row).collect();
    insert_into(&client, "interaction_log", &rows, TIMEOUT)
        .await
        .unwrap();
    client
        .query("INSERT INTO forgotten VALUES ('acme', ?, ?, 'cust-maria', 1)")
        .bind(KIND_IDENTITY)
        .bind(digest_hex("email:maria@example.com"))
        .execute()
        .await
        .unwrap();
    // The index's delete ran first.
    let before = erase::mutations(&client, &database).await.unwrap();
    client
        .query("ALTER TABLE interaction_identities DELETE WHERE tenant_id = 'acme'")
        .execute()
        .await
        .unwrap();
    erase::wait_for_mutations(
        &client,
        &database,
        &["interaction_identities"],
        &before,
        TIMEOUT,
        |_, _| {},
    )
    .await
    .unwrap();

    let left = erase::remaining(&client, "acme", "cust-maria")
        .await
        .unwrap();
    assert!(
        left.contains(&("interaction_log", 5)),
        "the check sees her events: {left:?}"
    );
    let before = erase::mutations(&client, &database).await.unwrap();
    let tables = erase::submit_deletes(&client, "acme", "cust-maria")
        .await
        .unwrap();
    erase::wait_for_mutations(&client, &database, &tables, &before, TIMEOUT, |_, _| {})
        .await
        .unwrap();
    let count = stack
        .clickhouse(&format!(
            "SELECT count() FROM {database}.interaction_log WHERE tenant_id = 'acme'"
        ))
        .await;
    assert_eq!(count.trim(), "0");
    stack.drop_database(&database).await;
}
