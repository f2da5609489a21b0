use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, COOKIE};
use http::{Request, Response};
use tower_service::Service;

use crate::future::{Captured, ResponseFuture};
use crate::layer::Config;
use crate::policy::Kind;

/// The service built by [`CacheControlLayer`](crate::CacheControlLayer).
#[derive(Clone, Debug)]
pub struct CacheControl<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> CacheControl<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CacheControl<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let credentials =
            || req.headers().contains_key(COOKIE) || req.headers().contains_key(AUTHORIZATION);
        // Capture only what the policy needs.
        let captured = match &self.config.sensitive.0 {
            Kind::All | Kind::SetCookie => Captured::Nothing,
            Kind::Credentialed => Captured::Credentials(credentials()),
            Kind::Predicate(_) => Captured::Request {
                method: req.method().clone(),
                uri: req.uri().clone(),
                credentials: credentials(),
            },
        };
        ResponseFuture::new(self.inner.call(req), self.config.clone(), captured)
    }
}
