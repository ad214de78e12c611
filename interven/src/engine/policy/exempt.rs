//! `[[exempt]]`: findings a team has decided are fine, dropped before the
//! rules run.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Facts, any_glob};
use crate::engine::{Confidence, Finding, FindingKind};
use crate::types::ScanRequest;

/// One `[[exempt]]` entry of a [`Policy`](super::Policy).
///
/// A finding is exempted when every condition the entry sets holds: its
/// type (`finding_types`), kind (`finding_kinds`), confidence, or exact
/// value (`values`, SHA-256 digests: `"sha256:<hex>"`), and the request's
/// tool, operation, host and URL path (globs), and the finding's place in
/// the body (`fields`, globs on its JSON pointer).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Exemption {
    /// A name for traces and errors.
    pub name: String,
    /// Types of findings exempted, e.g. `["EMAIL"]`.
    #[serde(default)]
    pub finding_types: Vec<String>,
    /// Kinds of findings exempted, e.g. `["pii"]`.
    #[serde(default)]
    pub finding_kinds: Vec<FindingKind>,
    /// Confidences of findings exempted, e.g. `["low"]`.
    #[serde(default)]
    pub confidence: Vec<Confidence>,
    /// Globs on the tool name.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Globs on the operation name.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Globs on the URL's host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Globs on the URL's path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Globs on where the finding is: its JSON pointer into the body
    /// (`/customer/email`), `url`, or `headers/<name>`.
    #[serde(default)]
    pub fields: Vec<String>,
    /// `sha256:<hex>` digests of exact values (the matched text), as
    /// `interven-gateway policy digest` prints them.
    #[serde(default, deserialize_with = "digests")]
    pub values: Vec<String>,
    #[serde(skip)]
    digests: Vec<[u8; 32]>,
}

fn digests<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let values = Vec::<String>::deserialize(d)?;
    for v in &values {
        parse_digest(v).map_err(serde::de::Error::custom)?;
    }
    Ok(values)
}

/// Parses `sha256:<64 hex digits>`.
pub(crate) fn parse_digest(text: &str) -> Result<[u8; 32], String> {
    let bad = || {
        "a value digest must be \"sha256:<64 hex digits>\", as `interven-gateway policy digest` prints it (never the value itself, which this error does not repeat)".to_owned()
    };
    let hex = text.strip_prefix("sha256:").ok_or_else(bad)?;
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(out)
}

/// `sha256:<hex>` of a value, the form `values` takes.
pub fn value_digest(value: &[u8]) -> String {
    format!("sha256:{}", crate::engine::hex(&Sha256::digest(value)))
}

/// A finding an exemption dropped before the rules ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exempted {
    /// The finding (never its value).
    pub finding: Finding,
    /// The name of the exemption that dropped it.
    pub exemption: String,
}

impl Exemption {
    pub(crate) fn compile(&mut self) -> Result<(), String> {
        self.digests = self
            .values
            .iter()
            .map(|v| parse_digest(v))
            .collect::<Result<_, _>>()?;
        if self.name.trim().is_empty() {
            return Err("an exemption needs a `name`".to_owned());
        }
        Ok(())
    }

    /// Whether the entry names what it exempts (a type, kind, confidence or value).
    pub(crate) fn names_findings(&self) -> bool {
        !(self.finding_types.is_empty()
            && self.finding_kinds.is_empty()
            && self.confidence.is_empty()
            && self.values.is_empty())
    }

    fn covers(
        &self,
        f: &Finding,
        facts: &Facts<'_>,
        value: &mut dyn FnMut() -> Option<[u8; 32]>,
    ) -> bool {
        (self.finding_types.is_empty()
            || self
                .finding_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&f.finding_type)))
            && (self.finding_kinds.is_empty() || self.finding_kinds.contains(&f.kind))
            && (self.confidence.is_empty() || self.confidence.contains(&f.confidence))
            && any_glob(&self.tools, facts.request.tool())
            && any_glob(&self.operations, facts.request.operation())
            && (self.hosts.is_empty() || any_glob(&self.hosts, facts.request.host()))
            && any_glob(&self.paths, Some(facts.path))
            && any_glob(&self.fields, Some(&f.path))
            && (self.digests.is_empty() || value().is_some_and(|d| self.digests.contains(&d)))
    }
}

/// Splits findings into those the rules see and those exempted.
pub(crate) fn apply(
    exemptions: &[Exemption],
    facts: &Facts<'_>,
    findings: Vec<Finding>,
) -> (Vec<Finding>, Vec<Exempted>) {
    if exemptions.is_empty() {
        return (findings, Vec::new());
    }
    let mut kept = Vec::with_capacity(findings.len());
    let mut exempted = Vec::new();
    for f in findings {
        // The value's digest is computed at most once, and only when an exemption needs it.
        let mut digest: Option<Option<[u8; 32]>> = None;
        let mut value = || {
            *digest.get_or_insert_with(|| {
                matched_text(facts.request, &f).map(|t| Sha256::digest(t.as_bytes()).into())
            })
        };
        match exemptions.iter().find(|e| e.covers(&f, facts, &mut value)) {
            Some(e) => exempted.push(Exempted {
                finding: f,
                exemption: e.name.clone(),
            }),
            None => kept.push(f),
        }
    }
    (kept, exempted)
}

/// The exact text a finding matched: its span in the string at its path.
fn matched_text<'a>(request: &'a ScanRequest, f: &Finding) -> Option<Cow<'a, str>> {
    let whole: Cow<'a, str> = if f.path == "url" {
        Cow::Borrowed(request.url())
    } else if let Some(name) = f.path.strip_prefix("headers/") {
        Cow::Borrowed(request.headers()?.get(name)?.as_str())
    } else if f.in_key {
        let (_, last) = f.path.rsplit_once('/')?;
        Cow::Owned(last.replace("~1", "/").replace("~0", "~"))
    } else {
        match request.body().pointer(&f.path)? {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Number(n) => Cow::Owned(n.to_string()),
            _ => return None,
        }
    };
    match whole {
        Cow::Borrowed(s) => s.get(f.span.clone()).map(Cow::Borrowed),
        Cow::Owned(s) => s.get(f.span.clone()).map(|t| Cow::Owned(t.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_and_print() {
        assert_eq!(
            value_digest(b"test"),
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let d = parse_digest(&value_digest(b"test")).unwrap();
        assert_eq!(d[0], 0x9f);
        for bad in [
            "test",
            "sha256:",
            "sha256:9f86",
            "md5:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "sha256:zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "sha256:é86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
        ] {
            assert!(parse_digest(bad).is_err(), "{bad}");
        }
    }
}
