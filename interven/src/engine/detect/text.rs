//! Small checks on candidate values: entropy, placeholders, checksums.

/// Shannon entropy of `s` in bits per byte.
pub(crate) fn entropy(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let len = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// How many of lower case, upper case and digits `s` mixes.
pub(crate) fn char_classes(s: &str) -> usize {
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    usize::from(lower) + usize::from(upper) + usize::from(digit)
}

/// Documented example and placeholder values: `AKIA…EXAMPLE`, `sk-proj-...`,
/// `YOUR_API_KEY`, `xoxb-your-token`, `<token>`, `${SECRET}`, `****`, `xxxx`.
pub(crate) fn is_placeholder(value: &str) -> bool {
    const MARKERS: &[&str] = &[
        "example",
        "your",
        "xxxx",
        "...",
        "…",
        "placeholder",
        "changeme",
        "change_me",
        "dummy",
        "sample",
        "redacted",
        "****",
        "<",
        ">",
        "${",
        "{{",
        "%s",
        "insert",
        "replace_me",
        "replaceme",
        "_here",
        "-here",
        "notreal",
        "not_real",
        "not-a-real",
    ];
    let lower = value.to_ascii_lowercase();
    if MARKERS.iter().any(|m| lower.contains(m)) || is_masked(value) {
        return true;
    }
    // `change-me`, `Change.Me!`, `changeit` (the JDK keystore's default),
    // `replace-me`: the words with whatever between them.
    let letters: String = lower.chars().filter(char::is_ascii_alphabetic).collect();
    if [
        "changeme",
        "changeit",
        "replaceme",
        "fillmein",
        "setme",
        "todo",
        "fixme",
    ]
    .iter()
    .any(|w| letters.starts_with(w) && letters.len() <= w.len() + 4)
    {
        return true;
    }
    let mut distinct = [false; 256];
    for b in value.bytes() {
        distinct[b as usize] = true;
    }
    let distinct = distinct.iter().filter(|&&d| d).count();
    distinct <= 3 || lower.contains("0123456789") || lower.contains("abcdefghij")
}

/// A masked value: a run of three or more mask characters (`•`, `●`, `*`,
/// `#`, `█`…) or four or more `x`/`X` inside it, as consoles and receipts
/// print a credential or card they hide (`sk_live_••••••••4242`, `****1234`,
/// `xxxx-xxxx-1234`).
pub(crate) fn is_masked(value: &str) -> bool {
    const MASKS: &[char] = &['•', '●', '∙', '·', '◦', '*', '#', '█', '░', '▪', '■', '⋅'];
    let (mut run, mut xs) = (0usize, 0usize);
    for c in value.chars() {
        run = if MASKS.contains(&c) { run + 1 } else { 0 };
        xs = if c == 'x' || c == 'X' { xs + 1 } else { 0 };
        if run >= 3 || xs >= 4 {
            return true;
        }
    }
    false
}

/// Letters only, but random rather than a word or an identifier: ten or
/// more, upper and lower case mixed, the case changing at least every third
/// letter and fewer vowels than language has (`FhJEXngthHqVfcQn`, not
/// `PasswordInput`, `required`, `getElementById`).
pub(crate) fn is_random_letters(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 10 || b.len() > 128 || !b.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let lower = b.len() - upper;
    let changes = b
        .windows(2)
        .filter(|w| w[0].is_ascii_uppercase() != w[1].is_ascii_uppercase())
        .count();
    let vowels = b
        .iter()
        .filter(|c| matches!(c.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u'))
        .count();
    upper >= 2 && lower >= 2 && changes * 3 >= b.len() && vowels * 20 < b.len() * 7
}

/// A bare word (letters only, up to 24): a type, a label or an English
/// word after `password:`, not a credential.
pub(crate) fn is_word(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 24
        && value.bytes().all(|b| b.is_ascii_alphabetic())
        && !is_random_letters(value)
}

/// A value that refers to a secret kept elsewhere rather than being one:
/// an environment or template reference (`${DB_PASSWORD}`, `$API_KEY`,
/// `%TOKEN%`, `{{ secrets.X }}`), a code expression (`os.environ`,
/// `process.env.API_KEY`, `settings.SECRET_KEY`), a secret-manager or other
/// URI (`arn:aws:secretsmanager:…`, `vault:…`, `op://…`), a file path, an
/// environment variable's name (`DB_PASSWORD`), a YAML tag or alias
/// (`!vault`, `*default`), or a masking marker (`(sensitive value)`,
/// `[hidden]`, `<redacted>`).
pub(crate) fn is_reference(value: &str) -> bool {
    let v = value.trim();
    let Some(first) = v.bytes().next() else {
        return true;
    };
    // A name after a sigil, and nothing else: `$API_KEY`, `*default`
    // (a YAML alias), `&anchor`, `@secret_name`, `!vault` / `!Ref x` (a
    // YAML tag); `%TOKEN%`. A generated password may start with any of
    // these symbols (`!5oa!F7*6ySq`, `$up3r$ecret`): it is not a reference.
    let ident = |s: &str| {
        let mut b = s.bytes();
        b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'))
    };
    let rest = v.get(1..).unwrap_or("");
    // A variable is named in one case (`$DB_PASS`, `$db_pass`); a
    // generated password mixes them (`$bY6y08oMXPo3I7`).
    let one_case = |s: &str| {
        let has = |f: fn(&u8) -> bool| s.bytes().any(|b| f(&b));
        !(has(u8::is_ascii_lowercase) && has(u8::is_ascii_uppercase) && has(u8::is_ascii_digit))
    };
    let sigil_name = match first {
        b'$' | b'*' | b'&' | b'@' => ident(rest) && one_case(rest),
        // A YAML tag is a word: `!vault`, `!Ref x`, `!!binary`.
        b'!' => rest
            .trim_start_matches('!')
            .split(' ')
            .next()
            .is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphabetic())),
        b'%' => rest.strip_suffix('%').is_some_and(ident) || rest.starts_with('(') || rest == "s",
        _ => false,
    };
    // A template or a marker, opened and closed: `${…}`, `$(…)`, `{{ … }}`,
    // `[hidden]`, `(sensitive value)`, `<redacted>`, `#{…}`.
    let closing = |open: char, close: char| v.contains(open) && v.ends_with(close);
    let bracketed = matches!(first, b'{' | b'[' | b'(' | b'<')
        || v.starts_with("#{")
        || v.starts_with("${")
        || v.starts_with("$(")
        || v.contains("{{")
        || closing('{', '}')
        || closing('<', '>')
        || closing('(', ')')
        || closing('[', ']');
    if sigil_name || bracketed {
        return true;
    }
    // An environment variable's name: PASSWORD, DB_PASSWORD, API_KEY_2.
    let env_name = v
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && first.is_ascii_uppercase()
        && (v.contains('_') || v.bytes().all(|b| b.is_ascii_uppercase()));
    if env_name {
        return true;
    }
    // A URI or secret-manager reference.
    if let Some((scheme, rest)) = v.split_once(':')
        && !scheme.is_empty()
        && scheme.len() <= 24
        && scheme.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-')
        })
        && scheme.as_bytes()[0].is_ascii_lowercase()
        && (rest.starts_with("//") || rest.contains(':') || rest.contains('/'))
    {
        return true;
    }
    // A dotted chain of identifiers: process.env.API_KEY, settings.SECRET_KEY.
    let segment = |s: &str| {
        !s.is_empty()
            && s.len() <= 32
            && (s
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
                || s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
    };
    if v.contains('.') && v.split('.').all(segment) {
        return true;
    }
    // A path: every segment lower case (random tokens mix cases), or a file name.
    if v.contains('/') {
        let lower = v.split('/').all(|s| {
            s.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'-' | b'~' | b'#')
            })
        });
        let file = v.rsplit_once('.').is_some_and(|(_, ext)| {
            (1..=5).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_lowercase())
        });
        if lower || file {
            return true;
        }
    }
    false
}

/// The Luhn checksum used by payment cards.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Base62 with the alphabet `0-9A-Za-z`, left-padded with `0` to `width`.
pub(crate) fn base62(mut n: u32, width: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(width);
    while n > 0 {
        out.push(ALPHABET[(n % 62) as usize]);
        n /= 62;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The CRC32 checksum tail of GitHub and npm tokens: the last six characters
/// are the CRC32 of the random part before them, in base62.
pub(crate) fn crc32_tail_valid(random_and_tail: &str) -> bool {
    if random_and_tail.len() < 7 || !random_and_tail.is_ascii() {
        return false;
    }
    let (body, tail) = random_and_tail.split_at(random_and_tail.len() - 6);
    base62(crc32fast::hash(body.as_bytes()), 6) == tail
}

/// `true` when the character before `start` and after `end` are not part of a token.
pub(crate) fn bounded(text: &str, start: usize, end: usize) -> bool {
    let token = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let bytes = text.as_bytes();
    (start == 0 || !token(bytes[start - 1])) && (end >= bytes.len() || !token(bytes[end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_letters_are_not_words() {
        for random in [
            "FhJEXngthHqVfcQn",
            "ZaLXbJwvxkpQYAJO",
            "cxcWxFzIHvKNUxmV",
            "sfULAaAwJhDw",
        ] {
            assert!(is_random_letters(random) && !is_word(random), "{random}");
        }
        for word in [
            "required",
            "PasswordInput",
            "getElementById",
            "SecureString",
            "PASSWORDFIELD",
            "changeMeLater",
            "Administrator",
        ] {
            assert!(!is_random_letters(word) && is_word(word), "{word}");
        }
    }

    #[test]
    fn placeholders() {
        for p in [
            "AKIAIOSFODNN7EXAMPLE",
            "sk-proj-...",
            "YOUR_API_KEY",
            "xoxb-your-token",
            "<token>",
            "${SECRET}",
            "xxxxxxxx",
            "aaaaaaaaaaaa",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        assert!(!is_placeholder("q8Vz3kLmP2wXr7Tn"));
    }

    #[test]
    fn references_are_not_secrets() {
        for r in [
            "${DB_PASSWORD}",
            "$API_KEY",
            "%TOKEN%",
            "process.env.API_KEY",
            "settings.SECRET_KEY",
            "os.environ",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db",
            "vault:secret/data/prod/db#password",
            "op://Engineering/db/credential",
            "projects/123/secrets/db-password/versions/latest",
            "backups/secrets/db-token-2024.json",
            "DB_PASSWORD",
            "PASSWORD",
            "!vault",
            "!Ref DbPassword",
            "!!binary",
            "*default_password",
            "&db_password",
            "$db_pass",
            "%(password)s",
            "$(cat /run/secrets/db)",
            "{{ .Values.password }}",
            "(sensitive value)",
            "[hidden]",
            "<redacted>",
            "https://acme.vault.azure.net/secrets/api-key",
        ] {
            assert!(is_reference(r), "{r}");
        }
        for secret in [
            "Zq8!kPm2xR",
            "Q3EGRB4VXLTU7MCN",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzKQ0aB1cD2",
            "hvs.CAESIJ4k2Lm9",
            "correct-horse-battery-9",
            "!5oa!F7*6ySqus*x",
            "!lantern-candle-falcon-58",
            "$bY6y08oMXPo3I7",
            "*Tr0ub4dor&3",
            "@Hk29!xLq",
            "Tr0ub4dor&3)",
        ] {
            assert!(!is_reference(secret), "{secret}");
        }
        assert!(is_word("String") && is_word("required") && !is_word("Summer2024!"));
    }

    #[test]
    fn luhn_and_crc() {
        assert!(luhn_valid(&[
            4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
        ]));
        assert!(!luhn_valid(&[
            4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2
        ]));
        let body = "abcDEF0123456789ghijKLMNOPqrst";
        let token = format!("{body}{}", base62(crc32fast::hash(body.as_bytes()), 6));
        assert!(crc32_tail_valid(&token));
        assert!(!crc32_tail_valid(&token.replace('a', "b")));
        assert!(entropy("aaaa") < 0.01 && entropy("abcd") > 1.9);
    }
}

/// What one pass over a string's bytes tells the detectors: which bytes
/// occur. Each later pass that needs a byte the string does not have is
/// skipped, so a clean string costs one pass instead of one per detector.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Features {
    mask: u32,
}

/// A byte `>= 0x80` (the string is not ASCII).
pub(crate) const NON_ASCII: u32 = 1;
/// `&` (an HTML character reference).
pub(crate) const AMPERSAND: u32 = 1 << 1;
/// `\` (a string escape).
pub(crate) const BACKSLASH: u32 = 1 << 2;
/// `%` (percent-encoding).
pub(crate) const PERCENT: u32 = 1 << 3;
/// `"`, `'` or `` ` `` (a literal, a concatenation).
pub(crate) const QUOTE: u32 = 1 << 4;
/// `@`.
pub(crate) const AT: u32 = 1 << 5;
/// `[`, `(`, `{` or `<`.
pub(crate) const OPENING: u32 = 1 << 6;
/// An ASCII digit.
pub(crate) const DIGIT: u32 = 1 << 7;
/// `=`.
pub(crate) const EQUALS: u32 = 1 << 8;
/// `$`.
pub(crate) const DOLLAR: u32 = 1 << 9;
/// `+`.
pub(crate) const PLUS: u32 = 1 << 10;
/// `.`.
pub(crate) const DOT: u32 = 1 << 11;
/// A space.
pub(crate) const SPACE: u32 = 1 << 12;
/// `:`.
pub(crate) const COLON: u32 = 1 << 13;
/// Any byte that is not an ASCII letter, `_` or `-`.
pub(crate) const NOT_NAME: u32 = 1 << 14;
/// A line feed.
pub(crate) const NEWLINE: u32 = 1 << 15;
/// `[`.
pub(crate) const BRACKET: u32 = 1 << 16;
/// What [`normalize::fold`](super::normalize::fold) can change: non-ASCII,
/// character references, escapes, percent-encoding, concatenated literals.
pub(crate) const FOLDABLE: u32 = NON_ASCII | AMPERSAND | BACKSLASH | PERCENT | QUOTE;

/// A byte of base64, standard or URL-safe (padding aside).
pub(crate) const fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-')
}

static FEATURE_CLASS: [u32; 256] = {
    let mut t = [NOT_NAME; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = NON_ASCII | NOT_NAME;
        i += 1;
    }
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = 0;
        t[(c - 32) as usize] = 0;
        c += 1;
    }
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT | NOT_NAME;
        c += 1;
    }
    t[b'_' as usize] = 0;
    t[b'-' as usize] = 0;
    t[b'+' as usize] = PLUS | NOT_NAME;
    t[b'&' as usize] = AMPERSAND | NOT_NAME;
    t[b'\\' as usize] = BACKSLASH | NOT_NAME;
    t[b'%' as usize] = PERCENT | NOT_NAME;
    t[b'"' as usize] = QUOTE | NOT_NAME;
    t[b'\'' as usize] = QUOTE | NOT_NAME;
    t[b'`' as usize] = QUOTE | NOT_NAME;
    t[b'@' as usize] = AT | NOT_NAME;
    t[b'[' as usize] = OPENING | BRACKET | NOT_NAME;
    t[b'(' as usize] = OPENING | NOT_NAME;
    t[b'{' as usize] = OPENING | NOT_NAME;
    t[b'<' as usize] = OPENING | NOT_NAME;
    t[b'=' as usize] = EQUALS | NOT_NAME;
    t[b'$' as usize] = DOLLAR | NOT_NAME;
    t[b'.' as usize] = DOT | NOT_NAME;
    t[b':' as usize] = COLON | NOT_NAME;
    t[b' ' as usize] = SPACE | NOT_NAME;
    t[b'\n' as usize] = NEWLINE | NOT_NAME;
    t
};

impl Features {
    /// The features of `text`, in one pass over its bytes.
    pub(crate) fn of(text: &str) -> Features {
        // Four independent accumulators: the loop is bound by its loads.
        let mut m = [0u32; 4];
        let mut chunks = text.as_bytes().chunks_exact(4);
        for c in &mut chunks {
            m[0] |= FEATURE_CLASS[c[0] as usize];
            m[1] |= FEATURE_CLASS[c[1] as usize];
            m[2] |= FEATURE_CLASS[c[2] as usize];
            m[3] |= FEATURE_CLASS[c[3] as usize];
        }
        for &b in chunks.remainder() {
            m[0] |= FEATURE_CLASS[b as usize];
        }
        Features {
            mask: m[0] | m[1] | m[2] | m[3],
        }
    }

    /// The features of two texts together (of a text, from its parts').
    pub(crate) fn union(self, other: Features) -> Features {
        Features {
            mask: self.mask | other.mask,
        }
    }

    /// Whether the string holds any of the bytes of `flags`.
    pub(crate) fn any(&self, flags: u32) -> bool {
        self.mask & flags != 0
    }
}

/// Bit 7 of each byte of `w` that is in `lo..=hi` (an ASCII range), no
/// other bit set.
#[inline(always)]
pub(crate) const fn in_range_mask(w: u64, lo: u8, hi: u8) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const LOW7: u64 = ONES * 0x7f;
    const HIGH: u64 = ONES * 0x80;
    // Per byte, without carries between bytes (each sum stays under 0x100):
    // the high bit of `x + 0x7f - hi` is set where the low seven bits
    // exceed `hi`, that of `x + 0x80 - lo` where they reach `lo`; a byte
    // with its own high bit set is outside every ASCII range.
    let (above, from) = (ONES * (0x7f - hi as u64), ONES * (0x80 - lo as u64));
    let x = w & LOW7;
    (x + from) & !(x + above) & !w & HIGH
}

/// The index of the first byte of `bytes` in `lo..=hi` (an ASCII range),
/// eight bytes at a time: each word's bytes are tested together, without
/// a branch per byte.
#[inline]
pub(crate) fn find_in_range(bytes: &[u8], lo: u8, hi: u8) -> Option<usize> {
    debug_assert!(lo >= 1 && hi < 0x7f && lo <= hi);
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let hits = in_range_mask(w, lo, hi);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| (lo..=hi).contains(&b))
        .map(|p| at + p)
}

/// Classes of [`first_run`]: hex digits and spaces, base64 bytes.
const HEX: u8 = 1;
const B64: u8 = 2;
static RUN_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        if is_base64_byte(b) {
            t[c] |= B64;
        }
        if b.is_ascii_hexdigit() || b == b' ' {
            t[c] |= HEX;
        }
        c += 1;
    }
    t
};

/// Where the first run of at least `len` base64 bytes in `bytes` starts
/// (the first byte counts as a run's start): see [`first_run`].
pub(crate) fn first_base64_run(bytes: &[u8], len: usize) -> Option<usize> {
    first_run(bytes, &RUN_CLASS, B64, len)
}

/// Where the first run that an encoded value needs starts: a run of 16
/// hex digits and spaces (a hex run, or 8 bytes written `hh hh …`), and
/// one of 18 base64 characters (a token of 20 with its padding). `None`
/// when the text has no such run; decoding starts there, since no
/// candidate can start before.
pub(crate) fn encoded_runs(text: &str) -> (Option<usize>, Option<usize>) {
    let bytes = text.as_bytes();
    (
        first_run(bytes, &RUN_CLASS, HEX, 16),
        first_run(bytes, &RUN_CLASS, B64, 18),
    )
}

/// Where the first run of at least `len` bytes of `class` starts. Only
/// the last byte of each window of `len` is read first: a byte outside the
/// class rules out every run that would cover it, so the search skips past
/// it; each byte is read at most once.
fn first_run(bytes: &[u8], classes: &[u8; 256], class: u8, len: usize) -> Option<usize> {
    debug_assert!(len > 0);
    let is = |b: u8| classes[b as usize] & class != 0;
    // No run starts before `start`; a run starting at or after it covers `start + len - 1`.
    let mut start = 0;
    while let Some(&last) = bytes.get(start + len - 1) {
        let end = start + len - 1;
        if !is(last) {
            start = end + 1;
            continue;
        }
        // The run holding `end` starts at `s`: no run starts in `start..s`.
        let mut s = end;
        while s > start && is(bytes[s - 1]) {
            s -= 1;
        }
        let mut e = end + 1;
        while e < s + len && e < bytes.len() && is(bytes[e]) {
            e += 1;
        }
        if e == s + len {
            return Some(s);
        }
        // Every run starting in `s..=e` would cover `e`, which is outside the class.
        start = e + 1;
    }
    None
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    #[test]
    fn find_in_range_is_the_first_byte_in_range() {
        let mut rng = fastrand::Rng::with_seed(0x0123_4567);
        let ranges = [
            (b'0', b'9'),
            (b'A', b'Z'),
            (b'a', b'z'),
            (1, 0x7e),
            (b'@', b'@'),
        ];
        for n in 0..20_000 {
            // Bytes near the ranges' edges, and every other byte now and then.
            let near = [
                b'/', b'0', b'9', b':', b'@', b'A', b'Z', b'[', b'`', b'a', b'z', b'{',
            ];
            let bytes: Vec<u8> = (0..n % 40)
                .map(|_| match rng.u8(..4) {
                    0 => rng.u8(..),
                    1 => rng.u8(0x80..) ^ rng.u8(..0x10),
                    _ => near[rng.usize(..near.len())],
                })
                .collect();
            for &(lo, hi) in &ranges {
                let want = bytes.iter().position(|b| (lo..=hi).contains(b));
                assert_eq!(find_in_range(&bytes, lo, hi), want, "{bytes:?} {lo}..={hi}");
            }
        }
    }

    #[test]
    fn features_name_the_bytes_present() {
        let f = Features::of("api_key-name");
        assert!(!f.any(NOT_NAME | DIGIT | AT | NON_ASCII));
        let f = Features::of("mail jane@acme.io (2024)");
        assert!(f.any(AT) && f.any(DIGIT) && f.any(SPACE) && f.any(OPENING) && f.any(DOT));
        assert!(!f.any(QUOTE | BACKSLASH | PERCENT | AMPERSAND | EQUALS | DOLLAR | PLUS | COLON));
        assert!(Features::of("Ｐａｓｓ").any(NON_ASCII));
        // Lengths around the unrolled loop's remainder.
        for n in 0..9 {
            let s = "a".repeat(n) + "=";
            assert!(Features::of(&s).any(EQUALS), "{n}");
        }
    }

    #[test]
    fn encoded_runs_start_where_the_first_run_starts() {
        assert_eq!(
            encoded_runs("short text, no runs here at all"),
            (None, None)
        );
        let text = "trace=4bf92f3577b34da6a3ce929d0e0e4736 done";
        // Both runs start after `=`, which only pads a token.
        assert_eq!(encoded_runs(text), (Some(6), Some(6)));
        assert_eq!(
            encoded_runs("id: req_01HZX3Q7YV5M2K8N4P6R9T0W1B").1,
            Some(4)
        );
        // Hex bytes written with spaces are one run of hex and spaces.
        assert_eq!(encoded_runs("x: 48 65 6c 6c 6f 20 77").0, Some(2));
        // 17 base64 characters are no token; 18 are (20 with `==`).
        assert_eq!(encoded_runs("!QUJDREVGR0hJSktMTU5P").1, Some(1));
        assert_eq!(encoded_runs("!QUJDREVGR0hJSktMT!").1, None);
    }

    #[test]
    fn the_skipping_run_search_finds_what_a_byte_by_byte_count_finds() {
        // The byte-by-byte count: a run grows or restarts at 0.
        fn reference(text: &[u8], class: fn(u8) -> bool, len: usize) -> Option<usize> {
            let mut run = 0;
            for (i, &b) in text.iter().enumerate() {
                run = if class(b) { run + 1 } else { 0 };
                if run == len {
                    return Some(i + 1 - len);
                }
            }
            None
        }
        let hex = |b: u8| b.is_ascii_hexdigit() || b == b' ';
        // Few symbols, so that runs of every length and their edges come up.
        let alphabet = b"a f0 z9=+/-_.!GQ";
        let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
        for n in 0..4000 {
            let size = n % 97;
            let text: String = (0..size)
                .map(|_| {
                    // Long stretches of one class now and then.
                    let pick = if n % 3 == 0 {
                        rng.usize(..4)
                    } else {
                        rng.usize(..16)
                    };
                    alphabet[pick] as char
                })
                .collect();
            let want = (
                reference(text.as_bytes(), hex, 16),
                reference(text.as_bytes(), is_base64_byte, 18),
            );
            assert_eq!(encoded_runs(&text), want, "{text:?}");
        }
    }
}
