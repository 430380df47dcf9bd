//! Cluster mode on a real cluster: ZooKeeper and four ClickHouse 18.16 servers on loopback (two
//! shards of two replicas), started by the test (`rapport_testkit::PrivateCluster`). Run by
//! `make test-cluster`, which installs ZooKeeper; ignored by `make test`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rapport_clickhouse::migrations::{MIGRATIONS, migrate};
use rapport_clickhouse::{ClickHouseConfig, InteractionRow, cluster, insert_rows};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source,
    Timestamp, event_id,
};
use rapport_testkit::{PrivateCluster, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

fn config(cluster: &PrivateCluster, server: usize, database: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: cluster.url(server),
        database: database.to_owned(),
        cluster: Some(cluster.name().to_owned()),
        ..ClickHouseConfig::default()
    }
}

/// Runs `sql` on one server: the body, or the server's refusal as an error.
async fn query(url: &str, sql: &str) -> Result<String, String> {
    let response = reqwest::Client::new()
        .post(url)
        .timeout(TIMEOUT)
        .body(sql.to_owned())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if ok { Ok(body) } else { Err(body) }
}

async fn answer(url: &str, sql: &str) -> String {
    query(url, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .trim()
        .to_owned()
}

fn row(tenant: &str, n: usize) -> InteractionRow {
    let source_event_id = format!("{tenant}-m{n}");
    let interaction = Interaction {
        event_id: event_id(tenant, Source::Generic, &source_event_id),
        tenant_id: tenant.into(),
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
        identities: vec![Identity::email("maria@example.com").unwrap()],
        conversation_id: format!("generic:chat-{}", n % 7),
        occurred_at: Timestamp::from_millis(1_717_400_000_000 + n as i64 * 1000),
        received_at: Timestamp::from_millis(1_717_400_100_000),
        subject: None,
        text: Some(format!("message {n}")),
        rating: None,
        status: None,
        tags: vec![],
        language: None,
        team: None,
        auto_reply: false,
        attachment_count: 0,
        attachment_names: vec![],
        raw_ref: None,
        threading: None,
    };
    InteractionRow::new(interaction, Timestamp::from_millis(1_717_400_200_000))
}

/// Eight tenants' rows: with sipHash64 sharding some land on each shard (asserted below).
fn rows() -> Vec<InteractionRow> {
    (0..8)
        .flat_map(|t| (0..50).map(move |n| row(&format!("tenant{t}"), n)))
        .collect()
}

/// The rows of `interaction_log_local` on one server, as (tenant, rows) pairs, once every replica
/// of its shard fetched what the others hold.
async fn local_rows(url: &str, database: &str) -> BTreeMap<String, u64> {
    answer(
        url,
        &format!("SYSTEM SYNC REPLICA {database}.interaction_log_local"),
    )
    .await;
    answer(
        url,
        &format!(
            "SELECT tenant_id, count() FROM {database}.interaction_log_local GROUP BY tenant_id FORMAT TSV"
        ),
    )
    .await
    .lines()
    .map(|l| {
        let (tenant, n) = l.split_once('\t').unwrap();
        (tenant.to_owned(), n.parse().unwrap())
    })
    .collect()
}

#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn migrations_from_every_server_at_once_create_the_store_on_every_server() {
    let cluster = PrivateCluster::start("ch-migrate", 2, 2);
    let database = unique_name("migrate").replace(['.', '-'], "_");
    // Four runners at once, one per server, as four services starting together.
    let runs: Vec<_> = (0..cluster.len())
        .map(|i| {
            let config = config(&cluster, i, &database);
            tokio::spawn(async move { migrate(&config).await })
        })
        .collect();
    for run in runs {
        let report = run
            .await
            .unwrap()
            .expect("concurrent cluster migrate succeeds");
        assert_eq!(
            report.applied.len() + report.already_applied.len(),
            MIGRATIONS.len()
        );
    }
    let tables = |url: String| {
        let database = database.clone();
        async move {
            answer(
                &url,
                &format!(
                    "SELECT name, engine FROM system.tables WHERE database = '{database}' ORDER BY name FORMAT TSV"
                ),
            )
            .await
        }
    };
    let first = tables(cluster.url(0)).await;
    for engine in [
        "interactions\tDistributed",
        "interactions_local\tReplicatedReplacingMergeTree",
        "interaction_log\tDistributed",
        "interaction_log_local\tReplicatedReplacingMergeTree",
        "interactions_forward\tMaterializedView",
        "waiting_local\tReplicatedCollapsingMergeTree",
        "interaction_identities_mv\tMaterializedView",
        "rapport_migrations\tReplicatedReplacingMergeTree",
        "timeline\tView",
    ] {
        assert!(first.contains(engine), "{engine} missing:\n{first}");
    }
    for i in 1..cluster.len() {
        assert_eq!(tables(cluster.url(i)).await, first, "server {i}'s tables");
        // The record is replicated to every server: each sees every version once.
        assert_eq!(
            answer(
                &cluster.url(i),
                &format!("SELECT count(DISTINCT version) FROM {database}.rapport_migrations")
            )
            .await,
            MIGRATIONS.len().to_string()
        );
    }
    // A run with nothing to do sends no ON CLUSTER statement, so it does not wait for a server
    // that is down: a service restarting during an outage of one replica starts.
    cluster.kill(3);
    let started = Instant::now();
    let again = migrate(&config(&cluster, 0, &database)).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.already_applied.len(), MIGRATIONS.len());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an up-to-date store took {:?}",
        started.elapsed()
    );
    cluster.up(3);
    // The layout check: server 0 holds a replica of shard 1 only, so shard 2 is read on a
    // replica that may not have fetched the last write yet, unless the writes wait for a quorum.
    let error = cluster::check(&config(&cluster, 0, &database))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("set clickhouse.insert_quorum"), "{error}");
    let quorum = ClickHouseConfig {
        insert_quorum: 2,
        ..config(&cluster, 0, &database)
    };
    cluster::check(&quorum).await.unwrap();
    let too_many = ClickHouseConfig {
        insert_quorum: 3,
        ..config(&cluster, 0, &database)
    };
    let error = cluster::check(&too_many).await.unwrap_err().to_string();
    assert!(error.contains("no insert could be acknowledged"), "{error}");
}

#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn a_retried_batch_is_stored_once_on_every_replica_and_each_tenant_on_one_shard() {
    let cluster = PrivateCluster::start("ch-dedup", 2, 2);
    let database = unique_name("dedup").replace(['.', '-'], "_");
    let writer = ClickHouseConfig {
        insert_quorum: 2,
        ..config(&cluster, 0, &database)
    };
    migrate(&writer).await.unwrap();
    let rows = rows();
    let client = writer.client();
    insert_rows(&client, &rows, TIMEOUT).await.unwrap();
    // The writer's retry after a lost answer: the same rows in the same order, so every shard
    // receives the same block again and its replicas' deduplication drops it.
    insert_rows(&client, &rows, TIMEOUT).await.unwrap();
    // The same batch sent to a replica of the other shard, as a writer instance that took over
    // the partition would after the first one died mid-answer.
    let other = ClickHouseConfig {
        insert_quorum: 2,
        ..config(&cluster, 3, &database)
    };
    insert_rows(&other.client(), &rows, TIMEOUT).await.unwrap();
    // In another order: a block is known by the part it makes, whose rows are sorted.
    let mut reversed = rows.clone();
    reversed.reverse();
    insert_rows(&client, &reversed, TIMEOUT).await.unwrap();

    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        *expected.entry(row.tenant_id.clone()).or_default() += 1;
    }
    let mut shards: BTreeMap<u32, BTreeMap<String, u64>> = BTreeMap::new();
    for i in 0..cluster.len() {
        let here = local_rows(&cluster.url(i), &database).await;
        // Both replicas of a shard hold the same rows, each once (no FINAL: duplicates would
        // show as extra rows here).
        match shards.get(&cluster.shard(i)) {
            Some(replica) => assert_eq!(&here, replica, "server {i} differs from its replica"),
            None => {
                shards.insert(cluster.shard(i), here);
            }
        }
    }
    let mut union = BTreeMap::new();
    for (shard, tenants) in &shards {
        assert!(!tenants.is_empty(), "shard {shard} holds no tenant");
        for (tenant, n) in tenants {
            assert!(
                union.insert(tenant.clone(), *n).is_none(),
                "tenant {tenant} is on two shards"
            );
        }
    }
    assert_eq!(union, expected, "every row once, on its tenant's shard");
    // Through the Distributed table, from any server: every row once.
    for i in 0..cluster.len() {
        assert_eq!(
            answer(
                &cluster.url(i),
                &format!("SELECT count() FROM {database}.interaction_log")
            )
            .await,
            rows.len().to_string(),
            "count through server {i}"
        );
    }
}

/// The cluster form of every migration parses on a current ClickHouse (chdb's `formatQuery`),
/// as `make sqlcheck` runs the single-server SQL there: 18.16 runs it in the tests above. chdb
/// cannot run it (no ZooKeeper), so this is the parser's word only. Needs no cluster, so `make
/// test` runs it (after `make sqlcheck` installed chdb).
#[test]
fn every_cluster_statement_parses_on_a_current_clickhouse() {
    use std::io::Write;
    let config = ClickHouseConfig {
        database: "rapport".into(),
        cluster: Some("rapport".into()),
        ..ClickHouseConfig::default()
    };
    let statements: Vec<String> = rapport_clickhouse::migrations::statements_for(&config)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert!(statements.len() > 20, "{} statements", statements.len());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sql/parse_check.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&statements).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains(&format!("{0} of {0} statements parse", statements.len())),
        "{said}"
    );
}
