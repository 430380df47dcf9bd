// A load harness reports on stdout; that is its output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Gateway load harness, on the local stack, with the gateway as a release-built process:
//! 1. sustained verified webhook requests/s over keep-alive connections (each a `generic`
//!    request signed with HMAC-SHA256, verified, produced and acknowledged by the broker);
//! 2. latency at a steady 2,000 requests/s, measured from each request's scheduled send time
//!    (so a stall counts against every request it delays);
//! 3. the gateway's peak RSS.
//!
//! Beside it, in the same run, the bare HTTP baseline: the same listener
//! (`rapport_runtime::http::serve_router`, same limits) answering the same requests after
//! reading the body, without verifying or producing; this harness runs it as a process of its
//! own (it starts itself with `RAPPORT_BENCH_ROLE=baseline`).
//!
//! `cargo bench -p rapport-gateway --bench load` (part of `make bench`; build the release
//! binary first: `cargo build --release -p rapport-gateway`, which `make bench` does).
//! `RAPPORT_BENCH_SECONDS` (default 10 per phase), `RAPPORT_BENCH_CONNECTIONS` (64),
//! `RAPPORT_BENCH_RATE` (2000), `RAPPORT_BENCH_BODY_BYTES` (about 1,000),
//! `RAPPORT_BENCH_LINGER_MS` (the producer's `linger.ms`, default 5 as every Rapport producer),
//! `RAPPORT_BENCH_DEBUG` (print the latency phase second by second),
//! `RAPPORT_BENCH_SHARED_BROKER` (produce to the local stack's running broker instead of a
//! fresh one).
//!
//! By default the gateway produces to a fresh Tansu of the harness's own, started by the local
//! stack's script with the stack's memory storage: what `make down up` gives, without stopping
//! the shared broker, which carries every other test's topics and traffic and whose memory
//! storage slows as it fills (docs/ARCHITECTURE.md, "Broker quirks"). ClickHouse is not used.
//!
//! The machine is shared: the harness prints the load averages before and after, and each
//! server's CPU time per request, which depends far less on the neighbours than the rates.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rapport_kafka::{Topics, ensure_topics};
use rapport_runtime::HttpConfig;
use rapport_testkit::{
    ScratchDir, Service, Stack, free_addr, kafka_and_topics_toml, peak_rss_mib, unique_name,
};

const SECRET: &str = "bench-generic-secret";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("RAPPORT_BENCH_ROLE").as_deref() == Ok("baseline") {
        runtime.block_on(baseline());
        return;
    }
    // `cargo bench` passes --bench; a filter or --list means nothing here.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    runtime.block_on(harness());
}

/// The bare server: the same listener and limits as the gateway, reading each body whole and
/// answering 200, with no verification and no Kafka.
async fn baseline() {
    let addr: SocketAddr = std::env::var("RAPPORT_BENCH_LISTEN")
        .expect("RAPPORT_BENCH_LISTEN")
        .parse()
        .unwrap();
    let router = Router::new().route(
        "/hooks/{source}/{endpoint}",
        axum::routing::post(|body: Body| async move {
            match axum::body::to_bytes(body, 25 * 1024 * 1024).await {
                Ok(_) => (
                    StatusCode::OK,
                    format!(
                        "{{\"status\":\"accepted\",\"request_id\":\"{:032x}\"}}",
                        rand::random::<u128>()
                    ),
                ),
                Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, String::new()),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    rapport_runtime::http::serve_router(listener, router, &HttpConfig::on(addr), stop)
        .await
        .unwrap();
}

/// One request: a generic event of about `size` bytes, signed now.
fn request(addr: SocketAddr, n: u64, size: usize) -> hyper::Request<Full<Bytes>> {
    let padding = "x".repeat(size.saturating_sub(330));
    let body = format!(
        r#"{{"schema":"rapport.generic.v1","event_id":"bench-{n}","channel":"chat","conversation_id":"c-{}","occurred_at":"2026-01-01T00:00:00Z","direction":"inbound","actor":{{"role":"customer","id":"u-{}"}},"customer":{{"email":"c{}@example.com"}},"text":"{padding}"}}"#,
        n % 1000,
        n % 1000,
        n % 1000
    );
    let ts = chrono::Utc::now().timestamp().to_string();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    hyper::Request::post("/hooks/generic/bench")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("x-rapport-timestamp", ts)
        .header("x-rapport-signature", format!("v1={signature}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// A keep-alive connection.
async fn connect(addr: SocketAddr) -> http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// Sends `request` on `sender` (reconnecting when the server closed it); true on a 2xx.
async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    request: hyper::Request<Full<Bytes>>,
) -> bool {
    if sender.ready().await.is_err() {
        *sender = connect(addr).await;
    }
    match sender.send_request(request).await {
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            ok
        }
        Err(_) => {
            *sender = connect(addr).await;
            false
        }
    }
}

#[derive(Debug, Default)]
struct Throughput {
    per_second: f64,
    failed: u64,
    /// The server's CPU time per accepted request, in microseconds.
    cpu_us: f64,
}

/// Every connection sends as fast as it is answered, for `seconds` after a 2 s warm-up.
async fn throughput(
    addr: SocketAddr,
    server_pid: u32,
    connections: usize,
    seconds: u64,
    size: usize,
) -> Throughput {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, next) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (counting, stop, ok, failed, next) = (
            counting.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let accepted = send(&mut sender, addr, request(addr, n, size)).await;
                if counting.load(Ordering::Relaxed) {
                    if accepted { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    counting.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let cpu_before = cpu_seconds(server_pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    counting.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server_pid) - cpu_before;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }
    let accepted = ok.load(Ordering::SeqCst);
    Throughput {
        per_second: accepted as f64 / elapsed,
        failed: failed.load(Ordering::SeqCst),
        cpu_us: cpu / accepted.max(1) as f64 * 1e6,
    }
}

#[derive(Debug, Default)]
struct Latency {
    /// The server's CPU time per request, in microseconds.
    cpu_us: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    sent: usize,
    failed: usize,
}

/// Requests scheduled at `rate`/s for `seconds`, served by a pool of `connections`; each
/// latency runs from the request's scheduled time to its answer.
async fn latency(
    addr: SocketAddr,
    server_pid: u32,
    connections: usize,
    rate: u64,
    seconds: u64,
    size: usize,
) -> Latency {
    let total = rate * seconds;
    let (tx, rx) = tokio::sync::mpsc::channel::<(u64, Instant)>(total as usize);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let results = Arc::new(std::sync::Mutex::new(
        Vec::<(Duration, bool, Instant)>::with_capacity(total as usize),
    ));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (rx, results) = (rx.clone(), results.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            loop {
                let next = rx.lock().await.recv().await;
                let Some((n, scheduled)) = next else { break };
                let accepted = send(&mut sender, addr, request(addr, n, size)).await;
                results
                    .lock()
                    .unwrap()
                    .push((scheduled.elapsed(), accepted, scheduled));
            }
        }));
    }
    let start = Instant::now() + Duration::from_millis(200);
    let cpu_before = cpu_seconds(server_pid);
    for n in 0..total {
        let at = start + Duration::from_secs_f64(n as f64 / rate as f64);
        tokio::time::sleep_until(at.into()).await;
        tx.send((1_000_000_000 + n, at)).await.unwrap();
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
    let cpu = cpu_seconds(server_pid) - cpu_before;
    let results = results.lock().unwrap();
    if std::env::var("RAPPORT_BENCH_DEBUG").is_ok() {
        let mut by_second: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
        for (d, _, at) in results.iter() {
            by_second
                .entry(at.duration_since(start).as_secs())
                .or_default()
                .push(d.as_secs_f64() * 1e3);
        }
        for (second, mut v) in by_second {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            eprintln!(
                "second {second}: n {} p50 {:.1} p99 {:.1} max {:.1}",
                v.len(),
                v[v.len() / 2],
                v[v.len() * 99 / 100],
                v[v.len() - 1]
            );
        }
    }
    let mut times: Vec<Duration> = results.iter().map(|(d, _, _)| *d).collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Latency {
        cpu_us: cpu / times.len().max(1) as f64 * 1e6,
        p50_ms: at(0.50).as_secs_f64() * 1e3,
        p99_ms: at(0.99).as_secs_f64() * 1e3,
        max_ms: times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        sent: times.len(),
        failed: results.iter().filter(|(_, ok, _)| !ok).count(),
    }
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which ends with ')': utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The 1, 5 and 15 minute load averages: the machine is shared, and they say how much.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Baseline(Child);

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn harness() {
    let seconds: u64 = env_or("RAPPORT_BENCH_SECONDS", 10);
    let connections: usize = env_or("RAPPORT_BENCH_CONNECTIONS", 64);
    let rate: u64 = env_or("RAPPORT_BENCH_RATE", 2000);
    let size: usize = env_or("RAPPORT_BENCH_BODY_BYTES", 1000);
    let mut stack = Stack::from_env();
    if let Ok(linger) = std::env::var("RAPPORT_BENCH_LINGER_MS") {
        stack.kafka.extra.insert("linger.ms".into(), linger);
    }
    let fresh = std::env::var_os("RAPPORT_BENCH_SHARED_BROKER")
        .is_none()
        .then(|| rapport_testkit::PrivateBroker::start_in_memory("gw-bench-broker"));
    if let Some(broker) = &fresh {
        stack.kafka.brokers = broker.brokers();
    }
    let prefix = unique_name("gw-bench");
    let topics = Topics::prefixed(&prefix);
    ensure_topics(&stack.kafka, &topics.specs())
        .await
        .expect("topics created; is the stack up? run `make up`");
    let dir = ScratchDir::new(&prefix);
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[rate_limit]\nrequests_per_second = 1000000.0\nburst = 1000000\n{}\n[[endpoints]]\nid = \"bench\"\ntenant = \"acme\"\nsource = \"generic\"\nsecrets = [{{ value = \"{SECRET}\" }}]\n",
            kafka_and_topics_toml(&stack.kafka, &topics)
        ),
    )
    .unwrap();
    let binary = rapport_testkit::binary("rapport-gateway");
    let gateway = Service::start(binary.to_str().unwrap(), &config, free_addr(), "warn").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gateway.get("/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "the gateway never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base_addr = free_addr();
    let baseline = Baseline(
        Command::new(std::env::current_exe().unwrap())
            .env("RAPPORT_BENCH_ROLE", "baseline")
            .env("RAPPORT_BENCH_LISTEN", base_addr.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while tokio::net::TcpStream::connect(base_addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!(
        "gateway load: {connections} keep-alive connections, {seconds} s per phase, bodies of about {size} bytes, generic HMAC-SHA256, linger.ms {}, {} broker; load average before: {}",
        stack
            .kafka
            .extra
            .get("linger.ms")
            .map_or("5", String::as_str),
        if fresh.is_some() {
            "a fresh"
        } else {
            "the shared"
        },
        load_average()
    );
    let gw_max = throughput(gateway.http, gateway.pid(), connections, seconds, size).await;
    let base_max = throughput(base_addr, baseline.0.id(), connections, seconds, size).await;
    let gw_lat = latency(
        gateway.http,
        gateway.pid(),
        connections,
        rate,
        seconds,
        size,
    )
    .await;
    let base_lat = latency(base_addr, baseline.0.id(), connections, rate, seconds, size).await;
    let gw_rss = peak_rss_mib(gateway.pid());
    let (_, metrics) = gateway.get("/metrics").await;
    let quantile = |q: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("rapport_gateway_ack_seconds{{quantile=\"{q}\"}}")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |s| s * 1e3)
    };
    let base_rss = peak_rss_mib(baseline.0.id());
    println!(
        "| server | requests/s (max) | failed | CPU per request | p50 at {rate}/s | p99 at {rate}/s | max at {rate}/s | failed | CPU per request at {rate}/s | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, max, lat, rss) in [
        (
            "gateway (verify + produce, acks=all)",
            &gw_max,
            &gw_lat,
            gw_rss,
        ),
        (
            "bare HTTP baseline (same listener)",
            &base_max,
            &base_lat,
            base_rss,
        ),
    ] {
        println!(
            "| {name} | {:.0} | {} | {:.0} µs | {:.1} ms | {:.1} ms | {:.1} ms | {} of {} | {:.0} µs | {rss:.1} MiB |",
            max.per_second,
            max.failed,
            max.cpu_us,
            lat.p50_ms,
            lat.p99_ms,
            lat.max_ms,
            lat.failed,
            lat.sent,
            lat.cpu_us
        );
    }
    println!(
        "inside the gateway, produce to broker acknowledgement over all phases: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; load average after: {}",
        quantile("0.5"),
        quantile("0.99"),
        quantile("1"),
        load_average()
    );
    println!(
        "targets: >= 10000 verified requests/s ({}), p99 <= 50 ms at 2000/s ({}), <= 100 MB RSS ({})",
        if gw_max.per_second >= 10_000.0 {
            "met"
        } else {
            "not met"
        },
        if gw_lat.p99_ms <= 50.0 {
            "met"
        } else {
            "not met"
        },
        if gw_rss * 1.048_576 <= 100.0 {
            "met"
        } else {
            "not met"
        },
    );
    drop(baseline);
    drop(gateway);
    drop(fresh);
}
