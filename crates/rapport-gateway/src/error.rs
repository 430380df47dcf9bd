//! Why a request or a configuration was refused.

/// Why a request was refused: a closed set, so that it can label a metric
/// (`rapport_gateway_refused_total{reason="bad_signature"}`) without growing with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The credential the scheme needs (a signature header, a token, a JWT) is absent.
    MissingCredentials,
    /// A signature is present and well formed but matches none of the endpoint's keys.
    BadSignature,
    /// A password, token or header value (unsigned schemes) matches none of the configured ones.
    BadCredentials,
    /// The signed timestamp is further from now than the endpoint's tolerance.
    StaleTimestamp,
    /// The request cannot be read: bad encoding, a header that does not parse, a body that is not
    /// the provider's envelope.
    Malformed,
    /// A signing certificate is not acceptable: not on an allowed host, not https, expired.
    UntrustedCertificate,
    /// The request is signed, but by a sender this endpoint does not accept (an SNS topic, a JWT
    /// audience or service account not on the list).
    UntrustedSender,
    /// The key needed to check the signature could not be obtained (a certificate or key set
    /// fetch failed). The only retryable reason: the provider should try again.
    KeyUnavailable,
    /// The provider never uses this method for this endpoint.
    MethodNotAllowed,
    /// The body is over the endpoint's limit.
    BodyTooLarge,
}

impl Reason {
    /// Every reason, for registering metric series up front.
    pub const ALL: [Reason; 10] = [
        Reason::MissingCredentials,
        Reason::BadSignature,
        Reason::BadCredentials,
        Reason::StaleTimestamp,
        Reason::Malformed,
        Reason::UntrustedCertificate,
        Reason::UntrustedSender,
        Reason::KeyUnavailable,
        Reason::MethodNotAllowed,
        Reason::BodyTooLarge,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MissingCredentials => "missing_credentials",
            Reason::BadSignature => "bad_signature",
            Reason::BadCredentials => "bad_credentials",
            Reason::StaleTimestamp => "stale_timestamp",
            Reason::Malformed => "malformed",
            Reason::UntrustedCertificate => "untrusted_certificate",
            Reason::UntrustedSender => "untrusted_sender",
            Reason::KeyUnavailable => "key_unavailable",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::BodyTooLarge => "body_too_large",
        }
    }

    /// The HTTP status the gateway answers with. Only [`Reason::KeyUnavailable`] is a 5xx, so
    /// only it makes the provider retry; a forged or broken request is answered with a 4xx,
    /// which the providers that distinguish (SNS, Zendesk, Pub/Sub counts any non-2xx) treat as
    /// final or at least not as our outage.
    pub fn http_status(self) -> u16 {
        match self {
            Reason::MissingCredentials
            | Reason::BadSignature
            | Reason::BadCredentials
            | Reason::StaleTimestamp
            | Reason::UntrustedCertificate
            | Reason::UntrustedSender => 401,
            Reason::Malformed => 400,
            Reason::KeyUnavailable => 503,
            Reason::MethodNotAllowed => 405,
            Reason::BodyTooLarge => 413,
        }
    }
}

/// A refused request. Messages name what was wrong, quote at most [`QUOTE_LIMIT`] bytes of any
/// input, and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("missing credentials: {0}")]
    MissingCredentials(&'static str),
    #[error("bad signature")]
    BadSignature,
    #[error("bad credentials")]
    BadCredentials,
    #[error("stale timestamp: {skew_seconds} s from now, tolerance {tolerance_seconds} s")]
    StaleTimestamp {
        skew_seconds: i64,
        tolerance_seconds: i64,
    },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("untrusted certificate: {0}")]
    UntrustedCertificate(String),
    #[error("untrusted sender: {0}")]
    UntrustedSender(String),
    #[error("signing key unavailable: {0}")]
    KeyUnavailable(String),
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("body of {size} bytes is over the limit of {limit}")]
    BodyTooLarge { size: usize, limit: usize },
}

/// The longest piece of input an error message quotes.
pub const QUOTE_LIMIT: usize = 64;

impl VerifyError {
    /// The closed-set reason, for metrics and the HTTP status.
    pub fn reason(&self) -> Reason {
        match self {
            VerifyError::MissingCredentials(_) => Reason::MissingCredentials,
            VerifyError::BadSignature => Reason::BadSignature,
            VerifyError::BadCredentials => Reason::BadCredentials,
            VerifyError::StaleTimestamp { .. } => Reason::StaleTimestamp,
            VerifyError::Malformed(_) => Reason::Malformed,
            VerifyError::UntrustedCertificate(_) => Reason::UntrustedCertificate,
            VerifyError::UntrustedSender(_) => Reason::UntrustedSender,
            VerifyError::KeyUnavailable(_) => Reason::KeyUnavailable,
            VerifyError::MethodNotAllowed(_) => Reason::MethodNotAllowed,
            VerifyError::BodyTooLarge { .. } => Reason::BodyTooLarge,
        }
    }

    /// True when the same request may succeed later (the provider should retry).
    pub fn is_retryable(&self) -> bool {
        matches!(self, VerifyError::KeyUnavailable(_))
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        VerifyError::Malformed(what.into())
    }
}

/// A bounded, printable quote of untrusted input for an error message.
pub(crate) fn quote(input: &str) -> String {
    let mut end = input.len().min(QUOTE_LIMIT);
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    let mut quoted: String = input[..end].escape_debug().collect();
    if end < input.len() {
        quoted.push('…');
    }
    format!("\"{quoted}\"")
}

/// A configuration that cannot be used, with every problem at once. Problems name the endpoint
/// and the field, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid gateway configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_labels_are_distinct_snake_case() {
        let labels: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), Reason::ALL.len());
        assert!(
            labels
                .iter()
                .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }

    #[test]
    fn quotes_are_bounded() {
        let long = "é".repeat(1000);
        let q = quote(&long);
        assert!(q.len() < QUOTE_LIMIT + 8, "{q}");
        assert!(q.ends_with("…\""));
    }

    #[test]
    fn only_an_unavailable_key_is_retryable() {
        assert!(VerifyError::KeyUnavailable("x".into()).is_retryable());
        assert!(!VerifyError::BadSignature.is_retryable());
        assert_eq!(
            VerifyError::KeyUnavailable("x".into())
                .reason()
                .http_status(),
            503
        );
    }
}
