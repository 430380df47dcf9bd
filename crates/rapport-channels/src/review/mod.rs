//! review sources.
pub mod google;
mod shared;
pub mod trustpilot;
pub mod yelp;
