#![no_main]

use libfuzzer_sys::fuzz_target;
use rapport_channels::fuzzing::{exercise, family};
use rapport_model::Channel;

fuzz_target!(|data: &[u8]| exercise(&family(Some(Channel::Chat)), data));
