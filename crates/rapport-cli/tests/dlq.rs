//! `rapport dlq list|show|replay` against the local broker.

use std::process::{Command, Output};
use std::time::Duration;

use rapport_kafka::{Rejection, dead_letter_headers};
use rapport_testkit::Stack;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Runs `rapport` with `dlq` as its dead-letter topic and `raw` as its raw support topic (the
/// only topic besides the defaults that a replay may write to).
fn rapport(stack: &Stack, dlq: &str, raw: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .env("RAPPORT_KAFKA__BROKERS", &stack.kafka.brokers)
        .env("RAPPORT_TOPICS__DLQ", dlq)
        .env("RAPPORT_TOPICS__RAW_SUPPORT", raw)
        .output()
        .unwrap()
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Two dead letters of records read from `origin` at offsets 7 and 8, as the services write them.
async fn dead_letters(stack: &Stack, origin: &str, dlq: &str) {
    let producer: FutureProducer = stack.kafka.producer_config().create().unwrap();
    for (offset, code, payload) in [
        (7, "malformed_json", b"{not json".as_slice()),
        (8, "clickhouse_rejected", [0xff, 0xfe, 0x00].as_slice()),
    ] {
        let original = OwnedHeaders::new().insert(Header {
            key: "rapport-source",
            value: Some("zendesk"),
        });
        let read = OwnedMessage::new(
            Some(payload.to_vec()),
            Some(format!("key-{offset}").into_bytes()),
            origin.to_owned(),
            Timestamp::NotAvailable,
            0,
            offset,
            Some(original),
        );
        let rejection = Rejection {
            code: code.into(),
            message: format!("the {code} reason"),
        };
        let headers = dead_letter_headers(&read, &rejection, "2024-06-03T09:00:00.000Z");
        producer
            .send(
                FutureRecord::to(dlq)
                    .key(read.key().unwrap())
                    .payload(payload)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

async fn read_all(stack: &Stack, topic: &str) -> Vec<OwnedMessage> {
    let mut config = stack
        .kafka
        .consumer_config(&rapport_testkit::unique_name("dlq-test"));
    config.set("enable.auto.commit", "false");
    let consumer: StreamConsumer = config.create().unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut messages = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {
        messages.push(m.detach());
    }
    messages
}

#[tokio::test]
async fn dlq_lists_shows_and_replays_the_original_records() {
    let stack = Stack::from_env();
    let origin = stack.topic("cli-dlq-origin", 1).await;
    let dlq = stack.topic("cli-dlq", 1).await;
    dead_letters(&stack, &origin, &dlq).await;
    let (s, o, d) = (stack.clone(), origin.clone(), dlq.clone());
    let run_as = move |raw: &str, args: &[&str]| {
        let (s, d, raw) = (s.clone(), d.clone(), raw.to_owned());
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                rapport(&s, &d, &raw, &args)
            })
            .await
            .unwrap()
        }
    };
    let run = |args: &'static [&'static str]| run_as(&o, args);

    let out = run(&["dlq", "list", "--code", "malformed_json"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.starts_with("0:0 "), "{listed}");
    assert!(
        listed.contains(&format!("{o}/0/7")) && listed.contains("the malformed_json reason"),
        "{listed}"
    );

    let out = run(&["dlq", "show", "1"]).await;
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", explain(&out));
    assert!(
        shown.contains("header rapport-error-code: clickhouse_rejected"),
        "{shown}"
    );
    assert!(
        shown.contains("(base64) //4A"),
        "binary payload as base64: {shown}"
    );

    let out = run(&["dlq", "replay", "--code", "malformed_json", "--dry-run"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("would replay 0:0 (malformed_json) to {o}\n")
    );
    assert!(
        read_all(&stack, &origin).await.is_empty(),
        "a dry run sends nothing"
    );

    // The origin topic is not one the configuration names: nothing is sent.
    let out = run_as("some.other.topic", &["dlq", "replay"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("is not one of the raw or interactions topics"),
        "{}",
        explain(&out)
    );
    assert!(read_all(&stack, &origin).await.is_empty());

    let out = run(&["dlq", "replay"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        2,
        "{}",
        explain(&out)
    );
    let replayed = read_all(&stack, &origin).await;
    assert_eq!(replayed.len(), 2);
    assert_eq!(replayed[0].payload(), Some(b"{not json".as_slice()));
    assert_eq!(replayed[0].key(), Some(b"key-7".as_slice()));
    assert_eq!(replayed[1].payload(), Some([0xff, 0xfe, 0x00].as_slice()));
    for message in &replayed {
        let headers: Vec<(String, Option<Vec<u8>>)> = message
            .headers()
            .unwrap()
            .iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            headers,
            [("rapport-source".to_owned(), Some(b"zendesk".to_vec()))]
        );
    }
}
