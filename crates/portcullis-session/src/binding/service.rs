use std::task::{Context, Poll};

use http::{Request, Response};
use portcullis_core::{
    BindingPolicy, ClientIpResolver, IpMatch, MismatchAction, Rejection, RejectionContext,
    ResponseForRejection,
};
use tower_service::Service;

use super::future::ResponseFuture;
use crate::Session;

/// The service of [`BindingLayer`](super::BindingLayer).
#[derive(Clone, Debug)]
pub struct Binding<S, R> {
    inner: S,
    resolver: ClientIpResolver,
    policy: BindingPolicy,
    rejection: R,
}

impl<S, R> Binding<S, R> {
    pub(crate) fn new(
        inner: S,
        resolver: ClientIpResolver,
        policy: BindingPolicy,
        rejection: R,
    ) -> Self {
        Self {
            inner,
            resolver,
            policy,
            rejection,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Binding<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: ResponseForRejection<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let ip = self.resolver.resolve_request(&request);
        if let Some(ip) = ip {
            request.extensions_mut().insert(ip);
        } else if self.policy.ip_match() != IpMatch::Off {
            warn_no_peer_address();
        }
        let (mismatch, session) = {
            let Some(session) = request.extensions().get::<Session>() else {
                // No session (a bearer-token or anonymous request): nothing is bound.
                return ResponseFuture::inner(self.inner.call(request));
            };
            // Compare with what login captured (nothing before login), then record the
            // current client so that a login during this request captures it.
            let verdict = session.bind_request(
                &self.policy,
                ip.map(|ip| ip.ip()),
                request.headers().get(http::header::USER_AGENT),
            );
            match verdict {
                Some(Err(mismatch)) => (mismatch, session.clone()),
                None | Some(Ok(())) => return ResponseFuture::inner(self.inner.call(request)),
            }
        };
        let client_ip = ip.map(tracing::field::display);
        match self.policy.mismatch_action() {
            MismatchAction::ReportOnly => {
                tracing::warn!(
                    reason = mismatch.reason(),
                    client_ip,
                    action = "report_only",
                    "session used from another client than it was bound to; letting the request through (report-only)"
                );
                ResponseFuture::inner(self.inner.call(request))
            }
            _ => {
                tracing::warn!(
                    reason = mismatch.reason(),
                    client_ip,
                    action = "reject",
                    "session used from another client than it was bound to; session destroyed"
                );
                let response = portcullis_core::observe::reject(
                    "binding",
                    &self.rejection,
                    &RejectionContext::from_request(&request),
                    Rejection::binding_mismatch(),
                );
                ResponseFuture::rejected(
                    Box::pin(async move {
                        if let Err(err) = session.destroy().await {
                            // The request is refused regardless; the record expires on its own.
                            tracing::error!(error = %err, "destroying the mismatched session failed");
                        }
                    }),
                    response,
                )
            }
        }
    }
}

/// IP binding is on but the server records no peer address: sessions cannot be bound to an
/// IP. Said once per process, loudly, because it is a deployment mistake, not a client's.
fn warn_no_peer_address() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "BindingLayer: IP binding is on but the request carries no peer address; serve with \
             axum's `into_make_service_with_connect_info::<SocketAddr>()` (feature `axum`), \
             tonic's connect info (feature `tonic`) or `AddPeerAddrLayer` for plain hyper, \
             or turn IP binding off explicitly"
        );
    }
}
