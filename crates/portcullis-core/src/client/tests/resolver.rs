use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, Request};

use super::ip;
use crate::client::resolver::{Hop, parse_forwarded_element, parse_node, parse_xff_element};
use crate::client::{Cidr, ClientIpResolver, PeerAddr, ProxyHeader};

fn resolver(trusted: &[&str]) -> ClientIpResolver {
    ClientIpResolver::new()
        .with_trusted_proxies(trusted.iter().copied())
        .unwrap()
}

fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(name, HeaderValue::from_str(v).unwrap());
    }
    map
}

fn xff(values: &[&str]) -> HeaderMap {
    headers("x-forwarded-for", values)
}

fn fwd(values: &[&str]) -> HeaderMap {
    headers("forwarded", values)
}

fn resolve(r: &ClientIpResolver, peer: &str, h: &HeaderMap) -> IpAddr {
    r.resolve(Some(ip(peer)), h).unwrap().ip()
}

#[test]
fn spoofed_xff_from_untrusted_peer_is_ignored() {
    let r = resolver(&["10.0.0.0/8"]);
    let h = xff(&["10.0.0.5, 1.2.3.4"]);
    assert_eq!(resolve(&r, "198.51.100.7", &h), ip("198.51.100.7"));
    // No trusted proxies at all (the default): headers are never read.
    assert_eq!(
        resolve(&ClientIpResolver::new(), "10.0.0.1", &h),
        ip("10.0.0.1")
    );
    // Nor the other header.
    let r = r.with_header(ProxyHeader::Forwarded);
    assert_eq!(
        resolve(&r, "198.51.100.7", &fwd(&["for=1.2.3.4"])),
        ip("198.51.100.7")
    );
}

#[test]
fn chain_through_two_trusted_proxies_resolves_the_client() {
    // client 203.0.113.9 -> edge proxy 10.1.0.1 -> internal proxy 10.2.0.1 -> us.
    // The client forged "6.6.6.6" in front; the edge appended what it saw, the internal
    // proxy appended the edge.
    let r = resolver(&["10.1.0.0/16", "10.2.0.0/16"]);
    let h = xff(&["6.6.6.6, 203.0.113.9, 10.1.0.1"]);
    assert_eq!(resolve(&r, "10.2.0.1", &h), ip("203.0.113.9"));
    // The same chain spread over several header lines.
    let h = xff(&["6.6.6.6", "203.0.113.9", "10.1.0.1"]);
    assert_eq!(resolve(&r, "10.2.0.1", &h), ip("203.0.113.9"));
    // Through Forwarded, with ports and a quoted IPv6 client.
    let r = r.with_header(ProxyHeader::Forwarded);
    let h = fwd(&[
        r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for="10.1.0.1:80";by=_edge"#,
    ]);
    assert_eq!(resolve(&r, "10.2.0.1", &h), ip("2001:db8:cafe::17"));
}

#[test]
fn untrusted_peer_resolves_to_itself_even_through_a_trusted_looking_header() {
    let r = resolver(&["10.0.0.0/8"]);
    // A client claiming to come via our proxy is still just the client.
    let h = xff(&["10.0.0.1"]);
    assert_eq!(resolve(&r, "203.0.113.1", &h), ip("203.0.113.1"));
}

#[test]
fn all_hops_trusted_gives_the_leftmost() {
    let r = resolver(&["10.0.0.0/8"]);
    let h = xff(&["10.9.9.9, 10.0.0.2"]);
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.9.9.9"));
    // Missing header: the trusted peer itself.
    assert_eq!(resolve(&r, "10.0.0.1", &HeaderMap::new()), ip("10.0.0.1"));
}

#[test]
fn ipv4_ipv6_and_mapped_addresses() {
    let r = resolver(&["10.0.0.0/8", "fd00::/8"]);
    // An IPv4-mapped peer matches the IPv4 trusted network, and the result is plain IPv4.
    let h = xff(&["::ffff:203.0.113.9"]);
    assert_eq!(resolve(&r, "::ffff:10.0.0.1", &h), ip("203.0.113.9"));
    // A mapped untrusted peer resolves to plain IPv4.
    assert_eq!(
        resolve(&r, "::ffff:198.51.100.1", &HeaderMap::new()),
        ip("198.51.100.1")
    );
    // IPv6 proxy, IPv6 client, with and without brackets and ports.
    for v in ["2001:db8::9", "[2001:db8::9]", "[2001:db8::9]:443"] {
        assert_eq!(resolve(&r, "fd00::1", &xff(&[v])), ip("2001:db8::9"), "{v}");
    }
    // IPv6 proxy, IPv4 client with a port.
    assert_eq!(
        resolve(&r, "fd00::1", &xff(&["192.0.2.1:5555"])),
        ip("192.0.2.1")
    );
    // Mapped hop that is a trusted proxy is skipped.
    assert_eq!(
        resolve(&r, "fd00::1", &xff(&["192.0.2.1, ::ffff:10.0.0.3"])),
        ip("192.0.2.1")
    );
}

#[test]
fn malformed_hops_stop_at_the_last_vouched_address() {
    let r = resolver(&["10.0.0.0/8"]);
    for bad in [
        "garbage",
        "unknown",
        "1.2.3.4.5",
        "1.2.3.4:99999",
        "1.2.3.4:",
        "[::1",
        "[::1]x",
        "[1.2.3.4]",
        "1.2.3.4 5.6.7.8",
        "\u{0}",
    ] {
        let Ok(v) = HeaderValue::from_str(&format!("203.0.113.9, {bad}")) else {
            continue;
        };
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v);
        assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.1"), "{bad:?}");
    }
    // Behind a trusted hop, the malformed one yields that trusted hop.
    let h = xff(&["203.0.113.9, garbage, 10.0.0.7"]);
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.7"));
    // Not UTF-8.
    let mut h = HeaderMap::new();
    h.insert(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"203.0.113.9, \xff\xfe").unwrap(),
    );
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.1"));
    // Empty list elements are skipped, as HTTP list syntax allows.
    let h = xff(&["203.0.113.9, , ,"]);
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("203.0.113.9"));
}

#[test]
fn malformed_forwarded_elements_stop_the_walk() {
    let r = resolver(&["10.0.0.0/8"]).with_header(ProxyHeader::Forwarded);
    for bad in [
        "for=",
        "for=\"\"",
        "for=_hidden",
        "for=unknown",
        "for=\"[2001:db8::1]\";for=1.2.3.4",
        "proto=https",
        "for=\"1.2.3.4",
        "for=1.2.3.4\"",
        "for=\"1.2\\\"3.4\"",
        "for=[2001:db8::1]",
        "for",
        "=1.2.3.4",
        "f r=1.2.3.4",
        "for=\"[2001:db8::1]:_\"",
    ] {
        let h = fwd(&[&format!("for=203.0.113.9, {bad}")]);
        assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.1"), "{bad:?}");
    }
    // A quoted comma splits an element; the broken halves are unusable, never misread.
    let h = fwd(&["for=203.0.113.9, for=10.0.0.9;ext=\"a,b\""]);
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.1"));
}

#[test]
fn forwarded_element_syntax() {
    let cases: &[(&str, Hop)] = &[
        ("for=192.0.2.60", Hop::Ip(ip("192.0.2.60"))),
        ("For=\"192.0.2.60:47011\"", Hop::Ip(ip("192.0.2.60"))),
        (
            "for=\"[2001:db8:cafe::17]\"",
            Hop::Ip(ip("2001:db8:cafe::17")),
        ),
        (
            "for=\"[2001:db8:cafe::17]:4711\"",
            Hop::Ip(ip("2001:db8:cafe::17")),
        ),
        ("for=\"[::1]:_port\"", Hop::Ip(ip("::1"))),
        ("for=\"192.0.2.1:_x.y-z\"", Hop::Ip(ip("192.0.2.1"))),
        (
            "proto=http;for=192.0.2.43;by=203.0.113.43",
            Hop::Ip(ip("192.0.2.43")),
        ),
        (
            " for = 192.0.2.43 ; proto=https ",
            Hop::Ip(ip("192.0.2.43")),
        ),
        ("for=_gazonk", Hop::Unusable),
        ("for=unknown", Hop::Unusable),
        ("for=\"unknown:80\"", Hop::Unusable),
        ("", Hop::Empty),
        ("  ", Hop::Empty),
    ];
    for (input, want) in cases {
        assert_eq!(&parse_forwarded_element(input.as_bytes()), want, "{input}");
    }
    assert_eq!(parse_xff_element(b" 192.0.2.1 "), Hop::Ip(ip("192.0.2.1")));
    assert_eq!(parse_node("[fe80::1%eth0]"), Hop::Unusable);
    assert_eq!(parse_node("1.2.3.4:0x50"), Hop::Unusable);
}

#[test]
fn huge_headers_are_bounded() {
    let r = resolver(&["10.0.0.0/8"]);
    // 10 000 trusted hops: the walk stops at the hop limit, at a trusted address.
    let hops = vec!["10.0.0.2"; 10_000].join(", ");
    let h = xff(&[&format!("203.0.113.9, {hops}")]);
    let got = resolve(&r, "10.0.0.1", &h);
    assert_eq!(got, ip("10.0.0.2"));
    // With a big enough limit the client is found.
    let got = resolve(&r.clone().with_max_hops(20_000), "10.0.0.1", &h);
    assert_eq!(got, ip("203.0.113.9"));
    // A single enormous element is unusable without being scanned.
    let h = xff(&[&format!("203.0.113.9, {}", "1".repeat(100_000))]);
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.1"));
    // Thousands of empty elements count toward the limit too.
    let h = xff(&[&format!("203.0.113.9{}", ",".repeat(50_000))]);
    assert_eq!(resolve(&r, "10.0.0.1", &h), ip("10.0.0.1"));
    // Max hops 0 never reads the header.
    let h = xff(&["203.0.113.9"]);
    assert_eq!(
        resolve(&r.clone().with_max_hops(0), "10.0.0.1", &h),
        ip("10.0.0.1")
    );
    assert_eq!(
        resolve(&r.with_max_hops(1), "10.0.0.1", &h),
        ip("203.0.113.9")
    );
}

#[test]
fn no_peer_means_no_client_ip() {
    let r = resolver(&["10.0.0.0/8"]);
    assert_eq!(r.resolve(None, &xff(&["203.0.113.9"])), None);
    let req = Request::builder()
        .header("x-forwarded-for", "203.0.113.9")
        .body(())
        .unwrap();
    assert_eq!(r.resolve_request(&req), None);
    let mut req = req;
    req.extensions_mut()
        .insert(PeerAddr("10.0.0.1:9".parse().unwrap()));
    assert_eq!(r.resolve_request(&req).unwrap().ip(), ip("203.0.113.9"));
}

#[test]
fn trusting_everything_is_refused() {
    for all in ["0.0.0.0/0", "::/0"] {
        let err = ClientIpResolver::new()
            .with_trusted_proxies(["10.0.0.0/8", all])
            .unwrap_err();
        assert!(err.message().contains("trusts every address"), "{all}");
    }
    let err = ClientIpResolver::new()
        .with_trusted_proxies(["10.0.0.0/8", "nonsense"])
        .unwrap_err();
    assert!(err.message().contains("nonsense"));
    let ok = ClientIpResolver::new()
        .with_trusted_cidrs(["10.0.0.0/8".parse::<Cidr>().unwrap()])
        .unwrap();
    assert_eq!(ok.trusted_proxies().len(), 1);
    assert!(ok.is_trusted(ip("::ffff:10.2.3.4")));
}
