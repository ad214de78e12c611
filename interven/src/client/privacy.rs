//! Privacy mode: redact a request with the embedded engine before it leaves the process.

use std::borrow::Cow;

use crate::engine::redact::replace_spans;
use crate::engine::{Engine, Finding, FindingKind};
use crate::types::ScanRequest;

/// The request with every finding of the embedded engine replaced by its
/// placeholder: the body by the engine's sanitized body, the URL and header
/// values span by span.
pub(super) fn redact_request<'a>(
    engine: &Engine,
    request: &'a ScanRequest,
) -> Cow<'a, ScanRequest> {
    let assessment = engine.assess(request, request.agent_id().unwrap_or("default"));
    if assessment.findings.is_empty() {
        return Cow::Borrowed(request);
    }
    let mut redacted = request.clone();
    if let Some(body) = assessment.sanitized_body {
        redacted.set_body(body);
    }
    let url_findings: Vec<&Finding> = assessment
        .findings
        .iter()
        .filter(|f| f.path == "url" && redactable(f))
        .collect();
    if !url_findings.is_empty() {
        redacted.set_url(replace_spans(request.url(), url_findings.iter().copied()));
    }
    if let Some(headers) = redacted.headers_mut() {
        for (name, value) in headers.iter_mut() {
            let path = format!("headers/{name}");
            let found: Vec<&Finding> = assessment
                .findings
                .iter()
                .filter(|f| f.path == path && redactable(f))
                .collect();
            if !found.is_empty() {
                *value = replace_spans(value, found.iter().copied());
            }
        }
    }
    Cow::Owned(redacted)
}

/// Secrets and personal data are redacted; a destination is the URL itself
/// and stays, so that the gateway judges the same destination.
fn redactable(f: &Finding) -> bool {
    matches!(f.kind, FindingKind::Secret | FindingKind::Pii)
}
