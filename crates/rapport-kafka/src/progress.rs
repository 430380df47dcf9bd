//! Whether each assigned partition makes progress, from the consumer's statistics. A partition
//! is stalled when either
//! - its fetcher is active, records wait behind its stored offset and that offset does not move
//!   for `limits.progress` ([`StallReason::NoProgress`]), or
//! - records wait above the consumer's position and librdkafka's fetcher has been out of
//!   `active` (`offset-query`, `offset-wait`, `validate-epoch-wait`, `stopped`, ...) for
//!   `limits.fetch_inactive` ([`StallReason::FetchInactive`]): a partition librdkafka holds out
//!   of fetching reads nothing, so its stored offset cannot move, and the first rule, which
//!   only watches active fetchers, never saw it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a partition may go without progress before `/livez` fails on it
/// ([`crate::KafkaConfig::stall_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallLimits {
    /// Records waiting behind the stored offset, the fetcher active, the offset not moving
    /// (`kafka.stall_timeout_ms`).
    pub progress: Duration,
    /// Records waiting while librdkafka's fetcher stays out of `active`
    /// (`kafka.fetch_inactive_timeout_ms`).
    pub fetch_inactive: Duration,
}

/// Why a partition counts as stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StallReason {
    /// Records wait behind the stored offset (or in the stage) and it does not move.
    NoProgress,
    /// Records wait above the consumer's position and the partition's fetcher has been in
    /// `fetch_state` (librdkafka's name; never `active`) since.
    FetchInactive { fetch_state: String },
}

/// One partition without progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    pub topic: String,
    pub partition: i32,
    /// Records waiting at the last statistics: behind the stored offset for
    /// [`StallReason::NoProgress`], above the consumer's position for
    /// [`StallReason::FetchInactive`].
    pub lag: i64,
    pub for_secs: u64,
    pub reason: StallReason,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            topic,
            partition,
            lag,
            for_secs,
            reason,
        } = self;
        match reason {
            StallReason::NoProgress => write!(
                f,
                "{topic}/{partition}: lag {lag} without progress for {for_secs} s"
            ),
            StallReason::FetchInactive { fetch_state } => write!(
                f,
                "{topic}/{partition}: {lag} records waiting, fetcher {fetch_state} (not active) for {for_secs} s"
            ),
        }
    }
}

/// What one statistics report says of a partition assigned to this consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub topic: String,
    pub partition: i32,
    /// librdkafka's fetch state; `active` while the partition is being fetched.
    pub fetch_state: String,
    /// Records behind the stored offset (`consumer_lag_stored`, -1 when unknown).
    pub lag: i64,
    pub stored: i64,
    /// Records above the consumer's position ([`records_waiting`]).
    pub waiting: i64,
}

impl Observed {
    pub(crate) fn from_statistics(topic: &str, p: &rdkafka::statistics::Partition) -> Self {
        Self {
            topic: topic.to_owned(),
            partition: p.partition,
            fetch_state: p.fetch_state.clone(),
            lag: p.consumer_lag_stored,
            stored: p.stored_offset,
            waiting: records_waiting(
                p.hi_offset,
                p.ls_offset,
                p.lo_offset,
                [p.app_offset, p.stored_offset, p.committed_offset],
            ),
        }
    }

    fn active(&self) -> bool {
        self.fetch_state == "active"
    }
}

/// Records the consumer has not yet been handed: the readable end of the log (the last stable
/// offset when librdkafka knows it, which equals the high watermark on topics without
/// transactions and is what a `read_committed` consumer can read; else the high watermark)
/// minus the consumer's position, the furthest it is known to have got: the application's
/// position, the stored or the committed offset (librdkafka reports each as negative while
/// unknown). With none known the consumer starts at the log start (`auto.offset.reset =
/// earliest`). 0 while the log end is unknown: librdkafka learns it only from fetch answers.
pub(crate) fn records_waiting(
    hi: i64,
    last_stable: i64,
    log_start: i64,
    positions: [i64; 3],
) -> i64 {
    let end = if last_stable >= 0 { last_stable } else { hi };
    if end < 0 {
        return 0;
    }
    let position = positions
        .into_iter()
        .filter(|offset| *offset >= 0)
        .max()
        .or((log_start >= 0).then_some(log_start));
    position.map_or(0, |position| (end - position).max(0))
}

#[derive(Debug, Clone)]
struct State {
    observed: Observed,
    /// Since when the partition has had lag, its fetcher active, without its stored offset
    /// moving; `None` while it has no lag or its fetcher is not active.
    waiting_since: Option<Instant>,
    /// Since when the fetcher has been out of `active` (the first statistics that showed it
    /// so); `None` while it is active.
    inactive_since: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct Progress {
    partitions: BTreeMap<(String, i32), State>,
    /// Partitions no longer assigned whose stall gauge still has to be set back to 0.
    forgotten: Vec<(String, i32)>,
}

impl Progress {
    /// Takes one statistics report: every partition assigned to the consumer now, whatever its
    /// fetch state. Partitions not in it are no longer ours.
    pub(crate) fn observe(&mut self, now: Instant, partitions: Vec<Observed>) {
        let mut next = BTreeMap::new();
        for observed in partitions {
            let key = (observed.topic.clone(), observed.partition);
            let previous = self.partitions.remove(&key);
            let waiting_since = if !observed.active() || observed.lag <= 0 {
                None
            } else {
                match &previous {
                    Some(p) if p.observed.stored == observed.stored => {
                        p.waiting_since.or(Some(now))
                    }
                    _ => Some(now),
                }
            };
            // The clock runs only while records wait: a fetcher idle with nothing to fetch is
            // not stuck, and the first record after a long idle spell must get the full limit.
            let inactive_since = if observed.active() || observed.waiting <= 0 {
                None
            } else {
                previous
                    .as_ref()
                    .and_then(|p| p.inactive_since)
                    .or(Some(now))
            };
            next.insert(
                key,
                State {
                    observed,
                    waiting_since,
                    inactive_since,
                },
            );
        }
        self.forgotten
            .extend(std::mem::replace(&mut self.partitions, next).into_keys());
    }

    /// Partitions stalled at `now`. Sets `metric` for every partition to how long it has gone
    /// without progress by either rule (0 while it makes progress, and once it is no longer
    /// ours), so the gauge can pass `limits.fetch_inactive` before it reaches `limits.progress`.
    pub(crate) fn stalled(
        &mut self,
        now: Instant,
        limits: StallLimits,
        metric: &str,
    ) -> Vec<Stalled> {
        for (topic, partition) in self.forgotten.drain(..) {
            gauge(metric, &topic, partition, Duration::ZERO);
        }
        let mut stalled = Vec::new();
        for ((topic, partition), state) in &self.partitions {
            let since = |start: Option<Instant>| {
                start.map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
            };
            let no_progress = since(state.waiting_since);
            let inactive = since(state.inactive_since);
            gauge(metric, topic, *partition, no_progress.max(inactive));
            let found = if no_progress > limits.progress {
                Some((state.observed.lag, no_progress, StallReason::NoProgress))
            } else if inactive > limits.fetch_inactive {
                let fetch_state = state.observed.fetch_state.clone();
                Some((
                    state.observed.waiting,
                    inactive,
                    StallReason::FetchInactive { fetch_state },
                ))
            } else {
                None
            };
            if let Some((lag, waited, reason)) = found {
                stalled.push(Stalled {
                    topic: topic.clone(),
                    partition: *partition,
                    lag,
                    for_secs: waited.as_secs(),
                    reason,
                });
            }
        }
        stalled
    }
}

fn gauge(metric: &str, topic: &str, partition: i32, value: Duration) {
    metrics::gauge!(metric.to_owned(), "topic" => topic.to_owned(), "partition" => partition.to_string())
        .set(value.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: StallLimits = StallLimits {
        progress: Duration::from_secs(10),
        fetch_inactive: Duration::from_secs(5),
    };

    fn observed(fetch_state: &str, lag: i64, stored: i64, waiting: i64) -> Observed {
        Observed {
            topic: "t".to_owned(),
            partition: 0,
            fetch_state: fetch_state.to_owned(),
            lag,
            stored,
            waiting,
        }
    }

    fn report(lag: i64, stored: i64) -> Vec<Observed> {
        vec![observed("active", lag, stored, lag)]
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn lag_without_progress_past_the_limit_is_stalled_and_progress_clears_it() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(5, 100));
        progress.observe(t0 + secs(5), report(9, 100));
        assert!(progress.stalled(t0 + secs(9), LIMITS, "m").is_empty());
        let stalled = progress.stalled(t0 + secs(11), LIMITS, "m");
        assert_eq!(stalled.len(), 1);
        assert_eq!((stalled[0].lag, stalled[0].for_secs), (9, 11));
        assert_eq!(stalled[0].reason, StallReason::NoProgress);
        // The stored offset moved: the clock starts again.
        progress.observe(t0 + secs(12), report(9, 101));
        assert!(progress.stalled(t0 + secs(20), LIMITS, "m").is_empty());
    }

    #[test]
    fn a_partition_without_lag_is_never_stalled() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(0, 100));
        assert!(progress.stalled(t0 + secs(3600), LIMITS, "m").is_empty());
    }

    #[test]
    fn a_partition_no_longer_reported_is_forgotten() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(3, 1));
        progress.observe(t0 + secs(1), Vec::new());
        assert!(progress.stalled(t0 + secs(3600), LIMITS, "m").is_empty());
        assert!(progress.forgotten.is_empty(), "its gauge was set back to 0");
    }

    #[test]
    fn a_fetcher_out_of_active_with_records_waiting_past_its_limit_is_stalled() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(0, 100));
        // The leader moved to a broker that does not answer: librdkafka validates the offset
        // with it and fetches nothing meanwhile; 40 records wait.
        progress.observe(
            t0 + secs(1),
            vec![observed("validate-epoch-wait", 40, 100, 40)],
        );
        progress.observe(
            t0 + secs(4),
            vec![observed("validate-epoch-wait", 40, 100, 40)],
        );
        assert!(progress.stalled(t0 + secs(6), LIMITS, "m").is_empty());
        let stalled = progress.stalled(t0 + secs(7), LIMITS, "m");
        assert_eq!(
            stalled,
            vec![Stalled {
                topic: "t".into(),
                partition: 0,
                lag: 40,
                for_secs: 6,
                reason: StallReason::FetchInactive {
                    fetch_state: "validate-epoch-wait".into()
                },
            }]
        );
        assert_eq!(
            stalled[0].to_string(),
            "t/0: 40 records waiting, fetcher validate-epoch-wait (not active) for 6 s"
        );
        // A change between inactive states keeps the clock: the fetcher has still not fetched.
        progress.observe(t0 + secs(8), vec![observed("offset-query", 40, 100, 40)]);
        assert_eq!(progress.stalled(t0 + secs(8), LIMITS, "m").len(), 1);
        // Active again: no longer stalled, and the no-progress clock starts from here.
        progress.observe(t0 + secs(9), vec![observed("active", 40, 100, 40)]);
        assert!(progress.stalled(t0 + secs(18), LIMITS, "m").is_empty());
    }

    #[test]
    fn a_fetcher_out_of_active_with_nothing_waiting_is_not_stalled() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        for state in ["offset-wait", "offset-query", "stopped", "none"] {
            progress.observe(t0, vec![observed(state, 0, 100, 0)]);
        }
        assert!(progress.stalled(t0 + secs(3600), LIMITS, "m").is_empty());
        // A record arrives after the long idle spell: the limit counts from then.
        progress.observe(t0 + secs(3600), vec![observed("offset-wait", 0, 100, 1)]);
        let half = t0 + secs(3600) + LIMITS.fetch_inactive / 2;
        assert!(progress.stalled(half, LIMITS, "m").is_empty());
        let past = t0 + secs(3601) + LIMITS.fetch_inactive;
        progress.observe(past, vec![observed("offset-wait", 0, 100, 1)]);
        assert_eq!(progress.stalled(past, LIMITS, "m").len(), 1);
    }

    #[test]
    fn records_waiting_count_from_the_furthest_known_position() {
        const UNKNOWN: i64 = -1001;
        // hi, last stable, log start, [application, stored, committed]
        assert_eq!(records_waiting(100, 100, 0, [60, 50, 40]), 40);
        assert_eq!(records_waiting(100, 100, 0, [UNKNOWN, 50, 40]), 50);
        assert_eq!(records_waiting(100, 100, 0, [UNKNOWN, UNKNOWN, 40]), 60);
        // Nothing known of the consumer: it starts at the log start.
        assert_eq!(records_waiting(100, 100, 30, [UNKNOWN; 3]), 70);
        assert_eq!(records_waiting(100, 100, UNKNOWN, [UNKNOWN; 3]), 0);
        // A read_committed consumer cannot read past the last stable offset.
        assert_eq!(records_waiting(100, 90, 0, [80, 80, 80]), 10);
        assert_eq!(records_waiting(100, UNKNOWN, 0, [80, 80, 80]), 20);
        // The log end is learnt from fetch answers; before the first, nothing is known to wait.
        assert_eq!(records_waiting(UNKNOWN, UNKNOWN, UNKNOWN, [40, 40, 40]), 0);
        // Caught up (or a position past a truncated log end).
        assert_eq!(records_waiting(100, 100, 0, [100, 100, 100]), 0);
        assert_eq!(records_waiting(100, 100, 0, [120, 0, 0]), 0);
    }
}
