//! `rapport report`: the responsiveness table (definitions in docs/ANALYTICS.md). Response and
//! reply numbers come from `reply_latencies` (counted when the reply happened), conversation,
//! resolution and waiting numbers from `responsiveness` (counted when the conversation started;
//! with `--group-by agent`, by the agent who answered first).

use std::collections::BTreeMap;
use std::io::Write;

use clap::ValueEnum;
use clickhouse::Row;
use rapport_clickhouse::ClickHouseConfig;
use serde::{Deserialize, Serialize};

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
    /// calendar (from the stored state; rows stored before business time existed are left out
    /// until `rapport recompute`).
    #[arg(long, value_enum, default_value_t = Clock::Wall)]
    clock: Clock,
}

/// Which clock durations are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    Wall,
    Business,
}

/// What to report: [`Args`] with the tenant resolved and the window in epoch milliseconds.
#[derive(Debug, Clone)]
pub struct Query {
    pub tenant: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub group_by: GroupBy,
    pub json: bool,
    pub clock: Clock,
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

#[derive(Debug, Deserialize, Row)]
struct ReplyRow {
    key: String,
    frt_count: u64,
    frt_avg: Option<i64>,
    frt_p50: Option<i64>,
    frt_p90: Option<i64>,
    reply_count: u64,
    reply_avg: Option<i64>,
    reply_p90: Option<i64>,
}

#[derive(Debug, Deserialize, Row)]
struct ConversationRow {
    key: String,
    conversations: u64,
    resolution_avg: Option<i64>,
    unanswered: u64,
}

/// One line of the report; durations in ms, `None` when nothing was measured.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub key: String,
    pub conversations: u64,
    pub first_responses: u64,
    pub first_response_avg_ms: Option<i64>,
    pub first_response_p50_ms: Option<i64>,
    pub first_response_p90_ms: Option<i64>,
    pub replies: u64,
    pub reply_avg_ms: Option<i64>,
    pub reply_p90_ms: Option<i64>,
    pub resolution_avg_ms: Option<i64>,
    pub unanswered_now: u64,
}

/// Prints the report as a table, or JSON lines.
pub async fn print(
    config: &ClickHouseConfig,
    args: &Query,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let lines = lines(config, args).await?;
    if args.json {
        for line in &lines {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(table(args.group_by, &lines).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

async fn lines(config: &ClickHouseConfig, args: &Query) -> anyhow::Result<Vec<Line>> {
    let client = store::client(config);
    let (reply_key, conversation_key) = match args.group_by {
        GroupBy::Channel => ("channel", "channel".to_owned()),
        GroupBy::Team => ("ifNull(team, '')", "ifNull(team, '')".to_owned()),
        GroupBy::Agent => (
            "ifNull(agent_id, '')",
            "ifNull(first_responder_id, '')".to_owned(),
        ),
        GroupBy::Day => (
            "toString(reply_date)",
            "toString(toDate(toDateTime(intDiv(created_at_ms, 1000), 'UTC'), 'UTC'))".to_owned(),
        ),
    };
    let window = |column: &str| {
        let mut sql = String::new();
        if args.from_ms.is_some() {
            sql.push_str(&format!(" AND {column} >= ?"));
        }
        if args.to_ms.is_some() {
            sql.push_str(&format!(" AND {column} < ?"));
        }
        sql
    };
    let bind_window = |mut query: clickhouse::query::Query| {
        for bound in [args.from_ms, args.to_ms].into_iter().flatten() {
            query = query.bind(bound);
        }
        query
    };
    // Business time: the same columns from the views over the stored business durations.
    let (reply_source, conversation_source) = match args.clock {
        Clock::Wall => ("reply_latencies", "responsiveness"),
        Clock::Business => (
            "(SELECT tenant_id, channel, team, agent_id, reply_date, replied_at_ms, \
             is_first_response, assumeNotNull(reply_latency_business_ms) AS reply_latency_ms \
             FROM business_reply_latencies WHERE reply_latency_business_ms IS NOT NULL)",
            "(SELECT tenant_id, channel, team, first_responder_id, created_at_ms, is_waiting, \
             first_resolution_business_ms AS first_resolution_ms FROM business_responsiveness)",
        ),
    };
    let replies = format!(
        "SELECT {reply_key} AS key, \
         toUInt64(countIf(is_first_response = 1)) AS frt_count, \
         if(frt_count > 0, toInt64(floor(avgIf(reply_latency_ms, is_first_response = 1) + 0.5)), NULL) AS frt_avg, \
         if(frt_count > 0, toInt64(quantileExactIf(0.5)(reply_latency_ms, is_first_response = 1)), NULL) AS frt_p50, \
         if(frt_count > 0, toInt64(quantileExactIf(0.9)(reply_latency_ms, is_first_response = 1)), NULL) AS frt_p90, \
         toUInt64(count()) AS reply_count, \
         if(reply_count > 0, toInt64(floor(avg(reply_latency_ms) + 0.5)), NULL) AS reply_avg, \
         if(reply_count > 0, toInt64(quantileExact(0.9)(reply_latency_ms)), NULL) AS reply_p90 \
         FROM {reply_source} WHERE tenant_id = ?{} GROUP BY key",
        window("replied_at_ms")
    );
    let conversations = format!(
        "SELECT {conversation_key} AS key, toUInt64(count()) AS conversations, \
         if(countIf(first_resolution_ms IS NOT NULL) > 0, \
            toInt64(floor(avgIf(assumeNotNull(first_resolution_ms), first_resolution_ms IS NOT NULL) + 0.5)), NULL) AS resolution_avg, \
         toUInt64(sum(is_waiting)) AS unanswered \
         FROM {conversation_source} WHERE tenant_id = ?{} GROUP BY key",
        window("created_at_ms")
    );
    let replies = bind_window(client.query(&replies).bind(&args.tenant)).fetch_all::<ReplyRow>();
    let conversations =
        bind_window(client.query(&conversations).bind(&args.tenant)).fetch_all::<ConversationRow>();
    let (replies, conversations) =
        store::bounded(config, async { tokio::try_join!(replies, conversations) }).await?;

    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for row in replies {
        let line = entry(&mut lines, &row.key);
        line.first_responses = row.frt_count;
        line.first_response_avg_ms = row.frt_avg;
        line.first_response_p50_ms = row.frt_p50;
        line.first_response_p90_ms = row.frt_p90;
        line.replies = row.reply_count;
        line.reply_avg_ms = row.reply_avg;
        line.reply_p90_ms = row.reply_p90;
    }
    for row in conversations {
        let line = entry(&mut lines, &row.key);
        line.conversations = row.conversations;
        line.resolution_avg_ms = row.resolution_avg;
        line.unanswered_now = row.unanswered;
    }
    Ok(lines.into_values().collect())
}

fn entry<'a>(lines: &'a mut BTreeMap<String, Line>, key: &str) -> &'a mut Line {
    lines.entry(key.to_owned()).or_insert_with(|| Line {
        key: key.to_owned(),
        ..Line::default()
    })
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
pub fn table(group_by: GroupBy, lines: &[Line]) -> String {
    let first = match group_by {
        GroupBy::Channel => "CHANNEL",
        GroupBy::Team => "TEAM",
        GroupBy::Agent => "AGENT",
        GroupBy::Day => "DAY",
    };
    let header = [
        first,
        "CONVERSATIONS",
        "FIRST RESP",
        "FRT AVG",
        "FRT P50",
        "FRT P90",
        "REPLIES",
        "REPLY AVG",
        "REPLY P90",
        "RESOLUTION AVG",
        "UNANSWERED",
    ];
    let d = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), human);
    let rows: Vec<[String; 11]> = lines
        .iter()
        .map(|l| {
            [
                if l.key.is_empty() {
                    "(none)".to_owned()
                } else {
                    l.key.clone()
                },
                l.conversations.to_string(),
                l.first_responses.to_string(),
                d(l.first_response_avg_ms),
                d(l.first_response_p50_ms),
                d(l.first_response_p90_ms),
                l.replies.to_string(),
                d(l.reply_avg_ms),
                d(l.reply_p90_ms),
                d(l.resolution_avg_ms),
                l.unanswered_now.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let render = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = render(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        text.push_str(&render(&cells));
    }
    if rows.is_empty() {
        text.push_str("(no conversations in this window)\n");
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
        let lines = [
            Line {
                key: "email".into(),
                conversations: 12,
                first_responses: 10,
                first_response_avg_ms: Some(750_000),
                first_response_p50_ms: Some(600_000),
                first_response_p90_ms: Some(11_100_000),
                replies: 15,
                reply_avg_ms: Some(45_000),
                reply_p90_ms: Some(90_000),
                resolution_avg_ms: None,
                unanswered_now: 2,
            },
            Line {
                key: String::new(),
                conversations: 1,
                ..Line::default()
            },
        ];
        let text = table(GroupBy::Channel, &lines);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows[0],
            "CHANNEL  CONVERSATIONS  FIRST RESP  FRT AVG  FRT P50  FRT P90  REPLIES  REPLY AVG  REPLY P90  RESOLUTION AVG  UNANSWERED"
        );
        assert_eq!(
            rows[1],
            "email               12          10  12m 30s  10m 00s   3h 05m       15        45s     1m 30s               -           2"
        );
        assert!(rows[2].starts_with("(none)               1           0        -"));
        assert_eq!(
            rows[1].len(),
            rows[0].len(),
            "right-aligned numbers end under their header"
        );
    }
}
