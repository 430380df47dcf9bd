//! `rapport recompute`: derives the stored state of a tenant's conversations again with the
//! business hours and SLA policies of today's configuration (after a calendar or policy change,
//! or for rows stored before migration 007 gave them business times), and writes only what
//! changed.
//!
//! Which conversations: every one with an event in the window, every one whose stored state
//! spans into it (created before its end, last event after its start), and every one created
//! before its end whose clocks may still run (waiting for a reply or not resolved), because a
//! changed calendar moves the due times of those too.
//!
//! Idempotent: a conversation's rows are compared with the stored ones (all columns but
//! `version`) and written only when some differ, so running it twice changes nothing the second
//! time and says so.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clickhouse::Row;
use serde::Deserialize;

use crate::ClickHouseError;
use crate::read::Sql;
use crate::sla::{self, SlaRow};
use crate::state::{self, ConversationRow, ReplyRow, ResolutionRow, Rules, StateRows, Touched};

/// Conversations recomputed per round (their ids go into the SQL text, as in [`state`]).
const CHUNK: usize = 500;

/// What a recompute found and did, per table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Conversations derived again.
    pub conversations: u64,
    /// Of those, the ones with at least one row that differed from what was stored.
    pub changed_conversations: u64,
    /// Rows that were new or differed, per table (`conversations`, `replies`, `resolutions`,
    /// `sla`); only these conversations' rows were written.
    pub rows_changed: BTreeMap<&'static str, u64>,
}

impl RepairReport {
    pub fn rows_changed_total(&self) -> u64 {
        self.rows_changed.values().sum()
    }
}

#[derive(Debug, Deserialize, Row)]
struct Id {
    conversation_id: String,
}

/// The conversations of `tenant` that a recompute of `[from, to)` (epoch ms) covers, sorted.
pub async fn conversations_in(
    client: &clickhouse::Client,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<Vec<String>, ClickHouseError> {
    // The log is one partition sorted by conversation: this reads two columns of the tenant's
    // whole log, as an operator's repair may.
    let events = "SELECT DISTINCT conversation_id FROM interaction_log \
         PREWHERE tenant_id = ? AND occurred_at_ms >= ? AND occurred_at_ms < ?";
    let stored = "SELECT conversation_id FROM (SELECT conversation_id, created_at_ms, \
         last_event_at_ms, is_waiting, is_resolved, events FROM conversations FINAL \
         PREWHERE tenant_id = ?) \
         WHERE events > 0 AND created_at_ms < ? \
         AND (last_event_at_ms >= ? OR is_waiting = 1 OR is_resolved = 0)";
    let (events, stored) = tokio::try_join!(
        client
            .query(events)
            .bind(tenant)
            .bind(from)
            .bind(to)
            .fetch_all::<Id>(),
        client
            .query(stored)
            .bind(tenant)
            .bind(to)
            .bind(from)
            .fetch_all::<Id>(),
    )?;
    let ids: BTreeSet<String> = events
        .into_iter()
        .chain(stored)
        .map(|r| r.conversation_id)
        .collect();
    Ok(ids.into_iter().collect())
}

/// The rows stored for some conversations of one tenant, `version` zeroed.
#[derive(Debug, Default)]
struct Stored {
    conversations: Vec<ConversationRow>,
    replies: Vec<ReplyRow>,
    resolutions: Vec<ResolutionRow>,
    sla: Vec<SlaRow>,
}

async fn stored(
    client: &clickhouse::Client,
    tenant: &str,
    ids: &[String],
    days: (u16, u16),
) -> Result<Stored, ClickHouseError> {
    let by_key = |table: &str| {
        let mut sql = Sql::new(&format!(
            "SELECT ?fields FROM {table} FINAL PREWHERE tenant_id = ? AND conversation_id IN "
        ));
        sql.text(tenant).list(ids);
        sql
    };
    // replies and resolutions are sorted by day first: read the days the new rows have.
    let by_day = |table: &str, column: &str| {
        let mut sql = Sql::new(&format!(
            "SELECT ?fields FROM {table} FINAL PREWHERE tenant_id = ? AND {column} >= toDate('1970-01-01') + {} \
             AND {column} <= toDate('1970-01-01') + {} AND conversation_id IN ",
            days.0, days.1
        ));
        sql.text(tenant).list(ids);
        sql
    };
    let (conversations, replies, resolutions, sla) = tokio::try_join!(
        by_key("conversations")
            .query(client)
            .fetch_all::<ConversationRow>(),
        by_day("replies", "reply_day")
            .query(client)
            .fetch_all::<ReplyRow>(),
        by_day("resolutions", "resolved_day")
            .query(client)
            .fetch_all::<ResolutionRow>(),
        by_key("sla").query(client).fetch_all::<SlaRow>(),
    )?;
    let mut stored = Stored {
        conversations,
        replies,
        resolutions,
        sla,
    };
    stored.conversations.iter_mut().for_each(|r| r.version = 0);
    stored.replies.iter_mut().for_each(|r| r.version = 0);
    stored.resolutions.iter_mut().for_each(|r| r.version = 0);
    stored.sla.iter_mut().for_each(|r| r.version = 0);
    Ok(stored)
}

/// The rows of `new` that are not stored exactly (all columns but `version`), per conversation.
/// A stored state row as `repair` compares it: by conversation, ignoring its `version`.
trait StateRow: Clone + PartialEq {
    fn conversation_id(&self) -> &str;
    fn without_version(&self) -> Self;
}

macro_rules! state_rows {
    ($($row:ty),*) => {$(
        impl StateRow for $row {
            fn conversation_id(&self) -> &str {
                &self.conversation_id
            }
            fn without_version(&self) -> Self {
                Self { version: 0, ..self.clone() }
            }
        }
    )*};
}
state_rows!(ConversationRow, ReplyRow, ResolutionRow, SlaRow);

fn changed<T: StateRow>(new: &[T], stored: &[T]) -> BTreeMap<String, u64> {
    let mut by_id: BTreeMap<&str, Vec<&T>> = BTreeMap::new();
    for row in stored {
        by_id.entry(row.conversation_id()).or_default().push(row);
    }
    let mut counts = BTreeMap::new();
    for row in new {
        let bare = row.without_version();
        let same = by_id
            .get(row.conversation_id())
            .is_some_and(|rows| rows.iter().any(|r| **r == bare));
        if !same {
            *counts.entry(row.conversation_id().to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// The rows to write for one chunk: those of the conversations with any changed row, and the
/// changed rows per table.
fn select_changed(rows: StateRows, stored: &Stored) -> (StateRows, BTreeMap<&'static str, u64>) {
    let per_table = [
        (
            "conversations",
            changed(&rows.conversations, &stored.conversations),
        ),
        ("replies", changed(&rows.replies, &stored.replies)),
        (
            "resolutions",
            changed(&rows.resolutions, &stored.resolutions),
        ),
        ("sla", changed(&rows.sla, &stored.sla)),
    ];
    let dirty: BTreeSet<&str> = per_table
        .iter()
        .flat_map(|(_, counts)| counts.keys().map(String::as_str))
        .collect();
    fn keep<T>(rows: Vec<T>, dirty: &BTreeSet<&str>, id: impl Fn(&T) -> &str) -> Vec<T> {
        rows.into_iter().filter(|r| dirty.contains(id(r))).collect()
    }
    let out = StateRows {
        conversations: keep(rows.conversations, &dirty, |r| r.conversation_id()),
        replies: keep(rows.replies, &dirty, |r| r.conversation_id()),
        resolutions: keep(rows.resolutions, &dirty, |r| r.conversation_id()),
        waiting: keep(rows.waiting, &dirty, |r| &r.conversation_id),
        sla: keep(rows.sla, &dirty, |r| r.conversation_id()),
    };
    let counts = per_table
        .iter()
        .map(|(table, counts)| (*table, counts.values().sum()))
        .collect();
    (out, counts)
}

/// One chunk: its changed rows per table, its conversations and how many of them changed. A
/// chunk reads (events and stored rows) and writes, each request bounded by the timeout; the
/// chunk as a whole by four of them.
async fn one_chunk(
    client: &clickhouse::Client,
    how: Recompute<'_>,
    chunk: &[String],
) -> Result<(BTreeMap<&'static str, u64>, u64, u64), ClickHouseError> {
    let Recompute {
        tenant,
        rules,
        version,
        dry_run,
        timeout,
    } = how;
    let touched = Touched::from([(tenant.to_owned(), chunk.iter().cloned().collect())]);
    let mut rows = state::recompute_with(
        client,
        &touched,
        &crate::threads::Moves::new(),
        version,
        rules,
        true,
    )
    .await?;
    let days = rows
        .replies
        .iter()
        .map(|r| r.reply_day)
        .chain(rows.resolutions.iter().map(|r| r.resolved_day))
        .fold(None, |span: Option<(u16, u16)>, d| {
            Some(span.map_or((d, d), |(lo, hi)| (lo.min(d), hi.max(d))))
        })
        .unwrap_or((0, 0));
    let before = stored(client, tenant, chunk, days).await?;
    // A target without a policy is stored (as `none`) only to overwrite an earlier outcome.
    let had: BTreeSet<(&str, &str)> = before
        .sla
        .iter()
        .map(|r| (r.conversation_id.as_str(), r.target.as_str()))
        .collect();
    rows.sla.retain(|r| {
        r.status != sla::NONE || had.contains(&(r.conversation_id.as_str(), r.target.as_str()))
    });
    let conversations = rows.conversations.len() as u64;
    let (write, counts) = select_changed(rows, &before);
    let changed = write.conversations.len() as u64;
    if !dry_run {
        state::store(client, &write, timeout).await?;
    }
    Ok((counts, conversations, changed))
}

/// How to recompute.
#[derive(Debug, Clone, Copy)]
pub struct Recompute<'a> {
    pub tenant: &'a str,
    pub rules: &'a Rules,
    /// The rows' version: later than every stored one (take the time before reading).
    pub version: i64,
    /// Count what would change, write nothing.
    pub dry_run: bool,
    /// Per insert.
    pub timeout: Duration,
}

/// Recomputes `ids` of the tenant and writes the conversations whose rows changed (all of their
/// rows); with `dry_run`, only counts. `progress` is called after each chunk with the
/// conversations done so far.
pub async fn recompute(
    client: &clickhouse::Client,
    how: Recompute<'_>,
    ids: &[String],
    mut progress: impl FnMut(usize),
) -> Result<RepairReport, ClickHouseError> {
    let timeout = how.timeout;
    let mut report = RepairReport::default();
    for table in ["conversations", "replies", "resolutions", "sla"] {
        report.rows_changed.insert(table, 0);
    }
    let mut done = 0;
    for chunk in ids.chunks(CHUNK) {
        let round = one_chunk(client, how, chunk);
        let (counts, conversations, changed) = tokio::time::timeout(timeout * 4, round)
            .await
            .map_err(|_| ClickHouseError::Timeout(timeout * 4))??;
        report.conversations += conversations;
        report.changed_conversations += changed;
        for (table, n) in counts {
            *report.rows_changed.entry(table).or_insert(0) += n;
        }
        done += chunk.len();
        progress(done);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rows_that_differ_count_and_version_is_ignored() {
        let row = |id: &str, calendar: &str, version: i64| ReplyRow {
            tenant_id: "t".into(),
            reply_day: 1,
            conversation_id: id.into(),
            reply_event_id: format!("{id}-r"),
            channel: "chat".into(),
            team: None,
            agent_id: None,
            agent_name: None,
            replied_at_ms: 10,
            inbound_at_ms: Some(5),
            reply_latency_ms: Some(5),
            has_latency: 1,
            is_first_response: 1,
            reply_latency_business_ms: Some(5),
            calendar: calendar.into(),
            version,
        };
        let stored = [row("a", "24/7", 0), row("b", "24/7", 0)];
        let new = [
            row("a", "24/7", 99),
            row("b", "office", 99),
            row("c", "24/7", 99),
        ];
        let counts = changed(&new, &stored);
        assert_eq!(
            counts,
            BTreeMap::from([("b".to_owned(), 1), ("c".to_owned(), 1)])
        );
    }
}
