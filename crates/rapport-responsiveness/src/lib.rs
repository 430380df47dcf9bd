//! The responsiveness metrics of one conversation, computed from all of its events: first response
//! time, every reply latency, resolution, reopens and who is waiting. These are the definitions of
//! `docs/ANALYTICS.md`, the same ones the query-time views of `schemas/clickhouse/` compute in SQL;
//! `rapport-writer` stores what this crate computes for every conversation a batch touches, and a
//! test checks that the stored rows equal the views' answers for any arrival order.
//!
//! Pure: no I/O and no clock. The metrics depend on the set of events only, never on the order
//! they arrived in, so recomputing a conversation after a late or replayed event gives exactly
//! what computing it once from the whole log would.

mod classify;
mod compute;

pub use classify::{Class, EventKind, StatusClass};
pub use compute::primary;
pub use compute::{Conversation, Event, Reply, Resolution, compute};

#[cfg(test)]
mod tests;
