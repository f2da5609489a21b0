//! The attack suite: the composed stack (`Portcullis::builder()`) served on 127.0.0.1 with
//! two local issuers (discovery + JWKS from the same server), attacked through a real hyper
//! client and raw sockets. Every response the suite receives is checked: never a 5xx, and
//! `Cache-Control: no-store` on each (see `hardening::check`).
//!
//! RFC 8725 attacks, ECDSA r = s = 0, `kid` injection, `jku`/`x5u`/`jwk` key injection,
//! another issuer's key under the same `kid`, nested JWTs, duplicate JSON members, odd
//! NumericDates, huge headers and cookies, cookie separators and control characters, cookie
//! attribute injection through values the app sets, session fixation, stolen session cookies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod gateway;
#[allow(dead_code)]
#[path = "../../examples/gateway.rs"]
mod gateway_example;
#[path = "../hardening/mod.rs"]
mod hardening;
mod tokens;
mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hardening::{Http, Issuer, b64, now, raw, raw_response, set_cookie_pair};
use http::Method;
use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE, USER_AGENT, VARY, WWW_AUTHENTICATE};
use portcullis::cookie::{Cookie, Cookies};
use portcullis::core::client::ClientIpResolver;
use portcullis::policy::PolicyLayer;
use portcullis::session::{Session, Timestamp, TokenSet};
use portcullis::{Portcullis, PortcullisBuilder};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const AUD: &str = "api";
const COOKIE_NAME: &str = portcullis::INSECURE_HTTP_COOKIE_NAME;
const UA: &str = "attack-suite-browser/1.0";

#[derive(Clone)]
struct App {
    a: Arc<Issuer>,
    b: Arc<Issuer>,
    /// Requests to the attacker's JWKS (must stay 0: `jku`/`x5u` are never followed).
    evil_hits: Arc<AtomicUsize>,
    /// Requests to issuer A's JWKS.
    jwks_hits: Arc<AtomicUsize>,
}

struct Server {
    addr: SocketAddr,
    app: App,
    http: Http,
}

/// Starts the stack. `trust_local_proxy`: the peer 127.0.0.1 is a trusted proxy whose
/// `X-Forwarded-For` gives the client IP (the stolen-cookie tests play both proxy and client).
async fn start(trust_local_proxy: bool) -> Server {
    start_with(trust_local_proxy, |builder| builder).await
}

/// [`start`], with more of the builder's options.
async fn start_with(
    trust_local_proxy: bool,
    configure: impl FnOnce(PortcullisBuilder) -> PortcullisBuilder,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Two trusted issuers whose keys share a kid.
    let app = App {
        a: Arc::new(Issuer::new(format!("http://{addr}/a"), "shared")),
        b: Arc::new(Issuer::new(format!("http://{addr}/b"), "shared")),
        evil_hits: Arc::default(),
        jwks_hits: Arc::default(),
    };
    let mut builder = Portcullis::builder()
        .issuer(&app.a.url)
        .issuer(&app.b.url)
        .audience(AUD)
        .allow_anonymous()
        .insecure_allow_http();
    if trust_local_proxy {
        builder = builder.client_ip(
            ClientIpResolver::new()
                .with_trusted_proxies(["127.0.0.1"])
                .unwrap(),
        );
    }
    let portcullis = configure(builder).build().unwrap();
    let rejection = portcullis.rejection_response();
    let protected = Router::new().route("/me", get(me)).route_layer(
        PolicyLayer::require(
            "authenticated",
            |_: &portcullis::jwt::StandardClaims, _: &http::Extensions| true,
        )
        .with_rejection(rejection),
    );
    let router = Router::new()
        .route("/public", get(|| async { "public" }))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/set-cookie", get(set_cookie))
        .route("/{issuer}/.well-known/openid-configuration", get(discovery))
        .route("/{issuer}/.well-known/jwks.json", get(jwks))
        .route("/evil/jwks.json", get(evil))
        .merge(protected)
        .layer(portcullis.clone())
        .with_state(app.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    assert!(
        portcullis.validator().jwks().refresh_now().await,
        "both issuers' keys load"
    );
    Server {
        addr,
        app,
        http: Http::new(addr),
    }
}

fn issuer<'a>(app: &'a App, name: &str) -> Option<&'a Issuer> {
    match name {
        "a" => Some(&app.a),
        "b" => Some(&app.b),
        _ => None,
    }
}

async fn discovery(
    State(app): State<App>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match issuer(&app, &name) {
        Some(i) => Json(i.discovery()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn jwks(
    State(app): State<App>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if name == "a" {
        app.jwks_hits.fetch_add(1, Ordering::SeqCst);
    }
    match issuer(&app, &name) {
        Some(i) => Json(i.jwks()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn evil(State(app): State<App>) -> Json<Value> {
    app.evil_hits.fetch_add(1, Ordering::SeqCst);
    Json(json!({"keys": []}))
}

/// Test login: a session for `sub` holding an access token from issuer A.
async fn login(
    State(app): State<App>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let sub = q.get("sub").cloned().unwrap_or_else(|| "alice".to_owned());
    let tokens = TokenSet::new(app.a.token(&sub, AUD))
        .with_expires_in(Timestamp::now(), std::time::Duration::from_secs(600));
    match session.login(&sub, tokens).await {
        Ok(()) => (StatusCode::OK, "logged in").into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn logout(Extension(session): Extension<Session>) -> StatusCode {
    match session.logout().await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn me(Extension(claims): Extension<portcullis::jwt::StandardClaims>) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

/// The app stores an attacker-chosen value in a cookie: refused when it could inject.
async fn set_cookie(
    Extension(cookies): Extension<Cookies>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let value = q.get("v").cloned().unwrap_or_default();
    match cookies.add(Cookie::new("pref", value)) {
        Ok(()) => (StatusCode::OK, "set").into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "refused").into_response(),
    }
}

/// Asserts a 401 with an RFC 6750 `invalid_token` challenge.
fn assert_invalid_token(res: &http::Response<bytes::Bytes>, what: &str) {
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "{what}: {:?}",
        res.body()
    );
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{what}: {challenge}"
    );
}

async fn refused(s: &Server, token: &str, what: &str) {
    let res = s.http.bearer("/me", token).await;
    assert_invalid_token(&res, what);
}

fn header_and_payload(token: &str) -> (String, String) {
    let mut it = token.split('.');
    (it.next().unwrap().to_owned(), it.next().unwrap().to_owned())
}
