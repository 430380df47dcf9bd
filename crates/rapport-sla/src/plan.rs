//! What to announce for one conversation, given its SLA cycles as derived from all of its stored
//! events, what the ledger says was announced before, and the time. Pure, so every rule is
//! tested without a broker:
//!
//! - `at_risk` once per cycle, when its at-risk time has come and the clock was still running
//!   then (a reply before the at-risk time means it was never at risk);
//! - the outcome once per cycle: `breached` at the due time (also with no new event: an active
//!   cycle whose due time has come), `met` when the clock stopped in time;
//! - `corrected` when a late or replayed event changes an outcome announced earlier (a reply
//!   that predates the due time turns `breached` into `met`), naming the event it corrects;
//! - the next instant anything is due (the timer).
//!
//! Ids are [`event_id`]s of the cycle, so an announcement repeated after a crash (sent, but not
//! yet in the ledger) has the id it had the first time.

use std::collections::BTreeMap;

use rapport_clickhouse::sla::LedgerRow;
use rapport_responsiveness::Derived;
use rapport_responsiveness::sla::{Cycle, Status};

use crate::event::{Kind, SlaEvent, event_id};

/// Where the conversation is and when it is.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub tenant_id: &'a str,
    pub conversation_id: &'a str,
    pub partition: i32,
    pub now: i64,
    /// For the ledger rows written.
    pub version: i64,
}

/// What one evaluation decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub events: Vec<SlaEvent>,
    /// Ledger rows that changed (to write after the events are acknowledged).
    pub ledger: Vec<LedgerRow>,
    /// Every cycle's ledger row as it stands after this plan.
    pub cycles: Vec<LedgerRow>,
    /// The next instant something is due, if any cycle still runs.
    pub next_fire: Option<i64>,
}

fn outcome_of(status: Status) -> &'static str {
    match status {
        Status::Met => "met",
        Status::Breached => "breached",
        Status::Active | Status::Paused => "",
    }
}

/// Evaluates `derived` (its SLA, if any) against `known` (this conversation's ledger rows).
pub fn plan(ctx: Context<'_>, derived: &Derived, known: &[LedgerRow]) -> Plan {
    let mut out = Plan::default();
    let Some(sla) = &derived.sla else {
        return out;
    };
    let c = &derived.conversation;
    let known: BTreeMap<(&str, &str), &LedgerRow> = known
        .iter()
        .map(|r| ((r.target.as_str(), r.cycle.as_str()), r))
        .collect();
    for target in &sla.targets {
        let target_name = target.target.as_str();
        for cycle in &target.cycles {
            let before = known.get(&(target_name, cycle.id.as_str())).copied();
            let mut row = before.cloned().unwrap_or_else(|| LedgerRow {
                kafka_partition: ctx.partition,
                tenant_id: ctx.tenant_id.to_owned(),
                conversation_id: ctx.conversation_id.to_owned(),
                target: target_name.to_owned(),
                cycle: cycle.id.clone(),
                status: String::new(),
                at_risk_at_ms: None,
                due_at_ms: None,
                pending: 0,
                announced: Vec::new(),
                outcome: String::new(),
                outcome_event_id: String::new(),
                corrections: 0,
                version: ctx.version,
            });
            let status = cycle.status.at(cycle.due_at_ms, ctx.now);
            let event = |kind: Kind, discriminator: &str, occurred_at_ms: i64| SlaEvent {
                event_id: event_id(
                    ctx.tenant_id,
                    ctx.conversation_id,
                    target_name,
                    &cycle.id,
                    kind,
                    discriminator,
                ),
                kind,
                tenant_id: ctx.tenant_id.to_owned(),
                conversation_id: ctx.conversation_id.to_owned(),
                target: target_name.to_owned(),
                cycle: cycle.id.clone(),
                policy: sla.policy.clone(),
                calendar: sla.calendar.clone(),
                channel: c.channel.clone(),
                team: c.team.clone(),
                agent_id: cycle.agent_id.clone(),
                target_ms: target.target_ms,
                started_at_ms: cycle.started_at_ms,
                at_risk_at_ms: cycle.at_risk_at_ms,
                due_at_ms: cycle.due_at_ms,
                stopped_at_ms: cycle.stopped_at_ms,
                occurred_at_ms,
                outcome: None,
                corrects: None,
                emitted_at_ms: ctx.now,
            };
            let announced =
                |row: &LedgerRow, kind: Kind| row.announced.iter().any(|k| k == kind.as_str());

            if let Some(at_risk) = was_at_risk(cycle, ctx.now)
                && !announced(&row, Kind::AtRisk)
            {
                out.events.push(event(Kind::AtRisk, "", at_risk));
                row.announced.push(Kind::AtRisk.as_str().to_owned());
            }

            let outcome = outcome_of(status);
            if outcome != row.outcome {
                let e = if row.outcome.is_empty() {
                    let (kind, at) = if status == Status::Breached {
                        (Kind::Breached, cycle.due_at_ms.unwrap_or(ctx.now))
                    } else {
                        (Kind::Met, cycle.stopped_at_ms.unwrap_or(ctx.now))
                    };
                    event(kind, "", at)
                } else {
                    row.corrections += 1;
                    let now_outcome = if outcome.is_empty() {
                        status.as_str()
                    } else {
                        outcome
                    };
                    let mut e = event(
                        Kind::Corrected,
                        &format!("{}:{now_outcome}", row.corrections),
                        ctx.now,
                    );
                    e.outcome = Some(now_outcome.to_owned());
                    e.corrects = uuid::Uuid::parse_str(&row.outcome_event_id).ok();
                    e
                };
                if !announced(&row, e.kind) {
                    row.announced.push(e.kind.as_str().to_owned());
                }
                row.outcome = outcome.to_owned();
                row.outcome_event_id = e.event_id.to_string();
                out.events.push(e);
            }

            row.status = status.as_str().to_owned();
            row.at_risk_at_ms = cycle.at_risk_at_ms;
            row.due_at_ms = cycle.due_at_ms;
            row.pending = u8::from(matches!(status, Status::Active | Status::Paused));
            if status == Status::Active {
                let at_risk_next = cycle
                    .at_risk_at_ms
                    .filter(|&t| t > ctx.now && !announced(&row, Kind::AtRisk));
                let due_next = cycle.due_at_ms.filter(|&t| t > ctx.now);
                for t in [at_risk_next, due_next].into_iter().flatten() {
                    out.next_fire = Some(out.next_fire.map_or(t, |n: i64| n.min(t)));
                }
            }
            let changed = before.is_none_or(|b| {
                (
                    &b.status,
                    b.at_risk_at_ms,
                    b.due_at_ms,
                    b.pending,
                    &b.announced,
                    &b.outcome,
                    b.corrections,
                ) != (
                    &row.status,
                    row.at_risk_at_ms,
                    row.due_at_ms,
                    row.pending,
                    &row.announced,
                    &row.outcome,
                    row.corrections,
                )
            });
            if changed {
                row.version = ctx.version;
                out.ledger.push(row.clone());
            }
            out.cycles.push(row);
        }
    }
    out
}

/// The at-risk time, when it has come by `now` and the clock was still running then.
fn was_at_risk(cycle: &Cycle, now: i64) -> Option<i64> {
    let at = cycle.at_risk_at_ms.filter(|&t| t <= now)?;
    cycle.stopped_at_ms.is_none_or(|s| s > at).then_some(at)
}

#[cfg(test)]
mod tests {
    use rapport_responsiveness::{BusinessHoursConfig, Event, EventKind, Rules, SlaConfig};

    use super::*;

    const T0: i64 = 1_717_405_200_000; // Monday 2024-06-03 09:00 UTC
    const S: i64 = 1_000;

    /// 24/7; first response 60 s, at risk 20 s before.
    fn rules() -> Rules {
        let sla: SlaConfig = toml::from_str(
            "at_risk_before = \"20s\"\n[[policies]]\nname = \"fast\"\nfirst_response = \"60s\"\n",
        )
        .unwrap();
        Rules::from_config(&BusinessHoursConfig::default(), &sla).unwrap()
    }

    fn event(id: &str, at: i64, customer: bool) -> Event {
        let (direction, role) = if customer {
            ("inbound", "customer")
        } else {
            ("outbound", "agent")
        };
        Event {
            event_id: id.into(),
            occurred_at_ms: at,
            kind: EventKind::classify("message", direction, role, false, None),
            status: None,
            actor_id: (!customer).then(|| "ana".into()),
            actor_name: None,
            team: None,
            channel: "chat".into(),
            source: "intercom".into(),
            tags: Vec::new(),
            identities: Vec::new(),
            text: None,
        }
    }

    fn run(events: Vec<Event>, known: &[LedgerRow], now: i64) -> Plan {
        let derived = rules().derive("acme", events).unwrap();
        plan(
            Context {
                tenant_id: "acme",
                conversation_id: "c1",
                partition: 3,
                now,
                version: now,
            },
            &derived,
            known,
        )
    }

    fn kinds(p: &Plan) -> Vec<Kind> {
        p.events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn an_unanswered_message_is_at_risk_then_breached_at_its_times_with_timers_between() {
        let message = vec![event("m1", T0, true)];
        let p = run(message.clone(), &[], T0 + S);
        assert!(p.events.is_empty());
        assert_eq!(p.next_fire, Some(T0 + 40 * S), "the at-risk time");
        assert_eq!(p.ledger.len(), 1);
        assert_eq!(p.ledger[0].pending, 1);

        let p = run(message.clone(), &p.cycles, T0 + 40 * S);
        assert_eq!(kinds(&p), [Kind::AtRisk]);
        assert_eq!(p.events[0].occurred_at_ms, T0 + 40 * S);
        assert_eq!(p.next_fire, Some(T0 + 60 * S), "the due time");

        let p2 = run(message.clone(), &p.cycles, T0 + 60 * S);
        assert_eq!(kinds(&p2), [Kind::Breached]);
        assert_eq!(p2.events[0].occurred_at_ms, T0 + 60 * S);
        assert_eq!(p2.next_fire, None);
        assert_eq!(p2.cycles[0].pending, 0);

        // Nothing new is announced again, whatever wakes it up.
        let p3 = run(message, &p2.cycles, T0 + 90 * S);
        assert!(p3.events.is_empty() && p3.ledger.is_empty(), "{p3:?}");
    }

    #[test]
    fn a_service_that_was_down_announces_what_it_missed_with_the_same_ids() {
        let message = vec![event("m1", T0, true)];
        let p = run(message.clone(), &[], T0 + 70 * S);
        assert_eq!(kinds(&p), [Kind::AtRisk, Kind::Breached]);
        // Sent, but the ledger write was lost: the same ids again.
        let again = run(message, &[], T0 + 75 * S);
        let ids = |p: &Plan| p.events.iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(ids(&p), ids(&again));
    }

    #[test]
    fn a_reply_in_time_is_met_and_never_at_risk() {
        let events = vec![event("m1", T0, true), event("r1", T0 + 10 * S, false)];
        let p = run(events, &[], T0 + 100 * S);
        assert_eq!(kinds(&p), [Kind::Met]);
        assert_eq!(p.events[0].occurred_at_ms, T0 + 10 * S);
        assert_eq!(p.events[0].agent_id.as_deref(), Some("ana"));
        assert_eq!(p.next_fire, None);
    }

    #[test]
    fn a_late_reply_that_predates_the_due_time_corrects_the_breach() {
        let message = vec![event("m1", T0, true)];
        let breached = run(message.clone(), &[], T0 + 70 * S);
        let breach_id = breached.events[1].event_id;
        let mut late = message;
        late.push(event("r1", T0 + 50 * S, false));
        let p = run(late.clone(), &breached.cycles, T0 + 80 * S);
        assert_eq!(kinds(&p), [Kind::Corrected]);
        assert_eq!(p.events[0].outcome.as_deref(), Some("met"));
        assert_eq!(p.events[0].corrects, Some(breach_id));
        assert_eq!(p.cycles[0].outcome, "met");
        // Replayed: nothing more.
        assert!(run(late, &p.cycles, T0 + 90 * S).events.is_empty());
    }
}
