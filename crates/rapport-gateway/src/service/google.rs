//! Google Business Profile: a Pub/Sub push notification names the review that changed; the
//! gateway fetches that review with the Business Profile API and lands the review itself, the
//! `Review` resource the `google` adapter reads.
//!
//! - The notification is the push envelope's `message.data`, base64 JSON. Google's reference
//!   (Notifications API v1 `NotificationSetting`, and the older v4 `Notifications` page) names
//!   the fields `review_name` / `reviewName` and `location_name` / `locationName`, and the
//!   types `NEW_REVIEW` and `UPDATED_REVIEW`; the pages disagree on the casing, so both are
//!   read (and `review`). Any other type is acknowledged and not landed.
//! - The review: `GET https://mybusiness.googleapis.com/v4/{name=accounts/*/locations/*/reviews/*}`
//!   (`accounts.locations.reviews.get`), OAuth scope
//!   `https://www.googleapis.com/auth/business.manage`; the answer is one `Review`. `NOT_FOUND`
//!   means the review was deleted: acknowledged, nothing landed.
//! - The access token comes from the endpoint's `google.api_token` ([`ApiToken`]): a static
//!   token, or a file that a refresher rewrites (re-read whenever it changes).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine;
use serde::Deserialize;
use url::Url;

use super::outbound::Outbound;
use crate::secret::{Environment, Secret, SecretSource};

/// Where the Business Profile API answers.
pub const API_BASE: &str = "https://mybusiness.googleapis.com/v4/";

/// What a notification asks the gateway to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    /// Fetch and land the review with this resource name.
    Review(String),
    /// Acknowledge and land nothing: another notification type, or no review named.
    Nothing(&'static str),
}

#[derive(Debug, Deserialize)]
struct Envelope {
    message: Message,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "type", alias = "notificationType", default)]
    kind: Option<String>,
    #[serde(
        rename = "reviewName",
        alias = "review_name",
        alias = "review",
        default
    )]
    review_name: Option<String>,
}

/// Reads the notification out of a verified push body.
pub fn notified(push_body: &[u8]) -> Notified {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(push_body) else {
        return Notified::Nothing("not_a_push_envelope");
    };
    let Some(data) = envelope.message.data else {
        return Notified::Nothing("no_data");
    };
    let Ok(json) = base64::engine::general_purpose::STANDARD.decode(data.trim()) else {
        return Notified::Nothing("data_not_base64");
    };
    let Ok(notification) = serde_json::from_slice::<Notification>(&json) else {
        return Notified::Nothing("data_not_a_notification");
    };
    if let Some(kind) = notification.kind.as_deref()
        && !matches!(kind, "NEW_REVIEW" | "UPDATED_REVIEW")
    {
        return Notified::Nothing("not_a_review_notification");
    }
    match notification.review_name {
        Some(name) if is_review_name(&name) => Notified::Review(name),
        _ => Notified::Nothing("no_review_name"),
    }
}

/// `accounts/{a}/locations/{l}/reviews/{r}` with ids of `[A-Za-z0-9_-]`: nothing that could
/// change the API path it is put into.
pub fn is_review_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    name.len() <= 512
        && parts.len() == 6
        && parts[0] == "accounts"
        && parts[2] == "locations"
        && parts[4] == "reviews"
        && [parts[1], parts[3], parts[5]].iter().all(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// What the API said about a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The `Review` resource, as the API sent it.
    Review(Vec<u8>),
    /// 404: deleted since the notification.
    Gone,
}

/// Fetches one review. An error is retryable from the provider's side (the push is answered
/// 503): the API or the token may be back later.
pub async fn fetch_review(
    outbound: &Outbound,
    name: &str,
    token: &Secret,
) -> Result<Fetched, String> {
    let url = Url::parse(API_BASE)
        .and_then(|base| base.join(name))
        .map_err(|_| "the review name does not make a URL".to_string())?;
    let answer = outbound.get(&url, Some(token)).await?;
    match answer.status {
        200 => {
            serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body)
                .map_err(|_| "the Business Profile API answered something that is not JSON")?;
            Ok(Fetched::Review(answer.body))
        }
        404 => Ok(Fetched::Gone),
        401 | 403 => Err(format!(
            "the Business Profile API refused the access token ({})",
            answer.status
        )),
        other => Err(format!("the Business Profile API answered {other}")),
    }
}

/// Where an endpoint's access token comes from. Pluggable: today a static token (config or
/// environment, read once) or a file read again whenever its modification time changes, which
/// suits a token refresher (a sidecar running `gcloud auth print-access-token`, or a workload
/// identity agent) writing a fresh token before the old one expires.
#[derive(Debug)]
pub enum ApiToken {
    Static(Secret),
    File {
        path: PathBuf,
        current: Mutex<Option<(SystemTime, Secret)>>,
    },
}

impl ApiToken {
    /// The token source for `source`; a static one is loaded now, so a missing variable is a
    /// start-up error.
    pub fn from_config(source: &SecretSource, env: &dyn Environment) -> Result<Self, String> {
        match source {
            SecretSource::File(path) => {
                let token = Self::File {
                    path: path.clone(),
                    current: Mutex::new(None),
                };
                token.current()?;
                Ok(token)
            }
            other => other.load(env).map(Self::Static),
        }
    }

    /// The token to send now.
    pub fn current(&self) -> Result<Secret, String> {
        match self {
            Self::Static(secret) => Ok(secret.clone()),
            Self::File { path, current } => {
                let modified = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((at, secret)) = current.as_ref()
                    && *at == modified
                {
                    return Ok(secret.clone());
                }
                let secret = SecretSource::File(path.clone()).load(&crate::secret::ProcessEnv)?;
                *current = Some((modified, secret.clone()));
                Ok(secret)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(notification: &str) -> Vec<u8> {
        let data = base64::engine::general_purpose::STANDARD.encode(notification);
        format!(r#"{{"message":{{"data":"{data}","messageId":"1"}},"subscription":"s"}}"#)
            .into_bytes()
    }

    #[test]
    fn review_notifications_name_their_review_in_either_casing() {
        let name = "accounts/111/locations/222/reviews/AbC-9_x";
        for body in [
            format!(
                r#"{{"type":"NEW_REVIEW","reviewName":"{name}","locationName":"accounts/111/locations/222"}}"#
            ),
            format!(r#"{{"notificationType":"UPDATED_REVIEW","review_name":"{name}"}}"#),
            format!(r#"{{"review":"{name}"}}"#),
        ] {
            assert_eq!(
                notified(&push(&body)),
                Notified::Review(name.into()),
                "{body}"
            );
        }
    }

    #[test]
    fn other_notifications_and_odd_names_land_nothing() {
        for (body, why) in [
            (
                r#"{"type":"NEW_QUESTION","reviewName":"accounts/1/locations/2/reviews/3"}"#,
                "not_a_review_notification",
            ),
            (r#"{"type":"NEW_REVIEW"}"#, "no_review_name"),
            (
                r#"{"type":"NEW_REVIEW","reviewName":"accounts/1/locations/2/reviews/../../x"}"#,
                "no_review_name",
            ),
            (
                r#"{"type":"NEW_REVIEW","reviewName":"accounts/1/locations/2/reviews/3?x=1"}"#,
                "no_review_name",
            ),
            ("not json", "data_not_a_notification"),
        ] {
            assert_eq!(notified(&push(body)), Notified::Nothing(why), "{body}");
        }
        assert_eq!(notified(b"{}"), Notified::Nothing("not_a_push_envelope"));
    }

    #[test]
    fn a_token_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("rapport-gw-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first\n").unwrap();
        let token = ApiToken::from_config(
            &SecretSource::File(path.clone()),
            &std::collections::HashMap::new(),
        )
        .unwrap();
        assert_eq!(token.current().unwrap().expose(), b"first");
        // A different modification time, as a refresher's rewrite has.
        std::fs::write(&path, "second\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(token.current().unwrap().expose(), b"second");
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = ApiToken::from_config(
            &SecretSource::Env("NO_SUCH_TOKEN".into()),
            &std::collections::HashMap::new(),
        );
        assert!(missing.unwrap_err().contains("NO_SUCH_TOKEN"));
    }
}
