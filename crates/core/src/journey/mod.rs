//! The journey engine: follows one request from a client to a service socket,
//! device by device, through the stages in the order docs/semantics.md gives,
//! then follows the reply back. Each stage lives in its own module and is a
//! pure function of the model; this module strings them together and writes
//! down the evidence.

pub mod authenticate;
pub mod deliver;
pub mod filter;
pub mod proxy;
pub mod resolve;
pub mod route;
pub mod translate;

mod claims;
mod endpoints;

/// The source address a host sends from to `dst` (stage 2.4 of
/// docs/semantics.md), for adapters that open connections as the model
/// says a host does (the lab's proxies).
pub use endpoints::select_source;

use std::net::IpAddr;

use crate::evidence::*;
use crate::model::*;
pub use endpoints::QueryError;
use endpoints::{Destination, Source};

/// The first ephemeral port a client uses (Linux's default range starts at 32768;
/// this model picks one fixed port so that traces are deterministic).
pub const EPHEMERAL_PORT: u16 = 49152;
/// The TTL a sender starts with (Linux's default).
pub const INITIAL_TTL: u8 = 64;
/// What a client sees when its own kernel refuses to send: a blackhole route
/// (EINVAL from connect() or send(), for every protocol).
pub const SEES_EINVAL: &str =
    "invalid argument (EINVAL at once: its own blackhole route, nothing is sent)";
/// What a client sees when its own output filter drops or rejects a UDP
/// datagram or an echo request: send() fails with EPERM at once. (A TCP SYN
/// it drops is retransmitted until connect() times out.)
pub const SEES_EPERM: &str =
    "operation not permitted (EPERM at once: its own output filter, nothing is sent)";

/// The host a sender standing for network `net` behaves as, with one address
/// per family it may send from: attached to that network only, with its
/// connected routes and its gateway. The lab builds the same host for real.
pub fn stand_in(scn: &Scenario, net: NetworkId, addrs: &[IpAddr]) -> Host {
    endpoints::stand_in_host(scn, net, addrs, &scn.network(net).name)
}

/// The address a sender standing for network `net` sends from by default
/// (`trace --from NET`), in the family asked for when the network has one.
pub fn stand_in_address(scn: &Scenario, net: NetworkId, v6: bool) -> Option<IpAddr> {
    endpoints::free_address(scn, scn.network(net), v6)
}

/// A question for `trace`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// A host, a network, `NETWORK@ADDRESS`, or an address.
    pub from: String,
    /// A host, an address or a DNS name, optionally with `:PORT`.
    pub to: String,
    pub proto: Proto,
    /// Overrides the port in `to`.
    pub port: Option<u16>,
    /// A forward proxy to go through.
    pub via: Option<String>,
    /// The client's source port (default `EPHEMERAL_PORT`).
    pub sport: Option<u16>,
    /// Prefer IPv6 addresses (AAAA records, a host's IPv6 address).
    pub ipv6: bool,
    /// The packet belongs to a connection opened earlier, and so does every
    /// connection a proxy on the way made for it: every device already holds
    /// their conntrack entries (made under whatever policy held then), so
    /// stateful filters see them as `established`.
    pub established: bool,
}

impl Query {
    pub fn new(from: &str, to: &str) -> Self {
        Query {
            from: from.to_string(),
            to: to.to_string(),
            proto: Proto::Tcp,
            port: None,
            via: None,
            sport: None,
            ipv6: false,
            established: false,
        }
    }
}

/// Traces one journey. Errors only for a question that names nothing in the
/// scenario; every network outcome (including "does not resolve") is a `Trace`.
pub fn trace(scn: &Scenario, q: &Query) -> Result<Trace, QueryError> {
    trace_with(scn, q, None)
}

/// [`trace`] with `scn`'s filters indexed (see [`filter::FilterIndex`]):
/// the same trace, found faster when many packets meet long rule lists.
pub fn trace_indexed(
    scn: &Scenario,
    q: &Query,
    index: &filter::FilterIndex,
) -> Result<Trace, QueryError> {
    assert!(index.of(scn), "the index of another scenario");
    trace_with(scn, q, Some(index))
}

fn trace_with<'s>(
    scn: &'s Scenario,
    q: &Query,
    index: Option<&'s filter::FilterIndex<'s>>,
) -> Result<Trace, QueryError> {
    let dest = endpoints::destination(scn, &q.to, q.port, q.ipv6, q.proto);
    // An IPv6 address asked for is an IPv6 journey: a sender standing for a
    // network of both families sends from its IPv6 address, as with -6; so
    // is a host that has only IPv6 addresses.
    let v6 = q.ipv6
        || matches!(&dest, Ok(d) if matches!(
            d.kind,
            endpoints::DestKind::Addr(IpAddr::V6(_))
                | endpoints::DestKind::Host { addr: IpAddr::V6(_) }
        ));
    let source = endpoints::source(scn, &q.from, v6)?;
    let dest = dest?;
    let via = match &q.via {
        Some(v) => Some(endpoints::proxy_host(scn, v)?),
        None => None,
    };
    let mut t = Tracer::new(scn, &source);
    t.index = index;
    t.existing = q.established;
    let echo = QueryEcho {
        from: q.from.clone(),
        to: q.to.clone(),
        proto: q.proto,
        port: dest.port,
        via: q.via.clone(),
        source: t.dev_name(source.dev()),
        source_address: None,
        destination_address: None,
        established: q.established,
    };
    let (outcome, dst_addr) = t.run(&source, &dest, q, via);
    // The address the client really sent from (chosen by route), if it sent at all.
    let sent_from = t
        .hops
        .iter()
        .find(|h| h.stage == Stage::Send)
        .map(|h| h.packet.src)
        .or_else(|| source.pinned());
    let summary = claims::summary(&t.hops, &outcome, sent_from);
    Ok(Trace {
        schema: SCHEMA_VERSION,
        scenario: scn.name.clone(),
        file: scn.file.clone(),
        variant: scn.variant.clone(),
        query: QueryEcho {
            destination_address: dst_addr,
            source_address: sent_from,
            ..echo
        },
        hops: t.hops,
        outcome,
        summary,
    })
}

/// A device: an index into the scenario's hosts, or one past the end for the
/// sender that stands for a whole network.
type Dev = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tuple {
    proto: Proto,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
}

impl Tuple {
    fn reversed(self) -> Tuple {
        Tuple {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Packet {
    t: Tuple,
    ttl: u8,
    /// For an ICMP error: the packet it quotes, as it looks here. Conntrack
    /// finds the connection by it, and NAT rewrites it with the outer header.
    inner: Option<Tuple>,
}

impl Packet {
    fn new(t: Tuple) -> Packet {
        Packet {
            t,
            ttl: INITIAL_TTL,
            inner: None,
        }
    }

    /// The tuple conntrack looks the packet up by, as a reply: an ICMP error
    /// belongs to the connection of the packet it quotes.
    fn key(&self) -> Tuple {
        match self.inner {
            Some(i) => i.reversed(),
            None => self.t,
        }
    }
}

/// What an answering device sends back when it refuses, rejects or cannot
/// route a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    /// A TCP reset (no socket, or `reject with tcp-reset`).
    Reset,
    /// ICMP (ICMPv6) port unreachable: no UDP socket, or a plain `reject`.
    PortUnreachable,
    /// ICMP administratively prohibited (`reject with admin-prohibited`).
    AdminProhibited,
    /// A router's ICMP destination unreachable: no route.
    NoRoute,
    /// A router's ICMP host unreachable: nobody answers for the next hop.
    NoNeighbour,
}

impl AnswerKind {
    fn name(self, v6: bool) -> String {
        let icmp = if v6 { "ICMPv6" } else { "ICMP" };
        match self {
            AnswerKind::Reset => "TCP reset".into(),
            AnswerKind::PortUnreachable => format!("{icmp} port unreachable"),
            AnswerKind::AdminProhibited => format!("{icmp} administratively prohibited"),
            AnswerKind::NoRoute => format!("{icmp} destination unreachable (no route)"),
            AnswerKind::NoNeighbour if v6 => "ICMPv6 address unreachable".into(),
            AnswerKind::NoNeighbour => "ICMP host unreachable".into(),
        }
    }
}

/// An answer waiting to be walked back to the client once the request's walk
/// has stopped.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The device that answers.
    dev: Dev,
    /// The request as it is at that device (after its DNAT).
    about: Tuple,
    kind: AnswerKind,
    /// The request was addressed to the answering device itself.
    local: bool,
    /// The answer's conntrack state as it leaves: a netfilter reject and an
    /// ICMP error carry the request's entry (`related`); a socket's reset
    /// is a reply of the entry the request confirmed (`established`).
    state: ConnState,
    /// The request as it arrived at the answering device and what its DNAT
    /// replaced there (the entry the answer carries).
    entered: Tuple,
    dnat_from: Option<(IpAddr, u16)>,
}

/// A conntrack entry on one device.
#[derive(Debug, Clone)]
struct Conn {
    dev: Dev,
    /// The tuple as the first packet arrived (or left, on its origin).
    orig: Tuple,
    /// The tuple a reply has when it arrives at this device.
    reply: Tuple,
    /// Set when this device rewrote the source (SNAT): the original source.
    snat_from: Option<(IpAddr, u16)>,
    /// Set when this device rewrote the destination (DNAT): the original destination.
    dnat_from: Option<(IpAddr, u16)>,
    /// The connection (leg) of the journey it belongs to.
    leg: usize,
}

/// Where a walk ended.
enum WalkEnd {
    /// The packet reached a local address of this device.
    Local {
        dev: Dev,
        pkt: Packet,
    },
    Stopped(Outcome),
}

struct Tracer<'s> {
    scn: &'s Scenario,
    synthetic: Option<Host>,
    hops: Vec<Hop>,
    conns: Vec<Conn>,
    direction: Direction,
    /// The answer a stopped request is owed, if any (see `answer_back`).
    pending: Option<Pending>,
    /// The device the current walk started at.
    walk_origin: Dev,
    /// The device the request is at, as it arrived there and what its DNAT
    /// replaced: an answer sent from there carries that conntrack entry.
    here: Option<(Dev, Tuple, NatFrom)>,
    /// The request belongs to a connection opened earlier (`Query::established`).
    existing: bool,
    /// The connection (leg) being walked: the client's is 1, each proxy's
    /// upstream connection the next. Conntrack finds a packet's entry among
    /// its own connection's only: two connections of one journey never
    /// share a tuple in Linux (each has its own ephemeral port, or a NAT
    /// that would make them clash picks another), though the model gives
    /// every connection the port 49152.
    leg: usize,
    /// The scenario's filters indexed, if the caller has them so.
    index: Option<&'s filter::FilterIndex<'s>>,
}

/// What a NAT replaced: the original address and port, if it did.
type NatFrom = Option<(IpAddr, u16)>;

fn ports(t: &Tuple) -> (Option<u16>, Option<u16>) {
    if t.proto.has_ports() {
        (Some(t.sport), Some(t.dport))
    } else {
        (None, None)
    }
}

pub(crate) fn endpoint(addr: IpAddr, port: Option<u16>) -> String {
    match (addr, port) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    }
}

impl<'s> Tracer<'s> {
    fn new(scn: &'s Scenario, source: &Source) -> Self {
        Tracer {
            scn,
            synthetic: source.synthetic_host(scn),
            hops: Vec::new(),
            conns: Vec::new(),
            direction: Direction::Request,
            pending: None,
            walk_origin: 0,
            here: None,
            existing: false,
            leg: 0,
            index: None,
        }
    }

    fn host(&self, d: Dev) -> &Host {
        if d < self.scn.hosts.len() {
            &self.scn.hosts[d]
        } else {
            self.synthetic
                .as_ref()
                .expect("the synthetic device exists when it is used")
        }
    }

    fn dev_name(&self, d: Dev) -> String {
        let h = self.host(d);
        h.name.clone()
    }

    fn iface_name(&self, d: Dev, iface: usize) -> String {
        let h = self.host(d);
        h.interfaces
            .get(iface)
            .map(|i| self.scn.network(i.network).name.clone())
            .unwrap_or_else(|| "lo".to_string())
    }

    fn origin_ref(
        &self,
        kind: &str,
        owner: Option<&str>,
        index: Option<usize>,
        text: &str,
        origin: &Origin,
    ) -> RuleRef {
        RuleRef {
            kind: kind.to_string(),
            owner: owner.map(str::to_string),
            index,
            text: text.to_string(),
            line: origin.line,
            column: origin.column,
            source: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hop(
        &mut self,
        dev: Dev,
        stage: Stage,
        iface: Option<usize>,
        pkt: &Packet,
        verdict: Verdict,
        rule: Option<RuleRef>,
        detail: String,
    ) -> &mut Hop {
        let (sport, dport) = ports(&pkt.t);
        let interface = iface.map(|i| self.iface_name(dev, i));
        let step = self.hops.len() as u32 + 1;
        self.hops.push(Hop {
            step,
            direction: self.direction,
            device: self.dev_name(dev),
            stage,
            interface,
            packet: PacketView {
                proto: pkt.t.proto,
                src: pkt.t.src,
                sport,
                dst: pkt.t.dst,
                dport,
                ttl: pkt.ttl,
            },
            verdict,
            rule,
            detail,
            state: None,
            proves: Vec::new(),
            trusts: Vec::new(),
            hides: Vec::new(),
        });
        self.hops.last_mut().expect("just pushed")
    }

    fn stop(
        &self,
        kind: OutcomeKind,
        dev: Option<Dev>,
        text: String,
        client_sees: &str,
    ) -> Outcome {
        Outcome {
            kind,
            at: dev.map(|d| self.dev_name(d)),
            step: self.hops.last().map(|h| h.step),
            text,
            client_sees: client_sees.to_string(),
        }
    }

    fn name_of_addr(&self, a: IpAddr) -> String {
        match self.scn.owners_of(a).first() {
            Some((h, _)) => format!("{} ({a})", self.scn.host(*h).name),
            None => a.to_string(),
        }
    }

    /// The whole journey: resolve, request legs, reply, TLS.
    fn run(
        &mut self,
        source: &Source,
        dest: &Destination,
        q: &Query,
        via: Option<HostId>,
    ) -> (Outcome, Option<IpAddr>) {
        let src_dev = source.dev();
        let proto = q.proto;
        let port = dest.port.unwrap_or(0);
        let sport = q.sport.unwrap_or(EPHEMERAL_PORT);
        let v6 = q.ipv6;

        // Through a forward proxy, the proxy resolves the name, in its own view.
        let (first_dst, first_port, target) = match via {
            Some(p) => {
                let proxy = self.scn.host(p);
                let addr = match proxy.first_addr(v6).or_else(|| proxy.first_addr(!v6)) {
                    Some(a) => a,
                    None => {
                        return (
                            self.stop(
                                OutcomeKind::NoRoute,
                                Some(p.index()),
                                format!("the proxy {} has no address", proxy.name),
                                "no route to host",
                            ),
                            None,
                        )
                    }
                };
                let pport = proxy.proxy.as_ref().map(|x| x.port).unwrap_or(3128);
                (addr, pport, Some(p))
            }
            None => match self.resolve_dest(src_dev, dest, v6) {
                Ok(a) => (a, port, None),
                Err(o) => return (o, None),
            },
        };
        let src_addr = source.addr_for(self.host(src_dev), first_dst);
        let Some(src_addr) = src_addr else {
            return (
                self.stop(
                    OutcomeKind::NoRoute,
                    Some(src_dev),
                    format!(
                        "{} has no address of the family of {first_dst}",
                        self.dev_name(src_dev)
                    ),
                    "network is unreachable",
                ),
                Some(first_dst),
            );
        };
        let first = Tuple {
            proto,
            src: src_addr,
            sport,
            dst: first_dst,
            dport: if proto.has_ports() { first_port } else { 0 },
        };
        let leg1 = self.leg(src_dev, first);
        let (end_dev, end_pkt) = match leg1 {
            Ok(x) => x,
            Err(o) => return (o, Some(first_dst)),
        };

        match target {
            Some(proxy_id) => {
                // Second leg: the proxy re-originates the request.
                let proxy_host = self.scn.host(proxy_id);
                let Some(pcfg) = proxy_host.proxy.clone() else {
                    return (
                        self.stop(
                            OutcomeKind::ProxyDenied,
                            Some(end_dev),
                            format!("{} is not a proxy", proxy_host.name),
                            "the proxy refuses the request",
                        ),
                        Some(first_dst),
                    );
                };
                let final_dst = match self.resolve_dest(proxy_id.index(), dest, v6) {
                    Ok(a) => a,
                    Err(o) => return (o, Some(first_dst)),
                };
                let decision = proxy::decide(&pcfg, final_dst, port);
                let verdict_ok = !matches!(decision, proxy::ProxyDecision::Denied);
                if !verdict_ok {
                    let detail = format!(
                        "{} has no allow entry for {}; it answers 403 Forbidden",
                        proxy_host.name,
                        endpoint(final_dst, Some(port))
                    );
                    self.hop(
                        end_dev,
                        Stage::Proxy,
                        None,
                        &end_pkt,
                        Verdict::Refuse,
                        None,
                        detail.clone(),
                    );
                    return (
                        self.stop(
                            OutcomeKind::ProxyDenied,
                            Some(end_dev),
                            detail,
                            "HTTP 403 from the proxy",
                        ),
                        Some(first_dst),
                    );
                }
                let rule = match &decision {
                    proxy::ProxyDecision::Allowed(a) => Some(self.origin_ref(
                        "proxy allow",
                        Some(&proxy_host.name),
                        None,
                        &a.text,
                        &a.origin,
                    )),
                    _ => None,
                };
                let proxy_addr = match endpoints::select_source(proxy_host, final_dst) {
                    Some(a) => a,
                    None => {
                        return (
                            self.stop(
                                OutcomeKind::NoRoute,
                                Some(end_dev),
                                format!(
                                    "{} has no address of the family of {final_dst}",
                                    proxy_host.name
                                ),
                                "HTTP 502 from the proxy",
                            ),
                            Some(first_dst),
                        )
                    }
                };
                let detail = format!(
                    "{} accepts the request for {} and opens its own connection from {}",
                    proxy_host.name,
                    endpoint(final_dst, Some(port)),
                    proxy_addr
                );
                let client_addr = end_pkt.t.src;
                let proxy_hop = self.hops.len();
                let hop = self.hop(
                    end_dev,
                    Stage::Proxy,
                    None,
                    &end_pkt,
                    Verdict::Accept,
                    rule,
                    detail,
                );
                claims::proxy(hop, &pcfg, &proxy_host.name, client_addr, &dest.label);
                let proxy_name = proxy_host.name.clone();
                let second = Tuple {
                    proto,
                    src: proxy_addr,
                    sport: EPHEMERAL_PORT,
                    dst: final_dst,
                    dport: port,
                };
                match self.leg(proxy_id.index(), second) {
                    Ok((d, p)) => {
                        // The TLS session (if any) is the client's, tunnelled through the proxy.
                        let mut o = self.finish(src_dev, d, &p, dest);
                        // A reverse proxy at the far end hands the request on to
                        // its upstream, as it does for a client that comes directly.
                        if o.kind == OutcomeKind::Reached {
                            if let Some(next) = self.reverse_proxy_chain(d, &p) {
                                o = next;
                            }
                        }
                        if self.hops[proxy_hop..].iter().any(|h| h.stage == Stage::Tls) {
                            // Tunnelled with CONNECT: the proxy never sees the
                            // request's headers, so it cannot add or strip any.
                            claims::proxy_tunnel(
                                &mut self.hops[proxy_hop],
                                &proxy_name,
                                &dest.label,
                            );
                        }
                        (o, Some(first_dst))
                    }
                    Err(o) => (o, Some(first_dst)),
                }
            }
            None => {
                let mut o = self.finish(src_dev, end_dev, &end_pkt, dest);
                // A reverse proxy hands the request on to its upstream.
                if o.kind == OutcomeKind::Reached {
                    if let Some(next) = self.reverse_proxy_chain(end_dev, &end_pkt) {
                        o = next;
                    }
                }
                (o, Some(first_dst))
            }
        }
    }

    /// The DNS step, when the destination is a name. Hops record what was believed.
    fn resolve_dest(
        &mut self,
        asker: Dev,
        dest: &Destination,
        v6: bool,
    ) -> Result<IpAddr, Outcome> {
        let name = match &dest.kind {
            endpoints::DestKind::Addr(a) => return Ok(*a),
            endpoints::DestKind::Host { addr } => return Ok(*addr),
            endpoints::DestKind::Name(n) => n.clone(),
        };
        let host = self.host(asker);
        let placeholder = Packet::new(Tuple {
            proto: Proto::Udp,
            src: host
                .first_addr(v6)
                .or_else(|| host.first_addr(!v6))
                .unwrap_or(IpAddr::from([0u8; 4])),
            sport: EPHEMERAL_PORT,
            dst: IpAddr::from([0u8; 4]),
            dport: 53,
        });
        let Some(view_id) = host.dns else {
            let detail = format!(
                "{} has no DNS view, so it cannot resolve {name}",
                self.dev_name(asker)
            );
            return Err(self.unresolved(asker, &placeholder, detail, "could not resolve host"));
        };
        let view = self.scn.view(view_id);
        match resolve::resolve(view, &name, v6) {
            resolve::Resolution::Found { chain, addrs } => {
                let last = chain
                    .last()
                    .copied()
                    .expect("found means at least one record");
                let path: Vec<String> = chain
                    .iter()
                    .map(|r| match &r.data {
                        RecordData::Cname { target } => {
                            format!("{} is an alias of {target}", r.name)
                        }
                        RecordData::A { address } | RecordData::Aaaa { address } => {
                            format!("{} has address {address}", r.name)
                        }
                    })
                    .collect();
                let chosen = addrs[0];
                let mut detail = format!("{name} resolves to {chosen} in view `{}`", view.name);
                if chain.len() > 1 || addrs.len() > 1 {
                    detail.push_str(&format!(" ({})", path.join("; ")));
                }
                if addrs.len() > 1 {
                    detail.push_str(&format!(
                        "; the client takes the first of {} addresses",
                        addrs.len()
                    ));
                }
                let rule = self.origin_ref(
                    "dns record",
                    Some(&view.name),
                    None,
                    &path.join("; "),
                    &last.origin,
                );
                // The question goes to the view's resolver, which the model
                // does not place at an address: never to the answer's address.
                let hop = self.hop(
                    asker,
                    Stage::Resolve,
                    None,
                    &placeholder,
                    Verdict::Accept,
                    rule.into(),
                    detail,
                );
                claims::resolve(hop, &name, chosen, &view.name);
                Ok(chosen)
            }
            resolve::Resolution::NxDomain { name: missing, .. } => {
                let detail = if missing == name {
                    format!("{name} does not exist in view `{}` (NXDOMAIN)", view.name)
                } else {
                    format!("{name} is an alias of {missing}, which does not exist in view `{}` (NXDOMAIN)", view.name)
                };
                Err(self.unresolved(
                    asker,
                    &placeholder,
                    detail,
                    "could not resolve host (NXDOMAIN)",
                ))
            }
            resolve::Resolution::NoData { name: n, .. } => {
                let family = if v6 { "AAAA" } else { "A" };
                let detail = format!("{n} has no {family} record in view `{}`", view.name);
                Err(self.unresolved(
                    asker,
                    &placeholder,
                    detail,
                    "could not resolve host (no address)",
                ))
            }
            resolve::Resolution::Loop { .. } => {
                let detail = format!(
                    "the CNAME chain of {name} loops or runs longer than the resolver follows"
                );
                Err(self.unresolved(
                    asker,
                    &placeholder,
                    detail,
                    "could not resolve host (SERVFAIL)",
                ))
            }
        }
    }

    /// Conntrack undoing a NAT on a reply: `Side::Dst` restores the destination a
    /// source NAT replaced, `Side::Src` the source a destination NAT replaced.
    fn undo_nat(
        &mut self,
        dev: Dev,
        iface: Option<usize>,
        pkt: &mut Packet,
        side: Side,
        (addr, port): (IpAddr, u16),
    ) {
        let name = self.dev_name(dev);
        let (sport, dport) = ports(&pkt.t);
        let mut detail = match side {
            Side::Dst => {
                let before = endpoint(pkt.t.dst, dport);
                pkt.t.dst = addr;
                if pkt.t.proto.has_ports() {
                    pkt.t.dport = port;
                }
                if let Some(i) = &mut pkt.inner {
                    // The quoted request gets its original source back too.
                    i.src = addr;
                    i.sport = port;
                }
                format!("the reply to {before} belongs to a connection {name} source-NATed: its destination becomes {}", endpoint(addr, ports(&pkt.t).1))
            }
            Side::Src => {
                let before = endpoint(pkt.t.src, sport);
                pkt.t.src = addr;
                if pkt.t.proto.has_ports() {
                    pkt.t.sport = port;
                }
                if let Some(i) = &mut pkt.inner {
                    i.dst = addr;
                    i.dport = port;
                }
                format!("the reply from {before} belongs to a connection {name} destination-NATed: its source becomes {}", endpoint(addr, ports(&pkt.t).0))
            }
        };
        if let Some(i) = pkt.inner {
            let (sp, dp) = ports(&i);
            detail.push_str(&format!(
                "; the packet it quotes becomes {} {} -> {}",
                i.proto,
                endpoint(i.src, sp),
                endpoint(i.dst, dp)
            ));
        }
        self.hop(
            dev,
            Stage::Conntrack,
            iface,
            pkt,
            Verdict::Rewrite,
            None,
            detail,
        )
        .state = Some("conntrack: reply of a NATed connection".into());
    }

    /// A name that does not resolve: the resolve hop that refuses, and the outcome.
    fn unresolved(
        &mut self,
        asker: Dev,
        pkt: &Packet,
        detail: String,
        client_sees: &str,
    ) -> Outcome {
        self.hop(
            asker,
            Stage::Resolve,
            None,
            pkt,
            Verdict::Refuse,
            None,
            detail.clone(),
        );
        self.stop(OutcomeKind::Unresolved, Some(asker), detail, client_sees)
    }

    /// One leg: a request from `from`, then its reply. Returns where the request landed.
    fn leg(&mut self, from: Dev, t: Tuple) -> Result<(Dev, Packet), Outcome> {
        self.leg += 1;
        self.direction = Direction::Request;
        self.pending = None;
        let (dev, pkt) = match self.walk(from, Packet::new(t)) {
            WalkEnd::Local { dev, pkt } => (dev, pkt),
            WalkEnd::Stopped(o) => {
                return Err(match self.pending.take() {
                    Some(p) => self.answer_back(o, p, from, t),
                    None => o,
                })
            }
        };
        // The socket lookup.
        let host = self.host(dev);
        if t.proto == Proto::Icmp {
            let detail = format!(
                "{} answers the echo request itself (no socket is needed)",
                self.dev_name(dev)
            );
            self.hop(
                dev,
                Stage::Socket,
                None,
                &pkt,
                Verdict::Accept,
                None,
                detail,
            );
        } else {
            match deliver::find_socket(host, t.proto, pkt.t.dst, pkt.t.dport) {
                deliver::SocketLookup::Found(s) => {
                    let s = s.clone();
                    let name = self.dev_name(dev);
                    let rule = self.origin_ref("socket", Some(&name), None, &s.text, &s.origin);
                    let app = s
                        .app
                        .as_deref()
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default();
                    let detail = format!(
                        "{name} accepts on {}{app}; the service sees the request come from {}",
                        endpoint(s.bind, Some(s.port)),
                        endpoint(pkt.t.src, Some(pkt.t.sport))
                    );
                    let hop = self.hop(
                        dev,
                        Stage::Socket,
                        None,
                        &pkt,
                        Verdict::Accept,
                        Some(rule),
                        detail,
                    );
                    claims::socket(hop, &s);
                }
                lookup => {
                    let name = self.dev_name(dev);
                    let (detail, rule) = match lookup {
                        deliver::SocketLookup::WrongAddress(s) => (
                            format!(
                                "{name} listens on {}, not on {}: nothing accepts this packet",
                                endpoint(s.bind, Some(s.port)),
                                pkt.t.dst
                            ),
                            Some(self.origin_ref("socket", Some(&name), None, &s.text, &s.origin)),
                        ),
                        _ => (
                            format!("nothing on {name} listens on {}/{}", t.proto, pkt.t.dport),
                            None,
                        ),
                    };
                    let sees = if t.proto == Proto::Tcp {
                        "connection refused (TCP reset)"
                    } else if t.proto == Proto::Sctp {
                        "connection refused (SCTP ABORT)"
                    } else {
                        "port unreachable (ICMP)"
                    };
                    self.hop(
                        dev,
                        Stage::Socket,
                        None,
                        &pkt,
                        Verdict::Refuse,
                        rule,
                        detail.clone(),
                    );
                    let o = self.stop(OutcomeKind::Refused, Some(dev), detail, sees);
                    // The host answers: a reset for TCP (a reply of the entry
                    // the SYN confirmed), ICMP port unreachable for UDP.
                    let (kind, state) = if t.proto.handshake() {
                        (AnswerKind::Reset, ConnState::Established)
                    } else {
                        (AnswerKind::PortUnreachable, ConnState::Related)
                    };
                    let p = self.answer_for(dev, pkt.t, kind, true, state);
                    return Err(self.answer_back(o, p, from, t));
                }
            }
        }
        // The reply.
        self.direction = Direction::Reply;
        let reply = Packet::new(pkt.t.reversed());
        let result = self.walk(dev, reply);
        let leg_result = match result {
            WalkEnd::Local {
                dev: back,
                pkt: rpkt,
            } => {
                if back != from || rpkt.t != t.reversed() {
                    let detail = format!(
                        "the reply reaches {} from {}, but the client sent its request to {}: it does not match the client's connection, so the client discards it",
                        self.dev_name(back), endpoint(rpkt.t.src, ports(&rpkt.t).0), endpoint(t.dst, ports(&t).1)
                    );
                    self.hop(
                        back,
                        Stage::Receive,
                        None,
                        &rpkt,
                        Verdict::Drop,
                        None,
                        detail.clone(),
                    );
                    return Err(self.stop(
                        OutcomeKind::ReplyLost,
                        Some(back),
                        detail,
                        "connection timed out",
                    ));
                }
                let detail = format!(
                    "{} receives the reply: the connection is established",
                    self.dev_name(back)
                );
                self.hop(
                    back,
                    Stage::Receive,
                    None,
                    &rpkt,
                    Verdict::Accept,
                    None,
                    detail,
                );
                Ok((dev, pkt))
            }
            WalkEnd::Stopped(mut o) => {
                o.kind = OutcomeKind::ReplyLost;
                o.text = format!("the request arrived, but the reply was lost: {}", o.text);
                o.client_sees = "connection timed out".to_string();
                Err(o)
            }
        };
        self.direction = Direction::Request;
        leg_result
    }

    /// TLS, once the connection is up.
    fn finish(&mut self, client: Dev, dev: Dev, pkt: &Packet, dest: &Destination) -> Outcome {
        let host = self.host(dev);
        let name = self.dev_name(dev);
        let socket = deliver::find_socket(host, pkt.t.proto, pkt.t.dst, pkt.t.dport);
        let deliver::SocketLookup::Found(s) = socket else {
            let text = format!("reached {name}");
            return self.stop(OutcomeKind::Reached, Some(dev), text, "ping answered");
        };
        let s = s.clone();
        let where_ = format!("{name}:{}", s.port);
        if let Some(tls) = &s.tls {
            let client_cfg = self.host(client).tls.clone();
            let asked = dest.tls_name(tls);
            let h = authenticate::handshake(&client_cfg, tls, &asked);
            let client_name = self.dev_name(client);
            let detail = if h.ok {
                let mut d = format!("TLS handshake with {name} for {asked} succeeds");
                if !h.note.is_empty() {
                    d.push_str(&format!(" ({})", h.note));
                }
                d
            } else {
                format!("TLS handshake fails: {}", h.note)
            };
            let rule = self.origin_ref("socket", Some(&name), None, &s.text, &s.origin);
            let hop = self.hop(
                dev,
                Stage::Tls,
                None,
                pkt,
                if h.ok {
                    Verdict::Accept
                } else {
                    Verdict::Refuse
                },
                Some(rule),
                detail.clone(),
            );
            claims::tls(hop, &h, &client_cfg, tls, &asked, &client_name, &name);
            if !h.ok {
                return self.stop(
                    OutcomeKind::TlsFailed,
                    Some(dev),
                    detail,
                    "TLS handshake failure",
                );
            }
        }
        let app = s
            .app
            .as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        self.stop(
            OutcomeKind::Reached,
            Some(dev),
            format!("reached {where_}{app}"),
            "connected",
        )
    }

    /// The reverse proxy `dev` on the port `pkt` reached, if it is one:
    /// its settings, its upstream host and port.
    fn reverse_proxy_at(&self, dev: Dev, pkt: &Packet) -> Option<(Proxy, HostId, u16)> {
        let p = self.host(dev).proxy.clone()?;
        match p.mode {
            ProxyMode::Reverse { upstream, port } if pkt.t.dport == p.port => {
                Some((p, upstream, port))
            }
            _ => None,
        }
    }

    /// A request that reached `dev` goes on through every reverse proxy it
    /// meets: each hands it to its upstream, until a service that is not a
    /// proxy answers, a leg fails, or the request comes back to a proxy it
    /// has already passed. Each proxy adds itself to a `Via` header (RFC 9110
    /// 7.6.3), so a proxy that finds its own name there stops the loop with
    /// 508 Loop Detected (the lab's proxies do the same). None when `dev` is
    /// not a reverse proxy on that port.
    fn reverse_proxy_chain(&mut self, dev: Dev, pkt: &Packet) -> Option<Outcome> {
        let mut passed: Vec<Dev> = Vec::new();
        let (mut dev, mut pkt) = (dev, *pkt);
        let mut last = None;
        while let Some((p, upstream, port)) = self.reverse_proxy_at(dev, &pkt) {
            let name = self.dev_name(dev);
            if passed.contains(&dev) {
                let chain: Vec<String> = passed
                    .iter()
                    .chain(std::iter::once(&dev))
                    .map(|d| self.dev_name(*d))
                    .collect();
                let detail = format!(
                    "{name} finds its own name in the request's Via header: the request has gone round a loop of reverse proxies ({}), so {name} answers 508 Loop Detected instead of forwarding it again",
                    chain.join(" -> ")
                );
                let rule = self.origin_ref(
                    "proxy",
                    Some(&name),
                    None,
                    &format!("reverse proxy to {}:{port}", self.scn.host(upstream).name),
                    &p.origin,
                );
                self.hop(
                    dev,
                    Stage::Proxy,
                    None,
                    &pkt,
                    Verdict::Refuse,
                    Some(rule),
                    detail.clone(),
                );
                return Some(self.stop(
                    OutcomeKind::ProxyLoop,
                    Some(dev),
                    detail,
                    &format!("HTTP 508 Loop Detected from {name}"),
                ));
            }
            passed.push(dev);
            let up = self.scn.host(upstream);
            let fam_v6 = pkt.t.dst.is_ipv6();
            let Some(up_addr) = up.first_addr(fam_v6).or_else(|| up.first_addr(!fam_v6)) else {
                return last;
            };
            let Some(my_addr) = endpoints::select_source(self.host(dev), up_addr) else {
                // No address of the upstream's family: the proxy's connect()
                // fails at once (ENETUNREACH), as a client's would.
                let detail = format!(
                    "{name} is a reverse proxy to {}:{port}, but it has no address of the family of {up_addr}: it cannot connect",
                    up.name
                );
                self.hop(
                    dev,
                    Stage::Proxy,
                    None,
                    &pkt,
                    Verdict::Drop,
                    None,
                    detail.clone(),
                );
                return Some(self.stop(
                    OutcomeKind::NoRoute,
                    Some(dev),
                    detail,
                    "network is unreachable",
                ));
            };
            let detail = format!(
                "{name} is a reverse proxy: it forwards the request to {}:{port} from {my_addr}",
                up.name
            );
            let up_name = up.name.clone();
            let client_addr = pkt.t.src;
            let hop = self.hop(dev, Stage::Proxy, None, &pkt, Verdict::Accept, None, detail);
            claims::proxy(hop, &p, &name, client_addr, &up_name);
            let second = Tuple {
                proto: pkt.t.proto,
                src: my_addr,
                sport: EPHEMERAL_PORT,
                dst: up_addr,
                dport: port,
            };
            let upstream_dest = Destination {
                kind: endpoints::DestKind::Host { addr: up_addr },
                port: Some(port),
                label: up_name,
            };
            match self.leg(dev, second) {
                Ok((d, p2)) => {
                    let o = self.finish(dev, d, &p2, &upstream_dest);
                    if o.kind != OutcomeKind::Reached {
                        return Some(o);
                    }
                    last = Some(o);
                    (dev, pkt) = (d, p2);
                }
                Err(o) => return Some(o),
            }
        }
        last
    }

    /// Carries a packet from its origin until it reaches a local address or stops.
    fn walk(&mut self, origin: Dev, pkt: Packet) -> WalkEnd {
        self.walk_as(origin, pkt, None)
    }

    /// `walk`, for an answer: the send hop's wording and the answer's
    /// conntrack state on its origin.
    fn walk_as(
        &mut self,
        origin: Dev,
        mut pkt: Packet,
        answer: Option<(String, ConnState)>,
    ) -> WalkEnd {
        self.walk_origin = origin;
        self.here = None;
        let (sport, dport) = ports(&pkt.t);
        let what = if self.direction == Direction::Request {
            "sends"
        } else {
            "answers with"
        };
        let (detail, answer_state) = match answer {
            Some((d, st)) => (d, Some(st)),
            None => (
                format!(
                    "{} {what} {} {} -> {}",
                    self.dev_name(origin),
                    pkt.t.proto,
                    endpoint(pkt.t.src, sport),
                    endpoint(pkt.t.dst, dport)
                ),
                None,
            ),
        };
        let is_request = self.direction == Direction::Request;
        let existing = self.existing;
        let hop = self.hop(origin, Stage::Send, None, &pkt, Verdict::Pass, None, detail);
        if is_request {
            claims::send(hop, pkt.t.src);
            if existing {
                claims::earlier_connection(hop);
            }
        }
        if answer_state.is_some() {
            // An answer from a device that source-NATed the request is
            // addressed to the NAT address: the output hook's conntrack
            // gives it the client's address back (and reroutes it).
            let key = pkt.key();
            let snat = self
                .conns
                .iter()
                .find(|c| c.leg == self.leg && c.dev == origin && c.reply == key)
                .and_then(|c| c.snat_from);
            if let Some(from) = snat {
                self.undo_nat(origin, None, &mut pkt, Side::Dst, from);
            }
        }
        // Output path on the origin.
        let origin_state = answer_state.unwrap_or_else(|| self.state_at(origin, &pkt));
        if self.host(origin).has_addr(pkt.t.dst) {
            // Loopback: output filter, then input filter, on the same host.
            if let Some(end) =
                self.run_filter(origin, FilterHook::Output, &pkt, None, None, origin_state)
            {
                return end;
            }
            if let Some(end) =
                self.run_filter(origin, FilterHook::Input, &pkt, None, None, origin_state)
            {
                return end;
            }
            self.note_conn(origin, pkt.t, pkt.t, None, None);
            return WalkEnd::Local { dev: origin, pkt };
        }
        let (out_iface, next_hop) = match self.route_step(origin, &pkt) {
            Ok(x) => x,
            Err(end) => return end,
        };
        if let Some(end) = self.run_filter(
            origin,
            FilterHook::Output,
            &pkt,
            None,
            Some(out_iface),
            origin_state,
        ) {
            return end;
        }
        let entered = pkt.t;
        let mut snat_from = None;
        if origin_state == ConnState::New || self.opens_existing() {
            snat_from = self.snat_step(origin, &mut pkt, out_iface);
        }
        if self.direction == Direction::Reply {
            // A connection this host destination-NATed to itself: postrouting
            // gives the reply the address the client asked for.
            let key = pkt.key();
            let conn = self
                .conns
                .iter()
                .find(|c| {
                    c.leg == self.leg && c.dev == origin && c.reply == key && c.dnat_from.is_some()
                })
                .cloned();
            if let Some((addr, port)) = conn.and_then(|c| c.dnat_from) {
                self.undo_nat(origin, Some(out_iface), &mut pkt, Side::Src, (addr, port));
            }
        }
        if self.direction == Direction::Request {
            self.note_conn(origin, entered, pkt.t, snat_from, None);
        }
        let mut dev = origin;
        let mut iface = out_iface;
        let mut hop_addr = next_hop;
        loop {
            // The link: who answers for the next hop on this segment?
            let (next, in_iface) = match self.neighbour(dev, iface, hop_addr, &pkt) {
                Ok(x) => x,
                Err(end) => return end,
            };
            match self.receive(next, in_iface, &mut pkt) {
                Receive::Local => return WalkEnd::Local { dev: next, pkt },
                Receive::Forward {
                    out_iface,
                    next_hop,
                } => {
                    dev = next;
                    iface = out_iface;
                    hop_addr = next_hop;
                }
                Receive::Stop(end) => return end,
            }
        }
    }

    /// A request of an earlier connection: its NAT mappings were chosen when
    /// it opened, by the NAT rules (assumed unchanged since).
    fn opens_existing(&self) -> bool {
        self.existing && self.direction == Direction::Request
    }

    /// The conntrack state of a packet at a device.
    fn state_at(&self, dev: Dev, pkt: &Packet) -> ConnState {
        let t = pkt.key();
        match self.direction {
            Direction::Request if self.existing => ConnState::Established,
            Direction::Request => ConnState::New,
            Direction::Reply => {
                if self.conns.iter().any(|c| {
                    c.leg == self.leg && c.dev == dev && (c.reply == t || c.orig == t.reversed())
                }) {
                    if pkt.inner.is_some() {
                        // An ICMP error about a known connection.
                        ConnState::Related
                    } else {
                        ConnState::Established
                    }
                } else if pkt.inner.is_none() && t.proto == Proto::Udp {
                    ConnState::New
                } else {
                    ConnState::Invalid
                }
            }
        }
    }

    fn note_conn(
        &mut self,
        dev: Dev,
        orig: Tuple,
        out: Tuple,
        snat_from: Option<(IpAddr, u16)>,
        dnat_from: Option<(IpAddr, u16)>,
    ) {
        if self.direction != Direction::Request {
            return;
        }
        self.conns.push(Conn {
            dev,
            orig,
            reply: out.reversed(),
            snat_from,
            dnat_from,
            leg: self.leg,
        });
    }

    fn neighbour(
        &mut self,
        dev: Dev,
        iface: usize,
        hop_addr: IpAddr,
        pkt: &Packet,
    ) -> Result<(Dev, usize), WalkEnd> {
        let net = self.host(dev).interfaces[iface].network;
        let found = self
            .scn
            .owners_of(hop_addr)
            .iter()
            .find(|(h, i)| self.scn.host(*h).interfaces[*i].network == net)
            .map(|(h, i)| (h.index(), *i))
            .or_else(|| {
                let s = self.synthetic.as_ref()?;
                (s.interfaces[0].network == net && s.interfaces[0].addrs.contains(&hop_addr))
                    .then_some((self.scn.hosts.len(), 0))
            });
        let net_name = self.scn.network(net).name.clone();
        match found {
            Some((next, in_iface)) => {
                let detail = format!(
                    "{} hands the packet to {} on `{net_name}` ({hop_addr})",
                    self.dev_name(dev),
                    self.dev_name(next)
                );
                let hop = self.hop(
                    dev,
                    Stage::Link,
                    Some(iface),
                    pkt,
                    Verdict::Pass,
                    None,
                    detail,
                );
                claims::link(hop, hop_addr, &net_name);
                Ok((next, in_iface))
            }
            None => {
                let detail = format!("nobody on `{net_name}` answers for {hop_addr} (no neighbour): the packet cannot be delivered");
                self.hop(
                    dev,
                    Stage::Link,
                    Some(iface),
                    pkt,
                    Verdict::Drop,
                    None,
                    detail.clone(),
                );
                if dev != self.walk_origin {
                    self.owe_answer(dev, pkt.t, AnswerKind::NoNeighbour, false);
                }
                Err(WalkEnd::Stopped(self.stop(
                    OutcomeKind::NoRoute,
                    Some(dev),
                    detail,
                    "no route to host",
                )))
            }
        }
    }

    /// The routing decision for a packet leaving (or passing through) `dev`.
    fn route_step(&mut self, dev: Dev, pkt: &Packet) -> Result<(usize, IpAddr), WalkEnd> {
        let host = self.host(dev);
        let name = self.dev_name(dev);
        match route::lookup(host, pkt.t.dst).cloned() {
            None => {
                let detail = format!("{name} has no route to {}", pkt.t.dst);
                self.hop(
                    dev,
                    Stage::Route,
                    None,
                    pkt,
                    Verdict::Drop,
                    None,
                    detail.clone(),
                );
                if dev != self.walk_origin {
                    // A router says so (ICMP); the sender itself just fails.
                    self.owe_answer(dev, pkt.t, AnswerKind::NoRoute, false);
                }
                Err(WalkEnd::Stopped(self.stop(
                    OutcomeKind::NoRoute,
                    Some(dev),
                    detail,
                    "network is unreachable",
                )))
            }
            Some(r) => {
                let rule = self.route_ref(dev, &r);
                match r.action {
                    RouteAction::Blackhole => {
                        let detail = format!(
                            "{name} discards packets to {} (blackhole route {})",
                            pkt.t.dst, r.dest
                        );
                        self.hop(
                            dev,
                            Stage::Route,
                            None,
                            pkt,
                            Verdict::Drop,
                            Some(rule),
                            detail.clone(),
                        );
                        // On the sender's own request the kernel refuses to
                        // send at all: connect() or send() fails with EINVAL at
                        // once. Anywhere else the packet just vanishes.
                        let sees =
                            if dev == self.walk_origin && self.direction == Direction::Request {
                                SEES_EINVAL
                            } else {
                                "connection timed out"
                            };
                        Err(WalkEnd::Stopped(self.stop(
                            OutcomeKind::Dropped,
                            Some(dev),
                            detail,
                            sees,
                        )))
                    }
                    RouteAction::Direct { iface } => {
                        let detail = format!(
                            "{} is on the directly attached network `{}`",
                            pkt.t.dst,
                            self.iface_name(dev, iface)
                        );
                        self.hop(
                            dev,
                            Stage::Route,
                            Some(iface),
                            pkt,
                            Verdict::Pass,
                            Some(rule),
                            detail,
                        );
                        Ok((iface, pkt.t.dst))
                    }
                    RouteAction::Via { gateway, iface } => {
                        let detail = format!(
                            "route {} sends the packet via {}",
                            r.dest,
                            self.name_of_addr(gateway)
                        );
                        self.hop(
                            dev,
                            Stage::Route,
                            Some(iface),
                            pkt,
                            Verdict::Pass,
                            Some(rule),
                            detail,
                        );
                        Ok((iface, gateway))
                    }
                }
            }
        }
    }

    fn route_ref(&self, dev: Dev, r: &Route) -> RuleRef {
        let name = self.dev_name(dev);
        match &r.origin {
            RouteOrigin::Declared(o) => self.origin_ref("route", Some(&name), None, &r.text, o),
            RouteOrigin::Connected => self.origin_ref(
                "connected route",
                Some(&name),
                None,
                &r.text,
                &self.host(dev).origin,
            ),
            RouteOrigin::NetworkGateway(n) => self.origin_ref(
                "network gateway",
                Some(&name),
                None,
                &r.text,
                &self.scn.network(*n).origin,
            ),
        }
    }

    /// Everything that happens to a packet arriving at `dev` on `in_iface`.
    fn receive(&mut self, dev: Dev, in_iface: usize, pkt: &mut Packet) -> Receive {
        if let Some(end) = self.martian(dev, in_iface, pkt, route::MartianAt::Receipt) {
            return end;
        }
        let name = self.dev_name(dev);
        let state = self.state_at(dev, pkt);
        let key = pkt.key();
        let conn = self
            .conns
            .iter()
            .find(|c| c.leg == self.leg && c.dev == dev && c.reply == key)
            .cloned();
        let entered = pkt.t;

        // Prerouting: a reply to a connection this device source-NATed gets its real destination back.
        if let (Direction::Reply, Some(c)) = (self.direction, &conn) {
            if let Some((addr, port)) = c.snat_from {
                self.undo_nat(dev, Some(in_iface), pkt, Side::Dst, (addr, port));
            }
        }
        // Prerouting: destination NAT for a new connection.
        let mut dnat_from = None;
        if (state == ConnState::New && self.direction == Direction::Request)
            || self.opens_existing()
        {
            // NAT rules are read as the connection opened.
            let input = self.match_input(pkt, Some(in_iface), None, dev, ConnState::New);
            if let Some(rule) = translate::dnat(self.host(dev), &input).cloned() {
                if let NatKind::Dnat { to, port, .. } = rule.kind {
                    dnat_from = Some((pkt.t.dst, pkt.t.dport));
                    let before = endpoint(pkt.t.dst, ports(&pkt.t).1);
                    pkt.t.dst = to;
                    if let Some(p) = port {
                        pkt.t.dport = p;
                    }
                    let after = endpoint(pkt.t.dst, ports(&pkt.t).1);
                    let mut r =
                        self.origin_ref("nat rule", Some(&name), None, &rule.text, &rule.origin);
                    r.source = rule.source.clone();
                    let by = rule
                        .source
                        .as_ref()
                        .map(|s| format!(", {} line {}", s.file, s.line))
                        .unwrap_or_default();
                    let detail =
                        format!("{name} rewrites the destination {before} to {after} (DNAT{by})");
                    let target = self.name_of_addr(to);
                    let hop = self.hop(
                        dev,
                        Stage::Dnat,
                        Some(in_iface),
                        pkt,
                        Verdict::Rewrite,
                        Some(r),
                        detail,
                    );
                    hop.state = Some(format!(
                        "conntrack: {before} is {after}; replies will be rewritten back"
                    ));
                    claims::dnat(hop, &before, &target);
                }
            }
        }
        if self.direction == Direction::Request {
            self.here = Some((dev, entered, dnat_from));
        }
        if let Some(end) = self.martian(dev, in_iface, pkt, route::MartianAt::Routing) {
            return end;
        }
        // Reverse-path check.
        let rp = route::reverse_path(self.host(dev), pkt.t.src, in_iface);
        match rp {
            route::RpVerdict::Off => {}
            route::RpVerdict::Pass => {
                let mode = if self.host(dev).rp_filter == RpFilter::Strict {
                    "strict"
                } else {
                    "loose"
                };
                let detail = format!(
                    "reverse-path check ({mode}): the route back to {} fits",
                    pkt.t.src
                );
                let iface_name = self.iface_name(dev, in_iface);
                let hop = self.hop(
                    dev,
                    Stage::ReversePath,
                    Some(in_iface),
                    pkt,
                    Verdict::Pass,
                    None,
                    detail,
                );
                claims::reverse_path(hop, pkt.t.src, &iface_name, mode == "strict");
            }
            route::RpVerdict::Fail { reason } => {
                let detail = format!("reverse-path check drops the packet: {reason} (a spoofed or asymmetric source)");
                self.hop(
                    dev,
                    Stage::ReversePath,
                    Some(in_iface),
                    pkt,
                    Verdict::Drop,
                    None,
                    detail.clone(),
                );
                return Receive::Stop(WalkEnd::Stopped(self.stop(
                    OutcomeKind::Dropped,
                    Some(dev),
                    detail,
                    "connection timed out",
                )));
            }
        }
        // Routing decision: local delivery or forwarding.
        if self.host(dev).has_addr(pkt.t.dst) {
            let detail = format!("{} is an address of {name}: local delivery", pkt.t.dst);
            self.hop(
                dev,
                Stage::Route,
                Some(in_iface),
                pkt,
                Verdict::Pass,
                None,
                detail,
            );
            if let Some(end) =
                self.run_filter(dev, FilterHook::Input, pkt, Some(in_iface), None, state)
            {
                return Receive::Stop(end);
            }
            self.note_conn(dev, entered, pkt.t, None, dnat_from);
            return Receive::Local;
        }
        if !self.host(dev).router {
            let detail = format!(
                "{name} is not a router (forwarding is off), and {} is not one of its addresses",
                pkt.t.dst
            );
            self.hop(
                dev,
                Stage::Route,
                Some(in_iface),
                pkt,
                Verdict::Drop,
                None,
                detail.clone(),
            );
            return Receive::Stop(WalkEnd::Stopped(self.stop(
                OutcomeKind::Dropped,
                Some(dev),
                detail,
                "connection timed out",
            )));
        }
        if pkt.ttl <= 1 {
            let detail = format!("the TTL runs out at {name}: the packet is going round in a loop or the path is too long");
            self.hop(
                dev,
                Stage::Route,
                Some(in_iface),
                pkt,
                Verdict::Drop,
                None,
                detail.clone(),
            );
            return Receive::Stop(WalkEnd::Stopped(self.stop(
                OutcomeKind::TtlExceeded,
                Some(dev),
                detail,
                "time to live exceeded",
            )));
        }
        pkt.ttl -= 1;
        let (out_iface, next_hop) = match self.route_step(dev, pkt) {
            Ok(x) => x,
            Err(end) => return Receive::Stop(end),
        };
        // Linux checks there only for a packet that leaves by another
        // interface than it came in on (`ip6_forward` takes the way back
        // out for a redirect's case, before the source check).
        if out_iface != in_iface {
            if let Some(end) = self.martian(dev, in_iface, pkt, route::MartianAt::Forwarding) {
                return end;
            }
        }
        if let Some(end) = self.run_filter(
            dev,
            FilterHook::Forward,
            pkt,
            Some(in_iface),
            Some(out_iface),
            state,
        ) {
            return Receive::Stop(end);
        }
        // Postrouting: source NAT for new connections, the DNAT undone for replies.
        let mut snat_from = None;
        if (state == ConnState::New && self.direction == Direction::Request)
            || self.opens_existing()
        {
            snat_from = self.snat_step(dev, pkt, out_iface);
        }
        if let (Direction::Reply, Some(c)) = (self.direction, &conn) {
            if let Some((addr, port)) = c.dnat_from {
                self.undo_nat(dev, Some(out_iface), pkt, Side::Src, (addr, port));
            }
        }
        self.note_conn(dev, entered, pkt.t, snat_from, dnat_from);
        Receive::Forward {
            out_iface,
            next_hop,
        }
    }

    /// Linux's martian-source check at `at`: a source no sender on a network
    /// can have is dropped there, whatever `rp_filter` and the filters say.
    fn martian(
        &mut self,
        dev: Dev,
        in_iface: usize,
        pkt: &Packet,
        at: route::MartianAt,
    ) -> Option<Receive> {
        let why = route::martian_source(pkt.t.src, at)?;
        let name = self.dev_name(dev);
        let iface = self.iface_name(dev, in_iface);
        let detail = format!(
            "{name} drops the packet: its source {} is {why} (a martian source; Linux drops it whatever rp_filter says)",
            pkt.t.src
        );
        let host_origin = self.host(dev).origin.clone();
        let rule = self.origin_ref(
            "kernel check",
            Some(&name),
            None,
            &format!("martian source on `{iface}`"),
            &host_origin,
        );
        self.hop(
            dev,
            Stage::Martian,
            Some(in_iface),
            pkt,
            Verdict::Drop,
            Some(rule),
            detail.clone(),
        );
        Some(Receive::Stop(WalkEnd::Stopped(self.stop(
            OutcomeKind::Dropped,
            Some(dev),
            detail,
            "connection timed out",
        ))))
    }

    fn snat_step(&mut self, dev: Dev, pkt: &mut Packet, out_iface: usize) -> Option<(IpAddr, u16)> {
        let input = self.match_input(pkt, None, Some(out_iface), dev, ConnState::New);
        let rule = translate::snat(self.host(dev), &input).cloned()?;
        let new_src = match rule.kind {
            NatKind::Snat { to } => to,
            NatKind::Masquerade => self.host(dev).interfaces[out_iface]
                .addrs
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == pkt.t.src.is_ipv4())?,
            NatKind::Dnat { .. } => return None,
        };
        let from = (pkt.t.src, pkt.t.sport);
        let before = pkt.t.src;
        pkt.t.src = new_src;
        let name = self.dev_name(dev);
        let mut r = self.origin_ref("nat rule", Some(&name), None, &rule.text, &rule.origin);
        r.source = rule.source.clone();
        let kind = if matches!(rule.kind, NatKind::Masquerade) {
            "masquerade"
        } else {
            "SNAT"
        };
        let by = rule
            .source
            .as_ref()
            .map(|s| format!(", {} line {}", s.file, s.line))
            .unwrap_or_default();
        let detail = format!("{name} rewrites the source {before} to {new_src} ({kind}{by})");
        let hop = self.hop(
            dev,
            Stage::Snat,
            Some(out_iface),
            pkt,
            Verdict::Rewrite,
            Some(r),
            detail,
        );
        hop.state = Some(format!(
            "conntrack: replies to {new_src} go back to {before}"
        ));
        claims::snat(hop, before, new_src, &name);
        Some(from)
    }

    fn match_input(
        &self,
        pkt: &Packet,
        in_iface: Option<usize>,
        out_iface: Option<usize>,
        dev: Dev,
        state: ConnState,
    ) -> MatchInput {
        let host = self.host(dev);
        MatchInput {
            proto: pkt.t.proto,
            src: pkt.t.src,
            dst: pkt.t.dst,
            sport: pkt.t.sport,
            dport: pkt.t.dport,
            in_iface: in_iface
                .and_then(|i| host.interfaces.get(i))
                .map(|i| i.network),
            out_iface: out_iface
                .and_then(|i| host.interfaces.get(i))
                .map(|i| i.network),
            state,
        }
    }

    /// The answer `dev` sends about the request `about` (as it is there).
    fn answer_for(
        &self,
        dev: Dev,
        about: Tuple,
        kind: AnswerKind,
        local: bool,
        state: ConnState,
    ) -> Pending {
        let (entered, dnat_from) = match self.here {
            Some((d, e, n)) if d == dev => (e, n),
            _ => (about, None),
        };
        Pending {
            dev,
            about,
            kind,
            local,
            state,
            entered,
            dnat_from,
        }
    }

    /// Notes that the request stopping at `dev` is answered (on the request
    /// path only: Linux answers no answer, and a reply's reject answers the
    /// server, not the client).
    fn owe_answer(&mut self, dev: Dev, about: Tuple, kind: AnswerKind, local: bool) {
        if self.direction == Direction::Request {
            self.pending = Some(self.answer_for(dev, about, kind, local, ConnState::Related));
        }
    }

    /// Walks the answer to a stopped request (TCP reset or ICMP error) back
    /// from the device that sent it to `client`, which sent `sent`, through
    /// the same stages as a reply: the answerer's output filter, routes,
    /// every device's conntrack, reverse-path check, filters and NAT undoing
    /// (an ICMP error's quoted packet is rewritten with it), the client's
    /// input filter. The outcome `o` stands when the answer reaches the
    /// client's connection; when it is lost on the way, or arrives somewhere
    /// the client's connection does not recognise, the client hears nothing
    /// and times out (`reply_lost`).
    fn answer_back(&mut self, o: Outcome, p: Pending, client: Dev, sent: Tuple) -> Outcome {
        let saved = self.direction;
        self.direction = Direction::Reply;
        // The answering device's entry for the request (not confirmed when
        // the request stopped there, but attached to the answer): NAT is
        // undone with it.
        let reply = p.about.reversed();
        if !self
            .conns
            .iter()
            .any(|c| c.leg == self.leg && c.dev == p.dev && c.reply == reply)
        {
            self.conns.push(Conn {
                dev: p.dev,
                orig: p.entered,
                reply,
                snat_from: None,
                dnat_from: p.dnat_from,
                leg: self.leg,
            });
        }
        let name = self.dev_name(p.dev);
        let kind = p.kind.name(p.about.dst.is_ipv6());
        let (pkt, detail) = match p.kind {
            AnswerKind::Reset => {
                let (sp, dp) = ports(&reply);
                let detail = format!(
                    "{name} answers with a TCP reset {} -> {}",
                    endpoint(reply.src, sp),
                    endpoint(reply.dst, dp)
                );
                (Packet::new(reply), detail)
            }
            _ => {
                let src = if p.local {
                    p.about.dst
                } else {
                    endpoints::select_source(self.host(p.dev), p.about.src).unwrap_or(p.about.dst)
                };
                let t = Tuple {
                    proto: Proto::Icmp,
                    src,
                    sport: 0,
                    dst: p.about.src,
                    dport: 0,
                };
                let (sp, dp) = ports(&p.about);
                let detail = format!(
                    "{name} answers with {kind} {src} -> {}, quoting {} {} -> {}",
                    p.about.src,
                    p.about.proto,
                    endpoint(p.about.src, sp),
                    endpoint(p.about.dst, dp)
                );
                let mut pkt = Packet::new(t);
                pkt.inner = Some(p.about);
                (pkt, detail)
            }
        };
        let lost = |o: &Outcome, why: &str| {
            format!(
                "{}; but the {kind} that answers it is lost on the way back: {why}",
                o.text
            )
        };
        let result = match self.walk_as(p.dev, pkt, Some((detail, p.state))) {
            WalkEnd::Local {
                dev: back,
                pkt: got,
            } => {
                let mine = back == client
                    && match got.inner {
                        Some(i) => i == sent,
                        None => got.t == sent.reversed(),
                    };
                let who = self.dev_name(back);
                if mine {
                    let detail = format!("{who} receives the {kind}: {}", o.client_sees);
                    self.hop(
                        back,
                        Stage::Receive,
                        None,
                        &got,
                        Verdict::Pass,
                        None,
                        detail,
                    );
                    o
                } else {
                    let detail = format!(
                        "the {kind} reaches {who}, but it does not answer the connection {} opened to {}, so it is ignored",
                        self.dev_name(client),
                        endpoint(sent.dst, ports(&sent).1)
                    );
                    self.hop(
                        back,
                        Stage::Receive,
                        None,
                        &got,
                        Verdict::Drop,
                        None,
                        detail.clone(),
                    );
                    let text = lost(&o, &detail);
                    self.stop(
                        OutcomeKind::ReplyLost,
                        Some(back),
                        text,
                        "connection timed out",
                    )
                }
            }
            WalkEnd::Stopped(stopped) => Outcome {
                kind: OutcomeKind::ReplyLost,
                text: lost(&o, &stopped.text),
                client_sees: "connection timed out".to_string(),
                ..stopped
            },
        };
        self.direction = saved;
        result
    }

    /// Runs a filter hook; `Some` when the packet stops there.
    fn run_filter(
        &mut self,
        dev: Dev,
        hook: FilterHook,
        pkt: &Packet,
        in_iface: Option<usize>,
        out_iface: Option<usize>,
        state: ConnState,
    ) -> Option<WalkEnd> {
        let host = self.host(dev);
        let fid = match hook {
            FilterHook::Input => host.input,
            FilterHook::Forward => host.forward,
            FilterHook::Output => host.output,
        }?;
        crate::analysis::consulted::note_filter(fid);
        let mut f: &'s Filter = self.scn.filter(fid);
        let mut index = self.index;
        // A packet that never leaves the host (no interface either way: in on and
        // out by `lo`) meets what a rule set decides for `lo`.
        if in_iface.is_none() && out_iface.is_none() {
            if let Some(lo) = &f.loopback {
                f = lo;
                index = None;
            }
        }
        let input = self.match_input(pkt, in_iface, out_iface, dev, state);
        if crate::analysis::consulted::active() {
            use crate::analysis::space::{addr_u128, proto_bit, Cube, Fam};
            let (src, dst) = (addr_u128(input.src), addr_u128(input.dst));
            crate::analysis::consulted::note_packets(
                fid,
                self.direction == Direction::Reply,
                &Cube {
                    fam: Fam::of(input.src),
                    src: (src, src),
                    dst: (dst, dst),
                    proto: proto_bit(input.proto),
                    sport: (input.sport, input.sport),
                    dport: (input.dport, input.dport),
                    tag: 0,
                },
            );
        }
        let decision = match index {
            Some(ix) => ix.evaluate(fid, &input),
            None => filter::evaluate(f, &input),
        };
        let name = self.dev_name(dev);
        let hook_name = hook.name();
        let (rule, text) = match decision.by {
            filter::Decider::Established => (
                RuleRef {
                    kind: "implicit".into(),
                    owner: Some(f.name.clone()),
                    index: None,
                    text: "allow state established,related".into(),
                    line: f.origin.line,
                    column: f.origin.column,
                    source: None,
                },
                if state == ConnState::Related {
                    format!("{} (stateful) lets the packet through: it answers a connection conntrack knows (related)", f.name)
                } else {
                    format!("{} (stateful) lets the packet through: it belongs to a connection it already allowed", f.name)
                },
            ),
            filter::Decider::Rule(i) => {
                let r = &f.rules[i];
                let mut rref = self.origin_ref(
                    "filter rule",
                    Some(&f.name),
                    Some(i + 1),
                    &r.text,
                    &r.origin,
                );
                rref.source = r.source.clone();
                let text = match &r.source {
                    // The rule set's own line decides, not the flattened rule's
                    // number. (An importer's rule is named by its scenario rule,
                    // with the declaration it was translated from beside it.)
                    Some(src) if src.kind.is_none() => format!(
                        "{} line {} `{}` decides: {}",
                        src.file,
                        src.line,
                        r.text,
                        decision.action.name()
                    ),
                    _ => format!(
                        "{} rule {} `{}` decides: {}",
                        f.name,
                        i + 1,
                        r.text,
                        decision.action.name()
                    ),
                };
                (rref, text)
            }
            filter::Decider::Default => {
                let mut rref = self.origin_ref(
                    "default policy",
                    Some(&f.name),
                    None,
                    &format!("default {}", f.default.name()),
                    &f.default_origin,
                );
                rref.source = f.default_source.clone();
                let text = match &f.default_source {
                    Some(src) => format!(
                        "{} line {}: the {} decides: {}",
                        src.file,
                        src.line,
                        src.label,
                        decision.action.name()
                    ),
                    None => format!(
                        "no rule of {} matches; its default policy decides: {}",
                        f.name,
                        decision.action.name()
                    ),
                };
                (rref, text)
            }
        };
        let state_note = if f.tracks_connections() {
            format!(" [conntrack state {}]", state.name())
        } else {
            " [stateless]".to_string()
        };
        let detail = format!("{hook_name} filter on {name}: {text}{state_note}");
        let iface = in_iface.or(out_iface);
        let verdict = match decision.action {
            Action::Allow => Verdict::Allow,
            Action::Drop => Verdict::Drop,
            Action::Reject => Verdict::Reject,
        };
        let rp_strict = in_iface.is_some() && host.rp_filter == RpFilter::Strict;
        let direction = self.direction;
        let existing = self.existing;
        let dst_name = self.name_of_addr(pkt.t.dst);
        let hop = self.hop(
            dev,
            Stage::Filter,
            iface,
            pkt,
            verdict,
            Some(rule),
            detail.clone(),
        );
        if f.tracks_connections()
            && decision.action == Action::Allow
            && direction == Direction::Request
            && !existing
        {
            hop.state = Some(
                "conntrack: new connection recorded; its replies will match `established`".into(),
            );
        }
        if let filter::Decider::Rule(i) = decision.by {
            if let Some(src) = &f.rules[i].source {
                hop.detail.push_str(&format!(" ({})", source_text(src)));
            }
        }
        if decision.action == Action::Allow {
            let r = match decision.by {
                filter::Decider::Rule(i) => Some(&f.rules[i]),
                _ => None,
            };
            claims::filter(hop, f, r, decision.by, &input, rp_strict, &dst_name);
            if existing && direction == Direction::Request {
                claims::entry_not_policy(hop, f);
            }
            return None;
        }
        if let filter::Decider::Rule(i) = decision.by {
            if let Some(src) = f.rules[i].source.as_ref().filter(|s| s.kind.is_some()) {
                claims::imported(hop, src);
            }
        }
        if direction == Direction::Reply && !f.tracks_connections() {
            hop.detail
                .push_str(": a stateless filter needs an explicit rule for replies");
        } else if direction == Direction::Reply && state == ConnState::Invalid {
            hop.detail.push_str(": this filter never saw the request (asymmetric path), so the reply is not part of a known connection");
        }
        let detail = hop.detail.clone();
        // The sender's own output filter on its own request: a datagram or a
        // ping fails in send() with EPERM at once, dropped or rejected; the
        // program sees that, whatever answer a reject then loops back. Not
        // an IPv6 ping: Linux's ping_v6_sendmsg ignores what sending the
        // echo request returns, so it is lost (dropped) or answered over
        // loopback (rejected) as a TCP SYN is.
        let own_send = matches!(hook, FilterHook::Output)
            && dev == self.walk_origin
            && direction == Direction::Request
            && pkt.t.proto != Proto::Tcp
            && !(pkt.t.proto == Proto::Icmp && pkt.t.dst.is_ipv6());
        if own_send {
            let kind = match decision.action {
                Action::Reject => OutcomeKind::Rejected,
                _ => OutcomeKind::Dropped,
            };
            return Some(WalkEnd::Stopped(self.stop(
                kind,
                Some(dev),
                detail,
                SEES_EPERM,
            )));
        }
        let (kind, sees) = match decision.action {
            Action::Reject => {
                let r = match decision.by {
                    filter::Decider::Rule(i) => f.rules[i].reject_with,
                    _ => RejectWith::default(),
                };
                let sees = match (r, pkt.t.proto) {
                    (RejectWith::AdminProhibited, _) => {
                        "no route to host (ICMP administratively prohibited)"
                    }
                    (_, Proto::Tcp) => "connection refused",
                    (_, Proto::Udp) => "port unreachable (ICMP)",
                    _ => "destination unreachable (ICMP)",
                };
                let answer = match (r, pkt.t.proto) {
                    (RejectWith::AdminProhibited, _) => AnswerKind::AdminProhibited,
                    (RejectWith::TcpReset, Proto::Tcp) => AnswerKind::Reset,
                    _ => AnswerKind::PortUnreachable,
                };
                // Addressed to this device: the ICMP error comes from the
                // address the request was sent to.
                let local = matches!(hook, FilterHook::Input);
                self.owe_answer(dev, pkt.t, answer, local);
                (OutcomeKind::Rejected, sees)
            }
            _ => (OutcomeKind::Dropped, "connection timed out (no answer)"),
        };
        Some(WalkEnd::Stopped(self.stop(kind, Some(dev), detail, sees)))
    }
}

/// Which side of a reply a NAT is undone on.
#[derive(Debug, Clone, Copy)]
enum Side {
    Src,
    Dst,
}

enum Receive {
    Local,
    Forward { out_iface: usize, next_hop: IpAddr },
    Stop(WalkEnd),
}

#[derive(Debug, Clone, Copy)]
enum FilterHook {
    Input,
    Forward,
    Output,
}

impl FilterHook {
    fn name(self) -> &'static str {
        match self {
            FilterHook::Input => "input",
            FilterHook::Forward => "forward",
            FilterHook::Output => "output",
        }
    }
}

/// A rule's provenance as a verdict names it:
/// `NetworkPolicy prod/allow-web, ingress rule 1, policies.yaml:23`.
pub fn source_text(src: &crate::model::RuleSource) -> String {
    match (src.label.is_empty(), src.line) {
        (true, 0) => src.file.clone(),
        (true, l) => format!("{}:{l}", src.file),
        (false, 0) => format!("{}, {}", src.label, src.file),
        (false, l) => format!("{}, {}:{l}", src.label, src.file),
    }
}
