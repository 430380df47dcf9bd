//! The worst shapes a stranger can send, at 1, 5 and 25 MiB: the cost per MiB must stay flat as
//! the size grows (a super-linear pass is a denial of service waiting for its sender). Criterion
//! reports each as bytes per second; docs/BENCHMARKS.md ("Hostile input") has the figures.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rapport_channels::{Context, Limits, TenantConfig, normalize};
use rapport_model::{Source, Timestamp};

const MIB: usize = 1024 * 1024;
const SIZES_MIB: [usize; 3] = [1, 5, 25];

const MAIL_HEAD: &str = "From: Maria <maria@example.com>\r\nTo: support@acme.com\r\n\
Subject: hostile\r\nMessage-ID: <hostile@example.com>\r\nDate: Mon, 3 Jun 2024 10:00:00 +0000\r\n";

/// Fills `size` bytes by repeating `unit(i)` after `head`, then appends `tail`.
fn repeated(head: &str, size: usize, unit: impl Fn(usize) -> String, tail: &str) -> Vec<u8> {
    let mut out = String::with_capacity(size + tail.len() + 64);
    out.push_str(head);
    let mut i = 0;
    while out.len() < size {
        out.push_str(&unit(i));
        i += 1;
    }
    out.push_str(tail);
    out.into_bytes()
}

/// Every shape, as (name, source, payload of about `size` bytes).
fn shapes(size: usize) -> Vec<(&'static str, Source, Vec<u8>)> {
    let plain = format!("{MAIL_HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\n");
    let html = format!("{MAIL_HEAD}Content-Type: text/html; charset=utf-8\r\n\r\n");
    let depth = size / 64;
    let mut nested = format!("{MAIL_HEAD}Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    let mut level = 0;
    while nested.len() < size && level < depth {
        level += 1;
        nested.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n",
            level - 1
        ));
    }
    nested.push_str(&format!(
        "--b{level}\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    ));
    for l in (0..=level).rev() {
        nested.push_str(&format!("--b{l}--\r\n"));
    }
    vec![
        // Quote stripping: every line quoted but the last, so no line starts a trailing quote block.
        (
            "quoted_lines",
            Source::Rfc822,
            repeated(
                &plain,
                size,
                |i| format!("> quoted line {i}\r\n"),
                "my answer\r\n",
            ),
        ),
        // Blockquote cutting: openings that never close.
        (
            "open_blockquotes",
            Source::Rfc822,
            repeated(&html, size, |_| "<blockquote>x".into(), "</p>"),
        ),
        // Blockquote cutting: deep nesting, then as many closings.
        ("nested_blockquotes", Source::Rfc822, {
            let n = size / 26;
            let mut body = html.clone();
            body.push_str(&"<blockquote>".repeat(n));
            body.push_str("deep");
            body.push_str(&"</blockquote>".repeat(n));
            body.push_str("<p>answer</p>");
            body.into_bytes()
        }),
        ("nested_multiparts", Source::Rfc822, nested.into_bytes()),
        (
            "many_headers",
            Source::Rfc822,
            repeated(
                MAIL_HEAD,
                size,
                |i| format!("X-Hostile-{i}: value {i}\r\n"),
                "Content-Type: text/plain\r\n\r\nhello\r\n",
            ),
        ),
        (
            "many_addresses",
            Source::Rfc822,
            repeated(
                "From: Maria <maria@example.com>\r\nSubject: many\r\nMessage-ID: <many@example.com>\r\nCc: ",
                size,
                |i| format!("person{i}@example.com,\r\n "),
                "last@example.com\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
            ),
        ),
        (
            "long_phone",
            Source::Generic,
            repeated(
                r#"{"schema":"rapport.generic.v1","event_id":"e1","channel":"chat","conversation_id":"c1","occurred_at":"2024-05-20T08:30:12Z","kind":"message","direction":"inbound","actor":{"role":"customer"},"customer":{"email":"maria@example.com","phone":""#,
                size,
                |_| "4155552671".into(),
                r#""},"text":"hello"}"#,
            ),
        ),
        (
            "quoted_chat_text",
            Source::Generic,
            repeated(
                r#"{"schema":"rapport.generic.v1","event_id":"e2","channel":"chat","conversation_id":"c1","occurred_at":"2024-05-20T08:30:12Z","kind":"message","direction":"inbound","actor":{"role":"customer"},"customer":{"email":"maria@example.com"},"text":""#,
                size,
                |i| format!("> line {i}\\n"),
                r#"answer"}"#,
            ),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let tenant = TenantConfig {
        agent_domains: vec!["acme.com".into()],
        bot_ids: vec![],
        default_phone_region: Some("US".into()),
    };
    // Above the largest shape, so every payload is parsed rather than refused by size.
    let limits = Limits {
        max_payload_bytes: 64 * MIB,
        max_json_depth: 64,
    };
    let ctx = Context {
        tenant_id: "acme",
        received_at: Timestamp::from_millis(1_717_243_200_000),
        tenant: &tenant,
        limits: &limits,
        raw_ref: None,
    };
    let mut group = c.benchmark_group("hostile");
    group.sample_size(10);
    for mib in SIZES_MIB {
        for (name, source, payload) in shapes(mib * MIB) {
            group.throughput(Throughput::Bytes(payload.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(name, format!("{mib}MiB")),
                &payload,
                |b, payload| b.iter(|| std::hint::black_box(normalize(source, payload, &ctx))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
