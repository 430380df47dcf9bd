//! `rapport forget`: erase one customer. Deletes its interactions, their identity index rows,
//! its identity links and its customer rows from ClickHouse (as mutations), publishes a
//! tombstone per identifier on the identity topic so the linker forgets it too, and waits until
//! ClickHouse reports every mutation done.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use clickhouse::Row;
use rapport_clickhouse::ClickHouseConfig;
use rapport_kafka::KafkaConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::{progress, store};

/// What erasing one customer touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub tenant: String,
    pub customer_id: String,
    /// `type:value` identifiers of the customer.
    pub identities: Vec<String>,
    /// Its interactions, and any other interaction that carries one of its identifiers.
    pub event_ids: Vec<String>,
}

/// Exit codes: 0 erased, 2 plan shown without `--yes`.
pub const PLAN_ONLY: u8 = 2;

pub async fn plan(config: &ClickHouseConfig, tenant: &str, customer: &str) -> anyhow::Result<Plan> {
    let client = store::client(config);
    let customer_id = store::resolve_customer(config, &client, tenant, customer)
        .await?
        .ok_or_else(|| store::unknown_customer(tenant, customer))?;
    let identities: Vec<String> = store::bounded(
        config,
        client
            .query("SELECT DISTINCT identity FROM customers FINAL WHERE tenant_id = ? AND customer_id = ? ORDER BY identity")
            .bind(tenant)
            .bind(&customer_id)
            .fetch_all(),
    )
    .await?;
    let own: Vec<String> = store::bounded(
        config,
        client
            .query("SELECT DISTINCT event_id FROM interaction_customers WHERE tenant_id = ? AND customer_id = ?")
            .bind(tenant)
            .bind(&customer_id)
            .fetch_all(),
    )
    .await?;
    let carrying: Vec<String> = store::bounded(
        config,
        client
            .query("SELECT DISTINCT event_id FROM interaction_identities WHERE tenant_id = ? AND has(?, identity)")
            .bind(tenant)
            .bind(&identities)
            .fetch_all(),
    )
    .await?;
    let event_ids: BTreeSet<String> = own.into_iter().chain(carrying).collect();
    Ok(Plan {
        tenant: tenant.to_owned(),
        customer_id,
        identities,
        event_ids: event_ids.into_iter().collect(),
    })
}

pub fn describe(plan: &Plan, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "customer {} of tenant {}: {} identifiers, {} interactions",
        plan.customer_id,
        plan.tenant,
        plan.identities.len(),
        plan.event_ids.len()
    )?;
    for identity in &plan.identities {
        writeln!(out, "  identifier {identity}")?;
    }
    writeln!(
        out,
        "would delete from interactions, interaction_identities, identity_links and customers, \
         and publish {} tombstones on the identity topic",
        plan.identities.len()
    )
}

#[derive(Debug, Deserialize, Row)]
struct Mutation {
    table: String,
    mutation_id: String,
    is_done: u8,
}

/// Runs the erasure `plan` and reports each step to `out`.
pub async fn execute(
    config: &ClickHouseConfig,
    kafka: &KafkaConfig,
    identity_topic: &str,
    plan: &Plan,
    cancel: &CancellationToken,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = store::client(config);
    let existing = mutations(config, &client).await?;
    let known: BTreeSet<String> = existing.into_iter().map(|m| m.mutation_id).collect();

    let mut statements: Vec<(&str, clickhouse::query::Query)> = Vec::new();
    if !plan.event_ids.is_empty() {
        statements.push((
            "interactions",
            client
                .query("ALTER TABLE interactions DELETE WHERE tenant_id = ? AND has(?, event_id)")
                .bind(&plan.tenant)
                .bind(&plan.event_ids),
        ));
    }
    statements.push((
        "interaction_identities",
        client
            .query("ALTER TABLE interaction_identities DELETE WHERE tenant_id = ? AND (has(?, identity) OR has(?, event_id))")
            .bind(&plan.tenant)
            .bind(&plan.identities)
            .bind(if plan.event_ids.is_empty() { &plan.identities } else { &plan.event_ids }),
    ));
    statements.push((
        "identity_links",
        client
            .query("ALTER TABLE identity_links DELETE WHERE tenant_id = ? AND (has(?, identity_a) OR has(?, identity_b))")
            .bind(&plan.tenant)
            .bind(&plan.identities)
            .bind(&plan.identities),
    ));
    statements.push((
        "customers",
        client
            .query("ALTER TABLE customers DELETE WHERE tenant_id = ? AND (has(?, identity) OR customer_id = ?)")
            .bind(&plan.tenant)
            .bind(&plan.identities)
            .bind(&plan.customer_id),
    ));
    let tables: BTreeSet<&str> = statements.iter().map(|(t, _)| *t).collect();
    for (table, statement) in statements {
        if cancel.is_cancelled() {
            anyhow::bail!(
                "interrupted before deleting from {table}; run `rapport forget` again to finish"
            );
        }
        store::bounded(config, statement.execute())
            .await
            .with_context(|| format!("cannot delete from {table}"))?;
        writeln!(out, "{table}: delete submitted")?;
    }

    let producer: FutureProducer = kafka
        .producer_config()
        .create()
        .context("cannot create the Kafka producer")?;
    for identity in &plan.identities {
        let key = format!("{}/{identity}", plan.tenant);
        // A record without a payload: compaction drops the identifier's last state.
        let record = FutureRecord::<str, [u8]>::to(identity_topic).key(&key);
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(error, _)| error)
            .with_context(|| {
                format!("cannot publish the tombstone of {identity} on {identity_topic}")
            })?;
    }
    writeln!(
        out,
        "{identity_topic}: {} tombstones published",
        plan.identities.len()
    )?;

    let bar = progress::bar(tables.len() as u64, "waiting for ClickHouse mutations");
    loop {
        let ours: Vec<Mutation> = mutations(config, &client)
            .await?
            .into_iter()
            .filter(|m| !known.contains(&m.mutation_id) && tables.contains(m.table.as_str()))
            .collect();
        let done = ours.iter().filter(|m| m.is_done == 1).count();
        bar.set_position(done as u64);
        if done == ours.len() && !ours.is_empty() {
            break;
        }
        tokio::select! {
            () = cancel.cancelled() => {
                bar.abandon();
                anyhow::bail!(
                    "interrupted while waiting: {done} of {} mutations done; the rest keep running \
                     in ClickHouse (see system.mutations)",
                    ours.len()
                );
            }
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    bar.finish_and_clear();
    writeln!(
        out,
        "erased customer {} of tenant {}: {} interactions, {} identifiers; every mutation is done",
        plan.customer_id,
        plan.tenant,
        plan.event_ids.len(),
        plan.identities.len()
    )?;
    Ok(())
}

async fn mutations(
    config: &ClickHouseConfig,
    client: &clickhouse::Client,
) -> anyhow::Result<Vec<Mutation>> {
    store::bounded(
        config,
        client
            .query("SELECT table, mutation_id, is_done FROM system.mutations WHERE database = ?")
            .bind(&config.database)
            .fetch_all(),
    )
    .await
}
