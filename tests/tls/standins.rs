//! HTTPS stand-ins for what this machine cannot run: a Schema Registry (the two REST calls
//! Rapport makes, behind Basic authentication) and an OAuth token endpoint. Both are served by
//! Rapport's own TLS listener (`rapport_runtime::http::serve_router` with `[http.tls]`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use rapport_runtime::HttpConfig;
use rapport_runtime::tls::ServerTls;
use rapport_testkit::Issued;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running stand-in; stopped when dropped.
#[derive(Debug)]
pub struct Server {
    pub url: String,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(router: Router, tls: &Issued) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let config = HttpConfig {
        tls: Some(ServerTls {
            cert_file: tls.cert_file.clone(),
            key_file: tls.key_file.clone(),
            reload_interval_ms: 10_000,
        }),
        ..HttpConfig::on(addr)
    };
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        rapport_runtime::http::serve_router(listener, router, &config, token)
            .await
            .expect("stand-in serves");
    });
    Server {
        url: format!("https://localhost:{}", addr.port()),
        stop,
    }
}

fn basic(username: &str, password: &str) -> String {
    let pair = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// What the registry stand-in was asked.
#[derive(Debug, Default)]
pub struct RegistryLog {
    /// (subject, schema) per registration, in order; schema ids are positions + 1.
    pub registered: Vec<(String, String)>,
    pub fetched: Vec<u32>,
    pub refused: usize,
}

#[derive(Clone)]
struct RegistryState {
    authorization: String,
    log: Arc<Mutex<RegistryLog>>,
}

/// A registry that accepts only Basic `username`:`password`.
pub async fn registry(
    tls: &Issued,
    username: &str,
    password: &str,
) -> (Server, Arc<Mutex<RegistryLog>>) {
    registry_accepting(tls, basic(username, password)).await
}

/// A registry that accepts only `Authorization: Bearer <token>`.
pub async fn registry_with_token(tls: &Issued, token: &str) -> (Server, Arc<Mutex<RegistryLog>>) {
    registry_accepting(tls, format!("Bearer {token}")).await
}

async fn registry_accepting(
    tls: &Issued,
    authorization: String,
) -> (Server, Arc<Mutex<RegistryLog>>) {
    let log = Arc::new(Mutex::new(RegistryLog::default()));
    let state = RegistryState {
        authorization,
        log: Arc::clone(&log),
    };
    let router = Router::new()
        .route("/subjects/{subject}/versions", post(register))
        .route("/schemas/ids/{id}", get(schema))
        .with_state(state);
    (serve(router, tls).await, log)
}

fn authorized(state: &RegistryState, headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given == state.authorization {
        return Ok(());
    }
    state.log.lock().unwrap().refused += 1;
    Err((
        StatusCode::UNAUTHORIZED,
        Json(json!({"error_code": 401, "message": "Unauthorized"})),
    ))
}

async fn register(
    State(state): State<RegistryState>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    authorized(&state, &headers)?;
    let schema = body["schema"].as_str().unwrap_or_default().to_owned();
    let mut log = state.log.lock().unwrap();
    let id = match log.registered.iter().position(|(_, s)| *s == schema) {
        Some(index) => index + 1,
        None => {
            log.registered.push((subject, schema));
            log.registered.len()
        }
    };
    Ok(Json(json!({ "id": id })))
}

async fn schema(
    State(state): State<RegistryState>,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    authorized(&state, &headers)?;
    let mut log = state.log.lock().unwrap();
    log.fetched.push(id);
    match log.registered.get((id as usize).wrapping_sub(1)) {
        Some((_, schema)) => Ok(Json(json!({ "schema": schema }))),
        None => Err((
            StatusCode::NOT_FOUND,
            Json(json!({"error_code": 40403, "message": "Schema not found"})),
        )),
    }
}

/// One request to the token endpoint: its Authorization header and its form body.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub authorization: String,
    pub form: Vec<(String, String)>,
}

/// An OAuth token endpoint (a `POST` to any path) that hands out an unsigned JWT for `subject`
/// to anyone, recording each request.
pub async fn token_endpoint(
    tls: &Issued,
    subject: &str,
) -> (Server, Arc<Mutex<Vec<TokenRequest>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let subject = subject.to_owned();
    let router = Router::new().fallback(post(move |headers: HeaderMap, body: String| {
        let seen = Arc::clone(&seen);
        let subject = subject.clone();
        async move {
            seen.lock().unwrap().push(TokenRequest {
                authorization: headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                form: form_urlencoded::parse(body.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            });
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let part =
                |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            // librdkafka reads `sub` and `exp` from the token and checks no signature.
            let jwt = format!(
                "{}.{}.c2lnbmF0dXJl",
                part(json!({"alg": "RS256", "typ": "JWT"})),
                part(json!({"sub": subject, "iat": now, "exp": now + 3600}))
            );
            Json(json!({"access_token": jwt, "token_type": "bearer", "expires_in": 3600}))
        }
    }));
    (serve(router, tls).await, requests)
}
