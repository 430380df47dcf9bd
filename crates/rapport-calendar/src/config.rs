//! The `[business_hours]` section as written in a service's TOML config.
//!
//! Values stay strings here and are checked together by
//! [`BusinessHours::from_config`](crate::BusinessHours::from_config), so one run reports every
//! problem with its field instead of stopping at the first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Name of the built-in calendar that is always open (wall-clock time).
pub const ALWAYS_OPEN: &str = "24/7";

/// The `[business_hours]` section: named calendars and who uses which.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusinessHoursConfig {
    /// The calendar of every conversation no assignment matches; `"24/7"` when unset.
    pub default: Option<String>,
    /// Calendars by name. `"24/7"` is built in and cannot be redefined.
    pub calendars: BTreeMap<String, CalendarConfig>,
    /// Which tenant, team and channel use which calendar; the most specific match wins.
    pub assign: Vec<AssignmentConfig>,
}

/// One named calendar: its versions, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Each version governs the instants from its `effective_from` until the next version's.
    pub versions: Vec<VersionConfig>,
}

/// A calendar as it is from one date on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionConfig {
    /// `YYYY-MM-DD`: the version takes effect at that date's local midnight in its `zone`.
    /// Optional for the first version (it then governs all earlier time), required after.
    #[serde(default)]
    pub effective_from: Option<String>,
    /// IANA time zone name (`Europe/Berlin`), looked up in the bundled tz database.
    pub zone: String,
    /// Open periods per weekday; a day left out is closed.
    #[serde(default)]
    pub week: WeekConfig,
    /// Closed dates or hours, one-off or every year.
    #[serde(default)]
    pub holidays: Vec<HolidayConfig>,
}

/// Open periods per weekday, each `HH:MM-HH:MM` in local time. An end earlier than the start
/// runs into the next day (`22:00-06:00`); `00:00-24:00` is the whole day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct WeekConfig {
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
}

impl WeekConfig {
    /// The days Monday first, with their config key.
    pub(crate) fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// A closed date (or part of one): exactly one of `date` and `yearly`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayConfig {
    /// A one-off date, `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// Every year on this month and day, `MM-DD` (`02-29` only in leap years).
    #[serde(default)]
    pub yearly: Option<String>,
    /// The closed local hours of that date, `HH:MM-HH:MM` (`13:00-24:00` closes from 13:00);
    /// the whole date when unset.
    #[serde(default)]
    pub closed: Option<String>,
    /// For people reading the config; not used.
    #[serde(default)]
    pub name: Option<String>,
}

/// Gives a tenant (optionally narrowed to a team and/or a channel) a calendar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentConfig {
    /// The tenant id.
    pub tenant: String,
    /// The team handling the conversation (`Interaction::team`); any team when unset.
    #[serde(default)]
    pub team: Option<String>,
    /// `email`, `chat`, `review` or `support`; any channel when unset.
    #[serde(default)]
    pub channel: Option<String>,
    /// A calendar name from `calendars`, or `"24/7"`.
    pub calendar: String,
}
