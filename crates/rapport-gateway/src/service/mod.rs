//! The `rapport-gateway` service: `POST /hooks/{source}/{endpoint_id}`, verified by the
//! endpoint's provider scheme, landed unchanged on the source's raw topic, answered 2xx only
//! once the broker acknowledged it.
//!
//! One request, in order (each step's refusal is counted in
//! `rapport_gateway_requests_total{source, endpoint, outcome}`):
//!
//! 1. the endpoint from the URL (404 `unknown_endpoint`); the tenant is the endpoint's, never
//!    the request's;
//! 2. the endpoint's token bucket (429 `rate_limited`, `Retry-After`);
//! 3. the body, up to the endpoint's limit (413 `body_too_large`, checked on `Content-Length`
//!    and while reading), within `limits.body_read_timeout_ms` (408 `body_timeout`) and the
//!    memory budget (503 `busy`);
//! 4. the provider's verification (401/400/405 by [`Reason`](crate::Reason); 503
//!    `key_unavailable`);
//! 5. control messages answered, not produced (`control`): SNS subscription confirmations
//!    (the gateway GETs the `SubscribeURL`; 503 `fetch_failed` if that fails), Yelp's URL
//!    verification, Intercom's ping;
//! 6. a delivery seen before (`duplicate`, 200) or in flight (`in_progress`, 503);
//! 7. Google: the notified review fetched from the Business Profile API (`ignored` when there
//!    is none; 503 `fetch_failed` when the API fails);
//! 8. produced, and acknowledged (`accepted`, 200), or not (503 `kafka_unavailable`,
//!    `Retry-After`).
//!
//! Every answer carries `Rapport-Request-Id`, also the record's `rapport-request-id` header.

mod body;
pub mod config;
mod dedup;
pub mod google;
pub mod outbound;
mod produce;
pub mod record_key;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{DateTime, Utc};
use rapport_runtime::rate_limit::{RateLimiter, retry_after_seconds};
use rapport_runtime::{Health, Shutdown};
use rdkafka::producer::Producer;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use self::config::{DedupConfig, LimitsConfig, OutboundConfig, ProduceConfig, ServiceConfig};
use self::dedup::{Claim, Deliveries};
use self::google::{ApiToken, Fetched, Notified};
use self::outbound::Outbound;
use self::produce::{Failure, Lander, Record};
use crate::config::Source;
use crate::error::{ConfigError, Reason, VerifyError};
use crate::keys::{Fetch, GoogleKeys, SnsCertificates};
use crate::request::{Control, Request as Webhook, Verified};
use crate::secret::{Environment, ProcessEnv};
use crate::verify::{Endpoint, Endpoints, KeyStores};

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "rapport-request-id";

/// Why the service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the kafka producer hit a fatal error: {0}")]
    ProducerFatal(String),
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the gateway until `shutdown` triggers: the webhooks and the operations endpoints on
/// `http.listen`, ready once every topic it produces to exists. On SIGTERM readiness turns
/// off, the listener stops accepting, and requests in progress finish (each bounded by the
/// body read timeout and the produce deadline) before the process exits.
pub async fn serve(config: ServiceConfig, shutdown: Shutdown) -> Result<(), ServiceError> {
    rapport_runtime::metrics::install(&crate::metrics::catalogue());
    let gateway = Arc::new(Gateway::build(&config, &ProcessEnv, shutdown.token())?);
    let routes = router(Arc::clone(&gateway));
    let http = config.http.clone();
    rapport_runtime::http::run_service_with(&http, routes, shutdown, |health, stop| {
        watch(gateway, config, health, stop)
    })
    .await
}

/// The webhook routes (without the operations endpoints), for [`serve`] and tests.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/hooks/{source}/{endpoint}", any(hook))
        .with_state(gateway)
}

/// Readiness: on once every topic the endpoints produce to exists (checked until it does),
/// off as soon as the drain starts. A producer that hit a fatal error makes the exit status 1.
async fn watch(
    gateway: Arc<Gateway>,
    config: ServiceConfig,
    health: Health,
    stop: CancellationToken,
) -> Result<(), ServiceError> {
    if topics_exist(&gateway, &config, &stop).await? {
        health.set_ready(true);
        info!(endpoints = gateway.endpoints.len(), "ready");
        stop.cancelled().await;
        health.set_ready(false);
    }
    match gateway
        .fatal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        Some(reason) => Err(ServiceError::ProducerFatal(reason)),
        None => Ok(()),
    }
}

/// Waits until every topic the endpoints produce to exists: true, or false when `stop` came
/// first.
async fn topics_exist(
    gateway: &Gateway,
    config: &ServiceConfig,
    stop: &CancellationToken,
) -> Result<bool, ServiceError> {
    let wanted = config.used_topics();
    let mut told = false;
    loop {
        let producer = gateway.lander.producer().clone();
        let fetch = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(5))
                .map(|m| {
                    m.topics()
                        .iter()
                        .filter(|t| t.error().is_none())
                        .map(|t| t.name().to_owned())
                        .collect::<Vec<_>>()
                })
        });
        // A drain does not wait for a metadata request that cannot be answered.
        let found = tokio::select! {
            () = stop.cancelled() => return Ok(false),
            found = fetch => found.map_err(|e| std::io::Error::other(e.to_string()))?,
        };
        match found {
            Ok(topics) => {
                let missing: Vec<&String> = wanted.iter().filter(|t| !topics.contains(t)).collect();
                if missing.is_empty() {
                    return Ok(true);
                }
                if !told {
                    warn!(
                        ?missing,
                        "topics do not exist yet (`rapport topics create`); not ready"
                    );
                    told = true;
                }
            }
            Err(error) => {
                if !told {
                    warn!(%error, "kafka does not answer yet; not ready");
                    told = true;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(false),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Everything a request needs.
#[derive(Debug)]
pub struct Gateway {
    endpoints: Endpoints,
    /// By source: the topic its records go to.
    topics: HashMap<Source, String>,
    /// By endpoint (`source/id`): the Business Profile API token of a `google` endpoint.
    google_tokens: HashMap<String, ApiToken>,
    limiter: RateLimiter<String>,
    budget: Arc<Semaphore>,
    deliveries: Deliveries,
    outbound: Outbound,
    lander: Lander,
    body_read_timeout: Duration,
    retry_after: u64,
    /// Triggered when the producer cannot go on, so the orchestrator restarts the process.
    stop: CancellationToken,
    fatal: std::sync::Mutex<Option<String>>,
}

impl Gateway {
    /// Builds every endpoint (loading its secrets), the producer and the HTTP client; reports
    /// every configuration problem at once.
    pub fn build(
        config: &ServiceConfig,
        env: &dyn Environment,
        stop: CancellationToken,
    ) -> Result<Self, ServiceError> {
        let reroutes = config.outbound.reroutes().map_err(ConfigError::Invalid)?;
        if !reroutes.is_empty() {
            warn!(
                hosts = ?reroutes.keys().collect::<Vec<_>>(),
                "outbound.test_only_reroute is set: requests for these hosts go to loopback stand-ins; never in production"
            );
        }
        let outbound = Outbound::new(Duration::from_millis(config.outbound.timeout_ms), reroutes)?;
        let fetch: Arc<dyn Fetch> = Arc::new(outbound.clone());
        let keys = KeyStores {
            sns: Arc::new(SnsCertificates::new(Some(Arc::clone(&fetch)))),
            google: Arc::new(GoogleKeys::new(Some(fetch))),
        };
        let mut problems = Vec::new();
        let endpoints = match Endpoints::build(&config.gateway(), env, &keys) {
            Ok(endpoints) => Some(endpoints),
            Err(ConfigError::Invalid(p)) => {
                problems.extend(p);
                None
            }
        };
        let mut google_tokens = HashMap::new();
        for endpoint in config
            .endpoints
            .iter()
            .filter(|e| e.source == Source::Google)
        {
            let Some(source) = endpoint.google.as_ref().and_then(|g| g.api_token.as_ref()) else {
                continue;
            };
            match ApiToken::from_config(source, env) {
                Ok(token) => {
                    google_tokens.insert(format!("google/{}", endpoint.id), token);
                }
                Err(e) => problems.push(format!(
                    "endpoint google/{}: google.api_token: {e}",
                    endpoint.id
                )),
            }
        }
        let mut topics = HashMap::new();
        for source in Source::ALL {
            if let Some(topic) = config.topic_for(source) {
                topics.insert(source, topic.to_owned());
            }
        }
        let Some(endpoints) = endpoints.filter(|_| problems.is_empty()) else {
            return Err(ConfigError::Invalid(problems).into());
        };
        Ok(Self {
            endpoints,
            topics,
            google_tokens,
            limiter: RateLimiter::new(&config.rate_limit),
            budget: Arc::new(Semaphore::new(config.limits.max_buffered_bytes)),
            deliveries: Deliveries::new(
                Duration::from_secs(config.dedup.window_seconds),
                config.dedup.max_entries,
            ),
            outbound,
            lander: Lander::new(&config.kafka, config.produce.timeout_ms)?,
            body_read_timeout: Duration::from_millis(config.limits.body_read_timeout_ms),
            retry_after: config.produce.retry_after_seconds,
            stop,
            fatal: std::sync::Mutex::new(None),
        })
    }

    async fn handle(
        &self,
        endpoint: &Endpoint,
        request: Request,
        received_at: DateTime<Utc>,
        request_id: &str,
    ) -> Outcome {
        let name = format!("{}/{}", endpoint.source.as_str(), endpoint.id);
        if let Err(wait) = self.limiter.check(&name, Instant::now()) {
            return Outcome::RateLimited(wait);
        }
        let (parts, body) = request.into_parts();
        let content_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let read = body::read(
            body,
            content_length,
            endpoint.body_limit_bytes,
            &self.budget,
        );
        let buffered = match tokio::time::timeout(self.body_read_timeout, read).await {
            Err(_) => return Outcome::BodyTimeout,
            Ok(Err(body::BodyError::TooLarge)) => return Outcome::Refused(Reason::BodyTooLarge),
            Ok(Err(body::BodyError::Busy)) => return Outcome::Busy,
            Ok(Err(body::BodyError::Broken)) => return Outcome::BrokenBody,
            Ok(Ok(buffered)) => buffered,
        };
        let webhook = Webhook {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body: &buffered.bytes,
        };
        let verified = match endpoint.verifier.verify(&webhook, received_at).await {
            Ok(verified) => verified,
            Err(error) => {
                self.log_refusal(endpoint, request_id, &error);
                return Outcome::Refused(error.reason());
            }
        };
        let Verified {
            delivery_id,
            control,
        } = verified;
        if let Some(control) = control {
            return self.answer_control(endpoint, request_id, control).await;
        }
        // An id too long to be a provider's is not remembered (nor put in a header).
        let delivery_id = delivery_id.filter(|d| !d.is_empty() && d.len() <= 256);
        let claim = match &delivery_id {
            None => None,
            Some(id) => match self.deliveries.claim(&name, id) {
                Claim::Fresh(key) => Some(key),
                Claim::Duplicate => return Outcome::Duplicate,
                Claim::InProgress => return Outcome::InProgress,
            },
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let outcome = self
            .land(
                endpoint,
                &name,
                buffered.bytes,
                content_type,
                received_at,
                request_id,
                delivery_id.as_deref(),
            )
            .await;
        if let Some(key) = claim {
            if outcome.landed() {
                self.deliveries.done(key);
            } else {
                self.deliveries.release(&key);
            }
        }
        // The budget is held until here: librdkafka held its copy of the body until now.
        drop(buffered.permit);
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn land(
        &self,
        endpoint: &Endpoint,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
        received_at: DateTime<Utc>,
        request_id: &str,
        delivery_id: Option<&str>,
    ) -> Outcome {
        let (payload, key) = if endpoint.source == Source::Google {
            match self.google_review(name, &body, request_id).await {
                Ok(Some((review, review_name))) => (review, record_key::review_key(&review_name)),
                Ok(None) => return Outcome::Ignored,
                Err(outcome) => return outcome,
            }
        } else {
            let key = record_key::record_key(endpoint.source, &body, content_type, delivery_id);
            (body, key)
        };
        let Some(topic) = self.topics.get(&endpoint.source) else {
            // Validation gives every configured source a topic.
            return Outcome::KafkaUnavailable;
        };
        let started = Instant::now();
        let landed = self
            .lander
            .land(&Record {
                topic,
                key: &key,
                payload: &payload,
                source: endpoint.source.as_str(),
                tenant: &endpoint.tenant,
                received_at_ms: received_at.timestamp_millis(),
                request_id,
                delivery_id,
            })
            .await;
        match landed {
            Ok(()) => {
                metrics::histogram!("rapport_gateway_ack_seconds")
                    .record(started.elapsed().as_secs_f64());
                debug!(endpoint = name, request_id, topic, "landed");
                Outcome::Accepted
            }
            Err(Failure::Unavailable(_)) => Outcome::KafkaUnavailable,
            Err(Failure::Busy) => Outcome::Busy,
            Err(Failure::TooLarge) => Outcome::Refused(Reason::BodyTooLarge),
            Err(Failure::Fatal(reason)) => {
                warn!(%reason, "the kafka producer cannot go on; stopping so that the process restarts");
                *self.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                self.stop.cancel();
                Outcome::KafkaUnavailable
            }
        }
    }

    /// The review a Google notification names, fetched: `None` when there is nothing to land.
    async fn google_review(
        &self,
        name: &str,
        body: &[u8],
        request_id: &str,
    ) -> Result<Option<(Vec<u8>, String)>, Outcome> {
        let review = match google::notified(body) {
            Notified::Review(review) => review,
            Notified::Nothing(why) => {
                debug!(
                    endpoint = name,
                    request_id, why, "notification names no review"
                );
                return Ok(None);
            }
        };
        let token = self
            .google_tokens
            .get(name)
            .ok_or(Outcome::FetchFailed)?
            .current()
            .map_err(|error| {
                warn!(endpoint = name, request_id, %error, "no Business Profile API token");
                Outcome::FetchFailed
            })?;
        match google::fetch_review(&self.outbound, &review, &token).await {
            Ok(Fetched::Review(bytes)) => Ok(Some((bytes, review))),
            Ok(Fetched::Gone) => {
                info!(
                    endpoint = name,
                    request_id, review, "the notified review is gone"
                );
                Ok(None)
            }
            Err(error) => {
                warn!(endpoint = name, request_id, %error, "cannot fetch the notified review");
                Err(Outcome::FetchFailed)
            }
        }
    }

    async fn answer_control(
        &self,
        endpoint: &Endpoint,
        request_id: &str,
        control: Control,
    ) -> Outcome {
        let at = format!("{}/{}", endpoint.source.as_str(), endpoint.id);
        match control {
            Control::ConfirmSubscription { subscribe_url } => {
                let confirmed = match url::Url::parse(&subscribe_url) {
                    Ok(url) => self.outbound.get(&url, None).await,
                    Err(e) => Err(e.to_string()),
                };
                match confirmed {
                    Ok(answer) if answer.status == 200 => {
                        info!(endpoint = at, request_id, "SNS subscription confirmed");
                        Outcome::Control(None)
                    }
                    Ok(answer) => {
                        warn!(
                            endpoint = at,
                            request_id,
                            status = answer.status,
                            "SNS refused the subscription confirmation"
                        );
                        Outcome::FetchFailed
                    }
                    Err(error) => {
                        warn!(endpoint = at, request_id, %error, "cannot confirm the SNS subscription");
                        Outcome::FetchFailed
                    }
                }
            }
            Control::Unsubscribed => {
                warn!(
                    endpoint = at,
                    request_id,
                    "SNS says this endpoint was unsubscribed; nothing will arrive until it is subscribed again"
                );
                Outcome::Control(None)
            }
            Control::Respond { content_type, body } => Outcome::Control(Some((content_type, body))),
            Control::Ping => {
                debug!(endpoint = at, request_id, "ping");
                Outcome::Control(None)
            }
        }
    }

    fn log_refusal(&self, endpoint: &Endpoint, request_id: &str, error: &VerifyError) {
        // The message quotes at most 64 bytes of input and never a secret; the body and the
        // query (URL tokens) are never logged.
        info!(
            endpoint = format!("{}/{}", endpoint.source.as_str(), endpoint.id),
            request_id,
            reason = error.reason().as_str(),
            %error,
            "refused"
        );
    }
}

/// What became of a request: its answer and its metric label.
#[derive(Debug)]
enum Outcome {
    Accepted,
    Duplicate,
    /// Answered, not produced; with a body to send back (Yelp's verification).
    Control(Option<(&'static str, String)>),
    /// Verified, nothing to land (a Google notification about something else, a deleted review).
    Ignored,
    UnknownEndpoint,
    RateLimited(Duration),
    Refused(Reason),
    BodyTimeout,
    BrokenBody,
    Busy,
    InProgress,
    FetchFailed,
    KafkaUnavailable,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Control(_) => "control",
            Self::Ignored => "ignored",
            Self::UnknownEndpoint => "unknown_endpoint",
            Self::RateLimited(_) => "rate_limited",
            Self::Refused(reason) => reason.as_str(),
            Self::BodyTimeout => "body_timeout",
            Self::BrokenBody => "broken_body",
            Self::Busy => "busy",
            Self::InProgress => "in_progress",
            Self::FetchFailed => "fetch_failed",
            Self::KafkaUnavailable => "kafka_unavailable",
        }
    }

    /// True when the delivery is done with: landed, or nothing to land.
    fn landed(&self) -> bool {
        matches!(self, Self::Accepted | Self::Ignored)
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Accepted | Self::Duplicate | Self::Control(_) | Self::Ignored => StatusCode::OK,
            Self::UnknownEndpoint => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Refused(reason) => {
                StatusCode::from_u16(reason.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BrokenBody => StatusCode::BAD_REQUEST,
            Self::Busy | Self::InProgress | Self::FetchFailed | Self::KafkaUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

/// Every outcome label, for dashboards and tests: a closed set.
pub const OUTCOMES: [&str; 12] = [
    "accepted",
    "duplicate",
    "control",
    "ignored",
    "unknown_endpoint",
    "rate_limited",
    "body_timeout",
    "broken_body",
    "busy",
    "in_progress",
    "fetch_failed",
    "kafka_unavailable",
];

async fn hook(
    State(gateway): State<Arc<Gateway>>,
    Path((source, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let received_at = Utc::now();
    let request_id = format!("{:032x}", rand::random::<u128>());
    let endpoint = gateway.endpoints.get(&source, &id);
    let outcome = match endpoint {
        None => Outcome::UnknownEndpoint,
        Some(endpoint) => {
            gateway
                .handle(endpoint, request, received_at, &request_id)
                .await
        }
    };
    let (source_label, endpoint_label) = match endpoint {
        Some(e) => (e.source.as_str(), e.id.clone()),
        None => ("unknown", "unknown".to_owned()),
    };
    metrics::counter!(
        "rapport_gateway_requests_total",
        "source" => source_label,
        "endpoint" => endpoint_label,
        "outcome" => outcome.label()
    )
    .increment(1);
    respond(&outcome, &request_id, gateway.retry_after)
}

fn respond(outcome: &Outcome, request_id: &str, retry_after: u64) -> Response {
    let status = outcome.status();
    let mut response = match outcome {
        Outcome::Control(Some((content_type, body))) => {
            ([(header::CONTENT_TYPE, *content_type)], body.clone()).into_response()
        }
        _ => {
            let field = if status.is_success() {
                "status"
            } else {
                "error"
            };
            axum::Json(serde_json::json!({ field: outcome.label(), "request_id": request_id }))
                .into_response()
        }
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    let wait = match outcome {
        Outcome::RateLimited(wait) => Some(retry_after_seconds(*wait)),
        Outcome::InProgress => Some(1),
        _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(retry_after),
        _ => None,
    };
    if let Some(seconds) = wait {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_labels_are_a_closed_set_beside_the_refusal_reasons() {
        let all: std::collections::HashSet<&str> = OUTCOMES
            .iter()
            .copied()
            .chain(Reason::ALL.iter().map(|r| r.as_str()))
            .collect();
        assert_eq!(all.len(), OUTCOMES.len() + Reason::ALL.len());
        for outcome in [
            Outcome::Accepted,
            Outcome::Duplicate,
            Outcome::Control(None),
            Outcome::Ignored,
            Outcome::UnknownEndpoint,
            Outcome::RateLimited(Duration::from_secs(1)),
            Outcome::BodyTimeout,
            Outcome::BrokenBody,
            Outcome::Busy,
            Outcome::InProgress,
            Outcome::FetchFailed,
            Outcome::KafkaUnavailable,
        ] {
            assert!(OUTCOMES.contains(&outcome.label()), "{outcome:?}");
        }
    }

    #[test]
    fn unavailable_answers_say_when_to_retry_and_every_answer_names_its_request() {
        let r = respond(&Outcome::KafkaUnavailable, "abc", 7);
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert_eq!(r.headers()[REQUEST_ID_HEADER], "abc");
        let r = respond(&Outcome::RateLimited(Duration::from_millis(1500)), "abc", 7);
        assert_eq!(
            (r.status().as_u16(), &r.headers()[header::RETRY_AFTER]),
            (429, &HeaderValue::from(2))
        );
        let r = respond(&Outcome::Refused(Reason::BadSignature), "abc", 7);
        assert_eq!(r.status(), 401);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
        let r = respond(&Outcome::Refused(Reason::KeyUnavailable), "abc", 7);
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }
}
