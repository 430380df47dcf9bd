//! The API against the local ClickHouse (`make up`): each test has its own database with the
//! fixture of `support/fixture.rs` (two tenants; acme's Maria on email and chat, Bob waiting on
//! a ticket; globex's Gina sharing Maria's address and a conversation id) and serves the router
//! in-process; one test runs the binary.

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/openapi.rs"]
mod openapi;

use std::collections::BTreeSet;
use std::time::Duration;

use fixture::*;
use rapport_api::{Cursor, Order, Position};
use rapport_clickhouse::keys::{self, Revocation};
use rapport_model::ActorRole::{Agent, Customer};
use rapport_model::IdentityType::Email;
use rapport_model::Timestamp;
use rapport_testkit::{Service, free_addr};
use serde_json::Value;

fn ids(answer: &Value, list: &str) -> Vec<String> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer:#}"))
        .iter()
        .map(|i| i["event_id"].as_str().unwrap().to_owned())
        .collect()
}

fn event_ids(tenant: &str, names: &[&str]) -> Vec<String> {
    let all = standard_events();
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|e| e.tenant == tenant && e.id == *n)
                .unwrap()
                .event_id()
        })
        .collect()
}

fn ms(minutes: i64) -> i64 {
    T0 + minutes * MINUTE
}

fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

#[tokio::test]
async fn timeline_merges_channels_newest_first_by_id_or_identifier() {
    let f = Fixture::new("api_timeline").await;
    let api = f.serve().await;
    let doc = openapi::document();
    let oldest_first = event_ids(
        "acme",
        &["m1", "m2", "r1", "m3", "r2", "s1", "c1", "c2", "c3", "c4"],
    );
    let mut newest_first = oldest_first.clone();
    newest_first.reverse();

    for who in [
        MARIA,
        "email:maria@example.com",
        "email:Maria@Example.COM",
        "intercom_contact:c-77",
    ] {
        let page = api
            .get(&format!("/v1/customers/{who}/timeline"), Some(&f.acme))
            .await;
        assert_eq!(page.status, 200, "{who}: {:#}", page.body);
        openapi::assert_conforms(&doc, "TimelinePage", &page.body);
        assert_eq!(page.body["customer_id"], MARIA);
        assert_eq!(page.body["order"], "desc");
        assert_eq!(page.headers["cache-control"], "private, no-store");
        assert_eq!(ids(&page.body, "items"), newest_first, "{who}");
        assert!(page.body["next_cursor"].is_null());
    }
    let page = api
        .get(
            &format!("/v1/customers/{MARIA}/timeline?order=asc"),
            Some(&f.acme),
        )
        .await;
    assert_eq!(ids(&page.body, "items"), oldest_first);
    let first = &page.body["items"][0];
    assert_eq!(first["occurred_at"], "2024-06-03T09:00:00.000Z");
    assert_eq!(first["occurred_at_ms"], T0);
    assert_eq!(first["channel"], "email");
    assert_eq!(first["direction"], "inbound");
    assert_eq!(first["actor"]["role"], "customer");
    assert_eq!(first["identities"][0], "email:maria@example.com");
    assert_eq!(first["text"], "m1 says hello");

    let unknown = api
        .get(
            "/v1/customers/email:nobody@example.com/timeline",
            Some(&f.acme),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let unknown = api
        .get("/v1/customers/no-such-customer/timeline", Some(&f.acme))
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    f.drop().await;
}

/// An email conversation the writer has joined into a thread (`email_threads`) is shown under
/// the thread's id, on the timeline as on every other read; the rest keep their own ids.
#[tokio::test]
async fn the_timeline_shows_a_threaded_email_conversation_under_its_thread() {
    let f = Fixture::new("api_timeline_threads").await;
    const THREAD: &str = "email:<t0@mail.example.com>";
    f.client
        .query(
            "INSERT INTO email_threads (tenant_id, conversation_id, thread_id, changed_at_ms) \
             VALUES ('acme', ?, ?, 1)",
        )
        .bind(SHARED_CONVERSATION)
        .bind(THREAD)
        .execute()
        .await
        .unwrap();
    let api = f.serve().await;
    let page = api
        .get(
            &format!("/v1/customers/{MARIA}/timeline?order=asc"),
            Some(&f.acme),
        )
        .await;
    assert_eq!(page.status, 200, "{:#}", page.body);
    let conversations: Vec<(String, String)> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["channel"].as_str().unwrap().to_owned(),
                i["conversation_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let email: BTreeSet<&str> = conversations
        .iter()
        .filter(|(channel, _)| channel == "email")
        .map(|(_, c)| c.as_str())
        .collect();
    assert_eq!(email, BTreeSet::from([THREAD]), "{conversations:?}");
    assert!(
        conversations
            .iter()
            .any(|(channel, c)| channel == "chat" && c != THREAD),
        "{conversations:?}"
    );
    f.drop().await;
}

#[tokio::test]
async fn timeline_filters_by_channel_and_time_range() {
    let f = Fixture::new("api_timeline_filters").await;
    let api = f.serve().await;
    let chat = api
        .get(
            &format!("/v1/customers/{MARIA}/timeline?channel=chat&order=asc"),
            Some(&f.acme),
        )
        .await;
    assert_eq!(
        ids(&chat.body, "items"),
        event_ids("acme", &["c1", "c2", "c3", "c4"])
    );
    // from is inclusive, to exclusive.
    let window = api
        .get(
            &format!(
                "/v1/customers/{MARIA}/timeline?order=asc&from={}&to={}",
                rfc3339(ms(10)),
                rfc3339(ms(65))
            ),
            Some(&f.acme),
        )
        .await;
    assert_eq!(window.status, 200, "{:#}", window.body);
    assert_eq!(
        ids(&window.body, "items"),
        event_ids("acme", &["m2", "r1", "m3"])
    );
    let both = api
        .get(
            &format!(
                "/v1/customers/{MARIA}/timeline?channel=email&from={}",
                rfc3339(ms(60))
            ),
            Some(&f.acme),
        )
        .await;
    assert_eq!(
        ids(&both.body, "items"),
        event_ids("acme", &["s1", "r2", "m3"])
    );
    f.drop().await;
}

#[tokio::test]
async fn pages_are_stable_while_other_customers_get_new_rows() {
    let f = Fixture::new("api_pages").await;
    // 45 more events for Maria, three per millisecond (customer message, agent reply, and a
    // second customer message: ties broken by rank, then by event id).
    let long: Vec<Ev> = (0..45)
        .map(|i| {
            let at = ms(300) + (i / 3) * 1000;
            let role = if i % 3 == 1 { Agent } else { Customer };
            Ev::new("acme", "intercom:long", &format!("l{i:02}"), at, role)
                .who(rapport_model::IdentityType::IntercomContact, "c-77")
        })
        .collect();
    f.insert(&long).await;
    let api = f.serve().await;
    let everything = |order: &'static str| {
        let api = &api;
        let key = f.acme.clone();
        async move {
            let page = api
                .get(
                    &format!("/v1/customers/{MARIA}/timeline?order={order}&limit=500"),
                    Some(&key),
                )
                .await;
            ids(&page.body, "items")
        }
    };
    let asc = everything("asc").await;
    let desc = everything("desc").await;
    assert_eq!(asc.len(), 55);
    assert_eq!(desc.iter().rev().cloned().collect::<Vec<_>>(), asc);

    let mut bob_rows = 0;
    for (order, expected) in [("asc", &asc), ("desc", &desc)] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/customers/{MARIA}/timeline?limit=7");
            if pages == 0 {
                path.push_str(&format!("&order={order}"));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = api.get(&path, Some(&f.acme)).await;
            assert_eq!(page.status, 200, "{:#}", page.body);
            assert_eq!(page.body["order"], order, "the cursor keeps the order");
            seen.extend(ids(&page.body, "items"));
            pages += 1;
            // Another customer's rows land in the middle of Maria's history between fetches.
            let bob: Vec<Ev> = (0..2)
                .map(|i| {
                    bob_rows += 1;
                    Ev::new(
                        "acme",
                        BOB_TICKET,
                        &format!("bob{bob_rows}"),
                        ms(300) + i * 1500 + pages * 10,
                        Customer,
                    )
                    .who(Email, "bob@example.com")
                })
                .collect();
            f.insert(&bob).await;
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 8, "55 items in pages of 7");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no item twice ({order})");
        assert_eq!(&seen, expected, "no gap, same order ({order})");
    }
    // Bob's rows are his: Maria's timeline is unchanged.
    assert_eq!(everything("asc").await, asc);
    f.drop().await;
}

#[tokio::test]
async fn a_conversation_has_its_interactions_in_order_and_its_responsiveness() {
    let f = Fixture::new("api_conversation").await;
    let api = f.serve().await;
    let doc = openapi::document();
    let path = format!(
        "/v1/conversations/{}",
        SHARED_CONVERSATION.replace('<', "%3C").replace('>', "%3E")
    );
    let answer = api.get(&path, Some(&f.acme)).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    openapi::assert_conforms(&doc, "Conversation", &answer.body);
    let body = &answer.body;
    assert_eq!(body["conversation_id"], SHARED_CONVERSATION);
    assert_eq!(body["channel"], "email");
    assert_eq!(body["truncated"], false);
    assert_eq!(
        ids(body, "interactions"),
        event_ids("acme", &["m1", "m2", "r1", "m3", "r2", "s1"])
    );
    let r = &body["responsiveness"];
    assert_eq!(r["first_response_ms"], 30 * MINUTE);
    assert_eq!(r["first_responder_id"], "ana");
    assert_eq!(r["avg_reply_latency_ms"], (30 * MINUTE + 5 * MINUTE) / 2);
    assert_eq!(r["first_resolution_ms"], 66 * MINUTE);
    assert_eq!(r["full_resolution_ms"], 66 * MINUTE);
    assert_eq!(r["is_resolved"], true);
    assert_eq!(r["is_waiting"], false);
    assert_eq!(r["customer_messages"], 3);
    assert_eq!(r["status"], "solved");
    assert_eq!(r["team"], "billing");

    let chat = api
        .get(&format!("/v1/conversations/{MARIA_CHAT}"), Some(&f.acme))
        .await;
    assert_eq!(
        ids(&chat.body, "interactions"),
        event_ids("acme", &["c1", "c2", "c3", "c4"]),
        "the customer's message sorts before the bot's in the same millisecond"
    );
    assert_eq!(chat.body["responsiveness"]["first_response_ms"], 4 * MINUTE);
    assert_eq!(chat.body["responsiveness"]["is_waiting"], true);
    assert_eq!(
        chat.body["responsiveness"]["waiting_since"],
        rfc3339(ms(200))
    );

    let missing = api.get("/v1/conversations/email:nope", Some(&f.acme)).await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    f.drop().await;
}

#[tokio::test]
async fn a_customer_shows_identities_contacts_channels_and_waiting() {
    let f = Fixture::new("api_customer").await;
    let api = f.serve().await;
    let doc = openapi::document();
    for who in [MARIA, "intercom_contact:c-77"] {
        let answer = api
            .get(&format!("/v1/customers/{who}"), Some(&f.acme))
            .await;
        assert_eq!(answer.status, 200, "{:#}", answer.body);
        openapi::assert_conforms(&doc, "Customer", &answer.body);
        let body = &answer.body;
        assert_eq!(body["customer_id"], MARIA);
        assert_eq!(
            body["identities"],
            serde_json::json!(["email:maria@example.com", "intercom_contact:c-77"])
        );
        assert_eq!(body["first_contact_at"], rfc3339(ms(0)));
        assert_eq!(body["last_contact_at"], rfc3339(ms(200)));
        assert_eq!(body["channels"], serde_json::json!(["chat", "email"]));
        assert_eq!(body["interactions"], 10);
        assert_eq!(body["conversations"], 2);
        let open = body["open_conversations"].as_array().unwrap();
        assert_eq!(open.len(), 1, "the solved email thread is not open");
        assert_eq!(open[0]["conversation_id"], MARIA_CHAT);
        assert_eq!(open[0]["is_waiting"], true);
        assert_eq!(open[0]["waiting_since"], rfc3339(ms(200)));
        assert_eq!(body["waiting_since"], rfc3339(ms(200)));
    }
    let bob = api
        .get("/v1/customers/email:bob@example.com", Some(&f.acme))
        .await;
    assert_eq!(bob.body["customer_id"], BOB);
    assert_eq!(bob.body["waiting_since"], rfc3339(ms(0)));
    assert_eq!(bob.body["channels"], serde_json::json!(["support"]));
    f.drop().await;
}

#[tokio::test]
async fn responsiveness_metrics_match_the_hand_computed_numbers() {
    let f = Fixture::new("api_metrics").await;
    let api = f.serve().await;
    let window = format!("from={}&to={}", rfc3339(ms(-60)), rfc3339(ms(24 * 60)));
    let get = |query: String| {
        let api = &api;
        let key = f.acme.clone();
        async move {
            let answer = api
                .get(&format!("/v1/metrics/responsiveness?{query}"), Some(&key))
                .await;
            assert_eq!(answer.status, 200, "{query}: {:#}", answer.body);
            openapi::assert_conforms(&openapi::document(), "ResponsivenessReport", &answer.body);
            answer.body
        }
    };
    let stats = |count: u64, avg: i64, p50: i64, p90: i64| serde_json::json!({"count": count, "avg_ms": avg, "p50_ms": p50, "p90_ms": p90});
    let empty = serde_json::json!({"count": 0, "avg_ms": null, "p50_ms": null, "p90_ms": null});
    let (m30, m5, m4, m66) = (30 * MINUTE, 5 * MINUTE, 4 * MINUTE, 66 * MINUTE);

    // Overall: first responses 30 and 4 min; replies 30, 5 and 4 min; one resolution of 66 min.
    // quantileExact takes the element at ⌊level·n⌋ of the sorted values. Globex's 1-minute
    // reply is not counted.
    let all = get(window.clone()).await;
    assert_eq!(all["group_by"], Value::Null);
    let groups = all["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["key"], Value::Null);
    assert_eq!(
        groups[0]["first_response"],
        stats(2, (m30 + m4) / 2, m30, m30)
    );
    assert_eq!(
        groups[0]["reply_latency"],
        stats(3, (m30 + m5 + m4) / 3, m5, m30)
    );
    assert_eq!(groups[0]["first_resolution"], stats(1, m66, m66, m66));
    assert_eq!(groups[0]["full_resolution"], stats(1, m66, m66, m66));

    let by_channel = get(format!("{window}&group_by=channel")).await;
    let groups = by_channel["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["chat", "email"]);
    assert_eq!(groups[0]["first_response"], stats(1, m4, m4, m4));
    assert_eq!(groups[0]["first_resolution"], empty);
    assert_eq!(
        groups[1]["reply_latency"],
        stats(2, (m30 + m5) / 2, m30, m30)
    );
    assert_eq!(groups[1]["first_resolution"], stats(1, m66, m66, m66));

    let by_agent = get(format!("{window}&group_by=agent")).await;
    let groups = by_agent["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["ana", "ben"]);
    assert_eq!(groups[0]["agent_name"], "Anna");
    assert_eq!(
        groups[0]["first_response"],
        stats(2, (m30 + m4) / 2, m30, m30)
    );
    assert_eq!(groups[1]["first_response"], empty);
    assert_eq!(groups[1]["reply_latency"], stats(1, m5, m5, m5));
    assert_eq!(groups[1]["first_resolution"], Value::Null);

    let by_team = get(format!("{window}&group_by=team")).await;
    let keys: Vec<&str> = by_team["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["billing", "support"]);

    let by_day = get(format!("{window}&group_by=day")).await;
    assert_eq!(by_day["groups"][0]["key"], "2024-06-03");
    assert_eq!(by_day["groups"][0]["reply_latency"]["count"], 3);

    let email_only = get(format!("{window}&channel=email")).await;
    assert_eq!(
        email_only["groups"][0]["first_response"],
        stats(1, m30, m30, m30)
    );
    // The window counts replies by when they happened: 09:00–09:31 holds only the first reply.
    let early = get(format!("from={}&to={}", rfc3339(ms(0)), rfc3339(ms(31)))).await;
    assert_eq!(early["groups"][0]["reply_latency"], stats(1, m30, m30, m30));
    assert_eq!(early["groups"][0]["first_resolution"], empty);
    // Without from/to: the last 30 days, which hold none of the fixture's 2024 replies; the
    // overall group is still there, with zero counts.
    let recent = get(String::new()).await;
    let groups = recent["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{recent:#}");
    for stats in [
        "first_response",
        "reply_latency",
        "first_resolution",
        "full_resolution",
    ] {
        assert_eq!(groups[0][stats], empty, "{stats}");
    }
    let by_channel = get("group_by=channel".into()).await;
    assert!(
        by_channel["groups"].as_array().unwrap().is_empty(),
        "{by_channel:#}"
    );
    f.drop().await;
}

#[tokio::test]
async fn unanswered_lists_who_waits_longest_first() {
    let f = Fixture::new("api_unanswered").await;
    let now = Timestamp::now().as_millis();
    f.insert(&[Ev::new(
        "acme",
        "intercom:fresh",
        "fresh1",
        now - 10 * MINUTE,
        Customer,
    )
    .who(Email, "bob@example.com")])
        .await;
    let api = f.serve().await;
    let doc = openapi::document();
    let answer = api.get("/v1/unanswered", Some(&f.acme)).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    openapi::assert_conforms(&doc, "Unanswered", &answer.body);
    let conversations: Vec<&str> = answer.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(conversations, [BOB_TICKET, MARIA_CHAT, "intercom:fresh"]);
    let first = &answer.body["conversations"][0];
    assert_eq!(first["customer_id"], BOB);
    assert_eq!(first["waiting_since"], rfc3339(ms(0)));
    assert_eq!(first["waiting_messages"], 1);
    assert_eq!(first["last_customer_text"], "z1 says hello");
    assert!(first["waiting_ms"].as_i64().unwrap() >= now - ms(0));
    assert_eq!(answer.body["conversations"][1]["customer_id"], MARIA);

    let old = api.get("/v1/unanswered?older_than=1h", Some(&f.acme)).await;
    assert_eq!(old.body["conversations"].as_array().unwrap().len(), 2);
    let chat = api
        .get("/v1/unanswered?channel=chat&older_than=1h", Some(&f.acme))
        .await;
    assert_eq!(chat.body["conversations"][0]["conversation_id"], MARIA_CHAT);
    assert_eq!(chat.body["conversations"].as_array().unwrap().len(), 1);
    let one = api.get("/v1/unanswered?limit=1", Some(&f.acme)).await;
    assert_eq!(one.body["conversations"].as_array().unwrap().len(), 1);
    f.drop().await;
}

#[tokio::test]
async fn a_key_for_one_tenant_never_reads_another() {
    let f = Fixture::new("api_isolation").await;
    let api = f.serve().await;
    let globex_ids: BTreeSet<String> = event_ids("globex", &["g1", "g2", "g3"])
        .into_iter()
        .collect();
    let a = Some(f.acme.as_str());
    let b = Some(f.globex.as_str());
    // Error messages may repeat what the request said; they never show globex's data.
    let refused = |answer: &fixture::Answer| {
        let text = answer.body.to_string();
        assert!(
            globex_ids.iter().all(|id| !text.contains(id.as_str()))
                && !["g1 says", "g2 says", "g3 says", "gus"]
                    .iter()
                    .any(|t| text.contains(t)),
            "globex data leaked: {text}"
        );
        (answer.status, answer.code().to_owned())
    };

    // Globex's customer id and identifiers, through every endpoint that takes one.
    for path in [
        format!("/v1/customers/{GINA}"),
        format!("/v1/customers/{GINA}/timeline"),
        "/v1/customers/email:gina@globex.example".to_owned(),
        "/v1/customers/email:gina@globex.example/timeline".to_owned(),
        format!("/v1/conversations/{GLOBEX_SECRET}"),
        // Values built to break out of a quoted SQL string find nothing either.
        "/v1/customers/external_id:x' OR tenant_id != '".to_owned(),
        "/v1/conversations/x' OR '1'='1".to_owned(),
        "/v1/customers/x%5C' OR 1 = 1 --/timeline".to_owned(),
    ] {
        let answer = api.get(&path, a).await;
        assert_eq!(refused(&answer), (404, "not_found".into()), "{path}");
    }

    // Shared identifier and shared conversation id: acme's own data only.
    let maria = api
        .get("/v1/customers/email:maria@example.com/timeline", a)
        .await;
    assert_eq!(maria.body["customer_id"], MARIA);
    refused(&maria);
    let shared = api
        .get(
            &format!(
                "/v1/conversations/{}",
                SHARED_CONVERSATION.replace('<', "%3C").replace('>', "%3E")
            ),
            a,
        )
        .await;
    assert_eq!(shared.body["interactions"].as_array().unwrap().len(), 6);
    assert_eq!(
        shared.body["responsiveness"]["first_response_ms"],
        30 * MINUTE
    );
    refused(&shared);
    // The same requests with globex's key see globex's data.
    let gina = api.get("/v1/customers/email:maria@example.com", b).await;
    assert_eq!(gina.body["customer_id"], GINA);

    // Cursors: one globex really issued, and one forged for globex.
    let globex_page = api
        .get(&format!("/v1/customers/{GINA}/timeline?limit=1"), b)
        .await;
    let issued = globex_page.body["next_cursor"].as_str().unwrap().to_owned();
    let forged = Cursor::new(
        "globex",
        GINA,
        Order::Desc,
        Position {
            occurred_at_ms: i64::MAX,
            event_rank: 0,
            event_id: String::new(),
        },
    )
    .encode();
    let retargeted = Cursor::new(
        "globex",
        MARIA,
        Order::Desc,
        Position {
            occurred_at_ms: i64::MAX,
            event_rank: 0,
            event_id: String::new(),
        },
    )
    .encode();
    for cursor in [&issued, &forged, &retargeted] {
        let own = api
            .get(
                &format!("/v1/customers/{MARIA}/timeline?cursor={cursor}"),
                a,
            )
            .await;
        assert_eq!(refused(&own), (400, "bad_cursor".into()));
        let theirs = api
            .get(&format!("/v1/customers/{GINA}/timeline?cursor={cursor}"), a)
            .await;
        assert_eq!(refused(&theirs), (404, "not_found".into()));
    }

    // Lists and metrics hold acme's rows only.
    let waiting = api.get("/v1/unanswered", a).await;
    assert!(
        !waiting.body.to_string().contains(GLOBEX_SECRET),
        "{:#}",
        waiting.body
    );
    refused(&waiting);
    let metrics = api
        .get(
            &format!(
                "/v1/metrics/responsiveness?from={}&to={}",
                rfc3339(ms(-60)),
                rfc3339(ms(600))
            ),
            a,
        )
        .await;
    assert_eq!(metrics.body["groups"][0]["first_response"]["count"], 2);
    f.drop().await;
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_are_refused() {
    let f = Fixture::new("api_auth").await;
    let mut config = f.config();
    config.auth.cache_ttl_ms = 300;
    let api = fixture::Server::start(config).await;
    let path = format!("/v1/customers/{MARIA}");

    let none = api.get(&path, None).await;
    assert_eq!((none.status, none.code()), (401, "missing_key"));
    assert!(
        none.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let basic = api
        .send(
            api.request(reqwest::Method::GET, &path)
                .header("authorization", "Basic YWNtZTp4"),
        )
        .await;
    assert_eq!((basic.status, basic.code()), (401, "malformed_key"));
    let junk = api.get(&path, Some("not-a-key")).await;
    assert_eq!((junk.status, junk.code()), (401, "malformed_key"));
    let (_, made_up) = keys::generate();
    let unknown = api.get(&path, Some(&made_up)).await;
    assert_eq!((unknown.status, unknown.code()), (401, "unknown_key"));
    // The right key id with another secret.
    let key_id = keys::parse(&f.acme).unwrap();
    let (_, other) = keys::generate();
    let wrong_secret = format!("rpk_{key_id}_{}", &other[21..]);
    assert_eq!(keys::parse(&wrong_secret), Some(key_id));
    let wrong = api.get(&path, Some(&wrong_secret)).await;
    assert_eq!((wrong.status, wrong.code()), (401, "unknown_key"));
    // The scheme is case-insensitive.
    let lower = api
        .send(
            api.request(reqwest::Method::GET, &path)
                .header("authorization", format!("bearer {}", f.acme)),
        )
        .await;
    assert_eq!(lower.status, 200);

    // Revoked: refused with 403 once the 300 ms cache has expired.
    assert_eq!(api.get(&path, Some(&f.acme)).await.status, 200);
    let revoked = keys::revoke(&f.client, key_id).await.unwrap();
    assert!(matches!(revoked, Revocation::Revoked(_)), "{revoked:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refused = api.get(&path, Some(&f.acme)).await;
    assert_eq!((refused.status, refused.code()), (403, "revoked_key"));
    assert!(!refused.body.to_string().contains(&f.acme[21..]));

    // The documentation and the operations endpoints need no key.
    assert_eq!(api.get("/openapi.json", None).await.status, 200);
    f.drop().await;
}

#[tokio::test]
async fn a_revocation_takes_effect_when_the_key_cache_expires() {
    let f = Fixture::new("api_key_cache").await;
    let mut config = f.config();
    config.auth.cache_ttl_ms = 60_000;
    let api = fixture::Server::start(config.clone()).await;
    let path = "/v1/unanswered";
    assert_eq!(api.get(path, Some(&f.globex)).await.status, 200);
    keys::revoke(&f.client, &f.globex).await.unwrap();
    // Cached for the TTL on an instance that had verified it...
    assert_eq!(api.get(path, Some(&f.globex)).await.status, 200);
    // ...and refused at once by an instance that had not.
    let fresh = fixture::Server::start(config).await;
    assert_eq!(fresh.get(path, Some(&f.globex)).await.status, 403);
    f.drop().await;
}

#[tokio::test]
async fn keys_are_stored_hashed_listed_and_revoked_for_good() {
    let f = Fixture::new("api_keys").await;
    let created = keys::create(&f.client, "acme", "reporting").await.unwrap();
    assert!(created.token.starts_with("rpk_"));
    let stored = f
        .stack
        .clickhouse(&format!("SELECT * FROM {}.api_keys FORMAT TSV", f.database))
        .await;
    for key in [&created.token, &f.acme, &f.globex] {
        assert!(
            !stored.contains(&key[21..]),
            "a key's secret is stored: {stored}"
        );
    }
    let acme = keys::list(&f.client, Some("acme")).await.unwrap();
    let names: Vec<&str> = acme.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["acme tests", "reporting"]);
    assert_eq!(keys::list(&f.client, None).await.unwrap().len(), 3);

    let Revocation::Revoked(row) = keys::revoke(&f.client, &created.row.key_id).await.unwrap()
    else {
        panic!("revoked")
    };
    assert!(row.revoked_at_ms.is_some());
    // A late copy of the unrevoked row (a replayed create) does not bring the key back.
    f.stack
        .clickhouse(&format!(
            "INSERT INTO {}.api_keys (key_id, tenant_id, name, hash, created_at_ms, revoked) VALUES ('{}', 'acme', 'reporting', '{}', 1, 0)",
            f.database, created.row.key_id, created.row.hash
        ))
        .await;
    let found = keys::find(&f.client, &created.row.key_id)
        .await
        .unwrap()
        .unwrap();
    assert!(found.is_revoked());
    assert!(matches!(
        keys::revoke(&f.client, &created.token).await.unwrap(),
        Revocation::AlreadyRevoked(_)
    ));
    assert_eq!(
        keys::revoke(&f.client, "0000000000000000").await.unwrap(),
        Revocation::Unknown
    );
    assert!(keys::create(&f.client, " ", "x").await.is_err());
    assert!(keys::create(&f.client, "acme", "").await.is_err());
    f.drop().await;
}

#[tokio::test]
async fn bad_parameters_are_400_with_a_json_error() {
    let f = Fixture::new("api_bad_params").await;
    let api = f.serve().await;
    let timeline = format!("/v1/customers/{MARIA}/timeline");
    for (path, code) in [
        (format!("{timeline}?limit=0"), "bad_parameter"),
        (format!("{timeline}?limit=10000"), "bad_parameter"),
        (format!("{timeline}?limit=many"), "bad_parameter"),
        (format!("{timeline}?from=yesterday"), "bad_parameter"),
        (
            format!("{timeline}?from=2024-06-04T00:00:00Z&to=2024-06-03T00:00:00Z"),
            "bad_parameter",
        ),
        (format!("{timeline}?order=sideways"), "bad_parameter"),
        (format!("{timeline}?channel=fax"), "bad_parameter"),
        (format!("{timeline}?limt=5"), "bad_parameter"),
        (format!("{timeline}?cursor=garbage"), "bad_cursor"),
        ("/v1/customers/fax:123/timeline".to_owned(), "bad_parameter"),
        (
            "/v1/customers/email:not-an-address".to_owned(),
            "bad_parameter",
        ),
        (
            "/v1/metrics/responsiveness?group_by=week".to_owned(),
            "bad_parameter",
        ),
        (
            "/v1/metrics/responsiveness?to=soon".to_owned(),
            "bad_parameter",
        ),
        (
            "/v1/unanswered?older_than=a while".to_owned(),
            "bad_parameter",
        ),
        ("/v1/unanswered?limit=501".to_owned(), "bad_parameter"),
        (
            format!("/v1/conversations/{MARIA_CHAT}?limit=5"),
            "bad_parameter",
        ),
    ] {
        let answer = api.get(&path, Some(&f.acme)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, code),
            "{path}: {:#}",
            answer.body
        );
        assert!(!answer.body["message"].as_str().unwrap().is_empty());
        assert_eq!(
            answer.body.as_object().unwrap().len(),
            2,
            "{:#}",
            answer.body
        );
    }
    // A cursor edited by hand, and one from an ascending walk used for a descending one.
    let page = api
        .get(&format!("{timeline}?order=asc&limit=2"), Some(&f.acme))
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let mut edited = cursor.to_owned();
    edited.replace_range(3..4, if &cursor[3..4] == "A" { "B" } else { "A" });
    for path in [
        format!("{timeline}?cursor={edited}"),
        format!("{timeline}?order=desc&cursor={cursor}"),
    ] {
        let answer = api.get(&path, Some(&f.acme)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "bad_cursor"),
            "{path}"
        );
    }
    f.drop().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_per_key() {
    let f = Fixture::new("api_rate_limit").await;
    let mut config = f.config();
    config.rate_limit.requests_per_second = 0.5;
    config.rate_limit.burst = 3;
    let api = fixture::Server::start(config).await;
    for _ in 0..3 {
        assert_eq!(api.get("/v1/unanswered", Some(&f.acme)).await.status, 200);
    }
    let limited = api.get("/v1/unanswered", Some(&f.acme)).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Another key has its own bucket.
    assert_eq!(api.get("/v1/unanswered", Some(&f.globex)).await.status, 200);
    f.drop().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_equals_docs_and_lists_every_route() {
    let f = Fixture::new("api_openapi").await;
    let api = f.serve().await;
    let served = api.get("/openapi.json", None).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc = openapi::document();
    assert_eq!(served.body, doc, "GET /openapi.json is docs/openapi.json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    // Every documented path answers (not `unknown_route`), and with the documented statuses.
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        documented,
        BTreeSet::from([
            "/openapi.json",
            "/v1/customers/{customer}",
            "/v1/customers/{customer}/timeline",
            "/v1/conversations/{conversation}",
            "/v1/metrics/responsiveness",
            "/v1/metrics/sla",
            "/v1/sla/at-risk",
            "/v1/unanswered",
        ])
    );
    for path in &documented {
        let concrete = path
            .replace("{customer}", MARIA)
            .replace("{conversation}", MARIA_CHAT);
        let answer = api.get(&concrete, Some(&f.acme)).await;
        assert_eq!(answer.status, 200, "{path}: {:#}", answer.body);
        let responses = paths[*path]["get"]["responses"].as_object().unwrap();
        assert!(responses.contains_key("200"), "{path}");
        if path.starts_with("/v1/") {
            for status in ["400", "401", "403", "429", "503"] {
                assert!(responses.contains_key(status), "{path} documents {status}");
            }
        }
    }
    // Every error code the API uses is documented.
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let used: BTreeSet<&str> = rapport_api::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(codes, used);
    f.drop().await;
}

#[tokio::test]
async fn every_error_is_json_oversized_bodies_unknown_routes_and_wrong_methods_included() {
    let f = Fixture::new("api_errors").await;
    let mut config = f.config();
    config.limits.max_body_bytes = 1024;
    let api = fixture::Server::start(config).await;
    let doc = openapi::document();
    let big = api
        .send(
            api.request(reqwest::Method::GET, "/v1/unanswered")
                .bearer_auth(&f.acme)
                .body(vec![b'x'; 4096]),
        )
        .await;
    assert_eq!((big.status, big.code()), (413, "payload_too_large"));
    let route = api.get("/v2/everything", Some(&f.acme)).await;
    assert_eq!((route.status, route.code()), (404, "unknown_route"));
    let method = api
        .send(
            api.request(reqwest::Method::POST, "/v1/unanswered")
                .bearer_auth(&f.acme),
        )
        .await;
    assert_eq!((method.status, method.code()), (405, "method_not_allowed"));
    for answer in [&big, &route, &method] {
        openapi::assert_conforms(&doc, "Error", &answer.body);
    }
    f.drop().await;
}

#[tokio::test]
async fn an_unreachable_store_is_503_and_a_slow_request_times_out() {
    let f = Fixture::new("api_unavailable").await;
    let mut down = f.config();
    down.clickhouse.url = format!("http://{}", free_addr());
    let api = fixture::Server::start(down).await;
    let answer = api.get("/v1/unanswered", Some(&f.acme)).await;
    assert_eq!((answer.status, answer.code()), (503, "unavailable"));
    assert!(answer.headers.contains_key("retry-after"));
    assert!(
        !answer.body["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1")
    );

    let mut hasty = f.config();
    hasty.limits.request_timeout_ms = 1;
    let api = fixture::Server::start(hasty).await;
    let answer = api
        .get(&format!("/v1/customers/{MARIA}/timeline"), Some(&f.acme))
        .await;
    assert_eq!((answer.status, answer.code()), (503, "timeout"));
    f.drop().await;
}

#[tokio::test]
async fn the_binary_serves_the_api_and_the_ops_endpoints_on_one_port() {
    let f = Fixture::new("api_binary").await;
    let files = rapport_testkit::ScratchDir::new("rapport-api");
    let config = files.join("api.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n[limits]\nhealth_check_interval_ms = 200\n",
            f.clickhouse.url, f.database
        ),
    )
    .unwrap();
    let addr = free_addr();
    let mut service = Service::start(
        env!("CARGO_BIN_EXE_rapport-api"),
        &config,
        addr,
        "warn,rapport_api=info",
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while service.get("/readyz").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(service.get("/healthz").await.0, 200);
    let http = reqwest::Client::new();
    let answer: Value = http
        .get(format!(
            "http://{addr}/v1/customers/{MARIA}/timeline?limit=2"
        ))
        .bearer_auth(&f.acme)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["items"].as_array().unwrap().len(), 2);
    let (status, metrics) = service.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "rapport_api_requests_total{route=\"/v1/customers/{customer}/timeline\",status=\"200\"}"
        ),
        "{metrics}"
    );
    let status = service.signal("TERM");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let _ = std::fs::remove_file(&config);
    f.drop().await;
}

/// Weekdays 09:20-17:00 UTC for acme, and one policy: first response 15 min, next reply 30 min,
/// resolution 8 h.
const SLA_RULES: &str = r#"
[business_hours]
[[business_hours.calendars.office.versions]]
zone = "UTC"
week = { mon = ["09:20-17:00"], tue = ["09:20-17:00"], wed = ["09:20-17:00"], thu = ["09:20-17:00"], fri = ["09:20-17:00"] }
[[business_hours.assign]]
tenant = "acme"
calendar = "office"

[[sla.policies]]
name = "standard"
tenant = "acme"
first_response = "15m"
next_reply = "30m"
resolution = "8h"
"#;

#[tokio::test]
async fn business_time_and_sla_outcomes_match_the_hand_computed_numbers_and_the_views() {
    #[derive(serde::Deserialize)]
    struct Sections {
        business_hours: rapport_responsiveness::BusinessHoursConfig,
        sla: rapport_responsiveness::SlaConfig,
    }
    let f = Fixture::new("api_sla").await;
    let sections: Sections = toml::from_str(SLA_RULES).unwrap();
    let rules = rapport_responsiveness::Rules::from_config(&sections.business_hours, &sections.sla)
        .unwrap();
    // As `rapport recompute` does after the rules change.
    let ids = rapport_clickhouse::repair::conversations_in(&f.client, "acme", ms(-60), ms(24 * 60))
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    let how = rapport_clickhouse::repair::Recompute {
        tenant: "acme",
        rules: &rules,
        version: Timestamp::now().as_millis() + 1,
        dry_run: false,
        timeout: Duration::from_secs(30),
    };
    let report = rapport_clickhouse::repair::recompute(&f.client, how, &ids, |_| {})
        .await
        .unwrap();
    assert_eq!(report.changed_conversations, 3);
    let mut config = f.config();
    config.business_hours = sections.business_hours.clone();
    let api = fixture::Server::start(config).await;
    let window = format!("from={}&to={}", rfc3339(ms(-60)), rfc3339(ms(24 * 60)));

    // Business time (the office opens at 09:20 = T0+20): first responses 10 min (09:00 → 09:30)
    // and 4 min; replies 10, 5 and 4 min. The wall clock is unchanged (30 and 4 min).
    let answer = api
        .get(
            &format!("/v1/metrics/responsiveness?{window}&clock=business"),
            Some(&f.acme),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    openapi::assert_conforms(&openapi::document(), "ResponsivenessReport", &answer.body);
    assert_eq!(answer.body["clock"], "business");
    let group = &answer.body["groups"][0];
    let (m10, m5, m4) = (10 * MINUTE, 5 * MINUTE, 4 * MINUTE);
    assert_eq!(group["first_response"]["count"], 2);
    assert_eq!(group["first_response"]["avg_ms"], (m10 + m4) / 2);
    assert_eq!(group["reply_latency"]["avg_ms"], (m10 + m5 + m4) / 3);
    assert_eq!(
        group["first_resolution"]["avg_ms"],
        46 * MINUTE,
        "09:20 → 10:06"
    );
    let wall = api
        .get(
            &format!("/v1/metrics/responsiveness?{window}"),
            Some(&f.acme),
        )
        .await;
    assert_eq!(
        wall.body["groups"][0]["first_response"]["avg_ms"],
        (30 * MINUTE + m4) / 2
    );
    let bad = api
        .get("/v1/metrics/responsiveness?clock=sundial", Some(&f.acme))
        .await;
    assert_eq!(bad.status, 400);

    // The view over the stored replies has the same business latencies.
    let db = &f.database;
    let view = f
        .stack
        .clickhouse(&format!(
            "SELECT toInt64(floor(avg(reply_latency_business_ms) + 0.5)) FROM {db}.business_reply_latencies \
             WHERE tenant_id = 'acme' AND is_first_response = 1 FORMAT TSV"
        ))
        .await;
    assert_eq!(view.trim(), ((m10 + m4) / 2).to_string());

    // SLAs. Email: answered 09:30 (due 09:35), next reply 10:05 (due 10:30), solved 10:06: all
    // met. Chat: answered 11:04 (due 11:15) met; the customer's 12:20 message is unanswered and
    // its resolution open: both long overdue. Bob's ticket: no answer, no resolution.
    let answer = api
        .get(&format!("/v1/metrics/sla?{window}"), Some(&f.acme))
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    openapi::assert_conforms(&openapi::document(), "SlaReport", &answer.body);
    let outcome = |g: &Value| {
        (
            g["target"].as_str().unwrap().to_owned(),
            g["conversations"].as_u64().unwrap(),
            g["met"].as_u64().unwrap(),
            g["breached"].as_u64().unwrap(),
            g["met_pct"].as_f64(),
        )
    };
    let all: Vec<_> = answer.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(outcome)
        .collect();
    assert_eq!(
        all,
        [
            ("first_response".to_owned(), 3, 2, 1, Some(66.7)),
            ("next_reply".to_owned(), 2, 1, 1, Some(50.0)),
            ("resolution".to_owned(), 3, 1, 2, Some(33.3)),
        ]
    );
    // Per week, the API and the sla_weekly view agree row for row (one week here).
    let weekly = api
        .get(
            &format!("/v1/metrics/sla?{window}&group_by=week"),
            Some(&f.acme),
        )
        .await;
    let api_rows: Vec<String> = weekly.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                g["key"].as_str().unwrap(),
                g["target"].as_str().unwrap(),
                g["conversations"],
                g["met"],
                g["breached"],
                g["active"],
                g["met_pct"].as_f64().unwrap()
            )
        })
        .collect();
    let view = f
        .stack
        .clickhouse(&format!(
            "SELECT week, target, sum(conversations), sum(met), sum(breached), sum(active), \
             floor(1000 * sum(met) / (sum(met) + sum(breached)) + 0.5) / 10 \
             FROM {db}.sla_weekly WHERE tenant_id = 'acme' GROUP BY week, target \
             ORDER BY week, indexOf(['first_response', 'next_reply', 'resolution'], target) FORMAT TSV"
        ))
        .await;
    assert_eq!(view.lines().collect::<Vec<_>>(), api_rows);
    assert_eq!(api_rows.len(), 3);
    // globex has no policy: nothing.
    let globex = api.get("/v1/metrics/sla", Some(&f.globex)).await;
    assert_eq!(globex.body["groups"], serde_json::json!([]));

    // The current wait in business time: Bob has waited since Monday 09:00, which the office
    // calendar counts from 09:20 on weekdays only; globex's chat (24/7) waits as long on both
    // clocks.
    let waiting = api.get("/v1/unanswered", Some(&f.acme)).await;
    assert_eq!(waiting.status, 200, "{:#}", waiting.body);
    openapi::assert_conforms(&openapi::document(), "Unanswered", &waiting.body);
    let as_of = Timestamp::parse_rfc3339(waiting.body["as_of"].as_str().unwrap())
        .unwrap()
        .as_millis();
    let hours = rapport_calendar::BusinessHours::from_config(&sections.business_hours).unwrap();
    let office = hours.calendar("office").unwrap();
    let bob = waiting.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversation_id"] == BOB_TICKET)
        .unwrap();
    assert_eq!(bob["waiting_business_ms"], office.business_ms(ms(0), as_of));
    assert!(
        bob["waiting_business_ms"].as_i64().unwrap() < bob["waiting_ms"].as_i64().unwrap() / 3,
        "{bob:#}"
    );
    let globex = api.get("/v1/unanswered", Some(&f.globex)).await;
    for c in globex.body["conversations"].as_array().unwrap() {
        assert_eq!(c["waiting_business_ms"], c["waiting_ms"], "{c:#}");
    }
    f.drop().await;
}

/// The caller's SLA targets at risk now, soonest due first, a page at a time, with the filters
/// of the responsiveness page and a team, and the same rows as the read model the page lists.
#[tokio::test]
async fn sla_at_risk_lists_the_callers_targets_soonest_due_first() {
    let f = Fixture::new("api_at_risk").await;
    // 24/7 for both tenants: a first response within 20 min, at risk 15 min before, so a
    // conversation that started at s is at risk from s + 5 min and breaches at s + 20 min.
    let sla: rapport_responsiveness::SlaConfig = toml::from_str(
        r#"
at_risk_before = "15m"
[[policies]]
name = "standard"
tenant = "acme"
calendar = "24/7"
first_response = "20m"
[[policies]]
name = "gold"
tenant = "globex"
calendar = "24/7"
first_response = "20m"
"#,
    )
    .unwrap();
    let rules = rapport_clickhouse::state::Rules::from_config(&Default::default(), &sla).unwrap();
    let now = Timestamp::now().as_millis();
    let started = |minutes_ago: i64| now - minutes_ago * MINUTE;
    let (risk_a, risk_b, risk_e) = (
        "intercom:risk-a",
        "email:<risk-b@mail.example.com>",
        "zendesk:risk-e",
    );
    f.insert_with(
        &[
            // Due in 10 min (chat, support).
            Ev::new("acme", risk_a, "a1", started(10), Customer)
                .who(Email, "ann@example.com")
                .team("support"),
            // Due in 5 min (email, billing).
            Ev::new("acme", risk_b, "b1", started(15), Customer)
                .who(Email, "bea@example.com")
                .team("billing"),
            // At risk only in 2 min: not listed.
            Ev::new("acme", "zendesk:risk-c", "c1", started(3), Customer)
                .who(Email, "cy@example.com")
                .team("support"),
            // Due 5 min ago: breached, not at risk.
            Ev::new("acme", "intercom:risk-d", "d1", started(25), Customer)
                .who(Email, "dee@example.com")
                .team("support"),
            // Due in 8 min (support, tier1).
            Ev::new("acme", risk_e, "e1", started(12), Customer)
                .who(Email, "eve@example.com")
                .team("tier1"),
            // Another tenant's, due in 9 min.
            Ev::new("globex", "intercom:risk-g", "g1", started(11), Customer)
                .who(Email, "gil@example.com"),
        ],
        &rules,
    )
    .await;
    let api = f.serve().await;
    let doc = openapi::document();
    let listed = |answer: &fixture::Answer| -> Vec<String> {
        answer.body["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("no targets in {:#}", answer.body))
            .iter()
            .map(|t| t["conversation_id"].as_str().unwrap().to_owned())
            .collect()
    };

    let all = api.get("/v1/sla/at-risk", Some(&f.acme)).await;
    assert_eq!(all.status, 200, "{:#}", all.body);
    openapi::assert_conforms(&doc, "AtRiskPage", &all.body);
    assert_eq!(listed(&all), [risk_b, risk_e, risk_a]);
    assert_eq!(all.body["next_cursor"], Value::Null);
    let as_of = Timestamp::parse_rfc3339(all.body["as_of"].as_str().unwrap())
        .unwrap()
        .as_millis();
    let b = &all.body["targets"][0];
    assert_eq!(b["target"], "first_response");
    assert_eq!(b["policy"], "standard");
    assert_eq!(
        (b["channel"].as_str(), b["team"].as_str()),
        (Some("email"), Some("billing"))
    );
    assert_eq!(b["started_at"], rfc3339(started(15)));
    assert_eq!(b["at_risk_at"], rfc3339(started(15) + 5 * MINUTE));
    assert_eq!(b["due_at_ms"], started(15) + 20 * MINUTE);
    assert_eq!(b["due_at"], rfc3339(started(15) + 20 * MINUTE));
    assert_eq!(b["left_ms"], started(15) + 20 * MINUTE - as_of);
    let a = &all.body["targets"][2];
    assert_eq!(
        (a["channel"].as_str(), a["team"].as_str()),
        (Some("chat"), Some("support"))
    );
    assert_eq!(a["due_at_ms"], started(10) + 20 * MINUTE);

    // The rows the responsiveness page lists, from the one read model, at the same instant.
    let model = rapport_clickhouse::read::sla::at_risk(
        &f.client,
        &rapport_clickhouse::read::sla::AtRiskQuery {
            tenant_id: "acme",
            channel: None,
            team: None,
            now: as_of,
            after: None,
            limit: 25,
        },
    )
    .await
    .unwrap();
    let from_model: Vec<(String, String, i64, i64)> = model
        .iter()
        .map(|r| {
            (
                r.conversation_id.clone(),
                r.target.clone(),
                r.due_at_ms,
                r.at_risk_at_ms,
            )
        })
        .collect();
    let from_api: Vec<(String, String, i64, i64)> = all.body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["conversation_id"].as_str().unwrap().to_owned(),
                t["target"].as_str().unwrap().to_owned(),
                t["due_at_ms"].as_i64().unwrap(),
                Timestamp::parse_rfc3339(t["at_risk_at"].as_str().unwrap())
                    .unwrap()
                    .as_millis(),
            )
        })
        .collect();
    assert_eq!(from_api, from_model);

    // Pages: two, then the last one, never repeating or skipping.
    let first = api.get("/v1/sla/at-risk?limit=2", Some(&f.acme)).await;
    assert_eq!(listed(&first), [risk_b, risk_e]);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = api
        .get(
            &format!("/v1/sla/at-risk?limit=2&cursor={cursor}"),
            Some(&f.acme),
        )
        .await;
    assert_eq!(second.status, 200, "{:#}", second.body);
    assert_eq!(listed(&second), [risk_a]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    // A cursor holds its tenant and filters.
    let refiltered = api
        .get(
            &format!("/v1/sla/at-risk?channel=chat&cursor={cursor}"),
            Some(&f.acme),
        )
        .await;
    assert_eq!((refiltered.status, refiltered.code()), (400, "bad_cursor"));
    let stolen = api
        .get(&format!("/v1/sla/at-risk?cursor={cursor}"), Some(&f.globex))
        .await;
    assert_eq!((stolen.status, stolen.code()), (400, "bad_cursor"));

    // The page's channel filter, and a team.
    let chat = api.get("/v1/sla/at-risk?channel=chat", Some(&f.acme)).await;
    assert_eq!(listed(&chat), [risk_a]);
    assert_eq!(chat.body["channel"], "chat");
    let support = api.get("/v1/sla/at-risk?team=support", Some(&f.acme)).await;
    assert_eq!(listed(&support), [risk_a]);
    assert_eq!(support.body["team"], "support");
    let tier1 = api
        .get("/v1/sla/at-risk?channel=support&team=tier1", Some(&f.acme))
        .await;
    assert_eq!(listed(&tier1), [risk_e]);
    // A filter is a bound value, never SQL.
    let hostile = api
        .get("/v1/sla/at-risk?team=x'%20OR%20'1'='1", Some(&f.acme))
        .await;
    assert_eq!(hostile.status, 200, "{:#}", hostile.body);
    assert!(listed(&hostile).is_empty(), "{:#}", hostile.body);

    // Authenticated, and bound to the key's tenant.
    let anonymous = api.get("/v1/sla/at-risk", None).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "missing_key"));
    let globex = api.get("/v1/sla/at-risk", Some(&f.globex)).await;
    assert_eq!(listed(&globex), ["intercom:risk-g"]);
    assert_eq!(globex.body["targets"][0]["policy"], "gold");
    for bad in [
        "limit=0",
        "limit=501",
        "channel=fax",
        "cursor=x.y",
        "due=soon",
    ] {
        let answer = api
            .get(&format!("/v1/sla/at-risk?{bad}"), Some(&f.acme))
            .await;
        assert_eq!(answer.status, 400, "{bad}: {:#}", answer.body);
    }
    f.drop().await;
}
