//! Revocation events and their fan-out to every instance.
//!
//! When a session ends, a user is logged out everywhere, or a token's `jti`/`sid` is revoked,
//! each instance's local caches (validated tokens, cached sessions) must drop it at once. A
//! [`Revocation`] carries [`RevocationEvent`]s: [`LocalRevocation`] within this process, the
//! Redis implementation (crate `portcullis-redis`) over pub/sub to every instance sharing the
//! store. Listeners ([`RevocationListener`]) act on each event wherever it was published.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::id::SessionIdHash;
use crate::store::StoreFuture;

/// What was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocationEvent {
    /// One session (logout, destroy, binding mismatch).
    Session(SessionIdHash),
    /// Every session and token of a subject (log out everywhere).
    Subject(String),
    /// One token, by its `jti` claim.
    Jti(String),
    /// Every token of an IdP session, by its `sid` claim (back-channel logout).
    Sid(String),
}

/// Acts on revocation events, from this instance or any other.
///
/// Called synchronously on the delivering task: do cheap work only (drop cache entries).
pub trait RevocationListener: Send + Sync + fmt::Debug + 'static {
    /// Handles one event, published just now.
    fn on_revocation(&self, event: &RevocationEvent);

    /// Handles an event published earlier, at `revoked_at`, that reaches this instance late:
    /// replayed from a durable log after a lost subscription or when the instance starts.
    /// What "issued before the revocation" means must then use `revoked_at`, not now, or
    /// tokens issued since (a user who logged in again) would be revoked too. The default
    /// calls [`on_revocation`](Self::on_revocation), right for listeners that only drop
    /// cache entries.
    fn on_replayed_revocation(&self, event: &RevocationEvent, revoked_at: SystemTime) {
        let _ = revoked_at;
        self.on_revocation(event);
    }
}

/// A [`RevocationListener`] from a closure.
pub struct FnListener<F>(F);

impl<F> FnListener<F>
where
    F: Fn(&RevocationEvent) + Send + Sync + 'static,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> fmt::Debug for FnListener<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnListener")
    }
}

impl<F> RevocationListener for FnListener<F>
where
    F: Fn(&RevocationEvent) + Send + Sync + 'static,
{
    fn on_revocation(&self, event: &RevocationEvent) {
        (self.0)(event);
    }
}

/// Carries revocation events to the listeners of every instance.
pub trait Revocation: Send + Sync + fmt::Debug + 'static {
    /// Publishes `event` to every instance, this one included: when the future resolves `Ok`,
    /// the local listeners have run and the event is on its way to the others. Errors are
    /// [`StoreError`](crate::store::StoreError)s (the transport is the store's).
    fn publish(&self, event: RevocationEvent) -> StoreFuture<'_, ()>;

    /// Registers `listener` for events published anywhere.
    fn subscribe(&self, listener: Arc<dyn RevocationListener>);
}

/// A list of listeners with a `dispatch`, for implementations of [`Revocation`].
#[derive(Default)]
pub struct Listeners {
    listeners: RwLock<Vec<Arc<dyn RevocationListener>>>,
}

impl Listeners {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a listener.
    pub fn add(&self, listener: Arc<dyn RevocationListener>) {
        self.listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }

    /// Calls every listener with `event`.
    pub fn dispatch(&self, event: &RevocationEvent) {
        for listener in self.snapshot() {
            listener.on_revocation(event);
        }
    }

    /// Calls every listener with `event`, published earlier at `revoked_at` (see
    /// [`RevocationListener::on_replayed_revocation`]).
    pub fn dispatch_replayed(&self, event: &RevocationEvent, revoked_at: SystemTime) {
        for listener in self.snapshot() {
            listener.on_replayed_revocation(event, revoked_at);
        }
    }

    /// The listeners, copied out of the lock so that a listener may subscribe another.
    fn snapshot(&self) -> Vec<Arc<dyn RevocationListener>> {
        self.listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many listeners are registered.
    pub fn len(&self) -> usize {
        self.listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no listener is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}

/// Revocation within this process only (the default; enough with a single instance).
///
/// ```
/// use portcullis_session::revocation::{FnListener, LocalRevocation, Revocation, RevocationEvent};
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
///
/// # tokio_test_block_on(async {
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&seen);
/// let revocation = LocalRevocation::new();
/// revocation.subscribe(Arc::new(FnListener::new(move |_event: &RevocationEvent| {
///     counter.fetch_add(1, Ordering::SeqCst);
/// })));
/// revocation.publish(RevocationEvent::Jti("token-1".into())).await.unwrap();
/// assert_eq!(seen.load(Ordering::SeqCst), 1);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct LocalRevocation {
    listeners: Listeners,
}

impl LocalRevocation {
    /// No listeners yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Revocation for LocalRevocation {
    fn publish(&self, event: RevocationEvent) -> StoreFuture<'_, ()> {
        self.listeners.dispatch(&event);
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe(&self, listener: Arc<dyn RevocationListener>) {
        self.listeners.add(listener);
    }
}

/// The JWT validator drops what a revocation names: `jti` and `sid` revocations and a revoked
/// subject ("log out everywhere") reach its validated-token cache and deny list at once.
/// Subscribe it with `revocation.subscribe(Arc::new(validator.clone()))`.
impl RevocationListener for portcullis_jwt::Validator {
    fn on_revocation(&self, event: &RevocationEvent) {
        match event {
            RevocationEvent::Jti(jti) => self.revoke_jti(jti),
            RevocationEvent::Sid(sid) => self.revoke_sid(sid),
            RevocationEvent::Subject(subject) => self.revoke_subject(subject),
            // Sessions are not tokens: the session's own store entry is gone already.
            RevocationEvent::Session(_) => {}
        }
    }

    fn on_replayed_revocation(&self, event: &RevocationEvent, revoked_at: SystemTime) {
        match event {
            RevocationEvent::Jti(jti) => self.revoke_jti(jti),
            RevocationEvent::Sid(sid) => self.revoke_sid_issued_until(sid, revoked_at),
            RevocationEvent::Subject(subject) => {
                self.revoke_subject_issued_until(subject, revoked_at);
            }
            RevocationEvent::Session(_) => {}
        }
    }
}
