//! The identity graph: which identifiers (email addresses, phone numbers, source-scoped ids) belong
//! to one customer, and why.
//!
//! Every identifier an [`Interaction`](rapport_model::Interaction) carries becomes a node of its
//! tenant's graph; the identifiers one interaction carries together are linked, and each link
//! keeps its evidence (the earliest interaction that showed the pair). A customer is a connected
//! component, and its id is UUID v5 of the tenant and the component's smallest identifier key, so
//! the same evidence gives the same ids whatever order it arrived in.
//!
//! Safeguards come from a [`LinkPolicy`]: placeholders, no-reply and role addresses, the tenant's
//! own domains and denied values never link, and a link that would grow a customer past
//! `max_identifiers_per_customer` is held for review instead. An operator can retract a link
//! ([`IdentityGraph::unlink`]); a retraction is sticky, so the same evidence arriving again does
//! not undo it.
//!
//! The crate is pure: no I/O, no clock. A service feeds it interactions, publishes the
//! [`Observation`]s it returns, and rebuilds it on start from its own published records with
//! [`IdentityGraph::apply_link`] and friends, in any order.

mod error;
mod graph;
mod interner;
mod links;
mod policy;
mod records;
mod tenant;

pub use error::UnlinkError;
pub use graph::{GraphStats, IdentityGraph};
pub use policy::{LinkPolicy, Policies, Refusal};
pub use records::{Change, Link, Observation, Refused, Retraction, Unlinked};
