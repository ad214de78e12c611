//! Personal data: emails, phone numbers, payment cards, US SSNs, IBANs,
//! and — where the context says so — dates of birth and passport numbers.

use regex::Regex;

use super::secrets::Context;
use super::text::{self, Features, bounded, luhn_valid};
use super::{Hit, captures_each};
use crate::engine::{Confidence, FindingKind as Kind};

/// A date as people write it: `1983-03-04`, `1983/03/04`, `04/03/1983`,
/// `4.03.1983`, `March 04, 1983`, `28 May 1998`, `Mar 4 1983`,
/// `4th of March 1983`, `1976年1月27日`, `4 marca 1983`, `4 марта 1983`.
pub(crate) const DATE: &str = concat!(
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}[/.][0-9]{1,2}[/.][0-9]{1,2}(?-u:\b)",
    r"|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2,4}",
    // 1976年1月27日 (Japanese, Chinese), 1976년 1월 27일 (Korean).
    r"|[0-9]{4} ?年 ?[0-9]{1,2} ?月 ?[0-9]{1,2} ?日|[0-9]{4} ?년 ?[0-9]{1,2} ?월 ?[0-9]{1,2} ?일",
    r"|[0-9]{1,2}(?:st|nd|rd|th)?\.?(?: of)? (?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,? [0-9]{4}",
    r"|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? [0-9]{1,2}(?:st|nd|rd|th)?,? [0-9]{4}",
    r"|[0-9]{1,2}(?:er|\.|º|°)?(?: de)? (?i:",
    // French, German, Spanish, Portuguese, Italian, Dutch.
    r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre",
    r"|januar|jänner|februar|märz|maerz|april|juni|juli|august|oktober|dezember",
    r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre",
    r"|janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro|dezembro",
    r"|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre",
    r"|januari|februari|maart|mei|augustus",
    // Swedish, Polish (genitive), Turkish, Russian (genitive).
    r"|maj|augusti",
    r"|stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|wrzesnia|października|pazdziernika|listopada|grudnia",
    r"|ocak|şubat|subat|mart|nisan|mayıs|mayis|haziran|temmuz|ağustos|agustos|eylül|eylul|ekim|kasım|kasim|aralık|aralik",
    r"|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря",
    r")(?: de)?,? [0-9]{4})",
);

/// The latest year a date beside a name is taken for a date of birth.
const LATEST_BIRTH_YEAR: u32 = 2012;

pub(crate) struct PiiRules {
    email: Regex,
    email_obfuscated: Regex,
    email_spelled: Regex,
    date: Regex,
    name: Regex,
    ssn_bare: Regex,
    phone_intl: Regex,
    phone_national: Regex,
    ssn: Regex,
    iban: Regex,
    dob: Regex,
    passport: Regex,
    phone_trunk: Regex,
}

/// What a context word announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    /// `born`, `DOB`, `生年月日`…: a date near a name may be a birth date.
    Birth,
    /// `b.`, `ur.`: a birth date only when the date follows at once.
    BirthAbbreviation,
    /// `passport`, `Reisepass`…
    Passport,
    /// `card`, `tarjeta`, `cvv`…
    Card,
    /// `phone`, `Telefon`, `電話`…
    Phone,
}

/// Birth keywords in English, French, German, Spanish, Portuguese, Italian,
/// Dutch, Polish, Swedish, Turkish, Russian, Japanese, Chinese and Korean.
const BIRTH_WORDS: &[&str] = &[
    "dob",
    "d.o.b",
    "birth",
    "born",
    "né le",
    "née le",
    "ne le",
    "naissance",
    "geboren",
    "geb.",
    "geburt",
    "nacid",
    "nacimiento",
    "nascid",
    "nascimento",
    "nato il",
    "nata il",
    "nascita",
    "geboorte",
    "urodz",
    "född",
    "födel",
    "doğum",
    "dogum",
    "рожд",
    "родил",
    "生年月日",
    "出生",
    "誕生日",
    "생년월일",
    "출생",
];
const PASSPORT_WORDS: &[&str] = &[
    "passport",
    "passeport",
    "pasaporte",
    "passaporto",
    "paspoort",
    "reisepass",
    "passnummer",
    "pass-nr",
    "pass nr",
    "paszport",
    "паспорт",
    "護照",
    "护照",
    "旅券",
    "パスポート",
    "여권",
];
const CARD_WORDS: &[&str] = &[
    "card",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "maestro",
    "unionpay",
    "diners",
    "jcb",
    "discover",
    "kreditkarte",
    "karte",
    "carte",
    "tarjeta",
    "cartão",
    "cartao",
    "carta",
    "kaart",
    "cvv",
    "cvc",
];
const PHONE_WORDS: &[&str] = &[
    "phone",
    "mobile",
    "cell",
    "fax",
    "telef",
    "teléf",
    "téléph",
    "teleph",
    "tel:",
    "tel.",
    "tel ",
    "tel\"",
    "tel,",
    "handy",
    "móvil",
    "movil",
    "celular",
    "portable",
    "whatsapp",
    "телеф",
    "電話",
    "전화",
];

/// The context words seen in one text, collected by the secrets' keyword
/// pass (one automaton for both).
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    birth: bool,
    birth_abbreviation: bool,
    passport: bool,
    /// Where the birth, card and phone words are (the first [`MAX_WORDS`] of each).
    birth_at: Vec<usize>,
    card_at: Vec<usize>,
    phone_at: Vec<usize>,
    /// Set when the text scanned is a window of a longer text (see
    /// `Detector::scan_text`): the positions above are the longer text's.
    window: Option<InWindow>,
}

/// Where a window sits in the text whose words a [`Seen`] holds.
#[derive(Debug, Clone)]
struct InWindow {
    /// The window's first byte in the whole text.
    offset: usize,
    /// The whole text's first line and where it ends, when it may be a header.
    header: Option<(usize, std::sync::Arc<str>)>,
}

/// The most positions kept per kind of context word.
const MAX_WORDS: usize = 256;
/// How far before a value its context word may be (after it: a quarter of this).
const WORD_REACH: usize = 256;

/// Every context word with what it announces, for the keyword automaton.
pub(crate) fn context_words() -> Vec<(&'static str, Word)> {
    let mut words: Vec<(&'static str, Word)> = Vec::new();
    for (list, target) in [
        (BIRTH_WORDS, Word::Birth),
        (&["b.", "ur."][..], Word::BirthAbbreviation),
        (PASSPORT_WORDS, Word::Passport),
        (CARD_WORDS, Word::Card),
        (PHONE_WORDS, Word::Phone),
    ] {
        words.extend(list.iter().map(|w| (*w, target)));
    }
    words
}

impl Seen {
    /// A context word `word` at byte `at`.
    pub(crate) fn saw(&mut self, word: Word, at: usize) {
        let keep = |list: &mut Vec<usize>| {
            if list.len() < MAX_WORDS {
                list.push(at);
            }
        };
        match word {
            Word::Birth => {
                self.birth = true;
                keep(&mut self.birth_at);
            }
            Word::BirthAbbreviation => self.birth_abbreviation = true,
            Word::Passport => self.passport = true,
            Word::Card => keep(&mut self.card_at),
            Word::Phone => keep(&mut self.phone_at),
        }
    }

    /// Whether a word of `at` (one of this `Seen`'s lists) is near `span`
    /// of `text`: shortly before or after it, or in the header line of a table.
    fn near(&self, at: &[usize], text: &str, span: &std::ops::Range<usize>) -> bool {
        let (offset, first_line) = match &self.window {
            Some(w) => (w.offset, w.header.as_ref().map(|h| h.0)),
            None => (0, header_line(text)),
        };
        let span = span.start + offset..span.end + offset;
        let header = first_line.filter(|&n| n < span.start).unwrap_or(0);
        at.iter().any(|&p| {
            p < header
                || (p <= span.start && span.start - p <= WORD_REACH)
                || (p >= span.end && p - span.end <= WORD_REACH / 4)
        })
    }

    /// Adds the words `other` saw in a window starting at `offset`, those
    /// at positions in `own` (the window's own part: each word is taken from
    /// exactly one window), after the words already held.
    pub(crate) fn absorb(&mut self, other: &Seen, offset: usize, own: &std::ops::Range<usize>) {
        self.birth |= other.birth;
        self.birth_abbreviation |= other.birth_abbreviation;
        self.passport |= other.passport;
        for (list, from) in [
            (&mut self.birth_at, &other.birth_at),
            (&mut self.card_at, &other.card_at),
            (&mut self.phone_at, &other.phone_at),
        ] {
            let room = MAX_WORDS.saturating_sub(list.len());
            list.extend(
                from.iter()
                    .map(|p| p + offset)
                    .filter(|p| own.contains(p))
                    .take(room),
            );
        }
    }

    /// The first line of `text` as [`for_window`](Self::for_window) takes it.
    pub(crate) fn header_of(text: &str) -> Option<(usize, std::sync::Arc<str>)> {
        header_line(text).map(|n| (n, std::sync::Arc::from(&text[..n])))
    }

    /// These words, for scanning the window that starts at `offset` of a
    /// text whose [`header_of`](Self::header_of) is `header`.
    pub(crate) fn for_window(
        &self,
        offset: usize,
        header: Option<(usize, std::sync::Arc<str>)>,
    ) -> Seen {
        Seen {
            window: Some(InWindow { offset, header }),
            ..self.clone()
        }
    }

    /// The header of the table column that `start` of `text` is in (see
    /// [`column_name`]), the whole text's when `text` is a window of it.
    fn column_name<'a>(&'a self, text: &'a str, start: usize) -> Option<&'a str> {
        let Some(w) = &self.window else {
            return column_name(text, start);
        };
        let (end, header) = w.header.as_ref()?;
        if *end >= start + w.offset {
            return None;
        }
        column_of(header, text, start)
    }
}

/// Where a text's first line ends, when it is short enough to be a
/// table's header: a context word there is near every value below it.
pub(crate) fn header_line(text: &str) -> Option<usize> {
    let head = &text.as_bytes()[..text.len().min(2049)];
    memchr::memchr(b'\n', head)
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
                r"(?i)(?-u:\b)[a-z0-9][a-z0-9._%+\-]{{0,63}}(?:\s+at\s+|\s*@\s+|\s+@\s*)[a-z0-9][a-z0-9\-]{{0,62}}(?:(?:\s+dot\s+|\s*\.\s+|\s+\.\s*|\.)[a-z0-9\-]{{1,63}})*?(?:\s+dot\s+|\s*\.\s+|\s+\.\s*|\.)(?:{TLDS})(?-u:\b)"
            )),
            date: re(DATE),
            name: re(r"(?-u:\b)[A-Z][a-z]+,? [A-Z][a-z]+(?-u:\b)"),
            ssn_bare: re(r"[0-9]{9}"),
            phone_intl: re(r"\+[1-9][0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,5}"),
            // North American `(415) 555-2671`, `(361)590.1864`, `415.555.2671`,
            // `953 / 828 / 8161`; trunk-prefixed national numbers.
            phone_national: re(
                r"(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}(?:[ .\-]| [.\-/] ))[0-9]{3}(?:[ .\-]| [.\-/] )[0-9]{4}|0[1-9][0-9]{1,3}[ \-][0-9]{3,4}[ \-][0-9]{3,4}|0[1-9][0-9]{3} [0-9]{6}|0[1-9](?:[ .][0-9]{2}){4}",
            ),
            // Under a phone keyword: `030 31223924`, `089/1234567`, `0301234567`.
            phone_trunk: re(r"0[1-9][0-9]{1,4}(?: ?/ ?|[ \-])?[0-9]{3,8}(?:[ \-][0-9]{2,5})?"),
            // `123-45-6789`, `123 45 6789`, `123.45.6789`, `123_45_6789`,
            // `123/45/6789`, `123 - 45 - 6789` (one separator throughout).
            ssn: re(r"[0-9]{3}(?:[\-. _/]| [\-/] )[0-9]{2}(?:[\-. _/]| [\-/] )[0-9]{4}"),
            iban: re(r"[A-Z]{2}[0-9]{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,3})?"),
            dob: re(&format!(
                r#"(?i:(?-u:\b)dob(?-u:\b)|d\.o\.b\.?|date[ _\-]?of[ _\-]?birth|birth[ _\-]?date|birthday|born(?: on)?(?: the)?|[(,] ?b\.|n[ée]e? le|geboren(?: am| op)?|geb\.(?: am)?|geburtsdatum|geburtstag|nacid[oa](?: el)?|nascid[oa](?: em)?|nat[oa] il|fecha de nacimiento|date de naissance|data de nascimento|data di nascita|(?-u:\b)ur\.|urodzon[ya](?: dnia)?|data urodzenia|geboortedatum|född(?: den)?|födelsedatum|doğum tarihi|dogum tarihi|дата рождения|родил(?:ся|ась)|生年月日|出生年月日|出生日期|誕生日|생년월일|출생일)["']?\s*[:=：]?\s*["']?(?P<v>{DATE})"#
            )),
            // The keyword (any language, `Reisepassnummer`, `passport_number`),
            // a few filler words (`No:`, `number is`, `(`), then the number.
            passport: re(
                r#"(?:(?i:passport|passeport|pasaporte|passaporto|paspoort|reisepass|passnummer|pass-?nr|paszport|паспорт)|護照|护照|旅券|パスポート|여권)[A-Za-zéèàáóúíñçäöüß]*(?:[\s_\-:=#"'(\[：]|(?i:no|nr|num|number|numéro|numero|número|nummer|n\.?[º°o]|is|was|de|di|du|do|da|of)(?-u:\b)\.?){0,10}(?P<v>[A-Z0-9]{6,9})(?-u:\b)"#,
            ),
        }
    }

    /// Every piece of personal data in `text`.
    pub(crate) fn scan(&self, text: &str, f: &Features, context: Context, hits: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        if f.any(text::AT) {
            for m in self.emails(text) {
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
        if f.any(text::OPENING) && bracketed_at(bytes) {
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
        if f.any(text::SPACE) && spelled_at(text) && spelled_domain(text) {
            for m in self
                .email_spelled
                .find_iter(text)
                .take(super::MAX_FINDINGS + 1)
            {
                if bounded(text, m.start(), m.end())
                    && spelled_mailbox(m.as_str())
                    && !overlaps(hits, &m.range())
                {
                    hits.push(
                        Hit::new(Kind::Pii, "EMAIL", m.range()).with_confidence(Confidence::Low),
                    );
                }
            }
        }
        // Everything below is numbers (dates, SSNs, cards, phones, passports
        // and IBANs all hold ASCII digits): a text without a digit has none.
        if !f.any(text::DIGIT) {
            return;
        }
        let shape = Shape::of(bytes);
        let seen = context.seen;
        {
            if seen.birth || seen.birth_abbreviation {
                for caps in captures_each(&self.dob, text) {
                    if let Some(v) = caps.name("v") {
                        hits.push(Hit::new(Kind::Pii, "DATE_OF_BIRTH", v.range()));
                    }
                }
            }
            // A date near a name is a birth date where the text speaks of
            // births (a keyword, a `dob` column); without one, only a date
            // written as the name's attribute.
            // Each such date follows a name (`Jane Doe`) on its line: a text
            // with no two capitalised words in a row (a log, an id list) has none.
            if shape.year && capitalised_pair(bytes) {
                self.scan_dates_beside_names(text, &seen, hits);
            }
            if context.ssn {
                for m in self.ssn_bare.find_iter(text) {
                    let v = m.as_str();
                    if bounded(text, m.start(), m.end()) && ssn_valid(&v[..3], &v[3..5], &v[5..]) {
                        hits.push(Hit::new(Kind::Pii, "US_SSN", m.range()));
                    }
                }
            }
            if seen.passport {
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
                // An SSN has two separators between its digits, a national
                // phone number at least one: a run of bare digits has neither.
                let inner = if w.digits >= 9 {
                    inner_separators(sub)
                } else {
                    0
                };
                let ssn = if w.digits >= 9 && inner >= 2 {
                    self.ssn.find_iter(sub).collect()
                } else {
                    Vec::new()
                };
                for m in ssn {
                    let span = at(m.range());
                    let Some((area, group, serial)) = digit_groups(m.as_str()) else {
                        continue;
                    };
                    if bounded(text, span.start, span.end)
                        && !path_segment(text, &span)
                        && ssn_valid(area, group, serial)
                    {
                        hits.push(Hit::new(Kind::Pii, "US_SSN", span));
                    }
                }
                if w.digits >= 14 {
                    for span in card_candidates(sub) {
                        let span = at(span);
                        if bounded(text, span.start, span.end)
                            && !overlaps(hits, &span)
                            && card_in_place(
                                text,
                                &span,
                                seen.near(&seen.card_at, text, &span),
                                seen.column_name(text, span.start),
                            )
                        {
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
                let national = if w.digits >= 9 && inner >= 1 {
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
                        && nanp_separators_consistent(m.as_str())
                        && !overlaps(hits, &span)
                        && !preceded_by_digitish(text, span.start)
                        && !path_segment(text, &span)
                    {
                        hits.push(Hit::new(Kind::Pii, "PHONE_NUMBER", span));
                    }
                }
                // Under a phone keyword (a `phone` column, `Tel.`), a national
                // number with its trunk 0 and no country code: `030 31223924`.
                let trunk = if !seen.phone_at.is_empty() && w.digits >= 9 {
                    self.phone_trunk.find_iter(sub).collect()
                } else {
                    Vec::new()
                };
                for m in trunk {
                    let span = at(m.range());
                    let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                    if (10..=12).contains(&digits)
                        && seen.near(&seen.phone_at, text, &span)
                        && !names_id(&key_words(key_before(text, span.start)))
                        && bounded(text, span.start, span.end)
                        && !overlaps(hits, &span)
                        && !preceded_by_digitish(text, span.start)
                        && !path_segment(text, &span)
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

impl PiiRules {
    /// The matches of `email` in `text`, as `find_iter` gives them, each
    /// found in a window around its `@`: from 64 bytes before it (the
    /// longest local part) to the first byte after it outside
    /// `[A-Za-z0-9.-]` (where its domain must have ended). Every match
    /// holds one `@` and no other; a window holds one `@`, starts no
    /// earlier than the last match's end, and covers every match that
    /// holds its `@` from there: the pattern (no look-around) finds the
    /// same match in it as in the whole text, without a pass over the rest.
    fn emails<'t>(&'t self, text: &'t str) -> impl Iterator<Item = regex::Match<'t>> + 't {
        let b = text.as_bytes();
        // No window starts before `floor`: the last match's end, past the last `@`.
        let mut floor = 0;
        memchr::memchr_iter(b'@', b).filter_map(move |at| {
            if at < floor {
                return None;
            }
            let start = floor.max(at.saturating_sub(64));
            floor = at + 1;
            let end = b[at + 1..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-'))
                .map_or(b.len(), |n| at + 1 + n);
            // `start` is at most 64 bytes before an ASCII byte: it may fall
            // inside a character, where no match starts (they start with
            // ASCII); the search moves to the next character.
            let mut start = start;
            while !text.is_char_boundary(start) {
                start += 1;
            }
            let m = self.email.find_at(&text[..end], start)?;
            floor = floor.max(m.end());
            Some(m)
        })
    }
}

/// One run of digits and number separators (` -.()+/_`) with at least eight digits.
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
    t[b'/' as usize] = SEPARATOR;
    t[b'_' as usize] = SEPARATOR;
    t
};

impl Shape {
    /// The shape of `bytes`, read from digit to digit: a byte that is not
    /// a digit costs one test, and only the runs around digits are read.
    fn of(bytes: &[u8]) -> Shape {
        let class = |i: usize| CLASS[bytes[i] as usize];
        let mut windows = Vec::new();
        let mut iban_start = false;
        let mut year = false;
        let mut i = 0;
        while let Some(first) = text::find_in_range(&bytes[i..], b'0', b'9') {
            // The run of digits and separators that holds this digit: the
            // separators before it (no digit is between the last run and
            // it), then everything up to the first other byte.
            let digit = i + first;
            let mut start = digit;
            while start > i && class(start - 1) == SEPARATOR {
                start -= 1;
            }
            let (mut digits, mut plus) = (0, false);
            // Digits in a row so far: a year is a run of exactly four.
            let mut row = 0;
            let mut j = start;
            while j < bytes.len() {
                match class(j) {
                    DIGIT => {
                        // Two upper-case letters, then two digits: an IBAN may
                        // start there (only a run's first digit follows a letter).
                        if row == 0
                            && !iban_start
                            && j >= 2
                            && j + 1 < bytes.len()
                            && class(j - 2) == UPPER
                            && class(j - 1) == UPPER
                            && class(j + 1) == DIGIT
                        {
                            iban_start = true;
                        }
                        row += 1;
                        digits += 1;
                    }
                    SEPARATOR => {
                        year |= row == 4 && matches!(&bytes[j - 4..j - 2], b"19" | b"20");
                        row = 0;
                        plus |= bytes[j] == b'+';
                    }
                    _ => break,
                }
                j += 1;
            }
            year |= row == 4 && matches!(&bytes[j - 4..j - 2], b"19" | b"20");
            if digits >= 8 {
                windows.push(Window {
                    range: start..j,
                    digits,
                    plus,
                });
            }
            i = j;
        }
        Shape {
            windows,
            iban_start,
            year,
        }
    }
}

/// How many separators of a digit run stand between two of its digits
/// (`-446655440000` has none, `123-45-6789` two).
fn inner_separators(run: &str) -> usize {
    let b = run.as_bytes();
    let (Some(first), Some(last)) = (
        b.iter().position(u8::is_ascii_digit),
        b.iter().rposition(u8::is_ascii_digit),
    ) else {
        return 0;
    };
    b[first..last]
        .iter()
        .filter(|c| !c.is_ascii_digit())
        .count()
}

/// Drops a closing parenthesis that the match does not open: `(+1 415 555 0132)`.
fn balanced(text: &str, mut span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let m = &text[span.clone()];
    if m.ends_with(')') && m.matches('(').count() < m.matches(')').count() {
        span.end -= 1;
    }
    span
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

/// Whether a spelled-out address is one: `jane.doe at acme dot io`,
/// `jane @ acme . io`, `jane.doe at acme.io`; but `renew your passport at
/// GOV.UK` and `find us at acme.io` are prose about a site, so a plain word
/// before ` at ` with a written dot after it is not a mailbox.
fn spelled_mailbox(m: &str) -> bool {
    let lower = m.to_ascii_lowercase();
    if lower.contains('@') || lower.contains(" dot ") {
        return true;
    }
    let local = lower.split(" at ").next().unwrap_or("");
    local
        .bytes()
        .any(|c| matches!(c, b'.' | b'_' | b'+' | b'-' | b'0'..=b'9'))
}

/// ` at `, ` AT ` or a spaced `@` somewhere in the text.
fn spelled_at(text: &str) -> bool {
    // Searchers built once: prose has a space every few bytes, too many
    // stops for a byte search from space to space.
    static AT: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 2]> =
        std::sync::LazyLock::new(|| {
            [
                memchr::memmem::Finder::new(" at "),
                memchr::memmem::Finder::new(" AT "),
            ]
        });
    let b = text.as_bytes();
    memchr::memchr_iter(b'@', b).any(|i| b.get(i + 1) == Some(&b' ') || i > 0 && b[i - 1] == b' ')
        || AT.iter().any(|f| f.find(b).is_some())
}

/// Whether `text` holds what every match of `email_spelled` holds: `@`,
/// or `at` after white space, then (past white space) a label and a dot
/// (`.`, or white space and `.` or `dot`). In prose, most ` at ` are
/// followed by a word and a space (`at the office`, `at 18:00`): the
/// pattern, which has no literal to look for, is not run there. Loose
/// where the pattern is strict (a non-ASCII character may be a label's or
/// white space), never the other way: a text it rejects has no match.
fn spelled_domain(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr3_iter(b'@', b't', b'T', b).any(|i| {
        let token = b[i] == b'@'
            || (i >= 2
                && matches!(b[i - 1], b'a' | b'A')
                && (b[i - 2] >= 0x80 || is_pattern_space(b[i - 2])));
        // `i` is an ASCII byte: the next one starts a character.
        token && label_then_dot(&text[i + 1..])
    })
}

/// `\s` of the pattern for an ASCII byte.
const fn is_pattern_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
}

/// Whether `rest` starts with white space, a label, and a dot: see [`spelled_domain`].
fn label_then_dot(rest: &str) -> bool {
    let mut chars = rest.chars().skip_while(|c| c.is_whitespace()).peekable();
    let mut label = 0;
    while chars
        .next_if(|&c| {
            c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && !c.is_whitespace())
        })
        .is_some()
    {
        label += 1;
    }
    if label == 0 {
        return false;
    }
    match chars.next() {
        Some('.') => true,
        Some(c) if c.is_whitespace() => {
            let mut after = chars.skip_while(|c| c.is_whitespace());
            match after.next() {
                Some('.') => true,
                Some('d' | 'D') => {
                    after.next().is_some_and(|c| c.eq_ignore_ascii_case(&'o'))
                        && after.next().is_some_and(|c| c.eq_ignore_ascii_case(&'t'))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether `bytes` holds `[A-Z][a-z]+,? [A-Z][a-z]`: `name` without its word
/// boundaries, so a text where this finds nothing has no name.
fn capitalised_pair(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = text::find_in_range(&bytes[i..], b'A', b'Z') {
        let start = i + at;
        // The lower-case run after the capital: the pattern can only go on
        // after all of it, as neither `,` nor a space is a letter.
        let run = bytes[start + 1..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        let mut j = start + 1 + run;
        i = j;
        if run == 0 {
            continue;
        }
        if bytes.get(j) == Some(&b',') {
            j += 1;
        }
        if bytes.get(j) == Some(&b' ')
            && bytes.get(j + 1).is_some_and(u8::is_ascii_uppercase)
            && bytes.get(j + 2).is_some_and(u8::is_ascii_lowercase)
        {
            return true;
        }
    }
    false
}

fn bracketed_at(bytes: &[u8]) -> bool {
    // An opening bracket, white space, then `at`: `jane [at] acme`.
    let at_after = |i: usize| {
        let rest = &bytes[i + 1..];
        let n = rest
            .iter()
            .take_while(|b| b.is_ascii_whitespace() || **b == 0x0b)
            .count();
        match rest.get(n) {
            // Other white space is not skipped here: the pattern decides.
            Some(&b) if b >= 0x80 => true,
            Some(&b) => {
                b.eq_ignore_ascii_case(&b'a')
                    && rest
                        .get(n + 1)
                        .is_some_and(|t| t.eq_ignore_ascii_case(&b't'))
            }
            None => false,
        }
    };
    memchr::memchr3_iter(b'[', b'(', b'{', bytes).any(at_after)
        || memchr::memchr_iter(b'<', bytes).any(at_after)
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
        let mut sep: Option<&[u8]> = None;
        let mut best: Option<usize> = None;
        for j in g..groups.len() {
            if j > g {
                // One separator throughout: a space, two spaces, `-`, `.`,
                // or a spaced dash (`4217 - 7964 - …`, en dashes folded).
                let gap = &b[groups[j - 1].end..groups[j].start];
                if !matches!(gap, b" " | b"  " | b"-" | b"." | b" - ")
                    || sep.is_some_and(|s| s != gap)
                {
                    break;
                }
                sep = Some(gap);
            }
            digits += groups[j].len();
            if digits > 19 {
                break;
            }
            // A 17- or 18-digit reading never replaces a shorter card.
            if digits >= 14
                && !(best.is_some() && (17..=18).contains(&digits))
                && card_valid(&sub[groups[g].start..groups[j].end])
            {
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
    /// What the key of a value tells about its personal data: a number under
    /// an id-like key (`id`, `order_id`, `tracking`…) is no card; under a
    /// phone key (`phone`, `mobile`, `Telefon`) a national number is a phone
    /// number; under a passport key in any language (`passeport`,
    /// `pasaporte`, `Reisepass`) a passport number.
    pub(crate) fn scan_keyed(&self, text: &str, key: Option<&str>, hits: &mut Vec<Hit>) {
        let Some(key) = key.filter(|k| k.len() <= 128) else {
            return;
        };
        // What a key can change: a card under an id key is dropped, and a
        // short value with digits can be a phone or passport number. Neither
        // here, the key's words are not worth making.
        let trimmed = text.trim();
        if (trimmed.len() > 32 || !trimmed.bytes().any(|b| b.is_ascii_digit()))
            && !hits.iter().any(|h| h.ty == "PAYMENT_CARD")
        {
            return;
        }
        let class = KeyClass::of(key);
        if class.id {
            hits.retain(|h| h.ty != "PAYMENT_CARD" || h.span.len() * 2 < text.len());
            return;
        }
        let offset = text.len() - text.trim_start().len();
        let span = offset..offset + trimmed.len();
        if trimmed.is_empty()
            || trimmed.len() > 32
            || hits
                .iter()
                .any(|h| h.span.start < span.end && span.start < h.span.end)
        {
            return;
        }
        let digits = trimmed.bytes().filter(u8::is_ascii_digit).count();
        if class.phone
            && (7..=15).contains(&digits)
            && trimmed.bytes().all(|c| {
                c.is_ascii_digit() || matches!(c, b' ' | b'+' | b'(' | b')' | b'.' | b'/' | b'-')
            })
            && !trimmed.contains("//")
        {
            hits.push(Hit::new(Kind::Pii, "PHONE_NUMBER", span));
            return;
        }
        if class.passport
            && (6..=9).contains(&trimmed.len())
            && trimmed
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && digits > 0
        {
            hits.push(Hit::new(Kind::Pii, "PASSPORT_NUMBER", span));
        }
    }

    /// Written-out and numeric dates beside a person's name, with a year
    /// that can be a birth year: `Jane Doe (March 04, 1983)`, `Jane Doe,1983-03-04`.
    fn scan_dates_beside_names(&self, text: &str, seen: &Seen, hits: &mut Vec<Hit>) {
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
            let beside = if seen.near(&seen.birth_at, text, &m.range()) {
                self.name.is_match(line)
                    || (line.trim().len() < 16 && self.name.is_match(previous_line))
            } else {
                // No birth word: only a date that is an attribute of the name
                // right before it (`Jane Doe (1983-03-04)`, `Jane Doe, 28 May
                // 1998,`, `- Jane Doe — 4.05.1983 —`), never a date an event
                // sentence puts near a name (`X announced Y on 25 August 1991`).
                self.name.find_iter(line).last().is_some_and(|n| {
                    let gap = &line[n.end()..];
                    gap.chars().count() <= 3
                        && gap
                            .chars()
                            .all(|c| matches!(c, ' ' | ',' | '(' | '-' | '—' | '–' | ':' | '|'))
                        && !n.as_str().starts_with("The ")
                })
            };
            if beside {
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

/// The digit groups of a number written with one separator throughout
/// (`123-45-6789`, `123 / 45 / 6789`), or `None` when the separators differ.
fn digit_groups(v: &str) -> Option<(&str, &str, &str)> {
    let b = v.as_bytes();
    let digits_end = |from: usize| {
        (from..b.len())
            .find(|&i| !b[i].is_ascii_digit())
            .unwrap_or(b.len())
    };
    let sep_end = |from: usize| {
        (from..b.len())
            .find(|&i| b[i].is_ascii_digit())
            .unwrap_or(b.len())
    };
    let a_end = digits_end(0);
    let g_start = sep_end(a_end);
    let g_end = digits_end(g_start);
    let n_start = sep_end(g_end);
    let n_end = digits_end(n_start);
    (a_end > 0
        && g_end > g_start
        && n_end > n_start
        && n_end == b.len()
        && v[a_end..g_start] == v[g_end..n_start])
        .then(|| (&v[..a_end], &v[g_start..g_end], &v[n_start..]))
}

/// Whether the separators of a North American number agree where they must:
/// `(415) 555-2671` and `415 555-2671` as people write them, but a slash or
/// a spaced separator (`953 / 828 / 8161`) the same throughout.
fn nanp_separators_consistent(v: &str) -> bool {
    if v.starts_with(['(', '0']) {
        return true;
    }
    let seps: Vec<&str> = v
        .split(|c: char| c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    let unusual = |s: &str| s.contains('/') || s.len() > 1;
    match seps.as_slice() {
        [a, b] => a == b || !(unusual(a) || unusual(b)),
        _ => false,
    }
}

/// Whether a number is one segment of a path or URL (`/v1/123/45/6789/`).
fn path_segment(text: &str, span: &std::ops::Range<usize>) -> bool {
    let b = text.as_bytes();
    (span.start > 0 && b[span.start - 1] == b'/') || b.get(span.end) == Some(&b'/')
}

/// The identifier written right before `start` (`"id": `, `order_id=`,
/// `message `), skipping a few quotes, spaces and `:`/`=`/`#`.
fn key_before(text: &str, start: usize) -> &str {
    let b = text.as_bytes();
    let mut i = start;
    while i > 0
        && start - i < 6
        && matches!(b[i - 1], b' ' | b'\t' | b'"' | b'\'' | b':' | b'=' | b'#')
    {
        i -= 1;
    }
    let end = i;
    while i > 0
        && end - i < 48
        && (b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b'-' | b'.'))
    {
        i -= 1;
    }
    &text[i..end]
}

/// What a key says of the short value under it: an identifier (a card
/// under it is none), a phone number, a passport number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyClass {
    id: bool,
    phone: bool,
    passport: bool,
}

impl KeyClass {
    /// The class of `key`, from a per-thread cache: a body repeats its keys,
    /// and their words cost more to make than the value takes to check.
    fn of(key: &str) -> KeyClass {
        thread_local! {
            static MEMO: super::KeyMemo<KeyClass> = Default::default();
        }
        super::memoized(&MEMO, key, KeyClass::compute)
    }

    fn compute(key: &str) -> KeyClass {
        let words = key_words(key);
        let joined: String = words.concat();
        KeyClass {
            id: names_id(&words),
            phone: phone_key(&words, &joined),
            passport: passport_key(&joined),
        }
    }
}

/// The lower-case words of an identifier: `orderId` → `order`, `id`.
fn key_words(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Words that name a card: `card_number`, `cc`, `pan`, `kreditkarte`.
fn names_card(words: &[String]) -> bool {
    const CARD: &[&str] = &[
        "card",
        "cards",
        "cc",
        "ccnum",
        "ccnumber",
        "pan",
        "creditcard",
        "cardnumber",
        "credit",
        "debit",
        "visa",
        "mastercard",
        "amex",
        "kreditkarte",
        "karte",
        "carte",
        "tarjeta",
        "cartao",
        "carta",
        "kaart",
        "payment",
    ];
    words.iter().any(|w| CARD.contains(&w.as_str()))
}

/// Words that name an identifier, a counter or a time, never a card:
/// `id`, `order_id`, `orderId`, `invoice`, `tracking`, `seq`, `timestamp`,
/// and the objects whose ids chat platforms print (`message`, `channel`…).
fn names_id(words: &[String]) -> bool {
    const ID: &[&str] = &[
        "id",
        "ids",
        "uid",
        "uuid",
        "guid",
        "pk",
        "order",
        "orders",
        "invoice",
        "invoices",
        "tracking",
        "shipment",
        "parcel",
        "seq",
        "sequence",
        "serial",
        "timestamp",
        "ts",
        "time",
        "epoch",
        "snowflake",
        "message",
        "msg",
        "channel",
        "guild",
        "thread",
        "user",
        "ref",
        "reference",
        "ticket",
        "build",
        "job",
        "run",
        "trace",
        "span",
        "event",
        "row",
        "offset",
        "cursor",
        "version",
        "revision",
        "nonce",
        "isbn",
        "ean",
        "gtin",
        "sku",
        "imei",
    ];
    !names_card(words) && words.iter().any(|w| ID.contains(&w.as_str()))
}

/// Whether a Luhn-valid card candidate at `span` (in the table column
/// `column`, if any) stands where a card is
/// written: not under an id-like key (`"id": 4111…`, `order 4111…`), not a
/// bare JSON integer in a text that never speaks of cards, and a 17- or
/// 18-digit number (Discord and Twitter snowflakes) only beside a card word.
fn card_in_place(
    text: &str,
    span: &std::ops::Range<usize>,
    card_words: bool,
    column: Option<&str>,
) -> bool {
    let key = key_words(key_before(text, span.start));
    if names_id(&key) || column.is_some_and(|c| names_id(&key_words(c))) {
        return false;
    }
    if card_words || names_card(&key) {
        return true;
    }
    let digits = text[span.clone()]
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    if (17..=18).contains(&digits) {
        return false;
    }
    let b = text.as_bytes();
    let before = b[..span.start]
        .iter()
        .rev()
        .find(|c| !c.is_ascii_whitespace());
    let after = b[span.end..].iter().find(|c| !c.is_ascii_whitespace());
    let json_integer = matches!(before, Some(b':' | b'[' | b','))
        && matches!(after, None | Some(b',' | b'}' | b']'))
        && text[span.clone()].bytes().all(|c| c.is_ascii_digit());
    !json_integer
}

/// The header of the table column that `start` is in, when `text` is a
/// table (CSV, TSV, `;` or `|` separated) and `start` is past its header.
fn column_name(text: &str, start: usize) -> Option<&str> {
    let header_end = header_line(text).filter(|&n| n < start)?;
    column_of(&text[..header_end], text, start)
}

/// The column of `header` that `start` of `text` is in.
fn column_of<'a>(header: &'a str, text: &str, start: usize) -> Option<&'a str> {
    let sep = [',', '\t', ';', '|']
        .into_iter()
        .find(|c| header.contains(*c))?;
    let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
    let column = text[line_start..start].matches(sep).count();
    header.split(sep).nth(column).map(str::trim)
}

/// Whether a table column holds personal data that only its name tells:
/// phone numbers (`phone`, `Telefon`) and passports in any language.
pub(crate) fn names_personal_column(column: &str) -> bool {
    let words = key_words(column);
    let joined = words.concat();
    phone_key(&words, &joined) || passport_key(&joined)
}

fn phone_key(words: &[String], joined: &str) -> bool {
    const PHONE: &[&str] = &[
        "phone",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "cellphone",
        "fax",
        "telefon",
        "telefono",
        "teléfono",
        "téléphone",
        "telefone",
        "handy",
        "mobil",
        "móvil",
        "movil",
        "celular",
        "portable",
        "whatsapp",
        "msisdn",
    ];
    words.iter().any(|w| PHONE.contains(&w.as_str()))
        || joined.contains("phone")
        || joined.contains("telefon")
}

fn passport_key(joined: &str) -> bool {
    const PASSPORT: &[&str] = &[
        "passport",
        "passeport",
        "pasaporte",
        "passaporto",
        "paspoort",
        "reisepass",
        "paszport",
        "passnummer",
    ];
    PASSPORT.iter().any(|p| joined.contains(p))
}

/// Whether a JSON number under `key` may be a card number: only under a key
/// that names one (`card`, `pan`, `card_number`) or a bare `number`.
pub(crate) fn number_may_be_card(key: Option<&str>) -> bool {
    key.is_none_or(|k| {
        let words = key_words(k);
        names_card(&words)
            || matches!(words.as_slice(), [w] if w == "number" || w == "num" || w == "no")
    })
}

fn email_plausible(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let tld = domain.rsplit('.').next().unwrap_or("");
    const FILE_TLDS: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "svg", "webp", "js", "css", "ts", "map", "py", "rs", "json",
        "lock",
    ];
    !FILE_TLDS.iter().any(|t| t.eq_ignore_ascii_case(tld))
        && local != "git"
        && !local.is_empty()
        && !reserved_domain(domain)
        && !role_mailbox(local)
}

/// A mailbox of a role or a machine rather than of a person (RFC 2142's
/// `postmaster`, `abuse`, `support`…, and `noreply` senders): no personal
/// data, and a support ticket or a notification names them all the time.
/// A `+tag` is ignored; `noreply-…`, `jenkins-noreply@` and `bounces-…`
/// senders count too.
fn role_mailbox(local: &str) -> bool {
    const ROLES: &[&str] = &[
        "abuse",
        "accounts",
        "admin",
        "alerts",
        "billing",
        "careers",
        "contact",
        "feedback",
        "ftp",
        "hello",
        "help",
        "helpdesk",
        "hostmaster",
        "info",
        "invoices",
        "jobs",
        "legal",
        "mailer-daemon",
        "marketing",
        "news",
        "newsletter",
        "noc",
        "notifications",
        "oncall",
        "orders",
        "postmaster",
        "press",
        "privacy",
        "root",
        "sales",
        "security",
        "support",
        "team",
        "unsubscribe",
        "usenet",
        "uucp",
        "webmaster",
        "www",
        "jira",
        "confluence",
        "jenkins",
        "github",
        "gitlab",
        "bitbucket",
        "daemon",
        "bot",
    ];
    const SENDERS: &[&str] = &[
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "bounce",
    ];
    let local = local.split('+').next().unwrap_or(local);
    ROLES.iter().any(|r| r.eq_ignore_ascii_case(local))
        || SENDERS.iter().any(|p| contains_ignore_ascii_case(local, p))
}

/// Whether `hay` holds `needle` (lower case), ASCII case aside.
fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether `text` ends with `suffix` (lower case), ASCII case aside.
fn ends_with_ignore_ascii_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// A domain reserved for documentation and testing, which no person's
/// mailbox can be at: `example.com/.net/.org` and their subdomains (RFC
/// 2606), and the `.example`, `.test`, `.invalid`, `.localhost` top-level
/// names (RFC 2606, RFC 6761), `localhost` itself and any host under or
/// named `localhost` (`localhost.localdomain`).
pub(crate) fn reserved_domain(domain: &str) -> bool {
    let d = domain.trim_end_matches('.');
    // `d` is `base` or ends with `.base` (ASCII case aside).
    let under = |base: &str| {
        ends_with_ignore_ascii_case(d, base)
            && (d.len() == base.len() || d.as_bytes()[d.len() - base.len() - 1] == b'.')
    };
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|b| under(b))
        || ["example", "test", "invalid", "localhost", "localdomain"]
            .iter()
            .any(|t| under(t))
        || d.split('.')
            .any(|label| label.eq_ignore_ascii_case("localhost"))
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
    // The digits, on the stack: a card has at most 19.
    let mut buf = [0u8; 19];
    let mut len = 0;
    for b in candidate.bytes().filter(u8::is_ascii_digit) {
        if len == buf.len() {
            return false;
        }
        buf[len] = b - b'0';
        len += 1;
    }
    let digits = &buf[..len];
    if !(13..=19).contains(&len) || !luhn_valid(digits) {
        return false;
    }
    // Separators, when used, must be consistent (groups of 4, or Amex 4-6-5).
    let mut seps = candidate
        .split(|c: char| c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    if let Some(first) = seps.next()
        && seps.any(|s| s != first)
    {
        return false;
    }
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    let visa = p1 == 4;
    let mastercard = (51..=55).contains(&p2) || (2221..=2720).contains(&p4);
    let mir = (2200..=2204).contains(&p4);
    let amex = matches!(p2, 34 | 37);
    let diners = (300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39);
    let discover =
        p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622_126..=622_925).contains(&p6);
    let jcb = (3528..=3589).contains(&p4);
    let unionpay = p2 == 62 || p2 == 81;
    let maestro = matches!(p2, 50 | 56 | 57 | 58 | 63 | 67) || p4 == 6759;
    match len {
        // 13-digit Visa numbers are no longer issued; 13 digits are mostly EANs and timestamps.
        13 => false,
        14 => diners,
        15 => amex || p4 == 2131 || p4 == 1800,
        16 => {
            visa || mastercard
                || mir
                || discover
                || jcb
                || unionpay
                || maestro
                || (diners && p2 == 36)
        }
        17 | 18 => discover || jcb || unionpay || maestro || (diners && p2 == 36),
        19 => visa || discover || jcb || unionpay || maestro || mir || (diners && p2 == 36),
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

    #[test]
    fn the_capitalised_pair_is_the_pattern_it_replaces() {
        let pattern = Regex::new(r"[A-Z][a-z]+,? [A-Z][a-z]").unwrap();
        let alphabet = [
            "A", "Z", "a", "z", ",", " ", "é", "É", "1", "\n", "Ab", "Cd ", "Jo, Ma",
        ];
        let mut rng = fastrand::Rng::with_seed(0x0c0a_ba5e);
        for n in 0..20_000 {
            let text: String = (0..n % 23)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            assert_eq!(
                capitalised_pair(text.as_bytes()),
                pattern.is_match(&text),
                "{text:?}"
            );
        }
        assert!(capitalised_pair(b"by Jane Doe"));
        assert!(capitalised_pair(b"Doe, Jane"));
        assert!(!capitalised_pair(b"JANE DOE, Jane"));
    }

    #[test]
    fn emails_in_windows_are_the_patterns_matches() {
        let rules = PiiRules::new();
        let long = "a".repeat(70);
        let pieces = [
            "@",
            "@@",
            "jane",
            "j",
            "x.",
            ".",
            "-",
            "_",
            "%",
            "+",
            "9",
            "acme",
            "io",
            "com",
            ".io",
            "a.b",
            " ",
            ",",
            "é",
            "ü@",
            "é.",
            long.as_str(),
            &long[..63],
            &long[..62],
            "@acme.io",
            "jane@acme.com",
            "@x-y.co.",
            "a@b.c",
        ];
        let mut rng = fastrand::Rng::with_seed(0xe3a1);
        let mut matched = 0;
        for n in 0..40_000 {
            let text: String = (0..2 + n % 16)
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let want: Vec<_> = rules.email.find_iter(&text).map(|m| m.range()).collect();
            let got: Vec<_> = rules.emails(&text).map(|m| m.range()).collect();
            matched += want.len();
            assert_eq!(got, want, "{text:?}");
        }
        assert!(matched > 2_000, "{matched}");
    }

    #[test]
    fn spelled_domain_holds_wherever_the_spelled_pattern_matches() {
        // The gate may only say no where the pattern finds nothing: texts
        // shaped like a spelled address, each part drawn from variants
        // (Unicode white space, the two non-ASCII letters `(?i)` folds to
        // ASCII: K, ſ), some parts replaced by noise.
        let rules = PiiRules::new();
        let parts: [&[&str]; 6] = [
            &["", "mail ", "x,", "é ", "(", "\u{3000}"],
            &["jane", "j.doe", "K", "\u{212a}ate", "\u{17f}am", "9", "a-b"],
            &[
                " at ",
                " AT ",
                "\tat\n",
                "\u{a0}At\u{3000}",
                " @ ",
                "@ ",
                " @",
                "  at  ",
                "at",
            ],
            &["acme", "ac-me", "\u{212a}", "\u{17f}ite", "é", "18", "x"],
            &[
                " dot ",
                ".",
                " . ",
                " .",
                ". ",
                "\u{a0}dot\u{a0}",
                " DOT ",
                ":",
                " the ",
                "dot",
            ],
            &["io", "com", "de", "co.uk", "example", "io.", "\u{212a}r"],
        ];
        let noise = [" ", ".", "@", "at", "dot", "\u{a0}", "é", "K", ":"];
        let mut rng = fastrand::Rng::with_seed(0x05ee_d0a7);
        let mut matched = 0;
        for _ in 0..30_000 {
            let mut text = String::new();
            for part in parts {
                if rng.u8(..8) == 0 {
                    text.push_str(noise[rng.usize(..noise.len())]);
                } else {
                    text.push_str(part[rng.usize(..part.len())]);
                }
            }
            if rules.email_spelled.is_match(&text) {
                matched += 1;
                assert!(spelled_domain(&text), "{text:?}");
            }
        }
        // The texts did reach the pattern.
        assert!(matched > 1_000, "{matched}");
        for (t, want) in [
            ("jane at acme dot io", true),
            ("jane at acme.io", true),
            ("jane @ acme . io", true),
            ("JANE AT ACME DOT IO", true),
            ("jane\u{3000}at\u{a0}acme dot io", true),
            ("closes at 18:00 UTC", false),
            ("meet at the office", false),
            ("that is what", false),
        ] {
            assert_eq!(spelled_domain(t), want, "{t:?}");
            if !want {
                assert!(!rules.email_spelled.is_match(t), "{t:?}");
            }
        }
    }

    #[test]
    fn spelled_at_is_the_four_substring_searches() {
        let reference = |t: &str| [" at ", " AT ", " @", "@ "].iter().any(|n| t.contains(n));
        for t in [
            "",
            " ",
            "@",
            "a@b",
            "jane at acme",
            "jane AT acme",
            "jane At acme",
            "at home",
            "meet me at",
            "x @y",
            "x@ y",
            "x @ y",
            "a  at  b",
            "cat at",
            "@@ ",
            " @@",
            "the rate is 5 at 3",
            "über at café",
            "a\tat b",
            "AT&T",
            " at\n",
        ] {
            assert_eq!(spelled_at(t), reference(t), "{t:?}");
        }
    }

    fn types(text: &str) -> Vec<String> {
        let mut hits = Vec::new();
        let f = Features::of(text);
        let ctx = super::super::secrets::SecretRules::new().scan(text, &f, &mut Vec::new());
        PiiRules::new().scan(text, &f, ctx, &mut hits);
        hits.iter().map(|h| h.ty.to_string()).collect()
    }

    /// Word boundaries are ASCII ones: a name or a birth word beside a
    /// non-ASCII letter is still one (`Wiśniewska`), and the patterns stay
    /// on the fast automaton on non-ASCII text instead of falling back to
    /// the slow one (a birth-word pattern 100 times slower on such a text).
    #[test]
    fn word_boundaries_beside_non_ascii_letters() {
        assert!(
            types("Miguel Wiśniewska wurde am 17. März 2004 geboren.")
                .contains(&"DATE_OF_BIRTH".to_owned())
        );
        assert!(
            types("Ärztin Jane Doe, DOB: 1983-03-04, Zürich").contains(&"DATE_OF_BIRTH".to_owned())
        );
        // Still a word: `dobro` is no `dob`.
        assert!(types("dobro 1983-03-04").is_empty());
    }

    /// Windows (range, digits, plus), IBAN start, year: a shape's parts.
    type ShapeParts = (Vec<(std::ops::Range<usize>, usize, bool)>, bool, bool);

    /// The shape pass as it was first written, byte by byte: the reference.
    fn shape_byte_by_byte(bytes: &[u8]) -> ShapeParts {
        let (mut windows, mut iban_start, mut year) = (Vec::new(), false, false);
        let mut i = 0;
        while i < bytes.len() {
            let class = CLASS[bytes[i] as usize];
            if class & (DIGIT | SEPARATOR) == 0 {
                if class == UPPER
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
            let mut run = 0;
            for j in start..=i {
                if j < i && CLASS[bytes[j] as usize] == DIGIT {
                    run += 1;
                } else {
                    year |= run == 4 && matches!(&bytes[j - 4..j - 2], b"19" | b"20");
                    run = 0;
                }
            }
            if digits >= 8 {
                windows.push((start..i, digits, plus));
            }
        }
        (windows, iban_start, year)
    }

    #[test]
    fn the_shape_read_from_digit_to_digit_is_the_byte_by_byte_shape() {
        let alphabet = b"0129 -.(+/_aZDEx";
        let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
        let mut texts: Vec<String> = [
            "",
            "DE89 3704 0044 0532 0130 00",
            "born 1984-03-12, call +1 (415) 555-2671",
            "GB82WEST12345698765432",
            "x2024y 2019 20190 1920-",
            "  --  12345678  ",
            "AB12",
            "AB1",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        for n in 0..3000 {
            texts.push(
                (0..n % 61)
                    .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
                    .collect(),
            );
        }
        for t in &texts {
            let s = Shape::of(t.as_bytes());
            let got: Vec<_> = s
                .windows
                .iter()
                .map(|w| (w.range.clone(), w.digits, w.plus))
                .collect();
            assert_eq!(
                (got, s.iban_start, s.year),
                shape_byte_by_byte(t.as_bytes()),
                "{t:?}"
            );
        }
    }

    #[test]
    fn separators_between_digits() {
        assert_eq!(inner_separators("-446655440000"), 0);
        assert_eq!(inner_separators(" 123-45-6789 "), 2);
        assert_eq!(inner_separators("(415) 555-2671"), 3);
        assert_eq!(inner_separators("--"), 0);
        // A UUID's digits are no SSN or phone number; a written one still is.
        assert!(types("id 550e8400-e29b-41d4-a716-446655440000").is_empty());
        assert_eq!(
            types("ssn 123 45 6789, call (415) 555-2671"),
            ["US_SSN", "PHONE_NUMBER"]
        );
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
            &Features::of("(jane@x.io, +1 415 555 0132) asks"),
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
        for role in [
            "write to support@acme.io",
            "From: noreply@github.com",
            "bounces+1234@mail.acme.io",
            "Billing@Acme.io",
            "postmaster@acme.io",
            "Sender: jira@acme.atlassian.net",
        ] {
            assert!(types(role).is_empty(), "{role}");
        }
        assert_eq!(types("write to supportive.jane@acme.io"), ["EMAIL"]);
        assert_eq!(types("write to jane.support@acme.io"), ["EMAIL"]);
        assert_eq!(types("jane@examples.com"), ["EMAIL"]);
    }

    /// Through the whole detector: folding, keys and JSON numbers included.
    fn found(text: &str, key: Option<&str>) -> Vec<(String, String)> {
        super::super::detector()
            .scan_text(text, key, &super::super::HostLists::default(), 0)
            .iter()
            .filter(|h| h.kind == Kind::Pii)
            .map(|h| (h.ty.to_string(), text[h.span.clone()].to_owned()))
            .collect()
    }

    /// No personal data at all in `text`.
    fn nothing(text: &str) {
        let f = found(text, None);
        assert!(f.is_empty(), "{text}: {f:?}");
    }

    fn one(text: &str, key: Option<&str>, ty: &str, value: &str) {
        assert_eq!(
            found(text, key),
            [(ty.to_owned(), value.to_owned())],
            "{text}"
        );
    }

    #[test]
    fn a_birth_date_needs_birth_context() {
        // Events near a name are not births.
        for text in [
            "Linus Torvalds announced Linux on 25 August 1991.",
            "The Apollo 11 landing was on July 20, 1969; Neil Armstrong stepped out first.",
            "Grace Hopper joined the Navy reserve on 3 December 1943.",
            "On March 4, 1983 Ada Lovelace Day was not yet a thing",
            "Tim Berners-Lee proposed the web in March 12, 1989 at CERN",
        ] {
            nothing(text);
        }
        // A birth word anywhere in the text, or the date as the name's attribute.
        for (text, date) in [
            (
                "Linus Torvalds, born 28 December 1969, wrote Linux",
                "28 December 1969",
            ),
            (
                "Patient Jane Doe. Birth: seen 1983-03-04 at intake",
                "1983-03-04",
            ),
            ("Jane Doe (March 04, 1983) joined", "March 04, 1983"),
            (
                "- Jane Martin — 19 February 1987 — Porto",
                "19 February 1987",
            ),
            (
                "Liam Müller was born on the 6th of January 1959 in Leeds.",
                "6th of January 1959",
            ),
            ("Jan Kowalski (b. March 4th, 1983)", "March 4th, 1983"),
        ] {
            one(text, None, "DATE_OF_BIRTH", date);
        }
    }

    #[test]
    fn birth_dates_in_many_languages() {
        for (text, date) in [
            ("氏名: 山田 太郎\n生年月日: 1976年1月27日", "1976年1月27日"),
            ("出生日期：1976年1月27日", "1976年1月27日"),
            ("생년월일: 1976년 1월 27일", "1976년 1월 27일"),
            (
                "Pan Jan Kowalski, ur. 11 stycznia 1950 r. w Krakowie.",
                "11 stycznia 1950",
            ),
            ("Data urodzenia: 4 marca 1983", "4 marca 1983"),
            ("geboren op 4 maart 1983 in Utrecht", "4 maart 1983"),
            ("nata il 4 maggio 1990 a Roma", "4 maggio 1990"),
            ("nascido em 12 de março de 1979", "12 de março de 1979"),
            ("född den 4 augusti 1983 i Malmö", "4 augusti 1983"),
            ("Doğum tarihi: 4 Mart 1983", "4 Mart 1983"),
            ("Дата рождения: 4 марта 1983 г.", "4 марта 1983"),
            ("Geburtsdatum: 1983/03/04", "1983/03/04"),
        ] {
            one(text, None, "DATE_OF_BIRTH", date);
        }
        assert!(found("Versand am 4 marca 2024 erledigt", None).is_empty());
    }

    #[test]
    fn cards_need_an_issuer_length_and_a_card_place() {
        // Luhn-valid look-alikes: an 18-digit snowflake, ids, JSON integers.
        for text in [
            "Pinned message 494580730215736815 from channel",
            r#"{"orders": [{"id": 4945807302157365, "line_items": 4}]}"#,
            "order 4945807302157365 shipped",
            "tracking: 4945807302157365",
            "ref 601194580730215730 x",
        ] {
            nothing(text);
        }
        assert!(found("4945807302157365", Some("order_id")).is_empty());
        assert!(found("4945807302157365", Some("orderId")).is_empty());
        // Real cards in their places, with the separators people type.
        for (text, card) in [
            ("pay with 4945807302157365 today", "4945807302157365"),
            (
                r#"{"amount": 5, "pan": 4945807302157365}"#,
                "4945807302157365",
            ),
            ("card 601194580730215730 x", "601194580730215730"),
            (
                "number on file 4945\u{2013}8073\u{2013}0215\u{2013}7365.",
                "4945\u{2013}8073\u{2013}0215\u{2013}7365",
            ),
            (
                "number on file 4945  8073  0215  7365.",
                "4945  8073  0215  7365",
            ),
            (
                "number on file 4945 - 8073 - 0215 - 7365.",
                "4945 - 8073 - 0215 - 7365",
            ),
            ("Diners 3694  580730  2157 ok", "3694  580730  2157"),
        ] {
            one(text, None, "PAYMENT_CARD", card);
        }
        one(
            "4945807302157365",
            Some("card_number"),
            "PAYMENT_CARD",
            "4945807302157365",
        );
        // Mixed separators, and lengths no brand issues (a 17-digit Visa).
        assert!(found("card 4945-8073 0215.7365", None).is_empty());
        assert!(
            !card_valid("49458073021573650"),
            "Visa has no 17-digit numbers"
        );
        assert!(
            !card_valid("30945807302157"),
            "Diners 14 starts 300-305, 36, 38, 39"
        );
        assert!(number_may_be_card(Some("card")) && number_may_be_card(Some("number")));
        assert!(!number_may_be_card(Some("id")) && !number_may_be_card(Some("line_items")));
    }

    #[test]
    fn separators_people_type() {
        for (text, ty, value) in [
            ("Wei Fernandes: 650/26/7876", "US_SSN", "650/26/7876"),
            ("record 597_68_9229 updated", "US_SSN", "597_68_9229"),
            (
                "file 527 \u{2013} 25 \u{2013} 8018.",
                "US_SSN",
                "527 \u{2013} 25 \u{2013} 8018",
            ),
            ("file 527 / 25 / 8018.", "US_SSN", "527 / 25 / 8018"),
            (
                "call (361)590\u{00B7}1864",
                "PHONE_NUMBER",
                "(361)590\u{00B7}1864",
            ),
            (
                "call 953 / 828 / 8161 now",
                "PHONE_NUMBER",
                "953 / 828 / 8161",
            ),
            (
                "call 953\u{2014}828\u{2014}8161 now",
                "PHONE_NUMBER",
                "953\u{2014}828\u{2014}8161",
            ),
            ("call 415 555-2671 now", "PHONE_NUMBER", "415 555-2671"),
        ] {
            one(text, None, ty, value);
        }
        for text in [
            "ids 650/26-7876 and 650_26/7876",
            "GET /v1/650/26/7876/items",
            "call 953 / 828-8161",
            "ratio 953/828/8161",
        ] {
            nothing(text);
        }
    }

    #[test]
    fn passports_in_many_languages() {
        for (text, number) in [
            ("Passport No: 747972529", "747972529"),
            ("Reisepassnummer: C01X00T47 (Erika M.)", "C01X00T47"),
            ("numéro de passeport : 06EZ72371", "06EZ72371"),
            ("pasaporte n.º JTF162438", "JTF162438"),
            ("passaporto numero YA1234567", "YA1234567"),
            ("paspoortnummer NX8FK21P4", "NX8FK21P4"),
            ("her passport number is IK292567, expiring 2031", "IK292567"),
            ("passport (A6031959) on file", "A6031959"),
            (r#"{"passport_number": "BQ940500"}"#, "BQ940500"),
            ("name,passport_no\nAsha Rao,K0082787\n", "K0082787"),
        ] {
            one(text, None, "PASSPORT_NUMBER", number);
        }
        one(
            "KNX889442",
            Some("pasaporte"),
            "PASSPORT_NUMBER",
            "KNX889442",
        );
        one(
            "G57F4JV5F",
            Some("Reisepass"),
            "PASSPORT_NUMBER",
            "G57F4JV5F",
        );
        for text in [
            "passport photo requirements 2024",
            "passport expires 20310101",
            "renew your passport at GOV.UK",
            "find us at acme.io or visit",
        ] {
            nothing(text);
        }
    }

    #[test]
    fn national_phones_under_a_phone_word() {
        one(
            "name,phone,city\nLukas Moreau,030 31223924,Springfield\n",
            None,
            "PHONE_NUMBER",
            "030 31223924",
        );
        one(
            r#"{"name": "B", "phone": "030 94811721"}"#,
            None,
            "PHONE_NUMBER",
            "030 94811721",
        );
        one("Tel.: 089/1234567", None, "PHONE_NUMBER", "089/1234567");
        one(
            "030 31223924",
            Some("phone"),
            "PHONE_NUMBER",
            "030 31223924",
        );
        one(
            "030 31223924",
            Some("contactTelefon"),
            "PHONE_NUMBER",
            "030 31223924",
        );
        // Without a phone word the same digits are a reference.
        assert!(found("batch 030 31223924 done", None).is_empty());
        assert!(found("phone case order 0301234567 shipped", None).is_empty());
        assert!(found("030 31223924", Some("batch")).is_empty());
        assert!(found("12", Some("phone")).is_empty());
        // Table columns named in other languages; an id column holds no cards.
        one(
            "nom;passeport\nJean Roux;06EZ72371\n",
            None,
            "PASSPORT_NUMBER",
            "06EZ72371",
        );
        one(
            "name,handy\nLukas,555 0199\n",
            None,
            "PHONE_NUMBER",
            "555 0199",
        );
        assert!(found("id,name\n4945807302157365,Jane\n", None).is_empty());
        one(
            "name,card\nJane,4945807302157365\n",
            None,
            "PAYMENT_CARD",
            "4945807302157365",
        );
    }

    #[test]
    fn context_words_count_only_nearby() {
        let filler = "lorem ipsum dolor sit amet ".repeat(12);
        // A word far before the value, not in a header line, is no context.
        for text in [
            format!("call my phone later. {filler} batch 030 31223924 done"),
            format!("credit note attached. {filler} {{\"total\": 4945807302157365}}"),
            format!("her birthday party. {filler} Ada Lovelace announced it on 4 May 1983"),
        ] {
            assert!(
                found(&text, None).is_empty(),
                "{text}: {:?}",
                found(&text, None)
            );
        }
        // In a table's header line it is, however long the table.
        let rows: String = (0..12).map(|i| format!("Row Person{i},n/a\n")).collect();
        let table = format!("name,phone\n{rows}Lukas Moreau,030 31223924\n");
        one(&table, None, "PHONE_NUMBER", "030 31223924");
        // `b.` is a birth only in an aside: `(b. …)`, `, b. …`.
        assert!(found("see section b. 1983-03-04 for the plan", None).is_empty());
    }
}
