//! Email threads in the store (`schemas/clickhouse/008_email_threads.sql`): every email's
//! threading headers, its JWZ thread ([`rapport_channels::email::thread`]) whatever order its
//! messages arrived in, and the stored conversation id → thread mapping the read model and the
//! views resolve a conversation through.
//!
//! The writer calls [`record`] and then [`rethread`] for the emails of each stored batch. The
//! state lives in ClickHouse, not in the process: a thread's messages are keyed by their
//! customers and so spread over the interactions topic's partitions and over writer instances,
//! and only the store sees all of them. [`rethread`] reads the connected group of every message
//! of the batch back by key prefix (`email_links`, then `email_messages`, one round per step
//! away from the batch's messages), threads each group in canonical order, and writes the
//! mapping rows that changed. A restart therefore rebuilds nothing: the next batch reads what
//! it needs.
//!
//! **Concurrent writers.** Two instances may rethread one group at once, each having stored its
//! own messages. Each takes its version after storing its messages and before reading the group,
//! so if one read missed the other's message, that other instance's version is later and its
//! read saw both: the latest version has seen at least as much (the argument the stored state's
//! version already rests on, with the same clock).
//!
//! **Bounds.** A message's ids are bounded by the contract ([`rapport_channels::email::thread`]:
//! the first and last references, the first `In-Reply-To`), and a group is read up to
//! [`MAX_GROUP`] messages per message of the batch: past that, a conversation that already has
//! a thread keeps it and a new one takes the thread computed from what was read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use clickhouse::Row;
use rapport_channels::email::thread::{MAX_GROUP, ThreadMessage, Threads};
use rapport_model::{Threading, Timestamp};
use serde::{Deserialize, Serialize};

use crate::binds::select_in;
use crate::{ClickHouseError, insert_into};

/// The tables this module writes.
pub const TABLES: [&str; 4] = [
    "email_messages",
    "email_links",
    "email_threads",
    "thread_conversations",
];

/// One stored email: its tenant, the conversation it is stored under and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub tenant_id: String,
    pub conversation_id: String,
    pub threading: Threading,
    /// The interaction's `occurred_at` (the `Date` header, else the receive time).
    pub sent_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
struct MessageRow {
    tenant_id: String,
    message_id: String,
    sent_at_ms: i64,
    /// The sorting key's stand-in for the two arrays (see the migration).
    headers: String,
    conversation_id: String,
    in_reply_to: Vec<String>,
    refs: Vec<String>,
}

impl MessageRow {
    fn ids(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.message_id)
            .chain(&self.in_reply_to)
            .chain(&self.refs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Row)]
struct LinkRow {
    tenant_id: String,
    id: String,
    message_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Row)]
struct ThreadRow {
    tenant_id: String,
    conversation_id: String,
    thread_id: String,
    changed_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Row)]
struct MemberRow {
    tenant_id: String,
    thread_id: String,
    conversation_id: String,
    active: u8,
    changed_at_ms: i64,
}

/// A stored conversation whose thread changed: `from` is its thread before (the conversation
/// itself when it had none), `to` its thread now.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    pub conversation_id: String,
    pub from: String,
    pub to: String,
}

/// The moves of one rethreading, per tenant.
pub type Moves = BTreeMap<String, Vec<Move>>;

/// Stores the headers of `messages` and the ids each names. Idempotent: a redelivered batch
/// writes the same rows again.
pub async fn record(
    client: &clickhouse::Client,
    messages: &[EmailMessage],
    timeout: Duration,
) -> Result<(), ClickHouseError> {
    let mut rows = Vec::with_capacity(messages.len());
    let mut links = Vec::new();
    for m in messages {
        let t = &m.threading;
        let row = MessageRow {
            tenant_id: m.tenant_id.clone(),
            message_id: t.message_id.clone(),
            sent_at_ms: m.sent_at.as_millis(),
            headers: format!("{}|{}", t.in_reply_to.join(" "), t.references.join(" ")),
            conversation_id: m.conversation_id.clone(),
            in_reply_to: t.in_reply_to.clone(),
            refs: t.references.clone(),
        };
        let ids: BTreeSet<&String> = row.ids().collect();
        links.extend(ids.into_iter().map(|id| LinkRow {
            tenant_id: m.tenant_id.clone(),
            id: id.clone(),
            message_id: row.message_id.clone(),
        }));
        rows.push(row);
    }
    insert_into(client, "email_links", &links, timeout).await?;
    insert_into(client, "email_messages", &rows, timeout).await
}

/// The stored messages of every group a message of `seeds` belongs to, at most `cap` of them;
/// true as the second value when the cap cut the reading short.
async fn groups(
    client: &clickhouse::Client,
    tenant_id: &str,
    seeds: &[&EmailMessage],
    cap: usize,
) -> Result<(Vec<MessageRow>, bool), ClickHouseError> {
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut seen_messages: HashSet<String> = HashSet::new();
    let mut frontier: Vec<String> = Vec::new();
    for m in seeds {
        let t = &m.threading;
        for id in std::iter::once(&t.message_id)
            .chain(&t.in_reply_to)
            .chain(&t.references)
        {
            if seen_ids.insert(id.clone()) {
                frontier.push(id.clone());
            }
        }
    }
    let mut found = Vec::new();
    while !frontier.is_empty() {
        let ids: Vec<&String> = frontier.iter().collect();
        let links: Vec<LinkRow> = select_in(
            client,
            "SELECT tenant_id, id, message_id FROM email_links \
             PREWHERE tenant_id = ? AND id IN ({ids})",
            tenant_id,
            &ids,
        )
        .await?;
        let mut new: Vec<String> = links
            .into_iter()
            .map(|l| l.message_id)
            .filter(|m| !seen_messages.contains(m))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if seen_messages.len() + new.len() > cap {
            new.truncate(cap.saturating_sub(seen_messages.len()));
            seen_messages.extend(new.iter().cloned());
            let ids: Vec<&String> = new.iter().collect();
            found.extend(read_messages(client, tenant_id, &ids).await?);
            return Ok((found, true));
        }
        seen_messages.extend(new.iter().cloned());
        let ids: Vec<&String> = new.iter().collect();
        let rows = read_messages(client, tenant_id, &ids).await?;
        frontier = Vec::new();
        for row in &rows {
            for id in row.ids() {
                if seen_ids.insert(id.clone()) {
                    frontier.push(id.clone());
                }
            }
        }
        found.extend(rows);
    }
    Ok((found, false))
}

async fn read_messages(
    client: &clickhouse::Client,
    tenant_id: &str,
    ids: &[&String],
) -> Result<Vec<MessageRow>, ClickHouseError> {
    // Every stored version of each message (no FINAL): the threading keeps the smallest.
    select_in(
        client,
        "SELECT tenant_id, message_id, sent_at_ms, headers, conversation_id, in_reply_to, refs \
         FROM email_messages PREWHERE tenant_id = ? AND message_id IN ({ids})",
        tenant_id,
        ids,
    )
    .await
}

/// The thread of every conversation of `rows`: the thread of its earliest message (by date,
/// then Message-ID), all of its messages share it unless their headers disagree.
fn thread_conversations(rows: &[MessageRow]) -> BTreeMap<String, String> {
    let mut rows: Vec<&MessageRow> = rows.iter().collect();
    rows.sort_by(|a, b| {
        (a.sent_at_ms, &a.message_id, &a.refs, &a.in_reply_to).cmp(&(
            b.sent_at_ms,
            &b.message_id,
            &b.refs,
            &b.in_reply_to,
        ))
    });
    let mut threads = Threads::new();
    for row in &rows {
        threads.add(ThreadMessage {
            message_id: row.message_id.clone(),
            in_reply_to: row.in_reply_to.clone(),
            references: row.refs.clone(),
            sent_at: Timestamp::from_millis(row.sent_at_ms),
        });
    }
    let mut by_conversation = BTreeMap::new();
    for row in rows {
        if let Some(thread) = threads.conversation_id(&row.message_id) {
            by_conversation
                .entry(row.conversation_id.clone())
                .or_insert(thread);
        }
    }
    by_conversation
}

/// The stored thread of each of `conversation_ids` that has one.
pub async fn resolve(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_ids: &[&String],
) -> Result<HashMap<String, String>, ClickHouseError> {
    let ids: Vec<&String> = conversation_ids
        .iter()
        .copied()
        .filter(|id| id.starts_with("email:"))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ThreadRow> = select_in(
        client,
        "SELECT tenant_id, conversation_id, thread_id, changed_at_ms FROM email_threads FINAL \
         PREWHERE tenant_id = ? AND conversation_id IN ({ids})",
        tenant_id,
        &ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.conversation_id, r.thread_id))
        .collect())
}

/// The stored conversation ids of each of `thread_ids`: those mapped to it, and the thread's own
/// id when that conversation was never threaded (every conversation of another channel).
pub async fn members(
    client: &clickhouse::Client,
    tenant_id: &str,
    thread_ids: &[&String],
) -> Result<BTreeMap<String, BTreeSet<String>>, ClickHouseError> {
    let mut members: BTreeMap<String, BTreeSet<String>> = thread_ids
        .iter()
        .map(|t| ((*t).clone(), BTreeSet::new()))
        .collect();
    let email: Vec<&String> = thread_ids
        .iter()
        .copied()
        .filter(|id| id.starts_with("email:"))
        .collect();
    let (mapped, rows) = if email.is_empty() {
        (HashMap::new(), Vec::new())
    } else {
        tokio::try_join!(
            resolve(client, tenant_id, &email),
            select_in::<MemberRow>(
                client,
                "SELECT tenant_id, thread_id, conversation_id, active, changed_at_ms FROM \
                 (SELECT * FROM thread_conversations FINAL PREWHERE tenant_id = ? AND thread_id IN ({ids})) \
                 WHERE active = 1",
                tenant_id,
                &email,
            )
        )?
    };
    for (thread, set) in &mut members {
        if !mapped.contains_key(thread) {
            set.insert(thread.clone());
        }
    }
    for row in rows {
        if let Some(set) = members.get_mut(&row.thread_id) {
            set.insert(row.conversation_id);
        }
    }
    Ok(members)
}

/// Threads the groups of `messages` (already [`record`]ed) and stores every conversation whose
/// thread changed; returns those changes. `version` orders the mapping rows against other
/// rethreadings: take it after [`record`] and before this reads (see the module docs).
pub async fn rethread(
    client: &clickhouse::Client,
    messages: &[EmailMessage],
    version: i64,
    timeout: Duration,
) -> Result<Moves, ClickHouseError> {
    let mut by_tenant: BTreeMap<&str, Vec<&EmailMessage>> = BTreeMap::new();
    for m in messages {
        by_tenant.entry(&m.tenant_id).or_default().push(m);
    }
    let mut moves = Moves::new();
    let mut threads = Vec::new();
    let mut members = Vec::new();
    for (tenant_id, seeds) in by_tenant {
        let cap = MAX_GROUP.saturating_mul(seeds.len());
        let (rows, capped) = groups(client, tenant_id, &seeds, cap).await?;
        let now = thread_conversations(&rows);
        let ids: Vec<&String> = now.keys().collect();
        let stored = resolve(client, tenant_id, &ids).await?;
        for (conversation, thread) in now {
            let before = stored.get(&conversation);
            if before == Some(&thread) || (capped && before.is_some()) {
                continue;
            }
            threads.push(ThreadRow {
                tenant_id: tenant_id.to_owned(),
                conversation_id: conversation.clone(),
                thread_id: thread.clone(),
                changed_at_ms: version,
            });
            members.push(MemberRow {
                tenant_id: tenant_id.to_owned(),
                thread_id: thread.clone(),
                conversation_id: conversation.clone(),
                active: 1,
                changed_at_ms: version,
            });
            if let Some(before) = before {
                members.push(MemberRow {
                    tenant_id: tenant_id.to_owned(),
                    thread_id: before.clone(),
                    conversation_id: conversation.clone(),
                    active: 0,
                    changed_at_ms: version,
                });
            }
            let from = before.cloned().unwrap_or_else(|| conversation.clone());
            if from != thread {
                moves.entry(tenant_id.to_owned()).or_default().push(Move {
                    conversation_id: conversation,
                    from,
                    to: thread,
                });
            }
        }
    }
    // The reverse index first: a conversation found through `email_threads` is always also
    // found among its thread's members.
    insert_into(client, "thread_conversations", &members, timeout).await?;
    insert_into(client, "email_threads", &threads, timeout).await?;
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, conversation: &str, irt: &[&str], refs: &[&str], at: i64) -> MessageRow {
        MessageRow {
            tenant_id: "t".into(),
            message_id: id.into(),
            sent_at_ms: at,
            headers: String::new(),
            conversation_id: conversation.into(),
            in_reply_to: irt.iter().map(|s| (*s).to_owned()).collect(),
            refs: refs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_reply_to_a_reply_with_only_in_reply_to_joins_the_root_thread() {
        // b answers a with References; c answers b with In-Reply-To only, so the adapter's
        // guess for c is b's id, a conversation of its own.
        let rows = vec![
            row("a@x", "email:a@x", &[], &[], 1),
            row("b@x", "email:a@x", &["a@x"], &["a@x"], 2),
            row("c@x", "email:b@x", &["b@x"], &[], 3),
        ];
        let threads = thread_conversations(&rows);
        assert_eq!(threads["email:a@x"], "email:a@x");
        assert_eq!(threads["email:b@x"], "email:a@x");
    }

    #[test]
    fn the_mapping_is_the_same_for_every_order_the_rows_are_read_in() {
        let rows = vec![
            row("a@x", "email:a@x", &[], &[], 1),
            row("b@x", "email:a@x", &["a@x"], &["a@x"], 2),
            row("c@x", "email:b@x", &["b@x"], &[], 3),
            row("d@x", "email:c@x", &[], &["c@x"], 4),
            row("e@x", "email:e@x", &[], &[], 5),
        ];
        let first = thread_conversations(&rows);
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(thread_conversations(&reversed), first);
        assert_eq!(first["email:c@x"], "email:a@x");
        assert_eq!(first["email:e@x"], "email:e@x");
    }
}
