//! The validated-token cache and the revocation deny-list.

use std::any::{Any, TypeId};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::StandardClaims;

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One validated token.
pub(crate) struct Entry {
    /// The whole token: a hit must match it exactly, so no other token can use the entry.
    pub(crate) token: Box<str>,
    pub(crate) claims: StandardClaims,
    /// The verified payload JSON, for deserializing other claim types.
    pub(crate) payload: Box<[u8]>,
    /// The payload deserialized as the first type asked for.
    pub(crate) typed: OnceLock<(TypeId, Arc<dyn Any + Send + Sync>)>,
    /// `exp + leeway`: the entry is dead from this second on.
    pub(crate) deadline: u64,
    pub(crate) revocation_epoch: AtomicU64,
    pub(crate) key_generation: AtomicU64,
    pub(crate) hmac: bool,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("token", &"[REDACTED]")
            .field("claims", &self.claims)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

struct UntilDeadline;

impl moka::Expiry<u64, Arc<Entry>> for UntilDeadline {
    fn expire_after_create(
        &self,
        _key: &u64,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        // Capped: the entry is checked against its deadline on every hit anyway.
        const MAX: u64 = 365 * 24 * 3600;
        Some(Duration::from_secs(
            value.deadline.saturating_sub(unix_now()).min(MAX),
        ))
    }
}

/// Tokens seen valid, keyed by a keyed hash of the token's tail (the signature) and
/// length; the entry holds the whole token and a hit requires an exact match.
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<u64, Arc<Entry>>,
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilDeadline)
                .build(),
            hasher: std::hash::RandomState::new(),
        }
    }

    pub(crate) fn fingerprint(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let tail = bytes.get(bytes.len().saturating_sub(32)..).unwrap_or(bytes);
        self.hasher.hash_one((tail, bytes.len()))
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        let entry = self.entries.get(&self.fingerprint(token))?;
        (*entry.token == *token).then_some(entry)
    }

    pub(crate) fn insert(&self, entry: Arc<Entry>) {
        self.entries.insert(self.fingerprint(&entry.token), entry);
    }

    pub(crate) fn remove(&self, token: &str) {
        let key = self.fingerprint(token);
        if self.entries.get(&key).is_some_and(|e| *e.token == *token) {
            self.entries.invalidate(&key);
        }
    }

    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }

    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// Revoked `jti`s, `sid`s and subjects, remembered for a bounded time.
pub(crate) struct DenyList {
    /// Key: a one-letter namespace and the value; value: revocation time (unix seconds).
    entries: moka::sync::Cache<String, u64>,
    epoch: AtomicU64,
}

impl std::fmt::Debug for DenyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenyList")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl DenyList {
    pub(crate) fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            epoch: AtomicU64::new(0),
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn add(&self, namespace: char, value: &str) {
        let mut key = String::with_capacity(value.len() + 1);
        key.push(namespace);
        key.push_str(value);
        self.entries.insert(key, unix_now());
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn revoked_at(&self, namespace: char, value: &str) -> Option<u64> {
        let mut key = String::with_capacity(value.len() + 1);
        key.push(namespace);
        key.push_str(value);
        self.entries.get(&key)
    }

    /// Whether the token with these claims is revoked: its `jti` at all, its `sid` or
    /// `sub` if it was issued at or before the revocation (or has no `iat`).
    pub(crate) fn is_revoked(&self, claims: &StandardClaims) -> bool {
        if self.epoch() == 0 {
            return false;
        }
        let before = |at: u64| claims.issued_at().is_none_or(|iat| iat <= at);
        claims
            .jwt_id()
            .is_some_and(|jti| self.revoked_at('j', jti).is_some())
            || claims
                .session_id()
                .and_then(|sid| self.revoked_at('s', sid))
                .is_some_and(before)
            || claims
                .subject()
                .and_then(|sub| self.revoked_at('u', sub))
                .is_some_and(before)
    }
}
