//! Scans a tool call on the embedded engine: no API key, no network.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = interven::Client::from_env()?;
    let request = interven::ScanRequest::builder("POST", "https://slack.com/api/chat.postMessage")
        .body(&serde_json::json!({ "channel": "#ops", "text": "deploy finished" }))
        .tool("slack")
        .operation("post_message")
        .build()?;
    let verdict = client.scan_blocking(&request)?;
    println!("{} {:?}", verdict.decision, verdict.reason_codes);
    Ok(())
}
