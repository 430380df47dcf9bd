//! A broker outage under steady webhook traffic, on librdkafka's in-process mock cluster (the
//! local Tansu cannot be stopped with an idempotent producer's batches in flight:
//! docs/ARCHITECTURE.md, "Broker quirks"). During the outage requests are answered 503 with
//! `Retry-After`; after it, every request that was answered 2xx is on the topic exactly once
//! (counted by `rapport-request-id`), and a burst of the refused requests' retries, sent all at
//! once, is answered 2xx.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rapport_gateway::service::ServiceConfig;
use rapport_kafka::{KafkaConfig, Topics};
use rapport_runtime::Shutdown;
use rapport_testkit::{free_addr, reader};
use rdkafka::Message;
use rdkafka::message::Headers;
use rdkafka::mocking::MockCluster;
use support::*;

/// One logical webhook: its own body, signed anew for every attempt.
fn body(n: usize) -> Vec<u8> {
    serde_json::json!({
        "schema": "rapport.generic.v1",
        "event_id": format!("outage-{n}"),
        "channel": "chat",
        "conversation_id": format!("c-{}", n % 17),
        "occurred_at": "2026-01-01T00:00:00Z",
        "direction": "inbound",
        "actor": {"role": "customer"},
        "text": format!("message {n}"),
    })
    .to_string()
    .into_bytes()
}

#[derive(Debug, Clone)]
struct Attempt {
    n: usize,
    status: u16,
    request_id: String,
    retry_after: Option<String>,
    took: Duration,
}

async fn attempt(client: &reqwest::Client, addr: SocketAddr, n: usize) -> Attempt {
    let started = Instant::now();
    let answer = generic("gen", GENERIC_SECRET, Utc::now(), &body(n))
        .send(client, addr)
        .await;
    Attempt {
        n,
        status: answer.status,
        request_id: answer.request_id.expect("every answer names its request"),
        retry_after: answer.retry_after,
        took: started.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_answered_503_and_every_2xx_lands_exactly_once() {
    let cluster = MockCluster::new(1).unwrap();
    let topics = Topics::prefixed("gw-outage");
    for spec in topics.specs() {
        cluster.create_topic(&spec.name, 3, 1).unwrap();
    }
    cluster
        .create_topic(&sendgrid_events_topic(&topics), 1, 1)
        .unwrap();
    let kafka = KafkaConfig {
        brokers: cluster.bootstrap_servers(),
        ..KafkaConfig::default()
    };
    let stand_in = StandIn::start().await;
    let (_, sendgrid_public) = sendgrid_keys();
    let addr = free_addr();
    let text = gateway_toml(
        &format!(
            "[http]\nlisten = \"{addr}\"\n[produce]\ntimeout_ms = 2000\nretry_after_seconds = 1\n[rate_limit]\nrequests_per_second = 100000.0\nburst = 100000\n"
        ),
        &kafka,
        &topics,
        &stand_in,
        &sendgrid_public,
    );
    let config: ServiceConfig = toml::from_str(&text).unwrap();
    let shutdown = Shutdown::new();
    let service = tokio::spawn(rapport_gateway::service::serve(config, shutdown.clone()));
    wait_ready(addr).await;

    // Steady traffic from 100 senders, each sending new webhooks one after another.
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let attempts = Arc::new(std::sync::Mutex::new(Vec::<Attempt>::new()));
    let senders: Vec<_> = (0..100)
        .map(|_| {
            let (client, next, running, attempts) = (
                client.clone(),
                next.clone(),
                running.clone(),
                attempts.clone(),
            );
            tokio::spawn(async move {
                while running.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let a = attempt(&client, addr, n).await;
                    attempts.lock().unwrap().push(a);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = attempts.lock().unwrap().len();
    cluster.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.broker_up(1).unwrap();
    running.store(false, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    let steady = attempts.lock().unwrap().clone();
    assert!(before > 0, "traffic before the outage");
    assert!(
        steady[..before].iter().all(|a| a.status == 200),
        "before the outage every request is accepted"
    );
    let refused: Vec<Attempt> = steady.iter().filter(|a| a.status != 200).cloned().collect();
    assert!(
        refused.len() >= 100,
        "the outage refused requests: {} of {}",
        refused.len(),
        steady.len()
    );
    for a in &refused {
        assert_eq!(a.status, 503, "{a:?}");
        assert_eq!(a.retry_after.as_deref(), Some("1"), "{a:?}");
        // The 2 s deadline, plus librdkafka's once-a-second timeout scan, plus slack.
        assert!(a.took < Duration::from_millis(4_500), "{a:?}");
    }
    let slowest = refused.iter().map(|a| a.took).max().unwrap_or_default();

    // Once Kafka answers again, every refused webhook is retried at once: the burst.
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe = loop {
        let a = attempt(&client, addr, next.fetch_add(1, Ordering::SeqCst)).await;
        if a.status == 200 {
            break a;
        }
        assert!(Instant::now() < deadline, "Kafka never came back: {a:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let burst: Vec<_> = refused
        .iter()
        .map(|a| {
            let (client, n) = (client.clone(), a.n);
            tokio::spawn(async move { attempt(&client, addr, n).await })
        })
        .collect();
    let mut retried = Vec::new();
    for task in burst {
        retried.push(task.await.unwrap());
    }
    let failed: Vec<&Attempt> = retried.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "the burst of {} retries was absorbed: {failed:?}",
        retried.len()
    );

    // Every 2xx is on the topic exactly once; a 503 may or may not be (a record that timed out
    // in flight may have been written), but no request landed twice.
    let refused_count = refused.len();
    let mut all: Vec<Attempt> = steady;
    all.extend(retried);
    all.push(probe);
    let accepted: BTreeSet<&str> = all
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.request_id.as_str())
        .collect();
    let sent: BTreeSet<&str> = all.iter().map(|a| a.request_id.as_str()).collect();
    let consumer = reader(&kafka, &[&topics.raw_chat]);
    let mut landed: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let complete = accepted.iter().all(|id| landed.contains_key(*id));
        match tokio::time::timeout(
            Duration::from_secs(if complete { 3 } else { 1 }),
            consumer.recv(),
        )
        .await
        {
            Ok(Ok(m)) => {
                let id = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "rapport-request-id"))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .expect("a request id on every record");
                *landed.entry(id).or_default() += 1;
            }
            // The reader reconnects after the outage too; its errors are not the gateway's.
            Ok(Err(_)) => {}
            Err(_) if complete => break,
            Err(_) => assert!(
                Instant::now() < deadline,
                "{} of {} accepted requests on the topic",
                accepted
                    .iter()
                    .filter(|id| landed.contains_key(**id))
                    .count(),
                accepted.len()
            ),
        }
    }
    let twice: Vec<_> = landed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "requests landed more than once: {twice:?}"
    );
    for id in landed.keys() {
        assert!(sent.contains(id.as_str()), "a record of no request: {id}");
    }
    let possibly = landed.len() - accepted.len();
    eprintln!(
        "outage: {} requests, {} answered 503 (the slowest after {slowest:?}), {} accepted, {} retried in one burst, {} of the 503s were written anyway (timed out in flight)",
        all.len(),
        refused_count,
        accepted.len(),
        refused_count,
        possibly
    );

    shutdown.trigger();
    service.await.unwrap().unwrap();
}
