use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::jar::{Cookies, RawHeaders, Shared};

/// The service built by [`CookieLayer`](crate::CookieLayer).
#[derive(Clone, Debug)]
pub struct CookieManager<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> CookieManager<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CookieManager<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let cookies = Cookies::new(self.shared.clone(), RawHeaders::of(req.headers()));
        req.extensions_mut().insert(cookies.clone());
        ResponseFuture::new(self.inner.call(req), cookies)
    }
}
