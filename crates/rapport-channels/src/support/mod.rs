//! Helpdesk sources: tickets, their comments and their status changes.
pub mod freshdesk;
mod shared;
pub mod zendesk;
