//! Who the client is: its IP address, resolved so that it cannot be forged, and the
//! properties a session is bound to.
//!
//! * [`ClientIp`]: the client's address, IPv4-mapped IPv6 normalised to IPv4. With the
//!   `axum` feature it is an extractor (`ClientIp` or `Option<ClientIp>`).
//! * [`PeerAddr`] / [`AddPeerAddr`]: how a plain hyper server records the connection's peer;
//!   axum's `ConnectInfo<SocketAddr>` (feature `axum`) and tonic's `TcpConnectInfo` (feature
//!   `tonic`) are read as they are ([`peer_addr`]).
//! * [`ClientIpResolver`]: peer address, or — only from trusted proxies ([`Cidr`]) —
//!   `X-Forwarded-For` or `Forwarded` read right to left.
//! * [`ClientBinding`], [`BindingPolicy`]: what a session is bound to and how strictly.

#[cfg(feature = "axum")]
mod axum;
mod binding;
mod cidr;
mod peer;
mod resolver;

#[cfg(test)]
mod tests;

#[cfg(feature = "axum")]
pub use self::axum::ClientIpRejection;
pub use binding::{
    BindingMismatch, BindingPolicy, ClientBinding, IpMatch, MAX_USER_AGENT_LEN, MismatchAction,
    UserAgentMatch,
};
pub use cidr::Cidr;
pub use peer::{AddPeerAddr, AddPeerAddrLayer, ClientIp, PeerAddr, peer_addr};
pub use resolver::{ClientIpResolver, DEFAULT_MAX_HOPS, ProxyHeader};
