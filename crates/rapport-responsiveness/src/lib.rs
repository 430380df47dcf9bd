//! The responsiveness metrics of one conversation, computed from all of its events: first response
//! time, every reply latency, resolution, reopens and who is waiting, on the wall clock and in
//! business time, and the SLA outcomes of the conversation's policy. These are the definitions of
//! `docs/ANALYTICS.md`, the same ones the query-time views of `schemas/clickhouse/` compute in SQL
//! for the wall clock; `rapport-writer` stores what this crate computes for every conversation a
//! batch touches (business times and SLA outcomes included), and a test checks that the stored
//! rows equal the views' answers for any arrival order.
//!
//! Pure: no I/O and no clock. The metrics depend on the set of events only, never on the order
//! they arrived in, so recomputing a conversation after a late or replayed event gives exactly
//! what computing it once from the whole log would.

pub mod business;
mod classify;
mod compute;
mod rules;
pub mod sla;

pub use business::{BusinessTimes, Segment, business_times};
pub use classify::{Class, EventKind, StatusClass};
pub use compute::primary;
pub use compute::{Conversation, Event, Reply, Resolution, Run, compute, compute_sorted, sort};
pub use rapport_calendar::BusinessHoursConfig;
pub use rules::{Derived, Rules, RulesError};
pub use sla::SlaConfig;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
