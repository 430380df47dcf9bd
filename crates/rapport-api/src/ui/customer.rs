//! The customer pages: the search (any identifier: an email address, a phone number, a chat,
//! helpdesk or review handle, or the customer id), and one customer: who they are and how
//! their identifiers were linked, where they wait for a reply, and their merged history across
//! channels, newest first, in pages.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use rapport_clickhouse::read::{self, EventRow, Order};
use rapport_model::Channel;

use super::page::{Layout, PageResult, render};
use super::{UiState, view};
use crate::auth::Caller;
use crate::cursor::Cursor;
use crate::error::ApiError;
use crate::params::Params;
use crate::v1::now_ms;

/// Timeline entries per page.
pub const PAGE_SIZE: u32 = 25;
/// Open conversations listed at most; the timeline has every one.
const MAX_OPEN: usize = 20;
/// How many customers a search lists at most.
const MAX_MATCHES: usize = 20;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
    query: String,
    /// Why the last search found nothing or could not run.
    problem: Option<String>,
    matches: Vec<Match>,
    waiting: Vec<super::responsiveness::WaitingView>,
    /// The tenant has no stored conversation at all.
    store_empty: bool,
}

#[derive(Debug)]
struct Match {
    href: String,
    identity: String,
    customer_id: String,
}

/// `GET /ui` and `GET /ui/customers?q=…`: the search, and the longest waits as a start.
pub async fn search(
    State(state): State<UiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = Params::parse(query.as_deref(), &["q"])?;
    let tenant = caller.tenant_id.as_str();
    let client = &state.app.client;
    let text = params.get("q").unwrap_or_default().trim().to_owned();
    let mut page = Home {
        layout: Layout::new("Customers", Some(tenant), "customers"),
        query: text.clone(),
        problem: None,
        matches: Vec::new(),
        waiting: Vec::new(),
        store_empty: false,
    };
    if !text.is_empty() {
        match read::find_customers(client, tenant, &text, MAX_MATCHES).await {
            Ok(found) if found.len() == 1 => {
                return Ok(
                    Redirect::to(&view::customer_href(&found[0].customer_id)).into_response()
                );
            }
            Ok(found) if found.is_empty() => {
                page.problem = Some(format!(
                    "No customer of {tenant} has the identifier {}. Try its full form, such as email:maria@example.com, phone:+14155552671 or zendesk_user:9001.",
                    view::preview(&text, 100)
                ));
            }
            Ok(found) => {
                page.matches = found
                    .into_iter()
                    .map(|f| Match {
                        href: view::customer_href(&f.customer_id),
                        identity: f.identity,
                        customer_id: f.customer_id,
                    })
                    .collect();
            }
            Err(read::ReadError::BadInput(message)) => page.problem = Some(message),
            Err(error) => return Err(error.into()),
        }
    }
    let (waiting, any) = tokio::try_join!(
        super::responsiveness::waiting(client, tenant, None, 8),
        read::conversations::any(client, tenant)
    )?;
    page.waiting = waiting;
    page.store_empty = !any;
    let status = if page.problem.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok(render(&page, status))
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    layout: Layout,
    customer_id: String,
    name: String,
    identities: Vec<IdentityView>,
    links: Vec<LinkView>,
    first_contact: String,
    last_contact: String,
    interactions: String,
    conversations: String,
    channels: String,
    waiting: Option<Waiting>,
    open: Vec<OpenView>,
    /// Open conversations beyond the ones listed.
    open_more: usize,
    filters: Vec<Filter>,
    /// The channel the timeline is filtered to, and the timeline without the filter.
    channel: Option<String>,
    all_href: String,
    entries: Vec<Entry>,
    older_href: Option<String>,
    newest_href: Option<String>,
}

#[derive(Debug)]
struct IdentityView {
    kind: String,
    value: String,
    search_href: String,
}

#[derive(Debug)]
struct LinkView {
    a: String,
    b: String,
    state: String,
    source: String,
    event_id: String,
    when: String,
}

#[derive(Debug)]
struct Waiting {
    since: String,
    waited: String,
    conversations: Vec<(String, String)>,
}

#[derive(Debug)]
struct OpenView {
    href: String,
    id: String,
    channel: String,
    status: String,
    last_event: String,
    waiting_for: Option<String>,
}

#[derive(Debug)]
struct Filter {
    label: String,
    href: String,
    current: bool,
}

/// One item of the timeline as shown.
#[derive(Debug)]
pub struct Entry {
    pub event_id: String,
    pub when: String,
    pub when_iso: String,
    pub channel: String,
    pub source: String,
    /// `in`, `out` or `internal`.
    pub direction: String,
    pub direction_label: String,
    pub who: String,
    pub kind: String,
    pub subject: Option<String>,
    pub preview: String,
    pub conversation_id: String,
    pub conversation_href: String,
    /// A customer message that still waits for a human reply.
    pub waiting: bool,
}

/// The label of an identifier type, for people.
fn kind_label(kind: &str) -> String {
    match kind {
        "email" => "Email".into(),
        "phone" => "Phone".into(),
        "intercom_contact" => "Intercom contact".into(),
        "chatwoot_contact" => "Chatwoot contact".into(),
        "zendesk_user" => "Zendesk user".into(),
        "freshdesk_contact" => "Freshdesk contact".into(),
        "google_reviewer" => "Google reviewer".into(),
        "yelp_user" => "Yelp user".into(),
        "trustpilot_consumer" => "Trustpilot consumer".into(),
        "external_id" => "External id".into(),
        other => other.replace('_', " "),
    }
}

/// Who acted: the actor's name when the source gave one, and the role.
pub fn who(row: &EventRow) -> String {
    match (&row.actor_name, row.actor_role.as_str()) {
        (Some(name), role) if !name.trim().is_empty() => {
            format!("{} · {role}", view::preview(name, 60))
        }
        (_, role) => role.to_owned(),
    }
}

pub fn direction(row: &EventRow) -> (&'static str, &'static str) {
    match row.direction.as_str() {
        "inbound" => ("in", "from the customer"),
        "outbound" => ("out", "to the customer"),
        _ => ("internal", "internal"),
    }
}

/// A customer's own message (not a bot's, not an auto-reply), the kind that waits for a reply.
pub fn is_customer_message(row: &EventRow) -> bool {
    row.direction == "inbound"
        && row.actor_role == "customer"
        && matches!(row.kind.as_str(), "message" | "review")
        && row.auto_reply == 0
}

fn entry(row: EventRow, waiting_since: &BTreeMap<String, i64>) -> Entry {
    let (dir, dir_label) = direction(&row);
    let waiting = is_customer_message(&row)
        && waiting_since
            .get(&row.conversation_id)
            .is_some_and(|since| row.occurred_at_ms >= *since);
    let text = row.text.as_deref().unwrap_or_default();
    let preview = if text.is_empty() {
        match (&row.status, row.rating) {
            (Some(status), _) => format!("status: {status}"),
            (None, Some(rating)) => format!("rated {rating} of 5"),
            _ => String::new(),
        }
    } else {
        view::preview(text, 280)
    };
    Entry {
        who: who(&row),
        when: view::time(row.occurred_at_ms),
        when_iso: view::machine_time(row.occurred_at_ms),
        channel: row.channel,
        source: row.source,
        direction: dir.to_owned(),
        direction_label: dir_label.to_owned(),
        kind: row.kind.replace('_', " "),
        subject: row
            .subject
            .filter(|s| !s.trim().is_empty())
            .map(|s| view::preview(&s, 140)),
        preview,
        conversation_href: view::conversation_href(&row.conversation_id),
        conversation_id: row.conversation_id,
        event_id: row.event_id,
        waiting,
    }
}

/// `GET /ui/customers/{id-or-identifier}?channel&after`: one customer.
pub async fn show(
    State(state): State<UiState>,
    Extension(caller): Extension<Caller>,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let params = Params::parse(query.as_deref(), &["channel", "after"])?;
    let channel = params.channel()?;
    let after = params.get("after").map(Cursor::decode).transpose()?;
    let tenant = caller.tenant_id.as_str();
    let client = &state.app.client;
    let customer_id = read::resolve_customer(client, tenant, &customer)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No customer of {tenant} is {}: search by an email address, a phone number or another identifier.",
                view::preview(&customer, 100)
            ))
        })?;
    let after = after
        .map(|c| c.check(tenant, &customer_id, Some(Order::Desc)))
        .transpose()?;
    let summary = read::customers::summary(client, tenant, &customer_id);
    let timeline_query = read::timeline::TimelineQuery {
        tenant_id: tenant,
        customer_id: &customer_id,
        order: Order::Desc,
        limit: PAGE_SIZE,
        channel: channel.as_deref(),
        from: None,
        to: None,
        after: after.as_ref().map(|c| &c.after),
    };
    let timeline = read::timeline::page(client, &timeline_query);
    let (summary, timeline) = tokio::try_join!(summary, timeline)?;
    let links = read::customers::links(client, tenant, &summary.identities).await?;

    let now = now_ms();
    let waiting_since: BTreeMap<String, i64> = summary
        .conversation_states
        .iter()
        .filter(|c| c.is_waiting != 0)
        .filter_map(|c| {
            c.waiting_since_ms
                .map(|since| (c.conversation_id.clone(), since))
        })
        .collect();
    let waiting = waiting_since.values().min().map(|since| Waiting {
        since: view::time(*since),
        waited: view::duration(now - since),
        conversations: summary
            .conversation_states
            .iter()
            .filter(|c| c.is_waiting != 0)
            .map(|c| {
                (
                    view::conversation_href(&c.conversation_id),
                    c.conversation_id.clone(),
                )
            })
            .collect(),
    });
    let base = view::customer_href(&customer_id);
    let filter_href = |c: Option<&str>| match c {
        Some(c) => format!("{base}?channel={c}"),
        None => base.clone(),
    };
    let mut filters = vec![Filter {
        label: "All channels".into(),
        href: filter_href(None),
        current: channel.is_none(),
    }];
    filters.extend(Channel::ALL.iter().map(|c| Filter {
        label: c.as_str().to_owned(),
        href: filter_href(Some(c.as_str())),
        current: channel.as_deref() == Some(c.as_str()),
    }));
    let older_href = timeline
        .more
        .then(|| timeline.items.last())
        .flatten()
        .map(|last| {
            let cursor = Cursor::new(tenant, &customer_id, Order::Desc, last.position()).encode();
            match &channel {
                Some(c) => format!("{base}?channel={c}&after={}", view::encode(&cursor)),
                None => format!("{base}?after={}", view::encode(&cursor)),
            }
        });
    let name = summary
        .identities
        .iter()
        .find(|i| i.starts_with("email:"))
        .or_else(|| summary.identities.first())
        .map_or_else(
            || customer_id.clone(),
            |i| i.split_once(':').map_or(i.as_str(), |(_, v)| v).to_owned(),
        );
    // The waiting ones first (longest wait first), then the most recently active.
    let mut open: Vec<_> = summary
        .conversation_states
        .iter()
        .filter(|c| c.is_resolved == 0)
        .collect();
    open.sort_by_key(|c| {
        (
            c.is_waiting == 0,
            c.waiting_since_ms.unwrap_or(i64::MAX),
            std::cmp::Reverse(c.last_event_at_ms),
        )
    });
    let page = CustomerPage {
        layout: Layout::new(name.clone(), Some(tenant), "customers"),
        identities: summary
            .identities
            .iter()
            .map(|i| {
                let (kind, value) = i.split_once(':').unwrap_or(("", i));
                IdentityView {
                    kind: kind_label(kind),
                    value: value.to_owned(),
                    search_href: format!("/ui/customers?q={}", view::encode(i)),
                }
            })
            .collect(),
        links: links
            .into_iter()
            .map(|l| LinkView {
                a: l.identity_a,
                b: l.identity_b,
                state: l.state,
                source: l.source,
                event_id: l.event_id,
                when: view::time(l.occurred_at_ms),
            })
            .collect(),
        first_contact: summary
            .first_contact_ms
            .map_or_else(|| "–".into(), view::time),
        last_contact: summary
            .last_contact_ms
            .map_or_else(|| "–".into(), view::time),
        interactions: view::count(summary.interactions),
        conversations: view::count(summary.conversations),
        channels: if summary.channels.is_empty() {
            "–".into()
        } else {
            summary.channels.join(", ")
        },
        waiting,
        open_more: open.len().saturating_sub(MAX_OPEN),
        open: open
            .into_iter()
            .take(MAX_OPEN)
            .map(|c| OpenView {
                href: view::conversation_href(&c.conversation_id),
                id: c.conversation_id.clone(),
                channel: c.channel.clone(),
                status: c.status.clone().unwrap_or_else(|| "open".into()),
                last_event: view::time(c.last_event_at_ms),
                waiting_for: (c.is_waiting != 0)
                    .then_some(c.waiting_since_ms)
                    .flatten()
                    .map(|since| view::duration(now - since)),
            })
            .collect(),
        filters,
        entries: timeline
            .items
            .into_iter()
            .map(|row| entry(row, &waiting_since))
            .collect(),
        newest_href: after.is_some().then(|| filter_href(channel.as_deref())),
        all_href: filter_href(None),
        channel,
        older_href,
        name,
        customer_id,
    };
    Ok(render(&page, StatusCode::OK))
}
