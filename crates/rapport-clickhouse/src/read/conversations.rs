//! One conversation: its events in order and its stored state.

use super::{EVENT_COLUMNS, EventRow, ReadResult, Sql};
use crate::state::{CONVERSATION_COLUMNS, ConversationRow};

/// The stored state of one conversation (`conversations`), `None` when there is none.
pub async fn state(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_id: &str,
) -> ReadResult<Option<ConversationRow>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM (SELECT {CONVERSATION_COLUMNS} FROM conversations FINAL \
         WHERE tenant_id = ? AND conversation_id = ?) WHERE events > 0"
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
         WHERE tenant_id = ? AND conversation_id IN "
    ));
    sql.text(tenant_id)
        .list(conversation_ids)
        .push(") WHERE events > 0");
    Ok(sql.query(client).fetch_all().await?)
}

/// Up to `limit` events of the conversation, oldest first, and whether there are more.
pub async fn events(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_id: &str,
    limit: usize,
) -> ReadResult<(Vec<EventRow>, bool)> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM interactions FINAL WHERE tenant_id = ? AND conversation_id = ? \
         ORDER BY occurred_at_ms, event_rank, event_id LIMIT {}",
        limit + 1
    );
    let mut rows: Vec<EventRow> = client
        .query(&sql)
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all()
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, more))
}
