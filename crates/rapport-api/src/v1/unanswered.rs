//! `GET /v1/unanswered`: conversations whose customer waits for a human reply, longest first
//! (docs/ANALYTICS.md, "unanswered"), with the customer each one belongs to, from the stored
//! `waiting` index (`rapport_clickhouse::read::unanswered`).

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use rapport_clickhouse::read;
use serde::Serialize;

use super::{now_ms, time};
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
    /// The same wait in business time of the calendar the conversation's stored state names;
    /// `null` when it names none (stored before business time existed) or one this API's
    /// `[business_hours]` does not have.
    waiting_business_ms: Option<i64>,
    waiting_messages: u64,
    last_customer_text: String,
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

    let since_at_most =
        older_than.map(|d| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    let rows = read::unanswered::page(
        &state.client,
        &read::unanswered::UnansweredQuery {
            tenant_id: tenant,
            channel: channel.as_deref(),
            since_at_most,
            limit,
        },
    )
    .await?;
    Ok(Json(Waiting {
        as_of: time(now),
        conversations: rows
            .into_iter()
            .map(|w| {
                let since = w.state.waiting_since_ms.unwrap_or(now);
                let calendar = state.hours.calendar(&w.state.calendar);
                WaitingConversation {
                    waiting_business_ms: calendar.map(|c| c.business_ms(since, now)),
                    waiting_since: time(since),
                    waiting_ms: now.saturating_sub(since).max(0),
                    conversation_id: w.state.conversation_id,
                    channel: w.state.channel,
                    team: w.state.team,
                    customer_id: w.customer_id,
                    identities: w.state.identities,
                    waiting_messages: u64::from(w.state.waiting_messages),
                    last_customer_text: w.state.last_customer_text,
                }
            })
            .collect(),
    }))
}
