//! The latency interven-mcp adds to a `tools/call`: the same MCP server
//! (this program, re-run as a small rmcp stdio server with one `write_note`
//! tool) called directly and through `interven-mcp stdio` on the embedded
//! engine, alternating call by call in the same run. Prints p50, p90 and
//! p99 of each and of the difference.
//!
//! ```sh
//! cargo bench -p interven-mcp --bench proxy            # 2000 calls each
//! INTERVEN_BENCH_CALLS=500 cargo bench -p interven-mcp --bench proxy
//! ```

use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

const SERVER_ENV: &str = "INTERVEN_BENCH_SERVER";

#[derive(Clone)]
struct Notes;

impl ServerHandler for Notes {
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema: Map<String, Value> = serde_json::from_value(json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "write_note",
            "Write a note to a file.",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let n = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("content"))
            .and_then(Value::as_str)
            .map_or(0, str::len);
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(format!("wrote {n} bytes")),
        ])))
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info
    }
}

async fn connect(mut cmd: tokio::process::Command) -> RunningService<RoleClient, ()> {
    cmd.env(SERVER_ENV, "1").env_remove("INTERVEN_API_KEY");
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    ().serve(transport).await.expect("initialize")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut d: Vec<Duration>) {
    d.sort_unstable();
    println!(
        "{name:<22} p50 {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms",
        percentile(&d, 0.50).as_secs_f64() * 1e3,
        percentile(&d, 0.90).as_secs_f64() * 1e3,
        percentile(&d, 0.99).as_secs_f64() * 1e3,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os(SERVER_ENV).is_some() {
        rt.block_on(async {
            let server = Notes.serve(rmcp::transport::stdio()).await.expect("serve");
            let _ = server.waiting().await;
        });
        return;
    }
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test
    // --benches`) only checks that it runs.
    let calls: usize = if std::env::args().any(|a| a == "--bench") {
        std::env::var("INTERVEN_BENCH_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000)
    } else {
        20
    };
    let me = std::env::current_exe().expect("current exe");
    let pins = std::env::temp_dir().join(format!("interven-mcp-bench-{}.json", std::process::id()));
    rt.block_on(async {
        let direct = connect(tokio::process::Command::new(&me)).await;
        let mut proxied = tokio::process::Command::new(env!("CARGO_BIN_EXE_interven-mcp"));
        proxied
            .args(["stdio", "--pins"])
            .arg(&pins)
            .arg("--")
            .arg(&me);
        let proxy = connect(proxied).await;
        let _ = proxy.list_all_tools().await.expect("tools/list");
        let content = "Meeting notes: the deploy went out at 14:02, the canary stayed green for an hour, \
                       and the rollback plan was not needed. Next week: move the nightly job to the new \
                       runner, rotate the staging certificates, and write up the incident review from \
                       Tuesday. Owners are assigned in the tracker; nothing here is secret. "
            .repeat(2);
        let args: Map<String, Value> =
            serde_json::from_value(json!({"path": "/tmp/notes/today.md", "content": content}))
                .expect("arguments");
        let request = || CallToolRequestParams::new("write_note").with_arguments(args.clone());
        // Warm up both paths.
        for _ in 0..50.min(calls) {
            direct.call_tool(request()).await.expect("direct");
            proxy.call_tool(request()).await.expect("proxied");
        }
        let (mut d, mut p, mut added) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..calls {
            let t = Instant::now();
            let a = direct.call_tool(request()).await.expect("direct");
            let td = t.elapsed();
            let t = Instant::now();
            let b = proxy.call_tool(request()).await.expect("proxied");
            let tp = t.elapsed();
            assert_eq!(a.content, b.content, "the proxy returns the same result");
            d.push(td);
            p.push(tp);
            added.push(tp.saturating_sub(td));
        }
        println!(
            "tools/call, {calls} calls each, {} bytes of arguments, embedded engine:",
            serde_json::to_string(&args).map_or(0, |s| s.len())
        );
        report("direct", d);
        report("through interven-mcp", p);
        report("added (per pair)", added);
        let _ = direct.cancel().await;
        let _ = proxy.cancel().await;
    });
    let _ = std::fs::remove_file(pins);
}
