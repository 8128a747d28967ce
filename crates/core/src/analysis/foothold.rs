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
use super::reach::{example, path_rules, reach_with_budget, Example, ReachQuery};
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
    /// Every edge found from a compromised host, in discovery order.
    pub edges: Vec<Edge>,
    /// Each sensitive host, with the shortest attack path to it.
    pub jewels: Vec<Jewel>,
}

/// Whether reaching this socket gives a foothold on its host.
pub fn gives_foothold(s: &Socket) -> bool {
    s.proto == Proto::Tcp && !s.bind.is_loopback()
}

/// Edges out of one host: per target host, the sockets it reaches.
fn edges_from(
    engine: &Engine,
    scn: &Scenario,
    h: HostId,
    budget: &Budget,
) -> Result<Vec<(HostId, Edge)>, Exceeded> {
    // One source: a class of one, so the journeys are this host's own.
    let r = reach_with_budget(
        engine,
        &ReachQuery {
            from: Some(vec![Source::Host(h)]),
            to: None,
        },
        false,
        &budget.scoped(),
    )?;
    let r = r.to_per_target(scn);
    let mut by_host: BTreeMap<HostId, Vec<&super::reach::Journey>> = BTreeMap::new();
    for j in &r.journeys {
        if j.host() != h {
            by_host.entry(j.host()).or_default().push(j);
        }
    }
    let mut out = Vec::new();
    for (t, mut js) in by_host {
        js.sort_by_key(|j| j.socket());
        let target = scn.host(t);
        let sockets = js
            .iter()
            .map(|j| target.sockets[j.socket()].text.clone())
            .collect();
        let foot = js
            .iter()
            .find(|j| gives_foothold(&target.sockets[j.socket()]));
        let (foothold, ex, rules) = match foot {
            Some(j) => {
                let (path, space) = &j.paths[0];
                (
                    Some(target.sockets[j.socket()].text.clone()),
                    example(space),
                    path_rules(scn, path),
                )
            }
            None => (None, None, Vec::new()),
        };
        out.push((
            t,
            Edge {
                from: scn.host(h).name.clone(),
                to: target.name.clone(),
                sockets,
                foothold,
                example: ex,
                rules,
            },
        ));
    }
    Ok(out)
}

/// The blast radius of a compromise of `from`.
pub fn foothold(scn: &Scenario, from: HostId) -> Foothold {
    foothold_with_budget(scn, from, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// [`foothold`] within `budget`: each host's step, then each edge kept (see
/// [`super::budget`]).
pub fn foothold_with_budget(
    scn: &Scenario,
    from: HostId,
    budget: &Budget,
) -> Result<Foothold, Exceeded> {
    let engine = Engine::new(scn);
    let n = scn.hosts.len();
    let mut parent: Vec<Option<(HostId, usize)>> = vec![None; n];
    let mut depth: Vec<Option<usize>> = vec![None; n];
    let mut order = Vec::new();
    let mut edges: Vec<Edge> = Vec::new();
    let mut direct = Vec::new();
    depth[from.index()] = Some(0);
    let mut queue = VecDeque::from([from]);
    let mut widest = 0;
    while let Some(h) = queue.pop_front() {
        order.push(h);
        let d = depth[h.index()].expect("queued hosts have a depth");
        // (A step over what is left is over this budget.)
        let out = edges_from(&engine, scn, h, budget).map_err(|e| match e {
            Exceeded::TooLarge { .. } => Exceeded::TooLarge {
                limit: budget.limit(),
            },
            e => e,
        })?;
        for (t, e) in out {
            let bytes = value_bytes(&e);
            widest = widest.max(bytes);
            // (An edge of the start is kept twice: in `direct` too.)
            budget.charge(bytes * (1 + u64::from(h == from)))?;
            if h == from {
                direct.push(e.clone());
            }
            if e.foothold.is_none() {
                continue;
            }
            edges.push(e);
            if depth[t.index()].is_none() {
                depth[t.index()] = Some(d + 1);
                parent[t.index()] = Some((h, edges.len() - 1));
                queue.push_back(t);
            }
        }
    }
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
        schema: 1,
        scenario: scn.name.clone(),
        variant: scn.variant.clone(),
        from: scn.host(from).name.clone(),
        direct,
        compromised,
        edges,
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
    // One arrow per edge whose target was taken over, shortest-path edges bold.
    let on_path: std::collections::BTreeSet<(String, String)> = f
        .jewels
        .iter()
        .flat_map(|j| j.edges.iter().map(|e| (e.from.clone(), e.to.clone())))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for e in &f.edges {
        if !seen.insert((e.from.clone(), e.to.clone())) {
            continue;
        }
        let arrow = if on_path.contains(&(e.from.clone(), e.to.clone())) {
            "==>"
        } else {
            "-->"
        };
        let _ = writeln!(
            s,
            "  {} {arrow}|\"{}\"| {}",
            node_id(scn, &e.from),
            label(e.foothold.as_deref().unwrap_or("")),
            node_id(scn, &e.to)
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
