//! What the graph reports and what it is rebuilt from.

use rapport_model::{Interaction, Source, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Refusal;

/// Why two identifiers are linked: the interaction that carried both.
///
/// Field order is the comparison order: the earliest `(occurred_at, event_id)` wins, so the kept
/// evidence is the same whatever order interactions arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Evidence {
    pub(crate) occurred_at: Timestamp,
    pub(crate) event_id: Uuid,
    pub(crate) source: Source,
}

impl Evidence {
    pub(crate) fn of(interaction: &Interaction) -> Self {
        Self {
            occurred_at: interaction.occurred_at,
            event_id: interaction.event_id,
            source: interaction.source,
        }
    }
}

/// A direct link between two identifiers of one tenant, with its evidence.
///
/// `a` is always the smaller key, so a link has one form and can be deduplicated downstream.
/// Published in [`Observation::new_links`] and [`Observation::held`], and fed back on restart
/// to [`IdentityGraph::apply_link`](crate::IdentityGraph::apply_link) or
/// [`apply_held`](crate::IdentityGraph::apply_held).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The tenant both identifiers belong to.
    pub tenant_id: String,
    /// The smaller identifier key (`type:value`).
    pub a: String,
    /// The larger identifier key.
    pub b: String,
    /// The interaction that carried both identifiers.
    pub event_id: Uuid,
    /// Where that interaction came from.
    pub source: Source,
    /// When it happened; with `event_id`, decides which evidence is the earliest.
    pub occurred_at: Timestamp,
}

impl Link {
    /// A link between two keys in either order.
    pub fn new(
        tenant_id: impl Into<String>,
        x: impl Into<String>,
        y: impl Into<String>,
        event_id: Uuid,
        source: Source,
        occurred_at: Timestamp,
    ) -> Self {
        let (a, b) = ordered(x.into(), y.into());
        Self {
            tenant_id: tenant_id.into(),
            a,
            b,
            event_id,
            source,
            occurred_at,
        }
    }

    pub(crate) fn evidence(&self) -> Evidence {
        Evidence {
            occurred_at: self.occurred_at,
            event_id: self.event_id,
            source: self.source,
        }
    }
}

/// An operator's decision that two identifiers must not be linked directly. Sticky: evidence
/// for the pair arriving later is ignored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Retraction {
    /// The tenant both identifiers belong to.
    pub tenant_id: String,
    /// The smaller identifier key.
    pub a: String,
    /// The larger identifier key.
    pub b: String,
}

impl Retraction {
    /// A retraction of the pair in either order.
    pub fn new(tenant_id: impl Into<String>, x: impl Into<String>, y: impl Into<String>) -> Self {
        let (a, b) = ordered(x.into(), y.into());
        Self {
            tenant_id: tenant_id.into(),
            a,
            b,
        }
    }
}

/// One identifier now belongs to a different customer (or, with no previous customer, was seen
/// for the first time).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Change {
    /// The identifier's tenant.
    pub tenant_id: String,
    /// The identifier key (`type:value`).
    pub identifier: String,
    /// The customer it belongs to now.
    pub customer_id: Uuid,
    /// The customer it belonged to before; `None` for an identifier seen for the first time.
    pub previous_customer_id: Option<Uuid>,
}

/// An identifier of an interaction that the policy kept from linking.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Refused {
    /// The identifier key (`type:value`).
    pub identifier: String,
    /// Which rule of the policy refused it.
    pub reason: Refusal,
}

/// What one observed interaction did to the graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Every identifier whose customer changed, including new identifiers, sorted by key.
    pub changes: Vec<Change>,
    /// Links to persist: new ones, and existing ones whose evidence became earlier (the record
    /// with the earliest evidence wins on restore, so both kinds must be published).
    pub new_links: Vec<Link>,
    /// Links not applied because the customer would grow past the cap, or existing held links
    /// whose evidence became earlier. Held until an operator acts.
    pub held: Vec<Link>,
    /// Identifiers that exist as nodes but were not linked, sorted by key; reported on every
    /// observation, for metrics and for choosing which customer an interaction belongs to.
    pub refused: Vec<Refused>,
}

/// What an operator's unlink did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unlinked {
    /// Every identifier whose customer changed, sorted by key.
    pub changes: Vec<Change>,
    /// The pairs retracted, to persist and replay with
    /// [`IdentityGraph::apply_retraction`](crate::IdentityGraph::apply_retraction).
    pub retracted: Vec<Retraction>,
}

fn ordered(x: String, y: String) -> (String, String) {
    if x <= y { (x, y) } else { (y, x) }
}
