//! The library behind the `rapport` CLI, shared with tests and benchmarks: the seeded traffic
//! generator, the normalize dry run and API key management.

pub mod config;
pub mod consume;
pub mod generate;
pub mod keys;
pub mod normalize;
