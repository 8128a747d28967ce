//! The two ends of a question: who sends (a host, or a sender standing for a
//! network) and where to (a host, an address or a DNS name, and a port).

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

use crate::load::diagnostic::nearest;
use crate::load::grammar::{split_place_port, Word};
use crate::model::*;

use super::route;

/// A question that names nothing in the scenario (exit code 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for QueryError {}

fn err(message: String, help: Option<String>) -> QueryError {
    QueryError { message, help }
}

fn suggest(scn: &Scenario, wanted: &str, with_names: bool) -> Option<String> {
    let mut candidates: Vec<&str> = scn.hosts.iter().map(|h| h.name.as_str()).collect();
    candidates.extend(scn.networks.iter().map(|n| n.name.as_str()));
    if with_names {
        candidates.extend(
            scn.dns
                .iter()
                .flat_map(|v| v.records.iter().map(|r| r.name.as_str())),
        );
    }
    candidates.sort_unstable();
    candidates.dedup();
    nearest(wanted, candidates).map(|s| format!("did you mean `{s}`?"))
}

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Host {
        id: HostId,
        addr: Option<IpAddr>,
    },
    /// A sender that stands for a network (`internet`, `dmz@10.0.1.99`).
    Network {
        network: NetworkId,
        addr: IpAddr,
        dev: usize,
        name: String,
    },
}

impl Source {
    pub(crate) fn dev(&self) -> usize {
        match self {
            Source::Host { id, .. } => id.index(),
            Source::Network { dev, .. } => *dev,
        }
    }

    /// The address the sender was pinned to, if any.
    pub(crate) fn pinned(&self) -> Option<IpAddr> {
        match self {
            Source::Host { addr, .. } => *addr,
            Source::Network { addr, .. } => Some(*addr),
        }
    }

    /// The source address a packet to `dst` gets: the address of the outgoing
    /// interface, as Linux picks it.
    pub(crate) fn addr_for(&self, host: &Host, dst: IpAddr) -> Option<IpAddr> {
        if let Source::Network { addr, .. } = self {
            return (addr.is_ipv4() == dst.is_ipv4()).then_some(*addr);
        }
        if let Source::Host { addr: Some(a), .. } = self {
            if a.is_ipv4() == dst.is_ipv4() {
                return Some(*a);
            }
        }
        select_source(host, dst)
    }

    pub(crate) fn synthetic_host(&self, scn: &Scenario) -> Option<Host> {
        let Source::Network {
            network,
            addr,
            name,
            ..
        } = self
        else {
            return None;
        };
        Some(stand_in_host(scn, *network, &[*addr], name))
    }
}

/// A host standing for anyone on network `network`, with these addresses (one
/// per family at most): attached to that network only, with its connected
/// routes and a default route through the network's gateway, per family.
pub(crate) fn stand_in_host(
    scn: &Scenario,
    network: NetworkId,
    addrs: &[IpAddr],
    name: &str,
) -> Host {
    let net = scn.network(network);
    let mut routes = attached_routes(
        net,
        network,
        0,
        addrs,
        &catch_except(scn, net),
        &via_gateway(net, network, None, &scn.hosts),
    );
    for addr in addrs {
        let gw = net.gateway.and_then(|g| {
            scn.host(g)
                .interfaces
                .iter()
                .find(|i| i.network == network)
                .and_then(|i| {
                    i.addrs
                        .iter()
                        .copied()
                        .find(|a| a.is_ipv4() == addr.is_ipv4())
                })
                .map(|a| (g, a))
        });
        if let Some((g, gw)) = gw {
            let default: IpNet = if addr.is_ipv4() {
                "0.0.0.0/0".parse().expect("valid")
            } else {
                "::/0".parse().expect("valid")
            };
            if !routes
                .iter()
                .any(|r| r.dest == default && r.except.is_empty())
            {
                routes.push(Route {
                    dest: default,
                    except: Default::default(),
                    action: RouteAction::Via {
                        gateway: gw,
                        iface: 0,
                    },
                    origin: RouteOrigin::NetworkGateway(network),
                    text: format!(
                        "default via {gw} ({}, gateway of {})",
                        scn.host(g).name,
                        net.name
                    ),
                });
            }
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.dest.prefix_len()));
    Host {
        name: name.to_string(),
        about: format!("a sender standing for network {}", net.name),
        router: false,
        interfaces: vec![Interface {
            network,
            addrs: addrs.to_vec(),
        }],
        routes,
        rp_filter: RpFilter::Off,
        forward: None,
        input: None,
        output: None,
        nat: Vec::new(),
        sockets: Vec::new(),
        dns: net.dns,
        tls: TlsClient::default(),
        proxy: None,
        sensitive: false,
        ruleset: None,
        origin: net.origin.clone(),
    }
}

/// The source address a host gives a packet to `dst`: the address of the
/// interface its route to `dst` leaves by, as Linux picks it.
pub fn select_source(host: &Host, dst: IpAddr) -> Option<IpAddr> {
    if dst.is_loopback() || host.has_addr(dst) {
        return Some(dst);
    }
    let via_route = route::lookup(host, dst).and_then(|r| match r.action {
        RouteAction::Direct { iface } | RouteAction::Via { iface, .. } => host.interfaces[iface]
            .addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == dst.is_ipv4()),
        RouteAction::Blackhole => None,
    });
    via_route.or_else(|| host.first_addr(dst.is_ipv6()))
}

/// What a catch-all network's connected route leaves to the gateway.
fn catch_except(scn: &Scenario, net: &Network) -> std::sync::Arc<Vec<IpNet>> {
    if !net.catch_all {
        return Default::default();
    }
    std::sync::Arc::new(
        scn.networks
            .iter()
            .filter(|n| !n.catch_all)
            .flat_map(|n| n.prefixes.iter().copied())
            .collect(),
    )
}

/// A free address on a network for a sender that stands for it: in the
/// documentation range 203.0.113.0/24 for a catch-all, else the highest
/// unused address.
pub(crate) fn free_address(scn: &Scenario, net: &Network, v6: bool) -> Option<IpAddr> {
    let used = |a: &IpAddr| !scn.owners_of(*a).is_empty();
    let prefix = net
        .prefixes
        .iter()
        .find(|p| p.addr().is_ipv6() == v6)
        .or_else(|| net.prefixes.first())?;
    if net.catch_all {
        let candidates: Vec<IpAddr> = if prefix.addr().is_ipv4() {
            (200u8..=254)
                .map(|i| IpAddr::from([203, 0, 113, i]))
                .collect()
        } else {
            (0x200u16..0x2ff)
                .map(|i| IpAddr::from([0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, i]))
                .collect()
        };
        return candidates
            .into_iter()
            .find(|a| !used(a) && scn.network_of(*a) == scn.network_by_name(&net.name));
    }
    let hosts: Vec<IpAddr> = match prefix {
        IpNet::V4(p) => p.hosts().rev().take(256).map(IpAddr::V4).collect(),
        IpNet::V6(p) => p.hosts().rev().skip(1).take(256).map(IpAddr::V6).collect(),
    };
    hosts.into_iter().find(|a| !used(a))
}

pub(crate) fn source(scn: &Scenario, from: &str, v6: bool) -> Result<Source, QueryError> {
    let synthetic_dev = scn.hosts.len();
    let (name, at) = match from.split_once('@') {
        Some((n, a)) => (n, Some(a)),
        None => (from, None),
    };
    if at.is_none() {
        if let Some(id) = scn.host_by_name(name) {
            // The address is chosen per packet, by route (see `select_source`).
            return Ok(Source::Host { id, addr: None });
        }
    }
    if let Ok(a) = from.parse::<IpAddr>() {
        if let Some((h, _)) = scn.owners_of(a).first() {
            return Ok(Source::Host {
                id: *h,
                addr: Some(a),
            });
        }
        let Some(net) = scn.network_of(a) else {
            return Err(err(
                format!("{a} is on none of the scenario's networks"),
                Some("pick an address inside a network, or name a host".into()),
            ));
        };
        let n = scn.network(net);
        return Ok(Source::Network {
            network: net,
            addr: a,
            dev: synthetic_dev,
            name: format!("{}@{a}", n.name),
        });
    }
    let Some(net) = scn.network_by_name(name) else {
        return Err(err(
            format!("unknown source `{from}`"),
            suggest(scn, name, false)
                .or_else(|| Some("name a host, a network, NETWORK@ADDRESS or an address".into())),
        ));
    };
    let n = scn.network(net);
    let addr = match at {
        Some(a) => {
            let a: IpAddr = a.parse().map_err(|_| {
                err(
                    format!("`{a}` is not an address"),
                    Some(format!("write {name}@ADDRESS")),
                )
            })?;
            if scn.network_of(a) != Some(net) {
                return Err(err(format!("{a} is not on network `{name}`"), None));
            }
            if let Some((h, _)) = scn.owners_of(a).first() {
                return Ok(Source::Host {
                    id: *h,
                    addr: Some(a),
                });
            }
            a
        }
        None => free_address(scn, n, v6).ok_or_else(|| {
            err(
                format!("network `{name}` has no free address for a sender"),
                Some(format!("pick one: {name}@ADDRESS")),
            )
        })?,
    };
    Ok(Source::Network {
        network: net,
        addr,
        dev: synthetic_dev,
        name: format!("{}@{addr}", n.name),
    })
}

#[derive(Debug, Clone)]
pub(crate) enum DestKind {
    Host { addr: IpAddr },
    Addr(IpAddr),
    Name(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub kind: DestKind,
    pub port: Option<u16>,
    /// The destination as the user wrote it, without the port.
    pub label: String,
}

impl Destination {
    /// The name a TLS client asks for (SNI) and checks the certificate against.
    pub(crate) fn tls_name(&self, tls: &TlsServer) -> String {
        match &self.kind {
            DestKind::Name(n) => n.clone(),
            // Named by its host name, the client is taken to use the service's own name.
            DestKind::Host { .. } => super::authenticate::name_asked_of_host(tls, &self.label),
            DestKind::Addr(a) => a.to_string(),
        }
    }
}

pub(crate) fn destination(
    scn: &Scenario,
    to: &str,
    port: Option<u16>,
    v6: bool,
    proto: Proto,
) -> Result<Destination, QueryError> {
    let (place, written_port) = split_place_port(&Word {
        text: to.to_string(),
        span: Span::default(),
    })
    .map_err(|e| err(format!("`{to}`: {}", e.message), Some(e.label)))?;
    let port = port.or(written_port);
    if proto.has_ports() && port.is_none() {
        return Err(err(
            format!("`{to}` has no port"),
            Some(format!(
                "{}, or add --port",
                crate::load::grammar::port_help(&place.text)
            )),
        ));
    }
    let port = if proto.has_ports() { port } else { None };
    let label = place.text.clone();
    if let Some(id) = scn.host_by_name(&place.text) {
        let h = scn.host(id);
        let addr = h
            .first_addr(v6)
            .or_else(|| h.first_addr(!v6))
            .ok_or_else(|| err(format!("host `{}` has no address", h.name), None))?;
        return Ok(Destination {
            kind: DestKind::Host { addr },
            port,
            label,
        });
    }
    if let Ok(a) = place.text.parse::<IpAddr>() {
        return Ok(Destination {
            kind: DestKind::Addr(a),
            port,
            label,
        });
    }
    if scn.network_by_name(&place.text).is_some() {
        return Err(err(
            format!(
                "`{}` is a network; a journey ends at one address",
                place.text
            ),
            Some("name a host, an address or a DNS name".into()),
        ));
    }
    if place.text.contains('.') {
        return Ok(Destination {
            kind: DestKind::Name(place.text.trim_end_matches('.').to_ascii_lowercase()),
            port,
            label,
        });
    }
    if crate::load::grammar::bracket_hint(&place.text).is_some() {
        return Err(err(
            format!("unknown destination `{}`", place.text),
            Some(crate::load::grammar::port_help(&place.text)),
        ));
    }
    Err(err(
        format!("unknown destination `{}`", place.text),
        suggest(scn, &place.text, true)
            .or_else(|| Some("name a host, an address or a DNS name".into())),
    ))
}

pub(crate) fn proxy_host(scn: &Scenario, name: &str) -> Result<HostId, QueryError> {
    let id = scn
        .host_by_name(name)
        .ok_or_else(|| err(format!("unknown proxy `{name}`"), suggest(scn, name, false)))?;
    if scn.host(id).proxy.is_none() {
        let proxies: Vec<&str> = scn
            .hosts
            .iter()
            .filter(|h| h.proxy.is_some())
            .map(|h| h.name.as_str())
            .collect();
        return Err(err(
            format!("`{name}` is not a proxy"),
            Some(if proxies.is_empty() {
                "this scenario has no proxy".into()
            } else {
                format!("proxies here: {}", proxies.join(", "))
            }),
        ));
    }
    Ok(id)
}
