use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use subtle::ConstantTimeEq;

use crate::rejection::Rejection;

/// Where an [`AccessToken`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// The request's `Authorization: Bearer` header.
    AuthorizationHeader,
    /// The server-side session the request's session cookie points to.
    Session,
}

/// An access token found for the current request, not yet validated.
///
/// A lookup layer (the session lookup, or a bearer-header extractor) puts one into the
/// request extensions; the JWT layer validates it. Holding an `AccessToken` grants nothing.
/// Cloning is cheap (the token is shared), and `Debug` never prints the token.
///
/// ```
/// use portcullis_core::{AccessToken, TokenSource};
///
/// let token = AccessToken::new("eyJhbGciOi...", TokenSource::AuthorizationHeader);
/// assert_eq!(token.as_str(), "eyJhbGciOi...");
/// assert!(!format!("{token:?}").contains("eyJ"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    token: Repr,
    source: TokenSource,
}

#[derive(Clone)]
enum Repr {
    Shared(Arc<str>),
    /// The `Authorization` header the token came in, and where in it the token lies (checked
    /// `b64token` syntax, hence ASCII): the header's bytes are shared, not copied.
    Header {
        value: HeaderValue,
        start: usize,
        end: usize,
    },
}

impl AccessToken {
    /// Wraps `token` found in `source`.
    pub fn new(token: impl Into<Arc<str>>, source: TokenSource) -> Self {
        Self {
            token: Repr::Shared(token.into()),
            source,
        }
    }

    /// The bearer token of `headers`, as [`bearer_token`] finds it, sharing the header's
    /// bytes instead of copying the token.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use portcullis_core::{AccessToken, TokenSource};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("authorization", "Bearer abc.def.ghi".parse().unwrap());
    /// let token = AccessToken::from_bearer_header(&headers).unwrap().unwrap();
    /// assert_eq!(token.as_str(), "abc.def.ghi");
    /// assert_eq!(token.source(), TokenSource::AuthorizationHeader);
    /// ```
    pub fn from_bearer_header(headers: &HeaderMap) -> Result<Option<Self>, Rejection> {
        Ok(bearer_range(headers)?.map(|(value, range)| Self {
            token: Repr::Header {
                value: value.clone(),
                start: range.start,
                end: range.end,
            },
            source: TokenSource::AuthorizationHeader,
        }))
    }

    /// The token as sent (compact JWS for a JWT).
    pub fn as_str(&self) -> &str {
        match &self.token {
            Repr::Shared(token) => token,
            // Checked to be ASCII when found, so the conversion cannot fail.
            Repr::Header { value, start, end } => value
                .as_bytes()
                .get(*start..*end)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or_default(),
        }
    }

    /// The token as a shared string (a reference count when the token came from a session
    /// or [`new`](Self::new); a copy when it came from the header).
    pub fn to_shared(&self) -> Arc<str> {
        match &self.token {
            Repr::Shared(token) => Arc::clone(token),
            Repr::Header { .. } => Arc::from(self.as_str()),
        }
    }

    /// Where the token came from.
    pub fn source(&self) -> TokenSource {
        self.source
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.as_str() == other.as_str()
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("source", &self.source)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// The bearer token of the request's `Authorization` header (RFC 6750 §2.1).
///
/// * `Ok(None)`: no `Authorization` header, or one with another scheme (e.g. `Basic`);
/// * `Ok(Some(token))`: one `Authorization: Bearer <token>` header with a well-formed token;
/// * `Err(_)` (`invalid_request`, HTTP 400): several `Authorization` headers, or a `Bearer`
///   credential that is empty or not in the `b64token` syntax.
///
/// ```
/// use http::HeaderMap;
/// use portcullis_core::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(bearer_token(&headers).unwrap(), None);
/// headers.insert("authorization", "Bearer abc.def.ghi".parse().unwrap());
/// assert_eq!(bearer_token(&headers).unwrap(), Some("abc.def.ghi"));
/// headers.insert("authorization", "Bearer a b".parse().unwrap());
/// assert!(bearer_token(&headers).is_err());
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let Some((value, range)) = bearer_range(headers)? else {
        return Ok(None);
    };
    // b64token is ASCII, so this cannot fail; map defensively anyway.
    value
        .as_bytes()
        .get(range)
        .and_then(|token| std::str::from_utf8(token).ok())
        .map(Some)
        .ok_or_else(|| Rejection::invalid_request("malformed bearer token"))
}

/// The `Authorization` header holding a bearer token, and where the token lies in it.
fn bearer_range(headers: &HeaderMap) -> Result<Option<(&HeaderValue, Range<usize>)>, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::invalid_request(
            "more than one Authorization header",
        ));
    }
    let bytes = value.as_bytes();
    let scheme_len = bytes.iter().position(|b| *b == b' ').unwrap_or(bytes.len());
    let (scheme, rest) = bytes.split_at(scheme_len);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(Rejection::invalid_request("empty bearer token"));
    }
    if !is_b64token(token) {
        return Err(Rejection::invalid_request("malformed bearer token"));
    }
    let start = scheme_len + (rest.len() - rest.trim_ascii_start().len());
    Ok(Some((value, start..start + token.len())))
}

/// Whether `b` may appear in a `b64token` body. Compares only (no table, no branch), so the
/// scan over a 1 KB token below compiles to vector instructions: it runs on every bearer
/// request.
const fn is_b64token_byte(b: u8) -> bool {
    // `-` `.` `/` and the digits are one range (0x2D..=0x39); `b | 0x20` folds A-Z onto a-z.
    (b.wrapping_sub(b'-') < 13)
        | (b == b'+')
        | ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b == b'_')
        | (b == b'~')
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|b| **b == b'=').count();
    let (body, _padding) = token.split_at(body_len);
    // No early exit: malformed tokens are rare, and a branch-free OR of byte flags
    // vectorizes.
    !body.is_empty()
        && body
            .iter()
            .fold(0u8, |bad, b| bad | u8::from(!is_b64token_byte(*b)))
            == 0
}

/// Whether the request is a gRPC call (`content-type: application/grpc` or
/// `application/grpc+proto`, `application/grpc-web`...).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::RejectionKind;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn b64token_byte_check_matches_the_grammar() {
        for b in 0..=255u8 {
            let allowed =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_byte(b), allowed, "byte {b:#04x}");
            // `=` is padding: allowed at the end only.
            assert_eq!(
                is_b64token(&[b'a', b, b'=']),
                allowed || b == b'=',
                "byte {b:#04x}"
            );
            assert_eq!(is_b64token(&[b, b'a']), allowed, "byte {b:#04x}");
        }
        assert!(is_b64token(b"abc=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&headers(&[])).unwrap(), None);
        assert_eq!(
            bearer_token(&headers(&["Basic Zm9vOmJhcg=="])).unwrap(),
            None
        );
        assert_eq!(
            bearer_token(&headers(&["bearer x.y.z"])).unwrap(),
            Some("x.y.z")
        );
        assert_eq!(
            bearer_token(&headers(&["BEARER  abc=="])).unwrap(),
            Some("abc==")
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer ==",
            "Bearer a\"b",
            "Bearer a=b",
        ] {
            let err = bearer_token(&headers(&[bad])).unwrap_err();
            assert_eq!(err.kind(), RejectionKind::InvalidRequest, "{bad}");
        }
        let err = bearer_token(&headers(&["Bearer a", "Bearer b"])).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidRequest);
    }

    #[test]
    fn access_token_from_the_header_is_the_bearer_token() {
        for value in [
            "bearer x.y.z",
            "BEARER  abc==",
            "Bearer a.b.c \t",
            "Basic Zm9v",
        ] {
            let map = headers(&[value]);
            let shared = AccessToken::from_bearer_header(&map).unwrap();
            let found = bearer_token(&map).unwrap();
            assert_eq!(shared.as_ref().map(AccessToken::as_str), found, "{value}");
            if let Some(token) = shared {
                assert_eq!(token.source(), TokenSource::AuthorizationHeader);
                assert_eq!(&*token.to_shared(), token.as_str());
                assert_eq!(
                    token,
                    AccessToken::new(token.as_str(), TokenSource::AuthorizationHeader)
                );
                assert!(!format!("{token:?}").contains(token.as_str()));
            }
        }
        for bad in ["Bearer", "Bearer a b", "Bearer a=b"] {
            let err = AccessToken::from_bearer_header(&headers(&[bad])).unwrap_err();
            assert_eq!(err.kind(), RejectionKind::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn grpc_detection() {
        let mut map = HeaderMap::new();
        assert!(!is_grpc(&map));
        map.insert(CONTENT_TYPE, "application/grpc+proto".parse().unwrap());
        assert!(is_grpc(&map));
        map.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_grpc(&map));
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
