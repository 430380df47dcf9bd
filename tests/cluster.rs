//! The pipeline on a ClickHouse cluster: ZooKeeper and ClickHouse 18.16 servers of the test's own
//! on loopback (`rapport_testkit::PrivateCluster`), the services configured with
//! `[clickhouse] cluster`, the local stack's broker. Run by `make test-cluster`; `make test`
//! skips them (ignored).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rapport_testkit::{CLUSTER_SESSION, PrivateCluster, Service, Stack, metric_sum, query_in_with};

mod support;
use support::{Pipeline, traffic};

/// The event ids of `interaction_log_local` on one server, each with how often `FINAL` shows it,
/// once the server fetched every part its replicas hold.
async fn local_events(url: &str, database: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let synced = query_in_with(
            url,
            database,
            "",
            "SYSTEM SYNC REPLICA interaction_log_local",
        )
        .await;
        if synced.is_some() {
            break;
        }
        // Right after a restart the replica may still be taking its place in ZooKeeper.
        assert!(Instant::now() < deadline, "{url} never synced its replica");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    query_in_with(
        url,
        database,
        "",
        "SELECT event_id FROM interaction_log_local FINAL ORDER BY event_id FORMAT TSV",
    )
    .await
    .expect("the local table answers")
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Produces the records in 40 chunks 600 ms apart (about 25 s), so that what a test does to the
/// cluster or the services lands while records still arrive.
fn paced_feed(
    pipeline: &Pipeline,
    records: Vec<rapport_traffic::RawRecord>,
) -> tokio::task::JoinHandle<()> {
    let (kafka, topics) = (pipeline.kafka.clone(), pipeline.topics.clone());
    tokio::spawn(async move {
        for chunk in records.chunks(records.len() / 40 + 1) {
            rapport_traffic::produce(chunk, &kafka, &topics)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    })
}

/// The same read-model check as on one server (tests/read_model.rs), on two shards: the writer's
/// `INSERT … SELECT` recomputations, the views and the read model's customer reads all go
/// through `Distributed` tables, and the two tenants of the traffic live on different shards.
#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn the_stored_read_model_equals_the_views_on_two_shards() {
    let stack = Stack::from_env();
    let cluster = PrivateCluster::start("e2e-shards", 2, 1);
    let pipeline = Pipeline::on_cluster(
        "e2e-shards",
        stack.kafka.clone(),
        cluster.url(0),
        cluster.name(),
        0,
    )
    .await;
    // Tenants that sipHash64 puts on different shards (t1 and t2 share one).
    support::read_model::check(&pipeline, ["t1", "t3"]).await;
    // Each tenant's rows on one shard, and the tenants on both shards: otherwise this test
    // would show nothing about reads that span shards.
    let mut holders = Vec::new();
    for server in 0..cluster.len() {
        let tenants = query_in_with(
            &cluster.url(server),
            &pipeline.database,
            "",
            "SELECT DISTINCT tenant_id FROM interaction_log_local ORDER BY tenant_id FORMAT TSV",
        )
        .await
        .unwrap();
        holders.push(tenants.lines().map(str::to_owned).collect::<Vec<_>>());
    }
    let spread: BTreeSet<&String> = holders.iter().flatten().collect();
    assert!(
        holders.iter().all(|h| h.len() == 1) && spread.len() == 2,
        "each shard holds one of the two tenants: {holders:?}"
    );
}

/// One shard of two replicas under the whole pipeline (normalizer, writer, linker on replica 0):
/// replica 1 is killed with SIGKILL mid-ingest and restarted, then replica 0, the one the
/// services talk to. Every interaction is stored once, on both replicas.
#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn a_replica_killed_mid_ingest_loses_nothing_and_counts_nothing_twice() {
    let stack = Stack::from_env();
    let cluster = PrivateCluster::start("e2e-replicas", 1, 2);
    let pipeline = Pipeline::on_cluster(
        "e2e-replicas",
        stack.kafka.clone(),
        cluster.url(0),
        cluster.name(),
        2,
    )
    .await;
    let (records, ids, _) = traffic(21);
    let _normalizer = pipeline.start("normalizer").await;
    let _writer = pipeline.start("writer").await;
    let _linker = pipeline.start("linker").await;
    // Slow enough that both kills land while records still arrive.
    let feeder = paced_feed(&pipeline, records);
    // Mid-ingest: once the first interactions are stored (the services' start-up, migrations
    // included, is over).
    let deadline = Instant::now() + Duration::from_secs(120);
    while pipeline
        .query("SELECT count() FROM interaction_log")
        .await
        .is_none_or(|n| n.trim() == "0")
    {
        assert!(Instant::now() < deadline, "nothing stored within 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.kill(1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.restore(1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !feeder.is_finished(),
        "the feed ended before the second kill; slow it down"
    );
    cluster.kill(0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.restore(0);
    feeder.await.unwrap();
    pipeline
        .wait_for_store(&ids, Duration::from_secs(240))
        .await;
    let expected: Vec<String> = ids.iter().cloned().collect();
    for server in 0..cluster.len() {
        let events = local_events(&cluster.url(server), &pipeline.database).await;
        assert_eq!(
            events.len(),
            events.iter().collect::<BTreeSet<_>>().len(),
            "replica {server} shows an event twice"
        );
        assert_eq!(events, expected, "replica {server}'s events");
    }
    // The linker recovered too: every identifier of the stored interactions has a customer.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unresolved = pipeline
            .query(
                "SELECT count() FROM interaction_identities FINAL \
                 WHERE identity NOT IN (SELECT identity FROM customers FINAL)",
            )
            .await;
        if unresolved.as_deref().map(str::trim) == Some("0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "identifiers without a customer: {unresolved:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The stored read model is the same on both replicas.
    for table in ["conversations", "replies", "customers"] {
        let rows = |server: usize| {
            let url = cluster.url(server);
            let database = pipeline.database.clone();
            async move {
                query_in_with(
                    &url,
                    &database,
                    CLUSTER_SESSION,
                    &format!("SELECT * FROM {table}_local FINAL ORDER BY tuple(*) FORMAT TSV"),
                )
                .await
                .unwrap()
            }
        };
        let first = rows(0).await;
        assert!(!first.is_empty(), "{table}: nothing stored");
        assert_eq!(first, rows(1).await, "{table} differs between the replicas");
    }
}

/// The stateless services scaled out over a two-shard cluster: a second normalizer and a second
/// writer join mid-stream, the second writer talking to the other server, and the first writer
/// leaves; every interaction is stored once.
#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn writers_on_different_servers_joining_and_leaving_lose_nothing() {
    let stack = Stack::from_env();
    let cluster = PrivateCluster::start("e2e-scale", 2, 1);
    let pipeline = Pipeline::on_cluster(
        "e2e-scale",
        stack.kafka.clone(),
        cluster.url(0),
        cluster.name(),
        0,
    )
    .await;
    // The second writer's configuration: the same group, the other server.
    let text = std::fs::read_to_string(pipeline.dir.join("writer.toml")).unwrap();
    let other = pipeline.dir.join("writer-other-server.toml");
    std::fs::write(&other, text.replacen(&cluster.url(0), &cluster.url(1), 1)).unwrap();
    let (records, ids, _) = traffic(22);
    let _first_normalizer = pipeline.start("normalizer").await;
    let mut first_writer = pipeline.start("writer").await;
    let feeder = paced_feed(&pipeline, records);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _second_normalizer = pipeline.start("normalizer").await;
    let second_writer = Service::start(
        rapport_testkit::binary("rapport-writer").to_str().unwrap(),
        &other,
        rapport_testkit::free_addr(),
        &std::env::var("RAPPORT_TEST_LOG").unwrap_or_else(|_| "warn".into()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(first_writer.signal("TERM").success());
    assert!(
        !feeder.is_finished(),
        "the feed ended before the first writer left"
    );
    feeder.await.unwrap();
    pipeline
        .wait_for_store(&ids, Duration::from_secs(180))
        .await;
    // Through the other server's Distributed tables too.
    let other_pipeline_view = query_in_with(
        &cluster.url(1),
        &pipeline.database,
        CLUSTER_SESSION,
        "SELECT count(), uniqExact(event_id) FROM timeline FORMAT TSV",
    )
    .await
    .unwrap();
    assert_eq!(
        other_pipeline_view,
        format!("{}\t{}\n", ids.len(), ids.len()),
        "the timeline through server 1"
    );
    let written = metric_sum(
        &second_writer.get("/metrics").await.1,
        "rapport_writer_messages_in_total",
    );
    assert!(written > 0.0, "the second writer wrote nothing");
}
