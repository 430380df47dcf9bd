//! Amazon SNS signing certificates, cached by `SigningCertURL`.
//!
//! A certificate URL is trusted only when it is `https` on a host `sns.<region>.amazonaws.com`
//! (or `.amazonaws.com.cn`), with no user info and no port but 443: the same allow-list the
//! AWS SDKs' message validators use (`^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$`). The
//! TLS connection to that host is what authenticates the certificate, as in those validators;
//! its validity period is checked against the receive time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use url::Url;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use super::{Fetch, MAX_KEY_DOCUMENT_BYTES};
use crate::error::{VerifyError, quote};

/// The most fetched certificates kept; SNS uses one per region and rotation.
const MAX_CACHED: usize = 64;
/// A fetched certificate is fetched again after this long.
const REFETCH_AFTER_HOURS: i64 = 24;

/// The public key of one SNS signing certificate.
#[derive(Debug)]
pub struct SnsKey {
    pub(crate) public_key: RsaPublicKey,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

#[derive(Debug)]
struct Entry {
    key: Arc<SnsKey>,
    fetched_at: DateTime<Utc>,
    pinned: bool,
}

/// The SNS certificate store: pinned certificates, then a cache of fetched ones.
#[derive(Debug)]
pub struct SnsCertificates {
    fetch: Option<Arc<dyn Fetch>>,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Checks that `raw` is an https URL on an SNS host; returns it parsed.
pub fn check_sns_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| format!("{} is not a URL", quote(raw)))?;
    let host = url.host_str().unwrap_or("");
    let host_ok = host
        .strip_prefix("sns.")
        .and_then(|rest| {
            rest.strip_suffix(".amazonaws.com")
                .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
        })
        .is_some_and(|region| {
            region.len() >= 3
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if url.scheme() != "https"
        || !host_ok
        || !url.username().is_empty()
        || url.password().is_some()
        || url.port().is_some_and(|p| p != 443)
    {
        return Err(format!(
            "{} is not https on an sns.<region>.amazonaws.com host",
            quote(raw)
        ));
    }
    Ok(url)
}

impl SnsCertificates {
    /// A store that fetches unknown certificates through `fetch` (none: pinned only).
    pub fn new(fetch: Option<Arc<dyn Fetch>>) -> Self {
        Self {
            fetch,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Adds a certificate given in config for `url`; it is never evicted or refetched.
    pub fn pin(&self, url: &str, pem: &[u8]) -> Result<(), String> {
        let url = check_sns_url(url)?;
        let key = parse_certificate(pem)?;
        self.lock().insert(
            url.to_string(),
            Entry {
                key: Arc::new(key),
                fetched_at: DateTime::<Utc>::MIN_UTC,
                pinned: true,
            },
        );
        Ok(())
    }

    /// The key of the certificate at `url`, valid at `now`.
    pub async fn key(
        &self,
        url: &str,
        now: DateTime<Utc>,
        may_fetch: bool,
    ) -> Result<Arc<SnsKey>, VerifyError> {
        let url = check_sns_url(url).map_err(VerifyError::UntrustedCertificate)?;
        let cached = self.lock().get(url.as_str()).and_then(|e| {
            let fresh = e.pinned || (now - e.fetched_at).num_hours() < REFETCH_AFTER_HOURS;
            fresh.then(|| e.key.clone())
        });
        let key = match cached {
            Some(key) => key,
            None => {
                let fetch = match (&self.fetch, may_fetch) {
                    (Some(fetch), true) => fetch,
                    _ => {
                        return Err(VerifyError::UntrustedCertificate(format!(
                            "no configured certificate for {} and fetching is off",
                            quote(url.as_str())
                        )));
                    }
                };
                let document = fetch
                    .get(&url)
                    .await
                    .map_err(|e| VerifyError::KeyUnavailable(e.to_string()))?;
                if document.len() > MAX_KEY_DOCUMENT_BYTES {
                    return Err(VerifyError::UntrustedCertificate(
                        "the certificate document is too large".into(),
                    ));
                }
                let key = Arc::new(
                    parse_certificate(&document).map_err(VerifyError::UntrustedCertificate)?,
                );
                self.insert(url.to_string(), key.clone(), now);
                key
            }
        };
        if now < key.not_before || now > key.not_after {
            return Err(VerifyError::UntrustedCertificate(
                "the signing certificate is not valid now".into(),
            ));
        }
        Ok(key)
    }

    fn insert(&self, url: String, key: Arc<SnsKey>, now: DateTime<Utc>) {
        let mut entries = self.lock();
        if entries.len() >= MAX_CACHED && !entries.contains_key(&url) {
            let oldest = entries
                .iter()
                .filter(|(_, e)| !e.pinned)
                .min_by_key(|(_, e)| e.fetched_at)
                .map(|(u, _)| u.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            url,
            Entry {
                key,
                fetched_at: now,
                pinned: false,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map stays consistent even if a holder panicked: every write is one insert.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse_certificate(pem: &[u8]) -> Result<SnsKey, String> {
    let cert = Certificate::from_pem(pem)
        .map_err(|_| "the certificate is not a PEM X.509 certificate".to_string())?;
    let tbs = &cert.tbs_certificate;
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|_| "the certificate's public key cannot be encoded".to_string())?;
    let public_key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|_| "the certificate's key is not an RSA key".to_string())?;
    let time = |t: x509_cert::time::Time| {
        DateTime::from_timestamp(t.to_unix_duration().as_secs() as i64, 0)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    Ok(SnsKey {
        public_key,
        not_before: time(tbs.validity.not_before),
        not_after: time(tbs.validity.not_after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_sns_hosts_are_trusted() {
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.eu-central-1.amazonaws.com:443/x.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        ] {
            assert!(check_sns_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://s3.us-east-1.amazonaws.com/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns.US_EAST.amazonaws.com/x.pem",
            "not a url",
        ] {
            assert!(check_sns_url(bad).is_err(), "{bad}");
        }
    }
}
