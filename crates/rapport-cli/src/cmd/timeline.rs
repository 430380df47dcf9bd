//! `rapport timeline`: one customer's merged, cross-channel history from `customer_timeline`,
//! oldest first (the latest `limit` interactions).

use std::io::Write;

use clickhouse::Row;
use rapport_clickhouse::ClickHouseConfig;
use rapport_model::Timestamp;
use serde::Deserialize;
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

#[derive(Debug, Deserialize, Row)]
struct EventRow {
    event_id: String,
    occurred_at_ms: i64,
    channel: String,
    conversation_id: String,
    kind: String,
    direction: String,
    actor_role: String,
    actor_name: Option<String>,
    identities: Vec<String>,
    subject: Option<String>,
    text: Option<String>,
    status: Option<String>,
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
    let mut sql = String::from(
        "SELECT event_id, occurred_at_ms, channel, conversation_id, kind, direction, actor_role, \
         actor_name, identities, subject, text, status \
         FROM customer_timeline WHERE tenant_id = ? AND customer_id = ?",
    );
    if args.channel.is_some() {
        sql.push_str(" AND channel = ?");
    }
    // The latest `limit` events, newest first here and reversed below.
    sql.push_str(" ORDER BY occurred_at_ms DESC, event_rank DESC, event_id DESC LIMIT ?");
    let mut query = client.query(&sql).bind(&args.tenant).bind(&customer_id);
    if let Some(channel) = &args.channel {
        query = query.bind(channel);
    }
    let mut rows: Vec<EventRow> =
        store::bounded(config, query.bind(args.limit).fetch_all()).await?;
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
