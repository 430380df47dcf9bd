//! `[kafka.security]`: TLS and SASL as typed settings, so a typo or a missing piece is a start-up
//! error naming the field instead of a client that retries a failing handshake forever. Each
//! setting maps to one librdkafka property ([`SecurityConfig::properties`]); `kafka.extra` may
//! still carry any other librdkafka property, but not one of these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapport_runtime::Secret;
use serde::{Deserialize, Serialize};

/// How clients reach the brokers (librdkafka's `security.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "PLAINTEXT", alias = "plaintext")]
    Plaintext,
    #[serde(rename = "SSL", alias = "ssl")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT", alias = "sasl_plaintext")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL", alias = "sasl_ssl")]
    SaslSsl,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// The SASL mechanism (librdkafka's `sasl.mechanism`). GSSAPI (Kerberos) is not built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN", alias = "plain")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
    /// OAuth 2 client credentials against `kafka.security.oauthbearer.token_endpoint_url`
    /// (librdkafka's `sasl.oauthbearer.method = oidc`), the token refreshed by librdkafka.
    #[serde(rename = "OAUTHBEARER", alias = "oauthbearer")]
    OauthBearer,
}

impl SaslMechanism {
    fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OauthBearer => "OAUTHBEARER",
        }
    }
}

/// OAUTHBEARER with the OIDC client-credentials grant (`[kafka.security.oauthbearer]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthBearerConfig {
    /// The identity provider's token endpoint, `https://…/oauth2/token`.
    pub token_endpoint_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Requested scope; empty asks for none.
    pub scope: String,
    /// SASL extensions sent to the broker, e.g. Confluent Cloud's `logicalCluster` and
    /// `identityPoolId`.
    pub extensions: BTreeMap<String, String>,
    /// CA file for the token endpoint's certificate; unset trusts the system's CAs.
    pub ca_file: Option<PathBuf>,
}

impl OauthBearerConfig {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// TLS and SASL for every Kafka client (`[kafka.security]`). Unset, clients speak PLAINTEXT,
/// or whatever `kafka.extra` says (configurations from before these settings keep working).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub protocol: Option<Protocol>,
    /// PEM file of the CA(s) that sign the brokers' certificates; unset trusts the system's CAs
    /// (Debian's ca-certificates, or `SSL_CERT_FILE`), which is right for managed clusters.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Passphrase of an encrypted `key_file`.
    pub key_password: Secret,
    /// Check that each broker's certificate names the host connected to. On by default; turn it
    /// off only for brokers whose certificates name no usable host (and say why in the config).
    pub verify_hostname: bool,
    pub sasl_mechanism: Option<SaslMechanism>,
    /// For PLAIN and SCRAM.
    pub sasl_username: String,
    /// For PLAIN and SCRAM; better from `RAPPORT_KAFKA__SECURITY__SASL_PASSWORD_FILE`.
    pub sasl_password: Secret,
    pub oauthbearer: OauthBearerConfig,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            protocol: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: Secret::default(),
            verify_hostname: true,
            sasl_mechanism: None,
            sasl_username: String::new(),
            sasl_password: Secret::default(),
            oauthbearer: OauthBearerConfig::default(),
        }
    }
}

/// Which typed field sets which librdkafka property, for the conflict check with `kafka.extra`.
const PROPERTIES: &[(&str, &str)] = &[
    ("protocol", "security.protocol"),
    ("ca_file", "ssl.ca.location"),
    ("cert_file", "ssl.certificate.location"),
    ("key_file", "ssl.key.location"),
    ("key_password", "ssl.key.password"),
    ("verify_hostname", "ssl.endpoint.identification.algorithm"),
    ("sasl_mechanism", "sasl.mechanism"),
    ("sasl_mechanism", "sasl.mechanisms"),
    ("sasl_username", "sasl.username"),
    ("sasl_password", "sasl.password"),
    ("oauthbearer", "sasl.oauthbearer.method"),
    ("oauthbearer.client_id", "sasl.oauthbearer.client.id"),
    (
        "oauthbearer.client_secret",
        "sasl.oauthbearer.client.secret",
    ),
    (
        "oauthbearer.token_endpoint_url",
        "sasl.oauthbearer.token.endpoint.url",
    ),
    ("oauthbearer.scope", "sasl.oauthbearer.scope"),
    ("oauthbearer.extensions", "sasl.oauthbearer.extensions"),
    ("oauthbearer.ca_file", "https.ca.location"),
];

impl SecurityConfig {
    /// The librdkafka properties these settings stand for, in the order they are applied.
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let mut properties = Vec::new();
        let Some(protocol) = self.protocol else {
            return properties;
        };
        properties.push(("security.protocol", protocol.as_str().to_owned()));
        if protocol.tls() {
            let path = |p: &Path| p.display().to_string();
            if let Some(ca) = &self.ca_file {
                properties.push(("ssl.ca.location", path(ca)));
            }
            if let Some(cert) = &self.cert_file {
                properties.push(("ssl.certificate.location", path(cert)));
            }
            if let Some(key) = &self.key_file {
                properties.push(("ssl.key.location", path(key)));
            }
            if !self.key_password.expose().is_empty() {
                properties.push(("ssl.key.password", self.key_password.expose().to_owned()));
            }
            let algorithm = if self.verify_hostname {
                "https"
            } else {
                "none"
            };
            properties.push(("ssl.endpoint.identification.algorithm", algorithm.into()));
        }
        let Some(mechanism) = self.sasl_mechanism else {
            return properties;
        };
        properties.push(("sasl.mechanism", mechanism.as_str().to_owned()));
        match mechanism {
            SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                properties.push(("sasl.username", self.sasl_username.clone()));
                properties.push(("sasl.password", self.sasl_password.expose().to_owned()));
            }
            SaslMechanism::OauthBearer => {
                let o = &self.oauthbearer;
                properties.push(("sasl.oauthbearer.method", "oidc".into()));
                properties.push(("sasl.oauthbearer.client.id", o.client_id.clone()));
                properties.push((
                    "sasl.oauthbearer.client.secret",
                    o.client_secret.expose().to_owned(),
                ));
                properties.push((
                    "sasl.oauthbearer.token.endpoint.url",
                    o.token_endpoint_url.clone(),
                ));
                if !o.scope.is_empty() {
                    properties.push(("sasl.oauthbearer.scope", o.scope.clone()));
                }
                if !o.extensions.is_empty() {
                    let extensions: Vec<String> = o
                        .extensions
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    properties.push(("sasl.oauthbearer.extensions", extensions.join(",")));
                }
                if let Some(ca) = &o.ca_file {
                    properties.push(("https.ca.location", ca.display().to_string()));
                }
            }
        }
        properties
    }

    /// Every problem with these settings, each naming its field (`kafka.security.…`); `extra` is
    /// checked for properties a typed field already sets.
    pub fn validate(&self, extra: &BTreeMap<String, String>) -> Vec<String> {
        const S: &str = "kafka.security";
        let mut problems = Vec::new();
        let protocol = self.protocol;
        let tls = protocol.is_some_and(Protocol::tls);
        let sasl = protocol.is_some_and(Protocol::sasl);
        let named_protocol = protocol.map_or("unset (PLAINTEXT)", Protocol::as_str);

        let files = [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ];
        for (field, file) in files {
            if file.is_some() && !tls {
                problems.push(format!(
                    "{S}.{field} is set but {S}.protocol is {named_protocol}: TLS files need SSL or SASL_SSL"
                ));
            }
        }
        if !self.verify_hostname && !tls {
            problems.push(format!(
                "{S}.verify_hostname = false only applies with protocol SSL or SASL_SSL"
            ));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => problems.push(format!(
                "{S}.cert_file needs {S}.key_file (the client certificate's private key)"
            )),
            (None, Some(_)) => problems.push(format!(
                "{S}.key_file needs {S}.cert_file (the client certificate)"
            )),
            _ => {}
        }
        if !self.key_password.expose().is_empty() && self.key_file.is_none() {
            problems.push(format!("{S}.key_password is set but {S}.key_file is not"));
        }
        if let Some(path) = &self.ca_file {
            check_certificates(&mut problems, &format!("{S}.ca_file"), path);
        }
        if let Some(path) = &self.cert_file {
            check_certificates(&mut problems, &format!("{S}.cert_file"), path);
        }
        if let Some(path) = &self.key_file {
            check_private_key(&mut problems, &format!("{S}.key_file"), path);
        }

        let has_credentials =
            !self.sasl_username.is_empty() || !self.sasl_password.expose().is_empty();
        match self.sasl_mechanism {
            None => {
                if sasl
                    && !extra.contains_key("sasl.mechanism")
                    && !extra.contains_key("sasl.mechanisms")
                {
                    problems.push(format!(
                        "{S}.protocol is {named_protocol} but {S}.sasl_mechanism is not set (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
                    ));
                }
                if has_credentials {
                    problems.push(format!(
                        "{S}.sasl_username and {S}.sasl_password need {S}.sasl_mechanism"
                    ));
                }
            }
            Some(mechanism) => {
                if !sasl {
                    problems.push(format!(
                        "{S}.sasl_mechanism is {} but {S}.protocol is {named_protocol}: SASL needs SASL_SSL or SASL_PLAINTEXT",
                        mechanism.as_str()
                    ));
                }
                if mechanism == SaslMechanism::OauthBearer {
                    if has_credentials {
                        problems.push(format!(
                            "{S}.sasl_username and {S}.sasl_password are not used by OAUTHBEARER; set {S}.oauthbearer instead"
                        ));
                    }
                    self.validate_oauthbearer(&mut problems);
                } else {
                    if self.sasl_username.is_empty() {
                        problems.push(format!(
                            "{S}.sasl_username must be set for {}",
                            mechanism.as_str()
                        ));
                    }
                    if self.sasl_password.expose().is_empty() {
                        problems.push(format!(
                            "{S}.sasl_password must be set for {} (or RAPPORT_KAFKA__SECURITY__SASL_PASSWORD_FILE)",
                            mechanism.as_str()
                        ));
                    }
                }
            }
        }
        if self.sasl_mechanism != Some(SaslMechanism::OauthBearer) && !self.oauthbearer.is_empty() {
            problems.push(format!(
                "{S}.oauthbearer is set but {S}.sasl_mechanism is not OAUTHBEARER"
            ));
        }

        let set = self.properties();
        for key in extra.keys() {
            if let Some((field, _)) = PROPERTIES
                .iter()
                .find(|(_, property)| property == key)
                .filter(|(_, property)| {
                    set.iter().any(|(p, _)| p == property)
                        || (*property == "sasl.mechanisms" && self.sasl_mechanism.is_some())
                })
            {
                problems.push(format!(
                    "kafka.extra sets {key:?}, which {S}.{field} already sets: keep only {S}.{field}"
                ));
            }
        }
        problems
    }

    fn validate_oauthbearer(&self, problems: &mut Vec<String>) {
        const O: &str = "kafka.security.oauthbearer";
        let o = &self.oauthbearer;
        if !(o.token_endpoint_url.starts_with("https://")
            || o.token_endpoint_url.starts_with("http://"))
        {
            problems.push(format!(
                "{O}.token_endpoint_url must be the identity provider's https:// token endpoint"
            ));
        }
        if o.client_id.is_empty() {
            problems.push(format!("{O}.client_id must be set for OAUTHBEARER"));
        }
        if o.client_secret.expose().is_empty() {
            problems.push(format!(
                "{O}.client_secret must be set for OAUTHBEARER (or RAPPORT_KAFKA__SECURITY__OAUTHBEARER__CLIENT_SECRET_FILE)"
            ));
        }
        for (key, value) in &o.extensions {
            if key.is_empty() || key.contains([',', '=']) || value.contains([',', '=']) {
                problems.push(format!(
                    "{O}.extensions: {key:?} must be a non-empty name, and neither it nor its value may contain ',' or '='"
                ));
            }
        }
        if let Some(path) = &o.ca_file {
            check_certificates(problems, &format!("{O}.ca_file"), path);
        }
    }
}

fn check_certificates(problems: &mut Vec<String>, field: &str, path: &Path) {
    if let Err(error) = rapport_runtime::tls::read_certificates(path) {
        problems.push(format!("{field}: {error}"));
    }
}

/// Readable and a PEM private key. Encrypted keys (with `key_password`) are OpenSSL's to open, so
/// only the PEM label is checked here.
fn check_private_key(problems: &mut Vec<String>, field: &str, path: &Path) {
    match std::fs::read_to_string(path) {
        Err(error) => problems.push(format!("{field}: cannot read {}: {error}", path.display())),
        Ok(text) if !(text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----")) => {
            problems.push(format!(
                "{field}: {} holds no PEM private key",
                path.display()
            ));
        }
        Ok(_) => {}
    }
}

/// librdkafka properties whose values are credentials: shown as `[redacted]` when a config is
/// printed.
pub(crate) fn is_sensitive(property: &str) -> bool {
    let property = property.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "key.pem",
        "oauthbearer.config",
        "token",
    ]
    .iter()
    .any(|word| property.contains(word))
        && !property.ends_with(".url")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with a CA certificate, a client certificate and its key, all PEM.
    struct Files {
        dir: PathBuf,
    }

    impl Files {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "rapport-kafka-security-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["rapport".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
            std::fs::write(dir.join("client.pem"), cert.pem()).unwrap();
            std::fs::write(dir.join("client.key"), key.serialize_pem()).unwrap();
            Self { dir }
        }

        fn path(&self, name: &str) -> Option<PathBuf> {
            Some(self.dir.join(name))
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn get<'a>(properties: &'a [(&'static str, String)], key: &str) -> Option<&'a str> {
        properties
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn unset_security_sets_nothing() {
        let security = SecurityConfig::default();
        assert!(security.properties().is_empty());
        assert!(security.validate(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn mutual_tls_maps_to_librdkafka_with_hostname_verification() {
        let files = Files::new();
        let security = SecurityConfig {
            protocol: Some(Protocol::Ssl),
            ca_file: files.path("ca.pem"),
            cert_file: files.path("client.pem"),
            key_file: files.path("client.key"),
            ..SecurityConfig::default()
        };
        assert_eq!(security.validate(&BTreeMap::new()), Vec::<String>::new());
        let p = security.properties();
        assert_eq!(get(&p, "security.protocol"), Some("SSL"));
        assert_eq!(
            get(&p, "ssl.ca.location"),
            Some(files.dir.join("ca.pem").to_str().unwrap())
        );
        assert!(get(&p, "ssl.certificate.location").is_some());
        assert!(get(&p, "ssl.key.location").is_some());
        assert_eq!(
            get(&p, "ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        assert_eq!(get(&p, "sasl.mechanism"), None);
    }

    #[test]
    fn scram_over_tls_with_system_roots() {
        let security = SecurityConfig {
            protocol: Some(Protocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            sasl_username: "rapport".into(),
            sasl_password: Secret::new("s3cret"),
            ..SecurityConfig::default()
        };
        assert!(security.validate(&BTreeMap::new()).is_empty());
        let p = security.properties();
        assert_eq!(get(&p, "security.protocol"), Some("SASL_SSL"));
        assert_eq!(get(&p, "ssl.ca.location"), None, "system roots");
        assert_eq!(get(&p, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get(&p, "sasl.username"), Some("rapport"));
        assert_eq!(get(&p, "sasl.password"), Some("s3cret"));
    }

    #[test]
    fn oauthbearer_uses_librdkafkas_oidc_client_credentials() {
        let security = SecurityConfig {
            protocol: Some(Protocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::OauthBearer),
            oauthbearer: OauthBearerConfig {
                token_endpoint_url: "https://idp.example/oauth2/token".into(),
                client_id: "rapport".into(),
                client_secret: Secret::new("cs"),
                scope: "kafka".into(),
                extensions: [
                    ("logicalCluster".to_owned(), "lkc-1".to_owned()),
                    ("identityPoolId".to_owned(), "pool-2".to_owned()),
                ]
                .into(),
                ca_file: None,
            },
            ..SecurityConfig::default()
        };
        assert!(security.validate(&BTreeMap::new()).is_empty());
        let p = security.properties();
        assert_eq!(get(&p, "sasl.oauthbearer.method"), Some("oidc"));
        assert_eq!(get(&p, "sasl.oauthbearer.client.id"), Some("rapport"));
        assert_eq!(get(&p, "sasl.oauthbearer.client.secret"), Some("cs"));
        assert_eq!(
            get(&p, "sasl.oauthbearer.token.endpoint.url"),
            Some("https://idp.example/oauth2/token")
        );
        assert_eq!(get(&p, "sasl.oauthbearer.scope"), Some("kafka"));
        assert_eq!(
            get(&p, "sasl.oauthbearer.extensions"),
            Some("identityPoolId=pool-2,logicalCluster=lkc-1")
        );
        assert_eq!(get(&p, "sasl.username"), None);
    }

    /// The build links librdkafka with OpenSSL and libcurl: without them TLS, SCRAM and OIDC
    /// are refused at run time, and a build that silently lost libcurl (its -dev package
    /// missing) would still compile.
    #[test]
    fn librdkafka_is_built_with_tls_scram_and_oidc() {
        let native = rdkafka::ClientConfig::new()
            .create_native_config()
            .expect("native config");
        let features = native.get("builtin.features").expect("builtin.features");
        for feature in ["ssl", "sasl_scram", "sasl_oauthbearer", "oidc"] {
            assert!(
                features.split(',').any(|f| f == feature),
                "librdkafka lacks {feature}: {features}"
            );
        }
        let oidc = SecurityConfig {
            protocol: Some(Protocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::OauthBearer),
            oauthbearer: OauthBearerConfig {
                token_endpoint_url: "https://idp.example/token".into(),
                client_id: "c".into(),
                client_secret: Secret::new("s"),
                scope: "kafka".into(),
                ..OauthBearerConfig::default()
            },
            ..SecurityConfig::default()
        };
        let mut config = rdkafka::ClientConfig::new();
        for (key, value) in oidc.properties() {
            config.set(key, value);
        }
        config
            .create_native_config()
            .expect("librdkafka accepts every property OAUTHBEARER/OIDC sets");
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let files = Files::new();
        let security = SecurityConfig {
            protocol: Some(Protocol::Plaintext),
            ca_file: files.path("missing.pem"),
            cert_file: files.path("client.key"),
            key_password: Secret::new("x"),
            sasl_mechanism: Some(SaslMechanism::ScramSha256),
            oauthbearer: OauthBearerConfig {
                client_id: "stray".into(),
                ..OauthBearerConfig::default()
            },
            ..SecurityConfig::default()
        };
        let problems = security.validate(&BTreeMap::new());
        let all = problems.join("\n");
        for expected in [
            "kafka.security.ca_file is set but kafka.security.protocol is PLAINTEXT",
            "kafka.security.cert_file is set but kafka.security.protocol is PLAINTEXT",
            "kafka.security.cert_file needs kafka.security.key_file",
            "kafka.security.key_password is set but kafka.security.key_file is not",
            "kafka.security.ca_file: cannot read",
            "kafka.security.cert_file:",
            "kafka.security.sasl_mechanism is SCRAM-SHA-256 but kafka.security.protocol is PLAINTEXT",
            "kafka.security.sasl_username must be set for SCRAM-SHA-256",
            "kafka.security.sasl_password must be set for SCRAM-SHA-256",
            "kafka.security.oauthbearer is set but kafka.security.sasl_mechanism is not OAUTHBEARER",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 10, "{all}");
    }

    #[test]
    fn sasl_without_a_mechanism_and_oauthbearer_without_its_settings_are_named() {
        let security = SecurityConfig {
            protocol: Some(Protocol::SaslSsl),
            ..SecurityConfig::default()
        };
        let problems = security.validate(&BTreeMap::new());
        assert!(
            problems.len() == 1 && problems[0].contains("sasl_mechanism is not set"),
            "{problems:?}"
        );
        let oauth = SecurityConfig {
            protocol: Some(Protocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::OauthBearer),
            sasl_username: "u".into(),
            ..SecurityConfig::default()
        };
        let all = oauth.validate(&BTreeMap::new()).join("\n");
        for expected in [
            "not used by OAUTHBEARER",
            "oauthbearer.token_endpoint_url",
            "oauthbearer.client_id",
            "oauthbearer.client_secret",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn extra_may_not_set_what_a_typed_field_sets() {
        let security = SecurityConfig {
            protocol: Some(Protocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::Plain),
            sasl_username: "u".into(),
            sasl_password: Secret::new("p"),
            ..SecurityConfig::default()
        };
        let extra: BTreeMap<String, String> = [
            ("sasl.password".to_owned(), "other".to_owned()),
            ("sasl.mechanisms".to_owned(), "PLAIN".to_owned()),
            ("socket.keepalive.enable".to_owned(), "true".to_owned()),
        ]
        .into();
        let problems = security.validate(&extra);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("\"sasl.mechanisms\"") && problems[0].contains("sasl_mechanism")
        );
        assert!(problems[1].contains("\"sasl.password\"") && problems[1].contains("sasl_password"));
        // Without the typed protocol, extra is where SASL comes from, as before.
        let legacy: BTreeMap<String, String> = [
            ("security.protocol".to_owned(), "SASL_PLAINTEXT".to_owned()),
            ("sasl.mechanism".to_owned(), "PLAIN".to_owned()),
        ]
        .into();
        assert!(SecurityConfig::default().validate(&legacy).is_empty());
    }

    #[test]
    fn a_misspelt_value_or_key_is_refused_with_its_name() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Wrapper {
            security: SecurityConfig,
        }
        let typo = toml::from_str::<Wrapper>("[security]\nprotocol = \"SASL_SLL\"\n").unwrap_err();
        assert!(typo.to_string().contains("SASL_SLL"), "{typo}");
        let unknown = toml::from_str::<Wrapper>("[security]\nsasl_pasword = \"x\"\n").unwrap_err();
        assert!(unknown.to_string().contains("sasl_pasword"), "{unknown}");
        let lower: Wrapper = toml::from_str(
            "[security]\nprotocol = \"sasl_ssl\"\nsasl_mechanism = \"scram-sha-512\"\n",
        )
        .unwrap();
        assert_eq!(lower.security.protocol, Some(Protocol::SaslSsl));
        assert_eq!(
            lower.security.sasl_mechanism,
            Some(SaslMechanism::ScramSha512)
        );
    }
}
