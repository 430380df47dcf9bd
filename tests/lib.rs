//! Whole-pipeline tests live in `tests/*.rs` beside this file; this crate has no library code.
