//! `GET /v1/customers/{id-or-identifier}/timeline`: the customer's merged history across
//! channels, newest (default) or oldest first, in pages.
//!
//! Keyset pagination on the total order (`occurred_at_ms`, `event_rank`, `event_id`): a page
//! starts strictly after the previous page's last item, so rows inserted meanwhile (for this
//! customer or others) never shift a page, duplicate an item or skip one.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use serde::Serialize;

use rapport_clickhouse::read;

use super::{Interaction, resolve_customer};
use crate::AppState;
use crate::auth::Caller;
use crate::cursor::{Cursor, Order};
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

    let page = read::timeline::page(
        &state.client,
        &read::timeline::TimelineQuery {
            tenant_id: &caller.tenant_id,
            customer_id: &customer_id,
            order,
            limit,
            channel: channel.as_deref(),
            from,
            to,
            after: cursor.as_ref().map(|c| &c.after),
        },
    )
    .await?;
    let next_cursor =
        page.more.then(|| page.items.last()).flatten().map(|last| {
            Cursor::new(&caller.tenant_id, &customer_id, order, last.position()).encode()
        });
    let rows = page.items;
    Ok(Json(Page {
        customer_id,
        order: order.as_str(),
        items: rows.into_iter().map(Interaction::from).collect(),
        next_cursor,
    }))
}
