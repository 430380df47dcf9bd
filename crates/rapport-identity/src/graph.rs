use std::collections::HashMap;
use std::fmt;

use rapport_model::{Identity, Interaction};
use uuid::Uuid;

use crate::policy::Rules;
use crate::records::{Evidence, Observation, Refused};
use crate::tenant::{ChangeLog, Offer, TenantGraph};
use crate::{Link, LinkPolicy, Policies, Refusal, Retraction, UnlinkError, Unlinked};

/// The identity graph of every tenant, in memory.
///
/// Identifiers are keys in the `type:value` form of [`Identity::to_key`]. Tenants are separate
/// graphs: the same address in two tenants is two identifiers that never meet.
pub struct IdentityGraph {
    policies: Policies,
    default_rules: Rules,
    tenant_rules: HashMap<String, Rules>,
    tenants: HashMap<String, TenantGraph>,
}

/// Sizes, for gauges and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// Tenants with at least one identifier.
    pub tenants: usize,
    /// Identifier nodes, linked or not.
    pub identifiers: usize,
    /// Customers, lone identifiers included.
    pub customers: usize,
    /// Applied links.
    pub links: usize,
    /// Links held for review.
    pub held_links: usize,
    /// Pairs that never link again.
    pub retracted_pairs: usize,
}

impl fmt::Debug for IdentityGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The graph can hold millions of identifiers; its sizes are what a log line needs.
        f.debug_struct("IdentityGraph")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for IdentityGraph {
    fn default() -> Self {
        Self::new(Policies::default())
    }
}

impl IdentityGraph {
    /// An empty graph. Check the policies with [`Policies::validate`] first: an invalid policy
    /// is used as written.
    pub fn new(policies: Policies) -> Self {
        Self {
            default_rules: Rules::new(&policies.default),
            tenant_rules: policies
                .tenants
                .iter()
                .map(|(tenant, policy)| (tenant.clone(), Rules::new(policy)))
                .collect(),
            policies,
            tenants: HashMap::new(),
        }
    }

    /// The policy a tenant's interactions are observed under.
    pub fn policy(&self, tenant_id: &str) -> &LinkPolicy {
        self.policies.for_tenant(tenant_id)
    }

    /// Why the tenant's policy keeps `identity` from linking, if it does.
    pub fn refusal(&self, tenant_id: &str, identity: &Identity) -> Option<Refusal> {
        self.rules(tenant_id).refusal(identity)
    }

    /// Adds an interaction's evidence: each identifier becomes a node, and the identifiers the
    /// policy allows are linked, each to the smallest of them.
    ///
    /// Observing the same interaction again, or any interaction whose links all exist with
    /// earlier evidence, changes nothing and returns only `refused`.
    pub fn observe(&mut self, interaction: &Interaction) -> Observation {
        let mut observation = Observation::default();
        if interaction.identities.is_empty() {
            return observation;
        }
        let tenant_id = interaction.tenant_id.as_str();
        let rules = self
            .tenant_rules
            .get(tenant_id)
            .unwrap_or(&self.default_rules);
        let graph = tenant_graph(&mut self.tenants, tenant_id);
        let mut log = ChangeLog::recording();
        let mut usable = Vec::with_capacity(interaction.identities.len());
        let mut key = String::new();
        for identity in &interaction.identities {
            // Built by hand into one buffer: `to_key`'s formatting and allocation per
            // identifier were a tenth of the time spent here.
            key.clear();
            key.push_str(identity.kind.as_str());
            key.push(':');
            key.push_str(&identity.value);
            let node = graph.intern(&key, &mut log);
            match rules.refusal(identity) {
                Some(reason) => observation.refused.push(Refused {
                    identifier: key.clone(),
                    reason,
                }),
                None => usable.push(node),
            }
        }
        observation.refused.sort_unstable();
        observation.refused.dedup();
        usable.sort_unstable_by(|&x, &y| graph.key(x).cmp(graph.key(y)));
        usable.dedup();
        // A star on the smallest key is a spanning set: any other would give the same customers.
        if let Some((&hub, others)) = usable.split_first() {
            let evidence = Evidence::of(interaction);
            for &other in others {
                match graph.offer(hub, other, evidence, Some(rules.cap), &mut log) {
                    Offer::Linked(kept) => observation.new_links.push(graph.link(hub, other, kept)),
                    Offer::Held(kept) => observation.held.push(graph.link(hub, other, kept)),
                    Offer::Unchanged => {}
                }
            }
        }
        observation.changes = graph.changes(log);
        observation
    }

    /// An operator's retraction of the direct link (or held link) between `a` and `b`. The
    /// customer splits unless other links still connect the two; the pair never links again.
    pub fn unlink(&mut self, tenant_id: &str, a: &str, b: &str) -> Result<Unlinked, UnlinkError> {
        let graph = self.tenant_mut(tenant_id, a)?;
        let (na, nb) = (node(graph, tenant_id, a)?, node(graph, tenant_id, b)?);
        if na == nb || !graph.is_linked_or_held(na, nb) {
            return Err(UnlinkError::NotLinked {
                tenant_id: tenant_id.to_owned(),
                a: a.to_owned(),
                b: b.to_owned(),
            });
        }
        let mut log = ChangeLog::recording();
        graph.retract(na, nb, &mut log);
        Ok(Unlinked {
            changes: graph.changes(log),
            retracted: vec![graph.retraction(na, nb)],
        })
    }

    /// Retracts every link and held link of one identifier, leaving it a customer of its own.
    /// Each retracted pair is sticky, but new evidence with *other* identifiers links it again;
    /// to stop an identifier from ever linking, add it to the policy's `deny` list.
    pub fn unlink_identifier(
        &mut self,
        tenant_id: &str,
        key: &str,
    ) -> Result<Unlinked, UnlinkError> {
        let graph = self.tenant_mut(tenant_id, key)?;
        let target = node(graph, tenant_id, key)?;
        let mut log = ChangeLog::recording();
        let others = graph.detach(target, &mut log);
        Ok(Unlinked {
            changes: graph.changes(log),
            retracted: others
                .into_iter()
                .map(|other| graph.retraction(target, other))
                .collect(),
        })
    }

    /// Erases identifiers (a customer's erasure, `rapport forget`): each one's links go without a
    /// trace, its key leaves the graph's memory, and it is unknown from then on, as if never
    /// seen. Returns the changes of the *other* identifiers whose customer moved (a customer split
    /// where a forgotten identifier was its only bridge). Unknown keys are ignored. Keeping them
    /// from coming back is the caller's: drop interactions that carry them.
    pub fn forget(&mut self, tenant_id: &str, keys: &[String]) -> Vec<crate::Change> {
        let Some(graph) = self.tenants.get_mut(tenant_id) else {
            return Vec::new();
        };
        let nodes: Vec<u32> = keys.iter().filter_map(|key| graph.node(key)).collect();
        let mut log = ChangeLog::recording();
        for &node in &nodes {
            graph.forget(node, &mut log);
        }
        // The forgotten nodes' own entries name keys that are gone; only the others are news.
        log.retain(|node| !nodes.contains(&node));
        graph.changes(log)
    }

    /// The customer an identifier belongs to; `None` when it was never seen.
    pub fn customer_of(&self, tenant_id: &str, key: &str) -> Option<Uuid> {
        let graph = self.tenants.get(tenant_id)?;
        Some(graph.customer_of(graph.node(key)?))
    }

    /// A customer's identifier keys, sorted; empty for an unknown customer.
    pub fn members(&self, tenant_id: &str, customer_id: Uuid) -> Vec<String> {
        let Some(graph) = self.tenants.get(tenant_id) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = graph
            .members(customer_id)
            .unwrap_or_default()
            .into_iter()
            .map(|node| graph.key(node).to_owned())
            .collect();
        keys.sort_unstable();
        keys
    }

    /// The applied links of one identifier, with their evidence, sorted.
    pub fn links_of(&self, tenant_id: &str, key: &str) -> Vec<Link> {
        self.tenants
            .get(tenant_id)
            .and_then(|graph| Some(graph.links_of(graph.node(key)?)))
            .unwrap_or_default()
    }

    /// Every link held for review, in every tenant, sorted by tenant and keys.
    pub fn held_links(&self) -> Vec<Link> {
        let mut links: Vec<Link> = self
            .tenants
            .values()
            .flat_map(TenantGraph::held_links)
            .collect();
        links.sort_unstable();
        links
    }

    /// The tenants with at least one identifier, in no particular order.
    pub fn tenant_ids(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    /// Forgets one tenant's whole graph (a linker that no longer owns the tenant). Nothing is
    /// reported: the tenant's customers did not change, another instance now holds them. True
    /// when the tenant was there.
    pub fn drop_tenant(&mut self, tenant_id: &str) -> bool {
        self.tenants.remove(tenant_id).is_some()
    }

    /// Sizes summed over all tenants; walks the tenants, not the identifiers.
    pub fn stats(&self) -> GraphStats {
        self.tenants
            .values()
            .fold(GraphStats::default(), |stats, graph| GraphStats {
                tenants: stats.tenants + 1,
                identifiers: stats.identifiers + graph.identifier_count(),
                customers: stats.customers + graph.customer_count(),
                links: stats.links + graph.link_count(),
                held_links: stats.held_links + graph.held_count(),
                retracted_pairs: stats.retracted_pairs + graph.retracted_count(),
            })
    }

    /// Restores an identifier seen alone (from a published [`Change`](crate::Change)), so that
    /// seeing it again after a restart reports no change. Idempotent.
    pub fn apply_identifier(&mut self, tenant_id: &str, key: &str) {
        tenant_graph(&mut self.tenants, tenant_id).intern(key, &mut ChangeLog::off());
    }

    /// Restores a published link. Applied as recorded: neither the policy nor the cap is
    /// checked again, because the record is the decision live operation made. A retracted pair
    /// stays unlinked; of several records for one pair, the earliest evidence is kept. True
    /// when the graph changed.
    pub fn apply_link(&mut self, link: &Link) -> bool {
        let graph = tenant_graph(&mut self.tenants, &link.tenant_id);
        let mut log = ChangeLog::off();
        let (a, b) = (
            graph.intern(&link.a, &mut log),
            graph.intern(&link.b, &mut log),
        );
        graph.offer(a, b, link.evidence(), None, &mut log) != Offer::Unchanged
    }

    /// Restores a published held link, unless the pair is linked or retracted by then. True
    /// when the graph changed.
    pub fn apply_held(&mut self, link: &Link) -> bool {
        let graph = tenant_graph(&mut self.tenants, &link.tenant_id);
        let mut log = ChangeLog::off();
        let (a, b) = (
            graph.intern(&link.a, &mut log),
            graph.intern(&link.b, &mut log),
        );
        graph.hold((a.min(b), a.max(b)), link.evidence())
    }

    /// Restores a published retraction, before or after the links it concerns. True when the
    /// graph changed.
    pub fn apply_retraction(&mut self, retraction: &Retraction) -> bool {
        let graph = tenant_graph(&mut self.tenants, &retraction.tenant_id);
        let mut log = ChangeLog::off();
        let (a, b) = (
            graph.intern(&retraction.a, &mut log),
            graph.intern(&retraction.b, &mut log),
        );
        graph.retract(a, b, &mut log)
    }

    fn rules(&self, tenant_id: &str) -> &Rules {
        self.tenant_rules
            .get(tenant_id)
            .unwrap_or(&self.default_rules)
    }

    fn tenant_mut(&mut self, tenant_id: &str, key: &str) -> Result<&mut TenantGraph, UnlinkError> {
        self.tenants
            .get_mut(tenant_id)
            .ok_or_else(|| unknown(tenant_id, key))
    }

    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        self.tenants
            .values()
            .for_each(TenantGraph::assert_consistent);
    }
}

fn tenant_graph<'a>(
    tenants: &'a mut HashMap<String, TenantGraph>,
    tenant_id: &str,
) -> &'a mut TenantGraph {
    // Looked up before inserting so the hot path never allocates the tenant name.
    if !tenants.contains_key(tenant_id) {
        tenants.insert(tenant_id.to_owned(), TenantGraph::new(tenant_id));
    }
    tenants.get_mut(tenant_id).expect("inserted above")
}

fn node(graph: &TenantGraph, tenant_id: &str, key: &str) -> Result<u32, UnlinkError> {
    graph.node(key).ok_or_else(|| unknown(tenant_id, key))
}

fn unknown(tenant_id: &str, key: &str) -> UnlinkError {
    UnlinkError::UnknownIdentifier {
        tenant_id: tenant_id.to_owned(),
        key: key.to_owned(),
    }
}

#[cfg(test)]
mod tests;
