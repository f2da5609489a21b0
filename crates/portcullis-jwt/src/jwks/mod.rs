//! [`JwksCache`]: the issuers' signing keys, kept warm.

mod issuer;
mod key;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::Uri;
use portcullis_core::ConfigError;

use crate::http::{DefaultHttpClient, HttpClient, HttpErrorKind};
use issuer::IssuerState;
pub use key::KeyType;
pub(crate) use key::{VerifyKey, algorithm_from_name};

/// How the keys of one issuer are found.
#[derive(Clone, Debug)]
pub(crate) enum KeySource {
    /// OIDC discovery: `{issuer}/.well-known/openid-configuration` names the `jwks_uri`.
    Discovery(Uri),
    /// A direct `jwks_uri`.
    Jwks(Uri),
}

/// Tunables shared by all issuers of a cache.
#[derive(Clone, Debug)]
pub(crate) struct JwksConfig {
    pub(crate) min_refresh: Duration,
    pub(crate) max_refresh: Duration,
    pub(crate) default_refresh: Duration,
    pub(crate) stale_window: Duration,
    pub(crate) unknown_kid_cooldown: Duration,
    pub(crate) negative_cache_capacity: u64,
    pub(crate) retry_initial: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) min_rsa_bits: usize,
    pub(crate) allow_http_loopback: bool,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(24 * 3600),
            default_refresh: Duration::from_secs(600),
            stale_window: Duration::from_secs(3600),
            unknown_kid_cooldown: Duration::from_secs(30),
            negative_cache_capacity: 10_000,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            min_rsa_bits: 2048,
            allow_http_loopback: false,
        }
    }
}

/// Why no key could be had for a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The issuer is not configured.
    UnknownIssuer,
    /// No key with this `kid` (or fitting the algorithm) after the allowed re-fetch.
    UnknownKey,
    /// The issuer's keys cannot be had right now (never fetched, or stale beyond the window).
    Unavailable(Duration),
}

/// Counters and state of one issuer's keys, for metrics and health checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// JWKS (and discovery) fetch attempts so far.
    pub fetches: u64,
    /// Failed attempts so far.
    pub failures: u64,
    /// Consecutive failures right now (0 when the last attempt worked).
    pub consecutive_failures: u32,
    /// Keys currently held.
    pub keys: usize,
    /// Whether the held keys are past their refresh time (served from the stale window).
    pub stale: bool,
    /// Whether keys are usable at all right now.
    pub usable: bool,
    /// The kind of the last error, if the last attempt failed.
    pub last_error: Option<HttpErrorKind>,
}

/// The signing keys of one or more issuers, fetched from their JWKS and kept warm.
///
/// * refreshed on the JWKS response's `Cache-Control: max-age`, bounded by
///   [`with_refresh_bounds`](JwksCacheBuilder::with_refresh_bounds), ahead of time in the
///   background so requests never wait on a routine refresh;
/// * a token naming an unknown `kid` triggers at most one re-fetch per
///   [cool-down](JwksCacheBuilder::with_unknown_kid_cooldown), single-flight; the missing
///   `kid` is remembered for the cool-down;
/// * when the IdP is down, known keys keep working for the
///   [stale window](JwksCacheBuilder::with_stale_window), then requests get 503;
/// * when the IdP is unreachable at start, fetching retries in the background with backoff
///   and requests get 503 with `Retry-After` meanwhile.
///
/// Cloning is cheap (shared). Background tasks need a Tokio runtime; they start when the
/// cache is built inside one, or at the first lookup, and stop when the last clone drops.
///
/// ```
/// use portcullis_jwt::JwksCache;
///
/// let jwks = JwksCache::builder()
///     .add_issuer("https://idp.example.com")            // OIDC discovery
///     .add_issuer_with_jwks_uri("https://other.example", "https://other.example/keys")
///     .build()
///     .unwrap();
/// assert_eq!(jwks.issuers().count(), 2);
/// ```
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    issuers: HashMap<Box<str>, Arc<IssuerState>>,
    started: AtomicBool,
    /// Bumped whenever a refresh drops a key: cached validations must re-check their key.
    removal_generation: Arc<AtomicU64>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("issuers", &self.inner.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwksCache`].
#[must_use]
pub struct JwksCacheBuilder {
    issuers: Vec<(String, Option<String>)>,
    config: JwksConfig,
    http: Option<Arc<dyn HttpClient>>,
}

impl fmt::Debug for JwksCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCacheBuilder")
            .field("issuers", &self.issuers)
            .field("config", &self.config)
            .field("custom_http_client", &self.http.is_some())
            .finish()
    }
}

impl JwksCacheBuilder {
    /// Adds an issuer whose keys are found by OIDC discovery
    /// (`{issuer}/.well-known/openid-configuration`, whose `issuer` must match exactly).
    pub fn add_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push((issuer.into(), None));
        self
    }

    /// Adds an issuer with a known `jwks_uri` (no discovery).
    pub fn add_issuer_with_jwks_uri(
        mut self,
        issuer: impl Into<String>,
        jwks_uri: impl Into<String>,
    ) -> Self {
        self.issuers.push((issuer.into(), Some(jwks_uri.into())));
        self
    }

    /// Uses `client` for discovery and JWKS fetches instead of [`DefaultHttpClient`].
    /// The client is responsible for its own timeouts and size limits.
    pub fn with_http_client(mut self, client: impl HttpClient) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// Bounds the refresh interval taken from `Cache-Control: max-age` (default 60 s ..
    /// 24 h) and sets the interval used when the response has none (default 10 min).
    pub fn with_refresh_bounds(mut self, min: Duration, max: Duration, default: Duration) -> Self {
        self.config.min_refresh = min;
        self.config.max_refresh = max;
        self.config.default_refresh = default;
        self
    }

    /// How long known keys keep working after their refresh time when the IdP cannot be
    /// reached (default 1 h). `Duration::ZERO` disables the stale window.
    pub fn with_stale_window(mut self, window: Duration) -> Self {
        self.config.stale_window = window;
        self
    }

    /// The least time between two re-fetches caused by unknown `kid`s, and how long a
    /// missing `kid` is remembered (default 30 s).
    pub fn with_unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.unknown_kid_cooldown = cooldown;
        self
    }

    /// How many missing `kid`s are remembered per issuer (default 10,000).
    pub fn with_negative_cache_capacity(mut self, capacity: u64) -> Self {
        self.config.negative_cache_capacity = capacity;
        self
    }

    /// Backoff of background retries after a failed fetch: starts at `initial`, doubles up
    /// to `max` (default 1 s .. 60 s).
    pub fn with_retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.retry_initial = initial;
        self.config.retry_max = max;
        self
    }

    /// The smallest RSA modulus accepted from a JWKS, in bits (default 2048).
    pub fn with_min_rsa_bits(mut self, bits: usize) -> Self {
        self.config.min_rsa_bits = bits;
        self
    }

    /// Allows `http://` issuer and JWKS URLs to loopback IP addresses (tests, local
    /// development). Never allows plain HTTP to any other host.
    pub fn insecure_allow_http_loopback(mut self) -> Self {
        self.config.allow_http_loopback = true;
        self
    }

    /// Builds the cache; starts background fetching when called inside a Tokio runtime.
    pub fn build(self) -> Result<JwksCache, ConfigError> {
        let c = &self.config;
        if self.issuers.is_empty() {
            return Err(ConfigError::new("jwks.issuers", "add at least one issuer"));
        }
        if c.min_refresh.is_zero() || c.min_refresh > c.max_refresh {
            return Err(ConfigError::new(
                "jwks.refresh_bounds",
                "need 0 < min <= max refresh interval",
            ));
        }
        if c.retry_initial.is_zero() || c.retry_initial > c.retry_max {
            return Err(ConfigError::new(
                "jwks.retry_backoff",
                "need 0 < initial <= max backoff",
            ));
        }
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        for (setting, value) in [
            ("jwks.refresh_bounds", c.max_refresh.max(c.default_refresh)),
            ("jwks.stale_window", c.stale_window),
            ("jwks.unknown_kid_cooldown", c.unknown_kid_cooldown),
            ("jwks.retry_backoff", c.retry_max),
        ] {
            if value > YEAR {
                return Err(ConfigError::new(
                    setting,
                    "durations are limited to one year",
                ));
            }
        }
        if c.min_rsa_bits < 2048 {
            return Err(ConfigError::new(
                "jwks.min_rsa_bits",
                "RSA keys shorter than 2048 bits are not allowed",
            ));
        }
        let config = Arc::new(self.config);
        let http: Arc<dyn HttpClient> = match self.http {
            Some(http) => http,
            None => {
                let mut builder = DefaultHttpClient::builder();
                if config.allow_http_loopback {
                    builder = builder.insecure_allow_http_loopback();
                }
                Arc::new(builder.build())
            }
        };
        let removal_generation = Arc::new(AtomicU64::new(0));
        let mut issuers = HashMap::new();
        for (issuer, jwks_uri) in self.issuers {
            let source = source_for(&issuer, jwks_uri.as_deref(), config.allow_http_loopback)?;
            let state = IssuerState::new(
                issuer.clone(),
                source,
                config.clone(),
                http.clone(),
                removal_generation.clone(),
            );
            if issuers
                .insert(issuer.into_boxed_str(), Arc::new(state))
                .is_some()
            {
                return Err(ConfigError::new("jwks.issuers", "issuer added twice"));
            }
        }
        let cache = JwksCache {
            inner: Arc::new(Inner {
                issuers,
                started: AtomicBool::new(false),
                removal_generation,
            }),
        };
        cache.ensure_started();
        Ok(cache)
    }
}

fn source_for(
    issuer: &str,
    jwks_uri: Option<&str>,
    allow_http_loopback: bool,
) -> Result<KeySource, ConfigError> {
    let issuer_uri: Uri = issuer
        .parse()
        .map_err(|_| ConfigError::new("jwks.issuer", "issuer is not a valid URL"))?;
    let check = |uri: &Uri, setting: &'static str| {
        crate::http::check_url(uri, allow_http_loopback)
            .map_err(|e| ConfigError::new(setting, e.to_string()))
    };
    match jwks_uri {
        Some(jwks_uri) => {
            let uri: Uri = jwks_uri
                .parse()
                .map_err(|_| ConfigError::new("jwks.jwks_uri", "jwks_uri is not a valid URL"))?;
            check(&uri, "jwks.jwks_uri")?;
            Ok(KeySource::Jwks(uri))
        }
        None => {
            check(&issuer_uri, "jwks.issuer")?;
            let discovery = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let uri: Uri = discovery
                .parse()
                .map_err(|_| ConfigError::new("jwks.issuer", "issuer is not a valid URL"))?;
            Ok(KeySource::Discovery(uri))
        }
    }
}

impl JwksCache {
    /// A builder with the defaults.
    pub fn builder() -> JwksCacheBuilder {
        JwksCacheBuilder {
            issuers: Vec::new(),
            config: JwksConfig::default(),
            http: None,
        }
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.keys().map(|k| &**k)
    }

    /// Whether `issuer` is configured (exact match).
    pub fn has_issuer(&self, issuer: &str) -> bool {
        self.inner.issuers.contains_key(issuer)
    }

    /// Counters and state for `issuer`.
    pub fn stats(&self, issuer: &str) -> Option<JwksStats> {
        self.inner.issuers.get(issuer).map(|s| s.stats())
    }

    /// Fetches the keys of every issuer now (single-flight with the background fetches)
    /// and reports whether all of them have usable keys afterwards. Useful at start-up to
    /// wait for readiness; never needed for correctness.
    pub async fn refresh_now(&self) -> bool {
        self.ensure_started();
        let mut all = true;
        for state in self.inner.issuers.values() {
            state.refresh_forced().await;
            all &= state.stats().usable;
        }
        all
    }

    pub(crate) fn removal_generation(&self) -> u64 {
        self.inner.removal_generation.load(Ordering::Acquire)
    }

    pub(crate) fn has_kid(&self, issuer: &str, kid: Option<&str>) -> bool {
        self.inner
            .issuers
            .get(issuer)
            .is_some_and(|s| s.has_kid(kid))
    }

    /// The key for a token of `issuer` naming `kid`, signed with `alg`.
    pub(crate) async fn key(
        &self,
        issuer: &str,
        kid: Option<&str>,
        alg: jsonwebtoken::Algorithm,
    ) -> Result<Arc<VerifyKey>, KeyError> {
        let Some(state) = self.inner.issuers.get(issuer) else {
            return Err(KeyError::UnknownIssuer);
        };
        self.ensure_started();
        state.key(kid, alg).await
    }

    fn ensure_started(&self) {
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        for state in self.inner.issuers.values() {
            issuer::spawn_refresher(&handle, Arc::downgrade(state));
        }
    }
}

#[cfg(test)]
mod tests;
