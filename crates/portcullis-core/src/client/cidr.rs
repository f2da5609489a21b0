use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::ConfigError;

/// The setting named in the errors of [`Cidr`] parsing.
const SETTING: &str = "client_ip.trusted_proxies";

/// An IP network in CIDR notation, such as `10.0.0.0/8` or `2001:db8::/32`.
///
/// A bare address (`192.0.2.7`, `::1`) is a network of one host (`/32` or `/128`). Host bits
/// below the prefix must be zero (`10.0.0.1/8` is refused: write `10.0.0.0/8`), so a typo does
/// not silently trust more or fewer addresses than meant. An IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) is stored as the IPv4 network it denotes, because peer addresses are
/// normalised the same way (see [`ClientIp`](crate::ClientIp)).
///
/// ```
/// use portcullis_core::Cidr;
/// use std::net::IpAddr;
///
/// let net: Cidr = "10.1.0.0/16".parse().unwrap();
/// assert!(net.contains("10.1.200.3".parse::<IpAddr>().unwrap()));
/// assert!(!net.contains("10.2.0.1".parse::<IpAddr>().unwrap()));
///
/// let err = "10.1.0.1/16".parse::<Cidr>().unwrap_err();
/// assert!(err.message().contains("10.1.0.0/16"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network `address/prefix`; fails if the prefix is longer than the address (32 bits
    /// for IPv4, 128 for IPv6) or if host bits are set.
    pub fn new(address: IpAddr, prefix: u8) -> Result<Self, ConfigError> {
        let (address, prefix) = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if (96..=128).contains(&prefix) => (IpAddr::V4(v4), prefix - 96),
                _ => (address, prefix),
            },
            IpAddr::V4(_) => (address, prefix),
        };
        let max = max_prefix(address);
        if prefix > max {
            return Err(ConfigError::new(
                SETTING,
                format!("prefix /{prefix} is longer than the {max} bits of {address}"),
            ));
        }
        let network = mask(address, prefix);
        if network != address {
            return Err(ConfigError::new(
                SETTING,
                format!("{address}/{prefix} has host bits set; did you mean {network}/{prefix}?"),
            ));
        }
        Ok(Self { network, prefix })
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses are compared as IPv4;
    /// an IPv4 address is never in an IPv6 network and vice versa.
    pub fn contains(&self, ip: IpAddr) -> bool {
        same_prefix(self.network, ip.to_canonical(), self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let address: IpAddr = addr.parse().map_err(|_| {
            ConfigError::new(
                SETTING,
                format!(
                    "`{}` is not an IP address or network (expected e.g. `10.0.0.0/8`, `192.0.2.7` or `fd00::/8`)",
                    s.escape_debug()
                ),
            )
        })?;
        let prefix = match prefix {
            None => max_prefix(address),
            Some(p) => {
                let valid = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u8>() {
                    Ok(p) if valid => p,
                    _ => {
                        return Err(ConfigError::new(
                            SETTING,
                            format!(
                                "`{}` has an invalid prefix length (expected a number of bits after `/`)",
                                s.escape_debug()
                            ),
                        ));
                    }
                }
            }
        };
        Self::new(address, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cidr({self})")
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit below `prefix` cleared (`prefix` is clamped to the address length).
pub(crate) fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_u32(prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_u128(prefix))),
    }
}

/// Whether `a` and `b` are of the same family and agree on their first `prefix` bits
/// (`prefix` is clamped to the address length; `0` matches any two addresses of one family).
pub(crate) fn same_prefix(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)) & mask_u32(prefix) == 0,
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)) & mask_u128(prefix) == 0,
        _ => false,
    }
}

fn mask_u32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

fn mask_u128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}
