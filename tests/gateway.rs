//! The gateway example in front of a real upstream on 127.0.0.1: bearer validation, per-route
//! policies, the forwarded subject, and header smuggling of that subject refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

#[allow(dead_code)]
#[path = "../examples/gateway.rs"]
mod gateway;
#[path = "support/idp.rs"]
mod idp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::{any, get};
use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis::dev::DevIssuer;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// An upstream that echoes the method, path and headers it received.
async fn start_upstream() -> SocketAddr {
    async fn echo(method: Method, uri: http::Uri, headers: HeaderMap) -> Json<Value> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    json!(v.to_str().unwrap_or("<bytes>")),
                )
            })
            .collect();
        Json(json!({ "method": method.as_str(), "path": uri.path(), "headers": headers }))
    }
    let app = axum::Router::new().route("/{*rest}", any(echo));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn start_issuer() -> Arc<DevIssuer> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = Arc::new(
        DevIssuer::generate(format!("http://{}", listener.local_addr().unwrap())).unwrap(),
    );
    let (d, j) = (issuer.clone(), issuer.clone());
    let app = axum::Router::new()
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

async fn start_gateway(upstream: SocketAddr, issuer: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let args = gateway::parse_args(
        [
            "--listen",
            &addr.to_string(),
            "--upstream",
            &format!("http://{upstream}"),
            "--issuer",
            issuer,
            "--audience",
            "api://orders",
            "--policy",
            "GET /orders=scope:orders:read",
            "--policy",
            "POST /orders=scope:orders:write",
            "--policy",
            "* /admin=scope:admin",
            "--insecure-allow-http-loopback",
            "--upstream-timeout",
            "5",
        ]
        .map(str::to_owned),
    )
    .unwrap();
    tokio::spawn(async move { gateway::serve(args, listener).await.unwrap() });
    addr
}

async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(req.body(Full::default()).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (
        status,
        headers,
        res.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[test]
fn policy_flags_parse_and_reject_garbage() {
    let p = gateway::RoutePolicy::parse("GET /orders=scope:orders:read").unwrap();
    assert_eq!(
        (p.method, p.prefix.as_str(), p.scope.as_str()),
        (Some(Method::GET), "/orders", "orders:read")
    );
    assert_eq!(
        gateway::RoutePolicy::parse("* /x=scope:a").unwrap().method,
        None
    );
    for bad in [
        "GET /orders",
        "/orders=scope:x",
        "GET orders=scope:x",
        "GET /x=role:x",
        "GET /x=scope:",
    ] {
        assert!(gateway::RoutePolicy::parse(bad).is_err(), "{bad}");
    }
    let missing = gateway::parse_args(["--listen", "127.0.0.1:0"].map(str::to_owned)).unwrap_err();
    assert!(missing.contains("--upstream"), "{missing}");
    let bad_upstream = gateway::parse_args(
        [
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "ftp://x",
            "--issuer",
            "i",
            "--audience",
            "a",
        ]
        .map(str::to_owned),
    )
    .unwrap_err();
    assert!(bad_upstream.contains("--upstream"), "{bad_upstream}");
}

#[tokio::test]
async fn gateway_validates_applies_policies_and_forwards_the_subject() {
    let upstream = start_upstream().await;
    let issuer = start_issuer().await;
    let gw = start_gateway(upstream, issuer.issuer()).await;
    let ttl = Duration::from_secs(120);
    let reader = issuer
        .access_token("reader-1", "api://orders", "orders:read", ttl)
        .unwrap();
    let bearer = format!("Bearer {reader}");

    // No token: a bare RFC 6750 challenge; the upstream is never reached.
    let (status, headers, _) = call(gw, Method::GET, "/orders", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[WWW_AUTHENTICATE], "Bearer realm=\"gateway\"");

    // A token for another audience.
    let other = issuer
        .access_token("reader-1", "api://billing", "orders:read", ttl)
        .unwrap();
    let (status, headers, _) = call(
        gw,
        Method::GET,
        "/orders",
        &[("authorization", &format!("Bearer {other}"))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    // Allowed, with every smuggled spelling of the subject header stripped.
    let (status, _, body) = call(
        gw,
        Method::GET,
        "/orders/42",
        &[
            ("authorization", &bearer),
            ("x-portcullis-subject", "admin"),
            ("X_Portcullis_Subject", "admin"),
            ("connection", "x-drop-me"),
            ("x-drop-me", "1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let echo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["path"], "/orders/42");
    assert_eq!(echo["headers"][gateway::SUBJECT_HEADER], "reader-1");
    let names: Vec<&String> = echo["headers"].as_object().unwrap().keys().collect();
    assert!(!names.iter().any(|n| n.contains('_')), "{names:?}");
    assert!(
        !names.iter().any(|n| n.as_str() == "x-drop-me"),
        "{names:?}"
    );

    // Write needs orders:write.
    let (status, headers, _) =
        call(gw, Method::POST, "/orders", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"orders:write\""),
        "{challenge}"
    );
    // Any method on /admin needs admin; `/administrator` is another route (prefix boundary).
    let (status, _, _) = call(
        gw,
        Method::DELETE,
        "/admin/users",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        gw,
        Method::GET,
        "/administrator",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Routes without a policy need a valid token only.
    let (status, _, _) = call(gw, Method::GET, "/health", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK);
    let _ = AUTHORIZATION;
}

#[tokio::test]
async fn unreachable_upstream_is_a_502_not_a_hang() {
    let issuer = start_issuer().await;
    // A port with nothing listening.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start_gateway(dead, issuer.issuer()).await;
    let token = issuer
        .access_token("u", "api://orders", "", Duration::from_secs(60))
        .unwrap();
    let (status, _, _) = call(
        gw,
        Method::GET,
        "/health",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

/// The gateway in front of a real upstream with RS256 access tokens from the real OpenID
/// provider of the test suite (discovery, JWKS and tokens all from `oidc-provider`).
#[tokio::test]
async fn gateway_with_tokens_from_the_openid_provider() {
    let provider = idp::Provider::start();
    let upstream = start_upstream().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = listener.local_addr().unwrap();
    let args = gateway::parse_args(
        [
            "--listen",
            &gw.to_string(),
            "--upstream",
            &format!("http://{upstream}"),
            "--issuer",
            &provider.issuer,
            "--audience",
            idp::RESOURCE,
            "--policy",
            "GET /orders=scope:api:read",
            "--policy",
            "POST /orders=scope:api:write",
            "--insecure-allow-http-loopback",
        ]
        .map(str::to_owned),
    )
    .unwrap();
    tokio::spawn(async move { gateway::serve(args, listener).await.unwrap() });

    let read = provider.machine_token("api:read").await;
    let write = provider.machine_token("api:read%20api:write").await;

    let (status, _, body) = call(
        gw,
        Method::GET,
        "/orders",
        &[
            ("authorization", &format!("Bearer {read}")),
            ("x-portcullis-subject", "root"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let echo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        echo["headers"][gateway::SUBJECT_HEADER],
        idp::MACHINE_CLIENT.0
    );

    let (status, _, _) = call(
        gw,
        Method::POST,
        "/orders",
        &[("authorization", &format!("Bearer {read}"))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        gw,
        Method::POST,
        "/orders",
        &[("authorization", &format!("Bearer {write}"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The provider's token with one signature byte changed, and no token at all.
    let mut forged = read.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    let (status, _, _) = call(
        gw,
        Method::GET,
        "/orders",
        &[("authorization", &format!("Bearer {forged}"))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(gw, Method::GET, "/orders", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
