//! [`ResponseFuture`] of the [`Jwt`](crate::Jwt) service.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use portcullis_core::{Rejection, RejectionContext, ResponseForRejection};
use tower_service::Service;

use crate::claims::Claims;
use crate::error::JwtError;

/// A token validation in progress (only on a cache miss).
pub(crate) type Validation<T> =
    Pin<Box<dyn Future<Output = Result<Claims<T>, JwtError>> + Send + 'static>>;

/// Builds the rejection response and puts the rejection into its extensions.
pub(crate) fn reject<B, R: ResponseForRejection<B>>(
    mapping: &R,
    cx: &RejectionContext<'_>,
    rejection: Rejection,
) -> Response<B> {
    portcullis_core::observe::reject("jwt", mapping, cx, rejection)
}

pin_project! {
    /// The response future of [`Jwt`](crate::Jwt).
    pub struct ResponseFuture<S, Req, T, R>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req, T, R>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req, T, R>
    where
        S: Service<Req>,
    {
        Inner { #[pin] future: S::Future },
        Rejected { response: Option<S::Response> },
        // Boxed: only a cache miss pays for holding the request and the service, and the
        // future every request allocates and moves stays small.
        Validating { state: Box<Pending<S, Req, T, R>> },
    }
}

/// What a validation in progress holds until it ends.
struct Pending<S, Req, T, R> {
    validation: Validation<T>,
    inner: Option<S>,
    request: Option<Req>,
    rejection: R,
    _claims: PhantomData<fn() -> T>,
}

impl<S: Service<Req>, Req, T, R> fmt::Debug for ResponseFuture<S, Req, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Rejected { .. } => "rejected",
            Kind::Validating { .. } => "validating",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S: Service<Req>, Req, T, R> ResponseFuture<S, Req, T, R> {
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn validating(
        validation: Validation<T>,
        inner: S,
        request: Req,
        rejection: R,
    ) -> Self {
        Self {
            kind: Kind::Validating {
                state: Box::new(Pending {
                    validation,
                    inner: Some(inner),
                    request: Some(request),
                    rejection,
                    _claims: PhantomData,
                }),
            },
        }
    }
}

impl<S, ReqB, ResB, T, R> Future for ResponseFuture<S, Request<ReqB>, T, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    T: Send + Sync + 'static,
    R: ResponseForRejection<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.kind.as_mut().project() {
                KindProj::Inner { future } => return future.poll(cx),
                KindProj::Rejected { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending, // polled after completion
                    };
                }
                KindProj::Validating { state } => {
                    let Pending {
                        validation,
                        inner,
                        request,
                        rejection,
                        ..
                    } = &mut **state;
                    let result = ready!(validation.as_mut().poll(cx));
                    let (Some(mut request), Some(mut inner)) = (request.take(), inner.take())
                    else {
                        return Poll::Pending; // polled after completion
                    };
                    match result {
                        Ok(claims) => {
                            portcullis_core::observe::token_verified();
                            portcullis_core::observe::allowed_jwt();
                            let standard = claims.standard.clone();
                            request.extensions_mut().insert(claims);
                            request.extensions_mut().insert(standard);
                            Kind::Inner {
                                future: inner.call(request),
                            }
                        }
                        Err(error) => {
                            portcullis_core::observe::token_invalid();
                            let response = reject(
                                rejection,
                                &RejectionContext::from_request(&request),
                                Rejection::from(error),
                            );
                            Kind::Rejected {
                                response: Some(response),
                            }
                        }
                    }
                }
            };
            this.kind.set(next);
        }
    }
}
