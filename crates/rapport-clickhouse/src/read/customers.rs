//! A customer at a glance: identifiers, first and last contact, counts, open conversations.

use clickhouse::Row;
use serde::Deserialize;

use super::{ReadResult, Sql, conversations, customer_events, identities_of};
use crate::state::ConversationRow;

/// Everything the customer summary shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSummary {
    pub identities: Vec<String>,
    pub interactions: u64,
    pub first_contact_ms: Option<i64>,
    pub last_contact_ms: Option<i64>,
    pub conversations: u64,
    pub channels: Vec<String>,
    /// The states of the customer's conversations, most recently active first.
    pub conversation_states: Vec<ConversationRow>,
}

#[derive(Debug, Deserialize, Row)]
struct Contact {
    interactions: u64,
    first_ms: i64,
    last_ms: i64,
    channels: Vec<String>,
    conversation_ids: Vec<String>,
}

/// Reads the customer's identifiers, its events (by key prefix, through its conversations) and
/// the states of those conversations.
pub async fn summary(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
) -> ReadResult<CustomerSummary> {
    let identities = identities_of(client, tenant_id, customer_id).await?;
    let mut sql = Sql::new(
        "SELECT toUInt64(count()) AS interactions, min(occurred_at_ms) AS first_ms, \
         max(occurred_at_ms) AS last_ms, arraySort(groupUniqArray(channel)) AS channels, \
         arraySort(groupUniqArray(conversation_id)) AS conversation_ids FROM (",
    );
    sql.append(&customer_events(
        tenant_id,
        &identities,
        "occurred_at_ms, channel, conversation_id",
    ))
    .push(")");
    let mut contact: Contact = sql.query(client).fetch_one().await?;
    // Stored conversations a late message joined into one thread count once, as the thread.
    let mut threads =
        conversations::threads_of(client, tenant_id, &contact.conversation_ids).await?;
    threads.sort();
    threads.dedup();
    contact.conversation_ids = threads;
    let mut states = if contact.conversation_ids.is_empty() {
        Vec::new()
    } else {
        conversations::states(client, tenant_id, &contact.conversation_ids).await?
    };
    states.sort_by(|a, b| {
        (b.last_event_at_ms, &a.conversation_id).cmp(&(a.last_event_at_ms, &b.conversation_id))
    });
    let seen = contact.interactions > 0;
    Ok(CustomerSummary {
        identities,
        interactions: contact.interactions,
        first_contact_ms: seen.then_some(contact.first_ms),
        last_contact_ms: seen.then_some(contact.last_ms),
        conversations: contact.conversation_ids.len() as u64,
        channels: contact.channels,
        conversation_states: states,
    })
}

/// A link between two of a customer's identifiers, with its evidence (`identity_links`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct Link {
    /// The two identifiers, `identity_a < identity_b`.
    pub identity_a: String,
    pub identity_b: String,
    /// `linked`, `held` (waits for review: the customer would exceed its cap) or `retracted`
    /// (an operator unlinked the pair).
    pub state: String,
    /// The interaction that carried both identifiers, and its source.
    pub event_id: String,
    pub source: String,
    pub occurred_at_ms: i64,
    pub changed_at_ms: i64,
}

/// How a customer's identifiers were linked: every link whose two ends are both among
/// `identities`, oldest evidence first. A key-prefix read (tenant, then `identity_a`).
pub async fn links(
    client: &clickhouse::Client,
    tenant_id: &str,
    identities: &[String],
) -> ReadResult<Vec<Link>> {
    if identities.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT identity_a, identity_b, state, event_id, source, occurred_at_ms, changed_at_ms \
         FROM identity_links FINAL PREWHERE tenant_id = ? AND identity_a IN ",
    );
    sql.text(tenant_id)
        .list(identities)
        .push(" AND identity_b IN ")
        .list(identities)
        .push(" ORDER BY occurred_at_ms, identity_a, identity_b");
    Ok(sql.query(client).fetch_all().await?)
}
