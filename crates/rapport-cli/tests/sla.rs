//! Business hours and SLAs against a real ClickHouse: `rapport recompute` after the calendar and
//! policies change (counts, dry run, idempotence), then `rapport report --clock business` and
//! `rapport sla` read what it stored, and `rapport sla` agrees with the `sla_weekly` view.

mod common;

use common::{Store, explain, stdout};
use serde_json::Value;

/// Weekdays 09:20-17:00 UTC; a 15-minute first response, an 8-hour resolution.
const RULES: &str = r#"
[business_hours]
default = "office"

[[business_hours.calendars.office.versions]]
zone = "UTC"
[business_hours.calendars.office.versions.week]
mon = ["09:20-17:00"]
tue = ["09:20-17:00"]
wed = ["09:20-17:00"]
thu = ["09:20-17:00"]
fri = ["09:20-17:00"]

[sla]
at_risk_before = "5m"

[[sla.policies]]
name = "standard"
tenant = "acme"
first_response = "15m"
resolution = "8h"
"#;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn recompute_applies_new_rules_once_and_the_reports_read_them() {
    let store = Store::new("cli_sla").await;
    let dir = std::env::temp_dir().join(format!("rapport-cli-sla-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("rapport.toml");
    std::fs::write(&config, RULES).unwrap();
    let config = config.to_str().unwrap();
    let window = [
        "--from",
        "2024-06-01T00:00:00Z",
        "--to",
        "2024-06-10T00:00:00Z",
    ];

    // Stored with the default rules (wall time, no policies): the same rules change nothing.
    let out = store.rapport(&[&["recompute"][..], &window].concat(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        stdout(&out)
            .starts_with("tenant acme: 3 conversations recomputed, 0 changed, 0 rows changed\n"),
        "{}",
        explain(&out)
    );

    // New rules: every conversation gets the office calendar. Maria's email (09:00, answered
    // 09:30, solved 10:06) changes its conversation, reply and resolution rows; each of the
    // three conversations gets a first response and a resolution outcome.
    let expected = "3 conversations recomputed, 3 changed, 11 rows";
    let out = store.rapport(
        &[&["--config", config, "recompute", "--dry-run"][..], &window].concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let text = stdout(&out);
    assert!(
        text.contains(expected) && text.contains("dry run"),
        "{text}"
    );
    let out = store.rapport(
        &[&["--config", config, "recompute"][..], &window].concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("{expected} changed")), "{text}");
    for table in ["conversations: 3", "replies: 1", "resolutions: 1", "sla: 6"] {
        assert!(text.contains(table), "{table} in {text}");
    }
    let out = store.rapport(
        &[&["--config", config, "recompute"][..], &window].concat(),
        &[],
    );
    assert!(
        stdout(&out).contains("3 conversations recomputed, 0 changed, 0 rows changed"),
        "idempotent: {}",
        explain(&out)
    );

    // The email's first response took 30 wall minutes, 10 business ones (the office opens 09:20).
    let out = store.rapport(&["report", "--json", "--clock", "business"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let lines = json_lines(&stdout(&out));
    let email = lines.iter().find(|l| l["key"] == "email").unwrap();
    assert_eq!(email["first_response"]["avg_ms"], 600_000, "{lines:?}");
    let out = store.rapport(&["report", "--json"], &[]);
    let lines = json_lines(&stdout(&out));
    let email = lines.iter().find(|l| l["key"] == "email").unwrap();
    assert_eq!(email["first_response"]["avg_ms"], 1_800_000, "{lines:?}");

    // First response: the email met its 09:35 due time; Maria's chat (11:00) and Bob's email
    // (12:00) are unanswered and long overdue. Resolution: only the email was solved, in time.
    let out = store.rapport(&["sla", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    let lines = json_lines(&stdout(&out));
    let pick = |target: &str| {
        lines
            .iter()
            .find(|l| l["target"] == target)
            .unwrap()
            .clone()
    };
    let first = pick("first_response");
    assert_eq!(
        (&first["met"], &first["breached"], &first["met_pct"]),
        (&Value::from(1), &Value::from(2), &Value::from(33.3)),
        "{lines:?}"
    );
    let resolution = pick("resolution");
    assert_eq!(
        (&resolution["met"], &resolution["breached"]),
        (&Value::from(1), &Value::from(2)),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "no next reply cycle: {lines:?}");

    // The view's weekly rows add up to the same numbers.
    let db = &store.config.database;
    let view = store
        .stack
        .clickhouse(&format!(
            "SELECT target, sum(conversations), sum(met), sum(breached), sum(active), sum(paused) \
             FROM {db}.sla_weekly WHERE tenant_id = 'acme' GROUP BY target ORDER BY target FORMAT TSV"
        ))
        .await;
    let mut cli: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                l["target"].as_str().unwrap(),
                l["conversations"],
                l["met"],
                l["breached"],
                l["active"],
                l["paused"]
            )
        })
        .collect();
    cli.sort();
    assert_eq!(view.lines().collect::<Vec<_>>(), cli);
    let out = store.rapport(&["sla", "--group-by", "week"], &[]);
    assert!(
        stdout(&out).contains("2024-06-03  first_response"),
        "{}",
        explain(&out)
    );

    std::fs::remove_dir_all(&dir).unwrap();
    store.drop().await;
}
