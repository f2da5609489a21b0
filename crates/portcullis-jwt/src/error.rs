//! [`JwtError`]: why a token was refused, and its mapping to a [`Rejection`].

use std::fmt;
use std::time::Duration;

use portcullis_core::Rejection;

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtErrorKind {
    /// Not a compact JWS: wrong number of parts, invalid base64url, invalid JSON.
    Malformed,
    /// Longer than the configured maximum (checked before any decoding).
    TooLarge,
    /// The `alg` is not allowed (or is `none`, or does not fit the key type).
    AlgorithmNotAllowed,
    /// The header has a `crit` parameter naming an extension that is not understood.
    UnsupportedCritical,
    /// The `typ` header is not the required one.
    InvalidType,
    /// The `iss` is missing or not a configured issuer.
    UnknownIssuer,
    /// No key of the issuer has the token's `kid` (after the allowed re-fetch).
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// No configured audience is in `aud`.
    InvalidAudience,
    /// A required claim is missing.
    MissingClaim,
    /// A claim has the wrong type (e.g. a string or fractional `exp`).
    InvalidClaim,
    /// The token (its `jti`, `sid` or `sub`) was revoked.
    Revoked,
    /// The issuer's keys cannot be had right now; retry later.
    KeysUnavailable,
}

/// A refused token. The description is client-safe: it never contains the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtError {
    kind: JwtErrorKind,
    description: &'static str,
    retry_after: Option<Duration>,
}

impl JwtError {
    pub(crate) const fn new(kind: JwtErrorKind, description: &'static str) -> Self {
        Self {
            kind,
            description,
            retry_after: None,
        }
    }

    pub(crate) fn unavailable(retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                JwtErrorKind::KeysUnavailable,
                "the issuer's signing keys are unavailable",
            )
        }
    }

    /// Why the token was refused.
    pub fn kind(&self) -> JwtErrorKind {
        self.kind
    }

    /// A client-safe description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// For [`JwtErrorKind::KeysUnavailable`]: when to retry.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description)
    }
}

impl std::error::Error for JwtError {}

impl From<JwtError> for Rejection {
    fn from(error: JwtError) -> Self {
        match error.kind {
            JwtErrorKind::Expired => Rejection::token_expired(),
            JwtErrorKind::KeysUnavailable => Rejection::unavailable(
                error.description,
                error.retry_after.unwrap_or(Duration::from_secs(1)),
            ),
            _ => Rejection::invalid_token(error.description),
        }
    }
}
