//! Google Business Profile reviews: one `Review` resource as returned by the Business Profile
//! API v4 `accounts.locations.reviews` (`get` / `list`).
//!
//! Shape checked against the reference page of the `Review` resource
//! (developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews: `name`,
//! `reviewId`, `reviewer {profilePhotoUrl, displayName, isAnonymous}`, `starRating` as the
//! `StarRating` enum `STAR_RATING_UNSPECIFIED | ONE … FIVE`, `comment`, `createTime`,
//! `updateTime`, `reviewReply {comment, updateTime}`). The Pub/Sub `NEW_REVIEW` /
//! `UPDATED_REVIEW` notifications (notifications API v1 `NotificationSetting`) carry only the
//! review's resource name, not the review, so they are not accepted here: the collector fetches
//! the review and publishes it.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// `accounts/{account}/locations/{location}/reviews/{review}`.
    pub name: Option<String>,
    pub review_id: Option<String>,
    pub reviewer: Option<Reviewer>,
    pub star_rating: Option<String>,
    pub comment: Option<String>,
    pub create_time: String,
    pub update_time: Option<String>,
    pub review_reply: Option<ReviewReply>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reviewer {
    pub display_name: Option<String>,
    #[serde(default)]
    pub is_anonymous: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewReply {
    pub comment: Option<String>,
    pub update_time: Option<String>,
}
