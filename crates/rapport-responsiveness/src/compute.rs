//! One conversation's metrics from its events (`docs/ANALYTICS.md`, "Metric definitions").
//!
//! The same steps as the `conversation_state` view of `schemas/clickhouse/`, so the two agree to
//! the millisecond: events in order of (time, rank, event id); a *run* is the customer messages
//! since the previous human reply; the k-th human reply answers the run the (k−1)-th left open,
//! and its latency is measured from the run's *first* message.

use crate::{Class, EventKind, StatusClass};

/// One stored event of the conversation, as the metrics need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_id: String,
    pub occurred_at_ms: i64,
    pub kind: EventKind,
    pub status: Option<String>,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub team: Option<String>,
    pub channel: String,
    /// The source (`zendesk`, `intercom`, …), for SLA policies that match on it.
    pub source: String,
    /// Tags at the source as this event carries them, for SLA policies that match on them.
    pub tags: Vec<String>,
    /// `type:value` keys of the customer identifiers the event carries, in stored order.
    pub identities: Vec<String>,
    /// Only a customer message's text is used (the last one is shown to whoever answers).
    pub text: Option<String>,
}

/// A human reply of the conversation. Every reply has one, so a reply whose latency disappears
/// (a late earlier reply answered its run) is overwritten rather than left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub event_id: String,
    pub replied_at_ms: i64,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// The first message of the run it answered, and the latency from it; `None` when it answered
    /// nothing (an agent-created ticket's first message, a second reply in a row).
    pub inbound_at_ms: Option<i64>,
    pub latency_ms: Option<i64>,
    /// Its latency is the conversation's first response time.
    pub is_first_response: bool,
}

/// A resolution event (a status change to solved, closed or resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub event_id: String,
    pub at_ms: i64,
    /// The conversation's first resolution: creation → it is the first resolution time.
    pub is_first: bool,
    /// The conversation's last resolution while it is still resolved: creation → it is the full
    /// resolution time.
    pub is_full: bool,
    /// Where the segment this resolution closes began: the conversation's creation for the
    /// first segment, else the reopen (a change to another status after a resolution) that
    /// started it. A resolution that follows another without a reopen closes the same segment.
    pub segment_started_at_ms: i64,
}

/// A run of customer messages: those since the previous human reply. Each is answered by the
/// next human reply, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The run's first customer message.
    pub first_event_id: String,
    pub started_at_ms: i64,
    /// Index into [`Conversation::replies`] of the reply that answered it.
    pub answered_by: Option<usize>,
}

/// Everything stored for one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The smallest channel name among its events (one channel in practice).
    pub channel: String,
    /// The smallest source name among its events.
    pub source: String,
    /// The tags of the latest event that carries any (tags are the source's current set).
    pub tags: Vec<String>,
    /// The latest team any event named.
    pub team: Option<String>,
    pub events: u32,
    pub created_at_ms: i64,
    pub first_inbound_at_ms: Option<i64>,
    pub first_response_at_ms: Option<i64>,
    pub first_response_ms: Option<i64>,
    pub first_responder_id: Option<String>,
    pub customer_messages: u32,
    pub human_replies: u32,
    pub replies_with_latency: u32,
    pub reply_latency_sum_ms: i64,
    /// Rounded half up, as the views do (`floor(x + 0.5)`).
    pub avg_reply_latency_ms: Option<i64>,
    pub max_reply_latency_ms: Option<i64>,
    pub first_resolved_at_ms: Option<i64>,
    pub last_resolved_at_ms: Option<i64>,
    pub first_resolution_ms: Option<i64>,
    /// Only while the conversation is resolved.
    pub full_resolution_ms: Option<i64>,
    pub reopen_count: u32,
    /// The status of the latest status change (`edited` aside).
    pub status: Option<String>,
    pub is_resolved: bool,
    /// The first customer message after the last human reply, whether or not a later resolution
    /// closed the wait (see `is_waiting`).
    pub waiting_since_ms: Option<i64>,
    /// A customer message waits for a human reply and no resolution came after it.
    pub is_waiting: bool,
    /// Customer messages since `waiting_since_ms` (0 when nothing waits).
    pub waiting_messages: u32,
    pub last_event_at_ms: i64,
    pub last_customer_message_at_ms: Option<i64>,
    /// Every identifier any event carried, sorted, once each.
    pub identities: Vec<String>,
    /// The primary identifier (email, then phone, then a source-scoped id; ties by text) of the
    /// earliest event that carries one: whose conversation it is, for the events that carry none.
    pub primary_identity: Option<String>,
    /// The last customer message's text, `""` when it had none.
    pub last_customer_text: String,
    pub replies: Vec<Reply>,
    pub resolutions: Vec<Resolution>,
    /// Every run of customer messages, in order; the first is the one the first response answers.
    pub runs: Vec<Run>,
}

/// The order events are read in: time, then customer message before human reply before the
/// rest, then event id.
fn order(e: &Event) -> (i64, u8, &str) {
    (e.occurred_at_ms, e.kind.class.rank(), e.event_id.as_str())
}

/// Puts events in the order every metric reads them: (time, rank, event id).
pub fn sort(events: &mut [Event]) {
    events.sort_by(|a, b| order(a).cmp(&order(b)));
}

/// The primary identifier of one event's identifiers.
pub fn primary(identities: &[String]) -> Option<&String> {
    fn rank(key: &str) -> (u8, &str, &str) {
        let (kind, value) = key.split_once(':').unwrap_or((key, ""));
        let class = match kind {
            "email" => 0,
            "phone" => 1,
            _ => 2,
        };
        (class, kind, value)
    }
    identities.iter().min_by(|a, b| rank(a).cmp(&rank(b)))
}

/// The conversation's metrics; `None` for no events. The result depends only on the set of
/// events (duplicates must already be removed: one event per id).
pub fn compute(mut events: Vec<Event>) -> Option<Conversation> {
    sort(&mut events);
    compute_sorted(&events)
}

/// [`compute`] of events already in [`sort`]'s order.
pub fn compute_sorted(events: &[Event]) -> Option<Conversation> {
    if events.is_empty() {
        return None;
    }

    // Customer messages with the number of human replies before each (`seg`), and the replies.
    let mut messages: Vec<(i64, usize)> = Vec::new();
    let mut replies: Vec<&Event> = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut run_segs: Vec<usize> = Vec::new();
    for e in events {
        match e.kind.class {
            Class::CustomerMessage => {
                if messages.last().is_none_or(|&(_, seg)| seg != replies.len()) {
                    runs.push(Run {
                        first_event_id: e.event_id.clone(),
                        started_at_ms: e.occurred_at_ms,
                        answered_by: None,
                    });
                    run_segs.push(replies.len());
                }
                messages.push((e.occurred_at_ms, replies.len()));
            }
            Class::HumanReply => replies.push(e),
            Class::Other => {}
        }
    }
    // The first message of the run each reply answers: the first message with seg = k − 1.
    let run_start = |k: usize| messages.iter().position(|&(_, seg)| seg == k - 1);
    let first_response_k = messages.first().map(|&(_, seg)| seg + 1);
    let has_first_response = first_response_k.is_some_and(|k| k <= replies.len());

    let mut reply_rows = Vec::with_capacity(replies.len());
    let (mut with_latency, mut sum, mut max) = (0u32, 0i64, None::<i64>);
    for (i, reply) in replies.iter().enumerate() {
        let k = i + 1;
        let inbound = run_start(k).map(|run| messages[run].0);
        let latency = inbound.map(|at| reply.occurred_at_ms - at);
        if let Some(latency) = latency {
            with_latency += 1;
            sum += latency;
            max = Some(max.map_or(latency, |m| m.max(latency)));
        }
        reply_rows.push(Reply {
            event_id: reply.event_id.clone(),
            replied_at_ms: reply.occurred_at_ms,
            agent_id: reply.actor_id.clone(),
            agent_name: reply.actor_name.clone(),
            inbound_at_ms: inbound,
            latency_ms: latency,
            is_first_response: inbound.is_some() && Some(k) == first_response_k,
        });
    }

    // Status changes in order: reopens, the current status, resolutions.
    let status_changes: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind.status != StatusClass::None)
        .collect();
    let created_at_ms = events[0].occurred_at_ms;
    let mut reopen_count = 0u32;
    let mut previous = StatusClass::None;
    let mut segment_starts = Vec::new();
    let mut segment_start = created_at_ms;
    for e in &status_changes {
        if e.kind.status == StatusClass::Other && previous == StatusClass::Resolution {
            reopen_count += 1;
            segment_start = e.occurred_at_ms;
        }
        if e.kind.status == StatusClass::Resolution {
            segment_starts.push(segment_start);
        }
        previous = e.kind.status;
    }
    let resolved_now = previous == StatusClass::Resolution;
    let resolution_events: Vec<&Event> = status_changes
        .iter()
        .copied()
        .filter(|e| e.kind.status == StatusClass::Resolution)
        .collect();
    let resolutions: Vec<Resolution> = resolution_events
        .iter()
        .zip(segment_starts)
        .enumerate()
        .map(|(i, (e, segment_started_at_ms))| Resolution {
            event_id: e.event_id.clone(),
            at_ms: e.occurred_at_ms,
            is_first: i == 0,
            is_full: resolved_now && i + 1 == resolution_events.len(),
            segment_started_at_ms,
        })
        .collect();
    // The run whose messages have `seg` replies before them is answered by reply `seg + 1`.
    for (run, seg) in runs.iter_mut().zip(run_segs) {
        run.answered_by = (seg < replies.len()).then_some(seg);
    }

    // Waiting: the first message after the last reply, unless a resolution came after the
    // customer's last message and the conversation is still resolved.
    let waiting_run = messages.iter().position(|&(_, seg)| seg == replies.len());
    let last_message_pos = events
        .iter()
        .rposition(|e| e.kind.class == Class::CustomerMessage);
    let last_resolution_pos = events
        .iter()
        .rposition(|e| e.kind.status == StatusClass::Resolution);
    let closed_after =
        resolved_now && last_resolution_pos.map(|p| p + 1) > last_message_pos.map(|p| p + 1);
    let is_waiting = waiting_run.is_some() && !closed_after;

    let mut identities: Vec<String> = events.iter().flat_map(|e| e.identities.clone()).collect();
    identities.sort_unstable();
    identities.dedup();
    // The earliest event that carries identifiers, by (time, event id) as the view takes it.
    let primary_identity = events
        .iter()
        .filter(|e| !e.identities.is_empty())
        .min_by(|a, b| (a.occurred_at_ms, &a.event_id).cmp(&(b.occurred_at_ms, &b.event_id)))
        .and_then(|e| primary(&e.identities).cloned());
    let last_customer_text = events
        .iter()
        .filter(|e| e.kind.class == Class::CustomerMessage)
        .max_by(|a, b| (a.occurred_at_ms, &a.event_id).cmp(&(b.occurred_at_ms, &b.event_id)))
        .and_then(|e| e.text.clone())
        .unwrap_or_default();
    let first_response = has_first_response
        .then(|| first_response_k.map(|k| replies[k - 1]))
        .flatten();

    Some(Conversation {
        channel: events
            .iter()
            .map(|e| e.channel.as_str())
            .min()
            .unwrap_or_default()
            .to_owned(),
        source: events
            .iter()
            .map(|e| e.source.as_str())
            .min()
            .unwrap_or_default()
            .to_owned(),
        tags: events
            .iter()
            .rev()
            .find(|e| !e.tags.is_empty())
            .map(|e| e.tags.clone())
            .unwrap_or_default(),
        team: events
            .iter()
            .rev()
            .find_map(|e| e.team.as_deref().filter(|t| !t.is_empty()))
            .map(str::to_owned),
        events: u32::try_from(events.len()).unwrap_or(u32::MAX),
        created_at_ms,
        first_inbound_at_ms: messages.first().map(|m| m.0),
        first_response_at_ms: first_response.map(|r| r.occurred_at_ms),
        first_response_ms: first_response
            .zip(messages.first())
            .map(|(r, m)| r.occurred_at_ms - m.0),
        first_responder_id: first_response.and_then(|r| r.actor_id.clone()),
        customer_messages: u32::try_from(messages.len()).unwrap_or(u32::MAX),
        human_replies: u32::try_from(replies.len()).unwrap_or(u32::MAX),
        replies_with_latency: with_latency,
        reply_latency_sum_ms: sum,
        avg_reply_latency_ms: (with_latency > 0)
            .then(|| (sum as f64 / f64::from(with_latency) + 0.5).floor() as i64),
        max_reply_latency_ms: max,
        first_resolved_at_ms: resolution_events.first().map(|e| e.occurred_at_ms),
        last_resolved_at_ms: resolution_events.last().map(|e| e.occurred_at_ms),
        first_resolution_ms: resolution_events
            .first()
            .map(|e| e.occurred_at_ms - created_at_ms),
        full_resolution_ms: resolved_now
            .then(|| {
                resolution_events
                    .last()
                    .map(|e| e.occurred_at_ms - created_at_ms)
            })
            .flatten(),
        reopen_count,
        status: status_changes
            .last()
            .map(|e| e.status.clone().unwrap_or_default()),
        is_resolved: resolved_now,
        waiting_since_ms: waiting_run.map(|run| messages[run].0),
        is_waiting,
        waiting_messages: if is_waiting {
            u32::try_from(messages.len() - waiting_run.unwrap_or(0)).unwrap_or(u32::MAX)
        } else {
            0
        },
        last_event_at_ms: events.last().map_or(created_at_ms, |e| e.occurred_at_ms),
        last_customer_message_at_ms: messages.last().map(|m| m.0),
        identities,
        primary_identity,
        last_customer_text,
        replies: reply_rows,
        resolutions,
        runs,
    })
}
