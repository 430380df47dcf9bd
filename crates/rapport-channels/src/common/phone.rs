//! Phone identities through a small per-thread cache.
//!
//! Parsing a phone number runs the region's metadata patterns (regexes) on every call, which made
//! phone normalization the most expensive step of a chat or helpdesk event. A customer's number
//! comes back with every message of their conversations, so the same few thousand numbers are
//! normalized over and over: remembering the answer per thread avoids the parse without sharing
//! state between threads.

use std::cell::RefCell;
use std::collections::HashMap;

use rapport_model::{Identity, IdentityType, MAX_PHONE_INPUT_CHARS};

/// Numbers remembered per thread, over all regions. When the cache would grow past this or past
/// [`BYTES`] it is emptied rather than evicted entry by entry: the cost is one cold pass over the
/// numbers still in use, and memory stays bounded whatever the traffic.
const CAPACITY: usize = 4096;

/// Bytes of keys and answers remembered per thread. Inputs are at most
/// [`MAX_PHONE_INPUT_CHARS`] characters (up to four bytes each), so entries alone would bound
/// memory only at about 4 MB per thread; real numbers are 10–20 bytes and fit many thousands.
const BYTES: usize = 128 * 1024;

#[derive(Default)]
struct Cache {
    /// Region as the tenant wrote it (`""` for none) → raw number → E.164, or `None` for a
    /// number that does not normalize.
    by_region: HashMap<String, HashMap<String, Option<String>>>,
    len: usize,
    /// Bytes of every region, raw number and E.164 answer held.
    bytes: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The phone identity of `raw`, as [`Identity::phone`] gives it, or `None` when it is not a
/// valid number.
///
/// An input longer than libphonenumber's limit is refused before it is hashed, parsed or
/// remembered: reading at most [`MAX_PHONE_INPUT_CHARS`] + 1 characters of it.
pub fn identity(raw: &str, default_region: Option<&str>) -> Option<Identity> {
    if raw.chars().nth(MAX_PHONE_INPUT_CHARS).is_some() {
        return None;
    }
    let region = default_region.unwrap_or_default();
    let cached = CACHE.with_borrow(|cache| cache.by_region.get(region)?.get(raw).cloned());
    let e164 = match cached {
        Some(known) => known,
        None => {
            let fresh = Identity::phone(raw, default_region).ok().map(|id| id.value);
            CACHE.with_borrow_mut(|cache| remember(cache, region, raw, fresh.clone()));
            fresh
        }
    };
    e164.map(|value| Identity {
        kind: IdentityType::Phone,
        value,
    })
}

fn remember(cache: &mut Cache, region: &str, raw: &str, e164: Option<String>) {
    let mut cost = raw.len() + e164.as_ref().map_or(0, String::len);
    if !cache.by_region.contains_key(region) {
        cost += region.len();
    }
    if cache.len >= CAPACITY || cache.bytes + cost > BYTES {
        *cache = Cache::default();
        cost = region.len() + raw.len() + e164.as_ref().map_or(0, String::len);
    }
    cache
        .by_region
        .entry(region.to_owned())
        .or_default()
        .insert(raw.to_owned(), e164);
    cache.len += 1;
    cache.bytes += cost;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> (usize, usize, usize) {
        CACHE.with_borrow(|c| {
            let stored = c.by_region.values().map(HashMap::len).sum::<usize>();
            let bytes = c
                .by_region
                .iter()
                .map(|(region, numbers)| {
                    region.len()
                        + numbers
                            .iter()
                            .map(|(raw, e164)| raw.len() + e164.as_ref().map_or(0, String::len))
                            .sum::<usize>()
                })
                .sum::<usize>();
            assert_eq!((c.len, c.bytes), (stored, bytes), "the counts drifted");
            (stored, bytes, c.by_region.len())
        })
    }

    #[test]
    fn cached_answers_match_the_model() {
        for (raw, region) in [
            ("+1 (415) 555-2671", None),
            ("(415) 555-2671", Some("US")),
            ("030 901820", Some("de")),
            ("030 901820", None),
            ("not a number", Some("US")),
        ] {
            let expected = Identity::phone(raw, region).ok();
            assert_eq!(identity(raw, region), expected, "first call {raw:?}");
            assert_eq!(identity(raw, region), expected, "cached call {raw:?}");
        }
    }

    #[test]
    fn the_region_is_part_of_the_key() {
        assert_eq!(
            identity("030 901820", Some("DE"))
                .map(|i| i.value)
                .as_deref(),
            Some("+4930901820")
        );
        assert_eq!(identity("030 901820", None), None);
    }

    #[test]
    fn the_cache_stays_bounded_in_entries() {
        for n in 0..(CAPACITY + 10) {
            identity(&format!("+1415555{n:04}"), Some("US"));
        }
        let (stored, _, _) = held();
        assert!(stored <= CAPACITY, "{stored} stored");
    }

    #[test]
    fn the_cache_stays_bounded_in_bytes() {
        // 250-character inputs (numbers padded with spaces), each a different key.
        for n in 0..2_000 {
            let raw = format!("{:<250}", format!("+1415555{n:04}"));
            assert!(identity(&raw, Some("US")).is_some());
            let (_, bytes, _) = held();
            assert!(bytes <= BYTES, "{bytes} bytes held after {n} numbers");
        }
    }

    #[test]
    fn a_megabyte_phone_is_refused_and_not_cached() {
        let huge = format!("+1415555267{}", "1".repeat(1 << 20));
        let before = held();
        assert_eq!(identity(&huge, Some("US")), None);
        assert_eq!(identity(&huge, None), None);
        assert_eq!(held(), before, "the refused input was remembered");
    }
}
