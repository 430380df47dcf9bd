//! SLA outcomes over a period (`docs/ANALYTICS.md`, "SLAs"): per target, how many conversations
//! met it, breached it, are still running (active, at risk) or paused, and the % met, overall or
//! per channel, team, agent or week (and each week apart: [`report_per_week`]), and the targets
//! at risk now with their due times ([`at_risk`]). The same numbers as the `sla_weekly` view: a conversation
//! counts in the week (Monday, UTC) its first cycle of the target started, and an active target
//! whose due time has come by `now` is breached at its due time.
//!
//! Reads `sla` by its key prefix (the tenant).

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::{ReadResult, Sql};
use crate::sla::NONE;

/// What the groups are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaGroupBy {
    Channel,
    Team,
    Agent,
    /// The Monday (UTC) of the week the target's first cycle started.
    Week,
}

impl SlaGroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "channel" => Some(Self::Channel),
            "team" => Some(Self::Team),
            "agent" => Some(Self::Agent),
            "week" => Some(Self::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Team => "team",
            Self::Agent => "agent",
            Self::Week => "week",
        }
    }
}

/// The period, the grouping and the reader's clock.
#[derive(Debug, Clone)]
pub struct SlaQuery<'a> {
    pub tenant_id: &'a str,
    /// Epoch ms, `from` inclusive, `to` exclusive, on when the target's first cycle started.
    pub from: i64,
    pub to: i64,
    pub channel: Option<&'a str>,
    pub group_by: Option<SlaGroupBy>,
    /// Epoch ms: active targets due by then are breached.
    pub now: i64,
}

/// One group and target.
#[derive(Debug, Clone, PartialEq, Deserialize, Row)]
pub struct SlaGroup {
    /// The week (`YYYY-MM-DD`, a Monday) for [`report_per_week`]; `None` for [`report`].
    pub week: Option<String>,
    /// The channel, team, agent id or week (`YYYY-MM-DD`, a Monday); `None` for the overall
    /// group, a conversation without a team, or a target no agent's reply decided.
    pub key: Option<String>,
    /// `first_response`, `next_reply` or `resolution`.
    pub target: String,
    pub conversations: u64,
    pub met: u64,
    pub breached: u64,
    pub active: u64,
    pub paused: u64,
    /// Active and past the at-risk time, not yet due.
    pub at_risk: u64,
}

impl SlaGroup {
    /// `met / (met + breached)` in percent, one decimal, rounded half up (as `sla_weekly`
    /// computes it); `None` while nothing is decided.
    pub fn met_pct(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| (1000.0 * self.met as f64 / decided as f64 + 0.5).floor() / 10.0)
    }
}

/// The week (Monday, UTC) a target's first cycle started in.
const WEEK: &str =
    "toNullable(toString(toMonday(toDate(toDateTime(intDiv(started_at_ms, 1000), 'UTC'), 'UTC'))))";

/// One tenant's `sla` rows as judged at an instant: `now_status` (an active target due by then
/// is breached) and `now_at_risk` (active, past its at-risk time, not yet due). The one
/// definition every reader here uses; the `sla_outcomes` view says the same with ClickHouse's
/// clock. Binds the instant twice, then the tenant.
fn judged(columns: &str, tenant_id: &str, now: i64) -> Sql {
    let mut sql = Sql::new(&format!(
        "(SELECT {columns}, \
               toUInt8(status = 'active' AND due_at_ms IS NOT NULL AND assumeNotNull(due_at_ms) <= ?) AS overdue, \
               if(overdue = 1, 'breached', status) AS now_status, \
               toUInt8(overdue = 0 AND status = 'active' AND at_risk_at_ms IS NOT NULL \
                       AND assumeNotNull(at_risk_at_ms) <= ?) AS now_at_risk \
               FROM sla FINAL PREWHERE tenant_id = ?)"
    ));
    sql.int(now).int(now).text(tenant_id);
    sql
}

fn report_sql(q: &SlaQuery<'_>, per_week: bool) -> Sql {
    let key = match q.group_by {
        None => "CAST(NULL, 'Nullable(String)')",
        Some(SlaGroupBy::Channel) => "toNullable(channel)",
        Some(SlaGroupBy::Team) => "team",
        Some(SlaGroupBy::Agent) => "agent_id",
        Some(SlaGroupBy::Week) => WEEK,
    };
    let week = if per_week {
        WEEK
    } else {
        "CAST(NULL, 'Nullable(String)')"
    };
    let mut sql = Sql::new(&format!(
        "SELECT {week} AS week, {key} AS key, target, toUInt64(count()) AS conversations, \
         toUInt64(countIf(now_status = 'met')) AS met, \
         toUInt64(countIf(now_status = 'breached')) AS breached, \
         toUInt64(countIf(now_status = 'active')) AS active, \
         toUInt64(countIf(now_status = 'paused')) AS paused, \
         toUInt64(sum(now_at_risk)) AS at_risk \
         FROM "
    ));
    sql.append(&judged(
        "channel, team, agent_id, target, started_at_ms, status",
        q.tenant_id,
        q.now,
    ));
    sql.push(&format!(
        " WHERE status != '{NONE}' AND started_at_ms >= ? AND started_at_ms < ?"
    ))
    .int(q.from)
    .int(q.to);
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    sql.push(" GROUP BY week, key, target");
    sql
}

/// Named groups in key order (the `None` group last), each with its targets in
/// `first_response`, `next_reply`, `resolution` order; only targets some conversation has.
pub async fn report(client: &clickhouse::Client, q: &SlaQuery<'_>) -> ReadResult<Vec<SlaGroup>> {
    let mut groups: Vec<SlaGroup> = report_sql(q, false).query(client).fetch_all().await?;
    sort(&mut groups);
    Ok(groups)
}

/// [`report`] once more per week (of the target's first cycle, Monday, UTC): the same groups,
/// each week's apart, weeks in order.
pub async fn report_per_week(
    client: &clickhouse::Client,
    q: &SlaQuery<'_>,
) -> ReadResult<Vec<SlaGroup>> {
    let mut groups: Vec<SlaGroup> = report_sql(q, true).query(client).fetch_all().await?;
    sort(&mut groups);
    Ok(groups)
}

fn sort(groups: &mut [SlaGroup]) {
    let rank = |target: &str| {
        rapport_responsiveness::sla::Target::parse(target).map_or(usize::MAX, |t| t as usize)
    };
    groups.sort_by(|a, b| {
        (&a.week, a.key.is_none(), &a.key, rank(&a.target)).cmp(&(
            &b.week,
            b.key.is_none(),
            &b.key,
            rank(&b.target),
        ))
    });
}

/// A target at risk now: active, past its at-risk time, not yet due.
#[derive(Debug, Clone, PartialEq, Deserialize, Row)]
pub struct AtRisk {
    pub conversation_id: String,
    pub target: String,
    pub policy: String,
    pub channel: String,
    pub team: Option<String>,
    pub started_at_ms: i64,
    pub at_risk_at_ms: i64,
    /// When it breaches unless the clock stops first; `due_at_ms - now` is the time left.
    pub due_at_ms: i64,
}

/// Where a page of [`at_risk`] ends: its last target, in the list's order (due time, then
/// conversation id, then target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRiskPosition {
    #[serde(rename = "d")]
    pub due_at_ms: i64,
    #[serde(rename = "c")]
    pub conversation_id: String,
    #[serde(rename = "g")]
    pub target: String,
}

impl From<&AtRisk> for AtRiskPosition {
    fn from(row: &AtRisk) -> Self {
        Self {
            due_at_ms: row.due_at_ms,
            conversation_id: row.conversation_id.clone(),
            target: row.target.clone(),
        }
    }
}

/// Which targets at risk [`at_risk`] lists: one tenant's, judged at `now`, on a channel and of
/// a team when given, after `after` (the previous page's last), at most `limit`.
#[derive(Debug, Clone)]
pub struct AtRiskQuery<'a> {
    pub tenant_id: &'a str,
    pub channel: Option<&'a str>,
    pub team: Option<&'a str>,
    /// Epoch ms: targets past their at-risk time and not yet due then.
    pub now: i64,
    pub after: Option<&'a AtRiskPosition>,
    pub limit: u32,
}

fn at_risk_sql(q: &AtRiskQuery<'_>) -> Sql {
    // The inner columns are renamed so the outer names are new ones (18.16 refuses an alias
    // that shadows the column it is made of).
    let mut sql = Sql::new(
        "SELECT conversation_id, target, policy, channel, team, started_at_ms, \
         assumeNotNull(risk_at) AS at_risk_at_ms, assumeNotNull(due_at) AS due_at_ms FROM ",
    );
    sql.append(&judged(
        "conversation_id, target, policy, channel, team, started_at_ms, status, \
         at_risk_at_ms AS risk_at, due_at_ms AS due_at",
        q.tenant_id,
        q.now,
    ));
    sql.push(" WHERE now_at_risk = 1");
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    if let Some(team) = q.team {
        sql.push(" AND team = ?").text(team);
    }
    if let Some(after) = q.after {
        // The order's keyset, spelt out (no tuple comparison on 18.16's Nullable columns).
        sql.push(
            " AND (assumeNotNull(due_at) > ? OR (assumeNotNull(due_at) = ? \
             AND (conversation_id > ? OR (conversation_id = ? AND target > ?))))",
        )
        .int(after.due_at_ms)
        .int(after.due_at_ms)
        .text(&after.conversation_id)
        .text(&after.conversation_id)
        .text(&after.target);
    }
    sql.push(&format!(
        " ORDER BY due_at_ms, conversation_id, target LIMIT {}",
        q.limit
    ));
    sql
}

/// The targets at risk at `q.now` (on `q.channel`, of `q.team`), the soonest due first, at most
/// `q.limit`, after `q.after`: the one list the responsiveness page and `GET /v1/sla/at-risk`
/// show.
pub async fn at_risk(client: &clickhouse::Client, q: &AtRiskQuery<'_>) -> ReadResult<Vec<AtRisk>> {
    Ok(at_risk_sql(q).query(client).fetch_all().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_accepts_exactly_the_documented_values() {
        for name in ["channel", "team", "agent", "week"] {
            assert_eq!(SlaGroupBy::parse(name).unwrap().as_str(), name);
        }
        assert!(SlaGroupBy::parse("day").is_none());
    }

    #[test]
    fn met_pct_rounds_half_up_to_one_decimal_and_is_none_until_decided() {
        let group = |met, breached| SlaGroup {
            week: None,
            key: None,
            target: "first_response".into(),
            conversations: met + breached,
            met,
            breached,
            active: 0,
            paused: 0,
            at_risk: 0,
        };
        assert_eq!(group(0, 0).met_pct(), None);
        assert_eq!(group(2, 1).met_pct(), Some(66.7));
        assert_eq!(group(1, 2).met_pct(), Some(33.3));
        assert_eq!(group(1, 7).met_pct(), Some(12.5));
        assert_eq!(group(3, 0).met_pct(), Some(100.0));
    }

    #[test]
    fn the_tenant_is_a_prewhere_on_the_sorting_key() {
        let q = SlaQuery {
            tenant_id: "acme",
            from: 0,
            to: 1,
            channel: Some("chat"),
            group_by: Some(SlaGroupBy::Week),
            now: 5,
        };
        let after = AtRiskPosition {
            due_at_ms: 9,
            conversation_id: "c".into(),
            target: "resolution".into(),
        };
        let at_risk = AtRiskQuery {
            tenant_id: "acme",
            channel: Some("chat"),
            team: Some("support"),
            now: 5,
            after: Some(&after),
            limit: 5,
        };
        for sql in [
            report_sql(&q, false),
            report_sql(&q, true),
            at_risk_sql(&at_risk),
        ] {
            assert!(
                sql.as_str()
                    .contains("FROM sla FINAL PREWHERE tenant_id = ?)"),
                "{}",
                sql.as_str()
            );
        }
        assert!(
            report_sql(&q, true)
                .as_str()
                .ends_with("AND channel = ? GROUP BY week, key, target")
        );
    }
}
