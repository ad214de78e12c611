//! `#[interven::guard]` on [rmcp](https://docs.rs/rmcp) tools (feature `rmcp`).
//!
//! Put the guard **above** `#[tool]`, so that it sees the function as you
//! wrote it; `#[tool]` then generates the same schema and description as
//! without the guard:
//!
//! ```
//! use rmcp::handler::server::wrapper::Parameters;
//! use rmcp::model::{CallToolResult, ContentBlock};
//! use rmcp::{ErrorData, tool, tool_router};
//!
//! #[derive(serde::Serialize, serde::Deserialize, rmcp::schemars::JsonSchema)]
//! #[schemars(crate = "rmcp::schemars")]
//! struct SendReq { to: String, body: String }
//!
//! struct Mailer;
//!
//! #[tool_router]
//! impl Mailer {
//!     #[interven::guard(tool = "mail", operation = "send")]
//!     #[tool(description = "Send an email")]
//!     async fn send_email(&self, Parameters(req): Parameters<SendReq>)
//!         -> Result<CallToolResult, ErrorData> {
//!         // Runs only when allowed, with `req` redacted after a SANITIZE.
//!         Ok(CallToolResult::success(vec![ContentBlock::text(format!("sent to {}", req.to))]))
//!     }
//! }
//! # fn main() { let _ = Mailer::tool_router(); }
//! ```
//!
//! What the guard does in an rmcp tool:
//!
//! - `Parameters(req): Parameters<T>` (or `params: Parameters<T>`) is
//!   scanned as the serialized `T`, and rebound to the sanitized value after
//!   a `SANITIZE`. rmcp's context types (`RequestContext`, `Peer`,
//!   `Extension<_>`, `Extensions`, `RequestMetaObject`, `RequestId`,
//!   `CancellationToken`, `ToolName`) and `&self` are never scanned.
//! - With the return type `Result<CallToolResult, ErrorData>`, a decision
//!   that keeps the tool from running (a `DENY`, an approval that is
//!   required, denied, expired or not given in time) is `Ok` of a tool
//!   result with `isError: true`, whose text names the reason codes and the
//!   trace id: what the MCP specification asks of tool errors, so the model
//!   sees why. Its `_meta` carries the same facts as JSON under `interven`.
//! - A failure to get a verdict at all (the gateway cannot be reached, a
//!   malformed answer, a sanitized value that does not fit) is `Err` of an
//!   [`ErrorData`] (a JSON-RPC internal error): the tool does not run.
//!
//! No `From` impl is needed. `#[interven::guard]` below `#[tool]` on an
//! `async fn` is a compile error ("put `#[interven::guard]` above `#[tool]`").

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject};
use serde_json::{Value, json};

use crate::error::Error;

/// What an rmcp tool answers instead of running, for the guard's `error`:
/// `Ok` of an `isError` tool result for the decisions of a policy or a
/// human, `Err` of a JSON-RPC error when no verdict could be had.
///
/// # Errors
/// An [`ErrorData`] (internal error) when `error` is not a decision: the
/// engine could not be asked, or its answer could not be used.
pub fn tool_result(error: Error) -> Result<CallToolResult, ErrorData> {
    let (decision, reasons, trace, approval) = match &error {
        Error::Blocked {
            reason_codes,
            trace_id,
            ..
        } => ("DENY", reason_codes.clone(), Some(trace_id), None),
        Error::ApprovalRequired {
            reason_codes,
            trace_id,
            approval_id,
            ..
        } => (
            "REQUIRE_APPROVAL",
            reason_codes.clone(),
            Some(trace_id),
            Some(approval_id),
        ),
        Error::ApprovalDenied { approval_id } => (
            "DENY",
            vec!["APPROVAL_DENIED".to_owned()],
            None,
            Some(approval_id),
        ),
        Error::ApprovalExpired { approval_id } => (
            "DENY",
            vec!["APPROVAL_EXPIRED".to_owned()],
            None,
            Some(approval_id),
        ),
        Error::ApprovalTimeout { approval_id, .. } => (
            "DENY",
            vec!["APPROVAL_TIMEOUT".to_owned()],
            None,
            Some(approval_id),
        ),
        _ => {
            return Err(ErrorData::internal_error(
                format!("interven could not check this tool call, so it was not run: {error}"),
                Some(json!({ "interven": { "error": error.to_string() } })),
            ));
        }
    };
    let text = format!("Not run: {error}. The policy decided this; do not retry the same call.");
    let mut facts = serde_json::Map::new();
    facts.insert("decision".to_owned(), json!(decision));
    facts.insert("reason_codes".to_owned(), json!(reasons));
    if let Some(trace) = trace {
        facts.insert("trace_id".to_owned(), json!(trace.as_str()));
    }
    if let Some(approval) = approval {
        facts.insert("approval_id".to_owned(), json!(approval.as_str()));
    }
    let mut meta = serde_json::Map::new();
    meta.insert("interven".to_owned(), Value::Object(facts));
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.meta = Some(MetaObject(meta));
    Ok(result)
}

// Not offered as a hint when another error type lacks `From<interven::Error>`.
#[diagnostic::do_not_recommend]
impl crate::__private::GuardError<CallToolResult> for ErrorData {
    fn fail(error: Error) -> Result<CallToolResult, ErrorData> {
        tool_result(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApprovalId, TraceId};

    fn text(r: &CallToolResult) -> String {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    }

    #[test]
    fn a_denial_is_an_error_result_naming_reasons_and_trace() {
        let r = tool_result(Error::Blocked {
            tool: "mail".into(),
            operation: "send".into(),
            reason_codes: vec!["SECRET_DETECTED".into()],
            trace_id: TraceId::new("tr_1"),
        })
        .unwrap();
        assert_eq!(r.is_error, Some(true));
        let t = text(&r);
        assert!(t.contains("SECRET_DETECTED") && t.contains("tr_1"), "{t}");
        let meta = serde_json::to_value(&r.meta).unwrap();
        assert_eq!(meta["interven"]["decision"], "DENY");
        assert_eq!(meta["interven"]["trace_id"], "tr_1");
    }

    #[test]
    fn approvals_are_error_results_with_the_approval_id() {
        let r = tool_result(Error::ApprovalRequired {
            tool: "fs".into(),
            operation: "delete".into(),
            approval_id: ApprovalId::new("ap_7"),
            reason_codes: vec!["DESTRUCTIVE_OPERATION".into()],
            trace_id: TraceId::new("tr_2"),
        })
        .unwrap();
        assert_eq!(r.is_error, Some(true));
        assert!(text(&r).contains("ap_7"));
        let r = tool_result(Error::ApprovalDenied {
            approval_id: ApprovalId::new("ap_8"),
        })
        .unwrap();
        let meta = serde_json::to_value(&r.meta).unwrap();
        assert_eq!(meta["interven"]["reason_codes"][0], "APPROVAL_DENIED");
    }

    #[test]
    fn no_verdict_is_a_json_rpc_error() {
        let e = tool_result(Error::Timeout {
            timeout: std::time::Duration::from_secs(1),
        })
        .unwrap_err();
        assert_eq!(e.code, rmcp::model::ErrorCode::INTERNAL_ERROR);
        assert!(e.message.contains("not run"), "{}", e.message);
    }
}
