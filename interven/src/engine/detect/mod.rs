//! Detectors: walk a request and find secrets, personal data and risky
//! destinations, with the JSON path and byte span of each.
//!
//! Every string leaf is scanned at any depth, with its object key as
//! context (`"password": "…"`); so are object keys, large integers, the URL
//! and header values. URL-encoded text and base64 tokens are decoded and
//! scanned too (a base64-encoded secret is still a secret), and JSON carried
//! inside a string is plain text to the detectors.

mod destinations;
mod pii;
mod secrets;
pub(crate) mod text;

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::{Confidence, Finding, FindingKind};
use crate::types::ScanRequest;
pub(crate) use destinations::HostLists;
pub(crate) use secrets::rule_types;

/// One match inside one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) kind: FindingKind,
    pub(crate) ty: Cow<'static, str>,
    pub(crate) span: Range<usize>,
    pub(crate) placeholder: bool,
    pub(crate) confidence: Confidence,
}

impl Hit {
    pub(crate) fn new(
        kind: FindingKind,
        ty: impl Into<Cow<'static, str>>,
        span: Range<usize>,
    ) -> Hit {
        Hit {
            kind,
            ty: ty.into(),
            span,
            placeholder: false,
            confidence: Confidence::High,
        }
    }

    /// The same hit with another confidence.
    pub(crate) fn with_confidence(mut self, confidence: Confidence) -> Hit {
        self.confidence = confidence;
        self
    }
}

/// A finding with where it is and a salted digest of its value (for the
/// response memory; the value itself is never kept).
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub(crate) finding: Finding,
    pub(crate) digest: [u8; 16],
}

/// The personal-data types; placeholders of these types are PII findings.
pub(crate) const PII_TYPES: &[&str] = &[
    "EMAIL",
    "PHONE_NUMBER",
    "PAYMENT_CARD",
    "US_SSN",
    "IBAN",
    "DATE_OF_BIRTH",
    "PASSPORT_NUMBER",
];

/// The shortest text worth scanning.
const MIN_CANDIDATE_LEN: usize = 6;

/// How deep decoding goes (base64 inside URL-encoding inside base64…).
const MAX_DECODE_DEPTH: u8 = 2;
/// The longest base64 token that is decoded (longer ones are files, not secrets).
const MAX_DECODE_LEN: usize = 64 * 1024;

pub(crate) struct Detector {
    secrets: secrets::SecretRules,
    pii: pii::PiiRules,
    placeholder: Regex,
    embedded_url: Regex,
    /// Words that make a key worth a closer look (`password`, `ssn`, `dob`…).
    key_hints: aho_corasick::AhoCorasick,
    date: Regex,
}

/// The detectors, built once per process: they do not depend on the policy.
pub(crate) fn detector() -> &'static Detector {
    static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::new);
    &DETECTOR
}

fn salt() -> &'static [u8; 16] {
    static SALT: LazyLock<[u8; 16]> = LazyLock::new(|| fastrand::u128(..).to_le_bytes());
    &SALT
}

/// A salted digest of a sensitive value, stable within this process.
pub(crate) fn digest(value: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(salt());
    h.update(value.trim().as_bytes());
    let out = h.finalize();
    let mut d = [0u8; 16];
    d.copy_from_slice(&out[..16]);
    d
}

impl Detector {
    fn new() -> Detector {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("detector: {e}"));
        Detector {
            secrets: secrets::SecretRules::new(),
            pii: pii::PiiRules::new(),
            placeholder: re(r"\[REDACTED:([A-Z0-9_]{2,48})\]"),
            key_hints: aho_corasick::AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .build([
                    "pass", "pwd", "secret", "key", "token", "auth", "cred", "ssn", "social",
                    "dob", "birth", "passport",
                ])
                .unwrap_or_else(|e| panic!("key hints: {e}")),
            embedded_url: re(r#"https?://[^\s"'<>\\]+"#),
            date: re(
                r"^\s*(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2,4})\s*$",
            ),
        }
    }

    /// Every finding in a request: body (values and keys), URL and headers.
    pub(crate) fn scan_request(&self, request: &ScanRequest, lists: &HostLists) -> Vec<Located> {
        let mut out = Vec::new();
        self.scan_body(request.body(), lists, &mut out);
        let url = request.url();
        let mut hits = self.scan_text(url, None, lists, 0);
        destinations::check_request_url(url, lists, &mut hits);
        push_located(&mut out, "url", url, hits, false);
        if let Some(headers) = request.headers() {
            for (name, value) in headers {
                let hits = self.scan_text(value, Some(name), lists, 0);
                push_located(&mut out, &format!("headers/{name}"), value, hits, false);
            }
        }
        // The names of the call are stored and shown: scanned like values.
        for (path, text) in [
            ("tool", request.tool()),
            ("operation", request.operation()),
            ("agent_id", request.agent_id()),
            ("agent_name", request.agent_name()),
        ] {
            if let Some(text) = text {
                let hits = self.scan_text(text, None, lists, 0);
                push_located(&mut out, path, text, hits, false);
            }
        }
        out
    }

    /// Every finding in a JSON body (request or response). Callers bound
    /// the depth first ([`MAX_BODY_DEPTH`](crate::engine::MAX_BODY_DEPTH)).
    pub(crate) fn scan_body(&self, body: &Value, lists: &HostLists, out: &mut Vec<Located>) {
        let mut path = String::new();
        self.walk(body, &mut path, None, lists, out);
    }

    fn walk(
        &self,
        value: &Value,
        path: &mut String,
        key: Option<&str>,
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) {
        match value {
            Value::String(s) => {
                let hits = self.scan_text(s, key, lists, 0);
                push_located(out, path, s, hits, false);
            }
            Value::Number(n) if n.is_u64() || n.is_i64() => {
                let s = n.to_string();
                if s.len() >= 9 {
                    let hits = self.scan_text(&s, key, lists, 0);
                    push_located(out, path, &s, hits, false);
                }
            }
            Value::Array(items) => {
                let len = path.len();
                for (i, item) in items.iter().enumerate() {
                    path.push('/');
                    path.push_str(itoa(i, &mut [0u8; 20]));
                    self.walk(item, path, key, lists, out);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                let len = path.len();
                for (k, v) in map {
                    path.push('/');
                    path.push_str(&escape_pointer(k));
                    let hits = self.scan_text(k, None, lists, 0);
                    push_located(out, path, k, hits, true);
                    self.walk(v, path, Some(k.as_str()), lists, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// Every finding in one string, with `key` (an object key or header
    /// name) as context. Spans are byte ranges into `text`, not overlapping.
    pub(crate) fn scan_text(
        &self,
        text: &str,
        key: Option<&str>,
        lists: &HostLists,
        depth: u8,
    ) -> Vec<Hit> {
        let mut hits = Vec::new();
        // Nothing this engine detects fits in fewer bytes (an email is at least `a@b.co`).
        if text.len() < MIN_CANDIDATE_LEN {
            return hits;
        }
        if text.contains("[REDACTED:") {
            for caps in captures_each(&self.placeholder, text) {
                let (Some(whole), Some(ty)) = (caps.get(0), caps.get(1)) else {
                    continue;
                };
                let ty = ty.as_str();
                let kind = if PII_TYPES.contains(&ty) {
                    FindingKind::Pii
                } else {
                    FindingKind::Secret
                };
                hits.push(Hit {
                    kind,
                    ty: Cow::Owned(ty.to_owned()),
                    span: whole.range(),
                    placeholder: true,
                    confidence: Confidence::High,
                });
            }
        }
        let context = self.secrets.scan(text, &mut hits);
        self.pii.scan(text, context, &mut hits);
        if let Some(key) = key.filter(|k| self.key_hints.is_match(k)) {
            self.scan_with_key(text, key, &mut hits);
        }
        if text.contains("://") {
            for m in self.embedded_url.find_iter(text) {
                destinations::check_embedded_url(m.as_str(), m.start(), lists, &mut hits);
            }
        }
        if depth < MAX_DECODE_DEPTH {
            self.scan_decoded(text, lists, depth, &mut hits);
        }
        resolve_overlaps(hits)
    }

    /// What only the key tells: `"password": "hunter22"`, `"ssn": "123456789"`.
    fn scan_with_key(&self, text: &str, key: &str, hits: &mut Vec<Hit>) {
        let whole = 0..text.len();
        let covered = |hits: &Vec<Hit>| {
            hits.iter()
                .any(|h| h.span.start <= 1 && h.span.end + 1 >= text.len())
        };
        if covered(hits) {
            return;
        }
        if let Some(ty) = secrets::secret_for_key(key, text) {
            hits.push(Hit::new(FindingKind::Secret, ty, whole));
            return;
        }
        let k: String = key
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let only_digits_and_seps = text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ');
        if (k == "ssn" || k.contains("socialsecurity")) && digits.len() == 9 && only_digits_and_seps
        {
            hits.push(Hit::new(FindingKind::Pii, "US_SSN", whole));
        } else if (k == "dob"
            || k.contains("birthdate")
            || k.contains("dateofbirth")
            || k.contains("birthday"))
            && self.date.is_match(text)
        {
            hits.push(Hit::new(FindingKind::Pii, "DATE_OF_BIRTH", whole));
        } else if k.contains("passport")
            && (6..=9).contains(&text.trim().len())
            && text
                .trim()
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && text.chars().any(|c| c.is_ascii_digit())
        {
            hits.push(Hit::new(FindingKind::Pii, "PASSPORT_NUMBER", whole));
        }
    }

    /// Decodes URL-encoding and base64 tokens, scans what they hide, and
    /// reports each hidden finding over the encoded text.
    fn scan_decoded(&self, text: &str, lists: &HostLists, depth: u8, hits: &mut Vec<Hit>) {
        if text.contains('%')
            && let Ok(decoded) = percent_encoding::percent_decode_str(text).decode_utf8()
            && decoded != text
        {
            for inner in self.scan_text(&decoded, None, lists, depth + 1) {
                if !inner.placeholder && inner.kind != FindingKind::Destination {
                    hits.push(Hit::new(inner.kind, inner.ty, 0..text.len()));
                }
            }
        }
        if text.len() < 20
            || text.starts_with("data:image/")
            || text.starts_with("data:application/octet-stream")
        {
            return;
        }
        for range in base64_candidates(text) {
            let m = &text[range.clone()];
            let token = m;
            if token.len() > MAX_DECODE_LEN
                || hits
                    .iter()
                    .any(|h| h.span.start < range.end && range.start < h.span.end)
            {
                continue;
            }
            let Some(decoded) = decode_base64_text(token) else {
                continue;
            };
            for inner in self.scan_text(&decoded, None, lists, depth + 1) {
                if !inner.placeholder && inner.kind != FindingKind::Destination {
                    hits.push(Hit::new(inner.kind, inner.ty, range.clone()));
                }
            }
        }
    }
}

/// The captures of every match: a fast DFA search finds each match, and
/// only the match itself is searched again for its groups (capture
/// searches over the whole text are far slower).
pub(crate) fn captures_each<'t>(
    re: &Regex,
    text: &'t str,
) -> impl Iterator<Item = regex::Captures<'t>> {
    re.find_iter(text)
        .filter_map(move |m| re.captures_at(&text[..m.end()], m.start()))
}

/// Runs of at least 20 base64 characters (and their `=` padding) that mix
/// upper and lower case: the only ones that can be base64 of text. Hex
/// digests, UUIDs and upper-case ids are skipped without decoding.
fn base64_candidates(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let b = text.as_bytes();
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-');
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            if !is_b64(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            let (mut upper, mut lower) = (false, false);
            while i < b.len() && is_b64(b[i]) {
                upper |= b[i].is_ascii_uppercase();
                lower |= b[i].is_ascii_lowercase();
                i += 1;
            }
            let mut end = i;
            while end < b.len() && end - i < 2 && b[end] == b'=' {
                end += 1;
            }
            i = end;
            if end - start >= 20 && upper && lower {
                return Some(start..end);
            }
        }
        None
    })
}

/// Decodes a base64 token (standard or URL-safe, padded or not) to printable text.
fn decode_base64_text(token: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = if token.contains(['-', '_']) {
        URL_SAFE
            .decode(token)
            .or_else(|_| URL_SAFE_NO_PAD.decode(token))
            .ok()?
    } else {
        STANDARD
            .decode(token)
            .or_else(|_| STANDARD_NO_PAD.decode(token))
            .ok()?
    };
    let text = String::from_utf8(bytes).ok()?;
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (text.len() >= 8 && printable * 10 >= text.chars().count() * 9).then_some(text)
}

/// Keeps one hit per overlapping group: secrets before PII before
/// destinations, then the longest; placeholders always survive.
fn resolve_overlaps(mut hits: Vec<Hit>) -> Vec<Hit> {
    if hits.len() < 2 {
        return hits;
    }
    let rank = |h: &Hit| match h.kind {
        FindingKind::Secret => 0,
        FindingKind::Pii => 1,
        FindingKind::Destination | FindingKind::Exfiltration => 2,
    };
    hits.sort_by(|a, b| {
        (
            !a.placeholder,
            rank(a),
            std::cmp::Reverse(a.span.len()),
            a.span.start,
        )
            .cmp(&(
                !b.placeholder,
                rank(b),
                std::cmp::Reverse(b.span.len()),
                b.span.start,
            ))
    });
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        // Destinations cover the whole URL; they coexist with what is inside it.
        let clash = kept.iter().any(|k| {
            k.kind != FindingKind::Destination
                && h.kind != FindingKind::Destination
                && k.span.start < h.span.end
                && h.span.start < k.span.end
        });
        let duplicate = kept.iter().any(|k| k.span == h.span && k.ty == h.ty);
        if !clash && !duplicate {
            kept.push(h);
        }
    }
    kept.sort_by_key(|h| (h.span.start, h.span.end));
    kept
}

fn push_located(out: &mut Vec<Located>, path: &str, text: &str, hits: Vec<Hit>, in_key: bool) {
    for hit in hits {
        let value = text.get(hit.span.clone()).unwrap_or("");
        out.push(Located {
            digest: digest(value),
            finding: Finding {
                kind: hit.kind,
                finding_type: hit.ty.into_owned(),
                path: path.to_owned(),
                span: hit.span,
                placeholder: hit.placeholder,
                in_key,
                confidence: hit.confidence,
            },
        });
    }
}

/// Formats an index without allocating.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Escapes a key for a JSON pointer (RFC 6901).
pub(crate) fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(text: &str, key: Option<&str>) -> Vec<String> {
        detector()
            .scan_text(text, key, &HostLists::default(), 0)
            .iter()
            .map(|h| h.ty.to_string())
            .collect()
    }

    #[test]
    fn decodes_before_matching() {
        let secret = "AKIA".to_owned() + "Q3EGRB4VXLTU7MCN";
        use base64::engine::general_purpose::STANDARD;
        let encoded = STANDARD.encode(format!("aws key is {secret} ok"));
        assert_eq!(
            types(&format!("blob {encoded}"), None),
            ["AWS_ACCESS_KEY_ID"]
        );
        assert_eq!(types("to%3A%20jane.doe%40acme.io", None), ["EMAIL"]);
        assert_eq!(types(r#"{"password": "Tr0ub4dor&3x"}"#, None), ["PASSWORD"]);
    }

    #[test]
    fn key_context() {
        assert_eq!(types("Tr0ub4dor&3x", Some("password")), ["PASSWORD"]);
        assert!(types("Tr0ub4dor&3x", Some("title")).is_empty());
        assert_eq!(types("123456789", Some("ssn")), ["US_SSN"]);
        assert_eq!(
            types("1990-04-12", Some("date_of_birth")),
            ["DATE_OF_BIRTH"]
        );
        assert!(types("1990-04-12", Some("created_at")).is_empty());
    }

    #[test]
    fn placeholders_are_findings_of_their_type() {
        let hits = detector().scan_text(
            "to [REDACTED:EMAIL] key [REDACTED:GITHUB_TOKEN]",
            None,
            &HostLists::default(),
            0,
        );
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().all(|h| h.placeholder));
        assert_eq!(hits[0].kind, FindingKind::Pii);
        assert_eq!(hits[1].kind, FindingKind::Secret);
    }

    #[test]
    fn hard_negatives() {
        for text in [
            "550e8400-e29b-41d4-a716-446655440000",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
            "sha256:4bcff63911fcb4448bd4fdb38b2e9c8a5d3f2b1e0a9c8d7e6f5a4b3c2d1e0f9a",
            "req_01HZX3Q7YV5M2K8N4P6R9T0W1B",
            "v2.14.3-rc.1",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        ] {
            assert!(
                types(text, None).is_empty(),
                "{text}: {:?}",
                types(text, None)
            );
        }
    }
}
