use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rapport_clickhouse::ClickHouseError;
use serde::Serialize;
use tracing::{error, warn};

/// Every error the API answers, as a stable machine-readable `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadParameter,
    BadCursor,
    MissingKey,
    MalformedKey,
    UnknownKey,
    RevokedKey,
    NotFound,
    UnknownRoute,
    MethodNotAllowed,
    PayloadTooLarge,
    RateLimited,
    Internal,
    Unavailable,
    Timeout,
}

impl ErrorCode {
    pub const ALL: &'static [Self] = &[
        Self::BadParameter,
        Self::BadCursor,
        Self::MissingKey,
        Self::MalformedKey,
        Self::UnknownKey,
        Self::RevokedKey,
        Self::NotFound,
        Self::UnknownRoute,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
        Self::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadParameter => "bad_parameter",
            Self::BadCursor => "bad_cursor",
            Self::MissingKey => "missing_key",
            Self::MalformedKey => "malformed_key",
            Self::UnknownKey => "unknown_key",
            Self::RevokedKey => "revoked_key",
            Self::NotFound => "not_found",
            Self::UnknownRoute => "unknown_route",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::BadParameter | Self::BadCursor => StatusCode::BAD_REQUEST,
            Self::MissingKey | Self::MalformedKey | Self::UnknownKey => StatusCode::UNAUTHORIZED,
            Self::RevokedKey => StatusCode::FORBIDDEN,
            Self::NotFound | Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error answer: `{"code": "...", "message": "..."}` with the code's status. The message is
/// written for the API's user; server internals (SQL, exception texts) only go to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadParameter, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code.as_str(),
            message: &self.message,
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code.status() == StatusCode::UNAUTHORIZED {
            let challenge = match self.code {
                ErrorCode::MissingKey => "Bearer realm=\"rapport\"",
                _ => "Bearer realm=\"rapport\", error=\"invalid_token\"",
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<ClickHouseError> for ApiError {
    fn from(error: ClickHouseError) -> Self {
        if error.is_retryable() {
            warn!(%error, "clickhouse unavailable");
            metrics::counter!("rapport_api_clickhouse_errors_total", "class" => "retryable")
                .increment(1);
            Self::new(
                ErrorCode::Unavailable,
                "the history store is unavailable; retry later",
            )
            .with_retry_after(5)
        } else {
            error!(%error, "clickhouse query failed");
            metrics::counter!("rapport_api_clickhouse_errors_total", "class" => "fatal")
                .increment(1);
            Self::new(
                ErrorCode::Internal,
                "internal error; the server log has the details",
            )
        }
    }
}

impl From<clickhouse::error::Error> for ApiError {
    fn from(error: clickhouse::error::Error) -> Self {
        ClickHouseError::from(error).into()
    }
}

impl From<rapport_clickhouse::read::ReadError> for ApiError {
    fn from(error: rapport_clickhouse::read::ReadError) -> Self {
        match error {
            rapport_clickhouse::read::ReadError::BadInput(message) => Self::bad_parameter(message),
            rapport_clickhouse::read::ReadError::Store(error) => error.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_the_documented_statuses() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        assert_eq!(ErrorCode::RevokedKey.status(), StatusCode::FORBIDDEN);
        assert_eq!(ErrorCode::UnknownKey.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            ErrorCode::RateLimited.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            ErrorCode::Unavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn a_retryable_store_error_is_503_and_leaks_nothing() {
        let error: ApiError =
            ClickHouseError::Transport("connection refused to 10.0.0.7:8123".into()).into();
        assert_eq!(error.code, ErrorCode::Unavailable);
        assert!(error.retry_after.is_some());
        assert!(!error.message.contains("10.0.0.7"), "{}", error.message);
        let error: ApiError = ClickHouseError::Server {
            code: 62,
            message: "Syntax error: SELECT secret".into(),
        }
        .into();
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(!error.message.contains("secret"), "{}", error.message);
    }
}
