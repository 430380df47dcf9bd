//! The local stand-ins for managed services, all on loopback with certificates from a CA the
//! test makes: Tansu behind stunnel (SASL required, or client certificates required), a private
//! ClickHouse 18.16 with an HTTPS port and a user with a password, and the files of the mounted
//! Secret that `docs/DEPLOY.md` names (`/run/secrets/rapport/…`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use rapport_testkit::{
    ClickHouseOptions, Issued, Pki, PrivateBroker, PrivateClickHouse, ScratchDir, Stunnel,
    stable_port,
};

use crate::doc::Block;

/// Every secret a run sets, by the file name `docs/DEPLOY.md` gives it. Distinct and unusual, so
/// finding one in a log cannot be a coincidence.
pub const SECRETS: [(&str, &str); 6] = [
    ("kafka-password", "kafka-S3cret-4e1f9b27"),
    ("oauth-client-secret", "oauth-S3cret-8c2d6a13"),
    ("kafka-key-password", "keypass-S3cret-5b7e0c44"),
    ("registry-password", "registry-S3cret-93af1d08"),
    ("clickhouse-password", "clickhouse-S3cret-2d6c8e51"),
    ("admin-token", "admin-S3cret-7a0b3f96"),
];

pub fn secret(name: &str) -> &'static str {
    SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no test secret {name}"))
}

/// The SCRAM users every SASL broker has: the users of the doc's SCRAM blocks, with the doc's
/// mechanisms (MSK: SHA-512; Aiven and Redpanda: SHA-256).
const SCRAM_USERS: [(&str, &str); 3] = [
    ("scram512", "rapport"),
    ("scram256", "rapport"),
    ("scram256", "avnadmin"),
];

/// The user the ClickHouse blocks name; it gets the `clickhouse-password` secret.
pub const CLICKHOUSE_USER: &str = "rapport";

#[derive(Debug)]
pub struct World {
    pub pki: Pki,
    /// The certificate every server here presents: it names `localhost` only, so connecting to
    /// 127.0.0.1 is connecting to a host the certificate does not name.
    pub server: Issued,
    /// Another CA, which nobody trusts, and a certificate from it for `localhost`.
    pub stranger: Issued,
    files: BTreeMap<String, PathBuf>,
    _secrets: ScratchDir,
    _other: Pki,
}

/// A broker reached through stunnel at `address` (`localhost:<port>`, what it advertises);
/// both stop when it is dropped.
#[derive(Debug)]
pub struct Kafka {
    pub address: String,
    _tls: Stunnel,
    _broker: PrivateBroker,
}

impl World {
    pub fn new(name: &str) -> Self {
        let pki = Pki::new(name);
        let server = pki.server("server", &["localhost"]);
        let client = pki.client("client", "rapport");
        let other = Pki::new(&format!("{name}-stranger"));
        let stranger = other.server("stranger", &["localhost"]);
        let secrets = ScratchDir::new(&format!("{name}-secrets"));
        let mut files = BTreeMap::new();
        for (file, value) in SECRETS {
            let path = secrets.join(file);
            std::fs::write(&path, format!("{value}\n")).expect("secret written");
            files.insert(file.to_owned(), path);
        }
        for ca in ["kafka-ca.pem", "registry-ca.pem", "clickhouse-ca.pem"] {
            files.insert(ca.to_owned(), pki.ca_file());
        }
        files.insert("kafka-client.pem".into(), client.cert_file.clone());
        files.insert("kafka-client.key".into(), client.key_file.clone());
        files.insert("tls.crt".into(), server.cert_file.clone());
        files.insert("tls.key".into(), server.key_file.clone());
        Self {
            pki,
            server,
            stranger,
            files,
            _secrets: secrets,
            _other: other,
        }
    }

    /// Doc file name → the test's file: certificates, keys and secrets.
    pub fn files(&self) -> &BTreeMap<String, PathBuf> {
        &self.files
    }

    /// A broker that requires SASL (the SCRAM users above; PLAIN accepts anyone), behind TLS.
    pub fn sasl_kafka(&self, name: &str) -> Kafka {
        let users: Vec<(&str, &str, &str)> = SCRAM_USERS
            .iter()
            .map(|(mechanism, user)| (*mechanism, *user, secret("kafka-password")))
            .collect();
        self.kafka(name, &users, None)
    }

    /// A broker behind TLS that requires a client certificate from our CA.
    pub fn mtls_kafka(&self, name: &str) -> Kafka {
        self.kafka(name, &[], Some(self.pki.ca_file()))
    }

    fn kafka(&self, name: &str, users: &[(&str, &str, &str)], client_ca: Option<PathBuf>) -> Kafka {
        let tls_port = stable_port();
        let address = format!("localhost:{tls_port}");
        let broker = PrivateBroker::start_behind(name, stable_port(), &address, users);
        let tls = Stunnel::start(
            self.pki.dir(),
            SocketAddr::from(([127, 0, 0, 1], tls_port)),
            SocketAddr::from(([127, 0, 0, 1], broker.port())),
            &self.server,
            client_ca.as_deref(),
        );
        Kafka {
            address,
            _tls: tls,
            _broker: broker,
        }
    }

    /// ClickHouse 18.16 with an HTTPS port (this world's server certificate) and the user the
    /// doc's blocks name, with the `clickhouse-password` secret.
    pub fn clickhouse(&self, name: &str) -> (PrivateClickHouse, u16) {
        let https_port = stable_port();
        let server = PrivateClickHouse::start_with(
            name,
            ClickHouseOptions {
                https: Some((https_port, self.server.clone())),
                user: Some((
                    CLICKHOUSE_USER.to_owned(),
                    secret("clickhouse-password").to_owned(),
                )),
            },
        );
        (server, https_port)
    }

    /// The environment a service gets for `blocks`: each `RAPPORT_*_FILE` variable the blocks
    /// name, pointing at the test's file, and `SSL_CERT_FILE` making this world's CA the
    /// system's CAs (OpenSSL, so librdkafka and libcurl, and rustls-native-certs honour it).
    pub fn env_for(&self, blocks: &[&Block]) -> Vec<(String, String)> {
        let mut env = vec![(
            "SSL_CERT_FILE".to_owned(),
            self.pki.ca_file().display().to_string(),
        )];
        for block in blocks {
            for (variable, doc_path) in block.secret_variables() {
                let local = crate::doc::local_file(&doc_path, &self.files);
                env.push((variable, local.display().to_string()));
            }
        }
        env
    }
}
