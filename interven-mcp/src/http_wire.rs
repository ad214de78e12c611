//! The [wire](crate::wire) behind streamable HTTP, where rmcp owns the
//! bytes: an axum layer rewrites each POSTed JSON-RPC body before rmcp
//! parses it (the inbound half), and a session manager around rmcp's own
//! wraps each session's transport, where the typed `initialize` answer is
//! replaced by the server's raw one as an untyped result (the outbound
//! half). One [`Wire`] per MCP session, found by its `Mcp-Session-Id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use rmcp::model::{ClientJsonRpcMessage, CustomResult, ServerJsonRpcMessage, ServerResult};
use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use serde_json::Value;

use crate::wire::{Edge, Wire};

/// The header naming an MCP session.
const SESSION: &str = "mcp-session-id";
/// The largest body rewritten (rmcp's own line limit).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// At most this many sessions keep a wire.
const MAX_SESSIONS: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wires of the live sessions, by session id.
#[derive(Debug, Default)]
pub struct Wires(Mutex<HashMap<String, Arc<Wire>>>);

impl Wires {
    fn get(&self, id: &str) -> Option<Arc<Wire>> {
        lock(&self.0).get(id).cloned()
    }

    fn insert(&self, id: &str, wire: Arc<Wire>) {
        let mut wires = lock(&self.0);
        if wires.len() >= MAX_SESSIONS
            && let Some(old) = wires.keys().next().cloned()
        {
            wires.remove(&old);
        }
        wires.insert(id.to_owned(), wire);
    }

    fn remove(&self, id: &str) {
        lock(&self.0).remove(id);
    }
}

/// The axum layer: a POSTed body goes through its session's wire (a
/// session's first POST, its `initialize`, through a fresh one: what is
/// rewritten there needs no state) before rmcp reads it.
pub async fn inbound(State(wires): State<Arc<Wires>>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let wire = request
        .headers()
        .get(SESSION)
        .and_then(|v| v.to_str().ok())
        .and_then(|id| wires.get(id))
        .unwrap_or_else(|| Wire::new(Edge::Client));
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the message is too large").into_response();
    };
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut value) => {
            let changed = match &mut value {
                Value::Array(batch) => batch
                    .iter_mut()
                    .fold(false, |changed, m| wire.inbound(m) | changed),
                one => wire.inbound(one),
            };
            match serde_json::to_vec(&value) {
                Ok(rewritten) if changed => {
                    parts.headers.remove(header::CONTENT_LENGTH);
                    Body::from(rewritten)
                }
                _ => Body::from(bytes),
            }
        }
        // Not JSON: rmcp answers it.
        Err(_) => Body::from(bytes),
    };
    next.run(Request::from_parts(parts, body)).await
}

/// rmcp's local session manager, each session's transport with a wire.
#[derive(Debug, Default)]
pub struct WiredSessions {
    inner: LocalSessionManager,
    wires: Arc<Wires>,
}

impl WiredSessions {
    /// The session wires, shared with the [`inbound`] layer.
    pub fn wires(&self) -> Arc<Wires> {
        self.wires.clone()
    }
}

/// A session's transport: rmcp's, with the outbound half of its wire.
#[derive(Debug)]
pub struct WiredTransport<T> {
    inner: T,
    wire: Arc<Wire>,
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for WiredTransport<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let mut item = item;
        if let Ok(mut value) = serde_json::to_value(&item)
            && self.wire.outbound(&mut value)
            && let (ServerJsonRpcMessage::Response(r), Some(result)) =
                (&item, value.get_mut("result"))
        {
            // The initialize answer, now the server's raw one: sent untyped.
            item = ServerJsonRpcMessage::response(
                ServerResult::CustomResult(CustomResult(result.take())),
                r.id.clone(),
            );
        }
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl SessionManager for WiredSessions {
    type Error = <LocalSessionManager as SessionManager>::Error;
    type Transport = WiredTransport<<LocalSessionManager as SessionManager>::Transport>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, inner) = self.inner.create_session().await?;
        let wire = Wire::new(Edge::Client);
        self.wires.insert(&id, wire.clone());
        Ok((id, WiredTransport { inner, wire }))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        // The handler learns the session's wire from its initialize request,
        // and the wire which answer to replace.
        if let (Some(wire), ClientJsonRpcMessage::Request(r)) = (self.wires.get(id), &mut message) {
            if let Ok(request_id) = serde_json::to_value(&r.id) {
                wire.note_initialize(&request_id);
            }
            use rmcp::model::GetExtensions as _;
            r.request.extensions_mut().insert(wire);
        }
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.wires.remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        Ok(match self.inner.restore_session(id.clone()).await? {
            RestoreOutcome::Restored(inner) => {
                let wire = Wire::new(Edge::Client);
                self.wires.insert(&id, wire.clone());
                RestoreOutcome::Restored(WiredTransport { inner, wire })
            }
            RestoreOutcome::AlreadyPresent => RestoreOutcome::AlreadyPresent,
            _ => RestoreOutcome::NotSupported,
        })
    }

    fn event_store(
        &self,
    ) -> Option<Arc<dyn rmcp::transport::streamable_http_server::session::EventStore>> {
        self.inner.event_store()
    }
}
