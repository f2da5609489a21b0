use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// Why a request was refused.
///
/// The kind decides the status and the protocol-level error code; see
/// [`Rejection::status`], [`RejectionKind::bearer_error`] and [`RejectionKind::grpc_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No credential at all: no session cookie, no `Authorization` header.
    /// HTTP 401 with a bare `Bearer` challenge (RFC 6750 §3.1).
    MissingCredentials,
    /// The request is malformed: several `Authorization` headers, a malformed bearer
    /// credential, credentials sent in more than one way. HTTP 400 `invalid_request`.
    InvalidRequest,
    /// The token is not valid: bad signature, wrong issuer or audience, garbage.
    /// HTTP 401 `invalid_token`.
    InvalidToken,
    /// The token was valid but has expired. HTTP 401 `invalid_token`.
    TokenExpired,
    /// The session cookie names no live session (unknown, expired, logged out, revoked).
    /// HTTP 401 `invalid_token`.
    SessionInvalid,
    /// The session is used from a client other than the one it was created for.
    /// HTTP 401 `invalid_token`.
    BindingMismatch,
    /// The credential is valid but does not grant what the route requires.
    /// HTTP 403 `insufficient_scope`.
    InsufficientScope,
    /// A dependency needed to decide is unavailable (the IdP's keys, the session store).
    /// HTTP 503 with `Retry-After`. Never treated as "let in".
    Unavailable,
    /// The stack is misconfigured (for example a layer that another layer needs is missing).
    /// HTTP 500.
    Misconfigured,
}

impl RejectionKind {
    /// A stable, lower-case label for logs and metrics, e.g. `"invalid_token"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::SessionInvalid => "session_invalid",
            Self::BindingMismatch => "binding_mismatch",
            Self::InsufficientScope => "insufficient_scope",
            Self::Unavailable => "unavailable",
            Self::Misconfigured => "misconfigured",
        }
    }

    /// The HTTP status this kind maps to.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::MissingCredentials
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::SessionInvalid
            | Self::BindingMismatch => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 `error` code, or `None` when the challenge carries none
    /// (missing credentials) or the status is not 400/401/403.
    pub const fn bearer_error(self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidToken
            | Self::TokenExpired
            | Self::SessionInvalid
            | Self::BindingMismatch => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::MissingCredentials | Self::Unavailable | Self::Misconfigured => None,
        }
    }

    /// The gRPC status code: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED, 14 UNAVAILABLE,
    /// 3 INVALID_ARGUMENT or 13 INTERNAL.
    pub const fn grpc_status(self) -> u8 {
        match self {
            Self::MissingCredentials
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::SessionInvalid
            | Self::BindingMismatch => 16,
            Self::InvalidRequest => 3,
            Self::InsufficientScope => 7,
            Self::Unavailable => 14,
            Self::Misconfigured => 13,
        }
    }

    /// Whether a browser may be sent to a login page instead of getting this rejection.
    pub const fn is_unauthenticated(self) -> bool {
        matches!(self.status(), StatusCode::UNAUTHORIZED)
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the one error type of every portcullis layer.
///
/// A layer that refuses a request turns its `Rejection` into a response with a
/// [`ResponseForRejection`](crate::ResponseForRejection) and puts the `Rejection` itself into
/// the response's extensions, so outer layers and tests can see why.
///
/// The description is meant for the client (it goes into `error_description` or
/// `grpc-message`): it must never contain the token or other secrets. Constructors take a
/// `&'static str` or an owned `String` that the caller built from non-secret parts.
///
/// ```
/// use portcullis_core::{Rejection, RejectionKind};
/// use http::StatusCode;
///
/// let r = Rejection::insufficient_scope("write");
/// assert_eq!(r.kind(), RejectionKind::InsufficientScope);
/// assert_eq!(r.status(), StatusCode::FORBIDDEN);
/// assert_eq!(r.required_scope(), Some("write"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    description: Cow<'static, str>,
    required_scope: Option<Arc<str>>,
    retry_after: Option<Duration>,
}

impl Rejection {
    /// A rejection of the given kind with a client-safe description.
    pub fn new(kind: RejectionKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
            required_scope: None,
            retry_after: None,
        }
    }

    /// No credential was presented.
    pub fn missing_credentials() -> Self {
        Self::new(RejectionKind::MissingCredentials, "no credentials")
    }

    /// A malformed request (RFC 6750 `invalid_request`).
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RejectionKind::InvalidRequest, description)
    }

    /// An invalid token (RFC 6750 `invalid_token`).
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RejectionKind::InvalidToken, description)
    }

    /// An expired token.
    pub fn token_expired() -> Self {
        Self::new(RejectionKind::TokenExpired, "the access token expired")
    }

    /// The session cookie names no live session.
    pub fn session_invalid(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RejectionKind::SessionInvalid, description)
    }

    /// The session is used from another client than the one it was bound to.
    pub fn binding_mismatch() -> Self {
        Self::new(
            RejectionKind::BindingMismatch,
            "the session is bound to another client",
        )
    }

    /// The token lacks the scope (or role) `required`; RFC 6750 `insufficient_scope` with a
    /// `scope` attribute naming it.
    pub fn insufficient_scope(required: impl AsRef<str>) -> Self {
        let required = required.as_ref();
        Self {
            required_scope: Some(Arc::from(required)),
            ..Self::new(
                RejectionKind::InsufficientScope,
                "the access token does not grant the required scope",
            )
        }
    }

    /// A dependency is down; the client may retry after `retry_after`.
    pub fn unavailable(description: impl Into<Cow<'static, str>>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(RejectionKind::Unavailable, description)
        }
    }

    /// The stack is misconfigured.
    pub fn misconfigured(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(RejectionKind::Misconfigured, description)
    }

    /// Replaces the required scope reported in the challenge.
    #[must_use]
    pub fn with_required_scope(mut self, scope: impl AsRef<str>) -> Self {
        self.required_scope = Some(Arc::from(scope.as_ref()));
        self
    }

    /// Sets the `Retry-After` hint.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Why the request was refused.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The client-safe description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The scope the route requires, for `insufficient_scope`.
    pub fn required_scope(&self) -> Option<&str> {
        self.required_scope.as_deref()
    }

    /// When the client may retry, for `unavailable`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.description)
    }
}

impl std::error::Error for Rejection {}
