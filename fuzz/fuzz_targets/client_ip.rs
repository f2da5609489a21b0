//! `ClientIpResolver::resolve` with arbitrary `X-Forwarded-For` and `Forwarded` headers.
//!
//! Input: header lines separated by `\n`, each sent both as `X-Forwarded-For` and as
//! `Forwarded`. Invariants, for both header kinds:
//! * no panic, and an answer whenever there is a peer;
//! * from an untrusted peer the headers are ignored: the answer is the peer;
//! * from a trusted proxy that appended the address it saw (`203.0.113.7`), the answer is
//!   that address, whatever the client wrote to the left of it (a client cannot choose its
//!   own IP);
//! * the answer is never a made-up address when the chain is unusable: it is either an
//!   untrusted hop or a trusted one.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis_core::client::{ClientIpResolver, ProxyHeader};

fn resolvers() -> &'static [(ClientIpResolver, HeaderName, &'static str); 2] {
    static R: OnceLock<[(ClientIpResolver, HeaderName, &'static str); 2]> = OnceLock::new();
    R.get_or_init(|| {
        let base = ClientIpResolver::new()
            .with_trusted_proxies(["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"])
            .expect("valid CIDRs");
        [
            (
                base.clone().with_header(ProxyHeader::XForwardedFor),
                HeaderName::from_static("x-forwarded-for"),
                "203.0.113.7",
            ),
            (
                base.with_header(ProxyHeader::Forwarded),
                http::header::FORWARDED,
                "for=203.0.113.7",
            ),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<HeaderValue> = data
        .split(|b| *b == b'\n')
        .filter_map(|l| HeaderValue::from_bytes(l).ok())
        .collect();
    let proxy: IpAddr = "10.1.2.3".parse().expect("an IP");
    let stranger: IpAddr = "198.51.100.4".parse().expect("an IP");
    let seen: IpAddr = "203.0.113.7".parse().expect("an IP");
    for (resolver, name, appended) in resolvers() {
        let mut headers = HeaderMap::new();
        for l in &lines {
            headers.append(name.clone(), l.clone());
        }
        // Any header from an untrusted peer: the peer.
        let ip = resolver.resolve(Some(stranger), &headers).expect("a peer");
        assert_eq!(ip.ip(), stranger);
        assert!(resolver.resolve(None, &headers).is_none());

        // Any header from a trusted peer: an answer, trusted or not, never a panic.
        let ip = resolver.resolve(Some(proxy), &headers).expect("a peer");
        let _ = resolver.is_trusted(ip.ip());

        // The trusted proxy appends what it saw, as a new line...
        let mut appended_line = headers.clone();
        appended_line.append(name.clone(), HeaderValue::from_static(appended));
        let ip = resolver
            .resolve(Some(proxy), &appended_line)
            .expect("a peer");
        assert_eq!(ip.ip(), seen, "client-written lines chose the IP");

        // ...or to the last line (`value, appended`).
        if let Some(last) = lines.last() {
            let mut v = last.as_bytes().to_vec();
            v.extend_from_slice(b", ");
            v.extend_from_slice(appended.as_bytes());
            let mut merged = HeaderMap::new();
            for l in &lines[..lines.len() - 1] {
                merged.append(name.clone(), l.clone());
            }
            merged.append(
                name.clone(),
                HeaderValue::from_bytes(&v).expect("still valid"),
            );
            let ip = resolver.resolve(Some(proxy), &merged).expect("a peer");
            assert_eq!(ip.ip(), seen, "a client-written prefix chose the IP");
        }
    }
});
