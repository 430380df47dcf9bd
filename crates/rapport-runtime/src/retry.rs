//! Waiting between attempts: exponential back-off with jitter, for every loop that retries
//! something that will come back (a broker, ClickHouse, a schema registry).
//!
//! The delays come from `backon` (maintained, no runtime of its own; the older `backoff` crate is
//! unmaintained). Jitter matters here because every replica of a service sees the same outage at
//! the same moment: without it they all retry in lock-step and hit the store together when it
//! returns.

use std::future::Future;
use std::time::Duration;

use backon::BackoffBuilder as _;

/// Delays that double from `initial` and never exceed `max`, each one drawn at random from
/// `[d, 2d)` for the doubling `d` (backon's jitter), so the first wait lies in `[initial,
/// 2 × initial)` and the longest in `[max / 2, max]`.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    delays: backon::ExponentialBackoff,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        let max = max.max(initial);
        Self {
            initial,
            max,
            delays: Self::delays(initial, max),
        }
    }

    /// The delays of `[initial, max]`: backon adds up to the current delay again as jitter, so it
    /// doubles towards half the cap.
    fn delays(initial: Duration, max: Duration) -> backon::ExponentialBackoff {
        backon::ExponentialBuilder::default()
            .with_min_delay(initial)
            .with_max_delay((max / 2).max(initial))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.max).min(self.max)
    }

    /// Starts again from `initial` (after a success, so the next outage begins with short waits).
    pub fn reset(&mut self) {
        self.delays = Self::delays(self.initial, self.max);
    }

    /// Sleeps for the next delay; `false` when `give_up` resolves first.
    pub async fn wait(&mut self, give_up: impl Future<Output = ()>) -> bool {
        sleep_unless(self.next_delay(), give_up).await
    }
}

/// Sleeps for `delay`; `false` when `give_up` resolves first.
pub async fn sleep_unless(delay: Duration, give_up: impl Future<Output = ()>) -> bool {
    tokio::select! {
        () = give_up => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Runs `attempt` until it succeeds (`Ok(Some(_))`), fails with an error `retryable` rejects
/// (`Err`), or `give_up` resolves while waiting (`Ok(None)`). `on_retry` sees every retried error
/// and the wait that follows it: the place to log and count.
pub async fn retry<T, E, Fut>(
    backoff: &mut Backoff,
    give_up: impl Future<Output = ()>,
    retryable: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E, Duration),
    mut attempt: impl FnMut() -> Fut,
) -> Result<Option<T>, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    tokio::pin!(give_up);
    loop {
        match attempt().await {
            Ok(value) => return Ok(Some(value)),
            Err(error) if retryable(&error) => {
                let delay = backoff.next_delay();
                on_retry(&error, delay);
                if !sleep_unless(delay, &mut give_up).await {
                    return Ok(None);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// A future that never resolves: `give_up` for a retry that only ends in success or a permanent
/// error.
pub async fn never() {
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn delays_double_within_their_bounds_and_reset() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let mut backoff = Backoff::new(initial, max);
        let delays: Vec<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(
            delays[0] >= initial && delays[0] < initial * 2,
            "{delays:?}"
        );
        assert!(
            delays.iter().all(|d| *d >= initial && *d <= max),
            "{delays:?}"
        );
        assert!(
            delays[10..].iter().all(|d| *d >= max / 2),
            "the cap is reached: {delays:?}"
        );
        backoff.reset();
        assert!(backoff.next_delay() < initial * 2);
    }

    #[test]
    fn two_retriers_do_not_wait_in_lock_step() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(30));
        let mut a = Backoff::new(initial, max);
        let mut b = Backoff::new(initial, max);
        let a: Vec<Duration> = (0..8).map(|_| a.next_delay()).collect();
        let b: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert_ne!(a, b, "jittered delays differ");
    }

    #[tokio::test]
    async fn retry_stops_at_success_at_a_permanent_error_and_at_give_up() {
        let attempts = AtomicUsize::new(0);
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let mut retried = 0;
        let value = retry(
            &mut backoff,
            never(),
            |e: &&str| *e == "transient",
            |_, _| retried += 1,
            || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err("transient"),
                    n => Ok(n),
                }
            },
        )
        .await;
        assert_eq!(value, Ok(Some(2)));
        assert_eq!(retried, 2);

        let permanent: Result<Option<()>, &str> = retry(
            &mut backoff,
            never(),
            |e: &&str| *e == "transient",
            |_, _| {},
            || async { Err("permanent") },
        )
        .await;
        assert_eq!(permanent, Err("permanent"));

        let gave_up: Result<Option<()>, &str> = retry(
            &mut backoff,
            tokio::time::sleep(Duration::from_millis(300)),
            |_: &&str| true,
            |_, _| {},
            || async { Err("transient") },
        )
        .await;
        assert_eq!(gave_up, Ok(None));
    }
}
