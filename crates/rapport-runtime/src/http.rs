//! The operations endpoints every service serves: `/healthz` (the process answers), `/readyz`
//! (the service is doing its job: 503 before it consumes and as soon as draining starts),
//! `/livez` (503 when a consumer has stopped making progress: the liveness probe) and `/metrics`
//! in Prometheus text format. With `http.metrics_listen`, `/metrics` moves to a listener of its
//! own (with the probes beside it), off the public port of a service that has one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use crate::serve::serve_router;

/// An HTTP listener and the limits that keep a slow or greedy client from holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// A connection that has not sent a whole request head within this time (from connecting,
    /// or from the first byte of a later request) is closed: a slowloris client holds nothing
    /// for long.
    pub header_read_timeout_ms: u64,
    /// A kept-alive connection idle this long between two requests is closed. Longer than the
    /// upstream keep-alive of a proxy in front (nginx, ingress-nginx and AWS ALB keep 60 s), so
    /// the proxy never sends a request on a connection this end is closing (it answers that 502).
    pub idle_timeout_ms: u64,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Serve `/metrics` (and `/healthz`, `/readyz`, `/livez`) on this address too, and no longer
    /// `/metrics` on `listen`: for the API and the gateway, whose `listen` port is public. Plain
    /// HTTP, for a scraper on the private network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate and key (`[http.tls]`); unset serves plain HTTP, for
    /// running behind a TLS-terminating ingress or on a private network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::ServerTls>,
}

impl HttpConfig {
    /// The defaults, listening on `listen`.
    pub fn on(listen: SocketAddr) -> Self {
        Self {
            listen,
            ..Self::default()
        }
    }

    pub fn validate(&self, section: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.header_read_timeout_ms == 0 {
            problems.push(format!("{section}.header_read_timeout_ms must be positive"));
        }
        if self.idle_timeout_ms == 0 {
            problems.push(format!("{section}.idle_timeout_ms must be positive"));
        }
        if self.max_connections == 0 {
            problems.push(format!("{section}.max_connections must be positive"));
        }
        if let Some(tls) = &self.tls {
            problems.extend(tls.validate(&format!("{section}.tls")));
        }
        if self.metrics_listen == Some(self.listen) {
            problems.push(format!(
                "{section}.metrics_listen must differ from {section}.listen (leave it unset to serve /metrics on {section}.listen)"
            ));
        }
        problems
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 75_000,
            max_connections: 1024,
            metrics_listen: None,
            tls: None,
        }
    }
}

/// What `/livez` asks: `None` while the service makes progress, else what is stuck.
pub type LivenessCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Shared readiness flag: the service sets it once it consumes, and clears it first thing when
/// it starts draining so load balancers stop sending work before anything else stops. And the
/// liveness check a consuming service installs, so a consumer that silently stopped making
/// progress fails its liveness probe and gets restarted.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    liveness: Arc<std::sync::Mutex<Option<LivenessCheck>>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Health {
    pub fn set_liveness(&self, check: impl Fn() -> Option<String> + Send + Sync + 'static) {
        *self
            .liveness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(check));
    }

    /// `None` when live, else what is stuck.
    pub fn stuck(&self) -> Option<String> {
        let check = self
            .liveness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        check.and_then(|check| check())
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The process-wide Prometheus recorder ([`crate::metrics::install`] it first with the
/// service's catalogue; installed without one on first use otherwise).
pub fn metrics_handle() -> PrometheusHandle {
    crate::metrics::handle()
}

/// The probes and `/metrics`.
pub fn router(health: Health, metrics: PrometheusHandle) -> Router {
    probes(health).route(
        "/metrics",
        get(move || std::future::ready(metrics.render())),
    )
}

/// `/healthz`, `/readyz` and `/livez`.
pub fn probes(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/livez", get(livez))
        .with_state(health)
}

/// The liveness probe: 503 naming the partitions that have had records waiting and no progress
/// for longer than the service's `kafka.stall_timeout_ms`, or records waiting while librdkafka
/// held their fetcher out of `active` for longer than `kafka.fetch_inactive_timeout_ms`
/// (`rapport-kafka`'s README, "Liveness").
async fn livez(State(health): State<Health>) -> (StatusCode, String) {
    match health.stuck() {
        None => (StatusCode::OK, "live\n".into()),
        Some(stuck) => (StatusCode::SERVICE_UNAVAILABLE, format!("stuck: {stuck}\n")),
    }
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
    bind_addr(config.listen).await
}

async fn bind_addr(addr: SocketAddr) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} for health and metrics: {e}"),
        )
    })
}

pub async fn serve(
    listener: TcpListener,
    config: &HttpConfig,
    health: Health,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    serve_with(listener, config, health, Router::new(), stop).await
}

/// [`serve`] plus a service's own routes (an admin API) on the same listener; `/metrics` there
/// too unless `config.metrics_listen` moves it (see [`run_service_with`]).
pub async fn serve_with(
    listener: TcpListener,
    config: &HttpConfig,
    health: Health,
    routes: Router,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    info!(addr = %listener.local_addr()?, "health and metrics endpoints listening");
    let ops = if config.metrics_listen.is_some() {
        probes(health)
    } else {
        router(health, metrics_handle())
    };
    serve_router(listener, ops.merge(routes), config, stop).await
}

/// The probes and `/metrics` on `listener`, plain HTTP, until `stop`.
async fn serve_metrics(
    listener: TcpListener,
    config: &HttpConfig,
    health: Health,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    info!(addr = %listener.local_addr()?, "metrics endpoint listening");
    let plain = HttpConfig {
        tls: None,
        metrics_listen: None,
        ..config.clone()
    };
    serve_router(listener, router(health, metrics_handle()), &plain, stop).await
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
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(bind_addr(addr).await?),
        None => None,
    };
    let http_stop = CancellationToken::new();
    let http = tokio::spawn({
        let (config, health, stop) = (config.clone(), health.clone(), http_stop.clone());
        async move { serve_with(listener, &config, health, routes, stop).await }
    });
    let metrics = metrics_listener.map(|listener| {
        let (config, health, stop) = (config.clone(), health.clone(), http_stop.clone());
        tokio::spawn(async move { serve_metrics(listener, &config, health, stop).await })
    });
    let result = pipeline(health, shutdown.token()).await;
    shutdown.trigger();
    http_stop.cancel();
    let _ = http.await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
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
        let config = HttpConfig::on("127.0.0.1:0".parse().unwrap());
        let listener = bind(&config).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Health::default();
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let (health, stop) = (health.clone(), stop.clone());
            async move { serve(listener, &config, health, stop).await }
        });

        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        health.set_ready(true);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));
        health.set_liveness(|| Some("t/0 stuck".into()));
        let answer = get(addr, "/livez").await;
        assert!(
            answer.starts_with("HTTP/1.1 503") && answer.contains("t/0 stuck"),
            "{answer}"
        );
        health.set_liveness(|| None);
        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));

        metrics::counter!("rapport_test_events_total").increment(3);
        let body = get(addr, "/metrics").await;
        assert!(body.contains("rapport_test_events_total 3"), "{body}");

        stop.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn metrics_listen_moves_metrics_off_the_public_port() {
        let public = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
        let held = std::net::TcpListener::bind(public).unwrap();
        let (public, metrics_addr) = (held.local_addr().unwrap(), {
            let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            other.local_addr().unwrap()
        });
        drop(held);
        let config = HttpConfig {
            metrics_listen: Some(metrics_addr),
            ..HttpConfig::on(public)
        };
        assert!(config.validate("http").is_empty());
        let shutdown = crate::Shutdown::new();
        let routes = Router::new().route("/public", axum::routing::get(|| async { "public\n" }));
        let service = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                run_service_with(&config, routes, shutdown, |health, stop| async move {
                    health.set_ready(true);
                    stop.cancelled().await;
                    Ok::<(), std::io::Error>(())
                })
                .await
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::net::TcpStream::connect(metrics_addr).await.is_err() {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        metrics::counter!("rapport_test_split_total").increment(1);
        assert!(get(public, "/public").await.starts_with("HTTP/1.1 200"));
        assert!(get(public, "/readyz").await.starts_with("HTTP/1.1 200"));
        assert!(get(public, "/metrics").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(metrics_addr, "/readyz")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert!(
            get(metrics_addr, "/public")
                .await
                .starts_with("HTTP/1.1 404")
        );
        let body = get(metrics_addr, "/metrics").await;
        assert!(
            body.starts_with("HTTP/1.1 200") && body.contains("rapport_test_split_total"),
            "{body}"
        );
        shutdown.trigger();
        service.await.unwrap().unwrap();

        let same = HttpConfig {
            metrics_listen: Some(public),
            ..HttpConfig::on(public)
        };
        assert_eq!(same.validate("http").len(), 1);
    }

    #[tokio::test]
    async fn taken_port_is_a_clear_error() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind(&HttpConfig::on(held.local_addr().unwrap()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot listen on"), "{err}");
    }
}
