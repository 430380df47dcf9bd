//! Property tests: no input makes an adapter panic or break a contract invariant. Arbitrary bytes
//! find crashes in the byte-level parsers; mutations of the golden payloads reach deep into each
//! adapter, where random bytes never get. `fuzz/` runs the same checks under libFuzzer.

use proptest::prelude::*;
use rapport_channels::fuzzing::{exercise, family, golden_payloads};
use rapport_model::{Channel, Source};
use serde_json::Value;

/// One structural edit somewhere in a JSON document, chosen by `choice`.
fn mutate(value: &mut Value, choice: &mut impl Iterator<Item = u32>) {
    let pick = choice.next().unwrap_or(0);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[pick as usize % keys.len()];
            match choice.next().unwrap_or(0) % 4 {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(key.clone(), replacement(choice.next().unwrap_or(0)));
                }
                _ => mutate(map.get_mut(key).unwrap(), choice),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = pick as usize % items.len();
            if choice.next().unwrap_or(0).is_multiple_of(3) {
                items.remove(index);
            } else {
                mutate(&mut items[index], choice);
            }
        }
        other => *other = replacement(pick),
    }
}

fn replacement(pick: u32) -> Value {
    match pick % 9 {
        0 => Value::Null,
        1 => Value::Bool(true),
        2 => Value::from(-1),
        3 => Value::from(u64::MAX),
        4 => Value::from(""),
        5 => Value::from("2024-02-30T25:61:00Z"),
        6 => Value::from("\u{0}<b>\u{202e}"),
        7 => Value::Array(vec![]),
        _ => Value::Object(Default::default()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_break_an_adapter(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(Source::ALL, &data);
    }

    #[test]
    fn mutated_golden_json_never_breaks_an_adapter(index in any::<prop::sample::Index>(), edits in proptest::collection::vec(any::<u32>(), 1..24)) {
        let payloads: Vec<(Source, Value)> = golden_payloads()
            .into_iter()
            .filter_map(|(s, bytes)| serde_json::from_slice(&bytes).ok().map(|v| (s, v)))
            .collect();
        prop_assume!(!payloads.is_empty());
        let (source, mut value) = payloads[index.index(payloads.len())].clone();
        let mut choices = edits.into_iter();
        for _ in 0..3 {
            mutate(&mut value, &mut choices);
        }
        exercise(&[source], &serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn damaged_golden_bytes_never_break_an_adapter(index in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16)) {
        let payloads = golden_payloads();
        prop_assume!(!payloads.is_empty());
        let (source, mut bytes) = payloads[index.index(payloads.len())].clone();
        for (at, byte) in flips {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        exercise(&[source], &bytes);
        exercise(&family(source.channel()), &bytes);
    }
}

#[test]
fn families_cover_every_source() {
    let mut all: Vec<Source> = [
        None,
        Some(Channel::Email),
        Some(Channel::Chat),
        Some(Channel::Review),
        Some(Channel::Support),
    ]
    .into_iter()
    .flat_map(family)
    .collect();
    all.sort();
    let mut expected = Source::ALL.to_vec();
    expected.sort();
    assert_eq!(all, expected);
}
