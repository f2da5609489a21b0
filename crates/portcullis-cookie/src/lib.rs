//! `CookieLayer`: parse the request's cookies once, hand the app a [`Cookies`] handle, and write
//! one `Set-Cookie` per changed cookie with secure defaults.
//!
//! * Every `Cookie` header is read (HTTP/2 sends one per cookie), lazily, at the first access,
//!   and at most [`CookieLayer::with_max_header_bytes`] bytes and
//!   [`CookieLayer::with_max_cookies`] pairs of it. Malformed pairs, non-UTF-8 bytes and
//!   control characters are skipped, never fatal.
//! * Cookies the app adds get secure defaults for every attribute it left unset: `HttpOnly`,
//!   `Secure`, `SameSite=Lax`, `Path=/`, no `Max-Age`/`Expires` (a session cookie). Dropping
//!   `Secure` for plain-HTTP development is [`CookieSecurity::insecure_allow_http`].
//! * Signed and private (encrypted, AEAD) cookies with key rotation: the current key signs and
//!   encrypts, previous keys still verify and decrypt, and a cookie read with a previous key is
//!   re-issued under the current one.
//! * Nothing changed, nothing written: no `Set-Cookie` unless the app added or removed a cookie.
//!
//! ```
//! use portcullis_cookie::{Cookie, CookieLayer, Cookies};
//! use http::{Request, Response, header};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let svc = ServiceBuilder::new().layer(CookieLayer::new()).service(service_fn(
//!     |req: Request<String>| async move {
//!         let cookies = req.extensions().get::<Cookies>().expect("CookieLayer installed").clone();
//!         let visits: u32 = cookies.get("visits").and_then(|c| c.value().parse().ok()).unwrap_or(0);
//!         cookies.add(Cookie::new("visits", (visits + 1).to_string()))?;
//!         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Response::new(format!("visit {}", visits + 1)))
//!     },
//! ));
//!
//! // Accepted: the cookie is read and a new one written with secure defaults.
//! let req = Request::get("/").header(header::COOKIE, "visits=41").body(String::new())?;
//! let res = svc.clone().oneshot(req).await?;
//! assert_eq!(res.body(), "visit 42");
//! assert_eq!(res.headers()[header::SET_COOKIE], "visits=42; HttpOnly; SameSite=Lax; Secure; Path=/");
//!
//! // A malformed header is not fatal: the bad pair is skipped.
//! let req = Request::get("/").header(header::COOKIE, "garbage; visits=1").body(String::new())?;
//! assert_eq!(svc.oneshot(req).await?.body(), "visit 2");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod config;
mod future;
mod jar;
mod layer;
mod parse;
mod service;

#[cfg(feature = "axum")]
mod extract;

pub use config::{CookieKeys, CookieSecurity};
pub use cookie::{Cookie, Key, SameSite};
pub use future::ResponseFuture;
pub use jar::{CookieError, CookieErrorKind, Cookies, PrivateCookies, SignedCookies};
pub use layer::{CookieLayer, DEFAULT_MAX_COOKIES, DEFAULT_MAX_HEADER_BYTES};
pub use service::CookieManager;

#[cfg(feature = "axum")]
pub use extract::MissingCookieLayer;

/// The name portcullis gives the session cookie by default: the `__Host-` prefix makes browsers
/// refuse it unless it is `Secure`, has `Path=/` and no `Domain`, so no subdomain or plain-HTTP
/// page can plant or overwrite it.
pub const DEFAULT_SESSION_COOKIE: &str = "__Host-session";

#[cfg(test)]
mod tests;
