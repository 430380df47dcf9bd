//! How fast the tenant answers: first response time, reply latency and resolution time (median
//! and 90th percentile) over a period, per channel, team or agent, drawn as charts (one point
//! per day, or per week for periods over two months) with the same numbers in a table; the SLA
//! outcomes (% of targets met per team and week, breaches, and the time left on the targets at
//! risk now, from `rapport_clickhouse::read::sla`, which `/v1/metrics/sla` and `rapport sla`
//! read too); and the unanswered queue, longest wait first.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rapport_clickhouse::read;
use rapport_clickhouse::read::responsiveness::{Bucket, Group, GroupBy, ReportQuery, Stats};
use rapport_clickhouse::read::sla::{self as sla_read, SlaGroup, SlaGroupBy, SlaQuery};
use rapport_model::Channel;

use super::chart::{self, Chart};
use super::page::{Layout, PageResult, render};
use super::{UiState, view};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;
use crate::v1::now_ms;

const DAY: i64 = 86_400_000;
/// Groups drawn in a chart (by volume); the table lists all of them.
const MAX_LINES: usize = 6;
/// Entries of the unanswered queue shown.
const QUEUE: u32 = 25;

/// Targets at risk listed.
const AT_RISK: u32 = 25;

/// The SLA part of the page: `None` where no SLA outcome exists in the period and none is at
/// risk (no policy applies, or none was configured).
#[derive(Debug)]
struct SlaSection {
    chart: Chart,
    weeks: Vec<SlaWeekRow>,
    breached: String,
    met_pct: String,
    at_risk: Vec<AtRiskView>,
}

/// One team's targets in one week, every target together.
#[derive(Debug)]
struct SlaWeekRow {
    week: String,
    team: String,
    met: String,
    breached: String,
    running: String,
    met_pct: String,
}

#[derive(Debug)]
struct AtRiskView {
    left: String,
    due: String,
    due_iso: String,
    conversation_id: String,
    conversation_href: String,
    target: String,
    channel: String,
    team: Option<String>,
}

/// The groups' counts added up, so % met comes from the one definition ([`SlaGroup::met_pct`]).
fn combined<'a>(groups: impl Iterator<Item = &'a SlaGroup>) -> SlaGroup {
    let mut sum = SlaGroup {
        week: None,
        key: None,
        target: String::new(),
        conversations: 0,
        met: 0,
        breached: 0,
        active: 0,
        paused: 0,
        at_risk: 0,
    };
    for g in groups {
        sum.week.clone_from(&g.week);
        sum.key.clone_from(&g.key);
        sum.conversations += g.conversations;
        sum.met += g.met;
        sum.breached += g.breached;
        sum.active += g.active;
        sum.paused += g.paused;
        sum.at_risk += g.at_risk;
    }
    sum
}

fn pct(tenths: Option<f64>) -> String {
    tenths.map_or_else(|| "–".to_owned(), |p| format!("{p:.1} %"))
}

fn team_label(team: Option<&str>) -> String {
    team.map_or_else(|| "(no team)".to_owned(), str::to_owned)
}

/// % met per team and week as a chart and a table, the period's breaches, and the targets at
/// risk now, soonest due first.
async fn sla_section(
    client: &clickhouse::Client,
    q: &SlaQuery<'_>,
    period_label: &str,
) -> read::ReadResult<Option<SlaSection>> {
    let at_risk_query = sla_read::AtRiskQuery {
        tenant_id: q.tenant_id,
        channel: q.channel,
        team: None,
        now: q.now,
        after: None,
        limit: AT_RISK,
    };
    let (weekly, at_risk) = tokio::try_join!(
        sla_read::report_per_week(client, q),
        sla_read::at_risk(client, &at_risk_query),
    )?;
    if weekly.is_empty() && at_risk.is_empty() {
        return Ok(None);
    }
    // (week, team) → its targets together.
    let mut cells: BTreeMap<(String, Option<String>), Vec<&SlaGroup>> = BTreeMap::new();
    for g in &weekly {
        cells
            .entry((g.week.clone().unwrap_or_default(), g.key.clone()))
            .or_default()
            .push(g);
    }
    let cells: Vec<((String, Option<String>), SlaGroup)> = cells
        .into_iter()
        .map(|(k, groups)| (k, combined(groups.into_iter())))
        .collect();
    // Lines: the teams with the most decided targets, each with its own colour.
    let mut decided: BTreeMap<Option<String>, u64> = BTreeMap::new();
    for ((_, team), g) in &cells {
        *decided.entry(team.clone()).or_default() += g.met + g.breached;
    }
    let mut ranked: Vec<(Option<String>, u64)> = decided.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Whole weeks, Monday to Monday, so the last week's point sits inside the plot.
    let week_ms = 7 * DAY;
    let axis_from = q.from - (q.from.div_euclid(DAY) - 4).rem_euclid(7) * DAY;
    let axis_to = axis_from + (q.to - axis_from + week_ms - 1).div_euclid(week_ms) * week_ms;
    let series: Vec<chart::Series> = ranked
        .iter()
        .take(MAX_LINES)
        .enumerate()
        .map(|(color, (team, _))| {
            let label = team_label(team.as_deref());
            let points = cells
                .iter()
                .filter(|((_, t), _)| t == team)
                .filter_map(|((week, _), g)| {
                    let pct = g.met_pct()?;
                    let start = day_start(week)?;
                    Some(chart::Point {
                        x: start + week_ms / 2,
                        y: (pct * 10.0).round() as i64,
                        title: format!(
                            "{label}, week of {}: {pct:.1} % met ({} met, {} breached)",
                            view::date(start),
                            view::count(g.met),
                            view::count(g.breached)
                        ),
                    })
                })
                .collect();
            chart::Series {
                group: label.clone(),
                label,
                color,
                dashed: false,
                points,
            }
        })
        .collect();
    let mut chart = chart::chart_on(
        chart::Scale::Percent,
        "sla",
        "SLA targets met",
        &format!(
            "The share of SLA targets met per team and week (of the target's start), {period_label}, every target together."
        ),
        (axis_from, axis_to),
        &x_ticks(axis_from, axis_to, week_ms),
        &series,
    );
    chart.styles = "% of the targets decided (met or breached) that were met".to_owned();
    let total = combined(weekly.iter());
    let now = q.now;
    Ok(Some(SlaSection {
        chart,
        breached: view::count(total.breached),
        met_pct: pct(total.met_pct()),
        weeks: cells
            .iter()
            .map(|((week, team), g)| SlaWeekRow {
                week: day_start(week).map_or_else(|| week.clone(), view::date),
                team: team_label(team.as_deref()),
                met: view::count(g.met),
                breached: view::count(g.breached),
                running: view::count(g.active + g.paused),
                met_pct: pct(g.met_pct()),
            })
            .collect(),
        at_risk: at_risk
            .into_iter()
            .map(|r| AtRiskView {
                left: view::duration((r.due_at_ms - now).max(0)),
                due: view::time(r.due_at_ms),
                due_iso: view::machine_time(r.due_at_ms),
                conversation_href: view::conversation_href(&r.conversation_id),
                conversation_id: r.conversation_id,
                target: r.target.replace('_', " "),
                channel: r.channel,
                team: r.team,
            })
            .collect(),
    }))
}

/// One waiting conversation as the pages list it.
#[derive(Debug)]
pub struct WaitingView {
    pub waited: String,
    pub since: String,
    pub since_iso: String,
    pub customer: String,
    pub customer_href: Option<String>,
    pub conversation_id: String,
    pub conversation_href: String,
    pub channel: String,
    pub team: Option<String>,
    pub text: String,
}

/// The `limit` longest waits of the tenant (on `channel`).
pub async fn waiting(
    client: &clickhouse::Client,
    tenant: &str,
    channel: Option<&str>,
    limit: u32,
) -> read::ReadResult<Vec<WaitingView>> {
    let now = now_ms();
    let rows = read::unanswered::page(
        client,
        &read::unanswered::UnansweredQuery {
            tenant_id: tenant,
            channel,
            since_at_most: None,
            limit,
        },
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|w| {
            let since = w.state.waiting_since_ms.unwrap_or(now);
            let who = if w.state.primary_identity.is_empty() {
                "unknown customer".to_owned()
            } else {
                w.state.primary_identity.clone()
            };
            WaitingView {
                waited: view::duration(now - since),
                since: view::time(since),
                since_iso: view::machine_time(since),
                customer_href: w.customer_id.as_deref().map(view::customer_href),
                customer: who,
                conversation_href: view::conversation_href(&w.state.conversation_id),
                conversation_id: w.state.conversation_id,
                channel: w.state.channel,
                team: w.state.team,
                text: view::preview(&w.state.last_customer_text, 160),
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "responsiveness.html")]
struct ResponsivenessPage {
    layout: Layout,
    period_label: String,
    from_value: String,
    to_value: String,
    periods: Vec<Choice>,
    groupings: Vec<Choice>,
    channels: Vec<Choice>,
    group_noun: &'static str,
    charts: Vec<Chart>,
    /// Why a chart is missing (resolution time per agent), shown in its place.
    notes: Vec<String>,
    rows: Vec<Row>,
    /// Resolution columns are shown (not per agent).
    resolved: bool,
    lines_note: Option<String>,
    waiting: Vec<WaitingView>,
    sla: Option<SlaSection>,
    empty: bool,
    store_empty: bool,
    all_channels: bool,
}

#[derive(Debug)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug)]
struct Row {
    label: String,
    frt: Cells,
    reply: Cells,
    resolution: Cells,
}

#[derive(Debug)]
struct Cells {
    count: String,
    p50: String,
    p90: String,
}

impl From<&Stats> for Cells {
    fn from(s: &Stats) -> Self {
        Self {
            count: view::count(s.count),
            p50: view::maybe_duration(s.p50_ms),
            p90: view::maybe_duration(s.p90_ms),
        }
    }
}

fn group_label(group_by: GroupBy, g: &Group) -> String {
    match (&g.key, group_by) {
        (Some(key), GroupBy::Agent) => match &g.agent_name {
            Some(name) if !name.trim().is_empty() && name != key => format!("{name} ({key})"),
            _ => key.clone(),
        },
        (Some(key), _) => key.clone(),
        (None, GroupBy::Team) => "(no team)".to_owned(),
        (None, GroupBy::Agent) => "(no agent id)".to_owned(),
        (None, _) => "(none)".to_owned(),
    }
}

/// A `YYYY-MM-DD` date's start, epoch ms UTC.
fn day_start(text: &str) -> Option<i64> {
    let date: Date = text.parse().ok()?;
    date.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

fn day_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

/// The period: `period=7d|30d|90d|365d` ending today, or `from` and `to` as inclusive
/// `YYYY-MM-DD` days; `[from, to)` in epoch ms and the period's name.
fn period(params: &Params) -> Result<(i64, i64, String), ApiError> {
    let bad_day = |name: &str, text: &str| {
        ApiError::bad_parameter(format!(
            "{name} must be a day such as 2024-06-03 (got {:?})",
            view::preview(text, 40)
        ))
    };
    let today = now_ms().div_euclid(DAY) * DAY;
    let to = match params.get("to") {
        Some(text) => day_start(text).ok_or_else(|| bad_day("to", text))? + DAY,
        None => today + DAY,
    };
    let days = match params.get("period") {
        None => 30,
        Some(text) => match text {
            "7d" => 7,
            "30d" => 30,
            "90d" => 90,
            "365d" => 365,
            _ => {
                return Err(ApiError::bad_parameter(format!(
                    "period must be 7d, 30d, 90d or 365d (got {:?})",
                    view::preview(text, 20)
                )));
            }
        },
    };
    let from = match params.get("from") {
        Some(text) => day_start(text).ok_or_else(|| bad_day("from", text))?,
        None => to - days * DAY,
    };
    if from >= to {
        return Err(ApiError::bad_parameter("from must be on or before to"));
    }
    if to - from > 3 * 366 * DAY {
        return Err(ApiError::bad_parameter(
            "a period is at most three years long",
        ));
    }
    let label = format!("{} – {}", view::date(from), view::date(to - DAY));
    Ok((from, to, label))
}

/// The time axis' labels: every bucket when few, else about eight evenly spaced.
fn x_ticks(from: i64, to: i64, step: i64) -> Vec<(i64, String)> {
    let starts: Vec<i64> = (0..)
        .map(|i| from + i * step)
        .take_while(|t| *t < to)
        .collect();
    let every = starts.len().div_ceil(8).max(1);
    starts
        .iter()
        .step_by(every)
        .map(|t| {
            (
                *t + step / 2,
                view::date(*t)
                    .rsplit_once(' ')
                    .map_or_else(String::new, |(d, _)| d.to_owned()),
            )
        })
        .collect()
}

/// The query without its empty fields: the period form sends every field, an empty date or
/// "every channel" as `name=`, which means the field is not set.
fn filled(query: Option<&str>) -> Option<String> {
    let query = query?;
    Some(
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(_, v)| !v.is_empty()))
            .finish(),
    )
}

/// `GET /ui/responsiveness?period|from&to&group_by&channel`.
pub async fn show(
    State(state): State<UiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = Params::parse(
        filled(query.as_deref()).as_deref(),
        &["period", "from", "to", "group_by", "channel"],
    )?;
    let (from, to, period_label) = period(&params)?;
    let group_by = match params.get("group_by") {
        None => GroupBy::Channel,
        Some(text) => match GroupBy::parse(text) {
            Some(g) if g != GroupBy::Day => g,
            _ => {
                return Err(ApiError::bad_parameter(format!(
                    "group_by must be channel, team or agent (got {:?})",
                    view::preview(text, 20)
                ))
                .into());
            }
        },
    };
    let channel = params.channel()?;
    let tenant = caller.tenant_id.as_str();
    let client = &state.app.client;
    let q = ReportQuery {
        tenant_id: tenant,
        from,
        to,
        channel: channel.as_deref(),
        group_by: Some(group_by),
        clock: read::responsiveness::Clock::Wall,
    };
    let sla_query = SlaQuery {
        tenant_id: tenant,
        from,
        to,
        channel: channel.as_deref(),
        group_by: Some(SlaGroupBy::Team),
        now: now_ms(),
    };
    let bucket = Bucket::for_span(from, to);
    let (totals, points, waiting, any, sla) = tokio::try_join!(
        read::responsiveness::report(client, &q),
        read::responsiveness::series(client, &q, bucket),
        waiting(client, tenant, channel.as_deref(), QUEUE),
        read::conversations::any(client, tenant),
        sla_section(client, &sla_query, &period_label),
    )?;

    // The charts' groups: the busiest first, each with its own colour in every chart.
    let mut ranked: Vec<&Group> = totals.iter().collect();
    ranked.sort_by(|a, b| {
        (b.reply_latency.count + b.first_resolution.as_ref().map_or(0, |s| s.count))
            .cmp(&(a.reply_latency.count + a.first_resolution.as_ref().map_or(0, |s| s.count)))
    });
    let drawn: BTreeMap<Option<String>, (usize, String)> = ranked
        .iter()
        .take(MAX_LINES)
        .enumerate()
        .map(|(i, g)| (g.key.clone(), (i, group_label(group_by, g))))
        .collect();
    let lines_note = (totals.len() > MAX_LINES).then(|| {
        format!(
            "The charts draw the {MAX_LINES} busiest of {} {}s; the table lists every one.",
            totals.len(),
            group_by.as_str()
        )
    });
    let step = match bucket {
        Bucket::Day => DAY,
        Bucket::Week => 7 * DAY,
    };
    // Weekly buckets start on Monday: the axis starts at the Monday on or before `from`.
    let axis_from = match bucket {
        Bucket::Day => from,
        // 1970-01-01 was a Thursday; Monday 1970-01-05 is day 4.
        Bucket::Week => from - (from.div_euclid(DAY) - 4).rem_euclid(7) * DAY,
    };
    let ticks = x_ticks(axis_from, to, step);
    let bucket_noun = bucket.as_str();
    let make = |id: &str, title: &str, what: &str, pick: &dyn Fn(&Group) -> Option<Stats>| {
        let mut series = Vec::new();
        for (key, (color, label)) in &drawn {
            for (dashed, name, value) in [
                (
                    false,
                    "median",
                    (|s: &Stats| s.p50_ms) as fn(&Stats) -> Option<i64>,
                ),
                (true, "p90", |s: &Stats| s.p90_ms),
            ] {
                let points = points
                    .iter()
                    .filter(|p| &p.group.key == key)
                    .filter_map(|p| {
                        let stats = pick(&p.group)?;
                        let y = value(&stats).filter(|_| stats.count > 0)?;
                        let start = day_start(&p.bucket)?;
                        Some(chart::Point {
                            x: start + step / 2,
                            y,
                            title: format!(
                                "{label}, {bucket_noun} of {}: {name} {} over {} {what}",
                                view::date(start),
                                view::duration(y),
                                view::count(stats.count)
                            ),
                        })
                    })
                    .collect();
                series.push(chart::Series {
                    group: label.clone(),
                    label: format!("{label} {name}"),
                    color: *color,
                    dashed,
                    points,
                });
            }
        }
        chart::line_chart(
            id,
            title,
            &format!(
                "{title} per {} and {bucket_noun}, {period_label}: the median as a solid line, the 90th percentile dashed.",
                group_by.as_str()
            ),
            (axis_from, to),
            &ticks,
            &series,
        )
    };
    let mut charts = vec![
        make("frt", "First response time", "first responses", &|g| {
            Some(g.first_response.clone())
        }),
        make("reply", "Reply latency", "replies", &|g| {
            Some(g.reply_latency.clone())
        }),
    ];
    let resolved = group_by != GroupBy::Agent;
    let mut notes = Vec::new();
    if resolved {
        charts.push(make(
            "resolution",
            "Resolution time",
            "first resolutions",
            &|g| g.first_resolution.clone(),
        ));
    } else {
        notes.push(
            "Resolution time has no chart per agent: a resolution is not attributed to an agent. Group by team or channel to see it."
                .to_owned(),
        );
    }
    let empty = charts.iter().all(|c| c.point_count == 0);
    let rows = ranked
        .iter()
        .map(|g| Row {
            label: group_label(group_by, g),
            frt: Cells::from(&g.first_response),
            reply: Cells::from(&g.reply_latency),
            resolution: g
                .first_resolution
                .as_ref()
                .map_or_else(|| Cells::from(&Stats::default()), Cells::from),
        })
        .collect();
    let choice = |value: &str, label: &str, selected: bool| Choice {
        value: value.to_owned(),
        label: label.to_owned(),
        selected,
    };
    let custom = params.get("from").is_some() || params.get("to").is_some();
    let period_param = params.get("period").unwrap_or("30d");
    let page = ResponsivenessPage {
        layout: Layout::new("Responsiveness", Some(tenant), "responsiveness"),
        periods: [
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
            ("90d", "Last 90 days"),
            ("365d", "Last year"),
        ]
        .iter()
        .map(|(v, l)| choice(v, l, !custom && period_param == *v))
        // With dates chosen, the select says so (its empty value leaves the dates in charge).
        .chain(custom.then(|| choice("", "the days chosen", true)))
        .collect(),
        groupings: [GroupBy::Channel, GroupBy::Team, GroupBy::Agent]
            .iter()
            .map(|g| choice(g.as_str(), &format!("per {}", g.as_str()), *g == group_by))
            .collect(),
        channels: std::iter::once(choice("", "every channel", channel.is_none()))
            .chain(Channel::ALL.iter().map(|c| {
                choice(
                    c.as_str(),
                    c.as_str(),
                    channel.as_deref() == Some(c.as_str()),
                )
            }))
            .collect(),
        from_value: if custom {
            day_text(from)
        } else {
            String::new()
        },
        to_value: if custom {
            day_text(to - DAY)
        } else {
            String::new()
        },
        group_noun: group_by.as_str(),
        period_label,
        charts,
        notes,
        rows,
        resolved,
        lines_note,
        waiting,
        sla,
        empty,
        store_empty: !any,
        all_channels: channel.is_none(),
    };
    Ok(render(&page, StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Params {
        Params::parse(Some(raw), &["period", "from", "to", "group_by", "channel"]).unwrap()
    }

    #[test]
    fn periods_are_whole_utc_days_with_an_inclusive_end() {
        let (from, to, label) = period(&params("from=2024-06-01&to=2024-06-07")).unwrap();
        assert_eq!(from, 1_717_200_000_000);
        assert_eq!(to, 1_717_200_000_000 + 7 * DAY);
        assert_eq!(label, "1 Jun 2024 – 7 Jun 2024");
        let (from, to, _) = period(&params("period=7d&to=2024-06-07")).unwrap();
        assert_eq!(to - from, 7 * DAY);
        assert!(period(&params("period=2w")).is_err());
        assert!(period(&params("from=2024-06-08&to=2024-06-07")).is_err());
        assert!(period(&params("from=yesterday")).is_err());
    }

    #[test]
    fn the_forms_empty_fields_are_unset() {
        let query = filled(Some("period=30d&from=&to=&group_by=team&channel=")).unwrap();
        assert_eq!(query, "period=30d&group_by=team");
        let p = params(&query);
        assert!(period(&p).is_ok() && p.channel().unwrap().is_none());
        assert_eq!(filled(None), None);
    }

    #[test]
    fn the_time_axis_labels_at_most_eight_buckets() {
        let ticks = x_ticks(0, 7 * DAY, DAY);
        assert_eq!(ticks.len(), 7);
        assert_eq!(ticks[0], (DAY / 2, "1 Jan".to_owned()));
        assert_eq!(x_ticks(0, 30 * DAY, DAY).len(), 8);
    }
}
