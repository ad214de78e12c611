//! The policy: TOML rules that map findings and request facts to a
//! decision, exemptions that drop findings before the rules run, rate
//! rules, and monitor mode.
//!
//! The grammar is documented in the built-in policy, [`BUILTIN_POLICY`];
//! [`Policy::check`] lints a policy file with line and column.

mod check;
mod exempt;
mod rate;
mod when;

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::detect::HostLists;
use super::{Confidence, Finding, FindingKind};
use crate::error::{Error, Result};
use crate::types::{Decision, Monitored, ScanRequest};

pub use check::{Diagnostic, Severity};
pub use exempt::{Exempted, Exemption, value_digest};
pub(crate) use rate::RateCounters;
pub use rate::{MAX_RATE_MAX, MAX_RATE_WINDOW, Rate, RateBy};
pub use when::Condition;

/// The built-in policy's TOML text (also shipped as `examples/policy.toml`).
/// Its comments document the policy grammar.
pub const BUILTIN_POLICY: &str = include_str!("../default_policy.toml");

/// Whether a rule (or a whole policy) enforces its decision or only
/// reports what it would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Mode {
    /// The rule's decision counts (the default).
    #[default]
    Enforce,
    /// The rule is evaluated and reported in the verdict's `monitor`
    /// field, the trace and the audit log, but never changes the decision.
    Monitor,
}

/// A policy for the embedded engine: rules, each with conditions, a
/// decision and a reason code; exemptions; destination host lists; and a
/// mode.
///
/// The format is documented in full in the comments of
/// [`BUILTIN_POLICY`] (`examples/policy.toml`), the built-in policy, which
/// is also the [`Default`]. In short:
///
/// | key | meaning |
/// |---|---|
/// | `mode` | `"enforce"` (default) or `"monitor"`: the mode of every rule without its own |
/// | `[destinations]` `allow`, `deny` | host globs that make destination findings |
/// | `[[rules]]` `name`, `decision`, `reason` | required; the decision and reason code when the rule matches |
/// | `tools`, `operations`, `methods`, `hosts`, `paths` | globs (`*`, `?`, any case) on the request; any entry may match |
/// | `finding_kinds`, `finding_types`, `confidence` | one finding must satisfy all three |
/// | `min_risk` | the risk score is at least this |
/// | `when = [{ field = "/a/*/b", gt = 1 }, { header = "x-env", eq = "prod" }, …]` | every condition holds ([`Condition`]) on a body field or a request header: `eq`, `ne`, `in`, `glob`, `regex`, `contains`, `gt`, `ge`, `lt`, `le`, `exists` |
/// | `rate = { max, per, by }` | matches from call `max + 1` within `per` ([`Rate`]) |
/// | `mode = "monitor"` | the rule only reports |
/// | `[[exempt]]` | findings dropped before the rules ([`Exemption`]) |
///
/// How rules combine: exempted findings are dropped first; every matching
/// rule counts; the most severe decision among the matching enforcing
/// rules wins (DENY > REQUIRE_APPROVAL > SANITIZE > ALLOW), no match is
/// ALLOW; when monitor-mode rules match, the verdict's
/// [`monitored`](crate::Verdict::monitored) says what enforcing every
/// matching rule would have decided, and the decision is not raised.
///
/// ```
/// use interven::engine::Policy;
///
/// let policy = Policy::from_toml(r#"
///     [[rules]]
///     name = "no-prod-deletes"
///     tools = ["db"]
///     operations = ["delete*"]
///     hosts = ["*.prod.example.com"]
///     decision = "DENY"
///     reason = "PROD_DELETE"
///
///     [[rules]]
///     name = "large-refunds"
///     tools = ["stripe"]
///     when = [{ field = "/amount", gt = 100000 }, { field = "/currency", in = ["usd", "eur"] }]
///     decision = "REQUIRE_APPROVAL"
///     reason = "LARGE_REFUND"
///
///     [[exempt]]
///     name = "support-mails-customers"
///     hosts = ["*.zendesk.com"]
///     finding_types = ["EMAIL"]
/// "#)?;
/// assert_eq!(policy.rules().len(), 2);
/// assert_eq!(policy.exemptions().len(), 1);
/// # Ok::<(), interven::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    mode: Mode,
    rules: Vec<Rule>,
    exemptions: Vec<Exemption>,
    pub(crate) lists: HostLists,
}

impl Policy {
    /// Whether a rule looks into the body (`when` conditions) or an
    /// exemption may (by a value's digest): then the body must be parsed
    /// before the rules run.
    pub(crate) fn reads_body(&self) -> bool {
        self.rules.iter().any(|r| !r.when.is_empty()) || !self.exemptions.is_empty()
    }
}

/// One rule of a [`Policy`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rule {
    /// A name for logs and errors.
    pub name: String,
    /// The decision when the rule matches.
    pub decision: Decision,
    /// The reason code reported when the rule matches.
    pub reason: String,
    /// Globs on the tool name.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Globs on the operation name.
    #[serde(default)]
    pub operations: Vec<String>,
    /// HTTP methods.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Globs on the URL's host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Globs on the URL's path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Kinds of findings, any of which makes the rule match.
    #[serde(default)]
    pub finding_kinds: Vec<FindingKind>,
    /// Types of findings, any of which makes the rule match.
    #[serde(default)]
    pub finding_types: Vec<String>,
    /// Confidences of findings (`"verified"`, `"high"`, `"low"`): when set,
    /// only findings of one of these count for `finding_kinds` and
    /// `finding_types`, and the rule needs at least one such finding.
    #[serde(default)]
    pub confidence: Vec<Confidence>,
    /// The least risk score for the rule to match.
    #[serde(default)]
    pub min_risk: Option<f64>,
    /// Conditions on the body's fields and the request's headers, all of
    /// which must hold.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// Matches only once more than `max` calls satisfying the other
    /// conditions were seen within the window.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// `monitor` to only report the rule; default: the policy's mode.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The name globs compiled, on the rule's first use. A rule comes only
    /// from a policy's TOML and a policy's rules are read-only, so the
    /// globs cannot change under it.
    #[serde(skip)]
    globs: std::sync::OnceLock<RuleGlobs>,
}

/// A rule's globs on names, compiled.
#[derive(Debug, Clone)]
struct RuleGlobs {
    tools: GlobSet,
    operations: GlobSet,
    hosts: GlobSet,
    paths: GlobSet,
}

/// A list of globs: its `*word*` entries (the common form, a list of
/// words to look for) searched together by one automaton, the others one
/// by one. Matches what [`any_glob`] matches.
#[derive(Debug, Clone)]
pub(crate) struct GlobSet {
    /// An empty list: anything matches, even no value.
    empty: bool,
    /// A `**` glob: any value matches.
    any: bool,
    words: Option<aho_corasick::AhoCorasick>,
    others: Vec<String>,
}

impl GlobSet {
    pub(crate) fn new(globs: &[String]) -> GlobSet {
        let mut words = Vec::new();
        let mut others = Vec::new();
        let mut any = false;
        for g in globs {
            match substring_word(g.as_bytes()) {
                Some([]) => any = true,
                Some(word) => words.push(word),
                None => others.push(g.clone()),
            }
        }
        // A set of words that cannot be compiled is searched glob by glob.
        let words = (!words.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&words)
                    .ok()
            })
            .flatten();
        if words.is_none() {
            others = globs.to_vec();
        }
        GlobSet {
            empty: globs.is_empty(),
            any,
            words,
            others,
        }
    }

    /// Whether the list allows `value` (an empty list allows anything, even none).
    pub(crate) fn allows(&self, value: Option<&str>) -> bool {
        if self.empty {
            return true;
        }
        value.is_some_and(|v| {
            self.any
                || self.words.as_ref().is_some_and(|ac| ac.is_match(v))
                || self.others.iter().any(|g| glob_match(g, v))
        })
    }
}

/// The word of a `*word*` glob (no other `*` or `?`), which matches where
/// the text holds the word.
fn substring_word(p: &[u8]) -> Option<&[u8]> {
    (p.len() >= 2
        && p[0] == b'*'
        && p[p.len() - 1] == b'*'
        && !p[1..p.len() - 1].iter().any(|&c| c == b'*' || c == b'?'))
    .then(|| &p[1..p.len() - 1])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    destinations: Destinations,
    #[serde(default)]
    rules: Vec<toml::Spanned<Rule>>,
    #[serde(default)]
    exempt: Vec<toml::Spanned<Exemption>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Destinations {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

impl Default for Policy {
    /// The built-in policy ([`BUILTIN_POLICY`]).
    fn default() -> Self {
        Policy::from_toml(BUILTIN_POLICY)
            .unwrap_or_else(|e| panic!("the built-in policy is invalid: {e}"))
    }
}

/// The facts about a request that rules match on, besides its findings.
pub(crate) struct Facts<'a> {
    pub(crate) request: &'a ScanRequest,
    pub(crate) path: &'a str,
    pub(crate) findings: &'a [Finding],
    pub(crate) risk: f64,
}

/// Where rate rules count a call: the counters, the tenant, the key, the time.
pub(crate) struct RateContext<'a> {
    pub(crate) counters: &'a RateCounters,
    pub(crate) tenant: &'a str,
    pub(crate) key: Option<&'a str>,
    pub(crate) now_ms: u64,
}

/// What the rules decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) decision: Decision,
    pub(crate) reason_codes: Vec<String>,
    /// Present when a monitor-mode rule matched: what enforcing every
    /// matching rule would have decided.
    pub(crate) monitor: Option<Monitored>,
}

/// Line and column (1-based, the column in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Policy {
    /// Parses a policy from TOML text.
    ///
    /// # Errors
    /// [`Error::Config`] naming the line and column of a syntax error, an
    /// unknown field, an invalid decision, condition, rate, exemption or
    /// `min_risk`.
    pub fn from_toml(text: &str) -> Result<Policy> {
        Policy::parse(text).map_err(|(offset, message)| {
            Error::config(match offset {
                Some(offset) => {
                    let (line, col) = line_col(text, offset);
                    format!("invalid policy: line {line}, column {col}: {message}")
                }
                None => format!("invalid policy: {message}"),
            })
        })
    }

    /// Parses a policy; an error is where (a byte offset) and what.
    ///
    /// The error names the place and the problem, never the source line
    /// (a value pasted by mistake into `values` must not be echoed).
    pub(crate) fn parse(text: &str) -> std::result::Result<Policy, (Option<usize>, String)> {
        let file: PolicyFile = toml::from_str(text)
            .map_err(|e| (e.span().map(|s| s.start), e.message().trim_end().to_owned()))?;
        let at = |span: std::ops::Range<usize>, message: String| (Some(span.start), message);
        let mut rules = Vec::with_capacity(file.rules.len());
        for spanned in file.rules {
            let span = spanned.span();
            let rule = spanned.into_inner();
            if let Some(r) = rule.min_risk
                && !(0.0..=1.0).contains(&r)
            {
                return Err(at(
                    span,
                    format!("rule `{}` has min_risk {r} outside 0..1", rule.name),
                ));
            }
            if rule.reason.trim().is_empty() {
                return Err(at(
                    span,
                    format!("rule `{}` has an empty reason", rule.name),
                ));
            }
            rules.push(rule);
        }
        let mut exemptions = Vec::with_capacity(file.exempt.len());
        for spanned in file.exempt {
            let span = spanned.span();
            let mut e = spanned.into_inner();
            e.compile().map_err(|m| at(span, m))?;
            exemptions.push(e);
        }
        Ok(Policy {
            mode: file.mode,
            rules,
            exemptions,
            lists: HostLists {
                allow: file.destinations.allow,
                deny: file.destinations.deny,
            },
        })
    }

    /// Reads a TOML policy file.
    ///
    /// # Errors
    /// [`Error::Config`] for a file that cannot be read or is not a valid policy.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            message: format!("cannot read policy file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        Policy::from_toml(&text).map_err(|e| match e {
            Error::Config { message, source } => Error::Config {
                message: format!("{}: {message}", path.display()),
                source,
            },
            other => other,
        })
    }

    /// Lints a policy's TOML text: every unknown key, bad pointer, regex
    /// or glob, unknown finding type, rule that can never match, rule
    /// shadowed by a more severe rule with weaker conditions, with its line
    /// and column. An empty list means the policy is clean; any
    /// [`Severity::Error`] means [`Policy::from_toml`] fails or the policy
    /// does not do what it says.
    pub fn check(text: &str) -> Vec<Diagnostic> {
        check::check(text)
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The exemptions, in file order.
    pub fn exemptions(&self) -> &[Exemption] {
        &self.exemptions
    }

    /// The policy's mode: the default of every rule without its own.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Drops the findings an exemption names; returns (kept, exempted).
    pub(crate) fn exempt(
        &self,
        facts: &Facts<'_>,
        findings: Vec<Finding>,
    ) -> (Vec<Finding>, Vec<Exempted>) {
        exempt::apply(&self.exemptions, facts, findings)
    }

    /// The decision and reason codes for a request's facts, and what
    /// monitor-mode rules would have done.
    pub(crate) fn decide(&self, facts: &Facts<'_>, rates: &RateContext<'_>) -> Outcome {
        let mut matched: Vec<(&Rule, bool)> = Vec::new();
        for rule in &self.rules {
            if !rule.matches(facts) {
                continue;
            }
            if let Some(rate) = &rule.rate {
                let value = match rate.by {
                    RateBy::Agent => facts.request.agent_id().unwrap_or("default"),
                    RateBy::Tool => facts.request.tool().unwrap_or(""),
                    RateBy::Key => rates.key.or(facts.request.agent_id()).unwrap_or("default"),
                };
                if !rates
                    .counters
                    .hit(rates.tenant, &rule.name, rate, value, rates.now_ms)
                {
                    continue;
                }
            }
            let enforcing = rule.mode.unwrap_or(self.mode) == Mode::Enforce;
            matched.push((rule, enforcing));
        }
        let combine = |rules: &mut Vec<&Rule>| {
            let decision = rules
                .iter()
                .map(|r| r.decision)
                .max_by_key(|d| d.severity())
                .unwrap_or(Decision::Allow);
            rules.sort_by_key(|r| std::cmp::Reverse(r.decision.severity()));
            let mut reasons: Vec<String> = Vec::new();
            for r in rules.iter() {
                if !reasons.contains(&r.reason) {
                    reasons.push(r.reason.clone());
                }
            }
            (decision, reasons)
        };
        let (decision, reason_codes) = combine(
            &mut matched
                .iter()
                .filter(|(_, e)| *e)
                .map(|(r, _)| *r)
                .collect(),
        );
        let monitor = matched.iter().any(|(_, e)| !e).then(|| {
            let (decision, reason_codes) = combine(&mut matched.iter().map(|(r, _)| *r).collect());
            Monitored::new(decision, reason_codes)
        });
        Outcome {
            decision,
            reason_codes,
            monitor,
        }
    }
}

/// Whether a list of globs allows a value: an empty list allows anything.
pub(crate) fn any_glob(globs: &[String], value: Option<&str>) -> bool {
    globs.is_empty() || value.is_some_and(|v| globs.iter().any(|g| glob_match(g, v)))
}

impl Rule {
    /// Whether every condition but the rate holds.
    fn matches(&self, f: &Facts<'_>) -> bool {
        let globs = self.globs.get_or_init(|| RuleGlobs {
            tools: GlobSet::new(&self.tools),
            operations: GlobSet::new(&self.operations),
            hosts: GlobSet::new(&self.hosts),
            paths: GlobSet::new(&self.paths),
        });
        if !globs.tools.allows(f.request.tool()) || !globs.operations.allows(f.request.operation())
        {
            return false;
        }
        if !self.methods.is_empty()
            && !self
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(f.request.method()))
        {
            return false;
        }
        // The host is parsed out of the URL only for a rule that names hosts.
        if !(self.hosts.is_empty() || globs.hosts.allows(f.request.host()))
            || !globs.paths.allows(Some(f.path))
        {
            return false;
        }
        if let Some(min) = self.min_risk
            && f.risk < min
        {
            return false;
        }
        if !self
            .when
            .iter()
            .all(|c| c.holds(f.request.body(), f.request.headers()))
        {
            return false;
        }
        if self.finding_kinds.is_empty()
            && self.finding_types.is_empty()
            && self.confidence.is_empty()
        {
            return true;
        }
        f.findings.iter().any(|finding| {
            (self.finding_kinds.is_empty() || self.finding_kinds.contains(&finding.kind))
                && (self.finding_types.is_empty()
                    || self
                        .finding_types
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&finding.finding_type)))
                && (self.confidence.is_empty() || self.confidence.contains(&finding.confidence))
        })
    }
}

/// Matches `text` against a glob with `*` (any run) and `?` (one character), ignoring ASCII case.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // `*word*`, the common form: a substring search, without backtracking.
    if let Some(word) = substring_word(p) {
        return word.is_empty() || t.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word));
    }
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            // `?` stands for one character: step over a whole UTF-8 sequence.
            let step = if p[pi] == b'?' { utf8_len(t[ti]) } else { 1 };
            pi += 1;
            ti += step;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            let next = st + utf8_len(t[st]);
            pi = sp + 1;
            ti = next;
            star = Some((sp, next));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Policy {
        fn decide_now(&self, facts: &Facts<'_>) -> (Decision, Vec<String>) {
            let counters = RateCounters::default();
            let o = self.decide(
                facts,
                &RateContext {
                    counters: &counters,
                    tenant: "t",
                    key: None,
                    now_ms: 0,
                },
            );
            (o.decision, o.reason_codes)
        }
    }

    #[test]
    fn a_glob_set_matches_what_its_globs_match() {
        let lists: &[&[&str]] = &[
            &[],
            &["*delete*", "*drop*", "*force?push*"],
            &["**"],
            &["*", "*x*"],
            &["delete*", "*é*", "*.corp.io"],
            &["*Purge*", "a?c"],
        ];
        let texts = [
            "",
            "delete",
            "bulk_DELETE_rows",
            "create_issue",
            "git_force-push",
            "café",
            "api.corp.io",
            "corp.io",
            "PURGE_cache",
            "abc",
            "ac",
            "x",
            "dro",
        ];
        for globs in lists {
            let owned: Vec<String> = globs.iter().map(|g| (*g).to_owned()).collect();
            let set = GlobSet::new(&owned);
            assert_eq!(set.allows(None), any_glob(&owned, None), "{globs:?}");
            for t in texts {
                assert_eq!(
                    set.allows(Some(t)),
                    any_glob(&owned, Some(t)),
                    "{globs:?} {t:?}"
                );
            }
        }
    }

    #[test]
    fn globs() {
        // `*word*` takes the substring path; the same answers as the general one.
        assert!(glob_match("*delete*", "bulk_DELETE_rows"));
        assert!(glob_match("*delete*", "delete"));
        assert!(!glob_match("*delete*", "create_issue"));
        assert!(!glob_match("*delete*", "delet"));
        assert!(glob_match("*Delete*", "x_dELETE"));
        assert!(glob_match("*ab*", "aab"));
        assert!(!glob_match("*ab*", "a"));
        assert!(glob_match("*ab*", "ab"));
        assert!(!glob_match("*x*", ""));
        assert!(glob_match("**", ""));
        assert!(glob_match("*é*", "café"));
        assert!(glob_match("*.corp.io", "api.corp.io"));
        assert!(!glob_match("*.corp.io", "corp.io"));
        assert!(glob_match("delete*", "DELETE_repo"));
        assert!(glob_match("*force?push*", "git_force-push"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("caf?", "café"));
        assert!(glob_match("*é*", "xéy"));
    }

    #[test]
    fn builtin_policy_parses_and_matches_the_example_file() {
        let p = Policy::default();
        assert!(p.rules().len() >= 6);
        let example = include_str!("../../../../examples/policy.toml");
        assert_eq!(
            example, BUILTIN_POLICY,
            "examples/policy.toml drifted from the built-in policy"
        );
    }

    #[test]
    fn bad_policies_are_clear_errors_with_line_and_column() {
        let err =
            Policy::from_toml("[[rules]]\nname = \"x\"\ndecision = \"MAYBE\"\nreason = \"R\"\n")
                .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("column"), "{msg}");
        assert!(msg.contains("MAYBE") || msg.contains("variant"), "{msg}");
        let err = Policy::from_toml(
            "[[rules]]\nname = \"x\"\ndecision = \"DENY\"\nreason = \"R\"\ntoolz = [\"a\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("toolz"), "{err}");
        assert!(Policy::from_toml("[[rules]\n").is_err());
        let err = Policy::from_toml(
            "[[rules]]\nname = \"x\"\ndecision = \"DENY\"\nreason = \"R\"\nmin_risk = 2.0\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("min_risk"), "{err}");
        assert!(
            Policy::from_file("/nonexistent/policy.toml")
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }

    fn finding(kind: FindingKind, ty: &str, confidence: Confidence) -> Finding {
        Finding {
            kind,
            finding_type: ty.to_owned(),
            path: "/x".to_owned(),
            span: 0..1,
            placeholder: false,
            in_key: false,
            confidence,
        }
    }

    #[test]
    fn low_confidence_secrets_are_redacted_not_denied() {
        let p = Policy::default();
        let req = ScanRequest::new("POST", "https://api.x.io/notes");
        let low = [finding(
            FindingKind::Secret,
            "GENERIC_SECRET",
            Confidence::Low,
        )];
        let (d, reasons) = p.decide_now(&Facts {
            request: &req,
            path: "/notes",
            findings: &low,
            risk: 0.5,
        });
        assert_eq!(d, Decision::Sanitize);
        assert_eq!(reasons, ["POSSIBLE_SECRET"]);
        let high = [finding(
            FindingKind::Secret,
            "GENERIC_SECRET",
            Confidence::High,
        )];
        let (d, _) = p.decide_now(&Facts {
            request: &req,
            path: "/notes",
            findings: &high,
            risk: 0.5,
        });
        assert_eq!(d, Decision::Deny);
    }

    #[test]
    fn most_severe_decision_wins() {
        let p = Policy::default();
        let req = ScanRequest::builder("DELETE", "https://api.x.io/repos/1")
            .operation("delete_repo")
            .build()
            .unwrap();
        let facts = Facts {
            request: &req,
            path: "/repos/1",
            findings: &[
                finding(FindingKind::Pii, "EMAIL", Confidence::High),
                finding(FindingKind::Secret, "JWT", Confidence::Verified),
            ],
            risk: 0.9,
        };
        let (d, reasons) = p.decide_now(&facts);
        assert_eq!(d, Decision::Deny);
        assert_eq!(reasons[0], "SECRET_DETECTED");
        assert!(
            reasons.contains(&"PII_DETECTED".to_owned())
                && reasons.contains(&"DESTRUCTIVE_OPERATION".to_owned())
        );
        let clean = ScanRequest::new("GET", "https://api.x.io/");
        let (d, reasons) = p.decide_now(&Facts {
            request: &clean,
            path: "/",
            findings: &[],
            risk: 0.0,
        });
        assert_eq!((d, reasons.len()), (Decision::Allow, 0));
    }
}
