//! Guard the tool calls of AI agents.
//!
//! Before a tool runs, interven serializes its arguments, asks a policy
//! engine about them, and enforces the answer:
//!
//! | decision           | what the guarded code does                                      |
//! |--------------------|-----------------------------------------------------------------|
//! | `ALLOW`            | runs with the original arguments                                |
//! | `SANITIZE`         | runs with the redacted arguments the engine returned            |
//! | `DENY`             | does not run; the caller gets [`Error::Blocked`]                |
//! | `REQUIRE_APPROVAL` | waits for a human to approve or deny (with a timeout), or errors |
//!
//! The engine is either a gateway over HTTP (hosted or self-hosted with
//! `interven-gateway`), chosen when `INTERVEN_API_KEY` is set, or the
//! embedded engine running in-process, the default with no key.
//!
//! ```
//! use interven::{Client, Decision, ScanRequest};
//! use serde_json::json;
//!
//! # fn main() -> interven::Result<()> {
//! let client = Client::local_default();
//! let request = ScanRequest::builder("POST", "https://slack.com/api/chat.postMessage")
//!     .body(&json!({ "channel": "#ops", "text": "deploy finished" }))
//!     .tool("slack")
//!     .build()?;
//! let verdict = client.scan_blocking(&request)?;
//! assert_eq!(verdict.decision, Decision::Allow);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod error;
mod gate;
mod types;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "engine")]
pub mod engine;

#[cfg(feature = "rmcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "rmcp")))]
pub mod rmcp;

/// Guards a function: its arguments are scanned by the policy engine before
/// its body runs, and the verdict is enforced.
///
/// ```
/// #[interven::guard(tool = "slack", operation = "post_message")]
/// async fn send_slack(channel: &str, text: String) -> interven::Result<()> {
///     // Runs only when allowed, with the redacted `text` after a SANITIZE.
///     println!("to {channel}: {text}");
///     Ok(())
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> interven::Result<()> {
/// send_slack("#ops", "deploy finished".into()).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Grammar
///
/// ```text
/// #[interven::guard(
///     tool = "slack",               // required: the tool's name (string literal)
///     operation = "post_message",   // default: the function's name
///     method = "POST",              // default: "POST"
///     url = <expr>,                 // any `AsRef<str>` expression; it may use the
///                                   // arguments, e.g. format!(".../{repo}/pulls");
///                                   // default: "tool://<tool>/<operation>"
///     skip(a, b),                   // arguments left out of the scan (never rebound)
///     client = <expr>,              // a `Client`, `&Client` or `Arc<Client>`, e.g.
///                                   // `self.client`; default: `Client::global()`
///     api_key = <expr>,             // an `AsRef<str>` gateway key: a gateway client
///                                   // with that key (and the rest of the environment),
///                                   // built once per key; not with `client`
///     approval = "wait",            // "wait" (default) or "error"
///     crate = ::path::to::interven, // when the dependency is renamed (or "path")
/// )]
/// ```
///
/// Keys come in any order, each at most once, separated by commas. Every
/// mistake is a compile error pointing at the offending token.
///
/// # What it works on
///
/// Async and sync functions; free functions and methods (`&self`,
/// `&mut self`, `self`, `self: Arc<Self>`: the receiver is never scanned);
/// generic functions and `impl Trait` arguments; lifetimes; `async fn` in
/// trait impls, also inside `#[async_trait]` impls; bodies with `?`, early
/// `return` and `.await`. Attributes, docs, visibility and the signature are
/// kept as written: the guard only puts statements in front of the body.
///
/// The function must return `Result<T, E>` with `E: From<interven::Error>`:
/// [`Result`], `anyhow::Result`, `Result<T, Box<dyn std::error::Error>>`,
/// your own error with a `From` impl, and aliases of these all work. With
/// the `rmcp` feature, an rmcp tool's `Result<CallToolResult, ErrorData>`
/// works too, with no `From` impl: a denial is an `isError` tool result.
///
/// # rmcp tools (feature `rmcp`)
///
/// Put `#[interven::guard(...)]` **above** `#[tool(...)]` (below it is a
/// compile error that says so). `Parameters(req): Parameters<T>` is scanned
/// and rebound; rmcp's context types (`RequestContext`, `Peer`,
/// `Extension<_>`…) are never scanned. See the `rmcp` module.
///
/// # What it does
///
/// The scan body is a JSON object of argument name → value (serde), so each
/// argument that is not skipped must implement `serde::Serialize`. The
/// request names the tool and operation. Then, on:
///
/// - `ALLOW`: the body runs with the original arguments.
/// - `SANITIZE`: every argument the engine changed is rebound to its
///   sanitized value before the body runs. A `&str`, `&[T]`, `&T` or
///   `&mut T` argument is rebound to an owned sanitized value (`String`,
///   `Vec<T>`, `T`): the caller's value is never written through. This needs
///   the argument's (owned) type to implement `serde::de::DeserializeOwned`;
///   an argument whose type does not (an `impl Trait`, a generic parameter
///   without the bound) fails closed with [`Error::Sanitize`] when the
///   engine changes it.
/// - `DENY`: the body does not run; the function returns
///   `Err(Error::Blocked { .. }.into())`, with the reason codes and trace id.
/// - `REQUIRE_APPROVAL`: with `approval = "wait"`, waits for a human (the
///   client's [`approval_timeout`](Client::approval_timeout), polling every
///   [`approval_poll_interval`](Client::approval_poll_interval)), scans
///   again and proceeds by the new verdict; a denial, expiry or timeout is
///   returned as the error. With `approval = "error"`, returns
///   [`Error::ApprovalRequired`] at once, carrying the approval id.
/// - any failure to get a verdict: the body does not run and the error is
///   returned (interven fails closed unless the client opts out).
///
/// Async functions scan inside their future, before the body. Sync
/// functions use the client's blocking path, which does not panic when
/// called inside a tokio runtime.
///
/// A reference argument whose lifetime the return type borrows
/// (`fn first<'a>(s: &'a str) -> Result<&'a str, E>`) cannot be rebound to
/// an owned value: that is a compile error saying so. Return owned data,
/// give the argument a lifetime of its own, or `skip` it. Likewise, a body
/// that stores a reference argument somewhere that outlives the call does
/// not compile (E0597): take that argument owned, or `skip` it.
///
/// # Methods, a chosen client, a URL from the arguments
///
/// ```
/// use interven::Client;
///
/// struct GitHub { client: Client }
///
/// impl GitHub {
///     #[interven::guard(tool = "github", method = "POST", client = self.client,
///                       url = format!("https://api.github.com/repos/{repo}/pulls"),
///                       skip(draft), approval = "error")]
///     fn open_pull(&self, repo: &str, title: &str, draft: bool)
///         -> Result<u64, Box<dyn std::error::Error>> {
///         Ok(if draft { 0 } else { title.len() as u64 })
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let gh = GitHub { client: Client::local_default() };
/// assert_eq!(gh.open_pull("o/r", "Fix", false)?, 3);
/// # Ok(())
/// # }
/// ```
///
/// # Handling a denial
///
/// ```
/// # #[interven::guard(tool = "shell", client = interven::Client::local_default())]
/// # fn run(command: &str) -> interven::Result<()> { Ok(()) }
/// match run("ls") {
///     Ok(()) => {}
///     Err(interven::Error::Blocked { reason_codes, trace_id, .. }) => {
///         eprintln!("blocked ({reason_codes:?}, trace {trace_id})");
///     }
///     Err(other) => eprintln!("not run: {other}"),
/// }
/// ```
pub use interven_macros::guard;

pub use client::{Client, ClientBuilder, FailureMode, RetryPolicy};
pub use error::{Error, Result};
pub use gate::{Denied, Gate, GateCall, PendingApproval, Proceed};
pub use types::{
    Approval, ApprovalId, ApprovalStatus, Decision, Monitored, RUNTIME_TYPE, ResponseScan,
    RiskBand, ScanRequest, ScanRequestBuilder, TraceId, Verdict,
};

/// Names of the environment variables that [`Client::from_env`] reads.
pub mod env {
    /// The gateway API key. When unset, the embedded engine is used.
    pub const API_KEY: &str = "INTERVEN_API_KEY";
    /// The gateway's base URL (default [`DEFAULT_GATEWAY_URL`](crate::DEFAULT_GATEWAY_URL)).
    pub const GATEWAY_URL: &str = "INTERVEN_GATEWAY_URL";
    /// The agent's identifier, sent with every scan.
    pub const AGENT_ID: &str = "INTERVEN_AGENT_ID";
    /// The agent's display name, sent with every scan.
    pub const AGENT_NAME: &str = "INTERVEN_AGENT_NAME";
    /// A TOML policy file for the embedded engine.
    pub const POLICY: &str = "INTERVEN_POLICY";
}

/// The hosted gateway, used when an API key is set and no URL is given.
pub const DEFAULT_GATEWAY_URL: &str = "https://api.intervensecurity.com";
