//! `GET /v1/customers/{id-or-identifier}/timeline`: the customer's merged history across
//! channels, newest (default) or oldest first, in pages.
//!
//! Keyset pagination on the total order (`occurred_at_ms`, `event_rank`, `event_id`): a page
//! starts strictly after the previous page's last item, so rows inserted meanwhile (for this
//! customer or others) never shift a page, duplicate an item or skip one.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use serde::Serialize;

use super::{EVENT_COLUMNS, EventRow, Interaction, Sql, resolve_customer};
use crate::AppState;
use crate::auth::Caller;
use crate::cursor::{Cursor, Order, Position};
use crate::error::ApiResult;
use crate::params::Params;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Serialize)]
pub struct Page {
    customer_id: String,
    order: &'static str,
    items: Vec<Interaction>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Page>> {
    let params = Params::parse(
        query.as_deref(),
        &["order", "limit", "cursor", "channel", "from", "to"],
    )?;
    let limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let requested_order = params.order()?;
    let channel = params.channel()?;
    let (from, to) = params.window()?;
    let cursor = params.get("cursor").map(Cursor::decode).transpose()?;

    let customer_id = resolve_customer(&state, &caller.tenant_id, &customer).await?;
    let cursor = cursor
        .map(|c| c.check(&caller.tenant_id, &customer_id, requested_order))
        .transpose()?;
    let order = cursor
        .as_ref()
        .map(|c| c.order)
        .or(requested_order)
        .unwrap_or(Order::Desc);

    let mut sql = Sql::new(&format!(
        "SELECT {EVENT_COLUMNS} FROM customer_timeline WHERE tenant_id = ? AND customer_id = ?"
    ));
    sql.text(&caller.tenant_id).text(&customer_id);
    if let Some(channel) = &channel {
        sql.push(" AND channel = ?").text(channel);
    }
    if let Some(from) = from {
        sql.push(" AND occurred_at_ms >= ?").int(from);
    }
    if let Some(to) = to {
        sql.push(" AND occurred_at_ms < ?").int(to);
    }
    let (cmp, direction) = match order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(cursor) = &cursor {
        let p = &cursor.after;
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
        limit + 1
    ));
    let mut rows: Vec<EventRow> = sql.query(&state.client).fetch_all().await?;

    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|last| {
            Cursor::new(
                &caller.tenant_id,
                &customer_id,
                order,
                Position {
                    occurred_at_ms: last.occurred_at_ms,
                    event_rank: last.event_rank,
                    event_id: last.event_id.clone(),
                },
            )
            .encode()
        })
    } else {
        None
    };
    Ok(Json(Page {
        customer_id,
        order: order.as_str(),
        items: rows.into_iter().map(Interaction::from).collect(),
        next_cursor,
    }))
}
