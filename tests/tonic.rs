//! The tonic example through a real tonic client on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../examples/tonic.rs"]
mod example;

use std::time::Duration;

use tonic::Code;

#[tokio::test]
async fn grpc_unauthenticated_permission_denied_and_ok() {
    let (addr, issuer) = example::start().await.unwrap();
    let ttl = Duration::from_secs(60);
    assert_eq!(
        example::check(addr, None).await.unwrap(),
        Code::Unauthenticated
    );
    assert_eq!(
        example::check(addr, Some("garbage.token.here"))
            .await
            .unwrap(),
        Code::Unauthenticated
    );
    let wrong_aud = issuer
        .access_token("c", "another-service", example::SCOPE, ttl)
        .unwrap();
    assert_eq!(
        example::check(addr, Some(&wrong_aud)).await.unwrap(),
        Code::Unauthenticated
    );
    let no_scope = issuer
        .access_token("c", example::AUDIENCE, "other", ttl)
        .unwrap();
    assert_eq!(
        example::check(addr, Some(&no_scope)).await.unwrap(),
        Code::PermissionDenied
    );
    let ok = issuer
        .access_token("c", example::AUDIENCE, example::SCOPE, ttl)
        .unwrap();
    assert_eq!(example::check(addr, Some(&ok)).await.unwrap(), Code::Ok);
}
