//! A development issuer: signs access tokens with an ES256 key generated at start and serves
//! its discovery document and JWKS, so an app can run the whole stack with no external
//! identity provider (the quickstart does).
//!
//! **For development and tests only.** Its key lives in memory and is new at every start; it
//! authenticates nobody by itself. Run a real identity provider in production.
//!
//! ```
//! use std::time::Duration;
//! use portcullis_jwt::dev::DevIssuer;
//!
//! let issuer = DevIssuer::generate("http://127.0.0.1:3000")?;
//! let token = issuer.access_token("alice", "quickstart", "read", Duration::from_secs(300))?;
//! assert_eq!(token.matches('.').count(), 2);
//! assert_eq!(issuer.discovery_document()["jwks_uri"], "http://127.0.0.1:3000/.well-known/jwks.json");
//! assert_eq!(issuer.jwks()["keys"][0]["alg"], "ES256");
//! # Ok::<(), portcullis_core::ConfigError>(())
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::ConfigError;
use serde_json::{Value, json};

/// Path of the JWKS relative to the issuer URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the discovery document relative to the issuer URL.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// An in-memory ES256 issuer for development; see the [module docs](self).
pub struct DevIssuer {
    issuer: String,
    kid: String,
    key: EncodingKey,
    public_jwk: Value,
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn config(message: &'static str) -> ConfigError {
    ConfigError::new("dev_issuer", message)
}

impl DevIssuer {
    /// A new issuer named `issuer` (its URL, without a trailing slash) with a fresh P-256 key.
    ///
    /// # Errors
    ///
    /// If the URL is empty or the system's random source fails.
    pub fn generate(issuer: impl Into<String>) -> Result<Self, ConfigError> {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(config("the issuer must be an http(s) URL"));
        }
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| config("could not generate a P-256 key"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| config("could not load the generated key"))?;
        // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = pair.public_key().as_ref();
        let (x, y) = match point {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(config("unexpected public key encoding")),
        };
        let mut kid = [0u8; 12];
        rng.fill(&mut kid)
            .map_err(|_| config("the random source failed"))?;
        let kid = URL_SAFE_NO_PAD.encode(kid);
        let public_jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Self {
            issuer,
            kid,
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public_jwk,
        })
    }

    /// The issuer URL (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}{JWKS_PATH}", self.issuer)
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`, `alg: ES256`, this key's
    /// `kid`). The caller sets every claim.
    ///
    /// # Errors
    ///
    /// If the claims cannot be serialized or signed.
    pub fn sign(&self, claims: &Value) -> Result<String, ConfigError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|_| config("signing failed"))
    }

    /// An access token for `subject` and `audience` with the space-separated `scope`, valid for
    /// `ttl` from now, with a random `jti`.
    ///
    /// # Errors
    ///
    /// If signing fails.
    pub fn access_token(
        &self,
        subject: &str,
        audience: &str,
        scope: &str,
        ttl: Duration,
    ) -> Result<String, ConfigError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| config("the random source failed"))?;
        self.sign(&json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "client_id": audience,
        }))
    }

    /// The OpenID discovery document (`/.well-known/openid-configuration`).
    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri(),
            "token_endpoint": format!("{}/token", self.issuer),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        })
    }

    /// The JWKS with this issuer's public key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk] })
    }
}
