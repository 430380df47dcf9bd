//! The web pages against the local ClickHouse (`make up`), in-process on the fixture of
//! `support/fixture.rs` plus a link between Maria's identifiers and a hostile message of hers:
//! signing in keeps the key in a session cookie and out of every URL; each page shows what
//! matters and escapes what customers wrote. The same pages in a real browser:
//! `tests/browser.rs` (`make test-browser`).

#[path = "support/fixture.rs"]
mod fixture;

use fixture::*;
use rapport_clickhouse::keys::{self, Revocation};
use rapport_model::ActorRole::Customer;
use rapport_model::IdentityType::Email;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;

/// What a customer wrote to break the page: it must show as text.
const HOSTILE: &str = "<script>alert('owned')</script><img src=x onerror=alert(1)> & \"quotes\"";

struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map_or("", |l| l.to_str().unwrap())
    }
}

impl Browser {
    fn new(server: &Server) -> Self {
        Self {
            base: server.base.clone(),
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn answer(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        Page {
            status: response.status().as_u16(),
            html: response.text().await.unwrap(),
            headers,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.answer(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        self.answer(request).await
    }

    async fn sign_in(&mut self, key: &str) -> Page {
        let origin = self.base.clone();
        self.post("/ui/login", &[("key", key), ("next", "/ui")], Some(&origin))
            .await
    }
}

async fn fixture(name: &str) -> Fixture {
    let f = Fixture::new(name).await;
    let t = |minutes: i64| T0 + minutes * MINUTE;
    f.insert(&[Ev::new("acme", MARIA_CHAT, "c5", t(230), Customer)
        .who(rapport_model::IdentityType::IntercomContact, "c-77")
        .team("support")
        .text(HOSTILE)])
        .await;
    f.client
        .query(&format!(
            "INSERT INTO identity_links VALUES ('acme', 'email:maria@example.com', 'intercom_contact:c-77', 'linked', 'ev-link', 'intercom', {}, 1)",
            t(120)
        ))
        .execute()
        .await
        .unwrap();
    f
}

/// The escaped form of `HOSTILE` in an HTML text node.
fn escaped_in(html: &str) -> bool {
    html.contains("&#60;script&#62;alert(&#39;owned&#39;)&#60;/script&#62;")
        || html.contains("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;")
        || html.contains("&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;")
}

#[tokio::test]
async fn pages_need_a_session_and_the_key_never_lands_in_a_url() {
    let f = Fixture::new("ui_session").await;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);

    let page = browser.get("/ui/customers/email:maria@example.com").await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        "/ui/login?next=%2Fui%2Fcustomers%2Femail%3Amaria%40example.com"
    );
    let root = browser.get("/").await;
    assert_eq!((root.status, root.location()), (303, "/ui"));
    let form = browser.get("/ui/login?next=%2Fui%2Fresponsiveness").await;
    assert_eq!(form.status, 200);
    assert!(form.html.contains("type=\"password\""), "{}", form.html);
    assert!(form.html.contains("value=\"/ui/responsiveness\""));
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    for (key, status, says) in [
        ("", 400, "Paste an API key"),
        ("not-a-key", 401, "not a Rapport API key"),
        (
            "rpk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            401,
            "No such API key",
        ),
    ] {
        let page = browser.sign_in(key).await;
        assert_eq!(page.status, status, "{key}: {}", page.html);
        assert!(page.html.contains(says), "{key}: {}", page.html);
        assert!(browser.cookie.is_none());
    }
    let refused = browser
        .post(
            "/ui/login",
            &[("key", &f.acme)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        browser.cookie.is_none(),
        "a cross-site post signs nobody in"
    );

    let signed = browser.sign_in(&f.acme).await;
    assert_eq!((signed.status, signed.location()), (303, "/ui"));
    let set = signed.headers[SET_COOKIE].to_str().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(
        !set.contains("Expires") && !set.contains("Max-Age"),
        "a session cookie: {set}"
    );
    assert!(!signed.location().contains("rpk_"));

    let home = browser.get("/ui").await;
    assert_eq!(home.status, 200, "{}", home.html);
    assert_eq!(home.headers["cache-control"], "private, no-store");
    assert!(home.html.contains(">acme<"), "the tenant is shown");
    assert!(
        !home.html.contains(&f.acme),
        "the key is never written into a page"
    );
    assert!(home.html.contains("Waiting longest for a reply"));

    // The cookie is no bearer token for the JSON API, and a bearer token no session.
    let api = reqwest::Client::new()
        .get(format!("{}/v1/unanswered", server.base))
        .header(COOKIE, browser.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);

    let out = browser.post("/ui/logout", &[], None).await;
    assert_eq!((out.status, out.location()), (303, "/ui/login"));
    assert!(browser.cookie.is_none());
    assert_eq!(browser.get("/ui").await.status, 303);

    // A revoked key ends the session once the key cache forgets it.
    let mut config = f.config();
    config.auth.cache_ttl_ms = 1;
    let short = Server::start(config).await;
    let mut browser = Browser::new(&short);
    assert_eq!(browser.sign_in(&f.acme).await.status, 303);
    assert_eq!(browser.get("/ui").await.status, 200);
    let key_id = keys::parse(&f.acme).unwrap().to_owned();
    assert!(matches!(
        keys::revoke(&f.client, &key_id).await.unwrap(),
        Revocation::Revoked(_)
    ));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let after = browser.get("/ui").await;
    assert_eq!(after.status, 303, "{}", after.html);
    assert!(after.location().starts_with("/ui/login"));
    f.drop().await;
}

#[tokio::test]
async fn the_customer_page_shows_identities_links_waits_and_the_timeline_escaped() {
    let f = fixture("ui_customer").await;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&f.acme).await;

    for query in [
        "maria@example.com",
        "Maria@Example.COM",
        "c-77",
        "intercom_contact:c-77",
        MARIA,
    ] {
        let found = browser
            .get(&format!(
                "/ui/customers?q={}",
                form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(found.status, 303, "{query}: {}", found.html);
        assert_eq!(
            found.location(),
            format!("/ui/customers/{MARIA}"),
            "{query}"
        );
    }
    let none = browser.get("/ui/customers?q=gina%40globex.example").await;
    assert_eq!(none.status, 404, "another tenant's customer is not found");
    assert!(
        none.html
            .contains("No customer of acme has the identifier gina@globex.example")
    );

    let page = browser.get(&format!("/ui/customers/{MARIA}")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let html = &page.html;
    assert!(html.contains("<h1>maria@example.com</h1>"), "{html}");
    assert!(html.contains("c-77") && html.contains("Intercom contact"));
    assert!(html.contains("email:maria@example.com ↔ intercom_contact:c-77"));
    assert!(html.contains("linked: both on one intercom interaction (ev-link)"));
    assert!(
        html.contains("Waiting for a reply for"),
        "the open wait is highlighted"
    );
    assert!(
        html.contains("data-entries=\"11\""),
        "every interaction on one page"
    );
    // Newest first: c5 (the hostile one), then c4 … m1.
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    assert!(at("c4 says hello") < at("c3 says hello"));
    assert!(at("c1 says hello") < at("m3 says hello"));
    assert!(at("m2 says hello") < at("m1 says hello"));
    assert_eq!(
        html.matches("class=\"flag\"").count(),
        2,
        "c4 and c5 wait, nothing else"
    );
    assert!(escaped_in(html), "the hostile text shows escaped: {html}");
    assert!(
        !html.contains("<script>alert"),
        "no customer text becomes markup"
    );
    assert!(
        !html.contains("<img src=x"),
        "no customer text becomes markup"
    );

    let chat = browser
        .get(&format!("/ui/customers/{MARIA}?channel=chat"))
        .await;
    assert!(chat.html.contains("data-entries=\"5\""), "{}", chat.html);
    let support = browser
        .get(&format!("/ui/customers/{MARIA}?channel=support"))
        .await;
    assert!(support.html.contains("No interactions on this channel"));

    let unknown = browser.get("/ui/customers/email:nobody@example.com").await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let bad = browser.get("/ui/customers/fax:123").await;
    assert_eq!(bad.status, 400);
    assert!(bad.html.contains("unknown identifier type"));
    f.drop().await;
}

#[tokio::test]
async fn the_timeline_pages_through_every_interaction_once() {
    let f = Fixture::new("ui_paging").await;
    let t = |minutes: i64| T0 + minutes * MINUTE;
    let more: Vec<Ev> = (0..30)
        .map(|i| {
            Ev::new(
                "acme",
                "zendesk:900",
                &format!("p{i:02}"),
                t(300 + i),
                Customer,
            )
            .who(Email, "bob@example.com")
        })
        .collect();
    f.insert(&more).await;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&f.acme).await;
    let mut path = format!("/ui/customers/{BOB}");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.html);
        pages += 1;
        for chunk in page.html.split("data-event=\"").skip(1) {
            seen.push(chunk.split('"').next().unwrap().to_owned());
        }
        let Some(next) = page.html.split("rel=\"next\"").next().and_then(|before| {
            before.rsplit_once("<a href=\"").map(|(_, href)| {
                href.trim_end_matches("\" ")
                    .replace("&#38;", "&")
                    .replace("&amp;", "&")
            })
        }) else {
            break;
        };
        if !page.html.contains("rel=\"next\"") {
            break;
        }
        assert!(!next.contains("rpk_"));
        path = next;
    }
    assert_eq!(pages, 2, "31 interactions in pages of 25");
    assert_eq!(seen.len(), 31);
    let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 31, "no interaction twice");
    f.drop().await;
}

#[tokio::test]
async fn a_conversation_draws_its_reply_latencies_and_the_open_wait() {
    let f = fixture("ui_conversation").await;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&f.acme).await;

    let thread = browser
        .get(&format!(
            "/ui/conversations/{}",
            form_urlencoded::byte_serialize(SHARED_CONVERSATION.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        ))
        .await;
    assert_eq!(thread.status, 200, "{}", thread.html);
    let html = &thread.html;
    assert!(html.contains("data-replies=\"2\""), "{html}");
    // m1 at 0 min answered by r1 at 30; m3 at 60 by r2 at 65.
    let first = html
        .find("First response after 30 min")
        .expect("the first response");
    let second = html.find("Replied after 5 min").expect("the second reply");
    assert!(
        html.find("m1 says hello").unwrap() < first && first < html.find("r1 says hello").unwrap()
    );
    assert!(
        html.find("m3 says hello").unwrap() < second
            && second < html.find("r2 says hello").unwrap()
    );
    assert!(html.contains("status → solved"));
    assert!(
        !html.contains("g1 says hello"),
        "globex shares the id, not the conversation"
    );

    let chat = browser.get("/ui/conversations/intercom%3A1001").await;
    assert!(
        chat.html.contains("First response after 4 min"),
        "{}",
        chat.html
    );
    assert!(chat.html.contains("Waiting for a reply for"));
    assert!(escaped_in(&chat.html) && !chat.html.contains("<script>alert"));

    let missing = browser
        .get("/ui/conversations/intercom%3Aglobex-secret")
        .await;
    assert_eq!(missing.status, 404, "another tenant's conversation");
    f.drop().await;
}

#[tokio::test]
async fn responsiveness_charts_one_point_per_group_day_and_line() {
    let f = fixture("ui_responsiveness").await;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&f.acme).await;

    let page = browser
        .get("/ui/responsiveness?from=2024-06-01&to=2024-06-07&group_by=channel")
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    let html = &page.html;
    let points = |chart: &str| -> usize {
        let at = html
            .find(&format!("id=\"chart-{chart}\""))
            .unwrap_or_else(|| panic!("no {chart}"));
        html[at..]
            .split("data-points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // email and chat each answered on 3 Jun: a median and a p90 point each.
    assert_eq!(points("frt"), 4);
    assert_eq!(points("reply"), 4);
    // Only the email thread was resolved.
    assert_eq!(points("resolution"), 2);
    assert_eq!(html.matches("<circle class=\"point\"").count(), 10);
    assert!(
        html.contains("email, day of 3 Jun 2024: median 30 min over 1 first responses"),
        "{html}"
    );
    assert!(html.contains("<th scope=\"row\">email</th>"));
    // The queue: Bob's ticket, then Maria's chat; her hostile text escaped.
    let queue = &html[html.find("id=\"unanswered\"").unwrap()..];
    assert!(queue.find("zendesk:501").unwrap() < queue.find("intercom:1001").unwrap());
    assert!(escaped_in(queue) && !html.contains("<script>alert"));

    let agents = browser
        .get("/ui/responsiveness?from=2024-06-01&to=2024-06-07&group_by=agent")
        .await;
    assert!(agents.html.contains("Anna (ana)"), "{}", agents.html);
    assert!(!agents.html.contains("id=\"chart-resolution\""));
    assert!(
        agents
            .html
            .contains("a resolution is not attributed to an agent")
    );

    let quiet = browser
        .get("/ui/responsiveness?from=2023-01-01&to=2023-01-31")
        .await;
    assert!(
        quiet.html.contains("No replies in this period"),
        "{}",
        quiet.html
    );
    let bad = browser.get("/ui/responsiveness?period=2w").await;
    assert_eq!(bad.status, 400);

    let unknown = browser.get("/ui/nothing-here").await;
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let json = reqwest::get(format!("{}/v1/nothing-here", server.base))
        .await
        .unwrap();
    assert_eq!(json.headers()["content-type"], "application/json");
    f.drop().await;
}

#[tokio::test]
async fn an_empty_tenant_is_told_what_to_do() {
    let f = Fixture::new("ui_empty").await;
    let newcomer = keys::create(&f.client, "newcomer", "ui tests")
        .await
        .unwrap()
        .token;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&newcomer).await;
    let home = browser.get("/ui").await;
    assert!(home.html.contains("No interactions yet"), "{}", home.html);
    assert!(home.html.contains("Is the writer running?"));
    let charts = browser.get("/ui/responsiveness").await;
    assert!(
        charts.html.contains("No interactions yet"),
        "{}",
        charts.html
    );
    f.drop().await;
}

#[tokio::test]
async fn the_sla_section_shows_met_per_team_and_week_breaches_and_time_left() {
    let f = fixture("ui_sla").await;
    // 24/7 for acme: a first response within 20 min, at risk 15 min before (the default).
    let sla: rapport_responsiveness::SlaConfig = toml::from_str(
        "[[policies]]\nname = \"standard\"\ntenant = \"acme\"\ncalendar = \"24/7\"\nfirst_response = \"20m\"\n",
    )
    .unwrap();
    let rules = rapport_clickhouse::state::Rules::from_config(&Default::default(), &sla).unwrap();
    // As `rapport recompute` does after the rules change.
    let ids = rapport_clickhouse::repair::conversations_in(
        &f.client,
        "acme",
        T0 - 24 * 60 * MINUTE,
        T0 + 24 * 60 * MINUTE,
    )
    .await
    .unwrap();
    let how = rapport_clickhouse::repair::Recompute {
        tenant: "acme",
        rules: &rules,
        version: rapport_model::Timestamp::now().as_millis() + 1,
        dry_run: false,
        timeout: std::time::Duration::from_secs(30),
    };
    rapport_clickhouse::repair::recompute(&f.client, how, &ids, |_| {})
        .await
        .unwrap();
    // A chat that arrived 10 minutes ago: at risk since 5 minutes, due in 10.
    let now = rapport_model::Timestamp::now().as_millis();
    f.insert_with(
        &[
            Ev::new("acme", "intercom:now-1", "n1", now - 10 * MINUTE, Customer)
                .who(Email, "nora@example.com")
                .team("support"),
        ],
        &rules,
    )
    .await;
    let server = f.serve().await;
    let mut browser = Browser::new(&server);
    browser.sign_in(&f.acme).await;

    // The week of 3 Jun: billing breached its one (answered after 30 min), support met its one
    // (4 min; the bot does not count), tier1's Bob is unanswered: breached. 1 of 3 met.
    let page = browser
        .get("/ui/responsiveness?from=2024-06-01&to=2024-06-07")
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    let html = &page.html;
    let sla = &html[html.find("id=\"sla\"").expect("an SLA section")..];
    let sla = &sla[..sla.find("id=\"unanswered\"").unwrap()];
    assert!(
        sla.contains(
            "<strong>33.3 %</strong> of the targets decided were met; <strong>2</strong> breached"
        ),
        "{sla}"
    );
    let chart = &sla[sla.find("id=\"chart-sla\"").expect("a chart")..];
    assert!(chart.contains("data-points=\"3\""), "{chart}");
    for title in [
        "billing, week of 3 Jun 2024: 0.0 % met (0 met, 1 breached)",
        "support, week of 3 Jun 2024: 100.0 % met (1 met, 0 breached)",
        "tier1, week of 3 Jun 2024: 0.0 % met (0 met, 1 breached)",
    ] {
        assert!(chart.contains(title), "no {title:?} in {chart}");
    }
    let rows = sla.matches("<tr><th scope=\"row\">3 Jun 2024</th>").count();
    assert_eq!(rows, 3, "one row per team and week");
    // At risk now, whatever the period: the new chat, with about 10 minutes left.
    let at_risk = &sla[sla.find("class=\"at-risk\"").expect("an at-risk table")..];
    assert!(at_risk.contains("intercom:now-1"), "{at_risk}");
    assert!(
        at_risk.contains("<strong>10 min</strong>") || at_risk.contains("<strong>9 min"),
        "{at_risk}"
    );
    assert!(at_risk.contains("first response"));
    // globex has no policy: the section says what to do.
    let mut globex = Browser::new(&server);
    globex.sign_in(&f.globex).await;
    let page = globex.get("/ui/responsiveness").await;
    assert!(
        page.html.contains("No SLA outcomes in this period"),
        "{}",
        page.html
    );
    f.drop().await;
}
