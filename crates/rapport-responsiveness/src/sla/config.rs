//! The `[sla]` section: ordered policies, each matching conversations by tenant, channel,
//! source, team, tags or priority, with its targets, its calendar and the statuses that pause
//! its clocks.

use std::collections::BTreeSet;
use std::time::Duration;

use rapport_calendar::{ALWAYS_OPEN, BusinessHours, Calendar};
use serde::{Deserialize, Serialize};

use super::Target;
use crate::Conversation;

/// Statuses that pause every clock unless a policy names its own: a conversation waiting on the
/// customer or put on hold is not the team's time (Zendesk's `pending` and `hold`, Freshdesk's
/// "waiting on customer").
pub const DEFAULT_PAUSE_STATUSES: [&str; 5] = [
    "pending",
    "hold",
    "on_hold",
    "on-hold",
    "waiting_on_customer",
];

/// Business time before a due time at which `at_risk` fires, unless configured.
pub const DEFAULT_AT_RISK_BEFORE: &str = "15m";

/// The `[sla]` section as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// Business time before the due time at which `at_risk` fires (`"15m"`, `"1h 30m"`).
    pub at_risk_before: String,
    /// Statuses (the source's words, compared case-insensitively) that pause the clocks.
    pub pause_statuses: Vec<String>,
    /// In order: the first policy that matches a conversation is its policy.
    pub policies: Vec<PolicyConfig>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            at_risk_before: DEFAULT_AT_RISK_BEFORE.into(),
            pause_statuses: DEFAULT_PAUSE_STATUSES.map(str::to_owned).to_vec(),
            policies: Vec::new(),
        }
    }
}

/// One policy. Every condition that is set must hold (a list holds when any of its values
/// does); a policy without conditions matches every conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    /// The tenant id; any tenant when unset.
    #[serde(default)]
    pub tenant: Option<String>,
    /// `email`, `chat`, `review`, `support`.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Sources (`zendesk`, `intercom`, …).
    #[serde(default)]
    pub sources: Vec<String>,
    /// The conversation's team (its latest).
    #[serde(default)]
    pub teams: Vec<String>,
    /// Any of these among the conversation's tags (those of its latest event with tags).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The conversation's priority: its tag `priority:<value>` (the contract has no priority
    /// field; sources that have one state it as that tag).
    #[serde(default)]
    pub priorities: Vec<String>,
    /// A `[business_hours]` calendar, or `"24/7"`; the conversation's business-hours calendar
    /// when unset.
    #[serde(default)]
    pub calendar: Option<String>,
    /// Replaces `[sla].pause_statuses` for this policy.
    #[serde(default)]
    pub pause_statuses: Option<Vec<String>>,
    /// Replaces `[sla].at_risk_before` for this policy.
    #[serde(default)]
    pub at_risk_before: Option<String>,
    /// Targets, in business time (`"1h"`, `"8h"`, `"3days"`); a target left out does not apply.
    #[serde(default)]
    pub first_response: Option<String>,
    #[serde(default)]
    pub next_reply: Option<String>,
    #[serde(default)]
    pub resolution: Option<String>,
}

/// A checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    tenant: Option<String>,
    channels: Vec<String>,
    sources: Vec<String>,
    teams: Vec<String>,
    tags: Vec<String>,
    priorities: Vec<String>,
    /// `None`: the conversation's business-hours calendar.
    pub calendar: Option<String>,
    /// Lower-cased.
    pub pause_statuses: Vec<String>,
    pub at_risk_before_ms: i64,
    /// The targets that apply, in [`Target::ALL`] order, with their business ms.
    pub targets: Vec<(Target, i64)>,
}

/// The checked `[sla]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub list: Vec<Policy>,
}

/// A business duration as configured, in ms.
fn duration(text: &str) -> Result<i64, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| {
            format!(
                "{:?} is not a duration like \"45m\" or \"1h 30m\": {e}",
                rapport_model::bounded(text, 40)
            )
        })
        .and_then(|d: Duration| i64::try_from(d.as_millis()).map_err(|_| "is too long".to_owned()))
}

fn lower(values: &[String]) -> Vec<String> {
    values.iter().map(|v| v.trim().to_lowercase()).collect()
}

impl Policies {
    /// Checks every policy against the business hours (calendar names), collecting every
    /// problem as `sla.<field>: <what>`.
    pub fn from_config(config: &SlaConfig, hours: &BusinessHours) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let default_lead = match duration(&config.at_risk_before) {
            Ok(ms) => ms,
            Err(e) => {
                problems.push(format!("sla.at_risk_before: {e}"));
                0
            }
        };
        let mut names = BTreeSet::new();
        let mut list = Vec::new();
        for (i, p) in config.policies.iter().enumerate() {
            let field = |name: &str| format!("sla.policies[{i}].{name}");
            if p.name.trim().is_empty() {
                problems.push(format!("{}: a policy needs a name", field("name")));
            } else if !names.insert(p.name.clone()) {
                problems.push(format!(
                    "{}: {:?} is used by an earlier policy",
                    field("name"),
                    rapport_model::bounded(&p.name, 40)
                ));
            }
            for channel in &p.channels {
                if channel.parse::<rapport_model::Channel>().is_err() {
                    problems.push(format!(
                        "{}: {:?} is not a channel (email, chat, review, support)",
                        field("channels"),
                        rapport_model::bounded(channel, 40)
                    ));
                }
            }
            if let Some(calendar) = &p.calendar
                && calendar != ALWAYS_OPEN
                && hours.calendar(calendar).is_none()
            {
                problems.push(format!(
                    "{}: no calendar named {:?} in [business_hours] (nor \"24/7\")",
                    field("calendar"),
                    rapport_model::bounded(calendar, 40)
                ));
            }
            let lead = match &p.at_risk_before {
                None => default_lead,
                Some(text) => duration(text).unwrap_or_else(|e| {
                    problems.push(format!("{}: {e}", field("at_risk_before")));
                    0
                }),
            };
            let mut targets = Vec::new();
            for (target, text) in [
                (Target::FirstResponse, &p.first_response),
                (Target::NextReply, &p.next_reply),
                (Target::Resolution, &p.resolution),
            ] {
                let Some(text) = text else { continue };
                match duration(text) {
                    Ok(ms) if ms > 0 => targets.push((target, ms)),
                    Ok(_) => problems.push(format!("{}: must be positive", field(target.as_str()))),
                    Err(e) => problems.push(format!("{}: {e}", field(target.as_str()))),
                }
            }
            if p.first_response.is_none() && p.next_reply.is_none() && p.resolution.is_none() {
                problems.push(format!(
                    "sla.policies[{i}]: no target (first_response, next_reply or resolution)"
                ));
            }
            list.push(Policy {
                name: p.name.clone(),
                tenant: p.tenant.clone(),
                channels: p.channels.clone(),
                sources: p.sources.clone(),
                teams: p.teams.clone(),
                tags: lower(&p.tags),
                priorities: lower(&p.priorities),
                calendar: p.calendar.clone(),
                pause_statuses: lower(p.pause_statuses.as_ref().unwrap_or(&config.pause_statuses)),
                at_risk_before_ms: lead,
                targets,
            });
        }
        if problems.is_empty() {
            Ok(Self { list })
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first policy that matches the conversation.
    pub fn policy_for(&self, tenant: &str, c: &Conversation) -> Option<&Policy> {
        self.list.iter().find(|p| p.matches(tenant, c))
    }
}

impl Policy {
    /// Whether every condition it sets holds for the conversation.
    pub fn matches(&self, tenant: &str, c: &Conversation) -> bool {
        let any = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
        };
        let tags: Vec<String> = c.tags.iter().map(|t| t.trim().to_lowercase()).collect();
        let priority = tags
            .iter()
            .find_map(|t| t.strip_prefix("priority:").map(str::trim));
        self.tenant.as_deref().is_none_or(|t| t == tenant)
            && any(&self.channels, Some(&c.channel))
            && any(&self.sources, Some(&c.source))
            && any(&self.teams, c.team.as_deref())
            && (self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t)))
            && any(&self.priorities, priority)
    }

    /// The calendar its clocks run on: its own, or the conversation's business hours.
    pub fn calendar<'a>(
        &self,
        hours: &'a BusinessHours,
        conversation: &'a Calendar,
    ) -> &'a Calendar {
        match self.calendar.as_deref() {
            None => conversation,
            Some(name) => hours
                .calendar(name)
                .unwrap_or_else(|| hours.calendar(ALWAYS_OPEN).unwrap_or(conversation)),
        }
    }
}
