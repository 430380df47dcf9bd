//! A customer's merged history across channels, a page at a time.

use super::{
    EVENT_COLUMNS, EventRow, Order, Position, ReadResult, Sql, customer_events, identities_of,
};

/// What to read of a customer's history.
#[derive(Debug, Clone)]
pub struct TimelineQuery<'a> {
    pub tenant_id: &'a str,
    pub customer_id: &'a str,
    pub order: Order,
    pub limit: u32,
    pub channel: Option<&'a str>,
    /// `occurred_at_ms` from (inclusive) and to (exclusive).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Continue after this position (the last item of the previous page).
    pub after: Option<&'a Position>,
}

/// A page: at most `limit` events, and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelinePage {
    pub items: Vec<EventRow>,
    pub more: bool,
}

/// Reads by key prefix only: the customer's identifiers (`customer_identities`), their
/// conversations (`interaction_identities`), and those conversations' events and states. A page
/// costs the customer's events, not the tenant's.
pub async fn page(client: &clickhouse::Client, q: &TimelineQuery<'_>) -> ReadResult<TimelinePage> {
    let identities = identities_of(client, q.tenant_id, q.customer_id).await?;
    if identities.is_empty() {
        return Ok(TimelinePage {
            items: Vec::new(),
            more: false,
        });
    }
    let mut sql = Sql::new("SELECT * FROM (");
    sql.append(&customer_events(q.tenant_id, &identities, EVENT_COLUMNS))
        .push(") WHERE 1");
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    if let Some(from) = q.from {
        sql.push(" AND occurred_at_ms >= ?").int(from);
    }
    if let Some(to) = q.to {
        sql.push(" AND occurred_at_ms < ?").int(to);
    }
    let (cmp, direction) = match q.order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(p) = q.after {
        sql.push(&format!(
            " AND (occurred_at_ms {cmp} ? OR (occurred_at_ms = ? AND (event_rank {cmp} ? OR (event_rank = ? AND event_id {cmp} ?))))"
        ))
        .int(p.occurred_at_ms)
        .int(p.occurred_at_ms)
        .int(i64::from(p.event_rank))
        .int(i64::from(p.event_rank))
        .text(&p.event_id);
    }
    sql.push(&format!(
        " ORDER BY occurred_at_ms {direction}, event_rank {direction}, event_id {direction} LIMIT {}",
        u64::from(q.limit) + 1
    ));
    let mut items: Vec<EventRow> = sql.query(client).fetch_all().await?;
    let more = items.len() > q.limit as usize;
    items.truncate(q.limit as usize);
    Ok(TimelinePage { items, more })
}
