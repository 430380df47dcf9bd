//! Who is waiting for a human reply, longest first.

use std::collections::BTreeMap;

use clickhouse::Row;
use serde::Deserialize;

use super::{ReadResult, Sql, conversations};
use crate::state::ConversationRow;

/// What to list.
#[derive(Debug, Clone)]
pub struct UnansweredQuery<'a> {
    pub tenant_id: &'a str,
    pub channel: Option<&'a str>,
    /// Only waits that started at or before this instant (`older_than`).
    pub since_at_most: Option<i64>,
    pub limit: u32,
}

/// One waiting conversation and the customer it belongs to (the customer of its primary
/// identifier; `None` while the linker has not assigned it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub state: ConversationRow,
    pub customer_id: Option<String>,
}

#[derive(Debug, Deserialize, Row)]
struct Candidate {
    conversation_id: String,
    waiting_since_ms: i64,
}

#[derive(Debug, Deserialize, Row)]
struct Owner {
    identity: String,
    customer_id: String,
}

#[derive(Debug, Deserialize, Row)]
struct Span {
    oldest_ms: i64,
    newest_ms: i64,
    waits: u64,
}

/// The narrowest window of waits a page reads. A `FINAL` read of `waiting` merges every row of
/// its range, and the queue grows with the history (waits nobody answers stay), so a page reads a
/// window of times from the oldest wait on instead of the tenant's whole queue: twice as wide as
/// the queue's mean density says a chunk needs, and 16 times wider each time it falls short.
const MIN_WINDOW_MS: i64 = 60_000;

/// Reads `waiting` in the order of the wait (key prefix: tenant, then waiting_since), a window of
/// times at a time and at most a chunk per read, and keeps each candidate whose stored state agrees
/// (`conversations` decides: a wait row can outlive its wait by a crash or a race between writers
/// until the next merge).
pub async fn page(
    client: &clickhouse::Client,
    q: &UnansweredQuery<'_>,
) -> ReadResult<Vec<Waiting>> {
    let want = q.limit as usize;
    let chunk = (want * 2).max(50);
    let last = q.since_at_most.unwrap_or(i64::MAX);
    // The queue's span without FINAL: one column, and a row whose wait has ended only widens
    // the first window.
    let span: Span = client
        .query(
            "SELECT min(waiting_since_ms) AS oldest_ms, max(waiting_since_ms) AS newest_ms, \
             count() AS waits FROM waiting PREWHERE tenant_id = ? AND waiting_since_ms <= ?",
        )
        .bind(q.tenant_id)
        .bind(last)
        .fetch_one()
        .await?;
    let mut found: Vec<Waiting> = Vec::new();
    if span.waits == 0 {
        return Ok(found);
    }
    let mut lo = span.oldest_ms;
    let spread = i128::from(span.newest_ms) - i128::from(span.oldest_ms) + 1;
    let dense = spread * 2 * chunk as i128 / i128::from(span.waits);
    let mut width = i64::try_from(dense).unwrap_or(i64::MAX).max(MIN_WINDOW_MS);
    let mut after: Option<(i64, String)> = None;
    loop {
        let hi = lo.saturating_add(width - 1).min(last);
        let mut sql = Sql::new(
            "SELECT conversation_id, waiting_since_ms FROM (SELECT conversation_id, \
             waiting_since_ms, channel, sign FROM waiting FINAL PREWHERE tenant_id = ? \
             AND waiting_since_ms >= ? AND waiting_since_ms <= ?",
        );
        sql.text(q.tenant_id).int(lo).int(hi);
        if let Some((since, id)) = &after {
            sql.push(
                " AND (waiting_since_ms > ? OR (waiting_since_ms = ? AND conversation_id > ?))",
            )
            .int(*since)
            .int(*since)
            .text(id);
        }
        sql.push(") WHERE sign > 0");
        if let Some(channel) = q.channel {
            sql.push(" AND channel = ?").text(channel);
        }
        sql.push(&format!(
            " ORDER BY waiting_since_ms, conversation_id LIMIT {chunk}"
        ));
        let candidates: Vec<Candidate> = sql.query(client).fetch_all().await?;
        let window_done = candidates.len() < chunk;
        after = candidates
            .last()
            .map(|c| (c.waiting_since_ms, c.conversation_id.clone()));
        let ids: Vec<String> = candidates
            .iter()
            .map(|c| c.conversation_id.clone())
            .collect();
        let mut states: BTreeMap<String, ConversationRow> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            conversations::states(client, q.tenant_id, &ids)
                .await?
                .into_iter()
                .map(|s| (s.conversation_id.clone(), s))
                .collect()
        };
        for candidate in candidates {
            let Some(state) = states.remove(&candidate.conversation_id) else {
                continue;
            };
            if state.is_waiting == 1
                && state.waiting_since_ms == Some(candidate.waiting_since_ms)
                && q.channel.is_none_or(|c| state.channel == c)
            {
                found.push(Waiting {
                    state,
                    customer_id: None,
                });
            }
            if found.len() == want {
                break;
            }
        }
        if found.len() == want {
            break;
        }
        if window_done {
            if hi >= last {
                break;
            }
            lo = hi + 1;
            width = width.saturating_mul(16);
            after = None;
        }
    }
    // Each conversation's customer: the customer of its primary identifier.
    let primaries: Vec<String> = found
        .iter()
        .map(|w| w.state.primary_identity.clone())
        .filter(|p| !p.is_empty())
        .collect();
    if !primaries.is_empty() {
        let mut sql = Sql::new(
            "SELECT identity, customer_id FROM customers FINAL PREWHERE tenant_id = ? AND identity IN ",
        );
        sql.text(q.tenant_id).list(&primaries);
        let owners: BTreeMap<String, String> = sql
            .query(client)
            .fetch_all::<Owner>()
            .await?
            .into_iter()
            .map(|o| (o.identity, o.customer_id))
            .collect();
        for w in &mut found {
            w.customer_id = owners
                .get(&w.state.primary_identity)
                .filter(|c| !c.is_empty())
                .cloned();
        }
    }
    Ok(found)
}
