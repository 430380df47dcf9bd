//! TLS for the HTTP connections Rapport makes (ClickHouse, the Schema Registry) and accepts (every
//! service's listener), with rustls on the `ring` provider. Kafka's TLS is librdkafka's own
//! (OpenSSL) and is configured in `rapport-kafka`.
//!
//! - [`client_config`]: trust the system's CA certificates (`ca-certificates`, or `SSL_CERT_FILE`)
//!   or exactly the CAs of one PEM file; host names are always verified.
//! - [`ServerTls`] and [`CertificateReloader`]: a certificate and key from PEM files, read again
//!   when either file changes, so a renewed certificate (cert-manager, a Kubernetes Secret
//!   update) reaches new connections without a restart.
//! - [`describe_failure`]: what a failed handshake means, in words an operator can act on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Why TLS could not be set up from the configured files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted)")]
    NoPrivateKey { path: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error(
        "no system CA certificates found (install the ca-certificates package, or name a CA file)"
    )]
    NoSystemRoots,
    #[error("tls setup: {0}")]
    Setup(String),
}

/// The one crypto provider every rustls config here uses, named explicitly so that no crate
/// enabling another provider can make the process-wide default ambiguous.
///
/// *ring*, not aws-lc-rs: aws-lc-rs compiles a large C library on every clean build, and the
/// peers here (ClickHouse, schema registries, our own listeners' clients) negotiate classical
/// ECDHE. rustls 0.23.48 deprecated the ring provider for lacking post-quantum key exchange;
/// switching is a feature change in the workspace `Cargo.toml` and this one line.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Every certificate in a PEM file, in order; an error when there is none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.display().to_string(),
        },
        other => TlsError::Invalid {
            path: path.display().to_string(),
            reason: other.to_string(),
        },
    })
}

fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in read_certificates(path)? {
                roots.add(cert).map_err(|e| TlsError::Invalid {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            // Honours SSL_CERT_FILE and SSL_CERT_DIR, like OpenSSL (and so librdkafka) does.
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::NoSystemRoots);
            }
        }
    }
    Ok(roots)
}

/// A client config trusting exactly the CAs in `ca_file`, or the system's CAs when `None`.
/// Loaded once per file and process (the system store is ~150 certificates): a CA file that
/// changes on disk is read again only after a restart.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    type Cache = Mutex<HashMap<Option<PathBuf>, Arc<rustls::ClientConfig>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = ca_file.map(Path::to_path_buf);
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(config) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return Ok(Arc::clone(config));
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots(ca_file)?)
        .with_no_client_auth();
    let config = Arc::new(config);
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key, Arc::clone(&config));
    Ok(config)
}

/// Checks that `ca_file` (or the system store) yields a usable trust store; for config validation.
pub fn check_trust(ca_file: Option<&Path>) -> Result<(), TlsError> {
    roots(ca_file).map(|_| ())
}

/// Why a TLS connection failed, when a rustls error is somewhere in `error`'s source chain:
/// `Some("the server's certificate is not signed by a trusted CA …")`. `None` for failures that
/// are not about TLS (refused connections, timeouts).
pub fn describe_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    find_rustls(error, 0).map(describe)
}

/// The rustls error in `error`'s chain. `io::Error::source()` skips the error it wraps, so an
/// `io::Error` is looked into. Bounded by depth, since a chain is only as deep as its layers.
fn find_rustls<'a>(
    error: &'a (dyn std::error::Error + 'static),
    depth: usize,
) -> Option<&'a rustls::Error> {
    if depth > 16 {
        return None;
    }
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
        && let Some(tls) = find_rustls(inner, depth + 1)
    {
        return Some(tls);
    }
    find_rustls(error.source()?, depth + 1)
}

fn describe(error: &rustls::Error) -> String {
    use rustls::{AlertDescription as Alert, CertificateError as Cert, Error as E};
    match error {
        E::InvalidCertificate(Cert::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA (unknown issuer)".into()
        }
        E::InvalidCertificate(Cert::NotValidForName) => {
            "the server's certificate is not valid for the host name connected to".into()
        }
        E::InvalidCertificate(Cert::NotValidForNameContext {
            expected,
            presented,
        }) => {
            let expected = match expected {
                rustls::pki_types::ServerName::DnsName(name) => name.as_ref().to_owned(),
                rustls::pki_types::ServerName::IpAddress(ip) => {
                    std::net::IpAddr::from(*ip).to_string()
                }
                other => format!("{other:?}"),
            };
            let presented: Vec<&str> = presented.iter().map(|n| bare_name(n)).collect();
            format!(
                "the server's certificate is not valid for the host name {expected} (it names {})",
                presented.join(", ")
            )
        }
        E::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        E::InvalidCertificate(Cert::NotValidYet | Cert::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (check the clocks)".into()
        }
        E::InvalidCertificate(other) => format!("the server's certificate was refused: {other:?}"),
        E::AlertReceived(
            alert @ (Alert::CertificateRequired
            | Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::HandshakeFailure),
        ) => format!(
            "the server refused the TLS handshake ({alert:?}): it may require a client certificate, or not trust ours"
        ),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the server did not answer with TLS (is this a plain-text port?)".into()
        }
        other => format!("the TLS handshake failed: {other}"),
    }
}

/// `DnsName("kafka.internal")` → `kafka.internal`: rustls presents names in their debug form.
fn bare_name(presented: &str) -> &str {
    match (presented.find('"'), presented.rfind('"')) {
        (Some(start), Some(end)) if end > start => &presented[start + 1..end],
        _ => presented,
    }
}

/// A listener's certificate and key (`[http.tls]`): PEM files, the certificate file holding the
/// chain leaf first. Both are read again when either changes, so renewing them needs no restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// How often the two files are checked for a change.
    #[serde(default = "default_reload_interval_ms")]
    pub reload_interval_ms: u64,
}

fn default_reload_interval_ms() -> u64 {
    10_000
}

impl ServerTls {
    pub fn validate(&self, section: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.reload_interval_ms == 0 {
            problems.push(format!("{section}.reload_interval_ms must be positive"));
        }
        if let Err(error) = load_certified_key(&self.cert_file, &self.key_file) {
            problems.push(format!(
                "{section}.cert_file and {section}.key_file: {error}"
            ));
        }
        problems
    }
}

fn load_certified_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let certs = read_certificates(cert_file)?;
    let key = read_private_key(key_file)?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| TlsError::Invalid {
        path: key_file.display().to_string(),
        reason: format!(
            "does not match the certificate in {}: {e}",
            cert_file.display()
        ),
    })
}

/// The current certificate of a listener, replaced when its files change. A pair that does not
/// load (a half-written file, a key that does not match its certificate while the two are being
/// replaced one after the other) leaves the previous one in place until the next check.
#[derive(Debug)]
pub struct CertificateReloader {
    files: ServerTls,
    current: RwLock<Arc<CertifiedKey>>,
    /// The bytes the current pair was loaded from, to notice a change.
    loaded_from: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl CertificateReloader {
    /// Loads the pair now; an error when it does not load.
    pub fn new(files: &ServerTls) -> Result<Arc<Self>, TlsError> {
        let (cert, key) = (read(&files.cert_file)?, read(&files.key_file)?);
        let current = load_certified_key(&files.cert_file, &files.key_file)?;
        Ok(Arc::new(Self {
            files: files.clone(),
            current: RwLock::new(Arc::new(current)),
            loaded_from: Mutex::new((cert, key)),
        }))
    }

    /// Reads both files and swaps in the pair when they changed and load. `true` when swapped.
    pub fn reload(&self) -> bool {
        let (Ok(cert), Ok(key)) = (read(&self.files.cert_file), read(&self.files.key_file)) else {
            return false;
        };
        let mut loaded_from = self
            .loaded_from
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if loaded_from.0 == cert && loaded_from.1 == key {
            return false;
        }
        match load_certified_key(&self.files.cert_file, &self.files.key_file) {
            Ok(pair) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(pair);
                *loaded_from = (cert, key);
                info!(cert_file = %self.files.cert_file.display(), "tls certificate reloaded");
                true
            }
            Err(error) => {
                warn!(%error, "tls certificate files changed but do not load; keeping the previous pair");
                false
            }
        }
    }

    /// Checks the files every `reload_interval_ms` until `stop`.
    pub fn watch(self: &Arc<Self>, stop: CancellationToken) {
        let reloader = Arc::clone(self);
        let every = Duration::from_millis(self.files.reload_interval_ms);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let reloader = Arc::clone(&reloader);
                // File reads and key parsing are blocking work.
                let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
            }
        });
    }

    /// A rustls server config that serves whatever pair is current (HTTP/1.1 only).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CertificateReloader {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A CA and certificates it signs, written as PEM files into a directory of the test's own.
    pub(crate) struct TestCa {
        pub dir: PathBuf,
        params: rcgen::CertificateParams,
        key: rcgen::KeyPair,
    }

    impl TestCa {
        pub(crate) fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "rapport-tls-{name}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("{name} CA"));
            let cert = params.self_signed(&key).unwrap();
            std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
            Self { dir, params, key }
        }

        pub(crate) fn ca_file(&self) -> PathBuf {
            self.dir.join("ca.pem")
        }

        /// A leaf for `names`, written to `<file>.pem` and `<file>.key`.
        pub(crate) fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(
                names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap();
            let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
            let cert = params.signed_by(&key, &issuer).unwrap();
            let (cert_file, key_file) = (
                self.dir.join(format!("{file}.pem")),
                self.dir.join(format!("{file}.key")),
            );
            std::fs::write(&cert_file, cert.pem()).unwrap();
            std::fs::write(&key_file, key.serialize_pem()).unwrap();
            (cert_file, key_file)
        }
    }

    impl Drop for TestCa {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Handshakes a client trusting `ca_file` with a server presenting `files`, in memory, as
    /// `host`; the client's error, if any.
    async fn handshake(files: &ServerTls, ca_file: &Path, host: &str) -> Option<std::io::Error> {
        let reloader = CertificateReloader::new(files).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(reloader.server_config().unwrap());
        let connector = tokio_rustls::TlsConnector::from(client_config(Some(ca_file)).unwrap());
        let (client, server) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { acceptor.accept(server).await.map(|_| ()) });
        let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
        let result = connector.connect(name, client).await;
        let _ = server.await;
        result.err()
    }

    fn files(cert_file: PathBuf, key_file: PathBuf) -> ServerTls {
        ServerTls {
            cert_file,
            key_file,
            reload_interval_ms: 100,
        }
    }

    #[tokio::test]
    async fn a_trusted_certificate_for_the_host_passes() {
        let ca = TestCa::new("trusted");
        let (cert, key) = ca.issue("server", &["localhost", "127.0.0.1"]);
        let files = files(cert, key);
        assert!(
            handshake(&files, &ca.ca_file(), "localhost")
                .await
                .is_none()
        );
        assert!(
            handshake(&files, &ca.ca_file(), "127.0.0.1")
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_named_as_such() {
        let ca = TestCa::new("server");
        let other = TestCa::new("other");
        let (cert, key) = ca.issue("server", &["localhost"]);
        let error = handshake(&files(cert, key), &other.ca_file(), "localhost")
            .await
            .expect("refused");
        let described = describe_failure(&error).expect("a tls failure");
        assert!(
            described.contains("not signed by a trusted CA"),
            "{described}"
        );
    }

    #[tokio::test]
    async fn a_certificate_for_another_host_is_named_as_such() {
        let ca = TestCa::new("host");
        let (cert, key) = ca.issue("server", &["kafka.internal.example"]);
        let error = handshake(&files(cert, key), &ca.ca_file(), "localhost")
            .await
            .expect("refused");
        let described = describe_failure(&error).expect("a tls failure");
        assert!(
            described.contains("not valid for the host name")
                && described.contains("kafka.internal.example"),
            "{described}"
        );
    }

    #[test]
    fn a_tls_error_is_found_inside_io_errors_and_boxes() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Layer(#[source] Box<dyn std::error::Error + Send + Sync>);
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(io);
        let chain = Layer(Box::new(Layer(boxed)));
        let described = describe_failure(&chain).expect("found");
        assert!(
            described.contains("not signed by a trusted CA"),
            "{described}"
        );
    }

    #[test]
    fn errors_without_tls_in_their_chain_are_not_described() {
        let error = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(describe_failure(&error), None);
    }

    #[test]
    fn bad_files_are_named_by_validation() {
        let ca = TestCa::new("validate");
        let (cert, key) = ca.issue("server", &["localhost"]);
        let (_, other_key) = ca.issue("other", &["localhost"]);
        assert!(
            files(cert.clone(), key.clone())
                .validate("http.tls")
                .is_empty()
        );
        let mismatched = files(cert.clone(), other_key).validate("http.tls");
        assert!(
            mismatched.len() == 1 && mismatched[0].contains("does not match the certificate"),
            "{mismatched:?}"
        );
        let missing = files(ca.dir.join("missing.pem"), key.clone()).validate("http.tls");
        assert!(
            missing.len() == 1 && missing[0].contains("http.tls.cert_file"),
            "{missing:?}"
        );
        let swapped = files(key, cert).validate("http.tls");
        assert!(
            swapped[0].contains("holds no PEM certificate"),
            "{swapped:?}"
        );
        assert!(matches!(
            client_config(Some(&ca.dir.join("server.key"))),
            Err(TlsError::NoCertificate { .. })
        ));
    }

    #[test]
    fn a_pair_that_does_not_load_is_not_swapped_in() {
        let ca = TestCa::new("reload");
        let (cert, key) = ca.issue("server", &["localhost"]);
        let reloader = CertificateReloader::new(&files(cert.clone(), key.clone())).unwrap();
        let first = reloader.current.read().unwrap().cert.clone();
        assert!(!reloader.reload(), "unchanged files reload nothing");
        // The certificate replaced first, its key not yet: keep serving the old pair.
        let (new_cert, new_key) = ca.issue("next", &["localhost"]);
        std::fs::copy(&new_cert, &cert).unwrap();
        assert!(!reloader.reload());
        assert_eq!(reloader.current.read().unwrap().cert, first);
        std::fs::copy(&new_key, &key).unwrap();
        assert!(reloader.reload());
        assert_ne!(reloader.current.read().unwrap().cert, first);
    }
}
