//! Lenient, bounded parsing of `Cookie` request headers.

use cookie::Cookie;
use http::HeaderValue;

use crate::config::is_token;

/// Parses `headers` into cookies, first occurrence of a name first (browsers send the most
/// specific path first). Reads at most `max_bytes` bytes in all and keeps at most
/// `max_cookies` cookies; skips pairs that are malformed, not UTF-8, or hold control characters.
pub(crate) fn parse_cookie_headers(
    headers: &[HeaderValue],
    max_bytes: usize,
    max_cookies: usize,
) -> Vec<Cookie<'static>> {
    let mut cookies: Vec<Cookie<'static>> = Vec::new();
    let mut budget = max_bytes;
    'headers: for header in headers {
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
        for pair in bytes.split(|b| *b == b';') {
            if cookies.len() >= max_cookies {
                tracing::debug!(limit = max_cookies, "too many cookies; ignoring the rest");
                break 'headers;
            }
            if let Some(cookie) = parse_pair(pair)
                && !cookies.iter().any(|c| c.name() == cookie.name())
            {
                cookies.push(cookie);
            }
        }
        if budget == 0 {
            break;
        }
    }
    cookies
}

fn parse_pair(pair: &[u8]) -> Option<Cookie<'static>> {
    let pair = pair.trim_ascii();
    let eq = pair.iter().position(|b| *b == b'=')?;
    let (name, value) = pair.split_at(eq);
    let name = std::str::from_utf8(name.trim_ascii()).ok()?;
    let mut value = value.get(1..)?.trim_ascii();
    if !is_token(name) {
        return None;
    }
    if value.len() >= 2 && value.first() == Some(&b'"') && value.last() == Some(&b'"') {
        value = value.get(1..value.len() - 1)?;
    }
    if value.iter().any(|b| b.is_ascii_control() || *b == b'"') {
        return None;
    }
    let value = std::str::from_utf8(value).ok()?;
    Some(Cookie::new(name.to_owned(), value.to_owned()))
}
