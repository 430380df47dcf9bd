//! The applied links as adjacency lists, for splitting a customer when a link is retracted.

use crate::records::Evidence;

const NONE: u32 = u32::MAX;

/// One direction of a link: half `2e` sits in the list of one end and names the other end;
/// half `2e + 1` is its mirror.
#[derive(Debug, Clone, Copy)]
struct Half {
    node: u32,
    next: u32,
}

/// Adjacency lists threaded through one array of halves.
///
/// A `Vec<Vec<_>>` would cost a 24-byte header per identifier plus an allocation per linked
/// one; here a node costs 4 bytes and a link 16 bytes of halves and 32 of evidence.
#[derive(Debug, Default)]
pub(crate) struct Links {
    first: Vec<u32>,
    halves: Vec<Half>,
    evidence: Vec<Evidence>,
    free: Vec<u32>,
}

impl Links {
    pub(crate) fn add_node(&mut self) {
        self.first.push(NONE);
    }

    pub(crate) fn count(&self) -> usize {
        self.evidence.len() - self.free.len()
    }

    /// The link between `a` and `b`, if any.
    pub(crate) fn between(&self, a: u32, b: u32) -> Option<u32> {
        // Walking both lists in step finds the link, or proves its absence, within the shorter
        // list: a busy identifier may have many links, its partner rarely.
        let (mut x, mut y) = (self.first[a as usize], self.first[b as usize]);
        while x != NONE && y != NONE {
            if self.halves[x as usize].node == b {
                return Some(x / 2);
            }
            if self.halves[y as usize].node == a {
                return Some(y / 2);
            }
            x = self.halves[x as usize].next;
            y = self.halves[y as usize].next;
        }
        None
    }

    pub(crate) fn evidence(&self, link: u32) -> Evidence {
        self.evidence[link as usize]
    }

    pub(crate) fn set_evidence(&mut self, link: u32, evidence: Evidence) {
        self.evidence[link as usize] = evidence;
    }

    /// Adds a link that does not exist yet.
    pub(crate) fn add(&mut self, a: u32, b: u32, evidence: Evidence) {
        let link = match self.free.pop() {
            Some(link) => {
                self.evidence[link as usize] = evidence;
                link
            }
            None => {
                self.evidence.push(evidence);
                self.halves.push(Half {
                    node: NONE,
                    next: NONE,
                });
                self.halves.push(Half {
                    node: NONE,
                    next: NONE,
                });
                u32::try_from(self.evidence.len() - 1)
                    .ok()
                    .filter(|&l| l < NONE / 2)
                    .expect("fewer than 2^31 links per tenant")
            }
        };
        for (half, from, to) in [(2 * link, a, b), (2 * link + 1, b, a)] {
            self.halves[half as usize] = Half {
                node: to,
                next: self.first[from as usize],
            };
            self.first[from as usize] = half;
        }
    }

    /// Removes the link between `a` and `b`; false when there was none.
    pub(crate) fn remove(&mut self, a: u32, b: u32) -> bool {
        let Some(link) = self.between(a, b) else {
            return false;
        };
        for half in [2 * link, 2 * link + 1] {
            let owner = self.halves[(half ^ 1) as usize].node;
            self.unthread(owner, half);
        }
        self.free.push(link);
        true
    }

    /// The other ends of `node`'s links, with the link ids.
    pub(crate) fn of(&self, node: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut at = self.first[node as usize];
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let half = self.halves[at as usize];
            let item = (half.node, at / 2);
            at = half.next;
            Some(item)
        })
    }

    fn unthread(&mut self, owner: u32, half: u32) {
        let next = self.halves[half as usize].next;
        if self.first[owner as usize] == half {
            self.first[owner as usize] = next;
            return;
        }
        let mut at = self.first[owner as usize];
        while self.halves[at as usize].next != half {
            at = self.halves[at as usize].next;
        }
        self.halves[at as usize].next = next;
    }
}

#[cfg(test)]
mod tests {
    use rapport_model::{Source, Timestamp};
    use uuid::Uuid;

    use super::*;

    fn evidence(n: u128) -> Evidence {
        Evidence {
            occurred_at: Timestamp::from_millis(0),
            event_id: Uuid::from_u128(n),
            source: Source::Generic,
        }
    }

    #[test]
    fn links_are_found_from_either_end_removed_and_reused() {
        let mut links = Links::default();
        (0..5).for_each(|_| links.add_node());
        for (n, (a, b)) in [(0, 1), (0, 2), (0, 3), (3, 4)].into_iter().enumerate() {
            links.add(a, b, evidence(n as u128));
        }
        assert_eq!(links.between(2, 0), links.between(0, 2));
        assert_eq!(links.between(1, 2), None);
        let mut around_zero: Vec<u32> = links.of(0).map(|(n, _)| n).collect();
        around_zero.sort_unstable();
        assert_eq!(around_zero, [1, 2, 3]);

        assert!(links.remove(2, 0));
        assert!(!links.remove(0, 2));
        assert_eq!(links.between(0, 2), None);
        assert_eq!(links.of(2).count(), 0);
        assert_eq!(links.count(), 3);

        links.add(2, 4, evidence(9));
        let link = links.between(4, 2).unwrap();
        assert_eq!(links.evidence(link), evidence(9));
        assert_eq!(links.count(), 4);
        assert_eq!(links.of(4).count(), 2);
    }
}
