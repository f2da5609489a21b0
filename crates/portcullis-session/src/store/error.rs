use std::error::Error as StdError;
use std::fmt;

/// What kind of failure a [`StoreError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store cannot be reached (connection refused, pool exhausted, cluster down).
    Unavailable,
    /// The store did not answer in time.
    Timeout,
    /// Optimistic concurrency failed: the record changed (another request or instance wrote a
    /// newer version) since it was loaded. Reload and retry.
    Conflict,
    /// `create` of an ID that already exists.
    AlreadyExists,
    /// `update` of a record that no longer exists (deleted, expired, logged out).
    NotFound,
    /// A stored record could not be decoded (schema change, truncation, tampering).
    Corrupt,
    /// The store refused the write for lack of room.
    Capacity,
    /// Anything else; see the source.
    Other,
}

impl StoreErrorKind {
    /// A stable, lower-case label for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Conflict => "conflict",
            Self::AlreadyExists => "already_exists",
            Self::NotFound => "not_found",
            Self::Corrupt => "corrupt",
            Self::Capacity => "capacity",
            Self::Other => "other",
        }
    }

    /// Whether this is the store being down or slow (the request fails closed with 503 and
    /// may be retried), as opposed to a fact about the record.
    pub const fn is_transient(self) -> bool {
        matches!(self, Self::Unavailable | Self::Timeout | Self::Capacity)
    }
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed [`SessionStore`](super::SessionStore) operation.
///
/// Opaque: match on [`kind`](Self::kind); the underlying error (a Redis error, a serde error)
/// is available as [`source`](StdError::source). Messages never contain tokens or session IDs.
///
/// ```
/// use portcullis_session::store::{StoreError, StoreErrorKind};
///
/// let err = StoreError::new(StoreErrorKind::Timeout);
/// assert_eq!(err.kind(), StoreErrorKind::Timeout);
/// assert!(err.kind().is_transient());
/// assert_eq!(err.to_string(), "session store error: timeout");
/// ```
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error of `kind` without an underlying cause.
    pub fn new(kind: StoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: StoreErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// Shorthand for [`StoreErrorKind::Unavailable`] with a cause.
    pub fn unavailable(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::with_source(StoreErrorKind::Unavailable, source)
    }

    /// Shorthand for [`StoreErrorKind::Corrupt`] with a cause.
    pub fn corrupt(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::with_source(StoreErrorKind::Corrupt, source)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl From<StoreErrorKind> for StoreError {
    fn from(kind: StoreErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session store error: {}", self.kind)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
