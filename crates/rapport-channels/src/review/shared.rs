//! Helpers the review adapters share: the review / reply / edit interactions and ratings.
//!
//! Every review source maps the same way: the review is an inbound `review` from the customer
//! (event id `{review id}`, at its creation time); the business's public reply is an outbound
//! `review_reply` from an agent in the review's conversation (event id `{review id}:reply`); a
//! review the customer edited later is, in addition, an inbound `review` with status `edited`
//! at the edit time (event id `{review id}:edited:{edit time in ms}`). The edit gets its own id
//! so that it never overwrites the original review's time: response time is measured from the
//! review, and an edit made after the reply shows up as a new inbound event that is waiting
//! for an answer. Analysts counting reviews skip `status = 'edited'`.

use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, Interaction, InteractionKind, Source, Timestamp,
};

use crate::common::{self, Core, text};
use crate::{AdapterError, Context};

/// A star rating that must be a whole number from 1 to 5.
pub(crate) fn stars(field: &str, value: f64) -> Result<u8, AdapterError> {
    if value.fract() == 0.0 && (1.0..=5.0).contains(&value) {
        // Checked above to be a whole number in 1..=5.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Ok(value as u8);
    }
    Err(AdapterError::invalid(
        field,
        format!("rating {value} is not a whole number from 1 to 5"),
    ))
}

/// What a review-family interaction is: kind and direction always go together.
const REVIEW: (InteractionKind, Direction) = (InteractionKind::Review, Direction::Inbound);
const REPLY: (InteractionKind, Direction) = (InteractionKind::ReviewReply, Direction::Outbound);

fn base(
    ctx: &Context<'_>,
    source: Source,
    id: &str,
    review_id: &str,
    what: (InteractionKind, Direction),
    actor: Actor,
    at: Timestamp,
) -> Interaction {
    common::interaction(
        ctx,
        Core {
            source,
            channel: Channel::Review,
            source_event_id: id,
            kind: what.0,
            direction: what.1,
            actor,
            conversation_id: common::conversation_id(source, review_id),
            occurred_at: at,
        },
    )
}

/// The review itself, from the customer.
pub(crate) fn review(
    ctx: &Context<'_>,
    source: Source,
    review_id: &str,
    at: Timestamp,
    actor: Actor,
) -> Interaction {
    base(ctx, source, review_id, review_id, REVIEW, actor, at)
}

/// The review as the customer edited it, a separate inbound event at the edit time.
pub(crate) fn edit_of(
    ctx: &Context<'_>,
    source: Source,
    review: &Interaction,
    review_id: &str,
    edited_at: Timestamp,
) -> Interaction {
    let id = format!("{review_id}:edited:{}", edited_at.as_millis());
    let mut edit = base(
        ctx,
        source,
        &id,
        review_id,
        REVIEW,
        review.actor.clone(),
        edited_at,
    );
    edit.identities = review.identities.clone();
    edit.subject = review.subject.clone();
    edit.text = review.text.clone();
    edit.rating = review.rating;
    edit.tags = review.tags.clone();
    edit.language = review.language.clone();
    edit.status = Some("edited".into());
    edit
}

/// The business's public reply, in the review's conversation.
pub(crate) fn reply(
    ctx: &Context<'_>,
    source: Source,
    review: &Interaction,
    review_id: &str,
    at: Timestamp,
    author: Actor,
    body: Option<String>,
) -> Interaction {
    let id = format!("{review_id}:reply");
    let mut reply = base(ctx, source, &id, review_id, REPLY, author, at);
    reply.identities = review.identities.clone();
    reply.text = body;
    reply
}

pub(crate) fn agent(id: Option<String>, name: Option<String>) -> Actor {
    common::actor(ActorRole::Agent, id, name)
}

pub(crate) fn customer(id: Option<String>, name: Option<String>) -> Actor {
    common::actor(ActorRole::Customer, id, name)
}

/// A review text: tidied, empty is none.
pub(crate) fn body(raw: Option<&str>) -> Option<String> {
    text::non_empty(raw.map(text::tidy))
}

/// Sorted, deduplicated identities.
pub(crate) fn sorted(mut ids: Vec<Identity>) -> Vec<Identity> {
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_stars_from_one_to_five_are_ratings() {
        assert_eq!(stars("rating", 5.0).unwrap(), 5);
        assert_eq!(stars("rating", 1.0).unwrap(), 1);
        for bad in [0.0, 6.0, 4.5, -1.0, f64::NAN] {
            assert_eq!(
                stars("rating", bad).unwrap_err().code().to_string(),
                "invalid_value:rating",
                "{bad}"
            );
        }
    }
}
