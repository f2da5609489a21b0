//! [`OidcConfig`]: the client registration and the flow's limits, checked by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use portcullis_core::ConfigError;
use portcullis_jwt::http::{DefaultHttpClient, HttpClient, check_url};
use portcullis_jwt::{JwksCache, Validator};

use crate::flow::is_safe_return_to;
use crate::oidc::{Inner, Oidc};
use crate::provider::{ClientAuth, Metadata, ProviderMetadata};

/// Default [`OidcConfig::with_flow_lifetime`]: 10 minutes to complete a login at the provider.
pub const DEFAULT_FLOW_LIFETIME: Duration = Duration::from_secs(600);
/// Default [`OidcConfig::with_timeout`] of each provider call.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`OidcConfig::with_discovery_ttl`].
pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Default [`OidcConfig::with_flow_cookie_name`].
pub const DEFAULT_FLOW_COOKIE: &str = "__Host-oidc-flow";
/// Default [`OidcConfig::with_max_return_to_bytes`].
pub const DEFAULT_MAX_RETURN_TO_BYTES: usize = 2048;
/// Default [`OidcConfig::with_replay_capacity`].
pub const DEFAULT_REPLAY_CAPACITY: u64 = 100_000;

/// How an OpenID Connect login runs against one provider: the client registration, the routes,
/// and the limits. [`build`](Self::build) checks it and returns the [`Oidc`] handle that serves
/// the routes.
///
/// Defaults: public client (set a secret with [`with_client_secret_basic`](Self::with_client_secret_basic)
/// or [`with_client_secret_post`](Self::with_client_secret_post)), scope `openid`, routes
/// `GET /login`, `GET` on the redirect URI's path, `POST /logout`, flow cookie
/// `__Host-oidc-flow` (private, 10 minutes), provider calls limited to 10 s, discovery cached
/// for an hour, HTTPS only. The access token must be validated
/// ([`with_access_token_validator`](Self::with_access_token_validator)) unless
/// [`insecure_skip_access_token_validation`](Self::insecure_skip_access_token_validation)
/// says otherwise (opaque access tokens).
///
/// ```
/// use portcullis_oidc::OidcConfig;
///
/// let err = OidcConfig::new("https://idp.example", "my-app", "https://app.example/callback")
///     .with_client_secret_basic("s3cret")
///     .build()
///     .unwrap_err();
/// assert_eq!(err.setting(), "oidc.access_token");
///
/// let err = OidcConfig::new("https://idp.example", "my-app", "http://app.example/callback")
///     .insecure_skip_access_token_validation()
///     .build()
///     .unwrap_err();
/// assert_eq!(err.setting(), "oidc.redirect_uri");
/// ```
#[derive(Clone)]
#[must_use]
pub struct OidcConfig {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) auth: ClientAuth,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) offline_access: bool,
    pub(crate) prompt: Option<String>,
    pub(crate) extra_params: Vec<(String, String)>,
    pub(crate) login_path: String,
    pub(crate) logout_path: String,
    pub(crate) post_logout_redirect_uri: Option<String>,
    pub(crate) logged_out_path: String,
    pub(crate) default_return_to: String,
    pub(crate) flow_cookie: String,
    pub(crate) flow_lifetime: Duration,
    pub(crate) max_return_to_bytes: usize,
    pub(crate) replay_capacity: u64,
    pub(crate) timeout: Duration,
    pub(crate) discovery_ttl: Duration,
    pub(crate) leeway: Duration,
    pub(crate) http: Option<Arc<dyn HttpClient>>,
    pub(crate) jwks: Option<JwksCache>,
    pub(crate) access_validator: Option<Validator>,
    pub(crate) skip_access_validation: bool,
    pub(crate) metadata: Option<ProviderMetadata>,
    pub(crate) allow_http_loopback: bool,
    pub(crate) check_logout_origin: bool,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_auth", &self.auth.name())
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("offline_access", &self.offline_access)
            .field("login_path", &self.login_path)
            .field("logout_path", &self.logout_path)
            .field("flow_cookie", &self.flow_cookie)
            .field("flow_lifetime", &self.flow_lifetime)
            .field("timeout", &self.timeout)
            .field("allow_http_loopback", &self.allow_http_loopback)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// A public client `client_id` of the provider `issuer`, registered with `redirect_uri`
    /// (absolute; its path becomes the callback route).
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            auth: ClientAuth::None,
            redirect_uri: redirect_uri.into(),
            scopes: Vec::new(),
            offline_access: false,
            prompt: None,
            extra_params: Vec::new(),
            login_path: "/login".to_owned(),
            logout_path: "/logout".to_owned(),
            post_logout_redirect_uri: None,
            logged_out_path: "/".to_owned(),
            default_return_to: "/".to_owned(),
            flow_cookie: DEFAULT_FLOW_COOKIE.to_owned(),
            flow_lifetime: DEFAULT_FLOW_LIFETIME,
            max_return_to_bytes: DEFAULT_MAX_RETURN_TO_BYTES,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            timeout: DEFAULT_PROVIDER_TIMEOUT,
            discovery_ttl: DEFAULT_DISCOVERY_TTL,
            leeway: Duration::from_secs(60),
            http: None,
            jwks: None,
            access_validator: None,
            skip_access_validation: false,
            metadata: None,
            allow_http_loopback: false,
            check_logout_origin: true,
        }
    }

    /// A confidential client authenticating with `client_secret_basic`.
    pub fn with_client_secret_basic(mut self, secret: impl AsRef<str>) -> Self {
        self.auth = ClientAuth::Basic(Arc::from(secret.as_ref()));
        self
    }

    /// A confidential client authenticating with `client_secret_post`.
    pub fn with_client_secret_post(mut self, secret: impl AsRef<str>) -> Self {
        self.auth = ClientAuth::Post(Arc::from(secret.as_ref()));
        self
    }

    /// Requests `scope` besides `openid` (which is always requested); may be repeated.
    pub fn add_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Requests `offline_access`, so that the provider issues a refresh token (for the
    /// session's `Refresh` expiry policy), with `prompt=consent` as OIDC Core §11 asks
    /// (providers drop `offline_access` without it) unless [`with_prompt`](Self::with_prompt)
    /// says otherwise.
    pub fn with_offline_access(mut self) -> Self {
        self.offline_access = true;
        self
    }

    /// Sends `prompt` (e.g. `login`, `consent`). Default: none, or `consent` with
    /// [`with_offline_access`](Self::with_offline_access).
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Adds a parameter to the authorization request (e.g. `resource`, `audience`); may be
    /// repeated. The flow's own parameters cannot be overridden.
    pub fn add_authorization_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// The login route's path (default `/login`).
    pub fn with_login_path(mut self, path: impl Into<String>) -> Self {
        self.login_path = path.into();
        self
    }

    /// The logout route's path (default `/logout`).
    pub fn with_logout_path(mut self, path: impl Into<String>) -> Self {
        self.logout_path = path.into();
        self
    }

    /// Where the provider sends the browser after RP-initiated logout (must be registered
    /// there). Without it, no `post_logout_redirect_uri` is sent.
    pub fn with_post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some(uri.into());
        self
    }

    /// Where logout sends the browser when the provider has no `end_session_endpoint`
    /// (default `/`).
    pub fn with_logged_out_path(mut self, path: impl Into<String>) -> Self {
        self.logged_out_path = path.into();
        self
    }

    /// Where the browser goes after login without a `return_to` (default `/`).
    pub fn with_default_return_to(mut self, path: impl Into<String>) -> Self {
        self.default_return_to = path.into();
        self
    }

    /// The flow cookie's name (default `__Host-oidc-flow`; the prefix needs `Secure`, so use
    /// another name with `CookieSecurity::insecure_allow_http`).
    pub fn with_flow_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.flow_cookie = name.into();
        self
    }

    /// How long a login may take at the provider (default 10 minutes, at most 1 hour).
    pub fn with_flow_lifetime(mut self, lifetime: Duration) -> Self {
        self.flow_lifetime = lifetime;
        self
    }

    /// The longest accepted `return_to` (default 2048 bytes).
    pub fn with_max_return_to_bytes(mut self, max: usize) -> Self {
        self.max_return_to_bytes = max;
        self
    }

    /// How many used `state` values are remembered (for the flow lifetime) to refuse replayed
    /// callbacks (default 100,000; per process).
    pub fn with_replay_capacity(mut self, capacity: u64) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// The longest one provider call (discovery, token endpoint) may take (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long discovered metadata is used before it is fetched again (default 1 hour).
    pub fn with_discovery_ttl(mut self, ttl: Duration) -> Self {
        self.discovery_ttl = ttl;
        self
    }

    /// Clock-skew leeway for the ID token's `exp`, `nbf`, `iat` (default 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The HTTP client for discovery, JWKS and the token endpoint (default
    /// `DefaultHttpClient`, HTTPS only).
    pub fn with_http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// Shares an existing key cache for ID tokens (it must know the issuer).
    pub fn with_jwks(mut self, jwks: JwksCache) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// Validates the access token from the token response with `validator` (e.g. the one the
    /// `JwtLayer` uses) before the session is created.
    pub fn with_access_token_validator(mut self, validator: Validator) -> Self {
        self.access_validator = Some(validator);
        self
    }

    /// Accepts the access token without validating it (opaque tokens). The ID token is still
    /// validated; the `at_hash` claim, when present, still binds the access token to it.
    pub fn insecure_skip_access_token_validation(mut self) -> Self {
        self.skip_access_validation = true;
        self
    }

    /// Uses these endpoints instead of discovery.
    pub fn with_metadata(mut self, metadata: ProviderMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Allows plain `http://` for the issuer, the endpoints and the redirect URI when they are
    /// loopback IP literals (tests, local development). Never for other hosts.
    pub fn insecure_allow_http_loopback(mut self) -> Self {
        self.allow_http_loopback = true;
        self
    }

    /// Accepts logout requests whose `Origin` is another site (by default they get 403).
    pub fn insecure_skip_logout_origin_check(mut self) -> Self {
        self.check_logout_origin = false;
        self
    }

    /// Checks the configuration and returns the handle. Inside a Tokio runtime, the ID-token
    /// keys start loading in the background.
    pub fn build(self) -> Result<Oidc, ConfigError> {
        let e =
            |setting: &'static str, message: &str| ConfigError::new(setting, message.to_owned());
        let issuer_uri: Uri = self
            .issuer
            .parse()
            .map_err(|_| e("oidc.issuer", "the issuer is not a valid URL"))?;
        check_url(&issuer_uri, self.allow_http_loopback)
            .map_err(|err| e("oidc.issuer", &err.to_string()))?;
        if self.client_id.is_empty() {
            return Err(e("oidc.client_id", "the client ID is empty"));
        }
        if let ClientAuth::Basic(s) | ClientAuth::Post(s) = &self.auth
            && s.is_empty()
        {
            return Err(e("oidc.client_secret", "the client secret is empty"));
        }
        let redirect: Uri = self
            .redirect_uri
            .parse()
            .map_err(|_| e("oidc.redirect_uri", "the redirect URI is not a valid URL"))?;
        check_url(&redirect, self.allow_http_loopback)
            .map_err(|err| e("oidc.redirect_uri", &err.to_string()))?;
        if redirect.query().is_some() {
            return Err(e(
                "oidc.redirect_uri",
                "the redirect URI must not have a query",
            ));
        }
        let (Some(scheme), Some(authority)) = (redirect.scheme_str(), redirect.authority()) else {
            return Err(e("oidc.redirect_uri", "the redirect URI must be absolute"));
        };
        let origin = format!("{scheme}://{authority}");
        let callback_path = redirect.path().to_owned();
        for (setting, path) in [
            ("oidc.login_path", &self.login_path),
            ("oidc.logout_path", &self.logout_path),
        ] {
            if !path.starts_with('/') || path.contains('?') || *path == callback_path {
                return Err(e(
                    setting,
                    "must be a path starting with `/`, distinct from the callback",
                ));
            }
        }
        if self.login_path == self.logout_path {
            return Err(e(
                "oidc.logout_path",
                "login and logout need different paths",
            ));
        }
        for (setting, path) in [
            ("oidc.default_return_to", &self.default_return_to),
            ("oidc.logged_out_path", &self.logged_out_path),
        ] {
            if !is_safe_return_to(path, usize::MAX) {
                return Err(e(setting, "must be a same-origin path starting with `/`"));
            }
        }
        if let Some(uri) = &self.post_logout_redirect_uri {
            let parsed: Uri = uri
                .parse()
                .map_err(|_| e("oidc.post_logout_redirect_uri", "not a valid URL"))?;
            if parsed.scheme().is_none() || parsed.host().is_none() {
                return Err(e(
                    "oidc.post_logout_redirect_uri",
                    "must be an absolute URL",
                ));
            }
        }
        let name = &self.flow_cookie;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(e("oidc.flow_cookie_name", "must be a non-empty HTTP token"));
        }
        if self.flow_lifetime.is_zero() || self.flow_lifetime > Duration::from_secs(3600) {
            return Err(e("oidc.flow_lifetime", "must be between 1 s and 1 hour"));
        }
        if self.timeout.is_zero() || self.discovery_ttl.is_zero() {
            return Err(e(
                "oidc.timeout",
                "the timeout and the discovery TTL must be positive",
            ));
        }
        if self.max_return_to_bytes == 0 || self.replay_capacity == 0 {
            return Err(e(
                "oidc.limits",
                "max_return_to_bytes and replay_capacity must be positive",
            ));
        }
        if self.access_validator.is_none() && !self.skip_access_validation {
            return Err(e(
                "oidc.access_token",
                "set with_access_token_validator (or insecure_skip_access_token_validation for opaque tokens)",
            ));
        }
        if let Some(meta) = &self.metadata {
            if meta.issuer != self.issuer {
                return Err(e(
                    "oidc.metadata",
                    "the metadata's issuer is not the configured issuer",
                ));
            }
            meta.check_urls(self.allow_http_loopback)
                .map_err(|err| e("oidc.metadata", &err))?;
        }
        let http: Arc<dyn HttpClient> = match &self.http {
            Some(http) => http.clone(),
            None => {
                let mut builder = DefaultHttpClient::builder().with_timeout(self.timeout);
                if self.allow_http_loopback {
                    builder = builder.insecure_allow_http_loopback();
                }
                Arc::new(builder.build())
            }
        };
        let jwks = match self.jwks.clone() {
            Some(jwks) if jwks.has_issuer(&self.issuer) => jwks,
            Some(_) => return Err(e("oidc.jwks", "the key cache does not know the issuer")),
            None => {
                let mut builder = JwksCache::builder()
                    .add_issuer(self.issuer.clone())
                    .with_http_client(http.clone());
                if self.allow_http_loopback {
                    builder = builder.insecure_allow_http_loopback();
                }
                builder.build()?
            }
        };
        let id_validator = Validator::builder(jwks)
            .with_audience(self.client_id.clone())
            .with_leeway(self.leeway)
            .with_cache_capacity(0)
            .build()?;
        let discovery: Uri = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
        .parse()
        .map_err(|_| e("oidc.issuer", "the issuer is not a valid URL"))?;
        let metadata = Metadata::new(
            self.metadata.clone(),
            discovery,
            Arc::from(self.issuer.as_str()),
            self.discovery_ttl,
            self.allow_http_loopback,
        );
        let replay = moka::sync::Cache::builder()
            .max_capacity(self.replay_capacity)
            .time_to_live(self.flow_lifetime + self.leeway)
            .build();
        Ok(Oidc::from_inner(Inner {
            http,
            metadata,
            id_validator,
            replay,
            origin,
            callback_path,
            config: self,
        }))
    }
}
