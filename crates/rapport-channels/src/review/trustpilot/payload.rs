//! Trustpilot service reviews: the review object of the Business Units / private Reviews API,
//! and the service-review webhook envelope.
//!
//! Shapes checked against Trustpilot's documentation: the service review (`id`, `stars`,
//! `title`, `text`, `language`, `createdAt`, `updatedAt`, `consumer {id, displayName}`,
//! `companyReply {text, authorBusinessUserId, authorBusinessUserName, createdAt, updatedAt}`,
//! and in the private API `referenceId`, `referralEmail`, `tags [{group, value}]`), and the
//! service-review webhook sample on support.trustpilot.com ("How to set up Trustpilot
//! Webhooks": `{"events": [{"eventName": "service-review-created", "version": "1", "eventData":
//! {id, language, title, text, referenceId, stars, createdAt, isVerified, locationId, link,
//! consumer {id, name, link}, tags}}]}`; the webhook leaves the consumer's email out).

use serde::Deserialize;

/// Routing probe.
#[derive(Debug, Deserialize)]
pub struct Probe {
    pub events: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct Webhook {
    /// Each event is parsed on its own, so one bad event stays alone.
    pub events: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_name: String,
    /// Read only for service-review events; other events may carry other objects.
    pub event_data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: String,
    pub stars: Option<f64>,
    pub title: Option<String>,
    pub text: Option<String>,
    pub language: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub consumer: Option<Consumer>,
    pub company_reply: Option<CompanyReply>,
    pub referral_email: Option<String>,
    pub reference_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub id: Option<String>,
    pub display_name: Option<String>,
    /// The webhook's name for `displayName`.
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyReply {
    pub text: Option<String>,
    pub author_business_user_id: Option<String>,
    pub author_business_user_name: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Tag {
    pub group: Option<String>,
    pub value: Option<String>,
}
