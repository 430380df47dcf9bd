//! Who is waiting for a human reply, longest first.

use std::collections::{BTreeMap, BTreeSet};

use clickhouse::Row;
use serde::Deserialize;

use super::{ReadResult, Sql};

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
    pub state: WaitingState,
    pub customer_id: Option<String>,
}

/// What a page shows of a waiting conversation's stored state (`conversations`), and what it
/// checks the wait against. Only these columns: a key lookup in `conversations` reads a
/// compressed block of every column it names in every part, so the page's 100 keys cost what
/// its columns do (39 columns: 22–30 ms at 10 M rows on 18.16 over 5 parts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct WaitingState {
    pub conversation_id: String,
    pub channel: String,
    pub team: Option<String>,
    pub waiting_since_ms: Option<i64>,
    pub is_waiting: u8,
    pub waiting_messages: u32,
    pub identities: Vec<String>,
    pub primary_identity: String,
    pub last_customer_text: String,
    /// The business-hours calendar the conversation is measured with.
    pub calendar: String,
}

const WAITING_COLUMNS: &str = "conversation_id, channel, team, waiting_since_ms, is_waiting, \
    waiting_messages, identities, primary_identity, last_customer_text, calendar";

/// The page's states of `conversation_ids` (see [`WaitingState`]).
async fn states(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_ids: &[String],
) -> ReadResult<Vec<WaitingState>> {
    let mut sql = Sql::new(&format!(
        "SELECT {WAITING_COLUMNS} FROM (SELECT {WAITING_COLUMNS}, events FROM conversations FINAL \
         PREWHERE tenant_id = ? AND conversation_id IN "
    ));
    sql.text(tenant_id);
    sql.fetch_keyed(client, conversation_ids, ") WHERE events > 0")
        .await
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

/// Reads `waiting` in the order of the wait (key prefix: tenant, then waiting_since), a chunk at
/// a time, and keeps each candidate whose stored state agrees (`conversations` decides: a wait
/// row can outlive its wait by a crash or a race between writers until the next merge).
///
/// A chunk's read merges the tenant's whole queue under `FINAL` (four narrow columns; 18.16 has
/// no read in key order), so it follows the queue's length: 3–7 ms for 40,000 waits. Reading a
/// window of the queue instead costs a round trip or scalar subqueries that cost more than they
/// save at that size (docs/BENCHMARKS.md).
pub async fn page(
    client: &clickhouse::Client,
    q: &UnansweredQuery<'_>,
) -> ReadResult<Vec<Waiting>> {
    let want = q.limit as usize;
    let chunk = (want * 2).max(50);
    let mut found: Vec<Waiting> = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let mut sql = Sql::new(
            "SELECT conversation_id, waiting_since_ms FROM (SELECT conversation_id, \
             waiting_since_ms, channel, sign FROM waiting FINAL PREWHERE tenant_id = ?",
        );
        sql.text(q.tenant_id);
        if let Some(cutoff) = q.since_at_most {
            sql.push(" AND waiting_since_ms <= ?").int(cutoff);
        }
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
        let exhausted = candidates.len() < chunk;
        after = candidates
            .last()
            .map(|c| (c.waiting_since_ms, c.conversation_id.clone()));
        let ids: Vec<String> = candidates
            .iter()
            .map(|c| c.conversation_id.clone())
            .collect();
        let mut states: BTreeMap<String, WaitingState> = if ids.is_empty() {
            BTreeMap::new()
        } else {
            states(client, q.tenant_id, &ids)
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
        if found.len() == want || exhausted {
            break;
        }
    }
    // Each conversation's customer: the customer of its primary identifier.
    // Each identifier once: a customer waiting in many conversations is one key, and the keys
    // (up to 1 KiB each) go a chunk at a time.
    let primaries: Vec<String> = found
        .iter()
        .map(|w| w.state.primary_identity.as_str())
        .filter(|p| !p.is_empty())
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if !primaries.is_empty() {
        let mut sql = Sql::new(
            "SELECT identity, customer_id FROM customers FINAL PREWHERE tenant_id = ? AND identity IN ",
        );
        sql.text(q.tenant_id);
        let owners: BTreeMap<String, String> = sql
            .fetch_keyed::<Owner>(client, &primaries, "")
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
