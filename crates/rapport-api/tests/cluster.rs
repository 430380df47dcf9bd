//! The API on a ClickHouse cluster answers exactly as on one server: the same fixture, stored
//! once on the local ClickHouse and once on a cluster of the test's own (ZooKeeper and 18.16
//! servers on loopback), gives the same answer to every endpoint and every view, on two shards
//! (acme and globex on different shards) and on one shard of two replicas. Run by
//! `make test-cluster`; `make test` skips it (ignored).

#[path = "support/fixture.rs"]
mod fixture;

use fixture::*;
use rapport_testkit::PrivateCluster;

#[tokio::test]
#[ignore = "needs ZooKeeper and a ClickHouse cluster: make test-cluster"]
async fn every_endpoint_and_view_answers_on_a_cluster_as_on_one_server() {
    let single = Fixture::new("api_single").await;
    let expected = answers(&single.serve().await, &single).await;
    assert!(expected.contains("maria@example.com"), "{expected}");
    for (shards, replicas) in [(2, 1), (1, 2)] {
        let cluster = PrivateCluster::start("api-cluster", shards, replicas);
        let fixture = Fixture::on_cluster(
            "api_cluster",
            cluster.url(0),
            cluster.name(),
            if replicas > 1 { replicas } else { 0 },
        )
        .await;
        if shards > 1 {
            // The tenants on different shards, or this would not show reads that span them.
            let mut held = Vec::new();
            for server in 0..cluster.len() {
                held.push(
                    reqwest::Client::new()
                        .post(cluster.url(server))
                        .body(format!(
                            "SELECT DISTINCT tenant_id FROM {}.interaction_log_local ORDER BY tenant_id",
                            fixture.database
                        ))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap(),
                );
            }
            held.sort();
            assert_eq!(held, ["acme\n", "globex\n"], "tenants by shard");
        }
        let answered = answers(&fixture.serve().await, &fixture).await;
        assert_eq!(
            answered, expected,
            "{shards} shard(s) of {replicas} replica(s) answer as one server"
        );
    }
    single.drop().await;
}
