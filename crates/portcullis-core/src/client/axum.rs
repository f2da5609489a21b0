//! The axum extractor for [`ClientIp`].

use std::convert::Infallible;
use std::fmt;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::peer::{ClientIp, peer_addr};
use super::resolver::ClientIpResolver;

/// Finds the client IP of a request: the [`ClientIp`] an earlier layer resolved (the binding
/// layer does), else one resolved with a [`ClientIpResolver`] found in the extensions (add it
/// with `axum::Extension(resolver)`), else the bare peer address — never a forwarding header
/// without a configured resolver.
fn find(parts: &Parts) -> Option<ClientIp> {
    if let Some(ip) = parts.extensions.get::<ClientIp>() {
        return Some(*ip);
    }
    let peer = peer_addr(&parts.extensions).map(|a| a.ip());
    match parts.extensions.get::<ClientIpResolver>() {
        Some(resolver) => resolver.resolve(peer, &parts.headers),
        None => peer.map(ClientIp::new),
    }
}

/// Extracts the client IP; see [`ClientIpRejection`] for when it fails.
///
/// ```
/// use axum::{Router, routing::get};
/// use portcullis_core::ClientIp;
/// use std::net::SocketAddr;
///
/// async fn whoami(ip: ClientIp) -> String {
///     ip.to_string()
/// }
///
/// let app: Router = Router::new().route("/", get(whoami));
/// // serve with `app.into_make_service_with_connect_info::<SocketAddr>()`
/// # let _ = app;
/// ```
impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
{
    type Rejection = ClientIpRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        find(parts).ok_or(ClientIpRejection(()))
    }
}

/// `Option<ClientIp>`: `None` when the client address is unknown.
impl<S> OptionalFromRequestParts<S> for ClientIp
where
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(find(parts))
    }
}

/// The client address is unknown: the server records no peer address. A 500, because it is
/// a server misconfiguration: serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` (axum), tonic's `Server`, or wrap
/// plain hyper connections in [`AddPeerAddr`](crate::AddPeerAddr).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientIpRejection(());

impl ClientIpRejection {
    /// The message, also the response body.
    pub const fn body_text(&self) -> &'static str {
        "the client address is unknown: the server does not record connection peer addresses"
    }

    /// `500 Internal Server Error`.
    pub const fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl fmt::Debug for ClientIpRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIpRejection")
    }
}

impl fmt::Display for ClientIpRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_text())
    }
}

impl std::error::Error for ClientIpRejection {}

impl IntoResponse for ClientIpRejection {
    fn into_response(self) -> Response {
        tracing::error!(
            "ClientIp extractor: no peer address recorded; serve with connect info or add PeerAddr"
        );
        (self.status(), self.body_text()).into_response()
    }
}
