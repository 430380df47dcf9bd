//! Behaviour of the whole graph through its public API, with its internal invariants checked
//! after every scenario.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use rapport_model::{
    Actor, ActorRole, Direction, Identity, IdentityType, Interaction, InteractionKind, Source,
    Timestamp, event_id, namespaced_id,
};
use uuid::Uuid;

use crate::{Change, IdentityGraph, Link, LinkPolicy, Policies, Refusal, Retraction, UnlinkError};

const T0: i64 = 1_717_243_200_000;

fn identity(key: &str) -> Identity {
    let (kind, value) = key.split_once(':').expect("type:value");
    Identity {
        kind: IdentityType::parse(kind).expect("known identity type"),
        value: value.to_owned(),
    }
}

/// Interaction `n` of a tenant; later `n` happened later unless `at` says otherwise.
fn seen(tenant: &str, n: u32, source: Source, keys: &[&str]) -> Interaction {
    seen_at(tenant, n, i64::from(n), source, keys)
}

fn seen_at(tenant: &str, n: u32, minute: i64, source: Source, keys: &[&str]) -> Interaction {
    let at = Timestamp::from_millis(T0 + minute * 60_000);
    Interaction {
        event_id: event_id(tenant, source, &n.to_string()),
        tenant_id: tenant.to_owned(),
        channel: source.channel().unwrap_or(rapport_model::Channel::Email),
        source,
        source_event_id: n.to_string(),
        kind: InteractionKind::Message,
        direction: Direction::Inbound,
        actor: Actor {
            role: ActorRole::Customer,
            id: None,
            name: None,
        },
        identities: keys.iter().map(|k| identity(k)).collect(),
        conversation_id: format!("c{n}"),
        occurred_at: at,
        received_at: at,
        subject: None,
        text: None,
        rating: None,
        status: None,
        tags: vec![],
        language: None,
        team: None,
        auto_reply: false,
        attachment_count: 0,
        attachment_names: vec![],
        raw_ref: None,
        threading: None,
    }
}

fn acme_policy(cap: usize) -> Policies {
    Policies::uniform(LinkPolicy {
        max_identifiers_per_customer: cap,
        agent_domains: vec!["acme.com".into()],
        ..LinkPolicy::default()
    })
}

fn customer(tenant: &str, smallest: &str) -> Uuid {
    namespaced_id(&["customer", tenant, smallest])
}

/// Every permutation of `items` (Heap's algorithm).
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn heap<T: Clone>(k: usize, items: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k - 1 {
            heap(k - 1, items, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            items.swap(j, k - 1);
        }
        heap(k - 1, items, out);
    }
    let mut out = Vec::new();
    heap(items.len(), &mut items.to_vec(), &mut out);
    out
}

/// A deterministic Fisher–Yates shuffle (SplitMix64), so a failing seed can be replayed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let j = usize::try_from(z % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

/// Everything observable about a tenant's identifiers: customer, links with evidence.
type Snapshot = BTreeMap<String, (Option<Uuid>, Vec<Link>)>;

fn snapshot(graph: &IdentityGraph, tenant: &str, keys: &[String]) -> Snapshot {
    keys.iter()
        .map(|k| {
            (
                k.clone(),
                (graph.customer_of(tenant, k), graph.links_of(tenant, k)),
            )
        })
        .collect()
}

/// Applies published changes in order, checking each names the customer the previous one left.
fn replay_changes(view: &mut HashMap<(String, String), Uuid>, changes: &[Change]) {
    for change in changes {
        let key = (change.tenant_id.clone(), change.identifier.clone());
        assert_eq!(
            view.get(&key).copied(),
            change.previous_customer_id,
            "{change:?}"
        );
        view.insert(key, change.customer_id);
    }
}

/// Every identifier has exactly one customer, and that customer lists it.
fn assert_partition(graph: &IdentityGraph, tenant: &str, keys: &[&str]) {
    let mut listed = 0;
    let mut customers: Vec<Uuid> = keys
        .iter()
        .map(|k| graph.customer_of(tenant, k).expect("known identifier"))
        .collect();
    for (key, customer) in keys.iter().zip(&customers) {
        assert!(
            graph
                .members(tenant, *customer)
                .contains(&(*key).to_owned())
        );
    }
    customers.sort_unstable();
    customers.dedup();
    for customer in customers {
        listed += graph.members(tenant, customer).len();
    }
    assert_eq!(listed, keys.len(), "an identifier is listed twice");
    graph.assert_consistent();
}

const MARIA: [&str; 8] = [
    "chatwoot_contact:cw_9",
    "email:m.lopez@work.example",
    "email:maria@example.com",
    "freshdesk_contact:fd_3",
    "google_reviewer:g_118",
    "intercom_contact:ic_42",
    "phone:+14155552671",
    "zendesk_user:zd_7",
];

fn maria_across_channels() -> Vec<Interaction> {
    vec![
        seen(
            "acme",
            1,
            Source::Intercom,
            &["intercom_contact:ic_42", "email:maria@example.com"],
        ),
        seen(
            "acme",
            2,
            Source::Zendesk,
            &[
                "email:maria@example.com",
                "phone:+14155552671",
                "zendesk_user:zd_7",
            ],
        ),
        seen(
            "acme",
            3,
            Source::Google,
            &["google_reviewer:g_118", "email:maria@example.com"],
        ),
        seen(
            "acme",
            4,
            Source::Chatwoot,
            &["chatwoot_contact:cw_9", "phone:+14155552671"],
        ),
        seen(
            "acme",
            5,
            Source::Freshdesk,
            &[
                "freshdesk_contact:fd_3",
                "email:m.lopez@work.example",
                "phone:+14155552671",
            ],
        ),
        seen(
            "acme",
            6,
            Source::Sendgrid,
            &["email:m.lopez@work.example", "email:support@acme.com"],
        ),
    ]
}

#[test]
fn one_person_across_channels_is_one_customer_in_every_arrival_order() {
    let interactions = maria_across_channels();
    let maria = customer("acme", "chatwoot_contact:cw_9");
    let mut keys: Vec<String> = MARIA.iter().map(|k| (*k).to_owned()).collect();
    keys.push("email:support@acme.com".into());
    let mut reference: Option<Snapshot> = None;
    let orders = permutations(&interactions);
    assert_eq!(orders.len(), 720);
    for order in orders {
        let mut graph = IdentityGraph::new(acme_policy(50));
        let mut view = HashMap::new();
        for interaction in &order {
            replay_changes(&mut view, &graph.observe(interaction).changes);
        }
        for key in MARIA {
            assert_eq!(graph.customer_of("acme", key), Some(maria), "{key}");
        }
        for identity in order.iter().flat_map(|i| &i.identities) {
            assert!(graph.customer_of("acme", &identity.to_key()).is_some());
        }
        assert_eq!(graph.members("acme", maria), MARIA);
        assert_eq!(
            graph.customer_of("acme", "email:support@acme.com"),
            Some(customer("acme", "email:support@acme.com"))
        );
        // The published changes alone give every consumer the same view as the graph.
        for ((_, key), id) in &view {
            assert_eq!(graph.customer_of("acme", key), Some(*id));
        }
        assert_eq!(view.len(), keys.len());
        let now = snapshot(&graph, "acme", &keys);
        match &reference {
            Some(first) => assert_eq!(&now, first, "evidence depends on arrival order"),
            None => reference = Some(now),
        }
        graph.assert_consistent();
    }
}

#[test]
fn a_shared_support_address_never_merges_two_people() {
    let mut graph = IdentityGraph::new(acme_policy(50));
    let to_support = graph.observe(&seen(
        "acme",
        1,
        Source::Sendgrid,
        &["email:maria@example.com", "email:support@acme.com"],
    ));
    assert_eq!(
        to_support.refused,
        vec![crate::Refused {
            identifier: "email:support@acme.com".into(),
            reason: Refusal::AgentDomain,
        }]
    );
    assert!(to_support.new_links.is_empty());
    graph.observe(&seen(
        "acme",
        2,
        Source::Sendgrid,
        &["email:juan@example.org", "email:support@acme.com"],
    ));
    // A customer's own shared mailbox, and a staff member's personal address, are no better.
    for (n, shared) in [
        (3, "email:billing@customer.example"),
        (5, "email:jane@acme.com"),
    ] {
        graph.observe(&seen(
            "acme",
            n,
            Source::Zendesk,
            &["email:maria@example.com", shared],
        ));
        graph.observe(&seen(
            "acme",
            n + 1,
            Source::Zendesk,
            &["email:juan@example.org", shared],
        ));
    }
    let maria = graph
        .customer_of("acme", "email:maria@example.com")
        .unwrap();
    let juan = graph.customer_of("acme", "email:juan@example.org").unwrap();
    assert_ne!(maria, juan);
    assert_eq!(graph.members("acme", maria), ["email:maria@example.com"]);
    assert_eq!(graph.members("acme", juan), ["email:juan@example.org"]);
    assert_eq!(graph.stats().links, 0);
    assert_partition(
        &graph,
        "acme",
        &[
            "email:maria@example.com",
            "email:juan@example.org",
            "email:support@acme.com",
            "email:billing@customer.example",
            "email:jane@acme.com",
        ],
    );
}

#[test]
fn placeholders_and_no_reply_addresses_stay_alone() {
    let mut graph = IdentityGraph::new(acme_policy(50));
    let observation = graph.observe(&seen(
        "acme",
        1,
        Source::Generic,
        &[
            "external_id:unknown",
            "email:noreply@shop.example",
            "email:maria@example.com",
            "phone:+14155552671",
        ],
    ));
    let reasons: Vec<Refusal> = observation.refused.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, [Refusal::NoReply, Refusal::Placeholder]);
    assert_eq!(observation.new_links.len(), 1);
    assert_eq!(observation.changes.len(), 4, "every identifier is a node");
    assert_eq!(
        graph.members(
            "acme",
            graph.customer_of("acme", "external_id:unknown").unwrap()
        ),
        ["external_id:unknown"]
    );
}

#[test]
fn new_customers_and_merges_report_previous_ids_sorted_by_key() {
    let mut graph = IdentityGraph::default();
    let first = graph.observe(&seen(
        "acme",
        1,
        Source::Intercom,
        &["intercom_contact:ic_42", "email:maria@example.com"],
    ));
    let maria = customer("acme", "email:maria@example.com");
    let change = |key: &str, id, previous| Change {
        tenant_id: "acme".into(),
        identifier: key.into(),
        customer_id: id,
        previous_customer_id: previous,
    };
    assert_eq!(
        first.changes,
        [
            change("email:maria@example.com", maria, None),
            change("intercom_contact:ic_42", maria, None),
        ]
    );
    graph.observe(&seen(
        "acme",
        2,
        Source::Zendesk,
        &["zendesk_user:zd_7", "phone:+14155552671"],
    ));
    let phone = customer("acme", "phone:+14155552671");
    let merge = graph.observe(&seen(
        "acme",
        3,
        Source::Zendesk,
        &["phone:+14155552671", "email:maria@example.com"],
    ));
    assert_eq!(
        merge.changes,
        [
            change("phone:+14155552671", maria, Some(phone)),
            change("zendesk_user:zd_7", maria, Some(phone)),
        ]
    );
    assert_eq!(merge.new_links.len(), 1);
    assert_eq!(merge.new_links[0].a, "email:maria@example.com");
    assert_eq!(
        merge.new_links[0].event_id,
        event_id("acme", Source::Zendesk, "3")
    );
}

#[test]
fn reobserving_adds_nothing_and_keeps_the_earliest_evidence() {
    let mut graph = IdentityGraph::default();
    let pair = ["email:maria@example.com", "phone:+14155552671"];
    let late = seen_at("acme", 2, 30, Source::Zendesk, &pair);
    let early = seen_at("acme", 1, 10, Source::Intercom, &pair);
    assert_eq!(graph.observe(&late).new_links.len(), 1);
    assert_eq!(graph.observe(&late), crate::Observation::default());

    let improved = graph.observe(&early);
    assert!(improved.changes.is_empty());
    assert_eq!(
        improved.new_links.len(),
        1,
        "earlier evidence is a record to persist"
    );
    assert_eq!(improved.new_links[0].event_id, early.event_id);
    assert_eq!(graph.observe(&late), crate::Observation::default());
    let links = graph.links_of("acme", pair[0]);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].source, Source::Intercom);
    assert_eq!(links[0].occurred_at, early.occurred_at);
}

/// Maria and Juan share a family phone, which made them one customer.
fn shared_phone() -> IdentityGraph {
    let mut graph = IdentityGraph::default();
    graph.observe(&seen(
        "acme",
        1,
        Source::Zendesk,
        &["email:maria@example.com", "phone:+14155552671"],
    ));
    graph.observe(&seen(
        "acme",
        2,
        Source::Intercom,
        &["intercom_contact:ic_42", "email:maria@example.com"],
    ));
    graph.observe(&seen(
        "acme",
        3,
        Source::Zendesk,
        &["email:juan@example.org", "phone:+14155552671"],
    ));
    graph
}

const FAMILY: [&str; 4] = [
    "email:juan@example.org",
    "email:maria@example.com",
    "intercom_contact:ic_42",
    "phone:+14155552671",
];

#[test]
fn unlink_splits_a_customer_and_each_identifier_keeps_exactly_one() {
    let mut graph = shared_phone();
    let juan = customer("acme", "email:juan@example.org");
    assert_eq!(graph.members("acme", juan), FAMILY);

    let unlinked = graph
        .unlink("acme", "phone:+14155552671", "email:juan@example.org")
        .unwrap();
    let maria = customer("acme", "email:maria@example.com");
    assert_eq!(
        unlinked.retracted,
        [Retraction::new(
            "acme",
            "email:juan@example.org",
            "phone:+14155552671"
        )]
    );
    let moved: Vec<(&str, Uuid, Option<Uuid>)> = unlinked
        .changes
        .iter()
        .map(|c| (c.identifier.as_str(), c.customer_id, c.previous_customer_id))
        .collect();
    assert_eq!(
        moved,
        [
            ("email:maria@example.com", maria, Some(juan)),
            ("intercom_contact:ic_42", maria, Some(juan)),
            ("phone:+14155552671", maria, Some(juan)),
        ]
    );
    assert_eq!(graph.members("acme", juan), ["email:juan@example.org"]);
    assert_eq!(graph.members("acme", maria), FAMILY[1..]);
    assert_partition(&graph, "acme", &FAMILY);
}

#[test]
fn a_retraction_is_sticky_against_new_evidence() {
    let mut graph = shared_phone();
    graph
        .unlink("acme", "email:juan@example.org", "phone:+14155552671")
        .unwrap();
    let before = graph.stats();
    let again = graph.observe(&seen_at(
        "acme",
        9,
        0,
        Source::Chatwoot,
        &["phone:+14155552671", "email:juan@example.org"],
    ));
    assert_eq!(again, crate::Observation::default());
    assert_eq!(graph.stats(), before);
    assert_ne!(
        graph.customer_of("acme", "email:juan@example.org"),
        graph.customer_of("acme", "phone:+14155552671")
    );
    assert_partition(&graph, "acme", &FAMILY);
}

#[test]
fn unlinking_what_is_not_directly_linked_is_an_error() {
    let mut graph = shared_phone();
    // One customer, but through the phone: the operator must retract a real link.
    let indirect = graph.unlink("acme", "email:juan@example.org", "email:maria@example.com");
    assert!(matches!(indirect, Err(UnlinkError::NotLinked { .. })));
    let unknown = graph.unlink("acme", "email:juan@example.org", "email:nobody@example.com");
    assert!(matches!(
        unknown,
        Err(UnlinkError::UnknownIdentifier { .. })
    ));
    let other_tenant = graph.unlink_identifier("globex", "email:juan@example.org");
    assert!(matches!(
        other_tenant,
        Err(UnlinkError::UnknownIdentifier { .. })
    ));
    assert!(!unknown.unwrap_err().is_retryable());
    assert_eq!(graph.stats().retracted_pairs, 0);
}

#[test]
fn unlink_identifier_detaches_it_from_everyone() {
    let mut graph = shared_phone();
    let unlinked = graph
        .unlink_identifier("acme", "phone:+14155552671")
        .unwrap();
    assert_eq!(unlinked.retracted.len(), 2);
    let phone = customer("acme", "phone:+14155552671");
    assert_eq!(graph.members("acme", phone), ["phone:+14155552671"]);
    assert_eq!(
        graph.members("acme", customer("acme", "email:maria@example.com")),
        ["email:maria@example.com", "intercom_contact:ic_42"]
    );
    assert_eq!(unlinked.changes.len(), 3, "juan's own id did not change");
    // Both former links stay retracted; a new identifier can still link to the phone.
    graph.observe(&seen(
        "acme",
        7,
        Source::Zendesk,
        &["email:maria@example.com", "phone:+14155552671"],
    ));
    assert!(graph.links_of("acme", "phone:+14155552671").is_empty());
    graph.observe(&seen(
        "acme",
        8,
        Source::Chatwoot,
        &["chatwoot_contact:cw_9", "phone:+14155552671"],
    ));
    assert_eq!(graph.links_of("acme", "phone:+14155552671").len(), 1);
    assert_partition(
        &graph,
        "acme",
        &[FAMILY.as_slice(), &["chatwoot_contact:cw_9"]].concat(),
    );
}

#[test]
fn tenants_never_share_identities() {
    let mut graph = IdentityGraph::default();
    let pair = ["email:maria@example.com", "phone:+14155552671"];
    graph.observe(&seen("acme", 1, Source::Zendesk, &pair));
    graph.observe(&seen(
        "globex",
        1,
        Source::Zendesk,
        &["email:maria@example.com", "zendesk_user:zd_7"],
    ));
    let at_acme = graph.customer_of("acme", pair[0]).unwrap();
    let at_globex = graph.customer_of("globex", pair[0]).unwrap();
    assert_ne!(at_acme, at_globex);
    assert_eq!(graph.members("acme", at_acme), pair);
    assert_eq!(
        graph.members("globex", at_globex),
        ["email:maria@example.com", "zendesk_user:zd_7"]
    );
    assert!(graph.members("globex", at_acme).is_empty());
    assert_eq!(graph.customer_of("globex", pair[1]), None);

    graph.unlink("acme", pair[0], pair[1]).unwrap();
    assert_eq!(
        graph.links_of("globex", pair[0]).len(),
        1,
        "globex untouched"
    );
    assert_eq!(graph.stats().tenants, 2);
    graph.assert_consistent();
}

#[test]
fn the_cap_holds_links_and_reports_them() {
    let mut graph = IdentityGraph::new(acme_policy(3));
    graph.observe(&seen(
        "acme",
        1,
        Source::Zendesk,
        &["external_id:a", "external_id:b"],
    ));
    graph.observe(&seen(
        "acme",
        2,
        Source::Zendesk,
        &["external_id:b", "external_id:c"],
    ));
    let over = graph.observe(&seen(
        "acme",
        3,
        Source::Zendesk,
        &["external_id:c", "external_id:d"],
    ));
    assert!(over.new_links.is_empty());
    assert_eq!(over.held.len(), 1);
    assert_eq!(
        (over.held[0].a.as_str(), over.held[0].b.as_str()),
        ("external_id:c", "external_id:d")
    );
    assert_eq!(graph.held_links(), over.held);
    assert_eq!(
        graph
            .members("acme", customer("acme", "external_id:a"))
            .len(),
        3
    );
    assert_eq!(
        over.changes
            .iter()
            .map(|c| c.identifier.as_str())
            .collect::<Vec<_>>(),
        ["external_id:d"],
        "only the new node changed"
    );
    // Held again: nothing new to report. Inside the full customer: still linked.
    let repeat = graph.observe(&seen(
        "acme",
        4,
        Source::Zendesk,
        &["external_id:d", "external_id:c"],
    ));
    assert!(repeat.held.is_empty());
    let inside = graph.observe(&seen(
        "acme",
        5,
        Source::Zendesk,
        &["external_id:a", "external_id:c"],
    ));
    assert_eq!(inside.new_links.len(), 1);
    // The operator rejects the held link; it leaves the review list for good.
    let rejected = graph
        .unlink("acme", "external_id:d", "external_id:c")
        .unwrap();
    assert!(rejected.changes.is_empty());
    assert!(graph.held_links().is_empty());
    assert_eq!(graph.stats().retracted_pairs, 1);
    graph.assert_consistent();
}

#[test]
fn a_held_link_applied_later_keeps_its_first_evidence() {
    let mut graph = IdentityGraph::new(acme_policy(2));
    graph.observe(&seen(
        "acme",
        1,
        Source::Zendesk,
        &["external_id:a", "external_id:b"],
    ));
    let held = graph.observe(&seen(
        "acme",
        2,
        Source::Zendesk,
        &["external_id:b", "external_id:c"],
    ));
    assert_eq!(held.held.len(), 1);
    // Once the operator splits a from b, the held pair fits and the next evidence applies it.
    graph
        .unlink("acme", "external_id:a", "external_id:b")
        .unwrap();
    let applied = graph.observe(&seen(
        "acme",
        3,
        Source::Intercom,
        &["external_id:c", "external_id:b"],
    ));
    assert_eq!(applied.new_links.len(), 1);
    assert_eq!(applied.new_links[0].event_id, held.held[0].event_id);
    assert_eq!(applied.new_links[0].source, Source::Zendesk);
    assert!(graph.held_links().is_empty());
    graph.assert_consistent();
}

/// Everything a service would have published, as records to replay.
#[derive(Debug, Clone)]
enum Record {
    Identifier(String, String),
    Link(Link),
    Held(Link),
    Retraction(Retraction),
}

fn apply(graph: &mut IdentityGraph, record: &Record) {
    match record {
        Record::Identifier(tenant, key) => graph.apply_identifier(tenant, key),
        Record::Link(link) => {
            graph.apply_link(link);
        }
        Record::Held(link) => {
            graph.apply_held(link);
        }
        Record::Retraction(retraction) => {
            graph.apply_retraction(retraction);
        }
    }
}

fn publish(records: &mut Vec<Record>, observation: &crate::Observation) {
    records.extend(
        observation
            .changes
            .iter()
            .filter(|c| c.previous_customer_id.is_none())
            .map(|c| Record::Identifier(c.tenant_id.clone(), c.identifier.clone())),
    );
    records.extend(observation.new_links.iter().cloned().map(Record::Link));
    records.extend(observation.held.iter().cloned().map(Record::Held));
}

fn assert_restores(
    live: &IdentityGraph,
    records: &[Record],
    policies: &Policies,
    seeds: impl IntoIterator<Item = u64>,
) {
    let tenants = ["acme", "globex"];
    let keys: BTreeMap<&str, Vec<String>> = tenants
        .iter()
        .map(|t| {
            let keys = records
                .iter()
                .filter_map(|r| match r {
                    Record::Identifier(tenant, key) if tenant == t => Some(key.clone()),
                    _ => None,
                })
                .collect();
            (*t, keys)
        })
        .collect();
    for seed in seeds {
        let mut shuffled = records.to_vec();
        shuffle(&mut shuffled, seed);
        let mut restored = IdentityGraph::new(policies.clone());
        for record in &shuffled {
            apply(&mut restored, record);
        }
        for tenant in tenants {
            assert_eq!(
                snapshot(&restored, tenant, &keys[tenant]),
                snapshot(live, tenant, &keys[tenant]),
                "seed {seed}"
            );
        }
        assert_eq!(restored.held_links(), live.held_links(), "seed {seed}");
        assert_eq!(restored.stats(), live.stats(), "seed {seed}");
        restored.assert_consistent();
    }
}

#[test]
fn restoring_shuffled_records_reproduces_the_live_graph() {
    let policies = acme_policy(6);
    let mut live = IdentityGraph::new(policies.clone());
    let mut records = Vec::new();
    let mut interactions = maria_across_channels();
    interactions.extend([
        seen(
            "acme",
            7,
            Source::Zendesk,
            &["email:juan@example.org", "phone:+14155552671"],
        ),
        seen(
            "acme",
            8,
            Source::Yelp,
            &["yelp_user:y_1", "email:juan@example.org"],
        ),
        seen_at(
            "acme",
            9,
            0,
            Source::Intercom,
            &["intercom_contact:ic_42", "email:maria@example.com"],
        ),
        seen(
            "globex",
            1,
            Source::Zendesk,
            &["email:maria@example.com", "zendesk_user:zd_1"],
        ),
    ]);
    for interaction in &interactions {
        publish(&mut records, &live.observe(interaction));
    }
    assert!(
        !live.held_links().is_empty(),
        "the cap of 6 held some links"
    );
    let unlinked = live
        .unlink("acme", "chatwoot_contact:cw_9", "phone:+14155552671")
        .unwrap();
    records.extend(unlinked.retracted.into_iter().map(Record::Retraction));
    let detached = live
        .unlink_identifier("acme", "email:m.lopez@work.example")
        .unwrap();
    records.extend(detached.retracted.into_iter().map(Record::Retraction));
    // Evidence that arrives after the retraction is ignored live, and must be on restore too.
    publish(
        &mut records,
        &live.observe(&seen(
            "acme",
            10,
            Source::Chatwoot,
            &["chatwoot_contact:cw_9", "phone:+14155552671"],
        )),
    );
    live.assert_consistent();
    assert_restores(&live, &records, &policies, 0..50);
}

/// A small pool so random interactions collide often; it includes identifiers the default
/// policy refuses, so refusals are part of every property.
const POOL: [&str; 12] = [
    "email:maria@example.com",
    "email:juan@example.org",
    "email:ana@example.net",
    "email:support@example.com",
    "phone:+14155552671",
    "phone:+4930901820",
    "intercom_contact:1",
    "intercom_contact:2",
    "zendesk_user:7",
    "google_reviewer:Ana P.",
    "external_id:null",
    "trustpilot_consumer:tp",
];

fn random_interactions() -> impl Strategy<Value = Vec<Interaction>> {
    let one = (
        proptest::sample::subsequence(POOL.to_vec(), 1..=4),
        0..6_i64,
        prop::sample::select(vec![Source::Zendesk, Source::Intercom, Source::Google]),
        prop::bool::ANY,
    );
    proptest::collection::vec(one, 1..16).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(n, (keys, minute, source, other_tenant))| {
                let tenant = if other_tenant { "globex" } else { "acme" };
                let n = u32::try_from(n).unwrap();
                seen_at(tenant, n, minute, source, &keys)
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Op {
    Observe(usize),
    Unlink(usize, usize),
    Detach(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Without a cap, the final customers, ids and evidence depend only on the set of
    /// interactions, not on the order they arrive in (minutes collide, so ties on time are
    /// broken by event id).
    #[test]
    fn arrival_order_never_changes_customers_ids_or_evidence(
        (sorted, shuffled) in random_interactions().prop_flat_map(|mut v| {
            v.sort_by_key(|i| (i.occurred_at, i.event_id));
            (Just(v.clone()), Just(v).prop_shuffle())
        })
    ) {
        let policies = Policies::uniform(LinkPolicy {
            max_identifiers_per_customer: 0,
            ..LinkPolicy::default()
        });
        let keys: Vec<String> = POOL.iter().map(|k| (*k).to_owned()).collect();
        let mut reference = IdentityGraph::new(policies.clone());
        let mut candidate = IdentityGraph::new(policies);
        let mut view = HashMap::new();
        for interaction in &sorted {
            reference.observe(interaction);
        }
        for interaction in &shuffled {
            replay_changes(&mut view, &candidate.observe(interaction).changes);
        }
        for tenant in ["acme", "globex"] {
            prop_assert_eq!(
                snapshot(&candidate, tenant, &keys),
                snapshot(&reference, tenant, &keys)
            );
        }
        for ((tenant, key), id) in &view {
            prop_assert_eq!(candidate.customer_of(tenant, key), Some(*id));
        }
        prop_assert_eq!(view.len(), candidate.stats().identifiers);
        candidate.assert_consistent();
    }

    /// With a small cap and operator retractions mixed in, replaying what the live graph
    /// published, in any order, rebuilds exactly the live graph, held links included.
    #[test]
    fn restore_from_published_records_matches_live(
        interactions in random_interactions(),
        ops in proptest::collection::vec(
            prop_oneof![
                8 => (0..16_usize).prop_map(Op::Observe),
                1 => (0..POOL.len(), 0..POOL.len()).prop_map(|(a, b)| Op::Unlink(a, b)),
                1 => (0..POOL.len()).prop_map(Op::Detach),
            ],
            1..24,
        ),
        seed in any::<u64>(),
    ) {
        let policies = Policies::uniform(LinkPolicy {
            max_identifiers_per_customer: 3,
            ..LinkPolicy::default()
        });
        let mut live = IdentityGraph::new(policies.clone());
        let mut records = Vec::new();
        let mut view = HashMap::new();
        for op in &ops {
            let tenant = "acme";
            let (changes, retracted) = match *op {
                Op::Observe(i) => {
                    let Some(interaction) = interactions.get(i) else { continue };
                    let observation = live.observe(interaction);
                    publish(&mut records, &observation);
                    (observation.changes, vec![])
                }
                Op::Unlink(a, b) => match live.unlink(tenant, POOL[a], POOL[b]) {
                    Ok(unlinked) => (unlinked.changes, unlinked.retracted),
                    Err(_) => continue,
                },
                Op::Detach(a) => match live.unlink_identifier(tenant, POOL[a]) {
                    Ok(unlinked) => (unlinked.changes, unlinked.retracted),
                    Err(_) => continue,
                },
            };
            replay_changes(&mut view, &changes);
            records.extend(retracted.into_iter().map(Record::Retraction));
            live.assert_consistent();
        }
        for ((tenant, key), id) in &view {
            prop_assert_eq!(live.customer_of(tenant, key), Some(*id));
        }
        for key in POOL {
            if let Some(id) = live.customer_of("acme", key) {
                prop_assert!(live.members("acme", id).len() <= 3, "cap exceeded");
            }
        }
        assert_restores(&live, &records, &policies, [seed, seed.wrapping_add(1)]);
    }
}

#[test]
fn the_graph_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<IdentityGraph>();
}

#[test]
fn forgetting_a_customer_leaves_nothing_of_it_and_splits_what_it_bridged() {
    let mut graph = shared_phone();
    let before = graph.stats();
    // Forgetting only the phone that bridged Maria and Juan splits them.
    let changes = graph.forget("acme", &["phone:+14155552671".to_owned()]);
    graph.assert_consistent();
    assert_eq!(graph.customer_of("acme", "phone:+14155552671"), None);
    assert!(graph.links_of("acme", "phone:+14155552671").is_empty());
    assert_ne!(
        graph.customer_of("acme", "email:maria@example.com"),
        graph.customer_of("acme", "email:juan@example.org")
    );
    assert!(
        changes.iter().all(|c| c.identifier != "phone:+14155552671"),
        "no change names the forgotten key: {changes:?}"
    );
    assert_eq!(graph.stats().identifiers, before.identifiers - 1);
    assert_eq!(graph.stats().retracted_pairs, 0, "no retraction names it");
    // Then Maria's whole customer: nothing of hers is left, Juan is untouched.
    let maria = graph.members(
        "acme",
        graph
            .customer_of("acme", "email:maria@example.com")
            .unwrap(),
    );
    graph.forget("acme", &maria);
    graph.assert_consistent();
    for key in &maria {
        assert_eq!(graph.customer_of("acme", key), None, "{key}");
    }
    assert!(
        graph
            .customer_of("acme", "email:juan@example.org")
            .is_some()
    );
    let held = format!("{:?}", graph.held_links());
    assert!(!held.contains("maria"), "{held}");
    // Forgetting keys that are unknown or already forgotten changes nothing.
    assert!(graph.forget("acme", &maria).is_empty());
    assert!(graph.forget("globex", &maria).is_empty());
}
