//! Golden tests: every file under `tests/golden/<source>/` is a native payload; its expected
//! output sits beside it as `<file>.expected.json`. Regenerate with `RAPPORT_BLESS=1 cargo test
//! -p rapport-channels --test golden` and review the diff like code.

use std::fs;
use std::path::PathBuf;

use rapport_channels::{Context, Limits, TenantConfig, read};
use rapport_model::{Source, Timestamp};
use serde_json::{Value, json};

const MIN_CASES_PER_SOURCE: usize = 8;

/// The one tenant every golden file is normalized for.
fn tenant() -> TenantConfig {
    TenantConfig {
        agent_domains: vec!["acme.com".into()],
        bot_ids: vec![
            "intercom:bot:814860".into(),
            "chatwoot:agent_bot:1".into(),
            "noreply@acme.com".into(),
        ],
        default_phone_region: Some("US".into()),
    }
}

fn cases(source: Source) -> Vec<PathBuf> {
    rapport_channels::fuzzing::golden_cases(source)
}

fn run(source: Source, payload: &[u8]) -> Value {
    let tenant = tenant();
    let limits = Limits::default();
    let ctx = Context {
        tenant_id: "acme",
        received_at: Timestamp::parse_rfc3339("2024-06-01T12:00:00Z").unwrap(),
        tenant: &tenant,
        limits: &limits,
        raw_ref: None,
    };
    match read(source, payload, &ctx) {
        Ok(outcome) => {
            let mut out = json!({ "interactions": outcome.interactions });
            // Only when present, so the files of payloads that give interactions stay as they were.
            if !outcome.rejected.is_empty() {
                out["rejected"] = outcome
                    .rejected
                    .iter()
                    .map(|r| {
                        json!({
                            "index": r.index,
                            "code": r.error.code().to_string(),
                            "message": r.error.to_string(),
                        })
                    })
                    .collect();
            }
            if let Some(skip) = outcome.skipped {
                out["skipped"] = json!({ "reason": skip.reason, "documented": skip.documented });
            }
            out
        }
        Err(err) => {
            json!({ "error": { "code": err.code().to_string(), "message": err.to_string() } })
        }
    }
}

#[test]
fn golden_outputs_match() {
    let bless = std::env::var_os("RAPPORT_BLESS").is_some();
    let mut failures = Vec::new();
    for source in Source::ALL {
        for case in cases(*source) {
            let payload = fs::read(&case).unwrap();
            let actual = run(*source, &payload);
            let expected_path = PathBuf::from(format!("{}.expected.json", case.display()));
            let rendered = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            if bless {
                fs::write(&expected_path, &rendered).unwrap();
                continue;
            }
            match fs::read_to_string(&expected_path) {
                Ok(expected) if expected == rendered => {}
                Ok(expected) => failures.push(format!(
                    "{}: output differs\n--- expected\n{expected}\n--- actual\n{rendered}",
                    case.display()
                )),
                Err(_) => failures.push(format!(
                    "{}: no {} (run with RAPPORT_BLESS=1)",
                    case.display(),
                    expected_path.display()
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_source_has_enough_golden_cases() {
    let thin: Vec<String> = Source::ALL
        .iter()
        .map(|s| (s, cases(*s).len()))
        .filter(|(_, n)| *n < MIN_CASES_PER_SOURCE)
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    assert!(
        thin.is_empty(),
        "sources with fewer than {MIN_CASES_PER_SOURCE} golden cases: {thin:?}"
    );
}

#[test]
fn detection_recognises_every_successful_golden_payload() {
    let mut wrong = Vec::new();
    for source in Source::ALL {
        for case in cases(*source) {
            let payload = fs::read(&case).unwrap();
            if run(*source, &payload).get("interactions").is_some()
                && rapport_channels::detect(&payload) != Some(*source)
            {
                wrong.push(format!(
                    "{} detected as {:?}",
                    case.display(),
                    rapport_channels::detect(&payload)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
