//! Personal data: emails, phone numbers, payment cards, US SSNs, IBANs,
//! and — where the context says so — dates of birth and passport numbers.

use regex::Regex;

use super::secrets::Context;
use super::text::{bounded, luhn_valid};
use super::{Hit, captures_each};
use crate::engine::{Confidence, FindingKind as Kind};

/// A date as people write it: `1983-03-04`, `04/03/1983`, `4.03.1983`,
/// `March 04, 1983`, `28 May 1998`, `Mar 4 1983`, `4th of March 1983`.
pub(crate) const DATE: &str = r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2,4}|[0-9]{1,2}(?:st|nd|rd|th)?\.?(?: of)? (?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,? [0-9]{4}|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? [0-9]{1,2}(?:st|nd|rd|th)?,? [0-9]{4}|[0-9]{1,2}(?:er|\.|º|°)?(?: de)? (?i:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|januar|jänner|februar|märz|maerz|april|juni|juli|august|oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro|dezembro|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|januari|februari|maart|mei|augustus)(?: de)?,? [0-9]{4})";

/// The latest year a date beside a name is taken for a date of birth.
const LATEST_BIRTH_YEAR: u32 = 2012;

pub(crate) struct PiiRules {
    email: Regex,
    email_obfuscated: Regex,
    email_spelled: Regex,
    ssn_slashes: Regex,
    date: Regex,
    name: Regex,
    ssn_bare: Regex,
    phone_intl: Regex,
    phone_national: Regex,
    ssn: Regex,
    iban: Regex,
    dob: Regex,
    passport: Regex,
}

impl PiiRules {
    pub(crate) fn new() -> PiiRules {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("pii rule: {e}"));
        PiiRules {
            email: re(
                r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}",
            ),
            email_obfuscated: re(
                r"(?i)[a-z0-9][a-z0-9._%+\-]{0,63}\s*[\[\(\{<]\s*at\s*[\]\)\}>]\s*[a-z0-9][a-z0-9\-]{0,62}(?:\s*(?:[\[\(\{<]\s*dot\s*[\]\)\}>]|\.)\s*[a-z0-9\-]{1,63})+",
            ),
            // `jane.doe at acme dot io`, `JANE AT ACME DOT IO`, `jane @ acme . io`,
            // ending in a common top-level domain.
            email_spelled: re(&format!(
                r"(?i)\b[a-z0-9][a-z0-9._%+\-]{{0,63}}(?:\s+at\s+|\s*@\s+|\s+@\s*)[a-z0-9][a-z0-9\-]{{0,62}}(?:(?:\s+dot\s+|\s*\.\s+|\s+\.\s*|\.)[a-z0-9\-]{{1,63}})*?(?:\s+dot\s+|\s*\.\s+|\s+\.\s*|\.)(?:{TLDS})\b"
            )),
            ssn_slashes: re(r"\b[0-9]{3}/[0-9]{2}/[0-9]{4}\b"),
            date: re(DATE),
            name: re(r"\b[A-Z][a-z]+,? [A-Z][a-z]+\b"),
            ssn_bare: re(r"[0-9]{9}"),
            phone_intl: re(r"\+[1-9][0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,5}"),
            phone_national: re(
                r"\(?[2-9][0-9]{2}\)?[ .\-][0-9]{3}[ .\-][0-9]{4}|0[1-9][0-9]{1,3}[ \-][0-9]{3,4}[ \-][0-9]{3,4}|0[1-9][0-9]{3} [0-9]{6}|0[1-9](?:[ .][0-9]{2}){4}",
            ),
            ssn: re(
                r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}\.[0-9]{2}\.[0-9]{4}",
            ),
            iban: re(r"[A-Z]{2}[0-9]{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,3})?"),
            dob: re(&format!(
                r#"(?i:\bdob\b|d\.o\.b\.?|date[ _\-]?of[ _\-]?birth|birth[ _\-]?date|birthday|born(?: on)?|n[ée]e? le|geboren(?: am| op)?|nacid[oa](?: el)?|nascid[oa](?: em)?|nat[oa] il|fecha de nacimiento|date de naissance|geburtsdatum|data de nascimento|data di nascita)["']?\s*[:=]?\s*["']?(?P<v>{DATE})"#
            )),
            passport: re(
                r#"(?i:passport)(?:[ _\-]?(?i:no\.?|number|num|nr|#))?["']?\s*[:=#]?\s*["']?(?P<v>[A-Z0-9]{6,9})"#,
            ),
        }
    }

    /// Every piece of personal data in `text`.
    pub(crate) fn scan(&self, text: &str, context: Context, hits: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        if memchr_at(bytes) {
            for m in self.email.find_iter(text) {
                if hits.len() > super::MAX_FINDINGS {
                    break;
                }
                if email_plausible(m.as_str())
                    && bounded(text, m.start(), m.end())
                    && !url_userinfo(text, m.start())
                {
                    hits.push(Hit::new(Kind::Pii, "EMAIL", m.range()));
                }
            }
        }
        if bracketed_at(bytes) {
            for m in self
                .email_obfuscated
                .find_iter(text)
                .take(super::MAX_FINDINGS + 1)
            {
                if bounded(text, m.start(), m.end()) {
                    hits.push(
                        Hit::new(Kind::Pii, "EMAIL", m.range()).with_confidence(Confidence::Low),
                    );
                }
            }
        }
        if spelled_at(text) {
            for m in self
                .email_spelled
                .find_iter(text)
                .take(super::MAX_FINDINGS + 1)
            {
                if bounded(text, m.start(), m.end()) && !overlaps(hits, &m.range()) {
                    hits.push(
                        Hit::new(Kind::Pii, "EMAIL", m.range()).with_confidence(Confidence::Low),
                    );
                }
            }
        }
        let shape = Shape::of(bytes);
        {
            if context.date_of_birth {
                for caps in captures_each(&self.dob, text) {
                    if let Some(v) = caps.name("v") {
                        hits.push(Hit::new(Kind::Pii, "DATE_OF_BIRTH", v.range()));
                    }
                }
            }
            if shape.year {
                self.scan_dates_beside_names(text, hits);
            }
            if context.ssn {
                for m in self.ssn_slashes.find_iter(text) {
                    let v = m.as_str();
                    if ssn_valid(&v[..3], &v[4..6], &v[7..]) {
                        hits.push(Hit::new(Kind::Pii, "US_SSN", m.range()));
                    }
                }
                for m in self.ssn_bare.find_iter(text) {
                    let v = m.as_str();
                    if bounded(text, m.start(), m.end()) && ssn_valid(&v[..3], &v[3..5], &v[5..]) {
                        hits.push(Hit::new(Kind::Pii, "US_SSN", m.range()));
                    }
                }
            }
            if context.passport {
                for caps in captures_each(&self.passport, text) {
                    if let Some(v) = caps
                        .name("v")
                        .filter(|v| v.as_str().bytes().any(|b| b.is_ascii_digit()))
                    {
                        hits.push(Hit::new(Kind::Pii, "PASSPORT_NUMBER", v.range()));
                    }
                }
            }
        }
        {
            // Cards, SSNs and phone numbers are runs of digits and separators:
            // the shape pass found those windows; each pattern runs only on
            // the windows with enough digits for it.
            for w in &shape.windows {
                if hits.len() > super::MAX_FINDINGS {
                    break;
                }
                let sub = &text[w.range.clone()];
                let at = |r: std::ops::Range<usize>| r.start + w.range.start..r.end + w.range.start;
                let ssn = if w.digits >= 9 {
                    self.ssn.find_iter(sub).collect()
                } else {
                    Vec::new()
                };
                for m in ssn {
                    let span = at(m.range());
                    let mut parts = m.as_str().split(['-', ' ', '.']);
                    let (Some(a), Some(g), Some(n)) = (parts.next(), parts.next(), parts.next())
                    else {
                        continue;
                    };
                    if bounded(text, span.start, span.end) && ssn_valid(a, g, n) {
                        hits.push(Hit::new(Kind::Pii, "US_SSN", span));
                    }
                }
                if w.digits >= 14 {
                    for span in card_candidates(sub) {
                        let span = at(span);
                        if bounded(text, span.start, span.end) && !overlaps(hits, &span) {
                            hits.push(
                                Hit::new(Kind::Pii, "PAYMENT_CARD", span)
                                    .with_confidence(Confidence::Verified),
                            );
                        }
                    }
                }
                let intl = if w.plus {
                    self.phone_intl.find_iter(sub).collect()
                } else {
                    Vec::new()
                };
                for m in intl {
                    let span = balanced(text, at(m.range()));
                    let n = text[span.clone()]
                        .bytes()
                        .filter(u8::is_ascii_digit)
                        .count();
                    if (8..=15).contains(&n)
                        && bounded(text, span.start, span.end)
                        && !overlaps(hits, &span)
                    {
                        hits.push(Hit::new(Kind::Pii, "PHONE_NUMBER", span));
                    }
                }
                let national = if w.digits >= 9 {
                    self.phone_national.find_iter(sub).collect()
                } else {
                    Vec::new()
                };
                for m in national {
                    let span = at(m.range());
                    let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                    // A trunk-prefixed national number has 10 or 11 digits.
                    if m.as_str().starts_with('0') && !(10..=11).contains(&digits) {
                        continue;
                    }
                    if bounded(text, span.start, span.end)
                        && !overlaps(hits, &span)
                        && !preceded_by_digitish(text, span.start)
                    {
                        hits.push(Hit::new(Kind::Pii, "PHONE_NUMBER", span));
                    }
                }
            }
        }
        if shape.iban_start {
            for m in self.iban.find_iter(text) {
                if bounded(text, m.start(), m.end()) && iban_valid(m.as_str()) {
                    hits.push(
                        Hit::new(Kind::Pii, "IBAN", m.range())
                            .with_confidence(Confidence::Verified),
                    );
                }
            }
        }
    }
}

/// One run of digits and number separators (` -.()+`) with at least eight digits.
struct Window {
    range: std::ops::Range<usize>,
    digits: usize,
    plus: bool,
}

/// What one pass over the bytes tells the numeric patterns.
struct Shape {
    windows: Vec<Window>,
    /// Two upper-case letters followed by two digits somewhere: an IBAN may start there.
    iban_start: bool,
    /// A run of exactly four digits starting 19 or 20: a date may be there.
    year: bool,
}

const DIGIT: u8 = 1;
const SEPARATOR: u8 = 2;
const UPPER: u8 = 4;

/// Byte classes for the shape pass.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT;
        c += 1;
    }
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = UPPER;
        c += 1;
    }
    t[b' ' as usize] = SEPARATOR;
    t[b'-' as usize] = SEPARATOR;
    t[b'.' as usize] = SEPARATOR;
    t[b'(' as usize] = SEPARATOR;
    t[b')' as usize] = SEPARATOR;
    t[b'+' as usize] = SEPARATOR;
    t
};

impl Shape {
    fn of(bytes: &[u8]) -> Shape {
        let mut windows = Vec::new();
        let mut iban_start = false;
        let mut year = false;
        let mut i = 0;
        while i < bytes.len() {
            let class = CLASS[bytes[i] as usize];
            if class & (DIGIT | SEPARATOR) == 0 {
                if class == UPPER
                    && !iban_start
                    && i + 3 < bytes.len()
                    && CLASS[bytes[i + 1] as usize] == UPPER
                    && CLASS[bytes[i + 2] as usize] == DIGIT
                    && CLASS[bytes[i + 3] as usize] == DIGIT
                {
                    iban_start = true;
                }
                i += 1;
                continue;
            }
            let start = i;
            let (mut digits, mut plus) = (0, false);
            while i < bytes.len() && CLASS[bytes[i] as usize] & (DIGIT | SEPARATOR) != 0 {
                digits += usize::from(CLASS[bytes[i] as usize] == DIGIT);
                plus |= bytes[i] == b'+';
                i += 1;
            }
            if !year {
                let mut run = 0;
                for j in start..=i {
                    if j < i && CLASS[bytes[j] as usize] == DIGIT {
                        run += 1;
                    } else {
                        if run == 4 && matches!(&bytes[j - 4..j - 2], b"19" | b"20") {
                            year = true;
                        }
                        run = 0;
                    }
                }
            }
            if digits >= 8 {
                windows.push(Window {
                    range: start..i,
                    digits,
                    plus,
                });
            }
        }
        Shape {
            windows,
            iban_start,
            year,
        }
    }
}

/// Drops a closing parenthesis that the match does not open: `(+1 415 555 0132)`.
fn balanced(text: &str, mut span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let m = &text[span.clone()];
    if m.ends_with(')') && m.matches('(').count() < m.matches(')').count() {
        span.end -= 1;
    }
    span
}

fn memchr_at(bytes: &[u8]) -> bool {
    bytes.contains(&b'@')
}

/// Whether `span` overlaps one of the last hits (the numeric patterns push
/// in text order, so a bounded look-back keeps the pass linear).
fn overlaps(hits: &[Hit], span: &std::ops::Range<usize>) -> bool {
    hits.iter()
        .rev()
        .take(8)
        .any(|h| h.span.start < span.end && span.start < h.span.end)
}

/// Whether the match at `start` is the user part of a URL (`https://key@host`, a DSN).
fn url_userinfo(text: &str, start: usize) -> bool {
    // A URL's user part is short: look back a bounded distance (linear time).
    let mut from = start.saturating_sub(256);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let before = &text.as_bytes()[from..start];
    let run = before
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'('))
        .map_or(from, |i| from + i + 1);
    let token = &text[run..start];
    token
        .find("://")
        .is_some_and(|i| !token[i + 3..].contains('/'))
}

/// `[at]`, `(at)`, `{at}`, `<at>` (any case, spaces allowed) somewhere in the text.
/// Common top-level domains: a spelled-out address must end in one.
const TLDS: &str = "com|org|net|io|dev|ai|app|co|edu|gov|info|me|us|uk|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|br|ca|au|in|jp|cn|ru|eu|biz|tech|cloud|xyz";

/// ` at `, ` AT ` or a spaced `@` somewhere in the text.
fn spelled_at(text: &str) -> bool {
    // One pass over the spaces: ` at `, ` AT `, ` @` or `@ `.
    let b = text.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b' '
            && (b[i + 1..].starts_with(b"at ")
                || b[i + 1..].starts_with(b"AT ")
                || b.get(i + 1) == Some(&b'@')
                || (i > 0 && b[i - 1] == b'@'))
    })
}

fn bracketed_at(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| {
        w[0].eq_ignore_ascii_case(&b'a')
            && w[1].eq_ignore_ascii_case(&b't')
            && matches!(w[2], b']' | b')' | b'}' | b'>' | b' ')
    }) && bytes.iter().any(|b| matches!(b, b'[' | b'(' | b'{' | b'<'))
}

/// Card numbers in a run of digit groups: the longest valid sequence of
/// consecutive groups from each group on (a lone digit beside a card is
/// not part of it), with one separator kind throughout.
fn card_candidates(sub: &str) -> Vec<std::ops::Range<usize>> {
    let b = sub.as_bytes();
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(s..i);
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    let mut g = 0;
    while g < groups.len() {
        let mut digits = 0;
        let mut sep: Option<u8> = None;
        let mut best: Option<usize> = None;
        for j in g..groups.len() {
            if j > g {
                let gap = &b[groups[j - 1].end..groups[j].start];
                if gap.len() != 1
                    || !matches!(gap[0], b' ' | b'-' | b'.')
                    || sep.is_some_and(|s| s != gap[0])
                {
                    break;
                }
                sep = Some(gap[0]);
            }
            digits += groups[j].len();
            if digits > 19 {
                break;
            }
            if digits >= 14 && card_valid(&sub[groups[g].start..groups[j].end]) {
                best = Some(j);
            }
        }
        match best {
            Some(j) => {
                out.push(groups[g].start..groups[j].end);
                g = j + 1;
            }
            None => g += 1,
        }
    }
    out
}

impl PiiRules {
    /// Written-out and numeric dates beside a person's name, with a year
    /// that can be a birth year: `Jane Doe (March 04, 1983)`, `Jane Doe,1983-03-04`.
    fn scan_dates_beside_names(&self, text: &str, hits: &mut Vec<Hit>) {
        for m in self.date.find_iter(text) {
            if hits.len() > super::MAX_FINDINGS {
                break;
            }
            let year = m
                .as_str()
                .rsplit(|c: char| !c.is_ascii_digit())
                .find(|p| p.len() == 4)
                .or_else(|| {
                    Some(&m.as_str()[..4]).filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                })
                .and_then(|p| p.parse::<u32>().ok());
            if !year.is_some_and(|y| (1900..=LATEST_BIRTH_YEAR).contains(&y))
                || !bounded(text, m.start(), m.end())
            {
                continue;
            }
            let mut from = m.start().saturating_sub(64);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let before = &text[from..m.start()];
            let line = before.rsplit('\n').next().unwrap_or(before);
            let previous_line = before.rsplit('\n').nth(1).unwrap_or("");
            if self.name.is_match(line)
                || (line.trim().len() < 16 && self.name.is_match(previous_line))
            {
                hits.push(
                    Hit::new(Kind::Pii, "DATE_OF_BIRTH", m.range())
                        .with_confidence(Confidence::Low),
                );
            }
        }
    }
}

/// A `.` or `/` right before a number makes it a version, a path or a date part.
fn preceded_by_digitish(text: &str, start: usize) -> bool {
    start >= 2
        && matches!(text.as_bytes()[start - 1], b'.' | b'/' | b':')
        && text.as_bytes()[start - 2].is_ascii_digit()
}

fn email_plausible(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let tld = domain.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    const FILE_TLDS: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "webp", "js", "css", "ts", "map", "py", "rs", "json",
        "lock",
    ];
    !FILE_TLDS.contains(&tld.as_str())
        && local != "git"
        && !local.is_empty()
        && !reserved_domain(domain)
}

/// A domain reserved for documentation and testing, which no person's
/// mailbox can be at: `example.com/.net/.org` and their subdomains (RFC
/// 2606), and the `.example`, `.test`, `.invalid`, `.localhost` top-level
/// names (RFC 2606, RFC 6761), `localhost` itself and any host under or
/// named `localhost` (`localhost.localdomain`).
pub(crate) fn reserved_domain(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    let under = |base: &str| d == base || d.ends_with(&format!(".{base}"));
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|b| under(b))
        || ["example", "test", "invalid", "localhost", "localdomain"]
            .iter()
            .any(|t| under(t))
        || d.split('.').any(|label| label == "localhost")
}

/// Area 001–899 but 666, group 01–99, serial 0001–9999.
fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    let (Ok(a), Ok(g), Ok(s)) = (
        area.parse::<u16>(),
        group.parse::<u16>(),
        serial.parse::<u16>(),
    ) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0
}

/// Luhn plus the issuer ranges and lengths of the major networks.
fn card_valid(candidate: &str) -> bool {
    let digits: Vec<u8> = candidate
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let len = digits.len();
    if !(13..=19).contains(&len) || !luhn_valid(&digits) {
        return false;
    }
    // Separators, when used, must be consistent (groups of 4, or Amex 4-6-5).
    let seps: Vec<char> = candidate.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    match len {
        // 13-digit Visa numbers are no longer issued; 13 digits are mostly EANs and timestamps.
        13 => false,
        14 => matches!(p2, 30 | 36 | 38 | 39),
        15 => matches!(p2, 34 | 37) || p4 == 2131 || p4 == 1800,
        16 => {
            p1 == 4
                || (51..=55).contains(&p2)
                || (2221..=2720).contains(&p4)
                || p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || (3528..=3589).contains(&p4)
                || p2 == 62
                || (622_126..=622_925).contains(&p6)
                || matches!(p2, 50 | 56 | 57 | 58 | 63 | 67)
        }
        17..=19 => {
            p1 == 4
                || p4 == 6011
                || p2 == 65
                || p2 == 62
                || (3528..=3589).contains(&p4)
                || matches!(p2, 50 | 56 | 57 | 58 | 63 | 67)
        }
        _ => false,
    }
}

/// Country length and the ISO 13616 mod-97 check.
fn iban_valid(candidate: &str) -> bool {
    let iban: String = candidate
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let Some(expected) = iban_length(&iban[..2]) else {
        return false;
    };
    if iban.len() != expected {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn iban_length(country: &str) -> Option<usize> {
    const LENGTHS: &[(&str, usize)] = &[
        ("AD", 24),
        ("AE", 23),
        ("AL", 28),
        ("AT", 20),
        ("AZ", 28),
        ("BA", 20),
        ("BE", 16),
        ("BG", 22),
        ("BH", 22),
        ("BR", 29),
        ("BY", 28),
        ("CH", 21),
        ("CR", 22),
        ("CY", 28),
        ("CZ", 24),
        ("DE", 22),
        ("DK", 18),
        ("DO", 28),
        ("EE", 20),
        ("EG", 29),
        ("ES", 24),
        ("FI", 18),
        ("FO", 18),
        ("FR", 27),
        ("GB", 22),
        ("GE", 22),
        ("GI", 23),
        ("GL", 18),
        ("GR", 27),
        ("GT", 28),
        ("HR", 21),
        ("HU", 28),
        ("IE", 22),
        ("IL", 23),
        ("IQ", 23),
        ("IS", 26),
        ("IT", 27),
        ("JO", 30),
        ("KW", 30),
        ("KZ", 20),
        ("LB", 28),
        ("LC", 32),
        ("LI", 21),
        ("LT", 20),
        ("LU", 20),
        ("LV", 21),
        ("MC", 27),
        ("MD", 24),
        ("ME", 22),
        ("MK", 19),
        ("MR", 27),
        ("MT", 31),
        ("MU", 30),
        ("NL", 18),
        ("NO", 15),
        ("PK", 24),
        ("PL", 28),
        ("PS", 29),
        ("PT", 25),
        ("QA", 29),
        ("RO", 24),
        ("RS", 22),
        ("SA", 24),
        ("SC", 31),
        ("SE", 24),
        ("SI", 19),
        ("SK", 24),
        ("SM", 27),
        ("ST", 25),
        ("SV", 28),
        ("TL", 23),
        ("TN", 24),
        ("TR", 26),
        ("UA", 29),
        ("VA", 22),
        ("VG", 24),
        ("XK", 20),
    ];
    LENGTHS.iter().find(|(c, _)| *c == country).map(|&(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(text: &str) -> Vec<String> {
        let mut hits = Vec::new();
        let ctx = super::super::secrets::SecretRules::new().scan(text, &mut Vec::new());
        PiiRules::new().scan(text, ctx, &mut hits);
        hits.iter().map(|h| h.ty.to_string()).collect()
    }

    #[test]
    fn detects_each_type() {
        assert_eq!(types("mail jane.doe@acme.io now"), ["EMAIL"]);
        assert_eq!(types("card 4111 1111 1111 1111"), ["PAYMENT_CARD"]);
        assert_eq!(types("ssn 123-45-6789"), ["US_SSN"]);
        assert_eq!(types("pay to DE89 3704 0044 0532 0130 00"), ["IBAN"]);
        assert_eq!(types("call +44 20 7946 0958"), ["PHONE_NUMBER"]);
        assert_eq!(types("call (415) 555-2671"), ["PHONE_NUMBER"]);
        assert_eq!(types("mobile 07700 900123"), ["PHONE_NUMBER"]);
        assert_eq!(types("card 4111.1111.1111.1111"), ["PAYMENT_CARD"]);
        assert_eq!(types("ssn 123 45 6789"), ["US_SSN"]);
        assert!(
            types("ref 0718 9482 4430").is_empty(),
            "12 digits is no phone number"
        );
        let mut hits = Vec::new();
        PiiRules::new().scan(
            "(jane@x.io, +1 415 555 0132) asks",
            Context::default(),
            &mut hits,
        );
        assert_eq!(
            &"(jane@x.io, +1 415 555 0132) asks"[hits[1].span.clone()],
            "+1 415 555 0132"
        );
        assert_eq!(types("DOB: 1990-04-12"), ["DATE_OF_BIRTH"]);
        assert_eq!(types("passport no. X1234567"), ["PASSPORT_NUMBER"]);
        // Dates of birth in other languages, by keyword or beside a name.
        for text in [
            "Patient Sofia Farouk, né le 17 mai 1998, presented",
            "Hans Weber, geboren am 3. März 1985 in Köln",
            "Lucía Gómez, nacida el 9 de agosto de 1991",
            "Ana Souza nascida em 12 de março de 1979",
            "Giulia Rossi, nata il 4 maggio 1990",
        ] {
            let found = types(text);
            assert!(
                !found.is_empty() && found.iter().all(|t| t == "DATE_OF_BIRTH"),
                "{text}: {found:?}"
            );
        }
        assert!(types("release on 17 mai 2024").is_empty());
        // Spelled-out e-mails, slashed SSNs, dashed IBANs, French numbers.
        for (text, ty) in [
            ("reach ingrid.tanaka at acme dot io today", "EMAIL"),
            ("reach fatima.farouk AT hooli DOT dev today", "EMAIL"),
            ("reach elena.patel @ gmail . com today", "EMAIL"),
            ("Sofia Patel, SSN 326/23/8952, start", "US_SSN"),
            ("IBAN DE89-3704-0044-0532-0130-00", "IBAN"),
            ("name,phone\nOlu Schmidt,06 17 68 37 66\n", "PHONE_NUMBER"),
        ] {
            assert_eq!(types(text), [ty], "{text}");
        }
        for text in [
            "meet at noon at the office",
            "look at README dot md",
            "price 12/05/2024 at 10 am",
            "DE89-3704-0044-0532-0130-01",
        ] {
            assert!(types(text).is_empty(), "{text}: {:?}", types(text));
        }
    }

    #[test]
    fn rejects_look_alikes() {
        assert!(types("card 4111 1111 1111 1112").is_empty(), "bad Luhn");
        assert!(types("ssn 666-45-6789 and 123-00-6789").is_empty());
        assert!(
            types("DE89 3704 0044 0532 0130 01").is_empty(),
            "bad mod-97"
        );
        assert!(types("version 1.2.3 build 2024-01-15 at 10:30:00").is_empty());
        assert!(types("logo@2x.png").is_empty());
        assert!(
            types("released 2024-01-15").is_empty(),
            "a date without DOB context"
        );
        assert!(types("ts 1700000000000").is_empty());
        // Reserved documentation and test domains hold no one's mailbox.
        for reserved in [
            "user@example.com",
            "jane@mail.example.org",
            "ops@example.net",
            "a.b@shop.example",
            "dev@api.test",
            "x@nowhere.invalid",
            "root@box.localhost",
            "bob@localhost.localdomain",
        ] {
            assert!(types(reserved).is_empty(), "{reserved}");
        }
        assert_eq!(types("jane@example-clinic.fr"), ["EMAIL"]);
        assert_eq!(types("jane@examples.com"), ["EMAIL"]);
    }
}
