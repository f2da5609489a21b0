//! The session store contract ([`SessionStore`]) and the embedded [`MemoryStore`].
//!
//! # Why boxed futures
//!
//! The trait returns [`StoreFuture`] (a pinned, boxed, `Send` future) rather than using
//! `async fn` in the trait, so that it is dyn-compatible: the session layer holds its store as
//! an `Arc<dyn SessionStore>`, and one layer type works with any store chosen at run time
//! (memory in tests, Redis in production) without a type parameter on every layer and
//! service. The cost is one allocation per store call, which is small next to the lookup's
//! hash and (for Redis) a network round trip. Implement it with
//! `Box::pin(async move { ... })`.
//!
//! # Contract
//!
//! * Keys are [`SessionIdHash`]es; the raw session ID never reaches a store.
//! * A record may be forgotten from [`SessionRecord::expires_at`] on (stores should expire it
//!   then, e.g. Redis `PEXPIREAT`); before that it must be returned by `load`.
//! * `create` stores version 1; `update` succeeds only if the stored version equals the
//!   record's version and stores `version + 1` (optimistic concurrency); `touch` moves
//!   `last_seen` and the expiry without changing the version.
//! * A per-subject index serves [`sessions_of`](SessionStore::sessions_of) and
//!   [`delete_all_of_subject`](SessionStore::delete_all_of_subject).
//! * Every error is a [`StoreError`] with a kind; transient ones (down, timeout) make the
//!   session layer fail closed with 503.
//!
//! Run the conformance suite (`portcullis_session::conformance`, feature `test-suite`)
//! against every implementation.

mod error;
mod memory;
mod record;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::{StoreError, StoreErrorKind};
pub use memory::{DEFAULT_MAX_SESSIONS, MemoryStore, MemoryStoreBuilder};
pub use record::{SealedTokens, SessionRecord, StoredClient, StoredTokens};

use crate::id::SessionIdHash;
use crate::time::Timestamp;

/// The future a [`SessionStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where sessions live. See the [module documentation](self) for the contract.
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// The record stored under `id`, or `None` if there is none (never created, deleted, or
    /// expired).
    fn load<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, Option<SessionRecord>>;

    /// What [`load`](Self::load) would return, answered at once, shared, without a future:
    /// for stores that keep their records in this process. `None` (the default) means "ask
    /// `load`", which is what every store that does I/O should answer. Unlike `load`, it may
    /// return a record past its [`expires_at`](SessionRecord::expires_at); the caller checks.
    ///
    /// The session layer serves a live session from it without a boxed future, a timer or a
    /// copy of the record; anything that has to write (a touch, a refresh, ending an expired
    /// session) still goes through `load` and the other methods.
    fn load_now(
        &self,
        id: &SessionIdHash,
    ) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        let _ = id;
        None
    }

    /// Stores a new record under `record.id_hash` with version 1 and adds it to the subject's
    /// index. Fails with [`StoreErrorKind::AlreadyExists`] if the key is taken (the caller
    /// generates a new ID). Returns the stored version (1).
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64>;

    /// Replaces the stored record if its version equals `record.version`; the stored copy gets
    /// `record.version + 1`, which is returned. Fails with [`StoreErrorKind::Conflict`] if the
    /// stored version differs and [`StoreErrorKind::NotFound`] if the record is gone. The
    /// subject must not change (a new subject is a new login, hence a new session).
    fn update<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64>;

    /// Sets `last_seen` and moves the expiry to `expires_at` (which the caller computed as
    /// `min(last_seen + idle_timeout, absolute_deadline)`), without changing the version.
    /// Returns whether the record existed. A touch never moves `last_seen` backwards.
    fn touch<'a>(
        &'a self,
        id: &'a SessionIdHash,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'a, bool>;

    /// Deletes the record and its index entry. Returns whether it existed.
    fn delete<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, bool>;

    /// Deletes every session of `subject` ("log out everywhere"); returns their hashes.
    fn delete_all_of_subject<'a>(&'a self, subject: &'a str)
    -> StoreFuture<'a, Vec<SessionIdHash>>;

    /// The live sessions of `subject` (expired ones left out), in no particular order.
    fn sessions_of<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<SessionRecord>>;
}

macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        impl<T: SessionStore + ?Sized> SessionStore for $ty {
            fn load<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, Option<SessionRecord>> {
                (**self).load(id)
            }
            fn load_now(
                &self,
                id: &SessionIdHash,
            ) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
                (**self).load_now(id)
            }
            fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
                (**self).create(record)
            }
            fn update<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
                (**self).update(record)
            }
            fn touch<'a>(
                &'a self,
                id: &'a SessionIdHash,
                last_seen: Timestamp,
                expires_at: Timestamp,
            ) -> StoreFuture<'a, bool> {
                (**self).touch(id, last_seen, expires_at)
            }
            fn delete<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, bool> {
                (**self).delete(id)
            }
            fn delete_all_of_subject<'a>(
                &'a self,
                subject: &'a str,
            ) -> StoreFuture<'a, Vec<SessionIdHash>> {
                (**self).delete_all_of_subject(subject)
            }
            fn sessions_of<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<SessionRecord>> {
                (**self).sessions_of(subject)
            }
        }
    )*};
}

forward_store!(Arc<T>, Box<T>);
