//! Normalization throughput per source, for the mixed corpus and for the JSON sources mixed, over
//! the golden payloads that normalize successfully. Results and how to read them: docs/BENCHMARKS.md.

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
    // Issue #3's target is about the sources that take JSON (every source but raw mail), so this
    // is the same corpus without rfc822, interleaved as a normalizer would see it.
    let json: Vec<_> = corpus
        .iter()
        .filter(|(s, _, _)| *s != Source::Rfc822)
        .collect();
    group.throughput(Throughput::Elements(json.iter().map(|(_, _, n)| n).sum()));
    group.bench_function("json", |b| {
        b.iter(|| {
            for (source, payload, _) in &json {
                std::hint::black_box(normalize(*source, payload, &ctx).unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
