//! `check`: the scenario's `expect:` lines, each evaluated against every
//! journey the scenario allows (the symbolic result), or — for expectations
//! about names and proofs — against the traced journey. Every failure comes
//! with a counterexample trace.

use serde::Serialize;
use std::net::IpAddr;

use crate::evidence::{Fact, OutcomeKind, Stage, Trace};
use crate::journey::{trace, Query};
use crate::model::*;

use super::reach::{example, host_own, reach_with, Journey, Reach, ReachQuery};
use super::space::{addr_u128, Cube, Fam, Space, ICMP};
use super::symbolic::{End, Engine, Source};

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub expectation: String,
    pub line: u32,
    pub column: u32,
    pub passed: bool,
    /// Why it passed or failed, in one or two sentences.
    pub detail: String,
    /// A journey that shows the failure (or, for a passing `allow`, the journey that satisfies it).
    pub trace: Option<Trace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub scenario: String,
    pub file: String,
    pub variant: Option<String>,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<CheckResult>,
}

/// The sources a place stands for: a host; a network: anyone on it and every
/// host on it except routers (a router attached to the internet is not "the
/// internet"; name it to make an expectation about its own traffic).
fn sources_of(scn: &Scenario, p: &Place) -> Vec<Source> {
    match p {
        Place::Host(h) => scn.host_by_name(h).map(Source::Host).into_iter().collect(),
        Place::Network(n) => {
            let Some(id) = scn.network_by_name(n) else {
                return Vec::new();
            };
            let mut v = vec![Source::Network(id)];
            v.extend(
                scn.hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| !h.router && h.interfaces.iter().any(|i| i.network == id))
                    .map(|(i, _)| Source::Host(HostId(i as u32))),
            );
            v
        }
        Place::Address(a) => match scn.owners_of(*a).first() {
            Some((h, _)) => vec![Source::Host(*h)],
            None => scn
                .network_of(*a)
                .map(Source::Network)
                .into_iter()
                .collect(),
        },
        // A name stands for the hosts (or networks) its addresses belong to,
        // in any view.
        Place::Name(n) => {
            let mut v: Vec<Source> = name_addrs(scn, n)
                .into_iter()
                .flat_map(|a| sources_of(scn, &Place::Address(a)))
                .collect();
            v.sort();
            v.dedup();
            v
        }
    }
}

/// Every address a name resolves to, in any DNS view of the scenario.
fn name_addrs(scn: &Scenario, name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for view in &scn.dns {
        for v6 in [false, true] {
            if let crate::journey::resolve::Resolution::Found { addrs, .. } =
                crate::journey::resolve::resolve(view, name, v6)
            {
                out.extend(addrs);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// An answered echo request: the source, the host that answered, and the
/// request as its source sent it (before any NAT).
type Echo = (Source, HostId, super::reach::Example);

/// The ICMP echo requests from `sources` to `to` that are answered (ICMP has
/// no socket, so `reach` does not list these journeys; the engine walks echo
/// requests to exactly those addresses), one per source and answering host.
/// A host or network must answer itself; an address is the one the request
/// is sent to, before any NAT, whoever answers. Names are traced instead
/// (see `evaluate`), as their client resolves them.
fn echoes(scn: &Scenario, engine: &Engine, sources: &[Source], to: &Place) -> Vec<Echo> {
    let dests: Option<Vec<HostId>> = match to {
        Place::Host(h) => Some(scn.host_by_name(h).into_iter().collect()),
        Place::Network(n) => Some(match scn.network_by_name(n) {
            Some(id) => (0..scn.hosts.len())
                .map(|i| HostId(i as u32))
                .filter(|&h| scn.host(h).interfaces.iter().any(|i| i.network == id))
                .collect(),
            None => Vec::new(),
        }),
        Place::Address(_) | Place::Name(_) => None,
    };
    let addrs: Vec<IpAddr> = match (to, &dests) {
        (Place::Address(a), _) => vec![*a],
        (_, Some(d)) => d
            .iter()
            .flat_map(|h| scn.host(*h).interfaces.iter().flat_map(|i| i.addrs.iter()))
            .copied()
            .collect(),
        _ => Vec::new(),
    };
    let targets: Vec<Cube> = addrs
        .iter()
        .map(|a| {
            let x = addr_u128(*a);
            Cube {
                dst: (x, x),
                proto: ICMP,
                ..Cube::full(Fam::of(*a))
            }
        })
        .collect();
    let mut hits: Vec<Echo> = Vec::new();
    for class in engine.source_classes(sources) {
        for o in engine.from_sources_to(&class, false, Some(&targets)) {
            let End::Reached { dev, socket } = o.end else {
                continue;
            };
            let h = HostId(dev as u32);
            if socket != usize::MAX || dests.as_ref().is_some_and(|d| !d.contains(&h)) {
                continue;
            }
            for &m in &class {
                if hits.iter().any(|e| (e.0, e.1) == (m, h)) {
                    continue;
                }
                // The member's own requests among those answered.
                let own = engine.own_addrs(engine.source_dev(m));
                let mine = Space(
                    o.space
                        .0
                        .iter()
                        .flat_map(|c| {
                            own.iter()
                                .filter(|&&(f, lo, hi)| {
                                    f == c.fam && c.src.0 <= hi && lo <= c.src.1
                                })
                                .map(|&(_, lo, hi)| Cube {
                                    src: (lo.max(c.src.0), hi.min(c.src.1)),
                                    ..*c
                                })
                        })
                        .collect(),
                );
                if let Some(ex) = example(&mine) {
                    hits.push((m, h, ex));
                }
            }
        }
    }
    hits.sort_by_key(|e| (e.0, e.1));
    hits
}

/// The trace of the echo request `e` exactly (its source address too, for a
/// network's stand-in), as the counterexample of a ping expectation.
fn echo_trace(scn: &Scenario, engine: &Engine, e: &Echo) -> Option<Trace> {
    let (m, _, ex) = e;
    let from = match *m {
        Source::Host(x) => scn.host(x).name.clone(),
        Source::Network(_) => format!("{}@{}", engine.dev_name(engine.source_dev(*m)), ex.src),
    };
    let mut q = Query::new(&from, &ex.dst.to_string());
    q.proto = Proto::Icmp;
    trace(scn, &q).ok()
}

fn endpoint(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V6(v) => format!("[{v}]:{port}"),
        IpAddr::V4(v) => format!("{v}:{port}"),
    }
}

/// Where an expectation's destination points, resolved once for a scan of
/// every (class, target) of an answer.
struct Dest<'a> {
    scn: &'a Scenario,
    proto: Proto,
    port: Option<u16>,
    at: DestAt,
}

enum DestAt {
    Host(Option<HostId>),
    /// Per host: whether it has an interface on the network.
    Network(Vec<bool>),
    /// The address, and each host's own addresses, made when first needed.
    Address(Fam, u128, Vec<std::cell::OnceCell<Vec<(Fam, u128, u128)>>>),
    Nowhere,
}

impl<'a> Dest<'a> {
    fn new(scn: &'a Scenario, to: &Place, proto: Proto, port: Option<u16>) -> Dest<'a> {
        let at = match to {
            Place::Host(h) => DestAt::Host(scn.host_by_name(h)),
            Place::Network(n) => match scn.network_by_name(n) {
                Some(id) => DestAt::Network(
                    scn.hosts
                        .iter()
                        .map(|h| h.interfaces.iter().any(|i| i.network == id))
                        .collect(),
                ),
                None => DestAt::Nowhere,
            },
            Place::Address(a) => DestAt::Address(
                Fam::of(*a),
                addr_u128(*a),
                (0..scn.hosts.len())
                    .map(|_| std::cell::OnceCell::new())
                    .collect(),
            ),
            Place::Name(_) => DestAt::Nowhere,
        };
        Dest {
            scn,
            proto,
            port,
            at,
        }
    }

    /// Whether target `k` of class `j` is where the destination points.
    fn lands(&self, j: &Journey, k: usize) -> bool {
        let t = j.targets[k];
        let sock = &self.scn.host(t.host).sockets[t.socket];
        if sock.proto != self.proto {
            return false;
        }
        let port_ok = || self.port.is_none_or(|p| sock.port == p);
        match &self.at {
            DestAt::Host(h) => *h == Some(t.host) && port_ok(),
            DestAt::Network(on) => on[t.host.index()] && port_ok(),
            // An address: the packets must be sent to it (before any NAT),
            // to that port. The class's packets are told for its first
            // target: a destination that is one of its own addresses is the
            // same one of this target's.
            DestAt::Address(fam, x, owns) => {
                let own_of = |h: HostId| owns[h.index()].get_or_init(|| host_own(self.scn, h));
                let (own0, own) = (own_of(j.targets[0].host), own_of(t.host));
                j.cubes().any(|c| {
                    let dst = match own0
                        .iter()
                        .position(|&(f, lo, hi)| f == c.fam && (lo, hi) == c.dst)
                    {
                        Some(i) if k > 0 => (own[i].1, own[i].2),
                        _ => c.dst,
                    };
                    c.fam == *fam
                        && dst.0 <= *x
                        && *x <= dst.1
                        && self.port.is_none_or(|p| c.dport.0 <= p && p <= c.dport.1)
                })
            }
            DestAt::Nowhere => false,
        }
    }
}

/// Every (class, target) of `r` whose target is where an expectation's
/// destination points, in the answer's order.
fn landing<'r>(
    scn: &Scenario,
    r: &'r Reach,
    to: &Place,
    proto: Proto,
    port: Option<u16>,
) -> Vec<(&'r Journey, usize)> {
    let dest = Dest::new(scn, to, proto, port);
    let mut out = Vec::new();
    for j in &r.journeys {
        for k in 0..j.targets.len() {
            if dest.lands(j, k) {
                out.push((j, k));
            }
        }
    }
    out
}

/// The members of class `j` that reach target `k` and that `pick` takes.
fn members_at<'j>(
    j: &'j Journey,
    k: usize,
    pick: impl Fn(Source) -> bool + 'j,
) -> impl Iterator<Item = Source> + 'j {
    let me = Source::Host(j.targets[k].host);
    j.members
        .iter()
        .copied()
        .filter(move |&m| m != me && pick(m))
}

/// The trace of one concrete packet of a journey, as its counterexample.
fn journey_trace(scn: &Scenario, engine: &Engine, j: &Journey, port: Option<u16>) -> Option<Trace> {
    let mut space = j.space();
    if let Some(p) = port {
        space.0.retain(|c| c.dport.0 <= p && p <= c.dport.1);
        for c in &mut space.0 {
            c.dport = (p, p);
        }
    }
    let ex = example(&space).or_else(|| example(&j.space()))?;
    let from = match j.source {
        Source::Host(h) => scn.host(h).name.clone(),
        Source::Network(_) => format!(
            "{}@{}",
            engine.dev_name(engine.source_dev(j.source)),
            ex.src
        ),
    };
    let mut q = Query::new(&from, &endpoint(ex.dst, ex.dport));
    q.proto = ex.proto;
    q.sport = Some(ex.sport);
    trace(scn, &q).ok()
}

/// The trace a person would run to see the expectation: `from` to `to:port`.
fn natural_trace(
    scn: &Scenario,
    from: &Place,
    to: &Place,
    proto: Proto,
    port: Option<u16>,
) -> Option<Trace> {
    let to_text = match (to, port) {
        (Place::Address(a), Some(p)) => endpoint(*a, p),
        (_, Some(p)) => format!("{}:{p}", to),
        (_, None) => to.to_string(),
    };
    let mut q = Query::new(&from.to_string(), &to_text);
    q.proto = proto;
    trace(scn, &q).ok()
}

/// Traces from each of `sources` to a DNS name, each resolving it in its own
/// view, as a person would run them: the first that connects (or gets its
/// ping answered), else the first trace.
fn name_traces(
    scn: &Scenario,
    engine: &Engine,
    sources: &[Source],
    to: &Place,
    proto: Proto,
    port: Option<u16>,
) -> (Vec<(Source, Trace)>, Option<usize>) {
    let traces: Vec<(Source, Trace)> = sources
        .iter()
        .filter_map(|&m| {
            let from = Place::Host(engine.dev_name(engine.source_dev(m)).to_string());
            natural_trace(scn, &from, to, proto, port).map(|t| (m, t))
        })
        .collect();
    let first = traces.iter().position(|(_, t)| connected(t));
    (traces, first)
}

/// Whether the trace's client opened its connection: it received the reply
/// to its own request (a TLS handshake that then fails, or a reverse proxy
/// whose own connection to its upstream fails, come after that). An
/// expectation is about the connections a client opens; what a proxy does
/// next is the proxy's own journey.
fn connected(t: &Trace) -> bool {
    t.hops.iter().any(|h| {
        h.stage == Stage::Receive
            && h.direction == crate::evidence::Direction::Reply
            && h.verdict == crate::evidence::Verdict::Accept
            && h.device == t.query.source
    })
}

pub fn check(scn: &Scenario) -> CheckReport {
    let engine = Engine::new(scn);
    let plan = plan(scn);
    let answers: std::collections::BTreeMap<&Option<Vec<Source>>, Reach> = plan
        .walks
        .iter()
        .map(|(from, to)| (from, walk(&engine, from, to)))
        .collect();
    let results = scn
        .expectations
        .iter()
        .zip(&plan.keys)
        .map(|(e, k)| result_of(scn, &engine, &answers[k], e))
        .collect();
    report(scn, results)
}

/// The walks `check` makes. Each expectation looks only at the journeys it
/// can see. Questions about the same sources share one walk to all the
/// hosts they name; questions about every source (`only`, `isolated …
/// inbound`) share one walk from every source to all the hosts they name.
/// One walk for all of them would push every named source to every named
/// host.
pub(crate) struct Plan {
    /// Per expectation: the sources of its walk (`None`: every source).
    pub keys: Vec<Option<Vec<Source>>>,
    /// Per walk, by its sources: the hosts it walks to (`None`: all).
    pub walks: std::collections::BTreeMap<Option<Vec<Source>>, Option<Vec<HostId>>>,
}

pub(crate) fn plan(scn: &Scenario) -> Plan {
    let questions: Vec<ReachQuery> = scn
        .expectations
        .iter()
        .map(|e| needed(scn, std::slice::from_ref(e)))
        .collect();
    let mut walks: std::collections::BTreeMap<Option<Vec<Source>>, Option<Vec<HostId>>> =
        std::collections::BTreeMap::new();
    for q in &questions {
        let to = walks
            .entry(q.from.clone())
            .or_insert_with(|| Some(Vec::new()));
        match (to.as_mut(), &q.to) {
            (Some(t), Some(h)) => {
                t.extend(h.iter().copied());
                t.sort();
                t.dedup();
            }
            _ => *to = None,
        }
    }
    Plan {
        keys: questions.into_iter().map(|q| q.from).collect(),
        walks,
    }
}

/// One walk of a [`Plan`].
pub(crate) fn walk(engine: &Engine, from: &Option<Vec<Source>>, to: &Option<Vec<HostId>>) -> Reach {
    reach_with(
        engine,
        &ReachQuery {
            from: from.clone(),
            to: to.clone(),
        },
    )
}

/// The journeys some expectations can look at: from the sources they name
/// (all, if one needs all) to the hosts they name (all, if one needs all).
/// A destination given as an address nobody owns may be a DNAT: all hosts.
fn needed(scn: &Scenario, expectations: &[Expectation]) -> ReachQuery {
    let mut from: Option<Vec<Source>> = Some(Vec::new());
    let mut to: Option<Vec<HostId>> = Some(Vec::new());
    let hosts_at = |p: &Place| -> Option<Vec<HostId>> {
        match p {
            Place::Host(h) => Some(scn.host_by_name(h).into_iter().collect()),
            Place::Network(n) => {
                let id = scn.network_by_name(n)?;
                Some(
                    (0..scn.hosts.len())
                        .map(|i| HostId(i as u32))
                        .filter(|&h| scn.host(h).interfaces.iter().any(|i| i.network == id))
                        .collect(),
                )
            }
            // An address: its owners, and wherever a destination NAT may
            // take packets sent to it (an expectation about an address is
            // about the connections clients open to it).
            Place::Address(a) => {
                let hosts = translated_to(scn, *a);
                (!hosts.is_empty()).then_some(hosts)
            }
            // Names are traced, not looked up in the journeys.
            Place::Name(_) => Some(Vec::new()),
        }
    };
    let mut add = |sources: Option<Vec<Source>>, hosts: Option<Vec<HostId>>| {
        match (&mut from, sources) {
            (Some(f), Some(s)) => f.extend(s),
            (f, _) => *f = None,
        }
        match (&mut to, hosts) {
            (Some(t), Some(h)) => t.extend(h),
            (t, _) => *t = None,
        }
    };
    for e in expectations {
        match &e.kind {
            ExpectKind::Allow {
                from, to, proto, ..
            }
            | ExpectKind::Deny {
                from, to, proto, ..
            } => {
                // Names are traced; pings are walked on their own.
                if matches!(to, Place::Name(_)) || *proto == Proto::Icmp {
                    continue;
                }
                add(Some(sources_of(scn, from)), hosts_at(to));
            }
            ExpectKind::Only { proto, .. } if *proto == Proto::Icmp => {}
            ExpectKind::Only { to, .. } => add(None, hosts_at(to)),
            ExpectKind::Isolated { network, direction } => {
                let inside = hosts_at(&Place::Network(network.clone()));
                match direction.as_str() {
                    "inbound" => add(None, inside),
                    // Nothing from inside goes anywhere: its own sources, to every host.
                    "outbound" => add(
                        Some(sources_of(scn, &Place::Network(network.clone()))),
                        None,
                    ),
                    _ => add(None, None),
                }
            }
            ExpectKind::Authenticated { .. } => {}
        }
    }
    fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
        v.sort();
        v.dedup();
        v
    }
    ReachQuery {
        from: from.map(dedup),
        to: to.map(dedup),
    }
}

/// The hosts a packet sent to `a` may end at: the owners of `a` and, for
/// every DNAT rule anywhere that may match `a` as a destination, the owners
/// of its target, and so on for targets that are translated again.
fn translated_to(scn: &Scenario, a: IpAddr) -> Vec<HostId> {
    let mut addrs = vec![a];
    let mut hosts: Vec<HostId> = Vec::new();
    let mut i = 0;
    while i < addrs.len() {
        let x = addrs[i];
        i += 1;
        hosts.extend(scn.owners_of(x).iter().map(|(h, _)| *h));
        for h in &scn.hosts {
            for n in &h.nat {
                if let NatKind::Dnat { to, .. } = n.kind {
                    if n.matches.dst.contains(x) && !addrs.contains(&to) {
                        addrs.push(to);
                    }
                }
            }
        }
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// `check` against journeys already computed (they must include every
/// journey the expectations can look at, as a full `reach` does).
pub fn check_with(scn: &Scenario, engine: &Engine, r: &Reach) -> CheckReport {
    let results = scn
        .expectations
        .iter()
        .map(|e| result_of(scn, engine, r, e))
        .collect();
    report(scn, results)
}

pub(crate) fn result_of(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    e: &Expectation,
) -> CheckResult {
    let (passed, detail, trace) = evaluate(scn, engine, r, &e.kind);
    CheckResult {
        expectation: e.text.clone(),
        line: e.origin.line,
        column: e.origin.column,
        passed,
        detail,
        trace,
    }
}

pub(crate) fn report(scn: &Scenario, results: Vec<CheckResult>) -> CheckReport {
    let passed = results.iter().filter(|r| r.passed).count();
    CheckReport {
        scenario: scn.name.clone(),
        file: scn.file.clone(),
        variant: scn.variant.clone(),
        passed,
        failed: results.len() - passed,
        results,
    }
}

/// Target `k` of class `j` as seen from the first member `pick` accepts.
fn focus_at(
    scn: &Scenario,
    engine: &Engine,
    j: &Journey,
    k: usize,
    pick: impl Fn(Source) -> bool,
) -> Journey {
    let at = j.to_target(scn, k).expect("a target some member reaches");
    focus(engine, &at, pick)
}

/// A class journey as seen from the first member `pick` accepts: its own
/// packets only, so that the counterexample names the source the
/// expectation is about.
fn focus(engine: &Engine, j: &Journey, pick: impl Fn(Source) -> bool) -> Journey {
    let Some(&m) = j.members.iter().find(|&&m| pick(m)) else {
        return j.clone();
    };
    if j.members.len() == 1 {
        return j.clone();
    }
    let own: Vec<Cube> = engine
        .own_addrs(engine.source_dev(m))
        .iter()
        .map(|&(fam, lo, hi)| Cube {
            src: (lo, hi),
            ..Cube::full(fam)
        })
        .collect();
    let paths = j
        .paths
        .iter()
        .map(|(p, sp)| (p.clone(), sp.split(&own).0))
        .filter(|(_, sp)| !sp.is_empty())
        .collect();
    Journey {
        source: m,
        members: std::sync::Arc::from([m]),
        paths,
        ..j.clone()
    }
}

fn describe(scn: &Scenario, j: &Journey) -> String {
    let h = scn.host(j.host());
    format!(
        "{} reaches {}:{} ({})",
        super::reach::source_name(scn, j.source),
        h.name,
        h.sockets[j.socket()].port,
        h.sockets[j.socket()].text
    )
}

fn evaluate(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    kind: &ExpectKind,
) -> (bool, String, Option<Trace>) {
    match kind {
        ExpectKind::Allow {
            from,
            to,
            proto,
            port,
        }
        | ExpectKind::Deny {
            from,
            to,
            proto,
            port,
        } => {
            let allow = matches!(kind, ExpectKind::Allow { .. });
            // A DNS name is resolved the way each client would: trace it
            // from every source the place stands for.
            if let Place::Name(_) = to {
                let sources = sources_of(scn, from);
                let (mut traces, first) = name_traces(scn, engine, &sources, to, *proto, *port);
                let ok = first.is_some();
                let Some(i) = first.or((!traces.is_empty()).then_some(0)) else {
                    return (!allow, "the journey could not be traced".into(), None);
                };
                let (m, t) = traces.swap_remove(i);
                let who = if sources.len() > 1 {
                    format!("{}: ", super::reach::source_name(scn, m))
                } else {
                    String::new()
                };
                let detail = format!(
                    "{who}{}: {}",
                    if ok {
                        "the journey connects"
                    } else {
                        "the journey does not connect"
                    },
                    t.outcome.text
                );
                return (ok == allow, detail, Some(t));
            }
            if *proto == Proto::Icmp {
                let sources = sources_of(scn, from);
                let hits = echoes(scn, engine, &sources, to);
                return match (hits.first(), allow) {
                    (Some(e), _) => (
                        allow,
                        format!(
                            "{} gets answers to its pings from {} ({} source/host pair(s) in all)",
                            super::reach::source_name(scn, e.0),
                            scn.host(e.1).name,
                            hits.len()
                        ),
                        echo_trace(scn, engine, e),
                    ),
                    (None, _) => (
                        !allow,
                        format!("no ping from {from} to {to} is answered"),
                        if allow {
                            natural_trace(scn, from, to, *proto, None)
                        } else {
                            None
                        },
                    ),
                };
            }
            let sources = sources_of(scn, from);
            // A host's connection to its own address never crosses the
            // network (the engine leaves it out): the tracer decides it, as
            // it decides a DNS name's.
            if let (Some(port), [Source::Host(h)]) = (port, sources.as_slice()) {
                let own = match to {
                    Place::Host(n) => scn.host_by_name(n) == Some(*h),
                    Place::Address(a) => scn.host(*h).has_addr(*a),
                    _ => false,
                };
                if own {
                    let t = natural_trace(scn, from, to, *proto, Some(*port));
                    let ok = t.as_ref().is_some_and(connected);
                    let why = t
                        .as_ref()
                        .map(|t| t.outcome.text.clone())
                        .unwrap_or_else(|| "the journey could not be traced".into());
                    let detail = if ok {
                        format!("{from} connects to itself: {why}")
                    } else {
                        format!("no packet from {from} connects to {to}: {why}")
                    };
                    return (ok == allow, detail, t);
                }
            }
            let mut sorted = sources.clone();
            sorted.sort_unstable();
            let is_source = |m: Source| sorted.binary_search(&m).is_ok();
            let hits: Vec<(&Journey, usize)> = landing(scn, r, to, *proto, *port)
                .into_iter()
                .filter(|&(j, k)| members_at(j, k, is_source).next().is_some())
                .collect();
            let first = hits
                .first()
                .map(|&(j, k)| focus_at(scn, engine, j, k, is_source));
            if allow {
                match &first {
                    Some(j) => (
                        true,
                        format!(
                            "{} (and {} other journey(s))",
                            describe(scn, j),
                            hits.len() - 1
                        ),
                        journey_trace(scn, engine, j, *port),
                    ),
                    None => {
                        let t = natural_trace(scn, from, to, *proto, *port);
                        let why = t
                            .as_ref()
                            .map(|t| t.outcome.text.clone())
                            .unwrap_or_else(|| "no journey connects".into());
                        (
                            false,
                            format!("no packet from {} connects to {}: {why}", from, to),
                            t,
                        )
                    }
                }
            } else {
                match &first {
                    None => (
                        true,
                        format!("no packet from {} connects to {}", from, to),
                        None,
                    ),
                    Some(j) => (
                        false,
                        format!("{}; {} journey(s) in all", describe(scn, j), hits.len()),
                        journey_trace(scn, engine, j, *port),
                    ),
                }
            }
        }
        ExpectKind::Only {
            from,
            to,
            proto,
            port,
        } => {
            let allowed: Vec<Source> = from.iter().flat_map(|p| sources_of(scn, p)).collect();
            let names = || {
                from.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // A DNS name: every source resolves it in its own view.
            if let Place::Name(_) = to {
                let all = super::reach::all_sources(scn);
                let others: Vec<Source> =
                    all.into_iter().filter(|m| !allowed.contains(m)).collect();
                let (traces, _) = name_traces(scn, engine, &others, to, *proto, *port);
                let bad: Vec<(Source, Trace)> =
                    traces.into_iter().filter(|(_, t)| connected(t)).collect();
                return match bad.first() {
                    None => (true, format!("only {} connect(s) to {}", names(), to), None),
                    Some((m, t)) => {
                        let list: Vec<String> = bad
                            .iter()
                            .map(|(m, _)| super::reach::source_name(scn, *m))
                            .collect();
                        (
                            false,
                            format!(
                                "{}: {}; sources not allowed: {}",
                                super::reach::source_name(scn, *m),
                                t.outcome.text,
                                list.join(", ")
                            ),
                            Some(t.clone()),
                        )
                    }
                };
            }
            if *proto == Proto::Icmp {
                let all = super::reach::all_sources(scn);
                let bad: Vec<Echo> = echoes(scn, engine, &all, to)
                    .into_iter()
                    .filter(|e| !allowed.contains(&e.0))
                    .collect();
                return match bad.first() {
                    None => (
                        true,
                        format!("only {} get answers to pings to {to}", names()),
                        None,
                    ),
                    Some(e) => {
                        let mut others: Vec<String> = bad
                            .iter()
                            .map(|e| super::reach::source_name(scn, e.0))
                            .collect();
                        others.dedup();
                        (
                            false,
                            format!(
                                "{} gets answers to its pings from {}; sources not allowed: {}",
                                super::reach::source_name(scn, e.0),
                                scn.host(e.1).name,
                                others.join(", ")
                            ),
                            echo_trace(scn, engine, e),
                        )
                    }
                };
            }
            let mut allowed_sorted = allowed.clone();
            allowed_sorted.sort_unstable();
            let not_allowed = |m: Source| allowed_sorted.binary_search(&m).is_err();
            let landed: Vec<(&Journey, usize)> = landing(scn, r, to, *proto, *port);
            let bad = landed
                .iter()
                .find(|&&(j, k)| members_at(j, k, not_allowed).next().is_some())
                .map(|&(j, k)| focus_at(scn, engine, j, k, not_allowed));
            match &bad {
                None => (true, format!("only {} connect(s) to {}", names(), to), None),
                Some(j) => {
                    // Each class's members once (however many of its targets landed).
                    let mut seen: std::collections::BTreeSet<Source> = Default::default();
                    for &(c, k) in &landed {
                        seen.extend(members_at(c, k, not_allowed));
                    }
                    let mut others: Vec<String> = seen
                        .into_iter()
                        .map(|m| super::reach::source_name(scn, m))
                        .collect();
                    others.sort();
                    others.dedup();
                    (
                        false,
                        format!(
                            "{}; sources not allowed: {}",
                            describe(scn, j),
                            others.join(", ")
                        ),
                        journey_trace(scn, engine, j, *port),
                    )
                }
            }
        }
        ExpectKind::Isolated { network, direction } => {
            let Some(id) = scn.network_by_name(network) else {
                return (false, format!("no network {network}"), None);
            };
            // Inside, as a target: every host with an interface on the
            // network; as a source: what the network stands for as a place
            // (its stand-in and hosts, not the routers at its edge).
            let inside_host = |h: HostId| scn.host(h).interfaces.iter().any(|i| i.network == id);
            let inside_sources = sources_of(scn, &Place::Network(network.clone()));
            let inside_source = |s: Source| inside_sources.contains(&s);
            let inbound = direction != "outbound";
            let outbound = direction != "inbound";
            let crosses = |t: HostId, m: Source| {
                let (si, ti) = (inside_source(m), inside_host(t));
                (inbound && !si && ti) || (outbound && si && !ti)
            };
            let bad = r.journeys.iter().find_map(|j| {
                (0..j.targets.len()).find_map(|k| {
                    let t = j.targets[k].host;
                    let any = members_at(j, k, move |m| crosses(t, m)).next().is_some();
                    any.then(|| focus_at(scn, engine, j, k, |m| crosses(t, m)))
                })
            });
            match bad {
                None => (
                    true,
                    format!("nothing crosses the edge of {network} ({direction})"),
                    None,
                ),
                Some(j) => (
                    false,
                    format!("{} across the edge of {network}", describe(scn, &j)),
                    journey_trace(scn, engine, &j, None),
                ),
            }
        }
        ExpectKind::Authenticated {
            from,
            to,
            proto,
            port,
            by,
        } => {
            let t = natural_trace(scn, from, to, *proto, *port);
            let Some(t) = t else {
                return (false, "the journey could not be traced".into(), None);
            };
            let tls = t.hops.iter().rev().find(|h| h.stage == Stage::Tls);
            let want = if by == "mtls" {
                Fact::ClientIdentity
            } else {
                Fact::ServerIdentity
            };
            let ok = t.outcome.kind == OutcomeKind::Reached
                && tls.is_some_and(|h| h.proves.iter().any(|c| c.fact == want));
            let detail = if ok {
                format!(
                    "{} proves it: {}",
                    by,
                    tls.and_then(|h| h.proves.iter().find(|c| c.fact == want))
                        .map(|c| c.text.clone())
                        .unwrap_or_default()
                )
            } else if let Some(h) = tls {
                format!(
                    "the TLS step does not prove the {}: {}",
                    if by == "mtls" {
                        "client's identity"
                    } else {
                        "server's identity"
                    },
                    h.detail
                )
            } else {
                format!("no TLS on this journey: {}", t.outcome.text)
            };
            (ok, detail, Some(t))
        }
    }
}

/// A check as JUnit XML: one test case per expectation.
pub fn render_junit(r: &CheckReport) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
    };
    let name = match &r.variant {
        Some(v) => format!("{} ({v})", r.scenario),
        None => r.scenario.clone(),
    };
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites name=\"pathproof check\" tests=\"{}\" failures=\"{}\">\n",
        r.results.len(),
        r.failed
    ));
    s.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n",
        esc(&name),
        r.results.len(),
        r.failed
    ));
    for c in &r.results {
        s.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}:{}\"",
            esc(&c.expectation),
            esc(&r.file),
            c.line
        ));
        if c.passed {
            s.push_str("/>\n");
        } else {
            s.push_str(">\n");
            let body = c
                .trace
                .as_ref()
                .map(crate::render::trace_text)
                .unwrap_or_default();
            s.push_str(&format!(
                "      <failure message=\"{}\" type=\"expectation\">{}</failure>\n",
                esc(&c.detail),
                esc(&body)
            ));
            s.push_str("    </testcase>\n");
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// A check as SARIF 2.1.0: one result per failed expectation, at its line.
pub fn render_sarif(r: &CheckReport) -> String {
    let results: Vec<serde_json::Value> = r
        .results
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            serde_json::json!({
                "ruleId": "pathproof/expectation",
                "level": "error",
                "message": { "text": format!("expectation `{}` does not hold: {}", c.expectation, c.detail) },
                "locations": [{ "physicalLocation": {
                    "artifactLocation": { "uri": r.file },
                    "region": { "startLine": c.line.max(1), "startColumn": c.column.max(1) }
                }}]
            })
        })
        .collect();
    let v = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "pathproof",
                "informationUri": "https://example.invalid/pathproof",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": [{
                    "id": "pathproof/expectation",
                    "name": "Expectation",
                    "shortDescription": { "text": "An expect: line of the scenario does not hold" }
                }]
            }},
            "results": results
        }]
    });
    let mut s = serde_json::to_string_pretty(&v).expect("plain values serialise");
    s.push('\n');
    s
}

/// The text an instructor reads: each expectation, pass or fail, and for each
/// failure the journey that breaks it.
pub fn render_text(r: &CheckReport) -> String {
    let mut s = String::new();
    let v = r
        .variant
        .as_deref()
        .map(|v| format!(", variant {v}"))
        .unwrap_or_default();
    s.push_str(&format!(
        "check {}{v}: {} expectation(s), {} passed, {} failed\n\n",
        r.scenario,
        r.results.len(),
        r.passed,
        r.failed
    ));
    for c in &r.results {
        s.push_str(&format!(
            "{}  {}:{}  {}\n",
            if c.passed { "PASS" } else { "FAIL" },
            r.file,
            c.line,
            c.expectation
        ));
        s.push_str(&format!("      {}\n", c.detail));
    }
    for c in r.results.iter().filter(|c| !c.passed) {
        if let Some(t) = &c.trace {
            s.push_str(&format!(
                "\n---- counterexample for `{}` ({}:{})\n",
                c.expectation, r.file, c.line
            ));
            s.push_str(&crate::render::trace_text(t));
        }
    }
    s
}

pub fn render_json(r: &CheckReport) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("a report serialises");
    s.push('\n');
    s
}
