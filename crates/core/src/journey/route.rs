//! Route: longest prefix match in a host's table, and the reverse-path check.

use std::net::IpAddr;

use crate::model::{Host, Route, RouteAction, RpFilter};

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
