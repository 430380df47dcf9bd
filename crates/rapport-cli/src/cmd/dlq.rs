//! `rapport dlq list|show|replay`: the dead-letter topic as an operator works with it. Reading
//! uses a throw-away consumer group from the beginning until the topic is quiet, like `rapport
//! consume`, so it never moves any service's offsets.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine;
use rapport_kafka::KafkaConfig;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use clap::Subcommand;

use crate::config::CliConfig;
use crate::progress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop reading after this long without a new record.
    #[arg(long, global = true, default_value_t = 3000)]
    idle_ms: u64,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// One line per dead letter: offset, error code, origin topic/partition/offset, when it was
    /// dead-lettered, and the start of the error message.
    List {
        /// Only this error code, e.g. malformed_json.
        #[arg(long)]
        code: Option<String>,
        /// Print at most this many (the oldest first).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Every header of one dead letter and its payload (as text when UTF-8, else base64).
    Show {
        /// The offset from `dlq list`, or partition:offset.
        offset: String,
    },
    /// Send dead letters back to the topic they were read from (rapport-origin-topic), with
    /// their original bytes, key and headers, waiting for each acknowledgement.
    ///
    /// Use it once the cause is fixed (a new adapter version, ClickHouse back). Replaying twice
    /// sends twice; downstream deduplicates interactions by event id. Ctrl-C stops between two
    /// records.
    Replay {
        /// Only dead letters with this error code; repeat for several (default: all).
        #[arg(long)]
        code: Vec<String>,
        /// Print what would be replayed and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let cancel = progress::ctrl_c();
    let topic = &config.topics.dlq;
    let idle = Duration::from_millis(args.idle_ms);
    let letters = read(&config.kafka, topic, idle, &cancel).await?;
    let out = &mut std::io::stdout().lock();
    match args.command {
        DlqCommand::List { code, limit } => {
            let selected: Vec<&DeadLetter> = letters
                .iter()
                .filter(|l| code.as_deref().is_none_or(|c| l.code() == c))
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            list(&selected, out)?;
            eprintln!(
                "{topic}: {} of {} dead letters",
                selected.len(),
                letters.len()
            );
        }
        DlqCommand::Show { offset } => show(find(&letters, &offset)?, out)?,
        DlqCommand::Replay { code, dry_run } => {
            let selected: Vec<&DeadLetter> = letters
                .iter()
                .filter(|l| code.is_empty() || code.iter().any(|c| c == l.code()))
                .collect();
            let mut allowed: Vec<&str> = config.topics.raw().to_vec();
            allowed.push(&config.topics.interactions);
            allowed.extend(config.extra_raw_topics.iter().map(|t| t.topic.as_str()));
            let done = replay(&config.kafka, &allowed, &selected, dry_run, &cancel, out).await?;
            let verb = if dry_run { "would replay" } else { "replayed" };
            eprintln!(
                "{topic}: {verb} {}, skipped {}, left alone {} (other codes)",
                done.replayed,
                done.skipped,
                letters.len() - selected.len()
            );
        }
    }
    Ok(0)
}

/// One record of the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl DeadLetter {
    /// `partition:offset`, how the commands name a dead letter.
    pub fn id(&self) -> String {
        format!("{}:{}", self.partition, self.offset)
    }

    /// The last header named `name`: the dead-letter path appends its own headers after the
    /// original record's (and renames any the original carried under `original-`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn code(&self) -> &str {
        self.header("rapport-error-code").unwrap_or("?")
    }

    /// The record's headers before it was dead-lettered.
    pub fn original_headers(&self) -> OwnedHeaders {
        self.headers
            .iter()
            // A replay sends the original headers only, without those the DLQ path added (nor
            // copies of them the original carried, kept renamed).
            .filter(|(k, _)| {
                let own = k.strip_prefix(rapport_kafka::ORIGINAL_PREFIX).unwrap_or(k);
                !rapport_kafka::DEAD_LETTER_HEADERS.contains(&own)
            })
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: value.as_deref(),
                })
            })
    }
}

/// Reads `topic` from the beginning until nothing arrives for `idle` (or Ctrl-C).
pub async fn read(
    kafka: &KafkaConfig,
    topic: &str,
    idle: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<DeadLetter>> {
    let group = format!(
        "rapport-dlq-{}-{}",
        std::process::id(),
        rapport_model::Timestamp::now().as_millis()
    );
    let mut config = kafka.consumer_config(&group);
    config.set("enable.auto.commit", "false");
    let consumer: StreamConsumer = config
        .create()
        .context("cannot create the Kafka consumer")?;
    consumer
        .subscribe(&[topic])
        .with_context(|| format!("cannot subscribe to {topic}"))?;
    let spinner = progress::spinner(&format!("reading {topic}"));
    let mut letters = Vec::new();
    loop {
        let received = tokio::select! {
            () = cancel.cancelled() => anyhow::bail!("interrupted while reading {topic}; nothing was changed"),
            received = tokio::time::timeout(idle, consumer.recv()) => received,
        };
        let Ok(received) = received else { break };
        let message = received.with_context(|| format!("cannot read {topic}"))?;
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        letters.push(DeadLetter {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
        spinner.inc(1);
    }
    spinner.finish_and_clear();
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(letters)
}

/// One line per dead letter: id, code, origin, when, and the start of the error message.
pub fn list(letters: &[&DeadLetter], out: &mut impl Write) -> std::io::Result<()> {
    for l in letters {
        let origin = format!(
            "{}/{}/{}",
            l.header("rapport-origin-topic").unwrap_or("?"),
            l.header("rapport-origin-partition").unwrap_or("?"),
            l.header("rapport-origin-offset").unwrap_or("?")
        );
        let message: String = l
            .header("rapport-error-message")
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(60)
            .collect();
        writeln!(
            out,
            "{:<8} {:<24} {:<40} {:<24} {message}",
            l.id(),
            l.code(),
            origin,
            l.header("rapport-dead-lettered-at").unwrap_or("?"),
        )?;
    }
    Ok(())
}

/// Finds a dead letter by `offset` (when no other partition has that offset) or
/// `partition:offset`.
pub fn find<'a>(letters: &'a [DeadLetter], id: &str) -> anyhow::Result<&'a DeadLetter> {
    let (partition, offset) = match id.split_once(':') {
        Some((p, o)) => (Some(p.parse::<i32>()?), o.parse::<i64>()?),
        None => (
            None,
            id.parse::<i64>()
                .context("give an offset, or partition:offset")?,
        ),
    };
    let found: Vec<&DeadLetter> = letters
        .iter()
        .filter(|l| l.offset == offset && partition.is_none_or(|p| l.partition == p))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => anyhow::bail!("no dead letter at {id}; `rapport dlq list` shows them"),
        _ => anyhow::bail!("offset {offset} exists in several partitions; give partition:offset"),
    }
}

/// Every header, then the payload: text when it is UTF-8, base64 otherwise.
pub fn show(letter: &DeadLetter, out: &mut impl Write) -> std::io::Result<()> {
    let text = |bytes: &[u8]| match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => format!(
            "(base64) {}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    };
    writeln!(out, "dead letter {}", letter.id())?;
    writeln!(
        out,
        "key: {}",
        letter
            .key
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), text)
    )?;
    for (key, value) in &letter.headers {
        let value = value.as_deref().map_or_else(|| "(null)".to_owned(), text);
        writeln!(out, "header {key}: {value}")?;
    }
    writeln!(out, "payload ({} bytes):", letter.payload.len())?;
    writeln!(out, "{}", text(&letter.payload))?;
    Ok(())
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub replayed: usize,
    pub skipped: usize,
}

/// Re-publishes each letter's original bytes, key and headers to its origin topic and waits for
/// each acknowledgement before the next; with `dry_run`, only says what it would do. Ctrl-C
/// stops between two records (one being sent when it comes may or may not have arrived).
pub async fn replay(
    kafka: &KafkaConfig,
    allowed_topics: &[&str],
    letters: &[&DeadLetter],
    dry_run: bool,
    cancel: &CancellationToken,
    out: &mut impl Write,
) -> anyhow::Result<Replayed> {
    let producer: FutureProducer = kafka
        .producer_config()
        .create()
        .context("cannot create the Kafka producer")?;
    let bar = progress::bar(letters.len() as u64, "replaying");
    let mut done = Replayed::default();
    for letter in letters {
        if cancel.is_cancelled() {
            anyhow::bail!(
                "interrupted after replaying {} and skipping {}; the rest was not sent",
                done.replayed,
                done.skipped
            );
        }
        let Some(topic) = letter
            .header("rapport-origin-topic")
            .filter(|t| !t.is_empty())
        else {
            writeln!(
                out,
                "skipped {} ({}): no rapport-origin-topic header",
                letter.id(),
                letter.code()
            )?;
            done.skipped += 1;
            continue;
        };
        if let Some(skip) = refusal(letter, topic, allowed_topics) {
            writeln!(out, "skipped {} ({}): {skip}", letter.id(), letter.code())?;
            done.skipped += 1;
            continue;
        }
        if dry_run {
            writeln!(
                out,
                "would replay {} ({}) to {topic}",
                letter.id(),
                letter.code()
            )?;
            done.replayed += 1;
            continue;
        }
        let headers = letter.original_headers();
        let send = rapport_kafka::send_reliably(
            &producer,
            topic,
            letter.key.as_deref(),
            &letter.payload,
            &headers,
        );
        tokio::select! {
            biased;
            result = send => result.with_context(|| format!("cannot replay {} to {topic}", letter.id()))?,
            () = cancel.cancelled() => anyhow::bail!(
                "interrupted while sending {} to {topic} (it may or may not have arrived) after replaying {}",
                letter.id(),
                done.replayed
            ),
        }
        writeln!(
            out,
            "replayed {} ({}) to {topic}",
            letter.id(),
            letter.code()
        )?;
        done.replayed += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.flush()?;
    Ok(done)
}

/// Why a letter must not be replayed to `topic`, if it must not: only the raw and interactions
/// topics of the configuration take replays (a dead letter's origin is only as trustworthy as the
/// configuration that names it), and a reduced letter holds only a prefix of its payload.
fn refusal(letter: &DeadLetter, topic: &str, allowed_topics: &[&str]) -> Option<String> {
    if !allowed_topics.contains(&topic) {
        return Some(format!(
            "origin topic {topic:?} is not one of the raw or interactions topics of the configuration"
        ));
    }
    letter.header(rapport_kafka::HEADER_TRUNCATED).map(|size| {
        format!("only a prefix of its {size}-byte payload was kept; replay it from its sender")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A letter with the headers the real dead-letter path writes, so a header added there and
    /// not dropped by a replay fails the test below.
    fn letter(partition: i32, offset: i64) -> DeadLetter {
        use rdkafka::message::{Headers, OwnedMessage, Timestamp};
        let original = OwnedMessage::new(
            Some(vec![0xff, 0x00]),
            Some(b"k".to_vec()),
            "raw".into(),
            Timestamp::NotAvailable,
            partition,
            offset,
            Some(OwnedHeaders::new().insert(Header {
                key: "rapport-source",
                value: Some("zendesk"),
            })),
        );
        let rejection = rapport_kafka::Rejection {
            code: "malformed_json".into(),
            message: "expected value at line 1".into(),
        };
        let headers = rapport_kafka::dead_letter_headers(&original, &rejection, "now");
        DeadLetter {
            partition,
            offset,
            key: Some(b"k".to_vec()),
            payload: vec![0xff, 0x00],
            headers: headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }

    #[test]
    fn a_replay_sends_only_the_original_headers() {
        let headers = letter(0, 1).original_headers();
        let keys: Vec<&str> = headers.iter().map(|h| h.key).collect();
        assert_eq!(keys, ["rapport-source"]);
    }

    #[test]
    fn a_forged_origin_cannot_redirect_a_replay() {
        use rdkafka::message::{OwnedMessage, Timestamp};
        let forged = OwnedMessage::new(
            Some(b"{}".to_vec()),
            None,
            "rapport.raw.chat".into(),
            Timestamp::NotAvailable,
            0,
            9,
            Some(OwnedHeaders::new().insert(Header {
                key: "rapport-origin-topic",
                value: Some("billing.payments"),
            })),
        );
        let rejection = rapport_kafka::Rejection {
            code: "malformed_json".into(),
            message: "x".into(),
        };
        let headers = rapport_kafka::dead_letter_headers(&forged, &rejection, "now");
        let letter = DeadLetter {
            partition: 0,
            offset: 1,
            key: None,
            payload: b"{}".to_vec(),
            headers: headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        };
        assert_eq!(
            letter.header("rapport-origin-topic"),
            Some("rapport.raw.chat")
        );
        assert_eq!(letter.original_headers().count(), 0);
        let allowed = ["rapport.raw.chat", "rapport.interactions.v1"];
        assert_eq!(refusal(&letter, "rapport.raw.chat", &allowed), None);
        assert!(refusal(&letter, "billing.payments", &allowed).is_some());
    }

    #[test]
    fn an_offset_alone_finds_a_letter_only_when_it_is_unambiguous() {
        let letters = [letter(0, 1), letter(1, 1), letter(1, 2)];
        assert_eq!(find(&letters, "2").unwrap().partition, 1);
        assert!(find(&letters, "1").is_err());
        assert_eq!(find(&letters, "1:1").unwrap().partition, 1);
        assert!(find(&letters, "9").is_err());
    }

    #[test]
    fn binary_payloads_are_shown_as_base64() {
        let mut text = Vec::new();
        show(&letter(0, 1), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("(base64) /wA="), "{text}");
        assert!(text.contains("header rapport-error-code: malformed_json"));
    }
}
