//! TLS endpoints for tests: a private CA issuing certificates (rcgen), and stunnel, a real
//! TLS-terminating proxy, in front of a plain-text server (the Kafka broker: Tansu 0.6 takes
//! `--cert`/`--key` but does not use them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ScratchDir;

/// A certificate authority of the test's own; everything it issues is written as PEM files into
/// its scratch directory.
#[derive(Debug)]
pub struct Pki {
    dir: ScratchDir,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Pki {
    /// A new CA (`<name> CA`), its certificate in `ca.pem`.
    pub fn new(name: &str) -> Self {
        let dir = ScratchDir::new(name);
        let key = rcgen::KeyPair::generate().expect("CA key generated");
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} CA"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate signed");
        std::fs::write(dir.join("ca.pem"), cert.pem()).expect("CA certificate written");
        Self { dir, params, key }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate for `names` (host names, or IP addresses) as `<file>.pem` and
    /// `<file>.key`.
    pub fn server(&self, file: &str, names: &[&str]) -> Issued {
        self.issue(file, names, rcgen::ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with common name `name`, for mutual TLS.
    pub fn client(&self, file: &str, name: &str) -> Issued {
        self.issue(file, &[name], rcgen::ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, file: &str, names: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> Issued {
        let key = rcgen::KeyPair::generate().expect("key generated");
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("certificate parameters");
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or(file),
        );
        params.extended_key_usages = vec![usage];
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("certificate signed");
        let issued = Issued {
            cert_file: self.dir.join(format!("{file}.pem")),
            key_file: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&issued.cert_file, cert.pem()).expect("certificate written");
        std::fs::write(&issued.key_file, key.serialize_pem()).expect("key written");
        issued
    }
}

/// stunnel terminating TLS on a loopback port and forwarding the plain bytes to `backend`;
/// stopped when dropped.
#[derive(Debug)]
pub struct Stunnel {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Stunnel {
    /// Listens on `addr` with `server`'s certificate and forwards to `backend`. With
    /// `client_ca`, a client must present a certificate that CA signed (mutual TLS).
    pub fn start(
        dir: &Path,
        addr: SocketAddr,
        backend: SocketAddr,
        server: &Issued,
        client_ca: Option<&Path>,
    ) -> Self {
        let name = format!("stunnel-{}", addr.port());
        let config = dir.join(format!("{name}.conf"));
        let log = dir.join(format!("{name}.log"));
        let mut text = format!(
            "foreground = yes\npid =\ndebug = notice\noutput = {}\n\n[tls]\naccept = {addr}\nconnect = {backend}\ncert = {}\nkey = {}\n",
            log.display(),
            server.cert_file.display(),
            server.key_file.display(),
        );
        if let Some(ca) = client_ca {
            text.push_str(&format!(
                "CAfile = {}\nverifyChain = yes\nrequireCert = yes\n",
                ca.display()
            ));
        }
        std::fs::write(&config, text).expect("stunnel config written");
        let mut child = Command::new(stunnel_binary())
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start stunnel4: {e}; install it with `make tls-deps`")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait().expect("stunnel status") {
                panic!(
                    "stunnel exited at start-up ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "stunnel did not open {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, addr, log }
    }

    /// What stunnel logged so far (refused handshakes name their reason here).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stunnel_binary() -> &'static str {
    for candidate in ["stunnel4", "stunnel"] {
        if Command::new(candidate)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return candidate;
        }
    }
    panic!("stunnel4 is not installed: run `make tls-deps` (or deploy/local/stack.sh tls-tools)")
}
