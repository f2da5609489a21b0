//! A plain hyper 1.x server (no framework) behind the portcullis stack.
//!
//! ```sh
//! cargo run --example hyper
//! ```
//!
//! The same server also serves the development issuer's discovery document and JWKS, so the
//! stack can fetch its keys; it prints a token to try with curl.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use portcullis::Portcullis;
use portcullis::core::client::AddPeerAddrLayer;
use portcullis::dev::{DISCOVERY_PATH, DevIssuer, JWKS_PATH};
use portcullis::jwt::StandardClaims;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

/// The audience this server accepts.
pub const AUDIENCE: &str = "hyper-demo";

/// The app: the issuer's documents (public) and `/hello` for a validated caller.
async fn handle(
    issuer: Arc<DevIssuer>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let json = |value: serde_json::Value| {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(value.to_string())))
            .unwrap()
    };
    Ok(match req.uri().path() {
        DISCOVERY_PATH => json(issuer.discovery_document()),
        JWKS_PATH => json(issuer.jwks()),
        "/hello" => match req.extensions().get::<StandardClaims>() {
            Some(claims) => Response::new(Full::new(Bytes::from(format!(
                "hello, {}\n",
                claims.subject().unwrap_or("anonymous client")
            )))),
            // Anonymous requests are let through the stack for the public documents; this route
            // needs claims.
            None => Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(header::WWW_AUTHENTICATE, "Bearer")
                .body(Full::default())
                .unwrap(),
        },
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::default())
            .unwrap(),
    })
}

/// Serves on `listener` until the process ends; returns the issuer for minting test tokens.
pub async fn start(
    listener: TcpListener,
) -> Result<Arc<DevIssuer>, Box<dyn std::error::Error + Send + Sync>> {
    let base = format!("http://{}", listener.local_addr()?);
    let issuer = Arc::new(DevIssuer::generate(&base)?);
    let portcullis = Portcullis::builder()
        .issuer(&base)
        .audience(AUDIENCE)
        .allow_anonymous()
        .insecure_allow_http()
        .build()?;
    let app_issuer = issuer.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let issuer = app_issuer.clone();
            // One service per connection; `AddPeerAddrLayer` records the peer address so the
            // binding layer can see the client's IP.
            let svc = ServiceBuilder::new()
                .layer(AddPeerAddrLayer::new(peer))
                .layer(portcullis.clone())
                .service_fn(move |req| handle(issuer.clone(), req));
            tokio::spawn(async move {
                let conn = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
                if let Err(err) = conn.await {
                    eprintln!("connection error: {err}");
                }
            });
        }
    });
    Ok(issuer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind(("127.0.0.1", 3001)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let issuer = start(listener).await?;
    let token = issuer.access_token("hyper-user", AUDIENCE, "read", Duration::from_secs(3600))?;
    println!("plain hyper server behind portcullis on http://{addr}\n");
    println!("  curl -i http://{addr}/hello                     # 401");
    println!("  curl -i -H 'Authorization: Bearer {token}' http://{addr}/hello");
    std::future::pending::<()>().await;
    Ok(())
}
