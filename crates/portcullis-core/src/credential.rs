use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
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
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: Arc<str>,
    source: TokenSource,
}

impl AccessToken {
    /// Wraps `token` found in `source`.
    pub fn new(token: impl Into<Arc<str>>, source: TokenSource) -> Self {
        Self {
            token: token.into(),
            source,
        }
    }

    /// The token as sent (compact JWS for a JWT).
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The shared token string.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.token
    }

    /// Where the token came from.
    pub fn source(&self) -> TokenSource {
        self.source
    }
}

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
    // b64token is ASCII, so this cannot fail; map defensively anyway.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| Rejection::invalid_request("malformed bearer token"))
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
    // No early exit: malformed tokens are rare, and a branch-free fold vectorizes.
    !body.is_empty() && body.iter().fold(true, |ok, b| ok & is_b64token_byte(*b))
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
