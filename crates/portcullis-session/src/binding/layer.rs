use portcullis_core::{BindingPolicy, ClientIpResolver, DefaultRejectionResponse};
use tower_layer::Layer;

use super::service::Binding;

/// Binds sessions to their client (IP address and `User-Agent`); see the
/// [module documentation](crate::binding).
///
/// Defaults: the client IP is the connection's peer address (no trusted proxies), the policy
/// is [`BindingPolicy::new`] (IP by `/24` / `/64` prefix, `User-Agent` exact, reject).
/// Turning binding off is explicit: [`BindingPolicy::disabled`].
///
/// A session bound at login is let in from its client and refused from another one:
///
/// ```
/// use std::sync::Arc;
/// use http::{Request, Response, StatusCode, header};
/// use portcullis_cookie::CookieLayer;
/// use portcullis_core::{ClientBinding, PeerAddr, Rejection, RejectionKind};
/// use portcullis_session::store::MemoryStore;
/// use portcullis_session::{BindingLayer, SessionConfig, TokenLookupLayer, TokenSet};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let manager = SessionConfig::new(Arc::new(MemoryStore::new())).build()?;
/// let app = ServiceBuilder::new()
///     .layer(CookieLayer::new())
///     .layer(TokenLookupLayer::new(manager.clone()))
///     .layer(BindingLayer::new())
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, std::convert::Infallible>(Response::new("hello".to_owned()))
///     }));
///
/// // A session logged in from 198.51.100.20 with Firefox (normally done by `Session::login`).
/// let bound = ClientBinding { ip: Some("198.51.100.20".parse()?), user_agent: Some("Firefox".into()) };
/// let (id, _) = manager.create_session("alice", &TokenSet::new("at".to_owned()), Some(&bound)).await?;
/// let request = |peer: &str| {
///     let mut req = Request::get("/")
///         .header(header::COOKIE, format!("__Host-session={}", id.as_str()))
///         .header(header::USER_AGENT, "Firefox")
///         .body(String::new())
///         .unwrap();
///     req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
///     req
/// };
///
/// // Accepted: the same /24.
/// let res = app.clone().oneshot(request("198.51.100.77:50000")).await?;
/// assert_eq!(res.status(), StatusCode::OK);
///
/// // Rejected: the cookie replayed from elsewhere; the session is destroyed.
/// let res = app.clone().oneshot(request("203.0.113.9:40000")).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(res.extensions().get::<Rejection>().map(Rejection::kind), Some(RejectionKind::BindingMismatch));
/// let res = app.oneshot(request("198.51.100.77:50000")).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED); // gone for everyone
/// # Ok(()) }
/// ```
///
/// Behind a load balancer, with report-only for the roll-out:
///
/// ```
/// use portcullis_core::{BindingPolicy, ClientIpResolver, IpMatch, MismatchAction};
/// use portcullis_session::BindingLayer;
///
/// # fn main() -> Result<(), portcullis_core::ConfigError> {
/// let layer = BindingLayer::new()
///     .with_resolver(ClientIpResolver::new().with_trusted_proxies(["10.0.0.0/8"])?)
///     .with_policy(
///         BindingPolicy::new()
///             .with_ip_match(IpMatch::Prefix { v4: 24, v6: 56 })?
///             .with_mismatch_action(MismatchAction::ReportOnly),
///     );
/// # let _ = layer;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct BindingLayer<R = DefaultRejectionResponse> {
    resolver: ClientIpResolver,
    policy: BindingPolicy,
    rejection: R,
}

impl Default for BindingLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl BindingLayer {
    /// The layer with the defaults: peer address only, [`BindingPolicy::new`], the default
    /// rejection responses.
    pub fn new() -> Self {
        Self {
            resolver: ClientIpResolver::new(),
            policy: BindingPolicy::new(),
            rejection: DefaultRejectionResponse::new(),
        }
    }
}

impl<R> BindingLayer<R> {
    /// How the client IP is found (default: the peer address; configure trusted proxies
    /// here when the app runs behind a load balancer).
    pub fn with_resolver(mut self, resolver: ClientIpResolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// What must match and what a mismatch does (default [`BindingPolicy::new`]).
    pub fn with_policy(mut self, policy: BindingPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How a rejection becomes a response (default
    /// [`DefaultRejectionResponse`](portcullis_core::DefaultRejectionResponse)).
    pub fn with_rejection_response<R2>(self, rejection: R2) -> BindingLayer<R2> {
        BindingLayer {
            resolver: self.resolver,
            policy: self.policy,
            rejection,
        }
    }

    /// The client IP resolver.
    pub fn resolver(&self) -> &ClientIpResolver {
        &self.resolver
    }

    /// The binding policy.
    pub fn policy(&self) -> &BindingPolicy {
        &self.policy
    }
}

impl<S, R: Clone> Layer<S> for BindingLayer<R> {
    type Service = Binding<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Binding::new(
            inner,
            self.resolver.clone(),
            self.policy,
            self.rejection.clone(),
        )
    }
}
