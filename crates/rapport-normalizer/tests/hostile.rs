//! What a stranger can send, through the running normalizer: huge and adversarial payloads,
//! values that would mint metric labels, records claiming another tenant. The service keeps
//! consuming everything else, each hostile record ends normalized or dead-lettered within a
//! bounded time, and `/metrics` does not grow with the input.

use std::collections::BTreeSet;
use std::time::Duration;

use rapport_kafka::{KafkaConfig, Topics, ensure_topics};
use rapport_model::{Channel, Source, Timestamp};
use rapport_testkit::{
    ScratchDir, Service, Stack, free_addr, kafka_and_topics_toml, reader, unique_name,
};
use rapport_traffic::{self as generate, RawRecord};
use rdkafka::Message;
use rdkafka::message::Headers;
use sha2::{Digest, Sha256};

mod support;
use support::{expected, traffic};

const MIB: usize = 1024 * 1024;

fn record(
    channel: Channel,
    source: Source,
    tenant: &str,
    key: &str,
    payload: Vec<u8>,
) -> RawRecord {
    RawRecord {
        channel,
        key: key.into(),
        source,
        tenant: tenant.into(),
        received_at: Timestamp::parse_rfc3339("2024-06-03T12:00:00Z").unwrap(),
        payload,
        invalid: true,
    }
}

/// A mail whose body is `size` bytes of quoted lines, then one line of the sender's own: quote
/// stripping that rescans the rest per line takes minutes on it.
fn quoted_mail(size: usize) -> Vec<u8> {
    let mut mail = String::from(
        "From: Maria <maria@example.com>\r\nTo: support@acme.com\r\nSubject: quoted\r\n\
         Message-ID: <hostile-quoted@example.com>\r\nDate: Mon, 3 Jun 2024 10:00:00 +0000\r\n\
         Content-Type: text/plain\r\n\r\n",
    );
    while mail.len() < size {
        mail.push_str("> an old line of the thread\r\n");
    }
    mail.push_str("my actual answer\r\n");
    mail.into_bytes()
}

/// A generic batch whose event at `index` has an invalid kind: the error code names the
/// position (`invalid_value:events[<index>].kind`), which the sender chooses.
fn generic_batch_bad_at(index: usize) -> Vec<u8> {
    let event = |n: usize, kind: &str| {
        format!(
            "{{\"event_id\":\"e{n}\",\"channel\":\"chat\",\"conversation_id\":\"c{index}\",\
             \"occurred_at\":\"2024-06-03T10:00:00Z\",\"kind\":\"{kind}\",\"direction\":\"inbound\",\
             \"customer\":{{\"email\":\"maria@example.com\"}},\"text\":\"hi\"}}"
        )
    };
    let mut events: Vec<String> = (0..index).map(|n| event(n, "message")).collect();
    events.push(event(index, "attacker-chosen"));
    format!(
        "{{\"schema\":\"rapport.generic.v1\",\"events\":[{}]}}",
        events.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn hostile_records_end_in_the_dlq_or_normalized_and_everything_else_flows() {
    let stack = Stack::from_env();
    let prefix = unique_name("norm-hostile");
    let topics = Topics::prefixed(&prefix);
    let kafka = KafkaConfig {
        partitions: 2,
        ..stack.kafka.clone()
    };
    ensure_topics(&kafka, &topics.specs())
        .await
        .expect("topics created; is the stack up? run `make up`");
    let files = ScratchDir::new(&prefix);
    let config = files.join("normalizer.toml");
    let http = free_addr();
    // A record limit of 8 MiB, below the 20 MiB payload below: its dead letter must go in the
    // reduced form. The review topic is bound to the tenant acme.
    let normalizer_kafka = KafkaConfig {
        max_message_bytes: 8 * MIB,
        ..kafka.clone()
    };
    std::fs::write(
        &config,
        format!(
            "group_id = \"{prefix}-normalizer\"\ntenant_id = \"acme\"\n\
             [tenant]\nagent_domains = [\"acme.com\"]\ndefault_phone_region = \"US\"\n\
             [topic_tenants]\n\"{}\" = [\"acme\"]\n\
             [http]\nlisten = \"{http}\"\n{}",
            topics.raw_review,
            kafka_and_topics_toml(&normalizer_kafka, &topics),
        ),
    )
    .unwrap();

    let normal = traffic(11, 40);
    let (ids, invalid) = expected(&normal);
    let huge_invalid = {
        let mut payload = b"{\"type\":\"notification\",\"data\":\"".to_vec();
        payload.resize(20 * MIB, b'a');
        payload
    };
    let bad_field_review = {
        let text = "great ".repeat(150_000);
        format!(
            "{{\"id\":\"tp-900k\",\"stars\":\"five\",\"title\":\"t\",\"text\":\"{text}\",\
             \"createdAt\":\"2024-06-03T10:00:00Z\",\"consumer\":{{\"id\":\"c1\",\"displayName\":\"M\"}}}}"
        )
        .into_bytes()
    };
    assert!(bad_field_review.len() > 850_000);
    let mut hostile = vec![
        record(
            Channel::Email,
            Source::Rfc822,
            "acme",
            "quoted",
            quoted_mail(4 * MIB),
        ),
        record(
            Channel::Chat,
            Source::Intercom,
            "acme",
            "huge",
            huge_invalid.clone(),
        ),
        record(
            Channel::Review,
            Source::Trustpilot,
            "acme",
            "900k",
            bad_field_review.clone(),
        ),
        record(
            Channel::Review,
            Source::Trustpilot,
            "globex",
            "other-tenant",
            b"{\"id\":\"tp-1\"}".to_vec(),
        ),
    ];
    for n in 0..150 {
        hostile.push(record(
            Channel::Chat,
            Source::Generic,
            "acme",
            &format!("batch-{n}"),
            generic_batch_bad_at(n),
        ));
    }
    // Hostile records first, so everything normal waits behind them in the same partitions.
    generate::produce(&hostile, &kafka, &topics)
        .await
        .expect("hostile records produced");
    generate::produce(&normal, &kafka, &topics)
        .await
        .expect("traffic produced");

    let mut normalizer = Service::start(
        env!("CARGO_BIN_EXE_rapport-normalizer"),
        &config,
        http,
        "warn,rapport_normalizer=info",
    )
    .await;
    let consumer = reader(&stack.kafka, &[&topics.interactions, &topics.dlq]);
    let (mut seen, mut letters) = (BTreeSet::new(), Vec::new());
    let expected_letters = invalid.len() + hostile.len() - 1;
    // The valid events before each batch's bad one are normalized (one bad item never takes its
    // neighbours to the dead-letter topic): e0 … e148, the same ids in every batch.
    let batch_ids = 149;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while seen.len() < ids.len() + 1 + batch_ids || letters.len() < expected_letters {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero(),
            "timed out: {} of {} interactions, {} of {} dead letters",
            seen.len(),
            ids.len() + 1 + batch_ids,
            letters.len(),
            expected_letters
        );
        let Ok(Ok(message)) =
            tokio::time::timeout(left.min(Duration::from_secs(1)), consumer.recv()).await
        else {
            continue;
        };
        if message.topic() == topics.dlq {
            let headers: Vec<(String, Vec<u8>)> = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            letters.push((headers, message.payload().unwrap_or_default().to_vec()));
        } else if let Ok(i) =
            rapport_model::wire::decode_single_object(message.payload().unwrap_or_default())
        {
            seen.insert(i.event_id);
        }
    }
    let (_, metrics) = normalizer.get("/metrics").await;
    normalizer.signal("TERM");

    assert!(ids.is_subset(&seen), "every normal interaction arrived");
    let header = |letter: &(Vec<(String, Vec<u8>)>, Vec<u8>), name: &str| {
        letter
            .0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let by_key = |key: &str| {
        letters.iter().find(|l| {
            header(l, "rapport-origin-topic").is_some() && l.1.starts_with(key.as_bytes())
        })
    };
    let huge = by_key("{\"type\":\"notification\"").expect("the 20 MiB payload was dead-lettered");
    assert_eq!(
        header(huge, "rapport-error-code").as_deref(),
        Some("malformed_json")
    );
    assert_eq!(
        huge.1.len(),
        rapport_kafka::REDUCED_PAYLOAD_BYTES,
        "a prefix of it"
    );
    assert_eq!(
        header(huge, "rapport-payload-truncated"),
        Some((20 * MIB).to_string())
    );
    let digest: String = Sha256::digest(&huge_invalid)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(header(huge, "rapport-payload-sha256"), Some(digest));
    let review = by_key("{\"id\":\"tp-900k\"").expect("the 900 KB review was dead-lettered");
    assert_eq!(review.1, bad_field_review, "kept whole");
    assert!(
        header(review, "rapport-error-code")
            .unwrap()
            .starts_with("invalid_value")
    );
    let other = by_key("{\"id\":\"tp-1\"}").expect("the other tenant's record was dead-lettered");
    assert_eq!(
        header(other, "rapport-error-code").as_deref(),
        Some("tenant_not_allowed")
    );
    let keyed: BTreeSet<String> = letters
        .iter()
        .filter_map(|l| header(l, "rapport-error-code"))
        .filter(|c| c.starts_with("invalid_value:events["))
        .collect();
    assert_eq!(
        keyed.len(),
        150,
        "each chosen position is kept in its dead letter's code"
    );
    for letter in letters.iter().filter(|l| {
        header(l, "rapport-error-code").is_some_and(|c| c.starts_with("invalid_value:events["))
    }) {
        let batch: serde_json::Value = serde_json::from_slice(&letter.1).unwrap();
        let events = batch["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "the bad event is dead-lettered alone");
        assert_eq!(events[0]["kind"], "attacker-chosen");
    }
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("rapport_normalizer_dlq_total{"))
        .collect();
    assert!(
        series.len() <= 4 && !metrics.contains("events["),
        "dead-letter metrics are labelled by error family only: {series:?}"
    );
    drop(files);
}
