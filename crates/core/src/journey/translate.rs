//! Translate: destination NAT before routing, source NAT after it, first
//! matching rule wins, only for the first packet of a connection (later packets
//! and replies follow the conntrack entry).

use std::net::IpAddr;

use crate::model::{Host, MatchInput, NatKind, NatRule};

/// The DNAT rule that applies to a new connection entering `host`, if any.
pub fn dnat<'h>(host: &'h Host, p: &MatchInput) -> Option<&'h NatRule> {
    host.nat.iter().find(|r| {
        matches!(r.kind, NatKind::Dnat { .. }) && r.matches.matches(p) && family_ok(r, p.dst)
    })
}

/// The SNAT or masquerade rule that applies to a new connection leaving `host`, if any.
pub fn snat<'h>(host: &'h Host, p: &MatchInput) -> Option<&'h NatRule> {
    host.nat.iter().find(|r| {
        matches!(r.kind, NatKind::Snat { .. } | NatKind::Masquerade)
            && r.matches.matches(p)
            && family_ok(r, p.src)
    })
}

/// A translation only applies within one address family.
fn family_ok(r: &NatRule, addr: IpAddr) -> bool {
    match r.kind {
        NatKind::Dnat { to, .. } | NatKind::Snat { to } => to.is_ipv4() == addr.is_ipv4(),
        NatKind::Masquerade => true,
    }
}
