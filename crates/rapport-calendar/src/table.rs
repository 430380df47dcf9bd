//! The open intervals of a calendar in UTC milliseconds, built lazily in fixed chunks with
//! running sums, so every query is a couple of binary searches.
//!
//! Time from [`HORIZON_START`] (1970-01-01) to [`HORIZON_END`] (early 2200) is cut into
//! [`CHUNKS`] chunks of 2^32 ms (about 49.7 days). A chunk is built the first time a query
//! touches it and kept: its memory is 24 bytes per open interval (start, end, running sum), so a
//! calendar is bounded by the intervals of those 230 years (2.9 MB for ten periods a week),
//! plus 32 bytes per chunk slot (54 KB) allocated with the calendar.

use std::sync::OnceLock;

use crate::version::{Scratch, Version, merge_touching};

/// The first instant the table covers: 1970-01-01T00:00Z. Earlier instants count as closed.
pub const HORIZON_START: i64 = 0;
const CHUNK_SHIFT: u32 = 32;
const CHUNK_MS: i64 = 1 << CHUNK_SHIFT;
/// Chunks between the horizons.
pub(crate) const CHUNKS: usize = 1690;
/// The first instant past the table: 2200-01-06T03:47:…Z (1690 × 2^32 ms). Later instants count
/// as closed, and a due time that would fall there is `None`.
pub const HORIZON_END: i64 = CHUNKS as i64 * CHUNK_MS;

/// Open intervals of one chunk: one allocation holding the starts, the ends, and the open
/// milliseconds from the chunk's start to the end of each interval, as three runs of `len`, so
/// a binary search walks one dense array.
#[derive(Debug)]
struct Chunk {
    len: usize,
    data: Box<[i64]>,
}

impl Chunk {
    fn starts(&self) -> &[i64] {
        &self.data[..self.len]
    }

    fn ends(&self) -> &[i64] {
        &self.data[self.len..2 * self.len]
    }

    fn cum_end(&self) -> &[i64] {
        &self.data[2 * self.len..]
    }

    fn total(&self) -> i64 {
        self.cum_end().last().copied().unwrap_or(0)
    }

    /// Open milliseconds from the chunk's start to `at` (inside or at the end of the chunk).
    fn open_before(&self, at: i64) -> i64 {
        let i = self.starts().partition_point(|&s| s < at);
        if i == 0 {
            return 0;
        }
        let end = self.ends()[i - 1];
        self.cum_end()[i - 1] - (end - at.min(end))
    }
}

/// The versions of a calendar and its lazily built table.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Versions with the instant each takes effect; the first governs all earlier time.
    versions: Vec<(i64, Version)>,
    /// From here on no version has a period, so nothing ever opens again.
    open_until: i64,
    chunks: Box<[OnceLock<Chunk>]>,
}

fn chunk_index(at: i64) -> usize {
    debug_assert!((HORIZON_START..=HORIZON_END).contains(&at));
    (((at - HORIZON_START) >> CHUNK_SHIFT) as usize).min(CHUNKS - 1)
}

fn chunk_start(index: usize) -> i64 {
    HORIZON_START + index as i64 * CHUNK_MS
}

impl Schedule {
    /// `versions` must be ordered by their start, each after the previous.
    pub(crate) fn new(versions: Vec<(i64, Version)>) -> Self {
        let open_until = match versions.iter().rposition(|(_, v)| v.has_periods()) {
            None => HORIZON_START,
            Some(last) => versions.get(last + 1).map_or(HORIZON_END, |(start, _)| {
                (*start).clamp(HORIZON_START, HORIZON_END)
            }),
        };
        Self {
            versions,
            open_until,
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }

    pub(crate) fn versions(&self) -> impl Iterator<Item = &(i64, Version)> {
        self.versions.iter()
    }

    fn chunk(&self, index: usize) -> &Chunk {
        self.chunks[index].get_or_init(|| self.build(index))
    }

    fn build(&self, index: usize) -> Chunk {
        let (lo, hi) = (chunk_start(index), chunk_start(index + 1));
        let mut intervals = Vec::new();
        let mut scratch = Scratch::default();
        for (i, (start, version)) in self.versions.iter().enumerate() {
            let from = if i == 0 { lo } else { (*start).max(lo) };
            let until = self
                .versions
                .get(i + 1)
                .map_or(hi, |(next, _)| (*next).min(hi));
            version.append_open(from, until, &mut intervals, &mut scratch);
        }
        // Periods that touch (a version change between two open periods, 18:00-24:00 then
        // 00:00-06:00) are one stretch of open time.
        merge_touching(&mut intervals);
        let len = intervals.len();
        let mut data = Vec::with_capacity(3 * len);
        data.extend(intervals.iter().map(|i| i.0));
        data.extend(intervals.iter().map(|i| i.1));
        let mut sum = 0;
        data.extend(intervals.iter().map(|(s, e)| {
            sum += e - s;
            sum
        }));
        Chunk {
            len,
            data: data.into_boxed_slice(),
        }
    }

    pub(crate) fn business_ms(&self, from: i64, to: i64) -> i64 {
        let from = from.clamp(HORIZON_START, HORIZON_END);
        // Nothing opens after `open_until`, so there is nothing to build past it.
        let to = to.clamp(HORIZON_START, self.open_until.min(HORIZON_END));
        if to <= from {
            return 0;
        }
        let (a, b) = (chunk_index(from), chunk_index(to));
        let first = self.chunk(a);
        if a == b {
            return first.open_before(to) - first.open_before(from);
        }
        let middle: i64 = (a + 1..b).map(|k| self.chunk(k).total()).sum();
        first.total() - first.open_before(from) + middle + self.chunk(b).open_before(to)
    }

    pub(crate) fn add_business(&self, from: i64, amount: i64) -> Option<i64> {
        if amount <= 0 {
            return self.next_open_at_or_after(from);
        }
        let from = from.max(HORIZON_START);
        let end = self.open_until.min(HORIZON_END);
        // There cannot be more open time than wall time left.
        if from >= end || amount > end - from {
            return None;
        }
        let mut index = chunk_index(from);
        let mut need = amount + self.chunk(index).open_before(from);
        loop {
            let chunk = self.chunk(index);
            let total = chunk.total();
            if need <= total {
                let i = chunk.cum_end().partition_point(|&c| c < need);
                return Some(chunk.ends()[i] - (chunk.cum_end()[i] - need));
            }
            need -= total;
            index += 1;
            if index == CHUNKS || chunk_start(index) >= end {
                return None;
            }
        }
    }

    pub(crate) fn is_open(&self, at: i64) -> bool {
        if !(HORIZON_START..self.open_until.min(HORIZON_END)).contains(&at) {
            return false;
        }
        let chunk = self.chunk(chunk_index(at));
        let i = chunk.starts().partition_point(|&s| s <= at);
        i > 0 && at < chunk.ends()[i - 1]
    }

    /// The first open instant at or after `at`.
    pub(crate) fn next_open_at_or_after(&self, at: i64) -> Option<i64> {
        let at = at.max(HORIZON_START);
        let end = self.open_until.min(HORIZON_END);
        if at >= end {
            return None;
        }
        let mut index = chunk_index(at);
        loop {
            let chunk = self.chunk(index);
            let i = chunk.ends().partition_point(|&e| e <= at);
            if let Some(&start) = chunk.starts().get(i) {
                return Some(start.max(at));
            }
            index += 1;
            if index == CHUNKS || chunk_start(index) >= end {
                return None;
            }
        }
    }

    pub(crate) fn next_change(&self, at: i64) -> Option<i64> {
        if at >= HORIZON_END {
            return None;
        }
        if at < HORIZON_START || !self.is_open(at) {
            return self.next_open_at_or_after(at.max(HORIZON_START));
        }
        let mut index = chunk_index(at);
        let chunk = self.chunk(index);
        let mut close = chunk.ends()[chunk.starts().partition_point(|&s| s <= at) - 1];
        // An open stretch cut by a chunk boundary goes on in the next chunk.
        while close == chunk_start(index + 1) {
            index += 1;
            if index == CHUNKS {
                return None;
            }
            let next = self.chunk(index);
            match next.starts().first() {
                Some(&start) if start == close => close = next.ends()[0],
                _ => break,
            }
        }
        Some(close)
    }

    /// Chunks built so far, for tests of the memory bound.
    #[cfg(test)]
    pub(crate) fn built_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| c.get().is_some()).count()
    }
}
