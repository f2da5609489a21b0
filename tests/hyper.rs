//! The plain hyper example served on 127.0.0.1 and called by a hyper client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
#[path = "../examples/hyper.rs"]
mod example;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

#[tokio::test]
async fn hyper_server_validates_bearer_tokens() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = example::start(listener).await.unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let call = |token: Option<String>| {
        let client = client.clone();
        async move {
            let mut req = Request::get(format!("http://{addr}/hello"));
            if let Some(t) = token {
                req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let res = client
                .request(req.body(Empty::new()).unwrap())
                .await
                .unwrap();
            let status = res.status();
            let cache = res.headers().get(header::CACHE_CONTROL).cloned();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, cache, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (status, cache, _) = call(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(cache.unwrap(), "no-store");
    let token = issuer
        .access_token(
            "hyper-user",
            example::AUDIENCE,
            "read",
            Duration::from_secs(60),
        )
        .unwrap();
    let (status, _, body) = call(Some(token.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "hello, hyper-user\n");
    let (status, _, _) = call(Some(format!("{token}x"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
