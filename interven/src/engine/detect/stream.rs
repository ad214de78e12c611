//! The body scanned straight from its JSON bytes: a serde visitor walks the
//! text once, strings borrowed from the input when they hold no escape, and
//! no `serde_json::Value` is built. Same findings, in the same order, as the
//! walk over a `Value` ([`Detector::scan_body`]): object keys as context and
//! scanned themselves, numbers of nine digits or more, adjacent string
//! fields joined, the `{"name": …, "value": …}` sibling rule in either
//! order, the findings cap. Duplicate object keys are refused (parsers
//! disagree on which value counts), and so are bodies nested deeper than
//! [`MAX_BODY_DEPTH`](crate::engine::MAX_BODY_DEPTH).
//!
//! Only the rare object whose `value` comes before the sibling that names
//! it is materialised, from that member on, to be walked once its names are known.
//!
//! A body of [`PARALLEL_MIN_BYTES`] or more is split on value boundaries:
//! an array near the top (depth [`SPLIT_DEPTH`] or less) is cut into runs of
//! elements, each run starting after a container (no string join crosses a
//! cut), and each run is scanned on rayon's pool as soon as the parse has
//! cut it, while the parse goes on through the rest. Their findings are
//! appended in element order, so the result is the serial one; a run that
//! would carry the findings past the cap, and every run after it, is
//! scanned again in order, as the serial walk would. The big array near the
//! top is cut from the bytes ([`cut`]) before serde walks the
//! rest of the body, the array emptied; other arrays, and any body the cut
//! does not suit, are cut by serde as the walk reaches them.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{
    Detector, HostLists, JoinSide, Located, MAX_FINDINGS, MAX_JOIN, NAME_KEYS, Seg, VALUE_KEYS,
    cut, join_suffix_start, push_located,
};
use crate::engine::MAX_BODY_DEPTH;

/// Why a body could not be scanned from its bytes.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Nested deeper than [`MAX_BODY_DEPTH`].
    TooDeep,
    /// Not JSON, or an object with a duplicate key.
    Json(serde_json::Error),
}

/// The size from which a body is split and scanned on several threads.
pub(crate) const PARALLEL_MIN_BYTES: usize = 256 * 1024;
/// The deepest array that is split (the top value is depth 1).
pub(crate) const SPLIT_DEPTH: usize = 4;
/// The smallest run of elements handed to one task.
const MIN_RUN_BYTES: usize = 32 * 1024;

/// The message of a duplicate key (it never names the key: keys can be values too).
pub(crate) const DUPLICATE_KEY: &str = "duplicate object key";
const TOO_DEEP: &str = "body nested too deep";

impl Detector {
    /// Every finding in a JSON body given as bytes; the same as
    /// [`scan_body`](Self::scan_body) over the parsed value.
    pub(crate) fn scan_body_bytes(
        &self,
        bytes: &[u8],
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) -> Result<(), BodyError> {
        let split = bytes.len() >= PARALLEL_MIN_BYTES && rayon::current_num_threads() > 1;
        // Valid UTF-8 is checked once for the whole body, a far shorter loop
        // than a check of each string; a body that fails it is parsed from
        // its bytes, for serde's error and position.
        let text = std::str::from_utf8(bytes).ok();
        if split
            && let Some(text) = text
            && let Some(found) = cut::locate(text, PARALLEL_MIN_BYTES, SPLIT_DEPTH)
            && self.scan_cut(text, found, lists, out)
        {
            return Ok(());
        }
        let mut state = State::new(self, lists, out, split, bytes.len());
        let seed = Node {
            st: &mut state,
            key: None,
            depth: 1,
        };
        let result = match text {
            Some(text) => walk_all(serde_json::Deserializer::from_str(text), seed),
            None => walk_all(serde_json::Deserializer::from_slice(bytes), seed),
        };
        match result {
            Ok(()) => Ok(()),
            Err(_) if state.too_deep => Err(BodyError::TooDeep),
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                Err(BodyError::TooDeep)
            }
            Err(e) => Err(BodyError::Json(e)),
        }
    }

    /// `text` scanned with its big array cut from the bytes: the elements
    /// handed to the pool as they are cut, then the rest of the body, the
    /// array emptied, walked by serde, which puts the array's findings where
    /// the array was. `false`, with `out` as it was, when the cut or the walk
    /// did not go as planned (the body is not plainly valid, a value walked
    /// after its names, the findings' cap, too deep): the caller scans the
    /// body whole, for the same findings and the same error.
    fn scan_cut(
        &self,
        text: &str,
        at: cut::Found<'_>,
        lists: &HostLists,
        out: &mut Vec<Located>,
    ) -> bool {
        let mut found = Vec::new();
        let mut elements = cut::Elements::new(text, at.open);
        let mut local = State::new(self, lists, &mut found, true, text.len());
        local.path.clone_from(&at.path);
        let scanned = split_from(
            &mut local,
            || {
                elements
                    .next()
                    .map_err(|()| <serde_json::Error as de::Error>::custom("not an array"))
            },
            at.key,
            at.depth,
        );
        let too_deep = local.too_deep;
        drop(local);
        let Some(close) = elements.close() else {
            return false;
        };
        if scanned.is_err() || too_deep || close - at.open < PARALLEL_MIN_BYTES {
            return false;
        }
        let before = out.len();
        let rest = cut::emptied(text, at.open, close);
        let mut state = State::new(self, lists, out, true, text.len());
        state.big = Some(Big {
            path: at.path,
            depth: at.depth,
            key: at.key,
            found,
        });
        let seed = Node {
            st: &mut state,
            key: None,
            depth: 1,
        };
        let walked = walk_all(serde_json::Deserializer::from_str(&rest), seed);
        let taken = walked.is_ok() && state.big.is_none() && !state.too_deep;
        drop(state);
        if !taken {
            out.truncate(before);
        }
        taken
    }
}

/// The whole input walked, and nothing after it.
fn walk_all<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    seed: Node<'_, '_>,
) -> Result<(), serde_json::Error> {
    seed.deserialize(&mut de)?;
    de.end()
}

struct State<'s> {
    det: &'s Detector,
    lists: &'s HostLists,
    path: String,
    out: &'s mut Vec<Located>,
    /// The last string seen that had escapes (unescaped by serde into a
    /// buffer that does not outlive the visit): all of it, or for a long one
    /// its head, which is all a join with the next field or a sibling's name
    /// reads...
    scratch: String,
    /// ...and, for a long one, where its last [`MAX_JOIN`] bytes start and
    /// those bytes, which are all a join with the previous field reads.
    tail: Option<(usize, String)>,
    /// Buffers for containers that keep such a string for the join.
    pool: Vec<String>,
    too_deep: bool,
    /// The value being visited is big enough to be split (arrays near the top).
    split: bool,
    /// The whole body's size, which sets the size of a split's runs.
    body_len: usize,
    /// The big array cut from the body's bytes and scanned, until the walk
    /// of the rest reaches where it was.
    big: Option<Big<'s>>,
}

/// A big array scanned before the walk of the rest of its body.
struct Big<'s> {
    path: String,
    depth: usize,
    key: Option<&'s str>,
    found: Vec<Located>,
}

impl<'s> State<'s> {
    fn new(
        det: &'s Detector,
        lists: &'s HostLists,
        out: &'s mut Vec<Located>,
        split: bool,
        body_len: usize,
    ) -> State<'s> {
        State {
            det,
            lists,
            path: String::new(),
            out,
            scratch: String::new(),
            tail: None,
            pool: Vec::new(),
            too_deep: false,
            split,
            body_len,
            big: None,
        }
    }

    /// The findings of the big array, when the array at `depth` on the
    /// current path, under `key`, is it.
    fn take_big(&mut self, depth: usize, key: Option<&str>) -> Option<Vec<Located>> {
        let here = self
            .big
            .as_ref()
            .is_some_and(|b| b.depth == depth && b.path == self.path && b.key == key);
        if here {
            self.big.take().map(|b| b.found)
        } else {
            None
        }
    }

    fn capped(&self) -> bool {
        self.out.len() > MAX_FINDINGS
    }

    fn enter<E: de::Error>(&mut self, depth: usize) -> Result<(), E> {
        if depth > MAX_BODY_DEPTH {
            self.too_deep = true;
            return Err(E::custom(TOO_DEEP));
        }
        Ok(())
    }
}

/// An escaped string up to this long is kept whole in `State::scratch`.
const SCRATCH_WHOLE: usize = 4096;

/// What a node was, for its container's join with the next string field.
enum Leaf<'de> {
    /// A string without escapes, borrowed from the input.
    Borrowed(&'de str),
    /// A string with escapes, unescaped into `State::scratch`.
    Scratch,
    Other,
}

struct Node<'a, 's> {
    st: &'a mut State<'s>,
    key: Option<&'a str>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = Leaf<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Node<'_, '_> {
    fn string<E: de::Error>(&mut self, s: &str) -> Result<(), E> {
        self.st.enter(self.depth)?;
        if !self.st.capped() {
            let hits = self.st.det.scan_text(s, self.key, self.st.lists, 0);
            push_located(self.st.out, &self.st.path, s, hits, false);
        }
        Ok(())
    }

    fn number<E: de::Error>(&mut self, n: serde_json::Number) -> Result<Leaf<'static>, E> {
        self.st.enter(self.depth)?;
        if !self.st.capped() {
            let st = &mut *self.st;
            st.det.scan_number(&n, &st.path, self.key, st.lists, st.out);
        }
        Ok(Leaf::Other)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = Leaf<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        self.st.enter(self.depth)?;
        Ok(Leaf::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.st.enter(self.depth)?;
        Ok(Leaf::Other)
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<Self::Value, E> {
        self.number(v.into())
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<Self::Value, E> {
        self.number(v.into())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<Self::Value, E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => self.number(n),
            None => {
                self.st.enter(self.depth)?;
                Ok(Leaf::Other)
            }
        }
    }

    fn visit_borrowed_str<E: de::Error>(mut self, s: &'de str) -> Result<Self::Value, E> {
        self.string(s)?;
        Ok(Leaf::Borrowed(s))
    }

    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<Self::Value, E> {
        self.string(s)?;
        let st = &mut *self.st;
        st.scratch.clear();
        if s.len() <= SCRATCH_WHOLE {
            st.scratch.push_str(s);
            st.tail = None;
        } else {
            // Not a copy of a long text: its head (past MAX_JOIN, so that a
            // join's bounds and a name's length check read the same) and
            // its tail.
            let mut head = MAX_JOIN + 8;
            while !s.is_char_boundary(head) {
                head += 1;
            }
            st.scratch.push_str(&s[..head]);
            let start = join_suffix_start(s);
            let mut tail = st.tail.take().map(|(_, t)| t).unwrap_or_default();
            tail.clear();
            tail.push_str(&s[start..]);
            st.tail = Some((start, tail));
        }
        Ok(Leaf::Scratch)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let st = self.st;
        st.enter(self.depth)?;
        if st.capped() {
            while seq
                .next_element_seed(Check {
                    depth: self.depth + 1,
                })?
                .is_some()
            {}
            return Ok(Leaf::Other);
        }
        if st.split && self.depth <= SPLIT_DEPTH {
            if let Some(found) = st.take_big(self.depth, self.key) {
                // Emptied in the text serde reads: its elements were cut out
                // and scanned. Past the cap, the serial walk would have
                // stopped inside it: the caller scans the body whole.
                if seq.next_element::<de::IgnoredAny>()?.is_some()
                    || st.out.len() + found.len() > MAX_FINDINGS
                {
                    return Err(de::Error::custom("the cut array is not where it was"));
                }
                st.out.extend(found);
            } else {
                split_from(
                    st,
                    || Ok(seq.next_element::<&'de RawValue>()?.map(RawValue::get)),
                    self.key,
                    self.depth,
                )?;
            }
            return Ok(Leaf::Other);
        }
        let mut walk = Elements::new(st);
        let mut i = 0usize;
        loop {
            Seg::Index(i).push_to(&mut st.path);
            let leaf = seq.next_element_seed(Node {
                st: &mut *st,
                key: self.key,
                depth: self.depth + 1,
            })?;
            let Some(leaf) = leaf else {
                st.path.truncate(walk.len);
                break;
            };
            walk.visited(st, i, leaf);
            i += 1;
        }
        walk.release(st);
        Ok(Leaf::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let st = self.st;
        st.enter(self.depth)?;
        if st.capped() {
            check_members(&mut map, self.depth)?;
            return Ok(Leaf::Other);
        }
        let len = st.path.len();
        let mut keys = Keys::default();
        // The string values of the naming keys seen so far (NAME_KEYS order).
        let mut names: [Option<Cow<'de, str>>; 6] = Default::default();
        let mut own = Kept::default();
        let mut previous: Option<(Prev<'de>, Cow<'de, str>)> = None;
        let mut deferred: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            if !keys.insert(&k) {
                return Err(de::Error::custom(DUPLICATE_KEY));
            }
            let is_value_key = VALUE_KEYS.contains(&k.as_ref());
            // A value before the sibling that names it (or while a better-placed
            // name may still come): walked once the whole object is known.
            if !deferred.is_empty() || (is_value_key && names[0].is_none()) {
                let raw: &'de RawValue = map.next_value()?;
                deferred.push((k, raw));
                continue;
            }
            let named = if is_value_key {
                st.det.named_in(|n| {
                    let i = NAME_KEYS.iter().position(|x| *x == n)?;
                    names[i].as_deref()
                })
            } else {
                None
            };
            Seg::Key(&k).push_to(&mut st.path);
            let hits = st.det.scan_text(&k, None, st.lists, 0);
            push_located(st.out, &st.path, &k, hits, true);
            let leaf = map.next_value_seed(Node {
                st: &mut *st,
                key: named.or(Some(&k)),
                depth: self.depth + 1,
            })?;
            if let Some(i) = NAME_KEYS.iter().position(|x| *x == k.as_ref()) {
                names[i] = match &leaf {
                    Leaf::Borrowed(s) => Some(Cow::Borrowed(*s)),
                    Leaf::Scratch => Some(Cow::Owned(st.scratch.clone())),
                    Leaf::Other => None,
                };
            }
            previous = match leaf {
                Leaf::Other => None,
                leaf => {
                    if let Some((prev, prev_k)) = &previous {
                        join(st, prev, &own, len, Seg::Key(prev_k), &leaf);
                    }
                    Some((own.keep(st, leaf), k))
                }
            };
            st.path.truncate(len);
        }
        if !deferred.is_empty() {
            walk_deferred(st, deferred, names, previous, &own, self.depth)?;
        }
        own.release(st);
        Ok(Leaf::Other)
    }
}

/// A run of consecutive elements of a split array: scanned by one task.
struct Run<'de> {
    /// The index of its first element.
    first: usize,
    raws: Vec<&'de str>,
}

/// A run scanned: its findings, how its walk ended, and whether too deep.
type Scanned<'de> = (Run<'de>, Vec<Located>, Result<(), serde_json::Error>, bool);

/// The elements of an array of a big body, cut out of its bytes as the
/// parse reaches them: each run of about an equal share of the body (at
/// least [`MIN_RUN_BYTES`], each cut placed after a container) is scanned
/// on rayon's pool while the parse goes on. An array that makes a single
/// run is walked in order here, as the streaming walk does.
fn split_from<'r, E: de::Error>(
    st: &mut State<'_>,
    mut next: impl FnMut() -> Result<Option<&'r str>, E>,
    key: Option<&str>,
    depth: usize,
) -> Result<(), E> {
    let share = (st.body_len / (rayon::current_num_threads() * 4)).max(MIN_RUN_BYTES);
    let (det, lists) = (st.det, st.lists);
    let prefix = st.path.clone();
    let done: Mutex<Vec<Scanned<'r>>> = Mutex::new(Vec::new());
    // The elements not handed to a task: all of them when the array makes one run.
    let kept: Result<Option<Run<'r>>, E> = rayon::in_place_scope(|scope| {
        let (done, prefix) = (&done, prefix.as_str());
        let scan = move |run: Run<'r>| {
            let scanned = scan_run(det, lists, prefix, run, key, depth);
            done.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(scanned);
        };
        let mut cutter = Cutter::new(share);
        let mut spawned = false;
        while let Some(raw) = next()? {
            if let Some(full) = cutter.push(raw) {
                scope.spawn(move |_| scan(full));
                spawned = true;
            }
        }
        let rest = cutter.rest();
        if !spawned {
            return Ok(Some(rest));
        }
        if !rest.raws.is_empty() {
            scope.spawn(move |_| scan(rest));
        }
        Ok(None)
    });
    if let Some(run) = kept? {
        return scan_elements(st, &run.raws, 0, key, depth, true).map_err(|e| forward(st, &e));
    }
    let mut runs = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    runs.sort_by_key(|(run, ..)| run.first);
    for i in 0..runs.len() {
        let (run, found, result, too_deep) = &mut runs[i];
        if st.out.len() + found.len() > MAX_FINDINGS {
            // Past the cap the serial walk stops scanning mid-run: do as it does.
            let first = run.first;
            let rest: Vec<&str> = runs[i..]
                .iter()
                .flat_map(|(run, ..)| run.raws.iter().copied())
                .collect();
            return scan_elements(st, &rest, first, key, depth, false).map_err(|e| forward(st, &e));
        }
        if let Err(e) = result {
            st.too_deep |= *too_deep;
            return Err(forward(st, e));
        }
        st.out.append(found);
    }
    Ok(())
}

/// Where a split array is cut, element by element: after a container,
/// once the run holds at least its share of bytes (no string join crosses a
/// cut, and a run is never empty).
struct Cutter<'de> {
    share: usize,
    size: usize,
    run: Run<'de>,
}

impl<'de> Cutter<'de> {
    fn new(share: usize) -> Self {
        Cutter {
            share,
            size: 0,
            run: Run {
                first: 0,
                raws: Vec::new(),
            },
        }
    }

    /// Takes the next element: the run it completes, if it does.
    fn push(&mut self, raw: &'de str) -> Option<Run<'de>> {
        self.size += raw.len();
        self.run.raws.push(raw);
        if self.size < self.share || !is_container(raw) {
            return None;
        }
        self.size = 0;
        let next = Run {
            first: self.run.first + self.run.raws.len(),
            raws: Vec::new(),
        };
        Some(std::mem::replace(&mut self.run, next))
    }

    /// The elements after the last cut (none when the last one was cut after).
    fn rest(self) -> Run<'de> {
        self.run
    }
}

/// One run scanned on its own, from the array's path.
fn scan_run<'de>(
    det: &Detector,
    lists: &HostLists,
    prefix: &str,
    run: Run<'de>,
    key: Option<&str>,
    depth: usize,
) -> Scanned<'de> {
    let mut out = Vec::new();
    let mut local = State::new(det, lists, &mut out, false, 0);
    local.path = prefix.to_owned();
    let result = scan_elements(&mut local, &run.raws, run.first, key, depth, false);
    let too_deep = local.too_deep;
    (run, out, result, too_deep)
}

fn is_container(raw: &str) -> bool {
    matches!(raw.as_bytes().first(), Some(b'{' | b'['))
}

/// The elements `raws` (the first at index `first`) walked in order, with
/// the joins of adjacent strings, as `visit_seq` walks them from the stream.
/// With `nested_split`, an element big enough is split again.
fn scan_elements(
    st: &mut State<'_>,
    raws: &[&str],
    first: usize,
    key: Option<&str>,
    depth: usize,
    nested_split: bool,
) -> Result<(), serde_json::Error> {
    let split = st.split;
    let mut walk = Elements::new(st);
    for (n, raw) in raws.iter().enumerate() {
        let i = first + n;
        Seg::Index(i).push_to(&mut st.path);
        st.split = nested_split && raw.len() >= PARALLEL_MIN_BYTES;
        let mut de = serde_json::Deserializer::from_str(raw);
        // The whole element, and nothing after it (an element cut from the
        // bytes was not parsed before).
        let leaf = Node {
            st: &mut *st,
            key,
            depth: depth + 1,
        }
        .deserialize(&mut de)
        .and_then(|leaf| de.end().map(|()| leaf));
        st.split = split;
        match leaf {
            Ok(leaf) => walk.visited(st, i, leaf),
            Err(e) => {
                st.path.truncate(walk.len);
                walk.release(st);
                return Err(e);
            }
        }
    }
    walk.release(st);
    Ok(())
}

/// The walk over an array's elements: each string joined with the string
/// element before it (a container in between breaks the chain).
struct Elements<'de> {
    /// The array's path length (each element's segment is cut back to it).
    len: usize,
    own: Kept,
    previous: Option<(Prev<'de>, usize)>,
}

impl<'de> Elements<'de> {
    fn new(st: &State<'_>) -> Self {
        Elements {
            len: st.path.len(),
            own: Kept::default(),
            previous: None,
        }
    }

    /// Element `i` has been visited (its index still on the path).
    fn visited(&mut self, st: &mut State<'_>, i: usize, leaf: Leaf<'de>) {
        self.previous = match leaf {
            Leaf::Other => None,
            leaf => {
                if let Some((prev, prev_i)) = &self.previous {
                    join(st, prev, &self.own, self.len, Seg::Index(*prev_i), &leaf);
                }
                Some((self.own.keep(st, leaf), i))
            }
        };
        st.path.truncate(self.len);
    }

    fn release(self, st: &mut State<'_>) {
        self.own.release(st);
    }
}

/// The members of an object from the first deferred one on, parsed and
/// walked as the `Value` walk does, now that every naming sibling is known.
fn walk_deferred<'de, E: de::Error>(
    st: &mut State<'_>,
    deferred: Vec<(Cow<'de, str>, &'de RawValue)>,
    mut names: [Option<Cow<'de, str>>; 6],
    previous: Option<(Prev<'de>, Cow<'de, str>)>,
    own: &Kept,
    depth: usize,
) -> Result<(), E> {
    let mut values: Vec<(Cow<'de, str>, Value)> = Vec::with_capacity(deferred.len());
    for (k, raw) in deferred {
        let text = raw.get();
        let mut de = serde_json::Deserializer::from_str(text);
        (Check { depth: depth + 1 })
            .deserialize(&mut de)
            .map_err(|e| forward::<E>(st, &e))?;
        let v: Value = serde_json::from_str(text).map_err(|e| forward::<E>(st, &e))?;
        values.push((k, v));
    }
    for (k, v) in &values {
        if let (Some(i), Value::String(s)) = (NAME_KEYS.iter().position(|x| *x == k.as_ref()), v) {
            names[i] = Some(Cow::Owned(s.clone()));
        }
    }
    let named = st.det.named_in(|n| {
        let i = NAME_KEYS.iter().position(|x| *x == n)?;
        names[i].as_deref()
    });
    let len = st.path.len();
    // The join with the last member walked from the bytes.
    let carried: Option<(String, usize, String)> = previous.map(|(prev, k)| {
        let side = prev.side(own);
        (side.text.to_owned(), side.offset, k.into_owned())
    });
    let mut prev_ref: Option<(&str, &str)> = None;
    for (i, (k, v)) in values.iter().enumerate() {
        if i == 0
            && let (Some((text, offset, prev_k)), Value::String(s)) = (&carried, v)
        {
            let mut b_path = st.path.clone();
            Seg::Key(k).push_to(&mut b_path);
            // The member's key and value first, then the join, as in the walk.
            let mut none = None;
            st.det
                .walk_member(k, v, named, &mut none, &mut st.path, st.lists, st.out);
            let a = JoinSide {
                text,
                offset: *offset,
            };
            st.det
                .scan_joined(&a, len, Seg::Key(prev_k), s, &b_path, st.lists, st.out);
            prev_ref = Some((s, k));
            continue;
        }
        st.det
            .walk_member(k, v, named, &mut prev_ref, &mut st.path, st.lists, st.out);
    }
    Ok(())
}

fn forward<E: de::Error>(st: &mut State<'_>, e: &serde_json::Error) -> E {
    if e.to_string().starts_with(TOO_DEEP) || e.to_string().starts_with("recursion limit") {
        st.too_deep = true;
    }
    E::custom(e)
}

/// The previous string field of a container.
enum Prev<'de> {
    Borrowed(&'de str),
    /// Its last bytes, in the container's own buffer, from `offset` of the string.
    Kept(usize),
}

impl<'de> Prev<'de> {
    fn side<'x>(&'x self, own: &'x Kept) -> JoinSide<'x> {
        match self {
            Prev::Borrowed(s) => JoinSide::whole(s),
            Prev::Kept(offset) => JoinSide {
                text: own.buf.as_deref().unwrap_or(""),
                offset: *offset,
            },
        }
    }
}

/// A container's buffer for the end of an escaped string it may join.
#[derive(Default)]
struct Kept {
    buf: Option<String>,
}

impl Kept {
    fn keep<'de>(&mut self, st: &mut State<'_>, leaf: Leaf<'de>) -> Prev<'de> {
        match leaf {
            Leaf::Borrowed(s) => Prev::Borrowed(s),
            _ => {
                let buf = self
                    .buf
                    .get_or_insert_with(|| st.pool.pop().unwrap_or_default());
                buf.clear();
                match &st.tail {
                    Some((start, tail)) => {
                        buf.push_str(tail);
                        Prev::Kept(*start)
                    }
                    None => {
                        let start = join_suffix_start(&st.scratch);
                        buf.push_str(&st.scratch[start..]);
                        Prev::Kept(start)
                    }
                }
            }
        }
    }

    fn release(self, st: &mut State<'_>) {
        if let Some(buf) = self.buf {
            st.pool.push(buf);
        }
    }
}

/// The join of the previous string field with the string just visited.
fn join(st: &mut State<'_>, prev: &Prev<'_>, own: &Kept, base: usize, seg: Seg<'_>, b: &Leaf<'_>) {
    let a = prev.side(own);
    let State {
        det,
        lists,
        path,
        out,
        scratch,
        ..
    } = st;
    let b: &str = match b {
        Leaf::Borrowed(s) => s,
        Leaf::Scratch => scratch,
        Leaf::Other => return,
    };
    det.scan_joined(&a, base, seg, b, path, lists, out);
}

/// An object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

/// The keys of one object, for the duplicate check: the first sixteen on
/// the stack, compared one by one; a hash set past them.
#[derive(Default)]
struct Keys<'de> {
    few: [Option<Cow<'de, str>>; 16],
    /// [`tag`] of each of `few`, compared before the keys themselves.
    tags: [u64; 16],
    len: usize,
    many: Option<foldhash::HashSet<Cow<'de, str>>>,
}

impl<'de> Keys<'de> {
    // A `Cow` (not a `&str`): a borrowed key is kept without a copy.
    #[allow(clippy::ptr_arg)]
    fn insert(&mut self, k: &Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(k.clone());
        }
        let tag = tag(k);
        let seen = self.tags[..self.len]
            .iter()
            .zip(&self.few)
            .any(|(t, x)| *t == tag && x.as_ref() == Some(k));
        if seen {
            return false;
        }
        if self.len < self.few.len() {
            self.tags[self.len] = tag;
            self.few[self.len] = Some(k.clone());
            self.len += 1;
        } else {
            let mut set: foldhash::HashSet<Cow<'de, str>> =
                self.few.iter_mut().filter_map(Option::take).collect();
            set.insert(k.clone());
            self.many = Some(set);
        }
        true
    }
}

/// A key's length and first bytes in one word: two keys with different
/// tags differ.
fn tag(k: &str) -> u64 {
    let mut first = [0u8; 8];
    let n = k.len().min(7);
    first[..n].copy_from_slice(&k.as_bytes()[..n]);
    u64::from_le_bytes(first) ^ ((k.len() as u64) << 56)
}

/// Skips a value, refusing duplicate keys and too deep a nesting.
struct Check {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn check_members<'de, A: MapAccess<'de>>(map: &mut A, depth: usize) -> Result<(), A::Error> {
    let mut keys = Keys::default();
    while let Some(k) = map.next_key_seed(KeySeed)? {
        if !keys.insert(&k) {
            return Err(de::Error::custom(DUPLICATE_KEY));
        }
        map.next_value_seed(Check { depth: depth + 1 })?;
    }
    Ok(())
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.leaf()?;
        while seq
            .next_element_seed(Check {
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.leaf()?;
        check_members(&mut map, self.depth)
    }
}

impl Check {
    fn leaf<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_BODY_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<&str> {
        let raws: Vec<&RawValue> = serde_json::from_str(text).unwrap();
        raws.into_iter().map(RawValue::get).collect()
    }

    /// The runs a cutter makes of `raws`, as (first, len), the rest included.
    fn cut(raws: &[&str], share: usize) -> Vec<(usize, usize)> {
        let mut cutter = Cutter::new(share);
        let mut runs: Vec<(usize, usize)> = raws
            .iter()
            .filter_map(|raw| cutter.push(raw))
            .map(|run| (run.first, run.raws.len()))
            .collect();
        let rest = cutter.rest();
        if !rest.raws.is_empty() {
            runs.push((rest.first, rest.raws.len()));
        }
        runs
    }

    #[test]
    fn a_big_array_cut_from_the_bytes_gives_the_serial_findings() {
        let det = Detector::new();
        let lists = HostLists::default();
        let record = r#"{"ts": "2026-11-24T19:00:00Z", "msg": "served", "user": "u1"}"#;
        let mut records = vec![record.to_owned(); 6000];
        records[2500] =
            r#"{"msg": "notify jane.doe@acme-corp.net", "key": "AKIAQ3EGRB4VXLTU7MCN"}"#.into();
        // A key split across two string elements: joined.
        records.insert(4000, r#""AKIAQ3EGR""#.into());
        records.insert(4001, r#""B4VXLTU7MCN""#.into());
        let rows = records.join(",");
        let seen = |out: &[Located]| -> Vec<(String, String, std::ops::Range<usize>)> {
            out.iter()
                .map(|l| {
                    let f = &l.finding;
                    (f.path.clone(), f.finding_type.clone(), f.span.clone())
                })
                .collect()
        };
        let serial = |text: &str| {
            let value: Value = serde_json::from_str(text).unwrap();
            let mut out = Vec::new();
            det.scan_body(&value, &lists, &mut out);
            seen(&out)
        };
        let cut_scan = |text: &str| {
            let at = cut::locate(text, PARALLEL_MIN_BYTES, SPLIT_DEPTH).unwrap();
            let mut out = Vec::new();
            let taken = det.scan_cut(text, at, &lists, &mut out);
            (taken, seen(&out))
        };
        for text in [
            format!(r#"{{"page": 1, "records": [{rows}], "next": "x@y.io"}}"#),
            format!("[{rows}]"),
            format!(r#"{{"meta": {{"tags": ["a"]}}, "data": {{"items": [{rows}]}}}}"#),
        ] {
            let (taken, found) = cut_scan(&text);
            assert!(taken);
            assert!(found.len() >= 4, "{found:?}");
            assert_eq!(found, serial(&text));
        }
        // A value walked after the name that follows it is not where the
        // walk expects it, and a stray byte is no JSON: the caller scans the
        // body whole.
        let deferred = format!(r#"{{"value": [{rows}], "name": "x"}}"#);
        assert_eq!(cut_scan(&deferred), (false, Vec::new()));
        let stray = format!(r#"{{"records": [{rows}, 1x]}}"#);
        assert_eq!(cut_scan(&stray), (false, Vec::new()));
    }

    #[test]
    fn runs_cut_only_after_a_container_and_cover_every_element() {
        let record = format!(r#"{{"msg": "{}"}}"#, "x".repeat(MIN_RUN_BYTES));
        let text = format!(r#"[{record}, "a", "b", {record}, {record}, "c", {record}]"#);
        let raws = parse(&text);
        let runs = cut(&raws, MIN_RUN_BYTES);
        assert!(runs.len() >= 2, "{runs:?}");
        let mut next = 0;
        for &(first, len) in &runs {
            assert_eq!(first, next, "{runs:?}");
            assert!(len > 0, "{runs:?}");
            if first > 0 {
                assert!(is_container(raws[first - 1]), "{runs:?}");
            }
            next = first + len;
        }
        assert_eq!(next, raws.len());
        // Strings only: nothing to cut after, one run.
        let strings = format!(r#"["{0}", "{0}", "{0}"]"#, "y".repeat(MIN_RUN_BYTES));
        assert_eq!(cut(&parse(&strings), MIN_RUN_BYTES), [(0, 3)]);
    }
}
