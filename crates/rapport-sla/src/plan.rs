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
//! - `corrected` with outcome `void` when a cycle that announced something no longer exists (a
//!   late customer message that predates a `next_reply` run starts the run sooner, under that
//!   message's id), correcting its last announcement;
//! - the next instant anything is due (the timer).
//!
//! Ids are [`event_id`]s of the cycle, so an announcement repeated after a crash (sent, but not
//! yet in the ledger) has the id it had the first time.

use std::collections::{BTreeMap, BTreeSet};

use rapport_clickhouse::sla::LedgerRow;
use rapport_responsiveness::Derived;
use rapport_responsiveness::sla::{Cycle, Sla, Status};

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
    void_vanished(ctx, derived, sla, &known, &mut out);
    out
}

/// The outcome of a cycle that no longer exists: a late customer message that predates a
/// `next_reply` run starts the run sooner, under that message's id, so the old cycle (named
/// after the run's old first message) is gone from the derivation.
pub const VOID: &str = "void";

/// Cycles the ledger knows that the derivation no longer has: each that announced something gets
/// one `corrected` (outcome `void`, correcting the last announcement), and none is armed again.
fn void_vanished(
    ctx: Context<'_>,
    derived: &Derived,
    sla: &Sla,
    known: &BTreeMap<(&str, &str), &LedgerRow>,
    out: &mut Plan,
) {
    // Looked up per ledger row: a conversation of n exchanges has n cycles and n rows, and a
    // scan of the cycles per row would make its evaluation quadratic. Each target's cycles are
    // in start order (a stable sort, so among equal starts the last stays last) for `covering`.
    let derived_cycles: BTreeSet<(&str, &str)> = sla
        .targets
        .iter()
        .flat_map(|t| t.cycles.iter().map(|c| (t.target.as_str(), c.id.as_str())))
        .collect();
    let mut by_start: BTreeMap<&str, Vec<&Cycle>> = BTreeMap::new();
    for (&(target_name, cycle_id), &before) in known {
        if derived_cycles.contains(&(target_name, cycle_id)) || before.status == VOID {
            continue;
        }
        let outcome = sla
            .targets
            .iter()
            .find(|t| t.target.as_str() == target_name);
        let mut row = before.clone();
        row.status = VOID.to_owned();
        row.pending = 0;
        row.version = ctx.version;
        if !row.announced.is_empty() || !row.outcome.is_empty() {
            row.corrections += 1;
            let corrects = if row.outcome_event_id.is_empty() {
                Some(event_id(
                    ctx.tenant_id,
                    ctx.conversation_id,
                    target_name,
                    cycle_id,
                    Kind::AtRisk,
                    "",
                ))
            } else {
                uuid::Uuid::parse_str(&row.outcome_event_id).ok()
            };
            // The run that now holds the vanished cycle's messages: the latest cycle of the target
            // that started by the time the vanished one was due.
            let until = row.due_at_ms.or(row.at_risk_at_ms).unwrap_or(ctx.now);
            let covering = outcome.and_then(|t| {
                let cycles = by_start.entry(target_name).or_insert_with(|| {
                    let mut cycles: Vec<&Cycle> = t.cycles.iter().collect();
                    cycles.sort_by_key(|c| c.started_at_ms);
                    cycles
                });
                let started = cycles.partition_point(|c| c.started_at_ms <= until);
                started.checked_sub(1).map(|i| cycles[i])
            });
            let e = SlaEvent {
                event_id: event_id(
                    ctx.tenant_id,
                    ctx.conversation_id,
                    target_name,
                    cycle_id,
                    Kind::Corrected,
                    &format!("{}:{VOID}", row.corrections),
                ),
                kind: Kind::Corrected,
                tenant_id: ctx.tenant_id.to_owned(),
                conversation_id: ctx.conversation_id.to_owned(),
                target: target_name.to_owned(),
                cycle: cycle_id.to_owned(),
                policy: sla.policy.clone(),
                calendar: sla.calendar.clone(),
                channel: derived.conversation.channel.clone(),
                team: derived.conversation.team.clone(),
                agent_id: None,
                target_ms: outcome.map_or(0, |t| t.target_ms),
                started_at_ms: covering
                    .map_or(derived.conversation.created_at_ms, |c| c.started_at_ms),
                at_risk_at_ms: row.at_risk_at_ms,
                due_at_ms: row.due_at_ms,
                stopped_at_ms: None,
                occurred_at_ms: ctx.now,
                outcome: Some(VOID.to_owned()),
                corrects,
                emitted_at_ms: ctx.now,
            };
            if !row.announced.iter().any(|k| k == Kind::Corrected.as_str()) {
                row.announced.push(Kind::Corrected.as_str().to_owned());
            }
            row.outcome = VOID.to_owned();
            row.outcome_event_id = e.event_id.to_string();
            out.events.push(e);
        }
        out.ledger.push(row.clone());
        out.cycles.push(row);
    }
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
        run_with(&rules(), events, known, now)
    }

    fn run_with(rules: &Rules, events: Vec<Event>, known: &[LedgerRow], now: i64) -> Plan {
        let derived = rules.derive("acme", events).unwrap();
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

    /// 24/7; first response and next reply 60 s each, at risk 20 s before.
    fn next_reply_rules() -> Rules {
        let sla: SlaConfig = toml::from_str(
            "at_risk_before = \"20s\"\n[[policies]]\nname = \"fast\"\nfirst_response = \"60s\"\nnext_reply = \"60s\"\n",
        )
        .unwrap();
        Rules::from_config(&BusinessHoursConfig::default(), &sla).unwrap()
    }

    fn of<'p>(p: &'p Plan, kind: Kind, cycle: &str) -> Vec<&'p SlaEvent> {
        p.events
            .iter()
            .filter(|e| e.kind == kind && e.cycle == cycle)
            .collect()
    }

    #[test]
    fn a_next_reply_cycle_that_a_late_earlier_message_replaces_is_corrected_to_void() {
        let rules = next_reply_rules();
        // Answered in time, then a second message nobody answers: its cycle (named m2) is at
        // risk at +140 s and breached at +160 s.
        let mut events = vec![
            event("m1", T0, true),
            event("r1", T0 + 10 * S, false),
            event("m2", T0 + 100 * S, true),
        ];
        let breached = run_with(&rules, events.clone(), &[], T0 + 170 * S);
        let m2_breach = of(&breached, Kind::Breached, "m2")[0].event_id;
        assert_eq!(of(&breached, Kind::AtRisk, "m2").len(), 1);

        // A customer message from +90 s arrives late: the run starts there, under its id, and
        // the m2 cycle no longer exists. Its breach is corrected to void; m15's own cycle is
        // announced as it is (at risk and breached, both past).
        events.push(event("m15", T0 + 90 * S, true));
        let p = run_with(&rules, events.clone(), &breached.cycles, T0 + 180 * S);
        let void = of(&p, Kind::Corrected, "m2");
        assert_eq!(void.len(), 1, "{:?}", p.events);
        assert_eq!(void[0].outcome.as_deref(), Some(VOID));
        assert_eq!(void[0].corrects, Some(m2_breach));
        assert_eq!(void[0].target, "next_reply");
        assert_eq!(void[0].due_at_ms, Some(T0 + 160 * S), "what was announced");
        assert_eq!(
            void[0].started_at_ms,
            T0 + 90 * S,
            "the run that holds it now"
        );
        assert_eq!(of(&p, Kind::Breached, "m15").len(), 1);
        assert_eq!(of(&p, Kind::AtRisk, "m15").len(), 1);
        let m2 = p.cycles.iter().find(|r| r.cycle == "m2").unwrap();
        assert_eq!((m2.status.as_str(), m2.pending), (VOID, 0));
        assert_eq!(p.next_fire, None);

        // The same evaluation again after a lost ledger write: the same ids.
        let again = run_with(&rules, events.clone(), &breached.cycles, T0 + 185 * S);
        let ids = |p: &Plan| p.events.iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(ids(&p), ids(&again));
        // Replayed after the ledger write: nothing more.
        let replay = run_with(&rules, events, &p.cycles, T0 + 190 * S);
        assert!(
            replay.events.is_empty() && replay.ledger.is_empty(),
            "{replay:?}"
        );
    }

    #[test]
    fn a_vanished_cycle_only_at_risk_corrects_its_at_risk_and_one_never_announced_is_disarmed() {
        let rules = next_reply_rules();
        let mut events = vec![
            event("m1", T0, true),
            event("r1", T0 + 10 * S, false),
            event("m2", T0 + 100 * S, true),
        ];
        // At risk (+140 s) but not yet due (+160 s).
        let at_risk = run_with(&rules, events.clone(), &[], T0 + 145 * S);
        let m2_at_risk = of(&at_risk, Kind::AtRisk, "m2")[0].event_id;
        assert_eq!(at_risk.next_fire, Some(T0 + 160 * S));
        events.push(event("m15", T0 + 95 * S, true));
        let p = run_with(&rules, events.clone(), &at_risk.cycles, T0 + 146 * S);
        let void = of(&p, Kind::Corrected, "m2");
        assert_eq!(void.len(), 1, "{:?}", p.events);
        assert_eq!(void[0].corrects, Some(m2_at_risk));

        // Seen before anything was due: the old cycle just stops being armed, unannounced.
        let early = run_with(&rules, events[..3].to_vec(), &[], T0 + 101 * S);
        assert!(early.events.iter().all(|e| e.cycle != "m2"));
        let p = run_with(&rules, events, &early.cycles, T0 + 102 * S);
        assert!(of(&p, Kind::Corrected, "m2").is_empty(), "{:?}", p.events);
        let m2 = p.ledger.iter().find(|r| r.cycle == "m2").unwrap();
        assert_eq!((m2.status.as_str(), m2.pending), (VOID, 0));
    }
}
