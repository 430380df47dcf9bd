use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rapport_runtime::Secret;
use serde::{Deserialize, Serialize};

/// Where the history store lives (`[clickhouse]` in every config that needs it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface, `http://clickhouse:8123`, or HTTPS, `https://….clickhouse.cloud:8443`.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: Secret,
    /// PEM file of the CA that signs the server's certificate (`https://` only); unset trusts
    /// the system's CAs, which is right for ClickHouse Cloud.
    pub ca_file: Option<PathBuf>,
    /// LZ4-compress inserts (ClickHouse's native block compression; saves bandwidth at little CPU).
    pub compression: bool,
    /// Upper bound for one request; a hung server turns into a retry instead of a stall.
    pub request_timeout_ms: u64,
    /// The cluster (a `<remote_servers>` name of the servers' configuration) the store is spread
    /// over; unset for one server. Migrations then create every table on every server
    /// (`ON CLUSTER`) as a replicated local table, `<name>_local`, behind a `Distributed` table of
    /// the table's own name, sharded by tenant (docs/SCALING.md, "A ClickHouse cluster").
    pub cluster: Option<String>,
    /// Cluster only: how many replicas of a shard must hold an insert before it is acknowledged
    /// (`insert_quorum`); 0 leaves one. Needed when a shard has several replicas and reads of it
    /// may go to one that is not this server: without it, a read right after a write may reach a
    /// replica that has not fetched the write yet (the start-up check refuses that layout).
    pub insert_quorum: u32,
    /// Cluster only: how long an insert waits for its quorum before it fails and is retried
    /// (`insert_quorum_timeout`); below `request_timeout_ms`, so the server gives up first.
    pub insert_quorum_timeout_ms: u64,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "rapport".into(),
            user: "default".into(),
            password: Secret::default(),
            ca_file: None,
            compression: true,
            request_timeout_ms: 30_000,
            cluster: None,
            insert_quorum: 0,
            insert_quorum_timeout_ms: 20_000,
        }
    }
}

/// Idle connections are closed before ClickHouse's own 3 s keep-alive timeout closes them under
/// a request (the `clickhouse` crate's default, kept).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

impl ClickHouseConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let https = self.url.starts_with("https://");
        let userinfo = self.url.split_once("://").is_some_and(|(_, rest)| {
            rest.split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .contains('@')
        });
        if !https && !self.url.starts_with("http://") {
            problems.push(if userinfo {
                "clickhouse.url must be an http:// or https:// URL".to_owned()
            } else {
                format!(
                    "clickhouse.url must be an http:// or https:// URL (got {:?})",
                    quote(&self.url)
                )
            });
        }
        if userinfo {
            problems.push(
                "clickhouse.url must not carry credentials: set clickhouse.user and clickhouse.password"
                    .into(),
            );
        }
        match &self.ca_file {
            Some(path) => {
                if !https {
                    problems.push(
                        "clickhouse.ca_file is set but clickhouse.url is not https://".into(),
                    );
                }
                if let Err(error) = rapport_runtime::tls::check_trust(Some(path)) {
                    problems.push(format!("clickhouse.ca_file: {error}"));
                }
            }
            None if https => {
                if let Err(error) = rapport_runtime::tls::check_trust(None) {
                    problems.push(format!("clickhouse.url is https://: {error}"));
                }
            }
            None => {}
        }
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        };
        if !valid_name(&self.database) {
            problems.push(format!(
                "clickhouse.database must be letters, digits and '_' (got {:?})",
                quote(&self.database)
            ));
        }
        if self.request_timeout_ms == 0 {
            problems.push("clickhouse.request_timeout_ms must be positive".into());
        }
        match &self.cluster {
            Some(cluster) if !valid_name(cluster) => problems.push(format!(
                "clickhouse.cluster must be letters, digits and '_' (got {:?})",
                quote(cluster)
            )),
            Some(_) => {
                if self.insert_quorum > 1
                    && self.insert_quorum_timeout_ms >= self.request_timeout_ms
                {
                    problems.push(
                        "clickhouse.insert_quorum_timeout_ms must be below clickhouse.request_timeout_ms, \
                         so a quorum that never forms fails on the server instead of in the client"
                            .into(),
                    );
                }
            }
            None => {
                if self.insert_quorum > 1 {
                    problems.push(
                        "clickhouse.insert_quorum needs clickhouse.cluster (one server has no replicas)"
                            .into(),
                    );
                }
            }
        }
        problems
    }

    /// A client bound to the configured database.
    pub fn client(&self) -> clickhouse::Client {
        self.server_client().with_database(&self.database)
    }

    /// A client for server-wide statements (creating the database itself).
    pub fn server_client(&self) -> clickhouse::Client {
        let mut client = self.plain_server_client();
        if self.cluster.is_some() {
            // An insert into a Distributed table returns once every shard stored its rows, not
            // once they are queued on this server's disk: the offsets follow the insert.
            client = client.with_setting("insert_distributed_sync", "1");
            // Subqueries over a Distributed table inside a query over one (the read path's
            // `conversation_id IN (SELECT … FROM interaction_identities …)`) read each shard's
            // local table: correct because every table is sharded by tenant and every query is
            // one tenant's, and without it 18.16 refuses such queries.
            client = client.with_setting("distributed_product_mode", "local");
            // `prefer_localhost_replica` is left to the server's profile for this user, which
            // `cluster::check` reads: it must be 0 on a cluster of several shards (18.16 reading
            // a local replica in-process as one shard of several answers `FINAL … PREWHERE`
            // wrongly), and 1 on a cluster of one shard (18.16 sends the whole query to a remote
            // replica of a single shard, where the read path's unqualified subqueries do not
            // resolve).
            if self.insert_quorum > 1 {
                client = client
                    .with_setting("insert_quorum", self.insert_quorum.to_string())
                    .with_setting(
                        "insert_quorum_timeout",
                        self.insert_quorum_timeout_ms.to_string(),
                    )
                    .with_setting("select_sequential_consistency", "1");
            }
        }
        client
    }

    /// A client for DDL and the migrations' own bookkeeping: the cluster's routing settings, no
    /// quorum (the migrations table is replicated to every server, and two runners recording at
    /// once would otherwise refuse each other's quorum inserts).
    pub(crate) fn ddl_client(&self) -> clickhouse::Client {
        self.ddl_server_client().with_database(&self.database)
    }

    /// [`Self::ddl_client`] without a database (creating the database itself).
    pub(crate) fn ddl_server_client(&self) -> clickhouse::Client {
        let client = self.plain_server_client();
        if self.cluster.is_some() {
            client
                .with_setting("insert_distributed_sync", "1")
                .with_setting("distributed_product_mode", "local")
        } else {
            client
        }
    }

    fn plain_server_client(&self) -> clickhouse::Client {
        let mut client = self
            .transport()
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

    /// The HTTP transport: plain, or rustls for `https://` URLs with the system's CAs or
    /// `ca_file`. The trust store comes from `rapport_runtime::tls`, loaded once per process;
    /// validation has already loaded it, so a failure here means the file changed since, and
    /// every request then fails with that reason (a fatal error, like a wrong password).
    fn transport(&self) -> clickhouse::Client {
        let mut http = HttpConnector::new();
        http.set_keepalive(Some(TCP_KEEPALIVE));
        http.enforce_http(false);
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder.pool_idle_timeout(POOL_IDLE_TIMEOUT);
        if !self.url.starts_with("https://") {
            return clickhouse::Client::with_http_client(builder.build(http));
        }
        match rapport_runtime::tls::client_config(self.ca_file.as_deref()) {
            Ok(tls) => {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(Arc::unwrap_or_clone(tls))
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                clickhouse::Client::with_http_client(builder.build(https))
            }
            Err(error) => clickhouse::Client::with_http_client(
                builder.build(Unusable(Arc::new(TlsUnavailable(error.to_string())))),
            ),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// At most 64 characters of a configured value in an error message.
fn quote(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// Why no connection can be made: TLS could not be set up from the configured files.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TlsUnavailable(pub(crate) String);

/// A connector that refuses every connection with the reason TLS could not be set up.
#[derive(Clone)]
struct Unusable(Arc<TlsUnavailable>);

impl tower_service::Service<http::Uri> for Unusable {
    type Response = hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        std::future::ready(Err(Box::new(TlsUnavailable(self.0.0.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_are_accepted_and_every_url_problem_is_named() {
        let https = ClickHouseConfig {
            url: "https://abc.eu-west-1.aws.clickhouse.cloud:8443".into(),
            ..ClickHouseConfig::default()
        };
        assert_eq!(https.validate(), Vec::<String>::new());
        let bad = ClickHouseConfig {
            url: "tcp://default:hunter2@clickhouse:9000".into(),
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClickHouseConfig::default()
        };
        let all = bad.validate().join("\n");
        for expected in [
            "clickhouse.url must be an http:// or https:// URL",
            "must not carry credentials",
            "clickhouse.ca_file is set but clickhouse.url is not https://",
            "clickhouse.ca_file: cannot read /nonexistent/ca.pem",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert!(!all.contains("hunter2"), "{all}");
    }

    #[test]
    fn cluster_settings_are_checked_together() {
        let cluster = ClickHouseConfig {
            cluster: Some("rapport".into()),
            insert_quorum: 2,
            ..ClickHouseConfig::default()
        };
        assert_eq!(cluster.validate(), Vec::<String>::new());
        let bad = ClickHouseConfig {
            cluster: Some("a cluster; DROP".into()),
            ..ClickHouseConfig::default()
        };
        assert!(bad.validate()[0].contains("clickhouse.cluster must be letters"));
        let slow_quorum = ClickHouseConfig {
            insert_quorum_timeout_ms: 30_000,
            ..cluster.clone()
        };
        assert!(slow_quorum.validate()[0].contains("must be below clickhouse.request_timeout_ms"));
        let no_cluster = ClickHouseConfig {
            cluster: None,
            ..cluster
        };
        assert!(no_cluster.validate()[0].contains("insert_quorum needs clickhouse.cluster"));
    }
}
