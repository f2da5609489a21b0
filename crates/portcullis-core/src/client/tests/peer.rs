use std::net::SocketAddr;

use http::{Extensions, Request};
use tower::ServiceExt;

use super::ip;
use crate::client::{AddPeerAddr, AddPeerAddrLayer, ClientIp, PeerAddr, peer_addr};

#[test]
fn client_ip_normalises_mapped_addresses() {
    assert_eq!(ClientIp::new(ip("::ffff:192.0.2.1")).ip(), ip("192.0.2.1"));
    assert_eq!(ClientIp::new(ip("192.0.2.1")).ip(), ip("192.0.2.1"));
    assert_eq!(ClientIp::new(ip("2001:db8::1")).ip(), ip("2001:db8::1"));
    // IPv4-compatible (deprecated, not mapped) addresses stay IPv6.
    assert_eq!(ClientIp::new(ip("::192.0.2.1")).ip(), ip("::192.0.2.1"));
    assert_eq!(
        ClientIp::from(ip("::ffff:10.0.0.1")).to_string(),
        "10.0.0.1"
    );
}

#[test]
fn peer_addr_reads_peer_addr_extension() {
    let mut ext = Extensions::new();
    assert_eq!(peer_addr(&ext), None);
    let addr: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    ext.insert(PeerAddr(addr));
    assert_eq!(peer_addr(&ext), Some(addr));
}

#[cfg(feature = "axum")]
#[test]
fn peer_addr_reads_axum_connect_info() {
    use axum::extract::ConnectInfo;
    use axum::extract::connect_info::MockConnectInfo;
    let addr: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
    let mut ext = Extensions::new();
    ext.insert(ConnectInfo(addr));
    assert_eq!(peer_addr(&ext), Some(addr));
    let mut ext = Extensions::new();
    ext.insert(MockConnectInfo(addr));
    assert_eq!(peer_addr(&ext), Some(addr));
}

#[cfg(feature = "tonic")]
#[test]
fn peer_addr_reads_tonic_connect_info() {
    use tonic::transport::server::TcpConnectInfo;
    let addr: SocketAddr = "203.0.113.5:1234".parse().unwrap();
    let mut ext = Extensions::new();
    ext.insert(TcpConnectInfo {
        local_addr: None,
        remote_addr: Some(addr),
    });
    assert_eq!(peer_addr(&ext), Some(addr));
    let mut ext = Extensions::new();
    ext.insert(TcpConnectInfo {
        local_addr: None,
        remote_addr: None,
    });
    assert_eq!(peer_addr(&ext), None);
}

#[tokio::test]
async fn add_peer_addr_inserts_the_extension() {
    let addr: SocketAddr = "198.51.100.3:80".parse().unwrap();
    let inner = tower::service_fn(|req: Request<()>| async move {
        Ok::<_, std::convert::Infallible>(req.extensions().get::<PeerAddr>().copied())
    });
    let svc = AddPeerAddr::new(inner, addr);
    assert_eq!(svc.peer(), addr);
    let seen = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(seen, Some(PeerAddr(addr)));

    let svc = tower::ServiceBuilder::new()
        .layer(AddPeerAddrLayer::new(addr))
        .service(inner);
    let seen = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(seen, Some(PeerAddr(addr)));
}

#[cfg(feature = "axum")]
mod axum_extractor {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::IntoResponse;

    use super::*;
    use crate::client::ClientIpResolver;

    fn parts(f: impl FnOnce(&mut Request<()>)) -> http::request::Parts {
        let mut req = Request::new(());
        f(&mut req);
        req.into_parts().0
    }

    #[tokio::test]
    async fn prefers_resolved_ip_then_resolver_then_peer() {
        let peer: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let mut p = parts(|r| {
            r.extensions_mut().insert(PeerAddr(peer));
            r.headers_mut()
                .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        });
        // No resolver configured: the header is not believed.
        let got = <ClientIp as FromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert_eq!(got.ip(), ip("10.0.0.1"));

        p.extensions.insert(
            ClientIpResolver::new()
                .with_trusted_proxies(["10.0.0.0/8"])
                .unwrap(),
        );
        let got = <ClientIp as FromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert_eq!(got.ip(), ip("203.0.113.9"));

        p.extensions.insert(ClientIp::new(ip("192.0.2.55")));
        let got = <ClientIp as FromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert_eq!(got.ip(), ip("192.0.2.55"));
    }

    #[tokio::test]
    async fn unknown_peer_is_a_500_or_none() {
        let mut p = parts(|r| {
            r.headers_mut()
                .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        });
        let err = <ClientIp as FromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap_err();
        let resp = err.into_response();
        assert_eq!(resp.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        let opt = <ClientIp as OptionalFromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert_eq!(opt, None);
    }
}
