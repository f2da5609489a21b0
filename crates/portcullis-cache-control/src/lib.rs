//! `CacheControlLayer`: keep sensitive responses, and above all `Set-Cookie`, out of shared
//! caches.
//!
//! On every response the [`Sensitive`] policy selects (default: all of them), the layer
//!
//! * sets `Cache-Control` to its [`CacheDirective`] (default `no-store`) unless the handler
//!   set one itself (kept, unless [`CacheControlLayer::with_override`]);
//! * adds `Pragma: no-cache` for HTTP/1.0 caches (unless one is present);
//! * merges `Cookie` and `Authorization` into `Vary`, keeping what is there.
//!
//! A response carrying `Set-Cookie` is always treated as sensitive, and never leaves with a
//! `Cache-Control` that would let a shared cache store the cookie: a handler's `public,
//! max-age=600` next to a `Set-Cookie` is replaced (and logged).
//!
//! ```
//! use portcullis_cache_control::{CacheControlLayer, CacheDirective, Sensitive};
//! use http::{Request, Response, header};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), std::convert::Infallible> {
//! let svc = ServiceBuilder::new()
//!     .layer(CacheControlLayer::new().with_sensitive(Sensitive::credentialed()))
//!     .service(service_fn(|_req: Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(()))
//!     }));
//!
//! // A request with credentials: the response is kept out of caches.
//! let req = Request::get("/me").header(header::AUTHORIZATION, "Bearer abc").body(()).unwrap();
//! let res = svc.clone().oneshot(req).await?;
//! assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
//! assert_eq!(res.headers()[header::PRAGMA], "no-cache");
//! assert_eq!(res.headers()[header::VARY], "Cookie, Authorization");
//!
//! // An anonymous request: the response is left alone.
//! let res = svc.oneshot(Request::get("/logo.png").body(()).unwrap()).await?;
//! assert!(res.headers().get(header::CACHE_CONTROL).is_none());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod directive;
mod future;
mod layer;
mod policy;
mod service;

pub use directive::CacheDirective;
pub use future::ResponseFuture;
pub use layer::CacheControlLayer;
pub use policy::{ResponseInfo, Sensitive};
pub use service::CacheControl;

#[cfg(test)]
mod tests;
