//! `GET /v1/metrics/responsiveness`: count, average, p50 and p90 of first response time and
//! reply latency (counted when the reply happened) and of first and full resolution time (counted
//! when the first or last resolution happened), overall or per channel, team, agent or UTC day,
//! from the stored `replies` and `resolutions` (`rapport_clickhouse::read::responsiveness`, the
//! same report `rapport report` prints), on the wall clock or with `clock=business` in business
//! time. Definitions: docs/ANALYTICS.md.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use rapport_clickhouse::read::responsiveness::{self as read, Clock, GroupBy, ReportQuery, report};
use serde::Serialize;

use super::{now_ms, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

/// Without `from`, the window is the 30 days before `to`.
pub const DEFAULT_WINDOW_MS: i64 = 30 * 86_400_000;

#[derive(Debug, Serialize)]
pub struct Report {
    from: String,
    to: String,
    channel: Option<String>,
    group_by: Option<&'static str>,
    /// `wall` or `business` (each conversation's business-hours calendar).
    clock: &'static str,
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

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Report>> {
    let params = Params::parse(
        query.as_deref(),
        &["from", "to", "channel", "group_by", "clock"],
    )?;
    let (from, to) = params.window()?;
    let to = to.unwrap_or_else(|| now_ms().saturating_add(1));
    let from = from.unwrap_or(to.saturating_sub(DEFAULT_WINDOW_MS));
    if from >= to {
        return Err(ApiError::bad_parameter("from must be before to"));
    }
    let channel = params.channel()?;
    let group_by = params
        .get("group_by")
        .map(|text| {
            GroupBy::parse(text).ok_or_else(|| {
                ApiError::bad_parameter(format!(
                    "group_by must be channel, team, agent or day (got {text:?})"
                ))
            })
        })
        .transpose()?;
    let clock = params
        .get("clock")
        .map(|text| {
            Clock::parse(text).ok_or_else(|| {
                ApiError::bad_parameter(format!("clock must be wall or business (got {text:?})"))
            })
        })
        .transpose()?
        .unwrap_or_default();
    let groups = report(
        &state.client,
        &ReportQuery {
            tenant_id: &caller.tenant_id,
            from,
            to,
            channel: channel.as_deref(),
            group_by,
            clock,
        },
    )
    .await?;
    Ok(Json(Report {
        from: time(from),
        to: time(to),
        channel,
        group_by: group_by.map(GroupBy::as_str),
        clock: clock.as_str(),
        groups: groups.into_iter().map(Group::from).collect(),
    }))
}

impl From<read::Group> for Group {
    fn from(g: read::Group) -> Self {
        Self {
            key: g.key,
            agent_name: g.agent_name,
            first_response: g.first_response.into(),
            reply_latency: g.reply_latency.into(),
            first_resolution: g.first_resolution.map(Stats::from),
            full_resolution: g.full_resolution.map(Stats::from),
        }
    }
}

impl From<read::Stats> for Stats {
    fn from(s: read::Stats) -> Self {
        Self {
            count: s.count,
            avg_ms: s.avg_ms,
            p50_ms: s.p50_ms,
            p90_ms: s.p90_ms,
        }
    }
}
