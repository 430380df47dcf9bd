//! `rapport report`: responsiveness over a period, as a table or JSON lines: count, average, p50
//! and p90 of first response time and reply latency (counted when the reply happened) and of first
//! and full resolution time (counted when the resolution happened), per channel, team, agent or
//! UTC day. The numbers are `rapport_clickhouse::read::responsiveness::report`, the same function
//! `GET /v1/metrics/responsiveness` answers from (definitions in docs/ANALYTICS.md).

use std::io::Write;

use clap::ValueEnum;
use rapport_clickhouse::ClickHouseConfig;
use rapport_clickhouse::read::responsiveness::{self as read, Clock, Group, ReportQuery, Stats};

use rapport_model::Timestamp;

use crate::cmd::parse_time;
use crate::config::CliConfig;
use crate::store;
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    Channel,
    Team,
    Agent,
    Day,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tenant (default: the config's tenant_id).
    #[arg(long)]
    tenant: Option<String>,
    /// Start of the window, RFC 3339 (default: since the beginning).
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// End of the window, exclusive, RFC 3339 (default: now and later).
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    /// One line per channel, team, agent or UTC day.
    #[arg(long, value_enum, default_value_t = GroupBy::Channel)]
    group_by: GroupBy,
    /// One JSON object per line (durations in ms) instead of a table.
    #[arg(long)]
    json: bool,
    /// `business`: every duration in the open time of the conversation's business-hours
    /// calendar (the stored business times; rows stored before business time existed are left
    /// out until `rapport recompute`).
    #[arg(long, value_enum, default_value_t = ClockArg::Wall)]
    clock: ClockArg,
}

/// Which clock durations are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockArg {
    Wall,
    Business,
}

impl ClockArg {
    fn read(self) -> Clock {
        match self {
            Self::Wall => Clock::Wall,
            Self::Business => Clock::Business,
        }
    }
}

/// What to report: [`Args`] with the tenant resolved and the window in epoch milliseconds.
#[derive(Debug, Clone)]
pub struct Query {
    pub tenant: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub group_by: GroupBy,
    pub json: bool,
    pub clock: ClockArg,
}

pub async fn run(args: Args, config: &CliConfig) -> anyhow::Result<u8> {
    let query = Query {
        tenant: args.tenant.unwrap_or_else(|| config.tenant_id.clone()),
        from_ms: args.from.map(Timestamp::as_millis),
        to_ms: args.to.map(Timestamp::as_millis),
        group_by: args.group_by,
        json: args.json,
        clock: args.clock,
    };
    print(&config.clickhouse, &query, &mut std::io::stdout().lock()).await?;
    Ok(0)
}

impl GroupBy {
    fn read(self) -> read::GroupBy {
        match self {
            Self::Channel => read::GroupBy::Channel,
            Self::Team => read::GroupBy::Team,
            Self::Agent => read::GroupBy::Agent,
            Self::Day => read::GroupBy::Day,
        }
    }
}

/// Prints the report as a table, or one JSON object per group (the API's group objects).
pub async fn print(
    config: &ClickHouseConfig,
    args: &Query,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let client = store::client(config);
    // An operator's report without a window covers the whole history (the API defaults to the
    // last 30 days); both read `replies` and `resolutions` by (tenant, day).
    let to = args
        .to_ms
        .unwrap_or_else(|| Timestamp::now().as_millis().saturating_add(1));
    let from = args.from_ms.unwrap_or(0);
    anyhow::ensure!(from < to, "--from must be before --to");
    let groups = store::bounded(
        config,
        read::report(
            &client,
            &ReportQuery {
                tenant_id: &args.tenant,
                from,
                to,
                channel: None,
                group_by: Some(args.group_by.read()),
                clock: args.clock.read(),
            },
        ),
    )
    .await?;
    if args.json {
        for group in &groups {
            serde_json::to_writer(&mut *out, group)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(table(args.group_by, &groups).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// A duration as an operator reads it: `45s`, `12m 30s`, `3h 05m`, `2d 04h`.
pub fn human(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The aligned table: text left-aligned, numbers right-aligned, `-` where nothing was measured.
pub fn table(group_by: GroupBy, groups: &[Group]) -> String {
    let first = match group_by {
        GroupBy::Channel => "CHANNEL",
        GroupBy::Team => "TEAM",
        GroupBy::Agent => "AGENT",
        GroupBy::Day => "DAY",
    };
    let header = [
        first,
        "FIRST RESP",
        "FRT AVG",
        "FRT P50",
        "FRT P90",
        "REPLIES",
        "REPLY AVG",
        "REPLY P90",
        "RESOLVED",
        "RESOLUTION AVG",
        "RESOLUTION P90",
    ];
    let d = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), human);
    let resolved = |stats: &Option<Stats>| {
        stats.as_ref().map_or_else(
            || ["-".to_owned(), "-".to_owned(), "-".to_owned()],
            |s| [s.count.to_string(), d(s.avg_ms), d(s.p90_ms)],
        )
    };
    let rows: Vec<[String; 11]> = groups
        .iter()
        .map(|g| {
            let key = match (&g.key, &g.agent_name) {
                (None, _) => "(none)".to_owned(),
                (Some(key), Some(name)) => format!("{key} ({name})"),
                (Some(key), None) => key.clone(),
            };
            let [resolutions, resolution_avg, resolution_p90] = resolved(&g.first_resolution);
            [
                key,
                g.first_response.count.to_string(),
                d(g.first_response.avg_ms),
                d(g.first_response.p50_ms),
                d(g.first_response.p90_ms),
                g.reply_latency.count.to_string(),
                d(g.reply_latency.avg_ms),
                d(g.reply_latency.p90_ms),
                resolutions,
                resolution_avg,
                resolution_p90,
            ]
        })
        .collect();
    let mut text = crate::table::aligned(&header, &rows, 1);
    if rows.is_empty() {
        text.push_str("(nothing measured in this window)\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_human_units() {
        assert_eq!(human(250), "250ms");
        assert_eq!(human(45_000), "45s");
        assert_eq!(human(750_000), "12m 30s");
        assert_eq!(human(11_100_000), "3h 05m");
        assert_eq!(human(187_200_000), "2d 04h");
    }

    #[test]
    fn the_report_table_is_aligned_with_dashes_for_nothing_measured() {
        let stats = |count, avg, p50, p90| Stats {
            count,
            avg_ms: avg,
            p50_ms: p50,
            p90_ms: p90,
        };
        let groups = [
            Group {
                key: Some("email".into()),
                agent_name: None,
                first_response: stats(10, Some(750_000), Some(600_000), Some(11_100_000)),
                reply_latency: stats(15, Some(45_000), Some(40_000), Some(90_000)),
                first_resolution: Some(stats(0, None, None, None)),
                full_resolution: Some(stats(0, None, None, None)),
            },
            Group {
                key: None,
                ..Group::default()
            },
        ];
        let text = table(GroupBy::Channel, &groups);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows[0],
            "CHANNEL  FIRST RESP  FRT AVG  FRT P50  FRT P90  REPLIES  REPLY AVG  REPLY P90  RESOLVED  RESOLUTION AVG  RESOLUTION P90"
        );
        assert_eq!(
            rows[1],
            "email            10  12m 30s  10m 00s   3h 05m       15        45s     1m 30s         0               -               -"
        );
        assert!(
            rows[2].starts_with("(none)            0        -"),
            "{}",
            rows[2]
        );
        assert_eq!(
            rows[1].len(),
            rows[0].len(),
            "right-aligned numbers end under their header"
        );
    }
}
