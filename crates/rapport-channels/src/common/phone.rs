//! Phone identities through a small per-thread cache.
//!
//! `phonenumber` matches the region's metadata patterns with regexes on every call, which made
//! phone normalization the most expensive step of a chat or helpdesk event. A customer's number
//! comes back with every message of their conversations, so the same few thousand numbers are
//! normalized over and over: remembering the answer per thread avoids the parse without sharing
//! state between threads.

use std::cell::RefCell;
use std::collections::HashMap;

use rapport_model::{Identity, IdentityType};

/// Numbers remembered per thread, over all regions. When the cache is full it is emptied rather
/// than evicted entry by entry: the cost is one cold pass over the numbers still in use, and
/// memory stays bounded (a few hundred kilobytes per thread) whatever the traffic.
const CAPACITY: usize = 4096;

#[derive(Default)]
struct Cache {
    /// Region as the tenant wrote it (`""` for none) → raw number → E.164, or `None` for a
    /// number that does not normalize.
    by_region: HashMap<String, HashMap<String, Option<String>>>,
    len: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The phone identity of `raw`, as [`Identity::phone`] gives it, or `None` when it is not a
/// valid number.
pub fn identity(raw: &str, default_region: Option<&str>) -> Option<Identity> {
    let region = default_region.unwrap_or_default();
    let cached = CACHE.with_borrow(|cache| cache.by_region.get(region)?.get(raw).cloned());
    let e164 = match cached {
        Some(known) => known,
        None => {
            let fresh = Identity::phone(raw, default_region).ok().map(|id| id.value);
            CACHE.with_borrow_mut(|cache| {
                if cache.len >= CAPACITY {
                    *cache = Cache::default();
                }
                cache
                    .by_region
                    .entry(region.to_owned())
                    .or_default()
                    .insert(raw.to_owned(), fresh.clone());
                cache.len += 1;
            });
            fresh
        }
    };
    e164.map(|value| Identity {
        kind: IdentityType::Phone,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_cache_stays_bounded() {
        for n in 0..(CAPACITY + 10) {
            identity(&format!("+1415555{n:04}"), Some("US"));
        }
        let (len, stored) =
            CACHE.with_borrow(|c| (c.len, c.by_region.values().map(HashMap::len).sum::<usize>()));
        assert!(
            len <= CAPACITY && stored == len,
            "{len} counted, {stored} stored"
        );
    }
}
