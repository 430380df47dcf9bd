//! One conversation: its events in order and its stored state. An email conversation is its
//! thread ([`crate::threads`]): its state is stored under the thread's id, and its events are
//! those of every stored conversation mapped to the thread.

use super::{EVENT_COLUMNS, EventRow, ReadResult, Sql};
use crate::state::{CONVERSATION_COLUMNS, ConversationRow};
use crate::threads;

/// The conversation `conversation_id` is part of now: its thread for an email conversation
/// that was threaded, else itself. A conversation a late message joined to another thread is
/// found under that thread.
pub async fn thread_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_id: &str,
) -> ReadResult<String> {
    let id = conversation_id.to_owned();
    let mut resolved = threads::resolve(client, tenant_id, &[&id]).await?;
    Ok(resolved.remove(&id).unwrap_or(id))
}

/// The thread of each of `conversation_ids` ([`thread_of`]), in the same order.
pub async fn threads_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_ids: &[String],
) -> ReadResult<Vec<String>> {
    let ids: Vec<&String> = conversation_ids.iter().collect();
    let resolved = threads::resolve(client, tenant_id, &ids).await?;
    Ok(conversation_ids
        .iter()
        .map(|id| resolved.get(id).unwrap_or(id).clone())
        .collect())
}

/// The stored state of one conversation (`conversations`), `None` when there is none.
pub async fn state(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_id: &str,
) -> ReadResult<Option<ConversationRow>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM (SELECT {CONVERSATION_COLUMNS} FROM conversations FINAL \
         PREWHERE tenant_id = ? AND conversation_id = ?) WHERE events > 0"
    );
    Ok(client
        .query(&sql)
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_optional()
        .await?)
}

/// The states of several conversations of one tenant, in no particular order.
pub async fn states(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_ids: &[String],
) -> ReadResult<Vec<ConversationRow>> {
    let mut sql = Sql::new(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM (SELECT {CONVERSATION_COLUMNS} FROM conversations FINAL \
         PREWHERE tenant_id = ? AND conversation_id IN "
    ));
    sql.text(tenant_id);
    sql.fetch_keyed(client, conversation_ids, ") WHERE events > 0")
        .await
}

/// Up to `limit` events of the conversation (of every stored conversation of its thread),
/// oldest first, and whether there are more: a key-prefix read of the log, which is one
/// partition, so the read opens each part once whatever months the conversation spans.
pub async fn events(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_id: &str,
    limit: usize,
) -> ReadResult<(Vec<EventRow>, bool)> {
    let id = conversation_id.to_owned();
    let stored: Vec<String> = threads::members(client, tenant_id, &[&id])
        .await?
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .collect();
    if stored.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut sql = Sql::new(&format!(
        "SELECT {EVENT_COLUMNS} FROM interaction_log FINAL PREWHERE tenant_id = ? AND conversation_id IN "
    ));
    sql.text(tenant_id).list(&stored).push(&format!(
        " ORDER BY occurred_at_ms, event_rank, event_id LIMIT {}",
        limit + 1
    ));
    let mut rows: Vec<EventRow> = sql.query(client).fetch_all().await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    // Every event is shown under the conversation asked for, the thread, whichever stored
    // conversation it is kept under.
    for row in &mut rows {
        if row.conversation_id != conversation_id {
            row.conversation_id = conversation_id.to_owned();
        }
    }
    Ok((rows, more))
}

/// Whether the tenant has any stored conversation: the pages' empty states ("no interactions
/// yet") need to tell an empty store from an empty answer. Reads one row of the key prefix.
pub async fn any(client: &clickhouse::Client, tenant_id: &str) -> ReadResult<bool> {
    let found: u64 = client
        .query(
            "SELECT toUInt64(count()) FROM (SELECT 1 FROM conversations PREWHERE tenant_id = ? LIMIT 1)",
        )
        .bind(tenant_id)
        .fetch_one()
        .await?;
    Ok(found > 0)
}
