//! Serving a router over HTTP/1.1 with the limits every Rapport listener needs: a deadline for
//! each request head (slowloris), a cap on connections, the peer's address for the handlers
//! (`ConnectInfo<SocketAddr>`), and a graceful stop that lets requests in progress finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use tracing::{debug, warn};

use crate::HttpConfig;

/// Serves `router` on `listener` until `stop`, then waits for the requests in progress.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a reset during the handshake: keep serving the
                    // connections already open and try again shortly.
                    debug!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!("rapport_http_connections_refused_total").increment(1);
            warn!(%peer, limit = config.max_connections, "connection limit reached; closing a new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = WithPeer {
            router: router.clone(),
            peer,
        };
        let stop = stop.clone();
        connections.spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        debug!(%error, %peer, "connection ended with an error");
                    }
                }
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// The router with the peer's address put into each request's extensions, where axum's
/// `ConnectInfo<SocketAddr>` extractor finds it.
#[derive(Clone)]
struct WithPeer {
    router: Router,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for WithPeer {
    type Response = Response;
    type Error = Infallible;
    type Future = <Router as Service<Request>>::Future;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let mut router = self.router.clone();
        router.call(request)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn start(config: HttpConfig) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/peer",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                peer.ip().to_string()
            }),
        );
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move { serve_router(listener, router, &config, token).await });
        (addr, stop)
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
        answer
    }

    #[tokio::test]
    async fn handlers_see_the_peer_address() {
        let (addr, stop) = start(HttpConfig::default()).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_all(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
        stop.cancel();
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let config = HttpConfig {
            header_read_timeout_ms: 300,
            ..HttpConfig::default()
        };
        let (addr, stop) = start(config).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let answer = read_all(&mut slow).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "closed by the server, not by the test's own timeout"
        );
        assert!(!answer.contains("200 OK"), "{answer}");
        stop.cancel();
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed() {
        let config = HttpConfig {
            max_connections: 1,
            ..HttpConfig::default()
        };
        let (addr, stop) = start(config).await;
        let _held = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut over = TcpStream::connect(addr).await.unwrap();
        let _ = over
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer = read_all(&mut over).await;
        assert!(answer.is_empty(), "refused without an answer: {answer}");
        stop.cancel();
    }
}
