//! Route: longest prefix match in a host's table, and the reverse-path check.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{Host, Route, RouteAction, RouteOrigin, RpFilter};

/// The route a packet to `dst` takes: the most specific one, first declared on a tie.
pub fn lookup(host: &Host, dst: IpAddr) -> Option<&Route> {
    // Routes are kept longest prefix first, so the first hit is the answer.
    host.routes.iter().find(|r| r.covers(dst))
}

/// What reverse-path filtering says about a packet from `src` arriving on `in_iface`.
#[derive(Debug, Clone, PartialEq)]
pub enum RpVerdict {
    /// Not checked on this host.
    Off,
    /// The route back to the source leaves by the interface the packet came in on
    /// (strict) or by some interface (loose).
    Pass,
    /// No acceptable route back: Linux drops the packet.
    Fail { reason: String },
}

pub fn reverse_path(host: &Host, src: IpAddr, in_iface: usize) -> RpVerdict {
    if host.rp_filter == RpFilter::Off {
        return RpVerdict::Off;
    }
    if let Some(why) = not_unicast_reason(host, src) {
        return RpVerdict::Fail { reason: why };
    }
    let back = lookup(host, src);
    match host.rp_filter {
        RpFilter::Off => RpVerdict::Off,
        RpFilter::Loose => match back.map(|r| &r.action) {
            Some(RouteAction::Blackhole) | None => RpVerdict::Fail {
                reason: format!("no route back to {src}"),
            },
            Some(_) => RpVerdict::Pass,
        },
        RpFilter::Strict => match back.map(|r| &r.action) {
            Some(RouteAction::Direct { iface }) | Some(RouteAction::Via { iface, .. })
                if *iface == in_iface =>
            {
                RpVerdict::Pass
            }
            Some(RouteAction::Direct { .. }) | Some(RouteAction::Via { .. }) => RpVerdict::Fail {
                reason: format!("the route back to {src} leaves by another interface"),
            },
            Some(RouteAction::Blackhole) | None => RpVerdict::Fail {
                reason: format!("no route back to {src}"),
            },
        },
    }
}

/// The sources whose route back is not a unicast route in Linux's tables,
/// so that the reverse-path check (strict or loose) drops them whatever the
/// routes say, each with why: the directed broadcast address of each IPv4
/// subnet the host has an address in (a `broadcast` route of the local
/// table: `fib_validate_source` calls such a source martian), and on a
/// router the subnet-router anycast address of each IPv6 prefix it has an
/// address in (an `anycast` route, which nftables' `fib` check, as the lab
/// runs IPv6's reverse-path check, takes for no route). Measured on Linux
/// 6.18 with crafted sources (`crates/lab/tests/lab_martian.rs`).
pub fn not_unicast_back(host: &Host) -> Vec<(IpAddr, String)> {
    not_unicast_addrs(host)
        .map(|(a, p)| (a, not_unicast_why(a, p)))
        .collect()
}

/// Why `src` is in [`not_unicast_back`] of `host`, if it is (without
/// writing the reasons of the others).
fn not_unicast_reason(host: &Host, src: IpAddr) -> Option<String> {
    not_unicast_addrs(host)
        .find(|&(a, _)| a == src)
        .map(|(a, p)| not_unicast_why(a, p))
}

/// The addresses of [`not_unicast_back`], each with its subnet.
fn not_unicast_addrs(host: &Host) -> impl Iterator<Item = (IpAddr, IpNet)> + '_ {
    host.routes
        .iter()
        .filter(|r| matches!(r.origin, RouteOrigin::Connected) && r.dest.prefix_len() > 0)
        .filter_map(|r| match r.dest {
            IpNet::V4(p) if p.prefix_len() < 31 => Some((IpAddr::V4(p.broadcast()), r.dest)),
            IpNet::V6(p) if host.router && p.prefix_len() < 127 => {
                Some((IpAddr::V6(p.network()), r.dest))
            }
            _ => None,
        })
}

fn not_unicast_why(a: IpAddr, p: IpNet) -> String {
    match a {
        IpAddr::V4(_) => format!(
            "{a} is the broadcast address of {p}: the route back to it is a broadcast route, not a unicast one"
        ),
        IpAddr::V6(_) => format!(
            "{a} is the subnet-router anycast address of {p}: the route back to it is an anycast route, not a unicast one"
        ),
    }
}

/// Where in a device's receive path Linux drops a packet for its source
/// address alone (a *martian* source), whatever `rp_filter` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MartianAt {
    /// IPv6, on receipt, before conntrack and prerouting (`ipv6_rcv`): the
    /// loopback address and multicast sources.
    Receipt,
    /// IPv4, at the input routing decision, after prerouting (DNAT) and
    /// before the reverse-path check (`ip_route_input_slow`), for local
    /// delivery and forwarding alike: 0.0.0.0, loopback (127.0.0.0/8) on a
    /// network interface, multicast (224.0.0.0/4) and limited broadcast.
    Routing,
    /// IPv6, when forwarding to another interface than the packet came in
    /// on, after the route lookup and before the forward hook
    /// (`ip6_forward`; a packet going back out its own interface takes the
    /// redirect's branch, which does not check): the unspecified address and
    /// link-local sources, which may arrive on their link but not leave it.
    Forwarding,
}

/// The source addresses Linux treats as martian, with where it drops them
/// and why: each `(at, family is IPv6, first, last, what)`. Measured on
/// Linux 6.18 in namespaces (a SYN crafted with each source, counted in the
/// next device's hooks): 0.1.2.3 and 240.0.0.5 are forwarded (only 0.0.0.0
/// itself of 0.0.0.0/8 is martian since Linux 5.3, and class E is unicast),
/// and so is an IPv4-mapped IPv6 source.
pub const MARTIANS: &[(MartianAt, bool, u128, u128, &str)] = &[
    (MartianAt::Routing, false, 0, 0, "the unspecified address"),
    (
        MartianAt::Routing,
        false,
        0x7f00_0000,
        0x7fff_ffff,
        "a loopback address, which may not arrive on a network interface",
    ),
    (
        MartianAt::Routing,
        false,
        0xe000_0000,
        0xefff_ffff,
        "a multicast address, which never sends",
    ),
    (
        MartianAt::Routing,
        false,
        0xffff_ffff,
        0xffff_ffff,
        "the limited broadcast address",
    ),
    (
        MartianAt::Receipt,
        true,
        1,
        1,
        "the loopback address ::1, which may not arrive on a network interface",
    ),
    (
        MartianAt::Receipt,
        true,
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        u128::MAX,
        "a multicast address, which never sends",
    ),
    (
        MartianAt::Forwarding,
        true,
        0,
        0,
        "the unspecified address ::, which may not be forwarded",
    ),
    (
        MartianAt::Forwarding,
        true,
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        0xfebf_ffff_ffff_ffff_ffff_ffff_ffff_ffff,
        "a link-local address, which may not leave its link",
    ),
];

/// Why a packet from `src` is dropped at `at`, if it is.
pub fn martian_source(src: IpAddr, at: MartianAt) -> Option<&'static str> {
    let (v6, x) = match src {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    };
    MARTIANS
        .iter()
        .find(|&&(w, f, lo, hi, _)| w == at && f == v6 && lo <= x && x <= hi)
        .map(|m| m.4)
}

/// Whether `src` is martian anywhere: a source no packet from the network
/// can usefully have (examples and proofs never use one).
pub fn is_martian(src: IpAddr) -> bool {
    [
        MartianAt::Receipt,
        MartianAt::Routing,
        MartianAt::Forwarding,
    ]
    .into_iter()
    .any(|at| martian_source(src, at).is_some())
}
