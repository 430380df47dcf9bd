// Each test binary uses its own part of this module.
#![allow(dead_code)]

//! A database of its own per test, with known customers and conversations in two tenants, and
//! the API serving it in-process on a free port.

use std::time::{Duration, Instant};

use rapport_api::ApiConfig;
use rapport_clickhouse::{ClickHouseConfig, InteractionRow, insert_rows, migrations, state};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, IdentityType, Interaction, InteractionKind,
    Source, Timestamp, event_id,
};
use rapport_testkit::Stack;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// 2024-06-03T09:00:00Z.
pub const T0: i64 = 1_717_405_200_000;
pub const MINUTE: i64 = 60_000;

pub const MARIA: &str = "6d1f7c1e-6a41-5d0b-9d7e-0a0000000001";
pub const BOB: &str = "6d1f7c1e-6a41-5d0b-9d7e-0a0000000002";
/// Globex's customer who, like acme's Maria, writes from maria@example.com.
pub const GINA: &str = "6d1f7c1e-6a41-5d0b-9d7e-0b0000000001";

/// Both tenants have a conversation with this id.
pub const SHARED_CONVERSATION: &str = "email:<t1@mail.example.com>";
pub const MARIA_CHAT: &str = "intercom:1001";
pub const BOB_TICKET: &str = "zendesk:501";
pub const GLOBEX_SECRET: &str = "intercom:globex-secret";

#[derive(Debug)]
pub struct Fixture {
    pub stack: Stack,
    pub database: String,
    pub clickhouse: ClickHouseConfig,
    pub client: clickhouse::Client,
    /// An acme key and a globex key.
    pub acme: String,
    pub globex: String,
}

/// One interaction of the fixture.
#[derive(Debug, Clone)]
pub struct Ev {
    pub tenant: &'static str,
    pub conversation: String,
    pub id: String,
    pub at: i64,
    pub role: ActorRole,
    pub kind: InteractionKind,
    pub identities: Vec<(IdentityType, String)>,
    pub status: Option<&'static str>,
    pub team: Option<&'static str>,
    pub actor_id: Option<&'static str>,
    /// The message's text; `"<id> says hello"` when unset.
    pub text: Option<String>,
}

impl Ev {
    pub fn new(
        tenant: &'static str,
        conversation: &str,
        id: &str,
        at: i64,
        role: ActorRole,
    ) -> Self {
        Self {
            tenant,
            conversation: conversation.to_owned(),
            id: id.to_owned(),
            at,
            role,
            kind: if role == ActorRole::System {
                InteractionKind::StatusChange
            } else {
                InteractionKind::Message
            },
            identities: Vec::new(),
            status: None,
            team: None,
            actor_id: None,
            text: None,
        }
    }

    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_owned());
        self
    }

    pub fn who(mut self, kind: IdentityType, value: &str) -> Self {
        self.identities.push((kind, value.to_owned()));
        self
    }

    pub fn team(mut self, team: &'static str) -> Self {
        self.team = Some(team);
        self
    }

    pub fn agent(mut self, id: &'static str) -> Self {
        self.actor_id = Some(id);
        self
    }

    pub fn status(mut self, status: &'static str) -> Self {
        self.status = Some(status);
        self
    }

    fn source(&self) -> Source {
        match self.conversation.split(':').next() {
            Some("intercom") => Source::Intercom,
            Some("zendesk") => Source::Zendesk,
            Some("email") => Source::Sendgrid,
            _ => Source::Generic,
        }
    }

    pub fn event_id(&self) -> String {
        event_id(self.tenant, self.source(), &self.id).to_string()
    }

    pub fn row(&self) -> InteractionRow {
        let source = self.source();
        let channel = match source {
            Source::Intercom => Channel::Chat,
            Source::Zendesk => Channel::Support,
            _ => Channel::Email,
        };
        let direction = match self.role {
            ActorRole::Customer => Direction::Inbound,
            ActorRole::System => Direction::Internal,
            _ => Direction::Outbound,
        };
        let name = self.actor_id.map(|id| match id {
            "ana" => "Anna".to_owned(),
            "ben" => "Ben".to_owned(),
            other => other.to_owned(),
        });
        let interaction = Interaction {
            event_id: event_id(self.tenant, source, &self.id),
            tenant_id: self.tenant.into(),
            channel,
            source,
            source_event_id: self.id.clone(),
            kind: self.kind,
            direction,
            actor: Actor {
                role: self.role,
                id: self.actor_id.map(Into::into),
                name,
            },
            identities: self
                .identities
                .iter()
                .map(|(kind, value)| Identity {
                    kind: *kind,
                    value: value.clone(),
                })
                .collect(),
            conversation_id: self.conversation.clone(),
            occurred_at: Timestamp::from_millis(self.at),
            received_at: Timestamp::from_millis(self.at + 1000),
            subject: None,
            text: (self.kind == InteractionKind::Message).then(|| {
                self.text
                    .clone()
                    .unwrap_or_else(|| format!("{} says hello", self.id))
            }),
            rating: None,
            status: self.status.map(Into::into),
            tags: vec![],
            language: None,
            team: self.team.map(Into::into),
            auto_reply: false,
            attachment_count: 0,
            attachment_names: vec![],
            raw_ref: None,
            threading: None,
        };
        InteractionRow::new(interaction, Timestamp::now())
    }
}

use ActorRole::{Agent, Bot, Customer, System};
use IdentityType::{Email, IntercomContact};

/// acme: Maria (email thread answered and solved; chat via her Intercom contact, waiting since
/// T0+200 min); Bob (a ticket nobody answered, waiting since T0). globex: Gina, who shares
/// Maria's email address and the email thread's conversation id, and a secret chat.
pub fn standard_events() -> Vec<Ev> {
    let maria = |e: Ev| e.who(Email, "maria@example.com");
    let t = |minutes: i64| T0 + minutes * MINUTE;
    let c = SHARED_CONVERSATION;
    vec![
        maria(Ev::new("acme", c, "m1", t(0), Customer)).team("billing"),
        maria(Ev::new("acme", c, "m2", t(10), Customer)).team("billing"),
        maria(Ev::new("acme", c, "r1", t(30), Agent))
            .agent("ana")
            .team("billing"),
        maria(Ev::new("acme", c, "m3", t(60), Customer)).team("billing"),
        maria(Ev::new("acme", c, "r2", t(65), Agent))
            .agent("ben")
            .team("billing"),
        Ev::new("acme", c, "s1", t(66), System)
            .status("solved")
            .team("billing"),
        Ev::new("acme", MARIA_CHAT, "c1", t(120), Customer)
            .who(IntercomContact, "c-77")
            .team("support"),
        // Same millisecond as c1: the customer message sorts first.
        Ev::new("acme", MARIA_CHAT, "c2", t(120), Bot).team("support"),
        Ev::new("acme", MARIA_CHAT, "c3", t(124), Agent)
            .agent("ana")
            .team("support"),
        Ev::new("acme", MARIA_CHAT, "c4", t(200), Customer)
            .who(IntercomContact, "c-77")
            .team("support"),
        Ev::new("acme", BOB_TICKET, "z1", t(0), Customer)
            .who(Email, "bob@example.com")
            .team("tier1"),
        Ev::new("globex", c, "g1", t(5), Customer).who(Email, "maria@example.com"),
        Ev::new("globex", c, "g2", t(6), Agent).agent("gus"),
        Ev::new("globex", GLOBEX_SECRET, "g3", t(1), Customer).who(Email, "gina@globex.example"),
    ]
}

/// identifier → customer, as the linker would have written it.
const CUSTOMERS: &[(&str, &str, &str)] = &[
    ("acme", "email:maria@example.com", MARIA),
    ("acme", "intercom_contact:c-77", MARIA),
    ("acme", "email:bob@example.com", BOB),
    ("globex", "email:maria@example.com", GINA),
    ("globex", "email:gina@globex.example", GINA),
];

impl Fixture {
    pub async fn new(name: &str) -> Self {
        let stack = Stack::from_env();
        Self::on(name, stack).await
    }

    /// The fixture in a database of `stack`'s ClickHouse (a private server, for a test that
    /// restarts it).
    pub async fn on(name: &str, stack: Stack) -> Self {
        let url = stack.clickhouse_url.clone();
        Self::on_with(name, stack, url, None).await
    }

    /// The fixture on ClickHouse cluster `cluster`, through its server at `url`
    /// (`[clickhouse] cluster`); the fixture's own statements carry the session settings a
    /// person querying the cluster's views sets.
    pub async fn on_cluster(name: &str, url: String, cluster: &str, insert_quorum: u32) -> Self {
        let stack = Stack {
            clickhouse_url: format!("{url}/?{}", rapport_testkit::CLUSTER_SESSION),
            ..Stack::from_env()
        };
        Self::on_with(name, stack, url, Some((cluster, insert_quorum))).await
    }

    async fn on_with(name: &str, stack: Stack, url: String, cluster: Option<(&str, u32)>) -> Self {
        let database = stack.database(name).await;
        let clickhouse = ClickHouseConfig {
            url,
            database: database.clone(),
            cluster: cluster.map(|(c, _)| c.to_owned()),
            insert_quorum: cluster.map_or(0, |(_, q)| q),
            ..ClickHouseConfig::default()
        };
        migrations::migrate(&clickhouse)
            .await
            .expect("migrations apply; is the stack up? run `make up`");
        let client = clickhouse.client();
        let fixture = Self {
            acme: rapport_clickhouse::keys::create(&client, "acme", "acme tests")
                .await
                .unwrap()
                .token,
            globex: rapport_clickhouse::keys::create(&client, "globex", "globex tests")
                .await
                .unwrap()
                .token,
            stack,
            database,
            clickhouse,
            client,
        };
        fixture.insert(&standard_events()).await;
        // As the linker writes them: identifier → customer, and its reverse.
        for table in ["customers", "customer_identities"] {
            let values: Vec<String> = CUSTOMERS
                .iter()
                .map(|(tenant, identity, customer)| match table {
                    "customers" => format!("('{tenant}', '{identity}', '{customer}', 1)"),
                    _ => format!("('{tenant}', '{customer}', '{identity}', 1, 1)"),
                })
                .collect();
            let columns = match table {
                "customers" => "tenant_id, identity, customer_id, changed_at_ms",
                _ => "tenant_id, customer_id, identity, active, changed_at_ms",
            };
            // Through the store's own client: on a cluster it carries the insert quorum.
            fixture
                .client
                .query(&format!(
                    "INSERT INTO {table} ({columns}) VALUES {}",
                    values.join(", ")
                ))
                .execute()
                .await
                .expect("customers inserted");
        }
        fixture
    }

    /// Inserts the events and stores the state of the conversations they touch, as the writer
    /// does after each batch.
    pub async fn insert(&self, events: &[Ev]) {
        self.insert_with(events, &state::Rules::default()).await;
    }

    /// [`Fixture::insert`] with business hours and SLA policies, as a writer configured with
    /// them stores the state (its `sla` rows among it).
    pub async fn insert_with(&self, events: &[Ev], rules: &state::Rules) {
        let rows: Vec<InteractionRow> = events.iter().map(Ev::row).collect();
        insert_rows(&self.client, &rows, Duration::from_secs(30))
            .await
            .expect("fixture rows inserted");
        let mut touched = state::Touched::new();
        for row in &rows {
            touched
                .entry(row.tenant_id.clone())
                .or_default()
                .insert(row.conversation_id.clone());
        }
        let version = Timestamp::now().as_millis();
        let state = state::recompute(&self.client, &touched, version, rules)
            .await
            .expect("state recomputed");
        state::store(&self.client, &state, Duration::from_secs(30))
            .await
            .expect("state stored");
    }

    /// A configuration for this database (rate limit generous unless a test tightens it).
    pub fn config(&self) -> ApiConfig {
        let mut config = ApiConfig {
            clickhouse: self.clickhouse.clone(),
            ..ApiConfig::default()
        };
        config.rate_limit.requests_per_second = 1000.0;
        config.rate_limit.burst = 1000;
        config
    }

    pub async fn serve(&self) -> Server {
        Server::start(self.config()).await
    }

    pub async fn drop(self) {
        self.stack.drop_database(&self.database).await;
    }
}

/// The API's router on a free loopback port, in this process.
#[derive(Debug)]
pub struct Server {
    pub base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl Server {
    pub async fn start(config: ApiConfig) -> Self {
        let app = rapport_api::router(&config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            http: reqwest::Client::new(),
            task,
        }
    }

    /// GET `path` with `Authorization: Bearer key` (no header without a key).
    pub async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        self.send(request).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("every answer is JSON ({e}): {status} {text:?}"));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every endpoint, and every view analysts query, as one comparable text. Fields that follow the
/// clock (`as_of`, `waiting_ms`, `waiting_business_ms`) are dropped.
pub async fn answers(server: &Server, fixture: &Fixture) -> String {
    let paths = [
        "/v1/customers/email:maria@example.com".to_owned(),
        "/v1/customers/email:maria@example.com/timeline?limit=3".to_owned(),
        "/v1/customers/intercom_contact:c-77/timeline?order=asc&channel=chat".to_owned(),
        format!("/v1/customers/{MARIA}"),
        "/v1/conversations/email:%3Ct1@mail.example.com%3E".to_owned(),
        format!("/v1/conversations/{BOB_TICKET}"),
        "/v1/metrics/responsiveness?from=2024-06-01T00:00:00Z&to=2024-06-10T00:00:00Z".to_owned(),
        "/v1/metrics/responsiveness?from=2024-06-01T00:00:00Z&to=2024-06-10T00:00:00Z&group_by=agent".to_owned(),
        "/v1/unanswered".to_owned(),
    ];
    let mut out = String::new();
    for path in paths {
        let deadline = Instant::now() + Duration::from_secs(60);
        let answer = loop {
            let answer = server.get(&path, Some(&fixture.acme)).await;
            // Right after the restart the first requests may find the server still starting.
            if answer.status != 503 || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let mut body = answer.body;
        strip_clock(&mut body);
        out.push_str(&format!("{path}\n{body}\n"));
    }
    for view in [
        "timeline",
        "customer_conversations",
        "reply_latencies",
        "responsiveness",
        "responsiveness_daily",
        "interaction_customers",
        "customer_timeline",
    ] {
        let rows = fixture
            .stack
            .clickhouse(&format!(
                "SELECT * FROM {}.{view} ORDER BY tuple(*) FORMAT TSV",
                fixture.database
            ))
            .await;
        assert!(!rows.starts_with("Code:"), "{view}: {rows}");
        out.push_str(&format!("{view}\n{rows}\n"));
    }
    let unanswered = fixture
        .stack
        .clickhouse(&format!(
            "SELECT tenant_id, conversation_id, waiting_since_ms, waiting_messages FROM {}.unanswered \
             ORDER BY tenant_id, conversation_id FORMAT TSV",
            fixture.database
        ))
        .await;
    assert!(!unanswered.starts_with("Code:"), "unanswered: {unanswered}");
    out + &unanswered
}

pub fn strip_clock(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("as_of");
            map.remove("waiting_ms");
            map.remove("waiting_business_ms");
            map.values_mut().for_each(strip_clock);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_clock),
        _ => {}
    }
}
