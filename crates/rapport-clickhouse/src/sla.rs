//! The stored SLA outcome of each conversation and target (`sla`, `007_business_time_sla.sql`):
//! one row per target of every conversation while SLA policies are configured, written with the
//! rest of the conversation's state. A target that does not apply has status `none`, so a row
//! left by an earlier policy is overwritten rather than left behind.

use clickhouse::Row;
use rapport_responsiveness::Derived;
use rapport_responsiveness::sla::{Status, Target};
use serde::{Deserialize, Serialize};

/// Status of a target that does not apply to the conversation (no policy, not in the policy,
/// or no cycle yet).
pub const NONE: &str = "none";

/// One row of `sla`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct SlaRow {
    pub tenant_id: String,
    pub conversation_id: String,
    /// `first_response`, `next_reply`, `resolution`.
    pub target: String,
    pub policy: String,
    /// The calendar its clocks ran on.
    pub calendar: String,
    pub channel: String,
    pub team: Option<String>,
    /// The agent whose reply decided it (the first breached cycle's, else the last cycle's).
    pub agent_id: Option<String>,
    /// The target in business ms.
    pub target_ms: i64,
    /// `met`, `breached`, `active`, `paused` or `none`, from the events only: an `active` row
    /// whose `due_at_ms` has passed is breached for every reader (`sla_outcomes`).
    pub status: String,
    pub cycles: u32,
    pub breached_cycles: u32,
    pub started_at_ms: i64,
    pub due_at_ms: Option<i64>,
    /// When `at_risk` applies: the due time minus the policy's lead time, in business time.
    pub at_risk_at_ms: Option<i64>,
    pub breached_at_ms: Option<i64>,
    pub stopped_at_ms: Option<i64>,
    /// Business ms left while paused.
    pub remaining_ms: Option<i64>,
    pub version: i64,
}

/// Every column of `sla`, in order, for SELECTs.
pub const SLA_COLUMNS: &str = "tenant_id, conversation_id, target, policy, calendar, channel, \
    team, agent_id, target_ms, status, cycles, breached_cycles, started_at_ms, due_at_ms, \
    at_risk_at_ms, breached_at_ms, stopped_at_ms, remaining_ms, version";

impl SlaRow {
    /// One row per target, in [`Target::ALL`] order.
    pub fn of(tenant_id: &str, conversation_id: &str, d: &Derived, version: i64) -> Vec<Self> {
        let c = &d.conversation;
        Target::ALL
            .into_iter()
            .map(|target| {
                let mut row = Self {
                    tenant_id: tenant_id.to_owned(),
                    conversation_id: conversation_id.to_owned(),
                    target: target.as_str().to_owned(),
                    policy: String::new(),
                    calendar: String::new(),
                    channel: c.channel.clone(),
                    team: c.team.clone(),
                    agent_id: None,
                    target_ms: 0,
                    status: NONE.to_owned(),
                    cycles: 0,
                    breached_cycles: 0,
                    started_at_ms: c.created_at_ms,
                    due_at_ms: None,
                    at_risk_at_ms: None,
                    breached_at_ms: None,
                    stopped_at_ms: None,
                    remaining_ms: None,
                    version,
                };
                let Some(sla) = &d.sla else { return row };
                let Some(outcome) = sla.targets.iter().find(|t| t.target == target) else {
                    return row;
                };
                row.policy.clone_from(&sla.policy);
                row.calendar.clone_from(&sla.calendar);
                row.target_ms = outcome.target_ms;
                if let Some(s) = outcome.summary() {
                    row.status = s.status.as_str().to_owned();
                    row.agent_id = s.agent_id;
                    row.cycles = s.cycles;
                    row.breached_cycles = s.breached_cycles;
                    row.started_at_ms = s.started_at_ms;
                    row.due_at_ms = s.due_at_ms;
                    row.at_risk_at_ms = s.at_risk_at_ms;
                    row.breached_at_ms = s.breached_at_ms;
                    row.stopped_at_ms = s.stopped_at_ms;
                    row.remaining_ms = s.remaining_ms;
                }
                row
            })
            .collect()
    }

    /// The status as of `now` (`None` for `none`): an active target whose due time has come is
    /// breached.
    pub fn status_at(&self, now: i64) -> Option<Status> {
        Status::parse(&self.status).map(|s| s.at(self.due_at_ms, now))
    }
}

/// One row of `sla_ledger`: what `rapport-sla` announced for one SLA cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct LedgerRow {
    /// The interactions partition the conversation's events arrive on.
    pub kafka_partition: i32,
    pub tenant_id: String,
    pub conversation_id: String,
    pub target: String,
    pub cycle: String,
    /// The cycle's status when this row was written (`met`, `breached`, `active`, `paused`).
    pub status: String,
    pub at_risk_at_ms: Option<i64>,
    pub due_at_ms: Option<i64>,
    /// 1 while the cycle may still fire a timer (active or paused).
    pub pending: u8,
    /// The kinds announced for it (`at_risk`, `breached`, `met`, `corrected`).
    pub announced: Vec<String>,
    /// The outcome last announced (`met`, `breached`), or empty.
    pub outcome: String,
    /// The id of the event that announced it.
    pub outcome_event_id: String,
    pub corrections: u32,
    pub version: i64,
}

/// When a pending cycle of a partition next needs a look: its at-risk time until `at_risk` was
/// announced, then its due time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct PendingTimer {
    pub tenant_id: String,
    pub conversation_id: String,
    pub fire_at_ms: i64,
}

/// Calls `arm` for every pending cycle of `partition` that has a next time, streaming the rows
/// (a partition may hold a million): what an instance arms after it is assigned the partition.
pub async fn pending_timers(
    client: &clickhouse::Client,
    partition: i32,
    mut arm: impl FnMut(PendingTimer),
) -> Result<u64, crate::ClickHouseError> {
    let mut cursor = client
        .query(
            "SELECT tenant_id, conversation_id, \
             assumeNotNull(if(at_risk_at_ms IS NOT NULL AND NOT has(announced, 'at_risk'), \
                              at_risk_at_ms, due_at_ms)) AS fire_at_ms \
             FROM (SELECT tenant_id, conversation_id, at_risk_at_ms, due_at_ms, announced, pending \
                   FROM sla_ledger FINAL PREWHERE kafka_partition = ?) \
             WHERE pending = 1 AND (due_at_ms IS NOT NULL \
                   OR (at_risk_at_ms IS NOT NULL AND NOT has(announced, 'at_risk')))",
        )
        .bind(partition)
        .fetch::<PendingTimer>()?;
    let mut armed = 0;
    while let Some(timer) = cursor.next().await? {
        arm(timer);
        armed += 1;
    }
    Ok(armed)
}

/// Every cycle `rapport-sla` recorded for some conversations of one tenant on `partition`.
pub async fn ledger_of(
    client: &clickhouse::Client,
    partition: i32,
    tenant_id: &str,
    conversation_ids: &[String],
) -> Result<Vec<LedgerRow>, crate::ClickHouseError> {
    let mut sql = crate::read::Sql::new(
        "SELECT ?fields FROM sla_ledger FINAL PREWHERE kafka_partition = ? AND tenant_id = ? \
         AND conversation_id IN ",
    );
    sql.int(i64::from(partition))
        .text(tenant_id)
        .list(conversation_ids);
    Ok(sql.query(client).fetch_all().await?)
}

#[derive(Debug, Deserialize, Row)]
struct StoredEvent {
    event_id: String,
}

/// Which of `event_ids` (of conversations `conversation_ids` of one tenant) the store holds:
/// `rapport-sla` derives a conversation only once the events it was told about are stored. The
/// two lists share one query: runs of [`crate::binds::halves`] fit it whatever their keys.
pub async fn stored_event_ids(
    client: &clickhouse::Client,
    tenant_id: &str,
    conversation_ids: &[impl AsRef<str>],
    event_ids: &[impl AsRef<str>],
) -> Result<std::collections::HashSet<String>, crate::ClickHouseError> {
    let mut sql = crate::read::Sql::new(
        "SELECT DISTINCT event_id FROM interaction_log PREWHERE tenant_id = ? AND conversation_id IN ",
    );
    sql.text(tenant_id).list(conversation_ids);
    sql.push(" WHERE event_id IN ").list(event_ids);
    let rows: Vec<StoredEvent> = sql.query(client).fetch_all().await?;
    Ok(rows.into_iter().map(|r| r.event_id).collect())
}
