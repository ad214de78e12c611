//! Detectors: walk a request and find secrets, personal data and risky
//! destinations, with the JSON path and byte span of each.
//!
//! Every string leaf is scanned at any depth, with its object key as
//! context (`"password": "…"`); so are object keys, numbers of nine digits
//! or more (by their digits: integers are exact up to 19 digits, floats up
//! to 2^53), the URL and header values, the columns of CSV and pipe
//! tables under their header, and adjacent string fields joined (a token
//! split across two fields). Before matching, each text is also seen with
//! its disguises taken off ([`normalize`]: NFKC, invisible characters,
//! HTML references, string and `%XX` escapes, concatenated literals), and
//! hex runs and base64 tokens (gzip and zlib inside included) are decoded
//! and scanned, to a bounded depth; every finding's span is mapped back to
//! the bytes that were sent, so redaction replaces exactly the encoded form.
//! Documented vendor examples (`vendor_examples.toml`) are never findings.
//! A body with more than [`MAX_FINDINGS`] findings stops being scanned.

mod cut;
mod destinations;
mod keywords;
mod long;
mod normalize;
mod parse;
mod pii;
mod secrets;
mod stream;
pub(crate) use parse::parse_body;
pub(crate) use stream::BodyError;
pub(crate) mod text;
mod vendor_examples;

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
use text::Features;

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

/// The longest string of letters, `_` and `-` taken for a plain name: a
/// vendor token or an encoded value is longer (or mixes in digits).
const SHORT_NAME: usize = 24;

/// How deep decoding goes (base64 inside escapes inside base64…).
const MAX_DECODE_DEPTH: u8 = 3;

/// Findings per body after which detection stops; the engine then denies
/// (`TOO_MANY_FINDINGS`) rather than let unredacted values through.
pub(crate) const MAX_FINDINGS: usize = 1_000;

/// The longest run of a string that is joined with its neighbour field.
pub(crate) const MAX_JOIN: usize = 256;
/// The longest base64 token that is decoded (longer ones are files, not secrets).
const MAX_DECODE_LEN: usize = 64 * 1024;

pub(crate) struct Detector {
    secrets: secrets::SecretRules,
    pii: pii::PiiRules,
    placeholder: Regex,
    date: Regex,
}

/// Words that make a key worth a closer look (`password`, `ssn`, `dob`…),
/// lower case.
const KEY_HINTS: [&str; 13] = [
    "pass", "pwd", "secret", "key", "token", "auth", "cred", "ssn", "social", "dob", "birth",
    "born", "passport",
];

/// Per byte, the hints that start with it (either case), one bit each.
static HINT_STARTS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut h = 0;
    while h < KEY_HINTS.len() {
        let first = KEY_HINTS[h].as_bytes()[0];
        t[first as usize] |= 1 << h;
        t[first.to_ascii_uppercase() as usize] |= 1 << h;
        h += 1;
    }
    t
};

/// Whether `name` holds one of the [`KEY_HINTS`], ASCII case aside. Names
/// are short: one table read per byte, and a comparison only where a hint
/// may start (an automaton's search costs more to set up than this whole
/// loop on a ten-byte key).
fn has_key_hint(name: &str) -> bool {
    let b = name.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        let mut starts = HINT_STARTS[c as usize];
        while starts != 0 {
            let hint = KEY_HINTS[starts.trailing_zeros() as usize].as_bytes();
            if b.get(i..i + hint.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(hint))
            {
                return true;
            }
            starts &= starts - 1;
        }
        false
    })
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
            date: re(&format!(r"^\s*(?:{})\s*$", pii::DATE)),
        }
    }

    /// Compiles every lazily compiled rule now.
    pub(crate) fn compile_all(&self) {
        self.secrets.compile_all();
    }

    /// Every finding in a request: body (values and keys), URL and headers.
    /// `url` is the request's URL parsed.
    pub(crate) fn scan_request(
        &self,
        request: &ScanRequest,
        url: Option<&url::Url>,
        lists: &HostLists,
    ) -> Vec<Located> {
        let mut out = Vec::new();
        self.scan_body(request.body(), lists, &mut out);
        self.scan_request_outside_body(request, url, lists, &mut out);
        out
    }

    /// The findings of a request outside its body (URL, headers, names),
    /// after those of the body (`out`); none past the findings cap.
    /// `parsed_url` is the request's URL parsed.
    pub(crate) fn scan_request_outside_body(
        &self,
        request: &ScanRequest,
        parsed_url: Option<&url::Url>,
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) {
        if out.len() > MAX_FINDINGS {
            return;
        }
        let url = request.url();
        let mut hits = self.scan_text(url, None, lists, 0);
        destinations::check_request_url(url, parsed_url, lists, &mut hits);
        push_located(out, "url", url, hits, false);
        if let Some(headers) = request.headers() {
            for (name, value) in headers {
                let hits = self.scan_text(value, Some(name), lists, 0);
                push_located(out, &format!("headers/{name}"), value, hits, false);
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
                push_located(out, path, text, hits, false);
            }
        }
    }

    /// Every finding in a JSON body (request or response). Callers bound
    /// the depth first ([`MAX_BODY_DEPTH`](crate::engine::MAX_BODY_DEPTH)).
    pub(crate) fn scan_body(&self, body: &Value, lists: &HostLists, out: &mut Vec<Located>) {
        // Most paths fit: one allocation, not one per doubling.
        let mut path = String::with_capacity(128);
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
        if out.len() > MAX_FINDINGS {
            return;
        }
        match value {
            Value::String(s) => {
                let hits = self.scan_text(s, key, lists, 0);
                push_located(out, path, s, hits, false);
            }
            Value::Number(n) => self.scan_number(n, path, key, lists, out),
            Value::Array(items) => {
                let len = path.len();
                let mut previous: Option<(&str, usize)> = None;
                for (i, item) in items.iter().enumerate() {
                    path.push('/');
                    path.push_str(itoa(i, &mut [0u8; 20]));
                    self.walk(item, path, key, lists, out);
                    if let Value::String(s) = item {
                        if let Some((prev, prev_i)) = previous {
                            let a = JoinSide::whole(prev);
                            self.scan_joined(&a, len, Seg::Index(prev_i), s, path, lists, out);
                        }
                        previous = Some((s, i));
                    } else {
                        previous = None;
                    }
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                // The sibling's name counts only for a value key: most
                // objects have none, and a pass over their keys costs less
                // than looking up each name (hashed).
                let named = if map.keys().any(|k| VALUE_KEYS.contains(&k.as_str())) {
                    self.named_in(|k| map.get(k).and_then(Value::as_str))
                } else {
                    None
                };
                let mut previous: Option<(&str, &str)> = None;
                for (k, v) in map {
                    self.walk_member(k, v, named, &mut previous, path, lists, out);
                }
            }
            _ => {}
        }
    }

    /// `{"name": "DB_PASSWORD", "value": "…"}` (container env lists,
    /// parameter stores): the value is keyed by its sibling's name, when
    /// that name hints at a credential. `get` gives a member's string value.
    fn named_in<'v>(&self, get: impl Fn(&str) -> Option<&'v str>) -> Option<&'v str> {
        NAME_KEYS
            .iter()
            .find_map(|k| get(k))
            .filter(|n| n.len() <= 128 && has_key_hint(n))
    }

    /// One member of an object: its key, its value (with the key, or the
    /// sibling's name, as context) and the join with the previous string member.
    #[allow(clippy::too_many_arguments)]
    fn walk_member<'v>(
        &self,
        k: &'v str,
        v: &'v Value,
        named: Option<&str>,
        previous: &mut Option<(&'v str, &'v str)>,
        path: &mut String,
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) {
        let len = path.len();
        path.push('/');
        path.push_str(&escape_pointer(k));
        let hits = self.scan_text(k, None, lists, 0);
        push_located(out, path, k, hits, true);
        let sibling_named = named.filter(|_| VALUE_KEYS.contains(&k));
        self.walk(v, path, sibling_named.or(Some(k)), lists, out);
        if let Value::String(s) = v {
            if let Some((prev, prev_key)) = *previous {
                let a = JoinSide::whole(prev);
                self.scan_joined(&a, len, Seg::Key(prev_key), s, path, lists, out);
            }
            *previous = Some((s, k));
        } else {
            *previous = None;
        }
        path.truncate(len);
    }

    /// A number, by its digits, when it has nine or more: an integer
    /// (u64/i64) prints exactly, so a card number stays a card number; a
    /// float above 2^53 has already lost digits (serde_json without
    /// `arbitrary_precision`). Numbers too short to matter cost no allocation.
    fn scan_number(
        &self,
        n: &serde_json::Number,
        path: &str,
        key: Option<&str>,
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) {
        if n.as_i64()
            .is_some_and(|i| (-99_999_999..=99_999_999).contains(&i))
        {
            return;
        }
        let mut buf = NumberText::default();
        let s: &str = if std::fmt::Write::write_fmt(&mut buf, format_args!("{n}")).is_ok() {
            buf.as_str()
        } else {
            return;
        };
        if s.bytes().filter(u8::is_ascii_digit).count() >= 9 {
            // A minus sign is not part of the number's digits.
            let sign = usize::from(s.starts_with('-'));
            let mut hits = self.scan_text(&s[sign..], key, lists, 0);
            // A JSON integer is a card only under a key that names one.
            if !pii::number_may_be_card(key) {
                hits.retain(|h| h.ty != "PAYMENT_CARD");
            }
            for h in &mut hits {
                h.span = h.span.start + sign..h.span.end + sign;
            }
            push_located(out, path, s, hits, false);
        }
    }

    /// A credential split across two adjacent string fields: the end of
    /// `a` and the start of `b` are scanned as one text, and a vendor-format
    /// secret that straddles them is reported in both fields. `a`'s path is
    /// `parent[..a_base]` and `a_seg`, built only for a finding.
    #[allow(clippy::too_many_arguments)]
    fn scan_joined(
        &self,
        a: &JoinSide<'_>,
        a_base: usize,
        a_seg: Seg<'_>,
        b: &str,
        b_path: &str,
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) {
        let a_text = a.text;
        // The bounds below are at most the strings' lengths (and MAX_JOIN):
        // a short field is no half of a secret, whatever its bytes.
        if a_text.len() < 4
            || b.len() < 4
            || a_text.len().min(MAX_JOIN) + b.len().min(MAX_JOIN) < 16
        {
            return;
        }
        let tail_start = join_tail_start(a_text);
        let head_end = join_head_end(b);
        let (tail, head) = (&a_text[tail_start..], &b[..head_end]);
        if tail.len() < 4 || head.len() < 4 || tail.len() + head.len() < 16 {
            return;
        }
        // Only a vendor format can be told from two random halves: its keyword
        // (or a Discord token's dots) must be there. Checked on the stack:
        // most adjacent fields hold neither, and cost no allocation.
        let mut stack = [0u8; 2 * MAX_JOIN + 8];
        let Some(joined_view) = concat_on_stack(&mut stack, tail, head) else {
            return;
        };
        if !self.secrets.may_hold_vendor_secret(joined_view) {
            return;
        }
        // Two strings joined are UTF-8.
        let Ok(joined) = String::from_utf8(joined_view.to_vec()) else {
            return;
        };
        for hit in self.scan_text(&joined, None, lists, MAX_DECODE_DEPTH) {
            let straddles = hit.span.start < tail.len() && hit.span.end > tail.len();
            if !straddles
                || hit.kind != FindingKind::Secret
                || hit.placeholder
                || secrets::is_generic(&hit.ty)
            {
                continue;
            }
            // Split at a token boundary already seen, the parts were found on their own.
            let in_a = tail_start + hit.span.start..a_text.len();
            let in_b = 0..hit.span.end - tail.len();
            let mut a_path = b_path[..a_base].to_owned();
            a_seg.push_to(&mut a_path);
            let mut first = hit.clone();
            first.span = in_a;
            let mut second = hit;
            second.span = in_b;
            push_located_at(out, &a_path, a_text, a.offset, vec![first]);
            push_located(out, b_path, b, vec![second], false);
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
        let windows = (text.len() > long::LONG_TEXT).then_some((long::CHUNK, long::OVERLAP));
        self.scan_text_in(text, key, lists, depth, windows)
    }

    /// [`scan_text`](Self::scan_text), the text scanned in windows of
    /// `(chunk, overlap)` bytes (see [`long`]) or whole.
    fn scan_text_in(
        &self,
        text: &str,
        key: Option<&str>,
        lists: &HostLists,
        depth: u8,
        windows: Option<(usize, usize)>,
    ) -> Vec<Hit> {
        let mut hits = Vec::new();
        // Nothing this engine detects fits in fewer bytes (an email is at least `a@b.co`).
        if text.len() < MIN_CANDIDATE_LEN {
            return hits;
        }
        let credential_key = key.filter(|k| has_key_hint(k));
        let mut windows = windows.map(|(chunk, overlap)| long::windows(text, chunk, overlap));
        let (f, runs) = if let Some(windows) = windows.as_mut() {
            let scanned = self.scan_windows(text, windows, lists, depth, &mut hits);
            (scanned.features, Some(scanned.runs))
        } else {
            let f = Features::of(text);
            self.placeholders(text, &f, &mut hits);
            // A short name (letters, `_` and `-`: most keys, labels, enum values)
            // holds nothing any rule finds on its own; only a credential key
            // makes it a value (a letters-only password).
            if text.len() <= SHORT_NAME
                && !f.any(text::NOT_NAME)
                && hits.is_empty()
                && credential_key.is_none()
            {
                return hits;
            }
            let context = self.secrets.scan(text, &f, &mut hits);
            self.pii.scan(text, &f, context, &mut hits);
            (f, None)
        };
        self.pii.scan_keyed(text, key, &mut hits);
        if let Some(key) = credential_key {
            self.scan_with_key(text, key, &mut hits);
        }
        if f.any(text::NEWLINE) {
            self.scan_table(text, &mut hits);
        }
        // (A long text's URLs were checked window by window.)
        if windows.is_none() && depth == 0 && f.any(text::COLON) && text.contains("://") {
            for (start, url) in destinations::embedded_urls(text) {
                destinations::check_embedded_url(url, start, lists, &mut hits);
            }
        }
        if depth < MAX_DECODE_DEPTH && hits.len() <= MAX_FINDINGS {
            if f.any(text::FOLDABLE)
                && let Some(folded) = normalize::fold(text)
            {
                for inner in self.scan_text(&folded.text, key, lists, depth + 1) {
                    if inner.kind == FindingKind::Destination {
                        continue;
                    }
                    if let Some(span) = folded.map(&inner.span) {
                        hits.push(Hit { span, ..inner });
                    }
                }
            }
            // Variables joined where they are used: the value of each is
            // redacted where it was assigned.
            if f.any(text::EQUALS)
                && f.any(text::DOLLAR | text::PLUS)
                && let Some(expanded) = normalize::expand(text)
            {
                for inner in self.scan_text(&expanded.text, key, lists, depth + 1) {
                    if inner.kind != FindingKind::Secret || inner.placeholder {
                        continue;
                    }
                    if let Some(span) = expanded.map_hull(&inner.span) {
                        hits.push(Hit { span, ..inner });
                    }
                }
            }
            if text.len() >= 16 {
                let (hex, base64) = runs.unwrap_or_else(|| text::encoded_runs(text));
                if let Some(from) = hex {
                    self.scan_hex(text, from, lists, depth, &mut hits);
                }
                if let Some(from) = base64
                    && base64_may_hide(text)
                {
                    match &windows {
                        Some(windows) => {
                            self.scan_base64_windows(text, windows, lists, depth, &mut hits)
                        }
                        None => self.scan_base64(text, from, lists, depth, &mut hits),
                    }
                }
            }
        }
        hits.retain(|h| {
            h.placeholder
                || !vendor_examples::is_documented_example(text.get(h.span.clone()).unwrap_or(""))
        });
        resolve_overlaps(hits)
    }

    /// CSV, TSV and pipe tables: each cell under a header that names a
    /// credential or personal data (`password`, `ssn`, `date_of_birth`…)
    /// is scanned with that header as its key.
    fn scan_table(&self, text: &str, hits: &mut Vec<Hit>) {
        let mut lines = text.split_inclusive('\n');
        // The header may follow a fence or a caption: "config:\n```csv\nuser,password".
        let mut at = 0;
        let header = loop {
            let Some(line) = lines.next() else { return };
            let t = line.trim();
            let preamble = t.is_empty()
                || t.starts_with("```")
                || t.starts_with("~~~")
                || (t.ends_with(':') && !t.contains([',', '\t', '|', ';']));
            if !preamble || at > 256 {
                break line;
            }
            at += line.len();
        };
        let sep = [',', '\t', '|', ';']
            .into_iter()
            .find(|c| header.matches(*c).count() >= 1 && header.len() < 2048);
        let Some(sep) = sep else { return };
        let columns: Vec<&str> = header.trim_end().split(sep).map(str::trim).collect();
        // A header is a row of short names: `name,ssn,city`, `| user | password |`.
        let names = columns.iter().filter(|c| !c.is_empty()).count();
        if names < 2
            || columns
                .iter()
                .any(|c| c.len() > 40 || c.contains([':', '=', '"', '{', '}']))
        {
            return;
        }
        let keyed: Vec<Option<&str>> = columns
            .iter()
            .map(|c| {
                Some(*c)
                    .filter(|c| !c.is_empty() && (has_key_hint(c) || pii::names_personal_column(c)))
            })
            .collect();
        if keyed.iter().all(Option::is_none) {
            return;
        }
        at += header.len();
        for line in lines.take(10_000) {
            if hits.len() > MAX_FINDINGS {
                break;
            }
            let cells = line.trim_end_matches(['\n', '\r']).split(sep).count();
            if cells != columns.len() {
                at += line.len();
                continue;
            }
            let mut cell_start = at;
            for (i, cell) in line.trim_end_matches(['\n', '\r']).split(sep).enumerate() {
                if let Some(Some(key)) = keyed.get(i) {
                    let trimmed = cell.trim();
                    if !trimmed.is_empty() {
                        let offset = cell_start + (cell.len() - cell.trim_start().len());
                        let mut found = Vec::new();
                        self.scan_with_key(trimmed, key, &mut found);
                        self.pii.scan_keyed(trimmed, Some(key), &mut found);
                        for h in found {
                            hits.push(Hit {
                                span: h.span.start + offset..h.span.end + offset,
                                ..h
                            });
                        }
                    }
                }
                cell_start += cell.len() + sep.len_utf8();
            }
            at += line.len();
        }
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
        // A vendor rule that needs its name (`dd_api_key`, `twilio_auth_token`)
        // sees the key and the value together.
        if key.len() <= 128 && text.len() <= 4096 && self.secrets.names_a_vendor(key) {
            let synthetic = format!("{key}: {text}");
            let mut named = Vec::new();
            self.secrets
                .scan(&synthetic, &Features::of(&synthetic), &mut named);
            let offset = key.len() + 2;
            if let Some(h) = named
                .into_iter()
                .find(|h| h.span.start >= offset && !secrets::is_generic(&h.ty))
            {
                hits.push(Hit {
                    span: h.span.start - offset..h.span.end - offset,
                    ..h
                });
                return;
            }
        }
        if let Some((ty, confidence)) = secrets::secret_for_key(key, text, false) {
            hits.push(Hit::new(FindingKind::Secret, ty, whole).with_confidence(confidence));
            return;
        }
        let k: String = key
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        let only_digits_and_seps = text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ' || c == '.');
        if (k == "ssn" || k.contains("socialsecurity")) && digits == 9 && only_digits_and_seps {
            hits.push(Hit::new(FindingKind::Pii, "US_SSN", whole));
        } else if (k == "dob"
            || k.contains("birthdate")
            || k.contains("dateofbirth")
            || k.contains("birthday")
            || k == "born")
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

    /// The placeholders this engine writes (`[REDACTED:EMAIL]`): a value
    /// already redacted is reported as its type, so it is never redacted twice.
    fn placeholders(&self, text: &str, f: &Features, hits: &mut Vec<Hit>) {
        // A byte class first: building a substring searcher costs more than
        // most strings take to scan.
        if !(f.any(text::BRACKET) && text.contains("[REDACTED:")) {
            return;
        }
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

    /// Decodes the hex runs from `from` on (and gzip or zlib inside them),
    /// scans what they hide, and reports each hidden finding over the
    /// encoded bytes (exactly).
    fn scan_hex(&self, text: &str, from: usize, lists: &HostLists, depth: u8, hits: &mut Vec<Hit>) {
        for (range, decoded, stride) in normalize::hex_runs(text, from) {
            if range.len() > MAX_DECODE_LEN * 3 {
                continue;
            }
            for inner in self.scan_text(&decoded, None, lists, depth + 1) {
                if inner.kind == FindingKind::Destination || inner.placeholder {
                    continue;
                }
                // Each decoded byte is `stride` bytes of the run; the last has no space.
                let span = range.start + inner.span.start * stride
                    ..(range.start + inner.span.end * stride - (stride - 2)).min(range.end);
                hits.push(Hit { span, ..inner });
            }
        }
    }

    /// Decodes the base64 tokens from `from` on, scans what they hide, and
    /// reports each hidden finding over the whole token.
    fn scan_base64(
        &self,
        text: &str,
        from: usize,
        lists: &HostLists,
        depth: u8,
        hits: &mut Vec<Hit>,
    ) {
        for range in base64_candidates(text, from) {
            let token = &text[range.clone()];
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
                    hits.push(Hit {
                        span: range.clone(),
                        ..inner
                    });
                }
            }
        }
    }
}

/// Whether the base64 tokens of `text` are worth decoding: not in an
/// image or a file given as a data URL.
fn base64_may_hide(text: &str) -> bool {
    text.len() >= 20
        && !text.starts_with("data:image/")
        && !text.starts_with("data:application/octet-stream")
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
fn base64_candidates(text: &str, from: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let b = text.as_bytes();
    let is_b64 = text::is_base64_byte;
    let mut i = from;
    std::iter::from_fn(move || {
        // A run with its padding is at least 20 bytes long when it has 18
        // base64 bytes: shorter runs are skipped without reading them all.
        while let Some(found) = b.get(i..).and_then(|rest| text::first_base64_run(rest, 18)) {
            let start = i + found;
            i = start;
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

/// Decodes a base64 token (standard or URL-safe, padded or not) to
/// printable text, inflating gzip and zlib streams (bounded).
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
    let bytes = normalize::inflate(&bytes).unwrap_or(bytes);
    normalize::printable(bytes)
}

/// Keeps one hit per overlapping group: secrets before PII before
/// destinations, then the longest; placeholders always survive.
/// O(n log n): kept spans are disjoint, so one neighbour tells a clash.
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
            std::cmp::Reverse(a.confidence),
            secrets::is_generic(&a.ty),
            a.span.start,
        )
            .cmp(&(
                !b.placeholder,
                rank(b),
                std::cmp::Reverse(b.span.len()),
                std::cmp::Reverse(b.confidence),
                secrets::is_generic(&b.ty),
                b.span.start,
            ))
    });
    // start → end of every kept span that is not a destination.
    let mut taken: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    let mut destinations: std::collections::HashSet<(usize, usize, Cow<'static, str>)> =
        std::collections::HashSet::new();
    for h in hits {
        if h.kind == FindingKind::Destination {
            // Destinations cover the whole URL; they coexist with what is inside it.
            if destinations.insert((h.span.start, h.span.end, h.ty.clone())) {
                kept.push(h);
            }
            continue;
        }
        let clash = taken
            .range(..h.span.end.max(h.span.start + 1))
            .next_back()
            .is_some_and(|(_, &end)| end > h.span.start);
        if !clash {
            taken.insert(h.span.start, h.span.end.max(h.span.start + 1));
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

/// [`push_located`] for a text that is the suffix of its string from
/// `offset` on: spans are into `text`, and are reported into the whole string.
fn push_located_at(out: &mut Vec<Located>, path: &str, text: &str, offset: usize, hits: Vec<Hit>) {
    for mut hit in hits {
        let value = text.get(hit.span.clone()).unwrap_or("");
        let digest = digest(value);
        hit.span = hit.span.start + offset..hit.span.end + offset;
        out.push(Located {
            digest,
            finding: Finding {
                kind: hit.kind,
                finding_type: hit.ty.into_owned(),
                path: path.to_owned(),
                span: hit.span,
                placeholder: hit.placeholder,
                in_key: false,
                confidence: hit.confidence,
            },
        });
    }
}

/// The keys whose string value names a sibling (`{"name": "DB_PASSWORD", …}`), by priority.
pub(crate) const NAME_KEYS: &[&str] = &["name", "Name", "key", "Key", "parameter", "ParameterKey"];
/// The keys whose value a named sibling describes.
pub(crate) const VALUE_KEYS: &[&str] = &["value", "Value", "ParameterValue", "secret"];

/// The part of a string that may be joined with the next field: the
/// string from `offset` on (its last [`MAX_JOIN`] bytes suffice).
#[derive(Debug)]
pub(crate) struct JoinSide<'a> {
    pub(crate) text: &'a str,
    pub(crate) offset: usize,
}

impl<'a> JoinSide<'a> {
    pub(crate) fn whole(text: &'a str) -> JoinSide<'a> {
        JoinSide { text, offset: 0 }
    }
}

/// Where the last token of `a` starts (no white space in it), at most
/// [`MAX_JOIN`] bytes from its end: the part of `a` a join looks at.
fn join_tail_start(a: &str) -> usize {
    let bytes = a.as_bytes();
    let floor = a.len().saturating_sub(MAX_JOIN);
    let mut i = a.len();
    // Byte by byte while the text is ASCII (white space is then one byte).
    while i > floor {
        let c = bytes[i - 1];
        if !JOIN_STOP[usize::from(c)] {
            i -= 1;
            continue;
        }
        if !c.is_ascii() {
            return a[..i]
                .char_indices()
                .rev()
                .take_while(|(j, c)| !c.is_whitespace() && a.len() - j <= MAX_JOIN)
                .last()
                .map_or(i, |(j, _)| j);
        }
        if is_ascii_space(c) {
            break;
        }
        i -= 1;
    }
    i
}

/// Where the first token of `b` ends (white space, or [`MAX_JOIN`] bytes).
fn join_head_end(b: &str) -> usize {
    let bytes = b.as_bytes();
    for (i, &c) in bytes.iter().enumerate().take(MAX_JOIN) {
        if !JOIN_STOP[usize::from(c)] {
            continue;
        }
        if !c.is_ascii() {
            return b[i..]
                .char_indices()
                .find(|(j, c)| c.is_whitespace() || i + j >= MAX_JOIN)
                .map_or(b.len(), |(j, _)| i + j);
        }
        if is_ascii_space(c) {
            return i;
        }
    }
    b.len().min(MAX_JOIN)
}

/// The bytes a join's bound stops at: ASCII white space, and any byte of a
/// non-ASCII character (white space may then take several bytes).
static JOIN_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c >= 0x80 || is_ascii_space(c as u8);
        c += 1;
    }
    t
};

/// [`char::is_whitespace`] for an ASCII byte (it counts the vertical tab,
/// which [`u8::is_ascii_whitespace`] does not).
const fn is_ascii_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
}

/// Per-thread memo of a pure function of a key: a body repeats its keys,
/// and what a key says costs more to work out than the value takes to
/// check. `f` must depend on `key` alone.
pub(crate) type KeyMemo<V> = std::cell::RefCell<foldhash::HashMap<Box<str>, V>>;

/// `f(key)`, from `memo` when it was worked out before on this thread.
/// Keys longer than 64 bytes are not kept.
pub(crate) fn memoized<V: Copy>(
    memo: &'static std::thread::LocalKey<KeyMemo<V>>,
    key: &str,
    f: impl FnOnce(&str) -> V,
) -> V {
    /// Distinct keys kept per thread before the memo starts over. The
    /// hasher is seeded per process, and a body crafted to collide costs at
    /// most this many comparisons a key.
    const MAX_KEYS: usize = 512;
    if key.len() > 64 {
        return f(key);
    }
    memo.with(|memo| {
        if let Some(v) = memo.borrow().get(key) {
            return *v;
        }
        let v = f(key);
        let mut memo = memo.borrow_mut();
        if memo.len() >= MAX_KEYS {
            memo.clear();
        }
        memo.insert(key.into(), v);
        v
    })
}

/// The start of the suffix of `s` that joining looks at: the first char
/// boundary at or after `len - MAX_JOIN`.
pub(crate) fn join_suffix_start(s: &str) -> usize {
    let mut start = s.len().saturating_sub(MAX_JOIN);
    while start < s.len() && !s.is_char_boundary(start) {
        start += 1;
    }
    start
}

/// The last segment of a path: an array index or an object key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Index(usize),
    Key(&'a str),
}

impl Seg<'_> {
    pub(crate) fn push_to(self, path: &mut String) {
        path.push('/');
        match self {
            Seg::Index(i) => path.push_str(itoa(i, &mut [0u8; 20])),
            Seg::Key(k) => path.push_str(&escape_pointer(k)),
        }
    }
}

/// A number's text, formatted on the stack.
struct NumberText {
    buf: [u8; 64],
    len: usize,
}

impl Default for NumberText {
    fn default() -> NumberText {
        NumberText {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl NumberText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for NumberText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `a` then `b` in `buf`, when they fit.
fn concat_on_stack<'b>(buf: &'b mut [u8], a: &str, b: &str) -> Option<&'b [u8]> {
    let n = a.len() + b.len();
    if n > buf.len() {
        return None;
    }
    buf[..a.len()].copy_from_slice(a.as_bytes());
    buf[a.len()..n].copy_from_slice(b.as_bytes());
    Some(&buf[..n])
}

/// Formats an index without allocating.
pub(crate) fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
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
#[inline]
pub(crate) fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.bytes().any(|b| b == b'~' || b == b'/') {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hints_found_as_an_automaton_finds_them() {
        let ac = aho_corasick::AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(super::KEY_HINTS)
            .unwrap();
        let parts = [
            "", "pass", "PASS", "Pa", "ss", "pwd", "PwD", "secret", "SECRE", "key", "kEy", "ke",
            "token", "tok", "auth", "AUTH", "cred", "ssn", "sSn", "social", "dob", "birth", "born",
            "passport", "_", "-", ".", " ", "x", "é", "ß", "\u{212a}", "title", "author", "id",
        ];
        let mut names = Vec::new();
        for a in parts {
            for b in parts {
                for c in ["", "s", "_id", "x"] {
                    names.push(format!("{a}{b}{c}"));
                    names.push(format!("{c}{a}{b}"));
                }
            }
        }
        for name in names {
            assert_eq!(super::has_key_hint(&name), ac.is_match(&name), "{name:?}");
        }
    }

    /// `base64_candidates` as it was first written, byte by byte: the reference.
    fn base64_candidates_bytewise(text: &str, from: usize) -> Vec<Range<usize>> {
        let b = text.as_bytes();
        let is_b64 = text::is_base64_byte;
        let (mut i, mut out) = (from, Vec::new());
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
                out.push(start..end);
            }
        }
        out
    }

    #[test]
    fn base64_candidates_skip_short_runs_and_find_the_same() {
        let mut rng = fastrand::Rng::with_seed(0xb64);
        let pieces = [
            "QUJD",
            "abc",
            "XYZ",
            "0123456789",
            "-",
            "_",
            "+",
            "/",
            "=",
            "==",
            "===",
            " ",
            ".",
            "é",
            "aB",
            "QUJDREVGR0hJSktMTU5P",
            "aaaaaaaaaaaaaaaaa",
            "AAAAAAAAAAAAAAAAA",
        ];
        let mut found = 0;
        for n in 0..20_000 {
            let text: String = (0..n % 24)
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            for from in [0, text.len() / 3, text.len()] {
                if !text.is_char_boundary(from) {
                    continue;
                }
                let want = base64_candidates_bytewise(&text, from);
                found += want.len();
                let got: Vec<_> = base64_candidates(&text, from).collect();
                assert_eq!(got, want, "{text:?} from {from}");
            }
        }
        assert!(found > 5_000, "{found}");
    }

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
        assert!(types("user:4211:profile-settings", Some("key")).is_empty());
        assert!(types("pk_live_51HqLyjWDarjtT1zdp7dcXyZ", Some("api_key")).is_empty());
        assert!(types("var.db_password", Some("password")).is_empty());
        assert_eq!(types("March 04, 1983", Some("born")), ["DATE_OF_BIRTH"]);
        assert_eq!(
            types("3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", Some("dd_api_key")),
            ["DATADOG_API_KEY"]
        );
    }

    #[test]
    fn a_value_named_by_its_sibling() {
        let mut out = Vec::new();
        let body = serde_json::json!({"env": [{"name": "DB_PASSWORD", "value": "Zq8!kPm2x"}, {"name": "REGION", "value": "eu-west-1"}]});
        detector().scan_body(&body, &HostLists::default(), &mut out);
        let found: Vec<(&str, &str)> = out
            .iter()
            .map(|l| (l.finding.finding_type.as_str(), l.finding.path.as_str()))
            .collect();
        assert_eq!(found, [("PASSWORD", "/env/0/value")]);
    }

    #[test]
    fn generic_assignments_in_every_syntax() {
        for text in [
            "mysql --password Zq8!kPm2x --user app",
            "<password>Zq8!kPm2x</password>",
            "password: Zq8!kPm2x",
            "DB_PASSWORD=Zq8!kPm2x",
            "db_password = \"Zq8!kPm2x\"",
            "const dbPassword = 'Zq8!kPm2x';",
            "| password | Zq8!kPm2x |",
            "the password for staging is Zq8!kPm2x.",
            "[db]\npassword = Zq8!kPm2x\n",
            "--http-password=Zq8!kPm2x",
            // Letters only, but random, after a password key.
            "vpn password is FhJEXngthHqVfcQn",
            "password: ZaLXbJwvxkpQYAJO",
            "DB_PASSWORD=cxcWxFzIHvKNUxmV",
            // Short and foreign password keywords.
            "creds -> backup / pw: Zq8!kPm2x",
            "pwd=Zq8!kPm2x",
            "Das Passwort für den Admin ist Zq8!kPm2x",
            "la contraseña es Zq8!kPm2x",
            "mot de passe : Zq8!kPm2x",
            "senha: Zq8!kPm2x",
            "wachtwoord: Zq8!kPm2x",
            "Пароль: Zq8!kPm2x",
            "パスワード: Zq8!kPm2x",
            // Credential syntaxes.
            "define( 'DB_PASSWORD', 'Zq8!kPm2x' );",
            "machine api.acme.io\n  login wp_user\n  password Zq8!kPm2x\n",
            "docker login -u svc_backup -p Zq8!kPm2x registry.acme.io",
            "mysql -u root -p'Zq8!kPm2x' -h db.internal shop",
            "db.internal:5432:orders:sa:Zq8!kPm2x\n",
            "Login for staging: user admin, password Orbit-tango-sunny2. Don't share.",
        ] {
            assert_eq!(types(text, None), ["PASSWORD"], "{text}");
        }
        for text in [
            "redis://:Zq8kPm2xWv7@cache.internal:6379/0",
            "https://admin:DFUwRptLsbmb@grafana.acme.io/d/abc",
        ] {
            assert!(!types(text, None).is_empty(), "{text}");
        }
        assert_eq!(
            types(
                "env:\n  - name: DD_APP_KEY\n    value: \"98202dc1bde600f6f45dedeca8921d4e675b12cf\"\n",
                None
            ),
            ["GENERIC_SECRET"]
        );
        assert_eq!(
            types(
                "env:\n  - name: TWILIO_AUTH_TOKEN\n    value: \"d7b290c60efbd6a16bb550a2174b9153\"\n  - name: LOG_LEVEL\n    value: info\n",
                None
            ),
            ["GENERIC_SECRET"]
        );
        for text in [
            "password: required",
            "password: String,",
            "password = ${DB_PASSWORD}",
            "password = os.environ['DB_PASSWORD']",
            "password = (sensitive value)",
            "password: ********",
            "password: !vault |",
            "api_key = process.env.API_KEY",
            "mysql --password --user app",
            "<password></password>",
            // Fetched at run time: a call, an index, a secret-manager ARN.
            "DB_PASSWORD = get_secret(\"prod/db\")",
            "DB_PASSWORD = get_secret(\"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf\")",
            "api_key = vault.read(\"kv/data/api\")",
            "token = secrets[\"github\"]",
            // Masks printed in place of a credential.
            "API key: sk_live_\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}4242",
            "api_key: ****************1234",
            "token: ghp_xxxxxxxxxxxxxxxxxxxx1a2b",
            "password: ●●●●●●●●",
            // Words, identifiers and ports are not passwords.
            "password is PasswordInput",
            "the pw field is required",
            "docker run -u 1000 -p 8080:80 nginx",
            "psql -U app -p 5432 -h db",
            "mkdir -p build/out",
            "reset your password tomorrow",
            "the password sha256sum file",
            "password SHA-256 hashed",
            "localhost:5432:*:app:${PGPASSWORD}",
            "env:\n  - name: DB_PASSWORD\n    value: os.environ[\"DB_PASSWORD\"]\n",
            "env:\n  - name: API_TOKEN\n    value: vault.read(\"kv/api\")\n",
        ] {
            assert!(
                types(text, None).is_empty(),
                "{text}: {:?}",
                types(text, None)
            );
        }
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
    fn join_bounds_are_the_char_walks_they_replace() {
        // The walks by char the byte loops replace, kept here as the reference.
        let tail = |a: &str| {
            a.char_indices()
                .rev()
                .take_while(|(i, c)| !c.is_whitespace() && a.len() - i <= MAX_JOIN)
                .last()
                .map_or(a.len(), |(i, _)| i)
        };
        let head = |b: &str| {
            b.char_indices()
                .find(|(i, c)| c.is_whitespace() || *i >= MAX_JOIN)
                .map_or(b.len(), |(i, _)| i)
        };
        let long = "k".repeat(300);
        let long_wide = "é".repeat(200);
        let mut cases = vec![
            String::new(),
            "token".into(),
            "a b".into(),
            "ends with space ".into(),
            " starts".into(),
            "tab\there".into(),
            "vt\x0Bsplit".into(),
            "ff\x0Csplit".into(),
            "cr\rlf\nthen space x".into(),
            "one\x0Btwo three\rfour".into(),
            "a\r".into(),
            "\x0Cb".into(),
            "nbsp\u{A0}split".into(),
            "ideographic\u{3000}space".into(),
            "mixed é ü token".into(),
            "日本語トークン".into(),
            long.clone(),
            long_wide.clone(),
            format!("{long} tail"),
            format!("head {long}"),
            format!("{long_wide}x"),
            format!("x{long_wide}"),
            format!("{}\u{2003}{}", "a".repeat(250), "b".repeat(10)),
        ];
        cases.extend((0..8).map(|n| format!("{}é{}", "a".repeat(250 + n), "b".repeat(n))));
        for case in &cases {
            assert_eq!(join_tail_start(case), tail(case), "tail of {case:?}");
            assert_eq!(join_head_end(case), head(case), "head of {case:?}");
        }
    }

    #[test]
    fn hard_negatives() {
        for text in [
            // Documented test cards, with any separators.
            "In Stripe test mode use 4242 4242 4242 4242 with any CVC",
            "card 5555-5555-5555-4444",
            "amex 3782 822463 10005",
            "visa 4111111111111111",
            // Reserved example domains.
            "replace user@example.com with your address",
            "mail ops@staging.example or qa@ci.test",
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
