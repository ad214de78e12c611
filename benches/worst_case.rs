//! The worst bodies we could build for the detector, each about 256 KiB
//! (the gateway's default body limit): each must scan in linear time
//! (goal: ≤ 50 ms on a 2-vCPU machine). Criterion reports each scan's time
//! and throughput; compare them with `typical_*` in `benches/engine.rs`.
//!
//! `cargo bench --bench worst_case -- --warm-up-time 1 --measurement-time 3`

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use interven::ScanRequest;
use interven::engine::Engine;
use serde_json::{Value, json};
use std::hint::black_box;

const SIZE: usize = 256 * 1024 - 1024;

fn repeat(unit: &str) -> String {
    unit.repeat(SIZE / unit.len())
}

fn shapes() -> Vec<(&'static str, Value)> {
    let hex_text: String = repeat("token=abc ")
        .bytes()
        .take(SIZE / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'a'; 64 * 1024 * 1024]).unwrap();
    let bomb = STANDARD.encode(gz.finish().unwrap());
    let mut nested = "password=Zq8!kPm2x".to_owned();
    while nested.len() < SIZE / 2 {
        nested = STANDARD.encode(&nested);
    }
    let fragments: Vec<Value> = (0..SIZE / 14)
        .map(|i| json!(format!("ghp_{i:08}")))
        .collect();
    let keys: serde_json::Map<String, Value> = (0..SIZE / 32)
        .map(|i| (format!("password_{i}"), json!("Zq8!kPm2x")))
        .collect();
    vec![
        ("emails", json!({ "text": repeat("a@b.co ") })),
        ("emails_no_space", json!({ "text": repeat("a@b.co") })),
        ("at_flood", json!({ "text": repeat("a@") })),
        ("almost_emails", json!({ "text": repeat("a.b-c@d-e.f ") })),
        (
            "password_keywords",
            json!({ "text": repeat("password=x ") }),
        ),
        (
            "secret_prefixes",
            json!({ "text": repeat("ghp_ sk_live_ AKIA xoxb- ") }),
        ),
        ("digit_groups", json!({ "text": repeat("4111 1111 ") })),
        (
            "digits_and_dots",
            json!({ "text": repeat("1.2-3 4(5)+6 ") }),
        ),
        (
            "base64_run",
            json!({ "blob": repeat("QWxhZGRpbjpvcGVuIHNlc2FtZQ") }),
        ),
        ("hex_of_text", json!({ "blob": hex_text })),
        ("html_entities", json!({ "html": repeat("&#97;&amp;") })),
        ("escapes", json!({ "code": repeat("\\u0061\\x62") })),
        ("fullwidth", json!({ "text": repeat("ｓｋ＿ｌｉｖｅ＿") })),
        ("zero_width", json!({ "text": repeat("a\u{200B}") })),
        ("concatenations", json!({ "code": repeat("\"a\" + ") })),
        ("gzip_bomb", json!({ "blob": bomb })),
        ("nested_base64", json!({ "blob": nested })),
        ("split_fragments", json!({ "parts": fragments })),
        ("password_keys", Value::Object(keys)),
        (
            "obfuscated_at",
            json!({ "text": repeat("a [at] b [dot] c ") }),
        ),
        (
            "names_and_dates",
            json!({ "text": repeat("Jane Doe 1983-03-04 ") }),
        ),
        (
            "table",
            json!({ "csv": format!("name,password,ssn\n{}", repeat("a,Zq8!kPm2x,123-45-6789\n")) }),
        ),
        ("urls", json!({ "text": repeat("https://u:p@h.io/ ") })),
        (
            "variables_joined",
            json!({ "code": format!("A=sk_live_ab\nB=cdefgh\n{}", repeat("$A$B+A + B ")) }),
        ),
        (
            "implicit_concatenation",
            json!({ "code": repeat("\"ab\" ") }),
        ),
    ]
}

fn bench_worst(c: &mut Criterion) {
    let engine = Engine::default();
    let mut group = c.benchmark_group("worst_case_256KiB");
    group.sample_size(10);
    for (name, body) in shapes() {
        let size = serde_json::to_string(&body).unwrap().len();
        let request = ScanRequest::builder("POST", "https://api.acme-corp.net/upload")
            .json_body(body)
            .build()
            .unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(engine.assess(black_box(&request), "bench")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_worst);
criterion_main!(benches);
