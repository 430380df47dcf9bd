//! `Authorization: Bearer rpk_…` → the caller's tenant, then the caller's rate limit.
//!
//! Lookups are remembered for `auth.cache_ttl_ms` (valid, revoked and unknown alike), keyed by
//! the key's hash: a revocation reaches every instance within that time, and a made-up key costs
//! one ClickHouse lookup per TTL at most. A failed lookup (store unavailable) is not remembered.
//! The cache is bounded and evicts the least recently used entries (moka), so a flood of made-up
//! keys pushes out other made-up keys, not the keys in use. Each client address gets
//! `auth.failures_per_second` failed authentications (burst `auth.failure_burst`); past that it
//! is answered 429 without any lookup until it slows down.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moka::sync::Cache;
use rapport_clickhouse::keys;
use rapport_runtime::rate_limit::{client_address, retry_after_seconds};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Who is calling: every query of the request is scoped to `tenant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: String,
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Valid(Caller),
    Revoked,
    Unknown,
}

#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Cache<String, (Verdict, Instant)>,
}

impl KeyCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            entries: Cache::builder()
                .max_capacity(max_entries as u64)
                .time_to_live(ttl)
                .build(),
        }
    }

    fn get(&self, digest: &str, now: Instant) -> Option<Verdict> {
        self.entries
            .get(digest)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(verdict, _)| verdict)
    }

    fn put(&self, digest: String, verdict: Verdict, now: Instant) {
        self.entries.insert(digest, (verdict, now));
    }
}

/// Resolves a presented key to its caller, through the cache. A key the cache does not know as
/// valid is looked up only while `address` has failed authentications left.
pub async fn verify(
    state: &AppState,
    token: &str,
    address: Option<IpAddr>,
    now: Instant,
) -> ApiResult<Caller> {
    let Some(key_id) = keys::parse(token) else {
        return Err(ApiError::new(
            ErrorCode::MalformedKey,
            "the bearer token is not a Rapport API key (rpk_<id>_<secret>)",
        ));
    };
    let digest = keys::hash(token);
    let cached = state.keys.get(&digest, now);
    if !matches!(cached, Some(Verdict::Valid(_)))
        && let Some(address) = address
        && let Some(wait) = state.failures.throttled(&address, now)
    {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many failed authentications from this address; retry after the Retry-After delay",
        )
        .with_retry_after(retry_after_seconds(wait)));
    }
    let verdict = match cached {
        Some(verdict) => {
            metrics::counter!("rapport_api_key_lookups_total", "source" => "cache").increment(1);
            verdict
        }
        None => {
            metrics::counter!("rapport_api_key_lookups_total", "source" => "clickhouse")
                .increment(1);
            let verdict = match keys::find(&state.client, key_id).await? {
                Some(row) if row.matches(token) && row.is_revoked() => Verdict::Revoked,
                Some(row) if row.matches(token) => Verdict::Valid(Caller {
                    tenant_id: row.tenant_id,
                    key_id: row.key_id,
                }),
                _ => Verdict::Unknown,
            };
            state.keys.put(digest, verdict.clone(), now);
            verdict
        }
    };
    match verdict {
        Verdict::Valid(caller) => Ok(caller),
        Verdict::Revoked => Err(ApiError::new(
            ErrorCode::RevokedKey,
            format!("API key {key_id} has been revoked"),
        )),
        Verdict::Unknown => Err(ApiError::new(
            ErrorCode::UnknownKey,
            "this API key does not exist",
        )),
    }
}

/// The bearer token of `Authorization`; the scheme is case-insensitive (RFC 7235).
fn bearer(request: &Request) -> ApiResult<&str> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            ErrorCode::MissingKey,
            "send an API key as `Authorization: Bearer rpk_…` (create one with `rapport keys create`)",
        ));
    };
    let malformed = || {
        ApiError::new(
            ErrorCode::MalformedKey,
            "the Authorization header must be `Bearer rpk_…`",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed());
    }
    Ok(token.trim())
}

/// Middleware on every `/v1` route: authenticate, rate-limit, and hand the [`Caller`] on.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let address = client_address(peer, request.headers(), state.trust_forwarded_for);
    let now = Instant::now();
    let caller = match bearer(&request) {
        Ok(token) => verify(&state, token, address, now).await,
        Err(error) => Err(error),
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => {
            metrics::counter!("rapport_api_auth_failures_total", "code" => error.code.as_str())
                .increment(1);
            if error.code != ErrorCode::Unavailable
                && let Some(address) = address
                && state.failures.failed(&address, now)
            {
                metrics::counter!("rapport_api_auth_throttled_total").increment(1);
            }
            return error.into_response();
        }
    };
    if let Err(wait) = state.limiter.check(&caller.key_id, now) {
        metrics::counter!("rapport_api_rate_limited_total").increment(1);
        return ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many requests for API key {}; retry after the Retry-After delay",
                caller.key_id
            ),
        )
        .with_retry_after(retry_after_seconds(wait))
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Verdict {
        Verdict::Valid(Caller {
            tenant_id: "acme".into(),
            key_id: "k".into(),
        })
    }

    #[test]
    fn cached_verdicts_expire_after_the_ttl() {
        let cache = KeyCache::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        cache.put("d".into(), caller(), t0);
        assert_eq!(cache.get("d", t0 + Duration::from_secs(9)), Some(caller()));
        assert_eq!(cache.get("d", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn a_flood_of_unknown_keys_never_grows_the_cache_nor_evicts_a_key_in_use() {
        let cache = KeyCache::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        cache.put("valid".into(), caller(), t0);
        for i in 0..20_000 {
            if i % 50 == 0 {
                assert_eq!(
                    cache.get("valid", t0),
                    Some(caller()),
                    "after {i} unknown keys"
                );
            }
            cache.put(format!("unknown-{i}"), Verdict::Unknown, t0);
        }
        cache.entries.run_pending_tasks();
        assert!(cache.entries.entry_count() <= 100);
        assert_eq!(cache.get("valid", t0), Some(caller()));
    }
}
