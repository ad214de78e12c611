//! Long texts scanned in cache-sized windows.
//!
//! A text of many megabytes (a log file read by a tool, a document) would
//! be read from memory once per pass: the byte features, the keyword
//! automaton, each personal-data pattern, the encoded runs. Cut into
//! windows of about a megabyte, every pass over a window finds it in the
//! core's cache, and the text is read from memory once (measured on the
//! 100 MB document of `benches/scan.rs`: twice as fast).
//!
//! Each window is a part of its own plus [`OVERLAP`] bytes on either side,
//! more than any finding and its context reach (a private key's body, the
//! 16 KiB of a token after its keyword, a context word's 256 bytes), so a
//! finding that starts in a window's own part is found there with
//! everything around it, and is kept from that window only. What a window
//! cannot see is passed in: the context words of the whole text (a "date of
//! birth" at the top of a file applies to dates far below it) are gathered
//! from every window first, then the personal-data rules run with them.
//! The passes that need the whole text (tables under a header, variables
//! joined where they are used, what is hidden in encoded runs, the
//! overlaps of findings) still run on it.

use std::ops::Range;

use rayon::prelude::*;

use super::secrets::Context;
use super::text::{self, Features};
use super::{Detector, Hit, HostLists, destinations, pii};

/// The own part of a window, in bytes (the cores' second-level caches hold
/// a window and the tables the passes use).
pub(super) const CHUNK: usize = 1 << 20;
/// What a window adds on either side of its own part: the reach of the
/// longest rule (a private key, 64 KiB from its BEGIN line) and then some.
pub(super) const OVERLAP: usize = 64 * 1024 + 1024;
/// Texts longer than this are scanned in windows.
pub(super) const LONG_TEXT: usize = 2 * CHUNK;

/// One window of a long text.
pub(super) struct Window {
    /// The bytes whose findings this window reports.
    own: Range<usize>,
    /// The bytes it scans.
    scan: Range<usize>,
    /// The features of `scan`.
    features: Features,
    /// Where the findings of the first pass that start in `own` begin in the hits.
    first_hit: usize,
    /// Where the first base64 run of `scan` starts, in `scan`.
    base64: Option<usize>,
}

/// The windows of `text`: own parts of about `chunk` bytes, each ending
/// after a line feed when one is near, scanning `overlap` bytes more on
/// either side (from and to a line's start when one is near).
pub(super) fn windows(text: &str, chunk: usize, overlap: usize) -> Vec<Window> {
    let mut out = Vec::with_capacity(text.len() / chunk.max(1) + 1);
    let mut start = 0;
    while start < text.len() {
        let end = if text.len() - start <= chunk + chunk / 2 {
            text.len()
        } else {
            line_start_after(text, start + chunk, overlap / 4)
        };
        let scan_start = if start == 0 {
            0
        } else {
            line_start_before(text, start.saturating_sub(overlap), overlap / 4)
        };
        let scan_end = line_start_after(text, end.saturating_add(overlap), overlap / 4);
        out.push(Window {
            own: start..end,
            scan: scan_start..scan_end,
            features: Features::default(),
            first_hit: 0,
            base64: None,
        });
        start = end;
    }
    out
}

/// The first line's start at or after `at`, looking `within` bytes on;
/// the first character boundary at or after `at` when there is none.
fn line_start_after(text: &str, at: usize, within: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let bytes = text.as_bytes();
    let until = at.saturating_add(within).min(bytes.len());
    match memchr::memchr(b'\n', &bytes[at..until]) {
        Some(i) => at + i + 1,
        None => (at..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len()),
    }
}

/// The last line's start at or before `at`, looking `within` bytes back;
/// the last character boundary at or before `at` when there is none.
fn line_start_before(text: &str, at: usize, within: usize) -> usize {
    let at = at.min(text.len());
    let bytes = text.as_bytes();
    let from = at.saturating_sub(within);
    match memchr::memrchr(b'\n', &bytes[from..at]) {
        Some(i) => from + i + 1,
        None => (0..=at)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0),
    }
}

/// Where the first hex and base64 runs of a text start (see [`text::encoded_runs`]).
type Runs = (Option<usize>, Option<usize>);

/// What the window passes give the rest of `scan_text`.
pub(super) struct Scanned {
    /// The features of the whole text.
    pub(super) features: Features,
    /// Where the first hex and base64 runs start.
    pub(super) runs: Runs,
}

/// The hits found in window `w` (spans in it) that start in its own part,
/// with spans in the whole text.
fn own_hits(found: Vec<Hit>, w: &Window) -> Vec<Hit> {
    found
        .into_iter()
        .map(|h| Hit {
            span: h.span.start + w.scan.start..h.span.end + w.scan.start,
            ..h
        })
        .filter(|h| w.own.contains(&h.span.start))
        .collect()
}

/// The hits of the whole text that window `w` overlaps, with spans in it
/// (cut to it): what a pass over the whole text would have found already.
fn seen_from(hits: &[Hit], w: &Window) -> Vec<Hit> {
    let len = w.scan.len();
    hits.iter()
        .filter(|h| h.span.start < w.scan.end && w.scan.start < h.span.end)
        .map(|h| Hit {
            span: h.span.start.saturating_sub(w.scan.start)
                ..h.span.end.saturating_sub(w.scan.start).min(len),
            ..h.clone()
        })
        .collect()
}

impl Detector {
    /// The placeholders, secrets and personal data of a long `text`, and
    /// the URLs in it (at `depth` 0), window by window, into `hits`.
    pub(super) fn scan_windows(
        &self,
        text: &str,
        windows: &mut [Window],
        lists: &HostLists,
        depth: u8,
        hits: &mut Vec<Hit>,
    ) -> Scanned {
        // Each pass scans the windows on rayon's pool and takes their
        // findings in the windows' order: the same as one window after the other.
        // First the secrets, and the context words of the whole text.
        let first: Vec<(Features, Vec<Hit>, Context)> = windows
            .par_iter()
            .map(|w| {
                let part = &text[w.scan.clone()];
                let f = Features::of(part);
                let mut found = Vec::new();
                self.placeholders(part, &f, &mut found);
                let seen = self.secrets.scan(part, &f, &mut found);
                (f, own_hits(found, w), seen)
            })
            .collect();
        let mut features = Features::default();
        let mut context = Context::default();
        for (w, (f, found, seen)) in windows.iter_mut().zip(first) {
            w.features = f;
            features = features.union(f);
            w.first_hit = hits.len();
            if hits.len() > super::MAX_FINDINGS {
                continue;
            }
            context.ssn |= seen.ssn;
            context.seen.absorb(&seen.seen, w.scan.start, &w.own);
            hits.extend(found);
        }
        // Then personal data with those words, and the URLs.
        let first_pass = hits.len();
        let header = pii::Seen::header_of(text);
        let windows_ref: &[Window] = windows;
        let second: Vec<(Vec<Hit>, Runs)> = (0..windows_ref.len())
            .into_par_iter()
            .map(|i| {
                let w = &windows_ref[i];
                let part = &text[w.scan.clone()];
                // The first pass's findings this window can see, as the whole
                // text's pass would have them before its personal data.
                let from = windows_ref[i.saturating_sub(1)].first_hit;
                let to = windows_ref.get(i + 2).map_or(first_pass, |w| w.first_hit);
                let mut found = seen_from(&hits[from..to], w);
                let seeded = found.len();
                let seen = Context {
                    seen: context.seen.for_window(w.scan.start, header.clone()),
                    ssn: context.ssn,
                };
                self.pii.scan(part, &w.features, seen, &mut found);
                if depth == 0 && w.features.any(text::COLON) && part.contains("://") {
                    for (start, url) in destinations::embedded_urls(part) {
                        destinations::check_embedded_url(url, start, lists, &mut found);
                    }
                }
                let runs = if part.len() >= 16 {
                    text::encoded_runs(part)
                } else {
                    (None, None)
                };
                found.drain(..seeded);
                (own_hits(found, w), runs)
            })
            .collect();
        let mut runs = (None, None);
        let mut later = Vec::new();
        // A window may start inside a run: the first run is the least start
        // any window reports.
        let least = |a: Option<usize>, b: Option<usize>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for (w, (found, (hex, base64))) in windows.iter_mut().zip(second) {
            if hits.len() + later.len() > super::MAX_FINDINGS {
                break;
            }
            runs.0 = least(runs.0, hex.map(|r| r + w.scan.start));
            runs.1 = least(runs.1, base64.map(|r| r + w.scan.start));
            w.base64 = base64;
            later.extend(found);
        }
        hits.append(&mut later);
        Scanned { features, runs }
    }

    /// What the base64 tokens of a long `text` hide, window by window, each
    /// token decoded unless it overlaps one of `hits` (a token is at most
    /// [`MAX_DECODE_LEN`](super::MAX_DECODE_LEN) bytes, less than the overlap).
    pub(super) fn scan_base64_windows(
        &self,
        text: &str,
        windows: &[Window],
        lists: &HostLists,
        depth: u8,
        hits: &mut Vec<Hit>,
    ) {
        let found: Vec<Vec<Hit>> = windows
            .par_iter()
            .map(|w| {
                let Some(from) = w.base64 else {
                    return Vec::new();
                };
                let part = &text[w.scan.clone()];
                let mut found = seen_from(hits, w);
                let seeded = found.len();
                self.scan_base64(part, from, lists, depth, &mut found);
                found.drain(..seeded);
                own_hits(found, w)
            })
            .collect();
        hits.extend(found.into_iter().flatten());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::detect::detector;
    use serde_json::Value;

    /// Every string of the red-team probes' bodies no longer than `max`.
    fn probe_strings(max: usize) -> Vec<String> {
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                Value::Object(o) => o.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for set in ["redteam", "redteam2"] {
            let path = format!("{}/../tests/{set}/probes.jsonl", env!("CARGO_MANIFEST_DIR"));
            let probes = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            for line in probes.lines().filter(|l| !l.trim().is_empty()) {
                let probe: Value = serde_json::from_str(line).unwrap();
                strings(&probe["request"]["body"], &mut out);
            }
        }
        out.retain(|s| s.len() <= max);
        // Mostly strings with a finding, so that the texts are dense with them.
        let d = detector();
        let lists = HostLists::default();
        let mut clean = 0;
        out.retain(|s| {
            clean += 1;
            clean % 8 == 0 || !d.scan_text(s, None, &lists, 0).is_empty()
        });
        out
    }

    /// Probe strings in a random order, between clean log lines, joined by
    /// line feeds, spaces or nothing.
    fn soup(rng: &mut fastrand::Rng, pool: &[String], probes: usize, clean_lines: usize) -> String {
        let mut text = String::new();
        for i in 0..probes + clean_lines {
            if rng.usize(..probes + clean_lines) < probes {
                text.push_str(&pool[rng.usize(..pool.len())]);
            } else {
                text.push_str(&format!(
                    "2024-11-24T19:{:02}:{:02}Z INFO api::orders request_id=req_{i:08} status=200",
                    i % 60,
                    rng.u8(..60)
                ));
            }
            text.push_str(["\n", "\n", "\n\n", " ", "; ", ""][rng.usize(..6)]);
        }
        text
    }

    /// The windows find what the whole text's scan finds, on texts dense
    /// with findings of every kind, cut every few kilobytes (so that
    /// findings and their context words straddle the cuts).
    #[test]
    fn windows_find_what_the_whole_text_finds() {
        let d = detector();
        let lists = HostLists::default();
        let mut rng = fastrand::Rng::with_seed(11);
        let mut compared = 0;
        let all = probe_strings(2000);
        for (chunk, overlap, max, probes, clean) in [
            (2048, 1024, 300, 100, 40),
            (8 * 1024, 4 * 1024, 2000, 300, 100),
        ] {
            let pool: Vec<String> = all.iter().filter(|s| s.len() <= max).cloned().collect();
            assert!(pool.len() > 500, "{} probe strings", pool.len());
            // Four texts of each kind here (`INTERVEN_SOUPS=300` to try more).
            let soups = std::env::var("INTERVEN_SOUPS").map_or(4, |v| v.parse().unwrap_or(4));
            for _ in 0..soups {
                let text = soup(&mut rng, &pool, probes, clean);
                let whole = d.scan_text_in(&text, None, &lists, 0, None);
                assert!(whole.len() < crate::engine::detect::MAX_FINDINGS / 2);
                let cut = d.scan_text_in(&text, None, &lists, 0, Some((chunk, overlap)));
                assert!(windows(&text, chunk, overlap).len() >= 4);
                if whole != cut {
                    let only = |a: &[Hit], b: &[Hit]| -> Vec<String> {
                        a.iter()
                            .filter(|h| !b.contains(h))
                            .map(|h| format!("{} {:?} {:?}", h.ty, h.span, &text[h.span.clone()]))
                            .collect()
                    };
                    panic!(
                        "chunk {chunk}: whole only {:#?}\nwindows only {:#?}",
                        only(&whole, &cut),
                        only(&cut, &whole)
                    );
                }
                compared += whole.len();
            }
        }
        // Not vacuous: the texts are full of findings.
        assert!(compared > 800, "{compared} findings compared");
    }

    #[test]
    fn windows_cover_the_text_with_disjoint_own_parts() {
        let text = "line one\nline two é\n".repeat(5000) + &"x".repeat(70_000) + "é";
        for (chunk, overlap) in [(1000, 300), (4096, 1024), (64 * 1024, 8 * 1024)] {
            let ws = windows(&text, chunk, overlap);
            assert_eq!(ws[0].own.start, 0);
            assert_eq!(ws.last().unwrap().own.end, text.len());
            for pair in ws.windows(2) {
                assert_eq!(pair[0].own.end, pair[1].own.start);
            }
            for w in &ws {
                assert!(w.scan.start <= w.own.start && w.own.end <= w.scan.end);
                assert!(w.own.start >= w.scan.start + overlap.min(w.own.start));
                assert!(w.scan.end >= (w.own.end + overlap).min(text.len()));
                // Every cut is a character boundary.
                let _ = &text[w.scan.clone()];
                let _ = &text[w.own.clone()];
            }
        }
    }
}
