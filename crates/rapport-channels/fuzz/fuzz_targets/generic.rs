#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_channels::fuzzing::{exercise, family};

fuzz_target!(|data: &[u8]| exercise(&family(None), data));
