#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;

fn uri(s: &str) -> Uri {
    s.parse().unwrap()
}

#[test]
fn url_policy() {
    assert!(check_url(&uri("https://idp.example/jwks"), false).is_ok());
    assert!(check_url(&uri("HTTPS://idp.example/jwks"), false).is_ok());
    for (url, allow) in [
        ("http://idp.example/jwks", false),
        ("http://idp.example/jwks", true),
        ("http://127.0.0.1/jwks", false),
        ("http://localhost/jwks", true),
        ("http://10.0.0.1/jwks", true),
        ("ftp://127.0.0.1/jwks", true),
        ("/jwks", true),
    ] {
        let err = check_url(&uri(url), allow).unwrap_err();
        assert_eq!(err.kind(), HttpErrorKind::InsecureUrl, "{url}");
    }
    assert!(check_url(&uri("http://127.0.0.1:9/jwks"), true).is_ok());
    assert!(check_url(&uri("http://127.3.4.5/jwks"), true).is_ok());
    assert!(check_url(&uri("http://[::1]:80/jwks"), true).is_ok());
}

#[tokio::test]
async fn refuses_plain_http_without_opt_in() {
    let client = DefaultHttpClient::new();
    let request = Request::get("http://127.0.0.1:9/jwks")
        .body(Bytes::new())
        .unwrap();
    let err = client.execute(request).await.unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::InsecureUrl);
}

#[tokio::test]
async fn connect_error_is_reported() {
    // Bind then drop a listener so the port is (very likely) closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = DefaultHttpClient::builder()
        .insecure_allow_http_loopback()
        .build();
    let request = Request::get(format!("http://{addr}/jwks"))
        .body(Bytes::new())
        .unwrap();
    let err = client.execute(request).await.unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::Connect, "{err}");
    let shared: Arc<dyn HttpClient> = Arc::new(client);
    let request = Request::get(format!("http://{addr}/jwks"))
        .body(Bytes::new())
        .unwrap();
    assert!(shared.execute(request).await.is_err());
}

#[test]
fn error_display() {
    let err = HttpError::status_error(http::StatusCode::BAD_GATEWAY);
    assert_eq!(err.kind(), HttpErrorKind::Status);
    assert_eq!(err.status(), Some(http::StatusCode::BAD_GATEWAY));
    assert!(err.to_string().contains("502"));
}
