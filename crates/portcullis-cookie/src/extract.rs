use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::jar::Cookies;

/// The rejection of the [`Cookies`] extractor when no `CookieLayer` runs in front of the
/// handler: a 500, because the app is misconfigured, not the client.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MissingCookieLayer;

impl IntoResponse for MissingCookieLayer {
    fn into_response(self) -> Response {
        tracing::error!(
            "the Cookies extractor needs portcullis_cookie::CookieLayer in front of the handler"
        );
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Missing request extension: CookieLayer is not installed",
        )
            .into_response()
    }
}

impl std::fmt::Display for MissingCookieLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieLayer is not installed")
    }
}

impl std::error::Error for MissingCookieLayer {}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = MissingCookieLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Cookies>()
            .cloned()
            .ok_or(MissingCookieLayer)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Cookies>().cloned())
    }
}
