//! The library behind the `rapport` CLI, shared with tests and benchmarks: the seeded traffic
//! generator, the normalize dry run, API key management, the timeline and responsiveness
//! report, the dead-letter tools and customer erasure.

pub mod config;
pub mod consume;
pub mod dlq;
pub mod forget;
pub mod generate;
pub mod keys;
pub mod normalize;
pub mod progress;
pub mod report;
pub mod store;
pub mod timeline;
