//! The loop: records of the interactions topic say which conversations changed; once their
//! events are stored, those conversations are derived and planned (`plan`); timers wake the
//! conversations whose next at-risk or due time has come. Announcements are acknowledged by the
//! broker before the ledger records them, and the ledger is written before the records' offsets
//! are stored: a crash in between announces again, with the same ids.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rapport_clickhouse::sla::{self as store, LedgerRow};
use rapport_clickhouse::{binds, insert_into, state};
use rapport_kafka::{
    DecodeFailure, Decoder, SchemaRegistry, ServiceContext, TopicSpec, ensure_topics, leave_group,
    send_all_reliably,
};
use rapport_model::Timestamp;
use rapport_model::wire::Framing;
use rapport_responsiveness::Rules;
use rapport_runtime::Health;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::event::SlaEvent;
use crate::plan::{Context, plan};
use crate::{SlaError, SlaServiceConfig};

/// Records gathered before their conversations are evaluated. An evaluation reads each touched
/// conversation's whole history, so while a backlog drains, the more records share one, the
/// fewer times a conversation that many of them touch is read (`batch_delay_ms` bounds the wait
/// when records are few).
const MAX_BATCH: usize = 10_000;
/// How long a record's events may take to reach the store before its conversation is evaluated
/// with what is there (the writer drops forgotten customers' events and dead-letters rows
/// ClickHouse refuses: those never arrive).
const STORE_PATIENCE: Duration = Duration::from_secs(30);

/// (fire at, tenant, conversation, partition), earliest first.
type Timer = Reverse<(i64, String, String, i32)>;

struct Service {
    config: Arc<SlaServiceConfig>,
    client: rapport_clickhouse::Client,
    consumer: Arc<StreamConsumer<ServiceContext>>,
    producer: FutureProducer<ServiceContext>,
    context: ServiceContext,
    rules: Rules,
    framing: Framing,
    /// Partitions of the interactions topic this instance holds.
    assigned: BTreeSet<i32>,
    timers: BinaryHeap<Timer>,
    last_version: i64,
}

fn now_ms() -> i64 {
    Timestamp::now().as_millis()
}

pub async fn run(
    config: Arc<SlaServiceConfig>,
    health: Health,
    stop: CancellationToken,
) -> Result<(), SlaError> {
    let rules = Rules::from_config(&config.business_hours, &config.sla)?;
    let ready = rapport_clickhouse::prepare(
        &config.clickhouse,
        config.migrate_on_start,
        Duration::from_millis(250),
        Duration::from_secs(10),
        stop.cancelled(),
    )
    .await?;
    if !ready {
        return Ok(());
    }
    rapport_clickhouse::check_tables_exist(&config.clickhouse, &["interaction_log", "sla_ledger"])
        .await?;
    ensure_topics(
        &config.kafka,
        &[TopicSpec {
            name: config.topics.sla.clone(),
            compacted: false,
        }],
    )
    .await?;
    let Some(framing) = framing(&config, &stop).await? else {
        return Ok(());
    };
    let context = ServiceContext::new("sla").with_resume_rewind(config.kafka.resume_rewind_records);
    let consumer: Arc<StreamConsumer<ServiceContext>> = Arc::new(
        config
            .kafka
            .consumer_config(&config.group_id)
            .create_with_context(context.clone())?,
    );
    let producer: FutureProducer<ServiceContext> = config
        .kafka
        .producer_config()
        .create_with_context(context.clone())?;
    consumer.subscribe(&[config.topics.interactions.as_str()])?;
    info!(topic = %config.topics.interactions, group = %config.group_id, sla_topic = %config.topics.sla, "consuming");
    health.set_liveness(context.liveness(config.kafka.stall_limits()));
    health.set_ready(true);

    let mut service = Service {
        client: config.clickhouse.client(),
        consumer,
        producer,
        context,
        rules,
        framing,
        assigned: BTreeSet::new(),
        timers: BinaryHeap::new(),
        last_version: 0,
        config: Arc::clone(&config),
    };
    let mut decoder = Decoder::new(&config.registry)?;
    let mut batch: Vec<OwnedMessage> = Vec::new();
    let mut batch_deadline: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut failure = None;
    loop {
        let next_timer = service.timers.peek().map(|Reverse((at, ..))| *at);
        let result = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = until_epoch_ms(next_timer) => service.fire(&stop).await,
            () = until(batch_deadline) => {
                batch_deadline = None;
                service.flush(std::mem::take(&mut batch), &mut decoder, &stop).await
            }
            _ = tick.tick() => {
                service.context.check_resumed(&service.consumer);
                service.sync_assignment().await
            }
            received = service.consumer.recv() => {
                match received {
                    Ok(message) => {
                        service.context.broker_reachable();
                        if service.context.admit(&*service.consumer, &message) {
                            batch.push(message.detach());
                            batch_deadline.get_or_insert_with(|| {
                                tokio::time::Instant::now()
                                    + Duration::from_millis(config.batch_delay_ms)
                            });
                        }
                        Ok(())
                    }
                    Err(error) => {
                        service.context.consumer_error(&error);
                        Ok(())
                    }
                }
            }
        };
        let result = match result {
            Ok(()) if batch.len() >= MAX_BATCH => {
                batch_deadline = None;
                service
                    .flush(std::mem::take(&mut batch), &mut decoder, &stop)
                    .await
            }
            other => other,
        };
        if let Err(error) = result {
            failure = Some(error);
            break;
        }
        metrics::gauge!("rapport_sla_timers").set(service.timers.len() as f64);
    }
    health.set_ready(false);
    // Records not evaluated are not completed: the next owner of their partition reads them.
    leave_group(service.consumer, Duration::from_secs(10)).await;
    failure.map_or(Ok(()), Err)
}

async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn until_epoch_ms(at: Option<i64>) {
    match at {
        Some(at) => {
            let wait = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        None => std::future::pending().await,
    }
}

/// Single-object encoding without a registry; with one, the schema registered under
/// `<topics.sla>-value` and its id. `None` when stopped while the registry was away.
async fn framing(
    config: &SlaServiceConfig,
    stop: &CancellationToken,
) -> Result<Option<Framing>, SlaError> {
    if config.registry.url.is_empty() {
        return Ok(Some(Framing::SingleObject));
    }
    let registry = SchemaRegistry::new(&config.registry)?;
    let subject = format!("{}-value", config.topics.sla);
    let mut backoff = Duration::from_millis(200);
    loop {
        match registry
            .register(&subject, crate::event::SLA_EVENT_SCHEMA_JSON)
            .await
        {
            Ok(schema_id) => {
                info!(%subject, schema_id, "sla event schema registered");
                return Ok(Some(Framing::Confluent { schema_id }));
            }
            Err(error) if error.is_retryable() => {
                warn!(%error, "schema registry not ready; retrying");
                tokio::select! {
                    () = stop.cancelled() => return Ok(None),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

impl Service {
    fn version(&mut self, now: i64) -> i64 {
        self.last_version = now.max(self.last_version + 1);
        self.last_version
    }

    /// Notices partitions gained (arms the timers of their pending cycles from the ledger) and
    /// lost (forgets their conversations; their new owner arms them).
    async fn sync_assignment(&mut self) -> Result<(), SlaError> {
        let topic = self.config.topics.interactions.as_str();
        let now: BTreeSet<i32> = match self.consumer.assignment() {
            Ok(list) => list
                .elements()
                .iter()
                .filter(|e| e.topic() == topic)
                .map(|e| e.partition())
                .collect(),
            Err(error) => {
                warn!(%error, "cannot read the assignment");
                return Ok(());
            }
        };
        for &partition in now.difference(&self.assigned) {
            let timers = &mut self.timers;
            let armed = store::pending_timers(&self.client, partition, |t| {
                timers.push(Reverse((
                    t.fire_at_ms,
                    t.tenant_id,
                    t.conversation_id,
                    partition,
                )));
            })
            .await?;
            info!(
                partition,
                timers = armed,
                "partition assigned; pending cycles armed"
            );
        }
        for partition in self.assigned.difference(&now) {
            // Its timers are skipped when they come up; the new owner arms them.
            info!(partition, "partition revoked");
        }
        self.assigned = now;
        Ok(())
    }

    /// Evaluates every conversation whose timer has come.
    async fn fire(&mut self, stop: &CancellationToken) -> Result<(), SlaError> {
        // A timer armed from a record may belong to a partition gained since the last check.
        self.sync_assignment().await?;
        let now = now_ms();
        let mut due: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
        while let Some(Reverse((at, ..))) = self.timers.peek()
            && *at <= now
        {
            let Some(Reverse((at, tenant, conversation, partition))) = self.timers.pop() else {
                break;
            };
            if self.assigned.contains(&partition) {
                metrics::histogram!("rapport_sla_timer_delay_seconds")
                    .record((now - at) as f64 / 1000.0);
                due.entry(tenant)
                    .or_default()
                    .insert(conversation, partition);
            }
        }
        for (tenant, conversations) in due {
            // Stopped: the ledger arms these again for whoever holds the partition next.
            if !self.evaluate(&tenant, conversations, stop).await? {
                break;
            }
        }
        Ok(())
    }

    /// Evaluates the conversations of `messages` once their events are stored, then completes
    /// the records.
    async fn flush(
        &mut self,
        messages: Vec<OwnedMessage>,
        decoder: &mut Decoder,
        stop: &CancellationToken,
    ) -> Result<(), SlaError> {
        if messages.is_empty() {
            return Ok(());
        }
        // tenant → conversation → (partition, event ids)
        // Event ids as a set: a record read twice names its event twice, and the store answers
        // with distinct ids.
        type Touched = BTreeMap<String, (i32, BTreeSet<String>)>;
        let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
        for message in &messages {
            let Some(payload) = message.payload() else {
                continue;
            };
            let interaction = loop {
                match decoder.decode(payload).await {
                    Ok(interaction) => break Some(interaction),
                    // The writer dead-letters it; nothing to announce.
                    Err(DecodeFailure::Reject(_)) => break None,
                    Err(DecodeFailure::RegistryUnavailable(reason)) => {
                        warn!(%reason, "schema registry unavailable; retrying");
                        tokio::select! {
                            () = stop.cancelled() => return Ok(()),
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                    Err(DecodeFailure::RegistryMisconfigured(error)) => return Err(error.into()),
                }
            };
            if let Some(i) = interaction {
                touched
                    .entry(i.tenant_id.clone())
                    .or_default()
                    .entry(i.conversation_id.clone())
                    .or_insert_with(|| (message.partition(), BTreeSet::new()))
                    .1
                    .insert(i.event_id.to_string());
            }
        }
        for (tenant, conversations) in touched {
            if !self
                .wait_until_stored(&tenant, &conversations, stop)
                .await?
                || !self
                    .evaluate(
                        &tenant,
                        conversations
                            .into_iter()
                            .map(|(id, (partition, _))| (id, partition))
                            .collect(),
                        stop,
                    )
                    .await?
            {
                // Stopped: not completed, so the records are read again.
                return Ok(());
            }
        }
        self.context.complete(&*self.consumer, &messages);
        metrics::counter!("rapport_sla_messages_in_total").increment(messages.len() as u64);
        Ok(())
    }

    /// Waits until the store holds the events of `conversations` (or `STORE_PATIENCE` passed);
    /// false when stopped.
    async fn wait_until_stored(
        &self,
        tenant: &str,
        conversations: &BTreeMap<String, (i32, BTreeSet<String>)>,
        stop: &CancellationToken,
    ) -> Result<bool, SlaError> {
        let started = tokio::time::Instant::now();
        let poll = Duration::from_millis(self.config.store_poll_ms);
        let ids: Vec<&String> = conversations.keys().collect();
        // Both lists go into one query: halves, so that together they fit it.
        for ids in binds::halves(&ids) {
            let events: Vec<&String> = ids.iter().flat_map(|id| &conversations[*id].1).collect();
            for wanted in binds::halves(&events) {
                loop {
                    match store::stored_event_ids(&self.client, tenant, ids, wanted).await {
                        Ok(found) if found.len() >= wanted.len() => break,
                        Ok(_) if started.elapsed() >= STORE_PATIENCE => {
                            warn!(
                                tenant,
                                "events not stored in time; evaluating what is stored"
                            );
                            break;
                        }
                        Ok(_) => {}
                        Err(error) if error.is_retryable() => {
                            warn!(%error, "clickhouse unavailable; retrying");
                        }
                        Err(error) => return Err(error.into()),
                    }
                    tokio::select! {
                        () = stop.cancelled() => return Ok(false),
                        () = tokio::time::sleep(poll) => {}
                    }
                }
            }
        }
        Ok(true)
    }

    /// Derives `conversations` of `tenant` from the store, announces what their plans say, and
    /// records it in the ledger. Retries what ClickHouse answers as passing; false when stopped
    /// first.
    async fn evaluate(
        &mut self,
        tenant: &str,
        conversations: BTreeMap<String, i32>,
        stop: &CancellationToken,
    ) -> Result<bool, SlaError> {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.try_evaluate(tenant, &conversations).await {
                Ok(()) => return Ok(true),
                Err(SlaError::ClickHouse(error)) if error.is_retryable() => {
                    warn!(%error, "clickhouse unavailable; evaluating again");
                }
                Err(error) => return Err(error),
            }
            tokio::select! {
                () = stop.cancelled() => return Ok(false),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn try_evaluate(
        &mut self,
        tenant: &str,
        conversations: &BTreeMap<String, i32>,
    ) -> Result<(), SlaError> {
        // What was announced so far, read back every time: memory holds timers only.
        let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (id, &partition) in conversations {
            by_partition.entry(partition).or_default().push(id.clone());
        }
        let mut known: HashMap<&str, Vec<LedgerRow>> = HashMap::new();
        let mut rows = Vec::new();
        for (partition, ids) in by_partition {
            for chunk in binds::chunks(&ids) {
                rows.extend(store::ledger_of(&self.client, partition, tenant, chunk).await?);
            }
        }
        for row in rows {
            if let Some((id, _)) = conversations.get_key_value(&row.conversation_id) {
                known.entry(id.as_str()).or_default().push(row);
            }
        }
        let ids: Vec<String> = conversations.keys().cloned().collect();
        let derived = state::derive(&self.client, tenant, &ids, &self.rules).await?;
        let now = now_ms();
        let mut events: Vec<SlaEvent> = Vec::new();
        let mut ledger: Vec<LedgerRow> = Vec::new();
        for (id, &partition) in conversations {
            let Some(d) = derived.get(id) else {
                continue;
            };
            let version = self.version(now);
            let p = plan(
                Context {
                    tenant_id: tenant,
                    conversation_id: id,
                    partition,
                    now,
                    version,
                },
                d,
                known.get(id.as_str()).map_or(&[], Vec::as_slice),
            );
            if let Some(at) = p.next_fire {
                self.timers
                    .push(Reverse((at, tenant.to_owned(), id.clone(), partition)));
            }
            events.extend(p.events);
            ledger.extend(p.ledger);
        }
        self.announce(&events).await?;
        insert_into(
            &self.client,
            "sla_ledger",
            &ledger,
            self.config.clickhouse.request_timeout(),
        )
        .await?;
        Ok(())
    }

    /// Sends `events` and waits until the broker acknowledged every one.
    async fn announce(&self, events: &[SlaEvent]) -> Result<(), SlaError> {
        if events.is_empty() {
            return Ok(());
        }
        let records: Vec<(Vec<u8>, Vec<u8>)> = events
            .iter()
            .map(|e| {
                (
                    format!("{}/{}", e.tenant_id, e.conversation_id).into_bytes(),
                    e.encode(self.framing),
                )
            })
            .collect();
        send_all_reliably(
            &self.producer,
            &self.config.topics.sla,
            &records,
            &OwnedHeaders::new(),
        )
        .await?;
        for e in events {
            metrics::counter!("rapport_sla_events_total", "kind" => e.kind.as_str()).increment(1);
            info!(kind = e.kind.as_str(), tenant = %e.tenant_id, conversation = %e.conversation_id, target = %e.target, event_id = %e.event_id, "announced");
        }
        Ok(())
    }
}
