//! Keys that live at a provider's URL: SNS signing certificates and Google's JWT signing keys.
//! Each store checks the URL against its allow-list, fetches through [`Fetch`] on a miss,
//! parses, and caches by URL; keys given in config are used without a fetch.

mod google;
mod sns;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use google::{GOOGLE_JWKS_URL, GoogleKeys};
pub use sns::{SnsCertificates, SnsKey, check_sns_url};

/// The largest key document accepted from a fetch (a certificate or a JWKS is a few KiB).
pub const MAX_KEY_DOCUMENT_BYTES: usize = 64 * 1024;

/// A boxed future, so that [`Fetch`] can be a trait object.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchError>> + Send + 'a>>;

/// GETs a key document. The service implements it with its HTTP client (https, a short
/// timeout, at most [`MAX_KEY_DOCUMENT_BYTES`]); tests use an in-memory stand-in. The URL has
/// already passed the store's allow-list.
pub trait Fetch: Send + Sync + fmt::Debug {
    fn get<'a>(&'a self, url: &'a url::Url) -> FetchFuture<'a>;
}

/// Why a key document could not be fetched. Verification answers `key_unavailable` (503), so
/// the provider retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("fetching {url} failed: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
}

#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Serves documents from a map and counts the fetches.
    #[derive(Debug, Default)]
    pub struct MapFetch {
        pub documents: Mutex<HashMap<String, Vec<u8>>>,
        pub fetches: AtomicUsize,
        /// How long each fetch takes (a slow provider).
        pub delay: Option<std::time::Duration>,
    }

    impl MapFetch {
        pub fn with(url: &str, document: Vec<u8>) -> Self {
            let fetch = Self::default();
            fetch
                .documents
                .lock()
                .unwrap()
                .insert(url.to_string(), document);
            fetch
        }

        pub fn count(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    impl Fetch for MapFetch {
        fn get<'a>(&'a self, url: &'a url::Url) -> FetchFuture<'a> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let found = self.documents.lock().unwrap().get(url.as_str()).cloned();
            let delay = self.delay;
            Box::pin(async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                found.ok_or_else(|| FetchError {
                    url: url.to_string(),
                    reason: "404".into(),
                })
            })
        }
    }
}
