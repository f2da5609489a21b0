//! `TokenLookupLayer`: find the request's credential, load its session, and hand both on.

mod future;
mod service;

use std::fmt;

use portcullis_core::DefaultRejectionResponse;
use tower_layer::Layer;

pub use future::ResponseFuture;
pub use service::TokenLookup;

use crate::manager::SessionManager;

/// Finds the request's credential and puts a [`Session`](crate::Session) handle (always) and
/// the [`AccessToken`](portcullis_core::AccessToken) (when there is one) into the request
/// extensions, for the `BindingLayer`, the `JwtLayer` and the app.
///
/// * The session cookie (read from the [`Cookies`](portcullis_cookie::Cookies) jar that
///   `CookieLayer` — which must be outside this layer — puts into the extensions) is looked up
///   in the store: an unknown, expired or logged-out session has its cookie cleared and the
///   request refused with `session_invalid` (401, or the login redirect of your
///   [`ResponseForRejection`](portcullis_core::ResponseForRejection)), or, with
///   [`with_dead_session_as_anonymous`](crate::SessionConfig::with_dead_session_as_anonymous),
///   served as anonymous (cookie still cleared); a live one has its idle
///   deadline moved forward (written at most once per touch interval); an expired access token
///   ends the session or is refreshed, per the policy.
/// * The `Authorization: Bearer` header gives an `AccessToken` directly (no store access).
/// * No credential: an anonymous `Session` (its `login` works), no `AccessToken`; the JWT
///   layer decides whether that is enough.
/// * The store failing or timing out: 503 with `Retry-After`, logged; nobody is let in.
///
/// With an in-process store ([`MemoryStore`](crate::store::MemoryStore)) a live session is
/// served without waiting: no boxed future, no timer, no copy of the record or its tokens.
/// A store that does I/O (Redis), and anything that must write (the throttled touch, a
/// refresh, ending an expired session), takes one boxed future for the lookup.
///
/// ```
/// use portcullis_cookie::CookieLayer;
/// use portcullis_session::{Session, SessionConfig, TokenLookupLayer, TokenSet, store::MemoryStore};
/// use http::{Request, Response, StatusCode, header};
/// use std::{convert::Infallible, sync::Arc};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sessions = SessionConfig::new(Arc::new(MemoryStore::new())).build().unwrap();
/// let app = ServiceBuilder::new()
///     .layer(CookieLayer::new())
///     .layer(TokenLookupLayer::new(sessions))
///     .service(service_fn(|req: Request<String>| async move {
///         let session = req.extensions().get::<Session>().unwrap().clone();
///         if req.uri().path() == "/login" {
///             session.login("alice", TokenSet::new("access-jwt")).await.unwrap();
///         }
///         Ok::<_, Infallible>(Response::new(session.subject().unwrap_or_default()))
///     }));
///
/// // Log in: the response sets the session cookie (an opaque ID, never the token).
/// let res = app.clone().oneshot(Request::get("/login").body(String::new()).unwrap()).await.unwrap();
/// let set_cookie = res.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
/// assert!(set_cookie.starts_with("__Host-session=") && !set_cookie.contains("access-jwt"));
/// let cookie = set_cookie.split(';').next().unwrap().to_owned();
///
/// // Accepted: the cookie finds the session.
/// let req = Request::get("/").header(header::COOKIE, &cookie).body(String::new()).unwrap();
/// assert_eq!(app.clone().oneshot(req).await.unwrap().body(), "alice");
///
/// // Rejected: an unknown session ID is a 401 and the cookie is cleared.
/// let forged = "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/// let req = Request::get("/").header(header::COOKIE, forged).body(String::new()).unwrap();
/// let res = app.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// assert!(res.headers()[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct TokenLookupLayer<R = DefaultRejectionResponse> {
    manager: SessionManager,
    rejection: R,
}

impl TokenLookupLayer {
    /// A lookup over the sessions of `manager`, with the default rejection responses.
    pub fn new(manager: SessionManager) -> Self {
        Self {
            manager,
            rejection: DefaultRejectionResponse::new(),
        }
    }
}

impl<R> TokenLookupLayer<R> {
    /// Renders rejections with `rejection` instead (for example with a login redirect).
    pub fn with_rejection_response<R2>(self, rejection: R2) -> TokenLookupLayer<R2> {
        TokenLookupLayer {
            manager: self.manager,
            rejection,
        }
    }

    /// The session manager.
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }
}

impl<R: fmt::Debug> fmt::Debug for TokenLookupLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenLookupLayer")
            .field("manager", &self.manager)
            .field("rejection", &self.rejection)
            .finish()
    }
}

impl<S, R: Clone> Layer<S> for TokenLookupLayer<R> {
    type Service = TokenLookup<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenLookup::new(inner, self.manager.clone(), self.rejection.clone())
    }
}
