//! A customer's merged history across channels, a page at a time.
//!
//! A page reads by key prefix, and only as much of the history as the page needs: the customer's
//! identifiers (`customer_identities`), their conversations (`interaction_identities`) with each
//! one's stored span (`conversations`: first and last event, how many), then the events of the
//! conversations that can reach into the page, restricted to the time window that is sure to hold
//! it. The window starts small (enough conversations to hold a page, counted by their stored
//! events) and widens until the page is full or the history is exhausted, so a page costs about
//! its own events however long the customer's history is.

use std::collections::BTreeMap;

use clickhouse::Row;
use serde::Deserialize;

use super::{
    EVENT_COLUMNS, EventRow, OWN_PRIMARY, Order, Position, ReadResult, Sql, identities_of,
};

/// What to read of a customer's history.
#[derive(Debug, Clone)]
pub struct TimelineQuery<'a> {
    pub tenant_id: &'a str,
    pub customer_id: &'a str,
    pub order: Order,
    pub limit: u32,
    pub channel: Option<&'a str>,
    /// `occurred_at_ms` from (inclusive) and to (exclusive).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Continue after this position (the last item of the previous page).
    pub after: Option<&'a Position>,
}

/// A page: at most `limit` events, and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelinePage {
    pub items: Vec<EventRow>,
    pub more: bool,
}

/// One of the customer's conversations as stored: when its events lie and how many there are.
/// A conversation without a stored state (the writer's state is off, or has not caught up) spans
/// all time with an unknown count.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Row)]
pub struct Span {
    pub conversation_id: String,
    pub created_at_ms: i64,
    pub last_event_at_ms: i64,
    pub events: u32,
    pub primary_identity: String,
    pub stored: u8,
}

impl Span {
    fn unknown(conversation_id: String) -> Self {
        Self {
            conversation_id,
            created_at_ms: i64::MIN,
            last_event_at_ms: i64::MAX,
            events: 0,
            primary_identity: String::new(),
            stored: 0,
        }
    }
}

/// The part of the history one query reads: these conversations, events in `[lower, upper]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub conversations: Vec<String>,
    pub lower: i64,
    pub upper: i64,
    /// Every conversation that can hold an event in the query's range is in the window.
    pub complete: bool,
}

/// The conversations and times to read for a page of `need` events in `[lower, upper]`, taking
/// conversations nearest the start of the page first until their stored events number `need`
/// (an upper bound of what they hold for the page, so the caller widens the window when the page
/// comes back short). Every event of the range inside the window's times is in its
/// conversations: a conversation left out ends (or, ascending, starts) outside them.
pub fn window(spans: &[Span], order: Order, lower: i64, upper: i64, need: u64) -> Window {
    let mut reaching: Vec<&Span> = spans
        .iter()
        .filter(|s| s.created_at_ms <= upper && s.last_event_at_ms >= lower)
        .collect();
    // Nearest the page's start first: the latest end when newest first, the earliest start when
    // oldest first.
    match order {
        Order::Desc => reaching.sort_by_key(|s| std::cmp::Reverse(s.last_event_at_ms.min(upper))),
        Order::Asc => reaching.sort_by_key(|s| s.created_at_ms.max(lower)),
    }
    let mut counted = 0u64;
    let mut edge = match order {
        Order::Desc => upper,
        Order::Asc => lower,
    };
    let mut taken = 0;
    for span in &reaching {
        if counted >= need {
            break;
        }
        counted += u64::from(span.events);
        edge = match order {
            Order::Desc => edge.min(span.created_at_ms),
            Order::Asc => edge.max(span.last_event_at_ms),
        };
        taken += 1;
    }
    let complete = taken == reaching.len();
    let (lower, upper) = match order {
        Order::Desc if !complete => (edge.max(lower), upper),
        Order::Asc if !complete => (lower, edge.min(upper)),
        _ => (lower, upper),
    };
    let mut conversations: Vec<String> = reaching
        .iter()
        .filter(|s| s.created_at_ms <= upper && s.last_event_at_ms >= lower)
        .map(|s| s.conversation_id.clone())
        .collect();
    conversations.sort_unstable();
    Window {
        conversations,
        lower,
        upper,
        complete,
    }
}

/// The customer's conversations with their stored spans, from the tenant's key prefix.
async fn spans(
    client: &clickhouse::Client,
    tenant_id: &str,
    identities: &[String],
) -> ReadResult<Vec<Span>> {
    let mut ids = Sql::new(
        "SELECT conversation_id FROM interaction_identities WHERE tenant_id = ? AND identity IN ",
    );
    ids.text(tenant_id).list(identities);
    let mut sql = Sql::new(
        "SELECT conversation_id, created_at_ms, last_event_at_ms, events, primary_identity, \
         toUInt8(1) AS stored FROM conversations FINAL PREWHERE tenant_id = ? AND conversation_id IN (",
    );
    sql.text(tenant_id)
        .append(&ids)
        .push(
            ") UNION ALL SELECT DISTINCT conversation_id, toInt64(0), toInt64(0), toUInt32(0), '', \
             toUInt8(0) FROM interaction_identities WHERE tenant_id = ? AND identity IN ",
        )
        .text(tenant_id)
        .list(identities);
    let rows: Vec<Span> = sql.query(client).fetch_all().await?;
    let mut by_id: BTreeMap<String, Span> = BTreeMap::new();
    for row in rows {
        if row.stored == 1 && row.events > 0 {
            by_id.insert(row.conversation_id.clone(), row);
        } else {
            by_id
                .entry(row.conversation_id.clone())
                .or_insert_with(|| Span::unknown(row.conversation_id));
        }
    }
    Ok(by_id.into_values().collect())
}

/// Reads a page of the customer's history (see the module docs for how little it reads).
pub async fn page(client: &clickhouse::Client, q: &TimelineQuery<'_>) -> ReadResult<TimelinePage> {
    let identities = identities_of(client, q.tenant_id, q.customer_id).await?;
    if identities.is_empty() {
        return Ok(TimelinePage {
            items: Vec::new(),
            more: false,
        });
    }
    let spans = spans(client, q.tenant_id, &identities).await?;
    // Conversations whose events without identifiers are the customer's: those whose primary
    // identifier is one of hers.
    let owned: Vec<String> = spans
        .iter()
        .filter(|s| identities.contains(&s.primary_identity))
        .map(|s| s.conversation_id.clone())
        .collect();
    let mut lower = q.from.unwrap_or(i64::MIN);
    let mut upper = q.to.map_or(i64::MAX, |to| to.saturating_sub(1));
    if let Some(p) = q.after {
        match q.order {
            Order::Desc => upper = upper.min(p.occurred_at_ms),
            Order::Asc => lower = lower.max(p.occurred_at_ms),
        }
    }
    let want = u64::from(q.limit) + 1;
    let mut need = want;
    loop {
        let w = window(&spans, q.order, lower, upper, need);
        let items = events(client, q, &identities, &owned, &w).await?;
        if items.len() as u64 >= want || w.complete {
            let more = items.len() as u64 >= want;
            let mut items = items;
            items.truncate(q.limit as usize);
            // Each event under its conversation's thread, as every other read shows it. Only the
            // page's own conversations: a window can hold all of a customer's, and a widening
            // window would have them resolved again on every pass.
            let stored: Vec<String> = items.iter().map(|e| e.conversation_id.clone()).collect();
            let threads = super::conversations::threads_of(client, q.tenant_id, &stored).await?;
            for (item, thread) in items.iter_mut().zip(threads) {
                item.conversation_id = thread;
            }
            return Ok(TimelinePage { items, more });
        }
        need = need.saturating_mul(4);
    }
}

/// The window's events that are the customer's, in page order, at most `limit + 1`.
async fn events(
    client: &clickhouse::Client,
    q: &TimelineQuery<'_>,
    identities: &[String],
    owned: &[String],
    w: &Window,
) -> ReadResult<Vec<EventRow>> {
    if w.conversations.is_empty() {
        return Ok(Vec::new());
    }
    // A list of more keys than one query carries (a customer with thousands of conversations,
    // read whole) is named by the subquery it came from instead: all of her identifiers'
    // conversations hold the window's, and the others have no event inside the window's times.
    let fits = |keys: &[String]| crate::binds::chunks(keys).len() <= 1;
    let mut of_hers = Sql::new(
        "(SELECT conversation_id FROM interaction_identities WHERE tenant_id = ? AND identity IN ",
    );
    of_hers.text(q.tenant_id).list(identities).push(")");
    let mut sql = Sql::new(&format!(
        "SELECT {EVENT_COLUMNS} FROM (SELECT *, {OWN_PRIMARY} AS own_primary FROM interaction_log FINAL \
         PREWHERE tenant_id = ? AND conversation_id IN "
    ));
    sql.text(q.tenant_id);
    if fits(&w.conversations) {
        sql.list(&w.conversations);
    } else {
        sql.append(&of_hers);
    }
    sql.push(") WHERE (own_primary IN ")
        .list(identities)
        .push(" OR (own_primary = '' AND conversation_id IN ");
    if fits(owned) {
        sql.list(owned);
    } else {
        sql.push(
            "(SELECT conversation_id FROM (SELECT conversation_id, primary_identity FROM \
             conversations FINAL PREWHERE tenant_id = ? AND conversation_id IN ",
        )
        .text(q.tenant_id)
        .append(&of_hers)
        .push(") WHERE primary_identity IN ")
        .list(identities)
        .push(")");
    }
    sql.push("))");
    if w.lower > i64::MIN {
        sql.push(" AND occurred_at_ms >= ?").int(w.lower);
    }
    if w.upper < i64::MAX {
        sql.push(" AND occurred_at_ms <= ?").int(w.upper);
    }
    if let Some(channel) = q.channel {
        sql.push(" AND channel = ?").text(channel);
    }
    let (cmp, direction) = match q.order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(p) = q.after {
        sql.push(&format!(
            " AND (occurred_at_ms {cmp} ? OR (occurred_at_ms = ? AND (event_rank {cmp} ? OR (event_rank = ? AND event_id {cmp} ?))))"
        ))
        .int(p.occurred_at_ms)
        .int(p.occurred_at_ms)
        .int(i64::from(p.event_rank))
        .int(i64::from(p.event_rank))
        .text(&p.event_id);
    }
    sql.push(&format!(
        " ORDER BY occurred_at_ms {direction}, event_rank {direction}, event_id {direction} LIMIT {}",
        u64::from(q.limit) + 1
    ));
    Ok(sql.query(client).fetch_all().await?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn span(id: &str, created: i64, last: i64, events: u32) -> Span {
        Span {
            conversation_id: id.into(),
            created_at_ms: created,
            last_event_at_ms: last,
            events,
            primary_identity: String::new(),
            stored: 1,
        }
    }

    #[test]
    fn newest_first_takes_the_latest_conversations_until_they_hold_a_page() {
        let spans = [
            span("old", 0, 100, 50),
            span("mid", 200, 300, 5),
            span("new", 400, 500, 5),
        ];
        let w = window(&spans, Order::Desc, i64::MIN, i64::MAX, 8);
        assert_eq!(w.conversations, ["mid", "new"]);
        assert_eq!((w.lower, w.upper), (200, i64::MAX));
        assert!(!w.complete);
        let w = window(&spans, Order::Desc, i64::MIN, i64::MAX, 100);
        assert_eq!(w.conversations.len(), 3);
        assert!(w.complete);
    }

    #[test]
    fn a_long_conversation_overlapping_the_window_is_read_too() {
        // "long" ends before "new" but reaches into its time: its late events are candidates.
        let spans = [span("long", 0, 450, 1), span("new", 400, 500, 10)];
        let w = window(&spans, Order::Desc, i64::MIN, i64::MAX, 5);
        assert_eq!(w.conversations, ["long", "new"]);
        assert_eq!(w.lower, 400);
    }

    #[test]
    fn a_conversation_without_state_is_always_read_and_stops_the_narrowing() {
        let spans = [span("a", 0, 100, 50), Span::unknown("b".into())];
        let w = window(&spans, Order::Desc, i64::MIN, i64::MAX, 5);
        assert!(w.conversations.contains(&"b".to_owned()));
    }

    // Every event the range holds, among the spans' events, lies inside the window: the page a
    // window yields is the page of the whole history whenever it comes back full.
    proptest! {
        #[test]
        fn the_window_holds_every_event_of_its_times(
            convs in prop::collection::vec(prop::collection::vec(0i64..1_000, 1..8), 1..12),
            desc in any::<bool>(),
            need in 1u64..20,
            bounds in (0i64..1_000, 0i64..1_000),
        ) {
            let spans: Vec<Span> = convs.iter().enumerate().map(|(i, times)| {
                span(&i.to_string(), *times.iter().min().unwrap(), *times.iter().max().unwrap(), times.len() as u32)
            }).collect();
            let order = if desc { Order::Desc } else { Order::Asc };
            let (lower, upper) = (bounds.0.min(bounds.1), bounds.0.max(bounds.1));
            let w = window(&spans, order, lower, upper, need);
            prop_assert!(w.lower >= lower && w.upper <= upper);
            // Whatever lies in the window's times lies in its conversations.
            for (i, times) in convs.iter().enumerate() {
                for t in times {
                    if *t >= w.lower && *t <= w.upper {
                        prop_assert!(w.conversations.contains(&i.to_string()), "{i} at {t}");
                    }
                }
            }
            // Asked for more than every conversation holds, the window is the whole range.
            if need >= convs.iter().map(|t| t.len() as u64).sum::<u64>() {
                prop_assert!(w.complete);
                prop_assert_eq!((w.lower, w.upper), (lower, upper));
            }
        }
    }
}
