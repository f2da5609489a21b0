#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use portcullis_cookie::CookieLayer;
use portcullis_core::{
    AccessToken, BindingPolicy, ClientIp, ClientIpResolver, IpMatch, MismatchAction, PeerAddr,
    Rejection, RejectionKind, UserAgentMatch,
};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::BindingLayer;
use crate::store::{MemoryStore, SessionStore};
use crate::{Session, SessionConfig, SessionId, TokenLookupLayer, TokenSet};

type App = BoxCloneService<Request<String>, Response<String>, Infallible>;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0";

struct Harness {
    app: App,
    store: Arc<MemoryStore>,
}

fn harness(layer: BindingLayer) -> Harness {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionConfig::new(store.clone()).build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(CookieLayer::new())
        .layer(TokenLookupLayer::new(manager))
        .layer(layer)
        .service(service_fn(handler));
    Harness {
        app: BoxCloneService::new(svc),
        store,
    }
}

/// `/login?sub` logs in; anything else echoes `subject|access token|client ip`.
async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().unwrap().clone();
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(ToString::to_string)
        .unwrap_or_default();
    if req.uri().path() == "/login" {
        let sub = req.uri().query().unwrap_or("user");
        session
            .login(sub, TokenSet::new("access-1".to_owned()))
            .await
            .unwrap();
        return Ok(Response::new(format!("logged in|{ip}")));
    }
    let token = req
        .extensions()
        .get::<AccessToken>()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    Ok(Response::new(format!(
        "{}|{token}|{ip}",
        session.subject().unwrap_or_default()
    )))
}

fn request(path: &str, peer: &str, ua: Option<&str>, cookie: Option<&str>) -> Request<String> {
    let mut req = Request::get(path).body(String::new()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(PeerAddr(peer));
    if let Some(ua) = ua {
        req.headers_mut()
            .insert(header::USER_AGENT, ua.parse().unwrap());
    }
    if let Some(cookie) = cookie {
        req.headers_mut()
            .insert(header::COOKIE, cookie.parse().unwrap());
    }
    req
}

async fn send(h: &Harness, req: Request<String>) -> Response<String> {
    h.app.clone().oneshot(req).await.unwrap()
}

/// Logs in from `peer` with `ua` and returns the session cookie `name=value`.
async fn login(h: &Harness, peer: &str, ua: &str) -> String {
    let res = send(h, request("/login?alice", peer, Some(ua), None)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.body());
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("__Host-session=") && !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("login sets the session cookie")
}

fn clears_cookie(res: &Response<String>) -> bool {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .any(|v| v.starts_with("__Host-session=") && v.contains("Max-Age=0"))
}

async fn stored(h: &Harness, cookie: &str) -> bool {
    let id = SessionId::parse(cookie.split_once('=').unwrap().1).unwrap();
    h.store.load(&id.hash()).await.unwrap().is_some()
}

fn rejection(res: &Response<String>) -> Option<RejectionKind> {
    res.extensions().get::<Rejection>().map(Rejection::kind)
}

#[tokio::test]
async fn same_client_and_same_network_are_let_in() {
    let h = harness(BindingLayer::new());
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request("/me", "198.51.100.20:6000", Some(UA), Some(&cookie)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice|access-1|198.51.100.20");
    // Another address in the same /24 (a mobile network change) is tolerated by default.
    let res = send(
        &h,
        request("/me", "198.51.100.250:1", Some(UA), Some(&cookie)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(stored(&h, &cookie).await);
}

#[tokio::test]
async fn user_agent_change_is_rejected_and_the_session_destroyed() {
    let h = harness(BindingLayer::new());
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request(
            "/me",
            "198.51.100.20:5000",
            Some("curl/8.5.0"),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));
    let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(clears_cookie(&res), "{:?}", res.headers());
    assert!(res.body().is_empty(), "the app never ran");
    assert!(!stored(&h, &cookie).await);
    // A missing User-Agent is a change too.
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request("/me", "198.51.100.20:5000", None, Some(&cookie)),
    )
    .await;
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));
}

#[tokio::test]
async fn stolen_cookie_replayed_from_another_ip_is_refused_and_the_session_is_gone() {
    let h = harness(BindingLayer::new());
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    // The attacker copies the cookie and the User-Agent, from another network.
    let res = send(
        &h,
        request("/me", "203.0.113.66:4444", Some(UA), Some(&cookie)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));
    assert!(clears_cookie(&res));
    assert!(!stored(&h, &cookie).await, "the session is destroyed");
    // A second try, and even the rightful client, find no session any more.
    for peer in ["203.0.113.66:4444", "198.51.100.20:5000"] {
        let res = send(&h, request("/me", peer, Some(UA), Some(&cookie))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{peer}");
        assert_eq!(
            rejection(&res),
            Some(RejectionKind::SessionInvalid),
            "{peer}"
        );
    }
}

#[tokio::test]
async fn report_only_lets_the_request_through() {
    let policy = BindingPolicy::new().with_mismatch_action(MismatchAction::ReportOnly);
    let h = harness(BindingLayer::new().with_policy(policy));
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request("/me", "203.0.113.66:1", Some("other"), Some(&cookie)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice|access-1|203.0.113.66");
    assert!(!clears_cookie(&res));
    assert!(stored(&h, &cookie).await);
}

#[tokio::test]
async fn exact_ip_policy_and_disabled_binding() {
    let exact = BindingPolicy::new().with_ip_match(IpMatch::Exact).unwrap();
    let h = harness(BindingLayer::new().with_policy(exact));
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request("/me", "198.51.100.21:5000", Some(UA), Some(&cookie)),
    )
    .await;
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));

    let h = harness(BindingLayer::new().with_policy(BindingPolicy::disabled()));
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request("/me", "[2001:db8::1]:1", Some("x"), Some(&cookie)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let ua_off = BindingPolicy::new().with_user_agent_match(UserAgentMatch::Off);
    let h = harness(BindingLayer::new().with_policy(ua_off));
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let res = send(
        &h,
        request("/me", "198.51.100.20:5000", Some("x"), Some(&cookie)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn bearer_requests_without_a_session_are_not_affected() {
    let h = harness(BindingLayer::new());
    let mut req = request("/api", "203.0.113.7:1", Some("client/1"), None);
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer abc.def.ghi".parse().unwrap());
    let res = send(&h, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "|abc.def.ghi|203.0.113.7");
    // From anywhere, with any User-Agent.
    let mut req = request("/api", "[2001:db8::5]:1", None, None);
    req.headers_mut()
        .insert(header::AUTHORIZATION, "Bearer abc.def.ghi".parse().unwrap());
    assert_eq!(send(&h, req).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_behind_trusted_proxies_binds_the_real_client() {
    let resolver = ClientIpResolver::new()
        .with_trusted_proxies(["10.0.0.0/8"])
        .unwrap();
    let h = harness(BindingLayer::new().with_resolver(resolver));
    let via_proxy = |xff: &str, cookie: Option<&str>| {
        let mut req = request(
            if cookie.is_some() {
                "/me"
            } else {
                "/login?alice"
            },
            "10.0.0.2:80",
            Some(UA),
            cookie,
        );
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().unwrap());
        req
    };
    let res = send(&h, via_proxy("6.6.6.6, 198.51.100.20", None)).await;
    assert_eq!(res.body(), "logged in|198.51.100.20");
    let cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The client moves within its /24: fine.
    let res = send(&h, via_proxy("198.51.100.99", Some(&cookie))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice|access-1|198.51.100.99");
    // An attacker elsewhere forges the client's address in front: the proxy appended the
    // attacker's real one, which is what counts.
    let res = send(&h, via_proxy("198.51.100.20, 203.0.113.66", Some(&cookie))).await;
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));
    // An attacker connecting directly with a forged header is judged by its peer address.
    let mut req = request("/me", "203.0.113.66:1", Some(UA), Some(&cookie));
    req.headers_mut()
        .insert("x-forwarded-for", "198.51.100.20".parse().unwrap());
    let res = send(&h, req).await;
    assert_eq!(rejection(&res), Some(RejectionKind::SessionInvalid));
}

#[tokio::test]
async fn grpc_mismatch_is_unauthenticated() {
    let h = harness(BindingLayer::new());
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let mut req = request("/pkg.Svc/Call", "203.0.113.66:1", Some(UA), Some(&cookie));
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/grpc".parse().unwrap());
    let res = send(&h, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["grpc-status"], "16");
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));
}

#[tokio::test]
async fn unknown_peer_address_cannot_use_a_session_bound_to_an_ip() {
    let h = harness(BindingLayer::new());
    let cookie = login(&h, "198.51.100.20:5000", UA).await;
    let mut req = request("/me", "198.51.100.20:5000", Some(UA), Some(&cookie));
    req.extensions_mut().remove::<PeerAddr>();
    let res = send(&h, req).await;
    assert_eq!(rejection(&res), Some(RejectionKind::BindingMismatch));
}
