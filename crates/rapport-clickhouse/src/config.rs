use std::time::Duration;

use rapport_runtime::Secret;
use serde::{Deserialize, Serialize};

/// Where the history store lives (`[clickhouse]` in every config that needs it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://clickhouse:8123`.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    /// LZ4-compress inserts (ClickHouse's native block compression; saves bandwidth at little CPU).
    pub compression: bool,
    /// Upper bound for one request; a hung server turns into a retry instead of a stall.
    pub request_timeout_ms: u64,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "rapport".into(),
            user: "default".into(),
            password: Secret::default(),
            compression: true,
            request_timeout_ms: 30_000,
        }
    }
}

impl ClickHouseConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.url.starts_with("http://") {
            problems.push(format!(
                "clickhouse.url must be an http:// URL (got {:?}; put a TLS proxy in front of an https endpoint)",
                self.url
            ));
        }
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        };
        if !valid_name(&self.database) {
            problems.push(format!(
                "clickhouse.database must be letters, digits and '_' (got {:?})",
                self.database
            ));
        }
        if self.request_timeout_ms == 0 {
            problems.push("clickhouse.request_timeout_ms must be positive".into());
        }
        problems
    }

    /// A client bound to the configured database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client for server-wide statements (creating the database itself).
    pub fn server_client(&self) -> clickhouse::Client {
        let mut client = clickhouse::Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            // 18.16 knows neither RowBinaryWithNamesAndTypes nor the settings validation
            // sends; the start-up schema check takes its place.
            .with_validation(false)
            .with_compression(if self.compression {
                clickhouse::Compression::Lz4
            } else {
                clickhouse::Compression::None
            });
        if !self.password.expose().is_empty() {
            client = client.with_password(self.password.expose());
        }
        client
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}
