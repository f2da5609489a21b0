//! Shared test harness: an app stack, cookie helpers, a failing store, a local IdP.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use portcullis_cookie::CookieLayer;
use portcullis_core::AccessToken;
use portcullis_session::store::{
    MemoryStore, SessionRecord, SessionStore, StoreError, StoreFuture,
};
use portcullis_session::{
    Session, SessionIdHash, SessionManager, Timestamp, TokenLookupLayer, TokenSet,
};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

pub type App = BoxCloneService<Request<String>, Response<String>, Infallible>;

/// The app under test. Routes:
/// `/login?sub=..` logs in with tokens from the `x-access`/`x-refresh`/`x-expires-in` headers,
/// `/logout`, `/everywhere?sub=..`, `/whoami` echoes `subject|access token`,
/// `/set?k=v` stores app data, `/get?k` reads it.
pub fn app(manager: SessionManager) -> App {
    let svc = ServiceBuilder::new()
        .layer(CookieLayer::new())
        .layer(TokenLookupLayer::new(manager))
        .service(service_fn(handler));
    BoxCloneService::new(svc)
}

fn query(req: &Request<String>) -> (String, String) {
    let q = req.uri().query().unwrap_or_default();
    let (k, v) = q.split_once('=').unwrap_or((q, ""));
    (k.to_owned(), v.to_owned())
}

async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req
        .extensions()
        .get::<Session>()
        .expect("session handle")
        .clone();
    let token = req.extensions().get::<AccessToken>().cloned();
    let header_str = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let body = match req.uri().path() {
        "/login" => {
            let (_, sub) = query(&req);
            let mut tokens = TokenSet::new(header_str("x-access").unwrap_or("access-1".into()));
            if let Some(refresh) = header_str("x-refresh") {
                tokens = tokens.with_refresh_token(refresh);
            }
            if let Some(secs) = header_str("x-expires-at-offset") {
                let secs: i64 = secs.parse().unwrap();
                let now = Timestamp::now().as_unix_millis() as i64;
                tokens = tokens.with_access_expires_at(Timestamp::from_unix_millis(
                    (now + secs * 1000) as u64,
                ));
            }
            if let Some(ua) = header_str("user-agent") {
                session.set_client(portcullis_core::client::ClientBinding {
                    ip: Some("192.0.2.1".parse().unwrap()),
                    user_agent: Some(ua),
                });
            }
            match session.login(&sub, tokens).await {
                Ok(()) => "logged in".to_owned(),
                Err(e) => return Ok(status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
            }
        }
        "/logout" => match session.logout().await {
            Ok(()) => "bye".to_owned(),
            Err(e) => format!("logout: {}", e.kind().as_str()),
        },
        "/everywhere" => {
            let (_, sub) = query(&req);
            let n = session.logout_everywhere(&sub).await.unwrap();
            format!("ended {n}")
        }
        "/set" => {
            let (k, v) = query(&req);
            session.insert(&k, &v).await.unwrap();
            "set".to_owned()
        }
        "/get" => {
            let (k, _) = query(&req);
            session.get::<String>(&k).unwrap().unwrap_or_default()
        }
        _ => format!(
            "{}|{}",
            session.subject().unwrap_or_default(),
            token.map(|t| t.as_str().to_owned()).unwrap_or_default()
        ),
    };
    Ok(Response::new(body))
}

fn status(code: StatusCode, body: &str) -> Response<String> {
    let mut res = Response::new(body.to_owned());
    *res.status_mut() = code;
    res
}

pub fn get(path: &str, cookie: Option<&str>) -> Request<String> {
    let mut builder = Request::get(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(String::new()).unwrap()
}

pub fn send(
    app: &App,
    req: Request<String>,
) -> impl Future<Output = Response<String>> + Send + 'static {
    let svc = app.clone();
    async move { svc.oneshot(req).await.unwrap() }
}

/// Logs `sub` in and returns the `name=value` of the session cookie.
pub async fn login(app: &App, sub: &str, extra: &[(&str, &str)]) -> String {
    let mut req = get(&format!("/login?sub={sub}"), None);
    for (k, v) in extra {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let res = send(app, req).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.body());
    session_cookie(&res).expect("login sets the session cookie")
}

/// The `name=value` of the session cookie set by `res`, if any (not a removal).
pub fn session_cookie(res: &Response<String>) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter(|v| v.starts_with("__Host-session=") && !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .next()
}

/// Whether `res` clears the session cookie.
pub fn clears_cookie(res: &Response<String>) -> bool {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .any(|v| v.starts_with("__Host-session=;") && v.contains("Max-Age=0"))
}

pub fn hash_of(cookie: &str) -> SessionIdHash {
    let value = cookie.split_once('=').unwrap().1;
    portcullis_session::SessionId::parse(value).unwrap().hash()
}

/// A store that fails (or hangs) on demand, wrapping a memory store.
#[derive(Debug, Clone)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub down: Arc<AtomicBool>,
    pub hang: Arc<AtomicBool>,
    pub calls: Arc<AtomicUsize>,
}

impl FlakyStore {
    pub fn new() -> Self {
        Self {
            inner: MemoryStore::new(),
            down: Arc::default(),
            hang: Arc::default(),
            calls: Arc::default(),
        }
    }

    fn gate<'a, T: Send + 'a>(&'a self, op: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            return Box::pin(std::future::pending());
        }
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(StoreError::unavailable(
                "connection refused",
            ))));
        }
        op
    }
}

impl SessionStore for FlakyStore {
    fn load<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, Option<SessionRecord>> {
        self.gate(self.inner.load(id))
    }
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        self.gate(self.inner.create(record))
    }
    fn update<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, u64> {
        self.gate(self.inner.update(record))
    }
    fn touch<'a>(
        &'a self,
        id: &'a SessionIdHash,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'a, bool> {
        self.gate(self.inner.touch(id, last_seen, expires_at))
    }
    fn delete<'a>(&'a self, id: &'a SessionIdHash) -> StoreFuture<'a, bool> {
        self.gate(self.inner.delete(id))
    }
    fn delete_all_of_subject<'a>(
        &'a self,
        subject: &'a str,
    ) -> StoreFuture<'a, Vec<SessionIdHash>> {
        self.gate(self.inner.delete_all_of_subject(subject))
    }
    fn sessions_of<'a>(&'a self, subject: &'a str) -> StoreFuture<'a, Vec<SessionRecord>> {
        self.gate(self.inner.sessions_of(subject))
    }
}

/// What the local IdP saw.
#[derive(Debug, Default)]
pub struct IdpLog {
    pub token_calls: AtomicUsize,
    pub revoke_calls: AtomicUsize,
    pub bodies: std::sync::Mutex<Vec<String>>,
    /// Answer the token endpoint with 400 invalid_grant.
    pub reject: AtomicBool,
}

/// A local IdP on 127.0.0.1: `/token` rotates refresh tokens (slowly, to let concurrent
/// requests pile up), `/revoke` counts.
pub async fn start_idp() -> (SocketAddr, Arc<IdpLog>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(IdpLog::default());
    let state = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let state = Arc::clone(&state);
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let body = String::from_utf8(body.to_vec()).unwrap();
                        state.bodies.lock().unwrap().push(format!("{path} {body}"));
                        let (code, json) = match path.as_str() {
                            "/token" => {
                                let n = state.token_calls.fetch_add(1, Ordering::SeqCst) + 1;
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                if state.reject.load(Ordering::SeqCst) {
                                    (400, r#"{"error":"invalid_grant"}"#.to_owned())
                                } else {
                                    (
                                        200,
                                        format!(
                                            r#"{{"access_token":"access-r{n}","token_type":"Bearer","expires_in":300,"refresh_token":"refresh-r{n}"}}"#
                                        ),
                                    )
                                }
                            }
                            "/revoke" => {
                                state.revoke_calls.fetch_add(1, Ordering::SeqCst);
                                (200, String::new())
                            }
                            _ => (404, String::new()),
                        };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(code)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(json)))
                                .unwrap(),
                        )
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    (addr, log)
}
