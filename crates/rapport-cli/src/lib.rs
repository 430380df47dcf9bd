//! The library behind the `rapport` CLI: one module per command under [`cmd`] (its arguments and
//! its `run`), and what several commands share: the configuration, progress display and
//! Ctrl-C, and the store helpers.

pub mod cmd;
pub mod config;
pub mod progress;
pub mod store;
pub mod table;
