//! One issuer's key set: fetching, refresh scheduling, single-flight and negative caching.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL};
use http::{HeaderValue, Request, StatusCode, Uri};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use tokio::time::Instant;

use super::key::{ParsedKeys, VerifyKey, parse_jwks};
use super::{JwksConfig, JwksStats, KeyError, KeySource};
use crate::http::{HttpClient, HttpError, HttpErrorKind, check_url};

/// Keys as fetched at one time.
#[derive(Debug)]
struct KeySet {
    keys: ParsedKeys,
    refresh_at: Instant,
    fresh_until: Instant,
    stale_until: Instant,
}

impl KeySet {
    /// `Ok(Some)` found and fits; `Ok(None)` unknown kid; `Err` known kid that does not fit.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<Arc<VerifyKey>>, ()> {
        match kid {
            Some(kid) => match self.keys.by_kid.get(kid) {
                Some(key) if key.fits(alg) => Ok(Some(key.clone())),
                Some(_) => Err(()),
                None => Ok(None),
            },
            None => {
                // Without a kid, only an unambiguous key will do.
                let mut fitting = self
                    .keys
                    .anonymous
                    .iter()
                    .chain(self.keys.by_kid.values())
                    .filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(Some(key.clone())),
                    _ => Ok(None),
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Status {
    attempts: u64,
    failures: u64,
    consecutive_failures: u32,
    completed: u64,
    last_kid_fetch: Option<Instant>,
    fetch_in_flight: bool,
    next_retry_at: Option<Instant>,
    last_error: Option<HttpErrorKind>,
}

pub(crate) struct IssuerState {
    issuer: String,
    source: KeySource,
    config: Arc<JwksConfig>,
    http: Arc<dyn HttpClient>,
    removal_generation: Arc<AtomicU64>,
    current: RwLock<Option<Arc<KeySet>>>,
    discovered_jwks_uri: RwLock<Option<Uri>>,
    fetch_lock: tokio::sync::Mutex<()>,
    status: Mutex<Status>,
    negative: moka::sync::Cache<Box<str>, ()>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IssuerState {
    pub(crate) fn new(
        issuer: String,
        source: KeySource,
        config: Arc<JwksConfig>,
        http: Arc<dyn HttpClient>,
        removal_generation: Arc<AtomicU64>,
    ) -> Self {
        let negative = moka::sync::Cache::builder()
            .max_capacity(config.negative_cache_capacity)
            .time_to_live(config.unknown_kid_cooldown.max(Duration::from_millis(1)))
            .build();
        Self {
            issuer,
            source,
            config,
            http,
            removal_generation,
            current: RwLock::new(None),
            discovered_jwks_uri: RwLock::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            status: Mutex::new(Status::default()),
            negative,
        }
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn usable(&self, now: Instant) -> Option<Arc<KeySet>> {
        self.current().filter(|set| now < set.stale_until)
    }

    pub(crate) fn has_kid(&self, kid: Option<&str>) -> bool {
        let Some(set) = self.usable(Instant::now()) else {
            return false;
        };
        match kid {
            Some(kid) => set.keys.by_kid.contains_key(kid),
            None => set.keys.len() > 0,
        }
    }

    pub(crate) fn stats(&self) -> JwksStats {
        let now = Instant::now();
        let set = self.current();
        let status = lock(&self.status);
        JwksStats {
            fetches: status.attempts,
            failures: status.failures,
            consecutive_failures: status.consecutive_failures,
            keys: set.as_ref().map_or(0, |s| s.keys.len()),
            stale: set.as_ref().is_some_and(|s| now >= s.fresh_until),
            usable: set.as_ref().is_some_and(|s| now < s.stale_until),
            last_error: status.last_error,
        }
    }

    fn retry_after(&self, now: Instant) -> Duration {
        let at = lock(&self.status).next_retry_at;
        at.map_or(Duration::from_secs(1), |at| {
            at.saturating_duration_since(now)
        })
        .max(Duration::from_secs(1))
    }

    pub(crate) async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyKey>, KeyError> {
        let now = Instant::now();
        let Some(set) = self.usable(now) else {
            return self.key_without_keys(kid, alg).await;
        };
        match set.find(kid, alg) {
            Ok(Some(key)) => return Ok(key),
            Err(()) => return Err(KeyError::UnknownKey),
            Ok(None) => {}
        }
        let kid_key = kid.unwrap_or("");
        if self.negative.contains_key(kid_key) {
            return Err(KeyError::UnknownKey);
        }
        let (seq, allowed) = {
            let status = lock(&self.status);
            let allowed = status
                .last_kid_fetch
                .is_none_or(|t| now >= t + self.config.unknown_kid_cooldown);
            if !allowed && !status.fetch_in_flight {
                drop(status);
                self.negative.insert(Box::from(kid_key), ());
                return Err(KeyError::UnknownKey);
            }
            (status.completed, allowed)
        };
        if !allowed {
            // In the cool-down, but a fetch is in flight: it may bring the key; wait for it.
            drop(self.fetch_lock.lock().await);
        } else {
            let _guard = self.fetch_lock.lock().await;
            let should_fetch = {
                let mut status = lock(&self.status);
                let now = Instant::now();
                let allowed = status
                    .last_kid_fetch
                    .is_none_or(|t| now >= t + self.config.unknown_kid_cooldown);
                if status.completed == seq && allowed {
                    status.last_kid_fetch = Some(now);
                    true
                } else {
                    false
                }
            };
            if should_fetch {
                tracing::debug!(issuer = %self.issuer, "unknown kid: re-fetching JWKS");
                self.fetch_and_store().await;
            }
        }
        let Some(set) = self.usable(Instant::now()) else {
            return Err(KeyError::Unavailable(self.retry_after(Instant::now())));
        };
        match set.find(kid, alg) {
            Ok(Some(key)) => Ok(key),
            _ => {
                self.negative.insert(Box::from(kid_key), ());
                Err(KeyError::UnknownKey)
            }
        }
    }

    /// No usable keys: wait for a fetch in flight, make the very first fetch, or answer
    /// "unavailable" while the background retries.
    async fn key_without_keys(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyKey>, KeyError> {
        let never_tried = lock(&self.status).attempts == 0;
        match self.fetch_lock.try_lock() {
            Ok(guard) if never_tried => {
                self.fetch_and_store().await;
                drop(guard);
            }
            Ok(_) => {}
            Err(_) => {
                // A fetch is in flight: wait for it (it is bounded by the client's timeout).
                let _guard = self.fetch_lock.lock().await;
            }
        }
        let now = Instant::now();
        match self.usable(now) {
            Some(set) => match set.find(kid, alg) {
                Ok(Some(key)) => Ok(key),
                _ => Err(KeyError::UnknownKey),
            },
            None => Err(KeyError::Unavailable(self.retry_after(now))),
        }
    }

    /// A fetch now, single-flight (waits for one in flight instead of starting another).
    pub(crate) async fn refresh_forced(&self) {
        let seq = lock(&self.status).completed;
        let _guard = self.fetch_lock.lock().await;
        if lock(&self.status).completed == seq {
            self.fetch_and_store().await;
        }
    }

    fn next_background_at(&self) -> Instant {
        let status = lock(&self.status);
        if status.consecutive_failures > 0
            && let Some(at) = status.next_retry_at
        {
            return at;
        }
        if status.attempts == 0 {
            return Instant::now();
        }
        drop(status);
        self.current()
            .map_or_else(Instant::now, |set| set.refresh_at)
    }

    async fn refresh_background(&self) {
        let _guard = self.fetch_lock.lock().await;
        if Instant::now() < self.next_background_at() {
            return; // someone else refreshed meanwhile
        }
        self.fetch_and_store().await;
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.config
            .retry_initial
            .saturating_mul(factor)
            .min(self.config.retry_max)
    }

    /// Fetches and installs new keys. Callers hold `fetch_lock`.
    async fn fetch_and_store(&self) {
        /// Clears `fetch_in_flight` even if the fetching future is dropped mid-way.
        struct InFlight<'a>(&'a Mutex<Status>);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                lock(self.0).fetch_in_flight = false;
            }
        }
        {
            let mut status = lock(&self.status);
            status.attempts += 1;
            status.fetch_in_flight = true;
        }
        let in_flight = InFlight(&self.status);
        let result = self.fetch().await;
        drop(in_flight);
        let now = Instant::now();
        let mut status = lock(&self.status);
        status.completed += 1;
        match result {
            Ok((keys, max_age)) => {
                let c = &self.config;
                let ttl = max_age
                    .unwrap_or(c.default_refresh)
                    .clamp(c.min_refresh, c.max_refresh);
                // Durations are bounded at build time, so these additions cannot overflow.
                let set = KeySet {
                    keys,
                    refresh_at: now + (ttl - ttl / 4),
                    fresh_until: now + ttl,
                    stale_until: now + ttl + c.stale_window,
                };
                let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(old) = current.as_ref() {
                    let removed = old
                        .keys
                        .by_kid
                        .keys()
                        .any(|k| !set.keys.by_kid.contains_key(k))
                        || old.keys.anonymous.len() > set.keys.anonymous.len();
                    if removed {
                        self.removal_generation.fetch_add(1, Ordering::AcqRel);
                    }
                }
                tracing::debug!(issuer = %self.issuer, keys = set.keys.len(), ?ttl, "JWKS refreshed");
                *current = Some(Arc::new(set));
                status.consecutive_failures = 0;
                status.next_retry_at = None;
                status.last_error = None;
            }
            Err(error) => {
                status.failures += 1;
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                let backoff = self.backoff(status.consecutive_failures);
                status.next_retry_at = Some(now + backoff);
                status.last_error = Some(error.kind());
                let have_keys = self.usable(now).is_some();
                tracing::warn!(
                    issuer = %self.issuer,
                    error = %error,
                    failures = status.consecutive_failures,
                    retry_in = ?backoff,
                    serving_known_keys = have_keys,
                    "JWKS fetch failed"
                );
            }
        }
    }

    async fn get(&self, uri: &Uri) -> Result<(Bytes, Option<Duration>), HttpError> {
        check_url(uri, self.config.allow_http_loopback)?;
        let request = Request::get(uri.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(Bytes::new())
            .map_err(|e| HttpError::new(HttpErrorKind::Other, "bad request").with_source(e))?;
        let response = self.http.execute(request).await?;
        if response.status() != StatusCode::OK {
            return Err(HttpError::status_error(response.status()));
        }
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        Ok((response.into_body(), max_age))
    }

    async fn jwks_uri(&self) -> Result<Uri, HttpError> {
        let discovery = match &self.source {
            KeySource::Jwks(uri) => return Ok(uri.clone()),
            KeySource::Discovery(uri) => uri,
        };
        if let Some(uri) = self
            .discovered_jwks_uri
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(uri);
        }
        let (body, _) = self.get(discovery).await?;
        let doc: Discovery = serde_json::from_slice(&body).map_err(|_| {
            HttpError::new(
                HttpErrorKind::InvalidResponse,
                "malformed discovery document",
            )
        })?;
        if doc.issuer != self.issuer {
            return Err(HttpError::new(
                HttpErrorKind::InvalidResponse,
                "discovery document names another issuer",
            ));
        }
        let uri: Uri = doc.jwks_uri.parse().map_err(|_| {
            HttpError::new(
                HttpErrorKind::InvalidResponse,
                "discovery jwks_uri is not a URL",
            )
        })?;
        check_url(&uri, self.config.allow_http_loopback)?;
        *self
            .discovered_jwks_uri
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
        Ok(uri)
    }

    async fn fetch(&self) -> Result<(ParsedKeys, Option<Duration>), HttpError> {
        let started = std::time::Instant::now();
        let result = self.fetch_inner().await;
        portcullis_core::observe::jwks_fetch(result.is_ok(), started.elapsed().as_secs_f64());
        result
    }

    async fn fetch_inner(&self) -> Result<(ParsedKeys, Option<Duration>), HttpError> {
        let uri = self.jwks_uri().await?;
        let result = self.get(&uri).await;
        let (body, max_age) = match result {
            Ok(ok) => ok,
            Err(e) => {
                // Re-discover next time: the jwks_uri may have moved.
                *self
                    .discovered_jwks_uri
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                return Err(e);
            }
        };
        let keys = parse_jwks(&body, self.config.min_rsa_bits)
            .map_err(|reason| HttpError::new(HttpErrorKind::InvalidResponse, reason))?;
        if keys.len() == 0 {
            return Err(HttpError::new(
                HttpErrorKind::InvalidResponse,
                format!("JWKS has no usable keys ({} skipped)", keys.skipped),
            ));
        }
        Ok((keys, max_age))
    }
}

/// `max-age` of a `Cache-Control` value; `no-store`/`no-cache` count as 0.
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some((name, v)) = directive.split_once('=')
            && name.trim().eq_ignore_ascii_case("max-age")
        {
            max_age = v
                .trim()
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    max_age
}

/// Runs the background refresher of one issuer until the cache is dropped.
pub(crate) fn spawn_refresher(handle: &tokio::runtime::Handle, state: Weak<IssuerState>) {
    handle.spawn(async move {
        loop {
            let Some(strong) = state.upgrade() else {
                return;
            };
            let at = strong.next_background_at();
            drop(strong);
            tokio::time::sleep_until(at).await;
            let Some(strong) = state.upgrade() else {
                return;
            };
            strong.refresh_background().await;
        }
    });
}
