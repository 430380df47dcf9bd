//! A token bucket per API key: up to `burst` requests at once, refilled continuously at
//! `requests_per_second`. Per instance: behind a load balancer with N instances a key gets up to
//! N times the rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets of keys that went quiet are dropped past this many, since a full bucket and no bucket
/// mean the same.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            rate: config.requests_per_second,
            burst: f64::from(config.burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| refilled(*b, now, rate, burst) < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = refilled(*bucket, now, self.rate, self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
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

    fn limiter(rate: f64, burst: u32) -> RateLimiter {
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
            assert!(limiter.check("k", t0).is_ok());
        }
        let wait = limiter.check("k", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_seconds(wait), 1);
        assert!(limiter.check("k", t0 + Duration::from_millis(499)).is_err());
        assert!(limiter.check("k", t0 + Duration::from_millis(1000)).is_ok());
    }

    #[test]
    fn keys_have_separate_buckets() {
        let limiter = limiter(1.0, 1);
        let t0 = Instant::now();
        assert!(limiter.check("a", t0).is_ok());
        assert!(limiter.check("a", t0).is_err());
        assert!(limiter.check("b", t0).is_ok());
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_the_burst() {
        let limiter = limiter(10.0, 2);
        let t0 = Instant::now();
        assert!(limiter.check("k", t0).is_ok());
        let later = t0 + Duration::from_secs(3600);
        assert!(limiter.check("k", later).is_ok());
        assert!(limiter.check("k", later).is_ok());
        assert!(limiter.check("k", later).is_err());
    }

    #[test]
    fn slow_rates_round_retry_after_up() {
        let limiter = limiter(0.25, 1);
        let t0 = Instant::now();
        assert!(limiter.check("k", t0).is_ok());
        let wait = limiter.check("k", t0).unwrap_err();
        assert_eq!(retry_after_seconds(wait), 4);
    }
}
