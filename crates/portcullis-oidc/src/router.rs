//! The routes as an axum `Router` (feature `axum`).

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};

use crate::oidc::Oidc;

impl Oidc {
    /// The login (`GET`), callback (`GET`) and logout (`POST`) routes, to merge into the app's
    /// router *inside* `CookieLayer` (with keys) and `TokenLookupLayer`, and outside any
    /// `JwtLayer` (the login route must work without a session).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let (login, callback, logout) = (self.clone(), self.clone(), self.clone());
        Router::new()
            .route(
                self.login_path(),
                get(move |req: Request| async move { login.handle(req).await }),
            )
            .route(
                self.callback_path(),
                get(move |req: Request| async move { callback.handle(req).await }),
            )
            .route(
                self.logout_path(),
                post(move |req: Request| async move { logout.handle(req).await }),
            )
    }
}
