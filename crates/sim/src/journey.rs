//! From flows to journeys: every flow's packets are sent through the
//! engine's tracer (`pathproof_core::trace`), once per class of sources that
//! the scenario cannot tell apart, and each trace becomes the list of places
//! in time the simulation runs the packets through (links, conntrack tables,
//! limiters, the listener) and the verdict the network gives them. Nothing
//! here decides a packet's way: the trace does.
//!
//! Source classes: every rule, route, network and host address of the
//! scenario is a set of address intervals, so two sources that lie in the
//! same elementary interval of all their bounds are treated alike by every
//! stage. A flow's sources (many real addresses, or a pool of forged ones)
//! are split at those bounds and one trace is made per piece.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use pathproof_core::evidence::{Direction, OutcomeKind, Stage, Trace, Verdict};
use pathproof_core::model::traffic::*;
use pathproof_core::model::*;
use pathproof_core::{trace, Query};

use crate::SimError;

/// Where a limiter reads the source it keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceSeen {
    /// Each sender's own address (no translation or proxy before).
    Own,
    /// One address for everyone (a NAT or a proxy on the way).
    Fixed(IpAddr),
}

/// Why the network stops a packet, as the trace says.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub kind: OutcomeKind,
    pub device: String,
    pub text: String,
    pub client_sees: String,
    /// The declaration that decided and its line, when there is one.
    pub rule: Option<String>,
    /// The step of the deciding hop in the trace.
    pub step: u32,
}

/// A place a packet of the journey passes, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Station {
    /// A configured link (index into `Plan::links`).
    Link(usize),
    /// A device that tracks connections (index into `Plan::tables`);
    /// `insert` when the packet passes the device (an entry is kept).
    Conntrack { table: usize, insert: bool },
    /// A limiter on a host's packet path.
    Firewall { limiter: usize, source: SourceSeen },
    /// A listening TCP socket and its application (index into
    /// `Plan::listeners`), with the way back of its SYN-ACKs and answers.
    Listener { listener: usize, reply: Reply },
    /// A limiter in the application behind the last listener.
    Application { limiter: usize, source: SourceSeen },
    /// A UDP service that answers (a reflection's reflector, or the target).
    Datagram { device: String, port: u16 },
    /// The network stops the packet here.
    Stop(Stop),
}

/// The way back from a listener or a UDP service to the sender.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    pub links: Vec<usize>,
    /// The reply is stopped on its way (the client never hears it).
    pub lost: Option<Stop>,
    /// Forged sources only: the address's owner gets the SYN-ACK and
    /// answers with a reset, which frees the half-open connection.
    pub reset_by: Option<String>,
}

/// One class of a flow's sources and its journey.
#[derive(Debug, Clone)]
pub struct Class {
    /// Real senders: their addresses. Forged: empty (see `pool`).
    pub members: Vec<IpAddr>,
    /// Forged: how many addresses of the pool this class covers.
    pub pool: u128,
    /// The address the trace was made with.
    pub representative: IpAddr,
    /// The size of the piece of the pool the representative comes from.
    rep_pool: u128,
    pub stations: Vec<Station>,
    /// Whether the packets get through (the trace reached a socket).
    pub reached: bool,
    pub trace: Trace,
    /// A reflection's second trace: the reflector's answer to the victim.
    pub answer_trace: Option<Trace>,
}

#[derive(Debug, Clone)]
pub struct FlowPlan {
    pub spec: FlowSpec,
    pub classes: Vec<Class>,
    /// Forged sources: the pool's size (0 for real sources).
    pub pool_size: u128,
}

#[derive(Debug, Clone)]
pub struct ListenerPlan {
    pub host: HostId,
    pub name: String,
    pub port: u16,
    pub spec: ListenerSpec,
    pub tuning: HostTuning,
}

#[derive(Debug, Clone)]
pub struct LinkPlan {
    pub spec: LinkSpec,
    /// Into the host (`true`) or out of it.
    pub inbound: bool,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub host: HostId,
    pub name: String,
    pub tuning: HostTuning,
}

/// Everything a run needs, resolved once.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How many real sender addresses of each network flows took so far.
    senders_on: std::collections::BTreeMap<NetworkId, usize>,
    pub flows: Vec<FlowPlan>,
    pub listeners: Vec<ListenerPlan>,
    pub links: Vec<LinkPlan>,
    pub tables: Vec<TablePlan>,
    pub limiters: Vec<LimiterSpec>,
}

fn err(flow: &FlowSpec, message: String, help: Option<String>) -> SimError {
    SimError {
        message,
        help,
        line: flow.origin.line,
        column: flow.origin.column,
    }
}

fn family_bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u32::from(v) as u128),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

fn from_bits(v6: bool, x: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(x.into())
    } else {
        IpAddr::V4((x as u32).into())
    }
}

fn net_bounds(n: &IpNet) -> (bool, u128, u128) {
    let (v6, lo) = family_bits(n.network());
    let (_, hi) = family_bits(n.broadcast());
    (v6, lo, hi)
}

/// Every place where the scenario's address sets start or end: a source on
/// either side of one of these may be treated differently.
fn bounds(scn: &Scenario) -> BTreeSet<(bool, u128)> {
    let mut nets: Vec<IpNet> = Vec::new();
    for n in &scn.networks {
        nets.extend(n.prefixes.iter().copied());
    }
    for h in &scn.hosts {
        for i in &h.interfaces {
            nets.extend(i.addrs.iter().map(|a| IpNet::from(*a)));
        }
        for r in &h.routes {
            nets.push(r.dest);
            nets.extend(r.except.iter().copied());
        }
        for n in &h.nat {
            for set in [&n.matches.src, &n.matches.dst] {
                for p in &set.parts {
                    nets.push(p.prefix);
                    nets.extend(p.minus.iter().copied());
                }
            }
        }
        if let Some(p) = &h.proxy {
            if let ProxyMode::Forward { allow } = &p.mode {
                for a in allow {
                    for p in &a.dst.parts {
                        nets.push(p.prefix);
                        nets.extend(p.minus.iter().copied());
                    }
                }
            }
        }
    }
    for f in &scn.filters {
        for r in &f.rules {
            for set in [&r.matches.src, &r.matches.dst] {
                for p in &set.parts {
                    nets.push(p.prefix);
                    nets.extend(p.minus.iter().copied());
                }
            }
        }
    }
    // Special-purpose and martian ranges (the tracer drops some sources
    // for their address alone).
    for p in [
        "0.0.0.0/8",
        "0.0.0.0/32",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::/8",
        "fe80::/10",
        "ff00::/8",
    ] {
        nets.push(p.parse().expect("valid"));
    }
    let mut out = BTreeSet::new();
    for n in nets {
        let (v6, lo, hi) = net_bounds(&n);
        out.insert((v6, lo));
        if hi < u128::MAX {
            out.insert((v6, hi + 1));
        }
    }
    out
}

/// Intervals [lo, hi] of one family.
type Intervals = Vec<(u128, u128)>;

fn subtract(set: Intervals, cut: &[(u128, u128)]) -> Intervals {
    let mut out = set;
    for &(clo, chi) in cut {
        let mut next = Vec::new();
        for (lo, hi) in out {
            if chi < lo || clo > hi {
                next.push((lo, hi));
                continue;
            }
            if clo > lo {
                next.push((lo, clo - 1));
            }
            if chi < hi {
                next.push((chi + 1, hi));
            }
        }
        out = next;
    }
    out
}

/// The forged sources of a flow: the pool's intervals (IPv4 first, in order).
fn pool_of(scn: &Scenario, flow: &FlowSpec, pool: &[IpNet]) -> Vec<(bool, Intervals)> {
    let Place::Network(net_name) = &flow.from_place else {
        return Vec::new();
    };
    let Some(net_id) = scn.network_by_name(net_name) else {
        return Vec::new();
    };
    let net = scn.network(net_id);
    let prefixes: Vec<IpNet> = if pool.is_empty() {
        net.prefixes.clone()
    } else {
        pool.to_vec()
    };
    // What other networks own is not this network's (a catch-all is its
    // prefix less the others); what hosts own is not forged.
    let mut owned: Vec<IpNet> = Vec::new();
    if net.catch_all {
        for n in &scn.networks {
            if !n.catch_all {
                owned.extend(n.prefixes.iter().copied());
            }
        }
    }
    let mut owned_addrs: Vec<IpAddr> = Vec::new();
    for h in &scn.hosts {
        for i in &h.interfaces {
            owned_addrs.extend(i.addrs.iter().copied());
        }
    }
    let mut out = Vec::new();
    for v6 in [false, true] {
        let mut set: Intervals = prefixes
            .iter()
            .map(net_bounds)
            .filter(|(f, _, _)| *f == v6)
            .map(|(_, lo, hi)| (lo, hi))
            .collect();
        if set.is_empty() {
            continue;
        }
        let mut cut: Vec<(u128, u128)> = owned
            .iter()
            .map(net_bounds)
            .filter(|(f, _, _)| *f == v6)
            .map(|(_, lo, hi)| (lo, hi))
            .collect();
        cut.extend(
            owned_addrs
                .iter()
                .map(|a| family_bits(*a))
                .filter(|(f, _)| *f == v6)
                .map(|(_, x)| (x, x)),
        );
        set = subtract(set, &cut);
        set.sort_unstable();
        out.push((v6, set));
    }
    out
}

/// `count` real addresses for senders on network `net`, the same every run:
/// the documentation ranges first on a catch-all, else the highest free
/// addresses of the network; the first `skip` of them belong to flows
/// declared before (two flows never share an address).
fn real_addresses(scn: &Scenario, net: NetworkId, skip: usize, count: u32) -> Vec<IpAddr> {
    let count = count + skip as u32;
    let n = scn.network(net);
    let free = |a: IpAddr| scn.owners_of(a).is_empty() && scn.network_of(a) == Some(net);
    let mut out = Vec::new();
    if n.catch_all && n.prefixes.iter().any(|p| p.addr().is_ipv4()) {
        let ranges: [(u32, u32); 4] = [
            (u32::from_be_bytes([203, 0, 113, 1]), 254),
            (u32::from_be_bytes([198, 51, 100, 1]), 254),
            (u32::from_be_bytes([192, 0, 2, 1]), 254),
            (u32::from_be_bytes([100, 64, 0, 1]), (1 << 22) - 2),
        ];
        for (start, len) in ranges {
            for i in 0..len {
                let a = IpAddr::V4((start + i).into());
                if free(a) {
                    out.push(a);
                    if out.len() == count as usize {
                        return out.split_off(skip.min(out.len()));
                    }
                }
            }
        }
        return out.split_off(skip.min(out.len()));
    }
    for p in &n.prefixes {
        let (v6, lo, hi) = net_bounds(p);
        let mut x = if v6 { hi.saturating_sub(1) } else { hi - 1 };
        while x > lo && out.len() < count as usize {
            let a = from_bits(v6, x);
            if free(a) {
                out.push(a);
            }
            x -= 1;
            if hi - x > 1 << 24 {
                break;
            }
        }
        if out.len() == count as usize {
            break;
        }
    }
    out.split_off(skip.min(out.len()))
}

fn query(from: &str, to: &str, proto: Proto, sport: Option<u16>) -> Query {
    let mut q = Query::new(from, to);
    q.proto = proto;
    q.sport = sport;
    q
}

/// Resolves every flow of the scenario's traffic section.
pub fn plan(scn: &Scenario, traffic: &Traffic) -> Result<Plan, SimError> {
    let mut p = Plan {
        senders_on: Default::default(),
        flows: Vec::new(),
        listeners: Vec::new(),
        links: Vec::new(),
        tables: Vec::new(),
        limiters: traffic.limiters.clone(),
    };
    for l in &traffic.links {
        let name = format!("{} {}", scn.host(l.host).name, scn.network(l.network).name);
        for inbound in [true, false] {
            p.links.push(LinkPlan {
                spec: l.clone(),
                inbound,
                name: format!("{name} ({})", if inbound { "in" } else { "out" }),
            });
        }
    }
    let bounds = bounds(scn);
    for f in &traffic.flows {
        let plan = flow_plan(scn, traffic, f, &bounds, &mut p)?;
        p.flows.push(plan);
    }
    Ok(p)
}

fn flow_plan(
    scn: &Scenario,
    traffic: &Traffic,
    f: &FlowSpec,
    bounds: &BTreeSet<(bool, u128)>,
    p: &mut Plan,
) -> Result<FlowPlan, SimError> {
    let proto = if f.kind.is_udp() {
        Proto::Udp
    } else {
        Proto::Tcp
    };
    // (representative, members, pool share)
    let mut groups: Vec<(IpAddr, Vec<IpAddr>, u128)> = Vec::new();
    let mut pool_size = 0u128;
    match (&f.sources, &f.from_place) {
        (Sources::Real { .. }, Place::Host(h)) => {
            let id = scn.host_by_name(h).expect("the loader checked the host");
            let Some(a) = scn
                .host(id)
                .first_addr(false)
                .or(scn.host(id).first_addr(true))
            else {
                return Err(err(f, format!("host `{h}` has no address"), None));
            };
            groups.push((a, vec![a], 0));
        }
        (Sources::Real { count }, Place::Network(n)) => {
            let net = scn
                .network_by_name(n)
                .expect("the loader checked the network");
            let skip = p.senders_on.get(&net).copied().unwrap_or(0);
            let addrs = real_addresses(scn, net, skip, *count);
            p.senders_on.insert(net, skip + addrs.len());
            if addrs.len() < *count as usize {
                return Err(err(
                    f,
                    format!(
                        "network `{n}` has only {} free addresses for {count} senders",
                        addrs.len()
                    ),
                    Some("ask for fewer `sources`".into()),
                ));
            }
            let mut by_piece: Vec<((bool, u128), IpAddr, Vec<IpAddr>)> = Vec::new();
            for a in addrs {
                let (v6, x) = family_bits(a);
                let piece = bounds
                    .range(..=(v6, x))
                    .next_back()
                    .copied()
                    .unwrap_or((v6, 0));
                match by_piece.iter_mut().find(|g| g.0 == piece) {
                    Some(g) => g.2.push(a),
                    None => by_piece.push((piece, a, vec![a])),
                }
            }
            for (_, rep, members) in by_piece {
                groups.push((rep, members, 0));
            }
        }
        (Sources::Spoofed { pool }, _) => {
            for (v6, intervals) in pool_of(scn, f, pool) {
                for (lo, hi) in intervals {
                    // Split at every bound inside.
                    let cuts: Vec<u128> = if lo == u128::MAX {
                        Vec::new()
                    } else {
                        bounds.range((v6, lo + 1)..=(v6, hi)).map(|b| b.1).collect()
                    };
                    let mut start = lo;
                    let ends = cuts
                        .iter()
                        .map(|c| (c - 1, *c))
                        .chain(std::iter::once((hi, hi)));
                    for (end, next) in ends {
                        let size = (end - start).saturating_add(1);
                        pool_size = pool_size.saturating_add(size);
                        // A representative in the middle of the piece.
                        let rep = from_bits(v6, start + (end - start) / 2);
                        groups.push((rep, Vec::new(), size));
                        start = next;
                    }
                }
            }
            if groups.is_empty() {
                return Err(err(
                    f,
                    format!("flow `{}` has no address left to forge", f.name),
                    Some("its pool is all owned by hosts or other networks".into()),
                ));
            }
        }
        (Sources::Real { .. }, _) => {
            return Err(err(f, "a flow starts at a host or a network".into(), None));
        }
    }
    let mut classes = Vec::new();
    for (rep, members, pool) in groups {
        let from = match &f.from_place {
            Place::Host(h) => h.clone(),
            Place::Network(n) => format!("{n}@{rep}"),
            other => other.to_string(),
        };
        let (t, answer) = if f.kind == FlowKind::UdpReflection {
            reflection_traces(scn, f, &from)?
        } else {
            let q = query(&from, &f.to, proto, None);
            let t = trace(scn, &q).map_err(|e| err(f, e.message, e.help))?;
            (t, None)
        };
        let (stations, reached) = stations(scn, traffic, f, &t, answer.as_ref(), rep, p);
        // Sources whose packets meet the same places in the same way are
        // one class: the simulation counts them together.
        if let Some(same) = classes
            .iter_mut()
            .find(|c: &&mut Class| c.stations == stations)
        {
            same.members.extend(members);
            // The trace shown is that of the biggest piece.
            if pool > same.rep_pool {
                same.rep_pool = pool;
                same.representative = rep;
                same.trace = t;
                same.answer_trace = answer;
            }
            same.pool = same.pool.saturating_add(pool);
            continue;
        }
        classes.push(Class {
            members,
            pool,
            representative: rep,
            rep_pool: pool,
            stations,
            reached,
            trace: t,
            answer_trace: answer,
        });
    }
    Ok(FlowPlan {
        spec: f.clone(),
        classes,
        pool_size,
    })
}

/// A reflection: the attacker's request to the reflector, then the
/// reflector's answer to the victim (a new UDP packet from the reflector's
/// port, as conntrack on the victim's side sees it).
fn reflection_traces(
    scn: &Scenario,
    f: &FlowSpec,
    from: &str,
) -> Result<(Trace, Option<Trace>), SimError> {
    let via = f.via.as_deref().unwrap_or_default();
    let q = query(from, via, Proto::Udp, None);
    let first = trace(scn, &q).map_err(|e| err(f, e.message, e.help))?;
    let Some(reflector) = first
        .hops
        .iter()
        .find(|h| h.stage == Stage::Socket && h.verdict == Verdict::Accept)
        .map(|h| (h.device.clone(), h.packet.dport.unwrap_or(53)))
    else {
        return Ok((first, None));
    };
    let to = if f.to.contains(':') || f.to.starts_with('[') {
        f.to.clone()
    } else {
        format!("{}:{}", f.to, pathproof_core::journey::EPHEMERAL_PORT)
    };
    let q = query(&reflector.0, &to, Proto::Udp, Some(reflector.1));
    let second = trace(scn, &q).map_err(|e| err(f, e.message, e.help))?;
    Ok((first, Some(second)))
}

/// Whether a host keeps a conntrack table: it has a stateful filter or NAT
/// rules (Linux registers conntrack in a namespace when rules need it).
fn tracks(scn: &Scenario, h: HostId) -> bool {
    let host = scn.host(h);
    !host.nat.is_empty()
        || [host.forward, host.input, host.output]
            .into_iter()
            .flatten()
            .any(|f| scn.filter(f).stateful)
}

fn table_of(scn: &Scenario, traffic: &Traffic, p: &mut Plan, h: HostId) -> usize {
    if let Some(i) = p.tables.iter().position(|t| t.host == h) {
        return i;
    }
    p.tables.push(TablePlan {
        host: h,
        name: scn.host(h).name.clone(),
        tuning: traffic.tuning(h),
    });
    p.tables.len() - 1
}

fn listener_of(scn: &Scenario, traffic: &Traffic, p: &mut Plan, h: HostId, port: u16) -> usize {
    if let Some(i) = p
        .listeners
        .iter()
        .position(|l| l.host == h && l.port == port)
    {
        return i;
    }
    let spec = traffic
        .listeners
        .iter()
        .find(|l| l.host == h && l.port == port)
        .cloned()
        .unwrap_or(ListenerSpec {
            host: h,
            port,
            backlog: DEFAULT_BACKLOG,
            accept_rate: None,
            service_us: 1000,
            origin: Origin::default(),
        });
    p.listeners.push(ListenerPlan {
        host: h,
        name: format!("{}:{port}", scn.host(h).name),
        port,
        spec,
        tuning: traffic.tuning(h),
    });
    p.listeners.len() - 1
}

fn link_index(p: &Plan, host: HostId, net: NetworkId, inbound: bool) -> Option<usize> {
    p.links
        .iter()
        .position(|l| l.spec.host == host && l.spec.network == net && l.inbound == inbound)
}

fn stop_of(t: &Trace) -> Stop {
    let o = &t.outcome;
    let step = o.step.unwrap_or(0);
    let rule = t
        .hops
        .iter()
        .find(|h| h.step == step)
        .and_then(|h| h.rule.as_ref())
        .map(|r| {
            let owner = match (&r.owner, r.index) {
                (Some(o), Some(i)) => format!("{o} rule {i}: "),
                (Some(o), None) => format!("{o}: "),
                _ => String::new(),
            };
            format!("{owner}{} (line {})", r.text, r.line)
        });
    Stop {
        kind: o.kind,
        device: o.at.clone().unwrap_or_default(),
        text: o.text.clone(),
        client_sees: o.client_sees.clone(),
        rule,
        step,
    }
}

/// The places of one trace, in order, and whether its packets reach the end.
fn stations(
    scn: &Scenario,
    traffic: &Traffic,
    f: &FlowSpec,
    t: &Trace,
    answer: Option<&Trace>,
    rep: IpAddr,
    p: &mut Plan,
) -> (Vec<Station>, bool) {
    let mut out = Vec::new();
    let stop = stop_of(t);
    let stopped = !matches!(t.outcome.kind, OutcomeKind::Reached);
    walk(
        scn,
        traffic,
        f,
        t,
        rep,
        stopped.then_some(&stop),
        p,
        &mut out,
    );
    let mut reached = !stopped;
    if let Some(a) = answer {
        // The reflector answers: its answer's way to the victim.
        let astop = stop_of(a);
        let astopped = !matches!(a.outcome.kind, OutcomeKind::Reached);
        let answer_src = a
            .hops
            .iter()
            .find(|h| h.stage == Stage::Send)
            .map(|h| h.packet.src)
            .unwrap_or(rep);
        walk(
            scn,
            traffic,
            f,
            a,
            answer_src,
            astopped.then_some(&astop),
            p,
            &mut out,
        );
        reached = !astopped;
    } else if f.kind == FlowKind::UdpReflection && !stopped {
        reached = false;
    }
    (out, reached)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    scn: &Scenario,
    traffic: &Traffic,
    f: &FlowSpec,
    t: &Trace,
    rep: IpAddr,
    stop: Option<&Stop>,
    p: &mut Plan,
    out: &mut Vec<Station>,
) {
    let host_id = |name: &str| scn.host_by_name(name);
    let mut current: Option<String> = None;
    let mut pending_link: Option<(String, String)> = None; // (from device, network)
    let mut reply_of: Option<usize> = None; // index in `out` of the listener whose reply this is
    let mut reply_pending: Option<(String, String)> = None;
    let mut reply_current: Option<String> = None;
    let mut origin_done = false;
    // Only the first leg's client is the flow's sender (a proxy opens the next).
    let mut first_leg = true;
    let mut listeners_seen = 0;
    for h in &t.hops {
        let deciding = stop.is_some_and(|s| s.step == h.step);
        match h.direction {
            Direction::Request => {
                reply_of = None;
                if h.stage == Stage::Send {
                    current = Some(h.device.clone());
                    origin_done = true;
                    pending_link = None;
                    continue;
                }
                if !origin_done {
                    continue;
                }
                if current.as_deref() != Some(h.device.as_str()) {
                    // Arrival at a new device.
                    if let (Some(id), Some((_, net))) = (host_id(&h.device), &pending_link) {
                        if let Some(nid) = scn.network_by_name(net) {
                            if let Some(l) = link_index(p, id, nid, true) {
                                out.push(Station::Link(l));
                            }
                        }
                    }
                    pending_link = None;
                    current = Some(h.device.clone());
                    if let Some(id) = host_id(&h.device) {
                        if tracks(scn, id) {
                            let table = table_of(scn, traffic, p, id);
                            // Kept when the packet gets past this device.
                            let passes = stop.is_none_or(|s| s.device != h.device)
                                || matches!(
                                    stop.map(|s| s.kind),
                                    Some(OutcomeKind::ReplyLost) | Some(OutcomeKind::TlsFailed)
                                );
                            out.push(Station::Conntrack {
                                table,
                                insert: passes,
                            });
                        }
                        let seen = if h.packet.src == rep {
                            SourceSeen::Own
                        } else {
                            SourceSeen::Fixed(h.packet.src)
                        };
                        for (i, l) in p.limiters.iter().enumerate() {
                            if l.place == (LimiterPlace::Host { host: id }) {
                                out.push(Station::Firewall {
                                    limiter: i,
                                    source: seen,
                                });
                            }
                        }
                    }
                }
                if h.stage == Stage::Link && h.verdict == Verdict::Pass {
                    if let (Some(id), Some(net)) = (host_id(&h.device), &h.interface) {
                        if let Some(nid) = scn.network_by_name(net) {
                            if let Some(l) = link_index(p, id, nid, false) {
                                out.push(Station::Link(l));
                            }
                        }
                    }
                    pending_link = h.interface.clone().map(|n| (h.device.clone(), n));
                }
                if h.stage == Stage::Socket && h.verdict == Verdict::Accept {
                    let port = h.packet.dport.unwrap_or(0);
                    if let Some(id) = host_id(&h.device) {
                        if h.packet.proto == Proto::Tcp {
                            let l = listener_of(scn, traffic, p, id, port);
                            out.push(Station::Listener {
                                listener: l,
                                reply: Reply::default(),
                            });
                            reply_of = Some(out.len() - 1);
                            listeners_seen += 1;
                            first_leg = listeners_seen == 1;
                            let seen = if h.packet.src == rep {
                                SourceSeen::Own
                            } else {
                                SourceSeen::Fixed(h.packet.src)
                            };
                            for (i, lim) in p.limiters.iter().enumerate() {
                                if lim.place == (LimiterPlace::Socket { host: id, port }) {
                                    out.push(Station::Application {
                                        limiter: i,
                                        source: seen,
                                    });
                                }
                            }
                        } else {
                            out.push(Station::Datagram {
                                device: h.device.clone(),
                                port,
                            });
                        }
                    }
                    reply_current = Some(h.device.clone());
                    reply_pending = None;
                }
                if deciding {
                    if let Some(s) = stop {
                        out.push(Station::Stop(s.clone()));
                    }
                    return;
                }
            }
            Direction::Reply => {
                // The way back of the last listener's SYN-ACK (or of an
                // answer to a refusal, which the stop already covers).
                if let Some(li) = reply_of {
                    if reply_current.as_deref() != Some(h.device.as_str()) {
                        if let (Some(id), Some((_, net))) = (host_id(&h.device), &reply_pending) {
                            if let Some(nid) = scn.network_by_name(net) {
                                if let Some(l) = link_index(p, id, nid, true) {
                                    push_reply_link(out, li, l);
                                }
                            }
                        }
                        reply_pending = None;
                        reply_current = Some(h.device.clone());
                    }
                    if h.stage == Stage::Link && h.verdict == Verdict::Pass {
                        if let (Some(id), Some(net)) = (host_id(&h.device), &h.interface) {
                            if let Some(nid) = scn.network_by_name(net) {
                                if let Some(l) = link_index(p, id, nid, false) {
                                    push_reply_link(out, li, l);
                                }
                            }
                        }
                        reply_pending = h.interface.clone().map(|n| (h.device.clone(), n));
                    }
                    if deciding {
                        if let Some(s) = stop {
                            if let Station::Listener { reply, .. } = &mut out[li] {
                                reply.lost = Some(s.clone());
                            }
                        }
                        return;
                    }
                    // A forged source that a host owns: the host gets the
                    // SYN-ACK of a connection it never opened and resets it.
                    if h.stage == Stage::Receive && h.verdict == Verdict::Accept && first_leg {
                        if let Some(id) = host_id(&h.device) {
                            if matches!(f.sources, Sources::Spoofed { .. })
                                && owner_answers(scn, id, h)
                            {
                                if let Station::Listener { reply, .. } = &mut out[li] {
                                    reply.reset_by = Some(h.device.clone());
                                }
                            }
                        }
                    }
                } else if deciding {
                    if let Some(s) = stop {
                        out.push(Station::Stop(s.clone()));
                    }
                    return;
                }
            }
        }
    }
    if let Some(s) = stop {
        if !out.iter().any(|x| matches!(x, Station::Stop(_))) {
            out.push(Station::Stop(s.clone()));
        }
    }
}

fn push_reply_link(out: &mut [Station], li: usize, l: usize) {
    if let Station::Listener { reply, .. } = &mut out[li] {
        reply.links.push(l);
    }
}

/// Whether a host that never opened a connection lets a SYN-ACK of it in
/// (its input filter sees it in state `invalid`), so that its kernel
/// answers with a reset.
fn owner_answers(scn: &Scenario, h: HostId, hop: &pathproof_core::evidence::Hop) -> bool {
    let host = scn.host(h);
    let Some(f) = host.input else { return true };
    let filter = scn.filter(f);
    let input = MatchInput {
        proto: Proto::Tcp,
        src: hop.packet.src,
        dst: hop.packet.dst,
        sport: hop.packet.sport.unwrap_or(0),
        dport: hop.packet.dport.unwrap_or(0),
        in_iface: hop
            .interface
            .as_deref()
            .and_then(|n| scn.network_by_name(n)),
        out_iface: None,
        state: if filter.stateful {
            ConnState::Invalid
        } else {
            ConnState::New
        },
    };
    pathproof_core::journey::filter::evaluate(filter, &input).action == Action::Allow
}
