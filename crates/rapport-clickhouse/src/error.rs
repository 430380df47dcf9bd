/// What a failed ClickHouse request means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The server is down, overloaded or timing out: retry the same request later.
    Retryable,
    /// The server refused the data itself (a value it cannot store): retrying is pointless, but
    /// other rows of the same batch may be fine.
    Data,
    /// Configuration or schema is wrong (unknown table, bad credentials, read-only user): no
    /// retry and no row can fix it; an operator must.
    Fatal,
}

#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// The server answered with an exception.
    #[error("clickhouse error {code}: {message}")]
    Server { code: u32, message: String },
    /// The request never got an answer, or the answer was cut off.
    #[error("clickhouse unreachable: {0}")]
    Transport(String),
    /// The TLS handshake failed for a reason only configuration can fix (an untrusted or
    /// misnamed certificate, a plain-text port).
    #[error("clickhouse: {0} (check clickhouse.url and clickhouse.ca_file)")]
    Tls(String),
    #[error("clickhouse request timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("{0}")]
    Client(String),
    /// Every row of a batch failed on its own: the table, not the data, is wrong.
    #[error(
        "clickhouse rejected every one of {rows} rows, which points at the table, not the data: {first}"
    )]
    AllRowsRejected { rows: usize, first: String },
    #[error(transparent)]
    Schema(#[from] crate::SchemaMismatch),
    /// The cluster is not set up the way cluster mode needs (`cluster::check`).
    #[error("clickhouse cluster: {0}")]
    Cluster(String),
    #[error("migration {version} ({name}): {reason}")]
    Migration {
        version: u32,
        name: String,
        reason: String,
    },
}

impl From<clickhouse::error::Error> for ClickHouseError {
    fn from(error: clickhouse::error::Error) -> Self {
        use clickhouse::error::Error as E;
        match error {
            E::BadResponse(text) => match server_code(&text) {
                Some(code) => Self::Server {
                    code,
                    message: server_message(&text),
                },
                // A non-exception HTTP failure: proxies and overloaded servers answer this way.
                None => Self::Transport(text),
            },
            E::Network(e) => {
                if let Some(reason) = rapport_runtime::tls::describe_failure(&*e) {
                    return Self::Tls(reason);
                }
                if let Some(unavailable) = find::<crate::config::TlsUnavailable>(&*e) {
                    return Self::Tls(unavailable.0.clone());
                }
                Self::Transport(chain(&*e))
            }
            E::TimedOut => Self::Transport("request timed out".into()),
            other => Self::Client(other.to_string()),
        }
    }
}

/// An error and its causes on one line: hyper's own message ("client error (Connect)") does not
/// say what failed.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn find<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

impl ClickHouseError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transport(_) | Self::Timeout(_) => ErrorClass::Retryable,
            Self::Server { code, .. } => classify(*code),
            Self::Tls(_)
            | Self::Client(_)
            | Self::AllRowsRejected { .. }
            | Self::Schema(_)
            | Self::Cluster(_)
            | Self::Migration { .. } => ErrorClass::Fatal,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// The server's exception code, when it sent one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// ClickHouse exception codes (`src/Common/ErrorCodes.cpp`) grouped by what a writer can do.
/// Unknown codes count as data errors: isolating the offending rows is always safe, because a
/// batch whose every row fails is treated as fatal by the caller.
fn classify(code: u32) -> ErrorClass {
    match code {
        // TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, NO_FREE_CONNECTION, SOCKET_TIMEOUT,
        // NETWORK_ERROR, ABORTED, MEMORY_LIMIT_EXCEEDED, TABLE_IS_READ_ONLY (replica lost
        // ZooKeeper), TOO_MANY_PARTS, TOO_FEW_LIVE_REPLICAS, UNKNOWN_STATUS_OF_INSERT,
        // QUERY_WAS_CANCELLED, SYSTEM_ERROR, CANNOT_SCHEDULE_TASK, TOO_MANY_QUERIES_PER_USER,
        // KEEPER_EXCEPTION, POCO_EXCEPTION; and on a cluster: ALL_CONNECTION_TRIES_FAILED (a
        // shard is down), UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE (18.16 takes one quorum insert
        // per table and shard at a time), REPLICA_IS_NOT_IN_QUORUM (a replica still fetching),
        // NO_ZOOKEEPER, UNEXPECTED_ZOOKEEPER_ERROR (a quorum insert finds a killed replica's
        // `is_active` node gone while ZooKeeper expires its session)
        159 | 202 | 203 | 209 | 210 | 225 | 236 | 241 | 242 | 244 | 252 | 279 | 285 | 286 | 289
        | 319 | 394 | 425 | 439 | 999 | 1000 | 2000 => ErrorClass::Retryable,
        // NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_IDENTIFIER, UNKNOWN_TABLE, SYNTAX_ERROR,
        // UNKNOWN_DATABASE, UNKNOWN_SETTING, READONLY, UNKNOWN_USER, WRONG_PASSWORD,
        // REQUIRED_PASSWORD, ACCESS_DENIED, AUTHENTICATION_FAILED, NOT_FOUND_COLUMN_IN_BLOCK
        16 | 47 | 60 | 62 | 81 | 115 | 164 | 192 | 193 | 194 | 497 | 516 | 10 => ErrorClass::Fatal,
        _ => ErrorClass::Data,
    }
}

/// Both the 18.16 (`Code: 60, e.displayText() = …`) and the current (`Code: 60. DB::Exception: …`)
/// exception formats start with the code.
fn server_code(text: &str) -> Option<u32> {
    let rest = &text[text.find("Code: ")? + "Code: ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn server_message(text: &str) -> String {
    let text = text.trim();
    let message = text
        .split_once("DB::Exception: ")
        .map_or(text, |(_, rest)| rest);
    // 18.16 appends the server's stack trace and version; neither helps the reader of a DLQ.
    let message = message.split(", e.what() = ").next().unwrap_or(message);
    message
        .split(" (version ")
        .next()
        .unwrap_or(message)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_both_exception_formats() {
        let old = "Code: 60, e.displayText() = DB::Exception: Table db.t doesn't exist., e.what() = DB::Exception";
        let new =
            "Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS) (version 24.8.1.1)";
        assert_eq!(server_code(old), Some(60));
        assert_eq!(server_code(new), Some(252));
        assert_eq!(server_message(old), "Table db.t doesn't exist.");
        assert_eq!(
            server_message(new),
            "Too many parts (300). (TOO_MANY_PARTS)"
        );
        assert_eq!(server_code("502 Bad Gateway"), None);
    }

    #[test]
    fn errors_are_classified_by_what_a_writer_can_do() {
        let server = |code| ClickHouseError::Server {
            code,
            message: String::new(),
        };
        assert_eq!(server(252).class(), ErrorClass::Retryable);
        assert_eq!(server(241).class(), ErrorClass::Retryable);
        assert_eq!(server(244).class(), ErrorClass::Retryable);
        assert_eq!(server(60).class(), ErrorClass::Fatal);
        assert_eq!(server(516).class(), ErrorClass::Fatal);
        assert_eq!(server(395).class(), ErrorClass::Data);
        assert_eq!(server(27).class(), ErrorClass::Data);
        assert_eq!(
            ClickHouseError::Transport("connection refused".into()).class(),
            ErrorClass::Retryable
        );
    }
}
