//! Encoding and decoding one interaction on the wire: the normalizer's and the writer's per-record
//! Avro cost. Results: docs/BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rapport_model::Interaction;
use rapport_model::wire::{Framing, decode_single_object, encode};

fn bench(c: &mut Criterion) {
    // A realistic interaction: a Zendesk customer comment with two identities, an attachment and
    // a paragraph of text (the expected output of one of the adapters' golden payloads).
    let golden: serde_json::Value = serde_json::from_str(include_str!(
        "../../rapport-channels/tests/golden/zendesk/01-customer-email-comment.json.expected.json"
    ))
    .expect("golden file is JSON");
    let interaction: Interaction = serde_json::from_value(golden["interactions"][0].clone())
        .expect("golden interaction matches the contract");
    let bytes = encode(&interaction, Framing::SingleObject);

    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_single_object", |b| {
        b.iter(|| encode(std::hint::black_box(&interaction), Framing::SingleObject));
    });
    group.bench_function("encode_confluent", |b| {
        b.iter(|| {
            encode(
                std::hint::black_box(&interaction),
                Framing::Confluent { schema_id: 7 },
            )
        });
    });
    group.bench_function("decode_single_object", |b| {
        b.iter(|| decode_single_object(std::hint::black_box(&bytes)).unwrap());
    });
    // The same datum through apache-avro's `Value` tree, as before the direct codec: what a
    // reader with another writer schema still pays.
    let schema = rapport_model::interaction_schema();
    group.bench_function("encode_apache_avro_value", |b| {
        b.iter(|| {
            apache_avro::to_avro_datum(
                schema,
                rapport_model::to_avro_value(std::hint::black_box(&interaction)),
            )
            .unwrap()
        });
    });
    let datum = &bytes[10..];
    group.bench_function("decode_apache_avro_value", |b| {
        b.iter(|| {
            let value =
                apache_avro::from_avro_datum(schema, &mut std::hint::black_box(datum), None)
                    .unwrap();
            rapport_model::from_avro_value(value).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
