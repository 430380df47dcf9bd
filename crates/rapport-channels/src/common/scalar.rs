//! Fields that sources send as a string in one place and a number in another (ids, times, enum
//! codes), read in one step.
//!
//! `#[serde(untagged)]` enums did this before: they buffer the value, then try each variant in
//! turn, and every failed variant formats an error message that is thrown away. On chat and
//! helpdesk payloads, where every id goes through this, that was a tenth of the parse. [`read`]
//! accepts exactly what those enums accepted and fails with the same message, so codes and
//! messages do not change.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Deserialize, MapAccess, SeqAccess, Visitor};

/// A JSON scalar as the parser reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    /// Any integer from zero up.
    Unsigned(u64),
    /// A negative integer.
    Signed(i64),
    Float(f64),
}

/// Reads a string or a number. Anything else is the error an untagged enum named `name` gives
/// when no variant matches, raised after the whole value is read, as the enum did.
pub fn read<'de, D: Deserializer<'de>>(d: D, name: &'static str) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor { name })
}

/// The error of an untagged enum named `name` that no variant matched.
pub fn no_variant<E: de::Error>(name: &str) -> E {
    E::custom(format_args!(
        "data did not match any variant of untagged enum {name}"
    ))
}

struct ScalarVisitor {
    name: &'static str,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(u64::try_from(v).map_or(Scalar::Signed(v), Scalar::Unsigned))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
        Err(no_variant(self.name))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Err(no_variant(self.name))
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Err(no_variant(self.name))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        Drain::deserialize(d)?;
        Err(no_variant(self.name))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Scalar, E> {
        Err(no_variant(self.name))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<Drain>()?.is_some() {}
        Err(no_variant(self.name))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<Drain, Drain>()?.is_some() {}
        Err(no_variant(self.name))
    }
}

/// Reads a value to its end and keeps nothing. It reads as an untagged enum's buffer does
/// (`deserialize_any` all the way down), so a broken array or object inside a mistyped field
/// fails with the same error as before rather than the type error.
struct Drain;

impl<'de> Deserialize<'de> for Drain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DrainVisitor)
    }
}

struct DrainVisitor;

impl<'de> Visitor<'de> for DrainVisitor {
    type Value = Drain;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_str<E>(self, _: &str) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_unit<E>(self) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_none<E>(self) -> Result<Drain, E> {
        Ok(Drain)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Drain, D::Error> {
        Drain::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Drain, A::Error> {
        while seq.next_element::<Drain>()?.is_some() {}
        Ok(Drain)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Drain, A::Error> {
        while map.next_entry::<Drain, Drain>()?.is_some() {}
        Ok(Drain)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// The untagged enum `read` replaces, to compare against.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Int(i64),
        Uint(u64),
        Float(f64),
    }

    struct Read(Scalar);

    impl<'de> Deserialize<'de> for Read {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            read(d, "Repr").map(Self)
        }
    }

    fn expected(json: &str) -> Result<Scalar, String> {
        match serde_json::from_str::<Repr>(json) {
            Ok(Repr::Text(t)) => Ok(Scalar::Text(t)),
            Ok(Repr::Int(n)) => Ok(u64::try_from(n).map_or(Scalar::Signed(n), Scalar::Unsigned)),
            Ok(Repr::Uint(n)) => Ok(Scalar::Unsigned(n)),
            Ok(Repr::Float(f)) => Ok(Scalar::Float(f)),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn reads_what_an_untagged_enum_reads_and_fails_alike() {
        for json in [
            r#""abc""#,
            r#""a\"b""#,
            "0",
            "-7",
            "18446744073709551615",
            "1.5",
            "-1e400",
            "true",
            "null",
            "[]",
            r#"{"a": [1, {"b": null}]}"#,
            r#"[1, "x"]"#,
        ] {
            let ours = serde_json::from_str::<Read>(json)
                .map(|r| r.0)
                .map_err(|e| e.to_string());
            let theirs = expected(json);
            // The position suffix differs in where the enum noticed; the message must not.
            let strip = |r: Result<Scalar, String>| {
                r.map_err(|e| e.split(" at line ").next().unwrap_or_default().to_owned())
            };
            assert_eq!(strip(ours), strip(theirs), "{json}");
        }
    }

    #[test]
    fn broken_values_inside_fail_as_syntax_errors_as_before() {
        for json in [r#"{"a": [1, }"#, r#"[1, "x"#, r#"{"a": "\q"}"#] {
            let ours = serde_json::from_str::<Read>(json)
                .err()
                .map(|e| e.classify());
            let theirs = serde_json::from_str::<Repr>(json)
                .err()
                .map(|e| e.classify());
            assert_eq!(ours, theirs, "{json}");
        }
    }
}
