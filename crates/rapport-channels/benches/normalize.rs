//! Normalization throughput per source, for the mixed corpus, the JSON sources and the mail
//! sources, over the golden payloads that normalize successfully. Results and how to read them:
//! docs/BENCHMARKS.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_model::{Source, Timestamp};

fn bench(c: &mut Criterion) {
    let tenant = TenantConfig {
        agent_domains: vec!["acme.com".into()],
        bot_ids: vec![],
        default_phone_region: Some("US".into()),
    };
    let limits = Limits::default();
    let ctx = Context {
        tenant_id: "acme",
        received_at: Timestamp::from_millis(1_717_243_200_000),
        tenant: &tenant,
        limits: &limits,
        raw_ref: None,
    };
    // Only payloads that succeed: rejected ones measure the error path, not normalization.
    let corpus: Vec<(Source, Vec<u8>, u64)> = rapport_channels::fuzzing::golden_payloads()
        .into_iter()
        .filter_map(|(s, p)| {
            normalize(s, &p, &ctx)
                .ok()
                .filter(|i| !i.is_empty())
                .map(|i| (s, p, i.len() as u64))
        })
        .collect();

    let mut group = c.benchmark_group("normalize");
    for source in Source::ALL {
        let payloads: Vec<_> = corpus.iter().filter(|(s, _, _)| s == source).collect();
        if payloads.is_empty() {
            continue;
        }
        let interactions: u64 = payloads.iter().map(|(_, _, n)| n).sum();
        group.throughput(Throughput::Elements(interactions));
        group.bench_with_input(
            BenchmarkId::new("source", source),
            &payloads,
            |b, payloads| {
                b.iter(|| {
                    for (source, payload, _) in payloads.iter() {
                        std::hint::black_box(normalize(*source, payload, &ctx).unwrap());
                    }
                });
            },
        );
    }
    let total: u64 = corpus.iter().map(|(_, _, n)| n).sum();
    group.throughput(Throughput::Elements(total));
    group.bench_function("mixed", |b| {
        b.iter(|| {
            for (source, payload, _) in &corpus {
                std::hint::black_box(normalize(*source, payload, &ctx).unwrap());
            }
        });
    });
    // Issue #3's target is about the sources whose payloads are JSON documents: every source
    // outside the email channel. The email sources carry a MIME message or its parts (a raw
    // message, SendGrid's and Mailgun's form posts, SES's SNS envelope around the message) and
    // are measured as their own group. Both interleave their sources as a normalizer sees them.
    let is_mail = |s: Source| s.channel() == Some(rapport_model::Channel::Email);
    for (name, mail) in [("json", false), ("mail", true)] {
        let subset: Vec<_> = corpus
            .iter()
            .filter(|(s, _, _)| is_mail(*s) == mail)
            .collect();
        group.throughput(Throughput::Elements(subset.iter().map(|(_, _, n)| n).sum()));
        group.bench_function(name, |b| {
            b.iter(|| {
                for (source, payload, _) in &subset {
                    std::hint::black_box(normalize(*source, payload, &ctx).unwrap());
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
