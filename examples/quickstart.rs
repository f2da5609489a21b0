//! The portcullis quickstart: an axum app behind the whole stack, on the embedded defaults
//! (the in-memory session store and a development issuer built into the same server).
//!
//! ```sh
//! cargo run --example quickstart          # http://127.0.0.1:3000 (PORT=8080 to change)
//! ```
//!
//! Routes: `GET /` (login form), `POST /login` (`alice`/`alice`), `GET /me` (the session's
//! subject and claims; 401 without a session), `POST /logout`, `POST /token` (client
//! credentials: client `demo`, secret `demo`), `GET /api/data` (bearer token with scope
//! `read`), plus the development issuer's discovery document and JWKS under `/.well-known/`.
//!
//! It serves plain HTTP on 127.0.0.1, so it turns on `insecure_allow_http()`: cookies without
//! `Secure`, the session cookie without the `__Host-` prefix. Never do that in production.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis::dev::DevIssuer;
use portcullis::jwt::{Claims, StandardClaims};
use portcullis::policy::PolicyLayer;
use portcullis::session::{Session, SessionError, Timestamp, TokenSet};
use portcullis::{ConfigError, Portcullis};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The audience of the tokens the development issuer mints for this app.
pub const AUDIENCE: &str = "quickstart";
/// Lifetime of the access tokens the development issuer mints.
pub const TOKEN_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct App {
    issuer: Arc<DevIssuer>,
}

/// Builds the quickstart app for a server reachable at `base_url` (the issuer URL).
pub fn app(base_url: &str) -> Result<Router, ConfigError> {
    let issuer = Arc::new(DevIssuer::generate(base_url)?);
    let portcullis = Portcullis::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .allow_anonymous() // `/`, `/login`, `/token` and the issuer's documents are public
        .insecure_allow_http() // plain HTTP on 127.0.0.1: development only
        .realm("quickstart")
        .build()?;

    // Per-route policies answer with the stack's rejections (same realm).
    let rejection = portcullis.rejection_response();
    let protected = Router::new()
        .route("/me", get(me))
        .route_layer(PolicyLayer::authenticated().with_rejection(rejection.clone()));
    let api = Router::new()
        .route("/api/data", get(data))
        .route_layer(PolicyLayer::require_scope("read").with_rejection(rejection));

    Ok(Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/token", post(token))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .merge(protected)
        .merge(api)
        .layer(portcullis)
        .with_state(App { issuer }))
}

/// Serves the app on `listener` until the process ends.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let app = match external_provider() {
        Some((issuer, client_id, secret)) => oidc_app(&base, &issuer, &client_id, &secret),
        None => app(&base),
    }
    .map_err(std::io::Error::other)?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

// ---- External OpenID provider: OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET set ----
//
// `GET /login` runs the authorization-code flow with PKCE (portcullis-oidc) and the callback
// is `http://127.0.0.1:PORT/callback` (register it, and `http://127.0.0.1:PORT/` as the
// post-logout redirect URI, at the provider). `/me` validates the provider's access token:
// it must be a JWT for OIDC_AUDIENCE (default: the client ID). `POST /logout` ends the session
// and the provider's (RP-initiated logout).

/// `(issuer, client ID, client secret)` when all three variables are set.
fn external_provider() -> Option<(String, String, String)> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    Some((
        var("OIDC_ISSUER")?,
        var("OIDC_CLIENT_ID")?,
        var("OIDC_CLIENT_SECRET")?,
    ))
}

/// The quickstart against an external provider instead of the built-in development issuer.
pub fn oidc_app(
    base_url: &str,
    issuer: &str,
    client_id: &str,
    secret: &str,
) -> Result<Router, ConfigError> {
    use portcullis::cookie::{CookieKeys, Key};
    use portcullis_oidc::OidcConfig;

    let audience = std::env::var("OIDC_AUDIENCE").unwrap_or_else(|_| client_id.to_owned());
    let portcullis = Portcullis::builder()
        .issuer(issuer)
        .audience(audience)
        .cookie_keys(CookieKeys::new(Key::generate())) // the login flow's private cookie
        .allow_anonymous()
        .insecure_allow_http() // plain HTTP on 127.0.0.1: development only
        .realm("quickstart")
        .build()?;
    let mut oidc = OidcConfig::new(issuer, client_id, format!("{base_url}/callback"))
        .with_client_secret_basic(secret)
        .add_scope("profile")
        .with_post_logout_redirect_uri(format!("{base_url}/"))
        .with_flow_cookie_name("oidc-flow") // no `__Host-` prefix on plain HTTP
        .with_jwks(portcullis.validator().jwks().clone())
        .with_access_token_validator(portcullis.validator().clone());
    if issuer.starts_with("http://") {
        oidc = oidc.insecure_allow_http_loopback(); // a provider on 127.0.0.1 (tests/idp)
    }
    let oidc = oidc.build()?;
    let rejection = portcullis.rejection_response();
    let protected = Router::new()
        .route("/me", get(me))
        .route_layer(PolicyLayer::authenticated().with_rejection(rejection));
    let index = |Extension(session): Extension<Session>| async move {
        Html(match session.subject() {
            Some(subject) => format!(
                "<p>Signed in as <b>{}</b>. <a href=\"/me\">/me</a></p>\
                 <form method=\"post\" action=\"/logout\"><button>Log out</button></form>",
                html_escape(&subject)
            ),
            None => {
                "<p><a href=\"/login?return_to=/me\">Log in with your provider</a></p>".to_owned()
            }
        })
    };
    Ok(Router::new()
        .route("/", get(index))
        .merge(oidc.router())
        .merge(protected)
        .layer(portcullis))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 3000,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "portcullis quickstart on {base}\n\
         \n  open {base}/ in a browser and log in as alice / alice, or with curl:\n\
         \n  curl -i -c jar -d 'username=alice&password=alice' {base}/login\
         \n  curl -i -b jar {base}/me\
         \n  curl -i -b jar -c jar -X POST {base}/logout\
         \n  curl -i -b jar {base}/me                      # 401 again\
         \n\
         \n  TOKEN=$(curl -s -u demo:demo -d 'grant_type=client_credentials&scope=read' {base}/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\
         \n  curl -i -H \"Authorization: Bearer $TOKEN\" {base}/api/data\n"
    );
    serve(listener).await?;
    Ok(())
}

async fn index(Extension(session): Extension<Session>) -> Html<String> {
    let body = match session.subject() {
        Some(subject) => format!(
            "<p>Signed in as <b>{}</b>. <a href=\"/me\">/me</a></p>\
             <form method=\"post\" action=\"/logout\"><button>Log out</button></form>",
            html_escape(&subject)
        ),
        None => "<form method=\"post\" action=\"/login\">\
                 <label>Username <input name=\"username\" autocomplete=\"username\"></label>\
                 <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
                 <button>Log in</button></form><p>The demo user is alice / alice.</p>"
            .to_owned(),
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>portcullis quickstart</title></head>\
         <body><h1>portcullis quickstart</h1>{body}</body></html>"
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

/// The demo's user directory: one user, `alice` / `alice`.
fn check_password(username: &str, password: &str) -> bool {
    let user_ok = portcullis::core::constant_time_eq(username.as_bytes(), b"alice");
    let password_ok = portcullis::core::constant_time_eq(password.as_bytes(), b"alice");
    user_ok & password_ok
}

async fn login(
    State(app): State<App>,
    Extension(session): Extension<Session>,
    Form(form): Form<LoginForm>,
) -> Response {
    if !check_password(&form.username, &form.password) {
        return (
            StatusCode::UNAUTHORIZED,
            Html("<p>Wrong username or password. <a href=\"/\">Try again</a></p>"),
        )
            .into_response();
    }
    let token = match app
        .issuer
        .access_token(&form.username, AUDIENCE, "read profile", TOKEN_TTL)
    {
        Ok(token) => token,
        Err(err) => return internal(err),
    };
    let tokens = TokenSet::new(token).with_expires_in(Timestamp::now(), TOKEN_TTL);
    // A new session ID every time: a session ID planted before login is never adopted.
    match session.login(&form.username, tokens).await {
        Ok(()) => Redirect::to("/me").into_response(),
        Err(err) => session_error(err),
    }
}

async fn logout(Extension(session): Extension<Session>) -> Response {
    match session.logout().await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(err) => session_error(err),
    }
}

async fn me(
    Extension(session): Extension<Session>,
    Extension(claims): Extension<Claims<Value>>,
) -> Json<Value> {
    Json(json!({
        "subject": claims.standard().subject(),
        "session": session.is_authenticated(),
        "claims": &*claims,
    }))
}

async fn data(Extension(claims): Extension<StandardClaims>) -> Json<Value> {
    Json(json!({
        "data": [1, 2, 3],
        "for": claims.subject(),
        "scopes": claims.scopes().collect::<Vec<_>>(),
    }))
}

async fn discovery(State(app): State<App>) -> Json<Value> {
    Json(app.issuer.discovery_document())
}

async fn jwks(State(app): State<App>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.issuer.jwks()),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    scope: Option<String>,
}

/// Scopes the demo client may ask for.
const CLIENT_SCOPES: &[&str] = &["read"];

/// OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for the `demo` client.
async fn token(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let oauth_error = |status: StatusCode, error: &str| {
        let mut res = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"quickstart\"".parse().unwrap(),
            );
        }
        res
    };
    let client_ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .is_some_and(|decoded| portcullis::core::constant_time_eq(&decoded, b"demo:demo"));
    if !client_ok {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.grant_type != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let scope = form.scope.unwrap_or_else(|| "read".to_owned());
    if scope
        .split(' ')
        .any(|s| !s.is_empty() && !CLIENT_SCOPES.contains(&s))
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let ttl = Duration::from_secs(300);
    match app.issuer.access_token("demo", AUDIENCE, &scope, ttl) {
        Ok(access_token) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": ttl.as_secs(),
                "scope": scope,
            })),
        )
            .into_response(),
        Err(err) => internal(err),
    }
}

fn internal(err: impl std::fmt::Display) -> Response {
    tracing::error!(%err, "quickstart: internal error");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

fn session_error(err: SessionError) -> Response {
    tracing::error!(%err, "quickstart: session store error");
    let mut res = (
        StatusCode::SERVICE_UNAVAILABLE,
        "the session store is unavailable, try again",
    )
        .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, "5".parse().unwrap());
    res
}
