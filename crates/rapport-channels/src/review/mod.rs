//! review sources.
pub mod google;
pub mod yelp;
pub mod trustpilot;
mod shared;
