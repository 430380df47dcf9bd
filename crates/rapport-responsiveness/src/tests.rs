use proptest::prelude::*;

use super::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;
const DAY: i64 = 24 * H;
const T0: i64 = 1_709_888_400_000; // 2024-03-08 09:00:00 UTC

fn event(
    id: &str,
    at: i64,
    kind: &str,
    direction: &str,
    role: &str,
    status: Option<&str>,
) -> Event {
    Event {
        event_id: id.into(),
        occurred_at_ms: at,
        kind: EventKind::classify(kind, direction, role, false, status),
        status: status.map(str::to_owned),
        actor_id: (role == "agent").then(|| format!("agent-{id}")),
        actor_name: None,
        team: None,
        channel: "email".into(),
        source: "generic".into(),
        tags: vec![],
        identities: if role == "customer" {
            vec!["email:maria@example.com".into()]
        } else {
            vec![]
        },
        text: Some(format!("text of {id}")),
    }
}

fn customer(id: &str, at: i64) -> Event {
    event(id, at, "message", "inbound", "customer", None)
}

fn reply(id: &str, at: i64) -> Event {
    event(id, at, "message", "outbound", "agent", None)
}

fn status(id: &str, at: i64, to: &str) -> Event {
    event(id, at, "status_change", "internal", "agent", Some(to))
}

/// ANALYTICS.md's worked example `email:<thread-1@mail.example.com>`.
fn thread_one() -> Vec<Event> {
    vec![
        customer("m1", T0),
        customer("m2", T0 + 10 * M),
        reply("r1", T0 + 30 * M),
        customer("m3", T0 + H),
        reply("r2", T0 + H + 5 * M),
        status("s1", T0 + H + 6 * M, "solved"),
    ]
}

#[test]
fn the_worked_example_gives_the_documented_numbers() {
    let c = compute(thread_one()).unwrap();
    assert_eq!(
        c.first_response_ms,
        Some(1_800_000),
        "from the run's first message"
    );
    assert_eq!(c.first_response_at_ms, Some(T0 + 30 * M));
    assert_eq!(
        c.replies.iter().map(|r| r.latency_ms).collect::<Vec<_>>(),
        [Some(1_800_000), Some(300_000)]
    );
    assert_eq!(c.avg_reply_latency_ms, Some(1_050_000));
    assert_eq!(c.max_reply_latency_ms, Some(1_800_000));
    assert_eq!(c.first_resolution_ms, Some(66 * M));
    assert_eq!(c.full_resolution_ms, Some(66 * M));
    assert!(c.is_resolved && !c.is_waiting);
    assert_eq!(c.customer_messages, 3);
    assert_eq!(c.status.as_deref(), Some("solved"));
    assert!(c.replies[0].is_first_response && !c.replies[1].is_first_response);
}

#[test]
fn a_reopen_counts_and_full_resolution_follows_the_last() {
    // ANALYTICS.md's `zendesk:501`: solved on day one, reopened by the customer, solved again.
    let events = vec![
        customer("z1", T0),
        reply("z2", T0 + H),
        status("z3", T0 + 3 * H, "solved"),
        customer("z4", T0 + DAY),
        status("z5", T0 + DAY + 1, "open"),
        reply("z6", T0 + DAY + H),
        status("z7", T0 + DAY + 2 * H, "solved"),
    ];
    let c = compute(events).unwrap();
    assert_eq!(c.reopen_count, 1);
    assert_eq!(c.first_resolution_ms, Some(3 * H));
    assert_eq!(c.full_resolution_ms, Some(DAY + 2 * H));
    assert_eq!(c.first_response_ms, Some(H), "a reopen does not restart it");
    assert_eq!(
        c.resolutions
            .iter()
            .map(|r| (r.is_first, r.is_full))
            .collect::<Vec<_>>(),
        [(true, false), (false, true)]
    );
}

#[test]
fn a_late_earlier_customer_message_moves_the_first_response_back() {
    let mut events = vec![customer("m2", T0 + 10 * M), reply("r1", T0 + 30 * M)];
    assert_eq!(
        compute(events.clone()).unwrap().first_response_ms,
        Some(20 * M)
    );
    events.push(customer("m1", T0));
    assert_eq!(compute(events).unwrap().first_response_ms, Some(30 * M));
}

#[test]
fn waiting_after_the_last_reply_unless_resolved_after_it() {
    let mut events = vec![
        customer("m1", T0),
        reply("r1", T0 + M),
        customer("m2", T0 + H),
    ];
    let c = compute(events.clone()).unwrap();
    assert!(c.is_waiting);
    assert_eq!((c.waiting_since_ms, c.waiting_messages), (Some(T0 + H), 1));
    events.push(status("s1", T0 + 2 * H, "closed"));
    let c = compute(events.clone()).unwrap();
    assert!(!c.is_waiting, "closed without a reply: spam handled");
    assert_eq!(c.waiting_since_ms, Some(T0 + H), "as the view keeps it");
    events.push(customer("m3", T0 + 3 * H));
    let c = compute(events).unwrap();
    assert!(c.is_waiting, "writing again after a resolution waits again");
    assert_eq!(c.waiting_messages, 2);
}

#[test]
fn bots_notes_and_auto_replies_stop_no_clock() {
    let mut bot = event("b", T0 + M, "message", "outbound", "bot", None);
    bot.identities.clear();
    let note = event("n", T0 + 2 * M, "note", "internal", "agent", None);
    let mut auto = reply("a", T0 + 3 * M);
    auto.kind = EventKind::classify("message", "outbound", "agent", true, None);
    let c = compute(vec![customer("m", T0), bot, note, auto, reply("r", T0 + H)]).unwrap();
    assert_eq!(c.first_response_ms, Some(H));
    assert_eq!(c.human_replies, 1);
}

#[test]
fn an_agent_created_ticket_answers_nothing_first() {
    let c = compute(vec![
        reply("r0", T0),
        customer("m1", T0 + H),
        reply("r1", T0 + 2 * H),
    ])
    .unwrap();
    assert_eq!(c.replies[0].latency_ms, None);
    assert_eq!(c.first_response_ms, Some(H));
    assert!(c.replies[1].is_first_response);
}

#[test]
fn the_primary_identity_is_the_earliest_identified_events_email_first() {
    let mut first = customer("m1", T0);
    first.identities = vec!["zendesk_user:9".into(), "phone:+14155552671".into()];
    let mut second = customer("m2", T0 + M);
    second.identities = vec!["email:a@example.com".into()];
    let c = compute(vec![second, first]).unwrap();
    assert_eq!(c.primary_identity.as_deref(), Some("phone:+14155552671"));
    assert_eq!(c.identities.len(), 3);
}

fn arbitrary_event() -> impl Strategy<Value = Event> {
    (
        0u32..1000,
        0i64..20,
        prop_oneof![
            Just(("message", "inbound", "customer", None)),
            Just(("message", "outbound", "agent", None)),
            Just(("message", "outbound", "bot", None)),
            Just(("note", "internal", "agent", None)),
            Just(("status_change", "internal", "agent", Some("solved"))),
            Just(("status_change", "internal", "agent", Some("open"))),
            Just(("status_change", "internal", "system", Some("edited"))),
            Just(("review", "inbound", "customer", None)),
            Just(("review_reply", "outbound", "agent", None)),
        ],
    )
        .prop_map(|(id, minute, (kind, direction, role, status))| {
            event(
                &format!("e{id}"),
                T0 + minute * M,
                kind,
                direction,
                role,
                status,
            )
        })
}

proptest! {
    /// What is computed depends on the set of events only: any arrival order gives the same.
    #[test]
    fn the_arrival_order_never_matters(
        events in proptest::collection::vec(arbitrary_event(), 1..30),
        seed in any::<u64>(),
    ) {
        let mut events = events;
        events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        events.dedup_by(|a, b| a.event_id == b.event_id);
        let expected = compute(events.clone());
        let mut shuffled = events;
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(compute(shuffled), expected);
    }
}
