//! Shared pieces of the fuzz targets: an Ed25519 key, an in-memory `HttpClient` that
//! serves fixed (or fuzzer-chosen) discovery and JWKS documents, token signing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
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

/// The signing key every target trusts: Ed25519, generated once per process. Ed25519
/// signatures are deterministic, so an input signs to the same token every time it runs and
/// its coverage does not depend on a random nonce.
pub fn key() -> &'static Ed25519KeyPair {
    static KEY: OnceLock<Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    })
}

/// The public JWK of [`key`].
pub fn jwk() -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": KID,
           "x": URL_SAFE_NO_PAD.encode(key().public_key().as_ref())})
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
    let sig = key().sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// A valid token for [`ISSUER`] / [`AUDIENCE`] (expires in 2100), the same all process
/// long.
pub fn good_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let header = json!({"alg": "EdDSA", "kid": KID, "typ": "at+jwt"}).to_string();
        let claims = json!({"iss": ISSUER, "sub": "alice", "aud": AUDIENCE,
                            "exp": 4_102_444_800_u64, "iat": 1_700_000_000_u64})
        .to_string();
        sign_raw(header.as_bytes(), claims.as_bytes())
    })
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

/// Checks, once at start, that the fixture works: [`good_token`] validates against the fixed
/// JWKS (else every signed input would fail for the same reason and the target would fuzz
/// nothing behind the signature check).
pub fn check_fixture() {
    runtime().block_on(async {
        let v = validator(MemoryIdp::fixed(), true);
        assert!(v.jwks().refresh_now().await, "the fixed JWKS loads");
        let claims = v
            .validate(good_token())
            .await
            .expect("the good token validates");
        assert_eq!(claims.subject(), Some("alice"));
    });
}
