//! Deliveries already landed, by the provider's delivery id, so a redelivery is answered 200
//! without being produced again, and a delivery id presented again with another body (a
//! Mailgun signature moved to a forged body: Mailgun signs its one-time token, not the body) is
//! not produced at all.
//!
//! An id is claimed before its record is produced, marked done once the broker acknowledged
//! it, and released when producing failed, so the provider's retry goes through. A second
//! request with the same id while the first is in flight is answered 503 (retry): only one of
//! them is produced. Bounded (moka, least recently used first) and forgotten after the window.

use std::time::Duration;

use moka::sync::Cache;

/// What a delivery id's claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours to produce; [`Deliveries::done`] or [`Deliveries::release`] with this key after.
    Fresh(String),
    /// Landed before: answer 200, produce nothing.
    Duplicate,
    /// Another request with this id is being produced now.
    InProgress,
}

#[derive(Debug)]
pub struct Deliveries {
    /// Key → landed (true) or in flight (false).
    seen: Cache<String, bool>,
}

impl Deliveries {
    pub fn new(window: Duration, max_entries: u64) -> Self {
        Self {
            seen: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(window)
                .build(),
        }
    }

    /// Claims `delivery_id` of the endpoint `endpoint` (`source/id`).
    pub fn claim(&self, endpoint: &str, delivery_id: &str) -> Claim {
        let key = format!("{endpoint}\n{delivery_id}");
        let entry = self.seen.entry(key.clone()).or_insert(false);
        if entry.is_fresh() {
            Claim::Fresh(key)
        } else if entry.into_value() {
            Claim::Duplicate
        } else {
            Claim::InProgress
        }
    }

    /// The claimed delivery landed.
    pub fn done(&self, key: String) {
        self.seen.insert(key, true);
    }

    /// The claimed delivery did not land; the next attempt may claim it.
    pub fn release(&self, key: &str) {
        self.seen.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landed_id_is_a_duplicate_an_in_flight_one_in_progress_a_released_one_fresh() {
        let d = Deliveries::new(Duration::from_secs(60), 100);
        let Claim::Fresh(key) = d.claim("mailgun/a", "tok") else {
            panic!("first claim is fresh");
        };
        assert_eq!(d.claim("mailgun/a", "tok"), Claim::InProgress);
        assert!(
            matches!(d.claim("mailgun/b", "tok"), Claim::Fresh(_)),
            "per endpoint"
        );
        d.release(&key);
        let Claim::Fresh(key) = d.claim("mailgun/a", "tok") else {
            panic!("a released id is fresh again");
        };
        d.done(key);
        assert_eq!(d.claim("mailgun/a", "tok"), Claim::Duplicate);
    }

    #[test]
    fn ids_are_forgotten_after_the_window() {
        let d = Deliveries::new(Duration::from_millis(50), 100);
        let Claim::Fresh(key) = d.claim("e", "x") else {
            panic!()
        };
        d.done(key);
        std::thread::sleep(Duration::from_millis(120));
        assert!(matches!(d.claim("e", "x"), Claim::Fresh(_)));
    }
}
