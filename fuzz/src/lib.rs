//! Shared pieces of the fuzz targets: a fixed ES256 key, an in-memory `HttpClient` that
//! serves fixed (or fuzzer-chosen) discovery and JWKS documents, token signing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use portcullis_jwt::http::{HttpClient, HttpFuture};
use portcullis_jwt::{JwksCache, Validator};
use serde_json::{Value, json};

/// The issuer every target trusts.
pub const ISSUER: &str = "https://idp.example.com";
/// The audience every target accepts.
pub const AUDIENCE: &str = "api";
/// The kid of the fixed key.
pub const KID: &str = "k1";

/// The fixed ES256 signing key (generated once per process).
pub fn key() -> &'static EcdsaKeyPair {
    static KEY: OnceLock<EcdsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap()
    })
}

/// The public JWK of [`key`].
pub fn jwk() -> Value {
    let point = key().public_key().as_ref();
    let (x, y) = point[1..].split_at(32);
    json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KID,
           "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)})
}

/// The JWKS holding [`jwk`].
pub fn jwks() -> Value {
    json!({ "keys": [jwk()] })
}

/// `header.payload.signature` with the raw header and payload bytes, signed by [`key`].
pub fn sign_raw(header: &[u8], payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = key()
        .sign(&SystemRandom::new(), message.as_bytes())
        .expect("signing");
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// A valid token for [`ISSUER`] / [`AUDIENCE`], freshly signed (expires in 10 minutes).
pub fn good_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": "ES256", "kid": KID, "typ": "at+jwt"}).to_string();
    let claims =
        json!({"iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "exp": now + 600, "iat": now})
            .to_string();
    sign_raw(header.as_bytes(), claims.as_bytes())
}

/// [`good_token`], signed again once a minute rather than for every input: the signature
/// is the same work for every input and not what the targets fuzz.
pub fn recent_good_token() -> String {
    static CACHED: std::sync::Mutex<Option<(std::time::Instant, String)>> =
        std::sync::Mutex::new(None);
    let mut cached = CACHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*cached {
        Some((at, token)) if at.elapsed() < Duration::from_secs(60) => token.clone(),
        _ => {
            let token = good_token();
            *cached = Some((std::time::Instant::now(), token.clone()));
            token
        }
    }
}

/// A current-thread runtime with paused time, for one input: every task an input's caches
/// spawn ends with it.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// Serves the discovery document and JWKS from memory.
#[derive(Clone, Debug)]
pub struct MemoryIdp {
    /// Body of `/.well-known/openid-configuration`.
    pub discovery: Bytes,
    /// Body of any other path (the JWKS).
    pub jwks: Bytes,
    /// `Cache-Control` of every answer, if any.
    pub cache_control: Option<String>,
    /// Status of every answer.
    pub status: StatusCode,
}

impl MemoryIdp {
    /// Discovery pointing at `{ISSUER}/jwks` and the fixed JWKS.
    pub fn fixed() -> Self {
        Self {
            discovery: Bytes::from(
                json!({"issuer": ISSUER, "jwks_uri": format!("{ISSUER}/jwks")}).to_string(),
            ),
            jwks: Bytes::from(jwks().to_string()),
            cache_control: None,
            status: StatusCode::OK,
        }
    }
}

impl HttpClient for MemoryIdp {
    fn execute(&self, request: Request<Bytes>) -> HttpFuture<'_> {
        let body = if request.uri().path().ends_with("/openid-configuration") {
            self.discovery.clone()
        } else {
            self.jwks.clone()
        };
        let mut res = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(cc) = self
            .cache_control
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
        {
            res = res.header(header::CACHE_CONTROL, cc);
        }
        let res = res.body(body).expect("a response");
        Box::pin(async move { Ok(res) })
    }
}

/// A validator for [`ISSUER`] backed by `idp` (discovery when `discovery`, else a direct
/// `jwks_uri`).
pub fn validator(idp: MemoryIdp, discovery: bool) -> Validator {
    let mut jwks = JwksCache::builder()
        .with_http_client(Arc::new(idp))
        .with_unknown_kid_cooldown(Duration::from_secs(3600))
        .with_retry_backoff(Duration::from_secs(3600), Duration::from_secs(3600));
    jwks = if discovery {
        jwks.add_issuer(ISSUER)
    } else {
        jwks.add_issuer_with_jwks_uri(ISSUER, format!("{ISSUER}/jwks"))
    };
    Validator::builder(jwks.build().expect("a JWKS cache"))
        .with_audience(AUDIENCE)
        .build()
        .expect("a validator")
}
