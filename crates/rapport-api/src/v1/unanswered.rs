//! `GET /v1/unanswered`: conversations whose customer waits for a human reply, longest first
//! (the `unanswered` view, docs/ANALYTICS.md), with the customer each one belongs to.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::{Sql, now_ms, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::params::Params;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Serialize)]
pub struct Waiting {
    as_of: String,
    conversations: Vec<WaitingConversation>,
}

#[derive(Debug, Serialize)]
pub struct WaitingConversation {
    conversation_id: String,
    channel: String,
    team: Option<String>,
    /// `null` while the linker has not assigned the conversation's customer yet.
    customer_id: Option<String>,
    identities: Vec<String>,
    waiting_since: String,
    waiting_ms: i64,
    waiting_messages: u64,
    last_customer_text: String,
}

#[derive(Debug, Deserialize, Row)]
struct WaitingRow {
    conversation_id: String,
    channel: String,
    team: Option<String>,
    waiting_since_ms: i64,
    waiting_messages: u64,
    identities: Vec<String>,
    last_customer_text: String,
    owner_id: String,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Waiting>> {
    let params = Params::parse(query.as_deref(), &["channel", "older_than", "limit"])?;
    let channel = params.channel()?;
    let older_than = params.duration("older_than")?;
    let limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let now = now_ms();
    let tenant = caller.tenant_id.as_str();

    let mut sql = Sql::new(
        "SELECT conversation_id, channel, team, waiting_since_ms, \
         toUInt64(waiting_messages) AS waiting_messages, identities, last_customer_text, owner_id \
         FROM (SELECT tenant_id, conversation_id, channel, team, waiting_since_ms, waiting_messages, \
         identities, last_customer_text FROM unanswered WHERE tenant_id = ?",
    );
    sql.text(tenant);
    if let Some(channel) = &channel {
        sql.push(" AND channel = ?").text(channel);
    }
    if let Some(older_than) = older_than {
        let cutoff = now.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
        sql.push(" AND waiting_since_ms <= ?").int(cutoff);
    }
    sql.push(
        ") AS waiting ANY LEFT JOIN (SELECT tenant_id, conversation_id, min(customer_id) AS owner_id \
         FROM interaction_customers WHERE tenant_id = ? AND customer_id != '' \
         GROUP BY tenant_id, conversation_id) AS owners USING (tenant_id, conversation_id)",
    )
    .text(tenant);
    sql.push(&format!(
        " ORDER BY waiting_since_ms, conversation_id LIMIT {limit}"
    ));
    let rows: Vec<WaitingRow> = sql.query(&state.client).fetch_all().await?;
    Ok(Json(Waiting {
        as_of: time(now),
        conversations: rows
            .into_iter()
            .map(|r| WaitingConversation {
                waiting_since: time(r.waiting_since_ms),
                waiting_ms: now.saturating_sub(r.waiting_since_ms).max(0),
                conversation_id: r.conversation_id,
                channel: r.channel,
                team: r.team,
                customer_id: Some(r.owner_id).filter(|c| !c.is_empty()),
                identities: r.identities,
                waiting_messages: r.waiting_messages,
                last_customer_text: r.last_customer_text,
            })
            .collect(),
    }))
}
