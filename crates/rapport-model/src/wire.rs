//! The two framings of `rapport.interactions.v1` values:
//!
//! - Avro **single-object encoding** (Avro spec): `C3 01`, the 8-byte little-endian CRC-64-AVRO
//!   (Rabin) fingerprint of the writer schema's canonical form, then the datum. Used when no schema
//!   registry is configured; readers find the schema by fingerprint.
//! - **Confluent Schema Registry** wire format: `00`, the 4-byte big-endian schema id, then the
//!   datum. Used when a registry is configured; readers fetch the writer schema by id.

use std::sync::LazyLock;

use apache_avro::rabin::Rabin;
use apache_avro::{Schema, from_avro_datum};

use crate::datum::{self, DatumError};
use crate::{AvroError, Interaction, from_avro_value, interaction_schema};

const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const CONFLUENT_MAGIC: u8 = 0x00;
const SINGLE_OBJECT_HEADER: usize = 10;

static FINGERPRINT: LazyLock<[u8; 8]> = LazyLock::new(|| fingerprint(interaction_schema()));

/// The interaction schema as it was before `threading` was added. A normalizer of that version
/// writes single-object records with this schema's fingerprint; they stay readable (resolved,
/// `threading` unset) while a rolling upgrade runs both versions.
static PREVIOUS: LazyLock<Schema> = LazyLock::new(|| {
    let mut json: serde_json::Value = serde_json::from_str(crate::INTERACTION_SCHEMA_JSON)
        .expect("schemas/avro/interaction.avsc is valid JSON");
    if let Some(fields) = json["fields"].as_array_mut() {
        fields.retain(|field| field["name"] != "threading");
    }
    Schema::parse(&json).expect("the interaction schema without threading is valid Avro")
});
static PREVIOUS_FINGERPRINT: LazyLock<[u8; 8]> = LazyLock::new(|| fingerprint(&PREVIOUS));

/// The schema of [`WriterSchema::Previous`].
pub fn previous_schema() -> &'static Schema {
    &PREVIOUS
}

/// The CRC-64-AVRO fingerprint of a schema's canonical form.
fn fingerprint(schema: &Schema) -> [u8; 8] {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    bytes.try_into().expect("a Rabin fingerprint is 8 bytes")
}

/// The CRC-64-AVRO fingerprint of the interaction schema, as it appears in single-object headers.
pub fn schema_fingerprint() -> [u8; 8] {
    *FINGERPRINT
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    SingleObject,
    Confluent { schema_id: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("value is empty")]
    Empty,
    #[error(
        "value starts with byte {0:#04x}: neither Avro single-object (c3 01) nor Confluent (00) framing"
    )]
    UnknownFraming(u8),
    #[error("value is too short for its {0} header")]
    Truncated(&'static str),
    #[error("single-object fingerprint {0} is not the interaction schema's")]
    UnknownFingerprint(String),
    #[error("schema id {0} is not known to the registry")]
    UnknownSchemaId(u32),
    #[error("avro datum does not decode: {0}")]
    Datum(String),
    #[error(transparent)]
    Shape(#[from] AvroError),
}

/// Whether datums written with `schema` read with the direct codec: the same types, logical
/// types and field order as the interaction schema (docs and defaults may differ). The
/// fingerprint is not enough: the canonical form drops logical types, so a `timestamp-micros`
/// field would share it and be read 1000× off.
pub fn is_interaction_schema(schema: &Schema) -> bool {
    schema == interaction_schema()
}

/// Encodes an interaction with the given framing.
pub fn encode(interaction: &Interaction, framing: Framing) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    match framing {
        Framing::SingleObject => {
            out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
            out.extend_from_slice(&schema_fingerprint());
        }
        Framing::Confluent { schema_id } => {
            out.push(CONFLUENT_MAGIC);
            out.extend_from_slice(&schema_id.to_be_bytes());
        }
    }
    datum::write(interaction, &mut out);
    out
}

/// Which schema a framed value was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterSchema {
    /// Single-object framing with this schema's fingerprint.
    Ours,
    /// Single-object framing with the fingerprint of [`previous_schema`].
    Previous,
    /// Confluent framing: look the id up in the registry.
    RegistryId(u32),
}

/// Reads the framing header; returns the writer schema reference and the datum.
pub fn split(bytes: &[u8]) -> Result<(WriterSchema, &[u8]), WireError> {
    match bytes.first() {
        None => Err(WireError::Empty),
        Some(0xC3) => {
            if bytes.len() < SINGLE_OBJECT_HEADER || bytes[..2] != SINGLE_OBJECT_MAGIC {
                return Err(WireError::Truncated("single-object"));
            }
            if bytes[2..SINGLE_OBJECT_HEADER] == *PREVIOUS_FINGERPRINT {
                return Ok((WriterSchema::Previous, &bytes[SINGLE_OBJECT_HEADER..]));
            }
            if bytes[2..SINGLE_OBJECT_HEADER] != schema_fingerprint() {
                let hex: String = bytes[2..SINGLE_OBJECT_HEADER]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                return Err(WireError::UnknownFingerprint(hex));
            }
            Ok((WriterSchema::Ours, &bytes[SINGLE_OBJECT_HEADER..]))
        }
        Some(&CONFLUENT_MAGIC) => {
            let id = bytes.get(1..5).ok_or(WireError::Truncated("Confluent"))?;
            let id = u32::from_be_bytes(
                id.try_into()
                    .map_err(|_| WireError::Truncated("Confluent"))?,
            );
            Ok((WriterSchema::RegistryId(id), &bytes[5..]))
        }
        Some(other) => Err(WireError::UnknownFraming(*other)),
    }
}

/// Decodes a datum written with `writer` into an interaction, resolving it against the current
/// interaction schema (so records from older or newer compatible writers still read).
pub fn decode_datum(writer: &Schema, mut datum: &[u8]) -> Result<Interaction, WireError> {
    if std::ptr::eq(writer, interaction_schema()) {
        return datum::read(datum).map_err(|error| match error {
            DatumError::Bytes { .. } => WireError::Datum(error.to_string()),
            DatumError::Shape(shape) => WireError::Shape(shape),
        });
    }
    let value = from_avro_datum(writer, &mut datum, Some(interaction_schema()))
        .map_err(|e| WireError::Datum(e.to_string()))?;
    Ok(from_avro_value(value)?)
}

/// Decodes a single-object framed value (no registry needed).
pub fn decode_single_object(bytes: &[u8]) -> Result<Interaction, WireError> {
    match split(bytes)? {
        (WriterSchema::Ours, datum) => decode_datum(interaction_schema(), datum),
        (WriterSchema::Previous, datum) => decode_datum(previous_schema(), datum),
        (WriterSchema::RegistryId(id), _) => Err(WireError::UnknownSchemaId(id)),
    }
}

#[cfg(test)]
mod tests {
    use apache_avro::GenericSingleObjectReader;

    use super::*;
    use crate::avro::tests::sample;

    #[test]
    fn single_object_matches_the_avro_spec_reader() {
        let interaction = sample();
        let bytes = encode(&interaction, Framing::SingleObject);
        // apache-avro's own spec implementation must read what we wrote.
        let reader = GenericSingleObjectReader::new(interaction_schema().clone()).unwrap();
        let value = reader.read_value(&mut bytes.as_slice()).unwrap();
        assert_eq!(from_avro_value(value).unwrap(), interaction);
        assert_eq!(decode_single_object(&bytes).unwrap(), interaction);
    }

    #[test]
    fn confluent_framing_carries_the_schema_id() {
        let bytes = encode(&sample(), Framing::Confluent { schema_id: 258 });
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, 2]);
        let (writer, datum) = split(&bytes).unwrap();
        assert_eq!(writer, WriterSchema::RegistryId(258));
        assert_eq!(decode_datum(interaction_schema(), datum).unwrap(), sample());
    }

    #[test]
    fn an_older_writer_schema_is_resolved_against_ours() {
        // The schema as it was before `team` was added: its records read with `team` unset.
        let mut older: serde_json::Value =
            serde_json::from_str(crate::INTERACTION_SCHEMA_JSON).unwrap();
        older["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|field| field["name"] != "team");
        let older = Schema::parse(&older).unwrap();
        assert_ne!(fingerprint(&older), schema_fingerprint());
        let mut interaction = sample();
        interaction.team = Some("billing".into());
        let apache_avro::types::Value::Record(mut fields) = crate::to_avro_value(&interaction)
        else {
            unreachable!()
        };
        fields.retain(|(name, _)| name != "team");
        let datum =
            apache_avro::to_avro_datum(&older, apache_avro::types::Value::Record(fields)).unwrap();
        interaction.team = None;
        assert_eq!(decode_datum(&older, &datum).unwrap(), interaction);
    }

    #[test]
    fn a_single_object_record_of_the_schema_before_threading_still_reads() {
        let mut interaction = sample();
        let apache_avro::types::Value::Record(mut fields) = crate::to_avro_value(&interaction)
        else {
            unreachable!()
        };
        fields.retain(|(name, _)| name != "threading");
        let mut bytes = SINGLE_OBJECT_MAGIC.to_vec();
        bytes.extend_from_slice(&fingerprint(previous_schema()));
        bytes.extend(
            apache_avro::to_avro_datum(
                previous_schema(),
                apache_avro::types::Value::Record(fields),
            )
            .unwrap(),
        );
        interaction.threading = None;
        assert_eq!(decode_single_object(&bytes).unwrap(), interaction);
    }

    #[test]
    fn only_the_same_types_and_logical_types_take_the_direct_codec() {
        let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut json: serde_json::Value =
                serde_json::from_str(crate::INTERACTION_SCHEMA_JSON).unwrap();
            edit(&mut json);
            Schema::parse(&json).unwrap()
        };
        assert!(is_interaction_schema(&edited(&|_| {})));
        assert!(is_interaction_schema(&edited(&|s| {
            s["doc"] = "reworded".into();
        })));
        let micros = edited(&|s| {
            for field in s["fields"].as_array_mut().unwrap() {
                if field["name"] == "occurred_at" {
                    field["type"]["logicalType"] = "timestamp-micros".into();
                }
            }
        });
        assert_eq!(
            micros.canonical_form(),
            interaction_schema().canonical_form()
        );
        assert!(!is_interaction_schema(&micros));
    }

    #[test]
    fn foreign_or_broken_values_are_typed_errors() {
        assert!(matches!(split(b""), Err(WireError::Empty)));
        assert!(matches!(
            split(b"{\"json\":1}"),
            Err(WireError::UnknownFraming(b'{'))
        ));
        assert!(matches!(
            split(&[0xC3, 0x01, 1, 2]),
            Err(WireError::Truncated(_))
        ));
        assert!(matches!(
            split(&[0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(WireError::UnknownFingerprint(_))
        ));
        let mut bytes = encode(&sample(), Framing::SingleObject);
        bytes.truncate(20);
        assert!(matches!(
            decode_single_object(&bytes),
            Err(WireError::Datum(_))
        ));
    }
}
