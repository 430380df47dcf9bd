//! The one identifier filter of every adapter: which values a source hands over become a
//! customer's identifiers. An adapter keeps an identifier unless it identifies nobody:
//!
//! - a placeholder (`unknown`, `null`, `n/a`, `0`, …): what sources put where they have no value;
//! - a mailbox no person reads (`noreply@`, `do-not-reply@`, `forwarding-noreply@`,
//!   `mailer-daemon@`, `postmaster@`, `bounces+…@`): replies to it reach nobody;
//! - the tenant's own agent addresses and bots (`[tenants.*] agent_domains`, `bot_addresses`):
//!   those are the company, not the customer;
//! - anything that fails to normalize (an address without a domain, a phone number
//!   libphonenumber does not accept).
//!
//! Identifiers that identify *many* people (role addresses such as `support@`, shared inboxes, a
//! reception's phone) are kept: a customer writing from `info@smallbusiness.example` is that
//! customer. Whether two interactions may be *linked* through such an identifier is the linker's
//! policy (`rapport_identity::LinkPolicy`), stated beside this filter in docs/IDENTITY.md.

use rapport_model::{Identity, IdentityType};

use crate::Context;
use crate::common::phone;

/// Values sources put where they have no real identifier.
pub fn is_placeholder(raw: &str) -> bool {
    let raw = raw.trim();
    // Every placeholder is short: longer input is not lower-cased just to be compared.
    raw.len() <= 9
        && matches!(
            raw.to_ascii_lowercase().as_str(),
            "" | "unknown" | "null" | "none" | "nil" | "undefined" | "n/a" | "-" | "0"
        )
}

/// A mailbox no person reads. Case, separators (`no-reply`, `No_Reply`, `do.not.reply`) and a
/// `+tag` do not matter; the markers may stand anywhere in the local part
/// (`forwarding-noreply@google.com`).
pub fn is_noreply(address: &str) -> bool {
    let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
    let local = local.split('+').next().unwrap_or_default();
    let compact: String = local
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    compact.contains("noreply")
        || compact.contains("donotreply")
        || matches!(
            compact.as_str(),
            "mailerdaemon" | "postmaster" | "bounce" | "bounces"
        )
}

/// Collects a customer's identifiers through the filter above, sorted and without duplicates.
#[derive(Debug)]
pub struct Identities<'a> {
    ctx: &'a Context<'a>,
    list: Vec<Identity>,
}

impl<'a> Identities<'a> {
    pub fn new(ctx: &'a Context<'a>) -> Self {
        Self {
            ctx,
            list: Vec::new(),
        }
    }

    /// An email address, unless it identifies nobody (see the module docs).
    pub fn email(&mut self, raw: Option<&str>) {
        if let Some(id) = customer_email(self.ctx, raw) {
            self.list.push(id);
        }
    }

    pub fn phone(&mut self, raw: Option<&str>) {
        let Some(raw) = raw.filter(|r| !is_placeholder(r)) else {
            return;
        };
        if let Some(id) = phone::identity(raw, self.ctx.tenant.default_phone_region.as_deref()) {
            self.list.push(id);
        }
    }

    /// A source's own id for the person (`intercom_contact`, `zendesk_user`, …).
    pub fn scoped(&mut self, kind: IdentityType, raw: Option<&str>) {
        let Some(raw) = raw.filter(|r| !is_placeholder(r)) else {
            return;
        };
        if let Ok(id) = Identity::scoped(kind, raw) {
            self.list.push(id);
        }
    }

    pub fn push(&mut self, id: Identity) {
        self.list.push(id);
    }

    pub fn finish(mut self) -> Vec<Identity> {
        self.list.sort();
        self.list.dedup();
        self.list
    }
}

/// An email address as a customer's identifier, unless it identifies nobody.
pub fn customer_email(ctx: &Context<'_>, raw: Option<&str>) -> Option<Identity> {
    let raw = raw.filter(|r| !is_placeholder(r))?;
    let id = Identity::email(raw).ok()?;
    let local = id.value.split('@').next().unwrap_or_default();
    (!is_placeholder(local) && !is_company(ctx, &id.value)).then_some(id)
}

/// Whether a normalized address is nobody's or the tenant's own (an agent or a bot).
pub fn is_company(ctx: &Context<'_>, address: &str) -> bool {
    is_noreply(address) || ctx.tenant.is_agent_email(address) || ctx.tenant.is_bot(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_in_any_case_and_padding() {
        for raw in [
            "",
            " ",
            "Unknown",
            "NULL",
            " n/a ",
            "-",
            "0",
            "nil",
            "undefined",
        ] {
            assert!(is_placeholder(raw), "{raw:?}");
        }
        for raw in ["maria", "00", "unknownx", "+14155550100"] {
            assert!(!is_placeholder(raw), "{raw:?}");
        }
    }

    #[test]
    fn noreply_mailboxes_in_every_spelling() {
        for address in [
            "noreply@x.io",
            "no-reply@x.io",
            "No_Reply@x.io",
            "do-not-reply@x.io",
            "do.not.reply@x.io",
            "forwarding-noreply@google.com",
            "noreply+tag@x.io",
            "MAILER-DAEMON@x.io",
            "postmaster@x.io",
            "bounces+12345@sendgrid.net",
        ] {
            assert!(is_noreply(address), "{address}");
        }
        for address in ["nora@x.io", "reply@x.io", "bouncer@x.io", "support@x.io"] {
            assert!(!is_noreply(address), "{address}");
        }
    }
}
