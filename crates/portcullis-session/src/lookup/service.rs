use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_cookie::Cookies;
use portcullis_core::{AccessToken, Rejection, ResponseForRejection};
use tower_service::Service;

use super::future::ResponseFuture;
use crate::config::CredentialOrder;
use crate::id::{SessionId, SessionIdHash};
use crate::manager::SessionManager;
use crate::session::Session;

/// The service of [`TokenLookupLayer`](super::TokenLookupLayer).
#[derive(Clone)]
pub struct TokenLookup<S, R> {
    inner: S,
    manager: SessionManager,
    rejection: R,
}

impl<S: fmt::Debug, R: fmt::Debug> fmt::Debug for TokenLookup<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenLookup")
            .field("inner", &self.inner)
            .field("manager", &self.manager)
            .field("rejection", &self.rejection)
            .finish()
    }
}

impl<S, R> TokenLookup<S, R> {
    pub(crate) fn new(inner: S, manager: SessionManager, rejection: R) -> Self {
        Self {
            inner,
            manager,
            rejection,
        }
    }
}

/// The credential a request carries.
enum Found {
    Bearer(AccessToken, Option<Cookies>),
    Cookie(SessionIdHash, Cookies),
    BadCookie(Cookies),
    Nothing(Option<Cookies>),
}

fn find<B>(manager: &SessionManager, req: &Request<B>) -> Result<Found, Rejection> {
    let config = manager.config();
    let order = config.order;
    let cookies = req.extensions().get::<Cookies>().cloned();
    let from_cookie = || -> Option<Found> {
        if !order.uses_cookie() {
            return None;
        }
        let jar = cookies.clone()?;
        let id = jar.value_with(&config.cookie_name, SessionId::hash_of)?;
        Some(match id {
            Some(id) => Found::Cookie(id, jar),
            None => Found::BadCookie(jar),
        })
    };
    let from_bearer = || -> Result<Option<Found>, Rejection> {
        if !order.uses_bearer() {
            return Ok(None);
        }
        Ok(AccessToken::from_bearer_header(req.headers())?
            .map(|token| Found::Bearer(token, cookies.clone())))
    };
    let found = match order {
        CredentialOrder::BearerThenCookie => match from_bearer()? {
            Some(found) => Some(found),
            None => from_cookie(),
        },
        _ => match from_cookie() {
            Some(found) => Some(found),
            None => from_bearer()?,
        },
    };
    match found {
        Some(found) => Ok(found),
        None if order.uses_cookie() && cookies.is_none() => Err(Rejection::misconfigured(
            "TokenLookupLayer needs CookieLayer outside it",
        )),
        None => Ok(Found::Nothing(cookies)),
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for TokenLookup<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: ResponseForRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let manager = &self.manager;
        match find(manager, &req) {
            Err(rejection) => {
                if rejection.kind() == portcullis_core::RejectionKind::Misconfigured {
                    tracing::error!("{}", rejection.description());
                }
                ResponseFuture::rejected(&self.rejection, &req, rejection)
            }
            Ok(Found::BadCookie(cookies)) => {
                manager.clear_cookie(&cookies);
                if manager.config().dead_session_is_anonymous {
                    let session = Session::anonymous(manager.clone(), Some(cookies));
                    req.extensions_mut().insert(session.clone());
                    return ResponseFuture::inner(self.inner.call(req), session);
                }
                let rejection = Rejection::session_invalid("malformed session cookie");
                ResponseFuture::rejected(&self.rejection, &req, rejection)
            }
            Ok(Found::Bearer(token, cookies)) => {
                let session = Session::anonymous(manager.clone(), cookies);
                req.extensions_mut().insert(token);
                req.extensions_mut().insert(session.clone());
                ResponseFuture::inner(self.inner.call(req), session)
            }
            Ok(Found::Nothing(cookies)) => {
                let session = Session::anonymous(manager.clone(), cookies);
                req.extensions_mut().insert(session.clone());
                ResponseFuture::inner(self.inner.call(req), session)
            }
            Ok(Found::Cookie(hash, cookies)) => {
                // An in-process store answers at once: no boxed future, no clone of the
                // inner service.
                match manager.lookup_now(&hash, &cookies) {
                    Some(Ok(session)) => {
                        if let Some(token) = session.access_token() {
                            req.extensions_mut().insert(token);
                        }
                        req.extensions_mut().insert(session.clone());
                        ResponseFuture::inner(self.inner.call(req), session)
                    }
                    Some(Err(rejection)) => {
                        ResponseFuture::rejected(&self.rejection, &req, rejection)
                    }
                    None => {
                        let lookup = Box::pin(manager.clone().lookup(hash, cookies));
                        // The readied service goes with the request; a fresh clone stays.
                        let clone = self.inner.clone();
                        let inner = std::mem::replace(&mut self.inner, clone);
                        ResponseFuture::lookup(lookup, req, inner, self.rejection.clone())
                    }
                }
            }
        }
    }
}
