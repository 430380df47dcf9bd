//! The stored read model (`schemas/clickhouse/006_read_model.sql`, business time and SLAs in
//! `007_business_time_sla.sql`): for every conversation a batch touched, its events are read back
//! by key prefix, its metrics recomputed (`rapport-responsiveness`, with the business hours and
//! SLA policies of [`Rules`]) and its rows written: `conversations`, one `replies` row per human
//! reply, one `resolutions` row per resolution event, the change of its wait in `waiting`, and
//! one `sla` row per target when SLA policies are configured.
//!
//! Recomputing is idempotent and depends only on the stored events, so a late or replayed event
//! corrects the rows exactly, a redelivered batch repairs what a crash between the interactions
//! insert and these inserts left stale, and `rapport recompute` re-derives any range.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use clickhouse::Row;
use futures_util::StreamExt;
pub use rapport_responsiveness::Rules;
use rapport_responsiveness::{Derived, Event, EventKind};
use serde::{Deserialize, Serialize};

use crate::binds;
use crate::row::date_of;
use crate::sla::SlaRow;
use crate::threads::{self, Move, Moves};
use crate::{ClickHouseError, insert_into};

/// The tables [`store`] writes.
pub const TABLES: [&str; 5] = ["conversations", "replies", "resolutions", "waiting", "sla"];

/// Chunks read back at once (see [`recompute_with`]).
const READS_IN_FLIGHT: usize = 3;

/// The stored preview of the last customer message.
pub const TEXT_PREVIEW_BYTES: usize = 4096;

/// Conversations per tenant that a batch touched.
pub type Touched = BTreeMap<String, BTreeSet<String>>;

/// The columns an event is read back with.
#[derive(Debug, Clone, Deserialize, Row)]
struct EventRow {
    conversation_id: String,
    event_id: String,
    written_at_ms: i64,
    occurred_at_ms: i64,
    kind: String,
    direction: String,
    actor_role: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    auto_reply: u8,
    status: Option<String>,
    team: Option<String>,
    channel: String,
    source: String,
    tags: Vec<String>,
    identity_types: Vec<String>,
    identity_values: Vec<String>,
    text: String,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            kind: EventKind::classify(
                &row.kind,
                &row.direction,
                &row.actor_role,
                row.auto_reply != 0,
                row.status.as_deref(),
            ),
            event_id: row.event_id,
            occurred_at_ms: row.occurred_at_ms,
            status: row.status,
            actor_id: row.actor_id,
            actor_name: row.actor_name,
            team: row.team,
            channel: row.channel,
            source: row.source,
            tags: row.tags,
            identities: row
                .identity_types
                .iter()
                .zip(&row.identity_values)
                .map(|(t, v)| format!("{t}:{v}"))
                .collect(),
            text: Some({
                let mut text = row.text;
                text.truncate(preview(&text).len());
                text
            }),
        }
    }
}

/// The longest prefix of `text` of at most [`TEXT_PREVIEW_BYTES`] that ends on a character.
fn preview(text: &str) -> &str {
    rapport_model::Quote::with_limit(text, TEXT_PREVIEW_BYTES).shown()
}

/// One row of `conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct ConversationRow {
    pub tenant_id: String,
    pub conversation_id: String,
    pub channel: String,
    pub team: Option<String>,
    pub events: u32,
    pub created_at_ms: i64,
    pub first_inbound_at_ms: Option<i64>,
    pub first_response_at_ms: Option<i64>,
    pub first_response_ms: Option<i64>,
    pub first_responder_id: Option<String>,
    pub customer_messages: u32,
    pub human_replies: u32,
    pub replies_with_latency: u32,
    pub reply_latency_sum_ms: i64,
    pub avg_reply_latency_ms: Option<i64>,
    pub max_reply_latency_ms: Option<i64>,
    pub first_resolved_at_ms: Option<i64>,
    pub last_resolved_at_ms: Option<i64>,
    pub first_resolution_ms: Option<i64>,
    pub full_resolution_ms: Option<i64>,
    pub reopen_count: u32,
    pub status: Option<String>,
    pub is_resolved: u8,
    pub waiting_since_ms: Option<i64>,
    pub is_waiting: u8,
    pub waiting_messages: u32,
    pub last_event_at_ms: i64,
    pub last_customer_message_at_ms: Option<i64>,
    pub identities: Vec<String>,
    pub primary_identity: String,
    pub last_customer_text: String,
    /// The business-hours calendar the business times were measured with.
    pub calendar: String,
    pub first_response_business_ms: Option<i64>,
    pub reply_latency_business_sum_ms: i64,
    pub avg_reply_latency_business_ms: Option<i64>,
    pub max_reply_latency_business_ms: Option<i64>,
    pub first_resolution_business_ms: Option<i64>,
    pub full_resolution_business_ms: Option<i64>,
    pub version: i64,
}

/// Every column of `conversations`, in order, for SELECTs.
pub const CONVERSATION_COLUMNS: &str = "tenant_id, conversation_id, channel, team, events, \
    created_at_ms, first_inbound_at_ms, first_response_at_ms, first_response_ms, \
    first_responder_id, customer_messages, human_replies, replies_with_latency, \
    reply_latency_sum_ms, avg_reply_latency_ms, max_reply_latency_ms, first_resolved_at_ms, \
    last_resolved_at_ms, first_resolution_ms, full_resolution_ms, reopen_count, status, \
    is_resolved, waiting_since_ms, is_waiting, waiting_messages, last_event_at_ms, \
    last_customer_message_at_ms, identities, primary_identity, last_customer_text, calendar, \
    first_response_business_ms, reply_latency_business_sum_ms, avg_reply_latency_business_ms, \
    max_reply_latency_business_ms, first_resolution_business_ms, full_resolution_business_ms, \
    version";

impl ConversationRow {
    pub fn new(tenant_id: &str, conversation_id: &str, d: &Derived, version: i64) -> Self {
        let c = &d.conversation;
        let b = &d.business;
        let text = preview(&c.last_customer_text);
        Self {
            tenant_id: tenant_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            channel: c.channel.clone(),
            team: c.team.clone(),
            events: c.events,
            created_at_ms: c.created_at_ms,
            first_inbound_at_ms: c.first_inbound_at_ms,
            first_response_at_ms: c.first_response_at_ms,
            first_response_ms: c.first_response_ms,
            first_responder_id: c.first_responder_id.clone(),
            customer_messages: c.customer_messages,
            human_replies: c.human_replies,
            replies_with_latency: c.replies_with_latency,
            reply_latency_sum_ms: c.reply_latency_sum_ms,
            avg_reply_latency_ms: c.avg_reply_latency_ms,
            max_reply_latency_ms: c.max_reply_latency_ms,
            first_resolved_at_ms: c.first_resolved_at_ms,
            last_resolved_at_ms: c.last_resolved_at_ms,
            first_resolution_ms: c.first_resolution_ms,
            full_resolution_ms: c.full_resolution_ms,
            reopen_count: c.reopen_count,
            status: c.status.clone(),
            is_resolved: u8::from(c.is_resolved),
            waiting_since_ms: c.waiting_since_ms,
            is_waiting: u8::from(c.is_waiting),
            waiting_messages: c.waiting_messages,
            last_event_at_ms: c.last_event_at_ms,
            last_customer_message_at_ms: c.last_customer_message_at_ms,
            identities: c.identities.clone(),
            primary_identity: c.primary_identity.clone().unwrap_or_default(),
            last_customer_text: text.to_owned(),
            calendar: b.calendar.clone(),
            first_response_business_ms: b.first_response_ms,
            reply_latency_business_sum_ms: b.reply_latency_sum_ms,
            avg_reply_latency_business_ms: b.avg_reply_latency_ms,
            max_reply_latency_business_ms: b.max_reply_latency_ms,
            first_resolution_business_ms: b.first_resolution_ms,
            full_resolution_business_ms: b.full_resolution_ms,
            version,
        }
    }
}

/// One row of `replies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct ReplyRow {
    pub tenant_id: String,
    /// Days since 1970-01-01 (UTC), ClickHouse's `Date` on the wire.
    pub reply_day: u16,
    pub conversation_id: String,
    pub reply_event_id: String,
    pub channel: String,
    pub team: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub replied_at_ms: i64,
    pub inbound_at_ms: Option<i64>,
    pub reply_latency_ms: Option<i64>,
    pub has_latency: u8,
    pub is_first_response: u8,
    pub reply_latency_business_ms: Option<i64>,
    pub calendar: String,
    pub version: i64,
}

/// One row of `resolutions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct ResolutionRow {
    pub tenant_id: String,
    pub resolved_day: u16,
    pub conversation_id: String,
    pub event_id: String,
    pub channel: String,
    pub team: Option<String>,
    pub resolved_at_ms: i64,
    pub first_resolution_ms: Option<i64>,
    pub full_resolution_ms: Option<i64>,
    pub is_first: u8,
    pub is_full: u8,
    pub first_resolution_business_ms: Option<i64>,
    pub full_resolution_business_ms: Option<i64>,
    /// The segment this resolution closes: from creation or the reopen that began it.
    pub segment_started_at_ms: i64,
    pub segment_ms: i64,
    pub segment_business_ms: i64,
    pub calendar: String,
    pub version: i64,
}

/// One row of `waiting`: `sign` 1 starts a wait, -1 cancels it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct WaitingRow {
    pub tenant_id: String,
    pub waiting_since_ms: i64,
    pub conversation_id: String,
    pub channel: String,
    pub sign: i8,
}

/// A conversation's wait as `conversations` last stored it.
#[derive(Debug, Clone, Deserialize, Row)]
struct StoredWait {
    conversation_id: String,
    is_waiting: u8,
    waiting_since_ms: Option<i64>,
    channel: String,
}

/// Every row one recompute writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateRows {
    pub conversations: Vec<ConversationRow>,
    pub replies: Vec<ReplyRow>,
    pub resolutions: Vec<ResolutionRow>,
    pub waiting: Vec<WaitingRow>,
    pub sla: Vec<SlaRow>,
}

impl StateRows {
    /// The rows of one conversation's metrics, and the change of its wait from `before`
    /// (`(is_waiting, waiting_since_ms, channel)` as stored, if anything was). With `with_sla`,
    /// one `sla` row per target (status `none` where the target does not apply).
    pub fn add(
        &mut self,
        tenant_id: &str,
        conversation_id: &str,
        d: &Derived,
        before: Option<(bool, Option<i64>, &str)>,
        version: i64,
        with_sla: bool,
    ) {
        let c = &d.conversation;
        let b = &d.business;
        for (r, business) in c.replies.iter().zip(&b.reply_latency_ms) {
            self.replies.push(ReplyRow {
                tenant_id: tenant_id.to_owned(),
                reply_day: date_of(r.replied_at_ms),
                conversation_id: conversation_id.to_owned(),
                reply_event_id: r.event_id.clone(),
                channel: c.channel.clone(),
                team: c.team.clone(),
                agent_id: r.agent_id.clone(),
                agent_name: r.agent_name.clone(),
                replied_at_ms: r.replied_at_ms,
                inbound_at_ms: r.inbound_at_ms,
                reply_latency_ms: r.latency_ms,
                has_latency: u8::from(r.latency_ms.is_some()),
                is_first_response: u8::from(r.is_first_response),
                reply_latency_business_ms: *business,
                calendar: b.calendar.clone(),
                version,
            });
        }
        for (r, segment) in c.resolutions.iter().zip(&b.segments) {
            self.resolutions.push(ResolutionRow {
                tenant_id: tenant_id.to_owned(),
                resolved_day: date_of(r.at_ms),
                conversation_id: conversation_id.to_owned(),
                event_id: r.event_id.clone(),
                channel: c.channel.clone(),
                team: c.team.clone(),
                resolved_at_ms: r.at_ms,
                first_resolution_ms: r.is_first.then_some(r.at_ms - c.created_at_ms),
                full_resolution_ms: r.is_full.then_some(r.at_ms - c.created_at_ms),
                is_first: u8::from(r.is_first),
                is_full: u8::from(r.is_full),
                first_resolution_business_ms: b.first_resolution_ms.filter(|_| r.is_first),
                full_resolution_business_ms: b.full_resolution_ms.filter(|_| r.is_full),
                segment_started_at_ms: r.segment_started_at_ms,
                segment_ms: segment.wall_ms,
                segment_business_ms: segment.business_ms,
                calendar: b.calendar.clone(),
                version,
            });
        }
        if with_sla {
            self.sla
                .extend(SlaRow::of(tenant_id, conversation_id, d, version));
        }
        let was = before
            .and_then(|(waiting, since, channel)| Some((since?, channel)).filter(|_| waiting));
        let now = c.waiting_since_ms.filter(|_| c.is_waiting);
        if let Some((since, channel)) = was
            && now != Some(since)
        {
            self.waiting.push(WaitingRow {
                tenant_id: tenant_id.to_owned(),
                waiting_since_ms: since,
                conversation_id: conversation_id.to_owned(),
                channel: channel.to_owned(),
                sign: -1,
            });
        }
        if let Some(since) = now
            && was.map(|(s, _)| s) != Some(since)
        {
            self.waiting.push(WaitingRow {
                tenant_id: tenant_id.to_owned(),
                waiting_since_ms: since,
                conversation_id: conversation_id.to_owned(),
                channel: c.channel.clone(),
                sign: 1,
            });
        }
        self.conversations
            .push(ConversationRow::new(tenant_id, conversation_id, d, version));
    }

    /// The rows a conversation that moved to another thread left behind under
    /// `conversation_id` (its thread before), from `moved`, its metrics alone: its replies and
    /// resolutions under this id (the keys stored when they were counted here) with no latency
    /// and no flag, so no report counts them again.
    pub fn retire(
        &mut self,
        tenant_id: &str,
        conversation_id: &str,
        moved: &Derived,
        version: i64,
    ) {
        let mut left = StateRows::default();
        left.add(tenant_id, conversation_id, moved, None, version, false);
        for r in &mut left.replies {
            r.inbound_at_ms = None;
            r.reply_latency_ms = None;
            r.reply_latency_business_ms = None;
            r.has_latency = 0;
            r.is_first_response = 0;
        }
        for r in &mut left.resolutions {
            r.first_resolution_ms = None;
            r.full_resolution_ms = None;
            r.first_resolution_business_ms = None;
            r.full_resolution_business_ms = None;
            r.is_first = 0;
            r.is_full = 0;
        }
        self.replies.append(&mut left.replies);
        self.resolutions.append(&mut left.resolutions);
    }

    /// A thread every conversation left (`moved` the metrics of one of them): the conversation
    /// row with no events (every reader skips it), its wait cancelled from `before`, and, with
    /// `with_sla`, its SLA targets `none`.
    pub fn empty(
        &mut self,
        tenant_id: &str,
        conversation_id: &str,
        moved: &Derived,
        before: Option<(bool, Option<i64>, &str)>,
        version: i64,
        with_sla: bool,
    ) {
        if let Some((true, Some(since), channel)) = before {
            self.waiting.push(WaitingRow {
                tenant_id: tenant_id.to_owned(),
                waiting_since_ms: since,
                conversation_id: conversation_id.to_owned(),
                channel: channel.to_owned(),
                sign: -1,
            });
        }
        let mut d = moved.clone();
        d.sla = None;
        if with_sla {
            self.sla
                .extend(SlaRow::of(tenant_id, conversation_id, &d, version));
        }
        let mut row = ConversationRow::new(tenant_id, conversation_id, &d, version);
        row.events = 0;
        row.is_waiting = 0;
        row.waiting_since_ms = None;
        self.conversations.push(row);
    }

    pub fn len(&self) -> usize {
        self.conversations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty()
    }
}

/// Reads back the events of `ids` (one tenant), grouped by conversation: of an event stored
/// more than once, the version with the latest `written_at_ms`, as `FINAL` would keep it.
async fn events_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    ids: &[&String],
) -> Result<HashMap<String, Vec<Event>>, ClickHouseError> {
    // Not `FINAL`: 18.16 merges every part the keys touch at once, holding buffers for each, and
    // a batch's conversations touch every monthly partition of the history. Filling 10 M rows
    // over 5 years, the read of 1,689 conversations needed more than 3.7 GiB with `FINAL` at any
    // block size (the server's limit: the writer retried it forever) and less than 200 MB
    // without, in half the time. The duplicates are dropped here instead.
    let sql = format!(
        "SELECT conversation_id, event_id, written_at_ms, occurred_at_ms, kind, direction, \
         actor_role, actor_id, actor_name, auto_reply, status, team, channel, source, tags, \
         identity_types, identity_values, \
         if(direction = 'inbound' AND actor_role = 'customer', substringUTF8(ifNull(text, ''), 1, {TEXT_PREVIEW_BYTES}), '') AS text \
         FROM interaction_log PREWHERE tenant_id = ? AND conversation_id IN ({{ids}})"
    );
    // `substringUTF8` (characters), then [`preview`] (bytes at a character): a byte `substring`
    // can end inside a character, the client refuses a String that is not UTF-8, and every
    // recompute of the conversation would then fail.
    let mut rows: Vec<EventRow> = binds::query_in(client, &sql, tenant_id, ids)
        .fetch_all()
        .await?;
    latest_versions(&mut rows);
    // Rows come sorted by conversation (`latest_versions`): an entry per run of a conversation,
    // its id moved out of the row rather than copied per event.
    let mut by_conversation: HashMap<String, Vec<Event>> = HashMap::new();
    let mut current: Option<(String, Vec<Event>)> = None;
    for mut row in rows {
        let conversation_id = std::mem::take(&mut row.conversation_id);
        match &mut current {
            Some((id, events)) if *id == conversation_id => events.push(Event::from(row)),
            _ => {
                let next = (conversation_id, vec![Event::from(row)]);
                if let Some((id, events)) = current.replace(next) {
                    by_conversation.entry(id).or_default().extend(events);
                }
            }
        }
    }
    if let Some((id, events)) = current {
        by_conversation.entry(id).or_default().extend(events);
    }
    Ok(by_conversation)
}

/// Keeps one row per event (`ReplacingMergeTree(written_at_ms)` on the event's key): the one
/// written last. Equal `written_at_ms` come from one insert retried, so either is the same row.
fn latest_versions(rows: &mut Vec<EventRow>) {
    rows.sort_unstable_by(|a, b| {
        (&a.conversation_id, &a.event_id, b.written_at_ms).cmp(&(
            &b.conversation_id,
            &b.event_id,
            a.written_at_ms,
        ))
    });
    rows.dedup_by(|later, kept| {
        later.conversation_id == kept.conversation_id && later.event_id == kept.event_id
    });
}

async fn stored_waits(
    client: &clickhouse::Client,
    tenant_id: &str,
    ids: &[&String],
) -> Result<HashMap<String, StoredWait>, ClickHouseError> {
    // A chunk's threads and the threads its moves left can be twice the chunk: cut again.
    let rows: Vec<StoredWait> = binds::select_in(
        client,
        "SELECT conversation_id, is_waiting, waiting_since_ms, channel FROM conversations FINAL \
         PREWHERE tenant_id = ? AND conversation_id IN ({ids})",
        tenant_id,
        ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|w| (w.conversation_id.clone(), w))
        .collect())
}

/// Recomputes the touched conversations from their stored events with `rules`. `version` orders
/// the rows against other recomputes of the same conversation: take it before the events are
/// read, so a later version has seen at least as much. `sla` rows are written when `rules` has
/// SLA policies. An email conversation is recomputed as its thread ([`crate::threads`]).
pub async fn recompute(
    client: &clickhouse::Client,
    touched: &Touched,
    version: i64,
    rules: &Rules,
) -> Result<StateRows, ClickHouseError> {
    recompute_threads(client, touched, &Moves::new(), version, rules).await
}

/// [`recompute`] after [`crate::threads::rethread`] moved `moves`: the threads they left are
/// recomputed too, and the rows they left there retired ([`StateRows::retire`]).
pub async fn recompute_threads(
    client: &clickhouse::Client,
    touched: &Touched,
    moves: &Moves,
    version: i64,
    rules: &Rules,
) -> Result<StateRows, ClickHouseError> {
    recompute_with(
        client,
        touched,
        moves,
        version,
        rules,
        !rules.policies.is_empty(),
    )
    .await
}

/// [`recompute_threads`], with `sla` rows (status `none` for every target without a policy)
/// whenever `with_sla`: a recompute after the last policy was removed must overwrite the stored
/// outcomes.
///
/// Every touched conversation is recomputed as its thread: the thread's state is derived from
/// the events of every stored conversation mapped to it and written under the thread's id.
pub(crate) async fn recompute_with(
    client: &clickhouse::Client,
    touched: &Touched,
    moves: &Moves,
    version: i64,
    rules: &Rules,
    with_sla: bool,
) -> Result<StateRows, ClickHouseError> {
    let no_moves = Vec::new();
    let tenants: BTreeSet<&String> = touched.keys().chain(moves.keys()).collect();
    let mut chunks = tenants
        .into_iter()
        .flat_map(|tenant_id| {
            let moved = moves.get(tenant_id).unwrap_or(&no_moves);
            let mut ids: BTreeSet<&String> = touched.get(tenant_id).into_iter().flatten().collect();
            ids.extend(moved.iter().map(|m| &m.conversation_id));
            let ids: Vec<&String> = ids.into_iter().collect();
            binds::chunks(&ids)
                .into_iter()
                .map(|chunk| {
                    let left: Vec<&Move> = moved
                        .iter()
                        .filter(|m| chunk.contains(&&m.conversation_id))
                        .collect();
                    (tenant_id.as_str(), chunk.to_vec(), left)
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into_iter();
    // Reads in flight at once: one read leaves the writer waiting on ClickHouse and ClickHouse
    // waiting on the writer's decoding in turn; a few overlap the two. In order, so rows are
    // added as they were before.
    let mut reads = futures_util::stream::FuturesOrdered::new();
    let mut refill = |reads: &mut futures_util::stream::FuturesOrdered<_>| {
        while reads.len() < READS_IN_FLIGHT {
            let Some((tenant_id, chunk, left)) = chunks.next() else {
                break;
            };
            reads.push_back(read_chunk(client, tenant_id, chunk, left));
        }
    };
    refill(&mut reads);
    let mut rows = StateRows::default();
    while let Some(read) = reads.next().await {
        let ChunkRead {
            tenant_id,
            members,
            left,
            events,
            before,
        } = read?;
        refill(&mut reads);
        let before_of = |id: &str| {
            before
                .get(id)
                .map(|w| (w.is_waiting != 0, w.waiting_since_ms, w.channel.as_str()))
        };
        // Each conversation's events are moved into the last derivation that uses them and
        // cloned only for the ones before (a moved conversation is derived in its new thread and
        // again for the one it left): a batch's events, text previews included, are otherwise
        // copied once more per recompute.
        let mut events = Uses::new(events, &members, &left);
        let mut derived_threads = BTreeSet::new();
        for (thread, conversations) in &members {
            let mut thread_events: Vec<Event> = Vec::new();
            for c in conversations {
                thread_events.extend(events.take(c).into_iter().flatten());
            }
            let Some(derived) = rules.derive(tenant_id, thread_events) else {
                continue;
            };
            derived_threads.insert(thread.as_str());
            rows.add(
                tenant_id,
                thread,
                &derived,
                before_of(thread),
                version,
                with_sla,
            );
        }
        for m in left {
            // Nothing was stored under a thread that had no state: nothing to retire.
            if m.from == m.to || !before.contains_key(m.from.as_str()) {
                continue;
            }
            let Some(derived) = events
                .take(&m.conversation_id)
                .and_then(|e| rules.derive(tenant_id, e))
            else {
                continue;
            };
            rows.retire(tenant_id, &m.from, &derived, version);
            if derived_threads.insert(m.from.as_str()) {
                // Nothing is left in it (and it is emptied once).
                rows.empty(
                    tenant_id,
                    &m.from,
                    &derived,
                    before_of(&m.from),
                    version,
                    with_sla,
                );
            }
        }
    }
    Ok(rows)
}

/// A chunk's events by conversation, handed out once per use: moved to the last use, cloned for
/// the uses before it.
struct Uses<'a> {
    events: HashMap<String, Vec<Event>>,
    left: HashMap<&'a str, usize>,
}

impl<'a> Uses<'a> {
    /// The uses to come: each thread's member conversations, then each move's conversation
    /// (the rows it left are derived from it).
    fn new(
        events: HashMap<String, Vec<Event>>,
        members: &'a BTreeMap<String, BTreeSet<String>>,
        moves: &[&'a Move],
    ) -> Self {
        let mut left: HashMap<&str, usize> = HashMap::new();
        let used = members
            .values()
            .flatten()
            .chain(moves.iter().map(|m| &m.conversation_id));
        for c in used {
            if events.contains_key(c) {
                *left.entry(c.as_str()).or_default() += 1;
            }
        }
        Self { events, left }
    }

    fn take(&mut self, conversation_id: &str) -> Option<Vec<Event>> {
        let uses = self.left.get_mut(conversation_id)?;
        *uses -= 1;
        if *uses == 0 {
            self.left.remove(conversation_id);
            self.events.remove(conversation_id)
        } else {
            self.events.get(conversation_id).cloned()
        }
    }
}

/// What one chunk of touched conversations needs read: the threads they are in (and those the
/// chunk's moved conversations left) with their stored conversations, those conversations'
/// events, and each thread's wait as stored.
struct ChunkRead<'a> {
    tenant_id: &'a str,
    members: BTreeMap<String, BTreeSet<String>>,
    left: Vec<&'a Move>,
    events: HashMap<String, Vec<Event>>,
    before: HashMap<String, StoredWait>,
}

async fn read_chunk<'a>(
    client: &clickhouse::Client,
    tenant_id: &'a str,
    chunk: Vec<&'a String>,
    left: Vec<&'a Move>,
) -> Result<ChunkRead<'a>, ClickHouseError> {
    let thread_of = threads::resolve(client, tenant_id, &chunk).await?;
    let mut targets: BTreeSet<&String> = chunk
        .iter()
        .map(|id| thread_of.get(*id).unwrap_or(id))
        .collect();
    targets.extend(left.iter().map(|m| &m.from));
    let targets: Vec<&String> = targets.into_iter().collect();
    let members = threads::members(client, tenant_id, &targets).await?;
    let mut stored: BTreeSet<&String> = members.values().flatten().collect();
    stored.extend(left.iter().map(|m| &m.conversation_id));
    let stored: Vec<&String> = stored.into_iter().collect();
    let read_events = async {
        let mut events = HashMap::new();
        for part in binds::chunks(&stored) {
            events.extend(events_of(client, tenant_id, part).await?);
        }
        Ok::<_, ClickHouseError>(events)
    };
    let (events, before) =
        tokio::try_join!(read_events, stored_waits(client, tenant_id, &targets))?;
    Ok(ChunkRead {
        tenant_id,
        members,
        left,
        events,
        before,
    })
}

/// The metrics of some conversations of one tenant derived from their stored events with
/// `rules`, by conversation id (a conversation without stored events is left out): what
/// `rapport-sla` announces from.
pub async fn derive(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_ids: &[String],
    rules: &Rules,
) -> Result<HashMap<String, Derived>, ClickHouseError> {
    let mut derived = HashMap::new();
    let ids: Vec<&String> = conversation_ids.iter().collect();
    for chunk in binds::chunks(&ids) {
        for (id, events) in events_of(client, tenant_id, chunk).await? {
            if let Some(d) = rules.derive(tenant_id, events) {
                derived.insert(id, d);
            }
        }
    }
    Ok(derived)
}

/// Writes what [`recompute`] produced: the wait changes first and `conversations` last, so a
/// crash in between leaves at worst a duplicate wait row (readers check each against
/// `conversations`), never a missing one.
pub async fn store(
    client: &clickhouse::Client,
    rows: &StateRows,
    timeout: Duration,
) -> Result<(), ClickHouseError> {
    insert_into(client, "waiting", &rows.waiting, timeout).await?;
    insert_into(client, "replies", &rows.replies, timeout).await?;
    insert_into(client, "resolutions", &rows.resolutions, timeout).await?;
    insert_into(client, "sla", &rows.sla, timeout).await?;
    insert_into(client, "conversations", &rows.conversations, timeout).await
}

#[cfg(test)]
mod tests {
    use rapport_responsiveness::EventKind;

    use super::*;

    /// A customer's chat message at +1 s, without identifiers or text.
    fn customer_message(id: &str) -> Event {
        Event {
            event_id: id.into(),
            occurred_at_ms: 1_000,
            kind: EventKind::classify("message", "inbound", "customer", false, None),
            status: None,
            actor_id: None,
            actor_name: None,
            team: None,
            channel: "chat".into(),
            source: "intercom".into(),
            tags: vec![],
            identities: vec![],
            text: None,
        }
    }

    fn conversation(waiting: Option<i64>) -> Derived {
        let mut events = vec![Event {
            identities: vec!["email:a@example.com".into()],
            text: Some("hi".into()),
            ..customer_message("m1")
        }];
        if waiting.is_none() {
            events.push(Event {
                event_id: "r1".into(),
                occurred_at_ms: 2_000,
                kind: EventKind::classify("message", "outbound", "agent", false, None),
                identities: vec![],
                ..events[0].clone()
            });
        }
        Rules::default().derive("t", events).unwrap()
    }

    #[test]
    fn of_an_event_stored_twice_the_version_written_last_is_kept() {
        let row = |conversation: &str, event: &str, written: i64, status: &str| EventRow {
            conversation_id: conversation.into(),
            event_id: event.into(),
            written_at_ms: written,
            occurred_at_ms: 1_000,
            kind: "message".into(),
            direction: "inbound".into(),
            actor_role: "customer".into(),
            actor_id: None,
            actor_name: None,
            auto_reply: 0,
            status: Some(status.into()),
            team: None,
            channel: "chat".into(),
            source: "intercom".into(),
            tags: vec![],
            identity_types: vec![],
            identity_values: vec![],
            text: String::new(),
        };
        // As parts answer a read without FINAL: versions in no particular order, the same
        // event id in two conversations, duplicates apart.
        let mut rows = vec![
            row("c2", "e1", 5, "c2-only"),
            row("c1", "e1", 7, "newer"),
            row("c1", "e2", 3, "single"),
            row("c1", "e1", 2, "older"),
            row("c1", "e1", 9, "newest"),
        ];
        latest_versions(&mut rows);
        let kept: Vec<(&str, &str, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.conversation_id.as_str(),
                    r.event_id.as_str(),
                    r.status.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                ("c1", "e1", Some("newest")),
                ("c1", "e2", Some("single")),
                ("c2", "e1", Some("c2-only")),
            ]
        );
    }

    #[test]
    fn each_use_of_a_conversations_events_gets_all_of_them() {
        let event = customer_message;
        let events: HashMap<String, Vec<Event>> = [
            ("a".to_owned(), vec![event("a1"), event("a2")]),
            ("b".to_owned(), vec![event("b1")]),
        ]
        .into();
        let members: BTreeMap<String, BTreeSet<String>> = [
            ("t1".to_owned(), ["a".to_owned(), "b".to_owned()].into()),
            ("t2".to_owned(), ["a".to_owned()].into()),
        ]
        .into();
        let moved = Move {
            conversation_id: "a".into(),
            from: "t0".into(),
            to: "t1".into(),
        };
        let mut uses = Uses::new(events, &members, &[&moved]);
        let ids = |e: Option<Vec<Event>>| {
            e.map(|e| e.into_iter().map(|e| e.event_id).collect::<Vec<_>>())
        };
        // a: two threads and a move; b: one thread; c: never read.
        for _ in 0..3 {
            assert_eq!(ids(uses.take("a")), Some(vec!["a1".into(), "a2".into()]));
        }
        assert_eq!(ids(uses.take("b")), Some(vec!["b1".into()]));
        assert!(uses.events.is_empty(), "the last uses moved them out");
        assert_eq!(uses.take("a"), None);
        assert_eq!(uses.take("c"), None);
    }

    fn waits(rows: &StateRows) -> Vec<(i64, i8)> {
        rows.waiting
            .iter()
            .map(|w| (w.waiting_since_ms, w.sign))
            .collect()
    }

    #[test]
    fn a_conversation_that_left_a_thread_leaves_nothing_counted_behind() {
        let moved = conversation(None);
        let mut rows = StateRows::default();
        rows.retire("t", "old", &moved, 3);
        // The same keys as when the reply was counted under `old`, no longer counted.
        assert_eq!(rows.replies.len(), 1);
        let reply = &rows.replies[0];
        assert_eq!(
            (
                reply.conversation_id.as_str(),
                reply.reply_event_id.as_str()
            ),
            ("old", "r1")
        );
        assert_eq!((reply.has_latency, reply.is_first_response), (0, 0));
        assert_eq!(reply.reply_latency_ms, None);
        assert!(rows.conversations.is_empty(), "{rows:?}");
        rows.empty(
            "t",
            "old",
            &moved,
            Some((true, Some(1_000), "chat")),
            3,
            true,
        );
        assert_eq!(rows.conversations[0].events, 0);
        assert_eq!(rows.conversations[0].is_waiting, 0);
        assert_eq!(waits(&rows), [(1_000, -1)]);
        assert!(
            rows.sla.iter().all(|r| r.status == "none"),
            "{:?}",
            rows.sla
        );
    }

    #[test]
    fn a_wait_is_written_when_it_starts_and_cancelled_when_it_ends() {
        let mut rows = StateRows::default();
        rows.add("t", "c", &conversation(Some(1_000)), None, 1, false);
        assert_eq!(waits(&rows), [(1_000, 1)]);
        let mut rows = StateRows::default();
        rows.add(
            "t",
            "c",
            &conversation(Some(1_000)),
            Some((true, Some(1_000), "chat")),
            2,
            false,
        );
        assert!(waits(&rows).is_empty(), "unchanged: nothing written");
        let mut rows = StateRows::default();
        rows.add(
            "t",
            "c",
            &conversation(None),
            Some((true, Some(1_000), "chat")),
            3,
            false,
        );
        assert_eq!(waits(&rows), [(1_000, -1)]);
        let mut rows = StateRows::default();
        rows.add(
            "t",
            "c",
            &conversation(Some(1_000)),
            Some((true, Some(500), "chat")),
            4,
            false,
        );
        assert_eq!(
            waits(&rows),
            [(500, -1), (1_000, 1)],
            "moved: cancel, then start"
        );
    }

    #[test]
    fn every_reply_gets_a_row_and_the_text_preview_is_bounded() {
        let mut c = conversation(None);
        c.conversation.last_customer_text = "é".repeat(TEXT_PREVIEW_BYTES);
        let mut rows = StateRows::default();
        rows.add("t", "c", &c, None, 1, false);
        assert_eq!(rows.replies.len(), 1);
        assert_eq!(rows.replies[0].has_latency, 1);
        assert!(rows.conversations[0].last_customer_text.len() <= TEXT_PREVIEW_BYTES);
    }
}
