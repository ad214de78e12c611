//! Views of a text with its disguises taken off, every byte mapped back to
//! the original bytes it came from, so a finding in the view redacts
//! exactly what was sent.
//!
//! - [`fold`]: Unicode NFKC (fullwidth and other compatibility forms),
//!   invisible characters removed (zero-width, bidi controls, soft hyphen…),
//!   HTML character references, `\uXXXX` / `\u{…}` / `\xNN` escapes,
//!   C and Python octal escapes (`\163\153`), `%XX` escapes, typographic
//!   dashes (en, em, minus, figure dash, non-breaking hyphen…) as `-` and
//!   middle dots as `.` (the separators people type inside numbers), and string literals joined across a concatenation
//!   (`"sk_live_" + "abc"`, `'a' . 'b'`, `"a" || "b"`).
//! - [`expand`]: variables assigned a literal and then joined
//!   (`A=sk_live_…; B=…; "$A$B"`, `` `${p1}…` ``, `key = p1 + p2`), with
//!   each value put where it is used.
//! - [`hex_runs`]: runs of hex digits that decode to text.
//! - [`inflate`]: gzip or zlib streams (found inside base64), bounded.
//!
//! Every decoder is bounded: fold output is at most [`MAX_FOLD_GROWTH`]
//! times its input, inflated output at most [`MAX_INFLATE`] bytes.

use std::io::Read as _;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use unicode_normalization::UnicodeNormalization as _;

/// The longest text that is folded (longer strings are scanned as sent).
pub(crate) const MAX_FOLD_INPUT: usize = 512 * 1024;
/// Fold output is at most this many times its input (NFKC can expand).
pub(crate) const MAX_FOLD_GROWTH: usize = 4;
/// The most bytes one compressed stream may inflate to.
pub(crate) const MAX_INFLATE: usize = 64 * 1024;
/// …and at most this many times its compressed size.
pub(crate) const MAX_INFLATE_RATIO: usize = 32;

/// A text with its byte-to-original map.
#[derive(Debug)]
pub(crate) struct Folded {
    pub(crate) text: String,
    starts: Vec<u32>,
    ends: Vec<u32>,
}

impl Folded {
    fn with_capacity(n: usize) -> Folded {
        Folded {
            text: String::with_capacity(n),
            starts: Vec::with_capacity(n),
            ends: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, c: char, from: Range<usize>) {
        let before = self.text.len();
        self.text.push(c);
        for _ in before..self.text.len() {
            self.starts.push(from.start as u32);
            self.ends.push(from.end as u32);
        }
    }

    /// The original bytes a span of the view came from, as one range
    /// (in [`expand`]'s view, bytes of one span may come from far apart).
    pub(crate) fn map_hull(&self, span: &Range<usize>) -> Option<Range<usize>> {
        if span.start >= span.end || span.end > self.text.len() {
            return None;
        }
        let start = self.starts[span.clone()].iter().min()?;
        let end = self.ends[span.clone()].iter().max()?;
        Some(*start as usize..*end as usize)
    }

    /// The original span of a span of the view.
    pub(crate) fn map(&self, span: &Range<usize>) -> Option<Range<usize>> {
        if span.start >= span.end || span.end > self.text.len() {
            return None;
        }
        Some(self.starts[span.start] as usize..self.ends[span.end - 1] as usize)
    }
}

/// Whether `c` is invisible: zero-width, joiners, bidi controls, soft hyphen,
/// BOM, variation selectors and tags.
pub(crate) fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}')
}

/// A cheap test: could [`fold`] change anything in `text`?
pub(crate) fn may_fold(text: &str) -> bool {
    let b = text.as_bytes();
    let lists = joins_lists(text);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0x80.. => return true,
            b'&' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'#') =>
            {
                return true;
            }
            b'\\' if matches!(b.get(i + 1), Some(b'u' | b'x' | b'U' | b'0'..=b'7')) => return true,
            b'%' if b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit) =>
            {
                return true;
            }
            q @ (b'"' | b'\'' | b'`') if concatenation_len(b, i, q, lists) > 0 => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Whether the text joins a list of literals into one string (Python's
/// `''.join([…])`, JavaScript's `[…].join('')`): its items' commas then
/// concatenate too.
fn joins_lists(text: &str) -> bool {
    text.contains("join(")
}

/// The length of `"` + spaces + `+` (or `.`, `..`, `||`, or nothing but
/// white space: Python's implicit concatenation; or `,` when `lists`) +
/// spaces + `"` at `i`, or 0.
fn concatenation_len(b: &[u8], i: usize, q: u8, lists: bool) -> usize {
    let mut j = i + 1;
    let skip = |j: &mut usize| {
        let start = *j;
        while *j < b.len() && *j - start < 16 && b[*j].is_ascii_whitespace() {
            *j += 1;
        }
    };
    skip(&mut j);
    let spaced = j > i + 1;
    match (b.get(j), b.get(j + 1)) {
        (Some(b'.'), Some(b'.')) | (Some(b'|'), Some(b'|')) => j += 2,
        (Some(b'+' | b'.' | b'~'), _) => j += 1,
        (Some(b','), _) if lists => j += 1,
        // `"sk_live_" "…"`: adjacent literals (Python, C) are one string.
        (Some(c), _) if *c == q && spaced && q != b'`' => return j + 1 - i,
        _ => return 0,
    }
    skip(&mut j);
    if b.get(j) == Some(&q) { j + 1 - i } else { 0 }
}

const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", ' '),
    ("commat", '@'),
    ("period", '.'),
    ("colon", ':'),
    ("sol", '/'),
    ("lowbar", '_'),
    ("hyphen", '-'),
    ("dash", '-'),
    ("equals", '='),
    ("plus", '+'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("excl", '!'),
    ("quest", '?'),
    ("lpar", '('),
    ("rpar", ')'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("comma", ','),
    ("semi", ';'),
    ("ast", '*'),
    ("bsol", '\\'),
    ("verbar", '|'),
    ("grave", '`'),
    ("tilde", '~'),
    ("Hat", '^'),
    ("shy", '\u{00AD}'),
    ("zwj", '\u{200D}'),
    ("zwnj", '\u{200C}'),
];

fn hex_value(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 6 {
        return None;
    }
    s.iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + (c as char).to_digit(16)?))
}

/// An HTML character reference at `i` (`&#64;`, `&#x40;`, `&commat;`): its
/// character and length.
fn entity(b: &[u8], i: usize) -> Option<(char, usize)> {
    let end = (i + 2..b.len().min(i + 12)).find(|&j| b[j] == b';')?;
    let body = &b[i + 1..end];
    let c = if let Some(num) = body.strip_prefix(b"#") {
        let v = match num.first() {
            Some(b'x' | b'X') => hex_value(&num[1..])?,
            _ => std::str::from_utf8(num).ok()?.parse::<u32>().ok()?,
        };
        char::from_u32(v)?
    } else {
        let name = std::str::from_utf8(body).ok()?;
        NAMED.iter().find(|(n, _)| *n == name)?.1
    };
    Some((c, end + 1 - i))
}

/// A string escape at `i` (`\u0041`, `\u{41}`, `\x41`, `\U00000041`):
/// its character and length. Surrogate pairs are joined.
fn escape(b: &[u8], i: usize) -> Option<(char, usize)> {
    let hex_at = |from: usize, n: usize| b.get(from..from + n).and_then(hex_value);
    match b.get(i + 1)? {
        b'u' if b.get(i + 2) == Some(&b'{') => {
            let close = (i + 3..b.len().min(i + 10)).find(|&j| b[j] == b'}')?;
            Some((char::from_u32(hex_value(&b[i + 3..close])?)?, close + 1 - i))
        }
        b'u' => {
            let v = hex_at(i + 2, 4)?;
            if (0xD800..0xDC00).contains(&v) {
                if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                    let lo = hex_at(i + 8, 4)?;
                    if (0xDC00..0xE000).contains(&lo) {
                        let c = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                        return Some((char::from_u32(c)?, 12));
                    }
                }
                return None;
            }
            Some((char::from_u32(v)?, 6))
        }
        b'U' => Some((char::from_u32(hex_at(i + 2, 8)?)?, 10)),
        b'x' => Some((char::from_u32(hex_at(i + 2, 2)?)?, 4)),
        b'0'..=b'7' => octal(b, i),
        _ => None,
    }
}

/// A C or Python octal escape at `i`: one to three octal digits, at most
/// `\377`. A lone `\0` stays as sent (a NUL terminator is no disguise).
fn octal(b: &[u8], i: usize) -> Option<(char, usize)> {
    let digits = b[i + 1..]
        .iter()
        .take(3)
        .take_while(|c| matches!(c, b'0'..=b'7'))
        .count();
    let v = b[i + 1..i + 1 + digits]
        .iter()
        .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
    if v > 0o377 || (digits == 1 && v == 0) {
        return None;
    }
    Some((char::from_u32(v)?, digits + 1))
}

/// The ASCII separator a typographic one stands for inside a number:
/// hyphens and dashes (U+2010–U+2015, the minus sign U+2212, small and
/// fullwidth hyphen-minus) are `-`; a middle dot (U+00B7, U+2027, U+2219,
/// U+30FB) is `.`.
pub(crate) fn ascii_separator(c: char) -> Option<char> {
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => Some('-'),
        '\u{00B7}' | '\u{2027}' | '\u{2219}' | '\u{30FB}' | '\u{FF65}' => Some('.'),
        _ => None,
    }
}

/// The text with every disguise of the list above removed, or `None` when
/// nothing changes (or the text is too long to fold).
pub(crate) fn fold(text: &str) -> Option<Folded> {
    if text.len() > MAX_FOLD_INPUT || !may_fold(text) {
        return None;
    }
    let b = text.as_bytes();
    let lists = joins_lists(text);
    let limit = text.len() * MAX_FOLD_GROWTH + 16;
    let mut out = Folded::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        if out.text.len() > limit {
            return None;
        }
        let c = b[i];
        if c >= 0x80 {
            let ch = text[i..].chars().next()?;
            let n = ch.len_utf8();
            if invisible(ch) {
                changed = true;
            } else if let Some(sep) = ascii_separator(ch) {
                out.push(sep, i..i + n);
                changed = true;
            } else {
                let before = out.text.len();
                for folded in std::iter::once(ch).nfkc() {
                    if !invisible(folded) {
                        out.push(folded, i..i + n);
                    }
                }
                changed |= out.text[before..] != text[i..i + n];
            }
            i += n;
            continue;
        }
        let decoded = match c {
            b'&' => entity(b, i),
            b'\\' => escape(b, i),
            b'%' => b
                .get(i + 1..i + 3)
                .and_then(hex_value)
                .filter(|v| *v < 0x80)
                .and_then(char::from_u32)
                .map(|c| (c, 3)),
            b'"' | b'\'' | b'`' => {
                let n = concatenation_len(b, i, c, lists);
                if n > 0 {
                    // The two literals become one: drop the quotes and the operator.
                    changed = true;
                    i += n;
                    continue;
                }
                None
            }
            _ => None,
        };
        match decoded {
            Some((ch, n)) => {
                changed = true;
                if !invisible(ch) {
                    for folded in std::iter::once(ch).nfkc() {
                        out.push(folded, i..i + n);
                    }
                }
                i += n;
            }
            None => {
                out.push(c as char, i..i + 1);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// `NAME = "literal"`, `NAME='literal'`, `NAME=literal` (shell, `.env`,
/// JavaScript, Python, Go's `:=`), optionally after `export`, `const`,
/// `let`, `var`, `local` or `readonly`.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?m)(?:^|[\s;(,{])(?:(?:export|const|let|var|local|readonly)\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]{0,63})\s*:?=\s*(?:"(?P<dq>[^"\n$`\\]{4,256})"|'(?P<sq>[^'\n\\]{4,256})'|(?P<bare>[^\s"'`;$\\(){}\[\]]{4,256}))"#,
    )
    .unwrap_or_else(|e| panic!("assignment: {e}"))
});

/// The most variables one text's view expands.
const MAX_VARIABLES: usize = 256;
/// The most uses of variables one text's view expands.
const MAX_USES: usize = 64;
/// How much of the text around an expanded use its view keeps: enough for
/// a credential's name before it and the rest of a token after it.
const USE_CONTEXT: usize = 256;

/// Only the parts of `view` within [`USE_CONTEXT`] bytes of a use, one
/// line each, so that a text with a few variables is not scanned twice
/// whole: the view of a large text is at most `MAX_USES` windows.
fn around(view: &Folded, uses: &[Range<usize>]) -> Folded {
    let t = &view.text;
    let floor = |mut i: usize| {
        while i > 0 && !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let ceil = |mut i: usize| {
        while i < t.len() && !t.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    let mut windows: Vec<Range<usize>> = Vec::new();
    for u in uses {
        let w =
            floor(u.start.saturating_sub(USE_CONTEXT))..ceil((u.end + USE_CONTEXT).min(t.len()));
        match windows.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => windows.push(w),
        }
    }
    let mut out = Folded::with_capacity(windows.iter().map(|w| w.len() + 1).sum());
    for w in windows {
        // A line break between windows: no token runs across it.
        if let (Some(&start), Some(&end)) = (view.starts.get(w.start), view.ends.get(w.start))
            && !out.text.is_empty()
        {
            out.push('\n', start as usize..end as usize);
        }
        out.text.push_str(&t[w.clone()]);
        out.starts.extend_from_slice(&view.starts[w.clone()]);
        out.ends.extend_from_slice(&view.ends[w]);
    }
    out
}

/// The text with each use of a variable assigned a literal earlier in it
/// (`$NAME`, `${NAME}`, or a chain `NAME + NAME…` of such variables)
/// replaced by that literal; every byte of the view maps back to where it
/// was written. `None` when nothing is expanded.
pub(crate) fn expand(text: &str) -> Option<Folded> {
    if text.len() > MAX_FOLD_INPUT
        || !text.contains('=')
        || !(text.contains('$') || text.contains('+'))
    {
        return None;
    }
    let mut vars: Vec<(&str, Range<usize>)> = Vec::new();
    for caps in ASSIGNMENT.captures_iter(text).take(MAX_VARIABLES) {
        let (Some(name), Some(value)) = (
            caps.name("name"),
            caps.name("dq")
                .or_else(|| caps.name("sq"))
                .or_else(|| caps.name("bare")),
        ) else {
            continue;
        };
        vars.push((name.as_str(), value.range()));
    }
    if vars.is_empty() {
        return None;
    }
    // The last assignment before a use wins; a use before any assignment is left.
    let lookup = |name: &str, at: usize| {
        vars.iter()
            .rev()
            .find(|(n, r)| *n == name && r.end <= at)
            .map(|(_, r)| r.clone())
    };
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let ident_at = |i: usize| {
        let mut j = i;
        while j < b.len() && ident(b[j]) {
            j += 1;
        }
        j
    };
    let limit = text.len() * MAX_FOLD_GROWTH + 16;
    let mut out = Folded::with_capacity(text.len());
    let mut changed = false;
    // Where the view holds an expanded value (its own coordinates).
    let mut uses: Vec<Range<usize>> = Vec::new();
    let push_literal = |out: &mut Folded, r: &Range<usize>| {
        for (k, c) in text[r.clone()].char_indices() {
            let at = r.start + k;
            out.push(c, at..at + c.len_utf8());
        }
    };
    let mut i = 0;
    while i < b.len() {
        if out.text.len() > limit {
            return None;
        }
        // `$NAME` or `${NAME}`.
        if b[i] == b'$' {
            let braced = b.get(i + 1) == Some(&b'{');
            let start = i + 1 + usize::from(braced);
            let end = ident_at(start);
            let close = if braced {
                b.get(end) == Some(&b'}')
            } else {
                true
            };
            if end > start
                && close
                && uses.len() < MAX_USES
                && let Some(r) = lookup(&text[start..end], i)
            {
                let at = out.text.len();
                push_literal(&mut out, &r);
                uses.push(at..out.text.len());
                changed = true;
                i = end + usize::from(braced);
                continue;
            }
        }
        // `p1 + p2 (+ p3…)`: every operand a variable.
        if (b[i].is_ascii_alphabetic() || b[i] == b'_') && (i == 0 || !ident(b[i - 1])) {
            let mut chain = Vec::new();
            let mut j = i;
            loop {
                let end = ident_at(j);
                let Some(r) = lookup(&text[j..end], i) else {
                    break;
                };
                chain.push(r);
                let mut k = end;
                while k < b.len() && b[k] == b' ' {
                    k += 1;
                }
                if b.get(k) != Some(&b'+') {
                    j = end;
                    break;
                }
                k += 1;
                while k < b.len() && b[k] == b' ' {
                    k += 1;
                }
                if !b
                    .get(k)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                {
                    j = end;
                    break;
                }
                j = k;
            }
            if chain.len() >= 2 && uses.len() < MAX_USES {
                let at = out.text.len();
                for r in &chain {
                    push_literal(&mut out, r);
                }
                uses.push(at..out.text.len());
                changed = true;
                i = j;
                continue;
            }
        }
        let c = text[i..].chars().next()?;
        out.push(c, i..i + c.len_utf8());
        i += c.len_utf8();
    }
    if !changed {
        return None;
    }
    Some(around(&out, &uses))
}

/// Runs of hex that decode to printable UTF-8: at least 16 digits
/// (an even number, split at any other byte), or at least 8 byte pairs
/// written apart by single spaces (`73 6B 5F 6C …`, a hex dump's bytes).
/// Each run's range, its text, and the stride: how many bytes of the run
/// one decoded byte takes (2, or 3 with the spaces).
pub(crate) fn hex_runs(
    text: &str,
    from: usize,
) -> impl Iterator<Item = (Range<usize>, String, usize)> + '_ {
    hex_runs_reading(text, from, true)
}

/// [`hex_runs`], skipping what holds no run (`skip`) or reading every byte
/// (the reference the skipping is tested against).
fn hex_runs_reading(
    text: &str,
    from: usize,
    skip: bool,
) -> impl Iterator<Item = (Range<usize>, String, usize)> + '_ {
    let b = text.as_bytes();
    let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
    let byte = |i: usize| Some(hex_digit(*b.get(i)?)? << 4 | hex_digit(*b.get(i + 1)?)?);
    let mut i = from;
    std::iter::from_fn(move || {
        while i < b.len() {
            if !b[i].is_ascii_hexdigit() {
                // Past a byte that is neither a hex digit nor a space, to
                // the next run of them long enough to hold a hex run: prose
                // has a hex letter every few bytes, and read one by one each
                // costs a branch the processor cannot foresee.
                i = if skip && b[i] != b' ' {
                    next_hex_segment(b, i + 1)
                } else {
                    i + 1
                };
                continue;
            }
            let start = i;
            // Pairs apart by spaces: `hh hh hh …`.
            if hex(i + 1) && b.get(i + 2) == Some(&b' ') && hex(i + 3) && hex(i + 4) {
                let mut j = i;
                let mut bytes = Vec::new();
                while hex(j) && hex(j + 1) && !hex(j + 2) {
                    bytes.extend(byte(j));
                    if b.get(j + 2) == Some(&b' ') && hex(j + 3) && hex(j + 4) && !hex(j + 5) {
                        j += 3;
                    } else {
                        j += 2;
                        break;
                    }
                }
                i = j.max(i + 1);
                if bytes.len() >= 8
                    && let Some(t) = printable(bytes)
                {
                    return Some((start..j, t, 3));
                }
                continue;
            }
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            let len = (i - start) & !1;
            if len < 16 || (i < b.len() && b[i].is_ascii_alphanumeric()) {
                continue;
            }
            // Most long hex runs are digests and ids, whose bytes are not
            // UTF-8: told on the stack, before anything is allocated.
            let mut stack = [0u8; 64];
            if len / 2 <= stack.len() {
                for (k, at) in (start..start + len).step_by(2).enumerate() {
                    stack[k] = byte(at).unwrap_or(0);
                }
                if std::str::from_utf8(&stack[..len / 2]).is_err() {
                    continue;
                }
            }
            let bytes: Vec<u8> = (start..start + len).step_by(2).filter_map(byte).collect();
            if let Some(t) = printable(bytes) {
                return Some((start..start + len, t, 2));
            }
        }
        None
    })
}

/// Where the first run of at least 16 hex digits and spaces starts at or
/// after `from` (`b.len()` when there is none), `b[from - 1]` being neither.
/// A shorter run holds no run [`hex_runs`] reports (a plain run has 16
/// digits, a spaced one 8 pairs): those are skipped, 16 bytes at a time
/// where a byte outside the class ends every run through it.
fn next_hex_segment(b: &[u8], from: usize) -> usize {
    let class = |c: u8| c.is_ascii_hexdigit() || c == b' ';
    let mut k = from;
    while k + 16 <= b.len() {
        if !class(b[k + 15]) {
            k += 16;
            continue;
        }
        // The run through `k + 15`: it starts at `k` at the earliest
        // (`b[k - 1]` is outside the class).
        let mut start = k + 15;
        while start > k && class(b[start - 1]) {
            start -= 1;
        }
        let mut end = k + 16;
        while end < b.len() && class(b[end]) {
            end += 1;
        }
        if end - start >= 16 {
            return start;
        }
        // `b[end]` is outside the class.
        k = end + 1;
    }
    b.len()
}

/// The value of one hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes that are UTF-8 text, nine tenths printable, at least 8 bytes long.
pub(crate) fn printable(bytes: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(bytes).ok()?;
    let total = text.chars().count();
    let shown = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (text.len() >= 8 && shown * 10 >= total * 9).then_some(text)
}

/// The inflated bytes of a gzip or zlib stream, bounded; `None` when the
/// bytes are neither or the stream is corrupt.
pub(crate) fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    let limit = MAX_INFLATE.min(bytes.len().saturating_mul(MAX_INFLATE_RATIO)) as u64;
    let mut out = Vec::new();
    let read = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .take(limit)
            .read_to_end(&mut out)
    } else if bytes.len() > 2
        && bytes[0] & 0x0f == 8
        && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0
    {
        flate2::read::ZlibDecoder::new(bytes)
            .take(limit)
            .read_to_end(&mut out)
    } else {
        return None;
    };
    // A truncated stream still yields what was read: a bomb's first 64 KiB are scanned.
    match read {
        Ok(_) => Some(out),
        Err(_) if !out.is_empty() => Some(out),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_runs_skip_nothing_a_byte_by_byte_reading_finds() {
        let pieces = [
            "a",
            "b",
            "f",
            "0",
            "9",
            "F",
            " ",
            "  ",
            "g",
            "z",
            "é",
            "\n",
            "-",
            "x",
            "ab",
            "7e",
            "73 6b 5f 6c 69 76 65 5f",
            "48656c6c6f2c20776f726c6421",
            "cafe bead",
            "e3b0c442",
            "the bad cafe",
            "0123456789abcdef",
        ];
        let mut rng = fastrand::Rng::with_seed(0x4e58_2d72);
        for n in 0..20_000 {
            let text: String = (0..n % 40)
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let from = if text.is_empty() {
                0
            } else {
                rng.usize(..text.len())
            };
            let from = (0..=from)
                .rev()
                .find(|&f| text.is_char_boundary(f))
                .unwrap_or(0);
            assert_eq!(
                hex_runs(&text, from).collect::<Vec<_>>(),
                hex_runs_reading(&text, from, false).collect::<Vec<_>>(),
                "{text:?} from {from}"
            );
        }
    }

    fn view(text: &str) -> String {
        fold(text)
            .map(|f| f.text)
            .unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn folds_each_disguise() {
        assert_eq!(view("ｓｋ＿ｌｉｖｅ"), "sk_live");
        assert_eq!(view("gh\u{200B}p_a\u{00AD}b\u{202E}c"), "ghp_abc");
        assert_eq!(view("a&#64;b&#x2e;io &amp; &commat;"), "a@b.io & @");
        assert_eq!(view(r"\u0073\u006b \x41 \u{1F600}"), "sk A 😀");
        assert_eq!(view(r"\ud83d\ude00"), "😀");
        assert_eq!(view("k=%73%6B"), "k=sk");
        // C / Python octal escapes; a lone `\0` is a terminator, not a disguise.
        assert_eq!(view(r"\163\153\137\61"), "sk_1");
        assert_eq!(view(r"a\0b \400"), r"a\0b \400");
        // Typographic dashes and middle dots are the separators they stand for.
        assert_eq!(view("527 \u{2013} 25 \u{2014} 8018"), "527 - 25 - 8018");
        assert_eq!(view("4217\u{2212}7964\u{2011}9763"), "4217-7964-9763");
        assert_eq!(view("(361)590\u{00B7}1864"), "(361)590.1864");
        assert_eq!(
            view(r#"x = "sk_live_" + "abc" + 'd' . 'e'"#),
            r#"x = "sk_live_abc" + 'de'"#
        );
        assert_eq!(
            view("KEY = (\n    \"sk_live_ab\"\n    \"cd\"\n)"),
            "KEY = (\n    \"sk_live_abcd\"\n)"
        );
        assert_eq!(
            view("''.join(['sk_', 'live_', 'x'])"),
            "''.join(['sk_live_x'])"
        );
        assert_eq!(view("['a', 'b'].join('')"), "['ab'].join('')");
        // Without a join, a list's items stay apart.
        assert!(fold("['a', 'b']").is_none());
        assert!(fold("plain ascii text").is_none());
        assert!(fold("50% off, a + b").is_none());
    }

    #[test]
    fn spaced_hex_bytes_decode() {
        let spaced: Vec<String> = b"sk_live_abc".iter().map(|b| format!("{b:02X}")).collect();
        let text = format!("dump: {} end", spaced.join(" "));
        let runs: Vec<_> = hex_runs(&text, 0).collect();
        assert_eq!(runs.len(), 1);
        let (range, decoded, stride) = &runs[0];
        assert_eq!((decoded.as_str(), *stride), ("sk_live_abc", 3));
        assert_eq!(&text[range.clone()], spaced.join(" "));
        // Random bytes (a dump of a binary) decode to nothing printable.
        assert_eq!(
            hex_runs("0000230  07 02 79 58 d2 ff 01 9c 00 13 e4 aa", 0).count(),
            0
        );
    }

    #[test]
    fn variables_are_expanded_where_used() {
        let text = "A=sk_live_abc\nB=defghijk\nexport KEY=\"$A$B\"\n";
        let e = expand(text).unwrap();
        assert!(e.text.contains("KEY=\"sk_live_abcdefghijk\""), "{}", e.text);
        let at = e.text.find("sk_live_abcdefghijk").unwrap();
        let span = e.map_hull(&(at..at + 19)).unwrap();
        // The hull covers both definitions.
        assert_eq!(&text[span], "sk_live_abc\nB=defghijk");
        let js = "const p1 = 'SG.abcd';\nconst key = `${p1}.efgh`;";
        assert!(expand(js).unwrap().text.contains("`SG.abcd.efgh`"));
        let plus = "a1 = 'sk_live_'\nb2 = 'xyz123'\nkey = a1 + b2";
        assert!(expand(plus).unwrap().text.ends_with("key = sk_live_xyz123"));
        // A large text's view keeps only the neighbourhood of each use.
        let big = format!(
            "A=sk_live_abc\n{}\nB=defghijk\nK=\"$A$B\"\n{}",
            "x ".repeat(5000),
            "y ".repeat(5000)
        );
        let e = expand(&big).unwrap();
        assert!(e.text.len() < 1200, "{}", e.text.len());
        let at = e.text.find("sk_live_abcdefghijk").unwrap();
        let span = e.map_hull(&(at..at + 19)).unwrap();
        assert!(big[span].starts_with("sk_live_abc\n") && big.len() > 20_000);
        // A use before the assignment, or of an unknown name, stays.
        assert!(expand("echo $A; A=sk_live_abc").is_none());
        assert!(expand("total = price + tax").is_none());
    }

    #[test]
    fn spans_map_back_to_the_original_bytes() {
        let text = "key: &#115;k\u{200B}_li&#x76;e";
        let f = fold(text).unwrap();
        assert_eq!(f.text, "key: sk_live");
        let span = f.map(&(5..12)).unwrap();
        assert_eq!(&text[span], "&#115;k\u{200B}_li&#x76;e");
        let text = r#""ab" + "cd""#;
        let f = fold(text).unwrap();
        assert_eq!(f.text, r#""abcd""#);
        assert_eq!(&text[f.map(&(1..5)).unwrap()], r#"ab" + "cd"#);
        assert_eq!(f.map(&(3..3)), None);
        assert_eq!(f.map(&(3..99)), None);
    }

    #[test]
    fn hex_and_inflate_are_bounded() {
        let hex: String = "token=abc".bytes().map(|b| format!("{b:02x}")).collect();
        let runs: Vec<_> = hex_runs(&format!("x {hex} y"), 0)
            .map(|(r, t, _)| (r, t))
            .collect();
        assert_eq!(runs, [(2..2 + hex.len(), "token=abc".to_owned())]);
        assert_eq!(hex_runs("e3b0c44298fc1c149afbf4c8996fb924", 0).count(), 0);
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b'a'; 1024 * 1024]).unwrap();
        let bomb = e.finish().unwrap();
        let out = inflate(&bomb).unwrap();
        assert!(out.len() <= MAX_INFLATE, "{}", out.len());
        assert_eq!(inflate(b"not compressed"), None);
        // Escapes, entities and folding never panic on truncated input.
        for t in [
            "&#",
            "&#x",
            "\\u",
            "\\u{",
            "\\ud800",
            "%",
            "%4",
            "\"  +",
            "&#1114112;",
            "\\",
            "\\7",
            "\\77",
            "\\0",
        ] {
            let _ = fold(t);
        }
    }
}
