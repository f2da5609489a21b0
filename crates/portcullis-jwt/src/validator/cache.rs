//! The validated-token cache and the revocation deny-list.

use std::any::{Any, TypeId};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::claims::StandardClaims;

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    unix_secs(SystemTime::now())
}

/// `at` in seconds since the Unix epoch (0 before it).
pub(crate) fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
///
/// In front of the shared moka cache each thread keeps a small direct-mapped table of the
/// entries it used last (`front_slots` slots, [`DEFAULT_FRONT_SLOTS`] unless configured; 0
/// turns it off): a repeated token, the common case, is found with a thread-local read and one
/// comparison, without moka's clock read and bookkeeping. A front slot is only a shortcut to
/// an entry of this cache: it is ignored once the cache removes or clears anything (a
/// generation counter), and the caller checks the entry's deadline, revocation and key on
/// every hit, wherever it came from.
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<u64, Arc<Entry>>,
    hasher: std::hash::RandomState,
    /// Tells this cache's front slots from another validator's.
    id: u64,
    /// Bumped by every removal, so that no front slot outlives what it points to.
    generation: AtomicU64,
    /// This cache's share of each thread's front table: a power of two, or 0 (no front).
    front_slots: usize,
}

/// Front slots per thread unless configured.
pub(crate) const DEFAULT_FRONT_SLOTS: usize = 64;
/// The most front slots per thread a validator may ask for.
pub(crate) const MAX_FRONT_SLOTS: usize = 4096;

/// `requested` rounded up to a power of two and capped at [`MAX_FRONT_SLOTS`]; 0 stays 0.
pub(crate) fn front_slots(requested: usize) -> usize {
    match requested {
        0 => 0,
        n => n.min(MAX_FRONT_SLOTS).next_power_of_two(),
    }
}

struct FrontSlot {
    cache: u64,
    generation: u64,
    fingerprint: u64,
    entry: Arc<Entry>,
}

thread_local! {
    /// Shared by every cache on the thread (a slot names its cache); as long as the largest
    /// `front_slots` any cache used on this thread.
    static FRONT: std::cell::RefCell<Vec<Option<FrontSlot>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn next_cache_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn front_index(fingerprint: u64, slots: usize) -> usize {
    // The low bits of a keyed hash are as good as any.
    (fingerprint as usize) & slots.wrapping_sub(1)
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TokenCache {
    /// `front_slots` as given by [`front_slots`] (a power of two, or 0).
    pub(crate) fn new(capacity: u64, front_slots: usize) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilDeadline)
                .build(),
            hasher: std::hash::RandomState::new(),
            id: next_cache_id(),
            generation: AtomicU64::new(0),
            front_slots,
        }
    }

    fn front_get(&self, fingerprint: u64, token: &str, generation: u64) -> Option<Arc<Entry>> {
        if self.front_slots == 0 {
            return None;
        }
        FRONT
            .try_with(|front| {
                let front = front.try_borrow().ok()?;
                let slot = front
                    .get(front_index(fingerprint, self.front_slots))?
                    .as_ref()?;
                (slot.cache == self.id
                    && slot.generation == generation
                    && slot.fingerprint == fingerprint
                    && *slot.entry.token == *token)
                    .then(|| Arc::clone(&slot.entry))
            })
            .ok()
            .flatten()
    }

    /// Puts `entry` in this thread's front under `generation`, which the caller read *before*
    /// it found the entry: a removal in between then leaves the slot already out of date.
    fn front_put(&self, fingerprint: u64, entry: &Arc<Entry>, generation: u64) {
        if self.front_slots == 0 {
            return;
        }
        let _ = FRONT.try_with(|front| {
            let Ok(mut front) = front.try_borrow_mut() else {
                return;
            };
            if front.len() < self.front_slots {
                front.resize_with(self.front_slots, || None);
            }
            if let Some(slot) = front.get_mut(front_index(fingerprint, self.front_slots)) {
                *slot = Some(FrontSlot {
                    cache: self.id,
                    generation,
                    fingerprint,
                    entry: Arc::clone(entry),
                });
            }
        });
    }

    pub(crate) fn fingerprint(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let tail = bytes.get(bytes.len().saturating_sub(32)..).unwrap_or(bytes);
        self.hasher.hash_one((tail, bytes.len()))
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        let fingerprint = self.fingerprint(token);
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(entry) = self.front_get(fingerprint, token, generation) {
            return Some(entry);
        }
        let entry = self.entries.get(&fingerprint)?;
        if *entry.token != *token {
            return None;
        }
        self.front_put(fingerprint, &entry, generation);
        Some(entry)
    }

    pub(crate) fn insert(&self, entry: Arc<Entry>) {
        let fingerprint = self.fingerprint(&entry.token);
        let generation = self.generation.load(Ordering::Acquire);
        self.entries.insert(fingerprint, Arc::clone(&entry));
        self.front_put(fingerprint, &entry, generation);
    }

    pub(crate) fn remove(&self, token: &str) {
        let key = self.fingerprint(token);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if self.entries.get(&key).is_some_and(|e| *e.token == *token) {
            self.entries.invalidate(&key);
        }
    }

    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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

    /// Records `value` as revoked at `at` (unix seconds); of two revocations of the same
    /// value the later one is kept (it revokes more).
    pub(crate) fn add(&self, namespace: char, value: &str, at: u64) {
        let mut key = String::with_capacity(value.len() + 1);
        key.push(namespace);
        key.push_str(value);
        self.entries
            .entry(key)
            .and_upsert_with(|known| known.map_or(at, |e| (*e.value()).max(at)));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::claims::StandardInner;

    fn entry(token: &str) -> Arc<Entry> {
        let far = unix_now() + 3600;
        Arc::new(Entry {
            token: token.into(),
            claims: StandardClaims(Arc::new(StandardInner {
                issuer: "https://issuer.example".into(),
                subject: None,
                audience: Box::new([]),
                expires_at: far,
                not_before: None,
                issued_at: None,
                jwt_id: None,
                session_id: None,
                client_id: None,
                scopes: Box::new([]),
                roles: Box::new([]),
                key_id: None,
                algorithm: jsonwebtoken::Algorithm::RS256,
            })),
            payload: Box::new([]),
            typed: OnceLock::new(),
            deadline: far,
            revocation_epoch: AtomicU64::new(0),
            key_generation: AtomicU64::new(0),
            hmac: false,
        })
    }

    /// The per-thread front serves a repeated token, and never one the cache removed or
    /// cleared since, nor another cache's; at every front size, none included.
    #[test]
    fn the_front_never_outlives_a_removal_or_a_clear() {
        for slots in [0, 1, 2, DEFAULT_FRONT_SLOTS, MAX_FRONT_SLOTS] {
            let cache = TokenCache::new(1000, slots);
            cache.insert(entry("a.b.c"));
            assert!(cache.get("a.b.c").is_some());
            assert!(
                cache.get("a.b.c").is_some(),
                "served again (from the front)"
            );
            assert!(cache.get("a.b.d").is_none(), "a hit needs the whole token");
            cache.clear();
            assert!(cache.get("a.b.c").is_none(), "served after clear ({slots})");
            cache.insert(entry("a.b.c"));
            assert!(cache.get("a.b.c").is_some());
            cache.remove("a.b.c");
            assert!(
                cache.get("a.b.c").is_none(),
                "served after remove ({slots})"
            );
            // A smaller front after a larger one on the same thread, and the other way round.
            let other = TokenCache::new(1000, front_slots(slots * 3));
            cache.insert(entry("x.y.z"));
            assert!(cache.get("x.y.z").is_some());
            assert!(other.get("x.y.z").is_none(), "another cache's slot served");
            // Many tokens through few slots: every one still found, none mixed up.
            let tokens: Vec<String> = (0..200).map(|i| format!("t.{i}.sig{i}")).collect();
            for t in &tokens {
                cache.insert(entry(t));
            }
            for t in tokens.iter().rev() {
                let hit = cache.get(t).map(|e| e.token.to_string());
                assert_eq!(hit.as_deref(), Some(t.as_str()), "{slots} slots");
            }
        }
    }

    #[test]
    fn front_sizes_are_powers_of_two_within_the_cap() {
        assert_eq!(front_slots(0), 0);
        assert_eq!(front_slots(1), 1);
        assert_eq!(front_slots(3), 4);
        assert_eq!(front_slots(64), 64);
        assert_eq!(front_slots(65), 128);
        assert_eq!(front_slots(usize::MAX), MAX_FRONT_SLOTS);
    }
}
