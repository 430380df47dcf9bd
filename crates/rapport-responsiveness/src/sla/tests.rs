//! Named cases, each worked out by hand in its comment, on a 9–17 weekday office in Berlin
//! (March 2024, CET = UTC+1), and a property.

use proptest::prelude::*;

use super::*;
use crate::testing::{MINUTE, OFFICE, at, bot, customer, event, note, reply, rules, status};
use crate::{Derived, Rules};

const STANDARD: &str = r#"
    at_risk_before = "15m"
    [[policies]]
    name = "standard"
    first_response = "1h"
    next_reply = "2h"
    resolution = "8h"
"#;

fn sla(rules: &Rules, events: Vec<Event>) -> Sla {
    let Derived { sla, .. } = rules.derive("acme", events).unwrap();
    sla.expect("the policy matches")
}

fn target(sla: &Sla, target: Target) -> &TargetOutcome {
    sla.targets.iter().find(|t| t.target == target).unwrap()
}

fn first(sla: &Sla) -> &Cycle {
    &target(sla, Target::FirstResponse).cycles[0]
}

#[test]
fn friday_1630_with_a_one_hour_first_response_target_is_due_monday_0930() {
    let office = rules(OFFICE, STANDARD);
    let s = sla(
        &office,
        vec![customer("m1", at("2024-03-01T16:30:00+01:00"))],
    );
    let c = first(&s);
    assert_eq!(c.status, Status::Active);
    // 30 minutes on Friday, 30 on Monday: not Friday 17:30 on the wall clock.
    assert_eq!(c.due_at_ms, Some(at("2024-03-04T09:30:00+01:00")));
    // At risk with 15 business minutes left: Monday 09:15, not Friday evening.
    assert_eq!(c.at_risk_at_ms, Some(at("2024-03-04T09:15:00+01:00")));
    assert_eq!(s.calendar, "office");
    let due = c.due_at_ms;
    assert_eq!(
        c.status.at(due, at("2024-03-04T09:29:59+01:00")),
        Status::Active
    );
    assert_eq!(
        c.status.at(due, at("2024-03-04T09:30:00+01:00")),
        Status::Breached
    );
}

#[test]
fn a_reply_at_or_before_the_due_time_meets_and_after_it_breaches() {
    let office = rules(OFFICE, STANDARD);
    let message = customer("m1", at("2024-03-04T10:00:00+01:00"));
    for (reply_at, expected) in [
        ("2024-03-04T10:59:59+01:00", Status::Met),
        ("2024-03-04T11:00:00+01:00", Status::Met),
        ("2024-03-04T11:00:01+01:00", Status::Breached),
    ] {
        let s = sla(&office, vec![message.clone(), reply("r1", at(reply_at))]);
        let c = first(&s);
        assert_eq!(c.status, expected, "reply at {reply_at}");
        assert_eq!(c.due_at_ms, Some(at("2024-03-04T11:00:00+01:00")));
        assert_eq!(c.stopped_at_ms, Some(at(reply_at)));
        assert_eq!(c.agent_id.as_deref(), Some("agent-r1"));
    }
}

#[test]
fn a_message_on_a_non_working_day_starts_the_clock_at_the_next_opening() {
    // Sunday 14:00; a bot answers at once and an agent writes a note at 08:00 on Monday:
    // neither stops the clock, which starts at Monday 09:00.
    let office = rules(OFFICE, STANDARD);
    let s = sla(
        &office,
        vec![
            customer("m1", at("2024-03-03T14:00:00+01:00")),
            bot("b1", at("2024-03-03T14:00:05+01:00")),
            note("n1", at("2024-03-04T08:00:00+01:00")),
        ],
    );
    assert_eq!(first(&s).due_at_ms, Some(at("2024-03-04T10:00:00+01:00")));
    assert_eq!(first(&s).status, Status::Active);
}

#[test]
fn due_times_on_multi_period_days_skip_the_break_and_the_night_never_midnight() {
    let hours = OFFICE.replace("09:00-17:00", "09:00-12:30\", \"13:30-18:00");
    let office = rules(&hours, STANDARD);
    // 12:00 + 1 h: 30 minutes before lunch, 30 after.
    let s = sla(
        &office,
        vec![customer("m1", at("2024-03-05T12:00:00+01:00"))],
    );
    assert_eq!(first(&s).due_at_ms, Some(at("2024-03-05T14:00:00+01:00")));
    assert_eq!(
        first(&s).at_risk_at_ms,
        Some(at("2024-03-05T13:45:00+01:00"))
    );
    // 17:50 + 1 h: 10 minutes today, 50 tomorrow morning; at risk at 09:35, not at midnight.
    let s = sla(
        &office,
        vec![customer("m1", at("2024-03-05T17:50:00+01:00"))],
    );
    assert_eq!(first(&s).due_at_ms, Some(at("2024-03-06T09:50:00+01:00")));
    assert_eq!(
        first(&s).at_risk_at_ms,
        Some(at("2024-03-06T09:35:00+01:00"))
    );
}

#[test]
fn a_pause_status_stops_the_clock_and_moves_the_due_time() {
    let office = rules(OFFICE, STANDARD);
    let mut events = vec![
        customer("m1", at("2024-03-04T10:00:00+01:00")),
        status("s1", at("2024-03-04T10:20:00+01:00"), "Pending"),
    ];
    let s = sla(&office, events.clone());
    let c = first(&s);
    assert_eq!(c.status, Status::Paused);
    assert_eq!(c.remaining_ms, Some(40 * MINUTE));
    assert_eq!(c.due_at_ms, None, "no due time while paused");
    // Back to open at 14:20: the 40 minutes left run to 15:00.
    events.push(status("s2", at("2024-03-04T14:20:00+01:00"), "open"));
    let s = sla(&office, events);
    assert_eq!(first(&s).status, Status::Active);
    assert_eq!(first(&s).due_at_ms, Some(at("2024-03-04T15:00:00+01:00")));
    // The resolution clock paused too: 20 minutes used before the pause, 7 h 40 left from
    // 14:20, of which 2 h 40 today and 5 h on Tuesday: due Tuesday 14:00.
    let resolution = &target(&s, Target::Resolution).cycles[0];
    assert_eq!(resolution.due_at_ms, Some(at("2024-03-05T14:00:00+01:00")));
}

#[test]
fn a_resolution_stops_the_reply_clock_until_the_customer_writes_again() {
    let office = rules(OFFICE, STANDARD);
    let mut events = vec![
        customer("m1", at("2024-03-04T10:00:00+01:00")),
        status("s1", at("2024-03-04T10:30:00+01:00"), "solved"),
    ];
    let s = sla(&office, events.clone());
    assert_eq!(first(&s).status, Status::Met, "nothing is owed once solved");
    assert_eq!(
        first(&s).stopped_at_ms,
        Some(at("2024-03-04T10:30:00+01:00"))
    );
    // The customer writes again at 14:00 without a reply in between: the same run waits again,
    // with the 30 minutes used before the resolution.
    events.push(customer("m2", at("2024-03-04T14:00:00+01:00")));
    let s = sla(&office, events);
    assert_eq!(first(&s).status, Status::Active);
    assert_eq!(first(&s).due_at_ms, Some(at("2024-03-04T14:30:00+01:00")));
    assert_eq!(target(&s, Target::NextReply).cycles.len(), 0);
}

#[test]
fn the_resolution_clock_runs_again_after_a_reopen() {
    let office = rules(OFFICE, STANDARD);
    let mut events = vec![
        customer("m1", at("2024-03-04T09:00:00+01:00")),
        reply("r1", at("2024-03-04T09:30:00+01:00")),
        status("s1", at("2024-03-04T12:00:00+01:00"), "solved"),
        // The customer's thanks after the solve does not reopen the resolution clock.
        customer("m2", at("2024-03-04T12:05:00+01:00")),
    ];
    let s = sla(&office, events.clone());
    let resolution = &target(&s, Target::Resolution).cycles[0];
    assert_eq!(resolution.status, Status::Met);
    // Reopened Tuesday 09:00 with 3 h used: 5 h left, due Tuesday 14:00.
    events.push(status("s2", at("2024-03-05T09:00:00+01:00"), "open"));
    let s = sla(&office, events.clone());
    let resolution = &target(&s, Target::Resolution).cycles[0];
    assert_eq!(resolution.status, Status::Active);
    assert_eq!(resolution.due_at_ms, Some(at("2024-03-05T14:00:00+01:00")));
    events.push(status("s3", at("2024-03-05T15:00:00+01:00"), "solved"));
    let s = sla(&office, events);
    let resolution = &target(&s, Target::Resolution).cycles[0];
    assert_eq!(resolution.status, Status::Breached);
    assert_eq!(resolution.due_at_ms, Some(at("2024-03-05T14:00:00+01:00")));
}

#[test]
fn next_reply_cycles_breach_once_per_conversation_in_the_summary() {
    let office = rules(OFFICE, STANDARD);
    let s = sla(
        &office,
        vec![
            customer("m1", at("2024-03-04T09:00:00+01:00")),
            reply("r1", at("2024-03-04T09:10:00+01:00")),
            customer("m2", at("2024-03-04T10:00:00+01:00")),
            reply("r2", at("2024-03-04T13:00:00+01:00")),
            customer("m3", at("2024-03-04T14:00:00+01:00")),
            customer("m4", at("2024-03-04T14:30:00+01:00")),
            reply("r3", at("2024-03-04T16:30:00+01:00")),
            customer("m5", at("2024-03-04T16:50:00+01:00")),
        ],
    );
    assert_eq!(first(&s).status, Status::Met);
    let next = target(&s, Target::NextReply);
    let cycles: Vec<(&str, Status, Option<i64>)> = next
        .cycles
        .iter()
        .map(|c| (c.id.as_str(), c.status, c.due_at_ms))
        .collect();
    assert_eq!(
        cycles,
        [
            (
                "m2",
                Status::Breached,
                Some(at("2024-03-04T12:00:00+01:00"))
            ),
            // A run is measured from its first message.
            (
                "m3",
                Status::Breached,
                Some(at("2024-03-04T16:00:00+01:00"))
            ),
            // 10 minutes today, 1 h 50 tomorrow.
            ("m5", Status::Active, Some(at("2024-03-05T10:50:00+01:00"))),
        ]
    );
    let summary = next.summary().unwrap();
    assert_eq!(summary.status, Status::Breached);
    assert_eq!((summary.cycles, summary.breached_cycles), (3, 2));
    assert_eq!(
        summary.breached_at_ms,
        Some(at("2024-03-04T12:00:00+01:00"))
    );
    assert_eq!(summary.agent_id.as_deref(), Some("agent-r2"));
}

#[test]
fn a_late_reply_that_predates_the_due_time_turns_the_outcome_into_met() {
    let office = rules(OFFICE, STANDARD);
    let message = customer("m1", at("2024-03-04T10:00:00+01:00"));
    let s = sla(&office, vec![message.clone()]);
    assert_eq!(
        first(&s)
            .status
            .at(first(&s).due_at_ms, at("2024-03-04T12:00:00+01:00")),
        Status::Breached,
        "overdue at noon"
    );
    // The reply was sent at 10:40 but arrives after noon: computed from the events, it is met.
    let s = sla(
        &office,
        vec![reply("r1", at("2024-03-04T10:40:00+01:00")), message],
    );
    assert_eq!(first(&s).status, Status::Met);
}

#[test]
fn policies_match_in_order_on_tenant_channel_source_team_tags_and_priority() {
    let policies = r#"
        [[policies]]
        name = "vip"
        tenant = "acme"
        tags = ["VIP"]
        first_response = "15m"
        [[policies]]
        name = "urgent-zendesk"
        sources = ["zendesk"]
        priorities = ["urgent"]
        first_response = "30m"
        [[policies]]
        name = "billing-chat"
        channels = ["chat"]
        teams = ["billing"]
        calendar = "24/7"
        first_response = "5m"
        [[policies]]
        name = "default"
        tenant = "acme"
        first_response = "4h"
    "#;
    let office = rules(OFFICE, policies);
    let with = |tenant: &str, channel: &str, team: Option<&str>, tags: &[&str]| {
        let mut m = customer("m1", at("2024-03-04T10:00:00+01:00"));
        m.channel = channel.into();
        m.team = team.map(str::to_owned);
        m.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        office
            .derive(tenant, vec![m])
            .unwrap()
            .sla
            .map(|s| (s.policy, s.calendar))
    };
    let policy = |found: Option<(String, String)>| found.map(|(p, _)| p);
    assert_eq!(
        policy(with("acme", "support", None, &["vip"])).as_deref(),
        Some("vip")
    );
    assert_eq!(
        policy(with("globex", "support", None, &["vip", "Priority:Urgent"])).as_deref(),
        Some("urgent-zendesk"),
        "vip is acme's only; priority from the tag"
    );
    assert_eq!(
        with("globex", "chat", Some("billing"), &[]),
        Some(("billing-chat".into(), "24/7".into()))
    );
    assert_eq!(
        with("acme", "chat", Some("support"), &[]),
        Some(("default".into(), "office".into())),
        "the conversation's business hours when the policy names none"
    );
    assert_eq!(
        with("globex", "email", None, &[]),
        None,
        "no policy, no SLA"
    );
}

#[test]
fn every_policy_problem_is_reported_at_once() {
    let hours: rapport_calendar::BusinessHoursConfig = toml::from_str(OFFICE).unwrap();
    let sla: SlaConfig = toml::from_str(
        r#"
        at_risk_before = "soon"
        [[policies]]
        name = "a"
        channels = ["fax"]
        calendar = "night-desk"
        first_response = "0s"
        [[policies]]
        name = "a"
        next_reply = "two hours"
        [[policies]]
        name = ""
    "#,
    )
    .unwrap();
    let problems = Rules::validate(&hours, &sla);
    for expected in [
        "sla.at_risk_before:",
        "sla.policies[0].channels:",
        "sla.policies[0].calendar:",
        "sla.policies[0].first_response: must be positive",
        "sla.policies[1].name:",
        "sla.policies[1].next_reply:",
        "sla.policies[2].name: a policy needs a name",
        "sla.policies[2]: no target",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 8, "{problems:#?}");
    let unknown = toml::from_str::<SlaConfig>("[[policies]]\nname = \"a\"\nwithin = \"1h\"");
    assert!(unknown.is_err(), "unknown keys are refused");
}

#[test]
fn a_calendar_that_never_opens_leaves_the_clock_running_without_a_due_time() {
    let hours = r#"
        default = "closed"
        [[calendars.closed.versions]]
        zone = "UTC"
    "#;
    let s = sla(
        &rules(hours, STANDARD),
        vec![customer("m1", at("2024-03-04T10:00:00+01:00"))],
    );
    assert_eq!(first(&s).status, Status::Active);
    assert_eq!(first(&s).due_at_ms, None);
    assert_eq!(first(&s).status.at(None, i64::MAX), Status::Active);
}

fn arbitrary_event() -> impl Strategy<Value = Event> {
    (
        0u32..1000,
        0i64..(5 * 24 * 60),
        prop_oneof![
            Just((("message", "inbound", "customer"), None)),
            Just((("message", "outbound", "agent"), None)),
            Just((("message", "outbound", "bot"), None)),
            Just((("note", "internal", "agent"), None)),
            Just((("status_change", "internal", "agent"), Some("solved"))),
            Just((("status_change", "internal", "agent"), Some("open"))),
            Just((("status_change", "internal", "agent"), Some("pending"))),
        ],
    )
        .prop_map(|(id, minute, (shape, status))| {
            event(
                &format!("e{id}"),
                at("2024-03-01T08:00:00+01:00") + minute * MINUTE,
                shape,
                status,
            )
        })
}

proptest! {
    /// SLA outcomes depend on the set of events only, and every cycle is consistent: a met
    /// cycle stopped no later than its due time, a breached one has a due time before its stop,
    /// an at-risk time never comes after the due time.
    #[test]
    fn outcomes_depend_on_the_set_of_events_only_and_are_consistent(
        events in proptest::collection::vec(arbitrary_event(), 1..25),
        seed in any::<u64>(),
    ) {
        let office = rules(OFFICE, STANDARD);
        let mut events = events;
        events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        events.dedup_by(|a, b| a.event_id == b.event_id);
        let expected = office.derive("acme", events.clone());
        let mut shuffled = events;
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let got = office.derive("acme", shuffled);
        prop_assert_eq!(&got, &expected);
        let sla = got.unwrap().sla.unwrap();
        for t in &sla.targets {
            for c in &t.cycles {
                match c.status {
                    Status::Met => prop_assert!(
                        c.due_at_ms.is_none() || c.stopped_at_ms <= c.due_at_ms, "{c:?}"
                    ),
                    Status::Breached => prop_assert!(c.due_at_ms.is_some(), "{c:?}"),
                    Status::Active => prop_assert!(c.stopped_at_ms.is_none(), "{c:?}"),
                    Status::Paused => prop_assert!(c.remaining_ms.is_some(), "{c:?}"),
                }
                if let (Some(risk), Some(due)) = (c.at_risk_at_ms, c.due_at_ms) {
                    prop_assert!(risk <= due, "{c:?}");
                }
                if let (Status::Breached, Some(stop), Some(due)) = (c.status, c.stopped_at_ms, c.due_at_ms) {
                    prop_assert!(due < stop || t.target == Target::Resolution, "{c:?}");
                }
            }
            prop_assert!(t.cycles.len() <= 1 || t.target == Target::NextReply);
        }
    }
}
