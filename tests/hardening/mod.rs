//! Shared support of the hardening tests (`tests/attacks.rs`, `tests/faults.rs`): an ES256
//! test issuer whose every header and claim byte the test chooses, a hyper client that checks
//! every response it receives, and raw-socket requests for bytes no client library sends.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 key with a chosen `kid`, for an issuer URL.
pub struct Issuer {
    pub url: String,
    pub kid: String,
    key: EcdsaKeyPair,
}

impl Issuer {
    pub fn new(url: impl Into<String>, kid: impl Into<String>) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        Self {
            url: url.into(),
            kid: kid.into(),
            key,
        }
    }

    /// The SEC1 uncompressed public point.
    pub fn public_point(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    pub fn jwk(&self) -> Value {
        let (x, y) = self.public_point()[1..].split_at(32);
        json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
               "x": b64(x), "y": b64(y)})
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    pub fn discovery(&self) -> Value {
        json!({"issuer": self.url, "jwks_uri": format!("{}/.well-known/jwks.json", self.url)})
    }

    /// Signs the exact header and payload bytes.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = self
            .key
            .sign(&SystemRandom::new(), message.as_bytes())
            .unwrap();
        format!("{message}.{}", b64(sig.as_ref()))
    }

    /// Signs `claims` under the usual header (`ES256`, this `kid`, `at+jwt`).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "ES256", "kid": self.kid, "typ": "at+jwt"}),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Claims of a good access token for `sub` and `aud`, valid for ten minutes.
    pub fn claims(&self, sub: &str, aud: &str) -> Value {
        let now = now();
        json!({"iss": self.url, "sub": sub, "aud": aud, "iat": now, "nbf": now,
               "exp": now + 600, "scope": "read", "jti": format!("{sub}-{now}-{}", rand_u64())})
    }

    pub fn token(&self, sub: &str, aud: &str) -> String {
        self.sign(&self.claims(sub, aud))
    }
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

/// What a response may be, beyond "not a 5xx": the statuses a test allows.
pub type Checked = Response<Bytes>;

/// A hyper client that checks every response: never a 5xx other than an explicit 503 when the
/// test says so, and `Cache-Control: no-store` on every one (every response of the stack is
/// sensitive by default).
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    pub addr: SocketAddr,
    pub allow_503: bool,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
            allow_503: false,
        }
    }

    pub fn req(&self, method: http::Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
    }

    pub async fn send(&self, req: http::request::Builder) -> Checked {
        self.try_send(req)
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// Sends; a transport error (the server closed the connection on an oversized request)
    /// is returned, not a panic. A response is checked.
    pub async fn try_send(&self, req: http::request::Builder) -> Result<Checked, String> {
        let req = req.body(Full::new(Bytes::new())).unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("the server answers within 10 s (no hang)")
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = res.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(10), body.collect())
            .await
            .expect("the body arrives within 10 s")
            .map_err(|e| format!("{e:?}"))?
            .to_bytes();
        let res = Response::from_parts(parts, body);
        check(&res, self.allow_503);
        Ok(res)
    }

    pub async fn get(&self, path: &str) -> Checked {
        self.send(self.req(http::Method::GET, path)).await
    }

    pub async fn bearer(&self, path: &str, token: &str) -> Checked {
        self.send(
            self.req(http::Method::GET, path)
                .header(http::header::AUTHORIZATION, format!("Bearer {token}")),
        )
        .await
    }
}

/// The checks every response gets.
pub fn check(res: &Response<Bytes>, allow_503: bool) {
    let status = res.status();
    assert!(
        !status.is_server_error() || (allow_503 && status == StatusCode::SERVICE_UNAVAILABLE),
        "a 5xx: {status} {:?} {:?}",
        res.headers(),
        res.body()
    );
    // hyper's own 431/400 for unparseable requests never reach the stack (nothing sensitive).
    if status != StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE && status != StatusCode::BAD_REQUEST
        || res.headers().contains_key(CACHE_CONTROL)
    {
        let cc = res
            .headers()
            .get(CACHE_CONTROL)
            .unwrap_or_else(|| panic!("no Cache-Control on a {status}: {:?}", res.headers()));
        assert_eq!(cc, "no-store", "{status}");
    }
    // Every Set-Cookie keeps the attributes that matter.
    for c in res.headers().get_all(SET_COOKIE) {
        let c = c.to_str().unwrap();
        let removal = c.contains("Max-Age=0");
        assert!(
            c.contains("HttpOnly") && (removal || c.contains("SameSite=")),
            "{c}"
        );
    }
}

/// Sends raw bytes (a request no client library would build) and returns the status line's
/// code, or `None` when the server closed the connection without answering.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything: a write error is fine.
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within 10 s"
    );
    let head = String::from_utf8_lossy(&buf);
    let code = head.split(' ').nth(1)?.parse().ok()?;
    assert!(code < 500, "a 5xx to a raw request: {head}");
    Some(code)
}

/// The `name=value` of the cookie `name` set by `res`.
pub fn set_cookie_pair(res: &Response<Bytes>, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The process's resident set size in KiB (Linux `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Sends raw bytes with `Connection: close` in them and reads the whole answer (status line,
/// headers and body) until the server closes, within 10 s.
pub async fn raw_response(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the server answers and closes within 10 s");
    String::from_utf8_lossy(&buf).into_owned()
}
