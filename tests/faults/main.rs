//! Faults: a JWKS endpoint that fails in every way (500, garbage, an enormous body, 30 s of
//! silence, a reset connection), Redis killed and restarted under load, and floods of
//! invalid tokens and forged session IDs against a bounded memory footprint.
//!
//! Every response is checked (`hardening::check`): never a 5xx other than a 503, and
//! `Cache-Control: no-store`. Figures (latency, RSS) are printed; run with `--nocapture`
//! (nextest: `--no-capture`) to see them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../hardening/mod.rs"]
mod hardening;
#[path = "../../crates/portcullis-redis/tests/common/mod.rs"]
mod redis_server;

mod flood;
mod jwks;
mod redis;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hardening::Issuer;
use portcullis::policy::PolicyLayer;
use portcullis::session::{Session, Timestamp, TokenSet};
use portcullis::{Portcullis, PortcullisBuilder};
use tokio::net::TcpListener;

const AUD: &str = "api";
const UA: &str = "faults-browser/1.0";
const COOKIE_NAME: &str = portcullis::INSECURE_HTTP_COOKIE_NAME;

/// The app behind the stack: `/login?sub=` (a session holding a token of `issuer`), `/me`
/// (protected), and — when `serve_issuer` — the issuer's discovery and JWKS.
fn router(portcullis: Portcullis, issuer: Arc<Issuer>, serve_issuer: bool) -> Router {
    let protected = Router::new().route("/me", get(me)).route_layer(
        PolicyLayer::require(
            "authenticated",
            |_: &portcullis::jwt::StandardClaims, _: &http::Extensions| true,
        )
        .with_rejection(portcullis.rejection_response()),
    );
    let mut r = Router::new().route("/login", post(login)).merge(protected);
    if serve_issuer {
        r = r
            .route(
                "/.well-known/openid-configuration",
                get(|State(i): State<Arc<Issuer>>| async move { Json(i.discovery()) }),
            )
            .route(
                "/.well-known/jwks.json",
                get(|State(i): State<Arc<Issuer>>| async move { Json(i.jwks()) }),
            );
    }
    r.layer(portcullis).with_state(issuer)
}

async fn login(
    State(issuer): State<Arc<Issuer>>,
    Extension(session): Extension<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let sub = q.get("sub").cloned().unwrap_or_else(|| "alice".to_owned());
    let tokens = TokenSet::new(issuer.token(&sub, AUD))
        .with_expires_in(Timestamp::now(), Duration::from_secs(600));
    match session.login(&sub, tokens).await {
        Ok(()) => (StatusCode::OK, "logged in").into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn me(Extension(claims): Extension<portcullis::jwt::StandardClaims>) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

/// Serves `router` on `listener` (with the peer address for client binding).
fn serve(listener: TcpListener, router: Router) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

/// The stack's builder with the settings every fault test shares.
fn builder(issuer: &Issuer) -> PortcullisBuilder {
    Portcullis::builder()
        .issuer(&issuer.url)
        .audience(AUD)
        .allow_anonymous()
        .insecure_allow_http()
}

/// Latency summary of `samples` (milliseconds): mean, p50, p99, max.
fn summary(samples: &mut [f64]) -> String {
    if samples.is_empty() {
        return "no samples".to_owned();
    }
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    format!(
        "n={} mean={mean:.3}ms p50={:.3}ms p99={:.3}ms max={:.3}ms",
        samples.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    )
}
