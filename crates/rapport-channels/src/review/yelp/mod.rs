//! Yelp reviews to interactions.
//!
//! Accepts one Fusion review object, a Fusion review list (`{"reviews": [...]}`), or a partner
//! Reviews Webhook (see `payload.rs`). A review is an inbound `review` with event id `{id}`,
//! rating, and the `yelp_user` identity of its author. `time_created` is Yelp's Pacific local
//! time and is converted to UTC with the US Pacific daylight-saving rules (2007 rules, and the
//! 1987–2006 rules before that); in the hour repeated when daylight time ends, the first (PDT)
//! reading is used.
//!
//! A list (`reviews`, a webhook's `data.updates`) is read item by item: an item that cannot be
//! read is rejected alone, with its index, and its neighbours still yield their reviews. Yelp's
//! `reviews` list is rejected alone as a Fusion review; a webhook update as a webhook with that
//! one update. Intentionally skipped: an empty list (reason `empty_list`) and a webhook without
//! a `NEW_REVIEW_EVENT` (reason `no_new_review`).
//!
//! A webhook `NEW_REVIEW_EVENT` yields the same review (same event id, so it collapses with the
//! Fusion object fetched later) with rating, language and user id but no text, at the webhook's
//! `time` (Yelp notifies when it notifies the business owner; a time without an offset is UTC).
//! `REVIEW_EDITED_EVENT` carries neither the new text nor a rating and `REVIEW_REMOVED_EVENT`
//! removes, so both yield nothing, as do other update types (leads, …).
//!
//! No documented Yelp read API returns the owner's public reply, so no `review_reply` is emitted.

pub mod payload;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use rapport_model::{Identity, IdentityType, Interaction, Source, Timestamp};

use self::payload::{Probe, Review, ReviewList, Update, Webhook};
use crate::common::{json, text};
use crate::review::shared;
use crate::{AdapterError, Context, Outcome, Skip};

pub fn normalize(payload: &[u8], ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let probe: Probe = json::parse(payload, ctx.limits)?;
    if probe.object.is_some() {
        if probe.object.as_deref() != Some("business") {
            return Err(AdapterError::shape(
                "yelp",
                "webhook object is not \"business\"",
            ));
        }
        let webhook: Webhook = json::parse(payload, ctx.limits)?;
        return webhook_reviews(&webhook, ctx);
    }
    if probe.reviews.is_some() {
        let list: ReviewList = json::parse(payload, ctx.limits)?;
        let mut outcome = Outcome::default();
        for (n, item) in list.reviews.into_iter().enumerate() {
            let prefix = format!("reviews[{n}].");
            let bytes = serde_json::to_vec(&item).unwrap_or_default();
            let read = json::parse::<Review>(&bytes, ctx.limits)
                .map_err(|e| within(&prefix, e))
                .and_then(|r| review(&r, &prefix, ctx))
                .map(|i| vec![i]);
            outcome.item(n, read, || bytes);
        }
        return Ok(empty_is(outcome, Skip::documented("empty_list")));
    }
    let one: Review = json::parse(payload, ctx.limits)?;
    Ok(Outcome::from(vec![review(&one, "", ctx)?]))
}

fn empty_is(mut outcome: Outcome, skip: Skip) -> Outcome {
    if outcome.interactions.is_empty() && outcome.rejected.is_empty() {
        outcome.skipped = Some(skip);
    }
    outcome
}

/// An item's error with its fields named under the item's path.
fn within(prefix: &str, error: AdapterError) -> AdapterError {
    match error {
        AdapterError::MissingField(f) => AdapterError::MissingField(format!("{prefix}{f}")),
        AdapterError::InvalidValue { field, reason } => AdapterError::InvalidValue {
            field: format!("{prefix}{field}"),
            reason,
        },
        other => other,
    }
}

/// True for a Fusion review (`time_created` with a `rating`) or a Yelp business webhook.
pub fn detect(payload: &[u8]) -> bool {
    let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    (has(b"\"time_created\"") && has(b"\"rating\""))
        || (has(b"\"object\"")
            && has(b"\"business\"")
            && has(b"\"updates\"")
            && has(b"\"event_type\""))
}

fn review(r: &Review, prefix: &str, ctx: &Context<'_>) -> Result<Interaction, AdapterError> {
    let field = |name: &str| format!("{prefix}{name}");
    let id = text::non_empty(Some(r.id.clone()))
        .ok_or_else(|| AdapterError::invalid(field("id"), "empty review id"))?;
    let at = pacific_time(&r.time_created).ok_or_else(|| {
        AdapterError::invalid(
            field("time_created"),
            format!("not a \"YYYY-MM-DD HH:MM:SS\" time: {:?}", r.time_created),
        )
    })?;
    let user = r.user.as_ref();
    let user_id = user.and_then(|u| text::non_empty(u.id.clone()));
    let mut i = shared::review(
        ctx,
        Source::Yelp,
        &id,
        at,
        shared::customer(user_id.clone(), user.and_then(|u| u.name.clone())),
    );
    i.rating = r
        .rating
        .map(|v| shared::stars(&field("rating"), v))
        .transpose()?;
    i.text = shared::body(r.text.as_deref());
    i.identities = identities(user_id.as_deref());
    Ok(i)
}

fn webhook_reviews(webhook: &Webhook, ctx: &Context<'_>) -> Result<Outcome, AdapterError> {
    let at = Timestamp::parse_rfc3339(&webhook.time)
        .or_else(|| {
            NaiveDateTime::parse_from_str(webhook.time.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|dt| Timestamp::from_millis(dt.and_utc().timestamp_millis()))
        })
        .ok_or_else(|| {
            AdapterError::invalid("time", format!("not an ISO 8601 time: {:?}", webhook.time))
        })?;
    let mut outcome = Outcome::default();
    for (n, item) in webhook.data.updates.iter().enumerate() {
        let prefix = format!("data.updates[{n}].");
        let bytes = serde_json::to_vec(item).unwrap_or_default();
        let read = json::parse::<Update>(&bytes, ctx.limits)
            .map_err(|e| within(&prefix, e))
            .and_then(|update| {
                if update.event_type == "NEW_REVIEW_EVENT" {
                    new_review(&update, &prefix, at, ctx).map(|i| vec![i])
                } else {
                    Ok(Vec::new())
                }
            });
        outcome.item(n, read, || {
            let one = serde_json::json!({
                "time": webhook.time,
                "object": "business",
                "data": {"id": webhook.data.id, "updates": [item]},
            });
            serde_json::to_vec(&one).unwrap_or_default()
        });
    }
    Ok(empty_is(outcome, Skip::documented("no_new_review")))
}

fn new_review(
    update: &Update,
    prefix: &str,
    at: Timestamp,
    ctx: &Context<'_>,
) -> Result<Interaction, AdapterError> {
    let id = text::non_empty(update.review_id.clone())
        .ok_or_else(|| AdapterError::missing(format!("{prefix}review_id")))?;
    let user_id = text::non_empty(update.user_id.clone());
    let mut i = shared::review(
        ctx,
        Source::Yelp,
        &id,
        at,
        shared::customer(user_id.clone(), None),
    );
    i.rating = update
        .rating
        .map(|v| shared::stars(&format!("{prefix}rating"), v))
        .transpose()?;
    i.language = text::non_empty(update.language.clone());
    i.identities = identities(user_id.as_deref());
    Ok(i)
}

fn identities(user_id: Option<&str>) -> Vec<Identity> {
    user_id
        .and_then(|id| Identity::scoped(IdentityType::YelpUser, id).ok())
        .into_iter()
        .collect()
}

/// `"YYYY-MM-DD HH:MM:SS"` in US Pacific time to UTC.
fn pacific_time(raw: &str) -> Option<Timestamp> {
    let local = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let offset_hours = if is_pacific_daylight(local) { 7 } else { 8 };
    let utc = local.checked_add_signed(Duration::hours(offset_hours))?;
    Some(Timestamp::from_millis(utc.and_utc().timestamp_millis()))
}

fn is_pacific_daylight(local: NaiveDateTime) -> bool {
    let year = local.year();
    let (start, end) = if year >= 2007 {
        (nth_sunday(year, 3, 2), nth_sunday(year, 11, 1))
    } else {
        (nth_sunday(year, 4, 1), last_sunday(year, 10))
    };
    let (Some(start), Some(end)) = (start, end) else {
        return false;
    };
    let two_am = |d: NaiveDate| d.and_hms_opt(2, 0, 0);
    match (two_am(start), two_am(end)) {
        (Some(start), Some(end)) => local >= start && local < end,
        _ => false,
    }
}

fn nth_sunday(year: i32, month: u32, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let first_of_next = NaiveDate::from_ymd_opt(year, month + 1, 1)?;
    let last = first_of_next.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    last.checked_sub_signed(Duration::days(i64::from(back)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(raw: &str) -> String {
        pacific_time(raw).unwrap().to_string()
    }

    #[test]
    fn pacific_times_follow_daylight_saving() {
        assert_eq!(utc("2024-01-15 10:00:00"), "2024-01-15T18:00:00.000Z");
        assert_eq!(utc("2024-07-15 10:00:00"), "2024-07-15T17:00:00.000Z");
        assert_eq!(utc("2024-03-10 01:59:59"), "2024-03-10T09:59:59.000Z");
        assert_eq!(utc("2024-03-10 03:00:00"), "2024-03-10T10:00:00.000Z");
        assert_eq!(utc("2024-11-03 01:30:00"), "2024-11-03T08:30:00.000Z");
        assert_eq!(utc("2024-11-03 02:30:00"), "2024-11-03T10:30:00.000Z");
        assert_eq!(utc("2005-04-03 03:00:00"), "2005-04-03T10:00:00.000Z");
        assert_eq!(utc("2005-10-30 03:00:00"), "2005-10-30T11:00:00.000Z");
        assert!(pacific_time("2024-07-15T10:00:00Z").is_none());
    }
}
