//! One verifier per provider, each in its own module of the same shape: a module comment with
//! the scheme and where each fact comes from, a `Verifier` built from an [`EndpointConfig`],
//! `verify(request, now)`, and the tests.
//!
//! [`Verifier`] dispatches to them; [`Endpoints`] holds one per configured endpoint.

pub mod chatwoot;
pub mod freshdesk;
pub mod generic;
pub mod google;
pub mod intercom;
pub(crate) mod mac;
pub mod mailgun;
pub mod sendgrid;
pub mod ses;
pub mod trustpilot;
pub(crate) mod unsigned;
pub mod yelp;
pub mod zendesk;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{EndpointConfig, GatewayConfig, Source};
use crate::error::{ConfigError, VerifyError};
use crate::keys::{GoogleKeys, SnsCertificates};
use crate::request::{Request, Verified};
use crate::secret::{Environment, Secret, SecretSource};

pub use unsigned::TOKEN_PARAM;

/// The key stores shared by every endpoint: SNS signing certificates and Google's JWT keys,
/// each fetched once and cached by URL.
#[derive(Debug, Clone)]
pub struct KeyStores {
    pub sns: Arc<SnsCertificates>,
    pub google: Arc<GoogleKeys>,
}

/// The verifier of one endpoint.
#[derive(Debug)]
pub enum Verifier {
    Generic(generic::Verifier),
    Sendgrid(sendgrid::Verifier),
    Mailgun(mailgun::Verifier),
    Ses(ses::Verifier),
    Intercom(intercom::Verifier),
    Chatwoot(chatwoot::Verifier),
    Zendesk(zendesk::Verifier),
    Freshdesk(freshdesk::Verifier),
    Trustpilot(trustpilot::Verifier),
    Yelp(yelp::Verifier),
    Google(google::Verifier),
}

impl Verifier {
    /// Builds the endpoint's verifier, loading its secrets; reports every problem at once.
    pub fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        keys: &KeyStores,
    ) -> Result<Verifier, ConfigError> {
        let mut problems = endpoint.validate();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let verifier = match endpoint.source {
            Source::Generic => {
                Verifier::Generic(generic::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Sendgrid | Source::SendgridEvents => {
                Verifier::Sendgrid(sendgrid::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Mailgun => {
                Verifier::Mailgun(mailgun::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Ses => Verifier::Ses(ses::Verifier::build(
                endpoint,
                keys.sns.clone(),
                &mut problems,
            )),
            Source::Intercom => {
                Verifier::Intercom(intercom::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Chatwoot => {
                Verifier::Chatwoot(chatwoot::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Zendesk => {
                Verifier::Zendesk(zendesk::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Freshdesk => {
                Verifier::Freshdesk(freshdesk::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Trustpilot => {
                Verifier::Trustpilot(trustpilot::Verifier::build(endpoint, env, &mut problems))
            }
            Source::Yelp => Verifier::Yelp(yelp::Verifier::build(endpoint, env, &mut problems)),
            Source::Google => Verifier::Google(google::Verifier::build(
                endpoint,
                keys.google.clone(),
                &mut problems,
            )),
        };
        if problems.is_empty() {
            Ok(verifier)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Verifies one request as its provider sends it. `now` is the receive time; the only
    /// I/O is a cache miss for an SNS certificate or Google's keys.
    pub async fn verify(
        &self,
        request: &Request<'_>,
        now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        match self {
            Verifier::Generic(v) => v.verify(request, now),
            Verifier::Sendgrid(v) => v.verify(request, now),
            Verifier::Mailgun(v) => v.verify(request, now),
            Verifier::Ses(v) => v.verify(request, now).await,
            Verifier::Intercom(v) => v.verify(request, now),
            Verifier::Chatwoot(v) => v.verify(request, now),
            Verifier::Zendesk(v) => v.verify(request, now),
            Verifier::Freshdesk(v) => v.verify(request, now),
            Verifier::Trustpilot(v) => v.verify(request, now),
            Verifier::Yelp(v) => v.verify(request, now),
            Verifier::Google(v) => v.verify(request, now).await,
        }
    }
}

/// One configured endpoint, ready to serve.
#[derive(Debug)]
pub struct Endpoint {
    pub id: String,
    pub tenant: String,
    pub source: Source,
    pub body_limit_bytes: usize,
    pub verifier: Verifier,
}

/// Every configured endpoint, by source and id (the two URL segments).
#[derive(Debug, Default)]
pub struct Endpoints {
    by_url: HashMap<(Source, String), Endpoint>,
}

impl Endpoints {
    /// Builds every endpoint; reports every problem of every endpoint at once.
    pub fn build(
        config: &GatewayConfig,
        env: &dyn Environment,
        keys: &KeyStores,
    ) -> Result<Endpoints, ConfigError> {
        let mut problems = config.validate();
        let mut by_url = HashMap::new();
        if problems.is_empty() {
            for endpoint in &config.endpoints {
                match Verifier::build(endpoint, env, keys) {
                    Ok(verifier) => {
                        by_url.insert(
                            (endpoint.source, endpoint.id.clone()),
                            Endpoint {
                                id: endpoint.id.clone(),
                                tenant: endpoint.tenant.clone(),
                                source: endpoint.source,
                                body_limit_bytes: endpoint.body_limit_bytes,
                                verifier,
                            },
                        );
                    }
                    Err(ConfigError::Invalid(p)) => problems.extend(p),
                }
            }
        }
        if problems.is_empty() {
            Ok(Endpoints { by_url })
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The endpoint at `/hooks/{source}/{id}`.
    pub fn get(&self, source: &str, id: &str) -> Option<&Endpoint> {
        let source = Source::from_name(source)?;
        self.by_url.get(&(source, id.to_string()))
    }

    pub fn len(&self) -> usize {
        self.by_url.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_url.is_empty()
    }
}

/// Loads every secret of a list, recording a problem (never a value) for each that fails.
pub(crate) fn load_all(
    sources: &[SecretSource],
    env: &dyn Environment,
    at: &str,
    field: &str,
    problems: &mut Vec<String>,
) -> Vec<Secret> {
    sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.load(env) {
            Ok(secret) => Some(secret),
            Err(e) => {
                problems.push(format!("{at}: {field}[{i}]: {e}"));
                None
            }
        })
        .collect()
}

/// The endpoint's tolerance in seconds.
pub(crate) fn tolerance(endpoint: &EndpointConfig) -> i64 {
    i64::from(
        endpoint
            .tolerance_seconds
            .unwrap_or_else(|| endpoint.source.default_tolerance_seconds()),
    )
}

#[cfg(test)]
pub(crate) mod testing {
    //! Requests and endpoints for the providers' tests.

    use std::collections::HashMap;

    use chrono::{DateTime, Utc};
    use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

    use crate::config::{EndpointConfig, Source};
    use crate::request::Request;
    use crate::secret::SecretSource;

    /// A request that owns its parts.
    #[derive(Debug, Clone)]
    pub struct Owned {
        pub method: Method,
        pub uri: Uri,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
    }

    impl Owned {
        pub fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
            Self::new(Method::POST, path, headers, body)
        }

        pub fn new(
            method: Method,
            path: &str,
            headers: &[(&str, &str)],
            body: impl Into<Vec<u8>>,
        ) -> Self {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            Self {
                method,
                uri: path.parse().unwrap(),
                headers: map,
                body: body.into(),
            }
        }

        pub fn without(mut self, header: &str) -> Self {
            self.headers.remove(header);
            self
        }

        pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
            self.body = body.into();
            self
        }

        pub fn request(&self) -> Request<'_> {
            Request {
                method: &self.method,
                uri: &self.uri,
                headers: &self.headers,
                body: &self.body,
            }
        }
    }

    /// An endpoint of `source` with every credential list empty.
    pub fn endpoint(source: Source) -> EndpointConfig {
        EndpointConfig {
            id: "test".into(),
            tenant: "acme".into(),
            source,
            body_limit_bytes: crate::config::DEFAULT_BODY_LIMIT,
            tolerance_seconds: None,
            secrets: vec![],
            public_keys: vec![],
            basic_auth: vec![],
            url_tokens: vec![],
            header: None,
            sns: None,
            google: None,
        }
    }

    pub fn values(values: &[&str]) -> Vec<SecretSource> {
        values
            .iter()
            .map(|v| SecretSource::Value(v.to_string()))
            .collect()
    }

    pub fn no_env() -> HashMap<String, String> {
        HashMap::new()
    }

    pub fn at(unix_seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix_seconds, 0).unwrap()
    }
}
