//! The read path as operations see it: a ClickHouse restart changes no answer, and a small
//! tenant's requests read only its own rows however large another tenant is.

#[path = "support/fixture.rs"]
mod fixture;

use fixture::*;
use rapport_clickhouse::read;
use rapport_model::ActorRole::{Agent, Customer, System};
use rapport_model::IdentityType::Email;
use rapport_testkit::{PrivateClickHouse, Stack};
use serde_json::Value;

#[tokio::test]
async fn every_endpoint_and_view_answers_the_same_after_clickhouse_restarts() {
    let clickhouse = PrivateClickHouse::start("api-restart");
    let stack = Stack {
        clickhouse_url: clickhouse.url(),
        ..Stack::from_env()
    };
    let fixture = Fixture::on("api_restart", stack).await;
    let server = fixture.serve().await;
    let before = answers(&server, &fixture).await;
    assert!(before.contains("maria@example.com"), "{before}");
    clickhouse.down();
    clickhouse.up();
    let after = answers(&server, &fixture).await;
    assert_eq!(before, after, "the same answers after a restart");
}

/// Rows a query read, from `system.query_log`, for the queries whose text mentions `marker`.
async fn rows_read(client: &clickhouse::Client, marker: &str, since: i64) -> Vec<(u64, String)> {
    client.query("SYSTEM FLUSH LOGS").execute().await.unwrap();
    client
        .query(
            "SELECT read_rows, substring(query, 1, 120) FROM system.query_log \
             WHERE type = 2 AND event_time >= toDateTime(?) AND query LIKE ? \
             AND query NOT LIKE '%query_log%'",
        )
        .bind(since)
        .bind(format!("%{marker}%"))
        .fetch_all::<(u64, String)>()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_small_tenants_requests_read_only_its_own_rows() {
    let fixture = Fixture::new("api_tenant_first").await;
    // A large tenant next to acme: 20,000 conversations of 10 events.
    let big = "bigtenant";
    let events: Vec<Ev> = (0..20_000)
        .flat_map(|c| {
            let conversation = format!("zendesk:{c}");
            (0..10).map(move |n| {
                let at = T0 + (c * 10 + n) * MINUTE;
                let id = format!("b{c}-{n}");
                match n % 3 {
                    0 => Ev::new(big, &conversation, &id, at, Customer)
                        .who(Email, &format!("p{c}@big.example")),
                    1 => Ev::new(big, &conversation, &id, at, Agent).agent("ana"),
                    _ => Ev::new(big, &conversation, &id, at, System).status("solved"),
                }
            })
        })
        .collect();
    fixture.insert(&events).await;
    fixture
        .stack
        .clickhouse(&format!(
            "OPTIMIZE TABLE {}.interaction_log FINAL",
            fixture.database
        ))
        .await;

    let logged = fixture
        .clickhouse
        .client()
        .with_setting("wait_end_of_query", "1")
        .with_setting("log_queries", "1");
    let tenant = "acme";
    let since = rapport_model::Timestamp::now().as_millis() / 1000 - 1;
    let customer = read::resolve_customer(&logged, tenant, "email:maria@example.com")
        .await
        .unwrap()
        .unwrap();
    read::timeline::page(
        &logged,
        &read::timeline::TimelineQuery {
            tenant_id: tenant,
            customer_id: &customer,
            order: read::Order::Desc,
            limit: 50,
            channel: None,
            from: None,
            to: None,
            after: None,
        },
    )
    .await
    .unwrap();
    read::customers::summary(&logged, tenant, &customer)
        .await
        .unwrap();
    read::conversations::events(&logged, tenant, BOB_TICKET, 1000)
        .await
        .unwrap();
    read::conversations::state(&logged, tenant, BOB_TICKET)
        .await
        .unwrap();
    read::responsiveness::report(
        &logged,
        &read::responsiveness::ReportQuery {
            tenant_id: tenant,
            from: T0 - 86_400_000,
            to: T0 + 86_400_000,
            channel: None,
            group_by: Some(read::responsiveness::GroupBy::Channel),
            clock: read::responsiveness::Clock::Wall,
        },
    )
    .await
    .unwrap();
    read::unanswered::page(
        &logged,
        &read::unanswered::UnansweredQuery {
            tenant_id: tenant,
            channel: None,
            since_at_most: None,
            limit: 50,
        },
    )
    .await
    .unwrap();
    let small = rows_read(&logged, &format!("'{tenant}'"), since).await;
    assert!(small.len() >= 8, "every read was logged: {small:?}");
    // A primary-key range reads whole granules (8192 rows), never the other tenant's 200,000.
    for (rows, query) in &small {
        assert!(*rows < 40_000, "{rows} rows read for acme by: {query}");
    }
    // The measure is real: the same reads for the large tenant read its rows.
    read::responsiveness::report(
        &logged,
        &read::responsiveness::ReportQuery {
            tenant_id: big,
            from: T0 - 86_400_000,
            to: T0 + 400 * 86_400_000,
            channel: None,
            group_by: None,
            clock: read::responsiveness::Clock::Wall,
        },
    )
    .await
    .unwrap();
    let large = rows_read(&logged, &format!("'{big}'"), since).await;
    assert!(large.iter().any(|(rows, _)| *rows > 40_000), "{large:?}");
    fixture.drop().await;
}

/// The operator's CLI and the API are two presentations of one read model: for the same tenant
/// and period, `rapport report --json` prints the API's report groups and `rapport timeline`
/// the API's timeline, item for item. (`rapport` comes from the workspace build, as in the
/// whole-pipeline tests.)
#[tokio::test]
async fn rapport_report_and_timeline_give_the_apis_answers() {
    let fixture = Fixture::new("api_same_as_cli").await;
    let server = fixture.serve().await;
    let rapport = |args: &[&str]| {
        let out = std::process::Command::new(rapport_testkit::binary("rapport"))
            .args(args)
            .env("RAPPORT_CLICKHOUSE__URL", &fixture.clickhouse.url)
            .env("RAPPORT_CLICKHOUSE__DATABASE", &fixture.database)
            .env("RAPPORT_TENANT_ID", "acme")
            .env("RUST_LOG", "error")
            .output()
            .expect("rapport runs");
        assert!(
            out.status.success(),
            "rapport {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (from, to) = ("2024-06-03T00:00:00Z", "2024-06-04T00:00:00Z");
    for group_by in ["channel", "team", "agent", "day"] {
        let api = server
            .get(
                &format!("/v1/metrics/responsiveness?from={from}&to={to}&group_by={group_by}"),
                Some(fixture.acme.as_str()),
            )
            .await;
        assert_eq!(api.status, 200, "{}", api.body);
        let cli: Vec<Value> = rapport(&[
            "report",
            "--json",
            "--group-by",
            group_by,
            "--from",
            from,
            "--to",
            to,
        ])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        assert!(!cli.is_empty(), "the fixture has replies ({group_by})");
        assert_eq!(
            Value::Array(cli),
            api.body["groups"],
            "rapport report --group-by {group_by} and the API's groups"
        );
    }

    for customer in ["email:maria@example.com", BOB] {
        let api = server
            .get(
                &format!("/v1/customers/{customer}/timeline?order=asc&limit=500"),
                Some(fixture.acme.as_str()),
            )
            .await;
        assert_eq!(api.status, 200, "{}", api.body);
        let api_ids: Vec<&str> = api.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["event_id"].as_str().unwrap())
            .collect();
        let cli = rapport(&["timeline", customer, "--json", "--limit", "500"]);
        let cli_ids: Vec<String> = cli
            .lines()
            .map(|l| {
                let line: Value = serde_json::from_str(l).unwrap();
                line["event_id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(!cli_ids.is_empty(), "{customer} has a history");
        assert_eq!(
            cli_ids, api_ids,
            "rapport timeline {customer} and the API's"
        );
    }
    fixture.drop().await;
}

/// A customer with more conversations than one query's keys carry (here 400 with 700-byte ids,
/// 280 KB of keys against ClickHouse's 256 KiB `max_query_size`) still has a timeline and a
/// summary, and is in the unanswered queue: a page read whole (a channel she never used, or a page larger than her history)
/// names her conversations by subquery instead of listing them, and their stored states are
/// read a chunk of keys at a time.
#[tokio::test]
async fn a_customer_with_more_conversations_than_a_query_can_list_is_read_in_full() {
    let fixture = Fixture::new("api_many_conversations").await;
    let long = "x".repeat(700);
    let events: Vec<Ev> = (0..400)
        .map(|c| {
            Ev::new(
                "acme",
                &format!("zendesk:{long}-{c}"),
                &format!("many-{c}"),
                T0 + c * MINUTE,
                Customer,
            )
            .who(Email, "maria@example.com")
        })
        .collect();
    fixture.insert(&events).await;
    let client = fixture.clickhouse.client();
    let customer = read::resolve_customer(&client, "acme", "email:maria@example.com")
        .await
        .unwrap()
        .unwrap();
    let page = |channel: Option<&'static str>, order, limit| {
        let client = client.clone();
        let customer = customer.clone();
        async move {
            read::timeline::page(
                &client,
                &read::timeline::TimelineQuery {
                    tenant_id: "acme",
                    customer_id: &customer,
                    order,
                    limit,
                    channel,
                    from: None,
                    to: None,
                    after: None,
                },
            )
            .await
            .unwrap()
        }
    };
    let none = page(Some("sms"), read::Order::Desc, 50).await;
    assert!(none.items.is_empty() && !none.more, "{none:?}");
    let all = page(None, read::Order::Asc, 1000).await;
    assert!(!all.more);
    let many = all
        .items
        .iter()
        .filter(|e| e.conversation_id.starts_with("zendesk:xxx"))
        .count();
    assert_eq!(many, 400);
    // Her other conversations are on the page too, in time order.
    assert!(all.items.len() > 400);
    assert!(
        all.items
            .windows(2)
            .all(|w| w[0].occurred_at_ms <= w[1].occurred_at_ms)
    );
    // The newest page is still read from the few conversations that hold it.
    let newest = page(None, read::Order::Desc, 10).await;
    assert_eq!(newest.items.len(), 10);
    assert!(newest.more);
    // The customer's summary reads the stored state of every one of them.
    let summary = read::customers::summary(&client, "acme", &customer)
        .await
        .unwrap();
    let states = summary
        .conversation_states
        .iter()
        .filter(|c| c.conversation_id.starts_with("zendesk:xxx"))
        .count();
    assert_eq!(states, 400);
    // Unanswered, every one of them: the page's states are read a chunk of keys at a time too.
    let waiting = read::unanswered::page(
        &client,
        &read::unanswered::UnansweredQuery {
            tenant_id: "acme",
            channel: Some("support"),
            since_at_most: None,
            limit: 500,
        },
    )
    .await
    .unwrap();
    let long_waits = waiting
        .iter()
        .filter(|w| w.state.conversation_id.starts_with("zendesk:xxx"))
        .count();
    assert_eq!(long_waits, 400);
    // 300 other customers waiting, each under an identifier of 900 bytes: their customers are
    // looked up a chunk of keys at a time, each identifier once.
    let others: Vec<Ev> = (0..300)
        .map(|c| {
            Ev::new(
                "acme",
                &format!("zendesk:other-{c}"),
                &format!("other-{c}"),
                T0 - 1000 * MINUTE + c * MINUTE,
                Customer,
            )
            .who(Email, &format!("{}{c}@example.com", "y".repeat(880)))
        })
        .collect();
    fixture.insert(&others).await;
    let waiting = read::unanswered::page(
        &client,
        &read::unanswered::UnansweredQuery {
            tenant_id: "acme",
            channel: Some("support"),
            since_at_most: None,
            limit: 500,
        },
    )
    .await
    .unwrap();
    let other_waits = waiting
        .iter()
        .filter(|w| w.state.conversation_id.starts_with("zendesk:other-"))
        .count();
    assert_eq!(other_waits, 300);
    fixture.drop().await;
}

/// An unanswered page is the head of the whole queue, in the order of the wait, however the
/// waits are spread (a sparse old stretch, a dense recent cluster), for any limit, cutoff and
/// channel, and whatever chunks the candidates are read in.
#[tokio::test]
async fn unanswered_pages_are_the_queues_head_however_the_waits_are_spread() {
    let fixture = Fixture::new("api_unanswered_windows").await;
    const DAY: i64 = 24 * 60 * MINUTE;
    let mut times: Vec<i64> = vec![T0 - 400 * DAY, T0 - 399 * DAY, T0 - 100 * DAY];
    times.extend((0..300).map(|i| T0 - 10 * DAY + i * MINUTE));
    times.extend((0..40).map(|i| T0 - 3 * DAY + i * 7 * MINUTE));
    let events: Vec<Ev> = times
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let conversation = if i % 5 == 0 {
                format!("intercom:w{i}")
            } else {
                format!("zendesk:w{i}")
            };
            Ev::new("acme", &conversation, &format!("w{i}"), *at, Customer)
                .who(Email, &format!("w{i}@example.com"))
        })
        .collect();
    fixture.insert(&events).await;
    let client = fixture.clickhouse.client();
    for (limit, channel, cutoff) in [
        (1, None, None),
        (7, None, None),
        (50, None, None),
        (200, None, None),
        (500, None, None),
        (50, Some("chat"), None),
        (20, None, Some(T0 - 5 * DAY)),
        (20, Some("support"), Some(T0 - 399 * DAY)),
    ] {
        let page = read::unanswered::page(
            &client,
            &read::unanswered::UnansweredQuery {
                tenant_id: "acme",
                channel,
                since_at_most: cutoff,
                limit,
            },
        )
        .await
        .unwrap();
        let got: Vec<String> = page
            .iter()
            .map(|w| w.state.conversation_id.clone())
            .collect();
        let mut sql = format!(
            "SELECT conversation_id FROM {}.conversations FINAL WHERE tenant_id = 'acme' \
             AND is_waiting = 1",
            fixture.database
        );
        if let Some(channel) = channel {
            sql.push_str(&format!(" AND channel = '{channel}'"));
        }
        if let Some(cutoff) = cutoff {
            sql.push_str(&format!(" AND waiting_since_ms <= {cutoff}"));
        }
        sql.push_str(&format!(
            " ORDER BY waiting_since_ms, conversation_id LIMIT {limit}"
        ));
        let expected: Vec<String> = fixture
            .stack
            .clickhouse(&sql)
            .await
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(got, expected, "limit {limit}, {channel:?}, {cutoff:?}");
    }
    fixture.drop().await;
}
