//! The gateway's endpoints: which tenant and source each URL belongs to, and the credentials its
//! provider signs or authenticates with.
//!
//! ```toml
//! [[endpoints]]
//! id = "acme-zendesk"                 # POST /hooks/zendesk/acme-zendesk
//! tenant = "acme"
//! source = "zendesk"
//! secrets = [{ env = "ACME_ZENDESK_SECRET" }, { file = "/run/secrets/acme-zendesk-old" }]
//! ```
//!
//! Which fields each source takes is in [`Source::accepts`]; `docs/GATEWAY.md` has an example
//! for every source.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::SecretSource;

/// Every endpoint the gateway serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub endpoints: Vec<EndpointConfig>,
}

/// One URL a provider posts to: `POST /hooks/{source}/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The URL segment naming this endpoint: 1–64 of `[A-Za-z0-9_-]`. Not a secret: it shows
    /// in logs and metrics.
    pub id: String,
    /// The tenant every accepted payload is written for (`rapport-tenant`).
    pub tenant: String,
    pub source: Source,
    /// The largest body accepted (default 25 MiB, the adapters' payload limit).
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// How far a signed timestamp may be from now, in seconds (default per source: 300, and
    /// 3900 for `ses`, whose SNS retries keep the publish time for up to an hour).
    #[serde(default)]
    pub tolerance_seconds: Option<u32>,
    /// HMAC keys (`generic`, `mailgun`, `intercom`, `chatwoot`, `zendesk`). Any one may match,
    /// so a rotation adds the new key before the provider switches and removes the old after.
    #[serde(default)]
    pub secrets: Vec<SecretSource>,
    /// ECDSA verification keys as SendGrid shows them (base64 DER, or PEM) for `sendgrid` with
    /// a signing security policy and for `sendgrid_events`.
    #[serde(default)]
    pub public_keys: Vec<SecretSource>,
    /// HTTP basic credentials, for providers that sign nothing.
    #[serde(default)]
    pub basic_auth: Vec<BasicAuth>,
    /// Secret URL tokens, sent as `?token=…`, for providers that sign nothing.
    #[serde(default)]
    pub url_tokens: Vec<SecretSource>,
    /// A custom header carrying a shared secret (Freshdesk automations can add one).
    #[serde(default)]
    pub header: Option<HeaderAuth>,
    /// Amazon SNS settings (`ses`).
    #[serde(default)]
    pub sns: Option<SnsConfig>,
    /// Google Cloud Pub/Sub push settings (`google`).
    #[serde(default)]
    pub google: Option<GoogleConfig>,
}

/// 25 MiB, the adapters' payload limit.
pub const DEFAULT_BODY_LIMIT: usize = 25 * 1024 * 1024;

fn default_body_limit() -> usize {
    DEFAULT_BODY_LIMIT
}

/// One accepted user name and password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: SecretSource,
}

/// A header whose value must equal one of `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderAuth {
    pub name: String,
    pub values: Vec<SecretSource>,
}

/// Amazon SNS (SES receipt notifications).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    /// The topics this endpoint accepts; a signed message from any other topic is refused.
    pub topic_arns: Vec<String>,
    /// Signing certificates given ahead of time, by the `SigningCertURL` they stand for.
    /// Used before (or, with `fetch_certificates = false`, instead of) a fetch.
    #[serde(default)]
    pub certificates: Vec<PinnedCertificate>,
    /// Whether an unknown `SigningCertURL` may be fetched (https, allowed hosts only).
    #[serde(default = "default_true")]
    pub fetch_certificates: bool,
}

fn default_true() -> bool {
    true
}

/// A certificate file standing for one `SigningCertURL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedCertificate {
    pub url: String,
    pub file: PathBuf,
}

/// Google Cloud Pub/Sub push with authentication (Business Profile notifications).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    /// Accepted `aud` claims: the audience set on the push subscription.
    pub audiences: Vec<String>,
    /// Accepted `email` claims: the service account the subscription pushes as.
    pub service_accounts: Vec<String>,
    /// A JWKS file used instead of fetching Google's keys (air-gapped or tests).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The OAuth 2.0 access token (scope `https://www.googleapis.com/auth/business.manage`) the
    /// service fetches each notified review with: a notification names the review, it does not
    /// carry it. A `file` is read again whenever it changes, so a token refresher beside the
    /// gateway can rotate it; `env` and `value` are read once.
    #[serde(default)]
    pub api_token: Option<SecretSource>,
}

/// The sources the gateway receives, by the name used in its URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Rapport's own signed JSON (`docs/GENERIC.md`).
    Generic,
    /// SendGrid Inbound Parse.
    Sendgrid,
    /// SendGrid's signed Event Webhook (delivery events, not messages).
    SendgridEvents,
    Mailgun,
    /// Amazon SES receipt notifications through SNS.
    Ses,
    Intercom,
    Chatwoot,
    Zendesk,
    Freshdesk,
    Trustpilot,
    Yelp,
    /// Google Business Profile notifications through Pub/Sub push.
    Google,
}

/// Which credential fields a source takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub secrets: bool,
    pub public_keys: bool,
    /// basic_auth and url_tokens.
    pub unsigned: bool,
    pub header: bool,
    pub sns: bool,
    pub google: bool,
}

impl Source {
    pub const ALL: [Source; 12] = [
        Source::Generic,
        Source::Sendgrid,
        Source::SendgridEvents,
        Source::Mailgun,
        Source::Ses,
        Source::Intercom,
        Source::Chatwoot,
        Source::Zendesk,
        Source::Freshdesk,
        Source::Trustpilot,
        Source::Yelp,
        Source::Google,
    ];

    /// The name in URLs, config and the `rapport-source` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Generic => "generic",
            Source::Sendgrid => "sendgrid",
            Source::SendgridEvents => "sendgrid_events",
            Source::Mailgun => "mailgun",
            Source::Ses => "ses",
            Source::Intercom => "intercom",
            Source::Chatwoot => "chatwoot",
            Source::Zendesk => "zendesk",
            Source::Freshdesk => "freshdesk",
            Source::Trustpilot => "trustpilot",
            Source::Yelp => "yelp",
            Source::Google => "google",
        }
    }

    /// The source named `name` in a URL.
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The credential fields this source takes; anything else in its endpoint is an error.
    pub fn accepts(self) -> Accepts {
        let none = Accepts {
            secrets: false,
            public_keys: false,
            unsigned: false,
            header: false,
            sns: false,
            google: false,
        };
        match self {
            Source::Generic | Source::Mailgun | Source::Intercom | Source::Zendesk => Accepts {
                secrets: true,
                ..none
            },
            // Chatwoot signs since 4.x; older releases sign nothing, so a URL token is the
            // only option there.
            Source::Chatwoot => Accepts {
                secrets: true,
                unsigned: true,
                ..none
            },
            Source::Sendgrid => Accepts {
                public_keys: true,
                unsigned: true,
                ..none
            },
            Source::SendgridEvents => Accepts {
                public_keys: true,
                ..none
            },
            Source::Freshdesk => Accepts {
                unsigned: true,
                header: true,
                ..none
            },
            Source::Trustpilot | Source::Yelp => Accepts {
                unsigned: true,
                ..none
            },
            Source::Ses => Accepts { sns: true, ..none },
            Source::Google => Accepts {
                google: true,
                ..none
            },
        }
    }

    /// The default timestamp tolerance in seconds.
    pub fn default_tolerance_seconds(self) -> u32 {
        match self {
            // SNS signs the publish time and keeps it on retries, which a custom delivery
            // policy may spread over up to 3600 s; 300 s more covers clock skew.
            Source::Ses => 3900,
            _ => 300,
        }
    }
}

/// The most keys or credentials of one kind per endpoint: each one is tried, so this bounds
/// the work per request.
pub const MAX_KEYS: usize = 8;

impl GatewayConfig {
    /// Every problem with the endpoints, each naming its endpoint and field.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for endpoint in &self.endpoints {
            if !seen.insert((endpoint.source, endpoint.id.as_str())) {
                problems.push(format!(
                    "endpoints: {}/{} is defined twice",
                    endpoint.source.as_str(),
                    endpoint.id
                ));
            }
            problems.extend(endpoint.validate());
        }
        problems
    }
}

impl EndpointConfig {
    /// Every problem with this endpoint's shape (what [`crate::Verifier::build`] also checks
    /// before loading secrets).
    pub fn validate(&self) -> Vec<String> {
        let at = format!("endpoint {}/{}", self.source.as_str(), self.id);
        let mut problems = Vec::new();
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            problems.push(format!("{at}: id must be 1-64 of A-Z a-z 0-9 - _"));
        }
        if self.tenant.trim().is_empty() {
            problems.push(format!("{at}: tenant must not be empty"));
        }
        if self.body_limit_bytes == 0 {
            problems.push(format!("{at}: body_limit_bytes must be at least 1"));
        }
        let accepts = self.source.accepts();
        let mut refuse = |present: bool, allowed: bool, field: &str| {
            if present && !allowed {
                problems.push(format!(
                    "{at}: source {} does not take `{field}`",
                    self.source.as_str()
                ));
            }
        };
        refuse(!self.secrets.is_empty(), accepts.secrets, "secrets");
        refuse(
            !self.public_keys.is_empty(),
            accepts.public_keys,
            "public_keys",
        );
        refuse(!self.basic_auth.is_empty(), accepts.unsigned, "basic_auth");
        refuse(!self.url_tokens.is_empty(), accepts.unsigned, "url_tokens");
        refuse(self.header.is_some(), accepts.header, "header");
        refuse(self.sns.is_some(), accepts.sns, "sns");
        refuse(self.google.is_some(), accepts.google, "google");

        for (field, count) in [
            ("secrets", self.secrets.len()),
            ("public_keys", self.public_keys.len()),
            ("basic_auth", self.basic_auth.len()),
            ("url_tokens", self.url_tokens.len()),
            (
                "header.values",
                self.header.as_ref().map_or(0, |h| h.values.len()),
            ),
        ] {
            if count > MAX_KEYS {
                problems.push(format!("{at}: at most {MAX_KEYS} {field}, got {count}"));
            }
        }

        let unsigned = !self.basic_auth.is_empty()
            || !self.url_tokens.is_empty()
            || self.header.as_ref().is_some_and(|h| !h.values.is_empty());
        let has_credentials = match self.source {
            Source::Generic | Source::Mailgun | Source::Intercom | Source::Zendesk => {
                !self.secrets.is_empty()
            }
            Source::Chatwoot => !self.secrets.is_empty() || unsigned,
            Source::Sendgrid => !self.public_keys.is_empty() || unsigned,
            Source::SendgridEvents => !self.public_keys.is_empty(),
            Source::Freshdesk | Source::Trustpilot | Source::Yelp => unsigned,
            Source::Ses => self.sns.as_ref().is_some_and(|s| !s.topic_arns.is_empty()),
            Source::Google => self
                .google
                .as_ref()
                .is_some_and(|g| !g.audiences.is_empty() && !g.service_accounts.is_empty()),
        };
        if !has_credentials {
            problems.push(format!(
                "{at}: no credentials; source {} needs {}",
                self.source.as_str(),
                needs(self.source)
            ));
        }
        if self.source == Source::Google
            && self.google.as_ref().is_some_and(|g| g.api_token.is_none())
        {
            problems.push(format!(
                "{at}: google.api_token is needed: a notification names the review, and the gateway fetches it with the Business Profile API"
            ));
        }
        if self.source == Source::Chatwoot && !self.secrets.is_empty() && unsigned {
            problems.push(format!(
                "{at}: give chatwoot either secrets (signed, 4.x) or url_tokens (older releases), not both"
            ));
        }
        if self.source == Source::Sendgrid && !self.public_keys.is_empty() && unsigned {
            problems.push(format!(
                "{at}: give sendgrid either public_keys (signed) or basic_auth/url_tokens, not both"
            ));
        }
        if let Some(header) = &self.header
            && http::HeaderName::from_bytes(header.name.as_bytes()).is_err()
        {
            problems.push(format!("{at}: header.name is not a valid header name"));
        }
        problems
    }
}

fn needs(source: Source) -> &'static str {
    match source {
        Source::Generic | Source::Mailgun | Source::Intercom | Source::Zendesk => "`secrets`",
        Source::Chatwoot => "`secrets` (or `url_tokens` for releases that do not sign)",
        Source::Sendgrid => "`public_keys`, `basic_auth` or `url_tokens`",
        Source::SendgridEvents => "`public_keys`",
        Source::Freshdesk => "`basic_auth`, `url_tokens` or `header`",
        Source::Trustpilot | Source::Yelp => "`basic_auth` or `url_tokens`",
        Source::Ses => "`sns.topic_arns`",
        Source::Google => "`google.audiences` and `google.service_accounts`",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::keys::{GoogleKeys, SnsCertificates};
    use crate::verify::{Endpoints, KeyStores};

    const EXAMPLE: &str = include_str!("../gateway.example.toml");

    fn env() -> HashMap<String, String> {
        [
            "ACME_GENERIC_SECRET",
            "ACME_PARSE_TOKEN",
            "ACME_MAILGUN_SIGNING_KEY",
            "ACME_INTERCOM_CLIENT_SECRET",
            "ACME_CHATWOOT_SECRET",
            "ACME_ZENDESK_SECRET",
            "ACME_ZENDESK_SECRET_NEXT",
            "ACME_FRESHDESK_PASSWORD",
            "ACME_TRUSTPILOT_TOKEN",
            "ACME_YELP_TOKEN",
            "ACME_GOOGLE_API_TOKEN",
        ]
        .into_iter()
        .map(|k| (k.to_string(), format!("secret-of-{k}")))
        .collect()
    }

    fn keys() -> KeyStores {
        KeyStores {
            sns: Arc::new(SnsCertificates::new(None)),
            google: Arc::new(GoogleKeys::new(None)),
        }
    }

    #[test]
    fn the_example_config_covers_every_source_and_builds() {
        let config: GatewayConfig = toml::from_str(EXAMPLE).unwrap();
        let sources: std::collections::HashSet<_> =
            config.endpoints.iter().map(|e| e.source).collect();
        assert_eq!(sources.len(), Source::ALL.len(), "one endpoint per source");
        let endpoints = Endpoints::build(&config, &env(), &keys()).unwrap();
        assert_eq!(endpoints.len(), config.endpoints.len());
        let zendesk = endpoints.get("zendesk", "acme-zendesk").unwrap();
        assert_eq!(zendesk.tenant, "acme");
        assert!(endpoints.get("zendesk", "acme-intercom").is_none());
        assert!(endpoints.get("nope", "acme-zendesk").is_none());
    }

    #[test]
    fn no_secret_value_reaches_debug_output() {
        let config: GatewayConfig = toml::from_str(EXAMPLE).unwrap();
        let endpoints = Endpoints::build(&config, &env(), &keys()).unwrap();
        let printed = format!("{config:?} {endpoints:?}");
        assert!(!printed.contains("secret-of-"), "{printed}");
        // Env names are fine to print; they say where to look, not what is there.
        assert!(printed.contains("ACME_ZENDESK_SECRET"));
    }

    #[test]
    fn unknown_fields_are_errors() {
        let toml = "[[endpoints]]\nid = \"a\"\ntenant = \"t\"\nsource = \"zendesk\"\nsecret = [{ value = \"x\" }]\n";
        let err = toml::from_str::<GatewayConfig>(toml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret"), "{err}");
        let toml = "[[endpoints]]\nid = \"a\"\ntenant = \"t\"\nsource = \"zendsk\"\n";
        assert!(toml::from_str::<GatewayConfig>(toml).is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once_without_values() {
        let toml = r#"
            [[endpoints]]
            id = "a b"
            tenant = ""
            source = "zendesk"
            url_tokens = [{ value = "leaked?" }]

            [[endpoints]]
            id = "dup"
            tenant = "t"
            source = "intercom"
            secrets = [{ env = "UNSET_VARIABLE" }]

            [[endpoints]]
            id = "dup"
            tenant = "t"
            source = "intercom"
            secrets = [{ value = "x" }]

            [[endpoints]]
            id = "g"
            tenant = "t"
            source = "google"
            google = { audiences = [], service_accounts = [] }

            [[endpoints]]
            id = "g2"
            tenant = "t"
            source = "google"
            google = { audiences = ["a"], service_accounts = ["s"] }
        "#;
        let config: GatewayConfig = toml::from_str(toml).unwrap();
        let err = Endpoints::build(&config, &HashMap::new(), &keys())
            .unwrap_err()
            .to_string();
        for expected in [
            "id must be",
            "tenant must not be empty",
            "does not take `url_tokens`",
            "no credentials; source zendesk needs `secrets`",
            "intercom/dup is defined twice",
            "google.audiences",
            "google.api_token is needed",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
        assert!(!err.contains("leaked?"), "{err}");

        // Shape problems come first; with the shape fixed, a secret that cannot be loaded is
        // reported by name.
        let toml = "[[endpoints]]\nid = \"i\"\ntenant = \"t\"\nsource = \"intercom\"\nsecrets = [{ env = \"UNSET_VARIABLE\" }]\n";
        let config: GatewayConfig = toml::from_str(toml).unwrap();
        let err = Endpoints::build(&config, &HashMap::new(), &keys())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secrets[0]: environment variable UNSET_VARIABLE is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_source_refuses_credentials_it_cannot_use() {
        let mut e: EndpointConfig = toml::from_str(
            "id = \"s\"\ntenant = \"t\"\nsource = \"sendgrid\"\npublic_keys = [{ value = \"k\" }]\nurl_tokens = [{ value = \"t\" }]\n",
        )
        .unwrap();
        assert!(e.validate().iter().any(|p| p.contains("not both")));
        e.source = Source::Ses;
        let problems = e.validate();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("does not take `public_keys`"))
        );
        assert!(problems.iter().any(|p| p.contains("sns.topic_arns")));
    }

    #[test]
    fn source_names_round_trip() {
        for s in Source::ALL {
            assert_eq!(Source::from_name(s.as_str()), Some(s));
        }
    }
}
