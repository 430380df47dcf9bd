//! Google's OAuth 2.0 signing keys (a JWKS), which sign the OIDC tokens of authenticated
//! Pub/Sub push requests. Fetched from [`GOOGLE_JWKS_URL`], kept an hour, fetched again early
//! (at most once a minute) when a token names a key id not in the set, as Google rotates keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::{Fetch, MAX_KEY_DOCUMENT_BYTES};
use crate::error::VerifyError;

/// Where Google publishes the keys of its OIDC tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
const KEEP_SECONDS: i64 = 3600;
const MIN_REFETCH_SECONDS: i64 = 60;

#[derive(Default)]
struct State {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<DateTime<Utc>>,
    attempted_at: Option<DateTime<Utc>>,
    /// The last fetch failed: a key not held is then unavailable, not forged.
    failed: bool,
}

/// Google's JWT signing keys by key id.
pub struct GoogleKeys {
    fetch: Option<Arc<dyn Fetch>>,
    url: Url,
    pinned: bool,
    state: Mutex<State>,
    /// One fetch at a time: a request that arrives while another fetches waits for that fetch
    /// instead of being refused for a key the fetch is about to bring.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GoogleKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleKeys")
            .field("url", &self.url.as_str())
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl GoogleKeys {
    /// A store fetching Google's published keys through `fetch` (none: no keys at all).
    pub fn new(fetch: Option<Arc<dyn Fetch>>) -> Self {
        Self {
            fetch,
            url: Url::parse(GOOGLE_JWKS_URL).expect("a valid constant URL"),
            pinned: false,
            state: Mutex::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// A fixed key set given in config; never fetched.
    pub fn from_jwks(document: &[u8]) -> Result<Self, String> {
        let keys = parse_jwks(document)?;
        Ok(Self {
            fetch: None,
            url: Url::parse(GOOGLE_JWKS_URL).expect("a valid constant URL"),
            pinned: true,
            state: Mutex::new(State {
                keys,
                ..State::default()
            }),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The key with id `kid`.
    pub async fn key(&self, kid: &str, now: DateTime<Utc>) -> Result<DecodingKey, VerifyError> {
        let fresh = {
            let state = self.lock();
            let stale = state
                .fetched_at
                .is_none_or(|t| (now - t).num_seconds() >= KEEP_SECONDS);
            state
                .keys
                .get(kid)
                .filter(|_| self.pinned || !stale)
                .cloned()
        };
        if let Some(key) = fresh {
            return Ok(key);
        }
        let _refreshing = self.refreshing.lock().await;
        let (found, should_fetch) = {
            let state = self.lock();
            let found = state.keys.get(kid).cloned();
            let stale = state
                .fetched_at
                .is_none_or(|t| (now - t).num_seconds() >= KEEP_SECONDS);
            let may_retry = state
                .attempted_at
                .is_none_or(|t| (now - t).num_seconds() >= MIN_REFETCH_SECONDS);
            let wanted = found.is_none() || stale;
            (
                found,
                !self.pinned && self.fetch.is_some() && wanted && may_retry,
            )
        };
        if should_fetch {
            let fetched = self.refresh(now).await;
            if let Some(key) = self.lock().keys.get(kid).cloned() {
                return Ok(key);
            }
            // A failed refresh falls back to the key already held, if any.
            if let (Err(e), None) = (fetched, &found) {
                return Err(e);
            }
        }
        match found {
            Some(key) => Ok(key),
            // The fetch that would bring it failed moments ago (and is not repeated yet).
            None if self.lock().failed => Err(VerifyError::KeyUnavailable(
                "Google's keys could not be fetched".into(),
            )),
            None => Err(VerifyError::BadSignature),
        }
    }

    async fn refresh(&self, now: DateTime<Utc>) -> Result<(), VerifyError> {
        self.lock().attempted_at = Some(now);
        let fetch = self.fetch.as_ref().expect("refresh only with a fetcher");
        let fetched = async {
            let document = fetch
                .get(&self.url)
                .await
                .map_err(|e| VerifyError::KeyUnavailable(e.to_string()))?;
            if document.len() > MAX_KEY_DOCUMENT_BYTES {
                return Err(VerifyError::KeyUnavailable(
                    "the key set is too large".into(),
                ));
            }
            parse_jwks(&document).map_err(VerifyError::KeyUnavailable)
        }
        .await;
        let mut state = self.lock();
        state.failed = fetched.is_err();
        let keys = fetched?;
        state.keys = keys;
        state.fetched_at = Some(now);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Each write replaces whole fields, so a panicked holder leaves a usable state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse_jwks(document: &[u8]) -> Result<HashMap<String, DecodingKey>, String> {
    let set: JwkSet = serde_json::from_slice(document)
        .map_err(|_| "the key set is not a JWKS document".to_string())?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, key);
        }
    }
    if keys.is_empty() {
        return Err("the key set has no usable key".into());
    }
    Ok(keys)
}
