use rapport_model::{RawRef, Timestamp};
use serde::{Deserialize, Serialize};

/// What an adapter knows beyond the payload: whose data it is, when it arrived, and the tenant's
/// settings for deciding who is an agent.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub tenant_id: &'a str,
    /// From the `rapport-received-at` header, or the time the normalizer read the record.
    pub received_at: Timestamp,
    pub tenant: &'a TenantConfig,
    pub limits: &'a Limits,
    pub raw_ref: Option<RawRef>,
}

/// Per-tenant settings adapters use where the payload itself does not say who is who.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// Email domains of the company's own staff (`acme.com`): mail from them is outbound.
    pub agent_domains: Vec<String>,
    /// Ids or addresses of bots and automations at the sources (`intercom:bot:123`, `no-reply@…`).
    pub bot_ids: Vec<String>,
    /// ISO 3166 region for phone numbers written without a country code (`US`, `DE`).
    pub default_phone_region: Option<String>,
}

impl TenantConfig {
    /// True when the address belongs to one of the tenant's agent domains (or a subdomain).
    pub fn is_agent_email(&self, email: &str) -> bool {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let domain = domain.trim().trim_end_matches('>').to_ascii_lowercase();
        self.agent_domains.iter().any(|d| {
            let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
            domain == d
                || domain
                    .strip_suffix(&d)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }

    pub fn is_bot(&self, id: &str) -> bool {
        self.bot_ids
            .iter()
            .any(|b| b.eq_ignore_ascii_case(id.trim()))
    }
}

/// Checked before any parsing so a hostile payload cannot make an adapter allocate or recurse
/// without bound.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_payload_bytes: usize,
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // 25 MiB matches the largest message the big mail providers accept; JSON webhooks are
        // far smaller, but one limit keeps the operator's mental model simple.
        Self {
            max_payload_bytes: 25 * 1024 * 1024,
            max_json_depth: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_domains_match_exactly_or_as_parent() {
        let cfg = TenantConfig {
            agent_domains: vec!["acme.com".into()],
            ..Default::default()
        };
        assert!(cfg.is_agent_email("ana@acme.com"));
        assert!(cfg.is_agent_email("ana@Support.ACME.com"));
        assert!(!cfg.is_agent_email("ana@notacme.com"));
        assert!(!cfg.is_agent_email("ana@acme.com.evil.io"));
    }
}
