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
