//! Whether each assigned partition makes progress, from the consumer's statistics: a partition
//! is stalled while records wait behind its stored offset and that offset does not move.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One partition without progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    pub topic: String,
    pub partition: i32,
    /// Records waiting behind the stored offset at the last statistics.
    pub lag: i64,
    pub for_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct State {
    lag: i64,
    stored: i64,
    /// Since when the partition has had lag without its stored offset moving; `None` while it
    /// has no lag.
    waiting_since: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct Progress {
    partitions: BTreeMap<(String, i32), State>,
}

impl Progress {
    /// Takes one statistics report: (partition, lag behind the stored offset, stored offset) of
    /// every partition the consumer fetches now. Partitions not in it are no longer ours.
    pub(crate) fn observe(&mut self, now: Instant, partitions: Vec<((String, i32), i64, i64)>) {
        let mut next = BTreeMap::new();
        for (key, lag, stored) in partitions {
            let previous = self.partitions.get(&key);
            let waiting_since = if lag <= 0 {
                None
            } else {
                match previous {
                    Some(p) if p.stored == stored => p.waiting_since.or(Some(now)),
                    _ => Some(now),
                }
            };
            next.insert(
                key,
                State {
                    lag,
                    stored,
                    waiting_since,
                },
            );
        }
        self.partitions = next;
    }

    /// Partitions waiting longer than `limit` at `now`; sets `metric` for every partition.
    pub(crate) fn stalled(&self, now: Instant, limit: Duration, metric: &str) -> Vec<Stalled> {
        let mut stalled = Vec::new();
        for ((topic, partition), state) in &self.partitions {
            let waited = state
                .waiting_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
            metrics::gauge!(metric.to_owned(), "topic" => topic.clone(), "partition" => partition.to_string())
                .set(waited.as_secs_f64());
            if waited > limit {
                stalled.push(Stalled {
                    topic: topic.clone(),
                    partition: *partition,
                    lag: state.lag,
                    for_secs: waited.as_secs(),
                });
            }
        }
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lag: i64, stored: i64) -> Vec<((String, i32), i64, i64)> {
        vec![(("t".to_owned(), 0), lag, stored)]
    }

    #[test]
    fn lag_without_progress_past_the_limit_is_stalled_and_progress_clears_it() {
        let limit = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(5, 100));
        progress.observe(t0 + Duration::from_secs(5), report(9, 100));
        assert!(
            progress
                .stalled(t0 + Duration::from_secs(9), limit, "m")
                .is_empty()
        );
        let stalled = progress.stalled(t0 + Duration::from_secs(11), limit, "m");
        assert_eq!(stalled.len(), 1);
        assert_eq!((stalled[0].lag, stalled[0].for_secs), (9, 11));
        // The stored offset moved: the clock starts again.
        progress.observe(t0 + Duration::from_secs(12), report(9, 101));
        assert!(
            progress
                .stalled(t0 + Duration::from_secs(20), limit, "m")
                .is_empty()
        );
    }

    #[test]
    fn a_partition_without_lag_is_never_stalled() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(0, 100));
        let later = t0 + Duration::from_secs(3600);
        assert!(
            progress
                .stalled(later, Duration::from_secs(1), "m")
                .is_empty()
        );
    }

    #[test]
    fn a_partition_no_longer_reported_is_forgotten() {
        let t0 = Instant::now();
        let mut progress = Progress::default();
        progress.observe(t0, report(3, 1));
        progress.observe(t0 + Duration::from_secs(1), Vec::new());
        let later = t0 + Duration::from_secs(3600);
        assert!(
            progress
                .stalled(later, Duration::from_secs(1), "m")
                .is_empty()
        );
    }
}
