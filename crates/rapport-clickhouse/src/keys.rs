//! API keys: `rpk_<key id>_<secret>`, 32 random bytes of secret, bound to one tenant, stored as a
//! SHA-256 hash in the `api_keys` table (`schemas/clickhouse/004_api_keys.sql`). `rapport keys`
//! creates, revokes and lists them through these functions; `rapport-api` parses, hashes and
//! finds a presented key with them when it verifies a request.
//!
//! A plain SHA-256 is enough here, unlike for passwords: the secret is 256 random bits, so there
//! is no dictionary to try, and a fast hash keeps verification cheap on every request.

use base64::Engine as _;
use clickhouse::Row;
use rand::RngCore as _;
use rapport_model::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ClickHouseError;

pub const API_KEYS_TABLE: &str = "api_keys";
/// Every key starts with this, so a leaked key is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "rpk_";
const KEY_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// One row of `api_keys`: the latest state of a key (read with `FINAL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct KeyRow {
    pub key_id: String,
    pub tenant_id: String,
    pub name: String,
    /// Hex SHA-256 of the whole key text.
    pub hash: String,
    pub created_at_ms: i64,
    pub revoked: u8,
    pub revoked_at_ms: Option<i64>,
}

impl KeyRow {
    pub fn is_revoked(&self) -> bool {
        self.revoked != 0
    }

    /// True when `token` is this key (compared in constant time).
    pub fn matches(&self, token: &str) -> bool {
        let presented = hash(token);
        presented.len() == self.hash.len()
            && presented
                .bytes()
                .zip(self.hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// A key as shown once, at creation.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub row: KeyRow,
    /// The key itself; never stored, never logged.
    pub token: String,
}

/// What `revoke` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Revoked(KeyRow),
    AlreadyRevoked(KeyRow),
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] ClickHouseError),
}

impl KeyError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }
}

impl From<clickhouse::error::Error> for KeyError {
    fn from(error: clickhouse::error::Error) -> Self {
        Self::Store(error.into())
    }
}

/// A fresh key id and key text.
pub fn generate() -> (String, String) {
    let mut rng = rand::rng();
    let mut id = [0u8; KEY_ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let key_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{KEY_PREFIX}{key_id}_{secret}");
    (key_id, token)
}

/// The key id of a well-formed key text (`rpk_<16 hex>_<43 base64url>`), `None` otherwise.
pub fn parse(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = key_id.len() == 2 * KEY_ID_BYTES
        && key_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = secret.len() == SECRET_BYTES.div_ceil(3) * 4 - 1
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(key_id)
}

/// Hex SHA-256 of the key text: what `api_keys.hash` holds.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates a key for `tenant_id`; the returned text is the only copy of the key.
pub async fn create(
    client: &clickhouse::Client,
    tenant_id: &str,
    name: &str,
) -> Result<CreatedKey, KeyError> {
    let tenant_id = tenant_id.trim();
    let name = name.trim();
    if tenant_id.is_empty() {
        return Err(KeyError::Invalid("the tenant must not be empty".into()));
    }
    if name.is_empty() || name.chars().count() > 200 {
        return Err(KeyError::Invalid(
            "the name must be 1 to 200 characters (say who or what uses the key)".into(),
        ));
    }
    let (key_id, token) = generate();
    let row = KeyRow {
        key_id,
        tenant_id: tenant_id.to_owned(),
        name: name.to_owned(),
        hash: hash(&token),
        created_at_ms: Timestamp::now().as_millis(),
        revoked: 0,
        revoked_at_ms: None,
    };
    write(client, &row).await?;
    Ok(CreatedKey { row, token })
}

/// Revokes a key by id (a whole key text is accepted too). Permanent: the table keeps the
/// revoked row over any other row of the key.
pub async fn revoke(client: &clickhouse::Client, key: &str) -> Result<Revocation, KeyError> {
    let key_id = parse(key).unwrap_or(key);
    let Some(mut row) = find(client, key_id).await? else {
        return Ok(Revocation::Unknown);
    };
    if row.is_revoked() {
        return Ok(Revocation::AlreadyRevoked(row));
    }
    row.revoked = 1;
    row.revoked_at_ms = Some(Timestamp::now().as_millis());
    write(client, &row).await?;
    Ok(Revocation::Revoked(row))
}

/// Every key (of one tenant when given), oldest first.
pub async fn list(
    client: &clickhouse::Client,
    tenant_id: Option<&str>,
) -> Result<Vec<KeyRow>, KeyError> {
    let query = match tenant_id {
        Some(tenant) => client
            .query(
                "SELECT ?fields FROM api_keys FINAL WHERE tenant_id = ? ORDER BY created_at_ms, key_id",
            )
            .bind(tenant),
        None => client.query("SELECT ?fields FROM api_keys FINAL ORDER BY created_at_ms, key_id"),
    };
    Ok(query
        .with_setting("wait_end_of_query", "1")
        .fetch_all()
        .await?)
}

/// The latest state of one key.
pub async fn find(
    client: &clickhouse::Client,
    key_id: &str,
) -> Result<Option<KeyRow>, ClickHouseError> {
    Ok(client
        .query("SELECT ?fields FROM api_keys FINAL WHERE key_id = ?")
        .bind(key_id)
        .fetch_optional()
        .await?)
}

async fn write(client: &clickhouse::Client, row: &KeyRow) -> Result<(), KeyError> {
    let mut insert = client.insert::<KeyRow>(API_KEYS_TABLE).await?;
    insert.write(row).await?;
    insert.end().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_to_their_id_and_are_never_the_same() {
        let (id, token) = generate();
        assert_eq!(parse(&token), Some(id.as_str()));
        assert!(token.starts_with("rpk_"));
        assert!(token.len() >= 4 + 16 + 1 + 43, "{token}");
        let (other_id, other) = generate();
        assert_ne!(token, other);
        assert_ne!(id, other_id);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let (_, token) = generate();
        let secret = "A".repeat(41);
        let bad_id = format!("rpk_0123456789abcdeg_{secret}AA");
        let padded = format!("rpk_0123456789abcdef_{secret}A=");
        let short_id = format!("rpk_0123456789abcde_{secret}AA");
        for bad in [
            "",
            "rpk_",
            "bearer",
            &token[..token.len() - 1],
            &format!("{token}x"),
            &token.replace("rpk_", "rpx_"),
            &bad_id,
            &padded,
            &short_id,
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(
            parse(&format!("rpk_0123456789abcdef_{secret}-_")),
            Some("0123456789abcdef"),
            "base64url may contain '-' and '_'"
        );
    }

    #[test]
    fn only_the_exact_key_matches_its_stored_hash() {
        let (key_id, token) = generate();
        let row = KeyRow {
            key_id,
            tenant_id: "acme".into(),
            name: "test".into(),
            hash: hash(&token),
            created_at_ms: 0,
            revoked: 0,
            revoked_at_ms: None,
        };
        assert!(row.matches(&token));
        // Change the last character to one it is not (a random token ends in 'A' one time in 64).
        let last = if token.ends_with('A') { 'B' } else { 'A' };
        assert!(!row.matches(&format!("{}{last}", &token[..token.len() - 1])));
        assert!(!row.hash.contains(&token[21..]), "the secret is not stored");
        assert_eq!(row.hash.len(), 64);
    }
}
