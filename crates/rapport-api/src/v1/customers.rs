//! `GET /v1/customers/{id-or-identifier}`: who the customer is (every linked identifier), when
//! they were in contact, on which channels, which conversations are open and since when they
//! have been waiting.
//!
//! A customer's conversations are those holding at least one of its interactions, as in
//! docs/ANALYTICS.md; read by key prefix (`rapport_clickhouse::read::customers`).

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use rapport_clickhouse::read;
use serde::Serialize;

use super::{resolve_customer, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::params::Params;

#[derive(Debug, Serialize)]
pub struct Customer {
    customer_id: String,
    identities: Vec<String>,
    first_contact_at: Option<String>,
    last_contact_at: Option<String>,
    interactions: u64,
    conversations: u64,
    channels: Vec<String>,
    open_conversations: Vec<OpenConversation>,
    /// The earliest customer message still waiting for a human reply, over all conversations.
    waiting_since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OpenConversation {
    conversation_id: String,
    channel: String,
    status: Option<String>,
    created_at: String,
    last_event_at: String,
    is_waiting: bool,
    waiting_since: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Customer>> {
    Params::parse(query.as_deref(), &[])?;
    let tenant = caller.tenant_id.as_str();
    let customer_id = resolve_customer(&state, tenant, &customer).await?;
    let summary = read::customers::summary(&state.client, tenant, &customer_id).await?;
    let waiting_since = summary
        .conversation_states
        .iter()
        .filter(|c| c.is_waiting != 0)
        .filter_map(|c| c.waiting_since_ms)
        .min()
        .map(time);
    let open_conversations = summary
        .conversation_states
        .into_iter()
        .filter(|c| c.is_resolved == 0)
        .map(|c| OpenConversation {
            waiting_since: c.waiting_since_ms.filter(|_| c.is_waiting != 0).map(time),
            is_waiting: c.is_waiting != 0,
            conversation_id: c.conversation_id,
            channel: c.channel,
            status: c.status,
            created_at: time(c.created_at_ms),
            last_event_at: time(c.last_event_at_ms),
        })
        .collect();
    Ok(Json(Customer {
        customer_id,
        identities: summary.identities,
        first_contact_at: summary.first_contact_ms.map(time),
        last_contact_at: summary.last_contact_ms.map(time),
        interactions: summary.interactions,
        conversations: summary.conversations,
        channels: summary.channels,
        open_conversations,
        waiting_since,
    }))
}
