//! `rapport timeline`: one customer's merged, cross-channel history, oldest first (the latest
//! `limit` interactions), read as the API's timeline reads it
//! (`rapport_clickhouse::read::timeline::page`: the customer's conversations by key prefix, then
//! only the conversations and months that reach into the page).

use std::io::Write;

use rapport_clickhouse::ClickHouseConfig;
use rapport_clickhouse::read::{self, EventRow};
use rapport_model::Timestamp;
use serde_json::json;

use crate::config::CliConfig;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct Args {
    customer: String,
    /// Tenant (default: the config's tenant_id).
    #[arg(long)]
    tenant: Option<String>,
    /// How many of the latest interactions to print.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Only this channel (email, chat, review, support).
    #[arg(long)]
    channel: Option<String>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

/// What to print: [`Args`] with the tenant resolved.
#[derive(Debug, Clone)]
pub struct Query {
    pub customer: String,
    pub tenant: String,
    pub limit: u32,
    pub channel: Option<String>,
    pub json: bool,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let query = Query {
        customer: args.customer,
        tenant: args.tenant.unwrap_or_else(|| config.tenant_id.clone()),
        limit: args.limit,
        channel: args.channel,
        json: args.json,
    };
    print(&config.clickhouse, &query, &mut std::io::stdout().lock()).await?;
    Ok(0)
}

/// Prints the timeline; an unknown customer is an error.
pub async fn print(
    config: &ClickHouseConfig,
    args: &Query,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = store::client(config);
    let customer_id = store::resolve_customer(config, &client, &args.tenant, &args.customer)
        .await?
        .ok_or_else(|| store::unknown_customer(&args.tenant, &args.customer))?;
    let page = store::bounded(
        config,
        read::timeline::page(
            &client,
            &read::timeline::TimelineQuery {
                tenant_id: &args.tenant,
                customer_id: &customer_id,
                order: read::Order::Desc,
                limit: args.limit,
                channel: args.channel.as_deref(),
                from: None,
                to: None,
                after: None,
            },
        ),
    )
    .await?;
    let mut rows = page.items;
    rows.reverse();
    if args.json {
        for row in &rows {
            let line = json!({
                "customer_id": customer_id,
                "event_id": row.event_id,
                "occurred_at": time(row.occurred_at_ms),
                "channel": row.channel,
                "conversation_id": row.conversation_id,
                "kind": row.kind,
                "direction": row.direction,
                "actor_role": row.actor_role,
                "actor_name": row.actor_name,
                "identities": row.identities,
                "subject": row.subject,
                "text": row.text,
                "status": row.status,
            });
            writeln!(out, "{line}")?;
        }
    } else {
        writeln!(
            out,
            "customer {customer_id} (tenant {}): {} interactions",
            args.tenant,
            rows.len()
        )?;
        for row in &rows {
            writeln!(out, "{}", line(row))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn time(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

/// `time  channel  direction  who  kind: text`, the text on one line and cut at 100 characters.
fn line(row: &EventRow) -> String {
    let who = match &row.actor_name {
        Some(name) => format!("{} {name}", row.actor_role),
        None => row.actor_role.clone(),
    };
    let what = match (&row.status, &row.text, &row.subject) {
        (Some(status), _, _) if row.kind == "status_change" => format!("→ {status}"),
        (_, Some(text), _) => text.clone(),
        (_, None, Some(subject)) => subject.clone(),
        _ => String::new(),
    };
    let what: String = what.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = what.chars().take(100).collect();
    let ellipsis = if cut.len() < what.len() { "…" } else { "" };
    format!(
        "{}  {:<8} {:<8} {:<22} {:<14} {}{ellipsis}  [{}]",
        time(row.occurred_at_ms),
        row.channel,
        row.direction,
        who,
        row.kind,
        cut,
        row.conversation_id
    )
}
