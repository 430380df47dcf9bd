//! The `rapport` binary as an operator runs it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rapport_model::wire::{Framing, encode};
use rapport_testkit::Stack;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn rapport(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .env("RAPPORT_TENANT__AGENT_DOMAINS", "[\"acme.com\"]")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn golden(source: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rapport-channels/tests/golden")
        .join(source)
        .join(name)
}

fn lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn normalize_prints_interactions_and_exits_zero() {
    let file = golden("zendesk", "04-reply-and-solved-in-one-audit.json");
    let out = rapport(
        &[
            "normalize",
            "--source",
            "zendesk",
            "--received-at",
            "2024-06-01T12:00:00Z",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let interactions = lines(&out.stdout);
    assert_eq!(interactions.len(), 2, "a comment and a status change");
    assert!(
        interactions
            .iter()
            .all(|i| i["tenant_id"] == "default" && i["received_at"] == "2024-06-01T12:00:00.000Z")
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn rejected_payloads_are_json_lines_on_stderr_and_exit_two() {
    let input = b"{\"schema\":\"rapport.generic.v1\",\"event_id\":\"e1\"}\nnot json at all\n";
    let out = rapport(&["normalize", "--jsonl", "--tenant", "acme"], Some(input));
    assert_eq!(out.status.code(), Some(2));
    let errors = lines(&out.stderr);
    assert_eq!(errors.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(errors[0]["file"], "-");
    assert_eq!(errors[0]["line"], 1);
    assert!(
        errors[0]["code"]
            .as_str()
            .unwrap()
            .starts_with("missing_field:"),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[1]["line"], 2);
    assert_eq!(
        errors[1]["code"], "unknown_source",
        "no source given and nothing recognises it"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_source_names_are_refused_with_the_list() {
    let out = rapport(&["normalize", "--source", "fax"], Some(b""));
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("rfc822, sendgrid"));
}

#[test]
fn generated_records_round_trip_through_normalize_records() {
    let dir = rapport_testkit::ScratchDir::new("cli-records");
    let file = dir.join("day.jsonl");
    let out = rapport(
        &[
            "generate",
            "--seed",
            "5",
            "--customers",
            "20",
            "--tenant",
            "acme",
            "--output",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = std::fs::read_to_string(&file).unwrap().lines().count();
    let out = rapport(&["normalize", "--records", file.to_str().unwrap()], None);
    let (ok, rejected) = (lines(&out.stdout), lines(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(if rejected.is_empty() { 0 } else { 2 })
    );
    assert!(
        ok.len() >= records - rejected.len(),
        "every accepted record yields at least one interaction"
    );
    assert!(
        ok.iter().all(|i| i["tenant_id"] == "acme"),
        "tenant comes from the record header"
    );
}

#[tokio::test]
async fn consume_decodes_interactions_and_prints_other_records_raw() {
    let stack = Stack::from_env();
    let topic = stack.topic("cli-consume", 1).await;
    let payload = std::fs::read(golden("generic", "02-chat-agent-reply.json")).unwrap();
    let out = rapport(
        &["normalize", "--source", "generic", "--tenant", "acme"],
        Some(&payload),
    );
    let interaction: rapport_model::Interaction =
        serde_json::from_value(lines(&out.stdout).remove(0)).unwrap();
    let producer: FutureProducer = stack.kafka.producer_config().create().unwrap();
    let avro = encode(&interaction, Framing::SingleObject);
    let announcement = rapport_sla::event::SlaEvent {
        event_id: rapport_sla::event::event_id(
            "acme",
            "c",
            "first_response",
            "first",
            rapport_sla::event::Kind::Breached,
            "",
        ),
        kind: rapport_sla::event::Kind::Breached,
        tenant_id: "acme".into(),
        conversation_id: "c".into(),
        target: "first_response".into(),
        cycle: "first".into(),
        policy: "standard".into(),
        calendar: "24/7".into(),
        channel: "chat".into(),
        team: None,
        agent_id: None,
        target_ms: 60_000,
        started_at_ms: 1_000,
        at_risk_at_ms: Some(41_000),
        due_at_ms: Some(61_000),
        stopped_at_ms: None,
        occurred_at_ms: 61_000,
        outcome: None,
        corrects: None,
        emitted_at_ms: 61_005,
    };
    let sla = announcement.encode(Framing::SingleObject);
    for (key, value) in [
        ("a", avro.as_slice()),
        ("b", b"raw bytes".as_slice()),
        ("c", sla.as_slice()),
    ] {
        producer
            .send(
                FutureRecord::to(&topic).key(key).payload(value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["consume", &topic, "--idle-ms", "3000"])
            .env("RAPPORT_KAFKA__BROKERS", &stack.kafka.brokers)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = lines(&out.stdout);
    assert_eq!(printed.len(), 3);
    assert_eq!(
        printed[0]["event_id"],
        interaction.event_id.to_string(),
        "Avro decoded to the contract's JSON"
    );
    assert_eq!(printed[1]["key"], "b");
    assert_eq!(printed[1]["payload_base64"], "cmF3IGJ5dGVz");
    assert_eq!(
        printed[2]["kind"], "breached",
        "an SLA announcement as its JSON"
    );
    assert_eq!(printed[2]["event_id"], announcement.event_id.to_string());
    assert_eq!(printed[2]["due_at_ms"], 61_000);
}

#[tokio::test]
async fn generate_with_a_rate_and_a_duration_stops_on_time_and_keeps_the_pace() {
    let stack = Stack::from_env();
    let prefix = rapport_testkit::unique_name("cli-paced");
    let out = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
        command
            .args([
                "generate",
                "--customers",
                "20",
                "--rate",
                "40",
                "--duration",
                "3s",
            ])
            .env("RAPPORT_KAFKA__BROKERS", &stack.kafka.brokers)
            .env("RAPPORT_KAFKA__PRODUCER_BATCH_MESSAGES", "1");
        for (key, suffix) in [
            ("RAW_EMAIL", "raw.email"),
            ("RAW_CHAT", "raw.chat"),
            ("RAW_REVIEW", "raw.review"),
            ("RAW_SUPPORT", "raw.support"),
            ("INTERACTIONS", "interactions.v1"),
            ("DLQ", "dlq"),
            ("IDENTITY", "identity.v1"),
        ] {
            command.env(
                format!("RAPPORT_TOPICS__{key}"),
                format!("{prefix}.{suffix}"),
            );
        }
        let started = std::time::Instant::now();
        let out = command.output().unwrap();
        (out, started.elapsed())
    })
    .await
    .unwrap();
    let (out, elapsed) = out;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let produced: usize = stderr
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr:?}"));
    // 40 records/s for 3 s: never more than the pace allows, and the run ends when it should.
    assert!(
        (1..=121).contains(&produced),
        "{produced} records: {stderr}"
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[tokio::test]
async fn topics_create_makes_every_topic_the_services_use_and_leaves_existing_ones_alone() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let stack = Stack::from_env();
    let prefix = rapport_testkit::unique_name("cli-topics");
    let topics = rapport_kafka::Topics::prefixed(&prefix);
    let run = {
        let (brokers, prefix) = (stack.kafka.brokers.clone(), prefix.clone());
        move || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
            command
                .args(["topics", "create"])
                .env("RAPPORT_KAFKA__BROKERS", &brokers)
                .env("RAPPORT_KAFKA__PARTITIONS", "1");
            for (key, suffix) in [
                ("RAW_EMAIL", "raw.email"),
                ("RAW_CHAT", "raw.chat"),
                ("RAW_REVIEW", "raw.review"),
                ("RAW_SUPPORT", "raw.support"),
                ("INTERACTIONS", "interactions.v1"),
                ("DLQ", "dlq"),
                ("IDENTITY", "identity.v1"),
                ("SLA", "sla.v1"),
            ] {
                command.env(
                    format!("RAPPORT_TOPICS__{key}"),
                    format!("{prefix}.{suffix}"),
                );
            }
            let out = command.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{stderr}");
            stderr
        }
    };
    let first = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    let names: Vec<String> = topics.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(
        names.contains(&topics.sla),
        "rapport-sla's topic is one of them"
    );
    for name in &names {
        assert!(
            first.contains(&format!("{name}: created")),
            "{name} not created: {first}"
        );
    }
    let second = tokio::task::spawn_blocking(run).await.unwrap();
    for name in &names {
        assert!(
            second.contains(&format!("{name}: exists")),
            "{name} not left alone: {second}"
        );
    }
    // The broker has them, the SLA topic included.
    let consumer: BaseConsumer = stack.kafka.client_config().create().unwrap();
    let metadata = tokio::task::spawn_blocking(move || {
        consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap()
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for name in &names {
        assert!(metadata.contains(name), "{name} is not on the broker");
    }
}
