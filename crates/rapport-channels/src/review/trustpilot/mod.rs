//! Trustpilot service reviews to interactions.
//!
//! Accepts a bare service review from the API, or the webhook envelope (`{"events": [...]}`),
//! whose `service-review-created` and `service-review-updated` events carry a review in
//! `eventData`; `service-review-deleted` and other events yield nothing (see `payload.rs`). Each
//! event of the envelope is read on its own: one that cannot be read is rejected alone, with its
//! index, as an envelope holding only it. An envelope without a review event is intentionally
//! skipped (reason `no_review_event`).
//!
//! A review yields the review (`{id}`, at `createdAt`, with `stars`, `title` as subject, `text`,
//! `language`, tag values), the company reply when there is one (`{id}:reply`, at the reply's
//! `createdAt`, authored by the business user), and, when `updatedAt` is later than `createdAt`,
//! the edited review (`{id}:edited:{updatedAt ms}`, status `edited`; see `review/shared.rs`).
//! Identities: `trustpilot_consumer` id, and `referralEmail` (the address the review invitation
//! went to, private API only) unless it is a placeholder or the company's own.

pub mod payload;

use rapport_model::{Identity, IdentityType, Interaction, Source};
use serde::de::DeserializeOwned;

use self::payload::{Event, Probe, Review, Webhook};
use crate::common::identifiers::customer_email;
use crate::common::{self, json, text};
use crate::review::shared;
use crate::{AdapterError, Context, Outcome, Skip};

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let probe: Probe = json::parse(payload, ctx.limits)?;
    if probe.events.is_none() {
        let review: Review = json::parse(payload, ctx.limits)?;
        return interactions(&review, "", ctx).map(Outcome::from);
    }
    let webhook: Webhook = json::parse(payload, ctx.limits)?;
    let mut outcome = Outcome::default();
    for (n, item) in webhook.events.into_iter().enumerate() {
        let read = from_value::<Event>(item.clone(), &format!("events[{n}]."))
            .and_then(|event| event_interactions(event, n, ctx));
        outcome.item(n, read, || {
            serde_json::to_vec(&serde_json::json!({"events": [item]})).unwrap_or_default()
        });
    }
    if outcome.interactions.is_empty() && outcome.rejected.is_empty() {
        outcome.skipped = Some(Skip::documented("no_review_event"));
    }
    Ok(outcome)
}

fn event_interactions(
    event: Event,
    n: usize,
    ctx: &Context<'_>,
) -> Result<Vec<Interaction>, AdapterError> {
    if !matches!(
        event.event_name.as_str(),
        "service-review-created" | "service-review-updated"
    ) {
        return Ok(Vec::new());
    }
    let prefix = format!("events[{n}].eventData.");
    let review: Review = from_value(event.event_data, &prefix)?;
    interactions(&review, &prefix, ctx)
}

/// True for the webhook envelope (`eventName` of a review event) or a review with `stars` and
/// a `consumer`.
pub fn detect(payload: &[u8]) -> bool {
    let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    (has(b"\"eventName\"") && has(b"-review-"))
        || (has(b"\"stars\"") && has(b"\"consumer\"") && has(b"\"createdAt\""))
}

fn interactions(
    r: &Review,
    prefix: &str,
    ctx: &Context<'_>,
) -> Result<Vec<Interaction>, AdapterError> {
    let field = |name: &str| format!("{prefix}{name}");
    let id = text::non_empty(Some(r.id.clone()))
        .ok_or_else(|| AdapterError::invalid(field("id"), "empty review id"))?;
    let created_at = common::rfc3339(&field("createdAt"), &r.created_at)?;
    let consumer = r.consumer.as_ref();
    let consumer_id = consumer.and_then(|c| text::non_empty(c.id.clone()));
    let name = consumer.and_then(|c| c.display_name.clone().or_else(|| c.name.clone()));

    let mut review = shared::review(
        ctx,
        Source::Trustpilot,
        &id,
        created_at,
        shared::customer(consumer_id.clone(), name),
    );
    review.rating = r
        .stars
        .map(|s| shared::stars(&field("stars"), s))
        .transpose()?;
    review.subject = text::non_empty(r.title.clone());
    review.text = shared::body(r.text.as_deref());
    review.language = text::non_empty(r.language.clone());
    review.tags = r
        .tags
        .iter()
        .filter_map(|t| text::non_empty(t.value.clone()))
        .collect();
    let mut ids: Vec<Identity> = consumer_id
        .iter()
        .filter_map(|c| Identity::scoped(IdentityType::TrustpilotConsumer, c).ok())
        .collect();
    ids.extend(customer_email(ctx, r.referral_email.as_deref()));
    review.identities = shared::sorted(ids);

    let mut out = Vec::new();
    if let Some(reply) = &r.company_reply {
        let at = match &reply.created_at {
            Some(t) => common::rfc3339(&field("companyReply.createdAt"), t)?,
            None => ctx.received_at,
        };
        let author = shared::agent(
            text::non_empty(reply.author_business_user_id.clone()),
            reply.author_business_user_name.clone(),
        );
        out.push(shared::reply(
            ctx,
            Source::Trustpilot,
            &review,
            &id,
            at,
            author,
            shared::body(reply.text.as_deref()),
        ));
    }
    if let Some(updated) = &r.updated_at {
        let updated_at = common::rfc3339(&field("updatedAt"), updated)?;
        if updated_at > created_at {
            out.push(shared::edit_of(
                ctx,
                Source::Trustpilot,
                &review,
                &id,
                updated_at,
            ));
        }
    }
    out.insert(0, review);
    Ok(out)
}

/// Reads an embedded object, naming fields by their full path in the payload.
fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, AdapterError> {
    // The path is only needed for the error: decode untracked first (see `json::parse`).
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = err.into_inner().to_string();
        match message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            Some(missing) if path.is_empty() => AdapterError::missing(format!("{prefix}{missing}")),
            Some(missing) => AdapterError::missing(format!("{prefix}{path}.{missing}")),
            None => AdapterError::invalid(
                format!("{prefix}{path}").trim_end_matches('.').to_owned(),
                message,
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_errors_name_the_full_path() {
        let v = serde_json::json!({"id": "r1"});
        let err = from_value::<Review>(v, "events[0].eventData.").unwrap_err();
        assert_eq!(
            err.code().to_string(),
            "missing_field:events[0].eventData.createdAt"
        );
        let v = serde_json::json!({"id": "r1", "createdAt": "x", "stars": "five"});
        let err = from_value::<Review>(v, "events[0].eventData.").unwrap_err();
        assert_eq!(
            err.code().to_string(),
            "invalid_value:events[0].eventData.stars"
        );
    }
}
