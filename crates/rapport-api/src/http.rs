//! The API's routes and what wraps them: authentication on `/v1`, a per-request timeout, a body
//! size limit, JSON for every error (including the framework's own and a panic), and request
//! metrics.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::error;

use crate::error::{ApiError, ErrorCode};
use crate::{ApiConfig, AppState, auth, ui, v1};

/// The OpenAPI 3 document, kept by hand in `docs/openapi.json` and served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// The API's routes (without the operations endpoints, which `rapport_runtime` adds).
pub fn router(config: &ApiConfig) -> Router {
    let state = AppState::new(config);
    let v1 = Router::new()
        .route("/v1/customers/{customer}", get(v1::customers::show))
        .route("/v1/customers/{customer}/timeline", get(v1::timeline::show))
        .route(
            "/v1/conversations/{conversation}",
            get(v1::conversations::show),
        )
        .route("/v1/metrics/responsiveness", get(v1::responsiveness::show))
        .route("/v1/metrics/sla", get(v1::sla::show))
        .route("/v1/sla/at-risk", get(v1::at_risk::show))
        .route("/v1/unanswered", get(v1::unanswered::show))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .route_layer(middleware::map_response(never_cached))
        .with_state(state.clone());
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(v1)
        .merge(ui::routes(state, config))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(
            config.request_timeout(),
            time_limit,
        ))
        .layer(RequestBodyLimitLayer::new(config.limits.max_body_bytes))
        .layer(middleware::map_response(errors_as_json))
        .layer(middleware::from_fn(record_request))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// Tenant data must not be kept by shared caches between the API and its caller.
async fn never_cached(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn unknown_route(request: Request) -> Response {
    if is_page(&request) {
        return ui::not_found().await;
    }
    ApiError::new(
        ErrorCode::UnknownRoute,
        "no such endpoint; GET /openapi.json lists them",
    )
    .into_response()
}

/// A request for a web page (answered in HTML), not for the JSON API.
fn is_page(request: &Request) -> bool {
    let path = request.uri().path();
    path == "/ui" || path.starts_with("/ui/")
}

async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let page = is_page(&request);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) if page => ui::timeout(),
        Err(_) => ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} ms; narrow it (time range, limit) or retry",
                limit.as_millis()
            ),
        )
        .with_retry_after(1)
        .into_response(),
    }
}

/// Errors produced outside our handlers (a body over the limit, a wrong method, a path that
/// does not decode) come as plain text or empty bodies; clients get the same JSON shape for
/// every error. The web pages' own error pages stay HTML.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let kept = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || kept {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::UnknownRoute,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        s if s.is_client_error() => ErrorCode::BadParameter,
        _ => ErrorCode::Internal,
    };
    let message = match code {
        ErrorCode::MethodNotAllowed => "this endpoint only answers GET".to_owned(),
        ErrorCode::PayloadTooLarge => "the request body is too large".to_owned(),
        ErrorCode::BadParameter => {
            let bytes = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if text.is_empty() {
                "the request is not valid".to_owned()
            } else {
                text
            }
        }
        _ => "internal error; the server log has the details".to_owned(),
    };
    let mut answer = ApiError::new(code, message).into_response();
    *answer.status_mut() = status;
    answer
}

async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("rapport_api_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("rapport_api_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    error!(panic = detail, "request handler panicked");
    let mut response = ApiError::new(
        ErrorCode::Internal,
        "internal error; the server log has the details",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
