//! The `/v1` endpoints, one file each. Every query starts from the caller's tenant and binds
//! every value the request supplies (`?` placeholders, escaped by the client); nothing a client
//! sends is pasted into SQL.

pub mod conversations;
pub mod customers;
pub mod responsiveness;
pub mod timeline;
pub mod unanswered;

use clickhouse::Row;
use rapport_model::{IdentityType, Timestamp, normalize_email, normalize_phone};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// A SQL text and the values for its `?` placeholders, in order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    values: Vec<Value>,
}

#[derive(Debug)]
enum Value {
    Text(String),
    Int(i64),
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends SQL written here (never a client's input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        self.values.push(Value::Text(value.to_owned()));
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.values.push(Value::Int(value));
        self
    }

    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        self.values
            .iter()
            .fold(client.query(&self.text), |query, value| match value {
                Value::Text(text) => query.bind(text.as_str()),
                Value::Int(n) => query.bind(*n),
            })
    }
}

/// The columns of `timeline` (and `customer_timeline`) an interaction is shown with.
pub(crate) const EVENT_COLUMNS: &str = "event_id, event_rank, occurred_at_ms, received_at_ms, \
    channel, source, conversation_id, kind, direction, actor_role, actor_id, actor_name, \
    identities, subject, text, rating, status, team, tags, language, auto_reply, \
    attachment_count, attachment_names";

#[derive(Debug, Clone, Deserialize, Row)]
pub(crate) struct EventRow {
    pub event_id: String,
    pub event_rank: u8,
    pub occurred_at_ms: i64,
    pub received_at_ms: i64,
    pub channel: String,
    pub source: String,
    pub conversation_id: String,
    pub kind: String,
    pub direction: String,
    pub actor_role: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub identities: Vec<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub rating: Option<u8>,
    pub status: Option<String>,
    pub team: Option<String>,
    pub tags: Vec<String>,
    pub language: Option<String>,
    pub auto_reply: u8,
    pub attachment_count: u32,
    pub attachment_names: Vec<String>,
}

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
    let not_found = || {
        ApiError::not_found(format!(
            "no customer {id_or_identifier:?} (a customer id, or an identifier such as email:maria@example.com)"
        ))
    };
    let found: Option<String> = match id_or_identifier.split_once(':') {
        Some((kind, value)) => {
            let identity = identifier(kind, value)?;
            state
                .client
                .query(
                    "SELECT customer_id FROM customers FINAL WHERE tenant_id = ? AND identity = ? LIMIT 1",
                )
                .bind(tenant_id)
                .bind(&identity)
                .fetch_optional()
                .await?
        }
        None => state
            .client
            .query(
                "SELECT customer_id FROM customers FINAL WHERE tenant_id = ? AND customer_id = ? LIMIT 1",
            )
            .bind(tenant_id)
            .bind(id_or_identifier)
            .fetch_optional()
            .await?,
    };
    found.filter(|id| !id.is_empty()).ok_or_else(not_found)
}

fn identifier(kind: &str, value: &str) -> ApiResult<String> {
    let Some(kind) = IdentityType::parse(kind) else {
        let names: Vec<&str> = IdentityType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(ApiError::bad_parameter(format!(
            "unknown identifier type {kind:?}; one of {}",
            names.join(", ")
        )));
    };
    let value = match kind {
        IdentityType::Email => normalize_email(value),
        IdentityType::Phone => normalize_phone(value, None),
        _ => Ok(value.trim().to_owned()),
    }
    .map_err(|e| ApiError::bad_parameter(e.to_string()))?;
    if value.is_empty() {
        return Err(ApiError::bad_parameter("the identifier's value is empty"));
    }
    Ok(format!("{kind}:{value}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn identifiers_are_normalized_like_the_adapters_do() {
        assert_eq!(
            identifier("email", " Maria@Example.COM ").unwrap(),
            "email:maria@example.com"
        );
        assert_eq!(
            identifier("phone", "+1 415 555 2671").unwrap(),
            "phone:+14155552671"
        );
        assert_eq!(
            identifier("intercom_contact", "c-77").unwrap(),
            "intercom_contact:c-77"
        );
        for (kind, value) in [
            ("fax", "1"),
            ("email", "not an address"),
            ("zendesk_user", " "),
        ] {
            assert_eq!(
                identifier(kind, value).unwrap_err().code,
                ErrorCode::BadParameter,
                "{kind}:{value}"
            );
        }
    }
}
