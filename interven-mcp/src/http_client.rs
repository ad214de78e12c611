//! The wire under rmcp's streamable-HTTP client, for an `--upstream` URL.
//!
//! rmcp's HTTP transport takes its HTTP backend as a
//! [`StreamableHttpClient`]; its reqwest backend parses each answer into
//! rmcp's typed model before anything else sees it, which drops what that
//! model does not know (see [`crate::wire`]). [`WiredHttpClient`] is a
//! backend of its own that posts the JSON-RPC message after the wire's
//! outbound rewrite, and passes each answer (a JSON body, or each event of
//! an SSE stream) through the wire's inbound rewrite before rmcp parses it:
//! the same rules as on a spawned server's stdio. Session deletion and the
//! GET stream go through rmcp's own reqwest backend (its events then cross
//! the wire too).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::BoxStream;
use reqwest_mcp::StatusCode;
use reqwest_mcp::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use serde_json::Value;
use sse_stream::{Sse, SseStream};

use crate::wire::Wire;

const SESSION_ID: &str = "Mcp-Session-Id";
const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";

type Error = StreamableHttpError<reqwest_mcp::Error>;

/// rmcp's HTTP backend with a wire facing the upstream server.
#[derive(Debug, Clone)]
pub struct WiredHttpClient {
    http: reqwest_mcp::Client,
    wire: Arc<Wire>,
}

impl WiredHttpClient {
    /// A backend whose messages cross `wire`. Redirects are not followed: a
    /// guarded upstream is the URL given, never another.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS backend).
    pub fn new(wire: Arc<Wire>) -> Result<WiredHttpClient, reqwest_mcp::Error> {
        let http = reqwest_mcp::Client::builder()
            .redirect(reqwest_mcp::redirect::Policy::none())
            .build()?;
        Ok(WiredHttpClient { http, wire })
    }
}

fn is_media(content_type: Option<&HeaderValue>, media: &str) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media))
}

/// Reads the body, at most `max` bytes.
async fn bounded_body(mut response: reqwest_mcp::Response, max: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(StreamableHttpError::Client)?
    {
        if body.len() + chunk.len() > max {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An SSE stream whose message events cross the wire inbound; an event
/// larger than the limit is dropped, as the wire drops a long line.
struct WiredEvents {
    inner: BoxStream<'static, Result<Sse, SseError>>,
    wire: Arc<Wire>,
    max: usize,
}

impl Stream for WiredEvents {
    type Item = Result<Sse, SseError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let event = match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => event,
                other => return other,
            };
            let mut event = event;
            let Some(data) = event.data.take() else {
                return Poll::Ready(Some(Ok(event)));
            };
            if data.len() > self.max {
                tracing::error!(
                    max = self.max,
                    "an SSE event exceeded the maximum size; it was dropped"
                );
                continue;
            }
            let mut data = data;
            if let Ok(mut value) = serde_json::from_str::<Value>(&data) {
                let changed = match &mut value {
                    Value::Array(batch) => batch
                        .iter_mut()
                        .fold(false, |changed, m| self.wire.inbound(m) | changed),
                    one => self.wire.inbound(one),
                };
                if changed && let Ok(text) = serde_json::to_string(&value) {
                    data = text;
                }
            }
            event.data = Some(data);
            return Poll::Ready(Some(Ok(event)));
        }
    }
}

fn wired(
    inner: BoxStream<'static, Result<Sse, SseError>>,
    wire: Arc<Wire>,
    max: usize,
) -> BoxStream<'static, Result<Sse, SseError>> {
    Box::pin(WiredEvents { inner, wire, max })
}

impl StreamableHttpClient for WiredHttpClient {
    type Error = reqwest_mcp::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let awaits_no_response = !matches!(message, ClientJsonRpcMessage::Request(_));
        let mut body = serde_json::to_value(&message)?;
        self.wire.outbound(&mut body);
        let mut request = self
            .http
            .post(uri.as_ref())
            .header(ACCEPT, format!("{EVENT_STREAM}, {JSON}"))
            .header(CONTENT_TYPE, JSON);
        if let Some(token) = auth_header {
            request = request.bearer_auth(token);
        }
        for (name, value) in custom_headers {
            request = request.header(name, value);
        }
        let session_was_attached = session_id.is_some();
        if let Some(id) = session_id {
            request = request.header(SESSION_ID, id.as_ref());
        }
        let response = request
            .body(serde_json::to_vec(&body)?)
            .send()
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_was_attached {
            return Err(StreamableHttpError::SessionExpired);
        }
        let session = response
            .headers()
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        if !status.is_success() {
            // A JSON-RPC error in the body is the server's answer; anything
            // else fails with the status alone (a body may echo secrets).
            if is_media(content_type.as_ref(), JSON)
                && let Ok(body) = bounded_body(response, limits.max_json_response_size).await
                && let Ok(error @ ServerJsonRpcMessage::Error(_)) =
                    serde_json::from_slice::<ServerJsonRpcMessage>(&body)
            {
                return Ok(StreamableHttpPostResponse::Json(error, session));
            }
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!("HTTP {status}").into(),
            ));
        }
        if is_media(content_type.as_ref(), EVENT_STREAM) {
            let events: BoxStream<'static, Result<Sse, SseError>> =
                Box::pin(SseStream::from_bytes_stream(response.bytes_stream()));
            return Ok(StreamableHttpPostResponse::Sse(
                wired(events, self.wire.clone(), limits.max_sse_event_size),
                session,
            ));
        }
        if is_media(content_type.as_ref(), JSON) {
            let body = bounded_body(response, limits.max_json_response_size).await?;
            if body.is_empty() && awaits_no_response {
                return Ok(StreamableHttpPostResponse::Accepted);
            }
            let parsed = serde_json::from_slice::<Value>(&body).and_then(|mut value| {
                self.wire.inbound(&mut value);
                serde_json::from_value::<ServerJsonRpcMessage>(value)
            });
            return match parsed {
                Ok(message) => Ok(StreamableHttpPostResponse::Json(message, session)),
                Err(_) if awaits_no_response => Ok(StreamableHttpPostResponse::Accepted),
                Err(e) => Err(StreamableHttpError::Deserialize(e)),
            };
        }
        if awaits_no_response {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        Err(StreamableHttpError::UnexpectedContentType(
            content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        ))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        self.http
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default().max_sse_event_size,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        let events = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await?;
        Ok(wired(events, self.wire.clone(), max_sse_event_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Edge, RAW_PREFIX};
    use std::collections::VecDeque;

    struct Events(VecDeque<Result<Sse, SseError>>);

    impl Stream for Events {
        type Item = Result<Sse, SseError>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    async fn next(s: &mut BoxStream<'static, Result<Sse, SseError>>) -> Option<Sse> {
        std::future::poll_fn(|cx| s.as_mut().poll_next(cx))
            .await
            .and_then(Result::ok)
    }

    #[tokio::test]
    async fn sse_events_cross_the_wire_and_long_ones_are_dropped() {
        let status =
            r#"{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t"}}"#;
        let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        let events = [
            Sse::default().data(status),
            Sse::default().data("x".repeat(100)),
            Sse::default().data(progress).id("7"),
            Sse::default().event("ping"),
            Sse::default().data("not json"),
        ];
        let source = Events(events.into_iter().map(Ok).collect());
        let mut s = wired(Box::pin(source), Wire::new(Edge::Server), 90);
        let first = next(&mut s).await.and_then(|e| e.data).unwrap_or_default();
        let first: Value = serde_json::from_str(&first).unwrap_or_default();
        assert_eq!(
            first["method"],
            format!("{RAW_PREFIX}notifications/tasks/status")
        );
        assert_eq!(first["params"]["taskId"], "t");
        let third = next(&mut s).await;
        assert_eq!(
            third.as_ref().and_then(|e| e.data.as_deref()),
            Some(progress),
            "the long event was dropped, an untouched one kept byte for byte"
        );
        assert_eq!(third.and_then(|e| e.id).as_deref(), Some("7"));
        assert_eq!(
            next(&mut s).await.and_then(|e| e.event).as_deref(),
            Some("ping")
        );
        assert_eq!(
            next(&mut s).await.and_then(|e| e.data).as_deref(),
            Some("not json")
        );
        assert!(next(&mut s).await.is_none());
    }

    #[test]
    fn media_types_match_without_parameters_or_case() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(is_media(Some(&v("text/event-stream")), EVENT_STREAM));
        assert!(is_media(Some(&v("Application/JSON; charset=utf-8")), JSON));
        assert!(!is_media(Some(&v("application/json-seq")), JSON));
        assert!(!is_media(None, JSON));
    }
}
