//! The gateway's own HTTP requests: SNS signing certificates and `SubscribeURL`s, Google's JWT
//! keys, and reviews from the Business Profile API. https only (the URLs have passed their
//! allow-lists already), no redirects (a redirect could leave the allow-list), a short timeout,
//! and at most [`MAX_RESPONSE_BYTES`] read from any answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::keys::{Fetch, FetchError, FetchFuture, MAX_KEY_DOCUMENT_BYTES};
use crate::secret::Secret;

/// The most bytes read from any answer: a certificate, a JWKS or one review is a few KiB.
pub const MAX_RESPONSE_BYTES: usize = MAX_KEY_DOCUMENT_BYTES;

/// The HTTP client, shared by every fetch.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    reroute: Arc<BTreeMap<String, Url>>,
}

/// An answer: its status and at most [`MAX_RESPONSE_BYTES`] of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Outbound {
    /// A client with `timeout` for each whole request; `reroute` sends requests for a host to a
    /// loopback stand-in (tests only, already checked by the config).
    pub fn new(timeout: Duration, reroute: BTreeMap<String, Url>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("rapport-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            reroute: Arc::new(reroute),
        })
    }

    /// Where a request for `url` really goes: `url` itself, which must be https, or its
    /// stand-in.
    fn target(&self, url: &Url) -> Result<Url, String> {
        if url.scheme() != "https" {
            return Err("only https URLs are fetched".into());
        }
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        match self.reroute.get(&host) {
            None => Ok(url.clone()),
            Some(base) => {
                let mut target = base.clone();
                target.set_path(url.path());
                target.set_query(url.query());
                Ok(target)
            }
        }
    }

    /// GETs `url`, with a bearer token when given. Errors name the URL's host and what failed,
    /// never the token.
    pub async fn get(&self, url: &Url, bearer: Option<&Secret>) -> Result<Answer, String> {
        let target = self.target(url)?;
        let host = url.host_str().unwrap_or("").to_owned();
        let mut request = self.client.get(target);
        if let Some(token) = bearer {
            let value = std::str::from_utf8(token.expose())
                .map_err(|_| "the access token is not text".to_string())?;
            request = request.bearer_auth(value);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("GET from {host} failed: {}", without_url(&e)))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the answer of {host} failed: {}", without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!(
                    "the answer of {host} is over {MAX_RESPONSE_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    }
}

/// A reqwest error's text without the URL it carries: a URL may hold a query token.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "broken answer"
    } else {
        "request error"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

impl Fetch for Outbound {
    fn get<'a>(&'a self, url: &'a Url) -> FetchFuture<'a> {
        Box::pin(async move {
            let answer = Outbound::get(self, url, None)
                .await
                .map_err(|reason| FetchError {
                    url: url.to_string(),
                    reason,
                })?;
            if answer.status == 200 {
                Ok(answer.body)
            } else {
                Err(FetchError {
                    url: url.to_string(),
                    reason: format!("answered {}", answer.status),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(reroute: &[(&str, &str)]) -> Outbound {
        Outbound::new(
            Duration::from_secs(2),
            reroute
                .iter()
                .map(|(h, t)| (h.to_string(), Url::parse(t).unwrap()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn only_https_is_fetched_and_a_reroute_keeps_path_and_query() {
        let o = outbound(&[("sns.us-east-1.amazonaws.com", "http://127.0.0.1:9")]);
        let url =
            Url::parse("https://sns.us-east-1.amazonaws.com/?Action=Confirm&Token=t").unwrap();
        assert_eq!(
            o.target(&url).unwrap().as_str(),
            "http://127.0.0.1:9/?Action=Confirm&Token=t"
        );
        let other = Url::parse("https://www.googleapis.com/oauth2/v3/certs").unwrap();
        assert_eq!(o.target(&other).unwrap(), other);
        let plain = Url::parse("http://sns.us-east-1.amazonaws.com/x").unwrap();
        assert!(o.target(&plain).is_err());
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_and_errors_name_no_query() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let big = String::from_utf8_lossy(&buf[..n]).contains("/big");
                let body = if big {
                    "x".repeat(MAX_RESPONSE_BYTES + 1)
                } else {
                    "ok".to_owned()
                };
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let o = outbound(&[("stand.in", &format!("http://{addr}"))]);
        let ok = o
            .get(&Url::parse("https://stand.in/small").unwrap(), None)
            .await
            .unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (200, b"ok".as_slice()));
        let err = o
            .get(
                &Url::parse("https://stand.in/big?token=s3cret").unwrap(),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.contains("over"), "{err}");
        let unreachable = outbound(&[("stand.in", "http://127.0.0.1:1")]);
        let err = unreachable
            .get(
                &Url::parse("https://stand.in/x?token=s3cret").unwrap(),
                None,
            )
            .await
            .unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
