//! Named cases (each with its expected value worked out by hand in the comment) and properties.

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::config::CalendarConfig;
use crate::table::{HORIZON_END, HORIZON_START};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// An instant written with an explicit offset, so expected values never depend on our own
/// time-zone resolution: `at("2024-03-01T16:30+01:00")`.
fn at(text: &str) -> i64 {
    text.parse::<Timestamp>()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .as_millisecond()
}

fn calendar(toml_text: &str) -> Calendar {
    let config: CalendarConfig = toml::from_str(toml_text).expect("test calendar parses");
    Calendar::from_config("test", &config).unwrap_or_else(|e| panic!("{e}"))
}

const WEEKDAYS_9_17_BERLIN: &str = r#"
    [[versions]]
    zone = "Europe/Berlin"
    week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
"#;

#[test]
fn friday_1630_plus_one_hour_is_due_monday_0930() {
    let office = calendar(WEEKDAYS_9_17_BERLIN);
    // Friday 16:30-17:00 gives 30 minutes, Monday 09:00-09:30 the other 30.
    let friday = at("2024-03-01T16:30+01:00");
    assert_eq!(
        office.add_business(friday, HOUR),
        Some(at("2024-03-04T09:30+01:00"))
    );
    assert_eq!(
        office.business_ms(friday, at("2024-03-04T09:30+01:00")),
        HOUR
    );
}

#[test]
fn a_sunday_message_answered_monday_0905_took_five_business_minutes() {
    let office = calendar(WEEKDAYS_9_17_BERLIN);
    let sunday = at("2024-03-03T14:12+01:00");
    let reply = at("2024-03-04T09:05+01:00");
    assert_eq!(office.business_ms(sunday, reply), 5 * MINUTE);
    // The clock starts at the next opening, whatever time on Sunday the message came.
    assert_eq!(
        office.business_ms(at("2024-03-02T00:01+01:00"), reply),
        5 * MINUTE
    );
    assert_eq!(office.business_ms(reply, sunday), 0, "reversed interval");
}

#[test]
fn a_night_shift_from_2200_to_0600_runs_into_the_next_day() {
    let nights = calendar(
        r#"
        [[versions]]
        zone = "UTC"
        week = { mon = ["22:00-06:00"], tue = ["22:00-06:00"], wed = ["22:00-06:00"], thu = ["22:00-06:00"], fri = ["22:00-06:00"] }
    "#,
    );
    // Monday 2024-03-04 21:00 to Tuesday 01:00: 22:00-01:00 counts.
    assert_eq!(
        nights.business_ms(at("2024-03-04T21:00Z"), at("2024-03-05T01:00Z")),
        3 * HOUR
    );
    assert!(nights.is_open(at("2024-03-05T03:00Z")));
    assert!(
        !nights.is_open(at("2024-03-05T06:00Z")),
        "the end is not open"
    );
    assert_eq!(
        nights.next_change(at("2024-03-05T03:00Z")),
        Some(at("2024-03-05T06:00Z"))
    );
    // A full shift is exactly 8 hours: due at its closing instant, not at the next opening.
    assert_eq!(
        nights.add_business(at("2024-03-04T21:00Z"), 8 * HOUR),
        Some(at("2024-03-05T06:00Z"))
    );
    assert_eq!(
        nights.add_business(at("2024-03-04T21:00Z"), 8 * HOUR + MINUTE),
        Some(at("2024-03-05T22:01Z"))
    );
    // Friday's shift ends Saturday 06:00; nothing opens again until Monday 22:00.
    assert_eq!(
        nights.business_ms(at("2024-03-08T23:00Z"), at("2024-03-11T23:00Z")),
        7 * HOUR + HOUR
    );
    assert_eq!(
        nights.next_change(at("2024-03-09T06:00Z")),
        Some(at("2024-03-11T22:00Z"))
    );
}

#[test]
fn a_sunday_night_shift_wraps_into_monday() {
    let nights = calendar(
        r#"
        [[versions]]
        zone = "UTC"
        week = { sun = ["20:00-04:00"], mon = ["04:00-08:00"] }
    "#,
    );
    // Sunday 20:00 to Monday 08:00 is one stretch of 12 hours.
    assert_eq!(
        nights.business_ms(at("2024-03-10T00:00Z"), at("2024-03-12T00:00Z")),
        12 * HOUR
    );
    assert_eq!(
        nights.next_change(at("2024-03-10T21:00Z")),
        Some(at("2024-03-11T08:00Z"))
    );
}

#[test]
fn a_lunch_break_between_two_periods_does_not_count() {
    let office = calendar(
        r#"
        [[versions]]
        zone = "Europe/Berlin"
        week = { mon = ["09:00-12:00", "13:00-17:00"], tue = ["09:00-12:00", "13:00-17:00"] }
    "#,
    );
    let message = at("2024-03-04T11:30+01:00");
    assert_eq!(
        office.business_ms(message, at("2024-03-04T13:30+01:00")),
        HOUR
    );
    assert_eq!(
        office.add_business(message, 45 * MINUTE),
        Some(at("2024-03-04T13:15+01:00"))
    );
    assert_eq!(
        office.next_change(message),
        Some(at("2024-03-04T12:00+01:00"))
    );
    assert_eq!(
        office.next_change(at("2024-03-04T12:00+01:00")),
        Some(at("2024-03-04T13:00+01:00"))
    );
    // A whole Monday is 7 hours, not 8.
    assert_eq!(
        office.business_ms(at("2024-03-04T00:00+01:00"), at("2024-03-05T00:00+01:00")),
        7 * HOUR
    );
}

/// Sunday-only calendars whose periods span or touch the change, for one DST day.
fn sundays(zone: &str, periods: &str) -> Calendar {
    calendar(&format!(
        "[[versions]]\nzone = \"{zone}\"\nweek = {{ sun = [{periods}] }}"
    ))
}

#[test]
fn berlin_spring_forward_shortens_a_period_that_spans_the_jump() {
    // 2024-03-31: 02:00 CET jumps to 03:00 CEST (01:00Z).
    let (from, to) = (at("2024-03-30T12:00Z"), at("2024-04-01T00:00Z"));
    // 00:00 CET (23:00Z) to 06:00 CEST (04:00Z): 5 real hours.
    assert_eq!(
        sundays("Europe/Berlin", "\"00:00-06:00\"").business_ms(from, to),
        5 * HOUR
    );
    // A whole day is 23 hours.
    assert_eq!(
        sundays("Europe/Berlin", "\"00:00-24:00\"").business_ms(from, to),
        23 * HOUR
    );
    // A start inside the skipped hour opens at the jump (03:00 CEST): 03:00 to 05:00.
    let late = sundays("Europe/Berlin", "\"02:30-05:00\"");
    assert_eq!(late.business_ms(from, to), 2 * HOUR);
    assert_eq!(late.next_change(from), Some(at("2024-03-31T03:00+02:00")));
    // An end inside it closes at the jump: 01:00 CET to 03:00 CEST is 1 hour.
    assert_eq!(
        sundays("Europe/Berlin", "\"01:00-02:30\"").business_ms(from, to),
        HOUR
    );
    // 4 business hours from Sunday 00:00 end at 05:00 CEST, 4 real hours later.
    assert_eq!(
        sundays("Europe/Berlin", "\"00:00-06:00\"")
            .add_business(at("2024-03-31T00:00+01:00"), 4 * HOUR),
        Some(at("2024-03-31T05:00+02:00"))
    );
}

#[test]
fn berlin_fall_back_lengthens_a_period_that_spans_the_repeat() {
    // 2024-10-27: 03:00 CEST falls back to 02:00 CET (01:00Z); 02:00-03:00 happens twice.
    let (from, to) = (at("2024-10-26T12:00Z"), at("2024-10-28T00:00Z"));
    // 00:00 CEST (22:00Z) to 06:00 CET (05:00Z): 7 real hours.
    assert_eq!(
        sundays("Europe/Berlin", "\"00:00-06:00\"").business_ms(from, to),
        7 * HOUR
    );
    assert_eq!(
        sundays("Europe/Berlin", "\"00:00-24:00\"").business_ms(from, to),
        25 * HOUR
    );
    // A repeated time counts at its first occurrence: 02:30 CEST (00:30Z) to 05:00 CET (04:00Z).
    assert_eq!(
        sundays("Europe/Berlin", "\"02:30-05:00\"").business_ms(from, to),
        3 * HOUR + 30 * MINUTE
    );
    // And an end there closes the first time the clock shows it: 01:00 to 02:30 CEST.
    assert_eq!(
        sundays("Europe/Berlin", "\"01:00-02:30\"").business_ms(from, to),
        HOUR + 30 * MINUTE
    );
    // The second 02:15 (CET) is inside 00:00-06:00 and the clock keeps running through it.
    let night = sundays("Europe/Berlin", "\"00:00-06:00\"");
    assert!(night.is_open(at("2024-10-27T02:15+01:00")));
    assert_eq!(
        night.business_ms(at("2024-10-27T02:15+02:00"), at("2024-10-27T02:15+01:00")),
        HOUR
    );
}

#[test]
fn new_york_spring_forward_and_fall_back() {
    // 2024-03-10: 02:00 EST jumps to 03:00 EDT. 00:00 EST (05:00Z) to 06:00 EDT (10:00Z).
    let spring = sundays("America/New_York", "\"00:00-06:00\"");
    assert_eq!(
        spring.business_ms(at("2024-03-09T12:00Z"), at("2024-03-11T12:00Z")),
        5 * HOUR
    );
    assert_eq!(
        spring.add_business(at("2024-03-10T00:00-05:00"), 4 * HOUR),
        Some(at("2024-03-10T05:00-04:00"))
    );
    // 2024-11-03: 02:00 EDT falls back to 01:00 EST. 00:00 EDT (04:00Z) to 06:00 EST (11:00Z).
    let fall = sundays("America/New_York", "\"00:00-06:00\"");
    assert_eq!(
        fall.business_ms(at("2024-11-02T12:00Z"), at("2024-11-04T12:00Z")),
        7 * HOUR
    );
    // 01:30 happens twice; the period starts at the first (EDT, 05:30Z) and ends 04:00 EST.
    assert_eq!(
        sundays("America/New_York", "\"01:30-04:00\"")
            .business_ms(at("2024-11-02T12:00Z"), at("2024-11-04T12:00Z")),
        3 * HOUR + 30 * MINUTE
    );
}

const HOLIDAYS_BERLIN: &str = r#"
    [[versions]]
    zone = "Europe/Berlin"
    week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
    holidays = [
        { yearly = "12-24", closed = "13:00-24:00", name = "Christmas Eve afternoon" },
        { yearly = "12-25" },
        { yearly = "12-26" },
        { date = "2024-05-09", name = "Ascension Day 2024" },
    ]
"#;

#[test]
fn a_holiday_between_message_and_reply_does_not_count() {
    let office = calendar(HOLIDAYS_BERLIN);
    // Thursday 2024-05-09 is closed: Wednesday 16:00 to Friday 10:00 is 1 h + 1 h.
    assert_eq!(
        office.business_ms(at("2024-05-08T16:00+02:00"), at("2024-05-10T10:00+02:00")),
        2 * HOUR
    );
    assert!(!office.is_open(at("2024-05-09T11:00+02:00")));
    // The same days in 2025 are open (a one-off date).
    assert_eq!(
        office.business_ms(at("2025-05-07T16:00+02:00"), at("2025-05-09T10:00+02:00")),
        10 * HOUR
    );
}

#[test]
fn a_partial_holiday_closes_only_its_hours() {
    let office = calendar(HOLIDAYS_BERLIN);
    // Tuesday 2024-12-24 closes at 13:00; the 25th and 26th are closed; Friday 27th is open.
    let message = at("2024-12-24T10:00+01:00");
    assert_eq!(
        office.business_ms(message, at("2024-12-27T10:00+01:00")),
        3 * HOUR + HOUR
    );
    assert_eq!(
        office.next_change(message),
        Some(at("2024-12-24T13:00+01:00"))
    );
    assert_eq!(
        office.add_business(message, 4 * HOUR),
        Some(at("2024-12-27T10:00+01:00"))
    );
    // Yearly: the same in 2025 (Wednesday 24th 09:00-13:00, Thursday and Friday closed).
    assert_eq!(
        office.business_ms(at("2025-12-24T00:00+01:00"), at("2025-12-29T09:00+01:00")),
        4 * HOUR
    );
}

#[test]
fn a_holiday_closes_the_part_of_a_night_shift_on_its_date() {
    let nights = calendar(
        r#"
        [[versions]]
        zone = "UTC"
        week = { mon = ["22:00-06:00"] }
        holidays = [{ date = "2024-03-05" }]
    "#,
    );
    // Monday 22:00-24:00 counts; Tuesday 00:00-06:00 is on the holiday.
    assert_eq!(
        nights.business_ms(at("2024-03-04T00:00Z"), at("2024-03-06T00:00Z")),
        2 * HOUR
    );
}

const CHANGED_MID_MONTH: &str = r#"
    [[versions]]
    zone = "Europe/Berlin"
    week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }

    [[versions]]
    effective_from = "2024-03-15"
    zone = "Europe/Berlin"
    week = { mon = ["08:00-20:00"], tue = ["08:00-20:00"], wed = ["08:00-20:00"], thu = ["08:00-20:00"], fri = ["08:00-20:00"] }
"#;

#[test]
fn a_calendar_changed_mid_month_measures_each_side_with_its_own_version() {
    let changed = calendar(CHANGED_MID_MONTH);
    let before_only = calendar(WEEKDAYS_9_17_BERLIN);
    // Before the change (Monday 11th): 09:00-17:00, as if the change did not exist.
    let (from, to) = (at("2024-03-11T07:00+01:00"), at("2024-03-11T21:00+01:00"));
    assert_eq!(changed.business_ms(from, to), 8 * HOUR);
    assert_eq!(
        changed.business_ms(from, to),
        before_only.business_ms(from, to)
    );
    // After (Monday 18th): 08:00-20:00.
    assert_eq!(
        changed.business_ms(at("2024-03-18T07:00+01:00"), at("2024-03-18T21:00+01:00")),
        12 * HOUR
    );
    // Spanning: Thursday 12:00-17:00 under the old hours, Friday 08:00-12:00 under the new.
    let thursday = at("2024-03-14T12:00+01:00");
    assert_eq!(
        changed.business_ms(thursday, at("2024-03-15T12:00+01:00")),
        5 * HOUR + 4 * HOUR
    );
    assert_eq!(
        changed.add_business(thursday, 6 * HOUR),
        Some(at("2024-03-15T09:00+01:00"))
    );
    assert!(!changed.is_open(at("2024-03-14T08:30+01:00")));
    assert!(changed.is_open(at("2024-03-15T08:30+01:00")));
}

#[test]
fn a_version_change_cuts_a_night_shift_at_its_midnight() {
    let changed = calendar(
        r#"
        [[versions]]
        zone = "UTC"
        week = { mon = ["22:00-06:00"] }

        [[versions]]
        effective_from = "2024-03-19"
        zone = "UTC"
        week = { tue = ["09:00-10:00"] }
    "#,
    );
    // Monday 18th 22:00-24:00 is the old version's; from Tuesday 00:00 the new one rules.
    assert_eq!(
        changed.business_ms(at("2024-03-18T12:00Z"), at("2024-03-19T12:00Z")),
        2 * HOUR + HOUR
    );
}

#[test]
fn a_zero_amount_is_due_when_the_clock_would_start() {
    let office = calendar(WEEKDAYS_9_17_BERLIN);
    let inside = at("2024-03-04T10:00+01:00");
    assert_eq!(office.add_business(inside, 0), Some(inside));
    assert_eq!(
        office.add_business(at("2024-03-03T10:00+01:00"), 0),
        Some(at("2024-03-04T09:00+01:00"))
    );
    // The closing instant is closed, so it waits for the next opening.
    assert_eq!(
        office.add_business(at("2024-03-04T17:00+01:00"), 0),
        Some(at("2024-03-05T09:00+01:00"))
    );
    // A negative amount is treated as zero.
    assert_eq!(office.add_business(inside, -5 * HOUR), Some(inside));
}

#[test]
fn a_calendar_that_never_opens_has_no_due_time() {
    let closed = calendar("[[versions]]\nzone = \"Europe/Berlin\"");
    let now = at("2024-03-04T10:00Z");
    assert_eq!(closed.add_business(now, HOUR), None);
    assert_eq!(closed.add_business(now, 0), None);
    assert_eq!(closed.next_change(now), None);
    assert_eq!(closed.business_ms(now, now + 100 * HOUR), 0);
    // A calendar that stops opening: nothing is due after its last open version ends.
    let retired = calendar(&format!(
        "{WEEKDAYS_9_17_BERLIN}\n[[versions]]\neffective_from = \"2024-03-15\"\nzone = \"UTC\""
    ));
    assert_eq!(
        retired.add_business(at("2024-03-14T16:00+01:00"), 90 * MINUTE),
        None
    );
    assert_eq!(
        retired.add_business(at("2024-03-14T16:00+01:00"), HOUR),
        Some(at("2024-03-14T17:00+01:00"))
    );
    assert_eq!(
        retired.add_business(at("2024-03-14T16:00+01:00"), 30 * MINUTE),
        Some(at("2024-03-14T16:30+01:00"))
    );
    assert_eq!(closed.built_chunks(), 0, "no table is built to learn that");
}

#[test]
fn next_change_skips_midnight_between_touching_periods_and_chunk_boundaries() {
    let weekdays = calendar(
        r#"
        [[versions]]
        zone = "UTC"
        week = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["18:00-24:00"], sat = ["00:00-06:00"] }
    "#,
    );
    // Monday 00:00 to Friday 00:00 is one stretch; Friday 18:00 to Saturday 06:00 another.
    assert_eq!(
        weekdays.next_change(at("2024-03-04T10:00Z")),
        Some(at("2024-03-08T00:00Z"))
    );
    assert_eq!(
        weekdays.next_change(at("2024-03-08T19:00Z")),
        Some(at("2024-03-09T06:00Z"))
    );
    // Find a chunk boundary (every 2^32 ms) falling on a Tuesday and ask just before it.
    let boundary = (400..500)
        .map(|k: i64| k << 32)
        .find(|&b| {
            let date = Timestamp::from_millisecond(b)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::UTC);
            date.weekday() == jiff::civil::Weekday::Tuesday && date.hour() > 1
        })
        .expect("some boundary falls on a Tuesday");
    let tuesday = Timestamp::from_millisecond(boundary)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let friday = tuesday.checked_add(jiff::Span::new().days(3)).unwrap();
    let friday_midnight = jiff::tz::Offset::UTC
        .to_timestamp(friday.at(0, 0, 0, 0))
        .unwrap()
        .as_millisecond();
    assert_eq!(weekdays.next_change(boundary - HOUR), Some(friday_midnight));
    assert_eq!(
        weekdays.business_ms(boundary - HOUR, boundary + HOUR),
        2 * HOUR
    );
}

#[test]
fn instants_outside_the_horizon_count_as_closed() {
    let office = calendar(WEEKDAYS_9_17_BERLIN);
    assert_eq!(office.business_ms(i64::MIN, HORIZON_START), 0);
    assert!(!office.is_open(-HOUR));
    assert!(!office.is_open(HORIZON_END + HOUR));
    assert_eq!(office.add_business(HORIZON_END - HOUR, 10 * HOUR), None);
    assert_eq!(office.add_business(0, i64::MAX), None);
    // Thursday 1970-01-01 09:00 CET is the first opening.
    assert_eq!(office.next_change(i64::MIN), Some(8 * HOUR));
    assert_eq!(office.add_business(-HOUR, 0), Some(8 * HOUR));
    assert_eq!(
        office.business_ms(i64::MIN, i64::MAX),
        office.business_ms(HORIZON_START, HORIZON_END)
    );
}

#[test]
fn the_always_open_calendar_is_wall_time() {
    let always = Calendar::always_open();
    assert_eq!(always.name(), "24/7");
    assert_eq!(always.business_ms(10, 70), 60);
    assert_eq!(always.business_ms(70, 10), 0);
    assert_eq!(always.add_business(10, 60), Some(70));
    assert_eq!(always.add_business(i64::MAX, 1), None);
    assert!(always.is_open(-5));
    assert_eq!(always.next_change(0), None);
}

#[test]
fn a_query_builds_only_the_chunks_it_touches() {
    let office = calendar(WEEKDAYS_9_17_BERLIN);
    let now = at("2024-03-04T10:00Z");
    office.business_ms(now, now + 7 * 24 * HOUR);
    assert!(office.built_chunks() <= 2, "{}", office.built_chunks());
    // A span of decades builds what it crosses, once.
    office.business_ms(0, now);
    let built = office.built_chunks();
    office.business_ms(0, now);
    assert_eq!(office.built_chunks(), built);
}

#[test]
fn a_leap_day_holiday_applies_only_in_leap_years() {
    let office = calendar(
        r#"
        [[versions]]
        zone = "UTC"
        week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
        holidays = [{ yearly = "02-29" }]
    "#,
    );
    assert!(!office.is_open(at("2024-02-29T10:00Z")));
    assert!(!office.is_open(at("2028-02-29T10:00Z")));
    // 2023 has no 29th: the days around it stay open.
    assert!(office.is_open(at("2023-02-28T10:00Z")));
    assert!(office.is_open(at("2023-03-01T10:00Z")));
}

// Properties over random calendars: random zone, up to ten periods a week placed anywhere on
// the week (overnight and across Sunday night included), random holidays and versions.

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEK: u32 = 7 * 1440;

fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A week of non-overlapping periods from sorted cut points on the week's circle.
fn week_strategy() -> impl Strategy<Value = String> {
    (
        proptest::collection::btree_set(0..WEEK / 15, 0..20),
        0..WEEK,
    )
        .prop_map(|(cuts, rotation)| {
            let cuts: Vec<u32> = cuts.into_iter().map(|c| c * 15).collect();
            let mut days: [Vec<String>; 7] = Default::default();
            for pair in cuts.chunks_exact(2) {
                let (start, mut len) = (pair[0], pair[1] - pair[0]);
                let start = (start + rotation) % WEEK;
                let day = (start / 1440) as usize;
                let minute = start % 1440;
                len = if minute == 0 {
                    len.min(1440)
                } else {
                    len.min(1439)
                };
                let end = minute + len;
                let end = if end <= 1440 { end } else { end - 1440 };
                days[day].push(format!("\"{}-{}\"", clock(minute), clock(end)));
            }
            DAYS.iter()
                .zip(&days)
                .map(|(d, periods)| format!("{d} = [{}]", periods.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        })
}

fn version_strategy() -> impl Strategy<Value = String> {
    (
        0..ZONES.len(),
        week_strategy(),
        proptest::collection::vec((1u8..=12, 1u8..=28, any::<bool>(), 0u32..96), 0..4),
    )
        .prop_map(|(zone, week, holidays)| {
            let holidays: Vec<String> = holidays
                .into_iter()
                .map(|(month, day, yearly, from)| {
                    let when = if yearly {
                        format!("yearly = \"{month:02}-{day:02}\"")
                    } else {
                        format!("date = \"2024-{month:02}-{day:02}\"")
                    };
                    if from == 0 {
                        format!("{{ {when} }}")
                    } else {
                        format!("{{ {when}, closed = \"{}-24:00\" }}", clock(from * 15))
                    }
                })
                .collect();
            format!(
                "zone = \"{}\"\nweek = {{ {week} }}\nholidays = [{}]\n",
                ZONES[zone],
                holidays.join(", ")
            )
        })
}

fn calendar_strategy() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(version_strategy(), 1..4),
        proptest::collection::btree_set(0u32..700, 3),
    )
        .prop_map(|(versions, offsets)| {
            let dates: Vec<String> = offsets
                .into_iter()
                .map(|days| {
                    let date = jiff::civil::date(2023, 12, 1)
                        .checked_add(jiff::Span::new().days(i64::from(days)))
                        .unwrap();
                    date.to_string()
                })
                .collect();
            versions
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    let effective = if i == 0 {
                        String::new()
                    } else {
                        format!("effective_from = \"{}\"\n", dates[i - 1])
                    };
                    format!("[[versions]]\n{effective}{body}")
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
}

/// Instants between 2023-06 and 2026-06, in milliseconds.
fn instant() -> impl Strategy<Value = i64> {
    at("2023-06-01T00:00Z")..at("2026-06-01T00:00Z")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn business_time_is_additive_and_never_exceeds_wall_time(
        text in calendar_strategy(),
        mut points in proptest::collection::vec(instant(), 3),
    ) {
        let cal = calendar(&text);
        points.sort_unstable();
        let (a, b, c) = (points[0], points[1], points[2]);
        let ab = cal.business_ms(a, b);
        let bc = cal.business_ms(b, c);
        prop_assert_eq!(cal.business_ms(a, c), ab + bc);
        prop_assert!(ab >= 0 && ab <= b - a);
        prop_assert_eq!(cal.business_ms(c, a), 0);
    }

    #[test]
    fn adding_business_time_gives_back_exactly_that_much_and_is_monotone(
        text in calendar_strategy(),
        from in instant(),
        x in 1i64..(60 * 24 * HOUR),
        y in 1i64..(60 * 24 * HOUR),
    ) {
        let cal = calendar(&text);
        let (small, large) = (x.min(y), x.max(y));
        let due_small = cal.add_business(from, small);
        let due_large = cal.add_business(from, large);
        if let Some(due) = due_small {
            prop_assert_eq!(cal.business_ms(from, due), small);
            // The earliest such instant: a millisecond before, one is still missing.
            prop_assert_eq!(cal.business_ms(from, due - 1), small - 1);
        }
        match (due_small, due_large) {
            (Some(s), Some(l)) => prop_assert!(s <= l),
            (None, Some(_)) => prop_assert!(false, "a smaller amount had no due time"),
            _ => {}
        }
        let start = cal.add_business(from, 0);
        if let (Some(start), Some(due)) = (start, due_small) {
            prop_assert!(start >= from && start < due);
            prop_assert!(cal.is_open(start));
        }
    }

    #[test]
    fn walking_the_changes_adds_up_to_business_time(
        text in calendar_strategy(),
        from in instant(),
        span in 0i64..(21 * 24 * HOUR),
    ) {
        let cal = calendar(&text);
        let to = from + span;
        let mut total = 0;
        let mut cursor = from;
        let mut open = cal.is_open(from);
        while cursor < to {
            let next = cal.next_change(cursor).unwrap_or(i64::MAX).min(to);
            prop_assert!(next > cursor);
            if open {
                total += next - cursor;
            }
            if next < to {
                prop_assert_ne!(cal.is_open(next), open, "a change must change something");
            }
            open = cal.is_open(next);
            cursor = next;
        }
        prop_assert_eq!(cal.business_ms(from, to), total);
    }
}

#[test]
fn calendars_are_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Calendar>();
    shareable::<crate::BusinessHours>();
    let office = std::sync::Arc::new(calendar(HOLIDAYS_BERLIN));
    let from = at("2024-01-01T00:00Z");
    let answers: Vec<i64> = (0..4)
        .map(|_| {
            let office = office.clone();
            std::thread::spawn(move || office.business_ms(from, from + 400 * 24 * HOUR))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[test]
fn zones_come_from_the_bundled_database_only() {
    assert_eq!(crate::tzdb_version(), Some("2026f"));
    // Names the bundle has resolve whatever the host has in /usr/share/zoneinfo; host-only
    // files are not zones here.
    let config: CalendarConfig = toml::from_str("[[versions]]\nzone = \"right/UTC\"").unwrap();
    let error = Calendar::from_config("x", &config).unwrap_err();
    assert_eq!(error.problems()[0].field, "versions[0].zone");
    let config: CalendarConfig = toml::from_str("[[versions]]\nzone = \"posixrules\"").unwrap();
    assert!(Calendar::from_config("x", &config).is_err());
}
