//! Credentials for providers that sign nothing: HTTP basic auth, a secret URL token
//! (`?token=…`), or a shared-secret header. Any configured credential may match.

use base64::Engine;
use chrono::{DateTime, Utc};
use http::{HeaderName, Method};

use crate::config::EndpointConfig;
use crate::error::VerifyError;
use crate::request::{Request, Verified};
use crate::secret::{Environment, Secret};

/// The query parameter carrying a URL token. The service must keep query strings out of its
/// access logs.
pub const TOKEN_PARAM: &str = "token";

/// The whole verification of a provider that only POSTs its events and signs nothing
/// (Freshdesk, Trustpilot): the method, the body cap and the endpoint's secret.
#[derive(Debug)]
pub struct Posted {
    unsigned: Unsigned,
    body_limit: usize,
}

impl Posted {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        Self {
            unsigned: Unsigned::build(endpoint, env, problems),
            body_limit: endpoint.body_limit_bytes,
        }
    }

    pub fn verify(
        &self,
        request: &Request<'_>,
        _now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        request.require_method(&Method::POST)?;
        request.require_body_within(self.body_limit)?;
        self.unsigned.check(request)?;
        Ok(Verified::event(None))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Unsigned {
    basic: Vec<(Secret, Secret)>,
    url_tokens: Vec<Secret>,
    header: Option<(HeaderName, Vec<Secret>)>,
}

impl Unsigned {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        let at = format!("endpoint {}/{}", endpoint.source.as_str(), endpoint.id);
        let basic = endpoint
            .basic_auth
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match b.password.load(env) {
                Ok(password) => Some((Secret::new(b.username.clone()), password)),
                Err(e) => {
                    problems.push(format!("{at}: basic_auth[{i}].password: {e}"));
                    None
                }
            })
            .collect();
        let url_tokens = super::load_all(&endpoint.url_tokens, env, &at, "url_tokens", problems);
        let header = endpoint.header.as_ref().and_then(|h| {
            let values = super::load_all(&h.values, env, &at, "header.values", problems);
            HeaderName::from_bytes(h.name.as_bytes())
                .ok()
                .map(|name| (name, values))
        });
        Self {
            basic,
            url_tokens,
            header,
        }
    }

    /// Accepts the request when any presented credential matches a configured one.
    pub(crate) fn check(&self, request: &Request<'_>) -> Result<(), VerifyError> {
        let mut presented = false;
        let mut matched = false;
        if !self.basic.is_empty()
            && let Some((user, password)) = basic_credentials(request)?
        {
            presented = true;
            matched |= self
                .basic
                .iter()
                .any(|(u, p)| u.matches(user.as_bytes()) & p.matches(password.as_bytes()));
        }
        if !self.url_tokens.is_empty()
            && let Some(token) = request.query_param(TOKEN_PARAM)
        {
            presented = true;
            matched |= self.url_tokens.iter().any(|t| t.matches(token.as_bytes()));
        }
        if let Some((name, values)) = &self.header
            && let Some(value) = request.headers.get(name)
        {
            presented = true;
            matched |= values.iter().any(|v| v.matches(value.as_bytes()));
        }
        match (presented, matched) {
            (_, true) => Ok(()),
            (true, false) => Err(VerifyError::BadCredentials),
            (false, false) => Err(VerifyError::MissingCredentials(
                "basic auth, url token or header",
            )),
        }
    }
}

/// `Authorization: Basic base64(user:password)`, if present.
fn basic_credentials(request: &Request<'_>) -> Result<Option<(String, String)>, VerifyError> {
    let Some(value) = request.header("authorization")? else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| VerifyError::malformed("basic credentials are not base64"))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| VerifyError::malformed("basic credentials are not UTF-8"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| VerifyError::malformed("basic credentials have no colon"))?;
    Ok(Some((user.to_string(), password.to_string())))
}
