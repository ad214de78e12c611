//! Scans three realistic tool calls on the embedded engine: a clean one,
//! one carrying personal data, and one leaking a credential.
//!
//! Needs no API key and no network: without `INTERVEN_API_KEY`,
//! `Client::from_env()` uses the embedded engine and its built-in policy.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use interven::{Client, ScanRequest};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    println!(
        "engine: {}\n",
        if client.is_remote() {
            "gateway"
        } else {
            "embedded (no INTERVEN_API_KEY set)"
        }
    );

    // Built at run time so that no file of the repository holds a credential-shaped string.
    let leaked_key = format!("sk_live_{}", "Rq84TzVw1mXcLp9KdE2sHn6Y");

    let calls = [
        (
            "clean: post a deploy note to Slack",
            ScanRequest::builder("POST", "https://slack.com/api/chat.postMessage")
                .body(&json!({ "channel": "#deploys", "text": "api v2.14.3 is live in eu-west-1" }))
                .tool("slack")
                .operation("post_message"),
        ),
        (
            "PII: open a support ticket that quotes the customer",
            ScanRequest::builder("POST", "https://acme.zendesk.com/api/v2/tickets")
                .body(&json!({
                    "ticket": {
                        "subject": "Refund question",
                        "comment": "Customer Jane Roe (jane.roe@acme.io, +1 415 555 0132) asks about order 1182."
                    }
                }))
                .tool("zendesk")
                .operation("create_ticket"),
        ),
        (
            "secret: an agent pastes a payment key into a GitHub issue",
            ScanRequest::builder("POST", "https://api.github.com/repos/acme/shop/issues")
                .body(&json!({ "title": "Checkout broken", "body": format!("Repro with STRIPE_KEY={leaked_key}") }))
                .tool("github")
                .operation("create_issue"),
        ),
    ];

    for (what, builder) in calls {
        let verdict = client.scan_blocking(&builder.build()?)?;
        println!("{what}");
        println!(
            "  decision: {}  (risk {:.2}, {})",
            verdict.decision, verdict.risk_score, verdict.risk_band
        );
        println!(
            "  reasons:  {}",
            if verdict.reason_codes.is_empty() {
                "-".to_owned()
            } else {
                verdict.reason_codes.join(", ")
            }
        );
        if let Some(body) = &verdict.sanitized_body {
            println!("  sanitized body: {body}");
        }
        println!();
    }
    Ok(())
}
