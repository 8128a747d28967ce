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

use super::audit::per_source_reach_with_budget;
use super::budget::{value_bytes, Budget, Exceeded};
use super::reach::{
    example, path_rules, source_name, summarise, Example, Journey, Reach, ReachQuery, SpaceSummary,
};
use super::space::*;
use super::symbolic::{PathStep, Source, StepKind, ESTABLISHED};

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
    let s = &scn.host(j.host()).sockets[j.socket()];
    JourneyKey {
        source: source_name(scn, j.source),
        source_kind: match j.source {
            Source::Host(_) => "host".into(),
            Source::Network(_) => "network".into(),
        },
        host: scn.host(j.host()).name.clone(),
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
    /// The steps of that path the other scenario does not have: a filter rule
    /// whose text the filter of that name lacks there, a default policy that
    /// differs, a NAT rule or route the host of that name lacks there.
    pub changed: Vec<String>,
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
    diff_with_budget(old, new, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// [`diff`] within `budget`: both reaches, then each change (see [`super::budget`]).
pub fn diff_with_budget(old: &Scenario, new: &Scenario, budget: &Budget) -> Result<Diff, Exceeded> {
    let ro = per_source_reach_with_budget(old, &ReachQuery::default(), false, budget)?;
    let rn = per_source_reach_with_budget(new, &ReachQuery::default(), false, budget)?;
    diff_within(old, &ro, new, &rn, budget)
}

pub fn diff_with(old: &Scenario, ro: &Reach, new: &Scenario, rn: &Reach) -> Diff {
    let (ro, rn) = (&ro.to_per_target(old), &rn.to_per_target(new));
    diff_within(old, ro, new, rn, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

fn diff_within(
    old: &Scenario,
    ro: &Reach,
    new: &Scenario,
    rn: &Reach,
    budget: &Budget,
) -> Result<Diff, Exceeded> {
    let mo: BTreeMap<JourneyKey, &Journey> = ro.journeys.iter().map(|j| (key(old, j), j)).collect();
    let mn: BTreeMap<JourneyKey, &Journey> = rn.journeys.iter().map(|j| (key(new, j), j)).collect();
    let mut keys: Vec<&JourneyKey> = mo.keys().chain(mn.keys()).collect();
    keys.sort();
    keys.dedup();
    // Each key's changes, in the keys' order. (On every core this took 85 s
    // instead of 98 s for the 2,000-host `break` diff and twice the memory,
    // 11 GB: most of the work is tracing an example on the other side.)
    let per_key = keys.iter().map(|k| {
        let (o, n) = (mo.get(*k), mn.get(*k));
        let g = n.and_then(|nj| {
            let g = minus(&nj.space(), o.map(|j| j.space()).as_ref());
            (!g.is_empty()).then(|| change(new, nj, &g, o.is_none(), old))
        });
        let l = o.and_then(|oj| {
            let l = minus(&oj.space(), n.map(|j| j.space()).as_ref());
            (!l.is_empty()).then(|| change(old, oj, &l, n.is_none(), new))
        });
        let same = g.is_none() && l.is_none() && o.is_some() && n.is_some();
        (g.flatten(), l.flatten(), same)
    });
    let mut gained = Vec::new();
    let mut lost = Vec::new();
    let mut unchanged = 0;
    for (g, l, same) in per_key {
        budget.charge(value_bytes(&g) + value_bytes(&l))?;
        gained.extend(g);
        lost.extend(l);
        unchanged += usize::from(same);
    }
    Ok(Diff {
        schema: 1,
        old: side(old, ro),
        new: side(new, rn),
        gained,
        lost,
        unchanged,
    })
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
    let path = j
        .paths
        .iter()
        .find(|(_, s)| s.0.iter().any(|c| contains(c, &ex)))
        .map(|(p, _)| p);
    let rules = path.map(|p| path_rules(here, p)).unwrap_or_default();
    let changed = path
        .map(|p| changed_steps(here, p, there))
        .unwrap_or_default();
    let s = &here.host(j.host()).sockets[j.socket()];
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
        changed,
        other_side,
    })
}

/// The steps of `path` (in `here`, the request's and the reply's) that
/// `there` does not have, matched by the filter's or host's name and the
/// declaration's text: a filter rule, a default policy, whether a filter is
/// stateful, a NAT rule, a route. What a path does not show (a filter attached
/// where there was none, an address, a socket) is not compared: the other
/// side's decider says it.
fn changed_steps(here: &Scenario, path: &[PathStep], there: &Scenario) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in path {
        let reply = if s.reply() { " (reply)" } else { "" };
        let host = here.hosts.get(s.device());
        let other_host = host.and_then(|h| there.host_by_name(&h.name).map(|o| there.host(o)));
        let host_name = host.map(|h| h.name.as_str()).unwrap_or_default();
        let step = match s.kind() {
            StepKind::Filter { filter, rule } => {
                let f = here.filter(filter);
                let other = there.filters.iter().find(|o| o.name == f.name);
                if other.is_some_and(|o| o.stateful != f.stateful) {
                    let kind = if f.stateful { "stateful" } else { "stateless" };
                    out.push(format!("{} {kind}", f.name));
                }
                match rule {
                    Some(i) if i == ESTABLISHED => None,
                    Some(i) => {
                        let r = &f.rules[i as usize];
                        (!other.is_some_and(|o| o.rules.iter().any(|x| x.text == r.text))).then(
                            || match &r.source {
                                Some(src) => format!("{} {src} `{}`", f.name, r.text),
                                None => format!("{} rule {} `{}`", f.name, i + 1, r.text),
                            },
                        )
                    }
                    None => other
                        .is_none_or(|o| o.default != f.default)
                        .then(|| format!("{} default {}", f.name, f.default.name())),
                }
            }
            StepKind::Dnat(i) | StepKind::Snat(i) => host
                .and_then(|h| h.nat.get(i as usize))
                .filter(|n| !other_host.is_some_and(|o| o.nat.iter().any(|x| x.text == n.text)))
                .map(|n| format!("{host_name} nat `{}`", n.text)),
            StepKind::Route(i) => host
                .and_then(|h| h.routes.get(i as usize))
                .filter(|r| !other_host.is_some_and(|o| o.routes.iter().any(|x| x.text == r.text)))
                .map(|r| format!("{host_name} route `{}`", r.text)),
            _ => None,
        };
        out.extend(step.map(|t| format!("{t}{reply}")));
    }
    // A step a path passes twice (there and back) is named once.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out
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
    for (title, list, here, there, mark, fresh) in [
        (
            "gained",
            &d.gained,
            "allowed by",
            "before",
            "+",
            "not in the old scenario",
        ),
        (
            "lost",
            &d.lost,
            "was allowed by",
            "now",
            "-",
            "not in the new scenario",
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n{title} ({}):", list.len());
        for group in change_groups(list) {
            let first = &list[group[0]];
            let decided: Vec<String> = group
                .iter()
                .filter_map(|&i| list[i].other_side.as_ref().map(Decider::text))
                .collect();
            if first.changed.is_empty() {
                let decider = first
                    .other_side
                    .as_ref()
                    .map(Decider::text)
                    .unwrap_or_else(|| "not traced".into());
                let _ = writeln!(
                    s,
                    "  {} whose path's rules, NAT and routes are all also in the {} scenario; \
                     {there}: {decider}",
                    group.len(),
                    if title == "gained" { "old" } else { "new" }
                );
            } else {
                let _ = writeln!(
                    s,
                    "  {} through {} ({fresh})",
                    group.len(),
                    first.changed.join(", ")
                );
            }
            if group.len() > SHOWN {
                let sources: Vec<&str> = group.iter().map(|&i| list[i].source.as_str()).collect();
                let targets: Vec<String> = group
                    .iter()
                    .map(|&i| {
                        let c = &list[i];
                        let sock = c.socket.split_whitespace().next().unwrap_or_default();
                        format!("{} {sock}", c.host)
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "      from {}\n      to {}",
                    super::name_list(sources.iter().copied()),
                    super::name_list(targets.iter().map(String::as_str))
                );
                if !first.changed.is_empty() {
                    let _ = writeln!(
                        s,
                        "      {there}: {}",
                        by_count(&decided.iter().map(String::as_str).collect::<Vec<_>>())
                    );
                }
            }
            for &i in group.iter().take(SHOWN) {
                let c = &list[i];
                let part = if c.whole { "" } else { " (in part)" };
                let _ = writeln!(
                    s,
                    "    {mark} {} -> {} {}{part}",
                    c.source, c.host, c.socket
                );
                let _ = writeln!(
                    s,
                    "        packets: {} from {} to {}{}",
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
                let _ = writeln!(s, "        example: {}", example_line(&c.example));
                let _ = writeln!(s, "        {here}: {}", super::reach::rules_text(&c.rules));
                if let Some(o) = &c.other_side {
                    let _ = writeln!(s, "        {there}: {}", o.text());
                }
            }
            if group.len() > SHOWN {
                let _ = writeln!(
                    s,
                    "    … and {} more (--format json lists each)",
                    group.len() - SHOWN
                );
            }
        }
    }
    s
}

/// A group of changes lists this many in full.
const SHOWN: usize = 10;

/// Changes put together by the steps responsible (and, when no step of the
/// path is new, by what decided them on the other side), largest first.
fn change_groups(list: &[Change]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: BTreeMap<(Vec<String>, Option<String>), usize> = BTreeMap::new();
    for (i, c) in list.iter().enumerate() {
        let other = if c.changed.is_empty() {
            c.other_side.as_ref().map(Decider::text)
        } else {
            None
        };
        let key = (c.changed.clone(), other);
        match group_of.get(&key) {
            Some(&g) => groups[g].push(i),
            None => {
                group_of.insert(key, groups.len());
                groups.push(vec![i]);
            }
        }
    }
    // Largest first; among equals, in the order they first came.
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    groups
}

/// Distinct texts with how often each comes, most first, up to five.
fn by_count(texts: &[&str]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in texts {
        *counts.entry(t).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let more = v.len().saturating_sub(5);
    let mut out: Vec<String> = v
        .iter()
        .take(5)
        .map(|(t, n)| format!("{t} ({n})"))
        .collect();
    if more > 0 {
        out.push(format!("and {more} more"));
    }
    out.join("; ")
}

pub fn render_json(d: &Diff) -> String {
    let mut s = serde_json::to_string_pretty(d).expect("plain values serialise");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{large, SynthParams};

    /// The text's groups hold every change once, each with changes alike
    /// only, largest first, and the text lists at most `SHOWN` of each.
    #[test]
    fn groups_partition_the_changes_by_their_cause() {
        let text = large(&SynthParams::sized(2, 120));
        let old = crate::load("synth.yaml", &text, None).expect("generated");
        let new = crate::load("synth.yaml", &text, Some("break")).expect("its break variant");
        let mut big = 0;
        for d in [diff(&old, &new), diff(&new, &old)] {
            for list in [&d.gained, &d.lost] {
                let groups = change_groups(list);
                let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..list.len()).collect::<Vec<_>>());
                assert!(groups.windows(2).all(|w| w[0].len() >= w[1].len()));
                for g in &groups {
                    let f = &list[g[0]];
                    for &i in g {
                        assert_eq!(list[i].changed, f.changed);
                        if f.changed.is_empty() {
                            assert_eq!(list[i].other_side, f.other_side);
                        }
                    }
                    big += usize::from(g.len() > SHOWN);
                }
            }
            let text = render_text(&d);
            let listed = text
                .lines()
                .filter(|l| l.starts_with("    + ") || l.starts_with("    - "))
                .count();
            let want: usize = [&d.gained, &d.lost]
                .iter()
                .flat_map(|list| change_groups(list))
                .map(|g| g.len().min(SHOWN))
                .sum();
            assert_eq!(listed, want);
        }
        assert!(
            big > 0,
            "the generated break variant makes a group of more than {SHOWN}"
        );
    }
}
