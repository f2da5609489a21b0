//! The [`Session`] handle that `TokenLookupLayer` puts into every request's extensions.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::HeaderValue;
use portcullis_cookie::{Cookie, Cookies};
use portcullis_core::client::{BindingMismatch, BindingPolicy, ClientBinding};
use portcullis_core::{AccessToken, TokenSource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{SessionError, SessionErrorKind};
use crate::id::SessionIdHash;
use crate::manager::{Loaded, SessionManager};
use crate::revocation::RevocationEvent;
use crate::store::{SessionRecord, StoreErrorKind, StoredClient};
use crate::time::Timestamp;
use crate::tokens::TokenSet;

/// One live session as listed by `sessions_of` ("your devices").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's store key (safe to show and to pass back to `end_session`).
    pub id_hash: SessionIdHash,
    /// When it was created (login).
    pub created_at: Timestamp,
    /// When it was last used (to within the touch interval).
    pub last_seen: Timestamp,
    /// The client captured at login.
    pub client: Option<ClientBinding>,
    /// Whether this is the session of the current request.
    pub current: bool,
}

impl SessionInfo {
    pub(crate) fn from_record(record: &SessionRecord, current: Option<&SessionIdHash>) -> Self {
        Self {
            id_hash: record.id_hash,
            created_at: record.created_at,
            last_seen: record.last_seen,
            client: record.client.as_ref().map(to_binding),
            current: current == Some(&record.id_hash),
        }
    }
}

fn to_binding(stored: &StoredClient) -> ClientBinding {
    ClientBinding {
        ip: stored.ip,
        user_agent: stored.user_agent.clone(),
    }
}

/// The current request's session: logged in, or anonymous (so a login handler can call
/// [`login`](Self::login)).
///
/// `TokenLookupLayer` puts one into every request's extensions; cloning shares it. Changes
/// (`login`, `logout`, `insert`, ...) are written to the store when the call returns, with
/// optimistic concurrency. `Debug` shows the subject and the ID hash, never the ID or tokens.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    manager: SessionManager,
    cookies: Option<Cookies>,
    state: Mutex<State>,
    /// Whether the response gets `Clear-Site-Data` (after a logout).
    clear_site_data: AtomicBool,
}

#[derive(Default)]
struct State {
    current: Option<Loaded>,
    client: Option<Client>,
}

/// The client of the current request, for a login during it.
enum Client {
    /// Given by the app ([`Session::set_client`]).
    Binding(ClientBinding),
    /// Recorded by `BindingLayer` as the request arrived (the header shared, not copied);
    /// normalised into a [`ClientBinding`] only if a login needs it.
    Request {
        ip: Option<IpAddr>,
        user_agent: Option<HeaderValue>,
    },
}

impl Client {
    fn to_binding(&self) -> ClientBinding {
        match self {
            Self::Binding(binding) => binding.clone(),
            Self::Request { ip, user_agent } => {
                ClientBinding::from_user_agent(*ip, user_agent.as_ref())
            }
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Session")
            .field("id_hash", &state.current.as_ref().map(|c| c.record.id_hash))
            .field(
                "subject",
                &state.current.as_ref().map(|c| c.record.subject.as_str()),
            )
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn anonymous(manager: SessionManager, cookies: Option<Cookies>) -> Self {
        Self::with_state(manager, cookies, None)
    }

    pub(crate) fn authenticated(
        manager: SessionManager,
        cookies: Option<Cookies>,
        loaded: Loaded,
    ) -> Self {
        Self::with_state(manager, cookies, Some(loaded))
    }

    fn with_state(
        manager: SessionManager,
        cookies: Option<Cookies>,
        current: Option<Loaded>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                manager,
                cookies,
                state: Mutex::new(State {
                    current,
                    ..State::default()
                }),
                clear_site_data: AtomicBool::new(false),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn manager(&self) -> &SessionManager {
        &self.inner.manager
    }

    /// Whether the request has a live session.
    pub fn is_authenticated(&self) -> bool {
        self.state().current.is_some()
    }

    /// The session's subject.
    pub fn subject(&self) -> Option<String> {
        self.state()
            .current
            .as_ref()
            .map(|c| c.record.subject.clone())
    }

    /// The session's store key.
    pub fn id_hash(&self) -> Option<SessionIdHash> {
        self.state().current.as_ref().map(|c| c.record.id_hash)
    }

    /// The session's access token, for the JWT layer or for calling APIs on the user's behalf.
    pub fn access_token(&self) -> Option<AccessToken> {
        self.state()
            .current
            .as_ref()
            .and_then(Loaded::tokens)
            .map(|t| AccessToken::new(Arc::clone(t.access_token_shared()), TokenSource::Session))
    }

    /// The session's whole token set (ID token, refresh token...). Handle with care.
    pub fn tokens(&self) -> Option<TokenSet> {
        self.state()
            .current
            .as_ref()
            .and_then(Loaded::tokens)
            .cloned()
    }

    /// When the session was created.
    pub fn created_at(&self) -> Option<Timestamp> {
        self.state().current.as_ref().map(|c| c.record.created_at)
    }

    /// Records the client of the current request (called by `BindingLayer`), so that
    /// [`login`](Self::login) binds the new session to it.
    pub fn set_client(&self, binding: ClientBinding) {
        self.state().client = Some(Client::Binding(binding));
    }

    /// `BindingLayer`'s check, under one lock and without copies: compares the request's
    /// client with the one captured at login (`None`: nothing captured, or no live session),
    /// then records the request's client for a login during this request.
    pub(crate) fn bind_request(
        &self,
        policy: &BindingPolicy,
        ip: Option<IpAddr>,
        user_agent: Option<&HeaderValue>,
    ) -> Option<Result<(), BindingMismatch>> {
        let mut state = self.state();
        let verdict = state
            .current
            .as_ref()
            .and_then(|c| c.record.client.as_ref())
            .map(|captured| {
                policy.check_request(captured.ip, captured.user_agent.as_deref(), ip, user_agent)
            });
        state.client = Some(Client::Request {
            ip,
            user_agent: user_agent.cloned(),
        });
        verdict
    }

    /// The client binding captured at login, as stored with the session.
    pub fn client_binding(&self) -> Option<ClientBinding> {
        self.state()
            .current
            .as_ref()
            .and_then(|c| c.record.client.as_ref().map(to_binding))
    }

    /// An app-data value.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let state = self.state();
        let Some(value) = state.current.as_ref().and_then(|c| c.record.data.get(key)) else {
            return Ok(None);
        };
        T::deserialize(value)
            .map(Some)
            .map_err(|e| SessionError::with_source(SessionErrorKind::Data, e))
    }

    /// Sets an app-data value and saves the session; returns the previous raw value.
    pub async fn insert<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Option<serde_json::Value>, SessionError> {
        let value = serde_json::to_value(value)
            .map_err(|e| SessionError::with_source(SessionErrorKind::Data, e))?;
        self.mutate(|data| data.insert(key.to_owned(), value.clone()))
            .await
    }

    /// Removes an app-data value and saves the session; returns the previous raw value.
    pub async fn remove(&self, key: &str) -> Result<Option<serde_json::Value>, SessionError> {
        self.mutate(|data| data.remove(key)).await
    }

    /// Applies `change` to the app data and writes the record; on a concurrent change
    /// (version conflict) reloads and applies it again, up to three times.
    async fn mutate<R>(
        &self,
        mut change: impl FnMut(&mut std::collections::BTreeMap<String, serde_json::Value>) -> R,
    ) -> Result<R, SessionError> {
        let mut record = self
            .state()
            .current
            .as_ref()
            .map(|c| SessionRecord::clone(&c.record))
            .ok_or_else(|| SessionError::new(SessionErrorKind::NotLoggedIn))?;
        let manager = self.manager().clone();
        for _ in 0..3 {
            let result = change(&mut record.data);
            match manager.timed(manager.store().update(&record)).await {
                Ok(version) => {
                    record.version = version;
                    if let Some(current) = self.state().current.as_mut() {
                        current.record = Arc::new(record);
                    }
                    return Ok(result);
                }
                Err(err) if err.kind() == StoreErrorKind::Conflict => {
                    match manager.timed(manager.store().load(&record.id_hash)).await? {
                        Some(fresh) => record = fresh,
                        None => return Err(SessionError::new(SessionErrorKind::NotLoggedIn)),
                    }
                }
                Err(err) if err.kind() == StoreErrorKind::NotFound => {
                    self.state().current = None;
                    return Err(SessionError::new(SessionErrorKind::NotLoggedIn));
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(SessionError::with_source(
            SessionErrorKind::Store,
            crate::store::StoreError::new(StoreErrorKind::Conflict),
        ))
    }

    /// Logs `subject` in with `tokens`: a new session with a new random ID (the current one,
    /// if any, is destroyed first: session-fixation defence), bound to the client recorded by
    /// [`set_client`](Self::set_client), stored, and its ID set in the session cookie. The
    /// tokens stay server-side.
    pub async fn login(&self, subject: &str, tokens: TokenSet) -> Result<(), SessionError> {
        let manager = self.manager().clone();
        let cookies =
            self.inner.cookies.clone().ok_or_else(|| {
                SessionError::with_source(SessionErrorKind::Cookie, "no CookieLayer")
            })?;
        let old = self.state().current.as_ref().map(|c| c.record.id_hash);
        if let Some(old) = old {
            manager.timed(manager.store().delete(&old)).await?;
            self.state().current = None;
            manager.publish(RevocationEvent::Session(old)).await;
        }
        let client = self.state().client.as_ref().map(Client::to_binding);
        let (id, record) = manager
            .create_session(subject, &tokens, client.as_ref())
            .await?;
        if let Err(err) = cookies.add(Cookie::new(
            manager.config().cookie_name.to_string(),
            id.as_str().to_owned(),
        )) {
            let _ = manager.timed(manager.store().delete(&record.id_hash)).await;
            return Err(SessionError::with_source(SessionErrorKind::Cookie, err));
        }
        self.state().current = Some(Loaded::with_tokens(Arc::new(record), tokens));
        portcullis_core::observe::session_created();
        Ok(())
    }

    /// Deletes the session and clears its cookie, without calling the IdP (used on a binding
    /// mismatch). Idempotent.
    pub async fn destroy(&self) -> Result<(), SessionError> {
        self.end_local().await.map(|_| ())
    }

    async fn end_local(&self) -> Result<Option<TokenSet>, SessionError> {
        let manager = self.manager().clone();
        let current = self.state().current.as_ref().map(|c| c.record.id_hash);
        if let Some(cookies) = &self.inner.cookies {
            manager.clear_cookie(cookies);
        }
        let Some(id) = current else {
            return Ok(None);
        };
        manager.timed(manager.store().delete(&id)).await?;
        let tokens = self.state().current.take().and_then(Loaded::into_tokens);
        portcullis_core::observe::session_revoked();
        manager.publish(RevocationEvent::Session(id)).await;
        Ok(tokens)
    }

    /// Logs out: deletes the session, expires the cookie, adds `Clear-Site-Data` to the
    /// response (if configured), and revokes the refresh token at the IdP (RFC 7009, or the
    /// configured logout endpoint). The local logout stands even if the IdP call fails; that
    /// failure is logged and returned as [`SessionErrorKind::IdpUnavailable`] /
    /// [`SessionErrorKind::IdpRejected`].
    pub async fn logout(&self) -> Result<(), SessionError> {
        let tokens = self.end_local().await?;
        self.inner.clear_site_data.store(true, Ordering::Release);
        if let (Some(tokens), Some(idp)) = (tokens, &self.manager().config().idp) {
            idp.revoke(&tokens).await.inspect_err(|err| {
                tracing::warn!(error = %err, "IdP revocation at logout failed");
            })?;
        }
        Ok(())
    }

    /// Ends every session of `subject`, on every instance; if this request's session is one
    /// of them, its cookie is cleared too. Returns how many sessions ended.
    pub async fn logout_everywhere(&self, subject: &str) -> Result<usize, SessionError> {
        let count = self.manager().logout_everywhere(subject).await?;
        let mine = self
            .state()
            .current
            .as_ref()
            .is_some_and(|c| c.record.subject == subject);
        if mine {
            self.state().current = None;
            self.inner.clear_site_data.store(true, Ordering::Release);
            if let Some(cookies) = &self.inner.cookies {
                self.manager().clear_cookie(cookies);
            }
        }
        Ok(count)
    }

    /// The live sessions of `subject`, the current one marked.
    pub async fn sessions_of(&self, subject: &str) -> Result<Vec<SessionInfo>, SessionError> {
        let current = self.id_hash();
        let mut sessions = self.manager().sessions_of(subject).await?;
        for info in &mut sessions {
            info.current = current == Some(info.id_hash);
        }
        Ok(sessions)
    }

    /// Whether a logout asked for `Clear-Site-Data` (read once by the layer).
    pub(crate) fn take_clear_site_data(&self) -> bool {
        // Read without a lock: most responses have nothing to clear.
        self.inner.clear_site_data.load(Ordering::Acquire)
            && self.inner.clear_site_data.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn session_manager(&self) -> &SessionManager {
        self.manager()
    }
}
