//! The consume → batch → insert loop. Offsets are stored only for records whose rows are in
//! ClickHouse (or whose dead letter is acknowledged), as a contiguous frontier per partition.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_clickhouse::threads::{self, EmailMessage};
use rapport_clickhouse::{
    ClickHouseError, ErrorClass, ForgetList, InteractionRow, insert_isolating, state,
};
use rapport_kafka::consume::{Stage, Subscription, consume, sleep_until};
use rapport_kafka::{DecodeFailure, Decoder, Rejection, ServiceContext, send_dead_letter};
use rapport_model::Timestamp;
use rapport_responsiveness::Rules;
use rapport_runtime::Health;
use rapport_runtime::retry::{Backoff, sleep_unless};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{WriterConfig, WriterError};

/// Decoded records waiting for one insert: `rows[i]` came from `messages[i]`, which is kept for
/// the dead-letter topic in case ClickHouse refuses that row.
#[derive(Default)]
struct Batch {
    rows: Vec<InteractionRow>,
    messages: Vec<OwnedMessage>,
    /// `emails[i]`: the threading headers of `messages[i]`'s email, if it is one that has them.
    emails: Vec<Option<EmailMessage>>,
    bytes: usize,
    opened_at: Option<Instant>,
    last_added_at: Option<Instant>,
}

impl Batch {
    fn push(
        &mut self,
        row: InteractionRow,
        email: Option<EmailMessage>,
        message: OwnedMessage,
        now: Instant,
    ) {
        self.bytes += row.approximate_size() + message.payload().map_or(0, <[u8]>::len);
        self.rows.push(row);
        self.emails.push(email);
        self.messages.push(message);
        self.opened_at.get_or_insert(now);
        self.last_added_at = Some(now);
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_full(&self, config: &WriterConfig) -> bool {
        self.len() >= config.batch.max_rows || self.bytes >= config.batch.max_bytes
    }

    /// When the batch must be inserted even if it is not full.
    fn deadline(&self, config: &WriterConfig) -> Option<Instant> {
        let opened = self.opened_at?;
        let by_age = opened + Duration::from_millis(config.batch.max_delay_ms);
        let by_quiet = self.last_added_at? + Duration::from_millis(config.batch.idle_ms);
        Some(by_age.min(by_quiet))
    }
}

/// What inserted batches still owe: the state of the conversations they touched, and their
/// records, which complete once it is stored.
#[derive(Default)]
struct Owed {
    touched: state::Touched,
    /// Offsets by topic, then partition: looked up by the record's `&str` topic, so a record
    /// costs no allocation.
    records: BTreeMap<String, BTreeMap<i32, Vec<i64>>>,
    since: Option<Instant>,
}

impl Owed {
    fn add(&mut self, touched: state::Touched, messages: &[OwnedMessage], now: Instant) {
        for (tenant, conversations) in touched {
            self.touched
                .entry(tenant)
                .or_default()
                .extend(conversations);
        }
        for m in messages {
            match self.records.get_mut(m.topic()) {
                Some(partitions) => partitions
                    .entry(m.partition())
                    .or_default()
                    .push(m.offset()),
                None => {
                    let partitions = BTreeMap::from([(m.partition(), vec![m.offset()])]);
                    self.records.insert(m.topic().to_owned(), partitions);
                }
            }
        }
        self.since.get_or_insert(now);
    }

    /// Conversations owed, over every tenant.
    fn conversations(&self) -> usize {
        self.touched.values().map(BTreeSet::len).sum()
    }

    /// When the owed state must be stored: `state_delay_ms` after the first batch that owes
    /// it, or once no record has arrived for `idle_ms` (the backlog is drained), whichever is
    /// first.
    fn deadline(&self, config: &WriterConfig, last_record: Option<Instant>) -> Option<Instant> {
        let by_age = self.since? + Duration::from_millis(config.batch.state_delay_ms);
        let by_quiet = last_record.map(|at| at + Duration::from_millis(config.batch.idle_ms));
        Some(by_quiet.map_or(by_age, |quiet| quiet.min(by_age)))
    }

    /// Whether another full batch may still join before the state is stored.
    fn may_wait(&self, config: &WriterConfig, now: Instant) -> bool {
        self.conversations() < config.batch.state_max_conversations
            && self.deadline(config, None).is_some_and(|due| now < due)
    }

    fn positions(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.records.iter().flat_map(|(topic, partitions)| {
            partitions.iter().flat_map(move |(partition, offsets)| {
                offsets
                    .iter()
                    .map(move |offset| (topic.as_str(), *partition, *offset))
            })
        })
    }
}

/// Logs ClickHouse availability once per change, like the broker's.
#[derive(Default)]
struct Availability {
    down: bool,
}

impl Availability {
    fn failed(&mut self, error: &ClickHouseError, retry_in: Duration) {
        metrics::counter!("rapport_writer_retries_total").increment(1);
        if !self.down {
            self.down = true;
            warn!(%error, ?retry_in, "clickhouse unavailable; holding the batch and retrying, polling paused");
            metrics::gauge!("rapport_writer_clickhouse_up").set(0.0);
        } else {
            debug!(%error, ?retry_in, "clickhouse still unavailable");
        }
    }

    fn succeeded(&mut self) {
        if self.down {
            self.down = false;
            info!("clickhouse available again; resuming");
        }
        metrics::gauge!("rapport_writer_clickhouse_up").set(1.0);
    }
}

/// Whether more records are known to be waiting when a batch is flushed: a full batch means the
/// writer is behind, and the state of the next batches can be recomputed together with this
/// one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum More {
    Coming,
    Unknown,
}

/// Decodes records into a batch and inserts it when full or due; a batch's records complete once
/// its rows are stored (or dead-lettered) and the state of the conversations it touched is.
struct Writer {
    config: Arc<WriterConfig>,
    producer: FutureProducer<ServiceContext>,
    client: rapport_clickhouse::Client,
    availability: Availability,
    consecutive_rejections: usize,
    forget: ForgetList,
    decoder: Decoder,
    batch: Batch,
    stop: CancellationToken,
    /// Business hours and SLA policies the stored state is derived with.
    rules: Rules,
    owed: Owed,
    /// When the last record arrived: the owed state is stored once the stream goes quiet.
    last_record: Option<Instant>,
}

/// The conversations of the stored rows (those ClickHouse did not refuse), per tenant.
fn touched(rows: &[InteractionRow], rejected: &[rapport_clickhouse::Rejected]) -> state::Touched {
    let mut refused = rejected.iter().map(|r| r.index).peekable();
    let mut touched = state::Touched::new();
    for (index, row) in rows.iter().enumerate() {
        if refused.next_if_eq(&index).is_some() {
            continue;
        }
        if !touched
            .get(&row.tenant_id)
            .is_some_and(|c| c.contains(&row.conversation_id))
        {
            touched
                .entry(row.tenant_id.clone())
                .or_default()
                .insert(row.conversation_id.clone());
        }
    }
    touched
}

/// The emails of the stored rows (those ClickHouse did not refuse): `rows[i]` came from
/// `emails[origin[i]]`.
fn stored_emails(
    emails: &mut [Option<EmailMessage>],
    origin: &[usize],
    rejected: &[rapport_clickhouse::Rejected],
) -> Vec<EmailMessage> {
    let mut refused = rejected.iter().map(|r| r.index).peekable();
    let mut stored = Vec::new();
    for (index, &from) in origin.iter().enumerate() {
        if refused.next_if_eq(&index).is_some() {
            continue;
        }
        if let Some(email) = emails.get_mut(from).and_then(Option::take) {
            stored.push(email);
        }
    }
    stored
}

/// Time from receipt to stored, of every row ClickHouse took.
fn record_end_to_end(rows: &[InteractionRow], rejected: &[rapport_clickhouse::Rejected]) {
    let now = Timestamp::now().as_millis();
    let mut refused = rejected.iter().map(|r| r.index).peekable();
    let end_to_end = metrics::histogram!("rapport_writer_end_to_end_seconds");
    for (index, row) in rows.iter().enumerate() {
        if refused.next_if_eq(&index).is_none() {
            end_to_end.record((now - row.received_at_ms).max(0) as f64 / 1000.0);
        }
    }
}

/// Removes the rows of forgotten customers (the forget list of `rapport forget`), keeping
/// `origin` aligned with the rows that stay.
fn drop_forgotten(forget: &ForgetList, rows: &mut Vec<InteractionRow>, origin: &mut Vec<usize>) {
    if forget.is_empty() {
        return;
    }
    let mut kept = 0;
    for i in 0..rows.len() {
        let row = &rows[i];
        let keys = row
            .identity_types
            .iter()
            .map(String::as_str)
            .zip(row.identity_values.iter().map(String::as_str));
        if forget.forgets(&row.tenant_id, &row.conversation_id, keys) {
            metrics::counter!("rapport_writer_forgotten_dropped_total").increment(1);
            continue;
        }
        rows.swap(kept, i);
        origin.swap(kept, i);
        kept += 1;
    }
    rows.truncate(kept);
    origin.truncate(kept);
}

pub async fn run(
    config: Arc<WriterConfig>,
    health: Health,
    stop: CancellationToken,
) -> Result<(), WriterError> {
    let rules = Rules::from_config(&config.business_hours, &config.sla)?;
    let b = &config.batch;
    let ready = rapport_clickhouse::prepare(
        &config.clickhouse,
        config.migrate_on_start,
        Duration::from_millis(b.initial_backoff_ms),
        Duration::from_millis(b.max_backoff_ms),
        stop.cancelled(),
    )
    .await?;
    if !ready {
        info!("stopped before the store was ready");
        return Ok(());
    }
    let mut tables = vec![rapport_clickhouse::forget::FORGOTTEN_TABLE];
    tables.extend(threads::TABLES);
    if config.store_state {
        tables.extend(state::TABLES);
    }
    // On a cluster, another instance's migration may be making a Distributed table again in
    // front of its local table (a migration that adds a column) at this very moment: a table
    // missing for a few seconds is that, one missing for longer is a real mismatch.
    let patience = Instant::now() + Duration::from_secs(30);
    let checked = rapport_runtime::retry::retry(
        &mut Backoff::new(Duration::from_secs(1), Duration::from_secs(1)),
        stop.cancelled(),
        |_| Instant::now() < patience,
        |error, _| warn!(%error, "a table the writer writes is missing; checking again"),
        || rapport_clickhouse::check_tables_exist(&config.clickhouse, &tables),
    )
    .await?;
    if checked.is_none() {
        return Ok(());
    }
    let context =
        ServiceContext::new("writer").with_resume_rewind(config.kafka.resume_rewind_records);
    let producer: FutureProducer<ServiceContext> = config
        .kafka
        .producer_config()
        .create_with_context(context.clone())?;
    let subscription = Subscription::new(
        &config.kafka,
        &config.group_id,
        &context,
        &[config.topics.interactions.as_str()],
        // Bound what librdkafka prefetches and buffers per fetch while a batch waits for
        // ClickHouse; together with batch.max_bytes this is the writer's memory. At 16 MiB the
        // prefetch ran dry while a 16 MiB batch was built and the loop waited for fetches 29 % of
        // a drain; 32 MiB keeps one batch ahead (60,500 → 102,900 rows/s, peak RSS 139 → 198 MB,
        // docs/BENCHMARKS.md "Writer: where the time goes").
        &[
            ("queued.max.messages.kbytes", "32768"),
            ("fetch.max.bytes", "16777216"),
            ("max.partition.fetch.bytes", "8388608"),
        ],
    )?;
    info!(database = %config.clickhouse.database, "writing");
    let mut writer = Writer {
        client: config.clickhouse.client(),
        config: Arc::clone(&config),
        producer,
        availability: Availability::default(),
        consecutive_rejections: 0,
        forget: ForgetList::default(),
        decoder: Decoder::new(&config.registry)?,
        batch: Batch::default(),
        stop: stop.clone(),
        rules,
        owed: Owed::default(),
        last_record: None,
    };
    let drain = Duration::from_millis(config.batch.drain_timeout_ms);
    consume(
        subscription,
        &mut writer,
        &config.kafka,
        &health,
        &stop,
        drain,
    )
    .await
}

impl Stage for Writer {
    type Error = WriterError;
    /// The open batch is due.
    type Event = ();

    fn room(&self) -> usize {
        self.config.batch.max_rows.saturating_sub(self.batch.len())
    }

    async fn accept(
        &mut self,
        subscription: &Subscription,
        records: Vec<OwnedMessage>,
    ) -> Result<(), WriterError> {
        if !records.is_empty() {
            self.last_record = Some(Instant::now());
        }
        for message in records {
            self.accept_one(subscription, message).await?;
            if self.batch.is_full(&self.config) {
                let stop = self.stop.clone();
                self.flush(subscription, stop.cancelled(), More::Coming)
                    .await?;
            }
        }
        metrics::gauge!("rapport_writer_pending_rows").set(self.batch.len() as f64);
        Ok(())
    }

    async fn next_event(&mut self) {
        let deadline = match (
            self.batch.deadline(&self.config),
            self.owed.deadline(&self.config, self.last_record),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        sleep_until(deadline.map(tokio::time::Instant::from_std)).await;
    }

    async fn handle(&mut self, subscription: &Subscription, (): ()) -> Result<(), WriterError> {
        let stop = self.stop.clone();
        self.flush(subscription, stop.cancelled(), More::Unknown)
            .await?;
        if self.owed.since.is_some() {
            let give_up = stop.cancelled();
            tokio::pin!(give_up);
            self.settle(subscription, &[], &mut give_up).await?;
        }
        metrics::gauge!("rapport_writer_pending_rows").set(self.batch.len() as f64);
        Ok(())
    }

    async fn drain(
        &mut self,
        subscription: &Subscription,
        deadline: tokio::time::Instant,
    ) -> Result<(), WriterError> {
        if self.batch.len() > 0 {
            info!(
                rows = self.batch.len(),
                "inserting the open batch before exit"
            );
            let give_up = tokio::time::sleep_until(deadline);
            if let Err(error) = self.flush(subscription, give_up, More::Unknown).await {
                warn!(%error, "the open batch was not written; it will be redelivered");
            }
        }
        if self.owed.since.is_some() {
            let give_up = tokio::time::sleep_until(deadline);
            tokio::pin!(give_up);
            if let Err(error) = self.settle(subscription, &[], &mut give_up).await {
                warn!(%error, "the state of the last batches was not stored; they will be redelivered");
            }
        }
        Ok(())
    }
}

impl Writer {
    async fn accept_one(
        &mut self,
        subscription: &Subscription,
        message: OwnedMessage,
    ) -> Result<(), WriterError> {
        metrics::counter!("rapport_writer_messages_in_total").increment(1);
        let mut backoff = self.backoff();
        loop {
            let bytes = message.payload().unwrap_or_default();
            match self.decoder.decode(bytes).await {
                Ok(mut interaction) => {
                    let email = interaction.threading.take().map(|threading| EmailMessage {
                        tenant_id: interaction.tenant_id.clone(),
                        conversation_id: interaction.conversation_id.clone(),
                        threading,
                        sent_at: interaction.occurred_at,
                    });
                    let row = InteractionRow::new(interaction, Timestamp::now());
                    self.batch.push(row, email, message, Instant::now());
                    return Ok(());
                }
                Err(DecodeFailure::Reject(rejection)) => {
                    self.dead_letter(&message, &rejection).await?;
                    subscription.complete([&message]);
                    return Ok(());
                }
                Err(DecodeFailure::RegistryMisconfigured(error)) => return Err(error.into()),
                Err(DecodeFailure::RegistryUnavailable(error)) => {
                    let wait = backoff.next_delay();
                    warn!(%error, ?wait, "schema registry unavailable; retrying");
                    // Not completed, so not committed: the record is read again after restart.
                    if !sleep_unless(wait, self.stop.cancelled()).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_millis(self.config.batch.initial_backoff_ms),
            Duration::from_millis(self.config.batch.max_backoff_ms),
        )
    }

    /// Inserts the batch, retrying retryable failures with backoff until `give_up` resolves
    /// (then the batch is abandoned and its records are redelivered), dead-letters rows the
    /// server refuses, then stores the offsets the batch completes.
    async fn flush(
        &mut self,
        subscription: &Subscription,
        give_up: impl Future<Output = ()>,
        more: More,
    ) -> Result<(), WriterError> {
        if self.batch.len() == 0 {
            return Ok(());
        }
        let Batch {
            mut rows,
            messages,
            mut emails,
            ..
        } = std::mem::take(&mut self.batch);
        // rows[i] came from messages[origin[i]]: rows of forgotten customers leave the batch,
        // their records still complete.
        let mut origin: Vec<usize> = (0..rows.len()).collect();
        let timeout = self.config.clickhouse.request_timeout();
        let mut backoff = self.backoff();
        tokio::pin!(give_up);
        let rejected = loop {
            let started = Instant::now();
            let attempt = match self.forget.refresh(&self.client).await {
                Ok(_) => {
                    drop_forgotten(&self.forget, &mut rows, &mut origin);
                    insert_isolating(&self.client, &rows, timeout).await
                }
                Err(error) => Err(error),
            };
            match attempt {
                Ok(rejected) => {
                    metrics::histogram!("rapport_writer_insert_seconds")
                        .record(started.elapsed().as_secs_f64());
                    self.availability.succeeded();
                    break rejected;
                }
                Err(error) if error.class() == ErrorClass::Retryable => {
                    let wait = backoff.next_delay();
                    self.availability.failed(&error, wait);
                    if !sleep_unless(wait, &mut give_up).await {
                        warn!(
                            rows = rows.len(),
                            "stopping with an unwritten batch; its records will be redelivered"
                        );
                        return Ok(());
                    }
                }
                Err(error) => return Err(error.into()),
            }
        };
        // Emails are threaded even without stored state: the views group by thread.
        let emails = stored_emails(&mut emails, &origin, &rejected);
        let owes_state = self.config.store_state || !emails.is_empty();
        if owes_state {
            let now = Instant::now();
            self.owed.add(touched(&rows, &rejected), &messages, now);
            metrics::gauge!("rapport_writer_state_owed_conversations")
                .set(self.owed.conversations() as f64);
            // Emails settle at once: their threading moves conversations between threads, and
            // a recompute is planned from one batch's moves.
            let wait =
                more == More::Coming && emails.is_empty() && self.owed.may_wait(&self.config, now);
            if !wait && !self.settle(subscription, &emails, &mut give_up).await? {
                return Ok(());
            }
        }
        record_end_to_end(&rows, &rejected);
        if rejected.len() < rows.len() {
            self.consecutive_rejections = 0;
        }
        self.consecutive_rejections += rejected.len();
        if self.consecutive_rejections > self.config.batch.max_consecutive_rejections {
            return Err(ClickHouseError::AllRowsRejected {
                rows: self.consecutive_rejections,
                first: rejected[0].error.to_string(),
            }
            .into());
        }
        for r in &rejected {
            let message = &messages[origin[r.index]];
            warn!(error = %r.error, event_id = %rows[r.index].event_id, topic = message.topic(), partition = message.partition(), offset = message.offset(), "row refused by clickhouse; dead-lettering it");
            let rejection = Rejection {
                code: "clickhouse_rejected".into(),
                message: r.error.to_string(),
            };
            self.dead_letter(message, &rejection).await?;
        }
        metrics::counter!("rapport_writer_rows_written_total")
            .increment((rows.len() - rejected.len()) as u64);
        metrics::histogram!("rapport_writer_batch_rows").record(rows.len() as f64);
        if !owes_state {
            subscription.complete(&messages);
        }
        Ok(())
    }

    /// Stores the state the inserted batches owe (threading `emails` first), then completes
    /// their records. False when `give_up` came first: nothing owed completes, so those records
    /// are read again and their state recomputed then.
    async fn settle(
        &mut self,
        subscription: &Subscription,
        emails: &[EmailMessage],
        give_up: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, WriterError> {
        let owed = std::mem::take(&mut self.owed);
        metrics::gauge!("rapport_writer_state_owed_conversations").set(0.0);
        debug!(
            conversations = owed.conversations(),
            records = owed.positions().count(),
            "storing the state the inserted batches owe"
        );
        if !self.store_state(&owed.touched, emails, give_up).await? {
            return Ok(false);
        }
        subscription.complete_positions(owed.positions());
        Ok(true)
    }

    /// Recomputes and stores the state of the touched conversations, retrying what ClickHouse
    /// answers as retryable until `give_up` (then false: the batch's records are not completed,
    /// so they are read again and the state recomputed then).
    async fn store_state(
        &mut self,
        touched: &state::Touched,
        emails: &[EmailMessage],
        give_up: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, WriterError> {
        let timeout = self.config.clickhouse.request_timeout();
        let mut backoff = self.backoff();
        loop {
            let started = Instant::now();
            let attempt = self.thread_and_recompute(touched, emails, timeout).await;
            match attempt {
                Ok(conversations) => {
                    metrics::histogram!("rapport_writer_state_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!("rapport_writer_conversations_recomputed_total")
                        .increment(conversations as u64);
                    return Ok(true);
                }
                Err(error) if error.class() == ErrorClass::Retryable => {
                    let wait = backoff.next_delay();
                    self.availability.failed(&error, wait);
                    if !sleep_unless(wait, give_up.as_mut()).await {
                        warn!(
                            "stopping before the conversations' state was stored; the batch will be redelivered"
                        );
                        return Ok(false);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Threads the batch's emails ([`threads`]), then recomputes and stores the state of every
    /// touched conversation's thread and of the threads conversations moved out of. Each version
    /// is taken after this instance's own writes and before its reads (see [`threads`]).
    async fn thread_and_recompute(
        &self,
        touched: &state::Touched,
        emails: &[EmailMessage],
        timeout: Duration,
    ) -> Result<usize, ClickHouseError> {
        let mut moves = threads::Moves::new();
        if !emails.is_empty() {
            threads::record(&self.client, emails, timeout).await?;
            let version = Timestamp::now().as_millis();
            moves = threads::rethread(&self.client, emails, version, timeout).await?;
            let moved: usize = moves.values().map(Vec::len).sum();
            metrics::counter!("rapport_writer_conversations_rethreaded_total")
                .increment(moved as u64);
        }
        if !self.config.store_state {
            return Ok(0);
        }
        let version = Timestamp::now().as_millis();
        let rows =
            state::recompute_threads(&self.client, touched, &moves, version, &self.rules).await?;
        state::store(&self.client, &rows, timeout).await?;
        Ok(rows.len())
    }

    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        rejection: &Rejection,
    ) -> Result<(), WriterError> {
        send_dead_letter(
            &self.producer,
            &self.config.topics.dlq,
            message,
            rejection,
            &Timestamp::now().to_string(),
            self.config.kafka.max_message_bytes,
        )
        .await
        .map_err(WriterError::DeadLetter)?;
        metrics::counter!("rapport_writer_dlq_total", "code" => rejection.family().to_owned())
            .increment(1);
        Ok(())
    }
}
