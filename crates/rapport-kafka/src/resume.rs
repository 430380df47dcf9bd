//! Resuming a partition exactly at its committed offset, even against a broker that answers a
//! fetch from inside a record batch with the *next* batch.
//!
//! Kafka answers a fetch at offset `c` with the whole batch that contains `c`, and the client
//! drops the records before `c`. Tansu 0.6 (the local broker) starts at the first batch whose
//! base offset is `>= c`, so a consumer that committed in the middle of a producer batch would
//! silently skip the rest of it. librdkafka cannot tell that from a real gap (compaction,
//! transaction markers), so it delivers the next record as if nothing happened.
//!
//! When `kafka.resume_rewind_records` is set, an assigned partition starts that many offsets
//! before its committed offset `c` instead of at `c`, and the guard drops the records below `c`
//! itself. If the first record at or past `c` comes without any record below it, the broker
//! skipped the batch holding `c`: the guard seeks further back, doubling the window, until a record
//! below `c` shows up. A jump past `c` after records below it is a real gap (a transaction marker,
//! compaction) and is accepted. Starting early, rather than only reacting to a jump, matters when
//! `c` lies in the *last* batch: Tansu then returns nothing at all and no jump would ever show.
//! If nothing at all arrives for a while (the window also began inside the last batch), the guard
//! widens the window the same way. Apache Kafka needs none of this, so the setting is off by
//! default.
//!
//! Once resumed, each record is also checked against the one before it: a partition read at its
//! end can lose a batch on Tansu 0.6 when two producers write it at once (the batch's offsets
//! are taken before it is stored), so a jump past the next offset reads the partition again
//! from there ([`ResumeGuard::admit`]).
//!
//! A newly assigned partition starts at the log end (no records, and no offset query of
//! librdkafka's own), and its committed offset is asked for off the consume loop, again until
//! the coordinator answers; until the partition is sought to its start its records are dropped.
//! The ask used to sit in the rebalance callback: right after a restart at load Tansu took more
//! than 10 s to answer, which stalled the consume loop (the callback runs inside its `recv`), and
//! on the timeout the partitions started at the committed offset without the guard, where a
//! skipped batch would have been lost.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tracing::warn;

/// How long a partition may stay silent, with nothing below its committed offset seen, before the
/// guard assumes the broker returned nothing because the window began inside a batch.
pub const RESUME_PATIENCE: Duration = Duration::from_secs(2);

/// What to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Process,
    /// Already handled before the committed offset: drop it and do not track it.
    Skip,
    /// The broker skipped records: drop this one and seek the partition to the offset.
    Rewind(i64),
    /// Records between the last one and this one never arrived: drop this one and read the
    /// partition again from the first missing offset (see [`ResumeGuard::admit`]).
    Reread(i64),
}

/// Offsets that were missing between two records of a partition, read again since `since`.
#[derive(Debug)]
struct Gap {
    from: i64,
    since: Instant,
}

#[derive(Debug)]
struct Expectation {
    committed: i64,
    rewound_to: i64,
    seen_below: bool,
    since: Instant,
    /// The last seek asked for did not happen; [`ResumeGuard::stalled`] asks for it again.
    retry_seek: bool,
}

impl Expectation {
    fn widen(&mut self, now: Instant) -> i64 {
        let window = (self.committed - self.rewound_to).max(1).saturating_mul(2);
        self.rewound_to = (self.committed - window).max(0);
        self.since = now;
        // A new seek is about to be asked for; it supersedes a failed one.
        self.retry_seek = false;
        self.rewound_to
    }
}

/// Where a newly assigned partition must be sought to once its committed offset is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Offset(i64),
    /// Nothing committed (or committed at 0): the log's start, which is a batch boundary.
    Beginning,
}

/// A newly assigned partition before its start is sought; every record it sends is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Committed,
    /// The committed offset is known (`None`: nothing committed, or committed at 0); the seek to
    /// `start` is still to happen.
    Seek {
        committed: Option<i64>,
        start: Start,
    },
}

/// Per assigned partition, the committed offset it must resume at until its first record proves
/// it did.
#[derive(Debug, Default)]
pub struct ResumeGuard {
    /// Ordered, so what it hands out is in partition order without sorting.
    awaiting: BTreeMap<(String, i32), Awaiting>,
    expecting: HashMap<(String, i32), Expectation>,
    /// Per topic and partition, the offset the next record must have: none right after the
    /// fetch position was moved (an assignment, a seek to a start that may lie inside a batch).
    next: HashMap<String, HashMap<i32, i64>>,
    /// Missing offsets being read again, per partition (rare: a broker that skipped a batch).
    gaps: HashMap<(String, i32), Gap>,
}

impl ResumeGuard {
    /// A partition was assigned: it waits for [`ResumeGuard::committed_known`], then for
    /// [`ResumeGuard::sought`].
    pub fn assigned(&mut self, topic: &str, partition: i32) {
        self.moved(topic, partition);
        let key = (topic.to_owned(), partition);
        self.expecting.remove(&key);
        self.awaiting.insert(key, Awaiting::Committed);
    }

    /// Assigned partitions whose committed offset is still to be asked for.
    pub fn to_ask(&self) -> Vec<(String, i32)> {
        self.awaiting
            .iter()
            .filter(|(_, a)| **a == Awaiting::Committed)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// An assigned partition's committed offset (`None`: nothing committed): it is to be sought
    /// `window` offsets before it (the guard drops the records below it), or to the log start.
    /// Ignored for a partition no longer waiting for it (revoked since it was asked for).
    pub fn committed_known(
        &mut self,
        topic: &str,
        partition: i32,
        committed: Option<i64>,
        window: i64,
    ) {
        if let Some(a) = self.awaiting.get_mut(&(topic.to_owned(), partition))
            && *a == Awaiting::Committed
        {
            let committed = committed.filter(|c| *c > 0);
            let start = committed.map_or(Start::Beginning, |c| Start::Offset((c - window).max(0)));
            *a = Awaiting::Seek { committed, start };
        }
    }

    /// Assigned partitions to seek, with where to.
    pub fn to_seek(&self) -> Vec<(String, i32, Start)> {
        self.awaiting
            .iter()
            .filter_map(|((topic, partition), a)| match *a {
                Awaiting::Seek { start, .. } => Some((topic.clone(), *partition, start)),
                Awaiting::Committed => None,
            })
            .collect()
    }

    /// The seek [`ResumeGuard::to_seek`] asked for happened: from now on records count, checked
    /// against the committed offset as long as the first one has not proved the resume.
    pub fn sought(&mut self, topic: &str, partition: i32) {
        let key = (topic.to_owned(), partition);
        let Some(Awaiting::Seek { committed, start }) = self.awaiting.get(&key).copied() else {
            return;
        };
        self.awaiting.remove(&key);
        self.moved(&key.0, partition);
        if let (Some(committed), Start::Offset(rewound_to)) = (committed, start) {
            self.expecting.insert(
                key,
                Expectation {
                    committed,
                    rewound_to,
                    seen_below: false,
                    since: Instant::now(),
                    retry_seek: false,
                },
            );
        }
    }

    pub fn revoked(&mut self, topic: &str, partition: i32) {
        self.moved(topic, partition);
        let key = (topic.to_owned(), partition);
        self.awaiting.remove(&key);
        self.expecting.remove(&key);
    }

    /// What to do with a record, checked against the partition's resume (while its start is
    /// not proven) and against the record before it.
    ///
    /// Offsets of a partition are dense on the brokers this guard is for (no transactions, no
    /// compaction), so a record further on than the one after the last means records the broker
    /// never delivered. Tansu 0.6's memory storage can do that to a consumer at the end of a
    /// partition that two producers write at once: it takes a batch's offsets before it stores
    /// the batch, and a fetch in between starts at the next batch already stored
    /// (docs/ARCHITECTURE.md, "Broker quirks"). The partition is then read again from the first
    /// missing offset, where the last batch ended; a gap still there after [`RESUME_PATIENCE`] is
    /// taken as real. A record before the next offset without a move is one delivered twice
    /// (that same fetch answers with the later batch twice) and is dropped. The first record
    /// after the fetch position moved (an assignment, a seek to a
    /// start that may lie inside a batch) is not checked, and neither is a partition still
    /// proving its resume: the resume logic judges those.
    pub fn admit(&mut self, topic: &str, partition: i32, offset: i64) -> Admission {
        self.admit_at(topic, partition, offset, Instant::now())
    }

    fn admit_at(&mut self, topic: &str, partition: i32, offset: i64, now: Instant) -> Admission {
        // A partition still proving its resume is the resume logic's to judge, gaps included.
        let resuming = !self.expecting.is_empty()
            && self.expecting.contains_key(&(topic.to_owned(), partition));
        let admission = self.resume_admission(topic, partition, offset);
        let after = match admission {
            Admission::Process => Some(offset + 1),
            // Fetched before the seek to the start: the position is about to move.
            Admission::Skip
                if !self.awaiting.is_empty()
                    && self.awaiting.contains_key(&(topic.to_owned(), partition)) =>
            {
                None
            }
            Admission::Skip => Some(offset + 1),
            Admission::Rewind(_) | Admission::Reread(_) => None,
        };
        if admission == Admission::Process && !resuming {
            let expected = self
                .next
                .get(topic)
                .and_then(|n| n.get(&partition))
                .copied();
            if let Some(next) = expected
                && offset > next
            {
                let gap = self
                    .gaps
                    .entry((topic.to_owned(), partition))
                    .or_insert(Gap {
                        from: next,
                        since: now,
                    });
                if gap.from != next {
                    *gap = Gap {
                        from: next,
                        since: now,
                    };
                }
                if now.duration_since(gap.since) < RESUME_PATIENCE {
                    // Read again from the first missing offset, and expect it next.
                    self.set_next(topic, partition, Some(next));
                    return Admission::Reread(next);
                }
                self.gaps.remove(&(topic.to_owned(), partition));
                warn!(
                    topic,
                    partition,
                    from = next,
                    to = offset,
                    "offsets still missing after reading the partition again for a while; taken as a real gap"
                );
            } else if let Some(next) = expected
                && offset < next
            {
                // Delivered again without the position having moved (Tansu answers a fetch that
                // started past a missing batch with the next batch twice): it is already in hand,
                // and taking it again would restart its partition's frontier past records still
                // in flight.
                return Admission::Skip;
            } else if !self.gaps.is_empty() {
                self.gaps.remove(&(topic.to_owned(), partition));
            }
        }
        self.set_next(topic, partition, after);
        admission
    }

    /// The partition's fetch position moves where records may legitimately start further on
    /// (a seek to an offset inside a batch): the next record is not checked against the last.
    fn moved(&mut self, topic: &str, partition: i32) {
        self.set_next(topic, partition, None);
        if !self.gaps.is_empty() {
            self.gaps.remove(&(topic.to_owned(), partition));
        }
    }

    fn set_next(&mut self, topic: &str, partition: i32, next: Option<i64>) {
        match (self.next.get_mut(topic), next) {
            (Some(partitions), Some(next)) => {
                partitions.insert(partition, next);
            }
            (Some(partitions), None) => {
                partitions.remove(&partition);
            }
            (None, Some(next)) => {
                self.next
                    .insert(topic.to_owned(), HashMap::from([(partition, next)]));
            }
            (None, None) => {}
        }
    }

    fn resume_admission(&mut self, topic: &str, partition: i32, offset: i64) -> Admission {
        if self.expecting.is_empty() && self.awaiting.is_empty() {
            return Admission::Process;
        }
        let key = (topic.to_owned(), partition);
        if self.awaiting.contains_key(&key) {
            // Fetched before the seek to the start, which reads it again.
            return Admission::Skip;
        }
        let Some(e) = self.expecting.get_mut(&key) else {
            return Admission::Process;
        };
        if offset < e.committed {
            e.seen_below = true;
            // Records below the committed offset arrive only after a seek: it happened after all.
            e.retry_seek = false;
            return Admission::Skip;
        }
        if e.retry_seek && offset > e.committed {
            // The fetcher was never moved back: this record still comes from before the rewind
            // and is read again once the retried seek happens.
            return Admission::Skip;
        }
        let genuine_gap = e.seen_below || e.rewound_to == 0;
        if offset == e.committed || genuine_gap {
            self.expecting.remove(&key);
            return Admission::Process;
        }
        Admission::Rewind(e.widen(Instant::now()))
    }

    /// Partitions that received nothing since their last (re)start `patience` ago and saw nothing
    /// below the committed offset, with the offset to seek each to. A partition that saw records
    /// below it is merely caught up and is left alone.
    ///
    /// A partition whose last seek failed is returned at once with the same offset, even when the
    /// window already reaches the log start: records dropped for a rewind are read only after
    /// the seek, and a partition with nothing more to send would otherwise never ask again.
    pub fn stalled(&mut self, now: Instant, patience: Duration) -> Vec<(String, i32, i64)> {
        let seeks = self.stalled_seeks(now, patience);
        for (topic, partition, _) in &seeks {
            self.moved(topic, *partition);
        }
        seeks
    }

    fn stalled_seeks(&mut self, now: Instant, patience: Duration) -> Vec<(String, i32, i64)> {
        self.expecting
            .iter_mut()
            .filter_map(|((topic, partition), e)| {
                if e.retry_seek {
                    e.retry_seek = false;
                    e.since = now;
                    return Some((topic.clone(), *partition, e.rewound_to));
                }
                (!e.seen_below && e.rewound_to > 0 && now.duration_since(e.since) >= patience)
                    .then(|| (topic.clone(), *partition, e.widen(now)))
            })
            .collect()
    }

    /// The seek asked for by a rewind or a stall did not happen (the partition's fetcher was
    /// busy, or it is being revoked).
    pub fn seek_failed(&mut self, topic: &str, partition: i32) {
        if let Some(e) = self.expecting.get_mut(&(topic.to_owned(), partition)) {
            e.retry_seek = true;
        }
    }

    pub fn watching(&self) -> usize {
        self.awaiting.len() + self.expecting.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A broker that stores `batches` (base offsets, ascending, last one ends at `end`) and answers
    /// a fetch at `from` the way Tansu does: starting at the first batch whose base is `>= from`.
    fn tansu_fetch(batches: &[i64], end: i64, from: i64) -> Vec<i64> {
        match batches.iter().find(|&&base| base >= from) {
            Some(&base) => (base..end).collect(),
            None => vec![],
        }
    }

    /// A broker that answers like Kafka: every offset from `from` on (the client drops the
    /// records of the first batch below `from`).
    fn kafka_fetch(end: i64, from: i64) -> Vec<i64> {
        (from..end).collect()
    }

    /// Assigns partition 0, makes `committed` known and seeks it; returns where it was sought to.
    fn resume(guard: &mut ResumeGuard, committed: Option<i64>, window: i64) -> i64 {
        guard.assigned("t", 0);
        assert_eq!(guard.to_ask(), vec![("t".to_owned(), 0)]);
        guard.committed_known("t", 0, committed, window);
        let from = match guard.to_seek().as_slice() {
            [(_, 0, Start::Offset(from))] => *from,
            [(_, 0, Start::Beginning)] => 0,
            other => unreachable!("one seek expected, got {other:?}"),
        };
        guard.sought("t", 0);
        from
    }

    /// Consumes from `committed` through the guard and returns the offsets processed.
    fn consume(fetch: impl Fn(i64) -> Vec<i64>, committed: i64, window: i64) -> Vec<i64> {
        let mut guard = ResumeGuard::default();
        let mut from = resume(&mut guard, Some(committed), window);
        let mut processed = vec![];
        let mut clock = Instant::now();
        'fetching: for _ in 0..64 {
            for offset in fetch(from) {
                match guard.admit("t", 0, offset) {
                    Admission::Process => processed.push(offset),
                    Admission::Skip => {}
                    Admission::Rewind(to) | Admission::Reread(to) => {
                        from = to;
                        continue 'fetching;
                    }
                }
            }
            clock += RESUME_PATIENCE;
            match guard.stalled(clock, RESUME_PATIENCE).as_slice() {
                [(_, _, to)] => from = *to,
                _ => break,
            }
        }
        processed
    }

    #[test]
    fn mid_batch_resume_re_reads_the_rest_of_the_batch() {
        let batches = [0, 100, 200, 300];
        let processed = consume(|from| tansu_fetch(&batches, 400, from), 150, 100);
        assert_eq!(processed, (150..400).collect::<Vec<_>>());
    }

    #[test]
    fn a_commit_inside_the_last_batch_is_still_read() {
        // Tansu returns nothing for a fetch inside the last batch, so no jump would ever show.
        let batches = [0, 100, 200];
        let processed = consume(|from| tansu_fetch(&batches, 300, from), 250, 100);
        assert_eq!(processed, (250..300).collect::<Vec<_>>());
    }

    #[test]
    fn a_batch_larger_than_the_first_window_widens_it() {
        let batches = [0, 5000, 9000];
        let processed = consume(|from| tansu_fetch(&batches, 9500, from), 8999, 100);
        assert_eq!(processed, (8999..9500).collect::<Vec<_>>());
    }

    #[test]
    fn a_real_gap_is_accepted_after_one_rewind() {
        // Offsets 150..=151 do not exist (a transaction marker, compaction).
        let fetch = |from: i64| (from..400).filter(|o| !(150..=151).contains(o)).collect();
        let processed = consume(fetch, 150, 100);
        assert_eq!(processed, (152..400).collect::<Vec<_>>());
    }

    #[test]
    fn resuming_at_the_log_start_or_without_a_commit_is_not_checked() {
        let mut guard = ResumeGuard::default();
        assert_eq!(resume(&mut guard, None, 100), 0);
        assert_eq!(guard.watching(), 0);
        assert_eq!(resume(&mut guard, Some(0), 100), 0);
        assert_eq!(guard.watching(), 0);
        assert_eq!(guard.admit("t", 0, 500), Admission::Process);
    }

    #[test]
    fn a_failed_seek_is_asked_for_again_even_at_the_log_start() {
        let mut guard = ResumeGuard::default();
        assert_eq!(resume(&mut guard, Some(150), 100), 50);
        // The broker skipped the batch holding 150: read again from the log start...
        assert_eq!(guard.admit("t", 0, 200), Admission::Rewind(0));
        // ...but the seek failed: records already fetched keep coming from where the fetcher
        // was, and none of them may count as the resume point (201 after a rewind to 0 would
        // otherwise pass as a genuine gap, losing 150..=200).
        guard.seek_failed("t", 0);
        assert_eq!(guard.admit("t", 0, 201), Admission::Skip);
        assert_eq!(guard.admit("t", 0, 202), Admission::Skip);
        // Nothing more arrives: the next check asks for the seek again, once per failure.
        let now = Instant::now();
        assert_eq!(
            guard.stalled(now, RESUME_PATIENCE),
            vec![("t".to_owned(), 0, 0)]
        );
        assert_eq!(guard.stalled(now, RESUME_PATIENCE), vec![]);
        // The retried seek worked: the partition is read from the log start and resumes at 150.
        assert_eq!(guard.admit("t", 0, 0), Admission::Skip);
        assert_eq!(guard.admit("t", 0, 150), Admission::Process);
        assert_eq!(guard.watching(), 0);
        guard.seek_failed("t", 1);
        assert_eq!(guard.watching(), 0, "an unwatched partition is not added");
    }

    #[test]
    fn a_revoked_partition_is_forgotten() {
        let mut guard = ResumeGuard::default();
        resume(&mut guard, Some(10), 100);
        guard.revoked("t", 0);
        assert_eq!(guard.admit("t", 0, 20), Admission::Process);
        // Revoked while its committed offset was being asked for: the answer is not used.
        guard.assigned("t", 1);
        guard.revoked("t", 1);
        guard.committed_known("t", 1, Some(10), 100);
        assert_eq!(guard.to_seek(), vec![]);
        guard.sought("t", 1);
        assert_eq!(guard.admit("t", 1, 20), Admission::Process);
        assert_eq!(guard.watching(), 0);
    }

    #[test]
    fn an_assigned_partition_drops_records_until_it_is_sought_to_its_start() {
        let mut guard = ResumeGuard::default();
        guard.assigned("t", 0);
        // Whatever arrives before the seek (a record produced meanwhile, at the log end).
        assert_eq!(guard.admit("t", 0, 150), Admission::Skip);
        assert_eq!(
            guard.admit("t", 1, 5),
            Admission::Process,
            "other partitions flow"
        );
        assert_eq!(guard.to_seek(), vec![], "nothing to seek before the answer");
        guard.sought("t", 0);
        assert_eq!(guard.admit("t", 0, 151), Admission::Skip, "not sought yet");
        guard.committed_known("t", 0, Some(150), 100);
        assert_eq!(guard.to_ask(), vec![]);
        guard.committed_known("t", 0, Some(90), 100);
        let seek = vec![("t".to_owned(), 0, Start::Offset(50))];
        assert_eq!(guard.to_seek(), seek, "the first answer stands");
        // The seek failed (the partition was not started yet): asked for again, answer kept.
        assert_eq!(guard.admit("t", 0, 152), Admission::Skip);
        assert_eq!(guard.to_seek(), seek);
        guard.sought("t", 0);
        assert_eq!(guard.to_seek(), vec![]);
        assert_eq!(guard.admit("t", 0, 50), Admission::Skip);
        assert_eq!(guard.admit("t", 0, 150), Admission::Process);
        assert_eq!(guard.admit("t", 0, 151), Admission::Process);
        assert_eq!(guard.watching(), 0);
    }

    /// A partition read at its end while batch `[10, 12)` has its offsets but is not stored yet
    /// (Tansu takes a batch's offsets before it stores it, and a fetch in between starts at the
    /// next stored batch), then stored after `stored_after` fetches, or never. Returns the
    /// offsets processed and how many times the partition was read again.
    fn read_past_a_late_batch(stored_after: Option<usize>) -> (Vec<i64>, usize) {
        let batches = [(0, 10), (10, 12), (12, 15)];
        let mut guard = ResumeGuard::default();
        let mut clock = Instant::now();
        let (mut from, mut fetches, mut rereads, mut processed) = (0, 0, 0, vec![]);
        'fetching: while from < 15 && fetches < 100 {
            let stored = stored_after.is_some_and(|n| fetches >= n);
            fetches += 1;
            clock += Duration::from_millis(100);
            let visible = batches
                .iter()
                .filter(|(base, _)| *base != 10 || stored)
                .find(|(base, _)| *base >= from);
            let Some(&(base, end)) = visible else { break };
            for offset in base..end {
                match guard.admit_at("t", 0, offset, clock) {
                    Admission::Process => processed.push(offset),
                    Admission::Skip => {}
                    Admission::Rewind(to) | Admission::Reread(to) => {
                        rereads += 1;
                        from = to;
                        continue 'fetching;
                    }
                }
            }
            from = end;
        }
        (processed, rereads)
    }

    #[test]
    fn a_batch_the_broker_stored_late_is_read_again_not_skipped() {
        // The fetch at 10 comes while the batch at 10 is not stored: it answers from 12.
        let (processed, rereads) = read_past_a_late_batch(Some(2));
        assert_eq!(processed, (0..15).collect::<Vec<_>>());
        assert_eq!(rereads, 1);
    }

    #[test]
    fn a_gap_that_stays_is_taken_as_real_after_a_while() {
        let (processed, rereads) = read_past_a_late_batch(None);
        let expected: Vec<i64> = (0..10).chain(12..15).collect();
        assert_eq!(processed, expected);
        // One re-read per fetch until the patience has passed, 100 ms apart.
        let bound = RESUME_PATIENCE.as_millis() / 100 + 1;
        assert!(
            (1..=bound as usize).contains(&rereads),
            "{rereads} re-reads"
        );
    }

    #[test]
    fn the_first_record_after_a_move_is_not_a_gap() {
        let mut guard = ResumeGuard::default();
        assert_eq!(guard.admit("t", 0, 5), Admission::Process);
        // Assigned again (to another start): whatever comes first is where it starts.
        guard.revoked("t", 0);
        assert_eq!(guard.admit("t", 0, 50), Admission::Process);
        assert_eq!(guard.admit("t", 0, 51), Admission::Process);
        assert_eq!(guard.admit("t", 0, 53), Admission::Reread(52));
        assert_eq!(
            guard.admit("t", 1, 7),
            Admission::Process,
            "partitions apart"
        );
        assert_eq!(guard.admit("t", 0, 52), Admission::Process);
        assert_eq!(guard.admit("t", 0, 53), Admission::Process);
    }

    #[test]
    fn a_record_delivered_twice_without_a_move_is_taken_once() {
        // Tansu's answer to a fetch at 964 while the batch at 964 was still being stored: 965,
        // then 965 again with what follows (seen in the linker's shards test).
        let mut guard = ResumeGuard::default();
        assert_eq!(guard.admit("t", 0, 963), Admission::Process);
        assert_eq!(guard.admit("t", 0, 965), Admission::Reread(964));
        // Had the seek failed, the fetcher's next records come as they were.
        assert_eq!(guard.admit("t", 0, 965), Admission::Reread(964));
        // Read again from 964.
        assert_eq!(guard.admit("t", 0, 964), Admission::Process);
        assert_eq!(guard.admit("t", 0, 965), Admission::Process);
        assert_eq!(guard.admit("t", 0, 965), Admission::Skip);
        assert_eq!(guard.admit("t", 0, 966), Admission::Process);
    }

    proptest! {
        /// Whatever the batch layout and the committed offset, the guard processes exactly the
        /// offsets from the committed one to the end, each once, against both brokers.
        #[test]
        fn resumes_exactly_at_the_committed_offset(
            sizes in proptest::collection::vec(1i64..3000, 1..12),
            pick in 0.0f64..1.0,
            window in 1i64..2000,
        ) {
            let mut batches = vec![];
            let mut end = 0;
            for size in sizes {
                batches.push(end);
                end += size;
            }
            let committed = ((end as f64) * pick) as i64;
            let expected: Vec<i64> = (committed..end).collect();
            prop_assert_eq!(consume(|from| tansu_fetch(&batches, end, from), committed, window), expected.clone());
            prop_assert_eq!(consume(|from| kafka_fetch(end, from), committed, window), expected);
        }
    }
}
