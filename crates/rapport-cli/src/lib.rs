//! The library behind the `rapport` CLI, shared with tests and benchmarks: the seeded traffic
//! generator and the normalize dry run.

pub mod config;
pub mod consume;
pub mod generate;
pub mod normalize;
