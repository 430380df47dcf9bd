//! Shared by the unit tests: events, instants written with their offset, and configs.

use rapport_calendar::BusinessHoursConfig;

use crate::sla::SlaConfig;
use crate::{Event, EventKind, Rules};

pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MINUTE;

/// An instant written with an explicit offset (`at("2024-03-01T16:30:00+01:00")`), so expected
/// values never depend on the calendar's own zone arithmetic.
pub(crate) fn at(text: &str) -> i64 {
    rapport_model::Timestamp::parse_rfc3339(text)
        .unwrap_or_else(|| panic!("{text} is RFC 3339"))
        .as_millis()
}

pub(crate) fn event(
    id: &str,
    at_ms: i64,
    (kind, direction, role): (&str, &str, &str),
    status: Option<&str>,
) -> Event {
    Event {
        event_id: id.into(),
        occurred_at_ms: at_ms,
        kind: EventKind::classify(kind, direction, role, false, status),
        status: status.map(str::to_owned),
        actor_id: (role == "agent").then(|| format!("agent-{id}")),
        actor_name: None,
        team: None,
        channel: "support".into(),
        source: "zendesk".into(),
        tags: vec![],
        identities: vec![],
        text: None,
    }
}

pub(crate) fn customer(id: &str, at_ms: i64) -> Event {
    event(id, at_ms, ("message", "inbound", "customer"), None)
}

pub(crate) fn reply(id: &str, at_ms: i64) -> Event {
    event(id, at_ms, ("message", "outbound", "agent"), None)
}

pub(crate) fn bot(id: &str, at_ms: i64) -> Event {
    event(id, at_ms, ("message", "outbound", "bot"), None)
}

pub(crate) fn note(id: &str, at_ms: i64) -> Event {
    event(id, at_ms, ("note", "internal", "agent"), None)
}

pub(crate) fn status(id: &str, at_ms: i64, to: &str) -> Event {
    event(id, at_ms, ("status_change", "internal", "agent"), Some(to))
}

/// A 9–17 weekday office in Berlin (`office`) and `sla_toml`'s `[sla]` section.
pub(crate) const OFFICE: &str = r#"
    default = "office"
    [[calendars.office.versions]]
    zone = "Europe/Berlin"
    week = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-17:00"] }
"#;

pub(crate) fn rules(hours_toml: &str, sla_toml: &str) -> Rules {
    let hours: BusinessHoursConfig = toml::from_str(hours_toml).expect("business hours parse");
    let sla: SlaConfig = toml::from_str(sla_toml).expect("sla parses");
    Rules::from_config(&hours, &sla).unwrap_or_else(|e| panic!("{e}"))
}
