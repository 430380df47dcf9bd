use std::fmt;

use rapport_model::Quote;

/// How much of a field path a code quotes: paths can hold keys chosen by the payload's sender.
const FIELD_LIMIT: usize = 100;

/// Why a payload was rejected. Every variant has a stable [`code`](AdapterError::code) that the
/// DLQ and `rapport normalize` print, and a [`family`](AdapterError::family) from a closed set for
/// metric labels; the message names the field. Anything quoted from the payload is bounded
/// ([`Quote`]), so a hostile value never travels whole into a log line or a dead-letter header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error("payload is {size} bytes, over the {limit} byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("payload nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("payload is not valid JSON: {}", Quote::new(.0))]
    MalformedJson(String),
    #[error("payload is not valid {what}: {}", Quote::new(.reason))]
    InvalidEncoding { what: &'static str, reason: String },
    #[error("payload does not match any known {expected} shape: {}", Quote::new(.reason))]
    UnknownShape {
        expected: &'static str,
        reason: String,
    },
    #[error("required field {} is missing", Quote::with_limit(.0, FIELD_LIMIT))]
    MissingField(String),
    #[error("field {} has an invalid value: {}", Quote::with_limit(.field, FIELD_LIMIT), Quote::new(.reason))]
    InvalidValue { field: String, reason: String },
    #[error("no adapter recognises this payload and no source was given")]
    UnknownSource,
}

impl AdapterError {
    /// The stable, machine-readable code: `malformed_json`, `missing_field:<name>`, ….
    pub fn code(&self) -> ErrorCode<'_> {
        ErrorCode(self)
    }

    /// The code without the field: a closed set, safe as a metric label.
    pub fn family(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::TooDeep { .. } => "too_deep",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidEncoding { .. } => "invalid_encoding",
            Self::UnknownShape { .. } => "unknown_shape",
            Self::MissingField(_) => "missing_field",
            Self::InvalidValue { .. } => "invalid_value",
            Self::UnknownSource => "unknown_source",
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::MissingField(field.into())
    }

    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::InvalidValue {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    pub fn shape(expected: &'static str, reason: impl fmt::Display) -> Self {
        Self::UnknownShape {
            expected,
            reason: reason.to_string(),
        }
    }
}

/// Displays as the error's code, borrowing the field name instead of allocating.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode<'a>(&'a AdapterError);

impl fmt::Display for ErrorCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.family())?;
        match self.0 {
            AdapterError::MissingField(field) | AdapterError::InvalidValue { field, .. } => {
                write!(f, ":{}", Quote::with_limit(field, FIELD_LIMIT))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            AdapterError::missing("ticket.id").code().to_string(),
            "missing_field:ticket.id"
        );
        assert_eq!(
            AdapterError::invalid("rating", "7").code().to_string(),
            "invalid_value:rating"
        );
        assert_eq!(
            AdapterError::MalformedJson("x".into()).code().to_string(),
            "malformed_json"
        );
        assert_eq!(
            AdapterError::TooLarge { size: 2, limit: 1 }
                .code()
                .to_string(),
            "too_large"
        );
    }

    #[test]
    fn quoted_input_is_bounded_in_messages_and_codes() {
        let key = "k".repeat(1 << 20);
        let error = AdapterError::invalid(format!("custom.{key}"), "v".repeat(1 << 20));
        assert!(error.to_string().len() < 400, "{}", error.to_string().len());
        assert!(error.code().to_string().len() < 150);
        assert_eq!(error.family(), "invalid_value");
        let error = AdapterError::MalformedJson("x".repeat(1 << 20));
        assert!(error.to_string().len() < 300);
    }
}
