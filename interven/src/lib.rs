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

pub use client::{Client, ClientBuilder, FailureMode, RetryPolicy};
pub use error::{Error, Result};
pub use gate::{Denied, Gate, GateCall, PendingApproval, Proceed};
pub use types::{
    Approval, ApprovalId, ApprovalStatus, Decision, RUNTIME_TYPE, ResponseScan, RiskBand,
    ScanRequest, ScanRequestBuilder, TraceId, Verdict,
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
