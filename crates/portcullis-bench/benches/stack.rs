//! The whole stack (`Portcullis::builder()` defaults: CacheControl → Cookies → TokenLookup →
//! Binding → Jwt) around a hello service, in-process, against the bare service:
//!
//! - `stack/pass_through/{cookie,bearer}`: the bare service given the same requests (the
//!   baselines);
//! - `stack/warm_cookie`: a valid session cookie whose access token was validated before;
//! - `stack/warm_bearer/RS256`: a bearer token validated before (cache hit);
//! - `stack/cold_bearer/{RS256,ES256,EdDSA}`: the validated-token cache off, so every request
//!   checks the signature (what the first sight of a token costs).
//!
//! The JWKS comes from an in-memory `HttpClient`, so no socket is involved.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
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
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis::Portcullis;
use portcullis::core::client::{ClientBinding, PeerAddr};
use portcullis::jwt::StandardClaims;
use portcullis::jwt::http::{HttpClient, HttpError};
use portcullis::session::{Timestamp, TokenSet};
use serde_json::{Value, json};
use tower::{Layer, Service, service_fn};

const ISSUER: &str = "https://issuer.bench.example";
const JWKS_URI: &str = "https://issuer.bench.example/jwks.json";
const AUDIENCE: &str = "api://bench";
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) portcullis-bench";

/// Serves one JWKS from memory.
struct StaticJwks(Bytes);

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

struct Key {
    alg: Algorithm,
    kid: &'static str,
    key: EncodingKey,
    jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn keys() -> Vec<Key> {
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

/// A realistic access token (about 1 KB with RS256).
fn mint(key: &Key, n: u64) -> String {
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
fn run<F: Future>(rt: &tokio::runtime::Runtime, future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => rt.block_on(future),
    }
}

fn hello(req: Request<String>) -> std::future::Ready<Result<Response<String>, Infallible>> {
    // Like the load benchmark's handler: 200 only when a token was validated.
    let status = if req.extensions().get::<StandardClaims>().is_some() {
        200
    } else {
        401
    };
    let mut res = Response::new("hello".to_owned());
    *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
    std::future::ready(Ok(res))
}

fn request(header: Option<(&str, &str)>) -> Request<String> {
    let mut req = Request::get("/")
        .header(header::USER_AGENT, USER_AGENT)
        .extension(PeerAddr(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            50_000,
        )));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.body(String::new()).unwrap()
}

fn stack(rt: &tokio::runtime::Runtime, jwks: &Bytes, cold: bool) -> Portcullis {
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let keys = keys();
    let jwks = Bytes::from(
        json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string(),
    );

    // Warm: a logged-in session (its token validated once before), and a repeated bearer.
    let warm = stack(&rt, &jwks, false);
    let token = mint(&keys[0], 0);
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
    let cookie = format!("__Host-session={}; theme=dark; lang=en", id.as_str());
    let bearer = format!("Bearer {token}");
    let mut group = c.benchmark_group("stack");
    // The baseline gets the same request (same headers, so the same copying) as the stack.
    let mut bare = service_fn(hello);
    for (name, header) in [
        (
            "pass_through/cookie",
            (header::COOKIE.as_str(), cookie.as_str()),
        ),
        (
            "pass_through/bearer",
            (header::AUTHORIZATION.as_str(), bearer.as_str()),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let req = request(Some(header));
                run(&rt, std::future::poll_fn(|cx| bare.poll_ready(cx))).unwrap();
                run(&rt, bare.call(black_box(req))).unwrap()
            })
        });
    }
    let mut svc = warm.layer(service_fn(hello));
    for (name, header) in [
        ("warm_cookie", (header::COOKIE.as_str(), cookie.as_str())),
        (
            "warm_bearer/RS256",
            (header::AUTHORIZATION.as_str(), bearer.as_str()),
        ),
    ] {
        let res = run(&rt, svc.call(request(Some(header)))).unwrap();
        assert_eq!(res.status(), 200, "{name}: the stack refused the request");
        group.bench_function(name, |b| {
            b.iter(|| {
                let req = request(Some(header));
                run(&rt, std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                let res = run(&rt, svc.call(black_box(req))).unwrap();
                debug_assert_eq!(res.status(), 200);
                res
            })
        });
    }

    // Cold: every request checks the signature.
    let cold = stack(&rt, &jwks, true);
    let mut svc = cold.layer(service_fn(hello));
    for key in &keys {
        let bearer = format!("Bearer {}", mint(key, 1));
        let header = (header::AUTHORIZATION.as_str(), bearer.as_str());
        let res = run(&rt, svc.call(request(Some(header)))).unwrap();
        assert_eq!(
            res.status(),
            200,
            "cold {:?}: the stack refused the request",
            key.alg
        );
        group.bench_function(format!("cold_bearer/{:?}", key.alg), |b| {
            b.iter(|| {
                let req = request(Some(header));
                run(&rt, std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                run(&rt, svc.call(black_box(req))).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
