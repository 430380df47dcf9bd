//! SLA outcomes over a period (`docs/ANALYTICS.md`, "SLAs"): per target, how many conversations
//! met it, breached it, are still running (active, at risk) or paused, and the % met, overall or
//! per channel, team, agent or week. The same numbers as the `sla_weekly` view: a conversation
//! counts in the week (Monday, UTC) its first cycle of the target started, and an active target
//! whose due time has come by `now` is breached at its due time.
//!
//! Reads `sla` by its key prefix (the tenant).

use clickhouse::Row;
use serde::Deserialize;

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

fn report_sql(q: &SlaQuery<'_>) -> Sql {
    let key = match q.group_by {
        None => "CAST(NULL, 'Nullable(String)')",
        Some(SlaGroupBy::Channel) => "toNullable(channel)",
        Some(SlaGroupBy::Team) => "team",
        Some(SlaGroupBy::Agent) => "agent_id",
        Some(SlaGroupBy::Week) => {
            "toNullable(toString(toMonday(toDate(toDateTime(intDiv(started_at_ms, 1000), 'UTC'), 'UTC'))))"
        }
    };
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS key, target, toUInt64(count()) AS conversations, \
         toUInt64(countIf(now_status = 'met')) AS met, \
         toUInt64(countIf(now_status = 'breached')) AS breached, \
         toUInt64(countIf(now_status = 'active')) AS active, \
         toUInt64(countIf(now_status = 'paused')) AS paused, \
         toUInt64(sum(now_at_risk)) AS at_risk \
         FROM (SELECT channel, team, agent_id, target, started_at_ms, status, \
               toUInt8(status = 'active' AND due_at_ms IS NOT NULL AND assumeNotNull(due_at_ms) <= ?) AS overdue, \
               if(overdue = 1, 'breached', status) AS now_status, \
               toUInt8(overdue = 0 AND status = 'active' AND at_risk_at_ms IS NOT NULL \
                       AND assumeNotNull(at_risk_at_ms) <= ?) AS now_at_risk \
               FROM sla FINAL PREWHERE tenant_id = ?) \
         WHERE status != '{NONE}' AND started_at_ms >= ? AND started_at_ms < ?"
    ));
    sql.int(q.now)
        .int(q.now)
        .text(q.tenant_id)
        .int(q.from)
        .int(q.to);
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    sql.push(" GROUP BY key, target");
    sql
}

/// Named groups in key order (the `None` group last), each with its targets in
/// `first_response`, `next_reply`, `resolution` order; only targets some conversation has.
pub async fn report(client: &clickhouse::Client, q: &SlaQuery<'_>) -> ReadResult<Vec<SlaGroup>> {
    let mut groups: Vec<SlaGroup> = report_sql(q).query(client).fetch_all().await?;
    let rank = |target: &str| {
        rapport_responsiveness::sla::Target::parse(target).map_or(usize::MAX, |t| t as usize)
    };
    groups.sort_by(|a, b| {
        (a.key.is_none(), &a.key, rank(&a.target)).cmp(&(b.key.is_none(), &b.key, rank(&b.target)))
    });
    Ok(groups)
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
        let sql = report_sql(&q);
        assert!(
            sql.as_str()
                .contains("FROM sla FINAL PREWHERE tenant_id = ?)")
        );
        assert!(
            sql.as_str()
                .ends_with("AND channel = ? GROUP BY key, target")
        );
    }
}
