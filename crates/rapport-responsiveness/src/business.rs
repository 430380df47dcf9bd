//! The business-time side of one conversation's metrics: every wall-clock duration of
//! [`Conversation`] measured again with a calendar (`docs/ANALYTICS.md`, "Business time").
//!
//! Each is `Calendar::business_ms` of exactly the two instants the wall-clock metric subtracts,
//! so the two can never disagree about which events count: the same bot, auto-reply, note and
//! reopen rules apply, and only the clock differs. The calendar is the one in force at each
//! instant (effective-dated versions), so history keeps its own hours after a calendar change.

use rapport_calendar::Calendar;

use crate::Conversation;

/// One resolution's segment, measured both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Wall-clock ms from the segment's start (creation or reopen) to the resolution.
    pub wall_ms: i64,
    pub business_ms: i64,
}

/// A conversation's durations in business milliseconds. `None` exactly where the wall-clock
/// metric is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessTimes {
    /// The calendar they were measured with (`"24/7"`: business time is wall time).
    pub calendar: String,
    pub first_response_ms: Option<i64>,
    /// One per [`Conversation::replies`], in the same order: the business latency of each reply
    /// that answered a run.
    pub reply_latency_ms: Vec<Option<i64>>,
    pub reply_latency_sum_ms: i64,
    /// Rounded half up, as the wall-clock average.
    pub avg_reply_latency_ms: Option<i64>,
    pub max_reply_latency_ms: Option<i64>,
    pub first_resolution_ms: Option<i64>,
    pub full_resolution_ms: Option<i64>,
    /// One per [`Conversation::resolutions`], in the same order.
    pub segments: Vec<Segment>,
}

/// Measures `c`'s durations with `calendar`.
pub fn business_times(c: &Conversation, calendar: &Calendar) -> BusinessTimes {
    let between = |from: i64, to: i64| calendar.business_ms(from, to);
    let reply_latency_ms: Vec<Option<i64>> = c
        .replies
        .iter()
        .map(|r| r.inbound_at_ms.map(|at| between(at, r.replied_at_ms)))
        .collect();
    let measured: Vec<i64> = reply_latency_ms.iter().flatten().copied().collect();
    let sum: i64 = measured.iter().sum();
    let avg =
        (!measured.is_empty()).then(|| (sum as f64 / measured.len() as f64 + 0.5).floor() as i64);
    BusinessTimes {
        calendar: calendar.name().to_owned(),
        first_response_ms: c
            .first_inbound_at_ms
            .zip(c.first_response_at_ms)
            .map(|(from, to)| between(from, to)),
        reply_latency_ms,
        reply_latency_sum_ms: sum,
        avg_reply_latency_ms: avg,
        max_reply_latency_ms: measured.iter().copied().max(),
        first_resolution_ms: c
            .first_resolved_at_ms
            .map(|at| between(c.created_at_ms, at)),
        full_resolution_ms: c
            .full_resolution_ms
            .and(c.last_resolved_at_ms)
            .map(|at| between(c.created_at_ms, at)),
        segments: c
            .resolutions
            .iter()
            .map(|r| Segment {
                wall_ms: r.at_ms - r.segment_started_at_ms,
                business_ms: between(r.segment_started_at_ms, r.at_ms),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{HOUR, MINUTE, OFFICE, at, bot, customer, note, reply, rules, status};

    fn derive(hours: &str, events: Vec<crate::Event>) -> crate::Derived {
        rules(hours, "").derive("acme", events).unwrap()
    }

    #[test]
    fn a_sunday_message_answered_monday_0905_has_a_five_minute_business_first_response() {
        let d = derive(
            OFFICE,
            vec![
                customer("m1", at("2024-03-03T14:12:00+01:00")),
                bot("b1", at("2024-03-03T14:12:05+01:00")),
                reply("r1", at("2024-03-04T09:05:00+01:00")),
            ],
        );
        assert_eq!(d.business.first_response_ms, Some(5 * MINUTE));
        assert_eq!(
            d.conversation.first_response_ms,
            Some(18 * HOUR + 53 * MINUTE),
            "the wall clock beside it"
        );
        assert_eq!(d.business.calendar, "office");
        assert_eq!(d.business.reply_latency_ms, [Some(5 * MINUTE)]);
    }

    #[test]
    fn friday_evening_to_monday_morning_is_minutes_of_business_time_and_days_of_wall_time() {
        // The issue's example, 9–18 on weekdays: Friday 18:05 is after closing, so the clock
        // starts Monday 09:00 and the 09:10 reply took 10 business minutes (63 h 05 on the wall).
        let hours = OFFICE.replace("09:00-17:00", "09:00-18:00");
        let d = derive(
            &hours,
            vec![
                customer("m1", at("2024-03-01T18:05:00+01:00")),
                reply("r1", at("2024-03-04T09:10:00+01:00")),
            ],
        );
        assert_eq!(d.business.first_response_ms, Some(10 * MINUTE));
        assert_eq!(
            d.conversation.first_response_ms,
            Some(63 * HOUR + 5 * MINUTE)
        );
    }

    #[test]
    fn a_holiday_between_message_and_reply_does_not_count() {
        let hours = format!(
            "{OFFICE}\n    holidays = [{{ date = \"2024-05-01\", name = \"Labour Day\" }}]\n"
        );
        // Tuesday 16:00 → Thursday 10:00 with Wednesday 1 May closed: 1 h + 1 h.
        let d = derive(
            &hours,
            vec![
                customer("m1", at("2024-04-30T16:00:00+02:00")),
                reply("r1", at("2024-05-02T10:00:00+02:00")),
            ],
        );
        assert_eq!(d.business.first_response_ms, Some(2 * HOUR));
    }

    #[test]
    fn a_calendar_changed_mid_month_measures_each_conversation_with_its_own_hours() {
        // 9–17 until 15 March 2024, 8–18 from then on.
        let hours = r#"
            default = "office"
            [[calendars.office.versions]]
            zone = "Europe/Berlin"
            week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
            [[calendars.office.versions]]
            effective_from = "2024-03-15"
            zone = "Europe/Berlin"
            week = { mon = ["08:00-18:00"], tue = ["08:00-18:00"], wed = ["08:00-18:00"], thu = ["08:00-18:00"], fri = ["08:00-18:00"] }
        "#;
        // Before: Tuesday 5 March 16:00 → Wednesday 09:30: 1 h to the 17:00 close, 30 min after 09:00.
        let before = derive(
            hours,
            vec![
                customer("m1", at("2024-03-05T16:00:00+01:00")),
                reply("r1", at("2024-03-06T09:30:00+01:00")),
            ],
        );
        assert_eq!(before.business.first_response_ms, Some(90 * MINUTE));
        // After: Tuesday 19 March 16:00 → Wednesday 09:30: 2 h + 1.5 h.
        let after = derive(
            hours,
            vec![
                customer("m1", at("2024-03-19T16:00:00+01:00")),
                reply("r1", at("2024-03-20T09:30:00+01:00")),
            ],
        );
        assert_eq!(
            after.business.first_response_ms,
            Some(3 * HOUR + 30 * MINUTE)
        );
        // Across: Thursday 14 March 16:00 (old: 1 h to 17:00) → Friday 15 March 09:00 (new:
        // 08:00-09:00) is 2 h, each side with its own version.
        let across = derive(
            hours,
            vec![
                customer("m1", at("2024-03-14T16:00:00+01:00")),
                reply("r1", at("2024-03-15T09:00:00+01:00")),
            ],
        );
        assert_eq!(across.business.first_response_ms, Some(2 * HOUR));
    }

    #[test]
    fn a_reopened_conversation_is_measured_per_segment() {
        let d = derive(
            OFFICE,
            vec![
                customer("m1", at("2024-03-04T09:00:00+01:00")),
                reply("r1", at("2024-03-04T10:00:00+01:00")),
                status("s1", at("2024-03-04T11:00:00+01:00"), "solved"),
                customer("m2", at("2024-03-05T09:50:00+01:00")),
                status("s2", at("2024-03-05T10:00:00+01:00"), "open"),
                note("n1", at("2024-03-05T10:10:00+01:00")),
                status("s3", at("2024-03-05T10:30:00+01:00"), "solved"),
                status("s4", at("2024-03-05T10:40:00+01:00"), "closed"),
            ],
        );
        let b = &d.business;
        assert_eq!(b.first_resolution_ms, Some(2 * HOUR));
        // Creation → last resolution: Monday 9–17 and Tuesday 9–10:40.
        assert_eq!(b.full_resolution_ms, Some(9 * HOUR + 40 * MINUTE));
        assert_eq!(
            d.conversation.full_resolution_ms,
            Some(25 * HOUR + 40 * MINUTE)
        );
        let segments: Vec<(i64, i64)> = b
            .segments
            .iter()
            .map(|s| (s.wall_ms, s.business_ms))
            .collect();
        // The first segment from creation, the second from the reopen; closing after solving
        // without a reopen closes the same segment.
        assert_eq!(
            segments,
            [
                (2 * HOUR, 2 * HOUR),
                (30 * MINUTE, 30 * MINUTE),
                (40 * MINUTE, 40 * MINUTE)
            ]
        );
    }

    #[test]
    fn without_business_hours_business_time_is_wall_time() {
        let d = derive(
            "",
            vec![
                customer("m1", at("2024-03-03T14:12:00+01:00")),
                reply("r1", at("2024-03-04T09:05:00+01:00")),
                customer("m2", at("2024-03-04T10:00:00+01:00")),
                reply("r2", at("2024-03-04T10:07:00+01:00")),
                status("s1", at("2024-03-04T11:00:00+01:00"), "solved"),
            ],
        );
        let c = &d.conversation;
        let b = &d.business;
        assert_eq!(b.calendar, "24/7");
        assert_eq!(b.first_response_ms, c.first_response_ms);
        assert_eq!(b.avg_reply_latency_ms, c.avg_reply_latency_ms);
        assert_eq!(b.max_reply_latency_ms, c.max_reply_latency_ms);
        assert_eq!(b.reply_latency_sum_ms, c.reply_latency_sum_ms);
        assert_eq!(b.first_resolution_ms, c.first_resolution_ms);
        assert_eq!(b.full_resolution_ms, c.full_resolution_ms);
    }
}
