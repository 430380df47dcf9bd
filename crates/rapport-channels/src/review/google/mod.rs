//! Google Business Profile reviews to interactions.
//!
//! The Kafka value is one `Review` resource (see `payload.rs`). It yields the review (event id
//! `{reviewId}`, at `createTime`), its reply when there is one (`{reviewId}:reply`, at the
//! reply's `updateTime`, the only time the API gives for it), and, when `updateTime` is later
//! than `createTime`, the edited review (`{reviewId}:edited:{updateTime ms}`, status `edited`,
//! at `updateTime`). Why edits get their own id is explained in `review/shared.rs`: a review
//! edited after it was replied to must show up as a new inbound event after the reply, without
//! moving the original review past its reply.
//!
//! Identity: the API exposes no reviewer id, only a display name, and display names are not
//! unique ("John S." is many people), so no `google_reviewer` identity is emitted; linking
//! reviews by name would merge strangers. The display name is kept as the actor's name (left
//! out for anonymous reviewers).
//!
//! Text: Google delivers translated reviews as `(Translated by Google) … (Original) …`; the
//! customer's original words are kept. The API has no language field, so `language` is empty.

pub mod payload;

use rapport_model::{Interaction, Source};

use self::payload::Review;
use crate::common::{self, json, text};
use crate::review::shared;
use crate::{AdapterError, Context};

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Vec<Interaction>, AdapterError> {
    let review: Review = json::parse(payload, ctx.limits)?;
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
    let created_at = common::rfc3339("createTime", &review.create_time)?;
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
