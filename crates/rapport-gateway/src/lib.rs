//! Webhook verification for the Rapport gateway: each provider's signature scheme, checked
//! against the endpoint's configured secrets before the raw body goes to Kafka.
//!
//! A service builds [`Endpoints`] from a [`GatewayConfig`] once, then for each
//! `POST /hooks/{source}/{endpoint_id}` calls [`Verifier::verify`] with the request as received
//! and the receive time. The answer is [`Verified`] (forward the bytes, or answer a
//! [`Control`] message) or a [`VerifyError`] whose [`Reason`] is a closed set, usable as a
//! metric label and mapped to an HTTP status.
//!
//! [`service`] is the `rapport-gateway` binary around it: the HTTP listener, the limits, the
//! fetches some providers need, and landing each verified body on its raw topic.
//!
//! The crate's README lists the schemes and links each guarantee to its test;
//! `docs/GATEWAY.md` says how to set up each provider.

pub mod config;
pub mod error;
pub mod keys;
mod multipart;
pub mod request;
pub mod secret;
pub mod service;
pub mod sign;
pub mod verify;

pub use config::{EndpointConfig, GatewayConfig, Source};
pub use error::{ConfigError, Reason, VerifyError};
pub use keys::{Fetch, FetchError, GoogleKeys, SnsCertificates};
pub use request::{Control, Request, Verified};
pub use secret::{Environment, ProcessEnv, Secret, SecretSource};
pub use sign::{Sender, SenderKey, SignError, Signed};
pub use verify::{Endpoint, Endpoints, KeyStores, Verifier};
