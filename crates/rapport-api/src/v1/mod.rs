//! The `/v1` endpoints, one file each. They parse the request and present the answer; the
//! queries are the store's read model (`rapport_clickhouse::read`), always scoped to the
//! caller's tenant, with every value the request supplies bound, never pasted into SQL.

pub mod at_risk;
pub mod conversations;
pub mod customers;
pub mod responsiveness;
pub mod sla;
pub mod timeline;
pub mod unanswered;

use rapport_clickhouse::read::{self, EventRow};

use rapport_model::Timestamp;
use serde::Serialize;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// One interaction as the API shows it (the contract's fields, times as RFC 3339 and ms).
#[derive(Debug, Serialize)]
pub(crate) struct Interaction {
    pub event_id: String,
    pub conversation_id: String,
    pub channel: String,
    pub source: String,
    pub kind: String,
    pub direction: String,
    pub occurred_at: String,
    pub occurred_at_ms: i64,
    pub received_at: String,
    pub actor: Actor,
    pub identities: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub rating: Option<u8>,
    pub status: Option<String>,
    pub team: Option<String>,
    pub tags: Vec<String>,
    pub language: Option<String>,
    pub auto_reply: bool,
    pub attachment_count: u32,
    pub attachment_names: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Actor {
    pub role: String,
    pub id: Option<String>,
    pub name: Option<String>,
}

impl From<EventRow> for Interaction {
    fn from(row: EventRow) -> Self {
        Self {
            occurred_at: time(row.occurred_at_ms),
            received_at: time(row.received_at_ms),
            event_id: row.event_id,
            conversation_id: row.conversation_id,
            channel: row.channel,
            source: row.source,
            kind: row.kind,
            direction: row.direction,
            occurred_at_ms: row.occurred_at_ms,
            actor: Actor {
                role: row.actor_role,
                id: row.actor_id,
                name: row.actor_name,
            },
            identities: row.identities,
            subject: row.subject,
            text: row.text,
            rating: row.rating,
            status: row.status,
            team: row.team,
            tags: row.tags,
            language: row.language,
            auto_reply: row.auto_reply != 0,
            attachment_count: row.attachment_count,
            attachment_names: row.attachment_names,
        }
    }
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds.
pub(crate) fn time(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millis()
}

/// A customer id, or an identifier `type:value` (normalized as the adapters normalize it:
/// emails lower-cased, phones in E.164), resolved to the tenant's customer id; 404 when the
/// tenant has no such customer.
pub(crate) async fn resolve_customer(
    state: &AppState,
    tenant_id: &str,
    id_or_identifier: &str,
) -> ApiResult<String> {
    read::resolve_customer(&state.client, tenant_id, id_or_identifier)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no customer {:?} (a customer id, or an identifier such as email:maria@example.com)",
                rapport_model::Quote::with_limit(id_or_identifier, 100).to_string()
            ))
        })
}
