//! Signing in to the pages with an API key: the key is posted once from the sign-in form and
//! kept in a session cookie (`HttpOnly`, `SameSite=Strict`, no expiry: the browser forgets it
//! when the session ends; `Secure` over HTTPS), so it never appears in a URL, a page or a log.
//! Every page request verifies it exactly like a `/v1` request's bearer key (the same cache,
//! failure throttle and per-key rate limit), and a key that is missing, unknown or revoked sends
//! the browser back to the sign-in form.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rapport_runtime::rate_limit::{client_address, retry_after_seconds};

use super::{UiState, page, view};
use crate::auth::{self, Caller};
use crate::error::ErrorCode;

/// The cookie's name; its path is `/ui`, so no other route ever receives it.
pub const COOKIE: &str = "rapport_key";

/// The value of cookie `name` in a request's `Cookie` headers (RFC 6265 `name=value` pairs
/// separated by `;`), the first one when several carry it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// `Set-Cookie` for the key, or (without one) the cookie's removal.
fn set_cookie(key: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = match key {
        Some(key) => format!("{COOKIE}={key}; Path=/ui; HttpOnly; SameSite=Strict{secure}"),
        None => format!(
            "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{secure}"
        ),
    };
    HeaderValue::from_str(&value).expect("a key is URL-safe text")
}

/// Whether the browser reached us over HTTPS: the listener's own TLS, or a proxy that says so
/// (only when `ui.secure_cookie` is unset).
fn secure(state: &UiState, headers: &HeaderMap) -> bool {
    state.secure_cookie.unwrap_or_else(|| {
        state.tls
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
    })
}

/// A form post must come from our own pages: browsers send `Origin` with every POST, and a
/// cross-site one is refused (the cookie is `SameSite=Strict` too; this also stops a site from
/// signing a visitor in with its own key).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
}

/// Where to go after signing in: a path of these pages only, never another site.
fn next_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/ui")
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/ui/login") =>
        {
            path.to_owned()
        }
        _ => "/ui".to_owned(),
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /ui/login`: the sign-in form.
pub async fn login_form(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let next = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(n, _)| n == "next")
            .map(|(_, v)| v.into_owned())
    });
    let signed_in = cookie(&headers, COOKIE).is_some();
    page::login(&next_path(next.as_deref()), None, signed_in, StatusCode::OK)
}

/// `POST /ui/login`: checks the key, keeps it in the session cookie, and goes on to `next`.
pub async fn login(State(state): State<UiState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // The body limit of the whole router (limits.max_body_bytes) has applied already.
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if !same_origin(&headers) {
        return page::message(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "This form was posted from another site. Open the sign-in page of Rapport itself.",
            None,
        );
    }
    let next = next_path(form_field(&body, "next").as_deref());
    let key = form_field(&body, "key").unwrap_or_default();
    let key = key.trim();
    if key.is_empty() {
        return page::login(
            &next,
            Some("Paste an API key."),
            false,
            StatusCode::BAD_REQUEST,
        );
    }
    let address = client_address(peer, &headers, state.app.trust_forwarded_for);
    let now = Instant::now();
    match auth::verify(&state.app, key, address, now).await {
        Ok(_) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(Some(key), secure(&state, &headers)),
            );
            response
        }
        Err(error) => {
            metrics::counter!("rapport_api_auth_failures_total", "code" => error.code.as_str())
                .increment(1);
            if error.code != ErrorCode::Unavailable
                && let Some(address) = address
            {
                state.app.failures.failed(&address, now);
            }
            let (status, text) = refusal(error.code);
            page::login(&next, Some(text), false, status)
        }
    }
}

/// `POST /ui/logout`: forgets the key.
pub async fn logout(State(state): State<UiState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(None, secure(&state, &headers)),
    );
    response
}

fn refusal(code: ErrorCode) -> (StatusCode, &'static str) {
    match code {
        ErrorCode::MalformedKey => (
            StatusCode::UNAUTHORIZED,
            "That is not a Rapport API key: keys look like rpk_0123456789abcdef_… (create one with rapport keys create).",
        ),
        ErrorCode::UnknownKey => (
            StatusCode::UNAUTHORIZED,
            "No such API key. Check that it was copied whole, or create one with rapport keys create.",
        ),
        ErrorCode::RevokedKey => (
            StatusCode::FORBIDDEN,
            "This API key has been revoked. Ask for a new one (rapport keys create).",
        ),
        ErrorCode::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins from this address. Wait a minute and try again.",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The history store does not answer right now. Try again in a few seconds.",
        ),
    }
}

/// Middleware on every page but sign-in: the session's key → the [`Caller`], then the key's
/// rate limit; without a usable key, back to the sign-in form (remembering where to).
pub async fn require(State(state): State<UiState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let address = client_address(peer, request.headers(), state.app.trust_forwarded_for);
    let here = request
        .uri()
        .path_and_query()
        .map_or("/ui", |p| p.as_str())
        .to_owned();
    let to_login =
        || Redirect::to(&format!("/ui/login?next={}", view::encode(&here))).into_response();
    let Some(key) = cookie(request.headers(), COOKIE).map(str::to_owned) else {
        return to_login();
    };
    let now = Instant::now();
    let caller: Caller = match auth::verify(&state.app, &key, address, now).await {
        Ok(caller) => caller,
        Err(error) => {
            metrics::counter!("rapport_api_auth_failures_total", "code" => error.code.as_str())
                .increment(1);
            return match error.code {
                ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::Timeout => {
                    page::unavailable()
                }
                ErrorCode::RateLimited => page::message(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Slow down",
                    refusal(error.code).1,
                    None,
                ),
                _ => {
                    if let Some(address) = address {
                        state.app.failures.failed(&address, now);
                    }
                    let mut response = to_login();
                    response.headers_mut().insert(
                        header::SET_COOKIE,
                        set_cookie(None, secure(&state, request.headers())),
                    );
                    response
                }
            };
        }
    };
    if let Err(wait) = state.app.limiter.check(&caller.key_id, now) {
        metrics::counter!("rapport_api_rate_limited_total").increment(1);
        let mut response = page::message(
            StatusCode::TOO_MANY_REQUESTS,
            "Slow down",
            "This API key made more requests than its rate limit allows. The page will load again in a moment.",
            None,
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after_seconds(wait).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_key_is_read_from_its_cookie_among_others() {
        let h = headers(&[
            ("cookie", "a=1; rapport_key=rpk_0123_abc"),
            ("cookie", "rapport_key=second"),
        ]);
        assert_eq!(cookie(&h, COOKIE), Some("rpk_0123_abc"));
        assert_eq!(
            cookie(&headers(&[("cookie", "x_rapport_key=1")]), COOKIE),
            None
        );
        assert_eq!(cookie(&HeaderMap::new(), COOKIE), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_over_https() {
        let set = set_cookie(Some("rpk_1_a"), true);
        let set = set.to_str().unwrap();
        for part in [
            "rapport_key=rpk_1_a",
            "Path=/ui",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
        ] {
            assert!(set.contains(part), "{set}");
        }
        assert!(
            !set.contains("Max-Age") && !set.contains("Expires"),
            "a session cookie: {set}"
        );
        let cleared = set_cookie(None, false);
        let cleared = cleared.to_str().unwrap();
        assert!(
            cleared.contains("Max-Age=0") && !cleared.contains("Secure"),
            "{cleared}"
        );
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:8080"
        )])));
    }

    #[test]
    fn sign_in_only_goes_on_to_these_pages() {
        assert_eq!(
            next_path(Some("/ui/customers/x?c=1")),
            "/ui/customers/x?c=1"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/v1/unanswered",
            "/ui/login",
            "/ui\\..\\x",
        ] {
            assert_eq!(next_path(Some(bad)), "/ui", "{bad}");
        }
        assert_eq!(next_path(None), "/ui");
    }
}
