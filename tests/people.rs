//! Every person is somebody, through the running pipeline (normalizer → writer, linker): every
//! customer-side interaction of review traffic ends on a customer's timeline, Google reviewers
//! included (they have no reviewer id; the photo URL's account part is their evidence), one
//! reviewer's reviews meet under one customer and strangers never share one, and the CLI finds a
//! reviewer by that identifier.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use rapport_model::Timestamp;
use rapport_testkit::{Stack, binary};
use rapport_traffic::{self as generate, Options, RawRecord};

mod support;
use support::{Pipeline, expected};

async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The reviewer identifier of each Google review record (`google_reviewer:photo:<token>`), by
/// review id, read from the payloads as the generator wrote them.
fn google_reviewers(records: &[RawRecord]) -> BTreeMap<String, String> {
    records
        .iter()
        .filter(|r| r.source == rapport_model::Source::Google)
        .filter_map(|r| {
            let review: serde_json::Value = serde_json::from_slice(&r.payload).ok()?;
            let url = review["reviewer"]["profilePhotoUrl"].as_str()?;
            let token = url.split("/a/").nth(1)?.split('=').next()?;
            Some((
                review["reviewId"].as_str()?.to_owned(),
                format!("google_reviewer:photo:{token}"),
            ))
        })
        .collect()
}

#[tokio::test]
async fn every_reviewer_is_a_customer_and_the_cli_finds_a_google_reviewer() {
    let stack = Stack::from_env();
    let pipeline = Pipeline::new(
        "e2e-people",
        stack.kafka.clone(),
        stack.clickhouse_url.clone(),
    )
    .await;
    let records = generate::generate(&Options {
        seed: 20,
        customers: 40,
        day: Timestamp::parse_rfc3339("2024-06-03T00:00:00Z").unwrap(),
        tenant: "acme".into(),
        agent_domain: "acme.com".into(),
        invalid_rate: 0.0,
        mix: "google=4,yelp=1,trustpilot=1".parse().unwrap(),
    });
    let (ids, invalid) = expected(&records);
    assert!(invalid.is_empty());
    let reviewers = google_reviewers(&records);
    let distinct: BTreeSet<&String> = reviewers.values().collect();
    assert!(distinct.len() >= 5, "{} Google reviewers", distinct.len());

    let _normalizer = pipeline.start("normalizer").await;
    let _writer = pipeline.start("writer").await;
    let _linker = pipeline.start("linker").await;
    pipeline.produce(&records).await;
    pipeline
        .wait_for_store(&ids, Duration::from_secs(120))
        .await;

    // Every customer-side interaction is on some customer's timeline once the linker stored the
    // identifiers: none is left with the empty id that strangers would share.
    let sql = "SELECT countIf(customer_id = ''), count() FROM customer_timeline \
               WHERE tenant_id = 'acme' AND actor_role = 'customer' FORMAT TSV";
    wait_until(
        "every customer event has a customer",
        Duration::from_secs(90),
        async || {
            let answer = pipeline.query(sql).await.unwrap_or_default();
            let counts: Vec<u64> = answer
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            counts.len() == 2 && counts[0] == 0 && counts[1] > 0
        },
    )
    .await;

    // One customer per Google reviewer: the reviewer's reviews meet, strangers stay apart.
    let per_source = pipeline
        .query(
            "SELECT source, uniqExact(customer_id), count() FROM customer_timeline \
             WHERE tenant_id = 'acme' AND actor_role = 'customer' GROUP BY source \
             ORDER BY source FORMAT TSV",
        )
        .await
        .expect("query answers");
    let google: Vec<u64> = per_source
        .lines()
        .find(|l| l.starts_with("google\t"))
        .expect("google reviews stored")
        .split('\t')
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        google[0],
        distinct.len() as u64,
        "one customer per reviewer: {per_source}"
    );

    // The CLI finds the reviewer with the most reviews by their identifier.
    let mut by_reviewer: BTreeMap<&String, usize> = BTreeMap::new();
    for reviewer in reviewers.values() {
        *by_reviewer.entry(reviewer).or_default() += 1;
    }
    let (reviewer, reviews) = by_reviewer
        .iter()
        .max_by_key(|(_, n)| **n)
        .expect("a reviewer");
    let out = Command::new(binary("rapport"))
        .args(["timeline", reviewer, "--tenant", "acme", "--json"])
        .env("RAPPORT_CONFIG", pipeline.dir.join("cli.toml"))
        .env("RUST_LOG", "error")
        .output()
        .expect("rapport runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let own_reviews = lines
        .iter()
        .filter(|l| l["kind"] == "review" && l["actor_role"] == "customer")
        .filter(|l| {
            l["identities"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i == reviewer.as_str()))
        })
        .count();
    assert!(
        own_reviews >= *reviews,
        "{reviewer}: {own_reviews} of {reviews} reviews on the timeline"
    );
}
