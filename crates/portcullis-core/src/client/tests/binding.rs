use http::{HeaderMap, HeaderValue};

use super::ip;
use crate::client::{
    BindingPolicy, ClientBinding, IpMatch, MAX_USER_AGENT_LEN, MismatchAction, UserAgentMatch,
};

fn b(addr: &str, ua: &str) -> ClientBinding {
    ClientBinding {
        ip: Some(ip(addr)),
        user_agent: Some(ua.to_owned()),
    }
}

fn prefix(v4: u8, v6: u8) -> BindingPolicy {
    BindingPolicy::new()
        .with_ip_match(IpMatch::Prefix { v4, v6 })
        .unwrap()
}

#[test]
fn defaults_are_secure() {
    let p = BindingPolicy::new();
    assert_eq!(p.ip_match(), IpMatch::Prefix { v4: 24, v6: 64 });
    assert_eq!(p.user_agent_match(), UserAgentMatch::Exact);
    assert_eq!(p.mismatch_action(), MismatchAction::Reject);
    assert!(p.is_enabled());
    assert!(!BindingPolicy::disabled().is_enabled());
}

#[test]
fn default_prefix_boundaries_v4_24_and_v6_64() {
    let p = BindingPolicy::new();
    let login = b("192.0.2.0", "ua");
    assert!(p.check(&login, &b("192.0.2.255", "ua")).is_ok());
    assert_eq!(
        p.check(&login, &b("192.0.3.0", "ua")).unwrap_err().reason(),
        "ip"
    );
    assert!(p.check(&login, &b("192.0.1.255", "ua")).is_err());

    let login = b("2001:db8:0:1::", "ua");
    assert!(
        p.check(&login, &b("2001:db8:0:1:ffff:ffff:ffff:ffff", "ua"))
            .is_ok()
    );
    assert!(p.check(&login, &b("2001:db8:0:2::", "ua")).is_err());
    assert!(
        p.check(&login, &b("2001:db8:0:0:ffff:ffff:ffff:ffff", "ua"))
            .is_err()
    );
}

#[test]
fn odd_prefixes_at_the_boundary() {
    // /23: 192.0.2.0 - 192.0.3.255.
    let p = prefix(23, 63);
    let login = b("192.0.2.10", "ua");
    assert!(p.check(&login, &b("192.0.3.255", "ua")).is_ok());
    assert!(p.check(&login, &b("192.0.4.0", "ua")).is_err());
    assert!(p.check(&login, &b("192.0.1.255", "ua")).is_err());
    // /63: 2001:db8:0:0::/63 covers ...:0:* and ...:1:*.
    let login = b("2001:db8::1", "ua");
    assert!(p.check(&login, &b("2001:db8:0:1::9", "ua")).is_ok());
    assert!(p.check(&login, &b("2001:db8:0:2::", "ua")).is_err());

    // /32 and /128: exact.
    let p = prefix(32, 128);
    assert!(
        p.check(&b("192.0.2.1", "ua"), &b("192.0.2.1", "ua"))
            .is_ok()
    );
    assert!(
        p.check(&b("192.0.2.1", "ua"), &b("192.0.2.0", "ua"))
            .is_err()
    );
    assert!(p.check(&b("::1", "ua"), &b("::1", "ua")).is_ok());
    assert!(p.check(&b("::1", "ua"), &b("::", "ua")).is_err());

    // /0: any address of the same family, never across families.
    let p = prefix(0, 0);
    assert!(p.check(&b("1.1.1.1", "ua"), &b("255.0.0.0", "ua")).is_ok());
    assert!(p.check(&b("::1", "ua"), &b("ffff::", "ua")).is_ok());
    assert!(p.check(&b("1.1.1.1", "ua"), &b("::1", "ua")).is_err());

    // /1 splits the space in half.
    let p = prefix(1, 1);
    assert!(
        p.check(&b("0.0.0.0", "ua"), &b("127.255.255.255", "ua"))
            .is_ok()
    );
    assert!(p.check(&b("0.0.0.0", "ua"), &b("128.0.0.0", "ua")).is_err());
}

#[test]
fn exact_and_off_ip_matching() {
    let exact = BindingPolicy::new().with_ip_match(IpMatch::Exact).unwrap();
    assert!(
        exact
            .check(&b("192.0.2.1", "ua"), &b("192.0.2.1", "ua"))
            .is_ok()
    );
    assert!(
        exact
            .check(&b("192.0.2.1", "ua"), &b("192.0.2.2", "ua"))
            .is_err()
    );
    // Mapped and plain IPv4 are the same client.
    assert!(
        exact
            .check(&b("::ffff:192.0.2.1", "ua"), &b("192.0.2.1", "ua"))
            .is_ok()
    );
    let off = BindingPolicy::new().with_ip_match(IpMatch::Off).unwrap();
    assert!(off.check(&b("192.0.2.1", "ua"), &b("::1", "ua")).is_ok());
    assert_eq!(
        off.check(&b("192.0.2.1", "ua"), &b("::1", "other"))
            .unwrap_err()
            .reason(),
        "user_agent"
    );
}

#[test]
fn unknown_ip_on_one_side_is_a_mismatch() {
    let p = BindingPolicy::new();
    let none = ClientBinding {
        ip: None,
        user_agent: Some("ua".into()),
    };
    assert!(p.check(&b("192.0.2.1", "ua"), &none).is_err());
    assert!(p.check(&none, &b("192.0.2.1", "ua")).is_err());
    assert!(p.check(&none, &none).is_ok());
}

#[test]
fn user_agent_exact_or_off() {
    let p = BindingPolicy::new();
    let login = b("192.0.2.1", "Mozilla/5.0 A");
    let err = p
        .check(&login, &b("192.0.2.1", "Mozilla/5.0 B"))
        .unwrap_err();
    assert!(err.user_agent_changed() && !err.ip_changed());
    assert_eq!(err.reason(), "user_agent");
    assert_eq!(err.to_string(), "session binding mismatch: user_agent");
    // Missing User-Agent now vs. one at login.
    let no_ua = ClientBinding {
        ip: login.ip,
        user_agent: None,
    };
    assert!(p.check(&login, &no_ua).is_err());
    // Both differ.
    assert_eq!(
        p.check(&login, &b("198.51.100.1", "x"))
            .unwrap_err()
            .reason(),
        "ip,user_agent"
    );
    let off = p.with_user_agent_match(UserAgentMatch::Off);
    assert!(off.check(&login, &b("192.0.2.1", "Mozilla/5.0 B")).is_ok());
    assert!(off.check(&login, &no_ua).is_ok());
}

#[test]
fn invalid_prefixes_are_config_errors() {
    for (v4, v6) in [(33, 64), (24, 129), (255, 255)] {
        let err = BindingPolicy::new()
            .with_ip_match(IpMatch::Prefix { v4, v6 })
            .unwrap_err();
        assert_eq!(err.setting(), "binding.ip_match");
    }
    assert!(
        BindingPolicy::new()
            .with_ip_match(IpMatch::Prefix { v4: 32, v6: 128 })
            .is_ok()
    );
}

#[test]
fn binding_from_parts_normalises_and_bounds() {
    let mut h = HeaderMap::new();
    h.insert("user-agent", HeaderValue::from_static("UA/1.0"));
    let got = ClientBinding::from_parts(Some(ip("::ffff:192.0.2.1")), &h);
    assert_eq!(got, b("192.0.2.1", "UA/1.0"));
    assert_eq!(
        ClientBinding::from_parts(None, &HeaderMap::new()),
        ClientBinding::default()
    );

    let long = "é".repeat(MAX_USER_AGENT_LEN);
    h.insert(
        "user-agent",
        HeaderValue::from_bytes(long.as_bytes()).unwrap(),
    );
    let got = ClientBinding::from_parts(None, &h).user_agent.unwrap();
    assert!(got.len() <= MAX_USER_AGENT_LEN && got.len() >= MAX_USER_AGENT_LEN - 1);
    assert!(got.chars().all(|c| c == 'é'));

    h.insert("user-agent", HeaderValue::from_bytes(b"UA\xff").unwrap());
    let got = ClientBinding::from_parts(None, &h).user_agent.unwrap();
    assert_eq!(got, "UA\u{fffd}");
}
