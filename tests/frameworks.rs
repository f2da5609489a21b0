//! The cookie and Cache-Control layers on the three kinds of service users have: an axum
//! router, a plain hyper 1.x service and a tonic gRPC server, each served for real on
//! 127.0.0.1 and called by a real client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis::cache_control::CacheControlLayer;
use portcullis::cookie::{Cookie, CookieLayer, Cookies};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Response<Bytes> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::get(format!("http://{addr}{path}"));
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let res = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

fn set_cookies(res: &Response<Bytes>) -> Vec<&str> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

async fn counter(cookies: &Cookies) -> String {
    let n: u32 = cookies
        .get("n")
        .and_then(|c| c.value().parse().ok())
        .unwrap_or(0);
    cookies.add(Cookie::new("n", (n + 1).to_string())).unwrap();
    (n + 1).to_string()
}

#[tokio::test]
async fn axum_router() {
    use axum::Router;
    use axum::routing::get as route_get;

    let app = Router::new()
        .route(
            "/count",
            route_get(|cookies: Cookies| async move { counter(&cookies).await }),
        )
        .route("/static", route_get(|| async { "no cookies touched" }))
        .layer(
            ServiceBuilder::new()
                .layer(CacheControlLayer::new())
                .layer(CookieLayer::new()),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let res = get(addr, "/count", Some("n=41; other=x")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "42");
    assert_eq!(
        set_cookies(&res),
        ["n=42; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(res.headers()[VARY], "Cookie, Authorization");

    let res = get(addr, "/static", Some("n=1")).await;
    assert!(set_cookies(&res).is_empty());
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");

    // Without the layer the extractor is a 500 that says what is missing, not a panic.
    let bare = Router::new().route(
        "/count",
        route_get(|cookies: Cookies| async move { counter(&cookies).await }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, bare).await.unwrap() });
    let res = get(addr, "/count", None).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        std::str::from_utf8(res.body())
            .unwrap()
            .contains("CookieLayer")
    );
}

#[tokio::test]
async fn plain_hyper_service() {
    use hyper::server::conn::http1;
    use hyper_util::service::TowerToHyperService;

    let svc = ServiceBuilder::new()
        .layer(CacheControlLayer::new())
        .layer(CookieLayer::new())
        .service_fn(|req: Request<hyper::body::Incoming>| async move {
            let cookies = req.extensions().get::<Cookies>().unwrap().clone();
            let body = counter(&cookies).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), svc));
        }
    });

    let res = get(addr, "/", Some("n=7")).await;
    assert_eq!(res.body(), "8");
    assert_eq!(
        set_cookies(&res),
        ["n=8; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn tonic_grpc_server() {
    use tonic::transport::{Endpoint, Server};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream_from(listener);
    tokio::spawn(async move {
        Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(CacheControlLayer::new())
                    .layer(CookieLayer::new()),
            )
            .add_service(health)
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let res = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(res.get_ref().status, 1, "SERVING");
    assert_eq!(res.metadata().get("cache-control").unwrap(), "no-store");
    assert!(res.metadata().get("set-cookie").is_none());
}

/// The accepted connections of `listener` as the stream tonic's server wants.
fn tokio_stream_from(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}
