//! The quickstart example served for real on 127.0.0.1 and driven by a real HTTP client:
//! login → cookie → /me → logout → 401, client credentials → bearer → /api/data, and the
//! failure paths a user meets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpListener;

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(quickstart::serve(listener));
    addr
}

struct Call<'a> {
    method: Method,
    path: &'a str,
    headers: Vec<(http::HeaderName, String)>,
    body: &'a str,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: &'a str) -> Self {
        Self {
            method,
            path,
            headers: Vec::new(),
            body: "",
        }
    }
    fn header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn form(mut self, body: &'a str) -> Self {
        self.body = body;
        self.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
    }
    async fn send(self, addr: SocketAddr) -> Response<Bytes> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = Request::builder()
            .method(self.method)
            .uri(format!("http://{addr}{}", self.path));
        for (k, v) in self.headers {
            req = req.header(k, v);
        }
        let res = tokio::time::timeout(
            Duration::from_secs(10),
            client.request(
                req.body(Full::new(Bytes::from(self.body.to_owned())))
                    .unwrap(),
            ),
        )
        .await
        .expect("the quickstart answers within 10 s")
        .unwrap();
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    }
}

fn json(res: &Response<Bytes>) -> Value {
    serde_json::from_slice(res.body()).unwrap_or_else(|_| panic!("JSON body, got {:?}", res.body()))
}

/// The `name=value` of the session cookie set by `res`.
fn session_cookie(res: &Response<Bytes>) -> String {
    let set = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("portcullis-session="))
        .unwrap_or_else(|| panic!("a session cookie in {:?}", res.headers()));
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn browser_session_login_me_logout() {
    let addr = start().await;
    let ua = "quickstart-test/1.0";

    // Anonymous: the login page is public, /me is 401 with a Bearer challenge.
    let res = Call::new(Method::GET, "/")
        .header(http::header::USER_AGENT, ua)
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        std::str::from_utf8(res.body())
            .unwrap()
            .contains("name=\"username\"")
    );
    let res = Call::new(Method::GET, "/me")
        .header(http::header::USER_AGENT, ua)
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // Wrong password: no session.
    let res = Call::new(Method::POST, "/login")
        .header(http::header::USER_AGENT, ua)
        .form("username=alice&password=wrong")
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(SET_COOKIE).is_none());

    // A pre-set session ID is not adopted at login (session fixation).
    let planted = "portcullis-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let res = Call::new(Method::POST, "/login")
        .header(http::header::USER_AGENT, ua)
        .header(COOKIE, planted)
        .form("username=alice&password=alice")
        .send(addr)
        .await;
    // The planted ID names no session: refused before the handler runs, cookie cleared.
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = Call::new(Method::POST, "/login")
        .header(http::header::USER_AGENT, ua)
        .form("username=alice&password=alice")
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/me");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    let set_cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Max-Age") && !set_cookie.contains("Expires"),
        "{set_cookie}"
    );
    let cookie = session_cookie(&res);
    let value = cookie.split_once('=').unwrap().1;
    assert!(
        value.len() >= 22 && !value.contains('.'),
        "an opaque ID, never a JWT: {value}"
    );

    let res = Call::new(Method::GET, "/me")
        .header(http::header::USER_AGENT, ua)
        .header(COOKIE, cookie.clone())
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me = json(&res);
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["claims"]["aud"], "quickstart");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");

    // The same cookie from another browser (User-Agent binding) is refused, and the session
    // is destroyed: the real browser is logged out too.
    let res = Call::new(Method::GET, "/me")
        .header(http::header::USER_AGENT, "curl/8.0 (thief)")
        .header(COOKIE, cookie.clone())
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = Call::new(Method::GET, "/me")
        .header(http::header::USER_AGENT, ua)
        .header(COOKIE, cookie.clone())
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Log in again, then log out: cookie expired, Clear-Site-Data sent, session gone.
    let res = Call::new(Method::POST, "/login")
        .header(http::header::USER_AGENT, ua)
        .form("username=alice&password=alice")
        .send(addr)
        .await;
    let cookie = session_cookie(&res);
    let res = Call::new(Method::POST, "/logout")
        .header(http::header::USER_AGENT, ua)
        .header(COOKIE, cookie.clone())
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("portcullis-session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(res.headers().get("clear-site-data").is_some());
    let res = Call::new(Method::GET, "/me")
        .header(http::header::USER_AGENT, ua)
        .header(COOKIE, cookie)
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_credentials_bearer_and_scopes() {
    let addr = start().await;
    let basic = |creds: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };

    let res = Call::new(Method::POST, "/token")
        .header(AUTHORIZATION, basic("demo:wrong"))
        .form("grant_type=client_credentials&scope=read")
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(&res)["error"], "invalid_client");

    let res = Call::new(Method::POST, "/token")
        .header(AUTHORIZATION, basic("demo:demo"))
        .form("grant_type=client_credentials&scope=admin")
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&res)["error"], "invalid_scope");

    let res = Call::new(Method::POST, "/token")
        .header(AUTHORIZATION, basic("demo:demo"))
        .form("grant_type=client_credentials&scope=read")
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(&res);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let token = body["access_token"].as_str().unwrap().to_owned();

    let res = Call::new(Method::GET, "/api/data")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.headers());
    assert_eq!(json(&res)["for"], "demo");

    // No token, a garbage token, a tampered token.
    let res = Call::new(Method::GET, "/api/data").send(addr).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()[WWW_AUTHENTICATE],
        "Bearer realm=\"quickstart\""
    );
    let res = Call::new(Method::GET, "/api/data")
        .header(AUTHORIZATION, "Bearer not-a-jwt")
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let res = Call::new(Method::GET, "/api/data")
        .header(AUTHORIZATION, format!("Bearer {tampered}"))
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A valid token without the `read` scope: 403 insufficient_scope.
    let res = Call::new(Method::POST, "/token")
        .header(AUTHORIZATION, basic("demo:demo"))
        .form("grant_type=client_credentials&scope=")
        .send(addr)
        .await;
    let token = json(&res)["access_token"].as_str().unwrap().to_owned();
    let res = Call::new(Method::GET, "/api/data")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send(addr)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"read\""),
        "{challenge}"
    );
}
