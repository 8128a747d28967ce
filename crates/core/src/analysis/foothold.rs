//! Foothold and blast radius: from a host assumed compromised, what it reaches
//! in one hop, and then, transitively, every host it can take over.
//!
//! A socket gives a foothold when it is a TCP listener: a service that takes
//! connections runs code an attacker can talk to (a vulnerability, a weak
//! password, a leaked key). UDP sockets and ICMP are reached but do not give
//! a foothold. The search is breadth first over hosts, so the path it records
//! to each host is a shortest one in hops; ties go to the lower host index
//! (file order), then the lower socket index.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;

use crate::model::*;

use super::budget::{value_bytes, Budget, Exceeded};
use super::reach::{example, path_rules, reach_with_budget, Example, Journey, Reach, ReachQuery};
use super::space::Cube;
use super::symbolic::{Engine, Source};

/// One way from a host to another: the sockets reached, the first foothold one with its proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// Every socket of `to` that `from` reaches (`tcp/22 ssh`).
    pub sockets: Vec<String>,
    /// The socket that gives the foothold (the first TCP listener reached), if any.
    pub foothold: Option<String>,
    pub example: Option<Example>,
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reached {
    pub host: String,
    /// Hops from the first compromised host.
    pub depth: usize,
    pub sensitive: bool,
    /// The hosts on the shortest attack path, from the start to this host.
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Jewel {
    pub host: String,
    /// The shortest attack path (start first), or `None` when out of reach.
    pub path: Option<Vec<String>>,
    /// The edges of that path, with their proofs.
    pub edges: Vec<Edge>,
}

/// Foothold edges alike: every host of `from` reaches the foothold socket
/// of every host of `to` (but its own), by the same path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeClass {
    /// Compromised hosts, in the order they were taken over.
    pub from: Vec<String>,
    /// The hosts whose socket they reach, in file order.
    pub to: Vec<String>,
    /// The socket on each of them (`tcp/22 ssh`).
    pub socket: String,
    /// The (from, to) pairs the class stands for.
    pub pairs: usize,
    /// One packet from the first of `from` to the first of `to`.
    pub example: Option<Example>,
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Foothold {
    pub schema: u32,
    pub scenario: String,
    pub variant: Option<String>,
    pub from: String,
    /// What the start host reaches directly (including sockets that give no foothold).
    pub direct: Vec<Edge>,
    /// Every host that can be taken over, breadth first (the start at depth 0).
    pub compromised: Vec<Reached>,
    /// The edge each compromised host was taken over by (from a host of the
    /// depth before), in discovery order: the shortest attack paths.
    pub edges: Vec<Edge>,
    /// Every foothold edge between compromised hosts, as classes of alike
    /// edges (a flat network of N hosts is one class, not N^2 edges).
    pub edge_classes: Vec<EdgeClass>,
    /// Each sensitive host, with the shortest attack path to it.
    pub jewels: Vec<Jewel>,
}

/// Whether reaching this socket gives a foothold on its host.
pub fn gives_foothold(s: &Socket) -> bool {
    s.proto == Proto::Tcp && !s.bind.is_loopback()
}

/// What the hosts of one source class reach: the answer of a walk from all
/// of them, and per target host the (journey, target) pairs that end there.
struct ClassReach {
    r: Reach,
    by_host: BTreeMap<HostId, Vec<(usize, usize)>>,
}

impl ClassReach {
    fn new(engine: &Engine, class: &[Source], budget: &Budget) -> Result<ClassReach, Exceeded> {
        let r = reach_with_budget(
            engine,
            &ReachQuery {
                from: Some(class.to_vec()),
                to: None,
            },
            false,
            &budget.scoped(),
        )?;
        let mut by_host: BTreeMap<HostId, Vec<(usize, usize)>> = BTreeMap::new();
        for (ji, j) in r.journeys.iter().enumerate() {
            for (k, t) in j.targets.iter().enumerate() {
                by_host.entry(t.host).or_default().push((ji, k));
            }
        }
        Ok(ClassReach { r, by_host })
    }

    /// The edge from `h` (a member) to host `t`: every socket of `t` it
    /// reaches, and the first that gives a foothold with its proof.
    fn edge(&self, scn: &Scenario, engine: &Engine, h: HostId, t: HostId) -> Option<Edge> {
        let me = Source::Host(h);
        let mut hits: Vec<(usize, usize, usize)> = self
            .by_host
            .get(&t)?
            .iter()
            .filter(|&&(ji, k)| self.r.journeys[ji].holds(me, k))
            .map(|&(ji, k)| (self.r.journeys[ji].targets[k].socket, ji, k))
            .collect();
        if hits.is_empty() || t == h {
            return None;
        }
        hits.sort_unstable();
        let target = scn.host(t);
        let sockets = hits
            .iter()
            .map(|&(si, _, _)| target.sockets[si].text.clone())
            .collect();
        let foot = hits
            .iter()
            .find(|&&(si, _, _)| gives_foothold(&target.sockets[si]));
        let (foothold, ex, rules) = match foot {
            Some(&(si, ji, k)) => {
                let (ex, rules) = proof(scn, engine, &self.r.journeys[ji], k, h);
                (Some(target.sockets[si].text.clone()), ex, rules)
            }
            None => (None, None, Vec::new()),
        };
        Some(Edge {
            from: scn.host(h).name.clone(),
            to: target.name.clone(),
            sockets,
            foothold,
            example: ex,
            rules,
        })
    }
}

/// One packet of member `h` to target `k` of class `j`, and the rules of its path.
fn proof(
    scn: &Scenario,
    engine: &Engine,
    j: &Journey,
    k: usize,
    h: HostId,
) -> (Option<Example>, Vec<String>) {
    let Some(j) = j.to_target(scn, k) else {
        return (None, Vec::new());
    };
    let own: Vec<Cube> = engine
        .own_addrs(h.index())
        .iter()
        .map(|&(fam, lo, hi)| Cube {
            src: (lo, hi),
            ..Cube::full(fam)
        })
        .collect();
    match j
        .paths
        .iter()
        .map(|(p, sp)| (p, sp.split(&own).0))
        .find(|(_, sp)| !sp.is_empty())
    {
        Some((path, space)) => (example(&space), path_rules(scn, path)),
        None => (None, Vec::new()),
    }
}

/// The blast radius of a compromise of `from`.
pub fn foothold(scn: &Scenario, from: HostId) -> Foothold {
    foothold_with_budget(scn, from, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// [`foothold`] within `budget`: each class's walk, then each edge kept
/// (see [`super::budget`]).
///
/// The search is breadth first over hosts, but walks classes: hosts
/// configured alike reach alike (but for themselves), so one walk from a
/// class serves every member taken over, and each class of journeys is
/// followed once, when the first of its members is taken over. Its cost
/// follows the classes, not the pairs of hosts.
pub fn foothold_with_budget(
    scn: &Scenario,
    from: HostId,
    budget: &Budget,
) -> Result<Foothold, Exceeded> {
    let engine = Engine::new(scn);
    let n = scn.hosts.len();
    let hosts: Vec<Source> = (0..n).map(|i| Source::Host(HostId(i as u32))).collect();
    let classes = engine.source_classes(&hosts);
    let mut class_of = vec![usize::MAX; n];
    for (ci, c) in classes.iter().enumerate() {
        for m in c {
            if let Source::Host(h) = m {
                class_of[h.index()] = ci;
            }
        }
    }
    let mut walks: Vec<Option<ClassReach>> = (0..classes.len()).map(|_| None).collect();
    // (A step over what is left is over this budget.)
    let over = |e: Exceeded| match e {
        Exceeded::TooLarge { .. } => Exceeded::TooLarge {
            limit: budget.limit(),
        },
        e => e,
    };
    let mut parent: Vec<Option<(HostId, usize)>> = vec![None; n];
    let mut depth: Vec<Option<usize>> = vec![None; n];
    let mut taken_at: Vec<usize> = vec![usize::MAX; n];
    let mut order = Vec::new();
    let mut edges: Vec<Edge> = Vec::new();
    let mut direct = Vec::new();
    // The classes of journeys followed: (source class, journey).
    let mut followed: Vec<(usize, usize)> = Vec::new();
    let mut seen_journey: std::collections::HashSet<(usize, usize)> = Default::default();
    depth[from.index()] = Some(0);
    let mut queue = VecDeque::from([from]);
    while let Some(h) = queue.pop_front() {
        taken_at[h.index()] = order.len();
        order.push(h);
        let d = depth[h.index()].expect("queued hosts have a depth");
        let ci = class_of[h.index()];
        if walks[ci].is_none() {
            walks[ci] = Some(ClassReach::new(&engine, &classes[ci], budget).map_err(over)?);
        }
        let cr = walks[ci].as_ref().expect("walked");
        if h == from {
            for &t in cr.by_host.keys() {
                if let Some(e) = cr.edge(scn, &engine, h, t) {
                    budget.charge(value_bytes(&e))?;
                    direct.push(e);
                }
            }
        }
        // The classes of journeys of which `h` is the first member taken
        // over: the hosts they reach with a foothold, in file order.
        let me = Source::Host(h);
        let mut new: Vec<HostId> = Vec::new();
        for (ji, j) in cr.r.journeys.iter().enumerate() {
            if j.members.binary_search(&me).is_err() || seen_journey.contains(&(ci, ji)) {
                continue;
            }
            // (A class whose only foothold target is `h` itself waits for
            // another of its members.)
            let mut any = false;
            for (k, t) in j.targets.iter().enumerate() {
                if gives_foothold(&scn.host(t.host).sockets[t.socket]) && j.holds(me, k) {
                    any = true;
                    if depth[t.host.index()].is_none() {
                        new.push(t.host);
                    }
                }
            }
            if any {
                seen_journey.insert((ci, ji));
                followed.push((ci, ji));
            }
        }
        new.sort_unstable();
        new.dedup();
        for t in new {
            if depth[t.index()].is_some() {
                continue;
            }
            let e = cr.edge(scn, &engine, h, t).expect("a journey reaches it");
            budget.charge(value_bytes(&e))?;
            depth[t.index()] = Some(d + 1);
            edges.push(e);
            parent[t.index()] = Some((h, edges.len() - 1));
            queue.push_back(t);
        }
    }
    // Every foothold edge between compromised hosts, as classes.
    let mut edge_classes = Vec::new();
    for &(ci, ji) in &followed {
        let j = &walks[ci].as_ref().expect("walked").r.journeys[ji];
        let mut from_hosts: Vec<HostId> = j
            .members
            .iter()
            .filter_map(|m| match m {
                Source::Host(h) if depth[h.index()].is_some() => Some(*h),
                _ => None,
            })
            .collect();
        from_hosts.sort_by_key(|h| taken_at[h.index()]);
        // Per socket kind of the targets, one class.
        let mut by_socket: BTreeMap<String, Vec<(usize, HostId)>> = BTreeMap::new();
        for (k, t) in j.targets.iter().enumerate() {
            let sock = &scn.host(t.host).sockets[t.socket];
            if gives_foothold(sock) {
                by_socket
                    .entry(sock.text.clone())
                    .or_default()
                    .push((k, t.host));
            }
        }
        for (socket, ts) in by_socket {
            let pairs = from_hosts.len() * ts.len()
                - ts.iter().filter(|(_, t)| from_hosts.contains(t)).count();
            if pairs == 0 {
                continue;
            }
            let (k0, _) = ts[0];
            let first = from_hosts
                .iter()
                .copied()
                .find(|&h| h != j.targets[k0].host)
                .unwrap_or(from_hosts[0]);
            let (ex, rules) = proof(scn, &engine, j, k0, first);
            let c = EdgeClass {
                from: from_hosts
                    .iter()
                    .map(|h| scn.host(*h).name.clone())
                    .collect(),
                to: ts.iter().map(|(_, t)| scn.host(*t).name.clone()).collect(),
                socket,
                pairs,
                example: ex,
                rules,
            };
            budget.charge(value_bytes(&c))?;
            edge_classes.push(c);
        }
    }
    let widest = edges.iter().map(value_bytes).max().unwrap_or(0);
    let path_to = |t: HostId| -> (Vec<String>, Vec<Edge>) {
        let mut hosts = vec![scn.host(t).name.clone()];
        let mut es = Vec::new();
        let mut cur = t;
        while let Some((p, ei)) = parent[cur.index()] {
            hosts.push(scn.host(p).name.clone());
            es.push(edges[ei].clone());
            cur = p;
        }
        hosts.reverse();
        es.reverse();
        (hosts, es)
    };
    // Each host's path from the start, and each jewel's edges (copies).
    let jewel = |h: &HostId| if scn.host(*h).sensitive { widest } else { 0 };
    let names = |h: &HostId| (24 + scn.host(*h).name.len()) as u64 + jewel(h);
    budget.charge(
        order
            .iter()
            .map(|h| names(h) * (1 + depth[h.index()].unwrap_or(0) as u64))
            .sum(),
    )?;
    let compromised = order
        .iter()
        .map(|&h| Reached {
            host: scn.host(h).name.clone(),
            depth: depth[h.index()].expect("visited"),
            sensitive: scn.host(h).sensitive,
            path: path_to(h).0,
        })
        .collect();
    let jewels = (0..n)
        .map(|i| HostId(i as u32))
        .filter(|h| scn.host(*h).sensitive)
        .map(|h| {
            if depth[h.index()].is_some() {
                let (p, es) = path_to(h);
                Jewel {
                    host: scn.host(h).name.clone(),
                    path: Some(p),
                    edges: es,
                }
            } else {
                Jewel {
                    host: scn.host(h).name.clone(),
                    path: None,
                    edges: Vec::new(),
                }
            }
        })
        .collect();
    Ok(Foothold {
        schema: 2,
        scenario: scn.name.clone(),
        variant: scn.variant.clone(),
        from: scn.host(from).name.clone(),
        direct,
        compromised,
        edges,
        edge_classes,
        jewels,
    })
}

fn example_text(e: &Example) -> String {
    super::diff::example_line(e)
}

pub fn render_text(f: &Foothold, scn: &Scenario) -> String {
    let mut s = String::new();
    let variant = f
        .variant
        .as_ref()
        .map(|v| format!(" (variant {v})"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "foothold: {} is compromised in {}{variant}",
        f.from, scn.name
    );
    let _ = writeln!(s, "\nreached in one hop:");
    if f.direct.is_empty() {
        let _ = writeln!(s, "  nothing");
    }
    for e in &f.direct {
        let mark = if e.foothold.is_some() {
            "foothold"
        } else {
            "no foothold"
        };
        let _ = writeln!(s, "  {} {}  [{mark}]", e.to, e.sockets.join(", "));
        if let Some(ex) = &e.example {
            let _ = writeln!(
                s,
                "      e.g. {}  via {}",
                example_text(ex),
                if e.rules.is_empty() {
                    "no filter".into()
                } else {
                    e.rules.join(", ")
                }
            );
        }
    }
    let _ = writeln!(
        s,
        "\nblast radius: {} host{} can be taken over",
        f.compromised.len() - 1,
        if f.compromised.len() == 2 { "" } else { "s" }
    );
    for r in f.compromised.iter().skip(1) {
        let _ = writeln!(
            s,
            "  {}{} (depth {}): {}",
            r.host,
            if r.sensitive { " *" } else { "" },
            r.depth,
            r.path.join(" -> ")
        );
    }
    let _ = writeln!(s, "\ncrown jewels:");
    if f.jewels.is_empty() {
        let _ = writeln!(s, "  none marked `sensitive: true`");
    }
    for j in &f.jewels {
        match &j.path {
            None => {
                let _ = writeln!(s, "  {}: out of reach", j.host);
            }
            Some(p) if p.len() == 1 => {
                let _ = writeln!(s, "  {}: is the compromised host", j.host);
            }
            Some(p) => {
                let _ = writeln!(
                    s,
                    "  {}: {} hop{}: {}",
                    j.host,
                    p.len() - 1,
                    if p.len() == 2 { "" } else { "s" },
                    p.join(" -> ")
                );
                for e in &j.edges {
                    let ex = e.example.as_ref().map(example_text).unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "      {} -> {} {}  e.g. {ex}  via {}",
                        e.from,
                        e.to,
                        e.foothold.as_deref().unwrap_or(""),
                        if e.rules.is_empty() {
                            "no filter".into()
                        } else {
                            e.rules.join(", ")
                        }
                    );
                }
            }
        }
    }
    s
}

pub fn render_json(f: &Foothold, _scn: &Scenario) -> String {
    let mut s = serde_json::to_string_pretty(f).expect("plain values serialise");
    s.push('\n');
    s
}

fn node_id(scn: &Scenario, name: &str) -> String {
    match scn.host_by_name(name) {
        Some(h) => format!("h{}", h.0),
        None => format!(
            "x{}",
            name.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

fn label(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// The most arrows the Mermaid graph draws one by one.
pub const MERMAID_ARROWS: usize = 2000;

/// `graph LR`: the compromised hosts, an edge per foothold taken (labelled
/// with the socket), the start and the crown jewels styled.
pub fn render_mermaid(f: &Foothold, scn: &Scenario) -> String {
    let mut s = String::from("graph LR\n");
    for r in &f.compromised {
        let _ = writeln!(s, "  {}[\"{}\"]", node_id(scn, &r.host), label(&r.host));
    }
    for j in &f.jewels {
        if j.path.is_none() {
            let _ = writeln!(
                s,
                "  {}[\"{} (out of reach)\"]",
                node_id(scn, &j.host),
                label(&j.host)
            );
        }
    }
    // One arrow per foothold edge between hosts taken over (labelled with
    // the first foothold socket of the target it reaches), shortest-path
    // edges bold; past `MERMAID_ARROWS` edges, a graph cannot be read: the
    // edges each host was taken over by.
    let on_path: std::collections::BTreeSet<(String, String)> = f
        .jewels
        .iter()
        .flat_map(|j| j.edges.iter().map(|e| (e.from.clone(), e.to.clone())))
        .collect();
    let taken: BTreeMap<&str, usize> = f
        .compromised
        .iter()
        .enumerate()
        .map(|(i, r)| (r.host.as_str(), i))
        .collect();
    let index = |name: &str| scn.host_by_name(name).map_or(usize::MAX, |h| h.index());
    let socket_index = |to: &str, sock: &str| {
        scn.host_by_name(to).map_or(usize::MAX, |h| {
            scn.host(h)
                .sockets
                .iter()
                .position(|x| x.text == sock)
                .unwrap_or(usize::MAX)
        })
    };
    let all: usize = f.edge_classes.iter().map(|c| c.pairs).sum();
    // (from, to) -> the target's first foothold socket reached.
    let mut arrows: BTreeMap<(usize, usize), (String, String, usize, String)> = BTreeMap::new();
    let mut add = |from: &str, to: &str, sock: &str| {
        let key = (taken.get(from).copied().unwrap_or(usize::MAX), index(to));
        let si = socket_index(to, sock);
        let e = arrows
            .entry(key)
            .or_insert_with(|| (from.to_string(), to.to_string(), si, sock.to_string()));
        if si < e.2 {
            e.2 = si;
            e.3 = sock.to_string();
        }
    };
    if all <= MERMAID_ARROWS {
        for c in &f.edge_classes {
            for a in &c.from {
                for b in c.to.iter().filter(|b| *b != a) {
                    add(a, b, &c.socket);
                }
            }
        }
    } else {
        for e in &f.edges {
            add(&e.from, &e.to, e.foothold.as_deref().unwrap_or(""));
        }
    }
    for (from, to, _, sock) in arrows.into_values() {
        let arrow = if on_path.contains(&(from.clone(), to.clone())) {
            "==>"
        } else {
            "-->"
        };
        let _ = writeln!(
            s,
            "  {} {arrow}|\"{}\"| {}",
            node_id(scn, &from),
            label(&sock),
            node_id(scn, &to)
        );
    }
    let _ = writeln!(s, "  classDef start fill:#fdd,stroke:#c00");
    let _ = writeln!(s, "  classDef jewel fill:#ffd,stroke:#a80,stroke-width:2px");
    let _ = writeln!(s, "  class {} start", node_id(scn, &f.from));
    let jewels: Vec<String> = f
        .jewels
        .iter()
        .filter(|j| j.host != f.from)
        .map(|j| node_id(scn, &j.host))
        .collect();
    if !jewels.is_empty() {
        let _ = writeln!(s, "  class {} jewel", jewels.join(","));
    }
    s
}
