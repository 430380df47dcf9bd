//! `rapport consume`: print what a topic holds, from the beginning until it goes quiet. Avro
//! interactions are decoded to the contract's JSON and SLA announcements (`rapport.sla.v1`) to
//! theirs; anything else is printed as a raw record line
//! (the format `rapport generate --output` writes and `rapport normalize --records` reads back).

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine;
use rapport_kafka::KafkaConfig;
use rapport_model::wire::decode_single_object;
use rapport_sla::event::SlaEvent;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use serde_json::{Map, Value, json};

use crate::config::CliConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    topic: String,
    /// Stop after this long without a new record.
    #[arg(long, default_value_t = 3000)]
    idle_ms: u64,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let printed = print(
        &config.kafka,
        &args.topic,
        Duration::from_millis(args.idle_ms),
        &mut std::io::stdout().lock(),
    )
    .await?;
    eprintln!(
        "{}: {} interactions, {} sla events, {} other records",
        args.topic, printed.interactions, printed.sla_events, printed.records
    );
    Ok(0)
}

/// Counts of what was printed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Printed {
    pub interactions: usize,
    pub sla_events: usize,
    pub records: usize,
}

/// Prints `topic` from the beginning until nothing arrives for `idle`.
pub async fn print(
    kafka: &KafkaConfig,
    topic: &str,
    idle: Duration,
    out: &mut impl Write,
) -> anyhow::Result<Printed> {
    // A throw-away group: reading never moves any service's offsets.
    let group = format!(
        "rapport-consume-{}-{}",
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
    let mut printed = Printed::default();
    while let Ok(received) = tokio::time::timeout(idle, consumer.recv()).await {
        let message = received.with_context(|| format!("cannot read {topic}"))?;
        let payload = message.payload().unwrap_or_default();
        if let Ok(interaction) = decode_single_object(payload) {
            serde_json::to_writer(&mut *out, &interaction)?;
            printed.interactions += 1;
        } else if let Ok(event) = SlaEvent::decode(payload) {
            serde_json::to_writer(&mut *out, &event)?;
            printed.sla_events += 1;
        } else {
            let mut headers = Map::new();
            if let Some(h) = message.headers() {
                for header in h.iter() {
                    let value = header
                        .value
                        .map(|v| String::from_utf8_lossy(v).into_owned());
                    headers.insert(
                        header.key.to_owned(),
                        value.map_or(Value::Null, Value::String),
                    );
                }
            }
            let line = json!({
                "topic": message.topic(),
                "partition": message.partition(),
                "offset": message.offset(),
                "key": message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                "headers": headers,
                "payload_base64": base64::engine::general_purpose::STANDARD.encode(payload),
            });
            serde_json::to_writer(&mut *out, &line)?;
            printed.records += 1;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(printed)
}
