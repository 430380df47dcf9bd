//! SLA outcomes of one conversation (`docs/ANALYTICS.md`, "SLAs"): which policy applies, and for
//! each of its targets every *cycle* (the first response; each later run of customer messages
//! for the next reply; the conversation for resolution) with its due time and outcome.
//!
//! A clock runs in business time of the policy's calendar over the cycle, except while a pause
//! status is in force or the conversation is resolved (for the reply targets, resolved until the
//! customer writes again; for resolution, until a reopen). The due time is the instant the time
//! used up reaches the target. Like every metric here it depends only on the set of events, so
//! a late or replayed event gives exactly what a from-scratch evaluation does; only whether an
//! *active* cycle is overdue depends on the reader's clock ([`Status::at`]).

mod clock;
mod config;

use rapport_calendar::Calendar;

pub use config::{
    DEFAULT_AT_RISK_BEFORE, DEFAULT_PAUSE_STATUSES, Policies, Policy, PolicyConfig, SlaConfig,
};

use crate::{Conversation, Event};
use clock::{Blocked, End, Reach, reach, running};

/// What a target measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The first customer message → the first human reply (as the first response time).
    FirstResponse,
    /// Each later run of customer messages → the reply that answers it.
    NextReply,
    /// Creation → resolution (running again after a reopen).
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [Self::FirstResponse, Self::NextReply, Self::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::NextReply => "next_reply",
            Self::Resolution => "resolution",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Where a cycle (or a target, over its cycles) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Stopped within the target: answered in time, or resolved before the due time.
    Met,
    /// The due time passed before the clock stopped.
    Breached,
    /// The clock runs; overdue once `now` reaches the due time ([`Status::at`]).
    Active,
    /// Stopped for now by a pause status.
    Paused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Breached => "breached",
            Self::Active => "active",
            Self::Paused => "paused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Met, Self::Breached, Self::Active, Self::Paused]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// The status as of `now`: an active cycle whose due time has come is breached.
    pub fn at(self, due_at_ms: Option<i64>, now: i64) -> Self {
        match (self, due_at_ms) {
            (Self::Active, Some(due)) if due <= now => Self::Breached,
            _ => self,
        }
    }
}

/// One cycle of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Stable within the conversation: `first` for the first response, the run's first message
    /// id for a next reply, `resolution` for resolution.
    pub id: String,
    pub started_at_ms: i64,
    /// Computed from the events only; see [`Status::at`].
    pub status: Status,
    /// When the time used up reaches the target, were the clock to keep running from where it
    /// last ran: the breach instant of a breached cycle, the deadline of an active one, the
    /// deadline it met for one answered in time. `None` while paused or after a resolution
    /// before it, and when the calendar never opens again.
    pub due_at_ms: Option<i64>,
    /// The same for the target minus the at-risk lead time.
    pub at_risk_at_ms: Option<i64>,
    /// The reply that answered it, or the resolution that stopped it.
    pub stopped_at_ms: Option<i64>,
    /// The agent whose reply answered it.
    pub agent_id: Option<String>,
    /// Business ms left when paused.
    pub remaining_ms: Option<i64>,
}

/// One target of the conversation's policy, with its cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOutcome {
    pub target: Target,
    /// The target in business ms.
    pub target_ms: i64,
    pub cycles: Vec<Cycle>,
}

/// A target over its cycles, as reports count it: breached once, whichever cycles breached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Breached when any cycle breached, else the last cycle's status.
    pub status: Status,
    pub started_at_ms: i64,
    /// The first breached cycle's due time, else the last cycle's.
    pub due_at_ms: Option<i64>,
    /// The at-risk time of that same cycle.
    pub at_risk_at_ms: Option<i64>,
    pub breached_at_ms: Option<i64>,
    pub stopped_at_ms: Option<i64>,
    pub remaining_ms: Option<i64>,
    /// The agent of the first breached cycle, else of the last.
    pub agent_id: Option<String>,
    pub cycles: u32,
    pub breached_cycles: u32,
}

impl TargetOutcome {
    /// `None` without cycles (a next reply target before the customer wrote a second time).
    pub fn summary(&self) -> Option<Summary> {
        let last = self.cycles.last()?;
        let breached: Vec<&Cycle> = self
            .cycles
            .iter()
            .filter(|c| c.status == Status::Breached)
            .collect();
        let decisive = breached.first().copied().unwrap_or(last);
        Some(Summary {
            status: decisive.status,
            started_at_ms: self.cycles[0].started_at_ms,
            due_at_ms: decisive.due_at_ms,
            at_risk_at_ms: decisive.at_risk_at_ms,
            breached_at_ms: breached.first().and_then(|c| c.due_at_ms),
            stopped_at_ms: last.stopped_at_ms,
            remaining_ms: last.remaining_ms,
            agent_id: decisive.agent_id.clone(),
            cycles: u32::try_from(self.cycles.len()).unwrap_or(u32::MAX),
            breached_cycles: u32::try_from(breached.len()).unwrap_or(u32::MAX),
        })
    }
}

/// The SLA outcomes of one conversation under its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    pub policy: String,
    /// The calendar its clocks ran on.
    pub calendar: String,
    /// One per target of the policy, in [`Target::ALL`] order.
    pub targets: Vec<TargetOutcome>,
}

/// Evaluates `policy` on a conversation: `events` in [`crate::sort`]'s order, `c` computed from
/// them, `calendar` the policy's.
pub fn evaluate(policy: &Policy, calendar: &Calendar, events: &[Event], c: &Conversation) -> Sla {
    let blocked = Blocked::of(events, &policy.pause_statuses);
    let lead = policy.at_risk_before_ms;
    let targets = policy
        .targets
        .iter()
        .map(|&(target, target_ms)| {
            let cycle = |id: String, start: i64, reply: Option<usize>, closed: &[clock::Span]| {
                let stop = reply.map(|i| c.replies[i].replied_at_ms);
                let agent = reply.and_then(|i| c.replies[i].agent_id.clone());
                one_cycle(
                    calendar,
                    (target_ms, lead),
                    (id, start, stop, agent),
                    &blocked.paused,
                    closed,
                )
            };
            let cycles = match target {
                Target::FirstResponse => c
                    .runs
                    .first()
                    .map(|run| {
                        cycle(
                            "first".into(),
                            run.started_at_ms,
                            run.answered_by,
                            &blocked.resolved_for_replies,
                        )
                    })
                    .into_iter()
                    .collect(),
                Target::NextReply => c
                    .runs
                    .iter()
                    .skip(1)
                    .map(|run| {
                        cycle(
                            run.first_event_id.clone(),
                            run.started_at_ms,
                            run.answered_by,
                            &blocked.resolved_for_replies,
                        )
                    })
                    .collect(),
                Target::Resolution => vec![cycle(
                    "resolution".into(),
                    c.created_at_ms,
                    None,
                    &blocked.resolved,
                )],
            };
            TargetOutcome {
                target,
                target_ms,
                cycles,
            }
        })
        .collect();
    Sla {
        policy: policy.name.clone(),
        calendar: calendar.name().to_owned(),
        targets,
    }
}

fn one_cycle(
    calendar: &Calendar,
    (target_ms, lead_ms): (i64, i64),
    (id, start, stop, agent_id): (String, i64, Option<i64>, Option<String>),
    paused: &[clock::Span],
    closed: &[clock::Span],
) -> Cycle {
    let (mut spans, end) = running(start, stop, paused, closed);
    // A cycle stopped by its reply is measured against the deadline it had while running.
    if let (End::Stopped(s), Some(last)) = (end, spans.last_mut())
        && last.1 == Some(s)
    {
        last.1 = None;
    }
    let due = reach(calendar, &spans, target_ms);
    let at_risk = reach(calendar, &spans, (target_ms - lead_ms).max(0));
    let at = |r: Reach| match r {
        Reach::At(t) => Some(t),
        Reach::NotWithin(_) | Reach::Never => None,
    };
    // Used up exactly when the clock stopped is in time, as a reply at the due instant is.
    let stopped_clock = spans.last().and_then(|s| s.1).unwrap_or(start);
    let (status, stopped_at_ms, remaining_ms) = match end {
        End::Stopped(s) => {
            let late = at(due).is_some_and(|d| d < s);
            (
                if late { Status::Breached } else { Status::Met },
                Some(s),
                None,
            )
        }
        End::Running => (Status::Active, None, None),
        End::Paused => match due {
            Reach::At(t) if t < stopped_clock => (Status::Breached, None, None),
            Reach::At(_) => (Status::Paused, None, Some(0)),
            Reach::NotWithin(used) => (Status::Paused, None, Some(target_ms - used)),
            Reach::Never => (Status::Paused, None, None),
        },
        End::Closed(since) => match due {
            Reach::At(t) if t < stopped_clock => (Status::Breached, Some(since), None),
            Reach::At(_) | Reach::NotWithin(_) | Reach::Never => (Status::Met, Some(since), None),
        },
    };
    let due_at_ms = match (status, end) {
        (Status::Paused, _) | (Status::Met, End::Closed(_)) => None,
        _ => at(due),
    };
    Cycle {
        id,
        started_at_ms: start,
        status,
        due_at_ms,
        at_risk_at_ms: at(at_risk),
        stopped_at_ms,
        agent_id,
        remaining_ms,
    }
}

#[cfg(test)]
mod tests;
