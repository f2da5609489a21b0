//! A tonic gRPC server behind the portcullis stack, and a tonic client showing the three
//! answers: no token → `UNAUTHENTICATED` (16), a token without the required scope →
//! `PERMISSION_DENIED` (7), the right token → the call succeeds.
//!
//! ```sh
//! cargo run --example tonic
//! ```
//!
//! The gRPC service is the standard health service (`grpc.health.v1.Health`, from
//! `tonic-health`), protected by a per-route policy requiring the scope `health:read`. Tokens
//! come from the development issuer, whose JWKS is served on a second local port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use portcullis::dev::DevIssuer;
use portcullis::policy::PolicyLayer;
use portcullis::{ConfigError, Portcullis};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

/// The audience the gRPC service accepts.
pub const AUDIENCE: &str = "grpc-demo";
/// The scope the health service requires.
pub const SCOPE: &str = "health:read";

/// Serves the development issuer's discovery document and JWKS on `listener`.
pub async fn serve_issuer(listener: TcpListener, issuer: Arc<DevIssuer>) -> std::io::Result<()> {
    let (d, j) = (issuer.clone(), issuer);
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(d.discovery_document()) }),
        )
        .route(
            "/.well-known/jwks.json",
            get(move || async move { Json(j.jwks()) }),
        );
    axum::serve(listener, app).await
}

/// Serves the health service behind the stack on `listener`, trusting `issuer`.
pub async fn serve_grpc(
    listener: TcpListener,
    issuer: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let portcullis = Portcullis::builder()
        .issuer(issuer)
        .audience(AUDIENCE)
        .insecure_allow_http() // the issuer runs on plain HTTP on 127.0.0.1
        .build()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let policy = PolicyLayer::require_scope(SCOPE).with_rejection(portcullis.rejection_response());
    Server::builder()
        .layer(ServiceBuilder::new().layer(portcullis).layer(policy))
        .add_service(health)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}

/// One health check with an optional bearer token: the gRPC status code it got.
pub async fn check(addr: SocketAddr, token: Option<&str>) -> Result<Code, tonic::transport::Error> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await?;
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ASCII token");
        request.metadata_mut().insert("authorization", value);
    }
    Ok(match client.check(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    })
}

/// Starts the issuer and the gRPC server on free ports; returns the gRPC address and issuer.
pub async fn start()
-> Result<(SocketAddr, Arc<DevIssuer>), Box<dyn std::error::Error + Send + Sync>> {
    let issuer_listener = TcpListener::bind("127.0.0.1:0").await?;
    let issuer_url = format!("http://{}", issuer_listener.local_addr()?);
    let issuer =
        Arc::new(DevIssuer::generate(&issuer_url).map_err(|e: ConfigError| e.to_string())?);
    tokio::spawn(serve_issuer(issuer_listener, issuer.clone()));
    let grpc_listener = TcpListener::bind("127.0.0.1:0").await?;
    let grpc_addr = grpc_listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = serve_grpc(grpc_listener, &issuer_url).await {
            eprintln!("gRPC server failed: {err}");
        }
    });
    Ok((grpc_addr, issuer))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (addr, issuer) = start().await?;
    let ttl = Duration::from_secs(300);
    let no_scope = issuer.access_token("client-a", AUDIENCE, "other", ttl)?;
    let with_scope = issuer.access_token("client-b", AUDIENCE, SCOPE, ttl)?;
    println!("gRPC health service behind portcullis on {addr}");
    println!(
        "  no token                 → {:?}",
        check(addr, None).await?
    );
    println!(
        "  token without {SCOPE} → {:?}",
        check(addr, Some(&no_scope)).await?
    );
    println!(
        "  token with {SCOPE}    → {:?}",
        check(addr, Some(&with_scope)).await?
    );
    Ok(())
}
