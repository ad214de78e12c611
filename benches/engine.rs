//! Embedded engine speed, as ratios to baselines measured in the same run:
//!
//! - a typical 1 KiB tool-call body: `Engine::scan` (and `Engine::scan_json`, from
//!   the body's bytes) vs `serde_json` parsing the same body (goal: scan ≤ 4× parse),
//!   with its one e-mail (SANITIZE) and without it (`typical_clean`: ALLOW);
//! - multi-megabyte bodies: scan throughput (goal: ≥ 150 MB/s on one core), for
//!   4000 typical records in one array, and for one 4 MB log document.
//!
//! `cargo bench --bench engine`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interven::ScanRequest;
use interven::engine::Engine;
use serde_json::{Value, json};
use std::hint::black_box;

/// A realistic ~1 KiB tool call: an issue with a title, a markdown body,
/// labels, assignees and some metadata, including one email address.
fn typical_body() -> Value {
    json!({
        "title": "Checkout fails with 500 when the cart holds more than 20 items",
        "body": "## Steps\n1. Add 21 items to the cart\n2. Click *Checkout*\n3. See a 500 from /api/v2/orders\n\n\
                 ## Expected\nThe order is created and the confirmation page shows.\n\n## Logs\n\
                 2024-11-24T19:20:24Z ERROR orders::create failed: too many line items (limit 20)\n\
                 request_id=req_01HZX3Q7YV5M2K8N4P6R9T0W1B trace=4bf92f3577b34da6a3ce929d0e0e4736\n\n\
                 Reported by the support team (contact: ops-lead@acme-corp.net).",
        "labels": ["bug", "checkout", "p1"],
        "comments": [
            {"author": "octo-dev", "text": "Reproduced on staging with 25 items; the limit comes from the pricing service."},
            {"author": "release-bot", "text": "Linked to deploy 2.14.3 (eu-west-1), rollback window closes at 18:00 UTC."}
        ],
        "assignees": ["octo-dev", "release-bot"],
        "milestone": 14,
        "metadata": {"source": "agent", "run_id": "550e8400-e29b-41d4-a716-446655440000", "attempt": 2,
                     "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8", "version": "2.14.3"}
    })
}

fn bench_typical(c: &mut Criterion) {
    typical_group(c, "typical", typical_body(), interven::Decision::Sanitize);
    // The same call without its e-mail: what most calls are (ALLOW, no copy).
    let mut clean = typical_body();
    let text = clean["body"]
        .as_str()
        .unwrap()
        .replace(" (contact: ops-lead@acme-corp.net)", "");
    clean["body"] = json!(text);
    typical_group(c, "typical_clean", clean, interven::Decision::Allow);
}

/// `serde_json` parsing `body`, and the engine scanning it as a call's body
/// (parsed, and from its bytes), in one group named `{name}_{bytes}B`.
fn typical_group(c: &mut Criterion, name: &str, body: Value, expected: interven::Decision) {
    let text = serde_json::to_string(&body).unwrap();
    let engine = Engine::default();
    let request = ScanRequest::builder("POST", "https://api.github.com/repos/acme/shop/issues")
        .json_body(body)
        .tool("github")
        .operation("create_issue")
        .build()
        .unwrap();
    assert_eq!(engine.scan(&request).decision, expected, "{name}");
    let mut group = c.benchmark_group(format!("{name}_{}B", text.len()));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("serde_json_parse", |b| {
        b.iter(|| black_box(serde_json::from_str::<Value>(black_box(&text)).unwrap()))
    });
    group.bench_function("engine_scan", |b| {
        b.iter(|| black_box(engine.scan(black_box(&request))))
    });
    // The same call with its body as bytes, as the gateway receives it.
    let bare = ScanRequest::builder("POST", "https://api.github.com/repos/acme/shop/issues")
        .tool("github")
        .operation("create_issue")
        .build()
        .unwrap();
    group.bench_function("engine_scan_json", |b| {
        b.iter(|| {
            black_box(
                engine
                    .scan_json(bare.clone(), black_box(text.as_bytes()))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

fn bench_large(c: &mut Criterion) {
    let records: Vec<Value> = (0..4000)
        .map(|i| {
            let mut v = typical_body();
            v["metadata"]["attempt"] = json!(i);
            v
        })
        .collect();
    let body = json!({ "records": records });
    let size = serde_json::to_string(&body).unwrap().len();
    let engine = Engine::default();
    let request = ScanRequest::builder("POST", "https://warehouse.acme-corp.net/ingest")
        .json_body(body)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("large");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);
    group.bench_with_input(
        BenchmarkId::new("engine_scan", format!("{:.1}MB", size as f64 / 1e6)),
        &request,
        |b, r| b.iter(|| black_box(engine.scan(black_box(r)))),
    );
    group.finish();
}

/// One large document: a 4 MB log file uploaded through a tool.
fn bench_document(c: &mut Criterion) {
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() < 4_000_000 {
        text.push_str(&format!(
            "2024-11-24T19:{:02}:{:02}Z INFO api::orders request_id=req_{i:08} user=u{} path=/api/v2/orders/{} status=200 latency_ms={} bytes={}\n",
            i / 60 % 60, i % 60, i % 977, i % 5003, i % 250, 1000 + i % 9000
        ));
        i += 1;
    }
    let body = json!({ "filename": "api.log", "content": text });
    let size = serde_json::to_string(&body).unwrap().len();
    let engine = Engine::default();
    let request = ScanRequest::builder("POST", "https://storage.acme-corp.net/upload")
        .json_body(body)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("document");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);
    group.bench_with_input(
        BenchmarkId::new("engine_scan", format!("{:.1}MB", size as f64 / 1e6)),
        &request,
        |b, r| b.iter(|| black_box(engine.scan(black_box(r)))),
    );
    group.finish();
}

criterion_group!(benches, bench_typical, bench_large, bench_document);
criterion_main!(benches);
