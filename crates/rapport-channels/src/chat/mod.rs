//! chat sources.
pub mod intercom;
pub mod chatwoot;
mod shared;
