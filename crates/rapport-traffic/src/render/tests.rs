//! Every source's rendered payloads through the real adapter, checked against the scenario.

use std::collections::{BTreeMap, BTreeSet};

use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_model::{
    ActorRole, Channel, Direction, Identity, IdentityType, Interaction, InteractionKind, Source,
};

use crate::scenario::{Author, Customer, Scenario, Step};
use crate::{Mix, Options, day, expected};

fn tenant() -> TenantConfig {
    TenantConfig {
        agent_domains: vec!["acme.com".into()],
        ..TenantConfig::default()
    }
}

fn options(mix: Mix, invalid_rate: f64) -> Options {
    Options {
        seed: 17,
        customers: 60,
        tenant: "acme".into(),
        invalid_rate,
        mix,
        ..Options::default()
    }
}

/// Every identifier a source may know the customer by.
fn identities_of(customer: &Customer) -> BTreeSet<Identity> {
    let scoped = |kind, value: String| Identity::scoped(kind, &value).unwrap();
    BTreeSet::from([
        Identity::email(&customer.email).unwrap(),
        Identity::phone(&customer.phone, None).unwrap(),
        scoped(
            IdentityType::IntercomContact,
            customer.chat_contact_id.clone(),
        ),
        scoped(
            IdentityType::ChatwootContact,
            customer.chatwoot_contact_id.to_string(),
        ),
        scoped(
            IdentityType::ZendeskUser,
            customer.support_user_id.to_string(),
        ),
        scoped(
            IdentityType::FreshdeskContact,
            customer.freshdesk_contact_id.to_string(),
        ),
        scoped(IdentityType::YelpUser, customer.yelp_user_id.clone()),
        scoped(
            IdentityType::GoogleReviewer,
            format!("photo:{}", customer.google_photo_token()),
        ),
        scoped(
            IdentityType::TrustpilotConsumer,
            customer.trustpilot_consumer_id.clone(),
        ),
        scoped(
            IdentityType::ExternalId,
            customer.support_user_id.to_string(),
        ),
    ])
}

/// What a step must normalize to, whichever source carried it.
fn check_step(step: &Step, i: &Interaction, at: &str) {
    let (kind, direction, role) = match step {
        Step::Message {
            author: Author::Customer,
            ..
        } => (
            InteractionKind::Message,
            Direction::Inbound,
            ActorRole::Customer,
        ),
        Step::Message {
            author: Author::Agent(_),
            ..
        } => (
            InteractionKind::Message,
            Direction::Outbound,
            ActorRole::Agent,
        ),
        Step::Message {
            author: Author::Bot,
            ..
        } => (
            InteractionKind::Message,
            Direction::Outbound,
            ActorRole::Bot,
        ),
        Step::Note { .. } => (InteractionKind::Note, Direction::Internal, ActorRole::Agent),
        Step::Status { .. } => (
            InteractionKind::StatusChange,
            Direction::Internal,
            i.actor.role,
        ),
        Step::Review { .. } => (
            InteractionKind::Review,
            Direction::Inbound,
            ActorRole::Customer,
        ),
        Step::ReviewReply { .. } => (
            InteractionKind::ReviewReply,
            Direction::Outbound,
            ActorRole::Agent,
        ),
    };
    assert_eq!(
        (i.kind, i.direction, i.actor.role),
        (kind, direction, role),
        "{at}"
    );
    assert!(!i.auto_reply, "{at}: nothing generated is an auto-reply");
    match step {
        Step::Message { text, .. }
        | Step::Note { text, .. }
        | Step::ReviewReply { text }
        | Step::Review { text, .. } => {
            assert_eq!(i.text.as_deref(), Some(text.as_str()), "{at}");
        }
        Step::Status { status, .. } => {
            let got = i.status.as_deref().unwrap_or_default();
            if *status == "open" {
                assert_eq!(got, "open", "{at}");
            } else {
                assert!(
                    ["closed", "solved", "resolved"].contains(&got),
                    "{at}: closing status {got:?}"
                );
            }
        }
    }
    if let Step::Review { rating, .. } = step {
        assert_eq!(i.rating, Some(*rating), "{at}");
    }
}

/// The steps a source's system reports: all of them, except the owner's reply on Yelp (no Yelp
/// read API returns replies).
fn reported(source: Source, step: &Step) -> bool {
    !(source == Source::Yelp && matches!(step, Step::ReviewReply { .. }))
}

/// Normalizes every record of one source's day and checks each conversation against the
/// scenario: one distinct interaction per reported step, in order, with the step's kind,
/// direction, actor role, text, rating or status, at the step's time, all in one conversation of
/// its own, carrying only the customer's identifiers. A record that repeats an earlier
/// interaction (a ticket or review re-sent with its new state) repeats it exactly.
fn check_source(source: Source, scenario: &Scenario, rendered: &[super::Rendered]) {
    let tenant = tenant();
    let limits = Limits::default();
    let mut by_conversation: BTreeMap<usize, Vec<&super::Rendered>> = BTreeMap::new();
    for r in rendered {
        by_conversation.entry(r.conversation).or_default().push(r);
    }
    let mut conversation_ids = BTreeSet::new();
    let mut ids_seen = BTreeSet::new();
    for (index, records) in by_conversation {
        let conversation = &scenario.conversations[index];
        assert_eq!(conversation.source, source);
        let customer_ids = identities_of(&scenario.customers[conversation.customer]);
        let mut distinct: Vec<Interaction> = Vec::new();
        for r in records {
            assert_eq!(r.record.source, source);
            let ctx = Context {
                tenant_id: &r.record.tenant,
                received_at: r.record.received_at,
                tenant: &tenant,
                limits: &limits,
                raw_ref: None,
            };
            let at = format!(
                "{source} conversation {} event {}",
                conversation.id, r.event
            );
            let out = normalize(source, &r.record.payload, &ctx).unwrap_or_else(|e| {
                panic!(
                    "{at}: rejected: {e}\n{}",
                    String::from_utf8_lossy(&r.record.payload)
                )
            });
            assert!(!out.is_empty(), "{at}: no interaction");
            for mut i in out {
                i.received_at = rapport_model::Timestamp::from_millis(0);
                match distinct.iter().find(|d| d.event_id == i.event_id) {
                    Some(before) => assert_eq!(before, &i, "{at}: a repeat differs"),
                    None => distinct.push(i),
                }
            }
        }
        let steps: Vec<(usize, &Step)> = conversation
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| reported(source, &e.step))
            .map(|(n, e)| (n, &e.step))
            .collect();
        assert_eq!(
            distinct.len(),
            steps.len(),
            "{source} conversation {}: {:#?}",
            conversation.id,
            distinct
                .iter()
                .map(|i| (i.kind, &i.text, &i.status))
                .collect::<Vec<_>>()
        );
        let conversation_id = &distinct[0].conversation_id;
        assert!(
            conversation_ids.insert(conversation_id.clone()),
            "{conversation_id} used twice"
        );
        for ((n, step), i) in steps.into_iter().zip(&distinct) {
            let at = format!("{source} conversation {} event {n}", conversation.id);
            check_step(step, i, &at);
            assert_eq!(i.occurred_at, conversation.events[n].at, "{at}");
            assert_eq!(
                (i.source, i.channel),
                (source, conversation.channel),
                "{at}"
            );
            assert_eq!(&i.conversation_id, conversation_id, "{at}");
            assert!(ids_seen.insert(i.event_id), "{at}: event id reused");
            let unknown: Vec<&Identity> = i
                .identities
                .iter()
                .filter(|id| !customer_ids.contains(id))
                .collect();
            assert!(unknown.is_empty(), "{at}: not the customer's: {unknown:?}");
            // A Freshdesk note object names no customer.
            let anonymous = source == Source::Freshdesk && i.kind == InteractionKind::Note;
            assert_eq!(i.identities.is_empty(), anonymous, "{at}: identities");
        }
    }
}

#[test]
fn every_sources_payloads_normalize_to_the_scenarios_interactions() {
    for source in Source::ALL {
        let (scenario, rendered) = day(&options(Mix::only(*source), 0.0));
        assert!(
            rendered.len() > 60,
            "{source}: {} records for 60 customers",
            rendered.len()
        );
        check_source(*source, &scenario, &rendered);
        // The oracle names exactly the interactions the check above accepted.
        let records: Vec<_> = rendered.iter().map(|r| r.record.clone()).collect();
        let (ids, invalid) = expected(&records, &tenant());
        assert!(invalid.is_empty(), "{source}");
        let mut all = BTreeSet::new();
        for r in &records {
            let limits = Limits::default();
            let tenant = tenant();
            let ctx = Context {
                tenant_id: &r.tenant,
                received_at: r.received_at,
                tenant: &tenant,
                limits: &limits,
                raw_ref: None,
            };
            all.extend(
                normalize(source.to_owned(), &r.payload, &ctx)
                    .unwrap()
                    .into_iter()
                    .map(|i| i.event_id),
            );
        }
        assert_eq!(ids, all, "{source}");
    }
}

#[test]
fn every_valid_record_normalizes_and_every_invalid_one_is_rejected() {
    let tenant = tenant();
    let limits = Limits::default();
    let mut channels_per_email = BTreeMap::<String, BTreeSet<Channel>>::new();
    let (_, rendered) = day(&options(Mix::default(), 0.02));
    let mut corrupted = BTreeSet::new();
    for r in &rendered {
        let record = &r.record;
        let ctx = Context {
            tenant_id: &record.tenant,
            received_at: record.received_at,
            tenant: &tenant,
            limits: &limits,
            raw_ref: None,
        };
        match (
            record.invalid,
            normalize(record.source, &record.payload, &ctx),
        ) {
            (false, Ok(interactions)) => {
                assert!(
                    !interactions.is_empty(),
                    "{} record yields nothing",
                    record.source
                );
                for i in interactions {
                    for id in i
                        .identities
                        .iter()
                        .filter(|id| id.kind == IdentityType::Email)
                    {
                        channels_per_email
                            .entry(id.value.clone())
                            .or_default()
                            .insert(i.channel);
                    }
                }
            }
            (false, Err(e)) => panic!(
                "valid {} record rejected: {e}\n{}",
                record.source,
                String::from_utf8_lossy(&record.payload)
            ),
            (true, Ok(_)) => panic!("corrupted {} record accepted", record.source),
            (true, Err(_)) => {
                corrupted.insert(record.source);
            }
        }
    }
    assert!(
        corrupted.len() > 3,
        "corruption hits many sources: {corrupted:?}"
    );
    assert!(
        channels_per_email.values().any(|c| c.len() >= 3),
        "some customer is seen on three channels under one email address"
    );
}
