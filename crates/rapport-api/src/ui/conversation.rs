//! One conversation: its events in order, and between a customer's message and the human reply
//! that answered it, the reply latency drawn to scale. The latencies are computed from the
//! events by `rapport-responsiveness`, the code the writer stores the metrics with, so the page
//! and the stored numbers agree to the millisecond.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use rapport_clickhouse::read::{self, EventRow};
use rapport_responsiveness::compute;

use super::customer::{direction, is_customer_message, who};
use super::page::{Layout, PageResult, render};
use super::{UiState, view};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;
use crate::v1::conversations::MAX_INTERACTIONS;
use crate::v1::now_ms;

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    layout: Layout,
    conversation_id: String,
    channel: String,
    team: Option<String>,
    status: String,
    customer_href: Option<String>,
    customer: Option<String>,
    facts: Vec<(&'static str, String)>,
    identities: Vec<(String, String)>,
    items: Vec<Item>,
    truncated: bool,
    replies_drawn: usize,
}

#[derive(Debug)]
enum Item {
    Event(EventView),
    Latency(Latency),
}

#[derive(Debug)]
struct EventView {
    event_id: String,
    when: String,
    when_iso: String,
    direction: String,
    direction_label: String,
    who: String,
    kind: String,
    subject: Option<String>,
    text: Option<String>,
    details: Vec<String>,
    customer_message: bool,
}

/// The time a customer waited: for a reply (drawn before the reply), or still waiting.
#[derive(Debug)]
struct Latency {
    label: String,
    since: String,
    /// The bar's length in percent of the row, on a log scale from a minute to a week.
    width: String,
    open: bool,
    first: bool,
    /// `quick` (under 1 h), `slow` (under a day) or `late`.
    pace: &'static str,
}

/// Where a latency's bar ends: 1 minute at 4 %, a week at 100 %, log-scaled between.
fn bar_width(ms: i64) -> String {
    let (min, max) = (60_000f64.ln(), 604_800_000f64.ln());
    let at = (ms.max(1) as f64).ln().clamp(min, max);
    format!("{:.1}", 4.0 + (at - min) / (max - min) * 96.0)
}

fn pace(ms: i64) -> &'static str {
    if ms < 3_600_000 {
        "quick"
    } else if ms < 86_400_000 {
        "slow"
    } else {
        "late"
    }
}

fn event_view(row: EventRow) -> EventView {
    let (dir, dir_label) = direction(&row);
    let mut details = Vec::new();
    if let Some(status) = &row.status {
        details.push(format!("status → {status}"));
    }
    if let Some(rating) = row.rating {
        details.push(format!("rating {rating} of 5"));
    }
    if row.auto_reply != 0 {
        details.push("automatic reply: not counted as a response".into());
    }
    if row.attachment_count > 0 {
        details.push(format!(
            "{} attachment{}: {}",
            row.attachment_count,
            if row.attachment_count == 1 { "" } else { "s" },
            row.attachment_names.join(", ")
        ));
    }
    if !row.tags.is_empty() {
        details.push(format!("tags: {}", row.tags.join(", ")));
    }
    EventView {
        customer_message: is_customer_message(&row),
        who: who(&row),
        when: view::time(row.occurred_at_ms),
        when_iso: view::machine_time(row.occurred_at_ms),
        direction: dir.to_owned(),
        direction_label: dir_label.to_owned(),
        kind: row.kind.replace('_', " "),
        subject: row.subject.filter(|s| !s.trim().is_empty()),
        text: row.text.filter(|t| !t.trim().is_empty()),
        details,
        event_id: row.event_id,
    }
}

/// `GET /ui/conversations/{id}`.
pub async fn show(
    State(state): State<UiState>,
    Extension(caller): Extension<Caller>,
    Path(conversation_id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    Params::parse(query.as_deref(), &[])?;
    let tenant = caller.tenant_id.as_str();
    let conversation_id =
        read::conversations::thread_of(&state.app.client, tenant, &conversation_id).await?;
    let client = &state.app.client;
    let events = read::conversations::events(client, tenant, &conversation_id, MAX_INTERACTIONS);
    let stored = read::conversations::state(client, tenant, &conversation_id);
    let ((events, truncated), stored) = tokio::try_join!(events, stored)?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!(
            "No conversation {} in {tenant}. Conversation ids look like zendesk:501 or intercom:1001; a customer's page links each of theirs.",
            view::preview(&conversation_id, 100)
        ))
        .into());
    }
    let computed = compute(events.iter().map(EventRow::metrics_event).collect());
    let replies: BTreeMap<&str, (i64, i64, bool)> = computed
        .as_ref()
        .map(|c| {
            c.replies
                .iter()
                .filter_map(|r| {
                    Some((
                        r.event_id.as_str(),
                        (r.inbound_at_ms?, r.latency_ms?, r.is_first_response),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let replies: BTreeMap<String, (i64, i64, bool)> = replies
        .into_iter()
        .map(|(id, v)| (id.to_owned(), v))
        .collect();
    let mut items = Vec::with_capacity(events.len() + replies.len() + 1);
    let mut drawn = 0;
    let channel = events[0].channel.clone();
    for row in events {
        if let Some((inbound, latency, first)) = replies.get(&row.event_id) {
            drawn += 1;
            items.push(Item::Latency(Latency {
                label: format!(
                    "{} {}",
                    if *first {
                        "First response after"
                    } else {
                        "Replied after"
                    },
                    view::duration(*latency)
                ),
                since: view::clock(*inbound),
                width: bar_width(*latency),
                open: false,
                first: *first,
                pace: pace(*latency),
            }));
        }
        items.push(Item::Event(event_view(row)));
    }
    let now = now_ms();
    if let Some(since) = stored
        .as_ref()
        .filter(|s| s.is_waiting != 0)
        .and_then(|s| s.waiting_since_ms)
    {
        let waited = now.saturating_sub(since);
        items.push(Item::Latency(Latency {
            label: format!("Waiting for a reply for {}", view::duration(waited)),
            since: view::clock(since),
            width: bar_width(waited),
            open: true,
            first: false,
            pace: pace(waited),
        }));
    }
    let (facts, identities, team, status, customer) = match &stored {
        Some(s) => (
            vec![
                ("Started", view::time(s.created_at_ms)),
                ("Last event", view::time(s.last_event_at_ms)),
                ("First response", view::maybe_duration(s.first_response_ms)),
                ("Human replies", s.human_replies.to_string()),
                (
                    "Average reply",
                    view::maybe_duration(s.avg_reply_latency_ms),
                ),
                (
                    "Slowest reply",
                    view::maybe_duration(s.max_reply_latency_ms),
                ),
                (
                    "First resolution",
                    view::maybe_duration(s.first_resolution_ms),
                ),
                (
                    "Full resolution",
                    view::maybe_duration(s.full_resolution_ms),
                ),
                ("Reopened", s.reopen_count.to_string()),
            ],
            s.identities
                .iter()
                .map(|i| (format!("/ui/customers?q={}", view::encode(i)), i.clone()))
                .collect(),
            s.team.clone(),
            if s.is_waiting != 0 {
                "waiting for a reply".to_owned()
            } else if s.is_resolved != 0 {
                s.status.clone().unwrap_or_else(|| "resolved".into())
            } else {
                s.status.clone().unwrap_or_else(|| "open".into())
            },
            Some(s.primary_identity.clone()).filter(|p| !p.is_empty()),
        ),
        None => (Vec::new(), Vec::new(), None, "open".to_owned(), None),
    };
    let page = ConversationPage {
        layout: Layout::new(
            format!("Conversation {conversation_id}"),
            Some(tenant),
            "customers",
        ),
        customer_href: customer.as_deref().map(view::customer_href),
        customer,
        conversation_id,
        channel: stored.as_ref().map_or(channel, |s| s.channel.clone()),
        team,
        status,
        facts,
        identities,
        items,
        truncated,
        replies_drawn: drawn,
    };
    Ok(render(&page, StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_bars_grow_with_the_logarithm_of_the_wait() {
        assert_eq!(bar_width(1_000), "4.0");
        assert_eq!(bar_width(60_000), "4.0");
        assert_eq!(bar_width(604_800_000), "100.0");
        assert_eq!(bar_width(30 * 86_400_000), "100.0");
        let hour: f64 = bar_width(3_600_000).parse().unwrap();
        let day: f64 = bar_width(86_400_000).parse().unwrap();
        assert!(4.0 < hour && hour < day && day < 100.0);
        assert_eq!(
            (pace(59_000), pace(7_200_000), pace(90_000_000)),
            ("quick", "slow", "late")
        );
    }
}
