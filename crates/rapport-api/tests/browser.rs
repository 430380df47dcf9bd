//! The web pages in a real browser: headless Chromium (Debian's `chromium`, which
//! `make test-browser` installs) driven over the DevTools protocol against the API serving the
//! fixture of `support/fixture.rs` plus four weeks of traffic generated from a fixed seed and a
//! hostile chat message. It signs in through the form, checks what a person would look at (the
//! timeline's order, the open wait, a hostile message shown as text, the reply latencies, the
//! charts' points), walks the timeline with the keyboard, and saves a screenshot of each page to
//! `RAPPORT_SCREENSHOTS` (`make screenshots` writes `docs/screenshots/`), else to a directory
//! under the target directory.
//!
//! Built only with `--features browser-tests` (`make test-browser`), so the rest of the suite
//! needs no browser.

#[path = "support/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, Viewport};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use fixture::*;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rapport_model::ActorRole::{Agent, Customer, System};
use rapport_model::IdentityType::{Email, IntercomContact};
use serde_json::Value;

/// What a customer wrote to break the page: it must show as text, and nothing of it may run.
const HOSTILE: &str = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\"> & \"quotes\"";
const SEED: u64 = 42;
const DAY: i64 = 86_400_000;
/// The generated weeks end the day before the fixture's T0 (3 Jun 2024).
const DAYS: i64 = 28;
const HOUR: i64 = 3_600_000;

const TEXTS: &[&str] = &[
    "Hi, my invoice for last month shows two charges for the same plan. Can you check?",
    "The export to CSV stops at 10,000 rows. Is there a limit I can raise?",
    "I changed my email address but the receipts still go to the old one.",
    "Could you add my colleague to our account? She needs admin rights.",
    "The app logs me out every few minutes since this morning's update.",
    "Is there a discount for non-profits? We are a small charity.",
    "My order arrived damaged; the box was crushed. What can we do?",
    "How do I move my data to the EU region?",
];
const REPLIES: &[&str] = &[
    "Thanks for reaching out! I have looked into it and fixed it on our side.",
    "Good question. I have raised the limit on your account; try again now.",
    "Sorry about that. I have updated your details; the next one goes to the new address.",
    "Done! Let me know if anything else comes up.",
];
const AGENTS: &[&str] = &["ana", "ben", "cai", "dee"];

/// (UTC day number, channel) pairs.
type Days = BTreeSet<(i64, &'static str)>;

/// One generated conversation per channel and day, from a fixed seed: a customer message in
/// working hours, an agent's reply after a latency typical of the channel, and for email and
/// helpdesk tickets a resolution. Returns the events and the (day, channel) pairs that have a
/// first response and a resolution.
fn generated() -> (Vec<Ev>, Days, Days) {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut events = Vec::new();
    let (mut answered, mut resolved) = (BTreeSet::new(), BTreeSet::new());
    for d in 0..DAYS {
        let day = (T0 - (DAYS - d) * DAY).div_euclid(DAY) * DAY;
        for (channel, conversation, team, latency) in [
            (
                "email",
                format!("email:<w{d}@mail.example.com>"),
                "billing",
                (20 * MINUTE, 6 * HOUR),
            ),
            (
                "chat",
                format!("intercom:w{d}"),
                "support",
                (MINUTE / 2, 12 * MINUTE),
            ),
            (
                "support",
                format!("zendesk:w{d}"),
                "tier1",
                (HOUR, 20 * HOUR),
            ),
        ] {
            // Working hours, 08:00 to 17:00 UTC.
            let asked = day + 8 * HOUR + rng.random_range(0..9 * HOUR);
            let replied = asked + rng.random_range(latency.0..latency.1);
            let agent = AGENTS[rng.random_range(0..AGENTS.len())];
            let id = format!("{channel}-{d}");
            let customer = |e: Ev| match channel {
                "email" => e.who(Email, "maria@example.com"),
                "chat" => e.who(IntercomContact, "c-77"),
                _ => e.who(Email, "bob@example.com"),
            };
            events.push(
                customer(Ev::new(
                    "acme",
                    &conversation,
                    &format!("{id}-q"),
                    asked,
                    Customer,
                ))
                .team(team)
                .text(TEXTS[rng.random_range(0..TEXTS.len())]),
            );
            events.push(
                customer(Ev::new(
                    "acme",
                    &conversation,
                    &format!("{id}-a"),
                    replied,
                    Agent,
                ))
                .agent(agent)
                .team(team)
                .text(REPLIES[rng.random_range(0..REPLIES.len())]),
            );
            answered.insert((replied.div_euclid(DAY), channel));
            if channel != "chat" {
                let solved = replied + rng.random_range(MINUTE..4 * HOUR);
                events.push(
                    Ev::new("acme", &conversation, &format!("{id}-s"), solved, System)
                        .status("solved")
                        .team(team),
                );
                resolved.insert((solved.div_euclid(DAY), channel));
            }
        }
    }
    (events, answered, resolved)
}

/// The tenant the screenshots show: six customers and a month of traffic up to the moment the
/// test runs (so waits read "35 min", not years), from the fixed seed.
const NORTHWIND: &str = "northwind";
const PEOPLE: &[(&str, &str, Option<&str>)] = &[
    (
        "6d1f7c1e-6a41-5d0b-9d7e-0c0000000001",
        "olivia.martin@example.com",
        Some("c-4410"),
    ),
    (
        "6d1f7c1e-6a41-5d0b-9d7e-0c0000000002",
        "james.chen@example.org",
        Some("c-2230"),
    ),
    (
        "6d1f7c1e-6a41-5d0b-9d7e-0c0000000003",
        "amara.okafor@example.net",
        None,
    ),
    (
        "6d1f7c1e-6a41-5d0b-9d7e-0c0000000004",
        "lukas.weber@example.de",
        Some("c-9912"),
    ),
    (
        "6d1f7c1e-6a41-5d0b-9d7e-0c0000000005",
        "sofia.rossi@example.it",
        None,
    ),
    (
        "6d1f7c1e-6a41-5d0b-9d7e-0c0000000006",
        "noah.kim@example.com",
        Some("c-5081"),
    ),
];
/// Olivia, whose page the screenshot shows.
const OLIVIA: usize = 0;

struct Northwind {
    events: Vec<Ev>,
    /// The conversations waiting for a reply, longest wait first.
    waiting: Vec<String>,
    /// Olivia's chat that waits: answered once, then asked again.
    olivia_chat: String,
    answered: Days,
    resolved: Days,
}

fn northwind(now: i64) -> Northwind {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    let today = now.div_euclid(DAY) * DAY;
    let latest = now - 10 * MINUTE;
    let mut events = Vec::new();
    let (mut answered, mut resolved) = (BTreeSet::new(), BTreeSet::new());
    for back in (1..DAYS).rev() {
        let day = today - back * DAY;
        for (channel, latency) in [
            ("email", (20 * MINUTE, 6 * HOUR)),
            ("chat", (MINUTE / 2, 12 * MINUTE)),
            ("support", (HOUR, 20 * HOUR)),
        ] {
            for i in 0..rng.random_range(1..=2) {
                let who = if channel == "chat" {
                    [0, 1, 3, 5][rng.random_range(0..4)]
                } else {
                    rng.random_range(0..PEOPLE.len())
                };
                let (_, email, contact) = PEOPLE[who];
                let (conversation, team) = match channel {
                    "email" => (format!("email:<nw-{back}-{i}@mail.example.com>"), "billing"),
                    "chat" => (format!("intercom:nw-{back}-{i}"), "support"),
                    _ => (
                        format!("zendesk:nw-{back}-{i}"),
                        ["tier1", "tier2"][rng.random_range(0..2)],
                    ),
                };
                let customer = |e: Ev| match (channel, contact) {
                    ("chat", Some(contact)) => e.who(IntercomContact, contact),
                    _ => e.who(Email, email),
                };
                let id = format!("nw-{channel}-{back}-{i}");
                let asked = day + 8 * HOUR + rng.random_range(0..9 * HOUR);
                let replied = (asked + rng.random_range(latency.0..latency.1)).min(latest);
                let agent = AGENTS[rng.random_range(0..AGENTS.len())];
                events.push(
                    customer(Ev::new(
                        NORTHWIND,
                        &conversation,
                        &format!("{id}-q"),
                        asked,
                        Customer,
                    ))
                    .team(team)
                    .text(TEXTS[rng.random_range(0..TEXTS.len())]),
                );
                events.push(
                    customer(Ev::new(
                        NORTHWIND,
                        &conversation,
                        &format!("{id}-a"),
                        replied,
                        Agent,
                    ))
                    .agent(agent)
                    .team(team)
                    .text(REPLIES[rng.random_range(0..REPLIES.len())]),
                );
                answered.insert((replied.div_euclid(DAY), channel));
                let solved = replied + rng.random_range(MINUTE..4 * HOUR);
                if rng.random_range(0..10) < 8 && solved < latest {
                    events.push(
                        Ev::new(NORTHWIND, &conversation, &format!("{id}-s"), solved, System)
                            .status("solved")
                            .team(team),
                    );
                    resolved.insert((solved.div_euclid(DAY), channel));
                }
            }
        }
    }
    // Waiting now: Olivia's chat (answered after 3 minutes, then asked again 35 minutes ago), and
    // three others, the longest for over a day.
    let olivia_chat = "intercom:nw-now-olivia".to_owned();
    let contact = PEOPLE[OLIVIA].2.unwrap();
    let first = now - 3 * HOUR;
    events.push(
        Ev::new(NORTHWIND, &olivia_chat, "nw-now-olivia-1", first, Customer)
            .who(IntercomContact, contact)
            .team("support")
            .text(
                "Hi! Our team plan renews tomorrow; can we switch to yearly billing before that?",
            ),
    );
    events.push(
        Ev::new(
            NORTHWIND,
            &olivia_chat,
            "nw-now-olivia-2",
            first + 3 * MINUTE + 12_000,
            Agent,
        )
        .who(IntercomContact, contact)
        .agent("ana")
        .team("support")
        .text(
            "Yes, you can. I have prepared the switch; it needs the account owner's confirmation.",
        ),
    );
    answered.insert(((first + 3 * MINUTE).div_euclid(DAY), "chat"));
    events.push(
        Ev::new(
            NORTHWIND,
            &olivia_chat,
            "nw-now-olivia-3",
            now - 35 * MINUTE,
            Customer,
        )
        .who(IntercomContact, contact)
        .team("support")
        .text("I am the owner. Where do I confirm? I don't see anything in the billing settings."),
    );
    let mut waiting = vec![(now - 35 * MINUTE, olivia_chat.clone())];
    for (i, (who, ago, channel)) in [
        (2, 27 * HOUR, "support"),
        (4, 5 * HOUR + 20 * MINUTE, "email"),
        (1, 2 * HOUR + 10 * MINUTE, "support"),
    ]
    .into_iter()
    .enumerate()
    {
        let conversation = match channel {
            "email" => format!("email:<nw-now-{i}@mail.example.com>"),
            _ => format!("zendesk:nw-now-{i}"),
        };
        events.push(
            Ev::new(
                NORTHWIND,
                &conversation,
                &format!("nw-now-{i}"),
                now - ago,
                Customer,
            )
            .who(Email, PEOPLE[who].1)
            .team(if channel == "email" {
                "billing"
            } else {
                "tier1"
            })
            .text(TEXTS[rng.random_range(0..TEXTS.len())]),
        );
        waiting.push((now - ago, conversation));
    }
    waiting.sort();
    Northwind {
        events,
        waiting: waiting.into_iter().map(|(_, c)| c).collect(),
        olivia_chat,
        answered,
        resolved,
    }
}

/// Northwind's SLA policy, 24/7: a first response within 2 h and a next reply within 1 h, each
/// at risk 45 min before it is due.
const NORTHWIND_SLA: &str = r#"
[sla]
at_risk_before = "45m"
[[sla.policies]]
name = "northwind"
tenant = "northwind"
calendar = "24/7"
first_response = "2h"
next_reply = "1h"
"#;

fn northwind_rules() -> rapport_clickhouse::state::Rules {
    #[derive(serde::Deserialize)]
    struct Sections {
        sla: rapport_responsiveness::SlaConfig,
    }
    let sections: Sections = toml::from_str(NORTHWIND_SLA).unwrap();
    rapport_clickhouse::state::Rules::from_config(&Default::default(), &sections.sla).unwrap()
}

/// Counted here from the events, not by the code under test: per (week of the first customer
/// message, team), the first responses met (answered within 2 h) and breached (answered later,
/// or unanswered for 2 h by `now`). Every conversation has one team.
fn sla_weeks(events: &[Ev], now: i64) -> std::collections::BTreeMap<(i64, String), (u64, u64)> {
    let mut conversations: std::collections::BTreeMap<&str, Vec<&Ev>> = Default::default();
    for e in events {
        conversations.entry(&e.conversation).or_default().push(e);
    }
    let mut weeks: std::collections::BTreeMap<(i64, String), (u64, u64)> = Default::default();
    for mut events in conversations.into_values() {
        events.sort_by_key(|e| e.at);
        let Some(asked) = events.iter().find(|e| e.role == Customer) else {
            continue;
        };
        let replied = events
            .iter()
            .find(|e| e.role == Agent && e.at >= asked.at)
            .map(|e| e.at);
        let met = match replied {
            Some(at) => at - asked.at <= 2 * HOUR,
            None if now - asked.at >= 2 * HOUR => false,
            None => continue,
        };
        // 1970-01-01 was a Thursday: Mondays are day 4 + 7k.
        let day = asked.at.div_euclid(DAY);
        let monday = (day - (day - 4).rem_euclid(7)) * DAY;
        let cell = weeks
            .entry((monday, asked.team.unwrap_or("(no team)").to_owned()))
            .or_default();
        if met {
            cell.0 += 1;
        } else {
            cell.1 += 1;
        }
    }
    weeks
}

/// Olivia's events, newest first, as her timeline lists them.
fn timeline_of(events: &[Ev], who: usize) -> Vec<String> {
    let (_, email, contact) = PEOPLE[who];
    let mine = |e: &Ev| {
        e.identities.iter().any(|(kind, value)| {
            (*kind == Email && value == email)
                || (*kind == IntercomContact && Some(value.as_str()) == contact)
        })
    };
    let conversations: BTreeSet<&str> = events
        .iter()
        .filter(|e| mine(e))
        .map(|e| e.conversation.as_str())
        .collect();
    let mut theirs: Vec<&Ev> = events
        .iter()
        .filter(|e| conversations.contains(e.conversation.as_str()))
        .collect();
    theirs.sort_by_key(|e| std::cmp::Reverse(e.at));
    let times: BTreeSet<i64> = theirs.iter().map(|e| e.at).collect();
    assert_eq!(
        times.len(),
        theirs.len(),
        "the seed gives two of Olivia's events one millisecond"
    );
    theirs.iter().map(|e| e.event_id()).collect()
}

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("RAPPORT_CHROMIUM") {
        return path.into();
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "no Chromium found (chromium, chromium-browser or google-chrome on PATH, or RAPPORT_CHROMIUM): \
         run `make test-browser`, which installs Debian's chromium"
    );
}

fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("RAPPORT_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// A Chromium tab, with the few things the test does in it. Every wait is bounded.
struct Tab {
    page: Page,
}

const WAIT: Duration = Duration::from_secs(30);

impl Tab {
    /// The value of a JavaScript expression (returned by value, as JSON).
    async fn eval(&self, expression: &str) -> Value {
        let text: Option<String> = self
            .page
            .evaluate(format!("JSON.stringify({expression})"))
            .await
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
            .into_value()
            .unwrap_or_else(|e| panic!("{expression}: {e}"));
        text.map_or(Value::Null, |t| serde_json::from_str(&t).unwrap())
    }

    /// The points drawn in chart `chart`.
    async fn points(&self, chart: &str) -> usize {
        let count = self
            .eval(&format!(
                "document.querySelectorAll('#chart-{chart} svg circle.point').length"
            ))
            .await;
        usize::try_from(count.as_u64().unwrap()).unwrap()
    }

    async fn url(&self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs `action`, which leaves the page, and waits for the next document to be loaded.
    async fn navigates<F: std::future::Future<Output = ()>>(&self, action: F) {
        self.eval("(window.rapportOld = true)").await;
        action.await;
        let deadline = Instant::now() + WAIT;
        loop {
            // While the old document unloads, the evaluation may fail: keep asking.
            let fresh = self
                .page
                .evaluate("window.rapportOld === undefined && document.readyState === 'complete'")
                .await
                .ok()
                .and_then(|r| r.into_value::<bool>().ok())
                .unwrap_or(false);
            if fresh {
                return;
            }
            assert!(Instant::now() < deadline, "no new page after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn open(&self, url: &str) {
        let url = url.to_owned();
        self.navigates(async {
            self.page.goto(url).await.expect("navigation");
        })
        .await;
    }

    /// Presses a key in whatever has the focus.
    async fn press(&self, key: &str) {
        let body = self.page.find_element("body").await.unwrap();
        body.press_key(key).await.unwrap();
    }

    async fn wait_for(&self, selector: &str) {
        let deadline = Instant::now() + WAIT;
        while self.page.find_element(selector).await.is_err() {
            assert!(Instant::now() < deadline, "no {selector} after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn click(&self, selector: &str) {
        let element = self.page.find_element(selector).await.unwrap();
        element.click().await.unwrap();
    }

    /// Clicks the sign-in form's key field, types `key` and presses Enter.
    async fn sign_in(&self, key: &str) {
        self.wait_for("#key").await;
        let field = self.page.find_element("#key").await.unwrap();
        field.click().await.unwrap();
        field.type_str(key).await.unwrap();
        self.navigates(async {
            field.press_key("Enter").await.unwrap();
        })
        .await;
    }

    /// The whole page as a PNG, beyond the window's height.
    async fn screenshot(&self, name: &str) {
        let size = self
            .eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            .await;
        let (width, height) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
        let png = self
            .page
            .screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .clip(Viewport {
                        x: 0.0,
                        y: 0.0,
                        width,
                        // A long timeline is cut: the top of the page is what a screenshot is for.
                        height: height.min(2600.0),
                        scale: 1.0,
                    })
                    .capture_beyond_viewport(true)
                    .build(),
            )
            .await
            .expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(screenshots_dir().join(format!("{name}.png")), png)
            .expect("screenshot written");
    }
}

struct Expected {
    base: String,
    key: String,
    hostile_event: String,
    /// Maria's newest events, newest first.
    newest: Vec<String>,
    /// The chat's events in order: c1, c2 (a bot, same millisecond), c3, c4, the hostile c5.
    chat: Vec<String>,
    frt_points: usize,
    resolution_points: usize,
    northwind: NorthwindExpected,
}

struct NorthwindExpected {
    key: String,
    /// Olivia's first timeline page, newest first.
    newest: Vec<String>,
    chat: String,
    /// The unanswered queue's conversations, longest wait first.
    waiting: Vec<String>,
    frt_points: usize,
    resolution_points: usize,
    /// (week, team) cells with a decided first response: the SLA chart's points.
    sla_points: usize,
    /// The whole period's breaches and % met, as the summary says them.
    sla_breached: u64,
    sla_met_pct: String,
}

async fn browse(expected: &Expected) {
    let config = BrowserConfig::builder()
        .chrome_executable(chromium())
        // Containers and CI run as root, where Chromium's sandbox cannot start.
        .no_sandbox()
        .window_size(1280, 900)
        // The window's size, not an emulated 800 × 600.
        .viewport(None)
        .request_timeout(WAIT)
        .build()
        .expect("browser settings");
    let (mut browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    let devtools = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let tab = Tab {
        page: browser.new_page("about:blank").await.expect("a tab"),
    };
    let base = &expected.base;

    // Signing in: the page asked for sends the browser to the form and back.
    tab.open(&format!("{base}/ui/customers/{MARIA}")).await;
    assert!(
        tab.url().await.contains("/ui/login?next="),
        "{}",
        tab.url().await
    );
    tab.sign_in(&expected.key).await;
    tab.wait_for("ol.timeline").await;
    let url = tab.url().await;
    assert!(url.ends_with(&format!("/ui/customers/{MARIA}")), "{url}");
    assert!(!url.contains("rpk_"), "the key is never in a URL");
    assert_eq!(
        tab.eval("document.cookie").await,
        "",
        "the session cookie is HttpOnly"
    );

    // The timeline: newest first, a full page, the open wait highlighted.
    let events = tab
        .eval("[...document.querySelectorAll('ol.timeline > li')].map(li => li.dataset.event)")
        .await;
    let events: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 25, "a page of 25 entries");
    assert_eq!(
        events[..expected.newest.len()],
        expected.newest,
        "newest first"
    );
    let times = tab.eval("[...document.querySelectorAll('ol.timeline > li time')].map(t => Date.parse(t.dateTime))",
    ).await;
    let times: Vec<f64> = times
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "in order: {times:?}"
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('ol.timeline > li.waiting').length")
            .await,
        2,
        "c4 and c5 wait for a reply"
    );
    assert!(
        tab.eval("!!document.querySelector('a[rel=next]')")
            .await
            .as_bool()
            .unwrap()
    );

    // The hostile message is text on the page, and none of it ran.
    let shown = tab
        .eval(&format!(
            "document.querySelector('[data-event=\"{}\"] .text').textContent",
            expected.hostile_event
        ))
        .await;
    assert_eq!(shown, HOSTILE);
    assert_eq!(
        tab.eval("document.querySelectorAll('main script, main img').length")
            .await,
        0
    );
    assert_ne!(tab.eval("document.title").await, "owned");

    // The keyboard: "j" focuses the newest entry, Enter opens its conversation.
    tab.press("j").await;
    assert_eq!(
        tab.eval("document.activeElement.dataset.event").await,
        expected.newest[0]
    );
    tab.navigates(tab.press("Enter")).await;
    tab.wait_for("ol.thread").await;
    assert!(
        tab.url()
            .await
            .ends_with("/ui/conversations/intercom%3A1001"),
        "{}",
        tab.url().await
    );

    // The conversation: c1 answered by c3 after 4 minutes, drawn between them; c4 and c5 wait.
    let thread = tab.eval("[...document.querySelectorAll('ol.thread > li')].map(li => li.classList.contains('latency') ? 'latency: ' + li.querySelector('.label').textContent : li.dataset.event)",
    ).await;
    let thread: Vec<&str> = thread
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    let c = &expected.chat;
    assert_eq!(thread.len(), 7, "{thread:?}");
    assert_eq!(thread[..2], [c[0].as_str(), c[1].as_str()], "{thread:?}");
    assert_eq!(thread[2], "latency: First response after 4 min");
    assert_eq!(
        thread[3..6],
        [c[2].as_str(), c[3].as_str(), c[4].as_str()],
        "{thread:?}"
    );
    assert!(
        thread[6].starts_with("latency: Waiting for a reply for "),
        "{thread:?}"
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('main script, main img').length")
            .await,
        0
    );

    // Responsiveness: one point per channel, day and line (median, p90).
    tab.open(&format!(
        "{base}/ui/responsiveness?from=2024-05-06&to=2024-06-03&group_by=channel"
    ))
    .await;
    tab.wait_for("#chart-frt").await;
    assert_eq!(tab.points("frt").await, expected.frt_points);
    assert_eq!(
        tab.points("reply").await,
        expected.frt_points,
        "one reply per conversation"
    );
    assert_eq!(tab.points("resolution").await, expected.resolution_points);
    assert_eq!(
        tab.eval("document.querySelectorAll('#chart-frt svg polyline').length")
            .await,
        6,
        "three channels, a median and a p90 line each"
    );
    let queue = tab.eval("[...document.querySelectorAll('#unanswered tbody tr td:nth-child(4) a')].map(a => a.textContent)",
    ).await;
    assert_eq!(
        queue,
        serde_json::json!([BOB_TICKET, MARIA_CHAT]),
        "longest wait first"
    );
    // acme has no SLA policy: the SLA section says what to do.
    let sla = tab
        .eval("document.querySelector('#sla .empty-inline').textContent")
        .await;
    assert!(
        sla.as_str()
            .unwrap()
            .starts_with("No SLA outcomes in this period"),
        "{sla}"
    );

    // The script submits the form as soon as a choice changes; every field is sent, the empty
    // ones (no dates, every channel) included.
    tab.navigates(async {
        tab.eval("(() => { const s = document.querySelector('select[name=group_by]'); s.value = 'team'; s.dispatchEvent(new Event('change')); return 1; })()").await;
    })
    .await;
    tab.wait_for("#chart-frt").await;
    let url = tab.url().await;
    assert!(
        url.contains("group_by=team") && url.ends_with("&channel="),
        "{url}"
    );
    let head = tab
        .eval("document.querySelector('.page-head p').textContent")
        .await;
    assert!(head.as_str().unwrap().contains("per team"), "{head}");

    // Without the script, the button submits the same GET form.
    tab.eval(
        "(() => { document.querySelector('select[name=channel]').value = 'email'; return 1; })()",
    )
    .await;
    tab.navigates(tab.click("form.controls button[type=submit]"))
        .await;
    tab.wait_for("#chart-frt").await;
    assert!(
        tab.url().await.contains("channel=email"),
        "{}",
        tab.url().await
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('#chart-frt svg polyline').length")
            .await,
        2,
        "one team answers email: its median and p90"
    );

    // Northwind, a month of traffic up to now: signing out and in with its key, then the
    // screenshots.
    let nw = &expected.northwind;
    tab.navigates(tab.click("form[action='/ui/logout'] button"))
        .await;
    tab.wait_for("#key").await;
    let olivia = PEOPLE[OLIVIA].0;
    tab.open(&format!("{base}/ui/customers/{olivia}")).await;
    tab.sign_in(&nw.key).await;
    tab.wait_for("ol.timeline").await;
    let entries = tab
        .eval("[...document.querySelectorAll('ol.timeline > li')].map(li => li.dataset.event)")
        .await;
    let entries: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(entries, nw.newest[..25], "Olivia's timeline, newest first");
    assert_eq!(
        tab.eval("document.querySelectorAll('ol.timeline > li.waiting').length")
            .await,
        1,
        "her last chat message waits"
    );
    let linked = tab
        .eval("document.querySelector('ul.links').textContent")
        .await;
    assert!(
        linked
            .as_str()
            .unwrap()
            .contains("email:olivia.martin@example.com ↔ intercom_contact:c-4410"),
        "{linked}"
    );
    tab.screenshot("customer").await;
    // The first Tab reaches the link that skips the navigation.
    tab.press("Tab").await;
    assert_eq!(tab.eval("document.activeElement.className").await, "skip");

    tab.open(&format!(
        "{base}/ui/conversations/{}",
        nw.chat.replace(':', "%3A")
    ))
    .await;
    tab.wait_for("ol.thread").await;
    let latencies = tab.eval("[...document.querySelectorAll('ol.thread > li.latency .label')].map(l => l.textContent)",
    ).await;
    assert_eq!(latencies[0], "First response after 3 min 12 s");
    assert!(
        // 35 minutes and the seconds the test took to get here.
        latencies[1]
            .as_str()
            .unwrap()
            .starts_with("Waiting for a reply for 3"),
        "{latencies}"
    );
    tab.screenshot("conversation").await;

    tab.open(&format!("{base}/ui/responsiveness")).await;
    tab.wait_for("#chart-frt").await;
    assert_eq!(tab.points("frt").await, nw.frt_points);
    assert_eq!(tab.points("reply").await, nw.frt_points);
    assert_eq!(tab.points("resolution").await, nw.resolution_points);
    let queue = tab.eval("[...document.querySelectorAll('#unanswered tbody tr td:nth-child(4) a')].map(a => a.textContent)",
    ).await;
    assert_eq!(queue, serde_json::json!(nw.waiting), "longest wait first");
    assert_eq!(
        tab.eval("[...document.querySelectorAll('input:not([type=hidden]), select')].filter(e => e.labels.length === 0).map(e => e.name)"
        ).await,
        serde_json::json!([]),
        "every field has a label"
    );
    // SLAs: one point per team and week with a decided target, the period's totals, and
    // Olivia's second chat message at risk (its next reply due 1 h after it, 35 min ago).
    assert_eq!(tab.points("sla").await, nw.sla_points);
    assert_eq!(
        tab.eval("document.querySelectorAll('#sla table.sla-weeks tbody tr').length")
            .await,
        nw.sla_points,
        "one row per team and week"
    );
    let summary = tab
        .eval("document.querySelector('#sla .sla-summary').textContent")
        .await;
    let summary = summary.as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "{} of the targets decided were met; {} breached",
            nw.sla_met_pct, nw.sla_breached
        )),
        "{summary}"
    );
    let at_risk = tab
        .eval("[...document.querySelectorAll('#sla table.at-risk tbody tr')].map(tr => [...tr.cells].map(c => c.textContent.trim()))")
        .await;
    let rows = at_risk.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{at_risk}");
    let left = rows[0][0].as_str().unwrap();
    let minutes: u32 = left
        .split(" min")
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        (15..=24).contains(&minutes),
        "about 25 min left, less the test's time: {left}"
    );
    assert!(
        rows[0][2].as_str().unwrap().starts_with(&nw.chat),
        "{at_risk}"
    );
    assert_eq!(rows[0][3], "next reply");
    tab.screenshot("responsiveness").await;

    browser.close().await.expect("Chromium closes");
    browser.wait().await.expect("Chromium exits");
    devtools.await.expect("the DevTools events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_headless_chromium() {
    let chromium = chromium();
    let f = Fixture::new("ui_browser").await;
    let t = |minutes: i64| T0 + minutes * MINUTE;
    let hostile = Ev::new("acme", MARIA_CHAT, "c5", t(230), Customer)
        .who(IntercomContact, "c-77")
        .team("support")
        .text(HOSTILE);
    let (mut events, answered, resolved) = generated();
    let hostile_event = hostile.event_id();
    events.push(hostile);
    f.insert(&events).await;
    let server = f.serve().await;
    let event = |id: &str| Ev::new("acme", MARIA_CHAT, id, 0, Customer).event_id();

    // On 3 Jun the fixture's email thread and chat were answered, and the email thread solved.
    let today = T0.div_euclid(DAY);
    let answered_days = answered.len()
        + [(today, "email"), (today, "chat")]
            .iter()
            .filter(|k| !answered.contains(*k))
            .count();
    let resolved_days = resolved.len() + usize::from(!resolved.contains(&(today, "email")));
    let now = rapport_model::Timestamp::now().as_millis();
    let nw = northwind(now);
    f.insert_with(&nw.events, &northwind_rules()).await;
    let weeks = sla_weeks(&nw.events, now);
    let (met, breached) = weeks
        .values()
        .fold((0, 0), |(m, b), (met, breached)| (m + met, b + breached));
    let nw_key = rapport_clickhouse::keys::create(&f.client, NORTHWIND, "browser tests")
        .await
        .unwrap()
        .token;
    // As the linker would have written them: each identifier's customer, and for the customers
    // with a chat contact the link the first chat that carried both made.
    let (mut customers, mut identities, mut links) = (Vec::new(), Vec::new(), Vec::new());
    for (customer, email, contact) in PEOPLE {
        let mut own = vec![format!("email:{email}")];
        if let Some(contact) = contact {
            own.push(format!("intercom_contact:{contact}"));
            let chat = nw
                .events
                .iter()
                .find(|e| e.identities.iter().any(|(_, v)| v == contact))
                .expect("a chat of theirs");
            links.push(format!(
                "('{NORTHWIND}', 'email:{email}', 'intercom_contact:{contact}', 'linked', '{}', 'intercom', {}, 1)",
                chat.event_id(),
                chat.at
            ));
        }
        for identity in own {
            customers.push(format!("('{NORTHWIND}', '{identity}', '{customer}', 1)"));
            identities.push(format!("('{NORTHWIND}', '{customer}', '{identity}', 1, 1)"));
        }
    }
    for (table, columns, rows) in [
        (
            "customers",
            "tenant_id, identity, customer_id, changed_at_ms",
            &customers,
        ),
        (
            "customer_identities",
            "tenant_id, customer_id, identity, active, changed_at_ms",
            &identities,
        ),
        (
            "identity_links",
            "tenant_id, identity_a, identity_b, state, event_id, source, occurred_at_ms, changed_at_ms",
            &links,
        ),
    ] {
        f.stack
            .clickhouse(&format!(
                "INSERT INTO {}.{table} ({columns}) VALUES {}",
                f.database,
                rows.join(", ")
            ))
            .await;
    }
    let northwind_expected = NorthwindExpected {
        key: nw_key,
        newest: timeline_of(&nw.events, OLIVIA),
        chat: nw.olivia_chat.clone(),
        waiting: nw.waiting.clone(),
        frt_points: 2 * nw.answered.len(),
        resolution_points: 2 * nw.resolved.len(),
        sla_points: weeks.len(),
        sla_breached: breached,
        sla_met_pct: format!(
            "{:.1} %",
            (1000.0 * met as f64 / (met + breached) as f64 + 0.5).floor() / 10.0
        ),
    };
    let expected = Expected {
        base: server.base.clone(),
        key: f.acme.clone(),
        newest: vec![hostile_event.clone(), event("c4"), event("c3")],
        chat: vec![
            event("c1"),
            event("c2"),
            event("c3"),
            event("c4"),
            hostile_event.clone(),
        ],
        hostile_event,
        frt_points: 2 * answered_days,
        resolution_points: 2 * resolved_days,
        northwind: northwind_expected,
    };
    check_runs(&chromium);
    browse(&expected).await;
    f.drop().await;
}

/// A broken installation fails here with its own error, not as a DevTools timeout later.
fn check_runs(chromium: &Path) {
    let out = std::process::Command::new(chromium)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", chromium.display()));
    assert!(
        out.status.success(),
        "{} --version failed",
        chromium.display()
    );
}
