//! The tokens a session holds for its user.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The user's tokens from the identity provider: what `Session::login` takes and the session
/// keeps server-side. None of them ever goes into a cookie. `Debug` redacts every token.
///
/// ```
/// use portcullis_session::TokenSet;
/// use std::time::Duration;
///
/// let tokens = TokenSet::new("access-jwt")
///     .with_refresh_token("refresh-1")
///     .with_expires_in(portcullis_session::Timestamp::now(), Duration::from_secs(300));
/// assert_eq!(tokens.access_token(), "access-jwt");
/// assert!(!format!("{tokens:?}").contains("refresh-1"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// Shared, so that handing it to the JWT layer on every request copies nothing.
    access_token: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_expires_at: Option<Timestamp>,
}

impl TokenSet {
    /// A token set with only an access token (no known expiry).
    pub fn new(access_token: impl Into<String>) -> Self {
        Self {
            access_token: Arc::from(access_token.into()),
            id_token: None,
            refresh_token: None,
            access_expires_at: None,
        }
    }

    /// Adds the OpenID Connect ID token.
    #[must_use]
    pub fn with_id_token(mut self, id_token: impl Into<String>) -> Self {
        self.id_token = Some(id_token.into());
        self
    }

    /// Adds the refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// Sets when the access token expires.
    #[must_use]
    pub fn with_access_expires_at(mut self, at: Timestamp) -> Self {
        self.access_expires_at = Some(at);
        self
    }

    /// Sets the access-token expiry from the token response's `expires_in`, counted from `now`.
    #[must_use]
    pub fn with_expires_in(self, now: Timestamp, expires_in: std::time::Duration) -> Self {
        self.with_access_expires_at(now.saturating_add(expires_in))
    }

    /// The access token.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The access token, shared (a reference count, not a copy).
    pub(crate) fn access_token_shared(&self) -> &Arc<str> {
        &self.access_token
    }

    /// The ID token, if any.
    pub fn id_token(&self) -> Option<&str> {
        self.id_token.as_deref()
    }

    /// The refresh token, if any.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// When the access token expires, if known.
    pub fn access_expires_at(&self) -> Option<Timestamp> {
        self.access_expires_at
    }

    /// Whether the access token has expired at `now` (an unknown expiry never expires here;
    /// the JWT layer still checks `exp`).
    pub fn access_expired(&self, now: Timestamp) -> bool {
        self.access_expires_at.is_some_and(|at| now >= at)
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[REDACTED]")
            .field("id_token", &self.id_token.as_ref().map(|_| "[REDACTED]"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("access_expires_at", &self.access_expires_at)
            .finish()
    }
}
