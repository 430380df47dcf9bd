//! Yelp reviews: the Yelp Fusion review object, the Fusion `/businesses/{id}/reviews` list
//! response, and the partner Reviews Webhook.
//!
//! Shapes checked against Yelp's developer documentation: the Fusion review
//! (`id`, `url`, `text` — an excerpt —, `rating`, `time_created` as `"YYYY-MM-DD HH:MM:SS"` in
//! Pacific time per the docs' "review creation time in PST", `user {id, profile_url, image_url,
//! name}`; also the `api-evangelist/yelp` JSON schema of the Fusion `Review`), and
//! docs.developer.yelp.com/docs/reviews-webhooks-v2 (`{time, object: "business", data: {id,
//! updates: [{event_type: NEW_REVIEW_EVENT | REVIEW_EDITED_EVENT | REVIEW_REMOVED_EVENT,
//! review_id, rating, language, user_id}]}}`). Neither documented shape carries the business
//! owner's public reply (Yelp's "Respond to Reviews" is a write-only partner API), so Yelp
//! yields no `review_reply`.

use serde::Deserialize;

/// Routing probe.
#[derive(Debug, Deserialize)]
pub struct Probe {
    pub object: Option<String>,
    pub reviews: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct Review {
    pub id: String,
    pub text: Option<String>,
    pub rating: Option<f64>,
    pub time_created: String,
    pub user: Option<User>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ReviewList {
    /// Each review is parsed on its own, so one bad review stays alone.
    pub reviews: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Webhook {
    pub time: String,
    pub data: WebhookData,
}

#[derive(Debug, Deserialize)]
pub struct WebhookData {
    /// The business the updates are for.
    pub id: Option<String>,
    /// Each update is parsed on its own, so one bad update stays alone.
    #[serde(default)]
    pub updates: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Update {
    pub event_type: String,
    pub review_id: Option<String>,
    pub rating: Option<f64>,
    pub language: Option<String>,
    pub user_id: Option<String>,
}
