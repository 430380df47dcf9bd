//! Google Business Profile reviews to interactions.
//!
//! The Kafka value is one `Review` resource, or a `ListReviewsResponse` page
//! (`{"reviews": [...], "averageRating", "totalReviewCount", "nextPageToken"}`, see `payload.rs`)
//! whose every review is read on its own: a review that cannot be read is rejected alone, with
//! its index, and its neighbours still yield their interactions; an empty page is intentionally
//! skipped (reason `empty_list`). A review yields the review (event id
//! `{reviewId}`, at `createTime`), its reply when there is one (`{reviewId}:reply`, at the
//! reply's `updateTime`, the only time the API gives for it), and, when `updateTime` is later
//! than `createTime`, the edited review (`{reviewId}:edited:{updateTime ms}`, status `edited`,
//! at `updateTime`). Why edits get their own id is explained in `review/shared.rs`: a review
//! edited after it was replied to must show up as a new inbound event after the reply, without
//! moving the original review past its reply.
//!
//! Identity: the API exposes no reviewer id, only a display name and a profile photo URL. Display
//! names are not unique ("John S." is many people), so they never identify anyone; linking
//! reviews by name would merge strangers. The reviewer is the most specific customer the review
//! allows (docs/IDENTITY.md has the strength of each):
//! - `google_reviewer:photo:<account part>` when `profilePhotoUrl` is a Google account photo
//!   (`https://lh3.googleusercontent.com/a/<token>=…` or `/a-/<token>=…`): the token names that
//!   account's photo, so one reviewer's reviews of the tenant's locations meet under it (until
//!   the reviewer changes the photo);
//! - else `google_reviewer:review:<reviewId>` (anonymous reviewers, generic or missing photos): a
//!   customer of that review alone, never shared with another reviewer.
//!
//! The reply and the edit carry the same identity. The display name is kept as the actor's name
//! (left out for anonymous reviewers).
//!
//! Text: Google delivers translated reviews as `(Translated by Google) … (Original) …`; the
//! customer's original words are kept. The API has no language field, so `language` is empty.

pub mod payload;

use rapport_model::{Identity, IdentityType, Interaction, Source};

use self::payload::{Probe, Review, ReviewList};
use crate::common::{self, json, text};
use crate::review::shared;
use crate::{AdapterError, Context, Outcome, Skip};

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let probe: Probe = json::parse(payload, ctx.limits)?;
    if !probe.reviews.0 {
        let review: Review = json::parse(payload, ctx.limits)?;
        return Ok(Outcome::from(interactions(&review, ctx)?));
    }
    let list: ReviewList = json::parse(payload, ctx.limits)?;
    let mut outcome = Outcome::default();
    for (index, item) in list.reviews.into_iter().enumerate() {
        let bytes = serde_json::to_vec(&item).unwrap_or_default();
        let read = json::parse::<Review>(&bytes, ctx.limits)
            .and_then(|review| interactions(&review, ctx))
            .map_err(|e| within(index, e));
        outcome.item(index, read, || bytes);
    }
    if outcome.interactions.is_empty() && outcome.rejected.is_empty() {
        outcome.skipped = Some(Skip::documented("empty_list"));
    }
    Ok(outcome)
}

/// An item's error with its field named under `reviews[i].`.
fn within(index: usize, error: AdapterError) -> AdapterError {
    match error {
        AdapterError::MissingField(f) => AdapterError::missing(format!("reviews[{index}].{f}")),
        AdapterError::InvalidValue { field, reason } => AdapterError::InvalidValue {
            field: format!("reviews[{index}].{field}"),
            reason,
        },
        other => other,
    }
}

/// The reviewer's customer identity, by the rules in the module documentation.
fn reviewer_identity(review: &Review, review_id: &str) -> Option<Identity> {
    let reviewer = review.reviewer.as_ref();
    let photo = reviewer
        .filter(|r| !r.is_anonymous)
        .and_then(|r| r.profile_photo_url.as_deref())
        .and_then(photo_account);
    let value = match photo {
        Some(account) => format!("photo:{account}"),
        None => format!("review:{review_id}"),
    };
    Identity::scoped(IdentityType::GoogleReviewer, &value).ok()
}

/// The account part of a Google account photo URL: the token after `/a/` or `/a-/` on a
/// `googleusercontent.com` host, up to the size options (`=s120-c…`). Other URLs (the shared
/// default avatar `/-XdUIqdMkCWA/…/photo.jpg`, other hosts) name no account.
fn photo_account(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    if !(host == "googleusercontent.com" || host.ends_with(".googleusercontent.com")) {
        return None;
    }
    let token = path
        .strip_prefix("a/")
        .or_else(|| path.strip_prefix("a-/"))?;
    let token = token.split(['=', '?', '#', '/']).next()?;
    let plausible = (8..=200).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then_some(token)
}

fn interactions(review: &Review, ctx: &Context<'_>) -> Result<Vec<Interaction>, AdapterError> {
    let review_id = review
        .review_id
        .clone()
        .or_else(|| {
            review
                .name
                .as_deref()
                .and_then(|n| n.rsplit_once("/reviews/"))
                .map(|(_, id)| id.to_owned())
        })
        .and_then(|id| text::non_empty(Some(id)))
        .ok_or_else(|| AdapterError::missing("reviewId"))?;
    let create_time = review
        .create_time
        .as_deref()
        .ok_or_else(|| AdapterError::missing("createTime"))?;
    let created_at = common::rfc3339("createTime", create_time)?;
    let reviewer = review.reviewer.as_ref();
    let name = reviewer
        .filter(|r| !r.is_anonymous)
        .and_then(|r| r.display_name.clone());

    let mut main = shared::review(
        ctx,
        Source::Google,
        &review_id,
        created_at,
        shared::customer(None, name),
    );
    main.identities = reviewer_identity(review, &review_id).into_iter().collect();
    main.rating = rating(review.star_rating.as_deref())?;
    main.text = original_text(review.comment.as_deref());
    let mut out = vec![];

    if let Some(reply) = &review.review_reply {
        let at = match &reply.update_time {
            Some(t) => common::rfc3339("reviewReply.updateTime", t)?,
            None => ctx.received_at,
        };
        out.push(shared::reply(
            ctx,
            Source::Google,
            &main,
            &review_id,
            at,
            shared::agent(None, None),
            original_text(reply.comment.as_deref()),
        ));
    }
    if let Some(updated) = &review.update_time {
        let updated_at = common::rfc3339("updateTime", updated)?;
        if updated_at > created_at {
            out.push(shared::edit_of(
                ctx,
                Source::Google,
                &main,
                &review_id,
                updated_at,
            ));
        }
    }
    out.insert(0, main);
    Ok(out)
}

/// True for a review resource: `reviewId` or a review resource name, with `starRating` or
/// `createTime`.
pub fn detect(payload: &[u8]) -> bool {
    let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    (has(b"\"reviewId\"") || has(b"/reviews/"))
        && (has(b"\"starRating\"") || has(b"\"createTime\""))
}

fn rating(star_rating: Option<&str>) -> Result<Option<u8>, AdapterError> {
    Ok(match star_rating {
        None | Some("STAR_RATING_UNSPECIFIED") => None,
        Some("ONE") => Some(1),
        Some("TWO") => Some(2),
        Some("THREE") => Some(3),
        Some("FOUR") => Some(4),
        Some("FIVE") => Some(5),
        Some(other) => {
            return Err(AdapterError::invalid(
                "starRating",
                format!("{other:?} is not a StarRating"),
            ));
        }
    })
}

/// The customer's own words out of Google's machine translation wrapper.
fn original_text(comment: Option<&str>) -> Option<String> {
    let comment = comment?;
    let original = if let Some((_, original)) = comment.split_once("(Original)") {
        original
    } else if let Some((original, _)) = comment.split_once("(Translated by Google)") {
        original
    } else {
        comment
    };
    shared::body(Some(original)).or_else(|| shared::body(Some(comment)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_part_of_a_google_photo_url_identifies_the_reviewer() {
        assert_eq!(
            photo_account("https://lh3.googleusercontent.com/a-/ALV-UjXw1234=s120-c-rp-mo-br100"),
            Some("ALV-UjXw1234")
        );
        assert_eq!(
            photo_account("https://lh3.googleusercontent.com/a/ACg8ocKx9q2LmNp=s120-c"),
            Some("ACg8ocKx9q2LmNp")
        );
        for shared_or_foreign in [
            "https://lh3.googleusercontent.com/-XdUIqdMkCWA/AAAAAAAAAAI/AAAAAAAAAAA/4252rscbv5M/photo.jpg",
            "https://evil.example/a/ACg8ocKx9q2LmNp=s120",
            "https://googleusercontent.com.evil.io/a/ACg8ocKx9q2LmNp",
            "https://lh3.googleusercontent.com/a/short=s120",
            "not a url",
        ] {
            assert_eq!(
                photo_account(shared_or_foreign),
                None,
                "{shared_or_foreign}"
            );
        }
    }

    #[test]
    fn translated_comment_keeps_the_original() {
        let c = "(Translated by Google) Very good coffee\n\n(Original)\nSehr guter Kaffee";
        assert_eq!(original_text(Some(c)).as_deref(), Some("Sehr guter Kaffee"));
        let c = "Sehr guter Kaffee\n\n(Translated by Google)\nVery good coffee";
        assert_eq!(original_text(Some(c)).as_deref(), Some("Sehr guter Kaffee"));
        assert_eq!(original_text(Some("Plain")).as_deref(), Some("Plain"));
    }

    #[test]
    fn unspecified_rating_is_no_rating_but_unknown_names_are_rejected() {
        assert_eq!(rating(Some("STAR_RATING_UNSPECIFIED")).unwrap(), None);
        assert_eq!(rating(Some("FOUR")).unwrap(), Some(4));
        assert_eq!(
            rating(Some("SIX")).unwrap_err().code().to_string(),
            "invalid_value:starRating"
        );
    }
}
