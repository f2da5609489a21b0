use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::{SessionRecord, SessionStore, StoreError, StoreErrorKind, StoreFuture};
use crate::id::SessionIdHash;
use crate::time::Timestamp;

/// Default [`MemoryStoreBuilder::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: u64 = 1_000_000;

type SubjectIndex = Arc<Mutex<HashMap<Arc<str>, HashSet<SessionIdHash>>>>;

/// The embedded session store: an in-process [`moka`] cache.
///
/// * bounded: at most [`max_sessions`](MemoryStoreBuilder::max_sessions) sessions (default
///   1,000,000); beyond that the cache evicts the sessions least likely to be used again, which
///   logs those users out, so size it for your peak;
/// * each entry expires at its [`SessionRecord::expires_at`] (the earlier of the idle and the
///   absolute deadline), moved forward by `touch`;
/// * a subject index serves "log out everywhere" and "your devices".
///
/// Sessions live in this process only: with several instances use a shared store (Redis).
/// Cloning is cheap and shares the sessions.
///
/// ```
/// use portcullis_session::store::{MemoryStore, SessionStore};
///
/// let store = MemoryStore::builder().max_sessions(10_000).build();
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<SessionIdHash, Arc<Stored>>,
    subjects: SubjectIndex,
    /// Tells this store's front slots from another store's.
    id: u64,
    /// This store's share of each thread's front table: a power of two, or 0 (no front).
    front_slots: usize,
}

/// One stored record, and whether the store has since replaced or removed it.
struct Stored {
    record: Arc<SessionRecord>,
    gone: AtomicBool,
}

impl Stored {
    fn new(record: SessionRecord) -> Arc<Self> {
        Arc::new(Self {
            record: Arc::new(record),
            gone: AtomicBool::new(false),
        })
    }

    fn retire(&self) {
        self.gone.store(true, Ordering::Release);
    }
}

/// Front slots per thread for [`SessionStore::load_now`] unless configured.
const DEFAULT_FRONT_SLOTS: usize = 64;
/// The most front slots per thread a store may ask for.
const MAX_FRONT_SLOTS: usize = 4096;

type FrontSlot = Option<(u64, SessionIdHash, Arc<Stored>)>;

thread_local! {
    /// The records this thread served last, by store and key: a repeated session is found
    /// with a thread-local read instead of a moka read (its clock read and bookkeeping). A
    /// slot is used only while its record is still the stored one (`Stored::gone`). Shared
    /// by every store on the thread; as long as the largest `front_slots` any store used.
    static FRONT: std::cell::RefCell<Vec<FrontSlot>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn front_index(id: &SessionIdHash, slots: usize) -> usize {
    // The key is a SHA-256 digest: any of its bytes is as good as a hash.
    let bytes = id.as_bytes();
    let low = u16::from_le_bytes([
        bytes.first().copied().unwrap_or(0),
        bytes.get(1).copied().unwrap_or(0),
    ]);
    usize::from(low) & slots.wrapping_sub(1)
}

fn next_store_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStoreBuilder {
    max_sessions: u64,
    front_slots: usize,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            front_slots: DEFAULT_FRONT_SLOTS,
        }
    }
}

impl MemoryStoreBuilder {
    /// The most sessions kept at once (default 1,000,000).
    pub fn max_sessions(mut self, max: u64) -> Self {
        self.max_sessions = max;
        self
    }

    /// Slots of the small table each thread keeps in front of the store for request-time
    /// lookups (default 64; rounded up to a power of two, at most 4,096; 0 turns it off). A
    /// repeated session found there skips the shared cache's bookkeeping; a slot is used only
    /// while its record is still the stored one, and every hit is still checked for expiry.
    /// The cost is memory: a slot keeps its record allocated until the slot is reused, even
    /// after the session was replaced or deleted, so up to this many records per thread.
    pub fn thread_front_slots(mut self, slots: usize) -> Self {
        self.front_slots = match slots {
            0 => 0,
            n => n.min(MAX_FRONT_SLOTS).next_power_of_two(),
        };
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let subjects: SubjectIndex = Arc::default();
        let index = Arc::clone(&subjects);
        let cache = Cache::builder()
            .max_capacity(self.max_sessions)
            .expire_after(RecordExpiry)
            .eviction_listener(move |key: Arc<SessionIdHash>, value: Arc<Stored>, cause| {
                value.retire();
                if cause != RemovalCause::Replaced {
                    unindex(&index, &value.record.subject, &key);
                }
            })
            .build();
        MemoryStore {
            cache,
            subjects,
            id: next_store_id(),
            front_slots: self.front_slots,
        }
    }
}

fn unindex(index: &SubjectIndex, subject: &str, id: &SessionIdHash) {
    let mut map = index.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(set) = map.get_mut(subject) {
        set.remove(id);
        if set.is_empty() {
            map.remove(subject);
        }
    }
}

impl MemoryStore {
    /// A store with the default capacity.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to set the capacity.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// The number of sessions held (approximate: moka counts lazily; call
    /// [`run_pending_tasks`](Self::run_pending_tasks) first for an exact figure).
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether the store holds no sessions (approximate, see [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs moka's pending maintenance (evictions, expirations, eviction notifications).
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }

    fn index(&self, subject: &str, id: SessionIdHash) {
        let mut map = self.subjects.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = map.get_mut(subject) {
            set.insert(id);
        } else {
            map.insert(Arc::from(subject), HashSet::from([id]));
        }
    }

    fn ids_of(&self, subject: &str) -> Vec<SessionIdHash> {
        let map = self.subjects.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(subject)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default()
    }

    fn live(&self, id: &SessionIdHash) -> Option<Arc<SessionRecord>> {
        self.cache
            .get(id)
            .map(|stored| Arc::clone(&stored.record))
            .filter(|record| !record.is_expired(Timestamp::now()))
    }

    fn front_get(&self, id: &SessionIdHash) -> Option<Arc<SessionRecord>> {
        if self.front_slots == 0 {
            return None;
        }
        FRONT
            .try_with(|front| {
                let front = front.try_borrow().ok()?;
                let (store, key, stored) =
                    front.get(front_index(id, self.front_slots))?.as_ref()?;
                (*store == self.id && key == id && !stored.gone.load(Ordering::Acquire))
                    .then(|| Arc::clone(&stored.record))
            })
            .ok()
            .flatten()
    }

    fn front_put(&self, id: &SessionIdHash, stored: &Arc<Stored>) {
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
            if let Some(slot) = front.get_mut(front_index(id, self.front_slots)) {
                *slot = Some((self.id, *id, Arc::clone(stored)));
            }
        });
    }

    fn create_sync(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let mut stored = record.clone();
        stored.version = 1;
        let stored = Stored::new(stored);
        let result = self
            .cache
            .entry(record.id_hash)
            .and_compute_with(|existing| match existing {
                Some(entry) if !entry.value().record.is_expired(Timestamp::now()) => Op::Nop,
                Some(expired) => {
                    expired.value().retire();
                    Op::Put(stored)
                }
                None => Op::Put(stored),
            });
        match result {
            moka::ops::compute::CompResult::Inserted(_)
            | moka::ops::compute::CompResult::ReplacedWith(_) => {
                self.index(&record.subject, record.id_hash);
                Ok(1)
            }
            _ => Err(StoreError::new(StoreErrorKind::AlreadyExists)),
        }
    }

    fn update_sync(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let mut outcome = Err(StoreError::new(StoreErrorKind::NotFound));
        let next = record.version.saturating_add(1);
        self.cache
            .entry(record.id_hash)
            .and_compute_with(|existing| match existing {
                Some(entry) if !entry.value().record.is_expired(Timestamp::now()) => {
                    let current = &entry.value().record;
                    if current.version != record.version {
                        outcome = Err(StoreError::new(StoreErrorKind::Conflict));
                        Op::Nop
                    } else if current.subject != record.subject {
                        outcome = Err(StoreError::with_source(
                            StoreErrorKind::Other,
                            "update must not change the subject",
                        ));
                        Op::Nop
                    } else {
                        let mut stored = record.clone();
                        stored.version = next;
                        stored.last_seen = stored.last_seen.max(current.last_seen);
                        outcome = Ok(next);
                        entry.value().retire();
                        Op::Put(Stored::new(stored))
                    }
                }
                _ => Op::Nop,
            });
        outcome
    }

    fn touch_sync(&self, id: &SessionIdHash, last_seen: Timestamp) -> bool {
        let mut found = false;
        self.cache
            .entry(*id)
            .and_compute_with(|existing| match existing {
                Some(entry) if !entry.value().record.is_expired(Timestamp::now()) => {
                    found = true;
                    let current = &entry.value().record;
                    if last_seen <= current.last_seen {
                        return Op::Nop;
                    }
                    let mut stored = SessionRecord::clone(current);
                    stored.last_seen = last_seen;
                    entry.value().retire();
                    Op::Put(Stored::new(stored))
                }
                _ => Op::Nop,
            });
        found
    }

    fn delete_sync(&self, id: &SessionIdHash) -> bool {
        match self.cache.remove(id) {
            Some(stored) => {
                stored.retire();
                unindex(&self.subjects, &stored.record.subject, id);
                !stored.record.is_expired(Timestamp::now())
            }
            None => false,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.cache.entry_count())
            .field("max_sessions", &self.cache.policy().max_capacity())
            .field("thread_front_slots", &self.front_slots)
            .finish()
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, Option<SessionRecord>> {
        let found = self.live(id).map(|record| SessionRecord::clone(&record));
        Box::pin(std::future::ready(Ok(found)))
    }

    fn load_now(
        &self,
        id: &SessionIdHash,
    ) -> Option<Result<Option<Arc<SessionRecord>>, StoreError>> {
        // A record past its deadline may still be here until moka expires it; the session
        // layer checks the deadlines with its own clock and takes the full path then.
        if let Some(record) = self.front_get(id) {
            return Some(Ok(Some(record)));
        }
        let stored = self.cache.get(id);
        if let Some(stored) = &stored {
            self.front_put(id, stored);
        }
        Some(Ok(stored.map(|stored| Arc::clone(&stored.record))))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        Box::pin(std::future::ready(self.create_sync(record)))
    }

    fn update<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        Box::pin(std::future::ready(self.update_sync(record)))
    }

    fn touch<'a>(
        &'a self,
        id: &'a SessionIdHash,
        last_seen: Timestamp,
        _expires_at: Timestamp,
    ) -> StoreFuture<'a, bool> {
        // The expiry follows from the record's own deadlines (see `RecordExpiry`).
        Box::pin(std::future::ready(Ok(self.touch_sync(id, last_seen))))
    }

    fn delete<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(self.delete_sync(id))))
    }

    fn delete_all_of_subject<'a>(
        &'a self,
        subject: &'a str,
    ) -> StoreFuture<'a, Vec<SessionIdHash>> {
        let ids = {
            let mut map = self.subjects.lock().unwrap_or_else(PoisonError::into_inner);
            map.remove(subject)
                .map(|set| set.into_iter().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let mut deleted = Vec::with_capacity(ids.len());
        for id in ids {
            if self.delete_sync(&id) {
                deleted.push(id);
            }
        }
        Box::pin(std::future::ready(Ok(deleted)))
    }

    fn sessions_of<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<SessionRecord>> {
        let records = self
            .ids_of(subject)
            .iter()
            .filter_map(|id| self.live(id))
            .filter(|record| record.subject == subject)
            .map(|record| SessionRecord::clone(&record))
            .collect();
        Box::pin(std::future::ready(Ok(records)))
    }
}

/// Expires each entry at its record's deadline, measured with the system clock.
struct RecordExpiry;

impl RecordExpiry {
    fn remaining(record: &SessionRecord) -> Option<Duration> {
        Some(record.expires_at().saturating_since(Timestamp::now()))
    }
}

impl moka::Expiry<SessionIdHash, Arc<Stored>> for RecordExpiry {
    fn expire_after_create(
        &self,
        _key: &SessionIdHash,
        value: &Arc<Stored>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Self::remaining(&value.record)
    }

    fn expire_after_update(
        &self,
        _key: &SessionIdHash,
        value: &Arc<Stored>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Self::remaining(&value.record)
    }
}
