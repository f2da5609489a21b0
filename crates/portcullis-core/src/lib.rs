//! Shared building blocks for the portcullis layers.
//!
//! This crate holds what every portcullis layer needs and nothing layer-specific:
//!
//! * [`Rejection`]: the one error type every layer refuses a request with, and
//!   [`ResponseForRejection`], the replaceable mapping from a rejection to a response
//!   ([`DefaultRejectionResponse`] speaks RFC 6750 for HTTP and `grpc-status` for gRPC);
//! * [`AccessToken`]: the credential an earlier layer found, for a later layer to validate;
//! * [`ConfigError`]: what a builder returns when its configuration cannot work;
//! * [`client`]: the client's IP ([`ClientIp`], [`ClientIpResolver`] with trusted proxies) and
//!   the session binding policy ([`ClientBinding`], [`BindingPolicy`]);
//! * small helpers: [`bearer_token`], [`constant_time_eq`], [`is_grpc`].
//!
//! ```
//! use portcullis_core::{DefaultRejectionResponse, Rejection, RejectionContext, ResponseForRejection};
//! use http::{Request, StatusCode};
//!
//! let request = Request::get("/api").body(()).unwrap();
//! let mapping = DefaultRejectionResponse::new().with_realm("api");
//! let response: http::Response<String> =
//!     mapping.response(&RejectionContext::from_request(&request), Rejection::invalid_token("token expired"));
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="invalid_token", error_description="token expired""#
//! );
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod client;
mod config;
mod credential;
pub mod observe;
mod rejection;
mod response;

#[cfg(feature = "axum")]
pub use client::ClientIpRejection;
pub use client::{
    AddPeerAddr, AddPeerAddrLayer, BindingMismatch, BindingPolicy, Cidr, ClientBinding, ClientIp,
    ClientIpResolver, IpMatch, MismatchAction, PeerAddr, ProxyHeader, UserAgentMatch, peer_addr,
};
pub use config::ConfigError;
pub use credential::{AccessToken, TokenSource, bearer_token, constant_time_eq, is_grpc};
pub use rejection::{Rejection, RejectionKind};
pub use response::{DefaultRejectionResponse, RejectionContext, ResponseForRejection};
