//! `policy check`: every mistake in a policy file, with line and column.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::exempt::parse_digest;
use super::when::{Condition, check_glob};
use super::{Exemption, Mode, Policy, Rule, line_col};
use crate::engine::FindingKind;
use crate::engine::detect::{PII_TYPES, rule_types};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The policy does not load, or a rule does not do what it says.
    Error,
    /// Probably a mistake, but the policy means something.
    Warning,
}

/// One finding of [`Policy::check`](super::Policy::check).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {level}: {}",
            self.line, self.column, self.message
        )
    }
}

const TOP_KEYS: &[&str] = &["mode", "destinations", "rules", "exempt"];
const DESTINATION_KEYS: &[&str] = &["allow", "deny"];
const RULE_KEYS: &[&str] = &[
    "name",
    "decision",
    "reason",
    "tools",
    "operations",
    "methods",
    "hosts",
    "paths",
    "finding_kinds",
    "finding_types",
    "confidence",
    "min_risk",
    "when",
    "rate",
    "mode",
];
const EXEMPT_KEYS: &[&str] = &[
    "name",
    "finding_types",
    "finding_kinds",
    "confidence",
    "tools",
    "operations",
    "hosts",
    "paths",
    "fields",
    "values",
];
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];
/// Types reported by detectors other than the vendor rules.
const OTHER_SECRET_TYPES: &[&str] = &["PASSWORD", "GENERIC_SECRET"];
const DESTINATION_TYPES: &[&str] = &[
    "EXFILTRATION_DESTINATION",
    "DENYLISTED_DESTINATION",
    "UNLISTED_DESTINATION",
    "RAW_IP_URL",
    "INSECURE_TRANSPORT",
];

/// The kind of a finding type, `None` for a type no detector reports.
fn kind_of(ty: &str) -> Option<FindingKind> {
    let ty = ty.to_ascii_uppercase();
    let t = ty.as_str();
    if PII_TYPES.contains(&t) {
        Some(FindingKind::Pii)
    } else if DESTINATION_TYPES.contains(&t) {
        Some(FindingKind::Destination)
    } else if t == "EXFILTRATION_CHAIN" {
        Some(FindingKind::Exfiltration)
    } else if OTHER_SECRET_TYPES.contains(&t) || rule_types().any(|r| r == t) {
        Some(FindingKind::Secret)
    } else {
        None
    }
}

struct Checker<'a> {
    text: &'a str,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn push(&mut self, span: Range<usize>, severity: Severity, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.out.push(Diagnostic {
            line,
            column,
            severity,
            message: message.into(),
        });
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(span, Severity::Error, message);
    }

    fn errors(&self) -> usize {
        self.out
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn toml_error(&mut self, e: &toml::de::Error, fallback: Range<usize>) {
        let message = e.message().trim().to_owned();
        self.error(e.span().unwrap_or(fallback), message);
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, known: &[&str], what: &str) {
        for key in table.keys() {
            if !known.contains(&key.get_ref().as_ref()) {
                self.error(
                    key.span(),
                    format!(
                        "unknown key `{}` in {what}: expected one of {}",
                        key.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }

    fn strings<'t>(&mut self, table: &'t DeTable<'_>, key: &str) -> Vec<(Range<usize>, &'t str)> {
        let Some(value) = table.get(key) else {
            return Vec::new();
        };
        let Some(items) = value.get_ref().as_array() else {
            return Vec::new(); // the deserializer reports the type
        };
        items
            .iter()
            .filter_map(|i| i.get_ref().as_str().map(|s| (i.span(), s)))
            .collect()
    }

    fn globs(&mut self, table: &DeTable<'_>, keys: &[&str]) {
        for key in keys {
            for (span, glob) in self.strings(table, key) {
                if let Err(e) = check_glob(glob) {
                    self.error(span.clone(), format!("{key}: {e}"));
                } else if *key == "hosts" && glob.contains(['/', ':']) {
                    self.error(
                        span,
                        format!("hosts: `{glob}` can never match: a host is a name such as \"api.example.com\", without scheme, port or path"),
                    );
                }
            }
        }
    }

    fn finding_types(&mut self, table: &DeTable<'_>) {
        for (span, ty) in self.strings(table, "finding_types") {
            if kind_of(ty).is_none() {
                self.error(span, format!("unknown finding type `{ty}`: no detector reports it (types are upper case, e.g. EMAIL, AWS_ACCESS_KEY_ID)"));
            }
        }
    }

    fn rule(&mut self, value: &Spanned<DeValue<'_>>) {
        let Some(table) = value.get_ref().as_table() else {
            return self.error(value.span(), "a rule must be a table: write [[rules]]");
        };
        let before = self.errors();
        self.unknown_keys(table, RULE_KEYS, "a rule");
        self.globs(table, &["tools", "operations", "hosts", "paths"]);
        self.finding_types(table);
        for (span, m) in self.strings(table, "methods") {
            if !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
                self.push(
                    span,
                    Severity::Warning,
                    format!("methods: `{m}` is not a standard HTTP method"),
                );
            }
        }
        if let Some(when) = table.get("when").and_then(|w| w.get_ref().as_array()) {
            for c in when.iter() {
                if let Err(e) = Condition::deserialize(ValueDeserializer::from(c.clone())) {
                    let span = e.span().unwrap_or(c.span());
                    self.error(span, format!("when: {}", e.message().trim()));
                }
            }
        }
        if self.errors() == before
            && let Err(e) = Rule::deserialize(ValueDeserializer::from(value.clone()))
        {
            self.toml_error(&e, value.span());
        }
    }

    fn exemption(&mut self, value: &Spanned<DeValue<'_>>) {
        let Some(table) = value.get_ref().as_table() else {
            return self.error(
                value.span(),
                "an exemption must be a table: write [[exempt]]",
            );
        };
        let before = self.errors();
        self.unknown_keys(table, EXEMPT_KEYS, "an exemption");
        self.globs(table, &["tools", "operations", "hosts", "paths", "fields"]);
        self.finding_types(table);
        for (span, v) in self.strings(table, "values") {
            if let Err(e) = parse_digest(v) {
                self.error(span, format!("values: {e}"));
            }
        }
        if self.errors() == before {
            match Exemption::deserialize(ValueDeserializer::from(value.clone())) {
                Err(e) => self.toml_error(&e, value.span()),
                Ok(e) if !e.names_findings() => self.push(
                    value.span(),
                    Severity::Warning,
                    format!("exemption `{}` names no finding_types, finding_kinds, confidence or values: it exempts every finding of the requests it narrows to", e.name),
                ),
                Ok(_) => {}
            }
        }
    }
}

pub(crate) fn check(text: &str) -> Vec<Diagnostic> {
    let mut out = check_unsorted(text);
    out.sort_by_key(|d| (d.line, d.column));
    out
}

fn check_unsorted(text: &str) -> Vec<Diagnostic> {
    let mut c = Checker {
        text,
        out: Vec::new(),
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            c.toml_error(&e, 0..0);
            return c.out;
        }
    };
    let doc = doc.get_ref();
    c.unknown_keys(doc, TOP_KEYS, "the policy");
    if let Some(d) = doc.get("destinations").and_then(|d| d.get_ref().as_table()) {
        c.unknown_keys(d, DESTINATION_KEYS, "[destinations]");
        c.globs(d, DESTINATION_KEYS);
    }
    let array = |key: &str| {
        doc.get(key)
            .and_then(|v| v.get_ref().as_array())
            .map(|a| a.iter().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let rules = array("rules");
    for r in &rules {
        c.rule(r);
    }
    for e in &array("exempt") {
        c.exemption(e);
    }
    if c.errors() > 0 {
        return c.out;
    }
    let policy = match Policy::parse(text) {
        Ok(p) => p,
        Err((offset, message)) => {
            // Whatever the structural checks above did not catch (e.g. a bad `mode`).
            c.error(offset.map_or(0..0, |o| o..o), message);
            return c.out;
        }
    };
    let spans: Vec<Range<usize>> = rules.iter().map(Spanned::span).collect();
    semantics(&mut c, &policy, &spans);
    c.out
}

/// Rules that can never match, and rules shadowed by a more severe one.
fn semantics(c: &mut Checker<'_>, policy: &Policy, spans: &[Range<usize>]) {
    let rules = policy.rules();
    for (i, rule) in rules.iter().enumerate() {
        let span = spans.get(i).cloned().unwrap_or(0..0);
        if let Some(why) = never_matches(rule) {
            c.error(
                span.clone(),
                format!("rule `{}` can never match: {why}", rule.name),
            );
            continue;
        }
        if let Some((j, a)) = rules.iter().enumerate().find(|(j, a)| {
            *j != i
                && a.decision.severity() > rule.decision.severity()
                && a.mode.unwrap_or(policy.mode()) == Mode::Enforce
                && rule.mode.unwrap_or(policy.mode()) == Mode::Enforce
                && weaker(a, rule)
        }) {
            let (line, _) = line_col(c.text, spans.get(j).map_or(0, |s| s.start));
            c.error(
                span.clone(),
                format!(
                    "rule `{}` is shadowed by rule `{}` (line {line}): that rule matches whenever this one does and decides {}, so this {} never decides; narrow `{}` or remove this rule",
                    rule.name, a.name, a.decision, rule.decision, a.name
                ),
            );
        }
        if rule.rate.is_some()
            && rules
                .iter()
                .enumerate()
                .any(|(j, r)| j != i && r.name == rule.name)
        {
            c.error(span, format!("rule `{}` has a rate and shares its name with another rule: rate counters are kept by rule name, give it its own", rule.name));
        }
    }
}

fn never_matches(rule: &Rule) -> Option<String> {
    if !rule.finding_kinds.is_empty()
        && !rule.finding_types.is_empty()
        && !rule
            .finding_types
            .iter()
            .any(|t| kind_of(t).is_some_and(|k| rule.finding_kinds.contains(&k)))
    {
        return Some("none of its finding_types is of one of its finding_kinds".to_owned());
    }
    for cond in &rule.when {
        if let Some(why) = cond.never_holds() {
            return Some(why);
        }
    }
    // Contradictions between conditions on one exact field (a `*` field may
    // address several values, each satisfying a different condition; a
    // header may be sent twice, in two cases).
    for a in &rule.when {
        for b in rule
            .when
            .iter()
            .filter(|b| b.field() == a.field() && b.header() == a.header() && !std::ptr::eq(*b, a))
        {
            if a.is_absent() && b.needs_value() {
                return Some(format!(
                    "`{}` must both be absent (exists = false) and hold a value",
                    a.subject()
                ));
            }
            if !(a.is_exact() && b.is_exact()) {
                continue;
            }
            if let (Some(x), Some(y)) = (a.eq_operand(), b.eq_operand())
                && x != y
            {
                return Some(format!("`{}` cannot equal both {x} and {y}", a.subject()));
            }
            if let (Some((true, lo, lo_inc)), Some((false, hi, hi_inc))) = (a.bound(), b.bound())
                && (lo > hi || (lo == hi && !(lo_inc && hi_inc)))
            {
                return Some(format!(
                    "`{}` cannot be both {} {lo} and {} {hi}",
                    a.subject(),
                    a.operator(),
                    b.operator()
                ));
            }
        }
    }
    None
}

/// Whether a list of globs `a` allows everything list `b` allows (an empty
/// list allows everything). Conservative: `*`, identical globs, or a
/// literal of `b` that a glob of `a` matches.
fn wider(a: &[String], b: &[String]) -> bool {
    a.is_empty()
        || (!b.is_empty()
            && b.iter().all(|x| {
                a.iter().any(|g| {
                    g == "*"
                        || g.eq_ignore_ascii_case(x)
                        || (!x.contains(['*', '?']) && super::glob_match(g, x))
                })
            }))
}

fn superset<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.is_empty() || (!b.is_empty() && b.iter().all(|x| a.contains(x)))
}

/// Whether rule `a` matches whenever rule `b` does.
fn weaker(a: &Rule, b: &Rule) -> bool {
    let upper = |v: &[String]| v.iter().map(|s| s.to_ascii_uppercase()).collect::<Vec<_>>();
    let a_needs_finding =
        !(a.finding_kinds.is_empty() && a.finding_types.is_empty() && a.confidence.is_empty());
    let findings = !a_needs_finding
        || (superset(&a.finding_kinds, &b.finding_kinds)
            && superset(&upper(&a.finding_types), &upper(&b.finding_types))
            && superset(&a.confidence, &b.confidence)
            && !(b.finding_kinds.is_empty()
                && b.finding_types.is_empty()
                && b.confidence.is_empty()));
    findings
        && wider(&a.tools, &b.tools)
        && wider(&a.operations, &b.operations)
        && superset(&upper(&a.methods), &upper(&b.methods))
        && wider(&a.hosts, &b.hosts)
        && wider(&a.paths, &b.paths)
        && match (a.min_risk, b.min_risk) {
            (None, _) => true,
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => false,
        }
        && a.when.iter().all(|c| b.when.contains(c))
        && (a.rate.is_none() || a.rate == b.rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(text: &str) -> Vec<String> {
        check(text).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_builtin_policy_is_clean() {
        assert_eq!(diags(crate::engine::BUILTIN_POLICY), Vec::<String>::new());
    }

    #[test]
    fn every_mistake_with_its_position() {
        let text = r#"mode = "enforce"
colour = 1

[[rules]]
name = "a"
decision = "DENY"
reason = "A"
toolz = ["x"]
hosts = ["https://x.io/"]
finding_types = ["EMAL"]
when = [{ field = "amount", gt = 1 }, { field = "/b", regex = "(" }, { field = "/c", gt = 1, lt = 2 }]

[[exempt]]
name = "e"
values = ["hunter2"]
oops = true
"#;
        let d = diags(text);
        let expect = [
            "2:1: error: unknown key `colour`",
            "8:1: error: unknown key `toolz` in a rule",
            "9:10: error: hosts: `https://x.io/` can never match",
            "10:18: error: unknown finding type `EMAL`",
            "11:9: error: when: `amount` is not a JSON pointer",
            "11:39: error: when: condition on `/b`: invalid regex",
            "11:70: error: when: condition on `/c` has two operators",
            "15:11: error: values: a value digest must be",
            "16:1: error: unknown key `oops` in an exemption",
        ];
        assert_eq!(d.len(), expect.len(), "{d:#?}");
        for (got, want) in d.iter().zip(expect) {
            assert!(got.starts_with(want), "{got}\n  wanted {want}");
        }
    }

    #[test]
    fn type_errors_never_match_and_shadowing() {
        let d = diags("[[rules]]\nname = \"a\"\ndecision = \"NOPE\"\nreason = \"A\"\n");
        assert!(
            d.len() == 1 && d[0].starts_with("3:12: error") && d[0].contains("NOPE"),
            "{d:?}"
        );
        let d = diags(
            r#"
[[rules]]
name = "pii-secret"
finding_kinds = ["pii"]
finding_types = ["AWS_ACCESS_KEY_ID"]
decision = "DENY"
reason = "X"

[[rules]]
name = "range"
when = [{ field = "/n", gt = 10 }, { field = "/n", lt = 5 }]
decision = "DENY"
reason = "X"

[[rules]]
name = "absent"
when = [{ field = "/n", exists = false }, { field = "/n", eq = 1 }]
decision = "DENY"
reason = "X"

[[rules]]
name = "empty-in"
when = [{ field = "/n", in = [] }]
decision = "DENY"
reason = "X"

[[rules]]
name = "wildcards-are-fine"
when = [{ field = "/items/*/n", gt = 10 }, { field = "/items/*/n", lt = 5 }]
decision = "DENY"
reason = "X"

[[rules]]
name = "all-deletes"
operations = ["*delete*"]
decision = "DENY"
reason = "DELETE"

[[rules]]
name = "repo-deletes"
tools = ["github"]
operations = ["delete_repo"]
decision = "REQUIRE_APPROVAL"
reason = "REPO_DELETE"

[[rules]]
name = "monitored-deletes"
operations = ["delete_repo"]
decision = "SANITIZE"
reason = "WATCH"
mode = "monitor"

[[rules]]
name = "secrets"
finding_kinds = ["secret"]
decision = "DENY"
reason = "S"

[[rules]]
name = "low-secrets"
finding_kinds = ["secret"]
confidence = ["low"]
decision = "SANITIZE"
reason = "L"

[[exempt]]
name = "broad"
hosts = ["*.corp.io"]
"#,
        );
        let want = [
            (
                "2:1: error: rule `pii-secret` can never match: none of its finding_types",
                true,
            ),
            (
                "9:1: error: rule `range` can never match: `/n` cannot be both gt 10 and lt 5",
                true,
            ),
            ("15:1: error: rule `absent` can never match", true),
            ("21:1: error: rule `empty-in` can never match", true),
            ("wildcards-are-fine", false),
            (
                "39:1: error: rule `repo-deletes` is shadowed by rule `all-deletes` (line 33)",
                true,
            ),
            ("monitored-deletes", false),
            (
                "59:1: error: rule `low-secrets` is shadowed by rule `secrets` (line 53)",
                true,
            ),
            (
                "66:1: warning: exemption `broad` names no finding_types",
                true,
            ),
        ];
        for (w, present) in want {
            assert_eq!(
                d.iter().any(|x| x.contains(w) || x.starts_with(w)),
                present,
                "{w}: {d:#?}"
            );
        }
        assert_eq!(d.len(), 7, "{d:#?}");
    }

    #[test]
    fn header_conditions_are_checked_with_positions() {
        let text = r#"[[rules]]
name = "a"
decision = "DENY"
reason = "A"
when = [{ header = "x y", eq = "1" }, { field = "/a", header = "b", eq = 1 }, { header = "c" }]

[[rules]]
name = "absent"
when = [{ header = "X-Env", exists = false }, { header = "x-env", eq = "prod" }]
decision = "DENY"
reason = "B"

[[rules]]
name = "two-spellings-may-both-hold"
when = [{ header = "x-env", eq = "a" }, { header = "x-env", eq = "b" }]
decision = "DENY"
reason = "C"

[[rules]]
name = "never"
when = [{ header = "x-n", contains = 1 }]
decision = "DENY"
reason = "D"

[[rules]]
name = "destructive"
when = [{ header = "mcp-annotation-destructivehint", eq = "true" }]
decision = "REQUIRE_APPROVAL"
reason = "DESTRUCTIVE_TOOL"
"#;
        let d = diags(text);
        let expect = [
            "5:9: error: when: `header` \"x y\" is not a header name",
            "5:39: error: when: a condition reads either a body `field` or a request `header`, not both",
            "5:79: error: when: condition on header `c` has no operator",
        ];
        assert_eq!(d.len(), expect.len(), "{d:#?}");
        for (got, want) in d.iter().zip(expect) {
            assert!(got.starts_with(want), "{got}\n  wanted {want}");
        }
        let d = diags(&text[text.find("[[rules]]\nname = \"absent\"").unwrap()..]);
        let expect = [
            "1:1: error: rule `absent` can never match: `header x-env` must both be absent",
            "13:1: error: rule `never` can never match: `header x-n` is a header",
        ];
        assert_eq!(d.len(), expect.len(), "{d:#?}");
        for (got, want) in d.iter().zip(expect) {
            assert!(got.starts_with(want), "{got}\n  wanted {want}");
        }
    }

    #[test]
    fn syntax_errors_and_bad_modes() {
        let d = diags("[[rules]\n");
        assert!(d.len() == 1 && d[0].starts_with("1:"), "{d:?}");
        let d = diags("mode = \"watch\"\n");
        assert!(d.len() == 1 && d[0].starts_with("1:8: error"), "{d:?}");
    }
}
