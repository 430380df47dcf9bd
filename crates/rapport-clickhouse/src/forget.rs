//! The forget list (`schemas/clickhouse/005_forget.sql`): the SHA-256 digests of what
//! `rapport forget` erased. The writer and the linker keep a copy, refreshed before each batch,
//! and drop every record it matches, so a forgotten customer's records that arrive after the
//! erasure (in flight, or replayed from the raw topics) are never stored again.

use std::collections::{HashMap, HashSet};

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ClickHouseError;

pub const FORGOTTEN_TABLE: &str = "forgotten";

/// `kind` of a forget-list row whose digest is an identifier key's.
pub const KIND_IDENTITY: &str = "identity";
/// `kind` of a forget-list row whose digest is a conversation id's.
pub const KIND_CONVERSATION: &str = "conversation";
/// `kind` of a forget-list row naming a conversation the customer took part in, whose stored
/// state the erasure deletes and recomputes; records are never dropped for it.
pub const KIND_SCOPE: &str = "scope";

/// Rows are read again this long before the newest one seen, so a row written by a client whose
/// clock runs behind is still picked up.
const CLOCK_SLACK_MS: i64 = 10 * 60 * 1000;

/// One row of `forgotten`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct ForgottenRow {
    pub tenant_id: String,
    pub kind: String,
    /// `hex(SHA256(key))`, upper case.
    pub digest: String,
    pub customer_id: String,
    pub forgotten_at_ms: i64,
}

/// The digest the forget list stores for `key`, as ClickHouse's `hex(SHA256(key))` writes it.
pub fn digest_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// The writer's and the linker's copy of the forget list.
#[derive(Debug, Default, Clone)]
pub struct ForgetList {
    /// tenant → identity digests and conversation digests.
    tenants: HashMap<String, Forgotten>,
    newest_ms: i64,
}

#[derive(Debug, Default, Clone)]
struct Forgotten {
    identities: HashSet<[u8; 32]>,
    conversations: HashSet<[u8; 32]>,
}

impl ForgetList {
    /// Reads the rows written since the last refresh (with some slack). Returns how many digests
    /// were new.
    pub async fn refresh(&mut self, client: &clickhouse::Client) -> Result<usize, ClickHouseError> {
        let since = self.newest_ms.saturating_sub(CLOCK_SLACK_MS);
        let rows: Vec<ForgottenRow> = client
            .query(
                "SELECT tenant_id, kind, digest, customer_id, forgotten_at_ms FROM forgotten \
                 WHERE forgotten_at_ms >= ?",
            )
            .bind(since)
            .fetch_all()
            .await?;
        Ok(self.add(&rows))
    }

    /// Adds rows; returns how many digests were new.
    pub fn add(&mut self, rows: &[ForgottenRow]) -> usize {
        let mut new = 0;
        for row in rows {
            self.newest_ms = self.newest_ms.max(row.forgotten_at_ms);
            let Some(bytes) = parse_hex(&row.digest) else {
                continue;
            };
            let tenant = self.tenants.entry(row.tenant_id.clone()).or_default();
            let set = match row.kind.as_str() {
                KIND_IDENTITY => &mut tenant.identities,
                KIND_CONVERSATION => &mut tenant.conversations,
                _ => continue,
            };
            new += usize::from(set.insert(bytes));
        }
        new
    }

    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Whether the identifier key (`type:value`) is forgotten in `tenant_id`.
    pub fn forgets_key(&self, tenant_id: &str, key: &str) -> bool {
        self.tenants
            .get(tenant_id)
            .is_some_and(|f| f.identities.contains(&digest(key.as_bytes())))
    }

    /// Whether a record of `tenant_id` with these identifier keys (`type:value`) in this
    /// conversation belongs to a forgotten customer: it carries a forgotten identifier, or it
    /// carries none and its conversation is forgotten.
    pub fn forgets<'k>(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        identity_keys: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> bool {
        let Some(forgotten) = self.tenants.get(tenant_id) else {
            return false;
        };
        let mut any = false;
        let mut key = Vec::new();
        for (kind, value) in identity_keys {
            any = true;
            if forgotten.identities.is_empty() {
                continue;
            }
            key.clear();
            key.extend_from_slice(kind.as_bytes());
            key.push(b':');
            key.extend_from_slice(value.as_bytes());
            if forgotten.identities.contains(&digest(&key)) {
                return true;
            }
        }
        !any && !forgotten.conversations.is_empty()
            && forgotten
                .conversations
                .contains(&digest(conversation_id.as_bytes()))
    }
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let nibble = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(nibble(pair[0])? * 16 + nibble(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, key: &str) -> ForgottenRow {
        ForgottenRow {
            tenant_id: "acme".into(),
            kind: kind.into(),
            digest: digest_hex(key),
            customer_id: "c".into(),
            forgotten_at_ms: 5,
        }
    }

    #[test]
    fn digests_are_clickhouses_upper_case_hex() {
        // What `SELECT hex(SHA256('abc'))` answers on ClickHouse 18.16.
        assert_eq!(
            digest_hex("abc"),
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
        );
    }

    #[test]
    fn a_forgotten_identifier_drops_every_record_carrying_it() {
        let mut list = ForgetList::default();
        assert_eq!(
            list.add(&[row(KIND_IDENTITY, "email:maria@example.com")]),
            1
        );
        assert_eq!(
            list.add(&[row(KIND_IDENTITY, "email:maria@example.com")]),
            0
        );
        assert!(list.forgets(
            "acme",
            "c1",
            [("phone", "+1"), ("email", "maria@example.com")]
        ));
        assert!(!list.forgets("acme", "c1", [("email", "bob@example.com")]));
        assert!(!list.forgets("globex", "c1", [("email", "maria@example.com")]));
    }

    #[test]
    fn a_forgotten_conversation_drops_only_its_records_without_identifiers() {
        let mut list = ForgetList::default();
        list.add(&[row(KIND_CONVERSATION, "zendesk:501")]);
        assert!(list.forgets("acme", "zendesk:501", std::iter::empty()));
        assert!(!list.forgets("acme", "zendesk:501", [("email", "bob@example.com")]));
        assert!(!list.forgets("acme", "zendesk:502", std::iter::empty()));
    }
}
