//! `rapport migrate` and `rapport forget` on a ClickHouse cluster of the test's own (ZooKeeper and
//! two 18.16 servers on loopback, two shards). Run by `make test-cluster`; `make test` skips it.

use std::process::{Command, Output};

use rapport_testkit::{CLUSTER_SESSION, PrivateCluster, query_in_with, unique_name};

fn rapport(url: &str, database: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .env("RAPPORT_CLICKHOUSE__URL", url)
        .env("RAPPORT_CLICKHOUSE__DATABASE", database)
        .env("RAPPORT_CLICKHOUSE__CLUSTER", "rapport")
        .env("RAPPORT_TENANT_ID", "acme")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn migrate_prints_and_creates_the_cluster_store_and_forget_refuses_to_run_there() {
    let cluster = PrivateCluster::start("cli-cluster", 2, 1);
    let database = unique_name("cli_cluster").replace(['.', '-'], "_");
    let (url, other) = (cluster.url(0), cluster.url(1));
    let databases = |url: String| {
        let database = database.clone();
        async move {
            query_in_with(
                &url,
                "default",
                "",
                &format!("SELECT count() FROM system.databases WHERE name = '{database}'"),
            )
            .await
            .unwrap()
        }
    };

    // --print shows the cluster form and changes nothing.
    let out = rapport(&url, &database, &["migrate", "--print"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "-- 001_interactions.sql",
        &format!("CREATE TABLE IF NOT EXISTS {database}.interactions_local ON CLUSTER rapport"),
        "ENGINE = ReplicatedReplacingMergeTree(",
        &format!(
            "ENGINE = Distributed(rapport, {database}, interactions_local, sipHash64(tenant_id))"
        ),
        "-- 009_interaction_log.sql",
        &format!("CREATE TABLE IF NOT EXISTS {database}.interaction_log_local ON CLUSTER rapport"),
    ] {
        assert!(printed.contains(expected), "{expected} not in:\n{printed}");
    }
    assert_eq!(
        databases(url.clone()).await.trim(),
        "0",
        "--print created nothing"
    );

    // The migrations through one server create the store on both; a second run has nothing to do.
    let out = rapport(&url, &database, &["migrate"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(databases(other.clone()).await.trim(), "1");
    let engine = query_in_with(
        &other,
        &database,
        "",
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'interaction_log'",
    )
    .await
    .unwrap();
    assert_eq!(engine.trim(), "Distributed");
    let again = rapport(&other, &database, &["migrate"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", explain(&again));
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains(": applied"),
        "{}",
        explain(&again)
    );
    // The layout check runs in the CLI too: a quorum no shard can reach is refused.
    let quorum = rapport(
        &url,
        &database,
        &["migrate"],
        &[("RAPPORT_CLICKHOUSE__INSERT_QUORUM", "2")],
    );
    assert_ne!(quorum.status.code(), Some(0), "{}", explain(&quorum));
    assert!(
        String::from_utf8_lossy(&quorum.stderr).contains("no insert could be acknowledged"),
        "{}",
        explain(&quorum)
    );

    // forget refuses to run on a cluster, before it reads or deletes anything.
    query_in_with(
        &url,
        &database,
        CLUSTER_SESSION,
        "INSERT INTO customers (tenant_id, identity, customer_id, changed_at_ms) \
         VALUES ('acme', 'email:maria@example.com', 'c-maria', 1)",
    )
    .await
    .expect("customer inserted");
    // The read commands read the views through the Distributed tables.
    for args in [
        &["timeline", "email:maria@example.com"][..],
        &[
            "report",
            "--from",
            "2024-06-01T00:00:00Z",
            "--to",
            "2024-06-10T00:00:00Z",
        ][..],
    ] {
        let out = rapport(&url, &database, args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", explain(&out));
    }
    let out = rapport(
        &url,
        &database,
        &["forget", "email:maria@example.com", "--yes"],
        &[("RAPPORT_LINKER_URL", "http://127.0.0.1:1")],
    );
    assert_ne!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not run on a ClickHouse cluster yet"),
        "{}",
        explain(&out)
    );
    let left = query_in_with(
        &url,
        &database,
        CLUSTER_SESSION,
        "SELECT count() FROM customers",
    )
    .await
    .unwrap();
    assert_eq!(left.trim(), "1", "nothing was deleted");
}
