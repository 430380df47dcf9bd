//! A calendar and its arithmetic.

use std::fmt;

use crate::config::{ALWAYS_OPEN, CalendarConfig};
use crate::error::{Error, Problems};
use crate::table::Schedule;
use crate::version::{Version, bundled_zone, parse_date, resolve};

/// A business calendar: when a team is open, version by version. Every query takes and returns
/// instants as epoch milliseconds (UTC), like `rapport_model::Timestamp::as_millis`.
///
/// Queries share the calendar: `&Calendar` is `Sync`, and the table behind it is built lazily,
/// once per chunk, without locks on the read path.
pub struct Calendar {
    name: String,
    kind: Kind,
}

enum Kind {
    /// Wall-clock time: every instant is open, there is no horizon.
    AlwaysOpen,
    Scheduled(Schedule),
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Calendar");
        out.field("name", &self.name);
        match &self.kind {
            Kind::AlwaysOpen => out.field("always_open", &true),
            Kind::Scheduled(schedule) => out.field(
                "versions",
                &schedule
                    .versions()
                    .map(|(start, v)| (v.effective_from, *start, v.zone_name))
                    .collect::<Vec<_>>(),
            ),
        };
        out.finish()
    }
}

impl Calendar {
    /// The built-in `"24/7"` calendar: always open, so business time is wall time.
    pub fn always_open() -> Self {
        Self {
            name: ALWAYS_OPEN.to_owned(),
            kind: Kind::AlwaysOpen,
        }
    }

    /// Compiles a calendar, reporting every problem at once with fields relative to the
    /// calendar (`versions[1].week.mon[0]`).
    pub fn from_config(name: &str, config: &CalendarConfig) -> Result<Self, Error> {
        let mut problems = Problems::default();
        let calendar = Self::compile(name, config, &mut problems);
        problems.into_result(())?;
        Ok(calendar.expect("a calendar without problems compiles"))
    }

    pub(crate) fn compile(
        name: &str,
        config: &CalendarConfig,
        problems: &mut Problems,
    ) -> Option<Self> {
        if config.versions.is_empty() {
            problems.push("versions", "a calendar needs at least one version");
            return None;
        }
        let mut versions = Vec::with_capacity(config.versions.len());
        let mut all_compiled = true;
        for (i, version) in config.versions.iter().enumerate() {
            let mut mine = Problems::default();
            let compiled = Version::compile(version, &mut mine);
            if i > 0 && version.effective_from.is_none() {
                mine.push(
                    "effective_from",
                    "required on every version after the first (YYYY-MM-DD)",
                );
            }
            problems.extend(mine.prefixed(&format!("versions[{i}].")));
            match compiled {
                Some(v) => versions.push((i, v)),
                None => all_compiled = false,
            }
        }
        check_order(config, problems);
        if !all_compiled || !problems.is_empty() {
            return None;
        }
        let versions = versions
            .into_iter()
            .enumerate()
            .map(|(i, (_, v))| {
                (
                    if i == 0 {
                        i64::MIN
                    } else {
                        v.start().unwrap_or(i64::MIN)
                    },
                    v,
                )
            })
            .collect();
        Some(Self {
            name: name.to_owned(),
            kind: Kind::Scheduled(Schedule::new(versions)),
        })
    }

    /// The name it was configured under (`"24/7"` for the built-in one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Milliseconds inside open periods between `from` and `to`; 0 when `to <= from`.
    ///
    /// Each instant counts under the version in force at that instant. Time before an opening
    /// counts nothing, so a message that arrives outside hours starts its clock at the next
    /// opening. Instants outside the horizon (`HORIZON_START..HORIZON_END`) count as closed,
    /// except on the always-open calendar.
    pub fn business_ms(&self, from: i64, to: i64) -> i64 {
        match &self.kind {
            Kind::AlwaysOpen => to.saturating_sub(from).max(0),
            Kind::Scheduled(schedule) => schedule.business_ms(from, to),
        }
    }

    /// The instant at which `amount` business milliseconds have passed since `from`: the
    /// earliest `t` with `business_ms(from, t) == amount` (an SLA's due time). A due time that
    /// uses up a period exactly is that period's closing instant.
    ///
    /// With `amount <= 0` it is the first open instant at or after `from`: `from` itself when
    /// open, else the next opening, so a zero target falls due when the clock would start.
    /// `None` when that instant never comes: no version from `from` on has a period, or it
    /// lies past the horizon.
    pub fn add_business(&self, from: i64, amount: i64) -> Option<i64> {
        match &self.kind {
            Kind::AlwaysOpen => from.checked_add(amount.max(0)),
            Kind::Scheduled(schedule) => schedule.add_business(from, amount),
        }
    }

    /// Whether `at` is inside an open period (periods include their start, not their end).
    pub fn is_open(&self, at: i64) -> bool {
        match &self.kind {
            Kind::AlwaysOpen => true,
            Kind::Scheduled(schedule) => schedule.is_open(at),
        }
    }

    /// The first instant after `at` where the calendar opens or closes; `None` when it never
    /// changes again before the horizon (always for the always-open calendar). Periods that
    /// touch (`18:00-24:00` then `00:00-06:00`) are one stretch, so midnight is no change.
    pub fn next_change(&self, at: i64) -> Option<i64> {
        match &self.kind {
            Kind::AlwaysOpen => None,
            Kind::Scheduled(schedule) => schedule.next_change(at),
        }
    }

    #[cfg(test)]
    pub(crate) fn built_chunks(&self) -> usize {
        match &self.kind {
            Kind::AlwaysOpen => 0,
            Kind::Scheduled(schedule) => schedule.built_chunks(),
        }
    }
}

/// Effective dates must increase, compared as instants (two dates in different zones compare by
/// when they happen) or as dates where a zone is unknown; checked even when other fields of the
/// versions are wrong, so that every problem shows at once.
fn check_order(config: &CalendarConfig, problems: &mut Problems) {
    let mut previous: Option<(usize, jiff::civil::Date, Option<i64>)> = None;
    for (i, version) in config.versions.iter().enumerate() {
        let Some(date) = version
            .effective_from
            .as_deref()
            .and_then(|t| parse_date(t.trim()))
        else {
            continue;
        };
        let start = bundled_zone(version.zone.trim()).map(|(_, zone)| resolve(&zone, date, 0));
        if let Some((p, previous_date, previous_start)) = previous {
            let out_of_order = match (start, previous_start) {
                (Some(start), Some(previous_start)) => start <= previous_start,
                _ => date <= previous_date,
            };
            if out_of_order {
                problems.push(
                    format!("versions[{i}].effective_from"),
                    format!(
                        "{date} does not come after versions[{p}].effective_from \
                         {previous_date}; list versions oldest first"
                    ),
                );
            }
        }
        previous = Some((i, date, start));
    }
}

#[cfg(test)]
mod tests;
