//! The Rapport interaction contract.
//!
//! Every channel adapter turns a native payload into [`Interaction`]s; every downstream service
//! reads them back, as JSON (the `rapport normalize` output and golden files) or as Avro (the
//! `rapport.interactions.v1` topic). This crate is pure: no I/O, no clocks except where a caller
//! passes one in.

mod avro;
mod datum;
mod identity;
mod ids;
mod interaction;
mod quote;
mod time;
pub mod wire;

pub use avro::{
    AvroError, INTERACTION_SCHEMA_JSON, from_avro_value, interaction_schema, to_avro_value,
};
pub use identity::{
    Identity, IdentityError, IdentityType, MAX_PHONE_INPUT_CHARS, normalize_email, normalize_phone,
};
pub use ids::{event_id, namespaced_id};
pub use interaction::{
    Actor, ActorRole, Channel, Direction, Interaction, InteractionKind, MAX_KEY_BYTES,
    ParseEnumError, RawRef, Source, Threading,
};
pub use quote::{QUOTE_LIMIT, Quote, bounded};
pub use time::Timestamp;
