//! The operations endpoints every service serves: `/healthz` (the process is alive), `/readyz`
//! (the service is doing its job: 503 before it consumes and as soon as draining starts) and
//! `/metrics` in Prometheus text format.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// Shared readiness flag: the service sets it once it consumes, and clears it first thing when
/// it starts draining so load balancers stop sending work before anything else stops.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is already global (a test binary that installed
            // its own); the handle still renders what this recorder sees.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router(health: Health, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
}

async fn readyz(State(health): State<Health>) -> (StatusCode, &'static str) {
    if health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Binds first so a taken port fails start-up with a clear message, then serves until `stop`.
pub async fn bind(config: &HttpConfig) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(config.listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {} for health and metrics: {e}",
                config.listen
            ),
        )
    })
}

pub async fn serve(
    listener: TcpListener,
    health: Health,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    serve_with(listener, health, Router::new(), stop).await
}

/// [`serve`] plus a service's own routes (an admin API) on the same listener.
pub async fn serve_with(
    listener: TcpListener,
    health: Health,
    routes: Router,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    info!(addr = %listener.local_addr()?, "health and metrics endpoints listening");
    axum::serve(listener, router(health, metrics_handle()).merge(routes))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Runs one service: the operations endpoints first, then `pipeline` until it returns or
/// `shutdown` triggers. Readiness is the pipeline's to set; the endpoints stop last, so probes
/// see readiness turn off before the process goes away.
pub async fn run_service<F, Fut, E>(
    config: &HttpConfig,
    shutdown: crate::Shutdown,
    pipeline: F,
) -> Result<(), E>
where
    F: FnOnce(Health, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<std::io::Error>,
{
    run_service_with(config, Router::new(), shutdown, pipeline).await
}

/// [`run_service`] with the service's own routes served beside the operations endpoints.
pub async fn run_service_with<F, Fut, E>(
    config: &HttpConfig,
    routes: Router,
    shutdown: crate::Shutdown,
    pipeline: F,
) -> Result<(), E>
where
    F: FnOnce(Health, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<std::io::Error>,
{
    let health = Health::default();
    let listener = bind(config).await?;
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(serve_with(
        listener,
        health.clone(),
        routes,
        http_stop.clone(),
    ));
    let result = pipeline(health, shutdown.token()).await;
    shutdown.trigger();
    http_stop.cancel();
    let _ = http.await;
    result
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn readiness_follows_the_flag_and_metrics_render() {
        let listener = bind(&HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
        })
        .await
        .unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Health::default();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, health.clone(), stop.clone()));

        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        health.set_ready(true);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));

        metrics::counter!("rapport_test_events_total").increment(3);
        let body = get(addr, "/metrics").await;
        assert!(body.contains("rapport_test_events_total 3"), "{body}");

        stop.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn taken_port_is_a_clear_error() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind(&HttpConfig {
            listen: held.local_addr().unwrap(),
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("cannot listen on"), "{err}");
    }
}
