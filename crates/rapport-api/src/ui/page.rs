//! Rendering a page: the layout every page shares, the headers every page gets (no caching of
//! tenant data, a content security policy that allows only this server's own style sheet and
//! script), and the pages for errors and empty states.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::error;

use crate::error::{ApiError, ErrorCode};

/// What the layout shows around every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// The signed-in key's tenant; `None` on the sign-in page.
    pub tenant: Option<String>,
    /// Which navigation entry is the current page: `customers` or `responsiveness`.
    pub section: &'static str,
}

impl Layout {
    pub fn new(title: impl Into<String>, tenant: Option<&str>, section: &'static str) -> Self {
        Self {
            title: title.into(),
            tenant: tenant.map(str::to_owned),
            section,
        }
    }
}

/// Only this server's own assets; no inline script or style, no frames, forms post here only.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A rendered template as an HTML response with `status` and the headers every page carries.
pub fn render(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Err(e) => {
            error!(error = %e, "a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    layout: Layout,
    next: &'a str,
    problem: Option<&'a str>,
    signed_in: bool,
}

/// The sign-in form, with what went wrong last time.
pub fn login(next: &str, problem: Option<&str>, signed_in: bool, status: StatusCode) -> Response {
    render(
        &Login {
            layout: Layout::new("Sign in", None, ""),
            next,
            problem,
            signed_in,
        },
        status,
    )
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    layout: Layout,
    heading: &'a str,
    text: &'a str,
    /// A link onwards: (href, label).
    link: Option<(&'a str, &'a str)>,
}

/// A page that only says something: an error, or where to go instead.
pub fn message(
    status: StatusCode,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    render(
        &Message {
            layout: Layout::new(heading, None, ""),
            heading,
            text,
            link,
        },
        status,
    )
}

/// ClickHouse does not answer.
pub fn unavailable() -> Response {
    let mut response = message(
        StatusCode::SERVICE_UNAVAILABLE,
        "The history store does not answer",
        "Rapport cannot reach ClickHouse right now. This page will work again as soon as it answers; reload it in a few seconds.",
        None,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// Why a page could not be shown, rendered as a page (not the API's JSON).
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<rapport_clickhouse::read::ReadError> for PageError {
    fn from(error: rapport_clickhouse::read::ReadError) -> Self {
        Self(error.into())
    }
}

impl From<rapport_clickhouse::ClickHouseError> for PageError {
    fn from(error: rapport_clickhouse::ClickHouseError) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let error = self.0;
        match error.code {
            ErrorCode::Unavailable | ErrorCode::Timeout => unavailable(),
            ErrorCode::NotFound => message(
                StatusCode::NOT_FOUND,
                "Not found",
                &error.message,
                Some(("/ui", "Search for a customer")),
            ),
            ErrorCode::BadParameter | ErrorCode::BadCursor => message(
                StatusCode::BAD_REQUEST,
                "This address is not valid",
                &error.message,
                Some(("/ui", "Start again from the search")),
            ),
            _ => message(
                error.code.status(),
                "Something went wrong",
                "The page could not be shown; the server log has the details.",
                Some(("/ui", "Back to the start")),
            ),
        }
    }
}

pub type PageResult = Result<Response, PageError>;
