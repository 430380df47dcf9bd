//! Helpdesk sources: tickets, their comments and their status changes.
pub mod freshdesk;
pub mod shared;
pub mod zendesk;
