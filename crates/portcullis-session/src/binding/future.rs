use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use portcullis_core::Rejection;

/// Destroying the session of a rejected request: boxed, but only on the rejection path.
pub(crate) type Destroy = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project! {
    /// Response future of [`Binding`](super::Binding): the inner service's response, or the
    /// rejection once the session is destroyed.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner {
            #[pin]
            future: F,
        },
        Rejected {
            destroy: Option<Destroy>,
            response: Option<Response<B>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(destroy: Destroy, mut response: Response<B>) -> Self {
        response
            .extensions_mut()
            .insert(Rejection::binding_mismatch());
        Self {
            kind: Kind::Rejected {
                destroy: Some(destroy),
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Rejected { destroy, response } => {
                if let Some(fut) = destroy.as_mut() {
                    ready!(fut.as_mut().poll(cx));
                    *destroy = None;
                }
                match response.take() {
                    Some(response) => Poll::Ready(Ok(response)),
                    // Polled again after completion: a contract violation by the caller;
                    // there is nothing left to return, and no reason to panic.
                    None => Poll::Pending,
                }
            }
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
