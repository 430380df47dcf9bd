//! `GET /v1/conversations/{id}`: one conversation's interactions in order, with its
//! responsiveness (first response, reply latency, resolution, waiting) as stored.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use rapport_clickhouse::read;
use rapport_clickhouse::state::ConversationRow;
use serde::Serialize;

use super::{Interaction, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

/// A conversation longer than this is cut (`truncated: true`); its whole history stays
/// available, in pages, on the customer's timeline.
pub const MAX_INTERACTIONS: usize = 1000;

#[derive(Debug, Serialize)]
pub struct Conversation {
    conversation_id: String,
    channel: String,
    interactions: Vec<Interaction>,
    truncated: bool,
    responsiveness: Option<Responsiveness>,
}

/// The `responsiveness` row (docs/ANALYTICS.md), times as RFC 3339, durations in ms.
#[derive(Debug, Serialize)]
pub struct Responsiveness {
    team: Option<String>,
    created_at: String,
    first_inbound_at: Option<String>,
    first_response_at: Option<String>,
    first_response_ms: Option<i64>,
    first_responder_id: Option<String>,
    customer_messages: u64,
    human_replies: u64,
    replies_with_latency: u64,
    avg_reply_latency_ms: Option<i64>,
    max_reply_latency_ms: Option<i64>,
    first_resolved_at: Option<String>,
    last_resolved_at: Option<String>,
    first_resolution_ms: Option<i64>,
    full_resolution_ms: Option<i64>,
    reopen_count: u64,
    status: Option<String>,
    is_resolved: bool,
    is_waiting: bool,
    waiting_since: Option<String>,
    last_event_at: String,
    last_customer_message_at: Option<String>,
    identities: Vec<String>,
}

impl From<ConversationRow> for Responsiveness {
    fn from(r: ConversationRow) -> Self {
        let t = |ms: Option<i64>| ms.map(time);
        Self {
            team: r.team,
            created_at: time(r.created_at_ms),
            first_inbound_at: t(r.first_inbound_at_ms),
            first_response_at: t(r.first_response_at_ms),
            first_response_ms: r.first_response_ms,
            first_responder_id: r.first_responder_id,
            customer_messages: u64::from(r.customer_messages),
            human_replies: u64::from(r.human_replies),
            replies_with_latency: u64::from(r.replies_with_latency),
            avg_reply_latency_ms: r.avg_reply_latency_ms,
            max_reply_latency_ms: r.max_reply_latency_ms,
            first_resolved_at: t(r.first_resolved_at_ms),
            last_resolved_at: t(r.last_resolved_at_ms),
            first_resolution_ms: r.first_resolution_ms,
            full_resolution_ms: r.full_resolution_ms,
            reopen_count: u64::from(r.reopen_count),
            status: r.status,
            is_resolved: r.is_resolved != 0,
            // `is_waiting` is the view's "in unanswered"; a resolved conversation can have a
            // waiting_since without waiting, so only a waiting one shows it.
            is_waiting: r.is_waiting != 0,
            waiting_since: if r.is_waiting != 0 {
                t(r.waiting_since_ms)
            } else {
                None
            },
            last_event_at: time(r.last_event_at_ms),
            last_customer_message_at: t(r.last_customer_message_at_ms),
            identities: r.identities,
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(conversation_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Conversation>> {
    Params::parse(query.as_deref(), &[])?;
    let tenant = caller.tenant_id.as_str();
    let conversation_id =
        read::conversations::thread_of(&state.client, tenant, &conversation_id).await?;
    let events =
        read::conversations::events(&state.client, tenant, &conversation_id, MAX_INTERACTIONS);
    let responsiveness = read::conversations::state(&state.client, tenant, &conversation_id);
    let ((events, truncated), responsiveness) = tokio::try_join!(events, responsiveness)?;
    let Some(channel) = events.first().map(|e| e.channel.clone()) else {
        return Err(ApiError::not_found(format!(
            "no conversation {conversation_id:?}"
        )));
    };
    Ok(Json(Conversation {
        conversation_id,
        channel: responsiveness
            .as_ref()
            .map_or(channel, |r| r.channel.clone()),
        interactions: events.into_iter().map(Interaction::from).collect(),
        truncated,
        responsiveness: responsiveness.map(Responsiveness::from),
    }))
}
