//! [`Jwt`]: the service made by [`JwtLayer`](crate::JwtLayer).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_core::{
    AccessToken, Rejection, RejectionContext, ResponseForRejection, bearer_token,
};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::future::{ResponseFuture, reject};
use crate::validator::{Validator, typed};

/// Validates the access token, then calls the inner service. See
/// [`JwtLayer`](crate::JwtLayer).
pub struct Jwt<S, T, R> {
    pub(crate) inner: S,
    pub(crate) validator: Validator,
    pub(crate) rejection: R,
    pub(crate) allow_anonymous: bool,
    pub(crate) _claims: PhantomData<fn() -> T>,
}

impl<S: Clone, T, R: Clone> Clone for Jwt<S, T, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
            rejection: self.rejection.clone(),
            allow_anonymous: self.allow_anonymous,
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, T, R: fmt::Debug> fmt::Debug for Jwt<S, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("inner", &self.inner)
            .field("validator", &self.validator)
            .field("rejection", &self.rejection)
            .field("allow_anonymous", &self.allow_anonymous)
            .finish()
    }
}

enum Outcome<T> {
    Hit(Result<crate::Claims<T>, crate::JwtError>),
    Miss(Arc<str>),
}

impl<S, T, R, ReqB, ResB> Service<Request<ReqB>> for Jwt<S, T, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    T: DeserializeOwned + Send + Sync + 'static,
    R: ResponseForRejection<ResB>,
    ReqB: Send + 'static,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqB>, T, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let outcome = {
            let (token, shared) = match request.extensions().get::<AccessToken>() {
                Some(token) => (Some(token.as_str()), Some(token.as_arc())),
                None => match bearer_token(request.headers()) {
                    Ok(token) => (token, None),
                    Err(rejection) => return self.reject(&request, rejection),
                },
            };
            match token {
                None if self.allow_anonymous => {
                    return ResponseFuture::inner(self.inner.call(request));
                }
                None => return self.reject(&request, Rejection::missing_credentials()),
                // Warm path: a cached validation, no signature check and no token copy.
                Some(token) => match self.validator.cached(token) {
                    Some(hit) => Outcome::Hit(hit.and_then(|entry| typed::<T>(&entry))),
                    None => Outcome::Miss(shared.cloned().unwrap_or_else(|| Arc::from(token))),
                },
            }
        };
        match outcome {
            Outcome::Hit(Ok(claims)) => {
                let standard = claims.standard.clone();
                request.extensions_mut().insert(claims);
                request.extensions_mut().insert(standard);
                ResponseFuture::inner(self.inner.call(request))
            }
            Outcome::Hit(Err(error)) => self.reject(&request, Rejection::from(error)),
            Outcome::Miss(token) => {
                let validator = self.validator.clone();
                let validation = Box::pin(async move {
                    let entry = validator.validate_entry(&token).await?;
                    typed::<T>(&entry)
                });
                // Move the readied service into the future; keep a fresh clone here.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::validating(validation, inner, request, self.rejection.clone())
            }
        }
    }
}

impl<S, T, R> Jwt<S, T, R> {
    fn reject<ReqB, ResB>(
        &self,
        request: &Request<ReqB>,
        rejection: Rejection,
    ) -> ResponseFuture<S, Request<ReqB>, T, R>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>>,
        R: ResponseForRejection<ResB>,
    {
        ResponseFuture::rejected(reject(
            &self.rejection,
            &RejectionContext::from_request(request),
            rejection,
        ))
    }
}
