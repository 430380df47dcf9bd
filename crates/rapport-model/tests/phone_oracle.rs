//! `normalize_phone` against Google's libphonenumber, through its Python port `phonenumbers`.
//!
//! `tests/oracle/phones.py` writes the cases and libphonenumber's answer to each (E.164, or "not a
//! phone") from the installed, pinned package; every one of them must come out of our code the
//! same. `make oracles` installs the package.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use rapport_model::normalize_phone;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Oracle {
    phonenumbers: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    raw: String,
    default_region: Option<String>,
    /// The region the number belongs to, `001` for non-geographic entities (`+800`, …).
    number_region: String,
    /// How the case was made, e.g. `example/national` or `mutation/too_long`.
    kind: String,
    /// libphonenumber's E.164 answer, or `None` for "not a phone".
    expected: Option<String>,
}

fn oracle() -> Oracle {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/phones.py");
    let output = match Command::new("python3").arg(&script).output() {
        Ok(output) => output,
        Err(error) => {
            panic!("the phone oracle needs python3 ({error}): install it, then run `make oracles`")
        }
    };
    assert!(
        output.status.success(),
        "{} failed ({}): {}\nrun `make oracles` to install the pinned oracle packages",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).expect("the phone oracle writes one JSON document")
}

fn region_name(region: Option<&str>) -> &str {
    region.unwrap_or("none")
}

/// How a case came out: (cases, differences).
type Tally = BTreeMap<String, (usize, usize)>;

fn count(tally: &mut Tally, key: &str, differs: bool) {
    let entry = tally.entry(key.to_owned()).or_default();
    entry.0 += 1;
    entry.1 += usize::from(differs);
}

fn report(title: &str, tally: &Tally, out: &mut String) {
    let _ = writeln!(out, "{title}:");
    let mut rows: Vec<_> = tally.iter().filter(|(_, (_, bad))| *bad > 0).collect();
    rows.sort_by_key(|(key, (_, bad))| (std::cmp::Reverse(*bad), key.as_str()));
    for (key, (all, bad)) in rows {
        let _ = writeln!(out, "  {key:<28} {bad:>6} of {all:>6} differ");
    }
}

#[test]
fn normalize_phone_answers_as_libphonenumber_does() {
    let oracle = oracle();
    assert!(
        oracle.cases.len() > 100_000,
        "the oracle made only {} cases",
        oracle.cases.len()
    );
    let valid = oracle.cases.iter().filter(|c| c.expected.is_some()).count();
    assert!(
        valid > oracle.cases.len() / 3 && valid < oracle.cases.len() * 9 / 10,
        "the oracle calls {valid} of {} cases valid: it is not asking what we ask",
        oracle.cases.len()
    );
    let (mut by_default, mut by_number, mut by_kind) = (Tally::new(), Tally::new(), Tally::new());
    let mut first = String::new();
    let mut differences = 0;
    for case in &oracle.cases {
        let ours = normalize_phone(&case.raw, case.default_region.as_deref()).ok();
        let differs = ours != case.expected;
        let default = region_name(case.default_region.as_deref());
        count(&mut by_default, default, differs);
        count(&mut by_number, &case.number_region, differs);
        count(&mut by_kind, &case.kind, differs);
        if differs {
            differences += 1;
            if differences <= 40 {
                let _ = writeln!(
                    first,
                    "  {:?} default {default} ({} {}): libphonenumber {:?}, ours {ours:?}",
                    case.raw, case.number_region, case.kind, case.expected
                );
            }
        }
    }
    if differences > 0 {
        let mut out = format!(
            "{differences} of {} cases differ from libphonenumber (phonenumbers {})\n",
            oracle.cases.len(),
            oracle.phonenumbers
        );
        report("by default region", &by_default, &mut out);
        report("by region of the number", &by_number, &mut out);
        report("by kind of case", &by_kind, &mut out);
        let _ = writeln!(out, "first differences:\n{first}");
        panic!("{out}");
    }
}
