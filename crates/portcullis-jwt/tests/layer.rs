//! JwtLayer end to end: token sources, rejections, readiness, caching, revocation, axum.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{Idp, Mode, TestKey, claims};
use http::{Request, Response, StatusCode};
use jsonwebtoken::Algorithm;
use portcullis_core::{AccessToken, Rejection, RejectionKind, TokenSource};
use portcullis_jwt::policy::PolicyLayer;
use portcullis_jwt::{Claims, JwtLayer, StandardClaims, Validator};
use serde::Deserialize;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Debug, Deserialize)]
struct MyClaims {
    sub: String,
    scope: String,
}

async fn setup() -> (Idp, TestKey, Validator) {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    let cache = idp.cache_builder().build().unwrap();
    assert!(cache.refresh_now().await);
    let v = Validator::builder(cache)
        .with_audience("api")
        .build()
        .unwrap();
    (idp, key, v)
}

fn echo()
-> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(|req: Request<String>| async move {
        let claims = req.extensions().get::<Claims<MyClaims>>().cloned();
        let standard = req.extensions().get::<StandardClaims>().cloned();
        let body = match (claims, standard) {
            (Some(c), Some(s)) => format!("{}|{}|{}", c.sub, c.scope, s.jwt_id().unwrap_or("")),
            _ => "anonymous".to_owned(),
        };
        Ok::<_, Infallible>(Response::new(body))
    })
}

/// The status a `JwtLayer` on `v` answers for a request bearing `token`.
async fn status_of(v: &Validator, token: String) -> StatusCode {
    ServiceBuilder::new()
        .layer(JwtLayer::new(v.clone()))
        .service(echo())
        .oneshot(bearer(&token))
        .await
        .unwrap()
        .status()
}

fn bearer(token: &str) -> Request<String> {
    Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .unwrap()
}

#[tokio::test]
async fn valid_token_gets_typed_claims_cold_and_warm() {
    let (idp, key, v) = setup().await;
    let svc = ServiceBuilder::new()
        .layer(JwtLayer::new(v.clone()).with_claims::<MyClaims>())
        .service(echo());
    let token = key.sign(&claims(&idp.issuer()));
    for _ in 0..3 {
        let response = svc.clone().oneshot(bearer(&token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.body().starts_with("alice|read write|jti-"),
            "{}",
            response.body()
        );
    }
    assert_eq!(v.cached_tokens(), 1);
}

#[tokio::test]
async fn access_token_extension_takes_precedence() {
    let (idp, key, v) = setup().await;
    let svc = ServiceBuilder::new()
        .layer(JwtLayer::new(v).with_claims::<MyClaims>())
        .service(echo());
    let token = key.sign(&claims(&idp.issuer()));
    let mut req = bearer("garbage.garbage.garbage");
    req.extensions_mut()
        .insert(AccessToken::new(token.as_str(), TokenSource::Session));
    assert_eq!(
        svc.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    let mut req = Request::new(String::new());
    req.extensions_mut()
        .insert(AccessToken::new(token.as_str(), TokenSource::Session));
    assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn rejections_follow_rfc_6750_and_never_echo_the_token() {
    let (idp, key, v) = setup().await;
    let svc = ServiceBuilder::new()
        .layer(JwtLayer::new(v))
        .service(echo());

    let missing = svc
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        missing.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::MissingCredentials
    );

    let forged = TestKey::ec("k1", Algorithm::ES256).sign(&claims(&idp.issuer()));
    let bad = svc.clone().oneshot(bearer(&forged)).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let challenge = bad.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description="),
        "{challenge}"
    );
    let sig = forged.rsplit('.').next().unwrap();
    assert!(!challenge.contains(sig) && !challenge.contains(&forged[..20]));

    let mut c = claims(&idp.issuer());
    c["exp"] = serde_json::json!(common::now() - 3600);
    let expired = svc.clone().oneshot(bearer(&key.sign(&c))).await.unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.extensions().get::<Rejection>().unwrap().kind(),
        RejectionKind::TokenExpired
    );

    let malformed = svc.clone().oneshot(bearer("a b")).await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let mut grpc = bearer(&forged);
    grpc.headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    let grpc = svc.clone().oneshot(grpc).await.unwrap();
    assert_eq!(grpc.status(), StatusCode::OK);
    assert_eq!(grpc.headers()["grpc-status"], "16");
    assert!(
        !grpc.headers()["grpc-message"]
            .to_str()
            .unwrap()
            .contains(sig)
    );
}

#[tokio::test]
async fn unavailable_keys_give_503_with_retry_after() {
    let key = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(&[&key]).await;
    idp.set_mode(Mode::Fail);
    let v = Validator::builder(idp.cache_builder().build().unwrap())
        .with_audience("api")
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(JwtLayer::new(v))
        .service(echo());
    let response = svc
        .clone()
        .oneshot(bearer(&key.sign(&claims(&idp.issuer()))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    idp.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let response = svc
        .oneshot(bearer(&key.sign(&claims(&idp.issuer()))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn anonymous_allowed_only_when_asked_and_policies_still_apply() {
    let (idp, key, v) = setup().await;
    let open = ServiceBuilder::new()
        .layer(
            JwtLayer::new(v.clone())
                .with_claims::<MyClaims>()
                .allow_anonymous(),
        )
        .service(echo());
    let response = open
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.body(), "anonymous");
    // A present but invalid token is still refused.
    let response = open.oneshot(bearer("x.y.z")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let admin = ServiceBuilder::new()
        .layer(JwtLayer::new(v).allow_anonymous())
        .layer(PolicyLayer::require_scope("admin"))
        .service(echo());
    assert_eq!(
        admin
            .clone()
            .oneshot(Request::new(String::new()))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let response = admin
        .oneshot(bearer(&key.sign(&claims(&idp.issuer()))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn revocation_takes_effect_at_once_even_for_cached_tokens() {
    let (idp, key, v) = setup().await;
    let status = |token: String| status_of(&v, token);
    let mut c1 = claims(&idp.issuer());
    c1["sid"] = serde_json::json!("s-1");
    let t1 = key.sign(&c1);
    let mut c2 = claims(&idp.issuer());
    c2["sid"] = serde_json::json!("s-2");
    c2["sub"] = serde_json::json!("bob");
    let t2 = key.sign(&c2);
    let mut c3 = claims(&idp.issuer());
    c3["sid"] = serde_json::json!("s-3");
    c3["sub"] = serde_json::json!("carol");
    let t3 = key.sign(&c3);
    for t in [&t1, &t2, &t3] {
        assert_eq!(status(t.clone()).await, StatusCode::OK);
    }
    v.revoke_jti(c1["jti"].as_str().unwrap());
    assert_eq!(status(t1.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(t2.clone()).await, StatusCode::OK);
    v.revoke_sid("s-2");
    assert_eq!(status(t2.clone()).await, StatusCode::UNAUTHORIZED);
    v.revoke_subject("carol");
    assert_eq!(status(t3.clone()).await, StatusCode::UNAUTHORIZED);
    // Revoked tokens stay refused on the cold path too.
    v.clear_cache();
    for t in [t1, t2, t3] {
        assert_eq!(status(t).await, StatusCode::UNAUTHORIZED);
    }
    // A token of carol issued later is fine.
    let mut later = claims(&idp.issuer());
    later["sub"] = serde_json::json!("carol");
    later["iat"] = serde_json::json!(common::now() + 2);
    assert_eq!(status(key.sign(&later)).await, StatusCode::OK);
}

/// A revocation learnt late (replayed from a log) revokes what was issued up to its own time,
/// not up to now; and an older replayed revocation never weakens a newer one already known.
#[tokio::test]
async fn a_late_revocation_keeps_its_own_time() {
    let (idp, key, v) = setup().await;
    let status = |token: String| status_of(&v, token);
    let now = common::now();
    let issued = |sub: &str, sid: &str, iat: u64| {
        let mut c = claims(&idp.issuer());
        c["sub"] = serde_json::json!(sub);
        c["sid"] = serde_json::json!(sid);
        c["iat"] = serde_json::json!(iat);
        key.sign(&c)
    };
    let at = |secs: u64| std::time::UNIX_EPOCH + Duration::from_secs(secs);
    // dave was logged out everywhere 100 s ago, then logged in again 50 s ago.
    let before = issued("dave", "d-1", now - 200);
    let after = issued("dave", "d-2", now - 50);
    for t in [&before, &after] {
        assert_eq!(status(t.clone()).await, StatusCode::OK);
    }
    v.revoke_subject_issued_until("dave", at(now - 100));
    assert_eq!(status(before).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(after.clone()).await,
        StatusCode::OK,
        "issued after the revocation"
    );
    // A newer revocation is known; an older one replayed afterwards does not undo it.
    v.revoke_subject("dave");
    v.revoke_subject_issued_until("dave", at(now - 100));
    assert_eq!(status(after).await, StatusCode::UNAUTHORIZED);
    // The same for an IdP session (sid).
    let early = issued("erin", "e-1", now - 200);
    let late = issued("erin", "e-1", now - 10);
    v.revoke_sid_issued_until("e-1", at(now - 100));
    assert_eq!(status(early).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(late).await, StatusCode::OK);
}

/// Fails if `call` is invoked on an instance that was not readied.
#[derive(Clone)]
struct MustBeReady {
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl Service<Request<String>> for MustBeReady {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<String>) -> Self::Future {
        assert!(self.ready, "called a service that was not readied");
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(Response::new(String::new())))
    }
}

#[tokio::test]
async fn the_readied_service_is_the_one_called() {
    let (idp, key, v) = setup().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = JwtLayer::new(v).layer_service(MustBeReady {
        ready: false,
        calls: calls.clone(),
    });
    for _ in 0..3 {
        let token = key.sign(&claims(&idp.issuer()));
        // cold (validation in the future), then warm (cached)
        for _ in 0..2 {
            let response = svc
                .ready()
                .await
                .unwrap()
                .call(bearer(&token))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

trait LayerExt<S> {
    type Service;
    fn layer_service(self, s: S) -> Self::Service;
}
impl<S, L: tower::Layer<S>> LayerExt<S> for L {
    type Service = L::Service;
    fn layer_service(self, s: S) -> L::Service {
        self.layer(s)
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_extractors() {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;

    let (idp, key, v) = setup().await;
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims<MyClaims>| async move { c.sub.clone() }),
        )
        .route(
            "/maybe",
            get(|c: Option<Claims<MyClaims>>| async move {
                c.map_or("nobody".to_owned(), |c| c.sub.clone())
            }),
        )
        .route(
            "/std",
            get(|c: StandardClaims| async move { c.subject().unwrap_or("").to_owned() }),
        )
        .layer(JwtLayer::new(v).with_claims::<MyClaims>().allow_anonymous());
    let token = key.sign(&claims(&idp.issuer()));
    let get_body = |uri: &str, auth: bool| {
        let app = app.clone();
        let mut req = Request::get(uri);
        if auth {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = req.body(Body::empty()).unwrap();
        async move {
            let response = app.oneshot(req).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    assert_eq!(
        get_body("/me", true).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(
        get_body("/std", true).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(
        get_body("/maybe", true).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(
        get_body("/maybe", false).await,
        (StatusCode::OK, "nobody".into())
    );
    // No claims (layer let an anonymous request through): the required extractor is a 500.
    assert_eq!(
        get_body("/me", false).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn several_claim_types_share_one_cached_validation() {
    #[derive(Debug, Deserialize)]
    struct NeedsTenant {
        #[allow(dead_code)]
        tenant: String,
    }
    let (idp, key, v) = setup().await;
    let token = key.sign(&claims(&idp.issuer()));
    let first = v.validate_as::<MyClaims>(&token).await.unwrap();
    assert_eq!(first.sub, "alice");
    let second = v.validate_as::<serde_json::Value>(&token).await.unwrap();
    assert_eq!(second["scope"], "read write");
    let again = v.validate_as::<MyClaims>(&token).await.unwrap();
    assert!(
        Arc::ptr_eq(first.as_arc(), again.as_arc()),
        "first type is kept with the entry"
    );
    let err = v.validate_as::<NeedsTenant>(&token).await.unwrap_err();
    assert_eq!(err.kind(), portcullis_jwt::JwtErrorKind::InvalidClaim);
    assert_eq!(v.cached_tokens(), 1);
}
