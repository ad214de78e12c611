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
//! - [`hex_runs`]: runs of hex digits that decode to text.
//! - [`inflate`]: gzip or zlib streams (found inside base64), bounded.
//!
//! Every decoder is bounded: fold output is at most [`MAX_FOLD_GROWTH`]
//! times its input, inflated output at most [`MAX_INFLATE`] bytes.

use std::io::Read as _;
use std::ops::Range;

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
            q @ (b'"' | b'\'' | b'`') if concatenation_len(b, i, q) > 0 => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// The length of `"` + spaces + `+` (or `.`, `..`, `||`) + spaces + `"` at `i`, or 0.
fn concatenation_len(b: &[u8], i: usize, q: u8) -> usize {
    let mut j = i + 1;
    let skip = |j: &mut usize| {
        let start = *j;
        while *j < b.len() && *j - start < 16 && b[*j].is_ascii_whitespace() {
            *j += 1;
        }
    };
    skip(&mut j);
    match (b.get(j), b.get(j + 1)) {
        (Some(b'.'), Some(b'.')) | (Some(b'|'), Some(b'|')) => j += 2,
        (Some(b'+' | b'.' | b'~'), _) => j += 1,
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
                let n = concatenation_len(b, i, c);
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

/// Runs of at least 16 hex digits (an even number, split at any other
/// byte) that decode to printable UTF-8: each run's range and its text.
pub(crate) fn hex_runs(text: &str) -> impl Iterator<Item = (Range<usize>, String)> + '_ {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            if !b[i].is_ascii_hexdigit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            let len = (i - start) & !1;
            if len < 16 || (i < b.len() && b[i].is_ascii_alphanumeric()) {
                continue;
            }
            let bytes: Vec<u8> = b[start..start + len]
                .chunks(2)
                .filter_map(|p| {
                    std::str::from_utf8(p)
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok())
                })
                .collect();
            if let Some(t) = printable(bytes) {
                return Some((start..start + len, t));
            }
        }
        None
    })
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
        assert!(fold("plain ascii text").is_none());
        assert!(fold("50% off, a + b").is_none());
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
        let runs: Vec<_> = hex_runs(&format!("x {hex} y")).collect();
        assert_eq!(runs, [(2..2 + hex.len(), "token=abc".to_owned())]);
        assert_eq!(hex_runs("e3b0c44298fc1c149afbf4c8996fb924").count(), 0);
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
