//! Floods of 100k distinct invalid tokens and 100k distinct forged session IDs, sent
//! in-process (`tower::ServiceExt::oneshot`): memory stays bounded (RSS figures printed).

use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, USER_AGENT};
use http::{Request, Response};
use portcullis::jwt::http::{HttpClient, HttpFuture};
use serde_json::json;
use tower::ServiceExt;

use super::hardening::{Issuer, b64, check, rand_u64, rss_kib};
use super::*;

const FLOOD: usize = 100_000;
/// The generous bound on RSS growth over both floods.
const MAX_GROWTH_KIB: u64 = 96 * 1024;

/// Serves the issuer's JWKS from memory (no network in the flood).
struct MemoryJwks(Bytes);

impl HttpClient for MemoryJwks {
    fn execute(&self, _request: Request<Bytes>) -> HttpFuture<'_> {
        let body = self.0.clone();
        Box::pin(async move { Ok(Response::new(body)) })
    }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, f64) {
    let t = Instant::now();
    let res = app.clone().oneshot(req).await.unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let (parts, _body) = res.into_parts();
    let res = Response::from_parts(parts, Bytes::new());
    check(&res, false);
    (res.status(), ms)
}

fn request(peer: SocketAddr) -> http::request::Builder {
    Request::get("/me")
        .header(USER_AGENT, UA)
        .extension(ConnectInfo(peer))
}

/// The `i`-th invalid token: garbage, a forged signature under the real kid, an unknown
/// kid, or an expired token genuinely signed by the issuer.
fn invalid_token(i: usize, issuer: &Issuer, attacker: &Issuer) -> String {
    let salt = rand_u64();
    match i % 4 {
        0 => format!(
            "{}.{}.{}",
            b64(&salt.to_le_bytes()),
            b64(&(i as u64).to_le_bytes()),
            "AAAA"
        ),
        1 => attacker.token(&format!("mallory-{i}-{salt}"), AUD),
        2 => attacker.sign_raw(
            &json!({"alg": "ES256", "kid": format!("kid-{i}-{salt}")}).to_string(),
            &issuer.claims("mallory", AUD).to_string(),
        ),
        _ => {
            let mut c = issuer.claims(&format!("old-{i}"), AUD);
            c["exp"] = json!(1_000_000 + i);
            issuer.sign(&c)
        }
    }
}

/// Sends `FLOOD` requests made by `make(i)` from `TASKS` concurrent tasks; each must be
/// refused with a 401. Returns the per-request latencies (ms).
async fn flood<F>(app: &Router, make: F) -> Vec<f64>
where
    F: Fn(usize) -> (http::request::Builder, String) + Send + Sync + 'static,
{
    const TASKS: usize = 4;
    let make = Arc::new(make);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (app, make) = (app.clone(), make.clone());
            tokio::spawn(async move {
                let mut latency = Vec::with_capacity(FLOOD / TASKS);
                for i in (t..FLOOD).step_by(TASKS) {
                    let (req, what) = make(i);
                    let (status, ms) = call(&app, req.body(Body::empty()).unwrap()).await;
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} let in");
                    latency.push(ms);
                }
                latency
            })
        })
        .collect();
    let mut all = Vec::with_capacity(FLOOD);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

fn forged_session_id() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b64(&b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_invalid_tokens_and_forged_session_ids_leave_memory_bounded() {
    let issuer = Arc::new(Issuer::new("http://127.0.0.1:9", "k1"));
    let attacker = Issuer::new("http://127.0.0.1:9", "k1");
    let jwks = Bytes::from(issuer.jwks().to_string());
    let portcullis = Portcullis::builder()
        .issuer_with_jwks_uri(&issuer.url, "http://127.0.0.1:9/jwks")
        .audience(AUD)
        .allow_anonymous()
        .insecure_allow_http()
        .configure_jwks(move |b| b.with_http_client(MemoryJwks(jwks)))
        .build()
        .unwrap();
    assert!(portcullis.validator().jwks().refresh_now().await);
    let app = router(portcullis.clone(), issuer.clone(), false);
    let peer: SocketAddr = "203.0.113.5:40000".parse().unwrap();

    // Baseline: a real session and a real token work.
    let res = app
        .clone()
        .oneshot(
            Request::post("/login?sub=alice")
                .header(USER_AGENT, UA)
                .extension(ConnectInfo(peer))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()[http::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let session = set.split(';').next().unwrap().to_owned();
    let good = issuer.token("alice", AUD);
    let ok = |req: http::request::Builder| req.body(Body::empty()).unwrap();

    // Warm-up (allocator, caches, lazy statics), then the baseline RSS.
    for i in 0..1_000 {
        let t = invalid_token(i, &issuer, &attacker);
        call(
            &app,
            ok(request(peer).header(AUTHORIZATION, format!("Bearer {t}"))),
        )
        .await;
        call(
            &app,
            ok(request(peer).header(COOKIE, format!("{COOKIE_NAME}={}", forged_session_id()))),
        )
        .await;
    }
    let rss0 = rss_kib();
    let started = Instant::now();

    let issuer2 = issuer.clone();
    let attacker = Arc::new(attacker);
    let mut latency = flood(&app, move |i| {
        let t = invalid_token(i, &issuer2, &attacker);
        (
            request(peer).header(AUTHORIZATION, format!("Bearer {t}")),
            format!("invalid token {i} ({})", i % 4),
        )
    })
    .await;
    let rss1 = rss_kib();
    let tokens_time = started.elapsed();
    println!(
        "flood of {FLOOD} invalid tokens: {tokens_time:?}, latency {}, RSS {rss0} -> {rss1} KiB, validated-token cache {} entries",
        summary(&mut latency),
        portcullis.validator().cached_tokens()
    );

    let started = Instant::now();
    let mut latency = flood(&app, move |i| {
        let cookie = format!("{COOKIE_NAME}={}", forged_session_id());
        (
            request(peer).header(COOKIE, cookie),
            format!("forged session {i}"),
        )
    })
    .await;
    let rss2 = rss_kib();
    println!(
        "flood of {FLOOD} forged session IDs: {:?}, latency {}, RSS {rss1} -> {rss2} KiB",
        started.elapsed(),
        summary(&mut latency)
    );
    let growth = rss2.saturating_sub(rss0);
    println!("RSS growth over both floods: {growth} KiB (bound {MAX_GROWTH_KIB} KiB)");
    assert!(growth < MAX_GROWTH_KIB, "RSS grew by {growth} KiB");
    // Nothing invalid was remembered as valid; the real credentials still work.
    assert!(portcullis.validator().cached_tokens() <= 2);
    let (status, _) = call(
        &app,
        ok(request(peer).header(AUTHORIZATION, format!("Bearer {good}"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, ok(request(peer).header(COOKIE, session))).await;
    assert_eq!(status, StatusCode::OK);
}
