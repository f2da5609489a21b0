//! [`OidcLayer`]: the OIDC routes in front of any tower service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::oidc::Oidc;

/// Serves the login, callback and logout routes of an [`Oidc`] and passes every other request
/// to the inner service. Put it inside `CookieLayer` (with keys) and `TokenLookupLayer`.
///
/// ```
/// use portcullis_cookie::{CookieKeys, CookieLayer, Key};
/// use portcullis_oidc::{OidcConfig, OidcLayer, ProviderMetadata};
/// use portcullis_session::{SessionConfig, TokenLookupLayer, store::MemoryStore};
/// use http::{Request, Response, StatusCode, header};
/// use std::{convert::Infallible, sync::Arc};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let oidc = OidcConfig::new("https://idp.example", "my-app", "https://app.example/callback")
///     .with_client_secret_basic("s3cret")
///     .with_metadata(ProviderMetadata::new(
///         "https://idp.example",
///         "https://idp.example/authorize".parse().unwrap(),
///         "https://idp.example/token".parse().unwrap(),
///     ))
///     .insecure_skip_access_token_validation()
///     .build()
///     .unwrap();
/// let sessions = SessionConfig::new(Arc::new(MemoryStore::new())).build().unwrap();
/// let app = ServiceBuilder::new()
///     .layer(CookieLayer::new().with_keys(CookieKeys::new(Key::generate())))
///     .layer(TokenLookupLayer::new(sessions))
///     .layer(OidcLayer::new(oidc))
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::from("app")))
///     }));
///
/// // Accepted: /login redirects to the provider with PKCE and sets the private flow cookie.
/// let req = Request::get("/login?return_to=/me").body(String::new()).unwrap();
/// let res = app.clone().oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::SEE_OTHER);
/// let location = res.headers()[header::LOCATION].to_str().unwrap();
/// assert!(location.starts_with("https://idp.example/authorize?response_type=code"));
/// assert!(location.contains("code_challenge_method=S256"));
/// assert!(res.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("__Host-oidc-flow="));
///
/// // Rejected: an open redirect in return_to.
/// let req = Request::get("/login?return_to=//evil.example").body(String::new()).unwrap();
/// assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::BAD_REQUEST);
///
/// // Other paths reach the app.
/// let res = app.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap();
/// assert_eq!(res.body(), "app");
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct OidcLayer {
    oidc: Oidc,
}

impl OidcLayer {
    /// The routes of `oidc`.
    pub fn new(oidc: Oidc) -> Self {
        Self { oidc }
    }
}

impl<S> Layer<S> for OidcLayer {
    type Service = OidcRoutes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcRoutes {
            inner,
            oidc: self.oidc.clone(),
        }
    }
}

/// The service of [`OidcLayer`].
#[derive(Clone)]
pub struct OidcRoutes<S> {
    inner: S,
    oidc: Oidc,
}

impl<S: fmt::Debug> fmt::Debug for OidcRoutes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcRoutes")
            .field("inner", &self.inner)
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OidcRoutes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.oidc.route(request.uri().path()).is_none() {
            return ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(request),
                },
            };
        }
        let (parts, _body) = request.into_parts();
        let oidc = self.oidc.clone();
        // One boxed future per login/callback/logout request; other requests are not boxed.
        ResponseFuture {
            kind: Kind::Oidc {
                future: Box::pin(async move { oidc.handle_parts(parts).await }),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`OidcRoutes`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Oidc { future: Pin<Box<dyn Future<Output = Response<String>> + Send>> },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Inner { .. } => "ResponseFuture::Inner",
            Kind::Oidc { .. } => "ResponseFuture::Oidc",
        })
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Oidc { future } => future
                .as_mut()
                .poll(cx)
                .map(|response| Ok(response.map(ResBody::from))),
        }
    }
}
