use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http::header::SET_COOKIE;
use pin_project_lite::pin_project;

use crate::jar::Cookies;

pin_project! {
    /// Response future of [`CookieManager`](crate::CookieManager): writes the jar's changes as
    /// `Set-Cookie` headers.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cookies: Option<Cookies>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, cookies: Cookies) -> Self {
        Self {
            inner,
            cookies: Some(cookies),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(cookies) = this.cookies.take() {
            for value in cookies.take_set_cookies() {
                response.headers_mut().append(SET_COOKIE, value);
            }
        }
        Poll::Ready(Ok(response))
    }
}
