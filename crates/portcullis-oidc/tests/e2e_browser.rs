//! End to end: a real OpenID provider (`oidc-provider` from npm, `tests/idp/server.js`), a real
//! browser (headless Chromium through `chromedriver`, spoken to over WebDriver), and the app
//! (axum + CookieLayer + TokenLookupLayer + JwtLayer + the OIDC routes) on 127.0.0.1.
//!
//! Nothing is skipped: if Node's `node_modules`, `chromium` or `chromedriver` is missing, the
//! test fails and names the install command (`bash scripts/test.sh` installs them).
//!
//! The app runs on plain `http://127.0.0.1`, so its CookieLayer uses
//! `CookieSecurity::insecure_allow_http()` and the cookies have names without the `__Host-`
//! prefix (`session`, `oidc-flow`): browsers refuse `__Host-` cookies that are not `Secure`,
//! and `Secure` cookies are not sent over plain HTTP. In production keep the defaults
//! (`__Host-session`, `Secure`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Extension;
use axum::response::Html;
use axum::routing::get;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use portcullis_cookie::{CookieKeys, CookieLayer, CookieSecurity, Key};
use portcullis_core::DefaultRejectionResponse;
use portcullis_jwt::http::{DefaultHttpClient, HttpClient};
use portcullis_jwt::{JwksCache, JwtLayer, Validator};
use portcullis_oidc::OidcConfig;
use portcullis_session::store::MemoryStore;
use portcullis_session::{IdpConfig, Session, SessionConfig, TokenLookupLayer};
use serde_json::{Value, json};
use tower::ServiceBuilder;

const CLIENT_ID: &str = "portcullis-e2e";
const CLIENT_SECRET: &str = "e2e-secret-that-is-long-enough-0123456789";
const RESOURCE: &str = "urn:portcullis:api";
/// The provider lives on another loopback address than the app (127.0.0.1): browsers key
/// cookies by host, not port, so on one address the app's logout (`Clear-Site-Data: "cookies"`)
/// would also wipe the provider's session cookie and hide whether RP-initiated logout ended it.
const PROVIDER_HOST: &str = "127.0.0.2";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

fn http_client() -> Arc<dyn HttpClient> {
    Arc::new(
        DefaultHttpClient::builder()
            .insecure_allow_http_loopback()
            .with_timeout(Duration::from_secs(15))
            .build(),
    )
}

async fn send(http: &dyn HttpClient, method: Method, url: &str, body: Option<Value>) -> Value {
    let mut req = Request::builder().method(method).uri(url);
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    let res = http.execute(req.body(body).unwrap()).await.unwrap();
    let value: Value = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
    assert!(res.status().is_success(), "{url}: {} {value}", res.status());
    value
}

/// The few WebDriver commands the test needs.
struct Browser {
    http: Arc<dyn HttpClient>,
    base: String,
}

impl Browser {
    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        send(&*self.http, method, &url, body).await["value"].take()
    }
    async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }
    async fn url(&self) -> String {
        self.cmd(Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn source(&self) -> String {
        self.cmd(Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = format!("{}/element", self.base);
            let req = Request::post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Bytes::from(
                    json!({"using": "css selector", "value": css}).to_string(),
                ))
                .unwrap();
            let res = self.http.execute(req).await.unwrap();
            let v: Value = serde_json::from_slice(res.body()).unwrap();
            if res.status() == StatusCode::OK {
                let obj = v["value"].as_object().unwrap();
                return obj.values().next().unwrap().as_str().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}: {}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }
    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(
            Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }
    async fn script(&self, script: &str) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }
    async fn cookies(&self) -> Vec<Value> {
        self.cmd(Method::GET, "/cookie", None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }
    async fn wait_url(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.url().await;
            if pred(&url) {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; at {url}: {}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Starts `node tests/idp/server.js`; returns the process and the issuer URL.
fn start_provider(app_port: u16) -> (Proc, String) {
    let root = repo_root();
    let idp = root.join("tests/idp");
    assert!(
        idp.join("node_modules/oidc-provider/package.json")
            .is_file(),
        "tests/idp/node_modules is missing: run `npm ci --prefix tests/idp` (bash scripts/test.sh does)"
    );
    let node =
        which("node").expect("`node` (Node.js 20+) is required for the OIDC end-to-end test");
    let mut child = Command::new(node)
        .arg(idp.join("server.js"))
        .args([
            "--host",
            PROVIDER_HOST,
            "--port",
            "0",
            "--app-port",
            &app_port.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("could not start node tests/idp/server.js");
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("listening ") {
                let _ = tx.send(port.trim().to_owned());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the OIDC provider did not start (see its stderr above)");
    (proc, format!("http://{PROVIDER_HOST}:{port}"))
}

/// Starts `chromedriver` and a headless Chromium session; returns the process and the client.
async fn start_browser(http: Arc<dyn HttpClient>) -> (Proc, Browser, PathBuf) {
    let driver = which("chromedriver").expect(
        "`chromedriver` is missing: run `apt-get install -y chromium chromium-driver` (bash scripts/test.sh does)",
    );
    let chromium = ["chromium", "chromium-browser"]
        .iter()
        .find_map(|b| which(b))
        .expect("`chromium` is missing: run `apt-get install -y chromium chromium-driver`");
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("could not start chromedriver");
    let proc = Proc(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let req = Request::get(format!("{base}/status"))
            .body(Bytes::new())
            .unwrap();
        if let Ok(res) = http.execute(req).await
            && res.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile =
        std::env::temp_dir().join(format!("portcullis-e2e-{}-{port}", std::process::id()));
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.display())]
        }
    }}});
    let session = send(&*http, Method::POST, &format!("{base}/session"), Some(caps)).await;
    let id = session["value"]["sessionId"].as_str().unwrap().to_owned();
    let browser = Browser {
        http,
        base: format!("{base}/session/{id}"),
    };
    (proc, browser, profile)
}

async fn me(Extension(session): Extension<Session>) -> Html<String> {
    let tokens = session
        .tokens()
        .expect("JwtLayer let a session without tokens through");
    Html(format!(
        "<p id=\"who\">hello {}</p><p id=\"refresh\">refresh={}</p>\
         <form method=\"post\" action=\"/logout\"><button id=\"logout\" type=\"submit\">Log out</button></form>",
        session.subject().unwrap_or_default(),
        if tokens.refresh_token().is_some() {
            "yes"
        } else {
            "no"
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_session_and_logout_against_oidc_provider() {
    let started = Instant::now();
    let http = http_client();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_port = listener.local_addr().unwrap().port();
    let app_url = format!("http://127.0.0.1:{app_port}");
    let (_provider, issuer) = start_provider(app_port);
    let discovery = send(
        &*http,
        Method::GET,
        &format!("{issuer}/.well-known/openid-configuration"),
        None,
    )
    .await;
    assert_eq!(discovery["issuer"], issuer.as_str());

    // The app: access tokens are JWTs for RESOURCE, validated at login and on every request.
    let jwks = JwksCache::builder()
        .add_issuer(issuer.clone())
        .with_http_client(http.clone())
        .insecure_allow_http_loopback()
        .build()
        .unwrap();
    let access = Validator::builder(jwks.clone())
        .with_audience(RESOURCE)
        .build()
        .unwrap();
    let idp = IdpConfig::new(CLIENT_ID, http.clone())
        .with_client_secret_basic(CLIENT_SECRET)
        .with_token_endpoint(
            discovery["token_endpoint"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        )
        .with_revocation_endpoint(
            discovery["revocation_endpoint"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        );
    let sessions = SessionConfig::new(Arc::new(MemoryStore::new()))
        .with_cookie_name("session") // no `__Host-` prefix on plain HTTP (see the file's doc)
        .with_idp(idp)
        .build()
        .unwrap();
    let oidc = OidcConfig::new(issuer.clone(), CLIENT_ID, format!("{app_url}/callback"))
        .with_client_secret_basic(CLIENT_SECRET)
        .add_scope("api:read")
        .with_offline_access()
        .with_post_logout_redirect_uri(format!("{app_url}/logged-out"))
        .with_flow_cookie_name("oidc-flow")
        .with_http_client(http.clone())
        .with_jwks(jwks)
        .with_access_token_validator(access.clone())
        .insecure_allow_http_loopback()
        .build()
        .unwrap();
    oidc.discover()
        .await
        .expect("discovery against oidc-provider");
    let login_redirect = DefaultRejectionResponse::new()
        .with_login_redirect("/login")
        .with_return_to_param("return_to");
    let app = Router::new()
        .route("/me", get(me))
        .route_layer(JwtLayer::new(access).with_rejection(login_redirect.clone()))
        .route(
            "/logged-out",
            get(|| async { Html("<p id=\"bye\">logged out</p>") }),
        )
        .merge(oidc.router())
        .layer(
            ServiceBuilder::new()
                .layer(
                    CookieLayer::new()
                        .with_security(CookieSecurity::new().insecure_allow_http())
                        .with_keys(CookieKeys::new(Key::generate())),
                )
                .layer(TokenLookupLayer::new(sessions).with_rejection_response(login_redirect)),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (_driver, browser, profile) = start_browser(http.clone()).await;

    // 1. A protected page sends the browser to the provider's login page.
    browser.goto(&format!("{app_url}/me")).await;
    browser
        .wait_url("the provider's login page", |u| {
            u.starts_with(&format!("{issuer}/interaction/"))
        })
        .await;
    // A wrong password is refused by the provider.
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "not-the-password").await;
    browser.click("#submit").await;
    browser.find("#failed").await;

    // 2. Log in at the provider; consent is granted; back at the app with a session.
    browser.goto(&format!("{app_url}/me")).await;
    browser
        .wait_url("the provider's login page", |u| {
            u.starts_with(&format!("{issuer}/interaction/"))
        })
        .await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "wonderland").await;
    browser.click("#submit").await;
    let url = browser
        .wait_url("the app", |u| u.starts_with(&app_url))
        .await;
    assert_eq!(url, format!("{app_url}/me"));
    let page = browser.source().await;
    assert!(page.contains("hello alice"), "{page}");
    assert!(
        page.contains("refresh=yes"),
        "offline_access gave no refresh token: {page}"
    );

    // 3. The session cookie: HttpOnly, not Secure (plain HTTP here), SameSite=Lax, an opaque
    //    ID; invisible to JavaScript; the flow cookie is gone.
    let cookies = browser.cookies().await;
    let session_cookie = cookies
        .iter()
        .find(|c| c["name"] == "session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session_cookie["httpOnly"], true, "{session_cookie}");
    assert_eq!(session_cookie["sameSite"], "Lax", "{session_cookie}");
    assert_eq!(session_cookie["path"], "/");
    let value = session_cookie["value"].as_str().unwrap().to_owned();
    assert_eq!(
        value.len(),
        portcullis_session::SESSION_ID_LEN,
        "not an opaque ID"
    );
    assert!(
        !cookies.iter().any(|c| c["name"] == "oidc-flow"),
        "flow cookie left: {cookies:?}"
    );
    let visible = browser.script("return document.cookie").await;
    assert!(
        !visible.as_str().unwrap().contains("session"),
        "JS sees: {visible}"
    );

    // 4. The protected page works again (the session, not a new login).
    browser.goto(&format!("{app_url}/me")).await;
    assert!(browser.source().await.contains("hello alice"));

    // The provider's session is alive: a new login goes through without the password form
    // (and creates a new app session: the cookie changes).
    browser
        .goto(&format!("{app_url}/login?return_to=/me"))
        .await;
    browser
        .wait_url("the app", |u| u == format!("{app_url}/me"))
        .await;
    assert!(browser.source().await.contains("hello alice"));
    let cookies = browser.cookies().await;
    let renewed = cookies.iter().find(|c| c["name"] == "session").unwrap();
    assert_ne!(
        renewed["value"].as_str().unwrap(),
        value,
        "login must issue a new session ID"
    );
    let value = renewed["value"].as_str().unwrap().to_owned();

    // 5. Logout: local session ended, then the provider's end_session page (confirm), then
    //    back to the post-logout page.
    browser.click("#logout").await;
    browser
        .wait_url("the provider's logout page", |u| u.starts_with(&issuer))
        .await;
    browser.click("button[name=logout]").await;
    browser
        .wait_url("the post-logout page", |u| {
            u == format!("{app_url}/logged-out")
        })
        .await;
    assert!(
        !browser
            .cookies()
            .await
            .iter()
            .any(|c| c["name"] == "session")
    );

    // 6. The old session cookie is refused by the app (server-side session deleted).
    let req = Request::get(format!("{app_url}/me"))
        .header(header::COOKIE, format!("session={value}"))
        .header(header::ACCEPT, "text/html")
        .body(Bytes::new())
        .unwrap();
    let res = http.execute(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    // 7. The protected page refuses again, and the provider asks for a login again (its
    //    session ended too; otherwise it would send the browser straight back logged in).
    browser.goto(&format!("{app_url}/me")).await;
    browser
        .wait_url("the provider's login page", |u| {
            u.starts_with(&format!("{issuer}/interaction/"))
        })
        .await;
    browser.find("#username").await;

    let _ = browser.cmd(Method::DELETE, "", None).await;
    let _ = std::fs::remove_dir_all(profile);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "too slow: {:?}",
        started.elapsed()
    );
}
