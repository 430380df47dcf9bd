//! Serving a router over HTTP/1.1 with the limits every Rapport listener needs: a deadline for
//! each request head (slowloris), an idle time for kept-alive connections longer than that
//! deadline, a cap on connections, the peer's address for the handlers
//! (`ConnectInfo<SocketAddr>`), and a graceful stop that lets requests in progress finish. With
//! `tls` configured, the same over TLS (rustls), the certificate reloaded when its files change.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use tracing::{debug, warn};

use crate::HttpConfig;
use crate::tls::CertificateReloader;

/// Serves `router` on `listener` until `stop`, then waits for the requests in progress. With
/// `config.tls`, connections are TLS: the certificate and key are loaded now (an error when they
/// do not load) and checked for changes every `tls.reload_interval_ms`; a handshake must finish
/// within `header_read_timeout_ms`, like a request head.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    stop: CancellationToken,
) -> Result<(), std::io::Error> {
    let tls = match &config.tls {
        None => None,
        Some(files) => {
            let invalid = |e: crate::tls::TlsError| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("cannot serve TLS on {}: {e}", config.listen),
                )
            };
            let reloader = CertificateReloader::new(files).map_err(invalid)?;
            let server_config = reloader.server_config().map_err(invalid)?;
            reloader.watch(stop.clone());
            Some(TlsAcceptor::from(server_config))
        }
    };
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let idle_timeout = Duration::from_millis(config.idle_timeout_ms);
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
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => {
                    serve_connection(stream, service, header_timeout, idle_timeout, stop).await;
                }
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        () = stop.cancelled() => return,
                        done = tokio::time::timeout(header_timeout, acceptor.accept(stream)) => done,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, service, header_timeout, idle_timeout, stop)
                                .await;
                        }
                        Ok(Err(error)) => {
                            metrics::counter!("rapport_http_tls_handshake_failures_total")
                                .increment(1);
                            debug!(%error, %peer, "tls handshake failed");
                        }
                        Err(_) => debug!(%peer, "tls handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// One HTTP/1.1 connection over `io` (plain TCP or TLS) until it ends or `stop`.
async fn serve_connection<I>(
    io: I,
    service: WithPeer,
    header_timeout: Duration,
    idle_timeout: Duration,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = service.peer;
    let reads = Arc::new(AtomicU64::new(0));
    let timer = HeadTimer {
        header: header_timeout,
        idle: idle_timeout,
        reads: Arc::clone(&reads),
        waited: AtomicBool::new(false),
    };
    let connection = http1::Builder::new()
        .timer(timer)
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(Counted { io, reads }), service);
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
}

/// hyper's HTTP/1.1 server has one timer for a request head, started when it begins to wait for
/// one: on a kept-alive connection that wait includes the idle time since the last response, so
/// with `header_read_timeout` alone a connection idle for that long (10 s) is closed. A proxy in
/// front keeps its upstream connections open longer (nginx and ingress-nginx 60 s, AWS ALB 60 s)
/// and sends the next request on one this end is closing, which the proxy answers 502: to a
/// webhook provider, a failed delivery. So the wait for a later request gets `idle` until its
/// first byte arrives and `header` from then on; the first request's head has `header` from the
/// accept, as before (`tests::a_kept_alive_connection_*`).
struct HeadTimer {
    header: Duration,
    idle: Duration,
    /// Reads from the connection that returned bytes (`Counted`).
    reads: Arc<AtomicU64>,
    /// Whether a head has been waited for on the connection already.
    waited: AtomicBool,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        TokioTimer::new().sleep(duration)
    }

    /// hyper asks for a sleep only as it starts to wait for a head, due `header` later.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let later_request = self.waited.swap(true, Ordering::Relaxed);
        let due = if later_request {
            Instant::now() + self.idle
        } else {
            deadline
        };
        Box::pin(HeadSleep {
            sleep: Box::pin(tokio::time::sleep_until(due.into())),
            header: self.header,
            reads: Arc::clone(&self.reads),
            reads_at_start: self.reads.load(Ordering::Relaxed),
            idle: later_request,
        })
    }
}

/// The deadline of one head: while `idle`, the idle time; once the connection has read bytes
/// since the wait began, `header` from the moment that is seen. hyper polls this sleep each time
/// a read leaves the head incomplete, so that moment is the first byte's.
struct HeadSleep {
    sleep: Pin<Box<tokio::time::Sleep>>,
    header: Duration,
    reads: Arc<AtomicU64>,
    reads_at_start: u64,
    idle: bool,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.idle && this.reads.load(Ordering::Relaxed) != this.reads_at_start {
            this.idle = false;
            this.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + this.header);
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// A connection's stream, counting the reads that return bytes for [`HeadTimer`].
struct Counted<I> {
    io: I,
    reads: Arc<AtomicU64>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
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

    /// A kept-alive connection's GET /peer, read to the end of its answer.
    async fn get_kept_alive(stream: &mut TcpStream) -> String {
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let mut buf = [0u8; 4096];
        while !answer.ends_with("127.0.0.1") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer: {answer}");
            answer.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        answer
    }

    /// Whether the server closes `stream` within `within` (an idle connection sends nothing else).
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(within, stream.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    /// A server with these deadlines and a connection to it that has been answered once.
    async fn answered_once(header_ms: u64, idle_ms: u64) -> (TcpStream, CancellationToken) {
        let config = HttpConfig {
            header_read_timeout_ms: header_ms,
            idle_timeout_ms: idle_ms,
            ..HttpConfig::default()
        };
        let (addr, stop) = start(config).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(
            get_kept_alive(&mut stream)
                .await
                .starts_with("HTTP/1.1 200")
        );
        (stream, stop)
    }

    #[tokio::test]
    async fn a_kept_alive_connection_stays_open_between_requests_for_the_idle_time() {
        let (mut stream, stop) = answered_once(200, 1_500).await;
        // Idle for three head deadlines: still open, and the next request is answered on it.
        assert!(!closed_within(&mut stream, Duration::from_millis(600)).await);
        assert!(
            get_kept_alive(&mut stream)
                .await
                .starts_with("HTTP/1.1 200")
        );
        // Idle past the idle time: closed by the server.
        assert!(closed_within(&mut stream, Duration::from_secs(4)).await);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_kept_alive_connection_that_starts_a_head_has_the_head_deadline_from_then() {
        let (mut stream, stop) = answered_once(300, 30_000).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A slowloris head on the kept-alive connection: cut at the head deadline, not the idle
        // time.
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "closed at the head deadline, not the idle time"
        );
        stop.cancel();
    }

    /// GET /peer over TLS trusting `ca_file`: the answer and the certificate the server showed.
    async fn get_over_tls(
        addr: SocketAddr,
        ca_file: &std::path::Path,
    ) -> (String, rustls::pki_types::CertificateDer<'static>) {
        // Without resumption, like a new client process: a resumed session would show the
        // certificate of the session it resumes.
        let mut config = (*crate::tls::client_config(Some(ca_file)).unwrap()).clone();
        config.resumption = rustls::client::Resumption::disabled();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut stream = connector.connect(name, tcp).await.unwrap();
        let shown = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
        (answer, shown)
    }

    #[tokio::test]
    async fn https_serves_the_certificate_of_the_moment() {
        let ca = crate::tls::tests::TestCa::new("serve");
        let (cert_file, key_file) = ca.issue("server", &["localhost"]);
        let config = HttpConfig {
            tls: Some(crate::tls::ServerTls {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                reload_interval_ms: 100,
            }),
            ..HttpConfig::default()
        };
        let (addr, stop) = start(config).await;
        let (answer, first) = get_over_tls(addr, &ca.ca_file()).await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("127.0.0.1"),
            "{answer}"
        );
        // Renewed: a new pair written over the old files, key first, as a deploy tool would.
        let (next_cert, next_key) = ca.issue("renewed", &["localhost"]);
        std::fs::copy(&next_key, &key_file).unwrap();
        std::fs::copy(&next_cert, &cert_file).unwrap();
        let renewed = rustls::pki_types::CertificateDer::from(
            crate::tls::read_certificates(&next_cert).unwrap()[0].to_vec(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (answer, shown) = get_over_tls(addr, &ca.ca_file()).await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            if shown == renewed {
                break;
            }
            assert_eq!(shown, first, "either the old or the new certificate");
            assert!(
                std::time::Instant::now() < deadline,
                "the renewed certificate was never served"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_tls_handshake_is_cut_off() {
        let ca = crate::tls::tests::TestCa::new("handshake");
        let (cert_file, key_file) = ca.issue("server", &["localhost"]);
        let config = HttpConfig {
            header_read_timeout_ms: 300,
            tls: Some(crate::tls::ServerTls {
                cert_file,
                key_file,
                reload_interval_ms: 10_000,
            }),
            ..HttpConfig::default()
        };
        let (addr, stop) = start(config).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "closed by the server: {read:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
        stop.cancel();
    }

    #[tokio::test]
    async fn unloadable_tls_files_fail_the_listener_with_their_name() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = HttpConfig {
            tls: Some(crate::tls::ServerTls {
                cert_file: "/nonexistent/cert.pem".into(),
                key_file: "/nonexistent/key.pem".into(),
                reload_interval_ms: 1000,
            }),
            ..HttpConfig::default()
        };
        let error = serve_router(listener, Router::new(), &config, CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/cert.pem"),
            "{error}"
        );
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
