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
    Anonymous,
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
        let outcome = match self.lookup(&request) {
            Ok(outcome) => outcome,
            Err(rejection) => return self.reject(&request, rejection),
        };
        match outcome {
            Outcome::Anonymous if self.allow_anonymous => {
                ResponseFuture::inner(self.inner.call(request))
            }
            Outcome::Anonymous => self.reject(&request, Rejection::missing_credentials()),
            Outcome::Hit(Ok(claims)) => {
                portcullis_core::observe::token_cache_hit();
                portcullis_core::observe::allowed_jwt();
                let standard = claims.standard.clone();
                request.extensions_mut().insert(claims);
                request.extensions_mut().insert(standard);
                ResponseFuture::inner(self.inner.call(request))
            }
            Outcome::Hit(Err(error)) => {
                portcullis_core::observe::token_invalid();
                self.reject(&request, Rejection::from(error))
            }
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

/// The credential of the only `Authorization: Bearer` header, without syntax checks.
fn raw_bearer(headers: &http::HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let bytes = value.as_bytes();
    let scheme = bytes.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    std::str::from_utf8(bytes.get(7..)?)
        .ok()
        .map(str::trim_ascii)
}

impl<S, T, R> Jwt<S, T, R> {
    /// Finds the token and its cached validation, if any.
    fn lookup<ReqB>(&self, request: &Request<ReqB>) -> Result<Outcome<T>, Rejection>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        if let Some(token) = request.extensions().get::<AccessToken>() {
            return Ok(match self.validator.cached(token.as_str()) {
                Some(hit) => Outcome::Hit(hit.and_then(|entry| typed::<T>(&entry))),
                None => Outcome::Miss(token.to_shared()),
            });
        }
        // Warm path: a token equal to a cached valid JWT is well-formed, so the syntax
        // scan of `bearer_token` is only needed on a miss. No signature check, no copy.
        if let Some(raw) = raw_bearer(request.headers())
            && let Some(hit) = self.validator.cached(raw)
        {
            return Ok(Outcome::Hit(hit.and_then(|entry| typed::<T>(&entry))));
        }
        Ok(match bearer_token(request.headers())? {
            Some(token) => Outcome::Miss(Arc::from(token)),
            None => Outcome::Anonymous,
        })
    }

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
