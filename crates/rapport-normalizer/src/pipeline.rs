//! The consume → normalize → produce loop, with offsets stored only behind acknowledged outputs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_kafka::{
    Rejection, SchemaRegistry, ServiceContext, confirm, enqueue, is_too_large, leave_group,
};
use rapport_model::Timestamp;
use rapport_model::wire::Framing;
use rapport_runtime::Health;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

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
    let framing = framing(&config, &stop).await?;
    let shared =
        ServiceContext::new("normalizer").with_resume_rewind(config.kafka.resume_rewind_records);
    let mut consumer_config = config.kafka.consumer_config(&config.group_id);
    consumer_config
        .set("statistics.interval.ms", "5000")
        .set("queued.max.messages.kbytes", "16384");
    let consumer: Arc<StreamConsumer<Shared>> =
        Arc::new(consumer_config.create_with_context(shared.clone())?);
    let producer: FutureProducer<Shared> = config
        .kafka
        .producer_config()
        .create_with_context(shared.clone())?;
    let topics = config.raw_topics();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topic_refs)?;
    info!(topics = ?topics, group = %config.group_id, ?framing, "consuming");
    health.set_liveness(shared.liveness(config.kafka.stall_timeout()));
    health.set_ready(true);

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
    let (mut in_flight, mut in_flight_bytes) = (0usize, 0usize);
    let limits = &config.pipeline;
    let mut failure = None;
    let mut resume_check = tokio::time::interval(Duration::from_secs(1));

    loop {
        let can_poll = in_flight < limits.max_in_flight_messages
            && in_flight_bytes < limits.max_in_flight_bytes;
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(done) = done_rx.recv() => {
                in_flight -= 1;
                in_flight_bytes -= done.bytes;
                if let Err(error) = finish(&consumer, &shared, done) {
                    failure = Some(error);
                    break;
                }
            }
            _ = resume_check.tick() => shared.check_resumed(&consumer),
            received = consumer.recv(), if can_poll => {
                // Takes every record already waiting (up to a chunk) and hands them to one task:
                // a task and a wake-up per record cost more CPU than normalizing it.
                let mut chunk = Vec::new();
                let mut next = Some(received);
                while let Some(received) = next.take() {
                    let message = match received {
                        Ok(message) => message.detach(),
                        Err(error) => {
                            shared.consumer_error(&error);
                            continue;
                        }
                    };
                    if shared.admit(&*consumer, &message) {
                        let started = Instant::now();
                        metrics::counter!("rapport_normalizer_messages_in_total", "topic" => message.topic().to_owned()).increment(1);
                        let outputs = process(&config, framing, &message, Timestamp::now());
                        metrics::histogram!("rapport_normalizer_processing_seconds").record(started.elapsed().as_secs_f64());
                        shared.frontiers().begin(message.topic(), message.partition(), message.offset());
                        let bytes = message.payload().map_or(0, <[u8]>::len);
                        in_flight += 1;
                        in_flight_bytes += bytes;
                        chunk.push((message, outputs, bytes));
                    }
                    if chunk.len() < CHUNK_RECORDS
                        && in_flight < limits.max_in_flight_messages
                        && in_flight_bytes < limits.max_in_flight_bytes
                    {
                        next = ready_now(consumer.recv()).await;
                    }
                }
                if !chunk.is_empty() {
                    tokio::spawn(deliver_chunk(producer.clone(), shared.clone(), Arc::clone(&config), chunk, done_tx.clone()));
                }
            }
        }
        metrics::gauge!("rapport_normalizer_in_flight_messages").set(in_flight as f64);
        metrics::gauge!("rapport_normalizer_in_flight_bytes").set(in_flight_bytes as f64);
    }

    health.set_ready(false);
    info!(in_flight, "draining");
    let deadline = tokio::time::Instant::now() + Duration::from_millis(limits.drain_timeout_ms);
    while in_flight > 0 && failure.is_none() {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(done)) => {
                in_flight -= 1;
                if let Err(error) = finish(&consumer, &shared, done) {
                    failure = Some(error);
                }
            }
            _ => {
                warn!(
                    in_flight,
                    "drain timed out; unfinished records will be redelivered"
                );
                break;
            }
        }
    }
    leave_group(consumer, Duration::from_millis(limits.drain_timeout_ms)).await;
    failure.map_or(Ok(()), Err)
}

/// Stores the offset a completed record lets the partition's frontier reach.
fn finish(
    consumer: &StreamConsumer<Shared>,
    shared: &Shared,
    done: Completion,
) -> Result<(), NormalizerError> {
    done.result?;
    let next = shared
        .frontiers()
        .complete(&done.topic, done.partition, done.offset);
    if let Some(next) = next {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&done.topic, done.partition, Offset::Offset(next))?;
        if let Err(error) = consumer.store_offsets(&tpl) {
            // The partition was revoked between completion and store: its new owner re-reads it.
            debug!(%error, topic = %done.topic, partition = done.partition, "offset not stored");
        }
    }
    Ok(())
}

/// Records normalized together and delivered by one task.
const CHUNK_RECORDS: usize = 256;

/// The future's output if it is ready without waiting, else `None` (the future is dropped, which
/// `StreamConsumer::recv` allows: a record is taken from the queue only when it is returned).
async fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
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
/// it answers or shutdown), single-object encoding otherwise.
async fn framing(
    config: &NormalizerConfig,
    stop: &CancellationToken,
) -> Result<Framing, NormalizerError> {
    if config.registry.url.is_empty() {
        return Ok(Framing::SingleObject);
    }
    let registry = SchemaRegistry::new(&config.registry)?;
    let subject = config
        .registry
        .subject
        .clone()
        .unwrap_or_else(|| format!("{}-value", config.topics.interactions));
    let mut backoff = Duration::from_millis(200);
    loop {
        match registry
            .register(&subject, rapport_model::INTERACTION_SCHEMA_JSON)
            .await
        {
            Ok(schema_id) => {
                info!(%subject, schema_id, "interaction schema registered");
                return Ok(Framing::Confluent { schema_id });
            }
            Err(error) if error.is_retryable() => {
                warn!(%error, "schema registry not ready; retrying");
                tokio::select! {
                    () = stop.cancelled() => return Err(NormalizerError::Registry(error)),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(error) => return Err(NormalizerError::Registry(error)),
        }
    }
}
