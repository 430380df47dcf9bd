//! Bounded, well-typed JSON parsing shared by every JSON adapter.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::{AdapterError, Limits};

pub fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), AdapterError> {
    if bytes.len() > limits.max_payload_bytes {
        return Err(AdapterError::TooLarge {
            size: bytes.len(),
            limit: limits.max_payload_bytes,
        });
    }
    Ok(())
}

/// Rejects input that nests deeper than `max` before serde sees it, so depth is bounded by our
/// limit rather than by serde_json's recursion guard or the stack.
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), AdapterError> {
    // Depth only grows at an opening bracket, so a payload with no more of them than the limit
    // cannot be too deep. Counting them is a loop the compiler vectorizes; most payloads stop
    // here and skip the scan below.
    let openers = bytes
        .iter()
        .fold(0usize, |n, &b| n + usize::from(b == b'{' || b == b'['));
    if openers <= max {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => {
                // Strings are most of a payload's bytes: jump from one quote or backslash to
                // the next instead of stepping through every byte (this scan runs on every
                // payload, before any parsing). A backslash escapes the byte after it.
                at += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[at.min(bytes.len())..]) {
                        Some(offset) if bytes[at + offset] == b'\\' => at += offset + 2,
                        Some(offset) => {
                            at += offset + 1;
                            break;
                        }
                        None => return Ok(()),
                    }
                }
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(AdapterError::TooDeep { limit: max });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    Ok(())
}

/// Size and depth limits, the checks [`parse`] makes before parsing, for adapters that parse
/// with [`parse_object_untracked`] first.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<(), AdapterError> {
    check_size(bytes, limits)?;
    check_depth(bytes, limits.max_json_depth)
}

/// The fast path of adapters that route on an object's keys: parses a top-level object into
/// `T` with no path tracking and no intermediate `Value`, `None` on any failure. The caller then
/// takes its tracked path, which reports the error exactly as before (or accepts what this
/// stricter parse refused, such as a repeated key). Anything but an object is refused here,
/// because a derived struct would also accept an array by position.
pub fn parse_object_untracked<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    let first = bytes.iter().find(|b| !b" \t\r\n".contains(b))?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// Whether an object has a key, whatever its value (`null` included), as
/// `Map::contains_key` answers it; use with `#[serde(default)]` in routing probes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Present(pub bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Self(true))
    }
}

/// Parses a JSON payload into a source's native type, mapping serde's errors onto the stable
/// codes: syntax errors are `malformed_json`; a missing or mistyped field is named by its full
/// path (`ticket.requester.email`).
pub fn parse<T: DeserializeOwned>(bytes: &[u8], limits: &Limits) -> Result<T, AdapterError> {
    check_size(bytes, limits)?;
    check_depth(bytes, limits.max_json_depth)?;
    // Tracking the path costs about as much as the parse itself, and only a failure needs it:
    // the plain parse accepts exactly what the tracked one does, so a failed payload is parsed
    // again to name the field.
    serde_json::from_slice(bytes).or_else(|_| parse_tracked(bytes))
}

/// The slow path of [`parse`]: the same parse with the field path tracked for the error.
fn parse_tracked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AdapterError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        classify(&path, err.into_inner())
    })?;
    de.end()
        .map_err(|e| AdapterError::MalformedJson(e.to_string()))?;
    Ok(value)
}

fn classify(path: &str, err: serde_json::Error) -> AdapterError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            AdapterError::MalformedJson(err.to_string())
        }
        Category::Data => {
            let message = err.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            let join = |field: &str| {
                if path == "." || path.is_empty() {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                }
            };
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                AdapterError::MissingField(join(field))
            } else if path == "." || path.is_empty() {
                AdapterError::shape("json", message)
            } else {
                AdapterError::InvalidValue {
                    field: path.to_owned(),
                    reason: message,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        ticket: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        id: u64,
        subject: String,
    }

    fn err(json: &str) -> String {
        parse::<Outer>(json.as_bytes(), &Limits::default())
            .unwrap_err()
            .code()
            .to_string()
    }

    #[test]
    fn missing_nested_field_is_named_by_path() {
        assert_eq!(
            err(r#"{"ticket":{"id":1}}"#),
            "missing_field:ticket.subject"
        );
        assert_eq!(err(r#"{}"#), "missing_field:ticket");
    }

    #[test]
    fn mistyped_field_is_invalid_value() {
        assert_eq!(
            err(r#"{"ticket":{"id":"x","subject":"s"}}"#),
            "invalid_value:ticket.id"
        );
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert_eq!(err(r#"{"ticket":"#), "malformed_json");
        assert_eq!(
            err(r#"{"ticket":{"id":1,"subject":"s"}} trailing"#),
            "malformed_json"
        );
        assert_eq!(err("\u{0}\u{1}"), "malformed_json");
    }

    #[test]
    fn depth_is_limited_before_parsing() {
        let deep = "[".repeat(10_000);
        let limits = Limits {
            max_json_depth: 64,
            ..Limits::default()
        };
        assert_eq!(
            parse::<serde_json::Value>(deep.as_bytes(), &limits).unwrap_err(),
            AdapterError::TooDeep { limit: 64 }
        );
        assert!(
            check_depth(br#"{"a":"[[[[[[[[[[[[[[["}"#, 2).is_ok(),
            "brackets in strings do not count"
        );
    }

    #[test]
    fn size_is_limited_before_parsing() {
        let limits = Limits {
            max_payload_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            err_code(parse::<serde_json::Value>(b"[1,2,3]", &limits)),
            "too_large"
        );
    }

    /// The byte-at-a-time scan `check_depth` replaced, kept as the reference it must agree with.
    fn reference_depth(bytes: &[u8], max: usize) -> Result<(), AdapterError> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in bytes {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > max {
                        return Err(AdapterError::TooDeep { limit: max });
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn depth_check_agrees_with_the_byte_scan(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"{}[]\"\\ax".to_vec()),
                0..64,
            ),
            max in 0usize..6,
        ) {
            proptest::prop_assert_eq!(check_depth(&bytes, max), reference_depth(&bytes, max));
        }
    }

    fn err_code<T: std::fmt::Debug>(r: Result<T, AdapterError>) -> String {
        r.unwrap_err().code().to_string()
    }
}
