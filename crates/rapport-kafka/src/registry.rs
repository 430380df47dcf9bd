//! A Confluent-compatible Schema Registry client for the two calls Rapport makes: register the
//! interaction schema (producers) and fetch a writer schema by id (consumers), over `http://` or
//! `https://` (rustls; system CAs or `registry.ca_file`), with Basic (API key and secret) or
//! bearer-token authentication.
//!
//! Hand-written rather than `schema_registry_converter`: that crate pins its own apache-avro and
//! TLS stack, and these two REST calls are all we need.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rapport_runtime::Secret;
use serde::Deserialize;
use serde_json::json;

/// At most this much of a registry's answer goes into an error message.
const BODY_PREFIX: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry at {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("schema registry refused {what}: HTTP {status}: {body}")]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
    /// The registry does not accept our credentials (HTTP 401 or 403).
    #[error(
        "schema registry at {url} refused our credentials (HTTP {status}): check registry.username and registry.password, or registry.bearer_token"
    )]
    Unauthorized { url: String, status: u16 },
    /// The TLS handshake failed for a reason only configuration can fix.
    #[error("schema registry at {url}: {reason} (registry.ca_file, registry.url)")]
    Tls { url: String, reason: String },
    #[error("schema registry client: {0}")]
    Setup(String),
}

impl RegistryError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => *status >= 500,
            Self::Unauthorized { .. } | Self::Tls { .. } | Self::Setup(_) => false,
        }
    }

    /// A problem with the registry's configuration, not with the schema asked for: no record can
    /// be decoded until an operator fixes it.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. } | Self::Tls { .. } | Self::Setup(_)
        )
    }
}

#[derive(Debug)]
pub struct SchemaRegistry {
    base: String,
    http: reqwest::Client,
    auth: Auth,
    by_id: Mutex<HashMap<u32, String>>,
}

#[derive(Debug)]
enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl SchemaRegistry {
    /// A client for `config.url` with its credentials and trust. An error when TLS cannot be set
    /// up (the CA file does not load).
    pub fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5));
        if config.url.starts_with("https://") {
            let tls = rapport_runtime::tls::client_config(config.ca_file.as_deref())
                .map_err(|e| RegistryError::Setup(format!("registry.ca_file: {e}")))?;
            builder = builder.use_preconfigured_tls((*tls).clone());
        }
        let http = builder
            .build()
            .map_err(|e| RegistryError::Setup(e.to_string()))?;
        let auth = if !config.bearer_token.expose().is_empty() {
            Auth::Bearer(config.bearer_token.clone())
        } else if !config.username.is_empty() {
            Auth::Basic {
                username: config.username.clone(),
                password: config.password.clone(),
            }
        } else {
            Auth::None
        };
        Ok(Self {
            base: config.url.trim_end_matches('/').to_owned(),
            http,
            auth,
            by_id: Mutex::default(),
        })
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => request,
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
        }
    }

    /// Registers `schema` under `subject` (idempotent: the registry returns the existing id for a
    /// schema it already has) and returns its id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let url = format!("{}/subjects/{subject}/versions", self.base);
        let body = json!({ "schemaType": "AVRO", "schema": schema });
        let request = self
            .authorized(self.http.post(&url))
            .header("content-type", CONTENT_TYPE)
            .json(&body);
        let registered: Registered =
            Self::call(request, &url, format!("schema for subject {subject}")).await?;
        self.by_id
            .lock()
            .expect("registry cache lock")
            .insert(registered.id, schema.to_owned());
        Ok(registered.id)
    }

    /// The schema text registered under `id`, cached after the first fetch (ids are immutable).
    pub async fn schema(&self, id: u32) -> Result<String, RegistryError> {
        #[derive(Deserialize)]
        struct Schema {
            schema: String,
        }
        if let Some(schema) = self.by_id.lock().expect("registry cache lock").get(&id) {
            return Ok(schema.clone());
        }
        let url = format!("{}/schemas/ids/{id}", self.base);
        let request = self.authorized(self.http.get(&url));
        let found: Schema = Self::call(request, &url, format!("schema id {id}")).await?;
        self.by_id
            .lock()
            .expect("registry cache lock")
            .insert(id, found.schema.clone());
        Ok(found.schema)
    }

    /// Sends one request and reads its JSON answer, mapping transport and HTTP failures.
    async fn call<T: serde::de::DeserializeOwned>(
        request: reqwest::RequestBuilder,
        url: &str,
        what: String,
    ) -> Result<T, RegistryError> {
        let response =
            request
                .send()
                .await
                .map_err(|e| match rapport_runtime::tls::describe_failure(&e) {
                    Some(reason) => RegistryError::Tls {
                        url: url.to_owned(),
                        reason,
                    },
                    None => RegistryError::Unreachable {
                        url: url.to_owned(),
                        reason: error_chain(&e),
                    },
                })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(RegistryError::Refused {
                what,
                status: status.as_u16(),
                body: prefix(&body),
            });
        }
        serde_json::from_str(&body).map_err(|e| RegistryError::Refused {
            what,
            status: status.as_u16(),
            body: format!("{e}: {}", prefix(&body)),
        })
    }
}

/// An error and its causes on one line: reqwest's own message alone ("error sending request")
/// does not say what failed.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

fn prefix(body: &str) -> String {
    match body.char_indices().nth(BODY_PREFIX) {
        Some((end, _)) => format!("{}…", &body[..end]),
        None => body.to_owned(),
    }
}

/// Where the Schema Registry is (`[registry]` in the services' configs), and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Confluent-compatible Schema Registry base URL (`http://registry:8081`,
    /// `https://psrc-….confluent.cloud`). Empty: values use Avro single-object encoding and no
    /// registry is needed.
    pub url: String,
    /// Subject to register the interaction schema under; defaults to `<interactions topic>-value`.
    pub subject: Option<String>,
    /// Basic authentication: the API key (Confluent Cloud) or user (Aiven, Karapace).
    pub username: String,
    /// Basic authentication: the API secret or password; better from
    /// `RAPPORT_REGISTRY__PASSWORD_FILE`.
    pub password: Secret,
    /// Bearer authentication instead of Basic (an OAuth access token the registry accepts).
    pub bearer_token: Secret,
    /// PEM file of the CA that signs the registry's certificate; unset trusts the system's CAs.
    pub ca_file: Option<PathBuf>,
}

impl RegistryConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let https = self.url.starts_with("https://");
        if !self.url.is_empty() && !https && !self.url.starts_with("http://") {
            problems.push("registry.url must be an http:// or https:// URL".into());
        }
        if self.url.split_once("://").is_some_and(|(_, rest)| {
            rest.split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .contains('@')
        }) {
            problems.push(
                "registry.url must not carry credentials: set registry.username and registry.password"
                    .into(),
            );
        }
        let basic = !self.username.is_empty() || !self.password.expose().is_empty();
        let bearer = !self.bearer_token.expose().is_empty();
        if basic && bearer {
            problems.push(
                "registry.username/registry.password and registry.bearer_token are exclusive: set one"
                    .into(),
            );
        }
        if !self.password.expose().is_empty() && self.username.is_empty() {
            problems.push("registry.password needs registry.username".into());
        }
        if !self.username.is_empty() && self.password.expose().is_empty() {
            problems.push(
                "registry.username needs registry.password (or RAPPORT_REGISTRY__PASSWORD_FILE)"
                    .into(),
            );
        }
        if self.url.is_empty() && (basic || bearer || self.ca_file.is_some()) {
            problems.push("registry credentials or ca_file are set but registry.url is not".into());
        }
        if let Some(path) = &self.ca_file {
            if !https {
                problems.push("registry.ca_file is set but registry.url is not https://".into());
            }
            if let Err(error) = rapport_runtime::tls::check_trust(Some(path)) {
                problems.push(format!("registry.ca_file: {error}"));
            }
        } else if https && let Err(error) = rapport_runtime::tls::check_trust(None) {
            problems.push(format!("registry.url is https://: {error}"));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_problem_is_named() {
        let config = RegistryConfig {
            url: "ftp://key:secret@registry".into(),
            username: "key".into(),
            bearer_token: Secret::new("t"),
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..RegistryConfig::default()
        };
        let all = config.validate().join("\n");
        for expected in [
            "http:// or https://",
            "must not carry credentials",
            "are exclusive",
            "registry.username needs registry.password",
            "registry.ca_file is set but registry.url is not https://",
            "registry.ca_file: cannot read /nonexistent/ca.pem",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert!(!all.contains("secret"), "{all}");
        assert!(RegistryConfig::default().validate().is_empty());
    }

    #[test]
    fn long_answers_are_cut_in_error_messages() {
        let long = "x".repeat(10_000);
        assert_eq!(prefix(&long).chars().count(), BODY_PREFIX + 1);
        assert_eq!(prefix("short"), "short");
    }
}
