use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use http::header::{FORWARDED, HeaderMap, HeaderName};
use http::{Request, header::HeaderValue};

use super::cidr::Cidr;
use super::peer::{ClientIp, peer_addr};
use crate::ConfigError;

/// The forwarding header a [`ClientIpResolver`] honours from trusted proxies.
///
/// Exactly one is read: the one your proxies *append to*. Reading both would let a client
/// put a forged address into the header your proxies do not touch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the de-facto standard; the default).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for="[2001:db8::1]:4711"` (RFC 7239), the `for` parameter.
    Forwarded,
}

impl ProxyHeader {
    fn name(self) -> HeaderName {
        match self {
            Self::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => FORWARDED,
        }
    }
}

/// The default bound on forwarding hops examined per request.
pub const DEFAULT_MAX_HOPS: usize = 16;

/// Longest list element (one hop) that is parsed at all; any real one is far shorter
/// (`for="[ffff:...:ffff]:65535";by=...;proto=https` fits easily). Longer ones are malformed.
const MAX_ELEMENT_LEN: usize = 256;

/// Resolves the client's IP address so that the client cannot forge it.
///
/// The starting point is the connection's peer address (see
/// [`peer_addr`](crate::peer_addr)). Only when the peer is a configured trusted proxy is the
/// forwarding header ([`ProxyHeader`], default `X-Forwarded-For`) consulted, and then from
/// right to left — each proxy appends the address it saw — skipping addresses that are
/// themselves trusted proxies and stopping at the first untrusted one, which is the client.
/// With no trusted proxies (the default) the headers are never read.
///
/// # Malformed, unknown and excess hops
///
/// The walk keeps the *last address it can vouch for*: first the peer, then each trusted hop
/// that a trusted proxy reported. When it meets a hop it cannot use — not an IP address
/// (`unknown`, an RFC 7239 obfuscated identifier such as `_hidden`, garbage, a `Forwarded`
/// element without `for=`, over 256 bytes, broken quoting) — or has examined
/// [`with_max_hops`](Self::with_max_hops) hops, it stops and returns that last vouched-for
/// address, which is a trusted proxy. This is safe: every address it can return was either
/// seen on the TCP connection or written by a proxy you trust, and a client can only write to
/// the *left* of what your proxies append, which the walk never passes an untrusted or
/// unreadable hop to reach. The cost of a misbehaving proxy is that its clients share its
/// address, never that a client chooses its own. Work per request is bounded by the hop
/// limit times the element length limit, whatever the header's size.
///
/// ```
/// use portcullis_core::{ClientIpResolver, ProxyHeader};
/// use http::HeaderMap;
/// use std::net::IpAddr;
///
/// let resolver = ClientIpResolver::new()
///     .with_trusted_proxies(["10.0.0.0/8"])
///     .unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2".parse().unwrap());
///
/// // From the trusted load balancer: the client is the first untrusted hop from the right.
/// let ip = resolver.resolve(Some("10.0.0.1".parse().unwrap()), &headers).unwrap();
/// assert_eq!(ip.ip(), "203.0.113.9".parse::<IpAddr>().unwrap());
///
/// // Straight from the internet: the header is a lie and is ignored.
/// let ip = resolver.resolve(Some("198.51.100.4".parse().unwrap()), &headers).unwrap();
/// assert_eq!(ip.ip(), "198.51.100.4".parse::<IpAddr>().unwrap());
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ClientIpResolver {
    trusted: Arc<[Cidr]>,
    header: ProxyHeader,
    max_hops: usize,
}

impl Default for ClientIpResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientIpResolver {
    /// A resolver that trusts no proxy: the client IP is the peer address.
    pub fn new() -> Self {
        Self {
            trusted: Arc::from(Vec::new()),
            header: ProxyHeader::default(),
            max_hops: DEFAULT_MAX_HOPS,
        }
    }

    /// Replaces the trusted proxies with the networks in `proxies` (`"10.0.0.0/8"`,
    /// `"192.0.2.7"`, `"fd00::/8"`); see [`Cidr`] for the syntax and
    /// [`with_trusted_cidrs`](Self::with_trusted_cidrs) for what is refused.
    pub fn with_trusted_proxies<I>(self, proxies: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let cidrs = proxies
            .into_iter()
            .map(|p| p.as_ref().parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()?;
        self.with_trusted_cidrs(cidrs)
    }

    /// Replaces the trusted proxies. A `/0` network is refused: trusting every address
    /// would let any client choose its IP with a header.
    pub fn with_trusted_cidrs(
        mut self,
        proxies: impl IntoIterator<Item = Cidr>,
    ) -> Result<Self, ConfigError> {
        let cidrs: Vec<Cidr> = proxies.into_iter().collect();
        if let Some(all) = cidrs.iter().find(|c| c.prefix() == 0) {
            return Err(ConfigError::new(
                "client_ip.trusted_proxies",
                format!(
                    "`{all}` trusts every address, so any client could set its own IP; list your proxies' networks instead"
                ),
            ));
        }
        self.trusted = Arc::from(cidrs);
        Ok(self)
    }

    /// Which forwarding header trusted proxies set (default `X-Forwarded-For`).
    pub fn with_header(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    /// The most forwarding hops examined per request (default [`DEFAULT_MAX_HOPS`]); `0`
    /// means the header is never read.
    pub fn with_max_hops(mut self, max_hops: usize) -> Self {
        self.max_hops = max_hops;
        self
    }

    /// The trusted proxy networks.
    pub fn trusted_proxies(&self) -> &[Cidr] {
        &self.trusted
    }

    /// The forwarding header honoured.
    pub fn header(&self) -> ProxyHeader {
        self.header
    }

    /// The hop limit.
    pub fn max_hops(&self) -> usize {
        self.max_hops
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client IP of `request`: its peer address (see [`peer_addr`](crate::peer_addr))
    /// resolved through trusted proxies. `None` when the server recorded no peer address.
    pub fn resolve_request<B>(&self, request: &Request<B>) -> Option<ClientIp> {
        let peer = peer_addr(request.extensions()).map(|a| a.ip());
        self.resolve(peer, request.headers())
    }

    /// The client IP for a connection from `peer` with `headers`. `None` only when `peer`
    /// is `None`: without a peer address no header is believed.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<ClientIp> {
        let peer = peer?.to_canonical();
        if self.max_hops == 0 || !self.is_trusted(peer) {
            return Some(ClientIp::new(peer));
        }
        Some(ClientIp::new(self.walk(peer, headers)))
    }

    fn walk(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut vouched = peer;
        let mut budget = self.max_hops;
        // Later header lines were appended later: walk them last to first.
        for value in headers.get_all(self.header.name()).iter().rev() {
            for element in RevElements::new(value) {
                if budget == 0 {
                    return vouched;
                }
                budget -= 1;
                let hop = match element {
                    Some(bytes) => match self.header {
                        ProxyHeader::XForwardedFor => parse_xff_element(bytes),
                        ProxyHeader::Forwarded => parse_forwarded_element(bytes),
                    },
                    None => Hop::Unusable,
                };
                match hop {
                    Hop::Empty => {}
                    Hop::Unusable => return vouched,
                    Hop::Ip(ip) => {
                        let ip = ip.to_canonical();
                        if !self.is_trusted(ip) {
                            return ip;
                        }
                        vouched = ip;
                    }
                }
            }
        }
        vouched
    }
}

/// One hop of a forwarding header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hop {
    /// An empty list element (`a,,b`), which HTTP list syntax allows; skipped.
    Empty,
    /// An address.
    Ip(IpAddr),
    /// `unknown`, an obfuscated identifier, or anything malformed.
    Unusable,
}

/// The comma-separated elements of a header value, last first, without scanning more than
/// `MAX_ELEMENT_LEN + 1` bytes per element: `None` is an element too long to be real, after
/// which iteration ends.
struct RevElements<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> RevElements<'a> {
    fn new(value: &'a HeaderValue) -> Self {
        Self {
            rest: Some(value.as_bytes()),
        }
    }
}

impl<'a> Iterator for RevElements<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let window_start = rest.len().saturating_sub(MAX_ELEMENT_LEN + 1);
        let window = rest.get(window_start..).unwrap_or_default();
        match window.iter().rposition(|&b| b == b',') {
            Some(i) => {
                let comma = window_start + i;
                self.rest = rest.get(..comma);
                Some(rest.get(comma + 1..))
            }
            None if rest.len() <= MAX_ELEMENT_LEN => {
                self.rest = None;
                Some(Some(rest))
            }
            None => {
                self.rest = None;
                Some(None)
            }
        }
    }
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// One `X-Forwarded-For` element: an address, optionally with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`), or `unknown`.
pub(crate) fn parse_xff_element(bytes: &[u8]) -> Hop {
    let bytes = trim_ows(bytes);
    if bytes.is_empty() {
        return Hop::Empty;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => parse_node(s),
        Err(_) => Hop::Unusable,
    }
}

/// One `Forwarded` element (RFC 7239 §4): `;`-separated `name=value` pairs, of which
/// exactly one must be `for`.
pub(crate) fn parse_forwarded_element(bytes: &[u8]) -> Hop {
    let bytes = trim_ows(bytes);
    if bytes.is_empty() {
        return Hop::Empty;
    }
    let Ok(element) = std::str::from_utf8(bytes) else {
        return Hop::Unusable;
    };
    let mut node = None;
    for pair in element.split(';') {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let Some((name, value)) = pair.split_once('=') else {
            return Hop::Unusable;
        };
        let name = name.trim_ascii();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Hop::Unusable;
        }
        let Some(value) = unquote(value.trim_ascii()) else {
            return Hop::Unusable;
        };
        if name.eq_ignore_ascii_case("for") {
            if node.is_some() {
                // RFC 7239 §4: a parameter must not occur twice in one element.
                return Hop::Unusable;
            }
            node = Some(value);
        }
    }
    match node {
        Some(node) => parse_node(node),
        None => Hop::Unusable,
    }
}

/// A token, or a quoted string without escapes (nothing valid in a `Forwarded` value needs
/// one); `None` for anything else.
fn unquote(value: &str) -> Option<&str> {
    if let Some(inner) = value.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        if inner.contains(['"', '\\']) {
            return None;
        }
        Some(inner)
    } else if !value.is_empty() && value.bytes().all(is_tchar) {
        Some(value)
    } else {
        None
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A node (RFC 7239 §6): `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80`, a
/// bare IPv6 address (as some proxies write in `X-Forwarded-For`), with the port possibly
/// obfuscated (`_abc`); `unknown` and obfuscated nodes (`_hidden`) are unusable.
pub(crate) fn parse_node(node: &str) -> Hop {
    if let Some(rest) = node.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Hop::Unusable;
        };
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return Hop::Unusable;
        }
        return match addr.parse::<Ipv6Addr>() {
            Ok(v6) => Hop::Ip(IpAddr::V6(v6)),
            Err(_) => Hop::Unusable,
        };
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Hop::Ip(ip);
    }
    if let Some((addr, port)) = node.split_once(':')
        && is_port(port)
        && let Ok(v4) = addr.parse::<Ipv4Addr>()
    {
        return Hop::Ip(IpAddr::V4(v4));
    }
    Hop::Unusable
}

/// RFC 7239 `node-port`: 1 to 5 digits, or an obfuscated port (`_` then ALPHA / DIGIT / `.` /
/// `_` / `-`).
fn is_port(port: &str) -> bool {
    if let Some(obf) = port.strip_prefix('_') {
        return !obf.is_empty()
            && obf
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}
