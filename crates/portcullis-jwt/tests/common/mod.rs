//! Test support: keys, token signing, and a local IdP (discovery + JWKS) on 127.0.0.1
//! that can rotate keys, fail, answer garbage, stall, and counts its requests.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_jwt::http::DefaultHttpClient;
use portcullis_jwt::{JwksCache, JwksCacheBuilder};
use serde_json::{Value, json};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// Raw public key bytes (for the "public key as HMAC secret" attack).
    pub public_bytes: Vec<u8>,
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// 2048-bit RSA keys made with `openssl genpkey` (aws-lc generates RSA slowly in debug builds).
const RSA_FIXTURES: [&str; 3] = [
    include_str!("../fixtures/rsa1.pem"),
    include_str!("../fixtures/rsa2.pem"),
    include_str!("../fixtures/rsa3.pem"),
];

impl TestKey {
    /// RSA key from fixture `index` (0..=2).
    pub fn rsa(index: usize, kid: &str, alg: Algorithm) -> Self {
        let der = pem_to_der(RSA_FIXTURES[index]);
        let pair = RsaKeyPair::from_der(&der).unwrap();
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        Self {
            kid: kid.into(),
            alg,
            encoding: EncodingKey::from_rsa_der(&der),
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": alg_name(alg), "n": b64(&public.n), "e": b64(&public.e)}),
            public_bytes: pair.public_key().as_ref().to_vec(),
        }
    }

    pub fn ec(kid: &str, alg: Algorithm) -> Self {
        let (signing, crv, len) = match alg {
            Algorithm::ES256 => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            Algorithm::ES384 => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            _ => panic!("not an EC alg"),
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = point[1..].split_at(len);
        Self {
            kid: kid.into(),
            alg,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "kid": kid, "crv": crv, "x": b64(x), "y": b64(y)}),
            public_bytes: point.clone(),
        }
    }

    pub fn ed25519(kid: &str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = pair.public_key().as_ref().to_vec();
        Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(&x), "alg": "EdDSA"}),
            public_bytes: x,
        }
    }

    /// The same key material under another kid (e.g. an attacker's key claiming a known kid).
    pub fn with_kid(&self, kid: &str) -> Self {
        let mut key = self.clone();
        key.kid = kid.into();
        key.jwk["kid"] = json!(kid);
        key
    }

    /// Signs `claims` with a header of `alg`, `kid` and `extra` members.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            json!({"alg": alg_name(self.alg), "kid": self.kid, "typ": "at+jwt"}),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let alg = header["alg"]
            .as_str()
            .and_then(parse_alg)
            .unwrap_or(self.alg);
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, alg).unwrap();
        format!("{message}.{signature}")
    }
}

pub fn parse_alg(name: &str) -> Option<Algorithm> {
    use Algorithm::*;
    [
        RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512,
    ]
    .into_iter()
    .find(|a| alg_name(*a) == name)
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    use Algorithm::*;
    match alg {
        RS256 => "RS256",
        RS384 => "RS384",
        RS512 => "RS512",
        PS256 => "PS256",
        PS384 => "PS384",
        PS512 => "PS512",
        ES256 => "ES256",
        ES384 => "ES384",
        EdDSA => "EdDSA",
        HS256 => "HS256",
        HS384 => "HS384",
        HS512 => "HS512",
        _ => "unknown",
    }
}

static JTI: AtomicU64 = AtomicU64::new(1);

/// Valid claims for `issuer`, audience `api`, 10 minutes left, a fresh `jti`.
pub fn claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": "api",
        "sub": "alice",
        "exp": now + 600,
        "iat": now,
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "sid": "session-1",
        "scope": "read write",
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Fail,
    Garbage,
    Stall,
    Huge,
}

pub struct IdpState {
    pub keys: Vec<Value>,
    pub mode: Mode,
    pub cache_control: Option<String>,
    pub discovery_issuer: Option<String>,
}

/// A local IdP serving discovery and JWKS.
#[derive(Clone)]
pub struct Idp {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<IdpState>>,
    pub jwks_hits: Arc<AtomicUsize>,
    pub discovery_hits: Arc<AtomicUsize>,
    pub attacker_hits: Arc<AtomicUsize>,
}

impl Idp {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let idp = Self {
            addr,
            state: Arc::new(Mutex::new(IdpState {
                keys: keys.iter().map(|k| k.jwk.clone()).collect(),
                mode: Mode::Ok,
                cache_control: Some("max-age=300".into()),
                discovery_issuer: None,
            })),
            jwks_hits: Arc::default(),
            discovery_hits: Arc::default(),
            attacker_hits: Arc::default(),
        };
        let server = idp.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        idp
    }

    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn jwks_uri(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.state.lock().unwrap().keys = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        self.state.lock().unwrap().cache_control = value.map(str::to_owned);
    }

    pub fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let (mode, keys, cache_control, discovery_issuer) = {
            let s = self.state.lock().unwrap();
            (
                s.mode,
                s.keys.clone(),
                s.cache_control.clone(),
                s.discovery_issuer.clone(),
            )
        };
        let counter = match path.as_str() {
            "/.well-known/openid-configuration" => &self.discovery_hits,
            "/jwks" => &self.jwks_hits,
            p if p.starts_with("/attacker") => {
                self.attacker_hits.fetch_add(1, Ordering::SeqCst);
                return Response::new(Full::new(Bytes::from_static(b"{\"keys\":[]}")));
            }
            _ => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NOT_FOUND;
                return r;
            }
        };
        counter.fetch_add(1, Ordering::SeqCst);
        let body = match mode {
            Mode::Fail => {
                let mut r = Response::new(Full::new(Bytes::from_static(b"down")));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                return r;
            }
            Mode::Stall => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                String::new()
            }
            Mode::Garbage => "<html>not json</html>".to_owned(),
            Mode::Huge => json!({"keys": keys, "padding": "x".repeat(64 * 1024)}).to_string(),
            Mode::Ok if path == "/jwks" => json!({"keys": keys}).to_string(),
            Mode::Ok => json!({
                "issuer": discovery_issuer.unwrap_or_else(|| self.issuer()),
                "jwks_uri": self.jwks_uri(),
            })
            .to_string(),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        if let Some(cc) = cache_control {
            response
                .headers_mut()
                .insert("cache-control", cc.parse().unwrap());
        }
        response
    }

    /// A cache builder for this IdP (discovery), plain HTTP to loopback allowed, a short
    /// client timeout, short cool-down and backoff so tests stay fast.
    pub fn cache_builder(&self) -> JwksCacheBuilder {
        JwksCache::builder()
            .add_issuer(self.issuer())
            .insecure_allow_http_loopback()
            .with_http_client(
                DefaultHttpClient::builder()
                    .insecure_allow_http_loopback()
                    .with_timeout(Duration::from_millis(500))
                    .with_max_response_bytes(32 * 1024)
                    .build(),
            )
            .with_unknown_kid_cooldown(Duration::from_millis(300))
            .with_retry_backoff(Duration::from_millis(100), Duration::from_millis(400))
    }
}
