use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

use http::{Extensions, Request};

/// The client's IP address, as resolved by a [`ClientIpResolver`](crate::ClientIpResolver).
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports for an
/// IPv4 client) are normalised to plain IPv4, so one client has one `ClientIp` whichever way
/// the server listens.
///
/// The binding layer puts it into the request extensions; with the `axum` feature it is also
/// an extractor (see the `client` module docs).
///
/// ```
/// use portcullis_core::ClientIp;
/// use std::net::IpAddr;
///
/// let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
/// assert_eq!(ClientIp::new(mapped).ip(), "192.0.2.1".parse::<IpAddr>().unwrap());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(IpAddr);

impl ClientIp {
    /// The client IP `ip`, normalised (IPv4-mapped IPv6 becomes IPv4).
    pub fn new(ip: IpAddr) -> Self {
        Self(ip.to_canonical())
    }

    /// The address.
    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl From<IpAddr> for ClientIp {
    fn from(ip: IpAddr) -> Self {
        Self::new(ip)
    }
}

impl From<ClientIp> for IpAddr {
    fn from(ip: ClientIp) -> Self {
        ip.0
    }
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The address of the connection's peer, for servers that are not axum or tonic.
///
/// A plain hyper server knows the peer when it accepts the connection; wrap the per-connection
/// service in [`AddPeerAddr`] (or insert `PeerAddr` into the request extensions yourself) so
/// that the portcullis layers can see it. axum's `ConnectInfo<SocketAddr>` (feature `axum`)
/// and tonic's `TcpConnectInfo` (feature `tonic`) are read directly; see [`peer_addr`].
///
/// The peer address is the only client address that cannot be forged by the client:
/// forwarding headers are honoured only when it is a trusted proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The peer address recorded in `extensions`, in this order: [`PeerAddr`], axum's
/// `ConnectInfo<SocketAddr>` and `MockConnectInfo<SocketAddr>` (feature `axum`), tonic's
/// `TcpConnectInfo` (feature `tonic`). `None` if none is present (for example a Unix-socket
/// server, or a server that records nothing).
pub fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    {
        use axum::extract::ConnectInfo;
        use axum::extract::connect_info::MockConnectInfo;
        if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            return Some(*addr);
        }
        if let Some(MockConnectInfo(addr)) = extensions.get::<MockConnectInfo<SocketAddr>>() {
            return Some(*addr);
        }
    }
    #[cfg(feature = "tonic")]
    {
        use tonic::transport::server::TcpConnectInfo;
        if let Some(addr) = extensions
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
        {
            return Some(addr);
        }
    }
    None
}

/// Inserts [`PeerAddr`] into every request before calling the inner service.
///
/// For plain hyper servers: build one per accepted connection.
///
/// ```
/// use portcullis_core::{AddPeerAddr, PeerAddr};
/// use std::convert::Infallible;
/// use std::net::SocketAddr;
/// use tower_service::Service;
///
/// # #[derive(Clone)] struct App;
/// # impl Service<http::Request<()>> for App {
/// #     type Response = Option<PeerAddr>; type Error = Infallible;
/// #     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> { std::task::Poll::Ready(Ok(())) }
/// #     fn call(&mut self, req: http::Request<()>) -> Self::Future { std::future::ready(Ok(req.extensions().get::<PeerAddr>().copied())) }
/// # }
/// # let app = App;
/// // in the accept loop: `let (stream, peer) = listener.accept().await?;`
/// let peer: SocketAddr = "192.0.2.7:50123".parse().unwrap();
/// let mut svc = AddPeerAddr::new(app.clone(), peer);
/// // then serve `hyper_util::service::TowerToHyperService::new(svc)` on `stream`.
/// # let fut = svc.call(http::Request::new(()));
/// # let out = std::pin::pin!(fut);
/// # let waker = std::task::Waker::noop();
/// # let std::task::Poll::Ready(Ok(seen)) = out.poll(&mut std::task::Context::from_waker(&waker)) else { unreachable!() };
/// # assert_eq!(seen, Some(PeerAddr(peer)));
/// ```
#[derive(Clone, Debug)]
pub struct AddPeerAddr<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S> AddPeerAddr<S> {
    /// Wraps `inner` for a connection from `peer`.
    pub fn new(inner: S, peer: SocketAddr) -> Self {
        Self { inner, peer }
    }

    /// The peer address this wrapper inserts.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> tower_service::Service<Request<B>> for AddPeerAddr<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(request)
    }
}

/// A [`tower_layer::Layer`] producing [`AddPeerAddr`] for one connection's peer.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct AddPeerAddrLayer {
    peer: SocketAddr,
}

impl AddPeerAddrLayer {
    /// A layer for a connection from `peer`.
    pub fn new(peer: SocketAddr) -> Self {
        Self { peer }
    }
}

impl<S> tower_layer::Layer<S> for AddPeerAddrLayer {
    type Service = AddPeerAddr<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddPeerAddr::new(inner, self.peer)
    }
}
