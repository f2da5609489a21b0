//! Two app instances sharing one real `redis-server` (spawned on 127.0.0.1): a session made on
//! one works on the other, a logout on one is refused on the other, and "log out everywhere"
//! reaches the other instance's validated-token cache through Redis pub/sub.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[path = "../crates/portcullis-redis/tests/common/mod.rs"]
mod redis_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Extension, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis::Portcullis;
use portcullis::dev::DevIssuer;
use portcullis::jwt::StandardClaims;
use portcullis::session::{Session, Timestamp, TokenSet};
use portcullis_redis::RedisStore;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const AUDIENCE: &str = "instances";

async fn start_issuer() -> Arc<DevIssuer> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = Arc::new(
        DevIssuer::generate(format!("http://{}", listener.local_addr().unwrap())).unwrap(),
    );
    let (d, j) = (issuer.clone(), issuer.clone());
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(d.discovery_document()) }),
        )
        .route(
            "/.well-known/jwks.json",
            get(move || async move { Json(j.jwks()) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

/// One app instance on its own port, with the Redis store and Redis revocations.
async fn start_instance(issuer: Arc<DevIssuer>, redis_url: &str) -> SocketAddr {
    let store = RedisStore::builder(redis_url).build().unwrap();
    let revocation = Arc::new(store.revocation());
    let portcullis = Portcullis::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .store(Arc::new(store))
        .revocation(revocation)
        .allow_anonymous()
        .insecure_allow_http()
        .build()
        .unwrap();
    let app =
        Router::new()
            .route(
                "/login",
                post(
                    |State(issuer): State<Arc<DevIssuer>>,
                     Extension(session): Extension<Session>| async move {
                        let ttl = Duration::from_secs(600);
                        let token = issuer.access_token("alice", AUDIENCE, "read", ttl).unwrap();
                        session
                            .login(
                                "alice",
                                TokenSet::new(token).with_expires_in(Timestamp::now(), ttl),
                            )
                            .await
                            .unwrap();
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .route(
                "/me",
                get(|claims: Option<Extension<StandardClaims>>| async move {
                    match claims {
                        Some(Extension(c)) => (StatusCode::OK, Json(json!({ "sub": c.subject() }))),
                        None => (StatusCode::UNAUTHORIZED, Json(json!({}))),
                    }
                }),
            )
            .route(
                "/logout",
                post(|Extension(session): Extension<Session>| async move {
                    session.logout().await.unwrap();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/logout-everywhere",
                post(|Extension(session): Extension<Session>| async move {
                    let subject = session.subject().unwrap();
                    let n = session.logout_everywhere(&subject).await.unwrap();
                    Json(json!({ "ended": n }))
                }),
            )
            .layer(portcullis)
            .with_state(issuer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    bearer: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header(USER_AGENT, "instances-test");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    if let Some(t) = bearer {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(req.body(Full::default()).unwrap()),
    )
    .await
    .expect("answer within 10 s")
    .unwrap();
    let status = res.status();
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portcullis-session=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        cookie,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// Polls `f` until it returns `want` or 5 s pass.
async fn eventually<F, Fut>(want: StatusCode, mut f: F) -> StatusCode
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StatusCode>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = f().await;
        if got == want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_and_revocations_through_redis() {
    let redis = redis_server::RedisServer::start();
    let issuer = start_issuer().await;
    let a = start_instance(issuer.clone(), &redis.url()).await;
    let b = start_instance(issuer.clone(), &redis.url()).await;

    // A session created on A works on B.
    let (status, cookie, _) = call(a, Method::POST, "/login", None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let c1 = cookie.expect("a session cookie");
    let (status, _, me) = call(b, Method::GET, "/me", Some(&c1), None).await;
    assert_eq!(
        (status, me["sub"].as_str()),
        (StatusCode::OK, Some("alice"))
    );

    // Logged out on A: refused on B.
    assert_eq!(
        call(a, Method::POST, "/logout", Some(&c1), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(b, Method::GET, "/me", Some(&c1), None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Two sessions of alice (one per instance) and a bearer token, validated and cached on A.
    let c2 = call(a, Method::POST, "/login", None, None).await.1.unwrap();
    let c3 = call(b, Method::POST, "/login", None, None).await.1.unwrap();
    let bearer = issuer
        .access_token("alice", AUDIENCE, "read", Duration::from_secs(600))
        .unwrap();
    assert_eq!(
        call(a, Method::GET, "/me", None, Some(&bearer)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(a, Method::GET, "/me", Some(&c2), None).await.0,
        StatusCode::OK
    );

    // Log out everywhere on B: A's session is gone and A's cached bearer token is revoked.
    let (status, _, ended) = call(b, Method::POST, "/logout-everywhere", Some(&c3), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended["ended"], 2, "{ended}");
    assert_eq!(
        call(a, Method::GET, "/me", Some(&c2), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let status = eventually(StatusCode::UNAUTHORIZED, || async {
        call(a, Method::GET, "/me", None, Some(&bearer)).await.0
    })
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the revocation reached instance A"
    );
    // A token issued after the revocation still works (revocation covers tokens issued at or before it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = issuer
        .access_token("alice", AUDIENCE, "read", Duration::from_secs(600))
        .unwrap();
    assert_eq!(
        call(a, Method::GET, "/me", None, Some(&fresh)).await.0,
        StatusCode::OK
    );
}
