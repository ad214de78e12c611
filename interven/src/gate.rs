//! Inline checks: [`gate!`](crate::gate) and what it yields.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::__private::{approval_required, approve_and_rescan, approve_and_rescan_blocking};
use crate::Client;
use crate::error::{Error, Result};
use crate::types::{ApprovalId, Decision, ScanRequest, TraceId, Verdict};

/// Scans a tool call inline and yields a [`Gate`] to match on.
///
/// Where `#[guard]` does not fit (a closure, a loop over tool calls, a
/// dynamic URL), `gate!` builds a [`ScanRequest`], captures the call site
/// (module, file and line, recorded on an `interven.gate` tracing span) and
/// returns a [`GateCall`]: `.await` it in async code, or call
/// [`.blocking()`](GateCall::blocking) in sync code.
///
/// # Grammar
///
/// ```text
/// gate!(METHOD, URL [, body = EXPR | body = { JSON } | body = [ JSON ]]
///                   [, tool = EXPR] [, operation = EXPR] [, client = EXPR])
/// ```
///
/// - `METHOD` and `URL`: any `AsRef<str>` / `Into<String>` expressions, first and in that order.
/// - `body = EXPR`: any `Serialize` value; `body = { ... }` and `body = [ ... ]` are
///   JSON literals, as in `serde_json::json!` (a block is not allowed there:
///   wrap a computed body in parentheses).
/// - `tool`, `operation`: strings naming the call for the policy.
/// - `client`: a `Client`, `&Client` or `Arc<Client>`; default [`Client::global`].
///
/// Options come in any order, each at most once. The call fails with
/// `Err` only when no verdict could be had (interven fails closed); the
/// decision itself is in the [`Gate`].
///
/// # Async
///
/// ```
/// use interven::{gate, Client, Gate};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> interven::Result<()> {
/// let client = Client::local_default();
/// let title = "deploy finished";
/// let gate = gate!("POST", "https://api.github.com/repos/o/r/issues",
///                  body = { "title": title }, tool = "github", client = &client).await?;
/// match gate {
///     Gate::Proceed(ok) => println!("send {}", ok.body()),
///     Gate::Denied(denied) => println!("blocked: {:?}", denied.reason_codes()),
///     Gate::PendingApproval(pending) => {
///         let _after = pending.wait().await?; // polls, then scans again
///     }
///     _ => {}
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Blocking, with a typed body
///
/// ```
/// use interven::{gate, Client};
///
/// #[derive(serde::Serialize)]
/// struct Message<'a> { channel: &'a str, text: &'a str }
///
/// # fn main() -> interven::Result<()> {
/// let client = Client::local_default();
/// let msg = Message { channel: "#ops", text: "hello" };
/// // `into_body` turns a denial or a pending approval into the matching error.
/// let body = gate!("post", "https://slack.com/api/chat.postMessage",
///                  body = msg, operation = "post_message", client = client)
///     .blocking()?
///     .into_body()?;
/// assert_eq!(body["text"], "hello");
/// # Ok(())
/// # }
/// ```
///
/// # A JSON array literal
///
/// ```
/// # fn main() -> interven::Result<()> {
/// let client = interven::Client::local_default();
/// let ids = [1, 2, 3];
/// let gate = interven::gate!("POST", "https://api.example.com/batch",
///                            body = [ids, { "dry_run": true }], client = client).blocking()?;
/// assert_eq!(gate.into_body()?[1]["dry_run"], true);
/// # Ok(())
/// # }
/// ```
///
/// # No body, the global client
///
/// ```
/// # fn main() -> interven::Result<()> {
/// // Without INTERVEN_API_KEY, `Client::global()` is the embedded engine.
/// let gate = interven::gate!("GET", "https://example.com/status").blocking()?;
/// assert!(gate.verdict().may_proceed());
/// # Ok(())
/// # }
/// ```
///
/// # Misuse is a compile error
///
/// ```compile_fail
/// let _ = interven::gate!("POST", "https://x.io", colour = "red");
/// ```
#[macro_export]
macro_rules! gate {
    () => {
        ::core::compile_error!(
            "`gate!` needs a method and a URL: `gate!(\"POST\", url, body = ..., tool = ...)`"
        )
    };
    ($method:expr $(,)?) => {
        ::core::compile_error!(
            "`gate!` needs a URL after the method: `gate!(\"POST\", url, body = ...)`"
        )
    };
    ($method:expr, $url:expr $(, $($opts:tt)*)?) => {
        $crate::__gate_opts!(
            [$crate::__private::GateBuilder::new(
                $method,
                $url,
                ::core::module_path!(),
                ::core::file!(),
                ::core::line!(),
            )]
            [] $(, $($opts)*)?
        )
    };
}

/// The option muncher of [`gate!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __gate_opts {
    ([$b:expr] [$($seen:ident)*] $(,)?) => { $b.finish() };
    ([$b:expr] [$($seen:ident)*] , body = { $($json:tt)* } $($rest:tt)*) => {
        $crate::__gate_opts!([$b.json_body($crate::__private::serde_json::json!({ $($json)* }))] [$($seen)* body] $($rest)*)
    };
    ([$b:expr] [$($seen:ident)*] , body = [ $($json:tt)* ] $($rest:tt)*) => {
        $crate::__gate_opts!([$b.json_body($crate::__private::serde_json::json!([ $($json)* ]))] [$($seen)* body] $($rest)*)
    };
    ([$b:expr] [$($seen:ident)*] , body = $e:expr $(, $($rest:tt)*)?) => {
        $crate::__gate_opts!([$b.body(&$e)] [$($seen)* body] $(, $($rest)*)?)
    };
    ([$b:expr] [$($seen:ident)*] , tool = $e:expr $(, $($rest:tt)*)?) => {
        $crate::__gate_opts!([$b.tool($e)] [$($seen)* tool] $(, $($rest)*)?)
    };
    ([$b:expr] [$($seen:ident)*] , operation = $e:expr $(, $($rest:tt)*)?) => {
        $crate::__gate_opts!([$b.operation($e)] [$($seen)* operation] $(, $($rest)*)?)
    };
    ([$b:expr] [$($seen:ident)*] , client = $e:expr $(, $($rest:tt)*)?) => {
        $crate::__gate_opts!([$b.client($crate::__private::client(&$e))] [$($seen)* client] $(, $($rest)*)?)
    };
    ([$b:expr] [$($seen:ident)*] , $key:ident = $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "unknown `gate!` option `", ::core::stringify!($key),
            "`: expected one of `body`, `tool`, `operation`, `client`"
        ))
    };
    ([$b:expr] [$($seen:ident)*] $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "malformed `gate!` near `", ::core::stringify!($($rest)*),
            "`: write `gate!(\"POST\", url, body = ..., tool = \"...\", operation = \"...\", client = ...)`"
        ))
    };
}

/// A `gate!` call, ready to run: `.await` it, or call [`blocking`](Self::blocking).
#[must_use = "a gate does nothing until it is awaited or `.blocking()` is called"]
pub struct GateCall {
    client: Option<Client>,
    request: Result<ScanRequest>,
    site: CallSite,
}

impl fmt::Debug for GateCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateCall")
            .field("client", &self.client)
            .field("request", &self.request)
            .field("site", &self.site)
            .finish()
    }
}

/// Where a `gate!` was written.
#[derive(Debug, Clone, Copy)]
struct CallSite {
    module: &'static str,
    file: &'static str,
    line: u32,
}

impl CallSite {
    fn span(self, request: Option<&ScanRequest>) -> tracing::Span {
        tracing::info_span!(
            "interven.gate",
            module = self.module,
            file = self.file,
            line = self.line,
            tool = request.and_then(ScanRequest::tool),
        )
    }
}

impl GateCall {
    fn client(&self) -> Client {
        self.client
            .clone()
            .unwrap_or_else(|| Client::global().clone())
    }

    /// Runs the scan from sync code; safe inside a tokio runtime.
    ///
    /// # Errors
    /// Any failure to get a verdict (see [`Client::scan`]), or the
    /// body's serialization error.
    pub fn blocking(self) -> Result<Gate> {
        let client = self.client();
        let _span = self.site.span(self.request.as_ref().ok()).entered();
        let request = self.request?;
        let verdict = client.scan_blocking(&request)?;
        Ok(Gate::new(client, request, verdict))
    }

    async fn run(self) -> Result<Gate> {
        let client = self.client();
        let span = self.site.span(self.request.as_ref().ok());
        async move {
            let request = self.request?;
            let verdict = client.scan(&request).await?;
            Ok(Gate::new(client, request, verdict))
        }
        .instrument(span)
        .await
    }
}

impl IntoFuture for GateCall {
    type Output = Result<Gate>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Gate>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Builds the [`GateCall`] of a `gate!`. Not public API.
#[doc(hidden)]
pub struct GateBuilder {
    method: String,
    url: String,
    body: Result<Value>,
    tool: Option<String>,
    operation: Option<String>,
    client: Option<Client>,
    site: CallSite,
}

impl fmt::Debug for GateBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateBuilder").finish_non_exhaustive()
    }
}

impl GateBuilder {
    #[doc(hidden)]
    pub fn new(
        method: impl AsRef<str>,
        url: impl Into<String>,
        module: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        GateBuilder {
            method: method.as_ref().to_owned(),
            url: url.into(),
            body: Ok(Value::Object(serde_json::Map::new())),
            tool: None,
            operation: None,
            client: None,
            site: CallSite { module, file, line },
        }
    }

    #[doc(hidden)]
    #[must_use]
    pub fn body<T: ?Sized + Serialize>(mut self, body: &T) -> Self {
        self.body = serde_json::to_value(body).map_err(|source| Error::Serialize {
            argument: None,
            source,
        });
        self
    }

    #[doc(hidden)]
    #[must_use]
    pub fn json_body(mut self, body: Value) -> Self {
        self.body = Ok(body);
        self
    }

    #[doc(hidden)]
    #[must_use]
    pub fn tool(mut self, tool: impl Into<String>) -> Self {
        self.tool = Some(tool.into());
        self
    }

    #[doc(hidden)]
    #[must_use]
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    #[doc(hidden)]
    #[must_use]
    pub fn client(mut self, client: &Client) -> Self {
        self.client = Some(client.clone());
        self
    }

    #[doc(hidden)]
    pub fn finish(self) -> GateCall {
        let request = self.body.and_then(|body| {
            let mut b = ScanRequest::builder(&self.method, self.url).json_body(body);
            if let Some(tool) = self.tool {
                b = b.tool(tool);
            }
            if let Some(op) = self.operation {
                b = b.operation(op);
            }
            b.build()
        });
        GateCall {
            client: self.client,
            request,
            site: self.site,
        }
    }
}

/// What a [`gate!`](crate::gate) decided: match on it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Gate {
    /// `ALLOW` or `SANITIZE`: the call may run, with [`Proceed::body`].
    Proceed(Proceed),
    /// `DENY`: the call must not run.
    Denied(Denied),
    /// `REQUIRE_APPROVAL`: wait for a human with [`PendingApproval::wait`].
    PendingApproval(PendingApproval),
}

impl Gate {
    fn new(client: Client, request: ScanRequest, verdict: Verdict) -> Gate {
        match verdict.decision {
            Decision::Allow => Gate::Proceed(Proceed {
                body: request.body().clone(),
                url: request.url().to_owned(),
                verdict,
            }),
            Decision::Sanitize => Gate::Proceed(Proceed {
                // A valid SANITIZE verdict carries a body; should one not, the
                // original never slips through: the body is emptied.
                body: verdict.sanitized_body.clone().unwrap_or(Value::Null),
                url: verdict.sanitized_url().unwrap_or(request.url()).to_owned(),
                verdict,
            }),
            Decision::Deny => Gate::Denied(Denied {
                names: Names::of(&request),
                verdict,
            }),
            Decision::RequireApproval => Gate::PendingApproval(PendingApproval {
                inner: Box::new(Pending {
                    names: Names::of(&request),
                    client,
                    request,
                    verdict,
                }),
            }),
        }
    }

    /// The engine's verdict.
    pub fn verdict(&self) -> &Verdict {
        match self {
            Gate::Proceed(p) => &p.verdict,
            Gate::Denied(d) => &d.verdict,
            Gate::PendingApproval(p) => &p.inner.verdict,
        }
    }

    /// `true` when the call may run now.
    pub fn may_proceed(&self) -> bool {
        matches!(self, Gate::Proceed(_))
    }

    /// The body to send when the call may run; otherwise the error that says why not.
    ///
    /// # Errors
    /// [`Error::Blocked`] for a denial, [`Error::ApprovalRequired`] for a pending approval.
    pub fn into_body(self) -> Result<Value> {
        match self {
            Gate::Proceed(p) => Ok(p.body),
            Gate::Denied(d) => Err(d.into_error()),
            Gate::PendingApproval(p) => Err(p.into_error()),
        }
    }
}

/// The tool and operation names used in errors.
#[derive(Debug, Clone)]
struct Names {
    tool: String,
    operation: String,
}

impl Names {
    fn of(request: &ScanRequest) -> Names {
        Names {
            tool: request
                .tool()
                .or_else(|| request.host())
                .unwrap_or("tool")
                .to_owned(),
            operation: request.operation().unwrap_or(request.method()).to_owned(),
        }
    }
}

/// A call that may run: `ALLOW` with the original body, or `SANITIZE` with the redacted one.
pub struct Proceed {
    body: Value,
    url: String,
    verdict: Verdict,
}

impl Proceed {
    /// The URL to call: the original, or after `SANITIZE` the one with the
    /// values the engine found in it redacted ([`Verdict::sanitized_url`]).
    /// Call this URL, not the one given to `gate!`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body to send: the original, or the sanitized one after `SANITIZE`.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The body to send, owned.
    pub fn into_body(self) -> Value {
        self.body
    }

    /// `true` when the engine redacted the body.
    pub fn is_sanitized(&self) -> bool {
        self.verdict.is_sanitized()
    }

    /// The engine's verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }
}

impl fmt::Debug for Proceed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The original body is never printed: it may hold what the engine did not flag.
        f.debug_struct("Proceed")
            .field("sanitized", &self.is_sanitized())
            .field("trace_id", &self.verdict.trace_id)
            .finish_non_exhaustive()
    }
}

/// A call the policy denied.
#[derive(Debug)]
pub struct Denied {
    names: Names,
    verdict: Verdict,
}

impl Denied {
    /// Why, e.g. `SECRET_DETECTED`.
    pub fn reason_codes(&self) -> &[String] {
        &self.verdict.reason_codes
    }

    /// Where the engine recorded the call.
    pub fn trace_id(&self) -> &TraceId {
        &self.verdict.trace_id
    }

    /// The engine's verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The matching [`Error::Blocked`].
    pub fn into_error(self) -> Error {
        Error::Blocked {
            tool: self.names.tool,
            operation: self.names.operation,
            reason_codes: self.verdict.reason_codes,
            trace_id: self.verdict.trace_id,
        }
    }
}

/// A call that waits for a human's approval.
pub struct PendingApproval {
    // Boxed: a pending approval keeps the whole request to scan it again.
    inner: Box<Pending>,
}

struct Pending {
    names: Names,
    client: Client,
    request: ScanRequest,
    verdict: Verdict,
}

impl fmt::Debug for PendingApproval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingApproval")
            .field("approval_id", &self.inner.verdict.approval_id)
            .field("reason_codes", &self.inner.verdict.reason_codes)
            .field("trace_id", &self.inner.verdict.trace_id)
            .finish_non_exhaustive()
    }
}

impl PendingApproval {
    /// The approval to ask a human for.
    pub fn approval_id(&self) -> Option<&ApprovalId> {
        self.inner.verdict.approval_id.as_ref()
    }

    /// The engine's verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.inner.verdict
    }

    /// Waits for the approval (the client's timeout and poll interval),
    /// then scans the request again and returns the new gate.
    ///
    /// # Errors
    /// [`Error::ApprovalDenied`], [`Error::ApprovalExpired`],
    /// [`Error::ApprovalTimeout`], or a failure to scan again.
    pub async fn wait(self) -> Result<Gate> {
        let verdict =
            approve_and_rescan(&self.inner.client, &self.inner.request, &self.inner.verdict)
                .await?;
        let Pending {
            client, request, ..
        } = *self.inner;
        Ok(Gate::new(client, request, verdict))
    }

    /// Blocking twin of [`wait`](Self::wait); safe inside a tokio runtime.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn wait_blocking(self) -> Result<Gate> {
        let verdict = approve_and_rescan_blocking(
            &self.inner.client,
            &self.inner.request,
            &self.inner.verdict,
        )?;
        let Pending {
            client, request, ..
        } = *self.inner;
        Ok(Gate::new(client, request, verdict))
    }

    /// The matching [`Error::ApprovalRequired`].
    pub fn into_error(self) -> Error {
        let Pending { names, verdict, .. } = *self.inner;
        approval_required(&names.tool, &names.operation, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> ScanRequest {
        ScanRequest::builder("POST", "https://api.example.com/x")
            .json_body(json!({"text": "hi"}))
            .tool("ex")
            .build()
            .unwrap()
    }

    fn verdict(d: Decision) -> Verdict {
        let mut v = Verdict::new(d, TraceId::new("tr_1"));
        v.reason_codes = vec!["CODE".into()];
        match d {
            Decision::Sanitize => v.sanitized_body = Some(json!({"text": "[REDACTED:EMAIL]"})),
            Decision::RequireApproval => v.approval_id = Some("ap_1".into()),
            _ => {}
        }
        v
    }

    fn gate(d: Decision) -> Gate {
        Gate::new(Client::local_default(), request(), verdict(d))
    }

    #[test]
    fn allow_proceeds_with_the_original_body() {
        let Gate::Proceed(p) = gate(Decision::Allow) else {
            panic!()
        };
        assert!(!p.is_sanitized());
        assert_eq!(p.body(), &json!({"text": "hi"}));
    }

    #[test]
    fn sanitize_proceeds_with_the_sanitized_body_only() {
        let g = gate(Decision::Sanitize);
        assert!(g.may_proceed());
        let Gate::Proceed(p) = g else { panic!() };
        assert!(p.is_sanitized());
        assert_eq!(p.body(), &json!({"text": "[REDACTED:EMAIL]"}));
        assert!(!format!("{p:?}").contains("hi"));
        assert_eq!(p.url(), "https://api.example.com/x", "no redaction there");
    }

    #[test]
    fn sanitize_proceeds_with_the_sanitized_url() {
        let mut v = verdict(Decision::Sanitize);
        v.extra.insert(
            "sanitized_url".into(),
            json!("https://api.example.com/u/[REDACTED:EMAIL]"),
        );
        let Gate::Proceed(p) = Gate::new(Client::local_default(), request(), v) else {
            panic!()
        };
        assert_eq!(p.url(), "https://api.example.com/u/[REDACTED:EMAIL]");
    }

    #[test]
    fn deny_and_pending_become_errors_with_codes() {
        let err = gate(Decision::Deny).into_body().unwrap_err();
        assert!(err.is_blocked());
        assert_eq!(err.reason_codes(), ["CODE"]);
        assert_eq!(err.trace_id().unwrap().as_str(), "tr_1");
        assert!(err.to_string().contains("ex.POST"), "{err}");

        let g = gate(Decision::RequireApproval);
        let Gate::PendingApproval(p) = g else {
            panic!()
        };
        assert_eq!(p.approval_id().unwrap().as_str(), "ap_1");
        let err = p.into_error();
        assert_eq!(err.approval_id().unwrap().as_str(), "ap_1");
        assert!(err.to_string().contains("ex.POST"), "{err}");
    }

    #[test]
    fn builder_keeps_a_serialization_error_for_the_call() {
        let bad = std::collections::HashMap::from([((1, 2), 3)]);
        let call = GateBuilder::new("POST", "https://x.io", "m", "f", 1)
            .body(&bad)
            .client(&Client::local_default())
            .finish();
        assert!(matches!(
            call.blocking(),
            Err(Error::Serialize { argument: None, .. })
        ));
    }

    #[tokio::test]
    async fn async_and_blocking_forms_scan_on_the_given_client() {
        let client = Client::local_default();
        let call = GateBuilder::new("post", "https://x.io", "m", "f", 1)
            .json_body(json!({"a": 1}))
            .tool("t")
            .operation("o")
            .client(&client)
            .finish();
        let g = call.await.unwrap();
        assert_eq!(g.into_body().unwrap(), json!({"a": 1}));
        // The blocking form works inside a runtime too.
        let g = GateBuilder::new("GET", "https://x.io", "m", "f", 1)
            .client(&client)
            .finish()
            .blocking()
            .unwrap();
        assert!(g.may_proceed());
    }

    #[test]
    fn pending_wait_fails_closed_for_an_unknown_approval() {
        let client = Client::builder()
            .approval_timeout(std::time::Duration::from_millis(20))
            .approval_poll_interval(std::time::Duration::from_millis(5))
            .local()
            .build()
            .unwrap();
        let Gate::PendingApproval(p) =
            Gate::new(client, request(), verdict(Decision::RequireApproval))
        else {
            panic!()
        };
        assert!(p.wait_blocking().is_err());
    }
}
