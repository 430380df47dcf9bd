//! The read-model check the single-server and the cluster tests share: random conversations of
//! two tenants through the real writer, with late, duplicated and out-of-order events, then every
//! stored row compared with what the views compute from scratch, and the read model's customer
//! reads with the views that attribute events to customers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rapport_clickhouse::read;
use rapport_model::wire::{Framing, encode};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, IdentityType, Interaction, InteractionKind,
    Source, Timestamp, event_id,
};
use rapport_testkit::Rng;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::Pipeline;

pub const T0: i64 = 1_717_405_200_000; // 2024-06-03T09:00:00Z
pub const M: i64 = 60_000;

/// One random event of a conversation.
pub fn event(
    rng: &mut Rng,
    tenant: &str,
    conversation: &str,
    n: usize,
    at: i64,
    customer: &str,
) -> Interaction {
    let customer_ids = vec![Identity::scoped(IdentityType::ExternalId, customer).unwrap()];
    let (kind, direction, role, status, identities) = match rng.below(10) {
        0..=3 => (
            InteractionKind::Message,
            Direction::Inbound,
            ActorRole::Customer,
            None,
            customer_ids,
        ),
        4..=6 => (
            InteractionKind::Message,
            Direction::Outbound,
            ActorRole::Agent,
            None,
            if rng.below(2) == 0 {
                customer_ids
            } else {
                vec![]
            },
        ),
        7 => (
            InteractionKind::Message,
            Direction::Outbound,
            ActorRole::Bot,
            None,
            vec![],
        ),
        8 => (
            InteractionKind::Note,
            Direction::Internal,
            ActorRole::Agent,
            None,
            vec![],
        ),
        _ => (
            InteractionKind::StatusChange,
            Direction::Internal,
            ActorRole::Agent,
            Some(["solved", "open", "closed", "pending"][rng.below(4) as usize].to_owned()),
            vec![],
        ),
    };
    let source_event_id = format!("{conversation}-{n}");
    Interaction {
        event_id: event_id(tenant, Source::Generic, &source_event_id),
        tenant_id: tenant.to_owned(),
        channel: [Channel::Email, Channel::Chat, Channel::Support][rng.below(3) as usize],
        source: Source::Generic,
        source_event_id,
        kind,
        direction,
        actor: Actor {
            role,
            id: (role == ActorRole::Agent).then(|| format!("agent-{}", rng.below(4))),
            name: (role == ActorRole::Agent).then(|| "Agent".to_owned()),
        },
        identities,
        conversation_id: format!("generic:{conversation}"),
        occurred_at: Timestamp::from_millis(at),
        received_at: Timestamp::from_millis(at + 1000),
        subject: None,
        text: Some(format!("text {n} of {conversation}")),
        rating: None,
        status,
        tags: vec![],
        language: None,
        team: (rng.below(3) == 0).then(|| ["billing", "tech"][rng.below(2) as usize].to_owned()),
        auto_reply: rng.below(20) == 0,
        attachment_count: 0,
        attachment_names: vec![],
        raw_ref: None,
        threading: None,
    }
}

/// Random conversations in two tenants, sizes 1 to 12 with a few of 60; customers own several
/// conversations. Returned in delivery order: shuffled, ~5 % delivered twice.
pub fn traffic(seed: u64, tenants: [&str; 2]) -> (Vec<Interaction>, usize) {
    let mut rng = Rng::new(seed);
    let mut events = Vec::new();
    let mut conversations = 0;
    for tenant in tenants {
        for c in 0..60 {
            conversations += 1;
            let size = if c % 20 == 0 {
                60
            } else {
                1 + rng.below(12) as usize
            };
            let customer = format!("cust-{}", rng.below(25));
            // Over 90 days, so conversations and customers span monthly partitions.
            let mut at = T0 + rng.below(90 * 24 * 60) as i64 * M;
            for n in 0..size {
                // Same-millisecond pairs happen: the (time, rank, id) order decides.
                at += if rng.below(8) == 0 {
                    0
                } else {
                    rng.below(90) as i64 * M + 1
                };
                events.push(event(
                    &mut rng,
                    tenant,
                    &format!("{tenant}-c{c}"),
                    n,
                    at,
                    &customer,
                ));
            }
        }
    }
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let twice: Vec<Interaction> = events
        .iter()
        .filter(|_| rng.below(20) == 0)
        .cloned()
        .collect();
    events.extend(twice);
    (events, conversations)
}

/// The stored side and the from-scratch side of each comparison, as TSV-producing SQL. The same
/// pairs run on chDB (`check_state.py`), where the stored side is replaced by 18.16's answer.
pub fn comparisons() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "conversations",
            "SELECT tenant_id, conversation_id, channel, team, created_at_ms, first_inbound_at_ms, \
             first_response_at_ms, first_response_ms, first_responder_id, toUInt64(customer_messages), \
             toUInt64(human_replies), toUInt64(replies_with_latency), avg_reply_latency_ms, \
             max_reply_latency_ms, first_resolved_at_ms, last_resolved_at_ms, first_resolution_ms, \
             full_resolution_ms, toUInt64(reopen_count), status, is_resolved, waiting_since_ms, \
             is_waiting, last_event_at_ms, last_customer_message_at_ms, identities \
             FROM (SELECT * FROM conversations FINAL) WHERE events > 0 ORDER BY tenant_id, conversation_id",
            "SELECT tenant_id, conversation_id, channel, team, created_at_ms, first_inbound_at_ms, \
             first_response_at_ms, first_response_ms, first_responder_id, toUInt64(customer_messages), \
             toUInt64(human_replies), toUInt64(replies_with_latency), avg_reply_latency_ms, \
             max_reply_latency_ms, first_resolved_at_ms, last_resolved_at_ms, first_resolution_ms, \
             full_resolution_ms, toUInt64(reopen_count), status, is_resolved, waiting_since_ms, \
             is_waiting, last_event_at_ms, last_customer_message_at_ms, identities \
             FROM responsiveness ORDER BY tenant_id, conversation_id",
        ),
        (
            "replies",
            "SELECT tenant_id, conversation_id, reply_event_id, channel, team, agent_id, agent_name, \
             assumeNotNull(inbound_at_ms), replied_at_ms, assumeNotNull(reply_latency_ms), \
             is_first_response, reply_day FROM (SELECT * FROM replies FINAL) WHERE has_latency = 1 \
             ORDER BY tenant_id, conversation_id, reply_event_id",
            "SELECT tenant_id, conversation_id, reply_event_id, channel, team, agent_id, agent_name, \
             inbound_at_ms, replied_at_ms, reply_latency_ms, is_first_response, reply_date \
             FROM reply_latencies ORDER BY tenant_id, conversation_id, reply_event_id",
        ),
        (
            "resolutions",
            "SELECT tenant_id, conversation_id, sumIf(assumeNotNull(first_resolution_ms), is_first = 1), \
             sumIf(assumeNotNull(full_resolution_ms), is_full = 1), countIf(is_first = 1), countIf(is_full = 1) \
             FROM (SELECT * FROM resolutions FINAL) GROUP BY tenant_id, conversation_id \
             ORDER BY tenant_id, conversation_id",
            "SELECT tenant_id, conversation_id, ifNull(first_resolution_ms, 0), \
             ifNull(full_resolution_ms, 0), toUInt64(first_resolution_ms IS NOT NULL), \
             toUInt64(full_resolution_ms IS NOT NULL) FROM responsiveness \
             WHERE first_resolved_at_ms IS NOT NULL ORDER BY tenant_id, conversation_id",
        ),
        (
            "waiting",
            "SELECT tenant_id, conversation_id, waiting_since_ms, waiting_messages, last_customer_text \
             FROM (SELECT tenant_id, conversation_id, waiting_since_ms FROM (SELECT * FROM waiting FINAL) WHERE sign > 0) \
             ALL INNER JOIN (SELECT tenant_id, conversation_id, assumeNotNull(waiting_since_ms) AS waiting_since_ms, \
                                    toUInt64(waiting_messages) AS waiting_messages, last_customer_text \
                             FROM (SELECT * FROM conversations FINAL) WHERE is_waiting = 1) \
             USING (tenant_id, conversation_id, waiting_since_ms) ORDER BY tenant_id, conversation_id",
            "SELECT tenant_id, conversation_id, waiting_since_ms, toUInt64(waiting_messages), last_customer_text \
             FROM unanswered ORDER BY tenant_id, conversation_id",
        ),
    ]
}

pub async fn produce(pipeline: &Pipeline, events: &[Interaction]) {
    let producer: FutureProducer = pipeline.kafka.producer_config().create().unwrap();
    for i in events {
        producer
            .send(
                FutureRecord::to(&pipeline.topics.interactions)
                    .key(&i.conversation_id)
                    .payload(&encode(i, Framing::SingleObject)),
                Timeout::Never,
            )
            .await
            .expect("produced");
    }
}

/// Runs the writer of `pipeline` over [`traffic`] of `tenants` in four deliveries and checks the stored read
/// model against the views and the customer reads against `customer_timeline` and
/// `interaction_customers`. Returns each comparison's stored rows (TSV), for a second engine.
pub async fn check(
    pipeline: &Pipeline,
    tenants: [&'static str; 2],
) -> BTreeMap<&'static str, String> {
    let (events, conversations) = traffic(7, tenants);
    let distinct: BTreeSet<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let _writer = pipeline.start("writer").await;
    // Four deliveries with pauses: each conversation is recomputed from what had arrived.
    for chunk in events.chunks(events.len() / 4 + 1) {
        produce(pipeline, chunk).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    pipeline
        .wait_for_store(&distinct, Duration::from_secs(120))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = pipeline
            .query("SELECT count() FROM (SELECT * FROM conversations FINAL) WHERE events > 0")
            .await
            .unwrap_or_default();
        if stored.trim() == conversations.to_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} of {conversations} conversations stored"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Let the writer's last batch's state land (its offsets are stored after it).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Customers, some merged: cust-0 … cust-24, with cust-1 and cust-2 one customer in t1.
    let mut customers = Vec::new();
    for tenant in tenants {
        for k in 0..25 {
            let owner = if tenant == tenants[0] && k == 2 { 1 } else { k };
            customers.push((
                tenant,
                format!("external_id:cust-{k}"),
                format!("customer-{tenant}-{owner}"),
            ));
        }
    }
    for (table, row) in [
        ("customers", "('{t}', '{i}', '{c}', 1)"),
        ("customer_identities", "('{t}', '{c}', '{i}', 1, 1)"),
    ] {
        let values: Vec<String> = customers
            .iter()
            .map(|(t, i, c)| row.replace("{t}", t).replace("{i}", i).replace("{c}", c))
            .collect();
        pipeline
            .query(&format!("INSERT INTO {table} VALUES {}", values.join(", ")))
            .await;
    }

    let mut expected = BTreeMap::new();
    for (name, stored, scratch) in comparisons() {
        let stored_tsv = pipeline
            .query(&format!("{stored} FORMAT TSV"))
            .await
            .unwrap();
        let scratch_tsv = pipeline
            .query(&format!("{scratch} FORMAT TSV"))
            .await
            .unwrap();
        assert!(!stored_tsv.is_empty(), "{name}: nothing stored");
        assert_eq!(
            stored_tsv, scratch_tsv,
            "{name}: stored rows differ from the view on 18.16"
        );
        expected.insert(name, stored_tsv);
    }

    // The read model's customer reads against the views that attribute events to customers.
    let client = rapport_clickhouse::ClickHouseConfig {
        url: pipeline.clickhouse_url.clone(),
        database: pipeline.database.clone(),
        cluster: pipeline.cluster.clone(),
        ..Default::default()
    }
    .client()
    .with_setting("wait_end_of_query", "1");
    let owners: BTreeSet<(&str, String)> =
        customers.iter().map(|(t, _, c)| (*t, c.clone())).collect();
    for (tenant, customer) in &owners {
        // Pages of every size through both orders, with and without a channel filter, walked by
        // cursor: small pages exercise the narrow windows, a filter the widening.
        for (order, limit, channel) in [
            (read::Order::Asc, 37, None),
            (read::Order::Desc, 5, None),
            (read::Order::Desc, 2, Some("chat")),
            (read::Order::Asc, 4, Some("email")),
        ] {
            let mut ours = Vec::new();
            let mut after = None;
            loop {
                let page = read::timeline::page(
                    &client,
                    &read::timeline::TimelineQuery {
                        tenant_id: tenant,
                        customer_id: customer,
                        order,
                        limit,
                        channel,
                        from: None,
                        to: None,
                        after: after.as_ref(),
                    },
                )
                .await
                .unwrap();
                ours.extend(page.items.iter().map(|e| e.event_id.clone()));
                after = page.items.last().map(read::EventRow::position);
                if !page.more {
                    break;
                }
            }
            let direction = order.as_str();
            let filter = channel.map_or(String::new(), |c| format!(" AND channel = '{c}'"));
            let theirs = pipeline
                .query(&format!(
                    "SELECT event_id FROM customer_timeline WHERE tenant_id = '{tenant}' AND customer_id = '{customer}'{filter} \
                     ORDER BY occurred_at_ms {direction}, event_rank {direction}, event_id {direction} FORMAT TSV"
                ))
                .await
                .unwrap();
            assert_eq!(
                ours.join("\n") + if ours.is_empty() { "" } else { "\n" },
                theirs,
                "timeline of {tenant}/{customer}, {direction}, pages of {limit}, channel {channel:?}"
            );
        }
        let summary = read::customers::summary(&client, tenant, customer)
            .await
            .unwrap();
        let counts = pipeline
            .query(&format!(
                "SELECT count(), uniqExact(conversation_id) FROM interaction_customers \
                 WHERE tenant_id = '{tenant}' AND customer_id = '{customer}' FORMAT TSV"
            ))
            .await
            .unwrap();
        assert_eq!(
            format!("{}\t{}\n", summary.interactions, summary.conversations),
            counts,
            "summary of {tenant}/{customer}"
        );
    }
    expected
}
