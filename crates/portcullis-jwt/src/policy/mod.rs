//! Per-route policies over the validated claims: scopes, roles, any predicate.
//!
//! Put a [`PolicyLayer`] on a route, inside [`JwtLayer`](crate::JwtLayer). A request
//! without validated claims gets 401; one whose claims fail the policy gets 403
//! `insufficient_scope` naming what is required (gRPC: `grpc-status` 7).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use portcullis_jwt::policy::PolicyLayer;
//! use portcullis_jwt::{JwksCache, JwtLayer, Validator};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let secret = [7u8; 32];
//! let jwks = JwksCache::builder().add_issuer("https://idp.example").build().unwrap();
//! let validator = Validator::builder(jwks)
//!     .with_audience("api")
//!     .with_hmac_secret("https://internal.example", secret)
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(JwtLayer::new(validator))
//!     .layer(PolicyLayer::require_scope("orders:write"))
//!     .service(service_fn(|_req: Request<String>| async {
//!         Ok::<_, Infallible>(Response::new(String::new()))
//!     }));
//! let token = |scope: &str| {
//!     let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300;
//!     let claims = serde_json::json!({"iss": "https://internal.example", "aud": "api", "exp": exp, "scope": scope});
//!     let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
//!     let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&secret)).unwrap();
//!     Request::get("/orders").header("authorization", format!("Bearer {token}")).body(String::new()).unwrap()
//! };
//!
//! let response = service.clone().oneshot(token("orders:read orders:write")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let response = service.oneshot(token("orders:read")).await.unwrap();
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer error="insufficient_scope", error_description="the access token does not grant the required scope", scope="orders:write""#
//! );
//! # }
//! ```

mod future;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_core::{
    DefaultRejectionResponse, Rejection, RejectionContext, ResponseForRejection,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::StandardClaims;
pub use future::ResponseFuture;

/// A check of the validated claims of a request.
pub trait ClaimsPolicy: Clone + Send + Sync + 'static {
    /// `Ok` lets the request in; `Err` is the rejection (usually
    /// [`Rejection::insufficient_scope`]).
    fn check(
        &self,
        claims: &StandardClaims,
        extensions: &http::Extensions,
    ) -> Result<(), Rejection>;
}

/// Requires every one of the scopes (`scope`/`scp`).
#[derive(Clone, Debug)]
pub struct RequireScopes(Arc<[Box<str>]>);

impl ClaimsPolicy for RequireScopes {
    fn check(&self, claims: &StandardClaims, _: &http::Extensions) -> Result<(), Rejection> {
        match self.0.iter().find(|s| !claims.has_scope(s)) {
            None => Ok(()),
            Some(_) => Err(Rejection::insufficient_scope(self.0.join(" "))),
        }
    }
}

/// Requires at least one of the scopes.
#[derive(Clone, Debug)]
pub struct RequireAnyScope(Arc<[Box<str>]>);

impl ClaimsPolicy for RequireAnyScope {
    fn check(&self, claims: &StandardClaims, _: &http::Extensions) -> Result<(), Rejection> {
        if self.0.iter().any(|s| claims.has_scope(s)) {
            Ok(())
        } else {
            // RFC 6750 scope attribute: any of these would do; name them all.
            Err(Rejection::insufficient_scope(self.0.join(" ")))
        }
    }
}

/// Requires only a validated token: any claims will do (401 without one).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireAuthenticated;

impl ClaimsPolicy for RequireAuthenticated {
    fn check(&self, _: &StandardClaims, _: &http::Extensions) -> Result<(), Rejection> {
        Ok(())
    }
}

/// Requires a role (`roles`).
#[derive(Clone, Debug)]
pub struct RequireRole(Arc<str>);

impl ClaimsPolicy for RequireRole {
    fn check(&self, claims: &StandardClaims, _: &http::Extensions) -> Result<(), Rejection> {
        if claims.has_role(&self.0) {
            Ok(())
        } else {
            Err(Rejection::insufficient_scope(&*self.0)
                .with_required_scope(format!("role:{}", self.0)))
        }
    }
}

/// Requires a predicate over the claims (and the request extensions, e.g. `Claims<T>`).
#[derive(Clone)]
pub struct Predicate<F> {
    predicate: F,
    required: Arc<str>,
}

impl<F> fmt::Debug for Predicate<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Predicate")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<F> ClaimsPolicy for Predicate<F>
where
    F: Fn(&StandardClaims, &http::Extensions) -> bool + Clone + Send + Sync + 'static,
{
    fn check(
        &self,
        claims: &StandardClaims,
        extensions: &http::Extensions,
    ) -> Result<(), Rejection> {
        if (self.predicate)(claims, extensions) {
            Ok(())
        } else {
            Err(Rejection::insufficient_scope(&*self.required))
        }
    }
}

/// Applies a [`ClaimsPolicy`] to every request of the wrapped route.
#[must_use]
#[derive(Clone, Debug)]
pub struct PolicyLayer<P, R = DefaultRejectionResponse> {
    policy: P,
    rejection: R,
}

impl<P: ClaimsPolicy> PolicyLayer<P> {
    /// A layer enforcing `policy`.
    pub fn new(policy: P) -> Self {
        Self {
            policy,
            rejection: DefaultRejectionResponse::new(),
        }
    }
}

impl PolicyLayer<RequireAuthenticated> {
    /// Requires a validated token and nothing more: for routes behind a `JwtLayer` that
    /// [allows anonymous requests](crate::JwtLayer::allow_anonymous), this refuses the anonymous
    /// ones with 401.
    pub fn authenticated() -> Self {
        Self::new(RequireAuthenticated)
    }
}

impl PolicyLayer<RequireScopes> {
    /// Requires `scope`.
    pub fn require_scope(scope: impl AsRef<str>) -> Self {
        Self::require_scopes([scope])
    }

    /// Requires every one of `scopes`.
    pub fn require_scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(RequireScopes(
            scopes.into_iter().map(|s| Box::from(s.as_ref())).collect(),
        ))
    }
}

impl PolicyLayer<RequireAnyScope> {
    /// Requires at least one of `scopes`.
    pub fn require_any_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(RequireAnyScope(
            scopes.into_iter().map(|s| Box::from(s.as_ref())).collect(),
        ))
    }
}

impl PolicyLayer<RequireRole> {
    /// Requires `role` in the `roles` claim; the 403 names `role:<role>` as the scope.
    pub fn require_role(role: impl AsRef<str>) -> Self {
        Self::new(RequireRole(Arc::from(role.as_ref())))
    }
}

impl<F> PolicyLayer<Predicate<F>>
where
    F: Fn(&StandardClaims, &http::Extensions) -> bool + Clone + Send + Sync + 'static,
{
    /// Requires `predicate`; the 403 names `required` as the missing scope. The extensions
    /// hold the typed [`Claims<T>`](crate::Claims) for predicates over custom claims.
    pub fn require(required: impl AsRef<str>, predicate: F) -> Self {
        Self::new(Predicate {
            predicate,
            required: Arc::from(required.as_ref()),
        })
    }
}

impl<P, R> PolicyLayer<P, R> {
    /// Replaces the rejection-to-response mapping.
    pub fn with_rejection<R2>(self, rejection: R2) -> PolicyLayer<P, R2> {
        PolicyLayer {
            policy: self.policy,
            rejection,
        }
    }
}

impl<S, P: Clone, R: Clone> Layer<S> for PolicyLayer<P, R> {
    type Service = Policy<S, P, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Policy {
            inner,
            policy: self.policy.clone(),
            rejection: self.rejection.clone(),
        }
    }
}

/// The service made by [`PolicyLayer`].
#[derive(Clone, Debug)]
pub struct Policy<S, P, R> {
    inner: S,
    policy: P,
    rejection: R,
}

impl<S, P, R, ReqB, ResB> Service<Request<ReqB>> for Policy<S, P, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    P: ClaimsPolicy,
    R: ResponseForRejection<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let verdict = match request.extensions().get::<StandardClaims>() {
            Some(claims) => self.policy.check(claims, request.extensions()),
            None => Err(Rejection::missing_credentials()),
        };
        match verdict {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            Err(rejection) => ResponseFuture::rejected(portcullis_core::observe::reject(
                "policy",
                &self.rejection,
                &RejectionContext::from_request(&request),
                rejection,
            )),
        }
    }
}

#[cfg(test)]
mod tests;
