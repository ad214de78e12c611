//! Scanning bodies straight from their bytes (`Engine::scan_json`, what
//! `interven-gateway scan` does), beside `serde_json` parsing the same bytes
//! into a `Value` in the same run: three shapes — a log batch of records
//! (with a few e-mail addresses to redact, and clean), one large text
//! document, a deeply nested configuration — at 1 KiB, 1 MB and
//! 10 MB; 100 MB too with `INTERVEN_BENCH_BIG=1` (slow: ten samples of a few
//! seconds each). Compare the two lines of a group: their ratio is the
//! scanner's cost in parses, and MB/s at 100 MB against 1 MB tells whether
//! the cost is linear.
//!
//! `cargo bench --bench scan` (`-- log_batch/` for one shape).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interven::ScanRequest;
use interven::engine::Engine;
use serde_json::Value;

/// `{"records": [...]}`: log records as a log query returns them, about
/// 500 bytes each; one in 5,000 carries an e-mail address, the first at
/// record 1,000, so that every batch from 1 MB up is redacted (SANITIZE)
/// and sizes compare like with like. [`log_batch_clean`] holds none.
fn log_batch(size: usize) -> Vec<u8> {
    records(size, true)
}

/// [`log_batch`] without the e-mail addresses: every size is ALLOW.
fn log_batch_clean(size: usize) -> Vec<u8> {
    records(size, false)
}

fn records(size: usize, with_email: bool) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(0x10c5);
    let mut out = String::from("{\"records\":[");
    let mut i = 0u64;
    while out.len() < size {
        if i > 0 {
            out.push(',');
        }
        let hex: String = (0..32)
            .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
            .collect();
        let id: String = (0..26)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rng.usize(..32)]))
            .collect();
        let note = if with_email && i % 5000 == 1000 {
            format!("; notified jane.doe{i}@acme-corp.net")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r#"{{"ts":"2026-11-24T19:{:02}:{:02}.{:03}Z","level":"{}","service":"{}","host":"web-{}.eu-west-1.internal","message":"GET /api/v2/orders/{} -> {} in {} ms{note}","request_id":"req_{id}","trace_id":"{hex}","span_id":"{}","user_id":"u{}","http":{{"method":"GET","status":200,"latency_ms":{},"bytes":{},"user_agent":"curl/8.5.0"}},"tags":["prod","eu-west-1","orders"],"attempt":{},"env":"production","region":"eu-west-1","version":"2.{}.{}"}}"#,
            i / 60 % 60,
            i % 60,
            i % 1000,
            ["INFO", "WARN", "ERROR", "DEBUG"][rng.usize(..4)],
            ["api", "orders", "billing", "search"][rng.usize(..4)],
            rng.u32(..40),
            rng.u32(..1_000_000),
            [200, 201, 404, 500][rng.usize(..4)],
            rng.u32(1..900),
            &hex[..16],
            rng.u32(..1_000_000),
            rng.u32(..900),
            rng.u32(..1_000_000),
            rng.u32(..4),
            rng.u32(..20),
            rng.u32(..10),
        );
        i += 1;
    }
    out.push_str("]}");
    out.into_bytes()
}

/// `{"filename": …, "content": …}`: one log file, one string of many lines.
fn document(size: usize) -> Vec<u8> {
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() + 64 < size {
        let _ = writeln!(
            text,
            "2024-11-24T19:{:02}:{:02}Z INFO api::orders request_id=req_{i:08} user=u{} path=/api/v2/orders/{} status=200 latency_ms={}",
            i / 60 % 60,
            i % 60,
            i % 977,
            i % 5003,
            i % 250
        );
        i += 1;
    }
    serde_json::to_vec(&serde_json::json!({"filename": "api.log", "content": text})).unwrap()
}

/// A configuration nested ten levels deep: services, each with an env list
/// (`{"name": …, "value": …}`), limits and a tree of settings.
fn nested_config(size: usize) -> Vec<u8> {
    fn tree(depth: usize, i: usize) -> Value {
        if depth == 0 {
            return serde_json::json!({"enabled": true, "threshold": i % 97, "mode": "balanced"});
        }
        serde_json::json!({
            format!("level_{depth}"): tree(depth - 1, i),
            "label": format!("node {depth}.{i}"),
            "weight": depth * 3,
        })
    }
    let mut services = Vec::new();
    let mut len = 0;
    let mut i = 0;
    while len < size {
        let s = serde_json::json!({
            "name": format!("svc-{i}"),
            "image": format!("registry.acme.io/svc-{i}:2.{}.0", i % 20),
            "env": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "REGION", "value": "eu-west-1"},
                {"name": "WORKERS", "value": format!("{}", 2 + i % 6)}
            ],
            "limits": {"cpu": "500m", "memory": "512Mi"},
            "settings": tree(10, i),
        });
        len += serde_json::to_vec(&s).unwrap().len() + 1;
        services.push(s);
        i += 1;
    }
    serde_json::to_vec(&serde_json::json!({"apiVersion": "v1", "services": services})).unwrap()
}

fn sizes() -> Vec<(usize, &'static str)> {
    let mut sizes = vec![(1024, "1KiB"), (1_000_000, "1MB"), (10_000_000, "10MB")];
    if std::env::var_os("INTERVEN_BENCH_BIG").is_some_and(|v| v == "1") {
        sizes.push((100_000_000, "100MB"));
    }
    sizes
}

fn bench_shape(c: &mut Criterion, name: &str, make: fn(usize) -> Vec<u8>) {
    let engine = Engine::default();
    let request = ScanRequest::builder("POST", "https://tools.acme-corp.net/v1/call")
        .tool("logs")
        .operation("query")
        .build()
        .unwrap();
    let mut group = c.benchmark_group(name);
    for (size, label) in sizes() {
        let bytes = make(size);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        if bytes.len() > 100_000 {
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(if bytes.len() > 20_000_000 {
                30
            } else {
                5
            }));
        } else {
            group.sample_size(50);
            group.measurement_time(Duration::from_secs(3));
        }
        group.bench_with_input(
            BenchmarkId::new("serde_json_parse", label),
            &bytes,
            |b, bytes| {
                b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(bytes)).unwrap()))
            },
        );
        group.bench_with_input(BenchmarkId::new("scan_json", label), &bytes, |b, bytes| {
            b.iter(|| black_box(engine.scan_json(request.clone(), black_box(bytes)).unwrap()))
        });
    }
    group.finish();
}

fn bench_log_batch(c: &mut Criterion) {
    bench_shape(c, "log_batch", log_batch);
}

fn bench_log_batch_clean(c: &mut Criterion) {
    bench_shape(c, "log_batch_clean", log_batch_clean);
}

fn bench_document(c: &mut Criterion) {
    bench_shape(c, "text_document", document);
}

fn bench_nested(c: &mut Criterion) {
    bench_shape(c, "nested_config", nested_config);
}

criterion_group!(
    benches,
    bench_log_batch,
    bench_log_batch_clean,
    bench_document,
    bench_nested
);
criterion_main!(benches);
