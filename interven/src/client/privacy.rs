//! Privacy mode: redact a request with the embedded engine before it leaves the process.

use std::borrow::Cow;

use crate::engine::{Engine, Finding};
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
        .filter(|f| f.path == "url")
        .collect();
    if !url_findings.is_empty() {
        redacted.set_url(replace_spans(request.url(), &url_findings));
    }
    if let Some(headers) = redacted.headers_mut() {
        for (name, value) in headers.iter_mut() {
            let path = format!("headers/{name}");
            let found: Vec<&Finding> = assessment
                .findings
                .iter()
                .filter(|f| f.path == path)
                .collect();
            if !found.is_empty() {
                *value = replace_spans(value, &found);
            }
        }
    }
    Cow::Owned(redacted)
}

/// Replaces each finding's byte span in `text` by `[REDACTED:TYPE]`.
/// Overlapping or out-of-range spans are merged or skipped, never a panic.
fn replace_spans(text: &str, findings: &[&Finding]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = findings
        .iter()
        .filter(|f| !f.placeholder)
        .map(|f| (f.span.start, f.span.end, f.finding_type.as_str()))
        .filter(|&(s, e, _)| {
            s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e)
        })
        .collect();
    spans.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, kind) in spans {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str("[REDACTED:");
        out.push_str(kind);
        out.push(']');
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FindingKind;

    fn finding(start: usize, end: usize, ty: &str) -> Finding {
        Finding {
            kind: FindingKind::Secret,
            finding_type: ty.to_owned(),
            path: "url".to_owned(),
            span: start..end,
            placeholder: false,
        }
    }

    #[test]
    fn replaces_every_span_and_survives_bad_ones() {
        let text = "https://x.io/?k=AAAA&e=bob@x.io";
        let a = finding(16, 20, "API_KEY");
        let b = finding(23, 31, "EMAIL");
        let overlapping = finding(17, 19, "OTHER");
        let out_of_range = finding(10, 999, "OTHER");
        let out = replace_spans(text, &[&b, &a, &overlapping, &out_of_range]);
        assert_eq!(out, "https://x.io/?k=[REDACTED:API_KEY]&e=[REDACTED:EMAIL]");
        assert_eq!(
            replace_spans("é", &[&finding(1, 2, "X")]),
            "é",
            "not a char boundary"
        );
    }
}
