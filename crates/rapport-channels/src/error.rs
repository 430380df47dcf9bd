use std::fmt;

/// Why a payload was rejected. Every variant has a stable [`code`](AdapterError::code) that the
/// DLQ, metrics and `rapport normalize` print; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error("payload is {size} bytes, over the {limit} byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("payload nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("payload is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("payload is not valid {what}: {reason}")]
    InvalidEncoding { what: &'static str, reason: String },
    #[error("payload does not match any known {expected} shape: {reason}")]
    UnknownShape {
        expected: &'static str,
        reason: String,
    },
    #[error("required field {0} is missing")]
    MissingField(String),
    #[error("field {field} has an invalid value: {reason}")]
    InvalidValue { field: String, reason: String },
    #[error("no adapter recognises this payload and no source was given")]
    UnknownSource,
}

impl AdapterError {
    /// The stable, machine-readable code: `malformed_json`, `missing_field:<name>`, ….
    pub fn code(&self) -> ErrorCode<'_> {
        ErrorCode(self)
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
        match self.0 {
            AdapterError::TooLarge { .. } => f.write_str("too_large"),
            AdapterError::TooDeep { .. } => f.write_str("too_deep"),
            AdapterError::MalformedJson(_) => f.write_str("malformed_json"),
            AdapterError::InvalidEncoding { .. } => f.write_str("invalid_encoding"),
            AdapterError::UnknownShape { .. } => f.write_str("unknown_shape"),
            AdapterError::MissingField(name) => write!(f, "missing_field:{name}"),
            AdapterError::InvalidValue { field, .. } => write!(f, "invalid_value:{field}"),
            AdapterError::UnknownSource => f.write_str("unknown_source"),
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
}
