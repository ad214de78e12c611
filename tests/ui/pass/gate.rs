//! Every `gate!` form.
#![deny(warnings, unused_braces, clippy::pedantic)]

use interven::{Client, Gate, gate};

#[derive(serde::Serialize)]
struct Issue {
    title: String,
}

#[tokio::main]
async fn main() -> interven::Result<()> {
    let client = Client::local_default();
    let url = String::from("https://api.github.com/repos/o/r/issues");
    let t = "bug";

    let g = gate!("POST", url.as_str(), body = { "title": t }, client = &client).await?;
    assert!(g.may_proceed());
    let g = gate!("POST", &url, body = ["a", 1], tool = "github", client = client).await?;
    assert!(g.may_proceed());
    let issue = Issue { title: t.to_owned() };
    let g = gate!("POST", url.clone(), body = issue, tool = "github", operation = "create_issue", client = client.clone(),).await?;
    match g {
        Gate::Proceed(p) => assert_eq!(p.body()["title"], "bug"),
        Gate::Denied(d) => panic!("{:?}", d.reason_codes()),
        Gate::PendingApproval(p) => drop(p.wait().await?),
        _ => unreachable!(),
    }
    let body = gate!("GET", "https://example.com", client = &client).blocking()?.into_body()?;
    assert_eq!(body, serde_json::json!({}));
    let body = gate!("GET", "https://example.com").await?.into_body()?;
    assert_eq!(body, serde_json::json!({}));
    Ok(())
}
