// The one-off summary (rates and peak memory) is this harness's output, not stray debugging.
#![allow(clippy::print_stdout)]

//! Resolving a million identifiers: how fast interactions are observed into the graph (criterion),
//! and, measured once and printed: the peak memory of the one-million-identifier graph, how fast
//! it is rebuilt from its published links, and how fast `customer_of` answers (criterion).
//!
//! `cargo bench -p rapport-identity --bench resolve`. Size: `RAPPORT_BENCH_IDENTIFIERS`
//! (default 1,000,000). Results: the crate README. The default run takes about a minute.
//!
//! The synthetic tenant has customers of 2 to 4 identifiers (email, phone, Intercom contact,
//! Zendesk user). Each customer is introduced by a chain of interactions carrying two of its
//! identifiers; 10% of interactions repeat a known pair (the idempotent path) and 2% pair a
//! customer with the shared `support@acme.com` (the refused path). Customers arrive
//! interleaved, as they would in a day of traffic.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rapport_identity::{IdentityGraph, Link, LinkPolicy, Policies};
use rapport_model::{
    Actor, ActorRole, Channel, Direction, Identity, IdentityType, Interaction, InteractionKind,
    Source, Timestamp,
};
use uuid::Uuid;

const KINDS: [IdentityType; 4] = [
    IdentityType::Email,
    IdentityType::Phone,
    IdentityType::IntercomContact,
    IdentityType::ZendeskUser,
];

/// SplitMix64: a deterministic, dependency-free source of variety.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Workload {
    customers: u64,
}

impl Workload {
    fn new(identifiers: u64) -> Self {
        // Sizes 2, 3, 4 in turn average 3 identifiers per customer.
        Self {
            customers: identifiers / 3,
        }
    }

    fn size(customer: u64) -> u64 {
        2 + customer % 3
    }

    /// Calls `visit` with every interaction, reusing one buffer so that generating the
    /// workload costs little next to resolving it. Returns the number of interactions.
    fn each(&self, mut visit: impl FnMut(&Interaction)) -> u64 {
        let mut interaction = template();
        let mut sent = 0_u64;
        // Visiting customers by a multiplier coprime to their count interleaves them.
        let stride = 1_000_003 % self.customers.max(1);
        let stride = if gcd(stride, self.customers) == 1 {
            stride
        } else {
            1
        };
        for i in 0..self.customers {
            let customer = (i * stride) % self.customers;
            for step in 1..Self::size(customer) {
                let mut pairs = vec![(step - 1, step)];
                let roll = mix(customer * 8 + step) % 100;
                if roll < 10 {
                    pairs.push((step - 1, step));
                } else if roll < 12 {
                    pairs.push((step, u64::MAX));
                }
                for (x, y) in pairs {
                    set(&mut interaction.identities[0], customer, x);
                    set(&mut interaction.identities[1], customer, y);
                    interaction.event_id = Uuid::from_u64_pair(customer, sent);
                    interaction.occurred_at =
                        Timestamp::from_millis(1_717_243_200_000 + sent as i64);
                    visit(&interaction);
                    sent += 1;
                }
            }
        }
        sent
    }

    fn key(customer: u64, member: u64) -> String {
        let mut identity = Identity {
            kind: IdentityType::Email,
            value: String::new(),
        };
        set(&mut identity, customer, member);
        identity.to_key()
    }
}

/// Member `u64::MAX` is the shared support mailbox every customer writes to.
fn set(identity: &mut Identity, customer: u64, member: u64) {
    identity.value.clear();
    if member == u64::MAX {
        identity.kind = IdentityType::Email;
        identity.value.push_str("support@acme.com");
        return;
    }
    identity.kind = KINDS[member as usize % KINDS.len()];
    let _ = match identity.kind {
        IdentityType::Email => write!(identity.value, "c{customer}@example.com"),
        IdentityType::Phone => write!(identity.value, "+1415{customer:07}"),
        IdentityType::IntercomContact => write!(identity.value, "ic{customer}"),
        _ => write!(identity.value, "zd{customer}"),
    };
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn template() -> Interaction {
    let at = Timestamp::from_millis(1_717_243_200_000);
    Interaction {
        event_id: Uuid::nil(),
        tenant_id: "acme".into(),
        channel: Channel::Support,
        source: Source::Zendesk,
        source_event_id: String::new(),
        kind: InteractionKind::Message,
        direction: Direction::Inbound,
        actor: Actor {
            role: ActorRole::Customer,
            id: None,
            name: None,
        },
        identities: vec![
            Identity {
                kind: IdentityType::Email,
                value: String::new(),
            },
            Identity {
                kind: IdentityType::Email,
                value: String::new(),
            },
        ],
        conversation_id: String::new(),
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

fn policies() -> Policies {
    Policies::uniform(LinkPolicy {
        agent_domains: vec!["acme.com".into()],
        ..LinkPolicy::default()
    })
}

fn resolve(workload: &Workload) -> (IdentityGraph, u64) {
    let mut graph = IdentityGraph::new(policies());
    let sent = workload.each(|interaction| {
        std::hint::black_box(graph.observe(interaction));
    });
    (graph, sent)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn bench(c: &mut Criterion) {
    // `cargo test --benches` and `--list` run this without `--bench`: a small size keeps them
    // quick while still exercising every step.
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list");
    let identifiers: u64 = std::env::var("RAPPORT_BENCH_IDENTIFIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 1_000_000 } else { 10_000 });
    let workload = Workload::new(identifiers);

    // One measured run before criterion, while nothing else is in memory, for the peak RSS.
    let baseline = peak_rss_mib();
    let start = Instant::now();
    let generated = workload.each(|interaction| {
        std::hint::black_box(interaction);
    });
    let generation = start.elapsed();
    let start = Instant::now();
    let (graph, sent) = resolve(&workload);
    let elapsed = start.elapsed();
    let peak = peak_rss_mib();
    let stats = graph.stats();
    assert_eq!(generated, sent);
    assert_eq!(stats.customers as u64, workload.customers + 1);
    let seconds = elapsed.as_secs_f64();
    println!(
        "resolve: {sent} interactions, {} identifiers, {} links, {} customers in {seconds:.2} s \
         (generating them alone: {:.2} s)\n  {:.0} interactions/s, {:.0} identifiers/s; \
         peak RSS {peak:.0} MiB (before: {baseline:.0} MiB)",
        stats.identifiers,
        stats.links,
        stats.customers,
        generation.as_secs_f64(),
        sent as f64 / seconds,
        stats.identifiers as f64 / seconds,
    );

    let keys: Vec<String> = (0..1000)
        .map(|i| Workload::key(mix(i) % workload.customers, i % 2))
        .collect();
    let mut lookups = c.benchmark_group("customer_of");
    lookups
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(keys.len() as u64));
    lookups.bench_function("1000_lookups", |b| {
        b.iter(|| {
            for key in &keys {
                std::hint::black_box(graph.customer_of("acme", key));
            }
        });
    });
    lookups.finish();
    drop(graph);

    // What a restarting service replays: every published link, in published order. Timed
    // once rather than sampled, to keep the default run near a minute.
    let mut links: Vec<Link> = Vec::new();
    let mut live = IdentityGraph::new(policies());
    workload.each(|interaction| links.extend(live.observe(interaction).new_links));
    drop(live);
    let start = Instant::now();
    let mut restored = IdentityGraph::new(policies());
    for link in &links {
        restored.apply_link(link);
    }
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(restored.stats().links, links.len());
    println!(
        "restore: {} links in {seconds:.2} s, {:.0} links/s",
        links.len(),
        links.len() as f64 / seconds
    );
    drop((restored, links));

    let mut group = c.benchmark_group("resolve");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(sent));
    group.bench_function("observe_interactions", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                let graph = resolve(&workload);
                total += start.elapsed();
                drop(graph);
            }
            total
        });
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
