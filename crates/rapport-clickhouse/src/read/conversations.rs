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
    sql.text(tenant_id)
        .list(conversation_ids)
        .push(") WHERE events > 0");
    Ok(sql.query(client).fetch_all().await?)
}

/// The UTC day of an aggregate of the conversation's stored state, `margin` days further, as a
/// scalar subquery (`otherwise` without a stored state). Binds: tenant, conversation.
fn stored_day(aggregate: &str, otherwise: &str, margin: i32) -> String {
    format!(
        "(SELECT if(count() = 0, toDate('{otherwise}'), \
         toDate('1970-01-01') + toInt32(intDiv({aggregate}, 86400000) + ({margin}))) \
         FROM conversations FINAL PREWHERE tenant_id = ? AND conversation_id = ?)"
    )
}

/// Up to `limit` events of the conversation, oldest first, and whether there are more. The stored
/// state's first and last event bound the months read (partitions are by month of
/// `occurred_date`, a day of margin each side); without a stored state, every month is read.
pub async fn events(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_id: &str,
    limit: usize,
) -> ReadResult<(Vec<EventRow>, bool)> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM interactions FINAL PREWHERE tenant_id = ? AND conversation_id = ? \
         AND occurred_date >= {} AND occurred_date <= {} \
         ORDER BY occurred_at_ms, event_rank, event_id LIMIT {}",
        stored_day("min(created_at_ms)", "1970-01-01", -1),
        stored_day("max(last_event_at_ms)", "2105-12-31", 1),
        limit + 1
    );
    let mut rows: Vec<EventRow> = client
        .query(&sql)
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all()
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
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
