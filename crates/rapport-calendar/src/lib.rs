//! Business time for Rapport: calendars (an IANA zone, weekly periods that may cross
//! midnight, whole or partial holidays, versions with effective dates) and the arithmetic every
//! responsiveness metric and SLA timer needs, in epoch milliseconds (UTC).
//!
//! ```
//! use rapport_calendar::{BusinessHours, BusinessHoursConfig};
//!
//! let config: BusinessHoursConfig = toml::from_str(r#"
//!     default = "office"
//!     [[calendars.office.versions]]
//!     zone = "Europe/Berlin"
//!     [calendars.office.versions.week]
//!     mon = ["09:00-17:00"]
//!     tue = ["09:00-17:00"]
//!     wed = ["09:00-17:00"]
//!     thu = ["09:00-17:00"]
//!     fri = ["09:00-17:00"]
//! "#).unwrap();
//! let hours = BusinessHours::from_config(&config).unwrap();
//! let office = hours.for_conversation("acme", None, None);
//! // Friday 2024-03-01 16:30 CET + 1 h of business time = Monday 09:30 CET.
//! let friday_1630 = 1_709_307_000_000;
//! let monday_0930 = 1_709_541_000_000;
//! assert_eq!(office.add_business(friday_1630, 3_600_000), Some(monday_0930));
//! assert_eq!(office.business_ms(friday_1630, monday_0930), 3_600_000);
//! ```
//!
//! See the crate README for every definition and the guarantees with their tests.

mod assignment;
mod calendar;
mod clock;
mod config;
mod error;
mod table;
mod version;

pub use assignment::BusinessHours;
pub use calendar::Calendar;
pub use config::{
    ALWAYS_OPEN, AssignmentConfig, BusinessHoursConfig, CalendarConfig, HolidayConfig,
    VersionConfig, WeekConfig,
};
pub use error::{Error, Problem};
pub use table::{HORIZON_END, HORIZON_START};
pub use version::tzdb_version;
