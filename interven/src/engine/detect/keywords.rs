//! Every occurrence of a set of keywords (ASCII case-insensitive), as an
//! overlapping Aho-Corasick search reports them, found without walking the
//! automaton over every byte.
//!
//! An overlapping search over a large automaton costs one dependent load per
//! byte of text, and its tables do not stay in cache between strings. Here a
//! table of the keywords' first three bytes (4 KiB, hashed) picks the
//! positions where a keyword can start, each test independent of the last;
//! a second table, of their first four bytes, confirms each such position;
//! the automaton (a DFA built anchored) is walked only from the positions
//! that pass both, and only as far as a keyword's prefix goes, so only the
//! rows near its root are read. The matches are given
//! in the order the overlapping search gives them (by end, then by start,
//! then by pattern) as soon as no later one can come before them, so callers
//! that keep the first few see the same ones.

use aho_corasick::automaton::Automaton;
use aho_corasick::{Anchored, Match};

/// Bits in each table (a power of two).
const BITS: usize = 1 << 15;

/// A set of hashed byte groups, one bit each.
struct Table(Box<[u64; BITS / 64]>);

impl Table {
    fn new() -> Table {
        Table(Box::new([0; BITS / 64]))
    }

    /// The slot of up to four folded bytes.
    #[inline(always)]
    const fn slot(bytes: u32) -> usize {
        (bytes.wrapping_mul(0x9E37_79B1) >> (32 - 15)) as usize
    }

    fn insert(&mut self, bytes: u32) {
        let s = Table::slot(bytes);
        self.0[s / 64] |= 1 << (s % 64);
    }

    #[inline(always)]
    fn contains(&self, bytes: u32) -> bool {
        let s = Table::slot(bytes);
        self.0[s / 64] >> (s % 64) & 1 != 0
    }
}

/// The keywords and the tables of where they can start.
pub(crate) struct Keywords {
    dfa: aho_corasick::dfa::DFA,
    /// The first three bytes of every keyword (shorter ones padded with
    /// every byte), folded.
    three: Table,
    /// The first four bytes of every keyword of four bytes or more...
    four: Table,
    /// ...and the first three of every shorter one (as in `three`).
    short: Table,
    /// A keyword of one byte: every position is a candidate.
    any_position: bool,
}

/// ASCII upper case to lower case; every other byte stays.
static FOLD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).to_ascii_lowercase();
        i += 1;
    }
    t
};

impl Keywords {
    /// The automaton of `patterns` (none empty), matched ASCII
    /// case-insensitively; pattern IDs are their indexes.
    pub(crate) fn new(patterns: &[&str]) -> Result<Keywords, aho_corasick::BuildError> {
        // Anchored only: no failure transitions are followed, and a walk
        // stays near the root, where the table's rows are.
        let dfa = aho_corasick::dfa::Builder::new()
            .ascii_case_insensitive(true)
            .start_kind(aho_corasick::StartKind::Anchored)
            .build(patterns)?;
        let (mut three, mut four, mut short) = (Table::new(), Table::new(), Table::new());
        let mut any_position = false;
        for p in patterns {
            let b: Vec<u32> = p.bytes().map(|b| u32::from(FOLD[b as usize])).collect();
            match b[..] {
                [] => {}
                [_] => any_position = true,
                // A two-byte keyword starts with any next byte (or none: the
                // text is read as if zero bytes followed its end).
                [x, y] => {
                    for z in 0..=255u8 {
                        three.insert(x << 16 | y << 8 | u32::from(FOLD[z as usize]));
                        short.insert(x << 16 | y << 8 | u32::from(FOLD[z as usize]));
                    }
                }
                [x, y, z] => {
                    three.insert(x << 16 | y << 8 | z);
                    short.insert(x << 16 | y << 8 | z);
                }
                [x, y, z, w, ..] => {
                    three.insert(x << 16 | y << 8 | z);
                    four.insert(x << 24 | y << 16 | z << 8 | w);
                }
            }
        }
        Ok(Keywords {
            dfa,
            three,
            four,
            short,
            any_position,
        })
    }

    /// Calls `found` with every match in `text`, in the order of an
    /// overlapping search: by end, then by start (the longer first), then
    /// by pattern.
    pub(crate) fn for_each(&self, text: &[u8], mut found: impl FnMut(Match)) {
        // The matches found but not yet given, in order. A match from a
        // later start ends after that start, so those that end by it are
        // final: at most a few keywords' worth are held, however long the text.
        let mut pending: Vec<Match> = Vec::new();
        self.candidates(text, |i| {
            if pending.first().is_some_and(|m| m.end() <= i) {
                let done = pending.iter().take_while(|m| m.end() <= i).count();
                pending.drain(..done).for_each(&mut found);
            }
            self.from(text, i, &mut pending);
            false
        });
        pending.into_iter().for_each(found);
    }

    /// Every match in `text`, as [`for_each`](Self::for_each) gives them.
    #[cfg(test)]
    pub(crate) fn find_all(&self, text: &[u8]) -> Vec<Match> {
        let mut out = Vec::new();
        self.for_each(text, |m| out.push(m));
        out
    }

    /// Whether `text` holds any keyword.
    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        let mut out = Vec::new();
        self.candidates(text, |i| {
            self.from(text, i, &mut out);
            !out.is_empty()
        })
    }

    /// Calls `at` with each position where a keyword may start, in order,
    /// until it returns true; whether it did.
    #[inline(always)]
    fn candidates(&self, text: &[u8], mut at: impl FnMut(usize) -> bool) -> bool {
        if self.any_position {
            return (0..text.len()).any(at);
        }
        let fold = |b: u8| u32::from(FOLD[b as usize]);
        // The three bytes from each position; past the end, zero bytes.
        let mut window = match *text {
            [] => return false,
            [a] => {
                let window = fold(a) << 16;
                return self.three.contains(window) && self.confirmed(text, 0, window) && at(0);
            }
            [a, b, ..] => fold(a) << 8 | fold(b),
        };
        for (i, &b) in text[2..].iter().enumerate() {
            window = (window << 8 | fold(b)) & 0x00FF_FFFF;
            if self.three.contains(window) && self.confirmed(text, i, window) && at(i) {
                return true;
            }
        }
        for i in text.len() - 2..text.len() {
            window = (window << 8) & 0x00FF_FFFF;
            if self.three.contains(window) && self.confirmed(text, i, window) && at(i) {
                return true;
            }
        }
        false
    }

    /// Whether a keyword may start at `i`, where three bytes `window` start
    /// (the text's fourth byte from `i` decides).
    #[inline(always)]
    fn confirmed(&self, text: &[u8], i: usize, window: u32) -> bool {
        let next = text.get(i + 3).map_or(0, |&b| u32::from(FOLD[b as usize]));
        self.short.contains(window) || self.four.contains(window << 8 | next)
    }

    /// Adds the matches that start at `start` to `out`, kept in order.
    #[inline(never)]
    fn from(&self, text: &[u8], start: usize, out: &mut Vec<Match>) {
        // The DFA is built anchored: its anchored start state exists.
        let Ok(mut sid) = self.dfa.start_state(Anchored::Yes) else {
            return;
        };
        for (end, &b) in text.iter().enumerate().skip(start) {
            sid = self.dfa.next_state(Anchored::Yes, sid, b);
            if self.dfa.is_dead(sid) {
                return;
            }
            if self.dfa.is_match(sid) {
                for k in 0..self.dfa.match_len(sid) {
                    let pid = self.dfa.match_pattern(sid, k);
                    // A match state also lists the keywords that end here
                    // but start later; those are found from their own start.
                    if end + 1 - start != self.dfa.pattern_len(pid) {
                        continue;
                    }
                    let m = Match::new(pid, start..end + 1);
                    let key = |m: &Match| (m.end(), m.start(), m.pattern());
                    let at = out
                        .iter()
                        .rposition(|o| key(o) < key(&m))
                        .map_or(0, |p| p + 1);
                    out.insert(at, m);
                }
            }
        }
    }

    /// The number of keywords.
    #[cfg(test)]
    pub(crate) fn patterns_len(&self) -> usize {
        self.dfa.patterns_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_of_every_length_are_found_at_every_position() {
        let patterns = [
            "@", "x", "pw", "Ab", "key", "keys", "ey", "é", "né le", "://",
        ];
        let reference = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns)
            .unwrap();
        let ours = Keywords::new(&patterns).unwrap();
        let pieces = [
            "@", "x", "P", "w", "a", "B", "KEY", "s", "y", "é", "n", "ÉN", " ", ":", "/",
        ];
        let mut rng = fastrand::Rng::with_seed(0x00c0_ffee);
        for n in 0..5000 {
            let text: String = (0..n % 13)
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let want: Vec<Match> = reference.find_overlapping_iter(&text).collect();
            assert_eq!(ours.find_all(text.as_bytes()), want, "{text:?}");
            assert_eq!(ours.is_match(text.as_bytes()), !want.is_empty(), "{text:?}");
        }
    }
}
