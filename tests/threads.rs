//! Email threads independent of arrival order, through the running pipeline (normalizer →
//! writer): four email threads, each broken the way real mail breaks threading (a parent that
//! arrives after its replies, a client that sends only `In-Reply-To`, `References` trimmed by a
//! list, a middle message that arrives last), are sent in five arrival orders, one message per
//! writer batch. Whatever the order, the read model (`rapport_clickhouse::read`, what the API and
//! the CLI answer from), the stored state tables and the views must show the same four
//! conversations, each with all of its messages and the same first-response time, no reply
//! counted twice, and no wait left open (neither the threads' nor those of the guessed
//! conversations the joins emptied).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rapport_clickhouse::read;
use rapport_model::{Channel, Source, Timestamp};
use rapport_testkit::Stack;
use rapport_traffic::RawRecord;

mod support;
use support::{Pipeline, expected};

const DAY: &str = "2024-06-03";

/// One message of a thread: its id, who wrote it, when (minutes after 09:00), and the
/// threading headers the sending client wrote.
struct Mail {
    id: &'static str,
    agent: bool,
    minute: i64,
    in_reply_to: &'static [&'static str],
    references: &'static [&'static str],
}

const fn mail(
    id: &'static str,
    agent: bool,
    minute: i64,
    in_reply_to: &'static [&'static str],
    references: &'static [&'static str],
) -> Mail {
    Mail {
        id,
        agent,
        minute,
        in_reply_to,
        references,
    }
}

/// The four threads, chronologically. The first response of each (minutes) is in [`FRT`].
const THREADS: [&[Mail]; 4] = [
    // a: well-formed headers; the order decides whether the parent comes late.
    &[
        mail("a1", false, 0, &[], &[]),
        mail("a2", true, 30, &["a1"], &["a1"]),
        mail("a3", false, 60, &["a2"], &["a1", "a2"]),
        mail("a4", true, 80, &["a3"], &["a1", "a2", "a3"]),
    ],
    // b: a client that sends only In-Reply-To: every reply names its parent, not the root.
    &[
        mail("b1", false, 120, &[], &[]),
        mail("b2", true, 165, &["b1"], &[]),
        mail("b3", false, 180, &["b2"], &[]),
        mail("b4", true, 190, &["b3"], &[]),
    ],
    // c: References trimmed to the last two ids by a mailing list from c4 on.
    &[
        mail("c1", false, 240, &[], &[]),
        mail("c2", true, 255, &["c1"], &["c1"]),
        mail("c3", false, 270, &["c2"], &["c1", "c2"]),
        mail("c4", true, 290, &["c3"], &["c2", "c3"]),
        mail("c5", false, 300, &["c4"], &["c3", "c4"]),
        mail("c6", true, 305, &["c5"], &["c4", "c5"]),
    ],
    // d: In-Reply-To only again; d2, the one message linking d1 to the rest, is the middle
    // message some orders deliver last.
    &[
        mail("d1", false, 360, &[], &[]),
        mail("d2", true, 390, &["d1"], &[]),
        mail("d3", false, 400, &["d2"], &[]),
        mail("d4", true, 410, &["d3"], &[]),
    ],
];

/// Each thread's root and first response (first agent reply − first customer message), minutes.
const FRT: [(&str, i64); 4] = [("a1", 30), ("b1", 45), ("c1", 15), ("d1", 30)];

/// The arrival orders, as indexes into the chronological list of every thread's messages.
fn orders() -> Vec<(&'static str, Vec<&'static Mail>)> {
    let all: Vec<&Mail> = THREADS.iter().flat_map(|t| t.iter()).collect();
    let roots = |m: &&Mail| m.id.ends_with('1');
    let middles = |m: &&Mail| ["a2", "b2", "c3", "d2"].contains(&m.id);
    let chronological = all.clone();
    let mut reversed = all.clone();
    reversed.reverse();
    let parents_late: Vec<&Mail> = all
        .iter()
        .filter(|m| !roots(m))
        .chain(all.iter().filter(|m| roots(m)))
        .copied()
        .collect();
    let middles_late: Vec<&Mail> = all
        .iter()
        .filter(|m| !middles(m))
        .chain(all.iter().filter(|m| middles(m)))
        .copied()
        .collect();
    // A fixed shuffle (a stride through the list), so a failure names a reproducible order.
    let n = all.len();
    let shuffled: Vec<&Mail> = (0..n).map(|i| all[(i * 7 + 3) % n]).collect();
    assert_eq!(
        shuffled.iter().map(|m| m.id).collect::<BTreeSet<_>>().len(),
        n,
        "the stride visits every message once"
    );
    vec![
        ("chronological", chronological),
        ("reversed", reversed),
        ("parents_late", parents_late),
        ("middles_late", middles_late),
        ("shuffled", shuffled),
    ]
}

/// The Message-ID of `id` in order `o`: every order has messages (and so conversations) of its
/// own in the one tenant.
fn message_id(id: &str, o: usize) -> String {
    format!("{id}.o{o}@mail.example")
}

fn raw(m: &Mail, o: usize) -> RawRecord {
    let at = Timestamp::parse_rfc3339(&format!("{DAY}T09:00:00Z")).unwrap();
    let at = Timestamp::from_millis(at.as_millis() + m.minute * 60_000);
    let date = at.to_datetime().format("%a, %d %b %Y %H:%M:%S +0000");
    let customer = format!("customer{o}@cust.example");
    let (from, to) = if m.agent {
        ("Kim <kim@acme.com>".to_owned(), customer.clone())
    } else {
        (format!("Customer <{customer}>"), "help@acme.com".to_owned())
    };
    let ids = |list: &[&str]| {
        list.iter()
            .map(|r| format!("<{}>", message_id(r, o)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut eml = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Order {o}\r\nDate: {date}\r\nMessage-ID: <{}>\r\n",
        message_id(m.id, o)
    );
    if !m.in_reply_to.is_empty() {
        eml.push_str(&format!("In-Reply-To: {}\r\n", ids(m.in_reply_to)));
    }
    if !m.references.is_empty() {
        eml.push_str(&format!("References: {}\r\n", ids(m.references)));
    }
    eml.push_str(&format!("\r\nMessage {} of order {o}.\r\n", m.id));
    RawRecord {
        channel: Channel::Email,
        key: customer,
        source: Source::Rfc822,
        tenant: "acme".into(),
        received_at: at,
        payload: eml.into_bytes(),
        invalid: false,
    }
}

/// What one order's conversations look like: root → (messages, first response ms).
type Answer = BTreeMap<String, (usize, Option<i64>)>;

/// The order's conversations as the read model answers them (the API's
/// `GET /v1/conversations/{id}`): every message's conversation resolved to its thread, each
/// thread's stored state and events.
async fn read_model(client: &rapport_clickhouse::Client, o: usize) -> Answer {
    let mut answer = Answer::new();
    for thread in THREADS {
        for m in thread {
            let asked = format!("email:{}", message_id(m.id, o));
            let conversation = read::conversations::thread_of(client, "acme", &asked)
                .await
                .unwrap();
            if answer.contains_key(&conversation) {
                continue;
            }
            let Some(state) = read::conversations::state(client, "acme", &conversation)
                .await
                .unwrap()
            else {
                continue;
            };
            let (events, _) = read::conversations::events(client, "acme", &conversation, 100)
                .await
                .unwrap();
            answer.insert(conversation, (events.len(), state.first_response_ms));
        }
    }
    answer
}

/// The same from the stored `conversations` rows and from the `responsiveness` view, and every
/// counted reply (`replies` with a latency, which the reports read) per conversation.
async fn tables(pipeline: &Pipeline, o: usize) -> (Answer, Answer, BTreeMap<String, u64>) {
    let like = format!("%.o{o}@mail.example");
    let rows = |sql: String| async move {
        pipeline
            .query(&sql)
            .await
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let parse = |rows: Vec<Vec<String>>| -> Answer {
        rows.into_iter()
            .map(|r| (r[0].clone(), (r[1].parse().unwrap(), r[2].parse().ok())))
            .collect()
    };
    let stored = parse(
        rows(format!(
            "SELECT conversation_id, events, first_response_ms FROM conversations FINAL \
             WHERE tenant_id = 'acme' AND events > 0 AND conversation_id LIKE '{like}' FORMAT TSV"
        ))
        .await,
    );
    let view = parse(
        rows(format!(
            "SELECT conversation_id, customer_messages + human_replies, first_response_ms \
             FROM responsiveness WHERE tenant_id = 'acme' AND conversation_id LIKE '{like}' FORMAT TSV"
        ))
        .await,
    );
    let replies = rows(format!(
        "SELECT conversation_id, count() FROM replies FINAL WHERE tenant_id = 'acme' \
         AND has_latency = 1 AND conversation_id LIKE '{like}' GROUP BY conversation_id FORMAT TSV"
    ))
    .await
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect();
    (stored, view, replies)
}

#[tokio::test]
async fn every_arrival_order_gives_the_same_threads_and_first_response_times() {
    let stack = Stack::from_env();
    let pipeline = Pipeline::new(
        "e2e-threads",
        stack.kafka.clone(),
        stack.clickhouse_url.clone(),
    )
    .await;
    let orders = orders();
    let _normalizer = pipeline.start("normalizer").await;
    let _writer = pipeline.start("writer").await;

    // Step by step: the n-th message of every order together, each step stored (and so its
    // batch threaded and its state recomputed) before the next is sent, so within one order
    // the messages really arrive one after the other.
    let steps = orders[0].1.len();
    let mut sent = Vec::new();
    let mut ever_waited = BTreeSet::new();
    for step in 0..steps {
        let records: Vec<RawRecord> = orders
            .iter()
            .enumerate()
            .map(|(o, (_, order))| raw(order[step], o))
            .collect();
        pipeline.produce(&records).await;
        sent.extend(records);
        let (ids, invalid) = expected(&sent);
        assert!(invalid.is_empty());
        pipeline.wait_for_store(&ids, Duration::from_secs(60)).await;
        // The state is stored after the batch's rows: wait until every sent message is in
        // some conversation's stored count.
        let want = sent.len();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let counted: usize = pipeline
                .query(
                    "SELECT sum(events) FROM conversations FINAL WHERE tenant_id = 'acme' FORMAT TSV",
                )
                .await
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            if counted == want {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "after step {step}, stored conversations count {counted} events of {want}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Merges drop a closed wait's pair of rows, so the waits are recorded as they open.
        ever_waited.extend(
            pipeline
                .query(
                    "SELECT conversation_id FROM waiting WHERE tenant_id = 'acme' \
                     GROUP BY conversation_id HAVING sum(sign) > 0 FORMAT TSV",
                )
                .await
                .expect("the waiting table answers")
                .lines()
                .map(str::to_owned),
        );
    }

    let client = rapport_clickhouse::ClickHouseConfig {
        url: pipeline.clickhouse_url.clone(),
        database: pipeline.database.clone(),
        ..Default::default()
    }
    .client()
    .with_setting("wait_end_of_query", "1");

    // Hand-computed: each thread under its root's id, all its messages, its first response.
    for (o, (name, _)) in orders.iter().enumerate() {
        // The adapters alone split the threads (b3, b4, c4, c5, c6, d3, d4 guess a conversation
        // of their own): the answers below hold only because the pieces were joined.
        let split: usize = pipeline
            .query(&format!(
                "SELECT uniqExact(conversation_id) FROM interaction_log WHERE tenant_id = 'acme' \
                 AND conversation_id LIKE '%.o{o}@mail.example' FORMAT TSV"
            ))
            .await
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        assert!(
            split > FRT.len(),
            "order {name}: the adapters' guesses make {split} conversations"
        );
        let want: Answer = FRT
            .iter()
            .zip(THREADS)
            .map(|((root, minutes), thread)| {
                (
                    format!("email:{}", message_id(root, o)),
                    (thread.len(), Some(minutes * 60_000)),
                )
            })
            .collect();
        let answer = read_model(&client, o).await;
        assert_eq!(answer, want, "read model, order {name}");
        let (stored, view, replies) = tables(&pipeline, o).await;
        assert_eq!(stored, want, "stored conversations, order {name}");
        assert_eq!(view, want, "responsiveness view, order {name}");
        let agent_replies: BTreeMap<String, u64> = FRT
            .iter()
            .zip(THREADS)
            .map(|((root, _), thread)| {
                (
                    format!("email:{}", message_id(root, o)),
                    thread.iter().filter(|m| m.agent).count() as u64,
                )
            })
            .collect();
        assert_eq!(
            replies, agent_replies,
            "replies counted by the reports, order {name}"
        );
        // Every thread ends with an agent's reply, so nothing waits: not the threads, and not
        // the adapters' guessed conversations that were emptied into them (a customer message
        // that came before its parent waited there until the join moved it).
        let open_waits = pipeline
            .query(&format!(
                "SELECT conversation_id, sum(sign) AS open FROM waiting WHERE tenant_id = 'acme' \
                 AND conversation_id LIKE '%.o{o}@mail.example' GROUP BY conversation_id \
                 HAVING open != 0 ORDER BY conversation_id FORMAT TSV"
            ))
            .await
            .expect("the waiting table answers");
        assert_eq!(open_waits, "", "waits left open, order {name}");
        let waiting_state = pipeline
            .query(&format!(
                "SELECT conversation_id FROM conversations FINAL WHERE tenant_id = 'acme' \
                 AND is_waiting = 1 AND conversation_id LIKE '%.o{o}@mail.example' \
                 ORDER BY conversation_id FORMAT TSV"
            ))
            .await
            .expect("the conversations table answers");
        assert_eq!(
            waiting_state, "",
            "conversations stored as waiting, order {name}"
        );
    }
    // The waits checked above were not all in the threads' own conversations: some orders
    // open waits in guessed ones (a customer message whose parent had not come yet).
    let roots: BTreeSet<String> = (0..orders.len())
        .flat_map(|o| {
            FRT.iter()
                .map(move |(root, _)| format!("email:{}", message_id(root, o)))
        })
        .collect();
    let guessed: Vec<&String> = ever_waited.difference(&roots).collect();
    assert!(!guessed.is_empty(), "no guessed conversation ever waited");
    let unanswered = read::unanswered::page(
        &client,
        &read::unanswered::UnansweredQuery {
            tenant_id: "acme",
            channel: None,
            since_at_most: None,
            limit: 100,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        unanswered
            .iter()
            .map(|w| w.state.conversation_id.as_str())
            .collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "unanswered conversations"
    );
}
