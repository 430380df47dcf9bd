//! Identifier keys to dense `u32` node ids and back.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// Every key is stored once, in one growing string, and indexed by a table of node ids.
///
/// A `HashMap<String, u32>` plus a `Vec<String>` for the reverse lookup would hold each key
/// twice, in two allocations, about 100 bytes per identifier more at a million. The table
/// hashes with std's randomly keyed SipHash, because keys are addresses that outsiders choose.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    text: String,
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: RandomState,
    forgotten: usize,
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&node| slice(&self.text, &self.ends, node) == key)
            .copied()
    }

    pub(crate) fn key(&self, node: u32) -> &str {
        slice(&self.text, &self.ends, node)
    }

    /// Removes `node`'s key from the index and overwrites its text, so the identifier can no
    /// longer be found nor read back from memory; the node id is never reused.
    pub(crate) fn forget(&mut self, node: u32) {
        let Self {
            text,
            ends,
            table,
            hasher,
            ..
        } = self;
        let key = slice(text, ends, node);
        if let Ok(entry) = table.find_entry(hasher.hash_one(key), |&other| other == node) {
            entry.remove();
        }
        let end = ends[node as usize];
        let start = if node == 0 {
            0
        } else {
            ends[node as usize - 1]
        };
        text.replace_range(start..end, &"\0".repeat(end - start));
        self.forgotten += 1;
    }

    /// Keys forgotten so far (their nodes stay, unreachable).
    pub(crate) fn forgotten(&self) -> usize {
        self.forgotten
    }

    /// The id of `key`, and whether it was new.
    pub(crate) fn intern(&mut self, key: &str) -> (u32, bool) {
        if let Some(node) = self.get(key) {
            return (node, false);
        }
        let node = u32::try_from(self.ends.len())
            .ok()
            .filter(|&n| n < u32::MAX - 1)
            .expect("fewer than 2^32 - 2 identifiers per tenant");
        self.text.push_str(key);
        self.ends.push(self.text.len());
        let Self {
            text,
            ends,
            table,
            hasher,
            ..
        } = self;
        table.insert_unique(hasher.hash_one(key), node, |&other| {
            hasher.hash_one(slice(text, ends, other))
        });
        (node, true)
    }
}

fn slice<'a>(text: &'a str, ends: &[usize], node: u32) -> &'a str {
    let node = node as usize;
    let start = if node == 0 { 0 } else { ends[node - 1] };
    &text[start..ends[node]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_dense_ids() {
        let mut interner = Interner::default();
        let keys: Vec<String> = (0..10_000)
            .map(|i| format!("email:c{i}@example.com"))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(interner.intern(key), (i as u32, true));
        }
        assert_eq!(interner.intern(&keys[42]), (42, false));
        assert_eq!(interner.intern(""), (10_000, true));
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(interner.get(key), Some(i as u32));
            assert_eq!(interner.key(i as u32), key);
        }
        assert_eq!(interner.key(10_000), "");
        assert_eq!(interner.get("email:missing@example.com"), None);
        assert_eq!(interner.len(), 10_001);
    }
}
