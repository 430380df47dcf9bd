//! `rapport timeline` and `rapport report` against a real ClickHouse.

mod common;

use common::{Store, explain, stdout};

#[tokio::test]
async fn timeline_merges_a_customers_channels_in_time_order() {
    let store = Store::new("cli_timeline").await;
    let out = store.rapport(&["timeline", "intercom_contact:c-77", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["m1", "m2", "m3", "m4"],
        "email thread and chat, oldest first, no Bob"
    );
    assert_eq!(events[0]["occurred_at"], "2024-06-03T09:00:00.000Z");

    let out = store.rapport(
        &[
            "timeline",
            "email:Maria@Example.com",
            "--limit",
            "2",
            "--channel",
            "email",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("customer cust-maria (tenant acme): 2 interactions\n"),
        "{text}"
    );
    assert!(
        text.contains("It ships today.") && text.contains("→ solved"),
        "the latest two: {text}"
    );
    assert!(!text.contains("order 1234"), "{text}");
    store.drop().await;
}

#[tokio::test]
async fn timeline_of_an_unknown_customer_exits_one_and_says_so() {
    let store = Store::new("cli_timeline_unknown").await;
    let out = store.rapport(&["timeline", "email:nobody@example.com"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("tenant acme has no customer \"email:nobody@example.com\""),
        "{}",
        explain(&out)
    );
    let out = store.rapport(&["timeline", "cust-bob", "--tenant", "other"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another tenant never sees it: {}",
        explain(&out)
    );
    store.drop().await;
}

#[tokio::test]
async fn report_prints_responsiveness_per_channel_as_a_table_and_json() {
    let store = Store::new("cli_report").await;
    let out = store.rapport(&["report"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("CHANNEL  FIRST RESP  FRT AVG  FRT P50  FRT P90  REPLIES"),
        "{text}"
    );
    let email: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("email"))
        .unwrap_or_else(|| panic!("an email line: {text}"))
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        email,
        [
            "email", "1", "30m 00s", "30m 00s", "30m 00s", "1", "30m 00s", "30m 00s", "1",
            "1h 06m", "1h 06m"
        ],
        "Maria's email answered after 30 minutes and solved after 66: {text}"
    );

    let out = store.rapport(
        &[
            "report",
            "--json",
            "--group-by",
            "day",
            "--from",
            "2024-06-03T00:00:00Z",
            "--to",
            "2024-06-04T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let day: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(day["key"], "2024-06-03");
    assert_eq!(day["first_response"]["count"], 1);
    assert_eq!(day["first_response"]["avg_ms"], 1_800_000);
    assert_eq!(day["first_resolution"]["avg_ms"], 66 * 60_000);

    let out = store.rapport(&["report", "--from", "2024-06-04T00:00:00Z"], &[]);
    assert!(
        stdout(&out).contains("(nothing measured in this window)"),
        "{}",
        explain(&out)
    );
    store.drop().await;
}
