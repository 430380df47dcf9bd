//! Named calendars and which conversations use which.

use std::collections::HashMap;

use rapport_model::Channel;

use crate::calendar::Calendar;
use crate::config::{ALWAYS_OPEN, BusinessHoursConfig};
use crate::error::{Error, Problems, quote};

/// Every configured calendar plus the assignment of tenants, teams and channels to them.
///
/// The most specific assignment wins: tenant + team + channel, then tenant + team, then
/// tenant + channel, then tenant, then the global `default` (the team outranks the channel
/// because a team's calendar says when the people who answer are at work).
#[derive(Debug)]
pub struct BusinessHours {
    /// Index 0 is the built-in `"24/7"`.
    calendars: Vec<Calendar>,
    by_name: HashMap<String, usize>,
    default: usize,
    tenants: HashMap<String, Scope>,
}

/// Calendars assigned within one tenant (or within one team of it).
#[derive(Debug, Default)]
struct Scope {
    any: Option<usize>,
    channels: HashMap<Channel, usize>,
    teams: HashMap<String, Scope>,
}

impl Default for BusinessHours {
    /// Only the built-in `"24/7"` calendar, for everyone: business time is wall time.
    fn default() -> Self {
        Self {
            calendars: vec![Calendar::always_open()],
            by_name: HashMap::from([(ALWAYS_OPEN.to_owned(), 0)]),
            default: 0,
            tenants: HashMap::new(),
        }
    }
}

impl BusinessHours {
    /// Compiles and checks the whole `[business_hours]` section, reporting every problem with
    /// its field (`calendars.support.versions[0].zone`, `assign[3].calendar`).
    pub fn from_config(config: &BusinessHoursConfig) -> Result<Self, Error> {
        let mut problems = Problems::default();
        let mut hours = Self::default();
        for (name, calendar) in &config.calendars {
            let field = format!("calendars.{name}");
            if name == ALWAYS_OPEN {
                problems.push(field, "\"24/7\" is built in and cannot be redefined");
                continue;
            }
            if name.trim().is_empty() {
                problems.push(field, "a calendar needs a name");
                continue;
            }
            let mut mine = Problems::default();
            let compiled = Calendar::compile(name, calendar, &mut mine);
            problems.extend(mine.prefixed(&format!("{field}.")));
            if let Some(calendar) = compiled {
                hours.by_name.insert(name.clone(), hours.calendars.len());
                hours.calendars.push(calendar);
            }
        }
        // A calendar that failed to compile still counts as defined, so that its name is not
        // reported a second time by every assignment that uses it.
        let known = |name: &str| name == ALWAYS_OPEN || config.calendars.contains_key(name);
        if let Some(default) = &config.default {
            if !known(default) {
                problems.push(
                    "default",
                    format!("no calendar named {} (nor \"24/7\")", quote(default)),
                );
            }
            hours.default = hours.by_name.get(default).copied().unwrap_or(0);
        }
        for (i, rule) in config.assign.iter().enumerate() {
            let field = |name: &str| format!("assign[{i}].{name}");
            if rule.tenant.trim().is_empty() {
                problems.push(field("tenant"), "must name a tenant");
            }
            if rule.team.as_deref().is_some_and(|t| t.trim().is_empty()) {
                problems.push(
                    field("team"),
                    "must not be empty (leave it out for any team)",
                );
            }
            let channel = match rule.channel.as_deref() {
                None => None,
                Some(text) => match text.parse::<Channel>() {
                    Ok(channel) => Some(channel),
                    Err(_) => {
                        problems.push(
                            field("channel"),
                            format!(
                                "{} is not a channel (email, chat, review, support)",
                                quote(text)
                            ),
                        );
                        continue;
                    }
                },
            };
            if !known(&rule.calendar) {
                problems.push(
                    field("calendar"),
                    format!("no calendar named {}", quote(&rule.calendar)),
                );
                continue;
            }
            let Some(&index) = hours.by_name.get(&rule.calendar) else {
                continue;
            };
            let tenant = hours.tenants.entry(rule.tenant.clone()).or_default();
            let scope = match &rule.team {
                Some(team) => tenant.teams.entry(team.clone()).or_default(),
                None => tenant,
            };
            let slot = match channel {
                Some(channel) => scope.channels.entry(channel).or_insert(usize::MAX),
                None => scope.any.get_or_insert(usize::MAX),
            };
            if *slot != usize::MAX {
                problems.push(
                    format!("assign[{i}]"),
                    "the same tenant, team and channel are assigned twice",
                );
            }
            *slot = index;
        }
        problems.into_result(hours)
    }

    /// The calendar of a conversation: the most specific assignment for its tenant, team and
    /// channel, else the default.
    pub fn for_conversation(
        &self,
        tenant: &str,
        team: Option<&str>,
        channel: Option<Channel>,
    ) -> &Calendar {
        let index = self
            .tenants
            .get(tenant)
            .and_then(|scope| {
                let team_scope = team.and_then(|team| scope.teams.get(team));
                let in_scope = |s: &Scope| channel.and_then(|c| s.channels.get(&c).copied());
                team_scope
                    .and_then(in_scope)
                    .or_else(|| team_scope.and_then(|s| s.any))
                    .or_else(|| in_scope(scope))
                    .or(scope.any)
            })
            .unwrap_or(self.default);
        &self.calendars[index]
    }

    /// A calendar by name (`"24/7"` included).
    pub fn calendar(&self, name: &str) -> Option<&Calendar> {
        self.by_name.get(name).map(|&i| &self.calendars[i])
    }

    /// The calendar of everything no assignment matches.
    pub fn default_calendar(&self) -> &Calendar {
        &self.calendars[self.default]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BusinessHoursConfig {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fields(error: &Error) -> Vec<&str> {
        error.problems().iter().map(|p| p.field.as_str()).collect()
    }

    const ONE_DAY: &str =
        "[[calendars.{name}.versions]]\nzone = \"UTC\"\nweek.mon = [\"09:00-17:00\"]\n";

    fn calendars(names: &[&str]) -> String {
        names
            .iter()
            .map(|name| ONE_DAY.replace("{name}", name))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_field() {
        let config = parse(
            r#"
            default = "missing"

            [[calendars.support.versions]]
            zone = "Europe/Berln"
            [calendars.support.versions.week]
            mon = ["9:00-17:00"]
            tue = ["09:00-17:00", "16:00-18:00"]
            sun = ["22:00-06:00"]
            thu = ["00:00-24:00"]
            fri = ["23:00-01:00"]
            sat = ["00:30-02:00"]

            [[calendars.support.versions]]
            effective_from = "2025-06-01"
            zone = "UTC"
            holidays = [{ date = "2025-02-30" }, { yearly = "12-25", closed = "18:00-02:00" },
                        { date = "2025-01-01", yearly = "01-01" }]

            [[calendars.support.versions]]
            effective_from = "2025-01-01"
            zone = "UTC"

            [[calendars.support.versions]]
            zone = "UTC"

            [[calendars.empty.versions]]
            zone = "Mars/Olympus_Mons"

            [[assign]]
            tenant = "acme"
            channel = "fax"
            calendar = "support"

            [[assign]]
            tenant = "acme"
            calendar = "nope"
            "#,
        );
        let error = BusinessHours::from_config(&config).unwrap_err();
        assert!(!error.is_retryable());
        let found = fields(&error);
        for expected in [
            "default",
            "calendars.support.versions[0].zone",
            "calendars.support.versions[0].week.mon[0]",
            "calendars.support.versions[0].week.tue[1]",
            "calendars.support.versions[0].week.sat[0]",
            "calendars.support.versions[1].holidays[0].date",
            "calendars.support.versions[1].holidays[1].closed",
            "calendars.support.versions[1].holidays[2]",
            "calendars.support.versions[2].effective_from",
            "calendars.support.versions[3].effective_from",
            "calendars.empty.versions[0].zone",
            "assign[0].channel",
            "assign[1].calendar",
        ] {
            assert!(
                found.contains(&expected),
                "{expected} missing from {found:#?}"
            );
        }
        // Friday 23:00-01:00 overlaps nothing; Sunday 22:00-06:00 does not reach Monday 09:00.
        assert!(
            !found
                .iter()
                .any(|f| f.contains("week.fri") || f.contains("week.sun"))
        );
        let message = error.to_string();
        assert!(
            message.contains("unknown time zone \"Europe/Berln\""),
            "{message}"
        );
        assert!(
            message.contains("week.tue[1]: \"16:00-18:00\" overlaps week.tue[0]"),
            "{message}"
        );
        assert!(
            message.contains("versions[2].effective_from: 2025-01-01 does not come after versions[1].effective_from 2025-06-01"),
            "{message}"
        );
    }

    #[test]
    fn overlaps_across_midnight_and_across_sunday_night_are_found() {
        let config = parse(
            r#"
            [[calendars.nights.versions]]
            zone = "UTC"
            week = { mon = ["22:00-06:00"], tue = ["05:00-10:00"], sun = ["23:00-01:00"] }
            [[calendars.wrap.versions]]
            zone = "UTC"
            week = { sun = ["20:00-04:00"], mon = ["03:00-05:00"] }
            "#,
        );
        let error = BusinessHours::from_config(&config).unwrap_err();
        assert_eq!(
            fields(&error),
            vec![
                "calendars.nights.versions[0].week.tue[0]",
                "calendars.wrap.versions[0].week.mon[0]"
            ],
            "{error}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        for text in [
            "defualt = \"x\"",
            "[[calendars.a.versions]]\nzone = \"UTC\"\ntimezone = \"UTC\"",
            "[[calendars.a.versions]]\nzone = \"UTC\"\nweek.monday = [\"09:00-17:00\"]",
            "[[assign]]\ntenant = \"a\"\ncalendar = \"24/7\"\nqueue = \"x\"",
        ] {
            assert!(
                toml::from_str::<BusinessHoursConfig>(text).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn the_most_specific_assignment_wins() {
        let config = parse(&format!(
            r#"
            default = "global"
            {}
            [[assign]]
            tenant = "acme"
            calendar = "tenant"
            [[assign]]
            tenant = "acme"
            channel = "chat"
            calendar = "tenant-chat"
            [[assign]]
            tenant = "acme"
            team = "nights"
            calendar = "team"
            [[assign]]
            tenant = "acme"
            team = "nights"
            channel = "chat"
            calendar = "team-chat"
            [[assign]]
            tenant = "globex"
            channel = "email"
            calendar = "24/7"
            "#,
            calendars(&["global", "tenant", "tenant-chat", "team", "team-chat"])
        ));
        let hours = BusinessHours::from_config(&config).unwrap();
        let name = |tenant, team, channel| hours.for_conversation(tenant, team, channel).name();
        assert_eq!(
            name("acme", Some("nights"), Some(Channel::Chat)),
            "team-chat"
        );
        assert_eq!(name("acme", Some("nights"), Some(Channel::Email)), "team");
        assert_eq!(name("acme", Some("nights"), None), "team");
        assert_eq!(
            name("acme", Some("days"), Some(Channel::Chat)),
            "tenant-chat"
        );
        assert_eq!(name("acme", None, Some(Channel::Chat)), "tenant-chat");
        assert_eq!(name("acme", Some("days"), Some(Channel::Email)), "tenant");
        assert_eq!(name("acme", None, None), "tenant");
        assert_eq!(name("globex", None, Some(Channel::Email)), "24/7");
        assert_eq!(name("globex", None, Some(Channel::Chat)), "global");
        assert_eq!(
            name("initech", Some("nights"), Some(Channel::Chat)),
            "global"
        );
        assert_eq!(hours.default_calendar().name(), "global");
        assert!(hours.calendar("24/7").is_some());
        assert!(hours.calendar("nope").is_none());
    }

    #[test]
    fn duplicate_assignments_and_redefining_24_7_are_refused() {
        let config = parse(&format!(
            r#"
            {}
            [[calendars."24/7".versions]]
            zone = "UTC"
            [[assign]]
            tenant = "acme"
            team = "t"
            calendar = "a"
            [[assign]]
            tenant = "acme"
            team = "t"
            calendar = "a"
            "#,
            calendars(&["a"])
        ));
        let error = BusinessHours::from_config(&config).unwrap_err();
        assert_eq!(
            fields(&error),
            vec!["calendars.24/7", "assign[1]"],
            "{error}"
        );
    }

    #[test]
    fn without_configuration_everything_is_wall_time() {
        let hours = BusinessHours::from_config(&BusinessHoursConfig::default()).unwrap();
        let calendar = hours.for_conversation("acme", Some("t"), Some(Channel::Chat));
        assert_eq!(calendar.name(), "24/7");
        assert_eq!(calendar.business_ms(1_000, 61_000), 60_000);
    }

    #[test]
    fn the_readme_example_is_a_valid_configuration() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("README has a toml example") + 8;
        let end = start + readme[start..].find("```").expect("the example is closed");
        #[derive(serde::Deserialize)]
        struct Service {
            business_hours: BusinessHoursConfig,
        }
        let service: Service =
            toml::from_str(&readme[start..end]).unwrap_or_else(|e| panic!("{e}"));
        let hours =
            BusinessHours::from_config(&service.business_hours).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hours.default_calendar().name(), "berlin-office");
        assert_eq!(
            hours
                .for_conversation("acme", Some("night-desk"), Some(Channel::Chat))
                .name(),
            "acme-nights"
        );
    }
}
