//! Which identifiers may link, and how large a customer may grow.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use rapport_model::{Identity, IdentityType};
use serde::{Deserialize, Serialize};

/// One tenant's linking rules. Every list is compared case-insensitively; setting a list in
/// config replaces its default rather than extending it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkPolicy {
    /// A link that would make a customer larger than this is held for review; `0` means no cap.
    /// Real people have a handful of identifiers; a customer with hundreds is almost always a
    /// shared address that slipped through the lists below.
    pub max_identifiers_per_customer: usize,
    /// Values that stand for "no value" (`unknown`, `n/a`), for any identifier type and for an
    /// email's local part. The empty value is always a placeholder.
    pub placeholder_values: Vec<String>,
    /// An email whose local part contains one of these (`noreply`, `mailer-daemon`) is a
    /// sending robot, not a person.
    pub no_reply_markers: Vec<String>,
    /// Shared mailboxes (`support`, `billing`). Matches a local part, ignoring a `+tag`, that
    /// equals an entry or starts with one followed by `-`, `.` or `_` (`sales-eu@`).
    pub role_local_parts: Vec<String>,
    /// The tenant's own email domains; their subdomains match too. Staff addresses are on every
    /// conversation, so linking through them would join every customer.
    pub agent_domains: Vec<String>,
    /// Exact identifiers that never link: a key (`phone:+18005550100`) or a bare value of any
    /// type (`orders@partner.example`).
    pub deny: Vec<String>,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            max_identifiers_per_customer: 50,
            placeholder_values: strings(&[
                "unknown",
                "null",
                "nil",
                "none",
                "n/a",
                "na",
                "undefined",
                "-",
                "--",
                "0",
                "?",
                "anonymous",
                "anon",
                "guest",
                "test",
                "noemail",
                "no-email",
                "no_email",
                "nobody",
                "not provided",
                "not available",
                "placeholder",
            ]),
            no_reply_markers: strings(&[
                "noreply",
                "no-reply",
                "no_reply",
                "no.reply",
                "donotreply",
                "do-not-reply",
                "do_not_reply",
                "do.not.reply",
                "mailer-daemon",
                "mailerdaemon",
                "postmaster",
                "bounces",
            ]),
            role_local_parts: strings(&[
                "info",
                "support",
                "help",
                "helpdesk",
                "service",
                "customerservice",
                "customer.service",
                "customer-service",
                "customercare",
                "care",
                "sales",
                "billing",
                "invoices",
                "invoice",
                "accounts",
                "accounting",
                "finance",
                "payments",
                "orders",
                "contact",
                "contactus",
                "enquiries",
                "inquiries",
                "admin",
                "administrator",
                "hello",
                "team",
                "office",
                "reception",
                "feedback",
                "marketing",
                "newsletter",
                "notifications",
                "alerts",
                "webmaster",
                "hostmaster",
                "abuse",
                "security",
                "privacy",
                "legal",
                "hr",
                "jobs",
                "careers",
                "press",
            ]),
            agent_domains: Vec::new(),
            deny: Vec::new(),
        }
    }
}

impl LinkPolicy {
    /// Every problem at once, each naming its field; empty when the policy is usable.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.max_identifiers_per_customer == 1 {
            errors.push(
                "max_identifiers_per_customer: 1 would hold every link; use 0 for no cap or at \
                 least 2"
                    .to_owned(),
            );
        }
        // An empty marker or role would match every address and silently stop all linking.
        for (field, list) in [
            ("no_reply_markers", &self.no_reply_markers),
            ("role_local_parts", &self.role_local_parts),
            ("agent_domains", &self.agent_domains),
            ("deny", &self.deny),
        ] {
            if list.iter().any(|entry| entry.trim().is_empty()) {
                errors.push(format!("{field}: entries must not be empty"));
            }
        }
        for role in &self.role_local_parts {
            if role.contains('@') {
                errors.push(format!(
                    "role_local_parts: {role:?} must be a local part, without '@'"
                ));
            }
        }
        for domain in &self.agent_domains {
            let bare = domain.trim().trim_start_matches('@');
            if !bare.is_empty() && (bare.contains('@') || !bare.contains('.')) {
                errors.push(format!(
                    "agent_domains: {domain:?} is not a domain like \"acme.com\""
                ));
            }
        }
        errors
    }
}

/// The default policy and per-tenant replacements (a tenant's entry replaces the default as a
/// whole; fields it leaves out take the built-in defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policies {
    /// For every tenant without an entry of its own.
    pub default: LinkPolicy,
    /// By tenant id.
    pub tenants: BTreeMap<String, LinkPolicy>,
}

impl Policies {
    /// The same policy for every tenant.
    pub fn uniform(policy: LinkPolicy) -> Self {
        Self {
            default: policy,
            tenants: BTreeMap::new(),
        }
    }

    /// The tenant's own policy, else the default.
    pub fn for_tenant(&self, tenant_id: &str) -> &LinkPolicy {
        self.tenants.get(tenant_id).unwrap_or(&self.default)
    }

    /// Every problem of every policy, prefixed with where it is (`tenants.acme.deny: …`).
    pub fn validate(&self) -> Vec<String> {
        let mut errors: Vec<String> = self
            .default
            .validate()
            .into_iter()
            .map(|e| format!("default.{e}"))
            .collect();
        for (tenant, policy) in &self.tenants {
            errors.extend(
                policy
                    .validate()
                    .into_iter()
                    .map(|e| format!("tenants.{tenant}.{e}")),
            );
        }
        errors
    }
}

/// Why an identifier was kept from linking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// A value standing for "no value" (`unknown`, `n/a`, empty).
    Placeholder,
    /// Listed in the policy's `deny`.
    Denied,
    /// An address at one of the tenant's own domains.
    AgentDomain,
    /// A sending robot (`noreply@`, `mailer-daemon@`).
    NoReply,
    /// A shared mailbox (`support@`, `billing@`).
    RoleAddress,
}

impl Refusal {
    /// The snake_case name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placeholder => "placeholder",
            Self::Denied => "denied",
            Self::AgentDomain => "agent_domain",
            Self::NoReply => "no_reply",
            Self::RoleAddress => "role_address",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A [`LinkPolicy`] prepared for checking every identifier of every interaction: entries
/// trimmed and lower-cased once, exact lists hashed.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) cap: usize,
    placeholders: HashSet<String>,
    longest_placeholder: usize,
    no_reply: Vec<String>,
    roles: HashSet<String>,
    agent_domains: Vec<String>,
    deny: HashSet<String>,
}

impl Rules {
    pub(crate) fn new(policy: &LinkPolicy) -> Self {
        let clean = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
                .collect()
        };
        let placeholders: HashSet<String> = clean(&policy.placeholder_values).into_iter().collect();
        Self {
            cap: policy.max_identifiers_per_customer,
            longest_placeholder: placeholders.iter().map(String::len).max().unwrap_or(0),
            placeholders,
            no_reply: clean(&policy.no_reply_markers),
            roles: clean(&policy.role_local_parts).into_iter().collect(),
            agent_domains: clean(&policy.agent_domains)
                .into_iter()
                .map(|d| d.trim_start_matches('@').to_owned())
                .collect(),
            deny: clean(&policy.deny).into_iter().collect(),
        }
    }

    pub(crate) fn refusal(&self, identity: &Identity) -> Option<Refusal> {
        let value = identity.value.trim();
        if self.is_placeholder(value) {
            return Some(Refusal::Placeholder);
        }
        if !self.deny.is_empty() {
            let value = value.to_lowercase();
            let key = format!("{}:{value}", identity.kind);
            if self.deny.contains(&value) || self.deny.contains(&key) {
                return Some(Refusal::Denied);
            }
        }
        if identity.kind == IdentityType::Email {
            return self.email_refusal(value);
        }
        None
    }

    fn email_refusal(&self, address: &str) -> Option<Refusal> {
        // Addresses arrive lower-cased from the model's normalizer; lowering again only costs
        // an allocation when someone built an `Identity` by hand.
        let address: Cow<'_, str> = if address.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(address.to_ascii_lowercase())
        } else {
            Cow::Borrowed(address)
        };
        let (local, domain) = address.rsplit_once('@')?;
        let base = local.split('+').next().unwrap_or(local);
        if self.is_placeholder(base) {
            return Some(Refusal::Placeholder);
        }
        if self.agent_domains.iter().any(|d| is_within(domain, d)) {
            return Some(Refusal::AgentDomain);
        }
        if self.no_reply.iter().any(|m| local.contains(m.as_str())) {
            return Some(Refusal::NoReply);
        }
        let role_prefix = base
            .char_indices()
            .filter(|&(_, c)| matches!(c, '-' | '.' | '_'))
            .any(|(i, _)| self.roles.contains(&base[..i]));
        if self.roles.contains(base) || role_prefix {
            return Some(Refusal::RoleAddress);
        }
        None
    }

    fn is_placeholder(&self, value: &str) -> bool {
        if value.is_empty() {
            return true;
        }
        if value.len() > self.longest_placeholder {
            return false;
        }
        if value
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            self.placeholders.contains(value)
        } else {
            self.placeholders.contains(&value.to_lowercase())
        }
    }
}

/// `domain` is `parent` or one of its subdomains.
fn is_within(domain: &str, parent: &str) -> bool {
    domain == parent
        || domain
            .strip_suffix(parent)
            .is_some_and(|rest| rest.ends_with('.'))
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> Identity {
        Identity {
            kind: IdentityType::Email,
            value: value.to_owned(),
        }
    }

    fn acme() -> Rules {
        Rules::new(&LinkPolicy {
            agent_domains: vec!["@Acme.com".into()],
            deny: vec!["phone:+18005550100".into(), "Orders@Partner.example".into()],
            ..LinkPolicy::default()
        })
    }

    #[test]
    fn placeholders_never_link_in_any_type_or_case() {
        let rules = acme();
        for (kind, value) in [
            (IdentityType::Email, ""),
            (IdentityType::Email, "unknown@gmail.com"),
            (IdentityType::Email, "null+x@example.com"),
            (IdentityType::Phone, "  "),
            (IdentityType::IntercomContact, "NULL"),
            (IdentityType::GoogleReviewer, "N/A"),
            (IdentityType::ZendeskUser, "0"),
        ] {
            let identity = Identity {
                kind,
                value: value.to_owned(),
            };
            assert_eq!(
                rules.refusal(&identity),
                Some(Refusal::Placeholder),
                "{identity:?}"
            );
        }
    }

    #[test]
    fn no_reply_addresses_never_link() {
        let rules = acme();
        for address in [
            "noreply@shop.example",
            "no-reply@accounts.google.com",
            "store-noreply@shop.example",
            "mailer-daemon@mx.example.com",
            "postmaster@example.org",
            "donotreply+123@bank.example",
        ] {
            assert_eq!(
                rules.refusal(&email(address)),
                Some(Refusal::NoReply),
                "{address}"
            );
        }
    }

    #[test]
    fn role_addresses_match_with_tags_and_suffixes() {
        let rules = acme();
        for address in [
            "support@customer.example",
            "billing+invoices@customer.example",
            "sales-eu@customer.example",
            "customer.service@customer.example",
            "info.de@customer.example",
        ] {
            assert_eq!(
                rules.refusal(&email(address)),
                Some(Refusal::RoleAddress),
                "{address}"
            );
        }
        for person in [
            "maria@example.com",
            "information.lopez@example.com",
            "helpful@example.com",
            "salesforce.fan@example.com",
        ] {
            assert_eq!(rules.refusal(&email(person)), None, "{person}");
        }
    }

    #[test]
    fn agent_domains_match_exactly_or_as_parent() {
        let rules = acme();
        assert_eq!(
            rules.refusal(&email("jane@acme.com")),
            Some(Refusal::AgentDomain)
        );
        assert_eq!(
            rules.refusal(&email("JANE@mail.ACME.com")),
            Some(Refusal::AgentDomain)
        );
        assert_eq!(rules.refusal(&email("jane@notacme.com")), None);
    }

    #[test]
    fn denied_values_match_a_key_or_a_bare_value() {
        let rules = acme();
        let phone = Identity {
            kind: IdentityType::Phone,
            value: "+18005550100".into(),
        };
        assert_eq!(rules.refusal(&phone), Some(Refusal::Denied));
        assert_eq!(
            rules.refusal(&email("orders@partner.example")),
            Some(Refusal::Denied)
        );
        let other_phone = Identity {
            kind: IdentityType::Phone,
            value: "+14155552671".into(),
        };
        assert_eq!(rules.refusal(&other_phone), None);
    }

    #[test]
    fn config_rejects_unknown_fields_and_fills_defaults() {
        let policies: Policies =
            serde_json::from_str(r#"{"tenants": {"acme": {"agent_domains": ["acme.com"]}}}"#)
                .unwrap();
        assert_eq!(policies.for_tenant("globex"), &LinkPolicy::default());
        let acme = policies.for_tenant("acme");
        assert_eq!(acme.agent_domains, vec!["acme.com".to_owned()]);
        assert_eq!(acme.max_identifiers_per_customer, 50);

        let typo = serde_json::from_str::<Policies>(r#"{"default": {"max_identifiers": 3}}"#);
        assert!(typo.unwrap_err().to_string().contains("unknown field"));
    }

    #[test]
    fn validation_reports_every_error_with_its_place() {
        let mut policies = Policies::default();
        policies.default.max_identifiers_per_customer = 1;
        policies.tenants.insert(
            "acme".into(),
            LinkPolicy {
                no_reply_markers: vec![" ".into()],
                agent_domains: vec!["jane@acme.com".into(), "localhost".into()],
                ..LinkPolicy::default()
            },
        );
        let errors = policies.validate();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].starts_with("default.max_identifiers_per_customer"));
        assert!(errors[1..].iter().all(|e| e.starts_with("tenants.acme.")));
        assert!(LinkPolicy::default().validate().is_empty());
    }
}
