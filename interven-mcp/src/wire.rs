//! The JSON-RPC wire under rmcp's typed model.
//!
//! rmcp parses every message into its own types, and those types follow the
//! specification rmcp was written for. A peer that speaks another revision
//! loses what rmcp does not model: the 2025-11-25 `capabilities.tasks`
//! object (rmcp 3.11 knows tasks only as the SEP-2663
//! `extensions["io.modelcontextprotocol/tasks"]`), the `task` parameter of a
//! `tools/call`, the shapes of `tasks/get`, `tasks/list`, `tasks/result`,
//! `tasks/cancel` and their results. rmcp offers no hook to see the raw
//! message, and its typed `InitializeResult` cannot carry an unknown
//! capability, so the proxy keeps a thin layer between the bytes and rmcp's
//! line codec: a pump per direction that reads each JSON-RPC line, and
//!
//! - inbound (peer → rmcp), renames every request and notification whose
//!   method rmcp does not model as the peers speak it to
//!   [`RAW_PREFIX`]`<method>`, so that rmcp hands it over as a custom message
//!   with its params untouched (the handlers strip the prefix, and guard
//!   `tools/call` and `tasks/result` as any other call); keeps the raw
//!   capabilities of the client's `initialize` under `_meta`
//!   ([`RAW_CAPABILITIES`]); and keeps the raw result of every answer to a
//!   request the proxy forwarded raw, for the handler to take by request id
//!   ([`Wire::take`]);
//! - outbound (rmcp → peer), puts the client's raw capabilities back in the
//!   `initialize` sent upstream, and replaces the typed `initialize` answer
//!   the client gets by the server's raw one ([`RAW_INITIALIZE`]).
//!
//! A line the layer does not change is forwarded byte for byte. The wire
//! sits on the proxy's stdio and a spawned server's stdio; behind
//! streamable HTTP, where rmcp owns the bytes, [`crate::http_wire`] puts
//! the same wire around rmcp's session transport, and in front of an
//! `--upstream` URL [`crate::http_client`] puts it under rmcp's HTTP client.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::RequestId;
use rmcp::service::{RoleClient, RxJsonRpcMessage, ServiceRole, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The method prefix of a message rmcp must carry untyped.
pub const RAW_PREFIX: &str = "interven/raw/";
/// The `_meta` key under which the client's raw `initialize` capabilities travel.
pub const RAW_CAPABILITIES: &str = "interven/raw-capabilities";
/// The `_meta` key under which the server's raw `initialize` answer travels.
pub const RAW_INITIALIZE: &str = "interven/raw-initialize";

/// The longest line read (rmcp's own limit).
const MAX_LINE: usize = 16 * 1024 * 1024;
/// At most this many raw results wait for their handler.
const MAX_KEPT: usize = 1024;
/// At most this many requests wait for a raw answer.
const MAX_PENDING: usize = 4096;

/// Client methods rmcp's typed model carries as the peers send them (and
/// the two lifecycle methods of 2026-07-28 that rmcp answers itself).
const TYPED_CLIENT_REQUESTS: &[&str] = &[
    "initialize",
    "server/discover",
    "subscriptions/listen",
    "ping",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "tools/call",
];
/// Server methods rmcp's typed model carries as the peers send them.
const TYPED_SERVER_REQUESTS: &[&str] = &[
    "ping",
    "sampling/createMessage",
    "roots/list",
    "elicitation/create",
];
const TYPED_CLIENT_NOTIFICATIONS: &[&str] = &[
    "notifications/cancelled",
    "notifications/progress",
    "notifications/initialized",
    "notifications/roots/list_changed",
];
const TYPED_SERVER_NOTIFICATIONS: &[&str] = &[
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/resources/updated",
    "notifications/resources/list_changed",
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
];

/// Which peer a wire faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The MCP client (the proxy is its server).
    Client,
    /// The upstream MCP server (the proxy is its client).
    Server,
}

/// `true` when a request from this side must travel raw: rmcp does not model
/// its method, or it carries a `task` (a task-augmented request).
fn travels_raw(from: Edge, method: &str, params: Option<&Value>) -> bool {
    let typed = match from {
        Edge::Client => TYPED_CLIENT_REQUESTS,
        Edge::Server => TYPED_SERVER_REQUESTS,
    };
    let has_task = params.and_then(|p| p.get("task")).is_some();
    method != "initialize" && (!typed.contains(&method) || has_task)
}

fn notification_travels_raw(from: Edge, method: &str) -> bool {
    let typed = match from {
        Edge::Client => TYPED_CLIENT_NOTIFICATIONS,
        Edge::Server => TYPED_SERVER_NOTIFICATIONS,
    };
    !typed.contains(&method)
}

/// The method a handler sees, without the raw prefix (all of them: a
/// client that sends `interven/raw/tools/call` itself gets the guarded
/// `tools/call`, never a method the guard does not know).
pub fn method_name(method: &str) -> &str {
    let mut m = method;
    while let Some(rest) = m.strip_prefix(RAW_PREFIX) {
        m = rest;
    }
    m
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

/// The state of one wire: which answers to keep raw, and the kept ones.
/// Its `Debug` shows counts only: kept results are unscanned and may hold
/// secrets.
pub struct Wire {
    edge: Edge,
    /// Ids of requests sent to the peer whose answers are kept raw.
    pending: Mutex<HashSet<String>>,
    /// Raw results by request id, oldest first.
    kept: Mutex<(HashMap<String, Value>, VecDeque<String>)>,
    /// The id of the `initialize` (the client's, or the one sent
    /// upstream), and the server's raw answer to it.
    initialize: Mutex<(Option<String>, Option<Value>)>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("edge", &self.edge)
            .field("pending", &lock(&self.pending).len())
            .field("kept", &lock(&self.kept).1.len())
            .finish_non_exhaustive()
    }
}

impl Wire {
    /// A wire facing `edge`.
    pub fn new(edge: Edge) -> Arc<Wire> {
        Arc::new(Wire {
            edge,
            pending: Mutex::default(),
            kept: Mutex::default(),
            initialize: Mutex::default(),
        })
    }

    /// Takes the raw result of the answer to request `id`, if it was kept.
    pub fn take(&self, id: &RequestId) -> Option<Value> {
        let key = serde_json::to_value(id).ok().map(|v| id_key(&v))?;
        lock(&self.pending).remove(&key);
        let mut kept = lock(&self.kept);
        let value = kept.0.remove(&key)?;
        kept.1.retain(|k| k != &key);
        Some(value)
    }

    /// Remembers the id of the client's `initialize` when the wire did not
    /// see it go by (behind HTTP, the session is made after it is read).
    pub fn note_initialize(&self, id: &Value) {
        lock(&self.initialize).0 = Some(id_key(id));
    }

    /// The upstream server's raw `initialize` answer.
    pub fn raw_initialize(&self) -> Option<Value> {
        lock(&self.initialize).1.clone()
    }

    fn keep(&self, key: String, result: Value) {
        let mut kept = lock(&self.kept);
        if kept.1.len() >= MAX_KEPT
            && let Some(old) = kept.1.pop_front()
        {
            kept.0.remove(&old);
        }
        kept.1.push_back(key.clone());
        kept.0.insert(key, result);
    }

    /// Rewrites one message from the peer before rmcp parses it; `true`
    /// when it changed.
    pub fn inbound(&self, message: &mut Value) -> bool {
        let Value::Object(m) = message else {
            return false;
        };
        let method = m.get("method").and_then(Value::as_str).map(str::to_owned);
        let id = m.get("id").cloned();
        match (method, id) {
            (Some(method), Some(id)) => {
                if method == "initialize" && self.edge == Edge::Client {
                    lock(&self.initialize).0 = Some(id_key(&id));
                    let Some(Value::Object(params)) = m.get_mut("params") else {
                        return false;
                    };
                    let caps = params.get("capabilities").cloned().unwrap_or(Value::Null);
                    if let Some(meta) = meta_of(params) {
                        meta.insert(RAW_CAPABILITIES.to_owned(), caps);
                    }
                    return true;
                }
                if travels_raw(self.edge, &method, m.get("params")) {
                    m.insert(
                        "method".to_owned(),
                        Value::String(format!("{RAW_PREFIX}{method}")),
                    );
                    return true;
                }
                false
            }
            (Some(method), None) => {
                if notification_travels_raw(self.edge, &method) {
                    m.insert(
                        "method".to_owned(),
                        Value::String(format!("{RAW_PREFIX}{method}")),
                    );
                    return true;
                }
                false
            }
            (None, Some(id)) => {
                let key = id_key(&id);
                let Some(result) = m.get("result") else {
                    lock(&self.pending).remove(&key);
                    return false;
                };
                {
                    let mut init = lock(&self.initialize);
                    if init.0.as_deref() == Some(key.as_str()) {
                        init.1 = Some(result.clone());
                        return false;
                    }
                }
                if lock(&self.pending).remove(&key) {
                    self.keep(key, result.clone());
                }
                false
            }
            (None, None) => false,
        }
    }

    /// Rewrites one message from rmcp before the peer reads it; `true` when
    /// it changed.
    pub fn outbound(&self, message: &mut Value) -> bool {
        let Value::Object(m) = message else {
            return false;
        };
        let method = m.get("method").and_then(Value::as_str).map(str::to_owned);
        match (method, m.get("id").cloned()) {
            (Some(method), Some(id)) => {
                if method == "initialize" && self.edge == Edge::Server {
                    lock(&self.initialize).0 = Some(id_key(&id));
                    let Some(Value::Object(params)) = m.get_mut("params") else {
                        return false;
                    };
                    let raw = params
                        .get_mut("_meta")
                        .and_then(Value::as_object_mut)
                        .and_then(|meta| meta.remove(RAW_CAPABILITIES));
                    if params
                        .get("_meta")
                        .and_then(Value::as_object)
                        .is_some_and(Map::is_empty)
                    {
                        params.remove("_meta");
                    }
                    return match raw {
                        Some(caps @ Value::Object(_)) => {
                            params.insert("capabilities".to_owned(), caps);
                            true
                        }
                        Some(_) => true,
                        None => false,
                    };
                }
                if travels_raw(self.edge.other(), &method, m.get("params")) {
                    let mut pending = lock(&self.pending);
                    // Ids whose handler went away without an answer: start
                    // afresh (those answers then come through rmcp's model).
                    if pending.len() >= MAX_PENDING {
                        pending.clear();
                    }
                    pending.insert(id_key(&id));
                }
                false
            }
            (None, Some(id)) if self.edge == Edge::Client => {
                // Only the answer to the client's `initialize`, once: no
                // other result (a server's own) is ever replaced.
                {
                    let mut init = lock(&self.initialize);
                    if init.0.as_deref() != Some(id_key(&id).as_str()) {
                        return false;
                    }
                    init.0 = None;
                }
                let Some(Value::Object(result)) = m.get_mut("result") else {
                    return false;
                };
                let Some(Value::Object(mut raw)) = result
                    .get_mut("_meta")
                    .and_then(Value::as_object_mut)
                    .and_then(|meta| meta.remove(RAW_INITIALIZE))
                else {
                    return false;
                };
                // The version rmcp negotiated with the client; a server
                // name when the server gave none.
                if let Some(v) = result.get("protocolVersion") {
                    raw.insert("protocolVersion".to_owned(), v.clone());
                }
                if raw.get("serverInfo").is_none_or(Value::is_null)
                    && let Some(info) = result.get("serverInfo")
                {
                    raw.insert("serverInfo".to_owned(), info.clone());
                }
                *result = raw;
                true
            }
            _ => false,
        }
    }
}

impl Edge {
    fn other(self) -> Edge {
        match self {
            Edge::Client => Edge::Server,
            Edge::Server => Edge::Client,
        }
    }
}

fn meta_of(params: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    if !params.get("_meta").is_some_and(Value::is_object) {
        params.insert("_meta".to_owned(), Value::Object(Map::new()));
    }
    params.get_mut("_meta").and_then(Value::as_object_mut)
}

/// Copies JSON-RPC lines from `from` to `to`, passing each through `rewrite`
/// (a batch: each of its messages). A line that is not JSON, or that the
/// rewrite leaves alone, is copied byte for byte; a line longer than rmcp's
/// limit is dropped, as rmcp would.
async fn pump<R, W>(from: R, mut to: W, rewrite: impl Fn(&mut Value) -> bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if n > MAX_LINE && !line.ends_with(b"\n") {
            tracing::error!(
                max = MAX_LINE,
                "a message exceeded the maximum line length; it was dropped"
            );
            // Skip the rest of the line.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match (&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) if rest.ends_with(b"\n") => break,
                    Ok(_) => {}
                }
            }
            continue;
        }
        let out = match serde_json::from_slice::<Value>(&line) {
            Ok(mut value) => {
                let changed = match &mut value {
                    Value::Array(batch) => batch
                        .iter_mut()
                        .fold(false, |changed, m| rewrite(m) | changed),
                    one => rewrite(one),
                };
                if changed {
                    match serde_json::to_vec(&value) {
                        Ok(mut bytes) => {
                            bytes.push(b'\n');
                            bytes
                        }
                        Err(_) => line.clone(),
                    }
                } else {
                    line.clone()
                }
            }
            Err(_) => line.clone(),
        };
        if to.write_all(&out).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// rmcp's line transport over `reader`/`writer`, with `wire` in between.
pub fn transport<Role, R, W>(
    reader: R,
    writer: W,
    wire: Arc<Wire>,
) -> AsyncRwTransport<Role, tokio::io::DuplexStream, tokio::io::DuplexStream>
where
    Role: ServiceRole,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (rmcp_in, pump_in) = tokio::io::duplex(64 * 1024);
    let (rmcp_out, pump_out) = tokio::io::duplex(64 * 1024);
    let w = wire.clone();
    tokio::spawn(pump(reader, pump_in, move |m| w.inbound(m)));
    tokio::spawn(pump(pump_out, writer, move |m| wire.outbound(m)));
    AsyncRwTransport::new(rmcp_in, rmcp_out)
}

/// The proxy's own stdio, with a wire facing the client.
pub fn stdio(
    wire: Arc<Wire>,
) -> AsyncRwTransport<rmcp::RoleServer, tokio::io::DuplexStream, tokio::io::DuplexStream> {
    transport(tokio::io::stdin(), tokio::io::stdout(), wire)
}

/// A spawned MCP server, with a wire facing it; the process ends when the
/// transport closes or is dropped.
pub struct ChildTransport {
    inner: AsyncRwTransport<RoleClient, tokio::io::DuplexStream, tokio::io::DuplexStream>,
    child: Option<tokio::process::Child>,
}

impl std::fmt::Debug for ChildTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildTransport")
            .field(
                "pid",
                &self.child.as_ref().and_then(tokio::process::Child::id),
            )
            .finish_non_exhaustive()
    }
}

impl ChildTransport {
    /// Spawns `cmd` (its stderr inherited) with a wire facing it.
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn spawn(
        mut cmd: tokio::process::Command,
        wire: Arc<Wire>,
    ) -> std::io::Result<ChildTransport> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the server's stdio is not piped"));
        };
        Ok(ChildTransport {
            inner: transport(stdout, stdin, wire),
            child: Some(child),
        })
    }
}

impl Transport<RoleClient> for ChildTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.inner.receive()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Close its stdin (the MCP stdio shutdown), give it a moment, then kill it.
        let closed = self.inner.close().await;
        if let Some(mut child) = self.child.take() {
            match tokio::time::timeout(std::time::Duration::from_secs(2), child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill().await;
                }
            }
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_call_and_task_methods_travel_raw() {
        let wire = Wire::new(Edge::Client);
        let mut call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "t", "arguments": {}, "task": {"ttl": 1000}}});
        assert!(wire.inbound(&mut call));
        assert_eq!(call["method"], "interven/raw/tools/call");
        assert_eq!(call["params"]["task"]["ttl"], 1000);
        let mut plain = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
            "params": {"name": "t"}});
        assert!(!wire.inbound(&mut plain));
        for method in ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"] {
            let mut m =
                json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": {"taskId": "a"}});
            assert!(wire.inbound(&mut m));
            assert_eq!(method_name(m["method"].as_str().unwrap()), method);
        }
        let mut status =
            json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": {}});
        assert!(Wire::new(Edge::Server).inbound(&mut status));
        let mut progress =
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}});
        assert!(!Wire::new(Edge::Server).inbound(&mut progress));
    }

    #[test]
    fn the_raw_capabilities_cross_the_proxy_both_ways() {
        let client = Wire::new(Edge::Client);
        let caps = json!({"tasks": {"list": {}, "requests": {"elicitation": {"create": {}}}}, "elicitation": {}});
        let mut init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": caps, "clientInfo": {"name": "c", "version": "1"}}});
        assert!(client.inbound(&mut init));
        assert_eq!(init["params"]["_meta"][RAW_CAPABILITIES], caps);

        let server = Wire::new(Edge::Server);
        let mut up = json!({"jsonrpc": "2.0", "id": 3, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
                "clientInfo": {"name": "c", "version": "1"}, "_meta": {RAW_CAPABILITIES: caps}}});
        assert!(server.outbound(&mut up));
        assert_eq!(up["params"]["capabilities"], caps);
        assert!(up["params"].get("_meta").is_none());

        let answer = json!({"protocolVersion": "2025-11-25", "capabilities": {"tasks": {"cancel": {}}, "x-new": {"a": 1}},
            "serverInfo": {"name": "s", "version": "1"}});
        let mut reply = json!({"jsonrpc": "2.0", "id": 3, "result": answer});
        assert!(!server.inbound(&mut reply));
        assert_eq!(server.raw_initialize(), Some(answer.clone()));

        let mut typed = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-06-18",
            "capabilities": {}, "serverInfo": {"name": "s", "version": "1"},
            "_meta": {RAW_INITIALIZE: answer}}});
        let mut forged = json!({"jsonrpc": "2.0", "id": 5, "result": {"content": [],
            "_meta": {RAW_INITIALIZE: {"content": [{"type": "text", "text": "swapped"}]}}}});
        assert!(
            !client.outbound(&mut forged),
            "only the initialize answer is replaced"
        );
        assert!(client.outbound(&mut typed));
        assert_eq!(
            typed["result"]["capabilities"]["tasks"]["cancel"],
            json!({})
        );
        assert_eq!(typed["result"]["capabilities"]["x-new"]["a"], 1);
        assert_eq!(typed["result"]["protocolVersion"], "2025-06-18");
        assert!(typed["result"].get("_meta").is_none());
    }

    #[test]
    fn answers_to_raw_requests_are_kept_by_id_and_bounded() {
        let wire = Wire::new(Edge::Server);
        let mut get =
            json!({"jsonrpc": "2.0", "id": "x1", "method": "tasks/get", "params": {"taskId": "a"}});
        wire.outbound(&mut get);
        let mut list = json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/list"});
        wire.outbound(&mut list);
        let raw = json!({"taskId": "a", "status": "working", "ttl": 5, "pollInterval": 9});
        wire.inbound(&mut json!({"jsonrpc": "2.0", "id": "x1", "result": raw}));
        wire.inbound(&mut json!({"jsonrpc": "2.0", "id": 2, "result": {"prompts": []}}));
        assert_eq!(wire.take(&RequestId::String("x1".into())), Some(raw));
        assert_eq!(wire.take(&RequestId::String("x1".into())), None);
        assert_eq!(wire.take(&RequestId::Number(2)), None);
        for i in 0..(MAX_KEPT as i64 + 10) {
            wire.outbound(&mut json!({"jsonrpc": "2.0", "id": i, "method": "tasks/list"}));
            wire.inbound(&mut json!({"jsonrpc": "2.0", "id": i, "result": {}}));
        }
        assert!(lock(&wire.kept).0.len() <= MAX_KEPT);
        assert_eq!(wire.take(&RequestId::Number(0)), None);
    }

    #[test]
    fn debug_never_shows_a_kept_result() {
        let wire = Wire::new(Edge::Server);
        wire.outbound(&mut json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/result"}));
        wire.inbound(
            &mut json!({"jsonrpc": "2.0", "id": 1, "result": {"k": "AKIAZ7QWERTYUIOP4ZXC"}}),
        );
        let shown = format!("{wire:?}");
        assert!(
            !shown.contains("AKIA") && shown.contains("kept: 1"),
            "{shown}"
        );
    }

    #[test]
    fn junk_never_panics() {
        let wire = Wire::new(Edge::Client);
        for mut v in [
            json!(null),
            json!([1, 2]),
            json!({"method": 5, "id": {}}),
            json!({"id": 1, "method": "initialize", "params": 3}),
            json!({"id": 1, "method": "initialize", "params": {"_meta": 4}}),
            json!({"id": 1, "result": {"_meta": {RAW_INITIALIZE: 5}}}),
        ] {
            wire.inbound(&mut v);
            wire.outbound(&mut v);
            Wire::new(Edge::Server).inbound(&mut v);
            Wire::new(Edge::Server).outbound(&mut v);
        }
    }
}
