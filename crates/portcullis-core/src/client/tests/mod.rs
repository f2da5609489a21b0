#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod binding;
mod cidr;
mod peer;
mod resolver;

use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
