use std::fmt;
use std::net::IpAddr;

use http::header::USER_AGENT;
use http::{HeaderMap, HeaderValue};

use super::cidr::same_prefix;
use crate::ConfigError;

/// The longest `User-Agent` kept in a [`ClientBinding`]; longer ones are cut (at a character
/// boundary), the same way at login and on every request, so comparisons stay consistent
/// while a session record cannot be inflated by a huge header.
pub const MAX_USER_AGENT_LEN: usize = 512;

/// The client properties a session is bound to: captured at login, compared on every request
/// by a [`BindingPolicy`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClientBinding {
    /// The client IP (see [`ClientIpResolver`](crate::ClientIpResolver)), if known.
    pub ip: Option<IpAddr>,
    /// The `User-Agent`, if sent (at most [`MAX_USER_AGENT_LEN`] bytes).
    pub user_agent: Option<String>,
}

impl ClientBinding {
    /// A binding to `ip` (normalised: IPv4-mapped IPv6 becomes IPv4) and the `User-Agent`
    /// in `headers` (the first one; bytes that are not UTF-8 are replaced; cut to
    /// [`MAX_USER_AGENT_LEN`]).
    pub fn from_parts(ip: Option<IpAddr>, headers: &HeaderMap) -> Self {
        Self::from_user_agent(ip, headers.get(USER_AGENT))
    }

    /// A binding to `ip` and the `User-Agent` header value `user_agent`, normalised as in
    /// [`from_parts`](Self::from_parts).
    pub fn from_user_agent(ip: Option<IpAddr>, user_agent: Option<&HeaderValue>) -> Self {
        Self {
            ip: ip.map(|ip| ip.to_canonical()),
            user_agent: user_agent.map(|ua| normalize_user_agent(ua.as_bytes())),
        }
    }
}

fn normalize_user_agent(bytes: &[u8]) -> String {
    let head = bytes.get(..MAX_USER_AGENT_LEN).unwrap_or(bytes);
    let mut s = String::from_utf8_lossy(head).into_owned();
    truncate_at_char_boundary(&mut s, MAX_USER_AGENT_LEN);
    s
}

/// Whether the `User-Agent` header `current` normalises to `captured`, without copying it in
/// the usual case (valid UTF-8, not longer than [`MAX_USER_AGENT_LEN`]).
fn same_user_agent(captured: Option<&str>, current: Option<&HeaderValue>) -> bool {
    match (captured, current) {
        (None, None) => true,
        (Some(captured), Some(current)) => {
            let bytes = current.as_bytes();
            if bytes.len() <= MAX_USER_AGENT_LEN && std::str::from_utf8(bytes).is_ok() {
                captured.as_bytes() == bytes
            } else {
                captured == normalize_user_agent(bytes)
            }
        }
        _ => false,
    }
}

fn truncate_at_char_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// How the client IP must match the one captured at login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpMatch {
    /// The same address.
    Exact,
    /// The same network: the first `v4` bits of an IPv4 address (at most 32), the first `v6`
    /// bits of an IPv6 address (at most 128). The default, `/24` and `/64`, tolerates the
    /// address changes of ordinary mobile and home networks.
    Prefix {
        /// IPv4 prefix length.
        v4: u8,
        /// IPv6 prefix length.
        v6: u8,
    },
    /// The IP is not compared.
    Off,
}

impl Default for IpMatch {
    fn default() -> Self {
        Self::Prefix { v4: 24, v6: 64 }
    }
}

/// How the `User-Agent` must match the one captured at login.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserAgentMatch {
    /// Byte for byte (the default).
    #[default]
    Exact,
    /// The `User-Agent` is not compared.
    Off,
}

/// What to do when a session is used from a client that does not match its binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MismatchAction {
    /// Destroy the session and refuse the request (the default).
    #[default]
    Reject,
    /// Log the mismatch and let the request through (for rolling binding out).
    ReportOnly,
}

/// Which client properties must match for a session to be used, and what a mismatch does.
///
/// Defaults: IP by prefix (`/24`, `/64`), `User-Agent` exact, reject.
///
/// Both sides must agree on whether a property is known: with IP matching on, a session
/// captured with an IP is not usable from a request whose IP is unknown, and the other way
/// round; an IPv4 and an IPv6 address never match (a dual-stack client that switches family
/// logs in again).
///
/// ```
/// use portcullis_core::{BindingPolicy, ClientBinding, IpMatch, UserAgentMatch};
///
/// let policy = BindingPolicy::new();
/// let at_login = ClientBinding { ip: Some("192.0.2.10".parse().unwrap()), user_agent: Some("UA/1".into()) };
/// let same_net = ClientBinding { ip: Some("192.0.2.99".parse().unwrap()), ..at_login.clone() };
/// assert!(policy.check(&at_login, &same_net).is_ok());
///
/// let other_ua = ClientBinding { user_agent: Some("UA/2".into()), ..at_login.clone() };
/// let err = policy.check(&at_login, &other_ua).unwrap_err();
/// assert_eq!(err.reason(), "user_agent");
///
/// // Explicitly weaker: exact IP, User-Agent ignored.
/// let strict_ip = BindingPolicy::new()
///     .with_ip_match(IpMatch::Exact).unwrap()
///     .with_user_agent_match(UserAgentMatch::Off);
/// assert_eq!(strict_ip.check(&at_login, &same_net).unwrap_err().reason(), "ip");
///
/// assert!(BindingPolicy::new().with_ip_match(IpMatch::Prefix { v4: 33, v6: 64 }).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[must_use]
pub struct BindingPolicy {
    ip: IpMatch,
    user_agent: UserAgentMatch,
    action: MismatchAction,
}

impl BindingPolicy {
    /// The defaults: IP by `/24` / `/64` prefix, `User-Agent` exact, reject.
    pub fn new() -> Self {
        Self::default()
    }

    /// No binding at all: neither IP nor `User-Agent` is compared. Sessions can then be used
    /// from any client that holds the cookie.
    pub fn disabled() -> Self {
        Self {
            ip: IpMatch::Off,
            user_agent: UserAgentMatch::Off,
            action: MismatchAction::Reject,
        }
    }

    /// How the IP must match; a prefix longer than the address is an error.
    pub fn with_ip_match(mut self, ip: IpMatch) -> Result<Self, ConfigError> {
        if let IpMatch::Prefix { v4, v6 } = ip
            && (v4 > 32 || v6 > 128)
        {
            return Err(ConfigError::new(
                "binding.ip_match",
                format!("prefix /{v4} (IPv4) and /{v6} (IPv6) must be at most /32 and /128"),
            ));
        }
        self.ip = ip;
        Ok(self)
    }

    /// How the `User-Agent` must match.
    pub fn with_user_agent_match(mut self, user_agent: UserAgentMatch) -> Self {
        self.user_agent = user_agent;
        self
    }

    /// What a mismatch does.
    pub fn with_mismatch_action(mut self, action: MismatchAction) -> Self {
        self.action = action;
        self
    }

    /// The IP rule.
    pub fn ip_match(&self) -> IpMatch {
        self.ip
    }

    /// The `User-Agent` rule.
    pub fn user_agent_match(&self) -> UserAgentMatch {
        self.user_agent
    }

    /// The mismatch action.
    pub fn mismatch_action(&self) -> MismatchAction {
        self.action
    }

    /// Whether any property is compared.
    pub fn is_enabled(&self) -> bool {
        self.ip != IpMatch::Off || self.user_agent != UserAgentMatch::Off
    }

    /// Whether `current` may use a session bound to `captured`; the error says which
    /// properties differ. The action is the caller's to take ([`mismatch_action`](Self::mismatch_action)).
    pub fn check(
        &self,
        captured: &ClientBinding,
        current: &ClientBinding,
    ) -> Result<(), BindingMismatch> {
        let ip = !self.ip_matches(captured.ip, current.ip);
        let user_agent = match self.user_agent {
            UserAgentMatch::Exact => captured.user_agent != current.user_agent,
            UserAgentMatch::Off => false,
        };
        BindingMismatch::of(ip, user_agent)
    }

    /// [`check`](Self::check) against the parts of a request as they arrive, without building
    /// a [`ClientBinding`] (no copy of the `User-Agent`): what `BindingLayer` runs on every
    /// request. The same verdict as `check(captured, &ClientBinding::from_user_agent(ip,
    /// user_agent))`.
    pub fn check_request(
        &self,
        captured_ip: Option<IpAddr>,
        captured_user_agent: Option<&str>,
        ip: Option<IpAddr>,
        user_agent: Option<&HeaderValue>,
    ) -> Result<(), BindingMismatch> {
        let ip = !self.ip_matches(captured_ip, ip);
        let user_agent = match self.user_agent {
            UserAgentMatch::Exact => !same_user_agent(captured_user_agent, user_agent),
            UserAgentMatch::Off => false,
        };
        BindingMismatch::of(ip, user_agent)
    }

    fn ip_matches(&self, captured: Option<IpAddr>, current: Option<IpAddr>) -> bool {
        let (a, b) = match (self.ip, captured, current) {
            (IpMatch::Off, _, _) | (_, None, None) => return true,
            (_, Some(a), Some(b)) => (a.to_canonical(), b.to_canonical()),
            _ => return false,
        };
        match self.ip {
            IpMatch::Exact => a == b,
            IpMatch::Prefix { v4, v6 } => {
                let prefix = if a.is_ipv4() { v4 } else { v6 };
                same_prefix(a, b, prefix)
            }
            IpMatch::Off => true,
        }
    }
}

/// A session used from a client that does not match its binding. Says *which* property
/// differs, never the values (they are personal data; log them deliberately if at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BindingMismatch {
    ip: bool,
    user_agent: bool,
}

impl BindingMismatch {
    fn of(ip: bool, user_agent: bool) -> Result<(), Self> {
        if ip || user_agent {
            Err(Self { ip, user_agent })
        } else {
            Ok(())
        }
    }
}

impl BindingMismatch {
    /// The IP differs (beyond the policy's prefix).
    pub fn ip_changed(&self) -> bool {
        self.ip
    }

    /// The `User-Agent` differs.
    pub fn user_agent_changed(&self) -> bool {
        self.user_agent
    }

    /// `"ip"`, `"user_agent"` or `"ip,user_agent"`, for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match (self.ip, self.user_agent) {
            (true, true) => "ip,user_agent",
            (true, false) => "ip",
            _ => "user_agent",
        }
    }
}

impl fmt::Display for BindingMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session binding mismatch: {}", self.reason())
    }
}

impl std::error::Error for BindingMismatch {}
