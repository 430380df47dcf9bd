//! The monitoring that ships beside the services, checked against the services themselves:
//!
//! - every metric name the alert rules (`deploy/prometheus/rules.yml`) and the Grafana ops
//!   dashboard (`deploy/grafana/dashboards/ops.json`) use is in a service's metric catalogue, with
//!   the suffixes its kind allows, and each catalogue is exactly what its crate records (names,
//!   kinds and labels), so a renamed metric breaks the build, not a dashboard;
//! - `promtool check rules` and `promtool test rules` pass, every alert has unit-test series
//!   that fire it and series that must not, and every query of the ops dashboard parses as
//!   PromQL;
//! - the `PrometheusRule` of `deploy/k8s/monitoring/` carries the same groups as `rules.yml`;
//! - both dashboards are well-formed (unique ids, panels on the 24-column grid without overlap,
//!   data sources that the provisioning file declares), and every SQL query of the analyst
//!   dashboard runs on ClickHouse 18.16 against the migrated schema, the main panels giving the
//!   hand-computed answers on a few rows of the read model (one tenant's only).
//!
//! Grafana itself is not installable here (no Debian package): the dashboards are checked by
//! structure and by running their queries, not by loading them into a Grafana.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use rapport_clickhouse::{ClickHouseConfig, migrations};
use rapport_runtime::metrics::{HTTP_METRICS, Kind, Metric};
use rapport_testkit::Stack;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every metric some service exports, by name, and which crate declares it.
fn catalogues() -> BTreeMap<&'static str, Vec<Metric>> {
    BTreeMap::from([
        ("rapport-api", rapport_api::metrics::catalogue()),
        ("rapport-gateway", rapport_gateway::metrics::catalogue()),
        (
            "rapport-normalizer",
            rapport_normalizer::metrics::catalogue(),
        ),
        ("rapport-writer", rapport_writer::metrics::catalogue()),
        ("rapport-linker", rapport_linker::metrics::catalogue()),
        ("rapport-runtime", HTTP_METRICS.to_vec()),
    ])
}

fn exported() -> BTreeMap<String, Kind> {
    let mut all = BTreeMap::new();
    for metric in catalogues().into_values().flatten() {
        all.insert(metric.name.to_string(), metric.kind);
    }
    all
}

/// The `rapport_…` metric names in a text (PromQL, YAML or JSON): recording rules are named
/// `rapport:…` and job labels `rapport-…`, so neither is taken for a metric.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("rapport_") {
        let start = at + found;
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(text.len() - start);
        if !preceded {
            names.insert(text[start..end].to_owned());
        }
        at = end;
    }
    names
}

/// The catalogue metric a series name belongs to: itself, or a histogram's `_bucket`, `_count`
/// or `_sum` series.
fn series_of<'a>(name: &'a str, exported: &BTreeMap<String, Kind>) -> Option<(&'a str, Kind)> {
    if let Some(kind) = exported.get(name) {
        return match kind {
            Kind::Histogram(_) => None, // a histogram has no series of its bare name
            kind => Some((name, *kind)),
        };
    }
    ["_bucket", "_count", "_sum"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        match exported.get(base)? {
            kind @ Kind::Histogram(_) => Some((base, *kind)),
            _ => None,
        }
    })
}

#[test]
fn every_metric_the_rules_and_the_ops_dashboard_use_is_exported() {
    let exported = exported();
    for path in [
        "deploy/prometheus/rules.yml",
        "deploy/prometheus/tests/rules.test.yml",
        "deploy/grafana/dashboards/ops.json",
        "deploy/k8s/monitoring/prometheusrule.yaml",
    ] {
        let used = metric_names(&read(path));
        assert!(!used.is_empty(), "{path} names no metric");
        for name in &used {
            assert!(
                series_of(name, &exported).is_some(),
                "{path} uses {name}, which no service exports (a renamed or mistyped metric?)"
            );
        }
    }
    // The dashboard shows what the issue asks of it.
    let ops = read("deploy/grafana/dashboards/ops.json");
    for (what, name) in [
        ("consumer lag", "rapport:consumer_lag:sum"),
        ("dead letters by code", "rapport_writer_dlq_total"),
        ("insert latency", "rapport_writer_insert_seconds_bucket"),
        ("in flight", "rapport_normalizer_in_flight_messages"),
        (
            "stuck partitions",
            "rapport_writer_partition_stalled_seconds",
        ),
        ("throughput", "rapport_writer_rows_written_total"),
    ] {
        assert!(
            ops.contains(name),
            "the ops dashboard has no {what} ({name})"
        );
    }
}

#[test]
fn the_name_scan_finds_metrics_and_only_metrics() {
    let names = metric_names(
        r#"rate(rapport_writer_dlq_total[5m]) / rapport:records_in:rate5m{job="rapport-writer"} x_rapport_no"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["rapport_writer_dlq_total".to_owned()])
    );
    let exported = exported();
    assert!(series_of("rapport_writer_insert_seconds_bucket", &exported).is_some());
    assert!(series_of("rapport_writer_insert_seconds", &exported).is_none());
    assert!(series_of("rapport_writer_rows_written_total_bucket", &exported).is_none());
    assert!(series_of("rapport_writer_rows_written", &exported).is_none());
}

/// What a crate's code records: the names of `counter!`, `gauge!` and `histogram!` calls with a
/// literal name, with the macro and the label names (`"code" => …`) of each call.
type Recorded = BTreeMap<String, (&'static str, BTreeSet<String>)>;

fn recorded(dir: &Path, found: &mut Recorded) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            recorded(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The code after a crate's `#[cfg(test)]` module records test metrics only.
        let text = text.split("#[cfg(test)]").next().unwrap();
        for (mac, kind) in [
            ("counter!(", "counter"),
            ("gauge!(", "gauge"),
            ("histogram!(", "histogram"),
        ] {
            for (at, _) in text.match_indices(mac) {
                let rest = text[at + mac.len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"') else {
                    continue;
                };
                let name = &literal[..literal.find('"').unwrap()];
                // The call's arguments: up to the parenthesis that closes the macro.
                let mut depth = 1;
                let end = literal
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(literal.len(), |(i, _)| i);
                let pieces: Vec<&str> = literal[..end].split("=>").collect();
                // Each piece but the last ends with a label's quoted name.
                let labels: BTreeSet<String> = pieces[..pieces.len() - 1]
                    .iter()
                    .filter_map(|before| {
                        let quoted = before.trim_end().strip_suffix('"')?;
                        Some(quoted[quoted.rfind('"')? + 1..].to_owned())
                    })
                    .collect();
                found.insert(name.to_owned(), (kind, labels));
            }
        }
    }
}

#[test]
fn each_catalogue_is_exactly_what_its_crate_records() {
    for (krate, catalogue) in catalogues() {
        let mut found = BTreeMap::new();
        recorded(&repo().join("crates").join(krate).join("src"), &mut found);
        // The consumer's metrics are recorded under names made at run time from the same
        // constants `rapport_kafka::consumer_metrics` uses; everything else is a literal.
        let declared: Recorded = catalogue
            .iter()
            .filter(|m| !m.name.ends_with("consumer_lag") && !m.name.contains("_broker_up"))
            .filter(|m| {
                !m.name.ends_with("partition_stalled_seconds")
                    && !m.name.ends_with("consumer_errors_total")
            })
            .map(|m| {
                let labels = m.labels.iter().map(|l| (*l).to_owned()).collect();
                (m.name.to_string(), (m.kind.as_str(), labels))
            })
            .collect();
        assert_eq!(
            found, declared,
            "{krate}: what the code records (left: kind and labels) and its catalogue (right) differ"
        );
        for metric in &catalogue {
            assert!(
                !metric.help.is_empty(),
                "{krate}: {} has no HELP text",
                metric.name
            );
            if metric.name.ends_with("_seconds") || metric.name.ends_with("_rows") {
                assert!(
                    matches!(metric.kind, Kind::Histogram(_) | Kind::Gauge),
                    "{krate}: {} is a latency or size metric but no histogram",
                    metric.name
                );
            }
        }
    }
}

fn promtool() -> Command {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool is not installed: run `make promtool` (Debian's prometheus package)"
    );
    let mut command = Command::new("promtool");
    command.current_dir(repo().join("deploy/prometheus"));
    command
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    for args in [
        &["check", "rules", "rules.yml"][..],
        &["test", "rules", "tests/rules.test.yml"][..],
    ] {
        let out = promtool().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_ops_dashboard_query_is_valid_promql() {
    // promtool parses PromQL only inside rules: each query becomes a recording rule of a
    // throwaway rules file, and `promtool check rules` parses them all.
    let d = dashboard("ops");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut count = 0;
    for panel in d["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            count += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query_{count}\n        expr: {}\n",
                serde_json::to_string(expr).unwrap()
            ));
        }
    }
    assert!(count >= 20, "{count} queries");
    let dir = std::env::temp_dir().join(rapport_testkit::unique_name("dashboard-rules"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dashboard.yml");
    std::fs::write(&file, &rules).unwrap();
    let out = promtool()
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "a query of the ops dashboard is no valid PromQL: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("{count} rules found")), "{said}");
}

#[test]
fn every_alert_has_series_that_fire_it_and_series_that_do_not() {
    let rules = read("deploy/prometheus/rules.yml");
    let alerts: BTreeSet<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 5, "{alerts:?}");
    // In the test file each `alertname:` is followed by its `exp_alerts:`, empty (`[]`) when
    // the series must not fire it.
    let tests = read("deploy/prometheus/tests/rules.test.yml");
    let (mut fires, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    let mut current = None;
    for line in tests.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("alertname: ") {
            current = Some(name.to_owned());
        } else if let Some(expected) = line.strip_prefix("exp_alerts:") {
            let name = current.take().expect("exp_alerts after its alertname");
            if expected.trim() == "[]" {
                quiet.insert(name);
            } else {
                fires.insert(name);
            }
        }
    }
    for alert in alerts {
        assert!(fires.contains(alert), "no test series fire {alert}");
        assert!(
            quiet.contains(alert),
            "no test series that must not fire {alert}"
        );
    }
}

#[test]
fn the_prometheus_rule_for_kubernetes_has_the_same_groups() {
    let rules = read("deploy/prometheus/rules.yml");
    let groups = &rules[rules.find("\ngroups:").expect("groups in rules.yml") + 1..];
    let manifest = read("deploy/k8s/monitoring/prometheusrule.yaml");
    let spec = &manifest[manifest.find("\n  groups:").expect("spec.groups") + 1..];
    let unindented: Vec<&str> = spec
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect();
    assert_eq!(
        unindented.join("\n").trim_end(),
        groups.trim_end(),
        "copy the groups of deploy/prometheus/rules.yml under spec: in prometheusrule.yaml"
    );
}

fn dashboard(name: &str) -> Value {
    serde_json::from_str(&read(&format!("deploy/grafana/dashboards/{name}.json")))
        .unwrap_or_else(|e| panic!("{name}.json: {e}"))
}

/// The data source uids `deploy/grafana/provisioning/datasources/rapport.yaml` declares.
fn provisioned_datasources() -> BTreeMap<String, String> {
    let text = read("deploy/grafana/provisioning/datasources/rapport.yaml");
    let mut found = BTreeMap::new();
    let mut uid = None;
    for line in text.lines().map(str::trim) {
        if let Some(u) = line.strip_prefix("uid: ") {
            uid = Some(u.to_owned());
        } else if let Some(t) = line.strip_prefix("type: ") {
            found.insert(uid.take().expect("uid before type"), t.to_owned());
        }
    }
    found
}

#[test]
fn the_dashboards_are_well_formed() {
    let sources = provisioned_datasources();
    assert_eq!(sources.len(), 2, "{sources:?}");
    let mut uids = BTreeSet::new();
    for name in ["ops", "analyst"] {
        let d = dashboard(name);
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_owned()),
            "{name}: uid taken"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: no title"
        );
        assert!(
            d["schemaVersion"].as_u64().unwrap() >= 36,
            "{name}: an old schemaVersion"
        );
        let panels = d["panels"].as_array().unwrap();
        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        for panel in panels {
            let title = panel["title"].as_str().unwrap();
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "{name}: {title}: id taken"
            );
            let g = &panel["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().unwrap(),
                g["y"].as_u64().unwrap(),
                g["w"].as_u64().unwrap(),
                g["h"].as_u64().unwrap(),
            );
            assert!(
                w >= 1 && h >= 1 && x + w <= 24,
                "{name}: {title}: off the grid"
            );
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(
                        cells.insert((cx, cy)),
                        "{name}: {title} overlaps another panel"
                    );
                }
            }
            if panel["type"] == "row" {
                continue;
            }
            let source = &panel["datasource"];
            let uid = source["uid"].as_str().unwrap();
            assert_eq!(
                sources.get(uid).map(String::as_str),
                source["type"].as_str(),
                "{name}: {title}: data source {uid} is not provisioned with that type"
            );
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title}: no query");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert!(
                    refs.insert(t["refId"].as_str().unwrap()),
                    "{name}: {title}: refId taken"
                );
                assert_eq!(
                    &t["datasource"], source,
                    "{name}: {title}: mixed data sources"
                );
                let query = t["expr"].as_str().or(t["rawSql"].as_str()).unwrap_or("");
                assert!(!query.trim().is_empty(), "{name}: {title}: an empty query");
            }
        }
    }
}

/// The analyst dashboard's SQL with the ClickHouse plugin's macros and the dashboard's variable
/// filled in as Grafana would: the period as `toDateTime(…)`, the tenant quoted.
fn expand(sql: &str, tenant: &str, from: i64, to: i64) -> String {
    sql.replace("$__fromTime", &format!("toDateTime({from})"))
        .replace("$__toTime", &format!("toDateTime({to})"))
        .replace("${tenant}", tenant)
}

#[tokio::test]
async fn the_analyst_dashboards_queries_run_on_the_schema() {
    let stack = Stack::from_env();
    let database = stack.database("grafana_sql").await;
    let clickhouse = ClickHouseConfig {
        url: stack.clickhouse_url.clone(),
        database: database.clone(),
        ..ClickHouseConfig::default()
    };
    migrations::migrate(&clickhouse)
        .await
        .expect("migrations apply; is the stack up? run `make up`");
    let d = dashboard("analyst");
    let mut queries = Vec::new();
    for panel in d["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let sql = t["rawSql"].as_str().unwrap().to_owned();
            queries.push((panel["title"].as_str().unwrap().to_owned(), sql));
        }
    }
    for variable in d["templating"]["list"].as_array().unwrap() {
        let sql = variable["query"].as_str().unwrap().to_owned();
        queries.push((variable["name"].to_string(), sql));
    }
    assert!(queries.len() >= 8, "{}", queries.len());
    // A few rows of the read model, as the writer stores them: acme's email thread answered in
    // 30 min (and again in 10), a chat answered in 4 min, two conversations waiting; globex's
    // reply and wait must not show.
    let day = 1_717_372_800_000_i64; // 2024-06-03T00:00:00Z
    let now = rapport_model::Timestamp::now().as_millis();
    for insert in [
        format!(
            "INSERT INTO replies (tenant_id, reply_day, conversation_id, reply_event_id, channel, team, replied_at_ms, reply_latency_ms, has_latency, is_first_response, version) VALUES \
             ('acme', '2024-06-03', 'e1', 'r1', 'email', 'billing', {t1}, 1800000, 1, 1, 1), \
             ('acme', '2024-06-03', 'e1', 'r2', 'email', 'billing', {t2}, 600000, 1, 0, 1), \
             ('acme', '2024-06-03', 'c1', 'r3', 'chat', 'support', {t1}, 240000, 1, 1, 1), \
             ('globex', '2024-06-03', 'g1', 'r4', 'chat', NULL, {t1}, 1000, 1, 1, 1)",
            t1 = day + 10 * 3_600_000,
            t2 = day + 11 * 3_600_000
        ),
        format!(
            "INSERT INTO conversations (tenant_id, conversation_id, channel, created_at_ms, last_event_at_ms, is_waiting, waiting_since_ms, primary_identity, last_customer_text, version) VALUES \
             ('acme', 'e1', 'email', {day}, {day}, 0, NULL, 'email:maria@example.com', '', 1), \
             ('acme', 'c1', 'chat', {day}, {day}, 1, {day}, 'intercom_contact:c-77', 'hello?', 1), \
             ('acme', 'z1', 'support', {day}, {day}, 1, {day}, 'email:bob@example.com', 'anyone?', 1), \
             ('globex', 'g1', 'chat', {day}, {day}, 1, {day}, 'email:gina@globex.example', 'hi', 1)"
        ),
        // SLAs: billing met one first response and breached one in the week of 3 June, support
        // met its one; a next reply of acme's is at risk now, due in an hour; globex's breach
        // must not show.
        format!(
            "INSERT INTO sla (tenant_id, conversation_id, target, policy, calendar, channel, team, agent_id, target_ms, status, cycles, breached_cycles, started_at_ms, due_at_ms, at_risk_at_ms, breached_at_ms, stopped_at_ms, remaining_ms, version) VALUES \
             ('acme', 'e1', 'first_response', 'standard', '24/7', 'email', 'billing', 'ana', 3600000, 'met', 1, 0, {t9}, {t10}, {t9}, NULL, {t9}, NULL, 1), \
             ('acme', 'e2', 'first_response', 'standard', '24/7', 'email', 'billing', NULL, 3600000, 'breached', 1, 1, {t9}, {t10}, {t9}, {t10}, NULL, NULL, 1), \
             ('acme', 'c1', 'first_response', 'standard', '24/7', 'chat', 'support', 'ben', 3600000, 'met', 1, 0, {t9}, {t10}, {t9}, NULL, {t9}, NULL, 1), \
             ('acme', 'z9', 'next_reply', 'standard', '24/7', 'support', 'tier1', NULL, 7200000, 'active', 1, 0, {hour_ago}, {in_an_hour}, {ten_minutes_ago}, NULL, NULL, NULL, 1), \
             ('globex', 'g1', 'first_response', 'standard', '24/7', 'chat', NULL, NULL, 3600000, 'breached', 1, 1, {t9}, {t10}, {t9}, {t10}, NULL, NULL, 1)",
            t9 = day + 9 * 3_600_000,
            t10 = day + 10 * 3_600_000,
            hour_ago = now - 3_600_000,
            in_an_hour = now + 3_600_000,
            ten_minutes_ago = now - 600_000,
        ),
    ] {
        stack
            .clickhouse(&insert.replace("INSERT INTO ", &format!("INSERT INTO {database}.")))
            .await;
    }
    let mut answers = BTreeMap::new();
    let http = reqwest::Client::new();
    for (title, sql) in queries {
        assert!(
            !sql.contains("$__timeFilter"),
            "{title}: use $__fromTime and $__toTime on the Date columns"
        );
        let sql = expand(&sql, "acme", 1_717_200_000, 1_719_792_000);
        assert!(!sql.contains('$'), "{title}: an unexpanded macro in {sql}");
        let answer = http
            .post(format!("{}/?database={database}", stack.clickhouse_url))
            .body(format!("{sql} FORMAT JSON"))
            .send()
            .await
            .expect("ClickHouse answers; is the stack up? run `make up`");
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{title}: ClickHouse refused it: {body}\n{sql}"
        );
        let rows: Value = serde_json::from_str(&body).unwrap();
        answers.insert(title, rows["data"].clone());
    }
    stack.drop_database(&database).await;

    // ClickHouse's JSON quotes 64-bit integers.
    let number = |v: &Value| v.as_f64().or_else(|| v.as_str()?.parse().ok()).unwrap();
    let waiting = &answers["Customers waiting now"];
    assert_eq!(number(&waiting[0]["waiting"]), 2.0, "{waiting}");
    let median = &answers["First response time by channel: median"];
    let by_channel: BTreeMap<&str, f64> = median
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["channel"].as_str().unwrap(), number(&row["median"])))
        .collect();
    assert_eq!(
        by_channel,
        BTreeMap::from([("chat", 240.0), ("email", 1800.0)]),
        "first responses only, in seconds, acme's only"
    );
    let teams = &answers["Reply latency by team"];
    let billing = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["team"] == "billing")
        .unwrap_or_else(|| panic!("{teams}"));
    assert_eq!(number(&billing["replies"]), 2.0);
    let queue = &answers["Unanswered, longest wait first"];
    let ids: BTreeSet<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["c1", "z1"]), "{queue}");
    let met = &answers["SLA targets met per team and week (%)"];
    let by_team: BTreeMap<&str, f64> = met
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["team"].as_str().unwrap(), number(&row["met_pct"])))
        .collect();
    assert_eq!(
        by_team,
        BTreeMap::from([("billing", 50.0), ("support", 100.0)]),
        "the week of 3 June, acme's only: {met}"
    );
    let breaches = &answers["SLA breaches per team and week"];
    let billing = breaches
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["team"] == "billing")
        .unwrap_or_else(|| panic!("{breaches}"));
    assert_eq!(
        (
            number(&billing["targets_met"]),
            number(&billing["targets_breached"]),
            number(&billing["met_pct"])
        ),
        (1.0, 1.0, 50.0)
    );
    assert_eq!(billing["week"], "2024-06-03");
    let at_risk = answers["SLA targets at risk now: time left"]
        .as_array()
        .unwrap();
    assert_eq!(at_risk.len(), 1, "{at_risk:?}");
    assert_eq!(at_risk[0]["conversation_id"], "z9");
    let left = number(&at_risk[0]["time_left"]);
    // ClickHouse's now() counts whole seconds: up to a second more than the test's clock says.
    assert!((3000.0..=3601.0).contains(&left), "{left} s left");
    let tenants = &answers["\"tenant\""];
    assert_eq!(tenants.as_array().unwrap().len(), 2, "{tenants}");
}
