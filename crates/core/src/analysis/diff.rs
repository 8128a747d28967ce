//! `diff`: the journeys a change adds and removes.
//!
//! Both scenarios are analysed over every source. Journeys are matched by
//! name: the source (host or network name) and the target socket (host name,
//! protocol, port, bind address). For each matched pair the packets that now
//! connect and did not (gained) and the reverse (lost) are computed exactly
//! with the cube algebra. Each change is explained from both sides: the rules
//! of the path in the scenario where the packets connect, and the hop that
//! stops an example packet of the change in the other scenario (traced with
//! the single-packet tracer).

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use crate::evidence::OutcomeKind;
use crate::model::*;
use crate::{trace, Query};

use super::audit::per_source_reach;
use super::reach::{
    example, path_rules, source_name, summarise, Example, Journey, Reach, ReachQuery, SpaceSummary,
};
use super::space::*;
use super::symbolic::Source;

/// What decides an example packet in a scenario: the outcome of its trace and
/// the hop that ended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decider {
    /// The trace's outcome (`reached`, `dropped`, `rejected`, …).
    pub outcome: String,
    /// The device of the deciding hop.
    pub at: Option<String>,
    /// The stage of the deciding hop (`filter`, `route`, `socket`, …).
    pub stage: Option<String>,
    /// The declaration that decided, as `kind owner #index: text`.
    pub rule: Option<String>,
    pub line: Option<u32>,
    /// When no trace could be made (the source or target is absent there).
    pub note: Option<String>,
}

impl Decider {
    pub fn text(&self) -> String {
        if let Some(n) = &self.note {
            return n.clone();
        }
        let mut s = self.outcome.clone();
        if let Some(at) = &self.at {
            let _ = write!(s, " at {at}");
        }
        if let Some(st) = &self.stage {
            let _ = write!(s, " ({st})");
        }
        if let Some(r) = &self.rule {
            let _ = write!(s, " by {r}");
        }
        if let Some(l) = self.line {
            let _ = write!(s, " (line {l})");
        }
        s
    }
}

fn stage_name<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn addr_port(a: IpAddr, p: u16) -> String {
    match a {
        IpAddr::V6(v) => format!("[{v}]:{p}"),
        IpAddr::V4(v) => format!("{v}:{p}"),
    }
}

/// Traces `ex` from the source named `name` through `scn` and returns the hop
/// that decided it. A network source sends from the example's address.
pub fn deciding_hop(scn: &Scenario, kind: Source, name: &str, ex: &Example) -> Option<Decider> {
    let from = match kind {
        Source::Host(_) => name.to_string(),
        Source::Network(_) => format!("{name}@{}", ex.src),
    };
    let to = if ex.proto == Proto::Icmp {
        ex.dst.to_string()
    } else {
        addr_port(ex.dst, ex.dport)
    };
    let mut q = Query::new(&from, &to);
    q.proto = ex.proto;
    q.sport = Some(ex.sport);
    q.ipv6 = ex.dst.is_ipv6();
    let t = match trace(scn, &q) {
        Ok(t) => t,
        Err(e) => {
            return Some(Decider {
                outcome: "not traced".into(),
                at: None,
                stage: None,
                rule: None,
                line: None,
                note: Some(format!("not traced: {}", e.message)),
            });
        }
    };
    let hop = t
        .outcome
        .step
        .and_then(|st| t.hops.iter().find(|h| h.step == st));
    let hop = match (hop, t.outcome.kind) {
        (Some(h), _) => Some(h),
        // Reached: the socket that accepted it.
        (None, OutcomeKind::Reached) => t
            .hops
            .iter()
            .rev()
            .find(|h| h.stage == crate::evidence::Stage::Socket),
        _ => None,
    };
    Some(Decider {
        outcome: t.outcome.kind.name().to_string(),
        at: hop
            .map(|h| h.device.clone())
            .or_else(|| t.outcome.at.clone()),
        stage: hop.map(|h| stage_name(&h.stage)),
        rule: hop.and_then(|h| h.rule.as_ref()).map(|r| {
            let owner = r
                .owner
                .as_ref()
                .map(|o| format!(" {o}"))
                .unwrap_or_default();
            let idx = r.index.map(|i| format!(" #{i}")).unwrap_or_default();
            format!("{}{owner}{idx}: {}", r.kind, r.text)
        }),
        line: hop.and_then(|h| h.rule.as_ref()).map(|r| r.line),
        note: None,
    })
}

/// A journey's identity across two scenarios.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct JourneyKey {
    pub source: String,
    /// `host` or `network`.
    pub source_kind: String,
    pub host: String,
    pub proto: Proto,
    pub port: u16,
    pub bind: IpAddr,
}

fn key(scn: &Scenario, j: &Journey) -> JourneyKey {
    let s = &scn.host(j.host).sockets[j.socket];
    JourneyKey {
        source: source_name(scn, j.source),
        source_kind: match j.source {
            Source::Host(_) => "host".into(),
            Source::Network(_) => "network".into(),
        },
        host: scn.host(j.host).name.clone(),
        proto: s.proto,
        port: s.port,
        bind: s.bind,
    }
}

/// One gained or lost part of a journey.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub source: String,
    pub source_kind: String,
    pub host: String,
    /// The socket as written (`tcp/22 ssh`).
    pub socket: String,
    /// Whether the journey exists at all on the other side (false: only part of it changed).
    pub whole: bool,
    pub packets: SpaceSummary,
    pub example: Example,
    /// The rules that let the example through where it connects.
    pub rules: Vec<String>,
    /// What stops the example on the other side.
    pub other_side: Option<Decider>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub scenario: String,
    pub file: String,
    pub variant: Option<String>,
    pub journeys: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub schema: u32,
    pub old: Side,
    pub new: Side,
    pub gained: Vec<Change>,
    pub lost: Vec<Change>,
    /// Journeys present in both with exactly the same packets.
    pub unchanged: usize,
}

fn side(scn: &Scenario, r: &Reach) -> Side {
    Side {
        scenario: scn.name.clone(),
        file: scn.file.clone(),
        variant: scn.variant.clone(),
        journeys: r.journeys.len(),
    }
}

/// Journeys gained and lost from `old` to `new`.
pub fn diff(old: &Scenario, new: &Scenario) -> Diff {
    let ro = per_source_reach(old, &ReachQuery::default(), false);
    let rn = per_source_reach(new, &ReachQuery::default(), false);
    diff_with(old, &ro, new, &rn)
}

pub fn diff_with(old: &Scenario, ro: &Reach, new: &Scenario, rn: &Reach) -> Diff {
    let mo: BTreeMap<JourneyKey, &Journey> = ro.journeys.iter().map(|j| (key(old, j), j)).collect();
    let mn: BTreeMap<JourneyKey, &Journey> = rn.journeys.iter().map(|j| (key(new, j), j)).collect();
    let mut gained = Vec::new();
    let mut lost = Vec::new();
    let mut unchanged = 0;
    let mut keys: Vec<&JourneyKey> = mo.keys().chain(mn.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (o, n) = (mo.get(k), mn.get(k));
        let mut changed = false;
        if let Some(nj) = n {
            let g = minus(&nj.space(), o.map(|j| j.space()).as_ref());
            if !g.is_empty() {
                changed = true;
                gained.extend(change(new, nj, &g, o.is_none(), old));
            }
        }
        if let Some(oj) = o {
            let l = minus(&oj.space(), n.map(|j| j.space()).as_ref());
            if !l.is_empty() {
                changed = true;
                lost.extend(change(old, oj, &l, n.is_none(), new));
            }
        }
        if !changed && o.is_some() && n.is_some() {
            unchanged += 1;
        }
    }
    Diff {
        schema: 1,
        old: side(old, ro),
        new: side(new, rn),
        gained,
        lost,
        unchanged,
    }
}

fn minus(a: &Space, b: Option<&Space>) -> Space {
    match b {
        None => a.clone(),
        Some(b) => a.split(&b.0).1,
    }
}

/// A change: `space` (part of `j` in `here`) does not connect in `there`.
fn change(
    here: &Scenario,
    j: &Journey,
    space: &Space,
    whole: bool,
    there: &Scenario,
) -> Option<Change> {
    let ex = example(space)?;
    let k = key(here, j);
    // The path of `here` that carries the example.
    let rules = j
        .paths
        .iter()
        .find(|(_, s)| s.0.iter().any(|c| contains(c, &ex)))
        .map(|(p, _)| path_rules(here, p))
        .unwrap_or_default();
    let s = &here.host(j.host).sockets[j.socket];
    // The same source in the other scenario, by name.
    let other_kind = match j.source {
        Source::Host(_) => there.host_by_name(&k.source).map(Source::Host),
        Source::Network(_) => there.network_by_name(&k.source).map(Source::Network),
    };
    let other_side = match other_kind {
        Some(kind) => deciding_hop(there, kind, &k.source, &ex),
        None => Some(Decider {
            outcome: "absent".into(),
            at: None,
            stage: None,
            rule: None,
            line: None,
            note: Some(format!(
                "{} {} does not exist there",
                k.source_kind, k.source
            )),
        }),
    };
    Some(Change {
        source: k.source,
        source_kind: k.source_kind,
        host: k.host,
        socket: s.text.clone(),
        whole,
        packets: summarise(space),
        example: ex,
        rules,
        other_side,
    })
}

fn contains(c: &Cube, e: &Example) -> bool {
    let (s, d) = (addr_u128(e.src), addr_u128(e.dst));
    c.fam == Fam::of(e.src)
        && c.proto & proto_bit(e.proto) != 0
        && c.src.0 <= s
        && s <= c.src.1
        && c.dst.0 <= d
        && d <= c.dst.1
        && c.sport.0 <= e.sport
        && e.sport <= c.sport.1
        && c.dport.0 <= e.dport
        && e.dport <= c.dport.1
}

fn side_name(s: &Side) -> String {
    match &s.variant {
        Some(v) => format!("{} (variant {v})", s.scenario),
        None => format!("{} ({})", s.scenario, s.file),
    }
}

/// One example packet on one line (`tcp 10.0.1.10:49152 -> 10.0.3.10:5432`).
pub fn example_line(e: &Example) -> String {
    if e.proto == Proto::Icmp {
        format!("icmp {} -> {}", e.src, e.dst)
    } else {
        format!(
            "{} {} -> {}",
            e.proto,
            addr_port(e.src, e.sport),
            addr_port(e.dst, e.dport)
        )
    }
}

fn short(v: &[String], max: usize) -> String {
    if v.len() <= max {
        v.join(", ")
    } else {
        format!("{}, … ({} in all)", v[..max].join(", "), v.len())
    }
}

pub fn render_text(d: &Diff) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "diff {} -> {}", side_name(&d.old), side_name(&d.new));
    let _ = writeln!(
        s,
        "journeys: {} before, {} after; {} gained, {} lost, {} unchanged",
        d.old.journeys,
        d.new.journeys,
        d.gained.len(),
        d.lost.len(),
        d.unchanged
    );
    for (title, list, here, there) in [
        ("gained", &d.gained, "allowed by", "before"),
        ("lost", &d.lost, "was allowed by", "now"),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title} ({}):", list.len());
        for c in list {
            let part = if c.whole { "" } else { " (in part)" };
            let _ = writeln!(
                s,
                "  {} {} -> {} {}{part}",
                if title == "gained" { "+" } else { "-" },
                c.source,
                c.host,
                c.socket
            );
            let _ = writeln!(
                s,
                "      packets: {} from {} to {}{}",
                c.packets
                    .protocols
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(","),
                short(&c.packets.sources, 4),
                short(&c.packets.destinations, 4),
                if c.packets.ports.is_empty() {
                    String::new()
                } else {
                    format!(" port {}", short(&c.packets.ports, 6))
                }
            );
            let _ = writeln!(s, "      example: {}", example_line(&c.example));
            let _ = writeln!(
                s,
                "      {here}: {}",
                if c.rules.is_empty() {
                    "no filter on the way".into()
                } else {
                    c.rules.join(", ")
                }
            );
            if let Some(o) = &c.other_side {
                let _ = writeln!(s, "      {there}: {}", o.text());
            }
        }
    }
    s
}

pub fn render_json(d: &Diff) -> String {
    let mut s = serde_json::to_string_pretty(d).expect("plain values serialise");
    s.push('\n');
    s
}
