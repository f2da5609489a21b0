//! [`Validator`]: RFC 8725 validation of access tokens, with a validated-token cache.

mod cache;
mod parse;
mod typed;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey};
use portcullis_core::{ConfigError, constant_time_eq};
use serde::de::DeserializeOwned;

use crate::claims::{Claims, StandardClaims};
use crate::error::{JwtError, JwtErrorKind};
use crate::jwks::{JwksCache, KeyError, KeyType, VerifyKey};
use cache::{DenyList, Entry, TokenCache, unix_now, unix_secs};
pub(crate) use typed::typed;

/// The asymmetric algorithms allowed by default.
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Validates access tokens (JWS compact serialization) following RFC 8725:
///
/// * the maximum token size is checked before any decoding (default 8 KiB);
/// * `alg` must be in the allow-list (default: RS*, PS*, ES256, ES384, EdDSA) *and* fit
///   the key's type and the JWK's own `alg`; `none` never; HMAC only for issuers with an
///   explicitly configured shared secret;
/// * `crit` naming anything not declared understood is refused; `jku`, `x5u`, `jwk`, `x5c`
///   are never followed; `kid` only selects a key of the token's issuer;
/// * `iss` must be a configured issuer (exact match), `aud` must contain a configured
///   audience, `exp` is required, `nbf` and `iat` are checked, with a leeway (default 60 s);
///   NumericDates must be JSON integers (strings and fractions are refused);
/// * optional `typ` check (e.g. `at+jwt`, RFC 9068) and required claims.
///
/// Valid tokens are cached until `exp` + leeway (bounded, exact-match: an entry is found
/// by a keyed hash of the token's tail and used only if the whole token is equal), so a
/// token seen before skips the signature check. A cached validation is dropped when its
/// key disappears from the issuer's JWKS, and refused at once after `revoke_jti`,
/// `revoke_sid` or `revoke_subject`; it is *not* dropped when the IdP is merely
/// unreachable (the token was verified with a then-current key). The typed claims of the
/// first `T` asked for are kept with the entry; other types are deserialized per use.
///
/// Cloning is cheap (shared).
///
/// ```
/// use portcullis_jwt::{JwksCache, Validator};
///
/// let jwks = JwksCache::builder().add_issuer("https://idp.example.com").build().unwrap();
/// let validator = Validator::builder(jwks).with_audience("my-api").build().unwrap();
/// # drop(validator);
/// ```
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    jwks: JwksCache,
    audiences: Vec<String>,
    skip_audience: bool,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    required_claims: Vec<String>,
    required_type: Option<String>,
    max_token_bytes: usize,
    understood_crit: Vec<String>,
    hmac: HashMap<String, (DecodingKey, Vec<Algorithm>)>,
    cache: Option<TokenCache>,
    deny: DenyList,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Validator")
            .field("jwks", &i.jwks)
            .field("audiences", &i.audiences)
            .field("algorithms", &i.algorithms)
            .field("leeway", &i.leeway)
            .field("required_claims", &i.required_claims)
            .field("required_type", &i.required_type)
            .field("max_token_bytes", &i.max_token_bytes)
            .field("hmac_issuers", &i.hmac.keys().collect::<Vec<_>>())
            .field("cache", &i.cache)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Validator`].
#[must_use]
pub struct ValidatorBuilder {
    jwks: JwksCache,
    audiences: Vec<String>,
    skip_audience: bool,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    required_claims: Vec<String>,
    required_type: Option<String>,
    max_token_bytes: usize,
    understood_crit: Vec<String>,
    hmac: Vec<(String, Vec<u8>, Vec<Algorithm>)>,
    cache_capacity: u64,
    front_slots: usize,
    revocation_capacity: u64,
    revocation_ttl: Duration,
}

impl fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("hmac_secrets", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl ValidatorBuilder {
    /// Accepts tokens whose `aud` contains `audience` (replaces earlier audiences).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences = vec![audience.into()];
        self
    }

    /// Also accepts `audience`.
    pub fn add_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Does not check `aud`. RFC 8725 §3.9 advises against this.
    pub fn insecure_skip_audience(mut self) -> Self {
        self.skip_audience = true;
        self
    }

    /// The allowed asymmetric algorithms (default [`DEFAULT_ALGORITHMS`]). HMAC
    /// algorithms are refused here: use [`with_hmac_secret`](Self::with_hmac_secret).
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Claims that must be present (any JSON value), e.g. `sub`, `jti`.
    pub fn with_required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Requires the `typ` header (case-insensitive, `application/` prefix optional), e.g.
    /// `at+jwt` for RFC 9068 access tokens. Default: not checked.
    pub fn with_required_type(mut self, typ: impl Into<String>) -> Self {
        self.required_type = Some(typ.into());
        self
    }

    /// The longest token accepted, checked before decoding (default 8 KiB).
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Declares `crit` header extensions the application understands (default none:
    /// every `crit` is refused).
    pub fn with_understood_critical_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.understood_crit = names.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts HMAC-signed (HS256/384/512) tokens of `issuer`, verified with `secret`
    /// (at least 32 bytes). Only these tokens may use HMAC, and never with a JWKS key.
    pub fn with_hmac_secret(mut self, issuer: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        self.hmac.push((
            issuer.into(),
            secret.as_ref().to_vec(),
            vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
        ));
        self
    }

    /// How many validated tokens are cached (default 100,000); 0 disables the cache.
    pub fn with_cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Slots of the small table each thread keeps in front of the validated-token cache
    /// (default 64; rounded up to a power of two, at most 4,096; 0 turns it off). A repeated
    /// token found there skips the shared cache's bookkeeping. Every hit, wherever it comes
    /// from, is still checked for expiry, revocation and key removal; the cost of the table
    /// is memory: a slot keeps its entry (token and claims) allocated until the slot is
    /// reused, even after the entry has been evicted, so up to this many per thread.
    pub fn with_thread_front_slots(mut self, slots: usize) -> Self {
        self.front_slots = cache::front_slots(slots);
        self
    }

    /// How many revocations are remembered (default 100,000) and for how long (default
    /// 24 h; make it at least the longest access-token lifetime).
    pub fn with_revocation_limits(mut self, capacity: u64, ttl: Duration) -> Self {
        self.revocation_capacity = capacity;
        self.revocation_ttl = ttl;
        self
    }

    /// Builds the validator.
    pub fn build(self) -> Result<Validator, ConfigError> {
        if self.audiences.is_empty() && !self.skip_audience {
            return Err(ConfigError::new(
                "jwt.audience",
                "set the expected audience with with_audience (or insecure_skip_audience)",
            ));
        }
        if self.algorithms.iter().any(|a| KeyType::Hmac.fits(*a)) {
            return Err(ConfigError::new(
                "jwt.algorithms",
                "HMAC algorithms need an explicit secret: use with_hmac_secret",
            ));
        }
        if self.algorithms.is_empty() && self.hmac.is_empty() {
            return Err(ConfigError::new("jwt.algorithms", "no algorithm allowed"));
        }
        if self.revocation_ttl.is_zero()
            || self.revocation_ttl > Duration::from_secs(365 * 24 * 3600)
        {
            return Err(ConfigError::new(
                "jwt.revocation_ttl",
                "must be more than zero and at most one year",
            ));
        }
        if self.leeway > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::new("jwt.leeway", "at most one day"));
        }
        if self.max_token_bytes < 64 {
            return Err(ConfigError::new("jwt.max_token_bytes", "too small"));
        }
        let mut hmac = HashMap::new();
        for (issuer, secret, algs) in self.hmac {
            if secret.len() < 32 {
                return Err(ConfigError::new(
                    "jwt.hmac_secret",
                    "HMAC secrets must be at least 32 bytes",
                ));
            }
            hmac.insert(issuer, (DecodingKey::from_secret(&secret), algs));
        }
        Ok(Validator {
            inner: Arc::new(Inner {
                jwks: self.jwks,
                audiences: self.audiences,
                skip_audience: self.skip_audience,
                algorithms: self.algorithms,
                leeway: self.leeway.as_secs(),
                required_claims: self.required_claims,
                required_type: self.required_type,
                max_token_bytes: self.max_token_bytes,
                understood_crit: self.understood_crit,
                hmac,
                cache: (self.cache_capacity > 0)
                    .then(|| TokenCache::new(self.cache_capacity, self.front_slots)),
                deny: DenyList::new(self.revocation_capacity, self.revocation_ttl),
            }),
        })
    }
}

const fn err(kind: JwtErrorKind, description: &'static str) -> JwtError {
    JwtError::new(kind, description)
}

const ALG: JwtError = err(
    JwtErrorKind::AlgorithmNotAllowed,
    "the token's algorithm is not allowed",
);

impl Validator {
    /// A builder for tokens of the issuers in `jwks`.
    pub fn builder(jwks: JwksCache) -> ValidatorBuilder {
        ValidatorBuilder {
            jwks,
            audiences: Vec::new(),
            skip_audience: false,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway: Duration::from_secs(60),
            required_claims: Vec::new(),
            required_type: None,
            max_token_bytes: 8 * 1024,
            understood_crit: Vec::new(),
            hmac: Vec::new(),
            cache_capacity: 100_000,
            front_slots: cache::DEFAULT_FRONT_SLOTS,
            revocation_capacity: 100_000,
            revocation_ttl: Duration::from_secs(24 * 3600),
        }
    }

    /// The key cache.
    pub fn jwks(&self) -> &JwksCache {
        &self.inner.jwks
    }

    /// Validates `token` and returns its standard claims.
    pub async fn validate(&self, token: &str) -> Result<StandardClaims, JwtError> {
        Ok(self.validate_entry(token).await?.claims.clone())
    }

    /// Validates `token` and deserializes its claims as `T`.
    pub async fn validate_as<T>(&self, token: &str) -> Result<Claims<T>, JwtError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let entry = self.validate_entry(token).await?;
        typed(&entry)
    }

    /// The cached validation of `token`, without any signature check: `None` on a miss.
    pub(crate) fn cached(&self, token: &str) -> Option<Result<Arc<Entry>, JwtError>> {
        let cache = self.inner.cache.as_ref()?;
        let entry = cache.get(token)?;
        if unix_now() >= entry.deadline {
            cache.remove(token);
            return None;
        }
        let epoch = self.inner.deny.epoch();
        if entry.revocation_epoch.load(Ordering::Acquire) != epoch {
            if self.inner.deny.is_revoked(&entry.claims) {
                cache.remove(token);
                return Some(Err(REVOKED));
            }
            entry.revocation_epoch.store(epoch, Ordering::Release);
        }
        if !entry.hmac {
            let generation = self.inner.jwks.removal_generation();
            if entry.key_generation.load(Ordering::Acquire) != generation {
                if !self
                    .inner
                    .jwks
                    .has_kid(entry.claims.issuer(), entry.claims.key_id())
                {
                    cache.remove(token);
                    return None;
                }
                entry.key_generation.store(generation, Ordering::Release);
            }
        }
        Some(Ok(entry))
    }

    pub(crate) async fn validate_entry(&self, token: &str) -> Result<Arc<Entry>, JwtError> {
        if let Some(hit) = self.cached(token) {
            return hit;
        }
        let entry = Arc::new(self.validate_uncached(token).await?);
        if let Some(cache) = &self.inner.cache {
            cache.insert(entry.clone());
        }
        Ok(entry)
    }

    async fn validate_uncached(&self, token: &str) -> Result<Entry, JwtError> {
        let i = &self.inner;
        if token.len() > i.max_token_bytes {
            return Err(err(JwtErrorKind::TooLarge, "the token is too large"));
        }
        let parts = parse::split(token)?;
        let header = parse::header(parts.header, &i.understood_crit)?;
        if let Some(required) = &i.required_type {
            let typ = header.typ.as_deref().unwrap_or("");
            let typ = typ
                .get(..12)
                .filter(|p| p.eq_ignore_ascii_case("application/"))
                .and_then(|_| typ.get(12..))
                .unwrap_or(typ);
            if !typ.eq_ignore_ascii_case(required) {
                return Err(err(
                    JwtErrorKind::InvalidType,
                    "the token type is not accepted",
                ));
            }
        }
        let payload = parse::b64_decode(parts.payload)?;
        let issuer = parse::unverified_issuer(&payload)?;
        let generation = i.jwks.removal_generation();
        let (key, hmac) = if KeyType::Hmac.fits(header.alg) {
            let Some((key, algs)) = i.hmac.get(&issuer) else {
                return Err(ALG);
            };
            if !algs.contains(&header.alg) {
                return Err(ALG);
            }
            (KeyRef::Secret(key), true)
        } else {
            if !i.algorithms.contains(&header.alg) {
                return Err(ALG);
            }
            let key = i
                .jwks
                .key(&issuer, header.kid.as_deref(), header.alg)
                .await
                .map_err(|e| match e {
                    KeyError::UnknownIssuer => err(
                        JwtErrorKind::UnknownIssuer,
                        "the token's issuer is not accepted",
                    ),
                    KeyError::UnknownKey => err(
                        JwtErrorKind::UnknownKey,
                        "no key of the issuer matches the token",
                    ),
                    KeyError::Unavailable(retry) => JwtError::unavailable(retry),
                })?;
            if !key.fits(header.alg) {
                return Err(ALG);
            }
            (KeyRef::Jwk(key), false)
        };
        let verified = match &key {
            // JWKS keys: aws-lc with the key parsed once (see `VerifyKey::verify`).
            KeyRef::Jwk(key) => parse::b64_decode(parts.signature).is_ok_and(|signature| {
                key.verify(header.alg, parts.message.as_bytes(), &signature)
            }),
            KeyRef::Secret(secret) => jsonwebtoken::crypto::verify(
                parts.signature,
                parts.message.as_bytes(),
                secret,
                header.alg,
            )
            .unwrap_or(false),
        };
        if !verified {
            return Err(err(
                JwtErrorKind::InvalidSignature,
                "the token signature is invalid",
            ));
        }
        let claims = parse::claims(&payload, &header)?;
        if *claims.issuer != *issuer {
            return Err(err(
                JwtErrorKind::UnknownIssuer,
                "the token's issuer is not accepted",
            ));
        }
        self.check_claims(&claims, &payload)?;
        let claims = StandardClaims(Arc::new(claims));
        if i.deny.is_revoked(&claims) {
            return Err(REVOKED);
        }
        Ok(Entry {
            token: Box::from(token),
            deadline: claims.expires_at().saturating_add(i.leeway),
            claims,
            payload: payload.into_boxed_slice(),
            typed: OnceLock::new(),
            revocation_epoch: std::sync::atomic::AtomicU64::new(i.deny.epoch()),
            key_generation: std::sync::atomic::AtomicU64::new(generation),
            hmac,
        })
    }

    fn check_claims(
        &self,
        c: &crate::claims::StandardInner,
        payload: &[u8],
    ) -> Result<(), JwtError> {
        let i = &self.inner;
        let now = unix_now();
        if now >= c.expires_at.saturating_add(i.leeway) {
            return Err(err(JwtErrorKind::Expired, "the access token expired"));
        }
        if c.not_before
            .is_some_and(|nbf| now.saturating_add(i.leeway) < nbf)
        {
            return Err(err(JwtErrorKind::NotYetValid, "the token is not valid yet"));
        }
        if c.issued_at
            .is_some_and(|iat| now.saturating_add(i.leeway) < iat)
        {
            return Err(err(
                JwtErrorKind::IssuedInFuture,
                "the token is issued in the future",
            ));
        }
        if !i.skip_audience
            && !c.audience.iter().any(|a| {
                i.audiences
                    .iter()
                    .any(|want| constant_time_eq(a.as_bytes(), want.as_bytes()))
            })
        {
            return Err(err(
                JwtErrorKind::InvalidAudience,
                "the token is not meant for this audience",
            ));
        }
        if !i.required_claims.is_empty() {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(payload)
                    .map_err(|_| err(JwtErrorKind::Malformed, "the token is malformed"))?;
            if i.required_claims.iter().any(|name| !map.contains_key(name)) {
                return Err(err(
                    JwtErrorKind::MissingClaim,
                    "the token lacks a required claim",
                ));
            }
        }
        Ok(())
    }

    /// Revokes every token with this `jti`: cached validations are dropped at once and
    /// the token is refused from now on (for the revocation TTL).
    pub fn revoke_jti(&self, jti: &str) {
        self.inner.deny.add('j', jti, unix_now());
    }

    /// Revokes the tokens of OIDC session `sid` issued at or before now.
    pub fn revoke_sid(&self, sid: &str) {
        self.inner.deny.add('s', sid, unix_now());
    }

    /// Revokes the tokens of subject `sub` (any issuer) issued at or before now
    /// ("log out everywhere"). Tokens issued in the same second are revoked too.
    pub fn revoke_subject(&self, sub: &str) {
        self.inner.deny.add('u', sub, unix_now());
    }

    /// [`revoke_sid`](Self::revoke_sid) for a revocation made at `revoked_at` and learnt
    /// late (replayed from a log): tokens issued after it stay valid. A later revocation of
    /// the same `sid` already known is kept.
    pub fn revoke_sid_issued_until(&self, sid: &str, revoked_at: SystemTime) {
        self.inner.deny.add('s', sid, unix_secs(revoked_at));
    }

    /// [`revoke_subject`](Self::revoke_subject) for a revocation made at `revoked_at` and
    /// learnt late (replayed from a log): tokens issued after it (the user logged in again)
    /// stay valid. A later revocation of the same subject already known is kept.
    pub fn revoke_subject_issued_until(&self, sub: &str, revoked_at: SystemTime) {
        self.inner.deny.add('u', sub, unix_secs(revoked_at));
    }

    /// Drops the cached validation of `token` (the next use verifies it again).
    pub fn forget_token(&self, token: &str) {
        if let Some(cache) = &self.inner.cache {
            cache.remove(token);
        }
    }

    /// Drops every cached validation.
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
    }

    /// How many validations are cached (after pending maintenance).
    pub fn cached_tokens(&self) -> u64 {
        self.inner.cache.as_ref().map_or(0, TokenCache::len)
    }
}

const REVOKED: JwtError = err(JwtErrorKind::Revoked, "the token was revoked");

enum KeyRef<'a> {
    Secret(&'a DecodingKey),
    Jwk(Arc<VerifyKey>),
}

#[cfg(test)]
mod tests;
