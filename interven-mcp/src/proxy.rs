//! The proxy: an MCP server to the client, an MCP client to the upstream
//! server, built on rmcp's services. Handlers stay thin: `tools/call` and
//! `tools/list` go through the [`Guard`](crate::guard::Guard); every other request and
//! notification is forwarded as it came.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};

use interven::{Decision, Error as IntervenError};
#[allow(deprecated)] // SetLevelRequestParams: logging/setLevel still passes through
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotification, CancelledNotificationParam, ClientConfig, ClientNotification,
    ClientRequest, ClientResult, CompleteRequestParams, CompleteResult, CustomNotification,
    CustomRequest, CustomResult, ElicitRequestParams, ElicitationAction, ErrorData,
    GetPromptRequestParams, GetPromptResponse, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ServerConfig, ServerNotification,
    ServerRequest, ServerResult, SetLevelRequestParams, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer,
    RunningService, ServiceError,
};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ServerHandler, Service, ServiceExt};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::guard::{APPROVAL_UNAVAILABLE, ApprovalMode, CallAction, Refusal, SharedGuard};

/// Where the upstream server is.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A command to spawn; it speaks MCP on its stdin and stdout.
    Command(Vec<OsString>),
    /// A streamable-HTTP endpoint.
    Url(String),
}

type UpstreamService = RunningService<RoleClient, ProxyClient>;
type ProgressMap = Arc<Mutex<HashMap<ProgressToken, ProgressToken>>>;

/// One client session: its upstream connection, made on `initialize`.
#[derive(Debug)]
pub struct Session {
    guard: SharedGuard,
    upstream: Arc<Upstream>,
    connection: OnceCell<UpstreamService>,
    /// Upstream progress token → the client's own.
    progress: ProgressMap,
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
    /// A new session on `upstream`.
    pub fn new(guard: SharedGuard, upstream: Arc<Upstream>) -> ProxyServer {
        ProxyServer {
            session: Arc::new(Session {
                guard,
                upstream,
                connection: OnceCell::new(),
                progress: Arc::default(),
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
            c.cancellation_token().cancel();
        }
        // Give the child process transport its graceful shutdown.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    async fn connect(
        &self,
        info: Option<ClientConfig>,
        downstream: Peer<RoleServer>,
    ) -> Result<&UpstreamService, ErrorData> {
        self.connection
            .get_or_try_init(|| async {
                let client = ProxyClient {
                    info: info.unwrap_or_default(),
                    downstream,
                    progress: self.progress.clone(),
                    guard: self.guard.clone(),
                };
                let served = match &*self.upstream {
                    Upstream::Command(argv) => {
                        let Some((program, args)) = argv.split_first() else {
                            return Err(ErrorData::internal_error("no server command given", None));
                        };
                        let mut cmd = tokio::process::Command::new(program);
                        cmd.args(args);
                        let (transport, _) = TokioChildProcess::builder(cmd)
                            .stderr(Stdio::inherit())
                            .spawn()
                            .map_err(|e| {
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
                        client
                            .serve(StreamableHttpClientTransport::from_uri(url.as_str()))
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
                Ok(running)
            })
            .await
    }

    async fn upstream(&self, downstream: &Peer<RoleServer>) -> Result<&UpstreamService, ErrorData> {
        let info = downstream.peer_info().map(|i| (*i).clone());
        self.connect(info, downstream.clone()).await
    }

    /// Sends a request upstream as the client sent it (its `_meta` kept,
    /// its progress token mapped), cancelled when the client cancels it.
    async fn forward(
        &self,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
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
                    Some(id),
                    Some("cancelled by the client".to_owned()),
                ));
                let _ = upstream.peer().send_notification(cancel.into()).await;
                Err(ErrorData::internal_error("cancelled by the client", None))
            }
        };
        lock(&self.progress).remove(&token);
        match result? {
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
        let upstream = self.upstream(&ctx.peer).await?;
        let tools = upstream
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| upstream_error(&self.guard.name(), e))?;
        self.guard.filter_tools(
            tools
                .iter()
                .filter_map(|t| serde_json::to_value(t).ok())
                .collect(),
        );
        Ok(())
    }

    async fn call_tool(
        &self,
        mut call: CallToolRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let tool = call.params.name.to_string();
        self.ensure_listed(&tool, ctx).await?;
        let server = self.guard.name();
        let action = self
            .guard
            .decide_call(&tool, call.params.arguments.as_ref())
            .await
            .map_err(|e| no_verdict(&e))?;
        let action = match action {
            CallAction::Approve { verdict, request } => {
                self.approve(verdict, *request, call.params.arguments.as_ref(), ctx)
                    .await?
            }
            other => other,
        };
        let (arguments, trace) = match action {
            CallAction::Forward { arguments, trace } => (arguments, trace),
            CallAction::Refuse(r) => {
                tracing::info!(server = %server, tool = %tool, decision = r.decision, reasons = ?r.reason_codes, trace_id = ?r.trace_id, "tool call refused");
                return call_tool_result(r.tool_result(&server, &tool));
            }
            CallAction::Approve { .. } => {
                return Err(ErrorData::internal_error("approval did not settle", None));
            }
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
            Err(error) => {
                // The server's error text may quote what it read.
                let mut value = to_value(&error)?;
                self.guard.redact_secrets(&mut value);
                Err(serde_json::from_value(value).unwrap_or(error))
            }
        }
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
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        ctx.peer.set_peer_info(request.clone());
        let s = &self.session;
        let upstream = s.connect(Some(request), ctx.peer.clone()).await?;
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
        serde_json::from_value(value).map_err(|e| {
            ErrorData::internal_error(format!("cannot encode the initialize answer: {e}"), None)
        })
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
        forward!(self, ctx, "tools/list", request, ListToolsResult)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        match self
            .session
            .forward(ClientRequest::CustomRequest(request), &ctx)
            .await?
        {
            ServerResult::CustomResult(r) => Ok(r),
            other => Ok(CustomResult(to_value(&other)?)),
        }
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
        let method = notification.method.clone();
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
        self.downstream
            .send_request(request)
            .await
            .map_err(|e| match e {
                ServiceError::McpError(e) => e,
                other => ErrorData::internal_error(
                    format!("the MCP client did not answer: {other}"),
                    None,
                ),
            })
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
