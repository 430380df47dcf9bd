//! `rapport sla`: SLA outcomes per target (met, breached, active, at risk, paused, % met),
//! overall or per channel, team, agent or week: `rapport_clickhouse::read::sla`, the report
//! `GET /v1/metrics/sla` answers, with the same numbers as the `sla_weekly` view.

use std::io::Write;

use clap::ValueEnum;
use rapport_clickhouse::read::sla::{SlaGroup, SlaGroupBy, SlaQuery, report};
use rapport_model::Timestamp;
use serde::Serialize;

use crate::cmd::parse_time;
use crate::config::CliConfig;
use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    Channel,
    Team,
    Agent,
    Week,
}

impl From<GroupBy> for SlaGroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::Channel => Self::Channel,
            GroupBy::Team => Self::Team,
            GroupBy::Agent => Self::Agent,
            GroupBy::Week => Self::Week,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tenant (default: the config's tenant_id).
    #[arg(long)]
    tenant: Option<String>,
    /// Start of the window (when a target's first cycle started), RFC 3339 (default: since the
    /// beginning).
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// End of the window, exclusive, RFC 3339 (default: now).
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    /// Only this channel (email, chat, review, support).
    #[arg(long)]
    channel: Option<String>,
    /// One group per channel, team, agent or week (its Monday, UTC); one overall group without.
    #[arg(long, value_enum)]
    group_by: Option<GroupBy>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub key: Option<String>,
    pub target: String,
    pub conversations: u64,
    pub met: u64,
    pub breached: u64,
    pub active: u64,
    pub paused: u64,
    pub at_risk: u64,
    pub met_pct: Option<f64>,
}

impl From<SlaGroup> for Line {
    fn from(g: SlaGroup) -> Self {
        Self {
            met_pct: g.met_pct(),
            key: g.key,
            target: g.target,
            conversations: g.conversations,
            met: g.met,
            breached: g.breached,
            active: g.active,
            paused: g.paused,
            at_risk: g.at_risk,
        }
    }
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let tenant = args.tenant.unwrap_or_else(|| config.tenant_id.clone());
    let now = Timestamp::now().as_millis();
    let from = args.from.map_or(0, Timestamp::as_millis);
    let to = args.to.map_or(now.saturating_add(1), Timestamp::as_millis);
    anyhow::ensure!(from < to, "--from must be before --to");
    let query = SlaQuery {
        tenant_id: &tenant,
        from,
        to,
        channel: args.channel.as_deref(),
        group_by: args.group_by.map(SlaGroupBy::from),
        now,
    };
    let client = store::client(&config.clickhouse);
    let groups = store::bounded(&config.clickhouse, report(&client, &query)).await?;
    let lines: Vec<Line> = groups.into_iter().map(Line::from).collect();
    let out = &mut std::io::stdout().lock();
    if args.json {
        for line in &lines {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(table(args.group_by, &lines).as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}

/// The aligned table: text left-aligned, numbers right-aligned, `-` for no % yet.
pub fn table(group_by: Option<GroupBy>, lines: &[Line]) -> String {
    let first = match group_by {
        None => "ALL",
        Some(GroupBy::Channel) => "CHANNEL",
        Some(GroupBy::Team) => "TEAM",
        Some(GroupBy::Agent) => "AGENT",
        Some(GroupBy::Week) => "WEEK",
    };
    let header = [
        first,
        "TARGET",
        "CONVERSATIONS",
        "MET",
        "BREACHED",
        "ACTIVE",
        "AT RISK",
        "PAUSED",
        "MET %",
    ];
    let rows: Vec<[String; 9]> = lines
        .iter()
        .map(|l| {
            [
                l.key.clone().unwrap_or_else(|| {
                    if group_by.is_none() { "all" } else { "(none)" }.to_owned()
                }),
                l.target.clone(),
                l.conversations.to_string(),
                l.met.to_string(),
                l.breached.to_string(),
                l.active.to_string(),
                l.at_risk.to_string(),
                l.paused.to_string(),
                l.met_pct
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}")),
            ]
        })
        .collect();
    let mut text = crate::table::aligned(&header, &rows, 2);
    if rows.is_empty() {
        text.push_str("(no SLA outcomes in this window)\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sla_table_is_aligned_with_a_dash_for_no_percentage() {
        let lines = [
            Line {
                key: Some("2024-06-03".into()),
                target: "first_response".into(),
                conversations: 3,
                met: 2,
                breached: 1,
                active: 0,
                paused: 0,
                at_risk: 0,
                met_pct: Some(66.7),
            },
            Line {
                key: None,
                target: "resolution".into(),
                conversations: 1,
                met: 0,
                breached: 0,
                active: 1,
                paused: 0,
                at_risk: 1,
                met_pct: None,
            },
        ];
        let text = table(Some(GroupBy::Week), &lines);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows[0],
            "WEEK        TARGET          CONVERSATIONS  MET  BREACHED  ACTIVE  AT RISK  PAUSED  MET %"
        );
        assert_eq!(
            rows[1],
            "2024-06-03  first_response              3    2         1       0        0       0   66.7"
        );
        assert!(rows[2].starts_with("(none)      resolution  "), "{text}");
        assert!(rows[2].ends_with("      -"), "{text}");
    }
}
