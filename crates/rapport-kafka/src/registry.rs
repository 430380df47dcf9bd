//! A Confluent-compatible Schema Registry client for the two calls Rapport makes: register the
//! interaction schema (producers) and fetch a writer schema by id (consumers).
//!
//! Hand-written rather than `schema_registry_converter`: that crate pins its own apache-avro and
//! TLS stack, and these two REST calls are all we need.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

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
}

impl RegistryError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => *status >= 500,
        }
    }
}

#[derive(Debug)]
pub struct SchemaRegistry {
    base: String,
    http: reqwest::Client,
    by_id: Mutex<HashMap<u32, String>>,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl SchemaRegistry {
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("static client config");
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            by_id: Mutex::default(),
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
            .http
            .post(&url)
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
        let found: Schema =
            Self::call(self.http.get(&url), &url, format!("schema id {id}")).await?;
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
        let response = request
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(RegistryError::Refused {
                what,
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_str(&body).map_err(|e| RegistryError::Refused {
            what,
            status: status.as_u16(),
            body: format!("{e}: {body}"),
        })
    }
}

/// Where the Schema Registry is (`[registry]` in the services' configs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Confluent-compatible Schema Registry base URL (`http://registry:8081`). Empty: values use
    /// Avro single-object encoding and no registry is needed.
    pub url: String,
    /// Subject to register the interaction schema under; defaults to `<interactions topic>-value`.
    pub subject: Option<String>,
}

impl RegistryConfig {
    pub fn validate(&self) -> Vec<String> {
        if !self.url.is_empty() && !self.url.starts_with("http://") {
            return vec![
                "registry.url must be an http:// URL (put a TLS proxy in front of an https registry)"
                    .into(),
            ];
        }
        Vec::new()
    }
}
