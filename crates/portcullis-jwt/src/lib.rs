//! JWT validation for portcullis: a cached JWKS, an RFC 8725 validator, `JwtLayer` and
//! per-route policies.
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
