//! The read model: every query the API and the CLI send, in one place, returning the store's own
//! types. Each starts from the tenant and reads by key prefix (the stored state of
//! `006_read_model.sql` and the indexes ordered for each read), so a request reads in proportion
//! to its answer, not to the tenant's history. `docs/ANALYTICS.md` defines every number and
//! says what each read costs.
//!
//! On tables read with `FINAL`, conditions on the sorting key's columns are a `PREWHERE`: every
//! version of a row has the same key, so filtering before the versions collapse is exact, and
//! ClickHouse then reads the other columns only of the granules that hold matching rows (on 18.16
//! a conversation's events read 8 MB instead of 33 MB, 7 ms instead of 90). Conditions on any
//! other column stay in an outer query: a condition met only by an old version would otherwise
//! pick that version.

pub mod conversations;
pub mod customers;
pub mod responsiveness;
pub mod sla;
pub mod timeline;
pub mod unanswered;

use clickhouse::Row;
use rapport_model::{IdentityType, normalize_email, normalize_phone};
use serde::{Deserialize, Serialize};

use crate::ClickHouseError;

/// Why a read found nothing or could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The value a caller gave is not valid (an identifier of an unknown type, an empty one).
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Store(#[from] ClickHouseError),
}

impl From<clickhouse::error::Error> for ReadError {
    fn from(error: clickhouse::error::Error) -> Self {
        Self::Store(error.into())
    }
}

pub type ReadResult<T> = Result<T, ReadError>;

/// A SQL text and the values for its `?` placeholders, in order. Values only ever reach SQL as
/// binds escaped by the client (18.16 has no server-side parameters).
#[derive(Debug, Default, Clone)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

#[derive(Debug, Clone)]
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

    /// Appends SQL written here (never a caller's input).
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

    /// `(?, ?, …)` with the values: a list the primary key index can use (`has()` cannot).
    pub fn list<S: AsRef<str>>(&mut self, values: &[S]) -> &mut Self {
        if values.is_empty() {
            // An empty IN list is a syntax error; this matches nothing.
            self.push("('')");
            return self;
        }
        self.push("(");
        for (i, value) in values.iter().enumerate() {
            self.push(if i == 0 { "?" } else { ", ?" })
                .text(value.as_ref());
        }
        self.push(")")
    }

    /// Appends another statement's text and values.
    pub fn append(&mut self, other: &Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.values.extend(other.values.iter().cloned());
        self
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        self.values
            .iter()
            .fold(client.query(&self.text), |query, value| match value {
                Value::Text(text) => query.bind(text.as_str()),
                Value::Int(n) => query.bind(*n),
            })
    }

    /// The rows of this statement, which ends in `IN `, followed by a list of `keys` and `tail`,
    /// a run of keys at a time: keys of up to 1 KiB each, as many per query as the server parses
    /// (`crate::binds::chunks`).
    pub async fn fetch_keyed<T>(
        &self,
        client: &clickhouse::Client,
        keys: &[String],
        tail: &str,
    ) -> ReadResult<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let mut rows = Vec::new();
        for run in crate::binds::chunks(keys) {
            let mut sql = self.clone();
            sql.list(run).push(tail);
            rows.extend(sql.query(client).fetch_all::<T>().await?);
        }
        Ok(rows)
    }
}

/// Newest or oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "asc" => Some(Self::Asc),
            "desc" => Some(Self::Desc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// A place in a conversation's or customer's history: the total order of events is
/// (`occurred_at_ms`, `event_rank`, `event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "ms")]
    pub occurred_at_ms: i64,
    #[serde(rename = "r")]
    pub event_rank: u8,
    #[serde(rename = "e")]
    pub event_id: String,
}

/// The columns an interaction is shown with, computed from `interaction_log`.
pub const EVENT_COLUMNS: &str = "event_id, \
    toUInt8(multiIf(direction = 'inbound' AND actor_role = 'customer' AND kind IN ('message', 'review') AND auto_reply = 0, 0, \
                    direction = 'outbound' AND actor_role = 'agent' AND auto_reply = 0 AND kind IN ('message', 'review_reply'), 1, 2)) AS event_rank, \
    occurred_at_ms, received_at_ms, channel, source, conversation_id, kind, direction, actor_role, \
    actor_id, actor_name, arrayMap((t, v) -> concat(t, ':', v), identity_types, identity_values) AS identities, \
    subject, text, rating, status, team, tags, language, auto_reply, attachment_count, attachment_names";

/// One interaction as read for display.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct EventRow {
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

impl EventRow {
    /// The event as `rapport-responsiveness` computes a conversation's metrics from it (the
    /// conversion `state` stores the metrics with).
    pub fn metrics_event(&self) -> rapport_responsiveness::Event {
        rapport_responsiveness::Event {
            event_id: self.event_id.clone(),
            occurred_at_ms: self.occurred_at_ms,
            kind: rapport_responsiveness::EventKind::classify(
                &self.kind,
                &self.direction,
                &self.actor_role,
                self.auto_reply != 0,
                self.status.as_deref(),
            ),
            status: self.status.clone(),
            actor_id: self.actor_id.clone(),
            actor_name: self.actor_name.clone(),
            team: self.team.clone(),
            channel: self.channel.clone(),
            source: self.source.clone(),
            tags: self.tags.clone(),
            identities: self.identities.clone(),
            text: self.text.clone(),
        }
    }

    pub fn position(&self) -> Position {
        Position {
            occurred_at_ms: self.occurred_at_ms,
            event_rank: self.event_rank,
            event_id: self.event_id.clone(),
        }
    }
}

/// An identifier as the adapters store it: `email:` lower-cased, `phone:` in E.164, the others
/// trimmed.
pub fn identifier(kind: &str, value: &str) -> ReadResult<String> {
    let Some(kind) = IdentityType::parse(kind) else {
        let names: Vec<&str> = IdentityType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(ReadError::BadInput(format!(
            "unknown identifier type {:?}; one of {}",
            rapport_model::Quote::with_limit(kind, 40).to_string(),
            names.join(", ")
        )));
    };
    let value = match kind {
        IdentityType::Email => normalize_email(value),
        IdentityType::Phone => normalize_phone(value, None),
        _ => Ok(value.trim().to_owned()),
    }
    .map_err(|e| ReadError::BadInput(e.to_string()))?;
    if value.is_empty() {
        return Err(ReadError::BadInput(
            "the identifier's value is empty".into(),
        ));
    }
    Ok(format!("{kind}:{value}"))
}

/// The tenant's customer id for a customer id or an identifier (`type:value`), `None` when the
/// tenant has no such customer. Reads `customers` or `customer_identities` by key prefix.
pub async fn resolve_customer(
    client: &clickhouse::Client,
    tenant_id: &str,
    id_or_identifier: &str,
) -> ReadResult<Option<String>> {
    let found: Option<String> = match id_or_identifier.split_once(':') {
        Some((kind, value)) => {
            let identity = identifier(kind, value)?;
            client
                .query(
                    "SELECT customer_id FROM customers FINAL \
                     PREWHERE tenant_id = ? AND identity = ? LIMIT 1",
                )
                .bind(tenant_id)
                .bind(&identity)
                .fetch_optional()
                .await?
        }
        None => client
            .query(
                "SELECT customer_id FROM (SELECT customer_id, active FROM customer_identities FINAL \
                 PREWHERE tenant_id = ? AND customer_id = ?) WHERE active = 1 LIMIT 1",
            )
            .bind(tenant_id)
            .bind(id_or_identifier)
            .fetch_optional()
            .await?,
    };
    Ok(found.filter(|id| !id.is_empty()))
}

/// A customer found by [`find_customers`], and what matched.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct Found {
    /// The identifier that matched (`type:value`), or the customer id itself.
    pub identity: String,
    pub customer_id: String,
}

/// The identifiers a person may mean by `text`: exactly the one it names (`type:value` with a
/// known type), else every type the text is valid for: an email address, a phone number with
/// its country code, and the text itself as any source's user, contact or reviewer id.
pub fn candidate_identifiers(text: &str) -> ReadResult<Vec<String>> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ReadError::BadInput(
            "type an identifier to search for".into(),
        ));
    }
    if let Some((kind, value)) = text.split_once(':')
        && IdentityType::parse(kind).is_some()
    {
        return Ok(vec![identifier(kind, value)?]);
    }
    Ok(IdentityType::ALL
        .iter()
        .filter_map(|kind| identifier(kind.as_str(), text).ok())
        .collect())
}

/// The tenant's customers one of `text`'s [`candidate_identifiers`] belongs to, or the customer
/// whose id `text` is; each customer once, at most `limit`. Key-prefix reads of `customers` and
/// `customer_identities`.
pub async fn find_customers(
    client: &clickhouse::Client,
    tenant_id: &str,
    text: &str,
    limit: usize,
) -> ReadResult<Vec<Found>> {
    let candidates = candidate_identifiers(text)?;
    let mut sql = Sql::new(
        "SELECT identity, customer_id FROM customers FINAL PREWHERE tenant_id = ? AND identity IN ",
    );
    sql.text(tenant_id)
        .list(&candidates)
        .push(" ORDER BY identity");
    let by_identifier = async { Ok::<_, ReadError>(sql.query(client).fetch_all::<Found>().await?) };
    let by_id = resolve_customer(client, tenant_id, text.trim());
    let (mut found, by_id) = if text.contains(':') {
        (by_identifier.await?, None)
    } else {
        let (found, by_id) = tokio::try_join!(by_identifier, by_id)?;
        (found, by_id)
    };
    if let Some(customer_id) = by_id {
        found.insert(
            0,
            Found {
                identity: customer_id.clone(),
                customer_id,
            },
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|f| !f.customer_id.is_empty() && seen.insert(f.customer_id.clone()));
    found.truncate(limit);
    Ok(found)
}

/// A customer's identifiers, sorted.
pub async fn identities_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
) -> ReadResult<Vec<String>> {
    Ok(client
        .query(
            "SELECT identity FROM (SELECT identity, active FROM customer_identities FINAL \
             PREWHERE tenant_id = ? AND customer_id = ?) WHERE active = 1 ORDER BY identity",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .fetch_all()
        .await?)
}

/// The primary identifier of an event (email, then phone, then a source-scoped id; ties by
/// text), `''` for an event without identifiers: whose event it is.
pub(crate) const OWN_PRIMARY: &str = "if(length(identity_types) = 0, '', \
    concat(arraySort(x -> (multiIf(x.1 = 'email', 0, x.1 = 'phone', 1, 2), x.1, x.2), arrayMap((t, v) -> tuple(t, v), identity_types, identity_values))[1].1, ':', \
           arraySort(x -> (multiIf(x.1 = 'email', 0, x.1 = 'phone', 1, 2), x.1, x.2), arrayMap((t, v) -> tuple(t, v), identity_types, identity_values))[1].2))";

/// The events that are a customer's (as `interaction_customers` attributes them): those whose
/// primary identifier is one of `identities`, and those without identifiers in a conversation
/// whose primary identifier is. `columns` are computed on `interaction_log`; the result has them
/// plus nothing else. Key-prefix reads only: the customer's conversations through
/// `interaction_identities`, their events and states by (tenant, conversation).
pub fn customer_events(tenant_id: &str, identities: &[String], columns: &str) -> Sql {
    let mut conversations = Sql::new(
        "SELECT conversation_id FROM interaction_identities WHERE tenant_id = ? AND identity IN ",
    );
    conversations.text(tenant_id).list(identities);
    let mut sql = Sql::new(&format!(
        "SELECT {columns} FROM (SELECT *, {OWN_PRIMARY} AS own_primary FROM interaction_log FINAL \
         PREWHERE tenant_id = ? AND conversation_id IN ("
    ));
    sql.text(tenant_id)
        .append(&conversations)
        .push(")) WHERE own_primary IN ")
        .list(identities)
        .push(" OR (own_primary = '' AND conversation_id IN (SELECT conversation_id FROM (SELECT conversation_id, primary_identity FROM conversations FINAL PREWHERE tenant_id = ? AND conversation_id IN (")
        .text(tenant_id)
        .append(&conversations)
        .push(")) WHERE primary_identity IN ")
        .list(identities)
        .push("))");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (kind, value) in [
            ("fax", "1"),
            ("email", "not an address"),
            ("zendesk_user", " "),
        ] {
            assert!(
                matches!(identifier(kind, value), Err(ReadError::BadInput(_))),
                "{kind}:{value}"
            );
        }
    }

    #[test]
    fn free_text_means_every_identifier_it_is_valid_for() {
        assert_eq!(
            candidate_identifiers(" zendesk_user:9001 ").unwrap(),
            ["zendesk_user:9001"]
        );
        let email = candidate_identifiers("Maria@Example.com").unwrap();
        assert_eq!(email[0], "email:maria@example.com");
        assert!(email.iter().all(|c| !c.starts_with("phone:")));
        assert!(email.contains(&"intercom_contact:Maria@Example.com".to_owned()));
        let phone = candidate_identifiers("+1 415 555 2671").unwrap();
        assert_eq!(phone[0], "phone:+14155552671");
        assert!(!phone.iter().any(|c| c.starts_with("email:")));
        let handle = candidate_identifiers("c-77").unwrap();
        assert_eq!(handle.len(), 8, "every source-scoped type: {handle:?}");
        assert!(matches!(
            candidate_identifiers("  "),
            Err(ReadError::BadInput(_))
        ));
        assert!(matches!(
            candidate_identifiers("email:nope"),
            Err(ReadError::BadInput(_))
        ));
    }

    #[test]
    fn lists_bind_every_value_and_an_empty_one_matches_nothing() {
        let mut sql = Sql::new("x IN ");
        sql.list(&["a", "b"]);
        assert_eq!(sql.as_str(), "x IN (?, ?)");
        let mut sql = Sql::new("x IN ");
        sql.list::<&str>(&[]);
        assert_eq!(sql.as_str(), "x IN ('')");
    }

    #[test]
    fn a_customers_events_start_from_the_tenant_and_use_no_view() {
        let sql = customer_events("acme", &["email:a@example.com".into()], "event_id");
        let text = sql.as_str();
        assert!(!text.contains("interaction_customers") && !text.contains("timeline"));
        assert_eq!(text.matches("tenant_id = ?").count(), 4, "{text}");
    }
}
