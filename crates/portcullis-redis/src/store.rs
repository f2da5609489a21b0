//! [`RedisStore`]: the [`SessionStore`] on Redis or Valkey.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use portcullis_session::store::{
    SessionRecord, SessionStore, StoreError, StoreErrorKind, StoreFuture,
};
use portcullis_session::{SessionIdHash, Timestamp};
use redis::{AsyncCommands, Client};
use sha2::{Digest, Sha256};

use crate::config::RedisStoreBuilder;
use crate::conn::{Conn, timed};
use crate::scripts::Scripts;

/// Sessions in Redis or Valkey, shared by every instance of the application.
///
/// * one hash per session under `<prefix>s:{<id hash>}`, expiring (`PEXPIREAT`) at the
///   earlier of the idle and the absolute deadline, moved by `touch`;
/// * a per-subject index (a sorted set under `<prefix>u:{<sha256(subject)>}`, scored by
///   absolute deadline, pruned of dead entries) for "log out everywhere" and "your devices";
/// * optimistic concurrency: `update` is a Lua script that compares the stored version and
///   writes in one step, so two instances cannot overwrite each other's changes unnoticed;
/// * a multiplexed connection that reconnects by itself; every operation has a deadline
///   ([`with_timeout`](RedisStoreBuilder::with_timeout), default 2 s) and a store that is
///   down or slow yields [`StoreErrorKind::Unavailable`] or [`StoreErrorKind::Timeout`],
///   never "not found".
///
/// Cloning is cheap and shares the connection. [`RedisStore::revocation`] gives the
/// matching cross-instance [`RedisRevocation`](crate::RedisRevocation).
///
/// ```no_run
/// use portcullis_redis::RedisStore;
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), portcullis_core::ConfigError> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379/0")
///     .with_key_prefix("myapp:")
///     .with_timeout(Duration::from_millis(500))
///     .build()?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: Conn,
    /// A client for the revocation subscriber's own connection.
    pub(crate) client: Client,
    /// Server address(es), for `Debug` (no password).
    pub(crate) described: String,
    pub(crate) prefix: Arc<str>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_min_delay: Duration,
    pub(crate) reconnect_max_delay: Duration,
    pub(crate) scripts: Scripts,
    /// The runtime the store was built on, where the revocation subscriber runs.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.inner.described)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A builder for a store on the standalone server at `url`
    /// (`redis://[user:password@]host:port/db`, `rediss://` needs TLS support in `redis`).
    /// A malformed URL is reported by [`build`](RedisStoreBuilder::build).
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder::single(url)
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The per-operation deadline.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Checks that Redis answers (`PING`) within the deadline, e.g. for a readiness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.inner.conn.clone();
        timed(self.inner.timeout, async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await
        .map(|_| ())
    }

    /// The key of the session stored under `id`.
    pub fn session_key(&self, id: &SessionIdHash) -> String {
        format!("{}s:{{{}}}", self.inner.prefix, id.to_hex())
    }

    /// The key of `subject`'s index (the subject itself appears only hashed).
    pub fn subject_key(&self, subject: &str) -> String {
        let digest = Sha256::digest(subject.as_bytes());
        let id = SessionIdHash::from_bytes(digest.into());
        format!("{}u:{{{}}}", self.inner.prefix, id.to_hex())
    }

    fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }

    async fn load_inner(&self, id: &SessionIdHash) -> Result<Option<SessionRecord>, StoreError> {
        let key = self.session_key(id);
        let mut conn = self.conn();
        let fields: (Option<String>, Option<String>, Option<String>) = timed(
            self.inner.timeout,
            redis::cmd("HMGET")
                .arg(&key)
                .arg("v")
                .arg("ls")
                .arg("r")
                .query_async(&mut conn),
        )
        .await?;
        decode(id, fields)
    }

    async fn create_inner(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let mut stored = record.clone();
        stored.version = 1;
        let json = encode(&stored)?;
        let deadline = millis(record.absolute_deadline);
        let mut conn = self.conn();
        let scripts = &self.inner.scripts;
        let index_key = self.subject_key(&record.subject);
        let key = self.session_key(&record.id_hash);
        timed(self.inner.timeout, async {
            // Index first: a live session is always in its subject's index (a dangling index
            // entry, left if the second step fails, is pruned later).
            scripts
                .index_add
                .key(&index_key)
                .arg(record.id_hash.to_hex())
                .arg(deadline)
                .invoke_async::<i64>(&mut conn)
                .await?;
            scripts
                .create
                .key(&key)
                .arg(json)
                .arg(millis(record.last_seen))
                .arg(deadline)
                .arg(millis(record.expires_at()))
                .arg(&record.subject)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .and_then(|created| match created {
            1 => Ok(1),
            _ => Err(StoreError::new(StoreErrorKind::AlreadyExists)),
        })
    }

    async fn update_inner(&self, record: &SessionRecord) -> Result<u64, StoreError> {
        let next = record
            .version
            .checked_add(1)
            .ok_or_else(|| StoreError::with_source(StoreErrorKind::Other, "version overflow"))?;
        let mut stored = record.clone();
        stored.version = next;
        let json = encode(&stored)?;
        let idle = u64::try_from(record.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.conn();
        let outcome: i64 = timed(
            self.inner.timeout,
            self.inner
                .scripts
                .update
                .key(self.session_key(&record.id_hash))
                .arg(record.version)
                .arg(next)
                .arg(json)
                .arg(millis(record.last_seen))
                .arg(millis(record.absolute_deadline))
                .arg(idle)
                .arg(&record.subject)
                .invoke_async(&mut conn),
        )
        .await?;
        match outcome {
            1 => Ok(next),
            0 => Err(StoreError::new(StoreErrorKind::NotFound)),
            -1 => Err(StoreError::new(StoreErrorKind::Conflict)),
            -2 => Err(StoreError::with_source(
                StoreErrorKind::Other,
                "the subject of a session cannot change (log in again instead)",
            )),
            _ => Err(StoreError::with_source(
                StoreErrorKind::Other,
                "unexpected answer from the update script",
            )),
        }
    }

    async fn touch_inner(
        &self,
        id: &SessionIdHash,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let found: i64 = timed(
            self.inner.timeout,
            self.inner
                .scripts
                .touch
                .key(self.session_key(id))
                .arg(millis(last_seen))
                .arg(millis(expires_at))
                .invoke_async(&mut conn),
        )
        .await?;
        Ok(found == 1)
    }

    async fn delete_inner(&self, id: &SessionIdHash) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let scripts = &self.inner.scripts;
        let key = self.session_key(id);
        timed(self.inner.timeout, async {
            let subject: Option<String> = scripts.delete.key(&key).invoke_async(&mut conn).await?;
            if let Some(subject) = &subject {
                let _: i64 = conn.zrem(self.subject_key(subject), id.to_hex()).await?;
            }
            Ok(subject.is_some())
        })
        .await
    }

    /// The index entries of `subject`, parsed; unparsable ones are returned apart for removal.
    async fn index_members(
        &self,
        conn: &mut Conn,
        index_key: &str,
    ) -> Result<(Vec<SessionIdHash>, Vec<String>), redis::RedisError> {
        let members: Vec<String> = conn.zrange(index_key, 0, -1).await?;
        let mut ids = Vec::with_capacity(members.len());
        let mut junk = Vec::new();
        for member in members {
            match SessionIdHash::from_hex(&member) {
                Some(id) => ids.push(id),
                None => junk.push(member),
            }
        }
        Ok((ids, junk))
    }

    async fn delete_all_inner(&self, subject: &str) -> Result<Vec<SessionIdHash>, StoreError> {
        let mut conn = self.conn();
        let index_key = self.subject_key(subject);
        timed(self.inner.timeout, async {
            let (ids, mut remove) = self.index_members(&mut conn, &index_key).await?;
            let deletions = ids.iter().map(|id| {
                let mut conn = self.conn();
                let key = self.session_key(id);
                async move {
                    let deleted: i64 = self
                        .inner
                        .scripts
                        .delete_if_subject
                        .key(key)
                        .arg(subject)
                        .invoke_async(&mut conn)
                        .await?;
                    Ok::<_, redis::RedisError>((*id, deleted == 1))
                }
            });
            let mut deleted = Vec::new();
            for outcome in join_all(deletions).await {
                let (id, was_deleted) = outcome?;
                if was_deleted {
                    deleted.push(id);
                }
                remove.push(id.to_hex());
            }
            if !remove.is_empty() {
                let _: i64 = conn.zrem(&index_key, remove).await?;
            }
            Ok(deleted)
        })
        .await
    }

    async fn sessions_of_inner(&self, subject: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut conn = self.conn();
        let index_key = self.subject_key(subject);
        let now = Timestamp::now();
        let found = timed(self.inner.timeout, async {
            let (ids, junk) = self.index_members(&mut conn, &index_key).await?;
            let loads = ids.iter().map(|id| {
                let mut conn = self.conn();
                let key = self.session_key(id);
                async move {
                    let fields: (Option<String>, Option<String>, Option<String>) =
                        redis::cmd("HMGET")
                            .arg(key)
                            .arg("v")
                            .arg("ls")
                            .arg("r")
                            .query_async(&mut conn)
                            .await?;
                    Ok::<_, redis::RedisError>((*id, fields))
                }
            });
            let mut loaded = Vec::with_capacity(ids.len());
            for outcome in join_all(loads).await {
                loaded.push(outcome?);
            }
            Ok((loaded, junk))
        })
        .await?;
        let (loaded, mut dead) = found;
        let mut live = Vec::new();
        for (id, fields) in loaded {
            match decode(&id, fields)? {
                Some(record) if record.subject == subject => {
                    if !record.is_expired(now) {
                        live.push(record);
                    }
                }
                _ => dead.push(id.to_hex()),
            }
        }
        if !dead.is_empty() {
            // Pruning is housekeeping: its failure does not fail the listing.
            let removed = timed::<i64>(self.inner.timeout, conn.zrem(&index_key, dead)).await;
            if let Err(err) = removed {
                tracing::debug!(error = %err, "pruning a subject index failed");
            }
        }
        Ok(live)
    }
}

fn millis(t: Timestamp) -> u64 {
    t.as_unix_millis()
}

fn encode(record: &SessionRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::with_source(StoreErrorKind::Other, e))
}

fn decode(
    id: &SessionIdHash,
    (version, last_seen, json): (Option<String>, Option<String>, Option<String>),
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(json) = json else {
        return Ok(None);
    };
    let mut record: SessionRecord = serde_json::from_str(&json).map_err(StoreError::corrupt)?;
    let version = version
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| StoreError::corrupt("stored session has no valid version"))?;
    let last_seen = last_seen
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| StoreError::corrupt("stored session has no valid last-seen time"))?;
    if record.id_hash != *id {
        return Err(StoreError::corrupt("stored session belongs to another key"));
    }
    record.version = version;
    record.last_seen = Timestamp::from_unix_millis(last_seen);
    Ok(Some(record))
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, Option<SessionRecord>> {
        Box::pin(self.load_inner(id))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        Box::pin(self.create_inner(record))
    }

    fn update<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        Box::pin(self.update_inner(record))
    }

    fn touch<'a>(
        &'a self,
        id: &'a SessionIdHash,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.touch_inner(id, last_seen, expires_at))
    }

    fn delete<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, bool> {
        Box::pin(self.delete_inner(id))
    }

    fn delete_all_of_subject<'a>(
        &'a self,
        subject: &'a str,
    ) -> StoreFuture<'a, Vec<SessionIdHash>> {
        Box::pin(self.delete_all_inner(subject))
    }

    fn sessions_of<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<SessionRecord>> {
        Box::pin(self.sessions_of_inner(subject))
    }
}
