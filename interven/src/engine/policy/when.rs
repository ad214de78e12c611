//! `when` conditions: a JSON pointer into the body (with `*` segments) or
//! the name of a request header, and one operator, compiled once when the
//! policy is loaded.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::glob_match;

/// The operators a condition may use, in the order they are documented.
pub(crate) const OPERATORS: &[&str] = &[
    "eq", "ne", "in", "glob", "regex", "contains", "gt", "ge", "lt", "le", "exists",
];

/// The largest compiled regex a policy may hold (bytes of the automaton).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One condition of a rule's `when`: a field of the body or a request
/// header, and one operator.
///
/// `field` is a JSON pointer (`/amount`, `/items/0/sku`); a `*` segment
/// stands for every key of an object or element of an array, and the
/// condition holds when any addressed value satisfies the operator. A
/// value of the wrong type for the operator does not satisfy it (never an
/// error at scan time).
///
/// `header` names a request header instead (any case:
/// `mcp-annotation-destructivehint`); the operators see its value, trimmed,
/// as a string, which compares with a number operand when it parses as
/// one and with a boolean operand when it is `true` or `false` (any
/// case). A condition has exactly one of `field` and `header`. The
/// operators are documented in the built-in policy
/// ([`BUILTIN_POLICY`](crate::engine::BUILTIN_POLICY)).
#[derive(Clone)]
pub struct Condition {
    target: Target,
    op: Op,
}

/// What a condition reads.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A JSON pointer into the body, as written, and its segments.
    Field {
        pointer: String,
        segments: Vec<Segment>,
    },
    /// A request header's name, lower-cased.
    Header(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Any,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Glob(String),
    Regex(Regex),
    Contains(Value),
    Cmp(Cmp, f64),
    Exists(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condition");
        match &self.target {
            Target::Field { pointer, .. } => d.field("field", pointer),
            Target::Header(name) => d.field("header", name),
        };
        d.field("operator", &self.operator()).finish()
    }
}

impl PartialEq for Condition {
    /// Same field (or header), same operator, same operand.
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target && self.operator() == other.operator() && {
            match (&self.op, &other.op) {
                (Op::Regex(a), Op::Regex(b)) => a.as_str() == b.as_str(),
                (a, b) => format!("{a:?}") == format!("{b:?}"),
            }
        }
    }
}

impl Condition {
    /// The JSON pointer the condition reads, as written; `None` for a
    /// condition on a header.
    pub fn field(&self) -> Option<&str> {
        match &self.target {
            Target::Field { pointer, .. } => Some(pointer),
            Target::Header(_) => None,
        }
    }

    /// The request header the condition reads, lower-cased; `None` for a
    /// condition on a body field.
    pub fn header(&self) -> Option<&str> {
        match &self.target {
            Target::Header(name) => Some(name),
            Target::Field { .. } => None,
        }
    }

    /// What the condition reads, for messages: `/amount` or `header x-env`.
    pub(crate) fn subject(&self) -> String {
        match &self.target {
            Target::Field { pointer, .. } => pointer.clone(),
            Target::Header(name) => format!("header {name}"),
        }
    }

    /// Whether the condition addresses exactly one value: a field without
    /// `*` segments. (A header may be sent twice in different cases.)
    pub(crate) fn is_exact(&self) -> bool {
        matches!(&self.target, Target::Field { segments, .. } if !segments.contains(&Segment::Any))
    }

    /// The operator's name (`"eq"`, `"gt"`, `"regex"`…).
    pub fn operator(&self) -> &'static str {
        match &self.op {
            Op::Eq(_) => "eq",
            Op::Ne(_) => "ne",
            Op::In(_) => "in",
            Op::Glob(_) => "glob",
            Op::Regex(_) => "regex",
            Op::Contains(_) => "contains",
            Op::Cmp(Cmp::Gt, _) => "gt",
            Op::Cmp(Cmp::Ge, _) => "ge",
            Op::Cmp(Cmp::Lt, _) => "lt",
            Op::Cmp(Cmp::Le, _) => "le",
            Op::Exists(_) => "exists",
        }
    }

    /// Compiles a condition from its TOML table. The error says what is
    /// wrong and how to fix it.
    pub(crate) fn compile(table: &toml::Table) -> Result<Condition, String> {
        let target = match (table.get("field"), table.get("header")) {
            (Some(_), Some(_)) => {
                return Err("a condition reads either a body `field` or a request `header`, not both: write two conditions".to_owned());
            }
            (Some(toml::Value::String(s)), None) => Target::Field {
                segments: parse_pointer(s)?,
                pointer: s.clone(),
            },
            (Some(other), None) => {
                return Err(format!(
                    "`field` must be a string (a JSON pointer such as \"/amount\"), not {}",
                    other.type_str()
                ));
            }
            (None, Some(toml::Value::String(s))) => Target::Header(parse_header_name(s)?),
            (None, Some(other)) => {
                return Err(format!(
                    "`header` must be a string (a header name such as \"mcp-annotation-destructivehint\"), not {}",
                    other.type_str()
                ));
            }
            (None, None) => {
                return Err(
                    "a condition needs a `field` (a JSON pointer such as \"/amount\") or a `header` (a request header name such as \"mcp-annotation-destructivehint\")".to_owned(),
                );
            }
        };
        let subject = match &target {
            Target::Field { pointer, .. } => format!("`{pointer}`"),
            Target::Header(name) => format!("header `{name}`"),
        };
        let mut ops = table
            .iter()
            .filter(|(k, _)| k.as_str() != "field" && k.as_str() != "header");
        let (name, operand) = match (ops.next(), ops.next()) {
            (Some(op), None) => op,
            (None, _) => {
                return Err(format!(
                    "condition on {subject} has no operator: add one of {}",
                    OPERATORS.join(", ")
                ));
            }
            (Some((a, _)), Some((b, _))) => {
                return Err(format!(
                    "condition on {subject} has two operators (`{a}` and `{b}`): one operator per condition, write a second condition for the other"
                ));
            }
        };
        let op = compile_op(name, operand).map_err(|e| format!("condition on {subject}: {e}"))?;
        Ok(Condition { target, op })
    }

    /// Whether the condition holds for a request's body and headers.
    pub(crate) fn holds(&self, body: &Value, headers: Option<&BTreeMap<String, String>>) -> bool {
        let mut found = false;
        let mut holds = false;
        match &self.target {
            Target::Field { segments, .. } => {
                resolve(body, segments, &mut |v| {
                    found = true;
                    if !holds && self.op.satisfied_by(v) {
                        holds = true;
                    }
                    holds
                });
            }
            Target::Header(name) => {
                // Every header of that name in any case; one satisfying is enough.
                for (_, value) in headers
                    .into_iter()
                    .flatten()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    found = true;
                    if self.op.satisfied_by_header(value.trim_matches([' ', '\t'])) {
                        holds = true;
                        break;
                    }
                }
            }
        }
        match self.op {
            Op::Exists(want) => found == want,
            _ => holds,
        }
    }

    /// `(lower, upper)` bounds a numeric comparison puts on its field, for
    /// the checker's contradiction test: `(Some((x, inclusive)), None)` for `gt`/`ge`.
    pub(crate) fn bound(&self) -> Option<(bool, f64, bool)> {
        match self.op {
            Op::Cmp(Cmp::Gt, x) => Some((true, x, false)),
            Op::Cmp(Cmp::Ge, x) => Some((true, x, true)),
            Op::Cmp(Cmp::Lt, x) => Some((false, x, false)),
            Op::Cmp(Cmp::Le, x) => Some((false, x, true)),
            _ => None,
        }
    }

    /// Whether the condition can never hold, whatever the request.
    pub(crate) fn never_holds(&self) -> Option<String> {
        match &self.op {
            Op::In(list) if list.is_empty() => {
                Some(format!("`in = []` on `{}` never holds", self.subject()))
            }
            Op::Cmp(_, x) if x.is_nan() => Some(format!(
                "comparison with NaN on `{}` never holds",
                self.subject()
            )),
            Op::Eq(x) | Op::Ne(x) if self.header().is_some() && !header_comparable(x) => {
                Some(format!(
                    "`{}` is a header, whose value is a string: it is never compared with {x} (give a string, number or boolean)",
                    self.subject()
                ))
            }
            Op::Contains(x) if self.header().is_some() && !x.is_string() => Some(format!(
                "`{}` is a header, whose value is a string: it contains only strings, not {x}",
                self.subject()
            )),
            Op::In(list) if self.header().is_some() && !list.iter().any(header_comparable) => {
                Some(format!(
                    "`{}` is a header, whose value is a string: it is never one of a list without strings, numbers or booleans",
                    self.subject()
                ))
            }
            _ => None,
        }
    }

    /// Whether the condition requires a value to exist at its field
    /// (everything but `exists = false`).
    pub(crate) fn needs_value(&self) -> bool {
        !matches!(self.op, Op::Exists(false))
    }

    /// Whether the condition is `exists = false`.
    pub(crate) fn is_absent(&self) -> bool {
        matches!(self.op, Op::Exists(false))
    }

    /// For `eq`: the operand.
    pub(crate) fn eq_operand(&self) -> Option<&Value> {
        match &self.op {
            Op::Eq(v) => Some(v),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        Condition::compile(&table).map_err(serde::de::Error::custom)
    }
}

/// Splits a JSON pointer into segments; `*` is a wildcard segment.
fn parse_pointer(pointer: &str) -> Result<Vec<Segment>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "`{pointer}` is not a JSON pointer: it must start with `/` (e.g. \"/{pointer}\")"
        ));
    };
    rest.split('/')
        .map(|seg| {
            if seg == "*" {
                return Ok(Segment::Any);
            }
            let mut out = String::with_capacity(seg.len());
            let mut chars = seg.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "`{pointer}` is not a JSON pointer: `~` must be followed by 0 (for ~) or 1 (for /)"
                            ));
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(Segment::Key(out))
        })
        .collect()
}

/// A header name as RFC 9110 writes it (a token), lower-cased.
fn parse_header_name(name: &str) -> Result<String, String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() {
        return Err(
            "`header` is empty: give a header name such as \"mcp-annotation-destructivehint\""
                .to_owned(),
        );
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii() && token(*c as u8))) {
        return Err(format!(
            "`header` {name:?} is not a header name: {c:?} is not allowed (letters, digits and !#$%&'*+-.^_`|~ only)"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// Whether a header's string value can ever equal an operand of this type.
fn header_comparable(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// A header's value read as the operand's type: the string itself for a
/// string, a number when it parses as one, a boolean for `true`/`false`
/// in any case; `None` when it cannot be read so.
fn header_as(value: &str, like: &Value) -> Option<Value> {
    match like {
        Value::String(_) => Some(Value::String(value.to_owned())),
        Value::Number(_) => header_number(value).and_then(|n| {
            value
                .parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| serde_json::Number::from_f64(n).map(Value::Number))
        }),
        Value::Bool(_) => {
            if value.eq_ignore_ascii_case("true") {
                Some(Value::Bool(true))
            } else if value.eq_ignore_ascii_case("false") {
                Some(Value::Bool(false))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A header's value as a finite number (`"42"`, `"-1.5"`, `"1e3"`), if it is one.
fn header_number(value: &str) -> Option<f64> {
    // Rust also reads "inf", "NaN" and "infinity"; those are no numbers here.
    if !value.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Calls `visit` with every value the segments address; stops when it returns `true`.
fn resolve(value: &Value, segments: &[Segment], visit: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return visit(value);
    };
    match (first, value) {
        (Segment::Any, Value::Object(map)) => map.values().any(|v| resolve(v, rest, visit)),
        (Segment::Any, Value::Array(items)) => items.iter().any(|v| resolve(v, rest, visit)),
        (Segment::Key(k), Value::Object(map)) => {
            map.get(k).is_some_and(|v| resolve(v, rest, visit))
        }
        (Segment::Key(k), Value::Array(items)) => {
            // An index is digits without a leading zero (RFC 6901).
            let index = (k == "0"
                || (!k.starts_with('0') && k.bytes().all(|b| b.is_ascii_digit())))
            .then(|| k.parse::<usize>().ok())
            .flatten();
            index
                .and_then(|i| items.get(i))
                .is_some_and(|v| resolve(v, rest, visit))
        }
        _ => false,
    }
}

fn to_json(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a JSON number"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => {
            Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn compile_op(name: &str, operand: &toml::Value) -> Result<Op, String> {
    let number = |v: &toml::Value| match v {
        toml::Value::Integer(i) => Ok(*i as f64),
        toml::Value::Float(f) if f.is_finite() => Ok(*f),
        other => Err(format!(
            "`{name}` compares numbers: give a number, not {}",
            other.type_str()
        )),
    };
    let string = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(format!("`{name}` needs a string, not {}", other.type_str())),
    };
    Ok(match name {
        "eq" => Op::Eq(to_json(operand)?),
        "ne" => Op::Ne(to_json(operand)?),
        "in" => match operand {
            toml::Value::Array(items) => {
                Op::In(items.iter().map(to_json).collect::<Result<_, _>>()?)
            }
            other => {
                return Err(format!(
                    "`in` needs a list of values, not {}",
                    other.type_str()
                ));
            }
        },
        "glob" => {
            let g = string(operand)?;
            check_glob(&g)?;
            Op::Glob(g)
        }
        "regex" => {
            let pattern = string(operand)?;
            let re = regex::RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("invalid regex `{pattern}`: {}", one_line(&e.to_string())))?;
            Op::Regex(re)
        }
        "contains" => Op::Contains(to_json(operand)?),
        "gt" => Op::Cmp(Cmp::Gt, number(operand)?),
        "ge" => Op::Cmp(Cmp::Ge, number(operand)?),
        "lt" => Op::Cmp(Cmp::Lt, number(operand)?),
        "le" => Op::Cmp(Cmp::Le, number(operand)?),
        "exists" => match operand {
            toml::Value::Boolean(b) => Op::Exists(*b),
            other => {
                return Err(format!(
                    "`exists` needs true or false, not {}",
                    other.type_str()
                ));
            }
        },
        other => {
            return Err(format!(
                "unknown operator `{other}`: expected one of {}",
                OPERATORS.join(", ")
            ));
        }
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Globs are `*` (any run) and `?` (one character); brackets and braces
/// are not glob syntax here, so a glob holding them is almost surely a mistake.
pub(crate) fn check_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() {
        return Err("an empty glob matches only an empty name: use \"*\" for any".to_owned());
    }
    if let Some(c) = glob.chars().find(|c| matches!(c, '[' | ']' | '{' | '}')) {
        return Err(format!(
            "glob `{glob}` holds `{c}`: globs here know only `*` and `?` (no classes or alternatives); list the names instead"
        ));
    }
    Ok(())
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

impl Op {
    fn satisfied_by(&self, v: &Value) -> bool {
        match self {
            Op::Eq(x) => same(v, x),
            Op::Ne(x) => same_type(v, x) && !same(v, x),
            Op::In(list) => list.iter().any(|x| same(v, x)),
            Op::Glob(g) => v.as_str().is_some_and(|s| glob_match(g, s)),
            Op::Regex(re) => v.as_str().is_some_and(|s| re.is_match(s)),
            Op::Contains(x) => match (v, x) {
                (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
                (Value::Array(items), x) => items.iter().any(|i| same(i, x)),
                _ => false,
            },
            Op::Cmp(cmp, x) => v.as_f64().is_some_and(|n| match cmp {
                Cmp::Gt => n > *x,
                Cmp::Ge => n >= *x,
                Cmp::Lt => n < *x,
                Cmp::Le => n <= *x,
            }),
            Op::Exists(_) => true,
        }
    }

    /// Whether a header's value (a string) satisfies the operator.
    fn satisfied_by_header(&self, s: &str) -> bool {
        let equals = |x: &Value| header_as(s, x).is_some_and(|v| same(&v, x));
        match self {
            Op::Eq(x) => equals(x),
            Op::Ne(x) => header_as(s, x).is_some_and(|v| !same(&v, x)),
            Op::In(list) => list.iter().any(equals),
            Op::Glob(g) => glob_match(g, s),
            Op::Regex(re) => re.is_match(s),
            Op::Contains(Value::String(needle)) => s.contains(needle.as_str()),
            Op::Contains(_) => false,
            Op::Cmp(cmp, x) => header_number(s).is_some_and(|n| match cmp {
                Cmp::Gt => n > *x,
                Cmp::Ge => n >= *x,
                Cmp::Lt => n < *x,
                Cmp::Le => n <= *x,
            }),
            Op::Exists(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(text: &str) -> Result<Condition, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        Condition::compile(&table)
    }

    fn holds(text: &str, body: Value) -> bool {
        cond(text).unwrap().holds(&body, None)
    }

    fn holds_h(text: &str, headers: &[(&str, &str)]) -> bool {
        let h: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        cond(text).unwrap().holds(&json!({}), Some(&h))
    }

    #[test]
    fn headers_by_name_in_any_case_with_every_operator() {
        let h = [
            ("MCP-Annotation-DestructiveHint", "true"),
            ("x-count", " 42 "),
            ("x-ratio", "0.5"),
            ("x-env", "Prod-EU"),
            ("x-empty", ""),
        ];
        let d = "header = 'mcp-annotation-destructivehint'\n";
        assert!(holds_h(&format!("{d}eq = 'true'"), &h));
        assert!(holds_h(&format!("{d}eq = true"), &h), "a boolean operand");
        assert!(holds_h(&format!("{d}ne = false"), &h));
        assert!(!holds_h(&format!("{d}eq = 'TRUE'"), &h), "strings exactly");
        assert!(holds_h(
            &format!("{d}eq = true"),
            &[("mcp-annotation-destructivehint", "True")]
        ));
        assert!(!holds_h(&format!("{d}eq = false"), &h));
        assert!(!holds_h(&format!("{d}eq = 1"), &h), "not a number");
        assert!(holds_h(&format!("{d}exists = true"), &h));
        assert!(!holds_h(&format!("{d}exists = false"), &h));
        assert!(
            holds_h(&format!("{d}exists = false"), &[]),
            "no headers at all"
        );
        assert!(!holds_h(&format!("{d}eq = 'true'"), &[]));
        assert!(
            !holds_h(&format!("{d}ne = 'false'"), &[]),
            "a missing header does not hold ne"
        );
        assert!(
            holds_h("header = 'X-COUNT'\neq = 42", &h),
            "names in any case, values trimmed"
        );
        assert!(holds_h("header = 'x-count'\neq = 42.0", &h));
        assert!(holds_h("header = 'x-count'\neq = '42'", &h));
        assert!(!holds_h("header = 'x-count'\neq = ' 42 '", &h), "trimmed");
        assert!(holds_h("header = 'x-count'\ngt = 41", &h));
        assert!(!holds_h("header = 'x-count'\ngt = 42", &h));
        assert!(holds_h("header = 'x-count'\nge = 42", &h));
        assert!(holds_h("header = 'x-ratio'\nlt = 1", &h));
        assert!(holds_h("header = 'x-ratio'\nle = 0.5", &h));
        assert!(!holds_h("header = 'x-env'\ngt = 0", &h), "not a number");
        assert!(
            !holds_h("header = 'x-env'\nlt = 1", &[("x-env", "NaN")]),
            "NaN is no number"
        );
        assert!(!holds_h("header = 'x-env'\nlt = 1", &[("x-env", "-inf")]));
        assert!(holds_h("header = 'x-count'\nin = [7, 42]", &h));
        assert!(holds_h("header = 'x-env'\nin = ['dev', 'Prod-EU']", &h));
        assert!(!holds_h("header = 'x-env'\nin = ['prod-eu']", &h));
        assert!(holds_h("header = 'x-env'\nne = 'dev'", &h));
        assert!(
            !holds_h("header = 'x-env'\nne = 3", &h),
            "not a number: ne does not hold"
        );
        assert!(
            holds_h("header = 'x-env'\nglob = 'prod-*'", &h),
            "globs ignore case"
        );
        assert!(holds_h("header = 'x-env'\nregex = '^Prod-[A-Z]{2}$'", &h));
        assert!(holds_h("header = 'x-env'\ncontains = 'od-E'", &h));
        assert!(!holds_h("header = 'x-env'\ncontains = 'od-e'", &h));
        assert!(holds_h("header = 'x-empty'\neq = ''", &h));
        assert!(holds_h("header = 'x-empty'\nexists = true", &h));
        // Two spellings of one name: one satisfying value is enough.
        assert!(holds_h(
            "header = 'x-a'\neq = '2'",
            &[("X-A", "1"), ("x-a", "2")]
        ));
        // A header condition never reads the body, nor a field a header.
        let c = cond("header = 'amount'\nexists = true").unwrap();
        assert!(!c.holds(&json!({"amount": 1}), None));
        let c = cond("field = '/x-env'\nexists = true").unwrap();
        let only: BTreeMap<String, String> = [("x-env".to_owned(), "a".to_owned())].into();
        assert!(!c.holds(&json!({}), Some(&only)));
        assert_eq!(c.field(), Some("/x-env"));
        assert_eq!(c.header(), None);
        let c = cond("header = 'X-Env'\nexists = true").unwrap();
        assert_eq!((c.field(), c.header()), (None, Some("x-env")));
    }

    #[test]
    fn header_load_errors_are_clear() {
        let err = cond("field = '/a'\nheader = 'x'\neq = 1").unwrap_err();
        assert!(err.contains("not both"), "{err}");
        let err = cond("eq = 1").unwrap_err();
        assert!(err.contains("`field`") && err.contains("`header`"), "{err}");
        let err = cond("header = 1\neq = 1").unwrap_err();
        assert!(err.contains("`header` must be a string"), "{err}");
        let err = cond("header = ''\neq = 1").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        for bad in ["x y", "x:y", "x\\r\\ny", "é"] {
            let err = cond(&format!("header = \"{bad}\"\neq = 1")).unwrap_err();
            assert!(err.contains("not a header name"), "{bad}: {err}");
        }
        let err = cond("header = 'x'").unwrap_err();
        assert!(err.contains("header `x` has no operator"), "{err}");
        let err = cond("header = 'x'\neq = 1\nne = 2").unwrap_err();
        assert!(err.contains("two operators"), "{err}");
        let err = cond("header = 'x'\nregex = '('").unwrap_err();
        assert!(
            err.contains("header `x`") && err.contains("invalid regex"),
            "{err}"
        );
        for never in [
            "eq = [1]",
            "contains = 1",
            "in = [[1], {a = 1}]",
            "ne = {a = 1}",
        ] {
            let c = cond(&format!("header = 'x'\n{never}")).unwrap();
            assert!(c.never_holds().is_some(), "{never}");
        }
        assert!(
            cond("header = 'x'\nin = [[1], 'a']")
                .unwrap()
                .never_holds()
                .is_none()
        );
    }

    #[test]
    fn every_operator() {
        let b = json!({"amount": 150000, "currency": "usd", "note": "refund for order 7",
                       "tags": ["vip", "eu"], "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-9", "qty": 40}],
                       "flag": true, "nothing": null});
        assert!(holds("field = '/amount'\neq = 150000", b.clone()));
        assert!(holds("field = '/amount'\neq = 150000.0", b.clone()));
        assert!(
            !holds("field = '/amount'\neq = '150000'", b.clone()),
            "type mismatch"
        );
        assert!(holds("field = '/currency'\nne = 'eur'", b.clone()));
        assert!(!holds("field = '/currency'\nne = 'usd'", b.clone()));
        assert!(
            !holds("field = '/currency'\nne = 5", b.clone()),
            "type mismatch does not hold"
        );
        assert!(
            !holds("field = '/missing'\nne = 'usd'", b.clone()),
            "missing does not hold"
        );
        assert!(holds("field = '/currency'\nin = ['usd', 'eur']", b.clone()));
        assert!(!holds("field = '/currency'\nin = ['gbp']", b.clone()));
        assert!(
            holds("field = '/currency'\nglob = 'U*'", b.clone()),
            "globs ignore case"
        );
        assert!(
            !holds("field = '/amount'\nglob = '*'", b.clone()),
            "glob on a number"
        );
        assert!(holds("field = '/note'\nregex = 'order \\d+$'", b.clone()));
        assert!(!holds("field = '/note'\nregex = '^order'", b.clone()));
        assert!(holds("field = '/note'\ncontains = 'for order'", b.clone()));
        assert!(holds("field = '/tags'\ncontains = 'vip'", b.clone()));
        assert!(!holds("field = '/tags'\ncontains = 'us'", b.clone()));
        assert!(holds("field = '/amount'\ngt = 100000", b.clone()));
        assert!(!holds("field = '/amount'\ngt = 150000", b.clone()));
        assert!(holds("field = '/amount'\nge = 150000", b.clone()));
        assert!(holds("field = '/amount'\nlt = 150000.5", b.clone()));
        assert!(!holds("field = '/amount'\nlt = 150000", b.clone()));
        assert!(holds("field = '/amount'\nle = 150000", b.clone()));
        assert!(
            !holds("field = '/currency'\ngt = 1", b.clone()),
            "string is not a number"
        );
        assert!(holds("field = '/flag'\nexists = true", b.clone()));
        assert!(
            holds("field = '/nothing'\nexists = true", b.clone()),
            "null exists"
        );
        assert!(holds("field = '/missing'\nexists = false", b.clone()));
        assert!(!holds("field = '/flag'\nexists = false", b.clone()));
        assert!(holds("field = '/flag'\neq = true", b.clone()));
    }

    #[test]
    fn wildcards_and_pointers() {
        let b = json!({"items": [{"sku": "A-1", "qty": 2}, {"sku": "B-9", "qty": 40}], "a/b": {"~x": 1}});
        assert!(holds("field = '/items/*/qty'\ngt = 30", b.clone()));
        assert!(!holds("field = '/items/*/qty'\ngt = 50", b.clone()));
        assert!(holds("field = '/items/1/sku'\neq = 'B-9'", b.clone()));
        assert!(
            !holds("field = '/items/01/sku'\neq = 'B-9'", b.clone()),
            "leading zero is no index"
        );
        assert!(holds("field = '/*/*/sku'\nglob = 'a-*'", b.clone()));
        assert!(holds("field = '/a~1b/~0x'\neq = 1", b.clone()));
        assert!(holds(
            "field = '/items/*/missing'\nexists = false",
            b.clone()
        ));
        assert!(!holds("field = '/items/*/sku'\nexists = false", b.clone()));
        assert!(holds("field = ''\nexists = true", json!("x")));
        assert!(!holds(
            "field = '/items/*'\ngt = 1",
            json!({"items": "scalar"})
        ));
    }

    #[test]
    fn load_errors_are_clear() {
        let err = cond("field = '/a'\ngt = 1\nlt = 5").unwrap_err();
        assert!(err.contains("two operators"), "{err}");
        assert!(cond("field = '/a'").unwrap_err().contains("no operator"));
        assert!(
            cond("field = 'a'\neq = 1")
                .unwrap_err()
                .contains("must start with `/`")
        );
        assert!(cond("field = '/a~2'\neq = 1").unwrap_err().contains("~"));
        assert!(cond("gt = 1").unwrap_err().contains("needs a `field`"));
        assert!(
            cond("field = '/a'\nregex = '('")
                .unwrap_err()
                .contains("invalid regex")
        );
        assert!(
            cond("field = '/a'\ngt = 'x'")
                .unwrap_err()
                .contains("numbers")
        );
        assert!(
            cond("field = '/a'\nexists = 1")
                .unwrap_err()
                .contains("true or false")
        );
        assert!(cond("field = '/a'\nin = 1").unwrap_err().contains("list"));
        assert!(
            cond("field = '/a'\nmatches = 1")
                .unwrap_err()
                .contains("unknown operator")
        );
        assert!(
            cond("field = '/a'\nglob = 'a[bc]'")
                .unwrap_err()
                .contains("no classes")
        );
        let huge = format!("field = '/a'\nregex = '{}'", "(a{1000}){1000}");
        assert!(cond(&huge).is_err(), "regexes are size-limited");
    }
}
