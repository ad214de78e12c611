//! The proxy: an MCP server to the client, an MCP client to the upstream
//! server, built on rmcp's services. Handlers stay thin: `tools/call` and
//! `tools/list` go through the [`Guard`], task
//! results are scanned under the trace of the call that created the task;
//! every other request and notification is forwarded as it came. What
//! rmcp's typed model does not carry (2025-11-25 tasks, unknown
//! capabilities) travels raw over the [`wire`].

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::sync::{Arc, Mutex, PoisonError};

use interven::{Decision, Error as IntervenError, TraceId};
#[allow(deprecated)] // SetLevelRequestParams: logging/setLevel still passes through
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotification, CancelledNotificationParam, ClientConfig, ClientNotification,
    ClientRequest, ClientResult, CompleteRequestParams, CompleteResult, CustomNotification,
    CustomRequest, CustomResult, ElicitRequestParams, ElicitationAction, ErrorData,
    GetPromptRequestParams, GetPromptResponse, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, RequestId, ServerConfig, ServerNotification,
    ServerRequest, ServerResult, SetLevelRequestParams, SubscribeRequestParams, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer,
    RunningService, ServiceError,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ServerHandler, Service, ServiceExt};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::guard::{APPROVAL_UNAVAILABLE, ApprovalMode, CallAction, Guard, Refusal, SharedGuard};
use crate::http_client::WiredHttpClient;
use crate::wire::{self, ChildTransport, Edge, RAW_CAPABILITIES, RAW_INITIALIZE, Wire};

/// Where the upstream server is.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A command to spawn; it speaks MCP on its stdin and stdout.
    Command(Vec<OsString>),
    /// A streamable-HTTP endpoint.
    Url(String),
}

type ProgressMap = Arc<Mutex<HashMap<ProgressToken, ProgressToken>>>;

/// The upstream connection: rmcp's client service, and the wire under it
/// when the proxy spawned the server (see [`crate::wire`]).
#[derive(Debug)]
struct UpstreamService {
    service: RunningService<RoleClient, ProxyClient>,
    wire: Option<Arc<Wire>>,
}

impl UpstreamService {
    fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }
}

/// At most this many tasks are remembered per session.
const MAX_TASKS: usize = 4096;

/// Where a task came from: the guarded `tools/call` that created it.
#[derive(Debug, Clone)]
struct TaskOrigin {
    /// The trace of the call's scan: the task's result is scanned under it.
    trace: TraceId,
}

/// The tasks created by guarded calls of one session, oldest first.
#[derive(Debug, Default)]
struct TaskOrigins {
    by_id: HashMap<String, TaskOrigin>,
    order: VecDeque<String>,
}

type TaskMap = Arc<Mutex<TaskOrigins>>;

/// One client session: its upstream connection, made on `initialize`.
#[derive(Debug)]
pub struct Session {
    guard: SharedGuard,
    upstream: Arc<Upstream>,
    connection: OnceCell<UpstreamService>,
    /// Upstream progress token → the client's own.
    progress: ProgressMap,
    /// The wire facing the client: given for stdio, learnt from the
    /// `initialize` request behind HTTP.
    client_wire: std::sync::OnceLock<Arc<Wire>>,
    /// The tasks created by guarded calls: task id → the call's trace.
    tasks: TaskMap,
}

/// The MCP server the client talks to.
#[derive(Debug, Clone)]
pub struct ProxyServer {
    session: Arc<Session>,
}

/// The MCP client the upstream server talks to: forwards the server's
/// requests and notifications to the client.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    info: ClientConfig,
    downstream: Peer<RoleServer>,
    progress: ProgressMap,
    guard: SharedGuard,
    client_wire: Option<Arc<Wire>>,
    tasks: TaskMap,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Protocol versions with the `initialize` handshake: the proxy connects
/// upstream as part of it.
fn initialize_versions() -> Vec<ProtocolVersion> {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .filter(|v| v.has_initialize())
        .cloned()
        .collect()
}

/// The JSON-RPC error for a call that could not be checked: it is not run.
fn no_verdict(e: &IntervenError) -> ErrorData {
    ErrorData::internal_error(
        format!("interven could not check this tool call, so it was not run: {e}"),
        None,
    )
}

fn upstream_error(server: &str, e: ServiceError) -> ErrorData {
    match e {
        // The server's own JSON-RPC error, as it sent it.
        ServiceError::McpError(e) => e,
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            tracing::error!(
                server,
                "the MCP server is gone (it exited or closed its connection)"
            );
            ErrorData::internal_error(
                format!(
                    "the MCP server `{server}` is not running: it exited or closed its connection"
                ),
                None,
            )
        }
        other => {
            ErrorData::internal_error(format!("the MCP server `{server}` failed: {other}"), None)
        }
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ErrorData> {
    serde_json::to_value(v)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode: {e}"), None))
}

fn call_tool_result(value: Value) -> Result<ServerResult, ErrorData> {
    serde_json::from_value::<CallToolResult>(value)
        .map(ServerResult::CallToolResult)
        .map_err(|e| ErrorData::internal_error(format!("cannot encode the tool result: {e}"), None))
}

impl ProxyServer {
    /// A new session on `upstream`, its client behind rmcp's typed transport.
    pub fn new(guard: SharedGuard, upstream: Arc<Upstream>) -> ProxyServer {
        ProxyServer::with_client_wire(guard, upstream, None)
    }

    /// A new session on `upstream`, whose client speaks through `wire`
    /// (see [`crate::wire`]): the raw capabilities and task messages reach it.
    pub fn with_client_wire(
        guard: SharedGuard,
        upstream: Arc<Upstream>,
        client_wire: Option<Arc<Wire>>,
    ) -> ProxyServer {
        ProxyServer {
            session: Arc::new(Session {
                guard,
                upstream,
                connection: OnceCell::new(),
                progress: Arc::default(),
                client_wire: client_wire
                    .map(std::sync::OnceLock::from)
                    .unwrap_or_default(),
                tasks: Arc::default(),
            }),
        }
    }

    /// The session, to close its upstream when the client has gone.
    pub fn session(&self) -> Arc<Session> {
        self.session.clone()
    }
}

impl Session {
    /// Ends the upstream connection (and so the upstream process).
    pub async fn close(&self) {
        if let Some(c) = self.connection.get() {
            c.service.cancellation_token().cancel();
        }
        // Give the child process transport its graceful shutdown.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    /// Connects upstream (once). `raw_capabilities`: the client's
    /// capabilities as it sent them, for a server the proxy spawns.
    async fn connect(
        &self,
        info: Option<ClientConfig>,
        raw_capabilities: Option<Value>,
        downstream: Peer<RoleServer>,
    ) -> Result<&UpstreamService, ErrorData> {
        self.connection
            .get_or_try_init(|| async {
                let mut info = info.unwrap_or_default();
                // A wire faces the server whether the proxy spawned it or
                // reaches it at a URL (see `wire` and `http_client`).
                let wire = Some(Wire::new(Edge::Server));
                // The wire puts the raw capabilities back in place of the
                // typed ones before the server reads them.
                if let (Some(_), Some(caps)) = (&wire, raw_capabilities) {
                    info.meta
                        .get_or_insert_default()
                        .0
                        .0
                        .insert(RAW_CAPABILITIES.to_owned(), caps);
                }
                let client = ProxyClient {
                    info,
                    downstream,
                    progress: self.progress.clone(),
                    guard: self.guard.clone(),
                    client_wire: self.client_wire.get().cloned(),
                    tasks: self.tasks.clone(),
                };
                let served = match &*self.upstream {
                    Upstream::Command(argv) => {
                        let Some((program, args)) = argv.split_first() else {
                            return Err(ErrorData::internal_error("no server command given", None));
                        };
                        let mut cmd = tokio::process::Command::new(program);
                        cmd.args(args);
                        let wire = wire.clone().unwrap_or_else(|| Wire::new(Edge::Server));
                        let transport = ChildTransport::spawn(cmd, wire).map_err(|e| {
                            ErrorData::internal_error(
                                format!(
                                    "cannot start the MCP server {}: {e}",
                                    program.to_string_lossy()
                                ),
                                None,
                            )
                        })?;
                        client.serve(transport).await
                    }
                    Upstream::Url(url) => {
                        let wire = wire.clone().unwrap_or_else(|| Wire::new(Edge::Server));
                        let http = WiredHttpClient::new(wire).map_err(|e| {
                            ErrorData::internal_error(
                                format!("cannot build the HTTP client: {e}"),
                                None,
                            )
                        })?;
                        client
                            .serve(StreamableHttpClientTransport::with_client(
                                http,
                                StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                            ))
                            .await
                    }
                };
                let running = served.map_err(|e| {
                    tracing::error!(error = %e, "the MCP server did not initialize");
                    ErrorData::internal_error(
                        format!("the MCP server did not initialize: {e}"),
                        None,
                    )
                })?;
                if let Some(name) = running
                    .peer()
                    .peer_info()
                    .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
                {
                    self.guard.learn_name(&name);
                }
                tracing::info!(server = %self.guard.name(), "connected to the MCP server");
                Ok(UpstreamService {
                    service: running,
                    wire,
                })
            })
            .await
    }

    async fn upstream(&self, downstream: &Peer<RoleServer>) -> Result<&UpstreamService, ErrorData> {
        let info = downstream.peer_info().map(|i| (*i).clone());
        self.connect(info, None, downstream.clone()).await
    }

    /// Sends a request upstream as the client sent it (its `_meta` kept,
    /// its progress token mapped), cancelled when the client cancels it.
    /// Returns the answer and the id the request had upstream.
    async fn send(
        &self,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(ServerResult, RequestId, Option<Arc<Wire>>), ErrorData> {
        let upstream = self.upstream(&ctx.peer).await?;
        let mut meta = ctx.meta.clone();
        let client_token = meta.get_progress_token();
        meta.0.0.remove("progressToken");
        let options = PeerRequestOptions::no_options().with_meta(meta);
        let handle = upstream
            .peer()
            .send_cancellable_request(request, options)
            .await
            .map_err(|e| upstream_error(&self.guard.name(), e))?;
        let token = handle.progress_token.clone();
        if let Some(t) = client_token {
            lock(&self.progress).insert(token.clone(), t);
        }
        let id = handle.id.clone();
        let result = tokio::select! {
            r = handle.await_response() => r.map_err(|e| upstream_error(&self.guard.name(), e)),
            () = ctx.ct.cancelled() => {
                let cancel = CancelledNotification::new(CancelledNotificationParam::new(
                    Some(id.clone()),
                    Some("cancelled by the client".to_owned()),
                ));
                let _ = upstream.peer().send_notification(cancel.into()).await;
                Err(ErrorData::internal_error("cancelled by the client", None))
            }
        };
        lock(&self.progress).remove(&token);
        if result.is_err()
            && let Some(w) = &upstream.wire
        {
            w.take(&id);
        }
        Ok((result?, id, upstream.wire.clone()))
    }

    /// Forwards a typed request; a tool list is checked before the client sees it.
    async fn forward(
        &self,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        match self.send(request, ctx).await?.0 {
            ServerResult::ListToolsResult(mut list) => {
                let tools = list
                    .tools
                    .iter()
                    .filter_map(|t| serde_json::to_value(t).ok())
                    .collect();
                list.tools = self
                    .guard
                    .filter_tools(tools)
                    .into_iter()
                    .filter_map(|t| serde_json::from_value(t).ok())
                    .collect();
                Ok(ServerResult::ListToolsResult(list))
            }
            other => Ok(other),
        }
    }

    /// Forwards a request rmcp does not model as the peers speak it
    /// (see [`crate::wire`]), and returns the server's raw result: the one
    /// the wire kept, or, without a wire, rmcp's reading of it.
    async fn forward_raw(
        &self,
        method: &str,
        params: Option<Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let request = ClientRequest::CustomRequest(CustomRequest::new(method, params));
        let (result, id, wire) = self.send(request, ctx).await?;
        match wire.and_then(|w| w.take(&id)) {
            Some(raw) => Ok(raw),
            None => to_value(&result),
        }
    }

    /// The server's JSON-RPC error, its secrets redacted (its text may
    /// quote what it read).
    fn redact_error(&self, error: ErrorData) -> ErrorData {
        match to_value(&error) {
            Ok(mut value) => {
                self.guard.redact_secrets(&mut value);
                serde_json::from_value(value).unwrap_or(error)
            }
            Err(_) => error,
        }
    }

    /// Checks the tools' definitions before a call to a tool not checked
    /// yet (a client may call without listing, or list only a page).
    async fn ensure_listed(
        &self,
        tool: &str,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if self.guard.has_checked(tool) {
            return Ok(());
        }
        // Every page, checked as the client's own listing is.
        let mut cursor: Option<Value> = None;
        for _ in 0..1000 {
            let params = cursor.take().map(|c| json!({ "cursor": c }));
            let page = self.list_tools_raw(params, ctx).await?;
            match page.get("nextCursor") {
                Some(c @ Value::String(_)) => cursor = Some(c.clone()),
                _ => break,
            }
        }
        Ok(())
    }

    /// `tools/list` on the wire: the tools are checked as rmcp reads them
    /// (the same definitions, hashes and pins as behind a typed transport),
    /// and each tool the client may see keeps its `execution` (whether it
    /// runs as a task), which rmcp's `Tool` does not carry.
    async fn list_tools_raw(
        &self,
        params: Option<Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let mut value = self.forward_raw("tools/list", params, ctx).await?;
        let Some(Value::Array(raw_tools)) = value.get_mut("tools").map(std::mem::take) else {
            return Err(unexpected("tools/list"));
        };
        let mut typed = Vec::with_capacity(raw_tools.len());
        let mut execution = HashMap::new();
        for raw in raw_tools {
            // A definition rmcp cannot read cannot be checked: fail closed.
            let tool: Tool = serde_json::from_value(raw.clone()).map_err(|e| {
                ErrorData::internal_error(
                    format!("the MCP server sent a tool definition that cannot be checked: {e}"),
                    None,
                )
            })?;
            if let Some(e) = raw.get("execution") {
                execution.insert(tool.name.to_string(), e.clone());
            }
            typed.push(to_value(&tool)?);
        }
        let shown: Vec<Value> = self
            .guard
            .filter_tools(typed)
            .into_iter()
            .map(|mut t| {
                let name = t.get("name").and_then(Value::as_str).map(str::to_owned);
                if let (Some(e), Value::Object(m)) =
                    (name.and_then(|n| execution.remove(&n)), &mut t)
                {
                    m.insert("execution".to_owned(), e);
                }
                t
            })
            .collect();
        value["tools"] = Value::Array(shown);
        Ok(value)
    }

    /// Runs the guard on a call: the arguments to forward and the trace,
    /// or the refusal the client gets instead (the server is not called).
    async fn guard_call(
        &self,
        tool: &str,
        arguments: Option<&Map<String, Value>>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Result<(Option<Map<String, Value>>, TraceId), Value>, ErrorData> {
        self.ensure_listed(tool, ctx).await?;
        let server = self.guard.name();
        let action = self
            .guard
            .decide_call(tool, arguments)
            .await
            .map_err(|e| no_verdict(&e))?;
        let action = match action {
            CallAction::Approve { verdict, request } => {
                self.approve(verdict, *request, arguments, ctx).await?
            }
            other => other,
        };
        match action {
            CallAction::Forward { arguments, trace } => Ok(Ok((arguments, trace))),
            CallAction::Refuse(r) => {
                tracing::info!(server = %server, tool = %tool, decision = r.decision, reasons = ?r.reason_codes, trace_id = ?r.trace_id, "tool call refused");
                Ok(Err(r.tool_result(&server, tool)))
            }
            CallAction::Approve { .. } => {
                Err(ErrorData::internal_error("approval did not settle", None))
            }
        }
    }

    async fn call_tool(
        &self,
        mut call: CallToolRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let tool = call.params.name.to_string();
        let (arguments, trace) = match self
            .guard_call(&tool, call.params.arguments.as_ref(), ctx)
            .await?
        {
            Ok(forward) => forward,
            Err(refusal) => return call_tool_result(refusal),
        };
        call.params.arguments = arguments;
        match self
            .forward(ClientRequest::CallToolRequest(call), ctx)
            .await
        {
            Ok(result) => {
                let mut value = to_value(&result)?;
                self.guard
                    .check_result(&trace, &mut value)
                    .await
                    .map_err(|e| no_verdict(&e))?;
                match result {
                    ServerResult::CallToolResult(_) => call_tool_result(value),
                    _ => serde_json::from_value(value).map_err(|e| {
                        ErrorData::internal_error(format!("cannot encode: {e}"), None)
                    }),
                }
            }
            Err(error) => Err(self.redact_error(error)),
        }
    }

    /// A `tools/call` on the wire, with or without a `task`: guarded as any
    /// call, forwarded with its other params as the client sent them. A
    /// result is scanned under the call's trace; a created task is
    /// remembered with that trace, for its result.
    async fn call_tool_raw(
        &self,
        params: Option<Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let Some(Value::Object(mut params)) = params else {
            return Err(ErrorData::invalid_params(
                "tools/call needs its params",
                None,
            ));
        };
        let Some(tool) = params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(ErrorData::invalid_params(
                "tools/call needs a tool name",
                None,
            ));
        };
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => None,
            Some(Value::Object(a)) => Some(a.clone()),
            Some(_) => {
                return Err(ErrorData::invalid_params(
                    "the arguments of a tools/call must be an object",
                    None,
                ));
            }
        };
        let (arguments, trace) = match self.guard_call(&tool, arguments.as_ref(), ctx).await? {
            Ok(forward) => forward,
            Err(refusal) => return Ok(refusal),
        };
        match arguments {
            Some(a) => params.insert("arguments".to_owned(), Value::Object(a)),
            None => params.remove("arguments"),
        };
        let mut value = self
            .forward_raw("tools/call", Some(Value::Object(params)), ctx)
            .await
            .map_err(|e| self.redact_error(e))?;
        if let Some(task) = created_task(&value) {
            tracing::info!(server = %self.guard.name(), tool = %tool, task_id = %task, trace_id = %trace, "the call runs as a task");
            remember_task(&self.tasks, task, trace);
            return Ok(value);
        }
        self.guard
            .check_result(&trace, &mut value)
            .await
            .map_err(|e| no_verdict(&e))?;
        Ok(value)
    }

    /// `tasks/result`: the result of a task a guarded call created,
    /// scanned under that call's trace. A task the proxy cannot tie to such
    /// a call gets no result.
    async fn task_result(
        &self,
        params: Option<Value>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let Some(id) = params
            .as_ref()
            .and_then(|p| p.get("taskId"))
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(ErrorData::invalid_params(
                "tasks/result needs a taskId",
                None,
            ));
        };
        let Some(origin) = task_origin(&self.tasks, &id) else {
            tracing::warn!(task_id = %id, "tasks/result for a task no guarded call created; withheld");
            return Err(ErrorData::invalid_params(
                format!(
                    "interven withheld the result of task `{id}`: no tool call it checked in this session created that task"
                ),
                None,
            ));
        };
        let mut value = self
            .forward_raw("tasks/result", params, ctx)
            .await
            .map_err(|e| self.redact_error(e))?;
        self.guard
            .check_result(&origin.trace, &mut value)
            .await
            .map_err(|e| no_verdict(&e))?;
        Ok(value)
    }

    /// `REQUIRE_APPROVAL`: ask as `--approval` says; the result is a
    /// `Forward` or a `Refuse`.
    async fn approve(
        &self,
        verdict: interven::Verdict,
        request: interven::ScanRequest,
        arguments: Option<&Map<String, Value>>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallAction, ErrorData> {
        let client = self.guard.client();
        match self.guard.approval() {
            ApprovalMode::Deny => Ok(CallAction::Refuse(Refusal::from_verdict(
                &verdict,
                &[APPROVAL_UNAVAILABLE],
            ))),
            ApprovalMode::Elicit => {
                let supported = ctx
                    .peer
                    .peer_info()
                    .is_some_and(|i| i.capabilities.elicitation.is_some());
                if !supported {
                    return Ok(CallAction::Refuse(Refusal::from_verdict(
                        &verdict,
                        &[APPROVAL_UNAVAILABLE],
                    )));
                }
                let mut shown = Value::Object(arguments.cloned().unwrap_or_default());
                self.guard.redact_secrets(&mut shown);
                let mut shown = shown.to_string();
                if shown.len() > 600 {
                    let cut = (0..=600)
                        .rev()
                        .find(|i| shown.is_char_boundary(*i))
                        .unwrap_or(0);
                    shown.truncate(cut);
                    shown.push('…');
                }
                let message = format!(
                    "interven: the tool call {}/{} needs your approval ({}). Arguments: {shown}. Run it?",
                    self.guard.name(),
                    request.operation().unwrap_or(""),
                    verdict.reason_codes.join(", "),
                );
                let params: ElicitRequestParams = serde_json::from_value(json!({
                    "mode": "form",
                    "message": message,
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"approve": {"type": "boolean", "title": "Run this tool call",
                            "description": "Check to run the call; leave unchecked or decline to refuse it."}},
                        "required": ["approve"],
                    },
                }))
                .map_err(|e| ErrorData::internal_error(format!("cannot build the approval request: {e}"), None))?;
                let answer = ctx.peer.create_elicitation(params).await;
                let approved = match &answer {
                    Ok(r) => {
                        r.action == ElicitationAction::Accept
                            && r.content.as_ref().and_then(|c| c.get("approve"))
                                == Some(&Value::Bool(true))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the client did not answer the approval request");
                        return Ok(CallAction::Refuse(Refusal::from_verdict(
                            &verdict,
                            &[APPROVAL_UNAVAILABLE],
                        )));
                    }
                };
                if !approved {
                    return Ok(CallAction::Refuse(Refusal::from_verdict(
                        &verdict,
                        &["APPROVAL_DENIED"],
                    )));
                }
                tracing::info!(trace_id = %verdict.trace_id, "approved by the user through elicitation");
                // The embedded engine records the approval, and answers the
                // same request ALLOW within its grace window.
                if let (Some(engine), Some(id)) = (client.engine(), verdict.approval_id.as_ref())
                    && engine.approve(id).is_ok()
                {
                    let again = client.scan(&request).await.map_err(|e| no_verdict(&e))?;
                    if again.decision != Decision::RequireApproval {
                        return self
                            .guard
                            .act(again, request, arguments)
                            .map_err(|e| no_verdict(&e));
                    }
                }
                Ok(CallAction::Forward {
                    arguments: arguments.cloned(),
                    trace: verdict.trace_id,
                })
            }
            ApprovalMode::Gateway => {
                let Some(id) = verdict.approval_id.clone() else {
                    return Err(no_verdict(&IntervenError::Gateway {
                        status: 200,
                        message: "REQUIRE_APPROVAL verdict without an approval_id".to_owned(),
                    }));
                };
                tracing::info!(approval_id = %id, "waiting for the approval");
                match client
                    .wait_for_approval(
                        &id,
                        client.approval_timeout(),
                        client.approval_poll_interval(),
                    )
                    .await
                {
                    Ok(_) => {
                        let again = client.scan(&request).await.map_err(|e| no_verdict(&e))?;
                        match again.decision {
                            Decision::RequireApproval => Ok(CallAction::Refuse(
                                Refusal::from_verdict(&again, &[APPROVAL_UNAVAILABLE]),
                            )),
                            _ => self
                                .guard
                                .act(again, request, arguments)
                                .map_err(|e| no_verdict(&e)),
                        }
                    }
                    Err(
                        e @ (IntervenError::ApprovalDenied { .. }
                        | IntervenError::ApprovalExpired { .. }
                        | IntervenError::ApprovalTimeout { .. }),
                    ) => {
                        let code = match e {
                            IntervenError::ApprovalDenied { .. } => "APPROVAL_DENIED",
                            IntervenError::ApprovalExpired { .. } => "APPROVAL_EXPIRED",
                            _ => "APPROVAL_TIMEOUT",
                        };
                        Ok(CallAction::Refuse(Refusal::from_verdict(&verdict, &[code])))
                    }
                    Err(e) => Err(no_verdict(&e)),
                }
            }
        }
    }
}

/// The id of the task a `tools/call` answer created, if it is a
/// `CreateTaskResult`: `{"task": {"taskId"…}}` (2025-11-25) or
/// `{"resultType": "task", "taskId"…}` (SEP-2663).
fn created_task(result: &Value) -> Option<String> {
    let id = match result.get("task") {
        Some(task) => task.get("taskId"),
        None if result.get("resultType").and_then(Value::as_str) == Some("task") => {
            result.get("taskId")
        }
        None => None,
    };
    id.and_then(Value::as_str).map(str::to_owned)
}

fn remember_task(tasks: &TaskMap, id: String, trace: TraceId) {
    let mut tasks = lock(tasks);
    if tasks.by_id.len() >= MAX_TASKS
        && let Some(old) = tasks.order.pop_front()
    {
        tasks.by_id.remove(&old);
    }
    if tasks
        .by_id
        .insert(id.clone(), TaskOrigin { trace })
        .is_none()
    {
        tasks.order.push_back(id);
    }
}

fn task_origin(tasks: &TaskMap, id: &str) -> Option<TaskOrigin> {
    lock(tasks).by_id.get(id).cloned()
}

/// What the client gets in place of a task's result that cannot be
/// scanned (its task unknown to the proxy, or the scan failed).
fn withheld_result(id: &str) -> Value {
    json!({
        "content": [{"type": "text", "text": format!(
            "interven withheld the result of task `{id}`: it cannot be tied to a tool call interven checked, or it could not be scanned."
        )}],
        "isError": true,
    })
}

/// Scans what a task object carries (SEP-2663 puts a completed task's
/// `result` in `tasks/get` answers and status notifications): a result
/// under its call's trace, or withheld; an error with its secrets redacted.
/// Every other field passes untouched.
async fn screen_task(guard: &Guard, tasks: &TaskMap, task: &mut Map<String, Value>) {
    if let Some(error) = task.get_mut("error") {
        guard.redact_secrets(error);
    }
    let id = task
        .get("taskId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let origin = task_origin(tasks, &id);
    let Some(result) = task.get_mut("result") else {
        return;
    };
    let scanned = match origin {
        Some(o) => guard.check_result(&o.trace, result).await.is_ok(),
        None => false,
    };
    if !scanned {
        tracing::warn!(task_id = %id, "a task result that cannot be scanned under its call's trace; withheld");
        *result = withheld_result(&id);
    }
}

/// [`screen_task`] on every task in an answer or a notification's params:
/// the object itself, its `task`, or each of its `tasks`.
async fn screen_tasks(guard: &Guard, tasks: &TaskMap, value: &mut Value) {
    let Value::Object(m) = value else {
        return;
    };
    if let Some(Value::Array(list)) = m.get_mut("tasks") {
        for t in list.iter_mut() {
            if let Value::Object(t) = t {
                screen_task(guard, tasks, t).await;
            }
        }
    }
    if let Some(Value::Object(t)) = m.get_mut("task") {
        screen_task(guard, tasks, t).await;
    }
    if m.contains_key("taskId") {
        screen_task(guard, tasks, m).await;
    }
}

/// A request to forward, from its method and params.
fn request(method: &str, params: Option<Value>) -> Result<ClientRequest, ErrorData> {
    let mut r = Map::new();
    r.insert("method".to_owned(), Value::String(method.to_owned()));
    if let Some(p) = params {
        r.insert("params".to_owned(), p);
    }
    serde_json::from_value(Value::Object(r))
        .map_err(|e| ErrorData::invalid_params(format!("cannot forward {method}: {e}"), None))
}

fn unexpected(method: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("the MCP server answered {method} with a result of another kind"),
        None,
    )
}

/// Forwards a request and extracts the result of the expected kind.
macro_rules! forward {
    ($self:ident, $ctx:ident, $method:literal, $params:expr, $variant:ident $(=> $wrap:path)?) => {{
        let params = $params.map(|p| to_value(&p)).transpose()?;
        match $self.session.forward(request($method, params)?, &$ctx).await? {
            ServerResult::$variant(r) => Ok($($wrap)?(r)),
            _ => Err(unexpected($method)),
        }
    }};
}

/// Forwards a request whose result is empty.
macro_rules! forward_empty {
    ($self:ident, $ctx:ident, $method:literal, $params:expr) => {{
        let params = $params.map(|p| to_value(&p)).transpose()?;
        $self
            .session
            .forward(request($method, params)?, &$ctx)
            .await
            .map(|_| ())
    }};
}

impl ProxyServer {
    async fn notify_upstream(&self, method: &str, params: Option<Value>) {
        let Some(upstream) = self.session.connection.get() else {
            return;
        };
        let mut n = Map::new();
        n.insert("method".to_owned(), Value::String(method.to_owned()));
        if let Some(p) = params {
            n.insert("params".to_owned(), p);
        }
        match serde_json::from_value::<ClientNotification>(Value::Object(n)) {
            Ok(n) => {
                if let Err(e) = upstream.peer().send_notification(n).await {
                    tracing::warn!(error = %e, method, "cannot forward a notification to the MCP server");
                }
            }
            Err(e) => tracing::warn!(error = %e, method, "cannot forward a notification"),
        }
    }
}

impl ServerHandler for ProxyServer {
    async fn initialize(
        &self,
        mut request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let s = &self.session;
        // Behind HTTP, the session's wire comes with the request.
        if let Some(w) = ctx.extensions.get::<Arc<Wire>>() {
            let _ = s.client_wire.set(w.clone());
        }
        // The client's capabilities as it sent them (the client wire keeps
        // them under `_meta`, rmcp's model drops what it does not know).
        // (rmcp moves a request's `_meta` to its context.)
        let mut ctx = ctx;
        let from_params = request
            .meta
            .as_mut()
            .and_then(|m| m.0.0.remove(RAW_CAPABILITIES));
        let raw_capabilities = ctx
            .meta
            .0
            .0
            .remove(RAW_CAPABILITIES)
            .or(from_params)
            .filter(|_| s.client_wire.get().is_some());
        if request.meta.as_ref().is_some_and(|m| m.0.0.is_empty()) {
            request.meta = None;
        }
        ctx.peer.set_peer_info(request.clone());
        let upstream = s
            .connect(Some(request), raw_capabilities, ctx.peer.clone())
            .await?;
        let Some(info) = upstream.peer().peer_info() else {
            return Err(ErrorData::internal_error(
                "the MCP server sent no initialize answer",
                None,
            ));
        };
        // The server's own answer: capabilities, name, instructions.
        let mut value = to_value(&*info)?;
        if value.get("serverInfo").is_none_or(Value::is_null) {
            value["serverInfo"] = json!({"name": s.guard.name(), "version": "0"});
        }
        let mut result: InitializeResult = serde_json::from_value(value).map_err(|e| {
            ErrorData::internal_error(format!("cannot encode the initialize answer: {e}"), None)
        })?;
        // The server's raw answer (its `capabilities.tasks`, and whatever
        // else rmcp's model does not know): the client wire puts it in place
        // of this typed one.
        if s.client_wire.get().is_some()
            && let Some(raw) = upstream.wire.as_ref().and_then(|w| w.raw_initialize())
        {
            result
                .meta
                .get_or_insert_default()
                .0
                .insert(RAW_INITIALIZE.to_owned(), raw);
        }
        Ok(result)
    }

    async fn ping(&self, ctx: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        forward_empty!(self, ctx, "ping", None::<Value>)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        forward!(
            self,
            ctx,
            "completion/complete",
            Some(request),
            CompleteResult
        )
    }

    #[allow(deprecated)] // logging/setLevel is forwarded while clients still send it
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        forward_empty!(self, ctx, "logging/setLevel", Some(request))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        forward!(self, ctx, "prompts/get", Some(request), GetPromptResult => GetPromptResponse::from)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        forward!(self, ctx, "prompts/list", request, ListPromptsResult)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        forward!(self, ctx, "resources/list", request, ListResourcesResult)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        forward!(
            self,
            ctx,
            "resources/templates/list",
            request,
            ListResourceTemplatesResult
        )
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        forward!(self, ctx, "resources/read", Some(request), ReadResourceResult => ReadResourceResponse::from)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        forward_empty!(self, ctx, "resources/subscribe", Some(request))
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        forward_empty!(self, ctx, "resources/unsubscribe", Some(request))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self
            .session
            .call_tool(CallToolRequest::new(request), &ctx)
            .await?
        {
            ServerResult::CallToolResult(r) => Ok(CallToolResponse::Complete(r)),
            ServerResult::CreateTaskResult(r) => Ok(CallToolResponse::Task(r)),
            ServerResult::InputRequiredResult(r) => Ok(CallToolResponse::InputRequired(r)),
            _ => Err(unexpected("tools/call")),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // One path for every listing: checked as the wire's raw one is.
        let params = request.map(|p| to_value(&p)).transpose()?;
        let value = self.session.list_tools_raw(params, &ctx).await?;
        serde_json::from_value(value).map_err(|e| {
            ErrorData::internal_error(format!("cannot encode the tool list: {e}"), None)
        })
    }

    /// Requests rmcp does not model as the peers speak them (on the wire,
    /// renamed `interven/raw/<method>`; behind a typed transport, methods
    /// rmcp does not know): forwarded with their params as sent, and
    /// answered with the server's raw result. `tools/call` and `tools/list`
    /// are guarded as their typed forms are, `tasks/result` is scanned
    /// under the trace of the call that created the task, and the results
    /// other `tasks/*` answers embed are scanned the same way.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let s = &self.session;
        let method = wire::method_name(&request.method).to_owned();
        let params = request.params;
        let value = match method.as_str() {
            "tools/call" => s.call_tool_raw(params, &ctx).await?,
            "tools/list" => s.list_tools_raw(params, &ctx).await?,
            "tasks/result" => s.task_result(params, &ctx).await?,
            m if m.starts_with("tasks/") => {
                let mut value = s
                    .forward_raw(m, params, &ctx)
                    .await
                    .map_err(|e| s.redact_error(e))?;
                screen_tasks(&s.guard, &s.tasks, &mut value).await;
                value
            }
            m => s.forward_raw(m, params, &ctx).await?,
        };
        Ok(CustomResult(value))
    }

    async fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        _ctx: NotificationContext<RoleServer>,
    ) {
        if let Ok(p) = to_value(&notification) {
            self.notify_upstream("notifications/progress", Some(p))
                .await;
        }
    }

    async fn on_roots_list_changed(&self, _ctx: NotificationContext<RoleServer>) {
        self.notify_upstream("notifications/roots/list_changed", None)
            .await;
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _ctx: NotificationContext<RoleServer>,
    ) {
        let method = wire::method_name(&notification.method).to_owned();
        self.notify_upstream(&method, notification.params).await;
    }

    fn get_info(&self) -> ServerConfig {
        self.session
            .connection
            .get()
            .and_then(|c| c.peer().peer_info())
            .and_then(|i| to_value(&*i).ok())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Owned(initialize_versions())
    }
}

impl Service<RoleClient> for ProxyClient {
    async fn handle_request(
        &self,
        request: ServerRequest,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        // Sampling, roots, elicitation, ping: the client answers.
        let mut request = request;
        if !ctx.meta.0.is_empty() {
            use rmcp::model::GetMeta as _;
            let mut meta = ctx.meta.clone();
            meta.0.0.remove("progressToken");
            *request.get_meta_mut() = meta;
        }
        // A request that travels raw (see `crate::wire`) goes to the client
        // under its own method, and the client's raw answer comes back.
        let raw = match &mut request {
            ServerRequest::CustomRequest(r) => {
                r.method = wire::method_name(&r.method).to_owned();
                true
            }
            _ => false,
        };
        let did_not_answer = |e| match e {
            ServiceError::McpError(e) => e,
            other => {
                ErrorData::internal_error(format!("the MCP client did not answer: {other}"), None)
            }
        };
        let handle = self
            .downstream
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await
            .map_err(did_not_answer)?;
        let id = handle.id.clone();
        let result = handle.await_response().await;
        let kept = self.client_wire.as_ref().and_then(|w| w.take(&id));
        let result = result.map_err(did_not_answer)?;
        match kept {
            Some(value) if raw => Ok(ClientResult::CustomResult(CustomResult(value))),
            _ => Ok(result),
        }
    }

    async fn handle_notification(
        &self,
        notification: ServerNotification,
        ctx: NotificationContext<RoleClient>,
    ) -> Result<(), ErrorData> {
        use rmcp::model::GetMeta as _;
        let mut notification = notification;
        match &mut notification {
            ServerNotification::CancelledNotification(_) => return Ok(()),
            ServerNotification::ProgressNotification(p) => {
                let mapped = lock(&self.progress).get(&p.params.progress_token).cloned();
                match mapped {
                    Some(token) => p.params.progress_token = token,
                    // Progress of a request the client did not ask progress for.
                    None => return Ok(()),
                }
            }
            ServerNotification::ToolListChangedNotification(_) => {
                tracing::info!(server = %self.guard.name(), "the server's tool list changed; definitions are checked again");
                self.guard.mark_stale();
            }
            // Task status (2025-11-25 `notifications/tasks/status`, raw on
            // the wire; SEP-2663 `notifications/tasks`): passed on as sent,
            // but a result it carries is scanned under its call's trace.
            ServerNotification::CustomNotification(n) => {
                n.method = wire::method_name(&n.method).to_owned();
                if n.method.starts_with("notifications/tasks")
                    && let Some(params) = n.params.as_mut()
                {
                    screen_tasks(&self.guard, &self.tasks, params).await;
                }
            }
            ServerNotification::TaskStatusNotification(_) => {
                if let Ok(Value::Object(mut n)) = serde_json::to_value(&notification) {
                    let method = n
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or("notifications/tasks")
                        .to_owned();
                    let mut params = n.remove("params");
                    if let Some(p) = params.as_mut() {
                        screen_tasks(&self.guard, &self.tasks, p).await;
                    }
                    notification = ServerNotification::CustomNotification(CustomNotification::new(
                        method, params,
                    ));
                } else {
                    return Ok(());
                }
            }
            _ => {}
        }
        if !ctx.meta.0.is_empty() {
            *notification.get_meta_mut() = ctx.meta;
        }
        self.downstream
            .send_notification(notification)
            .await
            .map_err(|e| ErrorData::internal_error(format!("the MCP client is gone: {e}"), None))
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Settings;

    const SECRET: &str = "AKIAZ7QWERTYUIOP4ZXC";

    fn guard() -> Guard {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Guard::new(Settings {
            client: interven::Client::local_default(),
            policy: None,
            name: Some("records".into()),
            pins: std::env::temp_dir().join(format!("interven-mcp-proxy-{nanos}.json")),
            approval: ApprovalMode::Deny,
        })
        .unwrap()
    }

    #[test]
    fn a_created_task_is_known_in_both_revisions() {
        let old = json!({"task": {"taskId": "t1", "status": "working"}});
        assert_eq!(created_task(&old).as_deref(), Some("t1"));
        let sep2663 = json!({"resultType": "task", "taskId": "t2", "status": "working"});
        assert_eq!(created_task(&sep2663).as_deref(), Some("t2"));
        for not_one in [
            json!({"content": [], "isError": false}),
            json!({"resultType": "complete", "taskId": "t3"}),
            json!({"task": {"taskId": 5}}),
            json!("task"),
        ] {
            assert_eq!(created_task(&not_one), None, "{not_one}");
        }
    }

    #[test]
    fn the_task_map_is_bounded_oldest_first() {
        let tasks = TaskMap::default();
        let trace = TraceId::new("tr_test");
        for i in 0..(MAX_TASKS + 5) {
            remember_task(&tasks, format!("t{i}"), trace.clone());
        }
        assert_eq!(lock(&tasks).by_id.len(), MAX_TASKS);
        assert!(task_origin(&tasks, "t0").is_none());
        assert!(task_origin(&tasks, &format!("t{}", MAX_TASKS + 4)).is_some());
    }

    #[tokio::test]
    async fn embedded_task_results_are_scanned_or_withheld() {
        let g = guard();
        let tasks = TaskMap::default();
        let verdict = g
            .client()
            .scan(&g.request("fetch", None).unwrap())
            .await
            .unwrap();
        remember_task(&tasks, "known".into(), verdict.trace_id.clone());
        let result = json!({"content": [{"type": "text", "text": format!("key {SECRET}")}]});
        let mut list = json!({"tasks": [
            {"taskId": "known", "status": "completed", "ttl": 5, "result": result},
            {"taskId": "stranger", "status": "completed", "result": result},
            {"taskId": "failed", "status": "failed", "error": {"code": 1, "message": format!("saw {SECRET}")}},
            {"taskId": "working", "status": "working", "pollInterval": 7},
        ]});
        screen_tasks(&g, &tasks, &mut list).await;
        let text = list.to_string();
        assert!(!text.contains(SECRET), "{text}");
        assert!(
            list["tasks"][0]["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("[REDACTED:")
        );
        assert_eq!(list["tasks"][0]["ttl"], 5);
        assert_eq!(list["tasks"][1]["result"]["isError"], true);
        assert!(
            list["tasks"][1]["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("withheld")
        );
        assert_eq!(
            list["tasks"][3],
            json!({"taskId": "working", "status": "working", "pollInterval": 7})
        );

        // A tasks/get answer, and a status notification's params, are a task themselves.
        let mut get = json!({"taskId": "stranger", "status": "completed", "result": result});
        screen_tasks(&g, &tasks, &mut get).await;
        assert!(!get.to_string().contains(SECRET));
        let mut plain = json!({"taskId": "known", "status": "working", "statusMessage": "busy"});
        let before = plain.clone();
        screen_tasks(&g, &tasks, &mut plain).await;
        assert_eq!(plain, before, "a task without a result passes untouched");
        for mut junk in [
            json!(null),
            json!([1]),
            json!({"tasks": 3}),
            json!({"task": "x"}),
        ] {
            screen_tasks(&g, &tasks, &mut junk).await;
        }
    }
}
