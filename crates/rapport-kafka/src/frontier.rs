//! Which offsets may be stored: per partition, one past the longest prefix of read messages whose
//! outputs are all durably written, however out of order those writes complete.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The in-flight offsets of one partition, in the order they were read.
#[derive(Debug, Default)]
pub struct PartitionFrontier {
    /// `(offset, done)` for every message read and not yet below the frontier.
    pending: VecDeque<(i64, bool)>,
    /// The offset to commit: one past the last message of the completed prefix.
    committable: Option<i64>,
    /// Since when records have been in flight without the frontier moving (`None` while nothing
    /// is in flight): how long a stage that holds records has been stuck.
    waiting_since: Option<Instant>,
}

impl PartitionFrontier {
    /// Records that `offset` was read. Offsets must arrive in increasing order (Kafka delivers a
    /// partition in order); a smaller one means the partition was re-read after a seek or
    /// rebalance, and restarts tracking from there.
    pub fn begin(&mut self, offset: i64) {
        if self.pending.back().is_some_and(|(last, _)| *last >= offset) {
            self.pending.clear();
        }
        if self.pending.is_empty() {
            self.waiting_since = Some(Instant::now());
        }
        self.pending.push_back((offset, false));
    }

    /// Marks `offset` as durably handled. Returns the new committable offset when the completed
    /// prefix grew.
    pub fn complete(&mut self, offset: i64) -> Option<i64> {
        let slot = self.pending.iter_mut().find(|(o, _)| *o == offset)?;
        slot.1 = true;
        let mut advanced = None;
        while let Some(&(o, true)) = self.pending.front() {
            self.pending.pop_front();
            advanced = Some(o + 1);
        }
        if let Some(next) = advanced {
            self.waiting_since = (!self.pending.is_empty()).then(Instant::now);
            // The frontier never moves backwards, whatever order completions arrive in.
            if self.committable.is_none_or(|c| next > c) {
                self.committable = Some(next);
                return Some(next);
            }
        }
        None
    }

    pub fn committable(&self) -> Option<i64> {
        self.committable
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// How long records have been in flight without the frontier moving, at `now`.
    pub fn waiting(&self, now: Instant) -> Duration {
        self.waiting_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }
}

/// Frontiers for every assigned partition, keyed by `(topic, partition)`.
#[derive(Debug, Default)]
pub struct Frontiers {
    partitions: BTreeMap<(String, i32), PartitionFrontier>,
}

impl Frontiers {
    pub fn begin(&mut self, topic: &str, partition: i32, offset: i64) {
        self.partitions
            .entry((topic.to_owned(), partition))
            .or_default()
            .begin(offset);
    }

    /// Returns the offset to store when the partition's frontier advanced. Completions for a
    /// partition that was revoked meanwhile are ignored: another consumer owns it now and will
    /// re-read those messages.
    pub fn complete(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        self.partitions
            .get_mut(&(topic.to_owned(), partition))?
            .complete(offset)
    }

    /// Forgets revoked partitions so their late completions never store an offset.
    pub fn revoke(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_owned(), partition));
    }

    pub fn revoke_all(&mut self) {
        self.partitions.clear();
    }

    pub fn in_flight(&self) -> usize {
        self.partitions
            .values()
            .map(PartitionFrontier::in_flight)
            .sum()
    }

    /// Partitions whose in-flight records have not moved the frontier for longer than `limit`:
    /// `(topic, partition, records in flight, how long)`.
    pub fn waiting_longer_than(
        &self,
        now: Instant,
        limit: Duration,
    ) -> Vec<(String, i32, usize, Duration)> {
        self.partitions
            .iter()
            .filter_map(|((topic, partition), f)| {
                let waited = f.waiting(now);
                (waited > limit).then(|| (topic.clone(), *partition, f.in_flight(), waited))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn out_of_order_completion_waits_for_the_gap() {
        let mut f = PartitionFrontier::default();
        for o in 10..15 {
            f.begin(o);
        }
        assert_eq!(f.complete(12), None);
        assert_eq!(f.complete(11), None, "10 is still in flight");
        assert_eq!(f.complete(10), Some(13), "10, 11 and 12 are done");
        assert_eq!(f.complete(14), None);
        assert_eq!(f.complete(13), Some(15));
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn in_flight_records_without_progress_count_as_waiting() {
        let mut f = PartitionFrontier::default();
        assert_eq!(f.waiting(Instant::now()), Duration::ZERO);
        f.begin(1);
        f.begin(2);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(f.waiting(later) >= Duration::from_secs(59));
        f.complete(1);
        assert!(f.waiting(later) < Duration::from_secs(61));
        assert!(
            f.waiting(Instant::now()) < Duration::from_secs(1),
            "progress restarts it"
        );
        f.complete(2);
        assert_eq!(f.waiting(later), Duration::ZERO, "nothing in flight");
    }

    #[test]
    fn unknown_offsets_are_ignored() {
        let mut f = PartitionFrontier::default();
        f.begin(1);
        assert_eq!(f.complete(7), None);
        assert_eq!(f.complete(1), Some(2));
        assert_eq!(f.complete(1), None, "completing twice changes nothing");
    }

    #[test]
    fn revoked_partition_never_yields_an_offset() {
        let mut all = Frontiers::default();
        all.begin("t", 0, 5);
        all.revoke("t", 0);
        assert_eq!(all.complete("t", 0, 5), None);
    }

    #[test]
    fn re_read_after_seek_restarts_tracking() {
        let mut f = PartitionFrontier::default();
        f.begin(5);
        f.begin(6);
        assert_eq!(f.complete(5), Some(6));
        f.begin(3);
        assert_eq!(f.in_flight(), 1);
        assert_eq!(f.complete(3), None, "the frontier never moves backwards");
    }

    proptest! {
        #[test]
        fn offset_never_moves_backwards_and_covers_only_completed_prefixes(order in Just((0..40i64).collect::<Vec<_>>()).prop_shuffle()) {
            let mut f = PartitionFrontier::default();
            for o in 0..40 {
                f.begin(o);
            }
            let mut done = std::collections::BTreeSet::new();
            let mut last = None;
            for o in order {
                done.insert(o);
                if let Some(next) = f.complete(o) {
                    prop_assert!(last.is_none_or(|l| next > l));
                    prop_assert!((0..next).all(|x| done.contains(&x)), "stored {next} before all below it were done");
                    last = Some(next);
                }
            }
            prop_assert_eq!(f.committable(), Some(40));
        }
    }
}
