//! Normalization throughput per source and for a mixed corpus, over the golden payloads that
//! normalize successfully. Results and how to read them: docs/BENCHMARKS.md.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_model::{Source, Timestamp};

fn corpus() -> Vec<(Source, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut payloads = Vec::new();
    for source in Source::ALL {
        let Ok(entries) = std::fs::read_dir(root.join(source.as_str())) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            if !path.to_string_lossy().ends_with(".expected.json") {
                payloads.push((*source, std::fs::read(&path).unwrap()));
            }
        }
    }
    payloads
}

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
    let corpus: Vec<(Source, Vec<u8>, u64)> = corpus()
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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
