//! [`SessionConfig`]: how sessions are stored, found, extended and ended.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use portcullis_core::ConfigError;

use crate::crypto::{EncryptionKey, TokenCipher};
use crate::idp::IdpConfig;
use crate::manager::SessionManager;
use crate::revocation::{LocalRevocation, Revocation};
use crate::store::SessionStore;
use crate::time::{Clock, SystemClock};

/// Default session cookie name (the `__Host-` prefix pins it to this host, `Secure`, `Path=/`).
pub const DEFAULT_COOKIE_NAME: &str = "__Host-session";
/// Default idle timeout: 24 hours without a request ends the session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Default absolute lifetime: 14 days after login the session ends, however active.
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);
/// Default touch interval: `last_seen` is written at most once a minute per session.
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// Default store timeout per operation.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `Retry-After` of the 503 sent when the store is unavailable.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Default most live sessions one subject may have: 100 (a new login ends the oldest).
pub const DEFAULT_MAX_SESSIONS_PER_SUBJECT: usize = 100;
/// Default longest time one instance may hold a session's refresh lease: 30 s.
pub const DEFAULT_REFRESH_LEASE: Duration = Duration::from_secs(30);
/// Default `Clear-Site-Data` value sent with logout responses.
pub const DEFAULT_CLEAR_SITE_DATA: &str = "\"cookies\", \"storage\"";

/// Where the request's credential is looked for, and in which order. The first one present
/// is used; the other is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialOrder {
    /// The session cookie, else the `Authorization: Bearer` header (default).
    #[default]
    CookieThenBearer,
    /// The bearer header, else the session cookie.
    BearerThenCookie,
    /// Only the session cookie.
    CookieOnly,
    /// Only the bearer header (no sessions are looked up).
    BearerOnly,
}

impl CredentialOrder {
    pub(crate) fn uses_cookie(self) -> bool {
        !matches!(self, Self::BearerOnly)
    }

    pub(crate) fn uses_bearer(self) -> bool {
        !matches!(self, Self::CookieOnly)
    }
}

/// What happens when the session's access token has expired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessTokenExpiry {
    /// End the session; the user logs in again (the strict default).
    #[default]
    EndSession,
    /// Use the refresh token at the IdP's token endpoint (once per session, however many
    /// requests arrive together), store the new tokens, and continue. Needs
    /// [`SessionConfig::with_idp`] with a token endpoint.
    Refresh,
}

/// The session configuration; [`build`](Self::build) checks it and returns the
/// [`SessionManager`] that the `TokenLookupLayer` and the `Session` handles share.
///
/// ```
/// use portcullis_session::{SessionConfig, store::MemoryStore};
/// use std::{sync::Arc, time::Duration};
///
/// let manager = SessionConfig::new(Arc::new(MemoryStore::new()))
///     .with_idle_timeout(Duration::from_secs(30 * 60))
///     .build()
///     .unwrap();
/// # let _ = manager;
///
/// // A touch interval as long as the idle timeout would let sessions die while in use.
/// let err = SessionConfig::new(Arc::new(MemoryStore::new()))
///     .with_idle_timeout(Duration::from_secs(30))
///     .with_touch_interval(Duration::from_secs(60))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.setting(), "session.touch_interval");
/// ```
#[derive(Clone)]
#[must_use]
pub struct SessionConfig {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) cookie_name: Arc<str>,
    pub(crate) order: CredentialOrder,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_lifetime: Duration,
    pub(crate) touch_interval: Duration,
    pub(crate) store_timeout: Duration,
    pub(crate) retry_after: Duration,
    pub(crate) expiry: AccessTokenExpiry,
    pub(crate) idp: Option<IdpConfig>,
    pub(crate) keys: Option<EncryptionKey>,
    pub(crate) previous_keys: Vec<EncryptionKey>,
    pub(crate) revocation: Arc<dyn Revocation>,
    pub(crate) clear_site_data: Option<HeaderValue>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) dead_session_is_anonymous: bool,
    pub(crate) refresh_lease: Duration,
    pub(crate) max_sessions_per_subject: Option<usize>,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("store", &self.store)
            .field("cookie_name", &self.cookie_name)
            .field("order", &self.order)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("touch_interval", &self.touch_interval)
            .field("store_timeout", &self.store_timeout)
            .field("expiry", &self.expiry)
            .field("idp", &self.idp)
            .field("encryption_key", &self.keys)
            .field("revocation", &self.revocation)
            .field("clear_site_data", &self.clear_site_data)
            .field("clock", &self.clock)
            .field("dead_session_is_anonymous", &self.dead_session_is_anonymous)
            .field("refresh_lease", &self.refresh_lease)
            .field("max_sessions_per_subject", &self.max_sessions_per_subject)
            .finish()
    }
}

impl SessionConfig {
    /// Sessions in `store`, with the defaults: cookie `__Host-session` then bearer header,
    /// idle timeout 24 h, absolute lifetime 14 days, touch at most once a minute, 2 s store
    /// timeout, `EndSession` on access-token expiry, tokens stored in the clear (set
    /// [`with_encryption_key`](Self::with_encryption_key)), in-process revocation,
    /// `Clear-Site-Data: "cookies", "storage"` on logout.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self {
            store,
            cookie_name: Arc::from(DEFAULT_COOKIE_NAME),
            order: CredentialOrder::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
            touch_interval: DEFAULT_TOUCH_INTERVAL,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            expiry: AccessTokenExpiry::default(),
            idp: None,
            keys: None,
            previous_keys: Vec::new(),
            revocation: Arc::new(LocalRevocation::new()),
            clear_site_data: Some(HeaderValue::from_static(DEFAULT_CLEAR_SITE_DATA)),
            clock: Arc::new(SystemClock),
            dead_session_is_anonymous: false,
            refresh_lease: DEFAULT_REFRESH_LEASE,
            max_sessions_per_subject: Some(DEFAULT_MAX_SESSIONS_PER_SUBJECT),
        }
    }

    /// The session cookie's name (default `__Host-session`).
    pub fn with_cookie_name(mut self, name: impl AsRef<str>) -> Self {
        self.cookie_name = Arc::from(name.as_ref());
        self
    }

    /// Where to look for the credential (default: cookie, then bearer header).
    pub fn with_credential_order(mut self, order: CredentialOrder) -> Self {
        self.order = order;
        self
    }

    /// The sliding idle timeout (default 24 h).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The absolute lifetime from login (default 14 days).
    pub fn with_absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// Writes `last_seen` at most this often per session (default 60 s); must be shorter than
    /// the idle timeout. The idle deadline is therefore exact to within this interval.
    pub fn with_touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    /// The longest one store operation may take (default 2 s); longer is a 503.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The `Retry-After` sent with 503 when the store is down (default 5 s).
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The access-token expiry policy (default [`AccessTokenExpiry::EndSession`]).
    pub fn with_access_token_expiry(mut self, policy: AccessTokenExpiry) -> Self {
        self.expiry = policy;
        self
    }

    /// The identity provider, for refresh and logout revocation.
    pub fn with_idp(mut self, idp: IdpConfig) -> Self {
        self.idp = Some(idp);
        self
    }

    /// Encrypts token sets at rest with `key` (and decrypts with it).
    pub fn with_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.keys = Some(key);
        self
    }

    /// A previous key that still decrypts (key rotation); may be repeated.
    pub fn add_previous_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.previous_keys.push(key);
        self
    }

    /// Where revocation events go (default: this process only; use the Redis revocation to
    /// reach every instance).
    pub fn with_revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = revocation;
        self
    }

    /// The `Clear-Site-Data` value of logout responses (default `"cookies", "storage"`).
    pub fn with_clear_site_data(mut self, value: HeaderValue) -> Self {
        self.clear_site_data = Some(value);
        self
    }

    /// Sends no `Clear-Site-Data` header at logout.
    pub fn without_clear_site_data(mut self) -> Self {
        self.clear_site_data = None;
        self
    }

    /// The clock (default: the system clock; [`TokioClock`](crate::TokioClock) in tests with
    /// paused time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The most live sessions one subject may have at once (default 100): a login beyond it
    /// ends that subject's oldest sessions. Without a limit, one account logging in again and
    /// again could fill the store and push other users' sessions out of a bounded one.
    pub fn with_max_sessions_per_subject(mut self, max: usize) -> Self {
        self.max_sessions_per_subject = Some(max);
        self
    }

    /// No limit on the sessions of one subject (see
    /// [`with_max_sessions_per_subject`](Self::with_max_sessions_per_subject)); logins then
    /// skip the check (one store query each).
    pub fn without_session_limit_per_subject(mut self) -> Self {
        self.max_sessions_per_subject = None;
        self
    }

    /// The longest one instance may hold a session's refresh lease (default 30 s): while it
    /// calls the IdP's token endpoint, requests of the same session on any instance wait for
    /// its new tokens rather than use the refresh token a second time. Make it longer than
    /// the IdP client's timeout; a request waits at most this long before it is a 503.
    pub fn with_refresh_lease(mut self, lease: Duration) -> Self {
        self.refresh_lease = lease;
        self
    }

    /// A session cookie that no longer names a live session (unknown, expired, logged out,
    /// ended with its access token, or malformed) is cleared and the request goes on as
    /// anonymous, as if it had carried no cookie, instead of being refused with a 401
    /// `session_invalid` (the default).
    ///
    /// Public pages and the login route then serve a visitor whose session ended while the
    /// browser kept the cookie, on the first request. Nothing is granted: the request has no
    /// session and no access token, so a route that needs a login still refuses it (the
    /// `JwtLayer`'s missing-credentials 401 or your login redirect) unless it allows anonymous
    /// requests. A store that fails or times out is still a 503, and a binding mismatch still
    /// destroys the session and refuses the request.
    pub fn with_dead_session_as_anonymous(mut self) -> Self {
        self.dead_session_is_anonymous = true;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<SessionManager, ConfigError> {
        let name = &*self.cookie_name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(ConfigError::new(
                "session.cookie_name",
                "the cookie name must be a non-empty HTTP token",
            ));
        }
        if self.idle_timeout.is_zero() || self.absolute_lifetime.is_zero() {
            return Err(ConfigError::new(
                "session.idle_timeout",
                "the idle timeout and the absolute lifetime must be positive",
            ));
        }
        if self.touch_interval >= self.idle_timeout {
            return Err(ConfigError::new(
                "session.touch_interval",
                "the touch interval must be shorter than the idle timeout",
            ));
        }
        if self.max_sessions_per_subject == Some(0) {
            return Err(ConfigError::new(
                "session.max_sessions_per_subject",
                "allow at least one session per subject (or no limit)",
            ));
        }
        if self.refresh_lease.is_zero() {
            return Err(ConfigError::new(
                "session.refresh_lease",
                "the refresh lease must be positive",
            ));
        }
        if self.store_timeout.is_zero() {
            return Err(ConfigError::new(
                "session.store_timeout",
                "the store timeout must be positive",
            ));
        }
        if self.expiry == AccessTokenExpiry::Refresh
            && !self.idp.as_ref().is_some_and(IdpConfig::has_token_endpoint)
        {
            return Err(ConfigError::new(
                "session.access_token_expiry",
                "the Refresh policy needs `with_idp` with a token endpoint",
            ));
        }
        if self.keys.is_none() && !self.previous_keys.is_empty() {
            return Err(ConfigError::new(
                "session.encryption_key",
                "previous encryption keys need a current key",
            ));
        }
        let cipher = TokenCipher::new(self.keys.clone(), self.previous_keys.clone());
        Ok(SessionManager::new(self, cipher))
    }
}
