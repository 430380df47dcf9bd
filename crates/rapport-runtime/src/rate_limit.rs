//! Token buckets: up to `burst` requests at once, refilled continuously at `requests_per_second`,
//! one per key (per instance: behind a load balancer with N instances a key gets up to N times
//! the rate). The API keeps one per API key, the gateway one per endpoint, and both a
//! [`Throttle`] per client address for failed authentications, so a flood of forged requests is
//! answered before any lookup or signature check.
//!
//! Buckets live in a bounded cache (moka): a bucket unused for the time it takes to refill is
//! the same as no bucket, and under a flood of distinct keys or addresses the least recently used
//! go first, so memory stays bounded whatever the traffic.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use moka::ops::compute::Op;
use moka::sync::Cache;
use serde::{Deserialize, Serialize};

/// A token bucket per key: `burst` requests at once, refilled at `requests_per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub requests_per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 10.0,
            burst: 20,
        }
    }
}

impl RateLimitConfig {
    /// The problems with this section, named `section` in the messages.
    pub fn validate(&self, section: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            problems.push(format!(
                "{section}.requests_per_second must be a positive number"
            ));
        }
        if self.burst == 0 {
            problems.push(format!("{section}.burst must be at least 1"));
        }
        problems
    }
}

#[derive(Debug)]
pub struct RateLimiter<K: Hash + Eq + Send + Sync + 'static = String> {
    rate: f64,
    burst: f64,
    buckets: Cache<K, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// How many buckets one limiter keeps at most.
const MAX_BUCKETS: u64 = 100_000;

impl<K: Hash + Eq + Clone + Send + Sync + 'static> RateLimiter<K> {
    pub fn new(config: &RateLimitConfig) -> Self {
        let refill = Duration::from_secs_f64(
            (f64::from(config.burst) / config.requests_per_second).clamp(1.0, 86_400.0),
        );
        Self {
            rate: config.requests_per_second,
            burst: f64::from(config.burst),
            buckets: Cache::builder()
                .max_capacity(MAX_BUCKETS)
                .time_to_idle(refill)
                .build(),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let (rate, burst) = (self.rate, self.burst);
        let mut outcome = Ok(());
        self.buckets.entry(key.clone()).and_compute_with(|current| {
            let mut bucket = current.map_or(
                Bucket {
                    tokens: burst,
                    updated: now,
                },
                |entry| *entry.value(),
            );
            bucket.tokens = refilled(bucket, now, rate, burst);
            bucket.updated = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
            } else {
                outcome = Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate));
            }
            Op::Put(bucket)
        });
        outcome
    }
}

/// Failed authentications per client address: each failure takes a token, and an address out of
/// tokens is throttled (answered before any lookup) until it would have one again.
#[derive(Debug)]
pub struct Throttle<K: Hash + Eq + Send + Sync + 'static> {
    limiter: RateLimiter<K>,
    blocked_until: Cache<K, Instant>,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Throttle<K> {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            limiter: RateLimiter::new(config),
            blocked_until: Cache::builder()
                .max_capacity(MAX_BUCKETS)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }

    /// Counts a failure; true when the key is now throttled.
    pub fn failed(&self, key: &K, now: Instant) -> bool {
        match self.limiter.check(key, now) {
            Ok(()) => false,
            Err(wait) => {
                self.blocked_until.insert(key.clone(), now + wait);
                true
            }
        }
    }

    /// How long the key is still throttled, if it is.
    pub fn throttled(&self, key: &K, now: Instant) -> Option<Duration> {
        self.blocked_until
            .get(key)
            .map(|until| until.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }
}

/// The address a client is counted as: the peer, or the first address of `X-Forwarded-For` when
/// `trust_forwarded_for` says a proxy sets it (and strips what clients send). IPv6 clients are
/// counted per /64, the block one subscriber usually holds.
pub fn client_address(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| {
            headers
                .get("x-forwarded-for")?
                .to_str()
                .ok()?
                .split(',')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .flatten();
    let ip = forwarded.or(peer.map(|p| p.ip()))?;
    Some(match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::from(segments)
        }
        IpAddr::V6(v6) => IpAddr::V4(
            v6.to_ipv4_mapped()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        ),
        v4 => v4,
    })
}

fn refilled(bucket: Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(burst)
}

/// `Retry-After` in whole seconds, rounded up so a client that waits that long succeeds.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64, burst: u32) -> RateLimiter<&'static str> {
        RateLimiter::new(&RateLimitConfig {
            requests_per_second: rate,
            burst,
        })
    }

    #[test]
    fn a_burst_passes_then_the_next_request_waits_for_a_token() {
        let limiter = limiter(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(&"k", t0).is_ok());
        }
        let wait = limiter.check(&"k", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_seconds(wait), 1);
        assert!(
            limiter
                .check(&"k", t0 + Duration::from_millis(499))
                .is_err()
        );
        assert!(
            limiter
                .check(&"k", t0 + Duration::from_millis(1000))
                .is_ok()
        );
    }

    #[test]
    fn keys_have_separate_buckets() {
        let limiter = limiter(1.0, 1);
        let t0 = Instant::now();
        assert!(limiter.check(&"a", t0).is_ok());
        assert!(limiter.check(&"a", t0).is_err());
        assert!(limiter.check(&"b", t0).is_ok());
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_the_burst() {
        let limiter = limiter(10.0, 2);
        let t0 = Instant::now();
        assert!(limiter.check(&"k", t0).is_ok());
        let later = t0 + Duration::from_secs(3600);
        assert!(limiter.check(&"k", later).is_ok());
        assert!(limiter.check(&"k", later).is_ok());
        assert!(limiter.check(&"k", later).is_err());
    }

    #[test]
    fn an_address_out_of_failures_is_throttled_until_it_has_one_again() {
        let throttle = Throttle::new(&RateLimitConfig {
            requests_per_second: 1.0,
            burst: 2,
        });
        let t0 = Instant::now();
        assert!(!throttle.failed(&"ip", t0));
        assert!(!throttle.failed(&"ip", t0));
        assert_eq!(throttle.throttled(&"ip", t0), None);
        assert!(throttle.failed(&"ip", t0));
        assert_eq!(throttle.throttled(&"ip", t0), Some(Duration::from_secs(1)));
        assert_eq!(throttle.throttled(&"other", t0), None);
        assert_eq!(throttle.throttled(&"ip", t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn buckets_stay_bounded_under_a_flood_of_keys() {
        let limiter = RateLimiter::<u64>::new(&RateLimitConfig {
            requests_per_second: 1.0,
            burst: 5,
        });
        let t0 = Instant::now();
        for key in 0..(MAX_BUCKETS + 5_000) {
            let _ = limiter.check(&key, t0);
        }
        limiter.buckets.run_pending_tasks();
        assert!(limiter.buckets.entry_count() <= MAX_BUCKETS);
    }

    #[test]
    fn addresses_are_the_peer_or_a_trusted_forwarded_for_and_v6_by_its_64() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        assert_eq!(client_address(Some(peer), &headers, false), Some(peer.ip()));
        assert_eq!(
            client_address(Some(peer), &headers, true),
            Some("203.0.113.9".parse().unwrap())
        );
        let v6: SocketAddr = "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1".parse().unwrap();
        assert_eq!(
            client_address(Some(v6), &HeaderMap::new(), false),
            Some("2001:db8:1:2::".parse().unwrap())
        );
    }

    #[test]
    fn a_config_without_rate_or_burst_is_refused() {
        let zero = RateLimitConfig {
            requests_per_second: 0.0,
            burst: 0,
        };
        assert_eq!(zero.validate("rate_limit").len(), 2);
        assert!(RateLimitConfig::default().validate("x").is_empty());
    }

    #[test]
    fn slow_rates_round_retry_after_up() {
        let limiter = limiter(0.25, 1);
        let t0 = Instant::now();
        assert!(limiter.check(&"k", t0).is_ok());
        let wait = limiter.check(&"k", t0).unwrap_err();
        assert_eq!(retry_after_seconds(wait), 4);
    }
}
