//! The start-up connection check. librdkafka never gives up on a broker: a certificate it does
//! not trust, a host name the certificate does not name, or credentials the broker refuses are
//! retried forever, one log line per attempt. Services therefore connect once before they start,
//! and stop with the reason when it is one no retry can fix; a broker that is only down (or not
//! up yet) is waited for, as before.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{info, warn};

use crate::{KafkaConfig, KafkaError};

/// What a client error says about the configuration: `Some(explanation)` when retrying cannot
/// help (TLS refused either way, credentials refused, a listener spoken to in the wrong
/// protocol), `None` when the broker may just be away.
pub fn misconfiguration(code: Option<RDKafkaErrorCode>, reason: &str) -> Option<String> {
    let lower = reason.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    match code {
        _ if has("oauthbearer token") => Some(format!(
            "no OAuth token from the identity provider (kafka.security.oauthbearer): {reason}"
        )),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
            Some(format!(
                "the broker refused the SASL credentials (kafka.security.sasl_* or kafka.security.oauthbearer): {reason}"
            ))
        }
        Some(RDKafkaErrorCode::UnsupportedSASLMechanism | RDKafkaErrorCode::IllegalSASLState) => {
            Some(format!(
                "the broker does not accept this SASL mechanism (kafka.security.sasl_mechanism): {reason}"
            ))
        }
        _ if has("hostname mismatch") || has("ip address mismatch") => Some(format!(
            "the broker's TLS certificate does not name the host connected to (kafka.brokers, or kafka.security.verify_hostname): {reason}"
        )),
        _ if has("certificate verify failed") => Some(format!(
            "the broker's TLS certificate is not trusted (kafka.security.ca_file): {reason}"
        )),
        _ if has("alert")
            && (has("certificate") || has("unknown ca") || has("handshake failure")) =>
        {
            Some(format!(
                "the broker refused the TLS handshake, it may require a client certificate it trusts (kafka.security.cert_file): {reason}"
            ))
        }
        _ if has("wrong version number")
            || has("packet length too long")
            || has("record layer failure") =>
        {
            Some(format!(
                "the broker's listener does not speak TLS (kafka.security.protocol): {reason}"
            ))
        }
        _ if has("incorrect security.protocol") => Some(format!(
            "the broker's listener expects another protocol (kafka.security.protocol): {reason}"
        )),
        _ => None,
    }
}

/// An error librdkafka reported: its code and its reason.
type Reported = (Option<RDKafkaErrorCode>, String);

/// Collects the errors librdkafka reports while the check connects.
#[derive(Clone, Default)]
struct Probe {
    errors: Arc<Mutex<Vec<Reported>>>,
}

impl ClientContext for Probe {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(?level, fac, log_message, "librdkafka");
        // Some refusals reach only the log (a broker that drops the connection), and the log
        // line of a failure says more than the error callback's summary.
        use rdkafka::config::RDKafkaLogLevel as Level;
        let serious = matches!(
            level,
            Level::Emerg | Level::Alert | Level::Critical | Level::Error | Level::Warning
        );
        if fac == "FAIL" || serious {
            self.errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((None, log_message.to_owned()));
        }
    }

    fn error(&self, error: RdKafkaError, reason: &str) {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((error.rdkafka_error_code(), reason.to_owned()));
    }
}

impl rdkafka::producer::ProducerContext for Probe {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl Probe {
    fn take(&self) -> Vec<Reported> {
        std::mem::take(
            &mut *self
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Connects to the brokers with `config`'s settings (TLS and SASL included) and asks for the
/// cluster's metadata. Returns `Ok(true)` once a broker answered, an error at once when the
/// answer shows a configuration problem, and keeps trying while the brokers are merely
/// unreachable, until `stop` resolves (`Ok(false)`).
pub async fn check_connection(
    config: &KafkaConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<bool, KafkaError> {
    let probe = Probe::default();
    let producer: Arc<BaseProducer<Probe>> =
        Arc::new(config.client_config().create_with_context(probe.clone())?);
    let brokers = config.brokers.clone();
    tokio::pin!(stop);
    let started = Instant::now();
    let mut waiting_reported = false;
    loop {
        let attempt = {
            let producer = Arc::clone(&producer);
            tokio::task::spawn_blocking(move || {
                let answer = producer
                    .client()
                    .fetch_metadata(None, Duration::from_millis(500));
                // Serves the error callbacks of what happened meanwhile.
                producer.poll(Duration::from_millis(10));
                answer.map(|metadata| metadata.brokers().len())
            })
        };
        let answer = tokio::select! {
            () = &mut stop => return Ok(false),
            answer = attempt => answer.map_err(|e| KafkaError::Refused {
                brokers: brokers.clone(),
                reason: format!("connection check did not finish: {e}"),
            })?,
        };
        let errors = probe.take();
        if let Some((reason, raw)) = errors.iter().find_map(|(code, reason)| {
            misconfiguration(*code, reason).map(|explained| (explained, reason))
        }) {
            // OpenSSL says "certificate verify failed" for an unknown CA and for a certificate
            // naming another host alike; a rustls handshake with the same trust tells which.
            let reason = if raw.contains("certificate verify failed") {
                diagnose(config, raw).await.unwrap_or(reason)
            } else {
                reason
            };
            return Err(KafkaError::Refused { brokers, reason });
        }
        match answer {
            Ok(count) => {
                info!(brokers = %brokers, cluster_brokers = count, "connected to kafka");
                return Ok(true);
            }
            Err(error) => {
                if !waiting_reported && started.elapsed() > Duration::from_secs(2) {
                    let last = errors
                        .last()
                        .map_or_else(|| error.to_string(), |(_, r)| r.clone());
                    warn!(brokers = %brokers, reason = %last, "kafka not reachable yet; waiting");
                    waiting_reported = true;
                }
            }
        }
    }
}

/// Handshakes with the broker named in a librdkafka failure (`sasl_ssl://host:port/…`), trusting
/// what the client trusts, and says what rustls finds wrong with its certificate.
async fn diagnose(config: &KafkaConfig, reason: &str) -> Option<String> {
    let address = reason.split("://").nth(1)?.split('/').next()?;
    let (host, port) = address.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls = rapport_runtime::tls::client_config(config.security.ca_file.as_deref()).ok()?;
    let name = rustls::pki_types::ServerName::try_from(host.clone()).ok()?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
    };
    let error = tokio::time::timeout(Duration::from_secs(5), handshake)
        .await
        .ok()?
        .err()?;
    let described = rapport_runtime::tls::describe_failure(&error)?;
    let field = if described.contains("host name") {
        "kafka.brokers, or kafka.security.verify_hostname"
    } else {
        "kafka.security.ca_file"
    };
    Some(format!("broker {address}: {described} ({field})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_no_retry_can_fix_are_told_apart_from_an_absent_broker() {
        let refused = [
            (
                Some(RDKafkaErrorCode::Authentication),
                "SASL authentication error: Authentication failed",
            ),
            (
                Some(RDKafkaErrorCode::SSL),
                "ssl://localhost:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified",
            ),
            (
                Some(RDKafkaErrorCode::SSL),
                "SSL handshake failed: error:0A00010B:SSL routines::wrong version number",
            ),
            (
                Some(RDKafkaErrorCode::BrokerTransportFailure),
                "Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?)",
            ),
            (
                Some(RDKafkaErrorCode::Authentication),
                "Failed to acquire SASL OAUTHBEARER token: SSL certificate problem: unable to get local issuer certificate",
            ),
        ];
        for (code, reason) in refused {
            assert!(misconfiguration(code, reason).is_some(), "{reason}");
        }
        let transient = [
            (
                Some(RDKafkaErrorCode::BrokerTransportFailure),
                "localhost:9093/bootstrap: Connect to ipv4#127.0.0.1:9093 failed: Connection refused",
            ),
            (
                Some(RDKafkaErrorCode::AllBrokersDown),
                "1/1 brokers are down",
            ),
        ];
        for (code, reason) in transient {
            assert_eq!(misconfiguration(code, reason), None, "{reason}");
        }
    }
}
