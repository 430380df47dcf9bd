//! chat sources.
pub mod chatwoot;
pub mod intercom;
mod shared;
