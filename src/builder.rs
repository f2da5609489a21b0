//! [`Portcullis::builder`]: the recommended stack from one configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use portcullis_cache_control::{CacheControl, CacheControlLayer, CacheDirective, Sensitive};
use portcullis_cookie::{CookieKeys, CookieLayer, CookieManager, CookieSecurity};
use portcullis_core::client::{BindingPolicy, ClientIpResolver};
use portcullis_core::{ConfigError, DefaultRejectionResponse};
use portcullis_jwt::{JwksCache, JwksCacheBuilder, Jwt, JwtLayer, Validator, ValidatorBuilder};
use portcullis_session::lookup::TokenLookup;
use portcullis_session::revocation::Revocation;
use portcullis_session::store::{MemoryStore, SessionStore};
use portcullis_session::{
    AccessTokenExpiry, Binding, BindingLayer, IdpConfig, SessionConfig, SessionManager,
    TokenLookupLayer,
};
use tower_layer::Layer;

/// The service [`Portcullis`] wraps around yours: every layer of the recommended stack, outermost
/// first.
pub type PortcullisService<S> = CacheControl<
    CookieManager<
        TokenLookup<
            Binding<Jwt<S, serde_json::Value, DefaultRejectionResponse>, DefaultRejectionResponse>,
            DefaultRejectionResponse,
        >,
    >,
>;

/// The recommended stack as one [`Layer`]:
/// `CacheControl → Cookies → TokenLookup → Binding → Jwt → your service`.
///
/// Build it with [`Portcullis::builder`]. Cloning is cheap; the handles it exposes
/// ([`sessions`](Self::sessions), [`validator`](Self::validator)) are shared with every request.
///
/// ```no_run
/// use portcullis::Portcullis;
///
/// # #[tokio::main] async fn main() -> Result<(), portcullis::ConfigError> {
/// let portcullis = Portcullis::builder()
///     .issuer("https://login.example.com")
///     .audience("api://orders")
///     .build()?;
/// let app: axum::Router = axum::Router::new()
///     .route("/me", axum::routing::get(|| async { "hello" }))
///     .layer(portcullis);
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct Portcullis {
    cache_control: CacheControlLayer,
    cookies: CookieLayer,
    lookup: TokenLookupLayer,
    binding: BindingLayer,
    jwt: JwtLayer,
    sessions: SessionManager,
    validator: Validator,
    rejection: DefaultRejectionResponse,
}

impl fmt::Debug for Portcullis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portcullis")
            .field("cache_control", &self.cache_control)
            .field("cookies", &self.cookies)
            .field("binding", &self.binding)
            .field("jwt", &self.jwt)
            .finish_non_exhaustive()
    }
}

impl Portcullis {
    /// A builder with the secure defaults.
    pub fn builder() -> PortcullisBuilder {
        PortcullisBuilder::default()
    }

    /// The sessions: log a subject out everywhere, list a subject's sessions, end one.
    pub fn sessions(&self) -> &SessionManager {
        &self.sessions
    }

    /// The token validator (and its JWKS cache and validated-token cache).
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The rejection responses the stack uses (realm, login redirect), for per-route
    /// policies to answer the same way:
    /// `PolicyLayer::require_scope("read").with_rejection(portcullis.rejection_response())`.
    pub fn rejection_response(&self) -> DefaultRejectionResponse {
        self.rejection.clone()
    }
}

impl<S> Layer<S> for Portcullis {
    type Service = PortcullisService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let jwt = self.jwt.layer(inner);
        let binding = self.binding.layer(jwt);
        let lookup = self.lookup.layer(binding);
        let cookies = self.cookies.layer(lookup);
        self.cache_control.layer(cookies)
    }
}

type Configure<T> = Box<dyn FnOnce(T) -> T + Send>;

/// Configuration of [`Portcullis`]; every setting has a secure default, and
/// [`build`](Self::build) says what to fix when a setting cannot work.
#[must_use]
pub struct PortcullisBuilder {
    issuers: Vec<(String, Option<String>)>,
    audiences: Vec<String>,
    store: Option<Arc<dyn SessionStore>>,
    revocation: Option<Arc<dyn Revocation>>,
    cookie_keys: Option<CookieKeys>,
    cookie_security: CookieSecurity,
    cookie_name: Option<String>,
    insecure_http: bool,
    binding: BindingPolicy,
    resolver: ClientIpResolver,
    expiry: AccessTokenExpiry,
    idp: Option<IdpConfig>,
    idle_timeout: Option<Duration>,
    absolute_lifetime: Option<Duration>,
    allow_anonymous: bool,
    dead_session_as_anonymous: bool,
    directive: CacheDirective,
    sensitive: Sensitive,
    rejection: DefaultRejectionResponse,
    configure_sessions: Option<Configure<SessionConfig>>,
    configure_jwks: Option<Configure<JwksCacheBuilder>>,
    configure_validator: Option<Configure<ValidatorBuilder>>,
}

impl Default for PortcullisBuilder {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audiences: Vec::new(),
            store: None,
            revocation: None,
            cookie_keys: None,
            cookie_security: CookieSecurity::new(),
            cookie_name: None,
            insecure_http: false,
            binding: BindingPolicy::new(),
            resolver: ClientIpResolver::new(),
            expiry: AccessTokenExpiry::default(),
            idp: None,
            idle_timeout: None,
            absolute_lifetime: None,
            allow_anonymous: false,
            dead_session_as_anonymous: false,
            directive: CacheDirective::no_store(),
            sensitive: Sensitive::all(),
            rejection: DefaultRejectionResponse::new(),
            configure_sessions: None,
            configure_jwks: None,
            configure_validator: None,
        }
    }
}

impl fmt::Debug for PortcullisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortcullisBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("insecure_http", &self.insecure_http)
            .field("binding", &self.binding)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("dead_session_as_anonymous", &self.dead_session_as_anonymous)
            .finish_non_exhaustive()
    }
}

/// The session cookie name used with [`PortcullisBuilder::insecure_allow_http`]: the
/// `__Host-` prefix needs `Secure`, so plain-HTTP development uses a name without it.
pub const INSECURE_HTTP_COOKIE_NAME: &str = "portcullis-session";

impl PortcullisBuilder {
    /// Trusts tokens from `issuer` (its keys found by OpenID discovery). Repeatable.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push((issuer.into(), None));
        self
    }

    /// Trusts tokens from `issuer` with keys at `jwks_uri` (no discovery). Repeatable.
    pub fn issuer_with_jwks_uri(
        mut self,
        issuer: impl Into<String>,
        jwks_uri: impl Into<String>,
    ) -> Self {
        self.issuers.push((issuer.into(), Some(jwks_uri.into())));
        self
    }

    /// Accepts tokens whose `aud` holds `audience`. Repeatable: any one of them is enough.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The session store (default: an in-memory [`MemoryStore`] of this process).
    pub fn store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where revocations are published and heard (default: this process only). Use the Redis
    /// revocation so "log out everywhere" reaches every instance.
    pub fn revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = Some(revocation);
        self
    }

    /// Keys for signed and private cookies (current + previous for rotation).
    pub fn cookie_keys(mut self, keys: CookieKeys) -> Self {
        self.cookie_keys = Some(keys);
        self
    }

    /// Attributes of the cookies the stack and the app set (default: `HttpOnly; Secure;
    /// SameSite=Lax; Path=/`).
    pub fn cookie_security(mut self, security: CookieSecurity) -> Self {
        self.cookie_security = security;
        self
    }

    /// The session cookie's name (default `__Host-session`).
    pub fn session_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// **Development only.** Cookies without `Secure` (so they travel over plain HTTP), the
    /// session cookie named [`INSECURE_HTTP_COOKIE_NAME`] (the `__Host-` prefix needs
    /// `Secure`), and plain-HTTP issuer URLs allowed when they point at a loopback address.
    pub fn insecure_allow_http(mut self) -> Self {
        self.insecure_http = true;
        self
    }

    /// How sessions are bound to the client (default: IP by /24 or /64 prefix and exact
    /// User-Agent, reject on mismatch). See [`insecure_without_binding`](Self::insecure_without_binding).
    pub fn binding(mut self, policy: BindingPolicy) -> Self {
        self.binding = policy;
        self
    }

    /// Turns client binding off: a stolen session cookie works from anywhere.
    pub fn insecure_without_binding(mut self) -> Self {
        self.binding = BindingPolicy::disabled();
        self
    }

    /// How the client IP is found (default: the connection's peer address; no proxy trusted).
    pub fn client_ip(mut self, resolver: ClientIpResolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// What happens when a session's access token expires (default: the session ends).
    pub fn access_token_expiry(mut self, policy: AccessTokenExpiry) -> Self {
        self.expiry = policy;
        self
    }

    /// The IdP's token, revocation and logout endpoints, for refresh and logout.
    pub fn idp(mut self, idp: IdpConfig) -> Self {
        self.idp = Some(idp);
        self
    }

    /// A session unused this long ends (default 24 h).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// A session ends this long after login, however active (default 14 days).
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = Some(lifetime);
        self
    }

    /// Lets requests with no credential at all through to the service (login pages, public
    /// routes); protect the other routes with per-route policies
    /// ([`policy`](crate::policy)). A credential that is present but invalid is still refused
    /// (for a dead session cookie, see [`dead_session_as_anonymous`](Self::dead_session_as_anonymous)).
    pub fn allow_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }

    /// A session cookie that no longer names a live session (expired, logged out elsewhere,
    /// unknown, malformed) is cleared and the request treated as carrying no credential,
    /// instead of refused with a 401 (the default). With
    /// [`allow_anonymous`](Self::allow_anonymous), a public page or the login route then
    /// serves a visitor whose session ended while the browser kept the cookie, on the first
    /// request; protected routes still refuse the request (it has no credential). Store
    /// failures stay 503. See
    /// [`SessionConfig::with_dead_session_as_anonymous`](crate::session::SessionConfig::with_dead_session_as_anonymous).
    pub fn dead_session_as_anonymous(mut self) -> Self {
        self.dead_session_as_anonymous = true;
        self
    }

    /// The `Cache-Control` of sensitive responses (default `no-store`).
    pub fn cache_directive(mut self, directive: CacheDirective) -> Self {
        self.directive = directive;
        self
    }

    /// Which responses are sensitive (default: all).
    pub fn sensitive(mut self, sensitive: Sensitive) -> Self {
        self.sensitive = sensitive;
        self
    }

    /// The `realm` of `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Self {
        self.rejection = self.rejection.with_realm(realm);
        self
    }

    /// Sends unauthenticated browser page requests to `login_url` (303) with the original
    /// path in `return_to`, instead of a 401.
    pub fn login_redirect(mut self, login_url: impl AsRef<str>) -> Self {
        self.rejection = self
            .rejection
            .with_login_redirect(login_url)
            .with_return_to_param("return_to");
        self
    }

    /// Any other session setting (touch interval, store timeout, encryption at rest, ...).
    pub fn configure_sessions(
        mut self,
        f: impl FnOnce(SessionConfig) -> SessionConfig + Send + 'static,
    ) -> Self {
        self.configure_sessions = Some(Box::new(f));
        self
    }

    /// Any other JWKS setting (refresh bounds, cool-down, stale window, HTTP client, ...).
    pub fn configure_jwks(
        mut self,
        f: impl FnOnce(JwksCacheBuilder) -> JwksCacheBuilder + Send + 'static,
    ) -> Self {
        self.configure_jwks = Some(Box::new(f));
        self
    }

    /// Any other validation setting (algorithms, leeway, required claims, `typ`, ...).
    pub fn configure_validator(
        mut self,
        f: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder + Send + 'static,
    ) -> Self {
        self.configure_validator = Some(Box::new(f));
        self
    }

    /// Checks the configuration and builds the stack. Call it inside a Tokio runtime: the
    /// JWKS cache starts fetching keys in the background at once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting to fix: no issuer, no audience, a `__Host-`
    /// cookie name without `Secure`, an invalid URL, ...
    pub fn build(self) -> Result<Portcullis, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::new(
                "portcullis.issuer",
                "no issuer: add the identity provider that issues your access tokens with .issuer(url)",
            ));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::new(
                "portcullis.audience",
                "no audience: say which `aud` your service accepts with .audience(name), so tokens minted for other services are refused",
            ));
        }
        let mut security = self.cookie_security;
        let cookie_name = match (self.cookie_name, self.insecure_http) {
            (Some(name), true) if name.starts_with("__Host-") || name.starts_with("__Secure-") => {
                return Err(ConfigError::new(
                    "portcullis.session_cookie_name",
                    "a `__Host-`/`__Secure-` cookie needs `Secure`, which insecure_allow_http() drops; pick a name without the prefix",
                ));
            }
            (Some(name), _) => name,
            (None, true) => INSECURE_HTTP_COOKIE_NAME.to_owned(),
            (None, false) => portcullis_session::DEFAULT_COOKIE_NAME.to_owned(),
        };
        if self.insecure_http {
            security = security.insecure_allow_http();
        }

        // Keys and validation.
        let mut jwks = JwksCache::builder();
        for (issuer, jwks_uri) in self.issuers {
            jwks = match jwks_uri {
                Some(uri) => jwks.add_issuer_with_jwks_uri(issuer, uri),
                None => jwks.add_issuer(issuer),
            };
        }
        if self.insecure_http {
            jwks = jwks.insecure_allow_http_loopback();
        }
        if let Some(f) = self.configure_jwks {
            jwks = f(jwks);
        }
        let mut validator = Validator::builder(jwks.build()?);
        for audience in self.audiences {
            validator = validator.add_audience(audience);
        }
        if let Some(f) = self.configure_validator {
            validator = f(validator);
        }
        let validator = validator.build()?;

        // Sessions.
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn SessionStore>);
        let mut sessions = SessionConfig::new(store)
            .with_cookie_name(&cookie_name)
            .with_access_token_expiry(self.expiry);
        if let Some(idp) = self.idp {
            sessions = sessions.with_idp(idp);
        }
        if let Some(t) = self.idle_timeout {
            sessions = sessions.with_idle_timeout(t);
        }
        if let Some(t) = self.absolute_lifetime {
            sessions = sessions.with_absolute_lifetime(t);
        }
        if let Some(revocation) = self.revocation {
            sessions = sessions.with_revocation(revocation);
        }
        if self.dead_session_as_anonymous {
            sessions = sessions.with_dead_session_as_anonymous();
        }
        if let Some(f) = self.configure_sessions {
            sessions = f(sessions);
        }
        let sessions = sessions.build()?;

        // Revocations reach the validated-token cache at once, not at the token's `exp`;
        // replayed ones (a Redis revocation catching up) keep their own time.
        sessions.revocation().subscribe(Arc::new(validator.clone()));

        let mut cookies = CookieLayer::new().with_security(security);
        if let Some(keys) = self.cookie_keys {
            cookies = cookies.with_keys(keys);
        }
        let mut jwt = JwtLayer::new(validator.clone()).with_rejection(self.rejection.clone());
        if self.allow_anonymous {
            jwt = jwt.allow_anonymous();
        }
        Ok(Portcullis {
            cache_control: CacheControlLayer::new()
                .with_directive(self.directive)
                .with_sensitive(self.sensitive),
            cookies,
            lookup: TokenLookupLayer::new(sessions.clone())
                .with_rejection_response(self.rejection.clone()),
            binding: BindingLayer::new()
                .with_resolver(self.resolver)
                .with_policy(self.binding)
                .with_rejection_response(self.rejection.clone()),
            jwt,
            sessions,
            validator,
            rejection: self.rejection,
        })
    }
}
