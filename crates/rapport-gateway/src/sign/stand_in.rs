//! A loopback stand-in for the Google endpoints the gateway fetches when a Business Profile
//! notification arrives: the JWKS that checks the push's token
//! (`https://www.googleapis.com/oauth2/v3/certs`) and the review itself
//! (`https://mybusiness.googleapis.com/v4/{name}`). The gateway reaches it through
//! `outbound.test_only_reroute` ([`StandIn::reroute_toml`]).
//!
//! For demos and tests only: production traffic comes from Google, and the gateway fetches
//! from Google.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;

/// The running stand-in; it stops when dropped.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    reviews: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// Listens on `listen` (port 0 for any) and serves `jwks` and the reviews given to
    /// [`StandIn::serve_review`].
    pub async fn start(listen: SocketAddr, jwks: Vec<u8>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let reviews: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let state = reviews.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let (state, jwks) = (state.clone(), jwks.clone());
            async move {
                let path = uri.path();
                if path == "/oauth2/v3/certs" {
                    return ([("content-type", "application/json")], jwks).into_response();
                }
                let review = path.strip_prefix("/v4/").and_then(|name| {
                    state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(name)
                        .cloned()
                });
                match review {
                    Some(body) => ([("content-type", "application/json")], body).into_response(),
                    None => (
                        StatusCode::NOT_FOUND,
                        r#"{"error":{"code":404,"status":"NOT_FOUND"}}"#,
                    )
                        .into_response(),
                }
            }
        });
        let task = tokio::spawn(async move {
            // The stand-in lives as long as its owner; a serve error ends it, and the gateway's
            // fetches then fail (answered 503), which the sender reports.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            reviews,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers `GET /v4/{name}` with `review` from now on (replacing an earlier version).
    pub fn serve_review(&self, name: &str, review: Vec<u8>) {
        self.reviews
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), review);
    }

    /// The gateway's `[outbound.test_only_reroute]` section sending Google's hosts here.
    pub fn reroute_toml(&self) -> String {
        format!(
            "[outbound.test_only_reroute]\n\"www.googleapis.com\" = \"http://{0}\"\n\"mybusiness.googleapis.com\" = \"http://{0}\"\n",
            self.addr
        )
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
