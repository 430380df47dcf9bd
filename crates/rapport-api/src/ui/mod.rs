//! The web pages served beside the JSON API, on the same port and with the same API keys:
//! a customer (search by any identifier; identities and how they were linked; the merged
//! timeline, newest first, with open waits highlighted), a conversation (its events with the
//! reply latencies drawn between them), and responsiveness (charts per channel, team or agent,
//! and the unanswered queue).
//!
//! Server-rendered HTML (askama templates compiled into the binary, every value HTML-escaped:
//! payload text is hostile input), charts drawn as SVG on the server, the style sheet and a
//! small script embedded. Every page works without JavaScript; the script only adds keyboard
//! shortcuts and submits the period form on change. The key is kept in a session cookie, never
//! in a URL (`session`).

mod chart;
mod conversation;
mod customer;
mod page;
mod responsiveness;
mod session;
mod view;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::{ApiConfig, AppState};

/// What the pages share.
#[derive(Debug, Clone)]
pub(crate) struct UiState {
    pub app: AppState,
    /// `ui.secure_cookie`: `None` decides per request (HTTPS on the listener or announced by a
    /// proxy).
    pub secure_cookie: Option<bool>,
    /// The listener serves HTTPS itself.
    pub tls: bool,
}

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The pages and their assets, under `/ui`, and `/` sending browsers there.
pub(crate) fn routes(app: AppState, config: &ApiConfig) -> Router {
    let state = UiState {
        app,
        secure_cookie: config.ui.secure_cookie,
        tls: config.http.tls.is_some(),
    };
    let pages = Router::new()
        .route("/ui", get(customer::search))
        .route("/ui/customers", get(customer::search))
        .route("/ui/customers/{customer}", get(customer::show))
        .route("/ui/conversations/{conversation}", get(conversation::show))
        .route("/ui/responsiveness", get(responsiveness::show))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::require,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", axum::routing::post(session::logout))
        .route(
            "/ui/assets/app.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/ui/assets/app.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
        .merge(pages)
        .with_state(state)
}

/// The answer to a `/ui` path that is no page.
pub(crate) async fn not_found() -> Response {
    page::message(
        StatusCode::NOT_FOUND,
        "No such page",
        "This address is not a page of Rapport.",
        Some(("/ui", "Search for a customer")),
    )
}

/// The answer to a page that took longer than `limits.request_timeout_ms`.
pub(crate) fn timeout() -> Response {
    page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "This page took too long",
        "The history store did not answer in time. Reload the page; a shorter period or a channel filter asks it for less.",
        Some(("/ui", "Back to the start")),
    )
}
