//! Verification cost against body size: every scheme must stay linear, so the 4 MiB case
//! should take about four times the 1 MiB case. Bodies are the worst shape each reader
//! accepts: for Mailgun's multipart reader, a delimiter on every line.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::DateTime;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, Uri};
use rapport_gateway::config::GatewayConfig;
use rapport_gateway::keys::{GoogleKeys, SnsCertificates};
use rapport_gateway::verify::generic;
use rapport_gateway::{Endpoints, KeyStores, Request};

const NOW: i64 = 1_716_000_000;

fn endpoints() -> Endpoints {
    let config: GatewayConfig = toml::from_str(
        r#"
        [[endpoints]]
        id = "g"
        tenant = "t"
        source = "generic"
        secrets = [{ value = "s1" }, { value = "s2" }]

        [[endpoints]]
        id = "m"
        tenant = "t"
        source = "mailgun"
        secrets = [{ value = "k" }]
        "#,
    )
    .unwrap();
    let keys = KeyStores {
        sns: Arc::new(SnsCertificates::new(None)),
        google: Arc::new(GoogleKeys::new(None)),
    };
    Endpoints::build(&config, &HashMap::<String, String>::new(), &keys).unwrap()
}

fn bench(c: &mut Criterion) {
    let endpoints = endpoints();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let method = Method::POST;
    let uri: Uri = "/hooks/x/y".parse().unwrap();
    let now = DateTime::from_timestamp(NOW, 0).unwrap();

    let mut group = c.benchmark_group("verify");
    group.sample_size(20);
    for mib in [1usize, 4] {
        let size = mib * 1024 * 1024;
        group.throughput(Throughput::Bytes(size as u64));

        // generic: the second of two secrets matches, so both HMACs run over the body.
        let body = vec![b'x'; size];
        let mut headers = HeaderMap::new();
        headers.insert("x-rapport-timestamp", HeaderValue::from(NOW));
        headers.insert(
            "x-rapport-signature",
            generic::signature_header(b"s2", NOW, &body)
                .parse()
                .unwrap(),
        );
        let request = Request {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body,
        };
        let verifier = &endpoints.get("generic", "g").unwrap().verifier;
        group.bench_with_input(
            BenchmarkId::new("generic", format!("{mib}MiB")),
            &request,
            |b, r| b.iter(|| runtime.block_on(verifier.verify(r, now)).unwrap()),
        );

        // mailgun multipart: a delimiter on every line, signature fields at the end.
        let line = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n";
        let mut body = line.repeat(size / line.len()).into_bytes();
        let sig = {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
            mac.update(format!("{NOW}tok").as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        for (name, value) in [
            ("timestamp", NOW.to_string()),
            ("token", "tok".into()),
            ("signature", sig),
        ] {
            body.extend_from_slice(
                format!(
                    "--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(b"--b--\r\n");
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("multipart/form-data; boundary=b"),
        );
        let request = Request {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body,
        };
        let verifier = &endpoints.get("mailgun", "m").unwrap().verifier;
        group.bench_with_input(
            BenchmarkId::new("mailgun_multipart", format!("{mib}MiB")),
            &request,
            |b, r| b.iter(|| runtime.block_on(verifier.verify(r, now)).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
