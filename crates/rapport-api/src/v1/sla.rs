//! `GET /v1/metrics/sla`: per SLA target, conversations that met it, breached it, are active (at
//! risk) or paused, and the % met, overall or per channel, team, agent or week, counted in the
//! week the target started (`rapport_clickhouse::read::sla`, the same report `rapport sla`
//! prints and the same numbers as the `sla_weekly` view). Definitions: docs/ANALYTICS.md.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use rapport_clickhouse::read::sla::{self as read, SlaGroupBy, SlaQuery, report};
use serde::Serialize;

use super::responsiveness::DEFAULT_WINDOW_MS;
use super::{now_ms, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

#[derive(Debug, Serialize)]
pub struct Report {
    from: String,
    to: String,
    /// The instant active targets were judged at: those due by then count as breached.
    as_of: String,
    channel: Option<String>,
    group_by: Option<&'static str>,
    groups: Vec<Group>,
}

#[derive(Debug, Serialize)]
pub struct Group {
    /// The channel, team, agent id or week (its Monday, `YYYY-MM-DD`); `null` for the overall
    /// group, a conversation without a team, or a target no agent's reply decided.
    key: Option<String>,
    target: String,
    conversations: u64,
    met: u64,
    breached: u64,
    active: u64,
    paused: u64,
    at_risk: u64,
    /// `met / (met + breached)` in percent, one decimal; `null` while nothing is decided.
    met_pct: Option<f64>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Report>> {
    let params = Params::parse(query.as_deref(), &["from", "to", "channel", "group_by"])?;
    let now = now_ms();
    let (from, to) = params.window()?;
    let to = to.unwrap_or_else(|| now.saturating_add(1));
    let from = from.unwrap_or(to.saturating_sub(DEFAULT_WINDOW_MS));
    if from >= to {
        return Err(ApiError::bad_parameter("from must be before to"));
    }
    let channel = params.channel()?;
    let group_by = params
        .get("group_by")
        .map(|text| {
            SlaGroupBy::parse(text).ok_or_else(|| {
                ApiError::bad_parameter(format!(
                    "group_by must be channel, team, agent or week (got {text:?})"
                ))
            })
        })
        .transpose()?;
    let groups = report(
        &state.client,
        &SlaQuery {
            tenant_id: &caller.tenant_id,
            from,
            to,
            channel: channel.as_deref(),
            group_by,
            now,
        },
    )
    .await?;
    Ok(Json(Report {
        from: time(from),
        to: time(to),
        as_of: time(now),
        channel,
        group_by: group_by.map(SlaGroupBy::as_str),
        groups: groups.into_iter().map(Group::from).collect(),
    }))
}

impl From<read::SlaGroup> for Group {
    fn from(g: read::SlaGroup) -> Self {
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
