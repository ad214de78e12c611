//! The big array of a big body, found and cut into its elements straight
//! from the bytes.
//!
//! A body split for rayon's pool was cut by serde itself: each element read
//! as a `RawValue`, which parses and checks it, before the task that scans
//! the element parses it again. Here the elements are cut by matching
//! brackets and skipping strings with a byte search, and handed to the pool
//! as they are cut; the rest of the body, the array emptied, is then walked
//! by serde as before. Nothing is trusted that serde does not check: the
//! elements and the commas between them make up the array's text exactly,
//! and each element is parsed whole by its task, so the body is valid JSON
//! only when every element and the rest are. Anything unusual (an escaped
//! key on the way, a stray byte between elements, no big array near the
//! top) ends the cut, and the body is scanned as before.

use super::escape_pointer;

/// Where a big array starts, and what the walk will know of it there.
#[derive(Debug)]
pub(crate) struct Found<'t> {
    /// The index of its `[`.
    pub(crate) open: usize,
    /// Its JSON pointer (`""` for the top value, `/records`…).
    pub(crate) path: String,
    /// Its depth (the top value is 1).
    pub(crate) depth: usize,
    /// The member's key it is the value of (`None` for the top value).
    pub(crate) key: Option<&'t str>,
}

/// The first array of at least `min` bytes, at most `max_depth` deep, on a
/// path of objects from the top value. Containers smaller than `min` are
/// skipped (at most `min` bytes of each are read for that); `None` when
/// there is no such array or the text is not plainly shaped.
pub(crate) fn locate(text: &str, min: usize, max_depth: usize) -> Option<Found<'_>> {
    let b = text.as_bytes();
    let i = skip_space(b, 0);
    match *b.get(i)? {
        b'[' => Some(Found {
            open: i,
            path: String::new(),
            depth: 1,
            key: None,
        }),
        b'{' => in_object(text, i, min, max_depth, 2, &mut String::new()),
        _ => None,
    }
}

/// [`locate`] among the members of the object whose `{` is at `open`, its
/// members at `depth`.
fn in_object<'t>(
    text: &'t str,
    open: usize,
    min: usize,
    max_depth: usize,
    depth: usize,
    path: &mut String,
) -> Option<Found<'t>> {
    if depth > max_depth {
        return None;
    }
    let b = text.as_bytes();
    let mut i = skip_space(b, open + 1);
    loop {
        if b.get(i)? != &b'"' {
            return None;
        }
        let key_end = skip_string(b, i)?;
        let key = &text[i + 1..key_end - 1];
        i = skip_space(b, key_end);
        if b.get(i)? != &b':' {
            return None;
        }
        i = skip_space(b, i + 1);
        let container = matches!(b.get(i)?, b'[' | b'{');
        let end = match skip_value(b, i, if container { min } else { usize::MAX })? {
            Some(end) => end,
            None => {
                // A container of `min` bytes or more: the array itself, or
                // the object to look into. Its path needs the key as it is.
                if key.contains('\\') {
                    return None;
                }
                let len = path.len();
                path.push('/');
                path.push_str(&escape_pointer(key));
                if b[i] == b'[' {
                    return Some(Found {
                        open: i,
                        path: std::mem::take(path),
                        depth,
                        key: Some(key),
                    });
                }
                let found = in_object(text, i, min, max_depth, depth + 1, path);
                path.truncate(len);
                return found;
            }
        };
        i = skip_space(b, end);
        match *b.get(i)? {
            b',' => i = skip_space(b, i + 1),
            _ => return None,
        }
    }
}

/// The elements of one array, cut as they are asked for.
pub(crate) struct Elements<'t> {
    text: &'t str,
    at: usize,
    /// Past the `]`, once reached.
    close: Option<usize>,
    first: bool,
}

impl<'t> Elements<'t> {
    /// The elements of the array whose `[` is at `open`.
    pub(crate) fn new(text: &'t str, open: usize) -> Self {
        Elements {
            text,
            at: open + 1,
            close: None,
            first: true,
        }
    }

    /// The next element's text; `Ok(None)` past the last; `Err` when what
    /// follows is not an element and a separator.
    pub(crate) fn next(&mut self) -> Result<Option<&'t str>, ()> {
        if self.close.is_some() {
            return Ok(None);
        }
        let b = self.text.as_bytes();
        let mut i = skip_space(b, self.at);
        if self.first {
            self.first = false;
            if b.get(i) == Some(&b']') {
                self.close = Some(i + 1);
                return Ok(None);
            }
        }
        let end = skip_value(b, i, usize::MAX).flatten().ok_or(())?;
        let element = self.text.get(i..end).ok_or(())?;
        i = skip_space(b, end);
        match b.get(i) {
            Some(b',') => self.at = i + 1,
            Some(b']') => self.close = Some(i + 1),
            _ => return Err(()),
        }
        Ok(Some(element))
    }

    /// The index just past the array's `]`, once the last element was cut.
    pub(crate) fn close(&self) -> Option<usize> {
        self.close
    }
}

/// `text` with the array whose `[` is at `open` emptied (`close` is just
/// past its `]`): what serde walks once the elements were cut out.
pub(crate) fn emptied(text: &str, open: usize, close: usize) -> String {
    let mut rest = String::with_capacity(text.len() - (close - open) + 2);
    rest.push_str(&text[..=open]);
    rest.push_str(&text[close - 1..]);
    rest
}

/// JSON's white space.
fn skip_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Past the value that starts at `i`: a string, a container (brackets
/// counted, strings skipped) or a scalar (up to the next delimiter).
/// `Some(None)` when a container does not close within `limit` bytes (or
/// before the text ends); `None` when no value starts at `i` or the text
/// ends inside a string.
fn skip_value(b: &[u8], i: usize, limit: usize) -> Option<Option<usize>> {
    match *b.get(i)? {
        b'"' => skip_string(b, i).map(Some),
        b'{' | b'[' => Some(skip_container(b, i, i.saturating_add(limit).min(b.len()))),
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - i);
            (len > 0).then_some(Some(i + len))
        }
    }
}

/// What a byte is to a container's skip: a quote, an opening or a closing
/// bracket, or nothing.
static STRUCTURE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'[' as usize] = 2;
    t[b'{' as usize] = 2;
    t[b']' as usize] = 3;
    t[b'}' as usize] = 3;
    t
};

/// Past the container whose bracket is at `i`, read up to `stop`: brackets
/// counted by a table, strings skipped by a byte search. `None` when it does
/// not close before `stop` (the caller tells a limit from the text's end).
fn skip_container(b: &[u8], i: usize, stop: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    loop {
        while j < stop && STRUCTURE[usize::from(b[j])] == 0 {
            j += 1;
        }
        if j >= stop {
            return None;
        }
        match STRUCTURE[usize::from(b[j])] {
            1 => {
                j = skip_string(b, j)?;
                continue;
            }
            2 => depth += 1,
            _ => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
        }
        j += 1;
    }
}

/// Past the string whose opening quote is at `i`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j] == b'"' {
            return Some(j + 1);
        }
        j += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, open: usize) -> Result<(Vec<&str>, Option<usize>), ()> {
        let mut cut = Elements::new(text, open);
        let mut out = Vec::new();
        while let Some(e) = cut.next()? {
            out.push(e);
        }
        Ok((out, cut.close()))
    }

    #[test]
    fn finds_the_big_array_and_cuts_its_elements() {
        let body = r#" {"meta": {"n": [3]}, "page": {"records": [ {"a": "x]\"}"}, 12.5e3 , "s,t", [1, [2]], null ], "z": 1}} "#;
        let found = locate(body, 20, 4).unwrap();
        assert_eq!((found.path.as_str(), found.depth), ("/page/records", 3));
        assert_eq!(found.key, Some("records"));
        let (elements, close) = all(body, found.open).unwrap();
        assert_eq!(
            elements,
            [
                r#"{"a": "x]\"}"}"#,
                "12.5e3",
                r#""s,t""#,
                "[1, [2]]",
                "null"
            ]
        );
        assert!(body[close.unwrap()..].starts_with(r#", "z": 1}} "#));
        assert_eq!(
            emptied(body, found.open, close.unwrap()),
            r#" {"meta": {"n": [3]}, "page": {"records": [], "z": 1}} "#
        );
        // The top value itself, and keys that need escaping in a pointer.
        let top = locate(r#"[1,"two",{}]"#, 4, 4).unwrap();
        assert_eq!((top.path.as_str(), top.depth, top.key), ("", 1, None));
        assert_eq!(
            all(r#"[1,"two",{}]"#, 0).unwrap().0,
            ["1", r#""two""#, "{}"]
        );
        let keyed = locate(r#"{"a/b~c": [1, 2, 3, 4]}"#, 8, 4).unwrap();
        assert_eq!(keyed.path, "/a~1b~0c");
        assert_eq!(all("[ ]", 0).unwrap(), (vec![], Some(3)));
    }

    #[test]
    fn anything_unusual_ends_the_cut() {
        for text in [
            "",
            "{}",
            r#"{"small": [1, 2]}"#,
            r#"{"k\u0041": [1, 2, 3, 4, 5, 6]}"#,
            r#"{"a" [1, 2, 3, 4, 5, 6]}"#,
            r#"{"a": 1 "b": [1, 2, 3, 4, 5, 6]}"#,
            r#""a string, not an array""#,
            // Too deep for the limit given.
            r#"{"a": {"b": {"c": {"d": [1, 2, 3, 4, 5, 6]}}}}"#,
        ] {
            assert!(locate(text, 12, 4).is_none(), "{text}");
        }
        for text in ["[1 2]", "[1,]", "[1", "[1}", "[,1]", "[\"x]"] {
            assert!(all(text, 0).is_err(), "{text}");
        }
    }
}
