use super::ip;
use crate::client::Cidr;

#[test]
fn parses_networks_and_hosts() {
    let net: Cidr = "10.0.0.0/8".parse().unwrap();
    assert_eq!(net.network(), ip("10.0.0.0"));
    assert_eq!(net.prefix(), 8);
    assert_eq!(net.to_string(), "10.0.0.0/8");

    let host: Cidr = " 192.0.2.7 ".parse().unwrap();
    assert_eq!(host.prefix(), 32);
    assert!(host.contains(ip("192.0.2.7")));
    assert!(!host.contains(ip("192.0.2.8")));

    let v6: Cidr = "2001:db8::/32".parse().unwrap();
    assert!(v6.contains(ip("2001:db8:ffff::1")));
    assert!(!v6.contains(ip("2001:db9::1")));
    assert_eq!("::1".parse::<Cidr>().unwrap().prefix(), 128);
}

#[test]
fn families_never_mix_but_mapped_addresses_are_ipv4() {
    let v4: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(v4.contains(ip("::ffff:10.1.2.3")));
    assert!(!v4.contains(ip("::a01:203")));
    let mapped_net: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
    assert_eq!(mapped_net, v4);
    let v6: Cidr = "::/1".parse().unwrap();
    assert!(!v6.contains(ip("10.0.0.1")));
}

#[test]
fn refuses_bad_input_with_clear_errors() {
    for (input, needle) in [
        ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ("10.0.0.0/33", "longer than the 32 bits"),
        ("::/129", "longer than the 128 bits"),
        ("10.0.0.0/", "invalid prefix length"),
        ("10.0.0.0/-1", "invalid prefix length"),
        ("10.0.0.0/+8", "invalid prefix length"),
        ("10.0.0.0/0008", "invalid prefix length"),
        ("10.0.0.0/8/8", "invalid prefix length"),
        ("10.0.0/8", "not an IP address"),
        ("example.com", "not an IP address"),
        ("", "not an IP address"),
    ] {
        let err = input.parse::<Cidr>().unwrap_err();
        assert_eq!(err.setting(), "client_ip.trusted_proxies", "{input}");
        assert!(err.message().contains(needle), "{input}: {}", err.message());
    }
}

#[test]
fn zero_prefix_contains_the_whole_family() {
    let all_v4: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all_v4.contains(ip("255.255.255.255")));
    assert!(!all_v4.contains(ip("::1")));
}
