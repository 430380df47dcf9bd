//! The linker's state in ClickHouse: `identity_links` (every link with its latest state) and
//! `customers` (identifier → customer). Written before offsets are stored, read back on start.

use rapport_clickhouse::{ClickHouseError, ForgetList};
use rapport_identity::{Change, IdentityGraph, Link, Retraction};
use rapport_model::{Source, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct LinkRow {
    pub tenant_id: String,
    pub identity_a: String,
    pub identity_b: String,
    /// `linked`, `held` or `retracted`.
    pub state: String,
    pub event_id: String,
    pub source: String,
    pub occurred_at_ms: i64,
    pub changed_at_ms: i64,
}

impl LinkRow {
    pub fn link(link: &Link, state: &str, now: Timestamp) -> Self {
        Self {
            tenant_id: link.tenant_id.clone(),
            identity_a: link.a.clone(),
            identity_b: link.b.clone(),
            state: state.into(),
            event_id: link.event_id.to_string(),
            source: link.source.as_str().into(),
            occurred_at_ms: link.occurred_at.as_millis(),
            changed_at_ms: now.as_millis(),
        }
    }

    pub fn retraction(r: &Retraction, now: Timestamp) -> Self {
        Self {
            tenant_id: r.tenant_id.clone(),
            identity_a: r.a.clone(),
            identity_b: r.b.clone(),
            state: "retracted".into(),
            event_id: String::new(),
            source: String::new(),
            occurred_at_ms: 0,
            changed_at_ms: now.as_millis(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct CustomerRow {
    pub tenant_id: String,
    pub identity: String,
    pub customer_id: String,
    pub changed_at_ms: i64,
}

impl CustomerRow {
    pub fn of(change: &Change, now: Timestamp) -> Self {
        Self {
            tenant_id: change.tenant_id.clone(),
            identity: change.identifier.clone(),
            customer_id: change.customer_id.to_string(),
            changed_at_ms: now.as_millis(),
        }
    }
}

/// One row of `customer_identities`, the reverse of `customers` (customer → its identifiers).
#[derive(Debug, Clone, Serialize, Deserialize, clickhouse::Row)]
pub struct CustomerIdentityRow {
    pub tenant_id: String,
    pub customer_id: String,
    pub identity: String,
    /// 0 once the identifier moved to another customer.
    pub active: u8,
    pub changed_at_ms: i64,
}

impl CustomerIdentityRow {
    /// The identifier joins its new customer and, if it had one, leaves its old one.
    pub fn of(change: &Change, now: Timestamp) -> Vec<Self> {
        let row = |customer: Uuid, active: u8| Self {
            tenant_id: change.tenant_id.clone(),
            customer_id: customer.to_string(),
            identity: change.identifier.clone(),
            active,
            changed_at_ms: now.as_millis(),
        };
        let mut rows = vec![row(change.customer_id, 1)];
        if let Some(previous) = change
            .previous_customer_id
            .filter(|p| *p != change.customer_id)
        {
            rows.push(row(previous, 0));
        }
        rows
    }
}

/// Rebuilds the graph from what earlier runs wrote: every link in its latest state, and every
/// identifier seen (including those that never linked). The graph derives the customer ids
/// itself, so they come out the same as before the restart.
/// Returns the corrections the stored `customers` rows need: a crash after a batch's links
/// were written but before its customers were leaves those rows stale, and re-reading the
/// interactions finds nothing new to change, so the difference is found here.
///
/// Rows naming a forgotten identifier (`forget`; an erasure whose deletes have not finished yet)
/// are skipped, so a restart never brings one back.
///
/// `tenants` restores only those tenants (a sharded linker taking over some); `None`, all.
pub async fn restore(
    client: &rapport_clickhouse::Client,
    graph: &mut IdentityGraph,
    forget: &ForgetList,
    tenants: Option<&[String]>,
) -> Result<(usize, usize, Vec<Change>), ClickHouseError> {
    // `tenant_id` leads both tables' sort keys, so a tenant's rows are read by index.
    let filter = match tenants {
        None => String::new(),
        Some(tenants) => format!(
            " WHERE tenant_id IN ({})",
            vec!["?"; tenants.len().max(1)].join(", ")
        ),
    };
    let bind = |mut query: clickhouse::query::Query| {
        if let Some(tenants) = tenants {
            if tenants.is_empty() {
                query = query.bind("");
            }
            for tenant in tenants {
                query = query.bind(tenant.as_str());
            }
        }
        // 18.16 streams a large result before it knows whether the query fails; waiting for
        // the end turns a failure into an error instead of rows that do not decode.
        query.with_setting("wait_end_of_query", "1")
    };
    let links: Vec<LinkRow> = bind(client.query(&format!(
        "SELECT tenant_id, identity_a, identity_b, state, event_id, source, occurred_at_ms, changed_at_ms FROM identity_links FINAL{filter}"
    )))
    .fetch_all()
    .await?;
    let customers: Vec<CustomerRow> = bind(client.query(&format!(
        "SELECT tenant_id, identity, customer_id, changed_at_ms FROM customers FINAL{filter}"
    )))
    .fetch_all()
    .await?;
    let (links, customers) = if forget.is_empty() {
        (links, customers)
    } else {
        (
            links
                .into_iter()
                .filter(|l| {
                    !forget.forgets_key(&l.tenant_id, &l.identity_a)
                        && !forget.forgets_key(&l.tenant_id, &l.identity_b)
                })
                .collect(),
            customers
                .into_iter()
                .filter(|c| !forget.forgets_key(&c.tenant_id, &c.identity))
                .collect(),
        )
    };
    for row in &customers {
        graph.apply_identifier(&row.tenant_id, &row.identity);
    }
    for row in &links {
        match row.state.as_str() {
            "retracted" => {
                graph.apply_retraction(&Retraction::new(
                    &row.tenant_id,
                    &row.identity_a,
                    &row.identity_b,
                ));
            }
            state => {
                let link = Link::new(
                    &row.tenant_id,
                    &row.identity_a,
                    &row.identity_b,
                    row.event_id.parse().unwrap_or(Uuid::nil()),
                    Source::parse(&row.source).unwrap_or(Source::Generic),
                    Timestamp::from_millis(row.occurred_at_ms),
                );
                if state == "held" {
                    graph.apply_held(&link);
                } else {
                    graph.apply_link(&link);
                }
            }
        }
    }
    let stored: std::collections::HashMap<(&str, &str), &str> = customers
        .iter()
        .map(|c| {
            (
                (c.tenant_id.as_str(), c.identity.as_str()),
                c.customer_id.as_str(),
            )
        })
        .collect();
    let mut corrections = std::collections::BTreeMap::new();
    let identifiers = links
        .iter()
        .flat_map(|l| [(&l.tenant_id, &l.identity_a), (&l.tenant_id, &l.identity_b)])
        .chain(customers.iter().map(|c| (&c.tenant_id, &c.identity)));
    for (tenant, identity) in identifiers {
        let Some(now) = graph.customer_of(tenant, identity) else {
            continue;
        };
        let before = stored.get(&(tenant.as_str(), identity.as_str()));
        if before.is_some_and(|b| *b == now.to_string()) {
            continue;
        }
        corrections.insert(
            (tenant.clone(), identity.clone()),
            Change {
                tenant_id: tenant.clone(),
                identifier: identity.clone(),
                customer_id: now,
                previous_customer_id: before.and_then(|b| b.parse().ok()),
            },
        );
    }
    Ok((
        links.len(),
        customers.len(),
        corrections.into_values().collect(),
    ))
}
