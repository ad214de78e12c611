//! What policy v2 costs on the scan path, as ratios to the built-in policy in
//! the same run, on the 1 KiB tool call of the `engine` bench:
//!
//! - `builtin`: the built-in policy (8 rules);
//! - `coding_agent`: `examples/policy-coding-agent.toml` (16 rules: regexes
//!   on the command, a rate, value and field exemptions);
//! - `when_heavy`: the built-in policy plus 50 `when` rules with `*`
//!   pointers and a value exemption (digests computed for every finding).
//!
//! `cargo bench --bench policy`

use criterion::{Criterion, criterion_group, criterion_main};
use interven::ScanRequest;
use interven::engine::{BUILTIN_POLICY, Engine, Policy};
use serde_json::json;
use std::hint::black_box;

fn request() -> ScanRequest {
    ScanRequest::builder("POST", "https://api.github.com/repos/acme/shop/issues")
        .json_body(json!({
            "title": "Checkout fails with 500 when the cart holds more than 20 items",
            "body": "## Steps\n1. Add 21 items to the cart\n2. Click *Checkout*\n3. See a 500 from /api/v2/orders\n\n\
                     ## Logs\n2024-11-24T19:20:24Z ERROR orders::create failed: too many line items (limit 20)\n\
                     request_id=req_01HZX3Q7YV5M2K8N4P6R9T0W1B trace=4bf92f3577b34da6a3ce929d0e0e4736\n\n\
                     Reported by the support team (contact: ops-lead@acme-corp.net).",
            "labels": ["bug", "checkout", "p1"],
            "comments": [
                {"author": "octo-dev", "text": "Reproduced on staging with 25 items."},
                {"author": "release-bot", "text": "Linked to deploy 2.14.3 (eu-west-1)."}
            ],
            "command": "cargo test -q checkout",
            "milestone": 14,
            "metadata": {"source": "agent", "attempt": 2, "version": "2.14.3"}
        }))
        .tool("shell")
        .operation("exec")
        .agent_id("bench")
        .build()
        .unwrap()
}

fn when_heavy() -> Policy {
    let mut text = BUILTIN_POLICY.to_owned();
    for i in 0..50 {
        text.push_str(&format!(
            "\n[[rules]]\nname = \"w{i}\"\nwhen = [{{ field = \"/comments/*/text\", regex = 'item{i}\\b' }}, {{ field = \"/milestone\", gt = {i} }}]\ndecision = \"REQUIRE_APPROVAL\"\nreason = \"W{i}\"\n"
        ));
    }
    text.push_str("\n[[exempt]]\nname = \"v\"\nvalues = [\"sha256:93d6866f848a67e4b213596cce82eaace9c41c1d2a10fef41c1c5c7960b3fcd6\"]\n");
    Policy::from_toml(&text).unwrap()
}

fn bench_policies(c: &mut Criterion) {
    let request = request();
    let coding = Policy::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/policy-coding-agent.toml"
    ))
    .unwrap();
    let engines = [
        ("builtin", Engine::default()),
        ("coding_agent", Engine::new(coding)),
        ("when_heavy", Engine::new(when_heavy())),
    ];
    let mut group = c.benchmark_group("policy_typical");
    for (name, engine) in &engines {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(engine.assess(black_box(&request), "bench")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_policies);
criterion_main!(benches);
