//! Normalizing one phone number, uncached: what a chat or helpdesk event pays for a number the
//! per-thread cache in rapport-channels has not seen yet. Results: docs/BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rapport_model::normalize_phone;

/// Numbers as payloads carry them, each with the default region a tenant would have.
const MIXED: [(&str, Option<&str>); 8] = [
    ("+1 (415) 555-2671", None),
    ("(415) 555-2671", Some("US")),
    ("+4915112345678", Some("US")),
    ("030 901820", Some("DE")),
    ("+44 20 7183 8750", Some("GB")),
    ("tel:+33-6-12-34-56-78", None),
    ("0044 20 7183 8750", Some("DE")),
    ("not a phone", Some("US")),
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("phone");
    group.throughput(Throughput::Elements(1));
    group.bench_function("e164", |b| {
        b.iter(|| normalize_phone(std::hint::black_box("+14155552671"), None));
    });
    group.bench_function("national_with_region", |b| {
        b.iter(|| normalize_phone(std::hint::black_box("(415) 555-2671"), Some("US")));
    });
    group.bench_function("foreign_international_with_region", |b| {
        b.iter(|| normalize_phone(std::hint::black_box("+49 1511 2345678"), Some("US")));
    });
    group.throughput(Throughput::Elements(MIXED.len() as u64));
    group.bench_function("mixed", |b| {
        b.iter(|| {
            for (raw, region) in MIXED {
                let _ = std::hint::black_box(normalize_phone(std::hint::black_box(raw), region));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
