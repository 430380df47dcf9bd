//! `GET /v1/customers/{id-or-identifier}`: who the customer is (every linked identifier), when
//! they were in contact, on which channels, which conversations are open and since when they
//! have been waiting.
//!
//! A customer's conversations are those holding at least one of its interactions
//! (`interaction_customers`), as in docs/ANALYTICS.md.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Deserialize, Row)]
struct Contact {
    interactions: u64,
    first_ms: i64,
    last_ms: i64,
    channels: Vec<String>,
    conversations: u64,
}

#[derive(Debug, Deserialize, Row)]
struct ConversationRow {
    conversation_id: String,
    channel: String,
    status: Option<String>,
    is_resolved: u8,
    is_waiting: u8,
    waiting_since_ms: Option<i64>,
    created_at_ms: i64,
    last_event_at_ms: i64,
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
    let client = &state.client;
    let identities = client
        .query(
            "SELECT identity FROM customers FINAL WHERE tenant_id = ? AND customer_id = ? ORDER BY identity",
        )
        .bind(tenant)
        .bind(&customer_id)
        .fetch_all::<String>();
    let contact = client
        .query(
            "SELECT toUInt64(count()) AS interactions, min(occurred_at_ms) AS first_ms, \
             max(occurred_at_ms) AS last_ms, arraySort(groupUniqArray(channel)) AS channels, \
             toUInt64(uniqExact(conversation_id)) AS conversations \
             FROM interaction_customers WHERE tenant_id = ? AND customer_id = ?",
        )
        .bind(tenant)
        .bind(&customer_id)
        .fetch_one::<Contact>();
    let conversations = client
        .query(
            "SELECT conversation_id, channel, status, is_resolved, is_waiting, waiting_since_ms, \
             created_at_ms, last_event_at_ms FROM responsiveness \
             WHERE tenant_id = ? AND conversation_id IN \
             (SELECT conversation_id FROM interaction_customers WHERE tenant_id = ? AND customer_id = ?) \
             ORDER BY last_event_at_ms DESC, conversation_id",
        )
        .bind(tenant)
        .bind(tenant)
        .bind(&customer_id)
        .fetch_all::<ConversationRow>();
    let (identities, contact, conversations) =
        tokio::try_join!(identities, contact, conversations)?;

    let waiting_since = conversations
        .iter()
        .filter(|c| c.is_waiting != 0)
        .filter_map(|c| c.waiting_since_ms)
        .min()
        .map(time);
    let open_conversations = conversations
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
    let seen = contact.interactions > 0;
    Ok(Json(Customer {
        customer_id,
        identities,
        first_contact_at: seen.then(|| time(contact.first_ms)),
        last_contact_at: seen.then(|| time(contact.last_ms)),
        interactions: contact.interactions,
        conversations: contact.conversations,
        channels: contact.channels,
        open_conversations,
        waiting_since,
    }))
}
