//! `rapport forget` leaves no row of the customer in any table of the database.

mod common;

use common::{BOB, MARIA, Store, explain, stdout};

/// Every row, in any table or view with a tenant_id column, whose String or Array(String)
/// columns mention one of `needles`.
async fn rows_mentioning(store: &Store, needles: &[&str]) -> Vec<String> {
    let client = store.config.client().with_setting("wait_end_of_query", "1");
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = ?")
        .bind(&store.config.database)
        .fetch_all()
        .await
        .unwrap();
    let needles: Vec<String> = needles.iter().map(|s| (*s).to_owned()).collect();
    let mut found = Vec::new();
    for table in tables {
        let columns: Vec<(String, String)> = client
            .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
            .bind(&store.config.database)
            .bind(&table)
            .fetch_all()
            .await
            .unwrap();
        if !columns.iter().any(|(name, _)| name == "tenant_id") {
            continue;
        }
        let conditions: Vec<String> = columns
            .iter()
            .filter_map(|(name, kind)| match kind.as_str() {
                "String" | "Nullable(String)" => {
                    Some(format!("has(?, ifNull(toNullable(`{name}`), ''))"))
                }
                "Array(String)" => Some(format!("hasAny(?, `{name}`)")),
                _ => None,
            })
            .collect();
        let mut query = client.query(&format!(
            "SELECT toString(count()) FROM `{table}` WHERE tenant_id = 'acme' AND ({})",
            conditions.join(" OR ")
        ));
        for _ in &conditions {
            query = query.bind(&needles);
        }
        let count: String = query.fetch_one().await.unwrap();
        if count != "0" {
            found.push(format!("{table}: {count}"));
        }
    }
    found
}

#[tokio::test]
async fn forget_leaves_no_row_of_the_customer_in_any_table() {
    let store = Store::new("cli_forget").await;
    let identity_topic = store.stack.topic("cli-forget-identity", 1).await;
    let maria = [MARIA[0], MARIA[1], "cust-maria", "m1", "m2", "m3", "m4"];
    let bob = [BOB, "cust-bob", "b1"];
    let before = rows_mentioning(&store, &maria).await;
    for table in [
        "interaction_log",
        "customers",
        "conversations",
        "replies",
        "resolutions",
    ] {
        assert!(
            before.iter().any(|l| l.starts_with(&format!("{table}:"))),
            "the scan finds Maria in {table} before: {before:?}"
        );
    }

    let out = store.rapport(&["forget", "email:maria@example.com"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    assert!(
        stdout(&out).contains("2 identifiers, 4 interactions"),
        "{}",
        explain(&out)
    );
    assert!(
        !rows_mentioning(&store, &maria).await.is_empty(),
        "nothing deleted without --yes"
    );

    // No linker runs here: the tombstones are published by the CLI itself.
    let env = [
        ("RAPPORT_TOPICS__IDENTITY", identity_topic.as_str()),
        ("RAPPORT_LINKER_URL", "http://127.0.0.1:1"),
    ];
    let out = store.rapport(&["forget", "email:maria@example.com", "--yes"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        stdout(&out).contains("every delete is done and no row is left")
            && stdout(&out).contains("linker: not reachable"),
        "{}",
        explain(&out)
    );

    // Only the forget list still names her customer id (and the digests of her 2 identifiers, of
    // the conversation whose unidentified events are hers, and of the 2 conversations whose state
    // was recomputed; never the identifiers themselves).
    assert_eq!(
        rows_mentioning(&store, &maria).await,
        ["forgotten: 5".to_owned()]
    );
    let plain: Vec<&str> = MARIA.to_vec();
    assert_eq!(
        rows_mentioning(&store, &plain).await,
        Vec::<String>::new(),
        "no identifier in plain text anywhere"
    );
    let left = rows_mentioning(&store, &bob).await;
    for table in [
        "interaction_log: 1",
        "interaction_identities: 1",
        "customers: 1",
        "timeline: 1",
        "conversations: 1",
    ] {
        assert!(left.iter().any(|l| l == table), "Bob untouched: {left:?}");
    }

    let tombstones = store.rapport(&["consume", &identity_topic, "--idle-ms", "3000"], &[]);
    let records = stdout(&tombstones);
    for identity in MARIA {
        assert!(
            records.contains(&format!("\"key\":\"acme/{identity}\"")),
            "{records}"
        );
    }
    assert!(
        records
            .lines()
            .all(|l| l.contains("\"payload_base64\":\"\"")),
        "{records}"
    );
    store.drop().await;
}
