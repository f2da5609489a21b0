//! Lenient, bounded parsing of `Cookie` request headers.
//!
//! Parsing records where each valid pair lies in the raw header bytes; a `Cookie` value is only
//! built for the cookies the app actually reads.

use std::ops::Range;

use cookie::Cookie;
use http::HeaderValue;

use crate::config::is_token_bytes;

/// One valid `name=value` pair inside `headers[header]`.
#[derive(Clone, Debug)]
pub(crate) struct Pair {
    header: usize,
    name: Range<usize>,
    value: Range<usize>,
}

impl Pair {
    fn slice<'h>(headers: &'h [HeaderValue], header: usize, range: &Range<usize>) -> &'h str {
        headers
            .get(header)
            .and_then(|h| h.as_bytes().get(range.clone()))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn name<'h>(&self, headers: &'h [HeaderValue]) -> &'h str {
        Self::slice(headers, self.header, &self.name)
    }

    /// The name's bytes (checked to be a token, hence ASCII, when parsed): compared without
    /// a UTF-8 check.
    pub(crate) fn name_bytes<'h>(&self, headers: &'h [HeaderValue]) -> &'h [u8] {
        headers
            .get(self.header)
            .and_then(|h| h.as_bytes().get(self.name.clone()))
            .unwrap_or_default()
    }

    pub(crate) fn value<'h>(&self, headers: &'h [HeaderValue]) -> &'h str {
        Self::slice(headers, self.header, &self.value)
    }

    pub(crate) fn to_cookie(&self, headers: &[HeaderValue]) -> Cookie<'static> {
        Cookie::new(
            self.name(headers).to_owned(),
            Self::slice(headers, self.header, &self.value).to_owned(),
        )
    }
}

/// Finds the valid pairs of `headers`, first occurrence of a name only (browsers send the most
/// specific path first). Reads at most `max_bytes` bytes in all and keeps at most
/// `max_cookies` pairs; skips pairs that are malformed, not UTF-8, or hold control characters.
pub(crate) fn parse_cookie_headers(
    headers: &[HeaderValue],
    max_bytes: usize,
    max_cookies: usize,
) -> Vec<Pair> {
    // One allocation covers the usual handful of cookies.
    let mut pairs: Vec<Pair> = Vec::with_capacity(8);
    for_each_pair(headers, max_bytes, |pair| {
        if pairs.len() >= max_cookies {
            tracing::debug!(limit = max_cookies, "too many cookies; ignoring the rest");
            return false;
        }
        let name = pair.name_bytes(headers);
        if !pairs.iter().any(|p| p.name_bytes(headers) == name) {
            pairs.push(pair);
        }
        true
    });
    pairs
}

/// What [`find_pair`] learned.
pub(crate) enum Lookup {
    /// The pair [`parse_cookie_headers`] would keep under that name.
    Found(Pair),
    /// `parse_cookie_headers` would keep no pair of that name.
    Absent,
    /// The cookie limit was reached first: only a full parse can tell.
    Unknown,
}

/// The pair named `name`, as [`parse_cookie_headers`] would keep it, found without building
/// the list: the walk stops at the first pair of that name. That pair is the one the full
/// parse keeps (first occurrence) as long as fewer than `max_cookies` valid pairs came
/// before it, since the full parse keeps at most as many.
pub(crate) fn find_pair(
    headers: &[HeaderValue],
    max_bytes: usize,
    max_cookies: usize,
    name: &[u8],
) -> Lookup {
    let mut seen = 0;
    let mut outcome = Lookup::Absent;
    for_each_pair(headers, max_bytes, |pair| {
        if seen >= max_cookies {
            outcome = Lookup::Unknown;
            return false;
        }
        seen += 1;
        if pair.name_bytes(headers) == name {
            outcome = Lookup::Found(pair);
            return false;
        }
        true
    });
    outcome
}

/// Calls `visit` with every valid pair of `headers` in order, within `max_bytes` bytes in
/// all, until it returns `false`.
fn for_each_pair(headers: &[HeaderValue], max_bytes: usize, mut visit: impl FnMut(Pair) -> bool) {
    let mut budget = max_bytes;
    for (index, header) in headers.iter().enumerate() {
        let mut bytes = header.as_bytes();
        if bytes.len() > budget {
            tracing::debug!(
                limit = max_bytes,
                "Cookie headers exceed the parse limit; ignoring the rest"
            );
            bytes = bytes.get(..budget).unwrap_or_default();
            // Drop the last, cut-off pair.
            let end = bytes.iter().rposition(|b| *b == b';').unwrap_or(0);
            bytes = bytes.get(..end).unwrap_or_default();
            budget = 0;
        } else {
            budget -= bytes.len();
        }
        let mut start = 0;
        for raw in bytes.split(|b| *b == b';') {
            let offset = start;
            start += raw.len() + 1;
            let Some((name, value)) = parse_pair(raw) else {
                continue;
            };
            let pair = Pair {
                header: index,
                name: shift(name, offset),
                value: shift(value, offset),
            };
            if !visit(pair) {
                return;
            }
        }
        if budget == 0 {
            break;
        }
    }
}

fn shift(range: Range<usize>, by: usize) -> Range<usize> {
    range.start + by..range.end + by
}

/// The name and value ranges of one pair, relative to `pair`, if the pair is valid.
fn parse_pair(pair: &[u8]) -> Option<(Range<usize>, Range<usize>)> {
    let eq = pair.iter().position(|b| *b == b'=')?;
    let name = trim(pair, 0..eq);
    let mut value = trim(pair, eq + 1..pair.len());
    if !is_token_bytes(pair.get(name.clone())?) {
        return None;
    }
    let raw_value = pair.get(value.clone())?;
    if raw_value.len() >= 2 && raw_value.first() == Some(&b'"') && raw_value.last() == Some(&b'"') {
        value = value.start + 1..value.end - 1;
    }
    let raw_value = pair.get(value.clone())?;
    if raw_value.iter().any(|b| b.is_ascii_control() || *b == b'"') {
        return None;
    }
    std::str::from_utf8(raw_value).ok()?;
    Some((name, value))
}

/// `range` without leading and trailing ASCII whitespace.
fn trim(bytes: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && bytes.get(range.start).is_some_and(u8::is_ascii_whitespace) {
        range.start += 1;
    }
    while range.end > range.start
        && bytes
            .get(range.end - 1)
            .is_some_and(u8::is_ascii_whitespace)
    {
        range.end -= 1;
    }
    range
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// `find_pair` keeps to `parse_cookie_headers` on generated headers: duplicates,
    /// malformed pairs, quoting, control characters, several headers, and every limit.
    #[test]
    fn find_pair_agrees_with_the_full_parse() {
        const PIECES: &[&str] = &[
            "a=1",
            "b=2",
            "a=3",
            "__Host-s=x",
            "bad",
            "=v",
            "c=\"q\"",
            "d=\"",
            " e = 5 ",
            "f=a\tb",
            "g=é",
            "h=",
            "a b=1",
            "i=j=k",
            "",
            " ",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..5_000 {
            let headers: Vec<HeaderValue> = (0..1 + next(3))
                .map(|_| {
                    let line: Vec<&str> =
                        (0..next(8)).map(|_| PIECES[next(PIECES.len())]).collect();
                    HeaderValue::from_bytes(line.join(";").as_bytes()).unwrap()
                })
                .collect();
            let (max_bytes, max_cookies) = (1 + next(60), next(6));
            let all = parse_cookie_headers(&headers, max_bytes, max_cookies);
            for name in ["a", "b", "__Host-s", "c", "e", "g", "h", "i", "zz"] {
                let full = all
                    .iter()
                    .find(|p| p.name_bytes(&headers) == name.as_bytes())
                    .map(|p| p.value(&headers));
                match find_pair(&headers, max_bytes, max_cookies, name.as_bytes()) {
                    Lookup::Found(pair) => assert_eq!(Some(pair.value(&headers)), full),
                    Lookup::Absent => assert_eq!(None, full),
                    Lookup::Unknown => {}
                }
            }
        }
    }
}
