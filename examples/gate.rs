//! `interven::gate!` on the embedded engine: no API key, no network.
//!
//! Scans tool calls inline, where an attribute does not fit (here, a loop
//! over calls built at run time), and matches on the outcome.
//! Run with `cargo run --example gate`.

use interven::{Client, Gate, gate};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> interven::Result<()> {
    let client = Client::local_default();
    let calls = [
        (
            "POST",
            "https://api.github.com/repos/o/r/issues",
            json!({ "title": "flaky test" }),
        ),
        (
            "POST",
            "https://api.github.com/repos/o/r/issues",
            json!({ "title": "mail bob@acme.io" }),
        ),
        ("DELETE", "https://api.github.com/repos/o/r", json!({})),
    ];
    for (method, url, body) in calls {
        let gate = gate!(method, url, body = body, tool = "github", client = &client).await?;
        match gate {
            Gate::Proceed(ok) if ok.is_sanitized() => {
                println!("{method} {url}: send redacted {}", ok.body())
            }
            Gate::Proceed(ok) => println!("{method} {url}: send {}", ok.body()),
            Gate::Denied(denied) => println!("{method} {url}: blocked {:?}", denied.reason_codes()),
            Gate::PendingApproval(pending) => {
                println!(
                    "{method} {url}: waits for approval {:?}",
                    pending.approval_id()
                );
                if let (Some(engine), Some(id)) = (client.engine(), pending.approval_id()) {
                    engine.approve(id)?;
                    let after = pending.wait().await?;
                    println!(
                        "{method} {url}: after approval, may proceed: {}",
                        after.may_proceed()
                    );
                }
            }
            _ => {}
        }
    }

    // The blocking form, for sync code.
    let body = gate!("GET", "https://example.com/status", client = &client)
        .blocking()?
        .into_body()?;
    println!("GET https://example.com/status: send {body}");
    Ok(())
}
