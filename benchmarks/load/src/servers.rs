//! The servers under load. Each answers `GET /` with `hello` (200) and, where it has sessions,
//! `POST /login` with a session cookie. Every server runs on one Tokio worker thread.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis::Portcullis;
use portcullis::jwt::StandardClaims;
use portcullis::session::{Session, Timestamp, TokenSet};
use tokio::net::TcpListener;

use crate::keys::{self, AUDIENCE, SigningKey};

type Res<T> = Result<T, String>;

async fn listen(port: u16) -> Res<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))
}

/// Serves the JWKS of the keys in `dir` at `/jwks.json` (read by portcullis and jwt-authorizer).
pub async fn jwks(port: u16, dir: &Path) -> Res<()> {
    let set = serde_json::to_string(&keys::jwks(dir)?).map_err(|e| e.to_string())?;
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            let set = set.clone();
            async move {
                (
                    [
                        ("content-type", "application/json"),
                        ("cache-control", "public, max-age=3600"),
                    ],
                    set,
                )
            }
        }),
    );
    axum::serve(listen(port).await?, app)
        .await
        .map_err(|e| e.to_string())
}

/// The bare service: axum 0.8 and a hello handler.
pub async fn bare(port: u16) -> Res<()> {
    let app = Router::new().route("/", get(|| async { "hello" }));
    axum::serve(listen(port).await?, app)
        .await
        .map_err(|e| e.to_string())
}

/// The same hello handler behind the whole portcullis stack (`Portcullis::builder()` with its
/// defaults: memory store, client binding, Cache-Control, JWT validation). `cold` turns the
/// validated-token cache off, so every request verifies a signature.
pub async fn portcullis(port: u16, jwks_port: u16, dir: &Path, cold: bool) -> Res<()> {
    let key = Arc::new(keys::load(dir, "rs256")?);
    let mut builder = Portcullis::builder()
        .issuer_with_jwks_uri(keys::issuer(jwks_port), keys::jwks_uri(jwks_port))
        .audience(AUDIENCE)
        // `/login` is public; `/` answers 401 itself when no credential was validated.
        .allow_anonymous()
        // plain HTTP on 127.0.0.1
        .insecure_allow_http();
    if cold {
        builder = builder.configure_validator(|v| v.with_cache_capacity(0));
    }
    let stack = builder.build().map_err(|e| e.to_string())?;
    let app = Router::new()
        .route("/", get(authenticated_hello))
        .route("/login", post(login))
        .layer(stack)
        .with_state((key, jwks_port));
    axum::serve(
        listen(port).await?,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// `hello` when the stack validated an access token (from the session or a bearer header).
async fn authenticated_hello(req: Request) -> Response {
    if req.extensions().get::<StandardClaims>().is_some() {
        "hello".into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

/// Logs in with a fresh RS256 access token (as an OIDC callback would) and sets the cookie.
async fn login(
    State((key, jwks_port)): State<(Arc<SigningKey>, u16)>,
    Extension(session): Extension<Session>,
) -> Response {
    let token = match keys::mint(&key, jwks_port, 0) {
        Ok(token) => token,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let tokens =
        TokenSet::new(token).with_expires_in(Timestamp::now(), Duration::from_secs(86_400));
    match session.login("248289761001", tokens).await {
        Ok(()) => "logged in".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// The hello handler behind `jwt-authorizer` 0.15 (axum 0.7), verifying every bearer token
/// against the same JWKS, with the same `iss` and `aud` checks.
pub async fn jwt_authorizer(port: u16, jwks_port: u16) -> Res<()> {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, RegisteredClaims, Validation};
    let issuer = keys::issuer(jwks_port);
    let auth = JwtAuthorizer::<RegisteredClaims>::from_jwks_url(&keys::jwks_uri(jwks_port))
        .validation(Validation::new().iss(&[issuer]).aud(&[AUDIENCE]))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let app = axum07::Router::new()
        .route("/", axum07::routing::get(|| async { "hello" }))
        .layer([auth].into_layer());
    axum07::serve(listen(port).await?, app)
        .await
        .map_err(|e| e.to_string())
}

/// The hello handler behind `tower-sessions` 0.15 and its `MemoryStore`: `/` reads the
/// session's user and answers 401 without one; `/login` stores it.
pub async fn tower_sessions(port: u16) -> Res<()> {
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};
    async fn hello(session: Session) -> Response {
        match session.get::<String>("user").await {
            Ok(Some(_)) => "hello".into_response(),
            _ => StatusCode::UNAUTHORIZED.into_response(),
        }
    }
    async fn login(session: Session) -> Response {
        match session.insert("user", "248289761001").await {
            Ok(()) => "logged in".into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
    let layer = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let app = Router::new()
        .route("/", get(hello))
        .route("/login", post(login))
        .layer(layer);
    axum::serve(listen(port).await?, app)
        .await
        .map_err(|e| e.to_string())
}
