//! `rapport generate --gateway` through a running `rapport-gateway` on the local stack lands
//! every record of a day on the raw topics, exactly the records the direct mode produces
//! (`rapport generate --output -` writes those): the same payload bytes (plus, for Mailgun, the
//! delivery fields a route's forward adds, and for SES the SNS signature fields and publish
//! time), the same source and tenant headers, the same raw topic (but `generic`, which the
//! gateway lands on the chat topic). Each record the gateway landed carries its request id;
//! only what has no webhook (raw mail, broken SES and Google payloads) was produced directly.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rapport_gateway::service::ServiceConfig;
use rapport_kafka::{Topics, ensure_topics};
use rapport_runtime::Shutdown;
use rapport_testkit::{ScratchDir, Stack, free_addr, gateway_files, unique_name};
use rdkafka::Message;
use rdkafka::message::Headers;

/// What a record is compared by: (topic, source, tenant, payload).
type Landed = (String, String, String, Vec<u8>);

fn rapport(args: &[&str], kafka: &str, prefix: &str) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
    command
        .args(args)
        .env("RAPPORT_KAFKA__BROKERS", kafka)
        .env("RAPPORT_TENANT_ID", "acme");
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
    command.output().unwrap()
}

/// The landed payload as the generator rendered it: the fields only a delivery carries taken
/// off, each checked to be what the provider adds.
fn as_rendered(source: &str, payload: &[u8]) -> Vec<u8> {
    match source {
        "mailgun" => {
            let marker = b"&timestamp=";
            let at = payload
                .windows(marker.len())
                .rposition(|w| w == marker)
                .unwrap_or_else(|| panic!("a Mailgun post without its delivery fields"));
            let (form, delivery) = (
                &payload[..at],
                std::str::from_utf8(&payload[at + 1..]).unwrap(),
            );
            let fields: Vec<&str> = delivery.split('&').collect();
            assert_eq!(fields.len(), 3, "{delivery}");
            assert!(
                fields[1].starts_with("token=") && fields[1].len() == 56,
                "{delivery}"
            );
            assert!(
                fields[2].starts_with("signature=") && fields[2].len() == 74,
                "{delivery}"
            );
            form.to_vec()
        }
        "ses" => {
            let mut m: serde_json::Value = serde_json::from_slice(payload).unwrap();
            let object = m.as_object_mut().unwrap();
            for k in [
                "Signature",
                "SignatureVersion",
                "SigningCertURL",
                "Timestamp",
            ] {
                assert!(object.remove(k).is_some(), "the SNS message has no {k}");
            }
            serde_json::to_vec(&m).unwrap()
        }
        _ => payload.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_through_the_gateway_lands_what_the_direct_mode_produces() {
    let stack = Stack::from_env();
    let prefix = unique_name("cli-gw");
    let topics = Topics::prefixed(&prefix);
    ensure_topics(&stack.kafka, &topics.specs())
        .await
        .expect("topics created; is the stack up? run `make up`");
    let dir = ScratchDir::new(&prefix);
    assert_eq!(
        rapport_testkit::SNS_CERT_URL,
        rapport_gateway::sign::DEMO_SNS_CERT_URL
    );
    let files = gateway_files(dir.path(), free_addr());
    let (config_file, key_file, stand_in) = (
        files.endpoints_toml.clone(),
        files.signing_key.clone(),
        files.google_stand_in,
    );

    let addr = free_addr();
    let text = format!(
        "[http]\nlisten = \"{addr}\"\n{}\n{}",
        rapport_testkit::kafka_and_topics_toml(&stack.kafka, &topics),
        std::fs::read_to_string(&config_file).unwrap()
    );
    let config: ServiceConfig = toml::from_str(&text).expect("the gateway config parses");
    let shutdown = Shutdown::new();
    let gateway = tokio::spawn(rapport_gateway::service::serve(config, shutdown.clone()));

    let day = [
        "generate",
        "--seed",
        "11",
        "--customers",
        "60",
        "--invalid-rate",
        "0.05",
    ];
    let direct = rapport(
        &[&day[..], &["--output", "-"]].concat(),
        &stack.kafka.brokers,
        &prefix,
    );
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    let mut expected: Vec<Landed> = Vec::new();
    for line in String::from_utf8(direct.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let source = v["headers"]["rapport-source"].as_str().unwrap().to_owned();
        let topic = if source == "generic" {
            topics.raw_chat.clone()
        } else {
            v["topic"].as_str().unwrap().to_owned()
        };
        let mut payload = base64::engine::general_purpose::STANDARD
            .decode(v["payload_base64"].as_str().unwrap())
            .unwrap();
        // The SNS publish time is the sending's, not the generated day's: compared without it.
        if source == "ses"
            && let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice(&payload)
        {
            m.remove("Timestamp");
            payload = serde_json::to_vec(&m).unwrap();
        }
        expected.push((
            topic,
            source,
            v["headers"]["rapport-tenant"].as_str().unwrap().to_owned(),
            payload,
        ));
    }
    let sources: std::collections::BTreeSet<&str> = expected.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(sources.len(), 12, "every source in the day: {sources:?}");

    let url = format!("http://{addr}");
    let (kafka, config_arg, key_arg, stand_in_arg, prefix_arg) = (
        stack.kafka.brokers.clone(),
        config_file.display().to_string(),
        key_file.display().to_string(),
        stand_in.to_string(),
        prefix.clone(),
    );
    let sent = tokio::task::spawn_blocking(move || {
        rapport(
            &[
                &day[..],
                &[
                    "--gateway",
                    url.as_str(),
                    "--gateway-config",
                    config_arg.as_str(),
                    "--signing-key",
                    key_arg.as_str(),
                    "--google-stand-in",
                    stand_in_arg.as_str(),
                ],
            ]
            .concat(),
            &kafka,
            &prefix_arg,
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&sent.stderr).into_owned();
    assert!(sent.status.success(), "{stderr}");
    assert!(stderr.contains("straight to the raw topics"), "{stderr}");
    assert!(stderr.contains("rfc822: "), "{stderr}");

    let raw = [
        topics.raw_email.as_str(),
        topics.raw_chat.as_str(),
        topics.raw_review.as_str(),
        topics.raw_support.as_str(),
    ];
    let reader = rapport_testkit::reader(&stack.kafka, &raw);
    let mut landed: Vec<Landed> = Vec::new();
    let mut via_gateway: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while landed.len() < expected.len() && Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(5), reader.recv()).await
        else {
            continue;
        };
        let header = |name: &str| {
            message.headers().and_then(|h| {
                h.iter()
                    .find(|x| x.key == name)
                    .and_then(|x| x.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
        };
        let source = header("rapport-source").unwrap();
        let payload = message.payload().unwrap_or_default();
        let payload = if header("rapport-request-id").is_some() {
            *via_gateway.entry(source.clone()).or_default() += 1;
            as_rendered(&source, payload)
        } else {
            payload.to_vec()
        };
        landed.push((
            message.topic().to_owned(),
            source.clone(),
            header("rapport-tenant").unwrap(),
            payload,
        ));
    }
    // Nothing more than the day: a duplicate would show up here.
    if let Ok(Ok(extra)) = tokio::time::timeout(Duration::from_secs(3), reader.recv()).await {
        panic!("a record beyond the day's on {}", extra.topic());
    }
    expected.sort();
    landed.sort();
    assert_eq!(landed.len(), expected.len());
    if landed != expected {
        let describe = |records: &[Landed], others: &[Landed]| -> Vec<String> {
            records
                .iter()
                .filter(|r| !others.contains(r))
                .take(5)
                .map(|(topic, source, tenant, payload)| {
                    format!(
                        "{topic} {source} {tenant} {:?}",
                        String::from_utf8_lossy(&payload[..payload.len().min(160)])
                    )
                })
                .collect()
        };
        panic!(
            "the landed records differ from the direct mode's:\nonly landed: {:#?}\nonly expected: {:#?}",
            describe(&landed, &expected),
            describe(&expected, &landed)
        );
    }
    assert!(!via_gateway.contains_key("rfc822"), "{via_gateway:?}");
    let through: usize = via_gateway.values().sum();
    let invalid_ses_google =
        expected.len() - expected.iter().filter(|e| e.1 == "rfc822").count() - through;
    assert!(
        invalid_ses_google <= expected.len() / 10,
        "{invalid_ses_google} records went around the gateway: {via_gateway:?}"
    );
    assert_eq!(
        via_gateway.len(),
        11,
        "every webhook source through the gateway: {via_gateway:?}"
    );

    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(30), gateway).await;
}
