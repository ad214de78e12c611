//! The embedded policy engine. (Placeholder interface: the real engine lands with its own issue.)

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::{
    Approval, ApprovalId, Decision, Error, ResponseScan, Result, ScanRequest, TraceId, Verdict,
};

/// A policy for the embedded engine.
#[derive(Debug, Clone, Default)]
pub struct Policy {}

impl Policy {
    /// Parses a TOML policy.
    pub fn from_toml(_text: &str) -> Result<Policy> {
        Err(Error::config("policies are not implemented yet"))
    }
    /// Reads a TOML policy file.
    pub fn from_file(_path: impl AsRef<std::path::Path>) -> Result<Policy> {
        Err(Error::config("policies are not implemented yet"))
    }
}

/// The embedded engine.
#[derive(Debug, Default)]
pub struct Engine {
    next: AtomicU64,
}

impl Engine {
    /// An engine with the given policy.
    pub fn new(_policy: Policy) -> Engine {
        Engine::default()
    }
    /// Scans a request.
    pub fn scan(&self, _request: &ScanRequest) -> Verdict {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Verdict::new(Decision::Allow, TraceId::new(format!("local-{n}")))
    }
    /// Classifies a response.
    pub fn scan_response(
        &self,
        _trace_id: &TraceId,
        _body: &Value,
        _status: Option<u16>,
    ) -> ResponseScan {
        ResponseScan::new(Vec::new(), 0, String::new())
    }
    /// The status of an approval.
    pub fn approval_status(&self, _id: &ApprovalId) -> Option<Approval> {
        None
    }
}
