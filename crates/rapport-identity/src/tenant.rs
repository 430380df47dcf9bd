//! One tenant's graph: interned identifiers, the disjoint sets they form (the customers), and the
//! links that justify each set.
//!
//! The sets are a disjoint-set structure in its linked-list form (CLRS §21.2): every node names
//! its component directly and the members of a component form a circular list. A union relabels
//! the smaller side, so building the graph costs O(n log n) relabels in total, `customer_of` is
//! one array read, and a customer's members can be listed without touching the links. Links are
//! kept in adjacency lists ([`Links`]) only to split a component again when one is retracted.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use rapport_model::namespaced_id;
use uuid::Uuid;

use crate::interner::Interner;
use crate::links::Links;
use crate::records::{Change, Evidence, Link, Retraction};

/// Marks a node whose component is being recomputed.
const UNASSIGNED: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Component {
    /// The member with the smallest key; it alone decides the customer id.
    smallest: u32,
    size: u32,
    customer_id: Uuid,
}

/// What offering one pair of identifiers did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Unchanged,
    /// A new link, or an existing one whose evidence became earlier.
    Linked(Evidence),
    /// A new held link, or an existing one whose evidence became earlier.
    Held(Evidence),
}

/// The customer each touched node had before an operation, to report what changed after it.
#[derive(Debug)]
pub(crate) struct ChangeLog {
    enabled: bool,
    before: Vec<(u32, Option<Uuid>)>,
}

impl ChangeLog {
    pub(crate) fn recording() -> Self {
        Self {
            enabled: true,
            before: Vec::new(),
        }
    }

    /// For restoring, where nobody reads the changes.
    pub(crate) fn off() -> Self {
        Self {
            enabled: false,
            before: Vec::new(),
        }
    }

    pub(crate) fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        self.before.retain(|&(node, _)| keep(node));
    }

    fn record(&mut self, node: u32, previous: Option<Uuid>) {
        if self.enabled {
            self.before.push((node, previous));
        }
    }
}

/// Pairs are stored by node index, smaller first; [`Link`]s order by key instead.
type Pair = (u32, u32);

fn pair(a: u32, b: u32) -> Pair {
    (a.min(b), a.max(b))
}

/// Customer id to component, as a table of component ids hashed by the id they carry (a
/// `HashMap<Uuid, u32>` would store every id a second time).
#[derive(Debug, Default)]
struct Customers {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Customers {
    fn find(&self, components: &[Component], id: Uuid) -> Option<u32> {
        self.table
            .find(self.hasher.hash_one(id), |&c| {
                components[c as usize].customer_id == id
            })
            .copied()
    }

    /// Call while `components[component]` holds `id`.
    fn insert(&mut self, components: &[Component], component: u32) {
        let hasher = &self.hasher;
        let id = components[component as usize].customer_id;
        self.table
            .insert_unique(hasher.hash_one(id), component, |&c| {
                hasher.hash_one(components[c as usize].customer_id)
            });
    }

    /// Call while the component registered for `id` still holds it.
    fn remove(&mut self, components: &[Component], id: Uuid) {
        if let Ok(entry) = self.table.find_entry(self.hasher.hash_one(id), |&c| {
            components[c as usize].customer_id == id
        }) {
            entry.remove();
        }
    }
}

#[derive(Debug)]
pub(crate) struct TenantGraph {
    tenant_id: String,
    keys: Interner,
    component_of: Vec<u32>,
    next_member: Vec<u32>,
    components: Vec<Component>,
    free_components: Vec<u32>,
    customers: Customers,
    links: Links,
    held: HashMap<Pair, Evidence>,
    retracted: HashSet<Pair>,
}

impl TenantGraph {
    pub(crate) fn new(tenant_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            keys: Interner::default(),
            component_of: Vec::new(),
            next_member: Vec::new(),
            components: Vec::new(),
            free_components: Vec::new(),
            customers: Customers::default(),
            links: Links::default(),
            held: HashMap::new(),
            retracted: HashSet::new(),
        }
    }

    pub(crate) fn node(&self, key: &str) -> Option<u32> {
        self.keys.get(key)
    }

    pub(crate) fn key(&self, node: u32) -> &str {
        self.keys.key(node)
    }

    /// The node for `key`, created alone (its own customer) when new.
    pub(crate) fn intern(&mut self, key: &str, log: &mut ChangeLog) -> u32 {
        let (node, new) = self.keys.intern(key);
        if !new {
            return node;
        }
        self.next_member.push(node);
        self.links.add_node();
        let customer_id = self.customer_id_for(node);
        let component = self.new_component(Component {
            smallest: node,
            size: 1,
            customer_id,
        });
        self.component_of.push(component);
        log.record(node, None);
        node
    }

    pub(crate) fn customer_of(&self, node: u32) -> Uuid {
        self.components[self.component_of[node as usize] as usize].customer_id
    }

    /// The members of a customer, in no particular order.
    pub(crate) fn members(&self, customer_id: Uuid) -> Option<Vec<u32>> {
        let component = self.customers.find(&self.components, customer_id)?;
        Some(self.members_of(component))
    }

    pub(crate) fn is_linked_or_held(&self, a: u32, b: u32) -> bool {
        self.links.between(a, b).is_some() || self.held.contains_key(&pair(a, b))
    }

    /// Offers the evidence that `a` and `b` are one person. `cap` of `None` or `Some(0)` applies
    /// the link whatever the customer's size.
    pub(crate) fn offer(
        &mut self,
        a: u32,
        b: u32,
        evidence: Evidence,
        cap: Option<usize>,
        log: &mut ChangeLog,
    ) -> Offer {
        let key = pair(a, b);
        if a == b || self.retracted.contains(&key) {
            return Offer::Unchanged;
        }
        if let Some(link) = self.links.between(a, b) {
            if evidence < self.links.evidence(link) {
                self.links.set_evidence(link, evidence);
                return Offer::Linked(evidence);
            }
            return Offer::Unchanged;
        }
        let (ca, cb) = (self.component_of[a as usize], self.component_of[b as usize]);
        let combined =
            self.components[ca as usize].size as usize + self.components[cb as usize].size as usize;
        if ca != cb && cap.is_some_and(|cap| cap > 0 && combined > cap) {
            if self.hold(key, evidence) {
                return Offer::Held(evidence);
            }
            return Offer::Unchanged;
        }
        // A link that was held and is now applied keeps the held evidence if that was earlier.
        let evidence = match self.held.remove(&key) {
            Some(held) => held.min(evidence),
            None => evidence,
        };
        self.links.add(a, b, evidence);
        if ca != cb {
            self.union(ca, cb, log);
        }
        Offer::Linked(evidence)
    }

    /// Holds a pair unless it is linked, retracted or already held with earlier evidence;
    /// true when something changed.
    pub(crate) fn hold(&mut self, key: Pair, evidence: Evidence) -> bool {
        if key.0 == key.1
            || self.retracted.contains(&key)
            || self.links.between(key.0, key.1).is_some()
        {
            return false;
        }
        match self.held.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(evidence);
                true
            }
            Entry::Occupied(mut slot) if evidence < *slot.get() => {
                slot.insert(evidence);
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    /// Retracts the pair for good: removes its link or held link and splits the customer if
    /// nothing else connects the two. True when something changed.
    pub(crate) fn retract(&mut self, a: u32, b: u32, log: &mut ChangeLog) -> bool {
        if a == b {
            return false;
        }
        let key = pair(a, b);
        let newly_retracted = self.retracted.insert(key);
        let was_held = self.held.remove(&key).is_some();
        let was_linked = self.links.remove(a, b);
        if was_linked {
            self.split(self.component_of[a as usize], log);
        }
        newly_retracted || was_held || was_linked
    }

    /// Retracts every link and held link of `node`; returns the other ends, sorted by key.
    pub(crate) fn detach(&mut self, node: u32, log: &mut ChangeLog) -> Vec<u32> {
        let linked: Vec<u32> = self.links.of(node).map(|(other, _)| other).collect();
        let held: Vec<u32> = self
            .held
            .keys()
            .filter(|(x, y)| *x == node || *y == node)
            .map(|&(x, y)| if x == node { y } else { x })
            .collect();
        for &other in &linked {
            self.links.remove(node, other);
        }
        for &other in linked.iter().chain(&held) {
            self.held.remove(&pair(node, other));
            self.retracted.insert(pair(node, other));
        }
        if !linked.is_empty() {
            self.split(self.component_of[node as usize], log);
        }
        let mut others: Vec<u32> = linked.into_iter().chain(held).collect();
        others.sort_unstable_by(|&x, &y| self.key(x).cmp(self.key(y)));
        others.dedup();
        others
    }

    /// Erases `node`: its links and held links go (without leaving retractions, which would
    /// name it), the rest of its customer is split as its links require, its key leaves the index
    /// and memory, and its lone component is freed. The node id stays, unreachable.
    pub(crate) fn forget(&mut self, node: u32, log: &mut ChangeLog) {
        let others = self.detach(node, log);
        for other in others {
            self.retracted.remove(&pair(node, other));
        }
        self.retracted.retain(|&(a, b)| a != node && b != node);
        let component = self.component_of[node as usize];
        let customer_id = self.components[component as usize].customer_id;
        self.customers.remove(&self.components, customer_id);
        self.free_components.push(component);
        self.component_of[node as usize] = UNASSIGNED;
        self.keys.forget(node);
    }

    pub(crate) fn links_of(&self, node: u32) -> Vec<Link> {
        let mut links: Vec<Link> = self
            .links
            .of(node)
            .map(|(other, link)| self.link(node, other, self.links.evidence(link)))
            .collect();
        links.sort_unstable();
        links
    }

    pub(crate) fn held_links(&self) -> impl Iterator<Item = Link> + '_ {
        self.held
            .iter()
            .map(|(&(a, b), &evidence)| self.link(a, b, evidence))
    }

    pub(crate) fn link(&self, a: u32, b: u32, evidence: Evidence) -> Link {
        Link::new(
            self.tenant_id.as_str(),
            self.key(a),
            self.key(b),
            evidence.event_id,
            evidence.source,
            evidence.occurred_at,
        )
    }

    pub(crate) fn retraction(&self, a: u32, b: u32) -> Retraction {
        Retraction::new(self.tenant_id.as_str(), self.key(a), self.key(b))
    }

    /// One change per node whose customer differs from before the operation, sorted by key.
    pub(crate) fn changes(&self, log: ChangeLog) -> Vec<Change> {
        let mut before = log.before;
        // Stable, so the first entry per node (its customer before the operation) survives.
        before.sort_by_key(|&(node, _)| node);
        before.dedup_by_key(|&mut (node, _)| node);
        let mut changes: Vec<Change> = before
            .into_iter()
            .filter_map(|(node, previous)| {
                let current = self.customer_of(node);
                (previous != Some(current)).then(|| Change {
                    tenant_id: self.tenant_id.clone(),
                    identifier: self.key(node).to_owned(),
                    customer_id: current,
                    previous_customer_id: previous,
                })
            })
            .collect();
        changes.sort_unstable_by(|x, y| x.identifier.cmp(&y.identifier));
        changes
    }

    pub(crate) fn identifier_count(&self) -> usize {
        self.keys.len() - self.keys.forgotten()
    }

    pub(crate) fn customer_count(&self) -> usize {
        self.customers.table.len()
    }

    pub(crate) fn link_count(&self) -> usize {
        self.links.count()
    }

    pub(crate) fn held_count(&self) -> usize {
        self.held.len()
    }

    pub(crate) fn retracted_count(&self) -> usize {
        self.retracted.len()
    }

    fn customer_id_for(&self, smallest: u32) -> Uuid {
        namespaced_id(&["customer", &self.tenant_id, self.key(smallest)])
    }

    fn new_component(&mut self, component: Component) -> u32 {
        let id = match self.free_components.pop() {
            Some(id) => {
                self.components[id as usize] = component;
                id
            }
            None => {
                self.components.push(component);
                u32::try_from(self.components.len() - 1).expect("fewer components than nodes")
            }
        };
        self.customers.insert(&self.components, id);
        id
    }

    fn members_of(&self, component: u32) -> Vec<u32> {
        let start = self.components[component as usize].smallest;
        let mut members = Vec::with_capacity(self.components[component as usize].size as usize);
        let mut node = start;
        loop {
            members.push(node);
            node = self.next_member[node as usize];
            if node == start {
                return members;
            }
        }
    }

    /// Joins two components. The customer id of the one with the smaller smallest key survives;
    /// independently, the smaller component is relabelled into the larger one.
    fn union(&mut self, ca: u32, cb: u32, log: &mut ChangeLog) {
        let (a, b) = (self.components[ca as usize], self.components[cb as usize]);
        let (winner, loser) = if self.key(a.smallest) <= self.key(b.smallest) {
            (a, b)
        } else {
            (b, a)
        };
        if log.enabled {
            let losing = if loser.smallest == a.smallest { ca } else { cb };
            for node in self.members_of(losing) {
                log.record(node, Some(loser.customer_id));
            }
        }
        let (keep, gone) = if a.size >= b.size { (ca, cb) } else { (cb, ca) };
        let gone_start = self.components[gone as usize].smallest;
        let mut node = gone_start;
        loop {
            self.component_of[node as usize] = keep;
            node = self.next_member[node as usize];
            if node == gone_start {
                break;
            }
        }
        // Swapping the successors of one node from each circular list joins them into one.
        let keep_start = self.components[keep as usize].smallest;
        self.next_member
            .swap(keep_start as usize, gone_start as usize);
        self.customers.remove(&self.components, loser.customer_id);
        self.customers.remove(&self.components, winner.customer_id);
        self.components[keep as usize] = Component {
            smallest: winner.smallest,
            size: a.size + b.size,
            customer_id: winner.customer_id,
        };
        self.free_components.push(gone);
        self.customers.insert(&self.components, keep);
    }

    /// Recomputes a component after links inside it were removed: a search over the remaining
    /// links finds the pieces, and each piece gets the id of its own smallest key.
    fn split(&mut self, component: u32, log: &mut ChangeLog) {
        let members = self.members_of(component);
        let previous = self.components[component as usize].customer_id;
        for &node in &members {
            log.record(node, Some(previous));
            self.component_of[node as usize] = UNASSIGNED;
        }
        self.customers.remove(&self.components, previous);
        self.free_components.push(component);

        let mut piece: Vec<u32> = Vec::new();
        for &start in &members {
            if self.component_of[start as usize] != UNASSIGNED {
                continue;
            }
            // The component id is only known once the piece exists; mark with a temporary.
            let marker = UNASSIGNED - 1;
            piece.clear();
            piece.push(start);
            self.component_of[start as usize] = marker;
            let mut cursor = 0;
            while let Some(&node) = piece.get(cursor) {
                cursor += 1;
                for (other, _) in self.links.of(node) {
                    let slot = &mut self.component_of[other as usize];
                    if *slot == UNASSIGNED {
                        *slot = marker;
                        piece.push(other);
                    }
                }
            }
            let smallest = *piece
                .iter()
                .min_by(|&&x, &&y| self.key(x).cmp(self.key(y)))
                .expect("a piece holds its start");
            let customer_id = self.customer_id_for(smallest);
            let id = self.new_component(Component {
                smallest,
                size: u32::try_from(piece.len()).expect("piece fits the node count"),
                customer_id,
            });
            for (i, &node) in piece.iter().enumerate() {
                self.component_of[node as usize] = id;
                self.next_member[node as usize] = piece[(i + 1) % piece.len()];
            }
        }
    }
}

#[cfg(test)]
impl TenantGraph {
    /// Panics unless every derived structure agrees with the links: components are exactly the
    /// connected pieces, lists hold exactly their members, and ids follow the smallest key.
    pub(crate) fn assert_consistent(&self) {
        let mut seen = vec![false; self.keys.len()];
        let mut link_ends = 0;
        let mut components = 0;
        for &component in &self.customers.table {
            let c = self.components[component as usize];
            let customer_id = c.customer_id;
            assert_eq!(
                self.customers.find(&self.components, customer_id),
                Some(component)
            );
            let members = self.members_of(component);
            assert_eq!(members.len(), c.size as usize);
            let smallest = members.iter().min_by_key(|&&n| self.key(n)).unwrap();
            assert_eq!(*smallest, c.smallest);
            assert_eq!(customer_id, self.customer_id_for(c.smallest));
            for &node in &members {
                assert!(!seen[node as usize], "node in two components");
                seen[node as usize] = true;
                assert_eq!(self.component_of[node as usize], component);
                for (other, _) in self.links.of(node) {
                    assert_eq!(self.component_of[other as usize], component);
                    link_ends += 1;
                }
            }
            // Connected: a search from the smallest reaches every member.
            let mut reached = HashSet::from([c.smallest]);
            let mut queue = vec![c.smallest];
            while let Some(node) = queue.pop() {
                for (other, _) in self.links.of(node) {
                    if reached.insert(other) {
                        queue.push(other);
                    }
                }
            }
            assert_eq!(reached.len(), members.len(), "component not connected");
            components += 1;
        }
        for (node, &seen) in seen.iter().enumerate() {
            assert!(
                seen || self.component_of[node] == UNASSIGNED,
                "node without a component"
            );
        }
        assert_eq!(link_ends, 2 * self.links.count());
        assert_eq!(
            components + self.free_components.len(),
            self.components.len()
        );
        for &(a, b) in self.held.keys() {
            assert!(self.links.between(a, b).is_none() && !self.retracted.contains(&(a, b)));
        }
        for &(a, b) in &self.retracted {
            assert!(self.links.between(a, b).is_none());
        }
    }
}
