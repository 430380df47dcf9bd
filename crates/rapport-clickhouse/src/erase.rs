//! Erasing one customer (`rapport forget`): which rows are theirs, the deletes, and whether any
//! is left. Every statement selects through the forget list (`forgotten`, by SHA-256 digest)
//! rather than an inlined list of ids, so an erasure of any size is one statement per table.
//!
//! What belongs to a forgotten customer: every interaction that carries one of its identifiers,
//! and the interactions without any identifier (agent replies, status changes) in the
//! conversations attributed to it; their rows in `interaction_identities`; every
//! `identity_links` and `customers` row of its identifiers; and the threading rows of its
//! conversations' emails (`email_messages`, `email_links`, `email_threads`,
//! `thread_conversations`). Its conversations' state is found under their threads' ids too.

use std::time::Duration;

use clickhouse::Row;
use serde::Deserialize;

use crate::ClickHouseError;
use crate::forget::{ForgottenRow, KIND_CONVERSATION, KIND_IDENTITY, KIND_SCOPE, digest_hex};

/// The forget-list rows of customer `customer_id`'s erasure, `forgotten_at_ms` now.
pub fn forget_rows(
    tenant_id: &str,
    customer_id: &str,
    identities: &[String],
    conversations: &[String],
    scope: &[String],
    now_ms: i64,
) -> Vec<ForgottenRow> {
    let row = |kind: &str, key: &String| ForgottenRow {
        tenant_id: tenant_id.to_owned(),
        kind: kind.to_owned(),
        digest: digest_hex(key),
        customer_id: customer_id.to_owned(),
        forgotten_at_ms: now_ms,
    };
    identities
        .iter()
        .map(|key| row(KIND_IDENTITY, key))
        .chain(conversations.iter().map(|c| row(KIND_CONVERSATION, c)))
        .chain(scope.iter().map(|c| row(KIND_SCOPE, c)))
        .collect()
}

/// The customer's identifier keys (`type:value`), sorted.
pub async fn identities_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
) -> Result<Vec<String>, ClickHouseError> {
    Ok(client
        .query(
            "SELECT DISTINCT identity FROM customers FINAL \
             WHERE tenant_id = ? AND customer_id = ? ORDER BY identity",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .fetch_all()
        .await?)
}

/// The conversations whose interactions without identifiers are attributed to the customer.
pub async fn conversations_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
) -> Result<Vec<String>, ClickHouseError> {
    Ok(client
        .query(
            "SELECT DISTINCT conversation_id FROM interaction_customers \
             WHERE tenant_id = ? AND customer_id = ? AND event_id IN \
             (SELECT event_id FROM interaction_log WHERE tenant_id = ? AND length(identity_types) = 0) \
             ORDER BY conversation_id",
        )
        .bind(tenant_id)
        .bind(customer_id)
        .bind(tenant_id)
        .fetch_all()
        .await?)
}

/// Every conversation the customer took part in: those where one of its identifiers appears,
/// and those whose events without identifiers are the customer's. Their stored state is deleted
/// and recomputed from what is left of them.
pub async fn scope_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    identities: &[String],
    conversations: &[String],
) -> Result<Vec<String>, ClickHouseError> {
    let mut scope: Vec<String> = client
        .query(
            "SELECT DISTINCT conversation_id FROM interaction_identities \
             WHERE tenant_id = ? AND has(?, identity)",
        )
        .bind(tenant_id)
        .bind(identities)
        .fetch_all()
        .await?;
    scope.extend(conversations.iter().cloned());
    // The state of an email conversation is stored under its thread's id.
    let ids: Vec<&String> = scope.iter().collect();
    let threads = crate::threads::resolve(client, tenant_id, &ids).await?;
    scope.extend(threads.into_values());
    scope.sort_unstable();
    scope.dedup();
    Ok(scope)
}

/// The interactions the customer's erasure would delete (before its forget-list rows exist).
pub async fn interactions_of(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
    identities: &[String],
) -> Result<u64, ClickHouseError> {
    Ok(client
        .query(
            "SELECT count() FROM interaction_log FINAL WHERE tenant_id = ? AND \
             (event_id IN (SELECT event_id FROM interaction_identities WHERE tenant_id = ? AND has(?, identity)) \
              OR (length(identity_types) = 0 AND event_id IN \
                  (SELECT event_id FROM interaction_customers WHERE tenant_id = ? AND customer_id = ?)))",
        )
        .bind(tenant_id)
        .bind(tenant_id)
        .bind(identities)
        .bind(tenant_id)
        .bind(customer_id)
        .fetch_one()
        .await?)
}

/// A value bound into a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind {
    Tenant,
    Customer,
}

/// The selection of one table's rows of an erasure, with its binds in order.
#[derive(Debug, Default, Clone)]
struct Condition {
    text: String,
    binds: Vec<Bind>,
}

impl Condition {
    fn text(mut self, text: &str) -> Self {
        self.text.push_str(text);
        self
    }

    fn bind(mut self, bind: Bind) -> Self {
        self.text.push('?');
        self.binds.push(bind);
        self
    }

    /// `other` after this one, binds included.
    fn append(mut self, other: Condition) -> Self {
        self.text.push_str(&other.text);
        self.binds.extend(other.binds);
        self
    }

    /// The customer's forget-list digests of one kind.
    fn listed(self, kind: &str) -> Self {
        self.text("(SELECT digest FROM forgotten WHERE tenant_id = ")
            .bind(Bind::Tenant)
            .text(" AND customer_id = ")
            .bind(Bind::Customer)
            .text(&format!(" AND kind = '{kind}')"))
    }

    fn query(
        &self,
        client: &clickhouse::Client,
        sql: &str,
        tenant: &str,
        customer: &str,
    ) -> clickhouse::query::Query {
        self.binds
            .iter()
            .fold(client.query(sql), |query, bind| match bind {
                Bind::Tenant => query.bind(tenant),
                Bind::Customer => query.bind(customer),
            })
    }
}

/// What an erasure deletes, by table, in the order the deletes are submitted, with what counts
/// as left of the customer afterwards (`None`: the table's rows of the customer's conversations
/// are recomputed from the other people's events, so nothing there is hers to count).
fn selections() -> Vec<(&'static str, Condition, Option<Condition>)> {
    let tenant = || Condition::default().text("tenant_id = ").bind(Bind::Tenant);
    let in_scope = || {
        tenant()
            .text(" AND hex(SHA256(conversation_id)) IN ")
            .listed(KIND_SCOPE)
    };
    let same = |c: Condition| (c.clone(), Some(c));
    // `customers` and `customer_identities` hold the same pairs, keyed the other way round.
    let customer = || {
        tenant()
            .text(" AND (hex(SHA256(identity)) IN ")
            .listed(KIND_IDENTITY)
            .text(" OR customer_id = ")
            .bind(Bind::Customer)
            .text(")")
    };
    // The log's events of hers: by her identifiers, and those without any in her conversations.
    // By each row's own identifiers, not through `interaction_identities`: the deletes run as
    // mutations in no set order, and once the index's delete ran first a delete through it found
    // nothing and a check through it saw nothing left.
    let events = || {
        tenant()
            .text(
                " AND (arrayExists((t, v) -> hex(SHA256(concat(t, ':', v))) IN ",
            )
            .listed(KIND_IDENTITY)
            .text(", identity_types, identity_values) OR (length(identity_types) = 0 AND hex(SHA256(conversation_id)) IN ")
            .listed(KIND_CONVERSATION)
            .text("))")
    };
    vec![
        // `interactions` is the log before migration 9 (`interaction_log`): it still holds the
        // history from before the upgrade until an operator drops it.
        ("interaction_log", same(events())),
        ("interactions", same(events())),
        (
            "interaction_identities",
            same(
                tenant()
                    .text(" AND hex(SHA256(identity)) IN ")
                    .listed(KIND_IDENTITY),
            ),
        ),
        (
            "identity_links",
            same(
                tenant()
                    .text(" AND (hex(SHA256(identity_a)) IN ")
                    .listed(KIND_IDENTITY)
                    .text(" OR hex(SHA256(identity_b)) IN ")
                    .listed(KIND_IDENTITY)
                    .text(")"),
            ),
        ),
        ("customers", same(customer())),
        ("customer_identities", same(customer())),
        (
            "conversations",
            (
                in_scope(),
                Some(
                    tenant()
                        .text(" AND arrayExists(i -> hex(SHA256(i)) IN ")
                        .listed(KIND_IDENTITY)
                        .text(", identities)"),
                ),
            ),
        ),
        ("replies", (in_scope(), None)),
        ("resolutions", (in_scope(), None)),
        ("waiting", (in_scope(), None)),
        // Her emails' threading headers: the links first, found through the messages.
        (
            "email_links",
            same(
                tenant()
                    .text(" AND message_id IN (SELECT message_id FROM email_messages WHERE ")
                    .append(in_scope())
                    .text(")"),
            ),
        ),
        ("email_messages", same(in_scope())),
        ("email_threads", same(in_scope())),
        ("thread_conversations", same(in_scope())),
    ]
    .into_iter()
    .map(|(table, (delete, left))| (table, delete, left))
    .collect()
}

/// Submits every delete of the customer's erasure; returns the tables, in order.
pub async fn submit_deletes(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
) -> Result<Vec<&'static str>, ClickHouseError> {
    let mut tables = Vec::new();
    for (table, condition, _) in selections() {
        let sql = format!("ALTER TABLE {table} DELETE WHERE {}", condition.text);
        condition
            .query(client, &sql, tenant_id, customer_id)
            .execute()
            .await?;
        tables.push(table);
    }
    Ok(tables)
}

/// Rows the erasure selects that are still there, per table (in-flight inserts that landed
/// after a delete was submitted show up here).
pub async fn remaining(
    client: &clickhouse::Client,
    tenant_id: &str,
    customer_id: &str,
) -> Result<Vec<(&'static str, u64)>, ClickHouseError> {
    let mut counts = Vec::new();
    for (table, _, left) in selections() {
        let Some(condition) = left else { continue };
        let sql = format!("SELECT count() FROM {table} WHERE {}", condition.text);
        let count: u64 = condition
            .query(client, &sql, tenant_id, customer_id)
            .fetch_one()
            .await?;
        counts.push((table, count));
    }
    Ok(counts)
}

/// One mutation of the database, as `system.mutations` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct Mutation {
    pub table: String,
    pub mutation_id: String,
    pub is_done: u8,
    pub parts_to_do: i64,
    /// Why its last attempt failed (current servers only; empty on 18.16, which does not say).
    pub latest_fail_reason: String,
}

/// Every mutation of the database. `latest_fail_reason` is read where the server has it.
pub async fn mutations(
    client: &clickhouse::Client,
    database: &str,
) -> Result<Vec<Mutation>, ClickHouseError> {
    let has_reason: u64 = client
        .query(
            "SELECT count() FROM system.columns WHERE database = 'system' \
             AND table = 'mutations' AND name = 'latest_fail_reason'",
        )
        .fetch_one()
        .await?;
    let reason = if has_reason > 0 {
        "latest_fail_reason"
    } else {
        "''"
    };
    Ok(client
        .query(&format!(
            "SELECT table, mutation_id, is_done, toInt64(parts_to_do), {reason} \
             FROM system.mutations WHERE database = ?"
        ))
        .bind(database)
        .fetch_all()
        .await?)
}

/// Waits until every mutation of `tables` that was not in `before` is done, or fails with what
/// each unfinished one says once `limit` has passed.
pub async fn wait_for_mutations(
    client: &clickhouse::Client,
    database: &str,
    tables: &[&str],
    before: &[Mutation],
    limit: Duration,
    mut progress: impl FnMut(usize, usize),
) -> Result<(), ClickHouseError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let ours: Vec<Mutation> = mutations(client, database)
            .await?
            .into_iter()
            .filter(|m| {
                tables.contains(&m.table.as_str())
                    && !before
                        .iter()
                        .any(|b| b.mutation_id == m.mutation_id && b.table == m.table)
            })
            .collect();
        let done = ours.iter().filter(|m| m.is_done == 1).count();
        progress(done, ours.len());
        let failed: Vec<&Mutation> = ours
            .iter()
            .filter(|m| m.is_done == 0 && !m.latest_fail_reason.is_empty())
            .collect();
        if let Some(first) = failed.first() {
            return Err(ClickHouseError::Client(format!(
                "the delete from {} ({}) fails: {}",
                first.table,
                first.mutation_id,
                rapport_model::Quote::with_limit(&first.latest_fail_reason, 500)
            )));
        }
        if done == ours.len() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let stuck: Vec<String> = ours
                .iter()
                .filter(|m| m.is_done == 0)
                .map(|m| {
                    format!(
                        "{} {} ({} parts to do)",
                        m.table, m.mutation_id, m.parts_to_do
                    )
                })
                .collect();
            return Err(ClickHouseError::Client(format!(
                "deletes not finished after {limit:?}: {}; they keep running in ClickHouse \
                 (system.mutations); run the erasure again to check",
                stuck.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_selection_goes_through_the_forget_list_not_an_id_list() {
        for (table, delete, left) in selections() {
            for condition in std::iter::once(&delete).chain(left.as_ref()) {
                assert!(condition.text.contains("FROM forgotten"), "{table}");
                assert!(!condition.text.contains("has("), "{table}");
                assert_eq!(
                    condition.text.matches('?').count(),
                    condition.binds.len(),
                    "{table}: {}",
                    condition.text
                );
            }
        }
    }
}
