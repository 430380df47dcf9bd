//! The consume → normalize → produce loop, with offsets stored only behind acknowledged outputs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_kafka::consume::{Stage, Subscription, consume};
use rapport_kafka::{Rejection, SchemaRegistry, ServiceContext, confirm, enqueue, is_too_large};
use rapport_model::Timestamp;
use rapport_model::wire::Framing;
use rapport_runtime::Health;
use rapport_runtime::retry::{Backoff, retry};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::output::{Output, OutputKind, dead_letter, item_message, process, reduced_dead_letter};
use crate::{NormalizerConfig, NormalizerError};

type Shared = ServiceContext;

/// One raw record's outputs, finished.
struct Completion {
    topic: String,
    partition: i32,
    offset: i64,
    bytes: usize,
    result: Result<(), NormalizerError>,
}

pub async fn run(
    config: Arc<NormalizerConfig>,
    health: Health,
    stop: CancellationToken,
) -> Result<(), NormalizerError> {
    let Some(framing) = framing(&config, &stop).await? else {
        info!("stopped before the schema registry answered");
        return Ok(());
    };
    let context =
        ServiceContext::new("normalizer").with_resume_rewind(config.kafka.resume_rewind_records);
    let producer: FutureProducer<Shared> = config
        .kafka
        .producer_config()
        .create_with_context(context.clone())?;
    let topics = config.raw_topics();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let subscription = Subscription::new(
        &config.kafka,
        &config.group_id,
        &context,
        &topic_refs,
        &[("queued.max.messages.kbytes", "16384")],
    )?;
    info!(?framing, "publishing interactions");
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let drain = Duration::from_millis(config.pipeline.drain_timeout_ms);
    let mut stage = Normalizer {
        config: Arc::clone(&config),
        framing,
        producer,
        context,
        done_tx,
        done_rx,
        in_flight: 0,
        in_flight_bytes: 0,
    };
    consume(
        subscription,
        &mut stage,
        &config.kafka,
        &health,
        &stop,
        drain,
    )
    .await
}

/// Normalizes each record as it arrives and delivers its outputs in tasks of their own; a record
/// completes when all its outputs are acknowledged. In-flight records and bytes are bounded.
struct Normalizer {
    config: Arc<NormalizerConfig>,
    framing: Framing,
    producer: FutureProducer<Shared>,
    context: Shared,
    done_tx: mpsc::UnboundedSender<Completion>,
    done_rx: mpsc::UnboundedReceiver<Completion>,
    in_flight: usize,
    in_flight_bytes: usize,
}

impl Normalizer {
    fn finished(
        &mut self,
        subscription: &Subscription,
        done: Completion,
    ) -> Result<(), NormalizerError> {
        self.in_flight -= 1;
        self.in_flight_bytes -= done.bytes;
        self.gauges();
        done.result?;
        subscription.complete_offset(&done.topic, done.partition, done.offset);
        Ok(())
    }

    fn gauges(&self) {
        metrics::gauge!("rapport_normalizer_in_flight_messages").set(self.in_flight as f64);
        metrics::gauge!("rapport_normalizer_in_flight_bytes").set(self.in_flight_bytes as f64);
    }
}

impl Stage for Normalizer {
    type Error = NormalizerError;
    type Event = Option<Completion>;

    fn room(&self) -> usize {
        let limits = &self.config.pipeline;
        if self.in_flight_bytes >= limits.max_in_flight_bytes {
            return 0;
        }
        limits.max_in_flight_messages.saturating_sub(self.in_flight)
    }

    /// Normalizes the chunk here and hands its outputs to one task: a task and a wake-up per
    /// record cost more CPU than normalizing it.
    async fn accept(
        &mut self,
        _: &Subscription,
        records: Vec<OwnedMessage>,
    ) -> Result<(), NormalizerError> {
        let mut chunk = Vec::with_capacity(records.len());
        for message in records {
            let started = Instant::now();
            metrics::counter!("rapport_normalizer_messages_in_total", "topic" => message.topic().to_owned()).increment(1);
            let outputs = process(&self.config, self.framing, &message, Timestamp::now());
            metrics::histogram!("rapport_normalizer_processing_seconds")
                .record(started.elapsed().as_secs_f64());
            let bytes = message.payload().map_or(0, <[u8]>::len);
            self.in_flight += 1;
            self.in_flight_bytes += bytes;
            chunk.push((message, outputs, bytes));
        }
        self.gauges();
        tokio::spawn(deliver_chunk(
            self.producer.clone(),
            self.context.clone(),
            Arc::clone(&self.config),
            chunk,
            self.done_tx.clone(),
        ));
        Ok(())
    }

    async fn next_event(&mut self) -> Option<Completion> {
        self.done_rx.recv().await
    }

    async fn handle(
        &mut self,
        subscription: &Subscription,
        done: Option<Completion>,
    ) -> Result<(), NormalizerError> {
        // The stage holds a sender, so the channel never closes.
        done.map_or(Ok(()), |done| self.finished(subscription, done))
    }

    async fn drain(
        &mut self,
        subscription: &Subscription,
        deadline: tokio::time::Instant,
    ) -> Result<(), NormalizerError> {
        info!(in_flight = self.in_flight, "draining");
        while self.in_flight > 0 {
            match tokio::time::timeout_at(deadline, self.done_rx.recv()).await {
                Ok(Some(done)) => self.finished(subscription, done)?,
                _ => {
                    warn!(
                        in_flight = self.in_flight,
                        "drain timed out; unfinished records will be redelivered"
                    );
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Enqueues every output of a chunk before awaiting any acknowledgement, so librdkafka batches
/// them and one task waits for all; then finishes each record in order.
async fn deliver_chunk(
    producer: FutureProducer<Shared>,
    shared: Shared,
    config: Arc<NormalizerConfig>,
    chunk: Vec<(OwnedMessage, Vec<Output>, usize)>,
    done: mpsc::UnboundedSender<Completion>,
) {
    let enqueued: Vec<Vec<Option<DeliveryFuture>>> = chunk
        .iter()
        .map(|(_, outputs, _)| {
            outputs
                .iter()
                .map(|o| {
                    enqueue(
                        &producer,
                        &o.topic,
                        o.key.as_deref(),
                        &o.payload,
                        &o.headers,
                    )
                })
                .collect()
        })
        .collect();
    for ((message, outputs, bytes), futures) in chunk.into_iter().zip(enqueued) {
        deliver(
            &producer, &shared, &config, message, outputs, futures, bytes, &done,
        )
        .await;
    }
}

/// Waits for every output of one raw record and reports back when all are acknowledged. An output
/// the broker refuses for good (too large, not authorized) sends the raw record to the DLQ
/// instead; a dead letter refused for its size goes again in its reduced form (a prefix and a
/// hash), so one record never stops the service. Only a DLQ that refuses even that is fatal: it
/// is misconfigured (not authorized, or a record limit under 128 KiB), not fed bad input.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    producer: &FutureProducer<Shared>,
    shared: &Shared,
    config: &NormalizerConfig,
    message: OwnedMessage,
    outputs: Vec<Output>,
    enqueued: Vec<Option<DeliveryFuture>>,
    bytes: usize,
    done: &mpsc::UnboundedSender<Completion>,
) {
    let mut result = Ok(());
    for (output, delivery) in outputs.into_iter().zip(enqueued) {
        let kind = output.kind.clone();
        let Err(error) = send(producer, shared, output, delivery).await else {
            continue;
        };
        result = match kind {
            OutputKind::DeadLetter {
                family,
                rejection,
                reduced: false,
                item,
            } if is_too_large(&error) => {
                warn!(%error, topic = message.topic(), partition = message.partition(), offset = message.offset(), "dead letter refused for its size; sending its reduced form");
                let reduced = match item {
                    Some(item) => reduced_dead_letter(config, &item_message(&message, &item), family, &rejection, Timestamp::now()),
                    None => reduced_dead_letter(config, &message, family, &rejection, Timestamp::now()),
                };
                send(producer, shared, reduced, None).await
            }
            OutputKind::DeadLetter { .. } => Err(error),
            OutputKind::Interaction { .. } => {
                warn!(%error, topic = message.topic(), partition = message.partition(), offset = message.offset(), "interaction refused by the broker; dead-lettering the raw record");
                let rejection = Rejection {
                    code: "publish_failed".into(),
                    message: error.to_string(),
                };
                let letter = dead_letter(config, &message, "publish_failed", &rejection, Timestamp::now());
                match send(producer, shared, letter, None).await {
                    Err(error) if is_too_large(&error) => {
                        let reduced = reduced_dead_letter(config, &message, "publish_failed", &rejection, Timestamp::now());
                        send(producer, shared, reduced, None).await
                    }
                    other => other,
                }
            }
        }
        .map_err(NormalizerError::DeadLetter);
        break;
    }
    let _ = done.send(Completion {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        bytes,
        result,
    });
}

/// Sends one output (already enqueued, or not) until the broker acknowledges or refuses it for good.
async fn send(
    producer: &FutureProducer<Shared>,
    shared: &Shared,
    output: Output,
    enqueued: Option<DeliveryFuture>,
) -> Result<(), KafkaError> {
    let Output {
        topic,
        key,
        payload,
        headers,
        kind,
    } = output;
    // Retries through broker outages without limit: an outage blocks here (and, through the
    // in-flight limit, stops polling) instead of dropping or dead-lettering records.
    confirm(
        enqueued,
        producer,
        &topic,
        key.as_deref(),
        &payload,
        &headers,
    )
    .await?;
    shared.broker_reachable();
    match kind {
        OutputKind::Interaction { source } => {
            metrics::counter!("rapport_normalizer_interactions_out_total", "source" => source.as_str()).increment(1);
        }
        OutputKind::DeadLetter {
            family, reduced, ..
        } => {
            metrics::counter!("rapport_normalizer_dlq_total", "code" => family).increment(1);
            if reduced {
                metrics::counter!("rapport_normalizer_dlq_reduced_total").increment(1);
            }
        }
    }
    Ok(())
}

/// Confluent framing with the registered schema id when a registry is configured (retrying until
/// it answers; `None` when `stop` came first), single-object encoding otherwise.
async fn framing(
    config: &NormalizerConfig,
    stop: &CancellationToken,
) -> Result<Option<Framing>, NormalizerError> {
    if config.registry.url.is_empty() {
        return Ok(Some(Framing::SingleObject));
    }
    let registry = SchemaRegistry::new(&config.registry)?;
    let subject = config
        .registry
        .subject
        .clone()
        .unwrap_or_else(|| format!("{}-value", config.topics.interactions));
    let registered = retry(
        &mut Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        stop.cancelled(),
        rapport_kafka::RegistryError::is_retryable,
        |error, wait| warn!(%error, ?wait, "schema registry not ready; retrying"),
        || registry.register(&subject, rapport_model::INTERACTION_SCHEMA_JSON),
    )
    .await?;
    Ok(registered.map(|schema_id| {
        info!(%subject, schema_id, "interaction schema registered");
        Framing::Confluent { schema_id }
    }))
}
