//! The fixture of the in-process benchmarks (`benches/stack.rs`, `cargo bench -p
//! portcullis-bench`) and of the allocation test (`tests/allocations.rs`): the whole stack from
//! `Portcullis::builder()` around a hello handler, keys for RS256, ES256 and EdDSA, a JWKS
//! served from memory, realistic tokens and a logged-in session. Not published; see
//! `BENCHMARKS.md`.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis::Portcullis;
use portcullis::core::client::{ClientBinding, PeerAddr};
use portcullis::jwt::StandardClaims;
use portcullis::jwt::http::{HttpClient, HttpError};
use portcullis::session::{Timestamp, TokenSet};
use serde_json::{Value, json};

/// The benchmark issuer.
pub const ISSUER: &str = "https://issuer.bench.example";
/// Its JWKS address (served from memory).
pub const JWKS_URI: &str = "https://issuer.bench.example/jwks.json";
/// The accepted audience.
pub const AUDIENCE: &str = "api://bench";
/// The User-Agent of every request (and of the session's binding).
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) portcullis-bench";

/// Serves one JWKS from memory.
#[derive(Debug)]
pub struct StaticJwks(pub Bytes);

impl HttpClient for StaticJwks {
    fn execute(
        &self,
        _request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + '_>> {
        let response = Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "max-age=3600")
            .body(self.0.clone())
            .unwrap();
        Box::pin(std::future::ready(Ok(response)))
    }
}

/// A signing key and its public JWK.
pub struct Key {
    /// Its algorithm.
    pub alg: Algorithm,
    /// Its `kid`.
    pub kid: &'static str,
    /// The private key.
    pub key: EncodingKey,
    /// The public JWK.
    pub jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// An RS256 (2048-bit), an ES256 and an EdDSA key.
pub fn keys() -> Vec<Key> {
    let rng = SystemRandom::new();
    // A 2048-bit key made with `openssl genpkey` (the JWT crate's test fixture).
    let pem = include_str!("../../portcullis-jwt/tests/fixtures/rsa1.pem");
    let der = STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let public =
        RsaPublicKeyComponents::<Vec<u8>>::from(RsaKeyPair::from_der(&der).unwrap().public_key());
    let rsa = EncodingKey::from_rsa_der(&der);
    let rsa_jwk = json!({"kty": "RSA", "alg": "RS256", "kid": "rs", "n": b64(&public.n), "e": b64(&public.e)});

    let ec = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec.as_ref()).unwrap();
    let point = ec_pair.public_key().as_ref();
    let ec_jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "es",
        "x": b64(&point[1..33]), "y": b64(&point[33..65])});

    let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed_pair = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
    let ed_jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "ed",
        "x": b64(ed_pair.public_key().as_ref())});

    vec![
        Key {
            alg: Algorithm::RS256,
            kid: "rs",
            key: rsa,
            jwk: rsa_jwk,
        },
        Key {
            alg: Algorithm::ES256,
            kid: "es",
            key: EncodingKey::from_ec_der(ec.as_ref()),
            jwk: ec_jwk,
        },
        Key {
            alg: Algorithm::EdDSA,
            kid: "ed",
            key: EncodingKey::from_ed_der(ed.as_ref()),
            jwk: ed_jwk,
        },
    ]
}

/// A realistic access token (about 1 KB with RS256); `n` makes it unique.
pub fn mint(key: &Key, n: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    let claims = json!({
        "iss": ISSUER, "sub": "248289761001", "aud": AUDIENCE, "client_id": "bench-client",
        "scope": "openid profile email orders:read orders:write",
        "iat": now, "nbf": now, "exp": now + 86_400, "auth_time": now,
        "jti": format!("bench-{n:016x}"), "sid": format!("sid-{n:08x}"),
        "name": "Jane Benchmark", "email": "jane.benchmark@example.com",
        "roles": ["customer", "beta-tester"], "tenant": "acme-eu-west-1",
    });
    jsonwebtoken::encode(&header, &claims, &key.key).unwrap()
}

/// Polls `future` once (a memory-store lookup and a cache hit complete at once); falls back
/// to the runtime if it is not ready.
pub fn run<F: Future>(rt: &tokio::runtime::Runtime, future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => rt.block_on(future),
    }
}

/// The handler: 200 when the stack validated a token, 401 otherwise.
pub fn hello(req: Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>> {
    // Like the load benchmark's handler: 200 only when a token was validated.
    let status = if req.extensions().get::<StandardClaims>().is_some() {
        200
    } else {
        401
    };
    let mut res = Response::new("hello".to_owned());
    *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
    // As a framework's response would: a header map that already exists.
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    std::future::ready(Ok(res))
}

/// A GET request from 127.0.0.1 with [`USER_AGENT`] and one more header. The header values
/// share their bytes as a server's parsed request does (cloning one is a reference count), not
/// as `HeaderValue::from_str` makes them (whose first clone copies).
pub fn request(header: Option<(&str, &str)>) -> Request<String> {
    let shared = |value: &str| {
        let bytes = Bytes::copy_from_slice(value.as_bytes());
        http::HeaderValue::from_maybe_shared(bytes.slice(..)).unwrap()
    };
    let mut req = Request::get("/")
        .header(header::USER_AGENT, shared(USER_AGENT))
        .extension(PeerAddr(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            50_000,
        )));
    if let Some((name, value)) = header {
        req = req.header(name, shared(value));
    }
    req.body(String::new()).unwrap()
}

/// The default stack over the in-memory JWKS, its keys fetched; `cold` turns the
/// validated-token cache off.
pub fn stack(rt: &tokio::runtime::Runtime, jwks: &Bytes, cold: bool) -> Portcullis {
    let jwks = jwks.clone();
    rt.block_on(async move {
        let mut builder = Portcullis::builder()
            .issuer_with_jwks_uri(ISSUER, JWKS_URI)
            .audience(AUDIENCE)
            .allow_anonymous()
            .configure_jwks(move |b| b.with_http_client(StaticJwks(jwks)));
        if cold {
            builder = builder.configure_validator(|v| v.with_cache_capacity(0));
        }
        let portcullis = builder.build().unwrap();
        // Let the background JWKS fetch land.
        for _ in 0..100 {
            if portcullis
                .validator()
                .jwks()
                .stats(ISSUER)
                .is_some_and(|s| s.keys > 0)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        portcullis
    })
}

/// The JWKS of `keys`.
pub fn jwks(keys: &[Key]) -> Bytes {
    Bytes::from(
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string(),
    )
}

/// A logged-in session of `warm` holding an RS256 token from `key`: the `Cookie` header value
/// (with two other cookies beside it) and the same token as an `Authorization` value.
pub fn logged_in(rt: &tokio::runtime::Runtime, warm: &Portcullis, key: &Key) -> (String, String) {
    let token = mint(key, 0);
    let tokens =
        TokenSet::new(token.clone()).with_expires_in(Timestamp::now(), Duration::from_secs(86_400));
    let client = ClientBinding {
        ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        user_agent: Some(USER_AGENT.to_owned()),
    };
    let (id, _) = rt
        .block_on(
            warm.sessions()
                .create_session("248289761001", &tokens, Some(&client)),
        )
        .unwrap();
    (
        format!("__Host-session={}; theme=dark; lang=en", id.as_str()),
        format!("Bearer {token}"),
    )
}

/// The benchmarks' runtime: one worker thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}
