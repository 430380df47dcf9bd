//! `rapport generate --gateway URL`: each record POSTed to `rapport-gateway` as its provider
//! would send it (`rapport_gateway::sign`), instead of produced to the raw topics.
//!
//! A record is sent when the gateway answers 2xx, which it does only once Kafka acknowledged
//! it; 503 and 429 are retried after their `Retry-After`, as providers do. Records keep their
//! order within a conversation (one lane per record key); lanes run concurrently.
//!
//! Some records have no webhook to go through, and are produced straight to their raw topic,
//! as before, so the pipeline still sees every record; the summary names them and why:
//! - `rfc822`: raw mail arrives by SMTP (an MTA pipe), not by a webhook;
//! - a deliberately broken `ses` or `google` payload: SNS only sends SNS messages, and the
//!   gateway lands only reviews the Business Profile API serves as JSON, so no provider could
//!   send these through the gateway; the dead-letter path must still see them.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use rapport_gateway::sign::stand_in::StandIn;
use rapport_gateway::{EndpointConfig, ProcessEnv, Sender, SenderKey, Signed, Source};
use rapport_traffic::RawRecord;

/// How many times a request answered 503/429 (or not answered) is tried before giving up.
const MAX_ATTEMPTS: u32 = 30;
/// The longest wait between tries, whatever `Retry-After` says. With [`MAX_ATTEMPTS`], a
/// request is retried for at most 4 minutes: inside the 5-minute timestamp tolerance of the
/// signed schemes, so the retries need not be signed again (and keep their delivery ids, which
/// the gateway deduplicates by).
const MAX_RETRY_WAIT: Duration = Duration::from_secs(8);
/// How much of a refusal's body an error quotes.
const QUOTE_BYTES: usize = 200;

/// Where and how to send.
#[derive(Debug)]
pub struct Target {
    /// `http://127.0.0.1:19480`, without a trailing slash.
    pub base: String,
    pub sender: Sender,
    /// Serves Google's keys and the reviews the gateway fetches (demo and tests only).
    pub stand_in: Option<StandIn>,
    /// Records in flight at once (one per lane).
    pub lanes: usize,
}

/// The gateway side of `rapport generate --gateway`'s options.
#[derive(Debug)]
pub struct TargetOptions<'a> {
    pub url: &'a str,
    /// The gateway's config file: its `[[endpoints]]` (everything else in it is ignored).
    pub config: &'a Path,
    /// The RSA key standing for AWS's and Google's signing keys (`ses`, `google`).
    pub signing_key: Option<&'a Path>,
    /// Where the Google stand-in listens (the gateway's `test_only_reroute` points there).
    pub stand_in: Option<SocketAddr>,
    pub lanes: usize,
}

/// Only what the sender reads of a gateway config.
#[derive(Debug, serde::Deserialize)]
struct EndpointsOnly {
    #[serde(default)]
    endpoints: Vec<EndpointConfig>,
}

impl Target {
    pub async fn new(options: TargetOptions<'_>) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(options.config)
            .with_context(|| format!("cannot read {}", options.config.display()))?;
        let endpoints: EndpointsOnly = toml::from_str(&text)
            .with_context(|| format!("{} is not a gateway config", options.config.display()))?;
        let key = match options.signing_key {
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Some(SenderKey::from_pem(&pem)?)
            }
            None => None,
        };
        let sender = Sender::new(&endpoints.endpoints, &ProcessEnv, key.as_ref())?;
        let stand_in = match (options.stand_in, key) {
            (Some(addr), Some(key)) => Some(
                StandIn::start(addr, key.jwks())
                    .await
                    .with_context(|| format!("the Google stand-in cannot listen on {addr}"))?,
            ),
            (Some(_), None) => anyhow::bail!("--google-stand-in needs --signing-key"),
            (None, _) => None,
        };
        Ok(Self {
            base: options.url.trim_end_matches('/').to_owned(),
            sender,
            stand_in,
            lanes: options.lanes.max(1),
        })
    }
}

/// What was sent where.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Records the gateway acknowledged, per source.
    pub through_gateway: BTreeMap<String, usize>,
    /// Records that have no webhook, produced straight to Kafka by the caller: why, per source.
    pub direct: Vec<(RawRecord, &'static str)>,
    /// Tries answered 503/429 (or not answered) and retried.
    pub retries: usize,
}

impl Outcome {
    /// One line per reason records went straight to Kafka: `rfc822: 120 (why)`.
    pub fn direct_summary(&self) -> Vec<String> {
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (record, why) in &self.direct {
            *counts.entry((record.source.as_str(), why)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((source, why), n)| format!("{source}: {n} ({why})"))
            .collect()
    }
}

/// Sends every record that has a webhook; returns the others for the caller to produce.
pub async fn send(records: &[RawRecord], target: Arc<Target>) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut lanes: Vec<Vec<RawRecord>> = vec![Vec::new(); target.lanes];
    let hasher = std::collections::hash_map::RandomState::new();
    for record in records {
        let Some(source) = Source::from_name(record.source.as_str()) else {
            outcome
                .direct
                .push((record.clone(), "raw mail arrives by SMTP, not by a webhook"));
            continue;
        };
        if record.invalid && matches!(source, Source::Ses | Source::Google) {
            outcome.direct.push((
                record.clone(),
                "deliberately broken; no provider could send it through the gateway",
            ));
            continue;
        }
        let lane = hasher.hash_one(&record.key) % target.lanes as u64;
        lanes[lane as usize].push(record.clone());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes {
        let target = target.clone();
        tasks.spawn(async move { send_lane(&lane, &target).await });
    }
    let mut failure = None;
    while let Some(done) = tasks.join_next().await {
        let done = match done {
            // A lane aborted after the first failure: that failure is the run's error.
            Err(e) if e.is_cancelled() => continue,
            done => done.context("a sending task panicked")?,
        };
        match done {
            Ok((sent, retries)) => {
                for (source, n) in sent {
                    *outcome.through_gateway.entry(source).or_default() += n;
                }
                outcome.retries += retries;
            }
            Err(e) => {
                // The first failure stops the run; the other lanes are aborted with the set.
                failure.get_or_insert(e);
                tasks.abort_all();
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

async fn send_lane(
    records: &[RawRecord],
    target: &Target,
) -> anyhow::Result<(HashMap<String, usize>, usize)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    let (mut sent, mut retries) = (HashMap::new(), 0);
    for record in records {
        let source = Source::from_name(record.source.as_str()).expect("filtered by send");
        let endpoint = target.sender.endpoint(source, &record.tenant)?;
        let signed = endpoint.sign(&record.payload, Utc::now())?;
        if let Some((name, review)) = &signed.serve {
            let stand_in = target.stand_in.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "google records need --google-stand-in: the gateway fetches each notified review"
                )
            })?;
            stand_in.serve_review(name, review.clone());
        }
        retries += post(&client, &target.base, &signed, source).await?;
        *sent.entry(source.as_str().to_owned()).or_default() += 1;
    }
    Ok((sent, retries))
}

/// POSTs until a 2xx; returns how many tries were retried.
async fn post(
    client: &reqwest::Client,
    base: &str,
    signed: &Signed,
    source: Source,
) -> anyhow::Result<usize> {
    let url = format!("{base}{}", signed.path_and_query);
    for attempt in 0..MAX_ATTEMPTS {
        let mut request = client.post(&url).body(signed.body.clone());
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        let wait = match request.send().await {
            Ok(answer) if answer.status().is_success() => return Ok(attempt as usize),
            Ok(answer) if matches!(answer.status().as_u16(), 503 | 429) => answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs),
            Ok(answer) => {
                let status = answer.status();
                let body = answer.text().await.unwrap_or_default();
                let mut end = body.len().min(QUOTE_BYTES);
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                anyhow::bail!(
                    "the gateway refused a {} record: {status} {}",
                    source.as_str(),
                    &body[..end]
                );
            }
            // Not answered (the gateway starting or restarting): try again shortly.
            Err(_) => Duration::from_millis(200 * u64::from(attempt + 1)),
        };
        tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
    }
    anyhow::bail!(
        "the gateway did not accept a {} record after {MAX_ATTEMPTS} tries (503/429 or no answer)",
        source.as_str()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    /// A gateway stand-in answering each POST with the next of `answers` (then 200), and
    /// remembering each body.
    async fn gateway(
        answers: Vec<(u16, Option<&'static str>)>,
    ) -> (String, Arc<Mutex<Vec<Vec<u8>>>>, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let tries = Arc::new(AtomicUsize::new(0));
        let (seen, count) = (bodies.clone(), tries.clone());
        let answers = Arc::new(answers);
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (seen, count, answers) = (seen.clone(), count.clone(), answers.clone());
            async move {
                seen.lock().unwrap().push(body.to_vec());
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (status, retry_after) = answers.get(n).copied().unwrap_or((200, None));
                let status = StatusCode::from_u16(status).unwrap();
                match retry_after {
                    Some(after) => (status, [("retry-after", after)], "busy").into_response(),
                    None => (status, "{\"error\":\"bad signature\"}").into_response(),
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), bodies, tries)
    }

    fn signed() -> Signed {
        Signed {
            path_and_query: "/hooks/zendesk/acme".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"a\":1}".to_vec(),
            serve: None,
        }
    }

    #[tokio::test]
    async fn a_503_and_a_429_are_retried_after_retry_after_with_the_same_request() {
        let (base, bodies, tries) = gateway(vec![(503, Some("1")), (429, Some("0"))]).await;
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        let retried = post(&client, &base, &signed(), Source::Zendesk)
            .await
            .unwrap();
        assert_eq!(retried, 2);
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After: 1 was not waited"
        );
        let bodies = bodies.lock().unwrap();
        assert!(bodies.iter().all(|b| b == b"{\"a\":1}"), "{bodies:?}");
    }

    #[tokio::test]
    async fn a_refusal_is_an_error_naming_the_status_and_is_not_retried() {
        let (base, _, tries) = gateway(vec![(401, None)]).await;
        let err = post(&reqwest::Client::new(), &base, &signed(), Source::Zendesk)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("401") && err.contains("zendesk"), "{err}");
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
