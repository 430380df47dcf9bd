//! When an SLA clock runs: the stretches of a cycle that are neither paused nor closed, and the
//! instant the business time used up in them reaches an amount.

use rapport_calendar::Calendar;

use crate::{Class, Event, StatusClass};

/// `[start, end)`; `end` `None` runs on.
pub(crate) type Span = (i64, Option<i64>);

/// The stretches in which no clock runs, from the conversation's events in order.
#[derive(Debug, Default)]
pub(crate) struct Blocked {
    /// A pause status was in force.
    pub paused: Vec<Span>,
    /// Resolved, until a change to another status. Stops the resolution clock.
    pub resolved: Vec<Span>,
    /// Resolved, until a change to another status or the customer's next message (a message
    /// after a resolution waits for an answer, as `is_waiting` says). Stops the reply clocks.
    pub resolved_for_replies: Vec<Span>,
}

impl Blocked {
    pub(crate) fn of(events: &[Event], pause_statuses: &[String]) -> Self {
        let mut blocked = Self::default();
        let (mut paused, mut resolved, mut for_replies) = (None, None, None);
        for e in events {
            let at = e.occurred_at_ms;
            if e.kind.status == StatusClass::None {
                if e.kind.class == Class::CustomerMessage
                    && let Some(since) = for_replies.take()
                {
                    blocked.resolved_for_replies.push((since, Some(at)));
                }
                continue;
            }
            let is_resolution = e.kind.status == StatusClass::Resolution;
            let status = e
                .status
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_lowercase();
            let is_pause = !is_resolution && pause_statuses.contains(&status);
            if !is_pause && let Some(since) = paused.take() {
                blocked.paused.push((since, Some(at)));
            }
            if !is_resolution {
                if let Some(since) = resolved.take() {
                    blocked.resolved.push((since, Some(at)));
                }
                if let Some(since) = for_replies.take() {
                    blocked.resolved_for_replies.push((since, Some(at)));
                }
            }
            if is_pause {
                paused.get_or_insert(at);
            }
            if is_resolution {
                resolved.get_or_insert(at);
                for_replies.get_or_insert(at);
            }
        }
        blocked.paused.extend(paused.map(|s| (s, None)));
        blocked.resolved.extend(resolved.map(|s| (s, None)));
        blocked
            .resolved_for_replies
            .extend(for_replies.map(|s| (s, None)));
        blocked
    }
}

/// How a cycle's clock stands at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Still running.
    Running,
    /// Stopped for now by a pause status.
    Paused,
    /// Stopped for now by a resolution, since this instant.
    Closed(i64),
    /// Stopped for good (the reply that answered it), at this instant.
    Stopped(i64),
}

/// The stretches of `[start, stop)` outside every blocked span (`paused` and `closed` are each
/// sorted and disjoint), and how the clock stands at the end.
pub(crate) fn running(
    start: i64,
    stop: Option<i64>,
    paused: &[Span],
    closed: &[Span],
) -> (Vec<Span>, End) {
    let mut blocked: Vec<(i64, Option<i64>, bool)> = paused
        .iter()
        .map(|&(a, b)| (a, b, true))
        .chain(closed.iter().map(|&(a, b)| (a, b, false)))
        .collect();
    blocked.sort_by_key(|&(a, _, _)| a);
    let before = |a: i64, b: Option<i64>| b.is_none_or(|b| a < b);
    let mut spans = Vec::new();
    let mut cursor = start;
    let mut end = None;
    for (a, b, is_pause) in blocked {
        if b.is_some_and(|b| b <= cursor) {
            continue;
        }
        if stop.is_some_and(|s| a >= s) {
            break;
        }
        if a > cursor {
            spans.push((cursor, Some(a)));
        }
        match b {
            Some(b) => cursor = cursor.max(b),
            None => {
                end = Some(match stop {
                    // Answered while paused or closed: the reply still ends the cycle.
                    Some(s) => End::Stopped(s),
                    None if is_pause => End::Paused,
                    None => End::Closed(a.max(start)),
                });
                break;
            }
        }
    }
    let end = match (end, stop) {
        (Some(end), _) => end,
        (None, Some(s)) => {
            if before(cursor, Some(s)) {
                spans.push((cursor, Some(s)));
            }
            End::Stopped(s)
        }
        (None, None) => {
            spans.push((cursor, None));
            End::Running
        }
    };
    (spans, end)
}

/// Where the business time used up in `spans` reaches `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    At(i64),
    /// Not within the spans (all finite); this much was used.
    NotWithin(i64),
    /// Never: the calendar does not open again before its horizon.
    Never,
}

pub(crate) fn reach(calendar: &Calendar, spans: &[Span], amount: i64) -> Reach {
    let mut used = 0;
    for &(a, b) in spans {
        let Some(b) = b else {
            return calendar
                .add_business(a, amount - used)
                .map_or(Reach::Never, Reach::At);
        };
        let here = calendar.business_ms(a, b);
        if used + here >= amount {
            return calendar
                .add_business(a, amount - used)
                .map_or(Reach::Never, |t| Reach::At(t.min(b)));
        }
        used += here;
    }
    Reach::NotWithin(used)
}
