//! `GET /v1/metrics/responsiveness`: count, average, p50 and p90 of first response time and
//! reply latency (from `reply_latencies`, counted when the reply happened) and of first and full
//! resolution time (from `responsiveness`, counted when the first or last resolution happened),
//! overall or per channel, team, agent or UTC day. Definitions: docs/ANALYTICS.md; percentiles
//! are `quantileExact` (an observed value, no interpolation).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::{Sql, now_ms, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

/// Without `from`, the window is the 30 days before `to`.
pub const DEFAULT_WINDOW_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupBy {
    Channel,
    Team,
    Agent,
    Day,
}

impl GroupBy {
    fn parse(text: &str) -> ApiResult<Self> {
        match text {
            "channel" => Ok(Self::Channel),
            "team" => Ok(Self::Team),
            "agent" => Ok(Self::Agent),
            "day" => Ok(Self::Day),
            _ => Err(ApiError::bad_parameter(format!(
                "group_by must be channel, team, agent or day (got {text:?})"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Team => "team",
            Self::Agent => "agent",
            Self::Day => "day",
        }
    }
}

const NO_KEY: &str = "CAST(NULL, 'Nullable(String)')";

#[derive(Debug, Serialize)]
pub struct Report {
    from: String,
    to: String,
    channel: Option<String>,
    group_by: Option<&'static str>,
    groups: Vec<Group>,
}

#[derive(Debug, Default, Serialize)]
pub struct Group {
    /// The channel, team, agent id or day (`YYYY-MM-DD`); `null` for the overall group, a
    /// conversation without a team, or a reply without an agent id.
    key: Option<String>,
    /// With `group_by=agent`: the agent's name as the replies carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<String>,
    first_response: Stats,
    reply_latency: Stats,
    /// `null` with `group_by=agent`: a resolution is not attributed to an agent.
    first_resolution: Option<Stats>,
    full_resolution: Option<Stats>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    count: u64,
    avg_ms: Option<i64>,
    p50_ms: Option<i64>,
    p90_ms: Option<i64>,
}

#[derive(Debug, Deserialize, Row)]
struct ReplyRow {
    key: Option<String>,
    agent_name: Option<String>,
    frt_count: u64,
    frt_avg: Option<i64>,
    frt_p50: Option<i64>,
    frt_p90: Option<i64>,
    reply_count: u64,
    reply_avg: Option<i64>,
    reply_p50: Option<i64>,
    reply_p90: Option<i64>,
}

#[derive(Debug, Deserialize, Row)]
struct ResolutionRow {
    key: Option<String>,
    count: u64,
    avg_ms: Option<i64>,
    p50_ms: Option<i64>,
    p90_ms: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Report>> {
    let params = Params::parse(query.as_deref(), &["from", "to", "channel", "group_by"])?;
    let (from, to) = params.window()?;
    let to = to.unwrap_or_else(|| now_ms().saturating_add(1));
    let from = from.unwrap_or(to.saturating_sub(DEFAULT_WINDOW_MS));
    if from >= to {
        return Err(ApiError::bad_parameter("from must be before to"));
    }
    let channel = params.channel()?;
    let group_by = params.get("group_by").map(GroupBy::parse).transpose()?;
    let tenant = caller.tenant_id.as_str();

    let replies = replies_sql(group_by, tenant, from, to, channel.as_deref());
    let replies = replies.query(&state.client).fetch_all::<ReplyRow>();
    let resolutions = async {
        if group_by == Some(GroupBy::Agent) {
            return Ok((Vec::new(), Vec::new()));
        }
        let first = resolution_sql(
            group_by,
            Resolution::First,
            tenant,
            from,
            to,
            channel.as_deref(),
        );
        let full = resolution_sql(
            group_by,
            Resolution::Full,
            tenant,
            from,
            to,
            channel.as_deref(),
        );
        tokio::try_join!(
            first.query(&state.client).fetch_all::<ResolutionRow>(),
            full.query(&state.client).fetch_all::<ResolutionRow>(),
        )
    };
    let (replies, (first, full)) = tokio::try_join!(replies, resolutions)?;

    let resolved = group_by != Some(GroupBy::Agent);
    // Named groups first, in key order; the `null` group last.
    let mut groups: BTreeMap<(bool, Option<String>), Group> = BTreeMap::new();
    // Grouping by a constant (no group_by) yields one row even when nothing matched.
    for row in replies.into_iter().filter(|r| r.reply_count > 0) {
        let group = groups_entry(&mut groups, row.key.clone(), resolved);
        group.agent_name = row.agent_name;
        group.first_response = Stats {
            count: row.frt_count,
            avg_ms: row.frt_avg,
            p50_ms: row.frt_p50,
            p90_ms: row.frt_p90,
        };
        group.reply_latency = Stats {
            count: row.reply_count,
            avg_ms: row.reply_avg,
            p50_ms: row.reply_p50,
            p90_ms: row.reply_p90,
        };
    }
    for (rows, first_kind) in [(first, true), (full, false)] {
        for row in rows.into_iter().filter(|r| r.count > 0) {
            let group = groups_entry(&mut groups, row.key.clone(), resolved);
            let stats = Some(Stats {
                count: row.count,
                avg_ms: row.avg_ms,
                p50_ms: row.p50_ms,
                p90_ms: row.p90_ms,
            });
            if first_kind {
                group.first_resolution = stats;
            } else {
                group.full_resolution = stats;
            }
        }
    }
    if group_by.is_none() {
        // The overall group is always there, with zero counts when nothing happened.
        groups_entry(&mut groups, None, resolved);
    }
    Ok(Json(Report {
        from: time(from),
        to: time(to),
        channel,
        group_by: group_by.map(GroupBy::as_str),
        groups: groups.into_values().collect(),
    }))
}

fn groups_entry(
    groups: &mut BTreeMap<(bool, Option<String>), Group>,
    key: Option<String>,
    resolved: bool,
) -> &mut Group {
    groups
        .entry((key.is_none(), key.clone()))
        .or_insert_with(|| Group {
            key,
            first_resolution: resolved.then(Stats::default),
            full_resolution: resolved.then(Stats::default),
            ..Group::default()
        })
}

fn replies_sql(
    group_by: Option<GroupBy>,
    tenant: &str,
    from: i64,
    to: i64,
    channel: Option<&str>,
) -> Sql {
    let key = match group_by {
        None => NO_KEY,
        Some(GroupBy::Channel) => "toNullable(channel)",
        Some(GroupBy::Team) => "team",
        Some(GroupBy::Agent) => "agent_id",
        Some(GroupBy::Day) => "toNullable(toString(reply_date))",
    };
    let name = if group_by == Some(GroupBy::Agent) {
        "any(agent_name)"
    } else {
        NO_KEY
    };
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS key, {name} AS agent_name, \
         toUInt64(countIf(is_first_response = 1)) AS frt_count, \
         if(frt_count > 0, toInt64(floor(avgIf(reply_latency_ms, is_first_response = 1) + 0.5)), NULL) AS frt_avg, \
         if(frt_count > 0, toInt64(quantileExactIf(0.5)(reply_latency_ms, is_first_response = 1)), NULL) AS frt_p50, \
         if(frt_count > 0, toInt64(quantileExactIf(0.9)(reply_latency_ms, is_first_response = 1)), NULL) AS frt_p90, \
         toUInt64(count()) AS reply_count, \
         if(reply_count > 0, toInt64(floor(avg(reply_latency_ms) + 0.5)), NULL) AS reply_avg, \
         if(reply_count > 0, toInt64(quantileExact(0.5)(reply_latency_ms)), NULL) AS reply_p50, \
         if(reply_count > 0, toInt64(quantileExact(0.9)(reply_latency_ms)), NULL) AS reply_p90 \
         FROM reply_latencies WHERE tenant_id = ? AND replied_at_ms >= ? AND replied_at_ms < ?"
    ));
    sql.text(tenant).int(from).int(to);
    if let Some(channel) = channel {
        sql.push(" AND channel = ?").text(channel);
    }
    sql.push(" GROUP BY key");
    sql
}

#[derive(Debug, Clone, Copy)]
enum Resolution {
    First,
    Full,
}

fn resolution_sql(
    group_by: Option<GroupBy>,
    kind: Resolution,
    tenant: &str,
    from: i64,
    to: i64,
    channel: Option<&str>,
) -> Sql {
    let (duration, at) = match kind {
        Resolution::First => ("first_resolution_ms", "first_resolved_at_ms"),
        Resolution::Full => ("full_resolution_ms", "last_resolved_at_ms"),
    };
    let day = format!(
        "toNullable(toString(toDate(toDateTime(intDiv(assumeNotNull({at}), 1000), 'UTC'), 'UTC')))"
    );
    let key = match group_by {
        None | Some(GroupBy::Agent) => NO_KEY,
        Some(GroupBy::Channel) => "toNullable(channel)",
        Some(GroupBy::Team) => "team",
        Some(GroupBy::Day) => day.as_str(),
    };
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS key, toUInt64(count()) AS count, \
         toNullable(toInt64(floor(avg(assumeNotNull({duration})) + 0.5))) AS avg_ms, \
         toNullable(toInt64(quantileExact(0.5)(assumeNotNull({duration})))) AS p50_ms, \
         toNullable(toInt64(quantileExact(0.9)(assumeNotNull({duration})))) AS p90_ms \
         FROM responsiveness \
         WHERE tenant_id = ? AND {duration} IS NOT NULL AND {at} >= ? AND {at} < ?"
    ));
    sql.text(tenant).int(from).int(to);
    if let Some(channel) = channel {
        sql.push(" AND channel = ?").text(channel);
    }
    sql.push(" GROUP BY key");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_accepts_exactly_the_documented_values() {
        for name in ["channel", "team", "agent", "day"] {
            assert_eq!(GroupBy::parse(name).unwrap().as_str(), name);
        }
        assert!(GroupBy::parse("week").is_err());
        assert!(GroupBy::parse("Channel").is_err());
    }
}
