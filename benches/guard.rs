//! The cost of `#[interven::guard]` on the embedded engine: a guarded call
//! against the same function unguarded, and against serializing its
//! arguments (the least a guard must do). Run with `cargo bench --bench guard`.
//!
//! Measured on 2026-12-04 (2 cores, the built-in policy, a short clean
//! message): unguarded 2.34 ns, serializing the arguments 190 ns, guarded
//! 2.47 µs — 13× the serialization (on 2026-11-24: 3.6 ns, 202 ns and
//! 10.8 µs, 53×); the engine's scan is almost all of it (with the
//! placeholder engine the guard's own machinery measured 0.63 µs). That
//! evening, after the keyword table, on a faster machine: 1.74 ns, 125 ns
//! and 1.70 µs (13.6×); the morning's build there: 1.94 ns, 132 ns and
//! 1.97 µs (15.0×).

use std::hint::black_box;
use std::sync::LazyLock;

use criterion::{Criterion, criterion_group, criterion_main};
use interven::Client;

static CLIENT: LazyLock<Client> = LazyLock::new(Client::local_default);

const CHANNEL: &str = "#ops";
const TEXT: &str = "deploy 4f2a9c finished on eu-west-1 in 312 s; 0 errors, 2 warnings";

#[interven::guard(tool = "slack", operation = "post_message", client = *CLIENT)]
fn guarded(channel: &str, text: &str, attempt: u32) -> interven::Result<usize> {
    Ok(channel.len() + text.len() + attempt as usize)
}

#[allow(clippy::unnecessary_wraps)]
fn unguarded(channel: &str, text: &str, attempt: u32) -> interven::Result<usize> {
    Ok(channel.len() + text.len() + attempt as usize)
}

fn serialize_arguments(channel: &str, text: &str, attempt: u32) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("channel".into(), serde_json::to_value(channel).unwrap());
    map.insert("text".into(), serde_json::to_value(text).unwrap());
    map.insert("attempt".into(), serde_json::to_value(attempt).unwrap());
    serde_json::Value::Object(map)
}

fn bench(c: &mut Criterion) {
    LazyLock::force(&CLIENT);
    let mut g = c.benchmark_group("guard");
    g.bench_function("unguarded", |b| {
        b.iter(|| unguarded(black_box(CHANNEL), black_box(TEXT), black_box(1)));
    });
    g.bench_function("serialize_arguments", |b| {
        b.iter(|| serialize_arguments(black_box(CHANNEL), black_box(TEXT), black_box(1)));
    });
    g.bench_function("guarded_embedded", |b| {
        b.iter(|| guarded(black_box(CHANNEL), black_box(TEXT), black_box(1)));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
