use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::HeaderName;
use http::{Request, Response};
use pin_project_lite::pin_project;
use portcullis_core::{Rejection, RejectionContext, ResponseForRejection};
use tower_service::Service;

use crate::session::Session;

type Lookup = Pin<Box<dyn Future<Output = Result<Session, Rejection>> + Send>>;

const CLEAR_SITE_DATA: HeaderName = HeaderName::from_static("clear-site-data");

pin_project! {
    /// The response future of [`TokenLookup`](super::TokenLookup).
    pub struct ResponseFuture<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S::Future, S, Request<ReqBody>, S::Response, R>,
    }
}

/// What a store lookup in progress holds until it ends.
struct Pending<S, Req, R> {
    lookup: Lookup,
    request: Option<Req>,
    inner: Option<S>,
    rejection: R,
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, Req, Res, R> {
        // Boxed: only a store round trip pays for holding the request and the service, and
        // the future every request allocates and moves stays small.
        Lookup { state: Box<Pending<S, Req, R>> },
        Inner {
            #[pin]
            future: F,
            session: Session,
        },
        Rejected {
            response: Option<Res>,
        },
    }
}

impl<S, ReqBody, R> fmt::Debug for ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Lookup { .. } => "lookup",
            State::Inner { .. } => "inner",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

fn rejection_response<B, ReqBody, R>(
    mapping: &R,
    req: &Request<ReqBody>,
    rejection: Rejection,
) -> Response<B>
where
    R: ResponseForRejection<B>,
{
    portcullis_core::observe::reject(
        "token_lookup",
        mapping,
        &RejectionContext::from_request(req),
        rejection,
    )
}

impl<S, ReqBody, ResBody, R> ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: ResponseForRejection<ResBody>,
{
    pub(crate) fn rejected(mapping: &R, req: &Request<ReqBody>, rejection: Rejection) -> Self {
        Self {
            state: State::Rejected {
                response: Some(rejection_response(mapping, req, rejection)),
            },
        }
    }

    pub(crate) fn inner(future: S::Future, session: Session) -> Self {
        Self {
            state: State::Inner { future, session },
        }
    }

    pub(crate) fn lookup(
        lookup: Lookup,
        request: Request<ReqBody>,
        inner: S,
        rejection: R,
    ) -> Self {
        Self {
            state: State::Lookup {
                state: Box::new(Pending {
                    lookup,
                    request: Some(request),
                    inner: Some(inner),
                    rejection,
                }),
            },
        }
    }
}

impl<S, ReqBody, ResBody, R> Future for ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: ResponseForRejection<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Lookup { state } => {
                    let Pending {
                        lookup,
                        request,
                        inner,
                        rejection,
                    } = &mut **state;
                    let outcome = ready!(lookup.as_mut().poll(cx));
                    let (Some(mut req), Some(mut svc)) = (request.take(), inner.take()) else {
                        // Polled again after completion: answer rather than panic.
                        let req = Request::new(());
                        let rejected =
                            Rejection::misconfigured("response future polled after completion");
                        return Poll::Ready(Ok(rejection_response(rejection, &req, rejected)));
                    };
                    match outcome {
                        Ok(session) => {
                            if let Some(token) = session.access_token() {
                                req.extensions_mut().insert(token);
                            }
                            req.extensions_mut().insert(session.clone());
                            let future = svc.call(req);
                            this.state.set(State::Inner { future, session });
                        }
                        Err(rejected) => {
                            let response = rejection_response(rejection, &req, rejected);
                            this.state.set(State::Rejected { response: None });
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Inner { future, session } => {
                    let mut result = ready!(future.poll(cx));
                    if let Ok(response) = &mut result
                        && session.take_clear_site_data()
                        && let Some(value) = &session.session_manager().config().clear_site_data
                    {
                        response
                            .headers_mut()
                            .insert(CLEAR_SITE_DATA, value.clone());
                    }
                    return Poll::Ready(result);
                }
                StateProj::Rejected { response } => {
                    if let Some(response) = response.take() {
                        return Poll::Ready(Ok(response));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
