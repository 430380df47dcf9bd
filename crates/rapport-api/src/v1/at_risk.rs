//! `GET /v1/sla/at-risk`: the caller's SLA targets at risk now (active, past their at-risk time,
//! not yet due), the soonest due first, with the time left, a page at a time. The list the
//! responsiveness page shows, from the same read model (`rapport_clickhouse::read::sla::at_risk`).

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use rapport_clickhouse::read::sla::{self as read, AtRiskPosition, AtRiskQuery};
use serde::Serialize;

use super::{now_ms, time};
use crate::AppState;
use crate::auth::Caller;
use crate::cursor::AtRiskCursor;
use crate::error::ApiResult;
use crate::params::Params;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Serialize)]
pub struct AtRiskPage {
    /// The instant the targets were judged at; `left_ms` counts from it.
    as_of: String,
    channel: Option<String>,
    team: Option<String>,
    targets: Vec<Target>,
    /// `null` on the last page.
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Target {
    conversation_id: String,
    /// `first_response`, `next_reply` or `resolution`.
    target: String,
    policy: String,
    channel: String,
    team: Option<String>,
    /// When the target's current cycle started.
    started_at: String,
    at_risk_at: String,
    /// When it breaches unless the clock stops first.
    due_at: String,
    due_at_ms: i64,
    /// `due_at - as_of` in milliseconds.
    left_ms: i64,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<AtRiskPage>> {
    let params = Params::parse(query.as_deref(), &["channel", "team", "limit", "cursor"])?;
    let channel = params.channel()?;
    let team = params.get("team");
    let limit = params.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let tenant = caller.tenant_id.as_str();
    let cursor = params
        .get("cursor")
        .map(AtRiskCursor::decode)
        .transpose()?
        .map(|c| c.check(tenant, channel.as_deref(), team))
        .transpose()?;
    let now = now_ms();
    // One more than asked says whether another page follows.
    let mut rows = read::at_risk(
        &state.client,
        &AtRiskQuery {
            tenant_id: tenant,
            channel: channel.as_deref(),
            team,
            now,
            after: cursor.as_ref().map(|c| &c.after),
            limit: limit + 1,
        },
    )
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = rows.last().filter(|_| more).map(|last| {
        AtRiskCursor::new(tenant, channel.as_deref(), team, AtRiskPosition::from(last)).encode()
    });
    Ok(Json(AtRiskPage {
        as_of: time(now),
        team: team.map(str::to_owned),
        channel,
        targets: rows
            .into_iter()
            .map(|r| Target {
                started_at: time(r.started_at_ms),
                at_risk_at: time(r.at_risk_at_ms),
                due_at: time(r.due_at_ms),
                due_at_ms: r.due_at_ms,
                left_ms: r.due_at_ms.saturating_sub(now).max(0),
                conversation_id: r.conversation_id,
                target: r.target,
                policy: r.policy,
                channel: r.channel,
                team: r.team,
            })
            .collect(),
        next_cursor,
    }))
}
