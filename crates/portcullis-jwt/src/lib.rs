//! JWT validation for portcullis: a cached JWKS, an RFC 8725 validator, `JwtLayer` and
//! per-route policies.
//!
//! * [`JwksCache`]: the signing keys of one or more issuers (OIDC discovery or a direct
//!   `jwks_uri`), refreshed on `Cache-Control: max-age` within bounds and ahead of time in
//!   the background; unknown `kid`s re-fetch at most once per cool-down, single-flight, with
//!   a negative cache; known keys survive an IdP outage for a stale window; an IdP that is
//!   down at start is retried with backoff while requests get 503 + `Retry-After`.
//! * [`Validator`]: RFC 8725 checks (algorithm allow-list tied to the key type, no `none`,
//!   HMAC only with an explicit secret, `iss`/`aud`/`exp`/`nbf`/`iat` with leeway, `crit`,
//!   size limit, `typ`), plus a validated-token cache with revocation by `jti`, `sid`, `sub`.
//! * [`JwtLayer`]: takes the token from an [`AccessToken`](portcullis_core::AccessToken) in
//!   the extensions or the `Authorization: Bearer` header, validates it, and puts
//!   [`Claims<T>`] and [`StandardClaims`] into the extensions (axum extractors with the
//!   `axum` feature).
//! * [`policy::PolicyLayer`]: per-route scope, role or predicate requirements (403
//!   `insufficient_scope`).
//! * [`http::HttpClient`]: the pluggable HTTP client (default: hyper + rustls, HTTPS only,
//!   timeout and size limit), shared with the session crate.
//!
//! Features: `https` (default; rustls with webpki roots), `native-roots`, `axum`,
//! `dev-issuer` (`dev::DevIssuer`, for development only).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod claims;
#[cfg(feature = "dev-issuer")]
pub mod dev;
mod error;
pub mod http;
pub mod jwks;
mod validator;

pub use claims::{Claims, StandardClaims};
pub use error::{JwtError, JwtErrorKind};
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksCache, JwksCacheBuilder, JwksStats, KeyType};
pub use validator::{DEFAULT_ALGORITHMS, Validator, ValidatorBuilder};

mod future;
mod layer;
mod service;

pub use layer::JwtLayer;
pub use service::Jwt;

/// The response future of [`Jwt`].
pub mod jwt {
    pub use crate::future::ResponseFuture;
}
#[cfg(feature = "axum")]
mod extract;
pub mod policy;
#[cfg(feature = "axum")]
pub use extract::MissingClaims;
