#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;

use http::StatusCode;
use jsonwebtoken::Algorithm;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;
use crate::claims::StandardInner;

fn claims(scopes: &[&str], roles: &[&str]) -> StandardClaims {
    StandardClaims(Arc::new(StandardInner {
        issuer: "https://idp".into(),
        subject: Some("alice".into()),
        audience: Box::new([]),
        expires_at: u64::MAX,
        not_before: None,
        issued_at: None,
        jwt_id: None,
        session_id: None,
        client_id: None,
        scopes: scopes.iter().map(|s| Box::from(*s)).collect(),
        roles: roles.iter().map(|s| Box::from(*s)).collect(),
        key_id: None,
        algorithm: Algorithm::ES256,
    }))
}

async fn run<P: ClaimsPolicy>(
    layer: PolicyLayer<P>,
    claims: Option<StandardClaims>,
    grpc: bool,
) -> Response<String> {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_r: Request<()>| async {
            Ok::<_, Infallible>(Response::new("ok".to_owned()))
        }));
    let mut req = Request::new(());
    if grpc {
        req.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
    }
    if let Some(c) = claims {
        req.extensions_mut().insert(c);
    }
    svc.oneshot(req).await.unwrap()
}

#[tokio::test]
async fn scopes() {
    let ok = run(
        PolicyLayer::require_scope("write"),
        Some(claims(&["read", "write"], &[])),
        false,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let denied = run(
        PolicyLayer::require_scope("admin"),
        Some(claims(&["read"], &[])),
        false,
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let challenge = denied.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="admin""#), "{challenge}");
    assert_eq!(
        denied
            .extensions()
            .get::<Rejection>()
            .unwrap()
            .required_scope(),
        Some("admin")
    );
    let all = run(
        PolicyLayer::require_scopes(["read", "write"]),
        Some(claims(&["read"], &[])),
        false,
    )
    .await;
    assert_eq!(all.status(), StatusCode::FORBIDDEN);
    let any = run(
        PolicyLayer::require_any_scope(["x", "read"]),
        Some(claims(&["read"], &[])),
        false,
    )
    .await;
    assert_eq!(any.status(), StatusCode::OK);
    let none = run(
        PolicyLayer::require_any_scope(["x", "y"]),
        Some(claims(&["read"], &[])),
        false,
    )
    .await;
    assert_eq!(none.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn roles_predicates_and_missing_claims() {
    assert_eq!(
        run(
            PolicyLayer::require_role("admin"),
            Some(claims(&[], &["admin"])),
            false
        )
        .await
        .status(),
        StatusCode::OK
    );
    let denied = run(
        PolicyLayer::require_role("admin"),
        Some(claims(&[], &["user"])),
        false,
    )
    .await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert!(
        denied.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("role:admin")
    );
    let pred = PolicyLayer::require(
        "subject:alice",
        |c: &StandardClaims, _: &http::Extensions| c.subject() == Some("alice"),
    );
    assert_eq!(
        run(pred.clone(), Some(claims(&[], &[])), false)
            .await
            .status(),
        StatusCode::OK
    );
    let missing = run(pred, None, false).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let grpc = run(
        PolicyLayer::require_scope("admin"),
        Some(claims(&[], &[])),
        true,
    )
    .await;
    assert_eq!(grpc.status(), StatusCode::OK);
    assert_eq!(grpc.headers()["grpc-status"], "7");
}
