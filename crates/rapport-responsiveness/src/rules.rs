//! Everything a conversation's stored metrics depend on besides its events: the business hours
//! (`[business_hours]`) and the SLA policies (`[sla]`). Every service and command that derives
//! metrics (the writer, `rapport recompute`, `rapport forget`) takes both
//! sections, so they all derive the same numbers.

use rapport_calendar::{BusinessHours, BusinessHoursConfig, Calendar};

use crate::business::{BusinessTimes, business_times};
use crate::sla::{Policies, Sla, SlaConfig, evaluate};
use crate::{Conversation, Event, compute_sorted, sort};

/// The business hours and SLA policies could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("invalid [business_hours] or [sla] ({} problems): {}", problems.len(), problems.join("; "))]
    Invalid { problems: Vec<String> },
}

impl RulesError {
    /// Configuration problems do not go away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }

    pub fn problems(&self) -> &[String] {
        match self {
            Self::Invalid { problems } => problems,
        }
    }
}

/// Compiled `[business_hours]` and `[sla]`.
#[derive(Debug, Default)]
pub struct Rules {
    pub hours: BusinessHours,
    pub policies: Policies,
}

/// One conversation's metrics: wall-clock, business time and SLA outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub conversation: Conversation,
    pub business: BusinessTimes,
    /// `None` when no policy matches.
    pub sla: Option<Sla>,
}

impl Rules {
    /// Compiles both sections, reporting every problem of both at once.
    pub fn from_config(hours: &BusinessHoursConfig, sla: &SlaConfig) -> Result<Self, RulesError> {
        let mut problems = Vec::new();
        let compiled = BusinessHours::from_config(hours).map_err(|e| {
            problems.extend(e.problems().iter().map(|p| format!("business_hours.{p}")));
        });
        // Policies are checked against the calendars that compiled, so that a broken calendar
        // is not reported again by every policy naming it.
        let hours = compiled.unwrap_or_default();
        let policies = Policies::from_config(sla, &hours).unwrap_or_else(|more| {
            problems.extend(more);
            Policies::default()
        });
        if problems.is_empty() {
            Ok(Self { hours, policies })
        } else {
            Err(RulesError::Invalid { problems })
        }
    }

    /// The problems of both sections, for a service config's `Validate`.
    pub fn validate(hours: &BusinessHoursConfig, sla: &SlaConfig) -> Vec<String> {
        Self::from_config(hours, sla)
            .err()
            .map(|e| e.problems().to_vec())
            .unwrap_or_default()
    }

    /// The business-hours calendar of a conversation (by its tenant, latest team and channel).
    pub fn calendar_for(&self, tenant: &str, c: &Conversation) -> &Calendar {
        self.hours
            .for_conversation(tenant, c.team.as_deref(), c.channel.parse().ok())
    }

    /// Everything stored for one conversation; `None` for no events. Depends on the set of
    /// events only (one per id), like [`crate::compute`].
    pub fn derive(&self, tenant: &str, mut events: Vec<Event>) -> Option<Derived> {
        sort(&mut events);
        let conversation = compute_sorted(&events)?;
        let calendar = self.calendar_for(tenant, &conversation);
        let business = business_times(&conversation, calendar);
        let sla = self
            .policies
            .policy_for(tenant, &conversation)
            .map(|policy| {
                evaluate(
                    policy,
                    policy.calendar(&self.hours, calendar),
                    &events,
                    &conversation,
                )
            });
        Some(Derived {
            conversation,
            business,
            sla,
        })
    }
}
