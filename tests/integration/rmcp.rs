//! `#[interven::guard]` on rmcp tools (feature `rmcp`): a real rmcp server
//! on 127.0.0.1, driven by rmcp's own client, for each decision.
#![deny(warnings)]

use std::net::SocketAddr;

use interven::{Client, RetryPolicy};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, ErrorCode};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::{ErrorData, Peer, RoleServer, ServiceExt, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Serialize, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct SendReq {
    /// Who gets it.
    to: String,
    /// What it says.
    body: String,
}

#[derive(Debug, Serialize, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct MailboxReq {
    /// The mailbox.
    name: String,
}

#[derive(Clone)]
struct Mailer {
    client: Client,
}

#[tool_router(server_handler)]
impl Mailer {
    /// The tool echoes what it was run with, so that a test sees the
    /// rebound (sanitized) arguments.
    #[interven::guard(tool = "mail", operation = "send", client = self.client)]
    #[tool(description = "Send an email")]
    async fn send_email(
        &self,
        Parameters(req): Parameters<SendReq>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "sent to {}: {}",
            req.to, req.body
        ))]))
    }

    /// Context types beside the parameters: never scanned (none is `Serialize`).
    #[interven::guard(tool = "mail", operation = "delete_mailbox", client = self.client, approval = "error")]
    #[tool(description = "Delete a mailbox")]
    async fn delete_mailbox(
        &self,
        params: Parameters<MailboxReq>,
        ctx: RequestContext<RoleServer>,
        peer: Peer<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let _ = (ctx.id, peer);
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "deleted {}",
            params.0.name
        ))]))
    }
}

/// Serves `mailer` on 127.0.0.1 and connects rmcp's client to it.
async fn connect(mailer: Mailer) -> RunningService<RoleClient, ()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let server = mailer.serve(stream).await.unwrap();
        let _ = server.waiting().await;
    });
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    ().serve(stream).await.unwrap()
}

fn args(v: Value) -> Map<String, Value> {
    serde_json::from_value(v).unwrap()
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &'static str,
    arguments: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args(arguments)))
        .await
}

#[tokio::test]
async fn the_guard_keeps_the_tools_schema_and_description() {
    let client = connect(Mailer {
        client: Client::local_default(),
    })
    .await;
    let tools = client.list_all_tools().await.unwrap();
    let send = tools.iter().find(|t| t.name == "send_email").unwrap();
    assert_eq!(send.description.as_deref(), Some("Send an email"));
    let schema = Value::Object((*send.input_schema).clone());
    assert_eq!(schema["properties"]["to"]["type"], "string", "{schema}");
    assert_eq!(schema["properties"]["body"]["description"], "What it says.");
    assert_eq!(schema["required"], json!(["to", "body"]));
    // The context parameters are not in the schema.
    let delete = tools.iter().find(|t| t.name == "delete_mailbox").unwrap();
    let schema = Value::Object((*delete.input_schema).clone());
    assert_eq!(schema["required"], json!(["name"]), "{schema}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn each_decision_reaches_the_mcp_client() {
    let client = connect(Mailer {
        client: Client::local_default(),
    })
    .await;

    // ALLOW: runs with the arguments as sent.
    let r = call(
        &client,
        "send_email",
        json!({"to": "ops", "body": "deploy done"}),
    )
    .await
    .unwrap();
    assert_eq!(r.is_error, Some(false));
    assert_eq!(text(&r), "sent to ops: deploy done");

    // SANITIZE: runs with the redacted `req`.
    let r = call(
        &client,
        "send_email",
        json!({"to": "ops", "body": "call jane.doe@acme.io"}),
    )
    .await
    .unwrap();
    assert_eq!(text(&r), "sent to ops: call [REDACTED:EMAIL]");

    // DENY: does not run; an isError result naming the reason and the trace.
    let r = call(
        &client,
        "send_email",
        json!({"to": "ops", "body": "key AKIAZ7QWERTYUIOP4ZXC"}),
    )
    .await
    .unwrap();
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    assert!(
        t.contains("SECRET_DETECTED") && t.contains("trace tr_"),
        "{t}"
    );
    assert!(!t.contains("AKIAZ7QWERTYUIOP4ZXC"), "{t}");
    let meta = serde_json::to_value(&r.meta).unwrap();
    assert_eq!(meta["interven"]["decision"], "DENY");
    assert!(
        meta["interven"]["trace_id"]
            .as_str()
            .unwrap()
            .starts_with("tr_")
    );

    // REQUIRE_APPROVAL (`approval = "error"`): does not run; the approval id is given.
    let r = call(&client, "delete_mailbox", json!({"name": "inbox"}))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    let meta = serde_json::to_value(&r.meta).unwrap();
    assert_eq!(meta["interven"]["decision"], "REQUIRE_APPROVAL");
    assert_eq!(meta["interven"]["reason_codes"][0], "DESTRUCTIVE_OPERATION");
    let approval = meta["interven"]["approval_id"].as_str().unwrap();
    assert!(text(&r).contains(approval), "{}", text(&r));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn no_verdict_is_a_json_rpc_error_and_the_tool_does_not_run() {
    // A gateway that is not there: fail closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gateway = Client::builder()
        .api_key("k-test")
        .gateway_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let client = connect(Mailer { client: gateway }).await;
    let err = call(&client, "send_email", json!({"to": "ops", "body": "hi"}))
        .await
        .unwrap_err();
    match err {
        rmcp::ServiceError::McpError(e) => {
            assert_eq!(e.code, ErrorCode::INTERNAL_ERROR);
            assert!(e.message.contains("was not run"), "{}", e.message);
            assert!(!e.message.contains("k-test"), "{}", e.message);
        }
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
    client.cancel().await.unwrap();
}
