use std::error::Error as StdError;
use std::fmt;

use crate::store::{StoreError, StoreErrorKind};

/// What kind of failure a [`SessionError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionErrorKind {
    /// The session store failed or timed out (see the source [`StoreError`]).
    Store,
    /// The operation needs a logged-in session and there is none.
    NotLoggedIn,
    /// The session cookie cannot be set: `CookieLayer` is missing or refused the cookie.
    Cookie,
    /// The identity provider refused the call (for example `invalid_grant` on refresh).
    IdpRejected,
    /// The identity provider could not be reached or answered garbage.
    IdpUnavailable,
    /// An app-data value could not be (de)serialized.
    Data,
    /// The operating system's random number generator failed.
    Random,
    /// The stored tokens could not be decrypted.
    Crypto,
}

impl SessionErrorKind {
    /// A stable label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::NotLoggedIn => "not_logged_in",
            Self::Cookie => "cookie",
            Self::IdpRejected => "idp_rejected",
            Self::IdpUnavailable => "idp_unavailable",
            Self::Data => "data",
            Self::Random => "random",
            Self::Crypto => "crypto",
        }
    }
}

/// A failed session operation (`login`, `logout`, `insert`, ...). Opaque: match on
/// [`kind`](Self::kind). Never carries tokens or session IDs.
pub struct SessionError {
    kind: SessionErrorKind,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl SessionError {
    pub(crate) fn new(kind: SessionErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn with_source(
        kind: SessionErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> SessionErrorKind {
        self.kind
    }

    /// The store error's kind, when this is a store failure.
    pub fn store_kind(&self) -> Option<StoreErrorKind> {
        self.source
            .as_deref()
            .and_then(|e| e.downcast_ref::<StoreError>())
            .map(StoreError::kind)
    }
}

impl From<StoreError> for SessionError {
    fn from(err: StoreError) -> Self {
        Self::with_source(SessionErrorKind::Store, err)
    }
}

impl From<getrandom::Error> for SessionError {
    fn from(err: getrandom::Error) -> Self {
        Self::with_source(SessionErrorKind::Random, err)
    }
}

impl fmt::Debug for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session error: {}", self.kind.as_str())?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl StdError for SessionError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
