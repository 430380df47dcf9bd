//! support sources.
pub mod zendesk;
pub mod freshdesk;
