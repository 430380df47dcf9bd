use std::collections::HashMap;

use crate::{RegistryConfig, RegistryError, Rejection, SchemaRegistry};
use apache_avro::Schema;
use rapport_model::Interaction;
use rapport_model::wire::{self, WireError, WriterSchema};

/// Why a record of the interactions topic did not decode.
#[derive(Debug)]
pub enum DecodeFailure {
    /// The record itself is bad: it goes to the dead-letter topic.
    Reject(Rejection),
    /// The registry did not answer: try the same record again later.
    RegistryUnavailable(String),
    /// The registry refused our TLS or credentials: no record decodes until an operator fixes
    /// the configuration, so the service stops.
    RegistryMisconfigured(RegistryError),
}

/// Decodes both encodings the normalizer writes (single-object and Confluent-framed Avro);
/// registry schemas are fetched once per id.
#[derive(Debug)]
pub struct Decoder {
    registry: Option<SchemaRegistry>,
    /// `None` for an id whose schema is the interaction schema itself (same canonical form),
    /// which reads through the fast path with no schema resolution.
    schemas: HashMap<u32, Option<Schema>>,
}

impl Decoder {
    /// A decoder reading Confluent-framed records through the registry of `registry` (when its
    /// `url` is set); an error when the registry's TLS cannot be set up.
    pub fn new(registry: &RegistryConfig) -> Result<Self, RegistryError> {
        let registry = if registry.url.is_empty() {
            None
        } else {
            Some(SchemaRegistry::new(registry)?)
        };
        Ok(Self {
            registry,
            schemas: HashMap::new(),
        })
    }

    pub async fn decode(&mut self, bytes: &[u8]) -> Result<Interaction, DecodeFailure> {
        let interaction = self.decode_datum(bytes).await?;
        // The normalizer refuses these, but any producer may write the topic.
        if let Some((field, len)) = interaction.oversized_key() {
            return Err(DecodeFailure::Reject(Rejection {
                code: "oversized_key".into(),
                message: format!(
                    "{field} is {len} bytes, over the {}-byte limit of a key",
                    rapport_model::MAX_KEY_BYTES
                ),
            }));
        }
        Ok(interaction)
    }

    async fn decode_datum(&mut self, bytes: &[u8]) -> Result<Interaction, DecodeFailure> {
        let (writer, datum) = wire::split(bytes).map_err(reject)?;
        match writer {
            WriterSchema::Ours => {
                wire::decode_datum(rapport_model::interaction_schema(), datum).map_err(reject)
            }
            WriterSchema::Previous => {
                wire::decode_datum(wire::previous_schema(), datum).map_err(reject)
            }
            WriterSchema::RegistryId(id) => {
                if !self.schemas.contains_key(&id) {
                    let schema = self.fetch(id).await?;
                    let ours = wire::is_interaction_schema(&schema);
                    self.schemas.insert(id, (!ours).then_some(schema));
                }
                let writer = self.schemas[&id]
                    .as_ref()
                    .unwrap_or_else(|| rapport_model::interaction_schema());
                wire::decode_datum(writer, datum).map_err(reject)
            }
        }
    }

    async fn fetch(&self, id: u32) -> Result<Schema, DecodeFailure> {
        let Some(registry) = &self.registry else {
            return Err(DecodeFailure::Reject(Rejection {
                code: "unknown_schema".into(),
                message: format!(
                    "record is Confluent-framed with schema id {id} but no registry_url is configured"
                ),
            }));
        };
        let text = registry.schema(id).await.map_err(|error| {
            if error.is_misconfiguration() {
                DecodeFailure::RegistryMisconfigured(error)
            } else if error.is_retryable() {
                DecodeFailure::RegistryUnavailable(error.to_string())
            } else {
                DecodeFailure::Reject(Rejection {
                    code: "unknown_schema".into(),
                    message: format!("schema id {id}: {error}"),
                })
            }
        })?;
        Schema::parse_str(&text).map_err(|error| {
            DecodeFailure::Reject(Rejection {
                code: "unknown_schema".into(),
                message: format!("registry schema {id} does not parse: {error}"),
            })
        })
    }
}

fn reject(error: WireError) -> DecodeFailure {
    let code = match error {
        WireError::UnknownFingerprint(_) | WireError::UnknownSchemaId(_) => "unknown_schema",
        _ => "undecodable",
    };
    DecodeFailure::Reject(Rejection {
        code: code.into(),
        message: error.to_string(),
    })
}
