//! # portcullis
//!
//! Composable [Tower](https://docs.rs/tower) layers that give any axum, hyper or tonic service
//! secure session management. Stacked outermost first:
//!
//! ```text
//! CacheControl → Cookies → TokenLookup → Binding → Jwt → [per-route Policy] → your service
//! ```
//!
//! Each layer lives in its own crate and is re-exported here behind a feature:
//!
//! | feature | module | what |
//! |---|---|---|
//! | *(always)* | [`core`] | [`Rejection`], [`AccessToken`], [`ConfigError`], rejection responses |
//! | `cookie` (default) | [`cookie`] | `CookieLayer`: parse `Cookie` once, secure `Set-Cookie` |
//! | `cache-control` (default) | [`cache_control`] | `CacheControlLayer`: keep sensitive responses out of shared caches |
//! | `axum` | | axum extractors for the layers' request extensions |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub use portcullis_core as core;
pub use portcullis_core::{
    AccessToken, ConfigError, DefaultRejectionResponse, Rejection, RejectionKind,
    ResponseForRejection,
};

#[cfg(feature = "cookie")]
pub use portcullis_cookie as cookie;

#[cfg(feature = "cache-control")]
pub use portcullis_cache_control as cache_control;

#[cfg(feature = "jwt")]
pub use portcullis_jwt as jwt;
#[cfg(feature = "jwt")]
pub use portcullis_jwt::policy;

#[cfg(feature = "session")]
pub use portcullis_session as session;

#[cfg(feature = "redis")]
pub use portcullis_redis as redis;

#[cfg(feature = "stack")]
mod builder;
#[cfg(feature = "stack")]
pub use builder::{INSECURE_HTTP_COOKIE_NAME, Portcullis, PortcullisBuilder, PortcullisService};

/// A development issuer for the quickstart and tests; see [`dev::DevIssuer`].
#[cfg(feature = "dev-issuer")]
pub use portcullis_jwt::dev;
