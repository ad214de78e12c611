//! interven-mcp driven by rmcp's client, in front of the real
//! `@modelcontextprotocol/server-everything` and the notes test server
//! (scripts/mcp_test_server.py), over stdio and streamable HTTP.
//!
//! `scripts/mcp-e2e.sh` (run by `.ci/run`) installs the servers and sets
//! `MCP_EVERYTHING`, `MCP_TEST_PYTHON` and `MCP_TEST_SERVER`; without them
//! these tests say so loudly and pass without running.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Map, Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_interven-mcp");
const SECRET: &str = "AKIAZ7QWERTYUIOP4ZXC";

fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!(
                "\n*** SKIPPED: {name} is not set. Run scripts/mcp-e2e.sh (as .ci/run does) to install the MCP servers this test drives. ***\n"
            );
            None
        }
    }
}

fn temp(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("interven-mcp-test-{name}-{nanos}.json"))
}

fn command(args: &[&str], server: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).arg("--").args(server);
    cmd.env_remove("INTERVEN_API_KEY");
    cmd
}

async fn stdio(pins: &std::path::Path, server: &[&str]) -> RunningService<RoleClient, ()> {
    let cmd = command(&["stdio", "--pins", pins.to_str().unwrap()], server);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ().serve(transport).await.unwrap()
}

fn args(v: Value) -> Map<String, Value> {
    serde_json::from_value(v).unwrap()
}

async fn call(
    c: &RunningService<RoleClient, ()>,
    tool: &'static str,
    a: Value,
) -> Result<CallToolResult, ServiceError> {
    c.call_tool(CallToolRequestParams::new(tool).with_arguments(args(a)))
        .await
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn stdio_guards_calls_and_passes_the_rest_through() {
    let Some(everything) = env("MCP_EVERYTHING") else {
        return;
    };
    let pins = temp("stdio");
    let c = stdio(&pins, &["node", &everything]).await;
    let info = c.peer().peer_info().unwrap();
    assert_eq!(
        info.server_info.as_ref().unwrap().name,
        "mcp-servers/everything"
    );

    let tools = c.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");

    let r = call(&c, "echo", json!({"message": "hello"})).await.unwrap();
    assert_ne!(r.is_error, Some(true));
    assert_eq!(text(&r), "Echo: hello");
    let r = call(&c, "echo", json!({"message": "mail jane.doe@acme.io"}))
        .await
        .unwrap();
    assert_eq!(text(&r), "Echo: mail [REDACTED:EMAIL]");
    let r = call(&c, "echo", json!({"message": format!("key {SECRET}")}))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("SECRET_DETECTED"), "{}", text(&r));
    assert!(!text(&r).contains(SECRET));

    // Passthrough: prompts, resources, ping.
    let prompts = c.list_all_prompts().await.unwrap();
    assert!(!prompts.is_empty());
    let resources = c.list_all_resources().await.unwrap();
    let first = resources.first().unwrap();
    let read = c
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            first.uri.clone(),
        ))
        .await
        .unwrap();
    assert!(!read.contents.is_empty());
    c.cancel().await.unwrap();
    let _ = std::fs::remove_file(pins);
}

#[tokio::test]
async fn a_crashing_server_gives_a_clean_error() {
    let (Some(python), Some(server)) = (env("MCP_TEST_PYTHON"), env("MCP_TEST_SERVER")) else {
        return;
    };
    let pins = temp("crash");
    let c = stdio(&pins, &[&python, &server]).await;
    let r = call(&c, "add_note", json!({"text": "x"})).await.unwrap();
    assert_eq!(text(&r), "added note 1: x");
    let e = tokio::time::timeout(Duration::from_secs(20), call(&c, "crash", json!({})))
        .await
        .expect("a call to a crashing server must not hang")
        .unwrap_err();
    match e {
        ServiceError::McpError(e) => assert!(e.message.contains("not running"), "{}", e.message),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
    c.cancel().await.unwrap();
    let _ = std::fs::remove_file(pins);
}

#[tokio::test]
async fn streamable_http_mode() {
    let Some(everything) = env("MCP_EVERYTHING") else {
        return;
    };
    let pins = temp("http");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bind = format!("127.0.0.1:{port}");
    let mut proxy = command(
        &["http", "--bind", &bind, "--pins", pins.to_str().unwrap()],
        &["node", &everything],
    )
    .stderr(Stdio::null())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&bind).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{bind}/mcp"));
    let c = ().serve(transport).await.unwrap();
    let r = call(&c, "echo", json!({"message": "over http"}))
        .await
        .unwrap();
    assert_eq!(text(&r), "Echo: over http");
    let r = call(&c, "echo", json!({"message": SECRET})).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    c.cancel().await.unwrap();
    let _ = proxy.kill().await;
    let _ = std::fs::remove_file(pins);
}
