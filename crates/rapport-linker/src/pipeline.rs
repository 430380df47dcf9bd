//! Consume interactions → resolve identities → write links and customers → publish changes →
//! store offsets. One task owns the graph at a time (the loop or an admin request).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_clickhouse::ForgetList;
use rapport_clickhouse::forget::{ForgottenRow, KIND_IDENTITY, digest_hex};
use rapport_identity::{Change, IdentityGraph, Observation, Unlinked};
use rapport_kafka::consume::{Stage, Subscription, consume, sleep_until};
use rapport_kafka::{
    AssignmentChange, DecodeFailure, Decoder, ServiceContext, TopicSpec, ensure_topics,
    send_all_reliably, send_dead_letter, send_tombstone,
};
use rapport_model::Interaction;
use rapport_model::Timestamp;
use rapport_runtime::Health;
use rapport_runtime::retry::{Backoff, never, retry};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::shard::{Shard, partition_of};
use crate::store::{self, CustomerIdentityRow, CustomerRow, LinkRow};
use crate::{LinkerConfig, LinkerError};

/// The graph and what writes its consequences, shared by the loop and the admin API.
pub struct State {
    config: Arc<LinkerConfig>,
    pub graph: IdentityGraph,
    client: rapport_clickhouse::Client,
    producer: FutureProducer<ServiceContext>,
    context: ServiceContext,
    /// False until the graph was rebuilt from the store; the admin API answers 503 before.
    pub restored: bool,
    /// What `rapport forget` erased: interactions carrying it are dropped, links naming it are
    /// never stored.
    pub forget: ForgetList,
    /// Sharded mode: the partitions and tenants this instance holds. `None`: every tenant.
    pub shard: Option<Shard>,
    failed: CancellationToken,
    failure: Option<String>,
}

#[derive(Clone)]
pub struct Core(Arc<Mutex<State>>);

impl Core {
    pub fn new(config: Arc<LinkerConfig>) -> Result<Self, LinkerError> {
        let context =
            ServiceContext::new("linker").with_resume_rewind(config.kafka.resume_rewind_records);
        let producer = config
            .kafka
            .producer_config()
            .create_with_context(context.clone())?;
        Ok(Self(Arc::new(Mutex::new(State {
            graph: IdentityGraph::new(config.identity.clone()),
            client: config.clickhouse.client(),
            producer,
            context,
            restored: false,
            forget: ForgetList::default(),
            shard: None,
            failed: CancellationToken::new(),
            failure: None,
            config,
        }))))
    }

    pub async fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().await
    }
}

/// What a batch of interactions changed, merged: the last customer of each identifier with the
/// customer it had before the batch.
#[derive(Default)]
struct Pending {
    messages: Vec<OwnedMessage>,
    links: Vec<LinkRow>,
    changes: BTreeMap<(String, String), Change>,
    opened_at: Option<Instant>,
}

impl Pending {
    fn add(&mut self, observation: Observation, now: Timestamp) {
        for link in &observation.new_links {
            self.links.push(LinkRow::link(link, "linked", now));
        }
        for link in &observation.held {
            self.links.push(LinkRow::link(link, "held", now));
        }
        for change in observation.changes {
            merge_change(&mut self.changes, change);
        }
    }
}

impl Pending {
    /// Drops what came from `partition` (revoked): its records are never completed here, and
    /// the new owner reads them again on top of what was stored.
    fn purge(&mut self, partition: i32, partitions: i32) {
        let gone = |tenant: &str| partition_of(tenant, partitions) == partition;
        self.messages.retain(|m| m.partition() != partition);
        self.links.retain(|l| !gone(&l.tenant_id));
        self.changes.retain(|(tenant, _), _| !gone(tenant));
        if self.messages.is_empty() {
            self.opened_at = None;
        }
    }
}

fn merge_change(changes: &mut BTreeMap<(String, String), Change>, change: Change) {
    let key = (change.tenant_id.clone(), change.identifier.clone());
    changes
        .entry(key)
        .and_modify(|existing| existing.customer_id = change.customer_id)
        .or_insert(change);
}

impl State {
    /// Stores links, publishes the changes, then stores customers, retrying while ClickHouse is
    /// unavailable. Only then may the offsets of the interactions behind them be stored. The
    /// order makes every crash recoverable: links are the state (restored on start), and a
    /// restart re-derives customers from them, rewriting and re-announcing any that are stale.
    async fn persist(&self, links: &[LinkRow], changes: &[Change]) -> Result<(), LinkerError> {
        let now = Timestamp::now();
        let changed: Vec<&Change> = changes
            .iter()
            .filter(|c| c.previous_customer_id != Some(c.customer_id))
            .collect();
        let customers: Vec<CustomerRow> = changed.iter().map(|c| CustomerRow::of(c, now)).collect();
        let reverse: Vec<CustomerIdentityRow> = changed
            .iter()
            .flat_map(|c| CustomerIdentityRow::of(c, now))
            .collect();
        self.retrying(|| {
            rapport_clickhouse::insert_into(&self.client, "identity_links", links, self.timeout())
        })
        .await?;
        let events: Vec<(Vec<u8>, Vec<u8>)> = changed
            .iter()
            .map(|change| {
                let key = format!("{}/{}", change.tenant_id, change.identifier);
                let value = serde_json::json!({
                    "tenant_id": change.tenant_id,
                    "identity": change.identifier,
                    "customer_id": change.customer_id,
                    "previous_customer_id": change.previous_customer_id,
                    "changed_at": now.to_string(),
                });
                (key.into_bytes(), value.to_string().into_bytes())
            })
            .collect();
        send_all_reliably(
            &self.producer,
            &self.config.topics.identity,
            &events,
            &rdkafka::message::OwnedHeaders::new(),
        )
        .await
        .map_err(LinkerError::Publish)?;
        // The reverse index first: a crash before `customers` leaves those rows stale, which the
        // restart finds and corrects (writing both again); the other order could leave the
        // reverse index behind for good.
        self.retrying(|| {
            rapport_clickhouse::insert_into(
                &self.client,
                "customer_identities",
                &reverse,
                self.timeout(),
            )
        })
        .await?;
        self.retrying(|| {
            rapport_clickhouse::insert_into(&self.client, "customers", &customers, self.timeout())
        })
        .await?;
        metrics::counter!("rapport_linker_links_written_total").increment(links.len() as u64);
        metrics::counter!("rapport_linker_customer_changes_total")
            .increment(customers.len() as u64);
        Ok(())
    }

    fn timeout(&self) -> Duration {
        self.config.clickhouse.request_timeout()
    }

    fn backoff(&self) -> Backoff {
        let b = &self.config.batch;
        Backoff::new(
            Duration::from_millis(b.initial_backoff_ms),
            Duration::from_millis(b.max_backoff_ms),
        )
    }

    /// Retries `write` while ClickHouse is unavailable, however long: the graph already holds
    /// what the write records, so giving up would leave the store behind it.
    async fn retrying<F, Fut>(&self, write: F) -> Result<(), LinkerError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), rapport_clickhouse::ClickHouseError>>,
    {
        retry(
            &mut self.backoff(),
            never(),
            rapport_clickhouse::ClickHouseError::is_retryable,
            |error, wait| {
                warn!(%error, ?wait, "clickhouse unavailable; retrying");
                metrics::counter!("rapport_linker_retries_total").increment(1);
            },
            write,
        )
        .await?;
        Ok(())
    }

    /// Reads what was forgotten since the last batch, retrying while ClickHouse is unavailable.
    async fn retrying_refresh(&mut self) -> Result<(), LinkerError> {
        let mut backoff = self.backoff();
        loop {
            match self.forget.refresh(&self.client).await {
                Ok(_) => return Ok(()),
                Err(error) if error.is_retryable() => {
                    let wait = backoff.next_delay();
                    warn!(%error, ?wait, "clickhouse unavailable; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Erases identifiers (`rapport forget`, through the admin API): they join the forget list,
    /// leave the graph, and get a tombstone on the identity topic; customers they bridged split,
    /// and those changes are stored and published like any other.
    pub async fn forget(
        &mut self,
        tenant_id: &str,
        customer_id: &str,
        identities: &[String],
    ) -> Result<usize, LinkerError> {
        let now = Timestamp::now().as_millis();
        let rows: Vec<ForgottenRow> = identities
            .iter()
            .map(|key| ForgottenRow {
                tenant_id: tenant_id.to_owned(),
                kind: KIND_IDENTITY.to_owned(),
                digest: digest_hex(key),
                customer_id: customer_id.to_owned(),
                forgotten_at_ms: now,
            })
            .collect();
        self.forget.add(&rows);
        let changes = self.graph.forget(tenant_id, identities);
        for key in identities {
            // A record without a value: compaction drops the identifier's last state.
            send_tombstone(
                &self.producer,
                &self.config.topics.identity,
                format!("{tenant_id}/{key}").as_bytes(),
            )
            .await
            .map_err(LinkerError::Publish)?;
        }
        self.persist(&[], &changes).await?;
        info!(
            identities = identities.len(),
            changes = changes.len(),
            "identifiers forgotten"
        );
        Ok(identities.len())
    }

    /// Sharded mode: reads the graphs of the `tenants` not in memory yet from the store (their
    /// links and identifiers, with the customers corrections a crash left), before any of their
    /// interactions is observed here.
    pub async fn load_tenants<'a>(
        &mut self,
        tenants: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), LinkerError> {
        let Some(shard) = &self.shard else {
            return Ok(());
        };
        let missing: BTreeSet<String> = tenants
            .into_iter()
            .filter(|t| !shard.loaded.contains(*t))
            .map(str::to_owned)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let missing: Vec<String> = missing.into_iter().collect();
        let (links, identifiers, corrections) = {
            let mut backoff = self.backoff();
            loop {
                match store::restore(&self.client, &mut self.graph, &self.forget, Some(&missing))
                    .await
                {
                    Ok(restored) => break restored,
                    Err(error) if error.is_retryable() => {
                        let wait = backoff.next_delay();
                        warn!(%error, ?wait, "clickhouse unavailable; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        };
        if !corrections.is_empty() {
            warn!(
                corrections = corrections.len(),
                "stored customers were behind their links (an earlier crash); correcting them"
            );
            self.persist(&[], &corrections).await?;
        }
        if let Some(shard) = &mut self.shard {
            shard.loaded.extend(missing.iter().cloned());
        }
        metrics::counter!("rapport_linker_tenants_restored_total").increment(missing.len() as u64);
        info!(
            tenants = missing.len(),
            links,
            identifiers,
            seconds = started.elapsed().as_secs_f64(),
            "tenants restored"
        );
        Ok(())
    }

    /// Sharded mode: forgets the graphs of the tenants of a revoked partition.
    fn drop_partition(&mut self, partition: i32) {
        let Some(shard) = &mut self.shard else {
            return;
        };
        shard.owned.remove(&partition);
        let gone: Vec<String> = shard
            .loaded
            .iter()
            .filter(|t| partition_of(t, shard.partitions) == partition)
            .cloned()
            .collect();
        for tenant in &gone {
            shard.loaded.remove(tenant);
            self.graph.drop_tenant(tenant);
        }
        metrics::counter!("rapport_linker_tenants_dropped_total").increment(gone.len() as u64);
        info!(
            partition,
            tenants = gone.len(),
            "partition revoked; its tenants dropped"
        );
    }

    /// Whether this instance decides for `tenant_id`: always when not sharded.
    pub fn owns(&self, tenant_id: &str) -> bool {
        self.shard.as_ref().is_none_or(|s| s.owns(tenant_id))
    }

    /// Whether the tenant's graph is in memory here.
    pub fn holds(&self, tenant_id: &str) -> bool {
        self.shard
            .as_ref()
            .is_none_or(|s| s.loaded.contains(tenant_id))
    }

    /// What a reader of the store needs to rebuild one tenant's graph away from the loop.
    pub fn reader(
        &self,
    ) -> (
        rapport_clickhouse::Client,
        ForgetList,
        rapport_identity::Policies,
    ) {
        (
            self.client.clone(),
            self.forget.clone(),
            self.config.identity.clone(),
        )
    }

    pub async fn persist_unlink(&self, unlinked: &Unlinked) -> Result<(), LinkerError> {
        let now = Timestamp::now();
        let links: Vec<LinkRow> = unlinked
            .retracted
            .iter()
            .map(|r| LinkRow::retraction(r, now))
            .collect();
        info!(
            retracted = links.len(),
            changes = unlinked.changes.len(),
            "links retracted by an operator"
        );
        self.persist(&links, &unlinked.changes).await
    }

    pub fn fail(&mut self, reason: String) {
        self.failure = Some(reason);
        self.failed.cancel();
    }
}

pub async fn run(
    config: Arc<LinkerConfig>,
    core: Core,
    health: Health,
    stop: CancellationToken,
) -> Result<(), LinkerError> {
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
        return Ok(());
    }
    if config.shard.enabled {
        return run_sharded(config, core, health, stop).await;
    }
    let (context, failed) = {
        let mut state = core.lock().await;
        let started = Instant::now();
        let state = &mut *state;
        state.forget.refresh(&state.client).await?;
        let (links, identifiers, corrections) =
            store::restore(&state.client, &mut state.graph, &state.forget, None).await?;
        if !corrections.is_empty() {
            warn!(
                corrections = corrections.len(),
                "stored customers were behind their links (an earlier crash); correcting them"
            );
            state.persist(&[], &corrections).await?;
        }
        state.restored = true;
        info!(
            links,
            identifiers,
            seconds = started.elapsed().as_secs_f64(),
            "identity state restored"
        );
        (state.context.clone(), state.failed.clone())
    };
    let subscription = Subscription::new(
        &config.kafka,
        &config.group_id,
        &context,
        &[config.topics.interactions.as_str()],
        &[("queued.max.messages.kbytes", "16384")],
    )?;
    let mut linker = Linker {
        decoder: Decoder::new(&config.registry)?,
        config: Arc::clone(&config),
        core,
        pending: Pending::default(),
        failed,
    };
    consume(
        subscription,
        &mut linker,
        &config.kafka,
        &health,
        &stop,
        Duration::from_secs(15),
    )
    .await
}

/// Sharded mode: the routing step and the resolver run side by side in this process; either
/// failing stops both. Nothing is restored up front: each tenant's graph is read when its first
/// interaction arrives, so an instance holds only the tenants it owns and that are active.
async fn run_sharded(
    config: Arc<LinkerConfig>,
    core: Core,
    health: Health,
    stop: CancellationToken,
) -> Result<(), LinkerError> {
    let topic = config.shard.topic.clone();
    ensure_topics(
        &config.kafka,
        &[TopicSpec {
            name: topic.clone(),
            compacted: false,
        }],
    )
    .await?;
    let (context, failed, producer) = {
        let state = core.lock().await;
        (
            state.context.clone(),
            state.failed.clone(),
            state.producer.clone(),
        )
    };
    let partitions = partition_count(&producer, &topic).await?;
    {
        let mut state = core.lock().await;
        let state = &mut *state;
        state.forget.refresh(&state.client).await?;
        state.shard = Some(Shard::new(partitions));
        state.restored = true;
    }
    info!(
        topic,
        partitions, "sharded: tenants are restored as their partitions are assigned"
    );
    let route_context = ServiceContext::new(crate::metrics::ROUTE_SERVICE)
        .with_resume_rewind(config.kafka.resume_rewind_records);
    let routing = Subscription::new(
        &config.kafka,
        &config.shard.route_group_id,
        &route_context,
        &[config.topics.interactions.as_str()],
        &[("queued.max.messages.kbytes", "16384")],
    )?;
    let mut router = crate::route::Router {
        config: Arc::clone(&config),
        producer,
        partitions,
        decoder: Decoder::new(&config.registry)?,
    };
    let resolving = Subscription::new(
        &config.kafka,
        &config.group_id,
        &context,
        &[topic.as_str()],
        &[("queued.max.messages.kbytes", "16384")],
    )?;
    let mut linker = Linker {
        decoder: Decoder::new(&config.registry)?,
        config: Arc::clone(&config),
        core,
        pending: Pending::default(),
        failed,
    };
    // The routing step reports neither readiness nor liveness: the resolver's stand for the
    // service, and a routing failure stops the whole service.
    let route_health = Health::default();
    let route_stop = stop.child_token();
    let resolve_stop = stop.child_token();
    let route = async {
        let result = consume(
            routing,
            &mut router,
            &config.kafka,
            &route_health,
            &route_stop,
            Duration::from_secs(15),
        )
        .await;
        resolve_stop.cancel();
        result
    };
    let resolve = async {
        let result = consume(
            resolving,
            &mut linker,
            &config.kafka,
            &health,
            &resolve_stop,
            Duration::from_secs(15),
        )
        .await;
        route_stop.cancel();
        result
    };
    let (routed, resolved) = tokio::join!(route, resolve);
    resolved.and(routed)
}

/// The partition count of `topic` from the broker's metadata, asked until it answers.
async fn partition_count(
    producer: &FutureProducer<ServiceContext>,
    topic: &str,
) -> Result<i32, LinkerError> {
    use rdkafka::producer::Producer;
    let producer = producer.clone();
    let name = topic.to_owned();
    let count = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&name), Duration::from_secs(10))
            .map(|m| {
                m.topics()
                    .iter()
                    .find(|t| t.name() == name)
                    .map_or(0, |t| t.partitions().len())
            })
    })
    .await
    .map_err(|e| LinkerError::Io(std::io::Error::other(e)))??;
    match i32::try_from(count) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(LinkerError::NoPartitions {
            topic: topic.to_owned(),
        }),
    }
}

/// Observes each interaction in the graph and keeps what it changed; a batch's changes are stored
/// and published before its records complete.
struct Linker {
    config: Arc<LinkerConfig>,
    core: Core,
    decoder: Decoder,
    pending: Pending,
    /// Cancelled when an admin request changed the graph but could not store the consequences.
    failed: CancellationToken,
}

enum Event {
    /// The open batch is due.
    Due,
    /// The admin API could not store what it changed: stop, so the restart rebuilds the graph
    /// from the store.
    Failed,
}

impl Stage for Linker {
    type Error = LinkerError;
    type Event = Event;

    fn room(&self) -> usize {
        self.config
            .batch
            .max_interactions
            .saturating_sub(self.pending.messages.len())
    }

    async fn accept(
        &mut self,
        subscription: &Subscription,
        records: Vec<OwnedMessage>,
    ) -> Result<(), LinkerError> {
        let mut decoded = Vec::with_capacity(records.len());
        for message in records {
            // Received before its partition was revoked: the new owner reads it again.
            if !self.owned(&message).await {
                continue;
            }
            if let Some(interaction) = self.decode_one(subscription, &message).await? {
                decoded.push((message, interaction));
            }
        }
        self.core
            .lock()
            .await
            .load_tenants(decoded.iter().map(|(_, i)| i.tenant_id.as_str()))
            .await?;
        for (message, interaction) in decoded {
            self.observe(message, &interaction).await;
        }
        if self.pending.messages.len() >= self.config.batch.max_interactions {
            self.flush(subscription).await?;
        }
        Ok(())
    }

    async fn next_event(&mut self) -> Event {
        let deadline = self.pending.opened_at.map(|at| {
            tokio::time::Instant::from_std(
                at + Duration::from_millis(self.config.batch.max_delay_ms),
            )
        });
        tokio::select! {
            biased;
            () = self.failed.cancelled() => Event::Failed,
            () = sleep_until(deadline) => Event::Due,
        }
    }

    async fn handle(
        &mut self,
        subscription: &Subscription,
        event: Event,
    ) -> Result<(), LinkerError> {
        match event {
            Event::Due => self.flush(subscription).await,
            Event::Failed => {
                let reason = self.core.lock().await.failure.clone().unwrap_or_default();
                Err(LinkerError::AdminFailed(reason))
            }
        }
    }

    /// Sharded mode: a revoked partition's tenants leave the graph and the open batch, so
    /// nothing of theirs is written after the new owner may have read the store; an assigned
    /// partition's tenants are read from the store as their interactions arrive.
    async fn reassigned(
        &mut self,
        _: &Subscription,
        changes: Vec<AssignmentChange>,
    ) -> Result<(), LinkerError> {
        let mut state = self.core.lock().await;
        let Some(partitions) = state.shard.as_ref().map(|s| s.partitions) else {
            return Ok(());
        };
        for change in changes {
            match change {
                AssignmentChange::Assigned { partition, .. } => {
                    if let Some(shard) = &mut state.shard {
                        shard.owned.insert(partition);
                    }
                }
                AssignmentChange::Revoked { partition, .. } => {
                    state.drop_partition(partition);
                    self.pending.purge(partition, partitions);
                }
            }
        }
        Ok(())
    }

    async fn drain(
        &mut self,
        subscription: &Subscription,
        _: tokio::time::Instant,
    ) -> Result<(), LinkerError> {
        if self.core.lock().await.failure.is_some() {
            return Ok(());
        }
        self.flush(subscription).await
    }
}

impl Linker {
    /// Whether the record's partition is this instance's (always when not sharded).
    async fn owned(&self, message: &OwnedMessage) -> bool {
        let state = self.core.lock().await;
        state
            .shard
            .as_ref()
            .is_none_or(|s| s.owned.contains(&message.partition()))
    }

    async fn observe(&mut self, message: OwnedMessage, interaction: &Interaction) {
        let mut state = self.core.lock().await;
        let keys = interaction
            .identities
            .iter()
            .map(|i| (i.kind.as_str(), i.value.as_str()));
        if state
            .forget
            .forgets(&interaction.tenant_id, &interaction.conversation_id, keys)
        {
            metrics::counter!("rapport_linker_forgotten_dropped_total").increment(1);
        } else {
            let observation = state.graph.observe(interaction);
            self.pending.add(observation, Timestamp::now());
        }
        drop(state);
        self.pending.opened_at.get_or_insert_with(Instant::now);
        self.pending.messages.push(message);
    }

    /// The record's interaction; `None` when it was dead-lettered (and completed).
    async fn decode_one(
        &mut self,
        subscription: &Subscription,
        message: &OwnedMessage,
    ) -> Result<Option<Interaction>, LinkerError> {
        metrics::counter!("rapport_linker_interactions_in_total").increment(1);
        let mut backoff = self.core.lock().await.backoff();
        loop {
            match self
                .decoder
                .decode(message.payload().unwrap_or_default())
                .await
            {
                Ok(interaction) => return Ok(Some(interaction)),
                Err(DecodeFailure::Reject(rejection)) => {
                    let producer = self.core.lock().await.producer.clone();
                    send_dead_letter(
                        &producer,
                        &self.config.topics.dlq,
                        message,
                        &rejection,
                        &Timestamp::now().to_string(),
                        self.config.kafka.max_message_bytes,
                    )
                    .await
                    .map_err(LinkerError::DeadLetter)?;
                    metrics::counter!("rapport_linker_dlq_total", "code" => rejection.family().to_owned())
                        .increment(1);
                    subscription.complete([message]);
                    return Ok(None);
                }
                Err(DecodeFailure::RegistryMisconfigured(error)) => return Err(error.into()),
                Err(DecodeFailure::RegistryUnavailable(error)) => {
                    let wait = backoff.next_delay();
                    warn!(%error, ?wait, "schema registry unavailable; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn flush(&mut self, subscription: &Subscription) -> Result<(), LinkerError> {
        if self.pending.messages.is_empty() {
            return Ok(());
        }
        let Pending {
            messages,
            links,
            changes,
            ..
        } = std::mem::take(&mut self.pending);
        let mut state = self.core.lock().await;
        state.retrying_refresh().await?;
        let forget = &state.forget;
        let links: Vec<LinkRow> = links
            .into_iter()
            .filter(|l| {
                !forget.forgets_key(&l.tenant_id, &l.identity_a)
                    && !forget.forgets_key(&l.tenant_id, &l.identity_b)
            })
            .collect();
        let changes: Vec<Change> = changes
            .into_values()
            .filter(|c| !forget.forgets_key(&c.tenant_id, &c.identifier))
            .collect();
        state.persist(&links, &changes).await?;
        drop(state);
        subscription.complete(&messages);
        Ok(())
    }
}
