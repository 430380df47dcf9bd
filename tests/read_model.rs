//! The stored read model equals the query-time definition. Random conversations go through the
//! real writer with late, duplicated and out-of-order events, in several batches (so each
//! conversation is recomputed incrementally, from whatever had arrived), customers are merged;
//! then every stored row must equal what the views of `schemas/clickhouse/` compute from scratch
//! over the whole log: on ClickHouse 18.16 here, and on a current ClickHouse (chDB) through
//! `tests/sql/check_state.py`, which loads the same log and compares its views' answers with the
//! rows 18.16 stored. The read model's customer reads are compared with the `customer_timeline`
//! and `interaction_customers` views the same way.

use std::collections::BTreeMap;

use rapport_testkit::Stack;
use serde_json::json;

mod support;
use support::Pipeline;
use support::read_model::{self, comparisons};

#[tokio::test]
async fn the_stored_read_model_equals_the_views_for_any_arrival_order_on_both_engines() {
    let stack = Stack::from_env();
    let pipeline = Pipeline::new(
        "e2e-readmodel",
        stack.kafka.clone(),
        stack.clickhouse_url.clone(),
    )
    .await;
    let expected = read_model::check(&pipeline, ["t1", "t2"]).await;

    // The same comparisons on a current ClickHouse: the log and the customers go to chDB, its
    // views must give what 18.16 stored.
    let dir = pipeline.dir.join("chdb");
    std::fs::create_dir_all(&dir).unwrap();
    for table in ["interaction_log", "customers"] {
        let rows = pipeline
            .query(&format!("SELECT * FROM {table} FINAL FORMAT JSONEachRow"))
            .await
            .unwrap();
        std::fs::write(dir.join(format!("{table}.jsonl")), rows).unwrap();
    }
    let queries: BTreeMap<&str, &str> = comparisons().into_iter().map(|(n, _, s)| (n, s)).collect();
    std::fs::write(
        dir.join("compare.json"),
        json!({"queries": queries, "expected": expected}).to_string(),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/check_state.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&dir)
        .output()
        .expect("python3 runs (make chdb installs chdb-core)");
    assert!(
        output.status.success(),
        "chDB disagrees with the stored rows:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
