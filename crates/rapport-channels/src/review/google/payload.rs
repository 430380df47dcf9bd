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
//!
//! A page of `accounts.locations.reviews.list` (`ListReviewsResponse`: `reviews`,
//! `averageRating`, `totalReviewCount`, `nextPageToken`) is accepted too; each review in it is
//! read on its own.

use serde::Deserialize;

use crate::common::json::Present;

/// First pass: a review page or one review.
#[derive(Debug, Deserialize)]
pub struct Probe {
    #[serde(default)]
    pub reviews: Present,
}

/// `ListReviewsResponse`; each review is parsed on its own so one bad review stays alone.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewList {
    pub reviews: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// `accounts/{account}/locations/{location}/reviews/{review}`.
    pub name: Option<String>,
    pub review_id: Option<String>,
    pub reviewer: Option<Reviewer>,
    pub star_rating: Option<String>,
    pub comment: Option<String>,
    /// Required; optional here so a review without it is `missing_field:createTime` under its
    /// own path when it is one item of a page.
    pub create_time: Option<String>,
    pub update_time: Option<String>,
    pub review_reply: Option<ReviewReply>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reviewer {
    pub display_name: Option<String>,
    pub profile_photo_url: Option<String>,
    #[serde(default)]
    pub is_anonymous: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewReply {
    pub comment: Option<String>,
    pub update_time: Option<String>,
}
