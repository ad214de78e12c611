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

/// A set of hashed byte groups, one bit each, hashed with the multiplier
/// `M`. The tables a position is tested against hash differently, so a
/// group that collides in one is unlikely to collide in the next.
struct Table<const M: u32>(Box<[u64; BITS / 64]>);

impl<const M: u32> Table<M> {
    fn new() -> Self {
        Table(Box::new([0; BITS / 64]))
    }

    /// The slot of up to four folded bytes.
    #[inline(always)]
    const fn slot(bytes: u32) -> usize {
        (bytes.wrapping_mul(M) >> (32 - 15)) as usize
    }

    fn insert(&mut self, bytes: u32) {
        let s = Self::slot(bytes);
        self.0[s / 64] |= 1 << (s % 64);
    }

    #[inline(always)]
    fn contains(&self, bytes: u32) -> bool {
        let s = Self::slot(bytes);
        self.0[s / 64] >> (s % 64) & 1 != 0
    }
}

/// Odd multipliers with well-mixed high bits (Fibonacci hashing's, and two
/// other 32-bit constants of the kind).
const M_THREE: u32 = 0x9E37_79B1;
const M_FOUR: u32 = 0x85EB_CA6B;
const M_SHORT: u32 = 0xC2B2_AE35;

/// The keywords and the tables of where they can start.
pub(crate) struct Keywords {
    dfa: aho_corasick::dfa::DFA,
    /// The first three bytes of every keyword (shorter ones padded with
    /// every byte), folded.
    three: Table<M_THREE>,
    /// The first four bytes of every keyword of four bytes or more...
    four: Table<M_FOUR>,
    /// ...and the first three of every shorter one (as in `three`).
    short: Table<M_SHORT>,
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

/// ASCII upper case to lower case in each byte of `x`, as [`FOLD`] does.
#[inline(always)]
const fn fold8(x: u64) -> u64 {
    x | super::text::in_range_mask(x, b'A', b'Z') >> 2
}

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
            // The table keys hold the first byte lowest, as a little-endian
            // load of the text gives them.
            let b: Vec<u32> = p.bytes().map(|b| u32::from(FOLD[b as usize])).collect();
            match b[..] {
                [] => {}
                [_] => any_position = true,
                // A two-byte keyword starts with any next byte (or none: the
                // text is read as if zero bytes followed its end).
                [x, y] => {
                    for z in 0..=255u8 {
                        let key = x | y << 8 | u32::from(FOLD[z as usize]) << 16;
                        three.insert(key);
                        short.insert(key);
                    }
                }
                [x, y, z] => {
                    three.insert(x | y << 8 | z << 16);
                    short.insert(x | y << 8 | z << 16);
                }
                [x, y, z, w, ..] => {
                    three.insert(x | y << 8 | z << 16);
                    four.insert(x | y << 8 | z << 16 | w << 24);
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
        // Four positions from each eight bytes read (the four bytes from
        // each lie within them), folded together: no position waits on
        // the one before it.
        let mut i = 0;
        while let Some(eight) = text.get(i..i + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(eight);
            let w = fold8(u64::from_le_bytes(bytes));
            for k in 0..4 {
                if self.may_start((w >> (8 * k)) as u32) && at(i + k) {
                    return true;
                }
            }
            i += 4;
        }
        // The last few positions, the text read as if zero bytes followed
        // its end: its last bytes, shifted down (not copied to a buffer and
        // read back wider, which stalls the read).
        let rest = text.len() - i;
        if rest == 0 {
            return false;
        }
        let w = match text.len().checked_sub(8) {
            Some(from) => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&text[from..]);
                u64::from_le_bytes(bytes) >> (8 * (8 - rest))
            }
            None => text.iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b)),
        };
        let w = fold8(w);
        for k in 0..rest {
            if self.may_start((w >> (8 * k)) as u32) && at(i + k) {
                return true;
            }
        }
        false
    }

    /// Whether a keyword may start where the four folded bytes `w` (the
    /// first lowest) start.
    #[inline(always)]
    fn may_start(&self, w: u32) -> bool {
        let three = w & 0x00FF_FFFF;
        self.three.contains(three) && (self.short.contains(three) || self.four.contains(w))
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
    fn fold8_folds_each_byte_as_the_table_does() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                // The byte in every lane, beside bytes that are and are not letters.
                for other in [0u8, b'a', b'Z', 0x80, 0xFF, b'@'] {
                    let mut bytes = [other; 8];
                    bytes[lane] = b;
                    let want = bytes.map(|b| FOLD[b as usize]);
                    assert_eq!(
                        fold8(u64::from_le_bytes(bytes)).to_le_bytes(),
                        want,
                        "{b:#x} in lane {lane}"
                    );
                }
            }
        }
    }

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
