//! [`SessionManager`]: the configured session machinery shared by the layer and the handles.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use portcullis_cookie::{Cookie, Cookies};
use portcullis_core::client::ClientBinding;
use portcullis_core::{Rejection, RejectionKind};

use crate::config::{AccessTokenExpiry, SessionConfig};
use crate::crypto::TokenCipher;
use crate::error::{SessionError, SessionErrorKind};
use crate::id::{SessionId, SessionIdHash};
use crate::idp::RefreshError;
use crate::revocation::{Revocation, RevocationEvent};
use crate::session::{Session, SessionInfo};
use crate::store::{
    SessionRecord, SessionStore, StoreError, StoreErrorKind, StoredClient, StoredTokens,
};
use crate::time::Timestamp;
use crate::tokens::TokenSet;

/// How often a request waiting for another instance's refresh looks at the store.
const REFRESH_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The configured sessions: store, cookie, timeouts, IdP and revocation. Built by
/// [`SessionConfig::build`]; cheap to clone (shared).
///
/// Besides feeding the `TokenLookupLayer`, it offers the lifecycle operations that need no
/// request: [`logout_everywhere`](Self::logout_everywhere),
/// [`sessions_of`](Self::sessions_of), [`end_session`](Self::end_session).
#[derive(Clone)]
pub struct SessionManager {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) config: SessionConfig,
    pub(crate) cipher: TokenCipher,
    refresh_locks: Mutex<HashMap<SessionIdHash, Weak<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.shared.config)
            .field("encrypted", &self.shared.cipher.is_enabled())
            .finish()
    }
}

/// A loaded, live session: the record (shared with an in-process store, not copied) and its
/// tokens.
pub(crate) struct Loaded {
    pub(crate) record: Arc<SessionRecord>,
    /// The opened token set when the record's tokens are sealed (or just written); `None`
    /// when they are in the record in the clear, which is then read in place.
    opened: Option<TokenSet>,
}

impl Loaded {
    /// A record and the tokens it holds (after a login or a refresh).
    pub(crate) fn with_tokens(record: Arc<SessionRecord>, tokens: TokenSet) -> Self {
        Self {
            record,
            opened: Some(tokens),
        }
    }

    /// Opens the record's tokens: decrypts sealed ones; plain ones are not copied.
    pub(crate) fn open(
        record: Arc<SessionRecord>,
        cipher: &TokenCipher,
        id: &SessionIdHash,
    ) -> Result<Self, crate::crypto::OpenError> {
        let opened = match &record.tokens {
            StoredTokens::Plain(_) => None,
            sealed @ StoredTokens::Sealed(_) => Some(cipher.open(sealed, id)?),
        };
        Ok(Self { record, opened })
    }

    /// The session's tokens. `None` only for a sealed record that was not opened, which the
    /// constructors rule out.
    pub(crate) fn tokens(&self) -> Option<&TokenSet> {
        match (&self.opened, &self.record.tokens) {
            (Some(tokens), _) | (None, StoredTokens::Plain(tokens)) => Some(tokens),
            (None, StoredTokens::Sealed(_)) => None,
        }
    }

    /// The session's tokens, owned.
    pub(crate) fn into_tokens(self) -> Option<TokenSet> {
        match self.opened {
            Some(tokens) => Some(tokens),
            None => match Arc::unwrap_or_clone(self.record).tokens {
                StoredTokens::Plain(tokens) => Some(tokens),
                StoredTokens::Sealed(_) => None,
            },
        }
    }

    fn access_expired(&self, now: Timestamp) -> bool {
        self.tokens().is_some_and(|t| t.access_expired(now))
    }
}

impl SessionManager {
    pub(crate) fn new(config: SessionConfig, cipher: TokenCipher) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                cipher,
                refresh_locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub(crate) fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.shared.config.clock.now()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.config.store
    }

    /// The revocation channel.
    pub fn revocation(&self) -> &Arc<dyn Revocation> {
        &self.shared.config.revocation
    }

    /// Runs a store operation under the configured timeout.
    pub(crate) async fn timed<T>(
        &self,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.shared.config.store_timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(StoreErrorKind::Timeout)),
        }
    }

    pub(crate) fn unavailable(&self, err: &StoreError) -> Rejection {
        tracing::error!(error = %err, "session store failed; refusing the request");
        portcullis_core::observe::store_error(match err.kind() {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Timeout => "timeout",
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Corrupt => "corrupt",
            _ => "other",
        });
        Rejection::unavailable(
            "the session store is unavailable",
            self.shared.config.retry_after,
        )
    }

    pub(crate) fn clear_cookie(&self, cookies: &Cookies) {
        cookies.remove(Cookie::new(self.shared.config.cookie_name.to_string(), ""));
    }

    pub(crate) async fn publish(&self, event: RevocationEvent) {
        if let Err(err) = self.revocation().publish(event).await {
            tracing::warn!(error = %err, "revocation event not published");
        }
    }

    /// Deletes `id` (best effort) and publishes its revocation.
    async fn end(&self, id: &SessionIdHash) {
        portcullis_core::observe::session_expired();
        if let Err(err) = self.timed(self.store().delete(id)).await {
            tracing::warn!(error = %err, session = ?id, "could not delete an ended session");
        }
        self.publish(RevocationEvent::Session(*id)).await;
    }

    /// The request-time lookup without waiting, for stores that answer in-process
    /// ([`SessionStore::load_now`]): `Some` with the outcome when the session is live and needs
    /// nothing written (no touch, no refresh) or does not exist; `None` when the full
    /// [`lookup`](Self::lookup) must run. No boxed future, no timer, no copy of the record.
    pub(crate) fn lookup_now(
        &self,
        hash: &SessionIdHash,
        cookies: &Cookies,
    ) -> Option<Result<Session, Rejection>> {
        let record = match self.store().load_now(hash)? {
            Ok(Some(record)) => record,
            Ok(None) => {
                self.clear_cookie(cookies);
                if self.shared.config.dead_session_is_anonymous {
                    return Some(Ok(Session::anonymous(self.clone(), Some(cookies.clone()))));
                }
                return Some(Err(Rejection::session_invalid(
                    "unknown or expired session",
                )));
            }
            // Errors, like everything below that writes, take the full path.
            Err(_) => return None,
        };
        let now = self.now();
        if record.is_expired(now)
            || now.saturating_since(record.last_seen) >= self.shared.config.touch_interval
        {
            return None;
        }
        let loaded = Loaded::open(record, &self.shared.cipher, hash).ok()?;
        if loaded.access_expired(now) {
            return None;
        }
        Some(Ok(Session::authenticated(
            self.clone(),
            Some(cookies.clone()),
            loaded,
        )))
    }

    /// The request-time lookup: cookie ID hash → live session, or the rejection; or, with
    /// [`with_dead_session_as_anonymous`](crate::SessionConfig::with_dead_session_as_anonymous),
    /// an anonymous session where the rejection would be `session_invalid`.
    pub(crate) async fn lookup(
        self,
        hash: SessionIdHash,
        cookies: Cookies,
    ) -> Result<Session, Rejection> {
        if !self.shared.config.dead_session_is_anonymous {
            return self.lookup_or_refuse(hash, cookies).await;
        }
        let manager = self.clone();
        let jar = cookies.clone();
        match self.lookup_or_refuse(hash, cookies).await {
            Err(rejection) if rejection.kind() == RejectionKind::SessionInvalid => {
                Ok(Session::anonymous(manager, Some(jar)))
            }
            outcome => outcome,
        }
    }

    /// [`lookup`](Self::lookup) without the anonymous fallback. Every refusal that is not
    /// the store's fault has cleared the cookie.
    async fn lookup_or_refuse(
        self,
        hash: SessionIdHash,
        cookies: Cookies,
    ) -> Result<Session, Rejection> {
        let invalid = |reason: &'static str| {
            self.clear_cookie(&cookies);
            Rejection::session_invalid(reason)
        };
        let record = match self.timed(self.store().load(&hash)).await {
            Ok(Some(record)) => Arc::new(record),
            Ok(None) => return Err(invalid("unknown or expired session")),
            Err(err) if err.kind() == StoreErrorKind::Corrupt => {
                tracing::error!(error = %err, session = ?hash, "corrupt session record");
                self.end(&hash).await;
                return Err(invalid("unknown or expired session"));
            }
            Err(err) => return Err(self.unavailable(&err)),
        };
        let now = self.now();
        if record.is_expired(now) {
            self.end(&hash).await;
            return Err(invalid("the session expired"));
        }
        let mut loaded = match Loaded::open(record, &self.shared.cipher, &hash) {
            Ok(loaded) => loaded,
            Err(err) => {
                tracing::error!(reason = err.as_str(), session = ?hash, "session tokens do not open");
                self.end(&hash).await;
                return Err(invalid("unknown or expired session"));
            }
        };
        if loaded.access_expired(now) {
            loaded = match self.shared.config.expiry {
                AccessTokenExpiry::EndSession => {
                    self.end(&hash).await;
                    return Err(invalid("the session ended with its access token"));
                }
                AccessTokenExpiry::Refresh => match self.refresh(&hash).await {
                    Ok(loaded) => loaded,
                    Err(RefreshOutcome::Ended) => {
                        return Err(invalid("the session ended with its access token"));
                    }
                    Err(RefreshOutcome::Unavailable(rejection)) => return Err(rejection),
                },
            };
        }
        if now.saturating_since(loaded.record.last_seen) >= self.shared.config.touch_interval {
            let expires_at = loaded.record.expires_at_if_seen(now);
            match self.timed(self.store().touch(&hash, now, expires_at)).await {
                Ok(true) => Arc::make_mut(&mut loaded.record).last_seen = now,
                Ok(false) => return Err(invalid("unknown or expired session")),
                Err(err) => return Err(self.unavailable(&err)),
            }
        }
        Ok(Session::authenticated(self, Some(cookies), loaded))
    }

    fn refresh_lock(&self, id: &SessionIdHash) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .shared
            .refresh_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        if locks.len() >= 1024 {
            locks.retain(|_, weak| weak.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(*id, Arc::downgrade(&lock));
        lock
    }

    /// Refreshes the access token of `id`, once however many requests ask together, on this
    /// instance and on every other sharing the store: the first request here takes the
    /// per-session lock (the others here wait for it); across instances, the one that
    /// writes a refresh lease into the record (compare-and-swap) calls the IdP, the others
    /// poll the store until the new tokens are there (or the lease runs out). The refresh
    /// token is used once: a second use of a rotated one trips the IdP's reuse detection.
    async fn refresh(&self, id: &SessionIdHash) -> Result<Loaded, RefreshOutcome> {
        let lock = self.refresh_lock(id);
        let _guard = lock.lock().await;
        let unavailable = |err: &StoreError| RefreshOutcome::Unavailable(self.unavailable(err));
        let lease = self.shared.config.refresh_lease;
        let give_up = tokio::time::Instant::now() + lease.saturating_mul(2);
        let mut conflicts = 0;
        loop {
            let record = match self.timed(self.store().load(id)).await {
                Ok(Some(record)) => record,
                Ok(None) => return Err(RefreshOutcome::Ended),
                Err(err) => return Err(unavailable(&err)),
            };
            let now = self.now();
            let Ok(tokens) = self.shared.cipher.open(&record.tokens, id) else {
                self.end(id).await;
                return Err(RefreshOutcome::Ended);
            };
            if !tokens.access_expired(now) {
                // Another request (or instance) refreshed while we waited.
                return Ok(Loaded::with_tokens(Arc::new(record), tokens));
            }
            let (Some(idp), Some(refresh_token)) =
                (&self.shared.config.idp, tokens.refresh_token())
            else {
                self.end(id).await;
                return Err(RefreshOutcome::Ended);
            };
            if tokio::time::Instant::now() >= give_up {
                return Err(self.refresh_unavailable("the session's token refresh takes too long"));
            }
            if record.refresh_lease_until.is_some_and(|until| until > now) {
                // Another instance is at the IdP: wait for its tokens.
                tokio::time::sleep(REFRESH_POLL).await;
                continue;
            }
            let mut leased = record;
            leased.refresh_lease_until = Some(now.saturating_add(lease));
            match self.timed(self.store().update(&leased)).await {
                Ok(version) => leased.version = version,
                // Changed meanwhile (app data, or another instance took the lease): reload.
                Err(err) if err.kind() == StoreErrorKind::Conflict => {
                    conflicts += 1;
                    if conflicts > 3 {
                        return Err(self.refresh_unavailable("the session is changing too fast"));
                    }
                    continue;
                }
                Err(err) if err.kind() == StoreErrorKind::NotFound => {
                    return Err(RefreshOutcome::Ended);
                }
                Err(err) => return Err(unavailable(&err)),
            }
            // This instance holds the lease.
            let fresh = match idp.refresh(&tokens, refresh_token, now).await {
                Ok(fresh) => fresh,
                Err(RefreshError::Rejected) => {
                    tracing::info!(session = ?id, "the IdP refused the refresh; ending the session");
                    self.end(id).await;
                    return Err(RefreshOutcome::Ended);
                }
                Err(RefreshError::Unavailable(err)) => {
                    tracing::error!(error = %err, "token refresh failed; refusing the request");
                    // Let the next request try at once rather than wait out the lease.
                    leased.refresh_lease_until = None;
                    let _ = self.timed(self.store().update(&leased)).await;
                    return Err(self.refresh_unavailable("the identity provider is unavailable"));
                }
            };
            return self.store_refreshed(id, leased, fresh).await;
        }
    }

    /// Writes the tokens a refresh got into the session, lease released. The refresh token
    /// they replace is spent: if the record changed meanwhile (app data), the new tokens go
    /// onto the current record rather than be lost.
    async fn store_refreshed(
        &self,
        id: &SessionIdHash,
        mut record: SessionRecord,
        fresh: TokenSet,
    ) -> Result<Loaded, RefreshOutcome> {
        let sealed = self.shared.cipher.seal(&fresh, id).map_err(|e| {
            tracing::error!(error = %e, "no randomness for sealing tokens");
            self.refresh_unavailable("the session store is unavailable")
        })?;
        for _attempt in 0..4 {
            record.tokens = sealed.clone();
            record.refresh_lease_until = None;
            match self.timed(self.store().update(&record)).await {
                Ok(version) => {
                    record.version = version;
                    return Ok(Loaded::with_tokens(Arc::new(record), fresh));
                }
                Err(err) if err.kind() == StoreErrorKind::Conflict => {
                    record = match self.timed(self.store().load(id)).await {
                        Ok(Some(current)) => current,
                        Ok(None) => return Err(RefreshOutcome::Ended),
                        Err(err) => {
                            return Err(RefreshOutcome::Unavailable(self.unavailable(&err)));
                        }
                    };
                }
                Err(err) if err.kind() == StoreErrorKind::NotFound => {
                    return Err(RefreshOutcome::Ended);
                }
                Err(err) => return Err(RefreshOutcome::Unavailable(self.unavailable(&err))),
            }
        }
        tracing::error!(session = ?id, "could not store refreshed tokens: the session keeps changing");
        Err(self.refresh_unavailable("the session is changing too fast"))
    }

    fn refresh_unavailable(&self, reason: &'static str) -> RefreshOutcome {
        RefreshOutcome::Unavailable(Rejection::unavailable(
            reason,
            self.shared.config.retry_after,
        ))
    }

    /// Ends every session of `subject` on every instance ("log out everywhere"): deletes them,
    /// publishes the subject's revocation, and revokes their refresh tokens at the IdP (when
    /// configured). Returns how many sessions ended.
    pub async fn logout_everywhere(&self, subject: &str) -> Result<usize, SessionError> {
        let records = self.timed(self.store().sessions_of(subject)).await?;
        let deleted = self
            .timed(self.store().delete_all_of_subject(subject))
            .await?;
        self.publish(RevocationEvent::Subject(subject.to_owned()))
            .await;
        for _ in &deleted {
            portcullis_core::observe::session_revoked();
        }
        if let Some(idp) = &self.shared.config.idp {
            for record in &records {
                if let Ok(tokens) = self.shared.cipher.open(&record.tokens, &record.id_hash)
                    && let Err(err) = idp.revoke(&tokens).await
                {
                    tracing::warn!(error = %err, "IdP revocation failed during logout everywhere");
                }
            }
        }
        Ok(deleted.len())
    }

    /// The live sessions of `subject` ("your devices"), most recently used first.
    pub async fn sessions_of(&self, subject: &str) -> Result<Vec<SessionInfo>, SessionError> {
        let now = self.now();
        let mut sessions: Vec<SessionInfo> = self
            .timed(self.store().sessions_of(subject))
            .await?
            .iter()
            .filter(|r| !r.is_expired(now))
            .map(|r| SessionInfo::from_record(r, None))
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
        Ok(sessions)
    }

    /// Ends one session by its hash (for example a device picked from
    /// [`sessions_of`](Self::sessions_of)). Returns whether it existed.
    pub async fn end_session(&self, id: &SessionIdHash) -> Result<bool, SessionError> {
        let existed = self.timed(self.store().delete(id)).await?;
        self.publish(RevocationEvent::Session(*id)).await;
        Ok(existed)
    }

    /// Creates a session for `subject` holding `tokens`, bound to `client`, and returns its
    /// new ID (for the cookie) and stored record. `Session::login` uses this; call it directly
    /// to create sessions outside a request (tests, benchmarks, a login flow that sets the
    /// cookie itself).
    pub async fn create_session(
        &self,
        subject: &str,
        tokens: &TokenSet,
        client: Option<&ClientBinding>,
    ) -> Result<(SessionId, SessionRecord), SessionError> {
        let config = &self.shared.config;
        let now = self.now();
        for _ in 0..3 {
            let id = SessionId::generate()?;
            let hash = id.hash();
            let mut record = SessionRecord::new(
                hash,
                subject,
                self.shared.cipher.seal(tokens, &hash)?,
                now,
                config.idle_timeout,
                config.absolute_lifetime,
            );
            record.client = client.map(|c| StoredClient {
                ip: c.ip,
                user_agent: c.user_agent.clone(),
            });
            match self.timed(self.store().create(&record)).await {
                Ok(version) => {
                    record.version = version;
                    self.enforce_subject_limit(subject, &hash).await;
                    return Ok((id, record));
                }
                Err(err) if err.kind() == StoreErrorKind::AlreadyExists => {}
                Err(err) => return Err(err.into()),
            }
        }
        Err(SessionError::with_source(
            SessionErrorKind::Random,
            "three colliding session IDs",
        ))
    }
}

impl SessionManager {
    /// Ends the oldest sessions of `subject` beyond the per-subject limit, never `keep` (the
    /// one just created). Best effort: a store error is logged and the login goes on.
    async fn enforce_subject_limit(&self, subject: &str, keep: &SessionIdHash) {
        let Some(limit) = self.shared.config.max_sessions_per_subject else {
            return;
        };
        let mut sessions = match self.timed(self.store().sessions_of(subject)).await {
            Ok(sessions) => sessions,
            Err(err) => {
                tracing::warn!(error = %err, "could not check the per-subject session limit");
                return;
            }
        };
        if sessions.len() <= limit {
            return;
        }
        sessions.retain(|record| record.id_hash != *keep);
        sessions.sort_by_key(|record| (record.created_at, record.last_seen));
        let excess = (sessions.len() + 1).saturating_sub(limit);
        for record in sessions.iter().take(excess) {
            match self.timed(self.store().delete(&record.id_hash)).await {
                Ok(_) => {
                    tracing::info!(session = ?record.id_hash,
                        "ended the subject's oldest session: over the per-subject limit");
                    portcullis_core::observe::session_revoked();
                    self.publish(RevocationEvent::Session(record.id_hash)).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not end a session over the limit");
                }
            }
        }
    }
}

pub(crate) enum RefreshOutcome {
    Ended,
    Unavailable(Rejection),
}
