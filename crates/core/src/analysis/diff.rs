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
use crate::journey::filter::FilterIndex;
use crate::model::*;
use crate::{trace, Query};

use super::budget::{value_bytes, Budget, Exceeded};
use super::classes::{members_ranges, sends_any};
use super::reach::{
    at_source, example, path_rules, reach_with_budget, source_name, summarise, Example, Reach,
    ReachQuery, SpaceSummary, Target,
};
use super::space::*;
use super::symbolic::{Engine, PathStep, Source, StepKind, ESTABLISHED};

/// What decides an example packet in a scenario: the outcome of its trace and
/// the hop that ended it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
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
    deciding_hop_with(scn, None, kind, name, ex)
}

/// [`deciding_hop`] with the scenario's filters indexed (the same answer).
pub(crate) fn deciding_hop_with(
    scn: &Scenario,
    index: Option<&FilterIndex>,
    kind: Source,
    name: &str,
    ex: &Example,
) -> Option<Decider> {
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
    let traced = match index {
        Some(ix) => crate::journey::trace_indexed(scn, &q, ix),
        None => trace(scn, &q),
    };
    let t = match traced {
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
    /// Every source of the change (names), sorted: `source` is the one the
    /// example is from.
    pub sources: Vec<String>,
    /// Every socket of the change, in the scenario's order: `host` and
    /// `socket` are the one the example goes to.
    pub targets: Vec<ChangeTarget>,
    /// The (source, socket) pairs the change stands for: every source with
    /// every socket, but a host with its own.
    pub pairs: usize,
}

/// A socket of a change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ChangeTarget {
    pub host: String,
    /// The socket as written (`tcp/22 ssh`).
    pub socket: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub scenario: String,
    pub file: String,
    pub variant: Option<String>,
    /// The (source, socket) pairs that connect.
    pub journeys: usize,
    /// The classes of them (see `reach`).
    pub classes: usize,
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
        journeys: r.pairs(),
        classes: r.journeys.len(),
    }
}

/// Journeys gained and lost from `old` to `new`.
pub fn diff(old: &Scenario, new: &Scenario) -> Diff {
    diff_with_budget(old, new, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// [`diff`] within `budget`: both reaches, then each change (see [`super::budget`]).
///
/// The two sides are walked at the same time, each on every core: a
/// reach's serial parts (its engine, putting its classes in order) leave
/// the cores idle, and the other side's walk fills them. Each side's
/// engine serves its reach and then its changes.
pub fn diff_with_budget(old: &Scenario, new: &Scenario, budget: &Budget) -> Result<Diff, Exceeded> {
    let record = super::consulted::current();
    let side = |scn| {
        super::consulted::recording(record.clone(), || {
            let engine = Engine::new(scn);
            let r = reach_with_budget(&engine, &ReachQuery::default(), false, budget);
            (engine, r)
        })
    };
    let ((eo, ro), (en, rn)) = std::thread::scope(|sc| {
        let o = sc.spawn(|| side(old));
        let n = side(new);
        (o.join().expect("a diff's reach panicked"), n)
    });
    let (ro, rn) = (ro?, rn?);
    let d = diff_within(old, &ro, eo, new, &rn, en, budget);
    super::reach::free_later(ro);
    super::reach::free_later(rn);
    d
}

pub fn diff_with(old: &Scenario, ro: &Reach, new: &Scenario, rn: &Reach) -> Diff {
    let (eo, en) = (Engine::new(old), Engine::new(new));
    diff_within(old, ro, eo, new, rn, en, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// A socket's identity across two scenarios: host name, protocol, port, bind.
type SocketKey = (String, Proto, u16, IpAddr);
/// A source's identity across two scenarios: whether it is a network, its name.
type SourceKey = (bool, String);

fn socket_key(scn: &Scenario, t: Target) -> SocketKey {
    let h = scn.host(t.host);
    let s = &h.sockets[t.socket];
    (h.name.clone(), s.proto, s.port, s.bind)
}

fn source_key(scn: &Scenario, s: Source) -> SourceKey {
    (matches!(s, Source::Network(_)), source_name(scn, s))
}

/// Every source's key on both sides, numbered in key order: a row puts its
/// sources in key order by their numbers, without copying or comparing
/// names (a row of the generated 2,000 hosts has thousands of sources, and
/// a diff thousands of rows).
struct SourceKeys {
    keys: Vec<SourceKey>,
    /// Per side (old, new): each source's number, by [`super::reach::all_sources`]' order.
    numbers: [Vec<u32>; 2],
    /// Per side: where its networks start in that order (after its hosts).
    nets_at: [usize; 2],
}

impl SourceKeys {
    fn new(old: &Scenario, new: &Scenario) -> SourceKeys {
        let sides = [old, new].map(|scn| {
            super::reach::all_sources(scn)
                .into_iter()
                .map(|s| source_key(scn, s))
                .collect::<Vec<_>>()
        });
        let mut keys: Vec<SourceKey> = sides.iter().flatten().cloned().collect();
        keys.sort_unstable();
        keys.dedup();
        let numbers = sides.map(|side| {
            side.iter()
                .map(|k| keys.binary_search(k).expect("every key is listed") as u32)
                .collect()
        });
        SourceKeys {
            keys,
            numbers,
            nets_at: [old.hosts.len(), new.hosts.len()],
        }
    }

    /// The number of a source of the new side, or of the old.
    fn number(&self, new_side: bool, s: Source) -> u32 {
        let side = usize::from(new_side);
        let at = match s {
            Source::Host(h) => h.index(),
            Source::Network(n) => self.nets_at[side] + n.0 as usize,
        };
        self.numbers[side][at]
    }
}

/// One side of a diff: its scenario, answer and engine.
struct DiffSide<'a> {
    scn: &'a Scenario,
    r: &'a Reach,
    engine: Engine<'a>,
    /// Its filters indexed, for the traces of the other side's examples.
    index: FilterIndex<'a>,
    /// Its filters' rules by text, to tell the other side's changed steps.
    texts: RuleTexts<'a>,
}

impl DiffSide<'_> {
    /// Class `ji`'s packets told for its target `k`, with the packets of
    /// `members` only: path by path (by their place in the class), the
    /// paths without any left out. The steps of a path are
    /// [`Journey::path_for`] (made only for the path that is shown).
    fn spaces(&self, ji: usize, k: usize, members: &[Source]) -> Vec<(usize, Space)> {
        let ranges = members_ranges(&self.engine, members);
        self.r.journeys[ji]
            .spaces_from(self.scn, k, &ranges)
            .into_iter()
            .enumerate()
            .filter(|(_, sp)| !sp.is_empty())
            .collect()
    }
}

fn union(paths: &[(usize, Space)]) -> Space {
    Space(
        paths
            .iter()
            .flat_map(|(_, s)| s.0.iter().copied())
            .collect(),
    )
}

/// A socket of a diff's row: its key and, on each side where a class
/// reaches it, the socket and its position among each class's targets.
struct RowSocket {
    key: SocketKey,
    old: Option<(Target, Vec<usize>)>,
    new: Option<(Target, Vec<usize>)>,
}

/// Sockets reached by the same classes on both sides.
struct DiffRow {
    old: Vec<usize>,
    new: Vec<usize>,
    sockets: Vec<RowSocket>,
}

fn diff_rows(o: &DiffSide, n: &DiffSide) -> Vec<DiffRow> {
    type Reached = (Target, Vec<(usize, usize)>);
    let index = |s: &DiffSide| {
        let mut m: BTreeMap<Target, Vec<(usize, usize)>> = BTreeMap::new();
        for (ji, j) in s.r.journeys.iter().enumerate() {
            for (k, t) in j.targets.iter().enumerate() {
                m.entry(*t).or_default().push((ji, k));
            }
        }
        m.into_iter()
            .map(|(t, v)| (socket_key(s.scn, t), (t, v)))
            .collect::<BTreeMap<SocketKey, Reached>>()
    };
    let (mut io, mut inn) = (index(o), index(n));
    let mut keys: Vec<SocketKey> = io.keys().chain(inn.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<DiffRow> = Vec::new();
    let mut row_of: BTreeMap<(Vec<usize>, Vec<usize>), usize> = BTreeMap::new();
    for key in keys {
        let split = |x: Option<Reached>| -> (Vec<usize>, Option<(Target, Vec<usize>)>) {
            match x {
                None => (Vec::new(), None),
                Some((t, v)) => (
                    v.iter().map(|p| p.0).collect(),
                    Some((t, v.iter().map(|p| p.1).collect())),
                ),
            }
        };
        let (jo, old) = split(io.remove(&key));
        let (jn, new) = split(inn.remove(&key));
        let sock = RowSocket { key, old, new };
        match row_of.get(&(jo.clone(), jn.clone())) {
            Some(&i) => rows[i].sockets.push(sock),
            None => {
                row_of.insert((jo.clone(), jn.clone()), rows.len());
                rows.push(DiffRow {
                    old: jo,
                    new: jn,
                    sockets: vec![sock],
                });
            }
        }
    }
    rows
}

/// A source of a block: its key and its identity on each side.
type BlockSource<'k> = (&'k SourceKey, Option<Source>, Option<Source>);

/// The (source, socket) pairs of a group of sources and sockets: every
/// source with every socket, but a host with its own (matched by name).
fn pairs_by_name(sources: &[BlockSource], sockets: &[&RowSocket]) -> usize {
    let hosts: std::collections::BTreeSet<&str> = sources
        .iter()
        .filter(|s| !s.0 .0)
        .map(|s| s.0 .1.as_str())
        .collect();
    sockets
        .iter()
        .map(|t| sources.len() - usize::from(hosts.contains(t.key.0.as_str())))
        .sum()
}

/// The diff of two reaches, each with the engine that walked it (its
/// scenario's).
fn diff_within<'a>(
    old: &'a Scenario,
    ro: &'a Reach,
    eo: Engine<'a>,
    new: &'a Scenario,
    rn: &'a Reach,
    en: Engine<'a>,
    budget: &Budget,
) -> Result<Diff, Exceeded> {
    let o = DiffSide {
        scn: old,
        r: ro,
        engine: eo,
        index: FilterIndex::new(old),
        texts: RuleTexts::new(old),
    };
    let n = DiffSide {
        scn: new,
        r: rn,
        engine: en,
        index: FilterIndex::new(new),
        texts: RuleTexts::new(new),
    };
    let rows = diff_rows(&o, &n);
    let keys = SourceKeys::new(old, new);
    // Rows are independent: on every core, each worker taking the next row,
    // then put back in row order, so the answer does not depend on timing.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(rows.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let record = super::consulted::current();
    let work = || {
        super::consulted::recording(record.clone(), || {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                let done = row_changes(&o, &n, &keys, row, budget);
                let stop = done.is_err();
                mine.push((i, done));
                if stop {
                    break;
                }
            }
            mine
        })
    };
    let mut parts: Vec<(usize, Result<RowChanges, Exceeded>)> = if threads < 2 {
        work()
    } else {
        std::thread::scope(|sc| {
            let workers: Vec<_> = (0..threads).map(|_| sc.spawn(work)).collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a diff worker panicked"))
                .collect()
        })
    };
    parts.sort_by_key(|(i, _)| *i);
    let mut gained = Vec::new();
    let mut lost = Vec::new();
    let mut unchanged = 0;
    for (_, part) in parts {
        let (g, l, u) = part?;
        gained.extend(g);
        lost.extend(l);
        unchanged += u;
    }
    sort_changes(&mut gained);
    sort_changes(&mut lost);
    Ok(Diff {
        schema: 2,
        old: side(old, ro),
        new: side(new, rn),
        gained,
        lost,
        unchanged,
    })
}

/// Sorts changes by their first source, its kind and their first socket,
/// stably: the order is found on keys made once and side by side, then each
/// change is moved once ([`put_in_order`]). Sorting the changes themselves
/// (hundreds of bytes each), with their keys' strings cloned at every
/// comparison, took 0.6 s of one thread on a diff of 130,000 changes, and a
/// buffer of half of them; comparing them in place read two changes from
/// wherever they were at every step.
fn sort_changes(list: &mut [Change]) {
    let mut keys: Vec<(Option<&String>, &String, Option<&ChangeTarget>, usize)> = list
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sources.first(), &c.source_kind, c.targets.first(), i))
        .collect();
    // Unstable but with the position last: the stable order.
    keys.sort_unstable();
    let order: Vec<usize> = keys.into_iter().map(|k| k.3).collect();
    put_in_order(list, order);
}

/// A stable sort of large items: the order is found on their indices, then
/// each item is moved once, cycle by cycle, with no buffer of items (the
/// plain form of [`sort_changes`], for the tests).
#[cfg(test)]
fn sort_in_place_by<T>(list: &mut [T], cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let mut idx: Vec<usize> = (0..list.len()).collect();
    idx.sort_by(|&a, &b| cmp(&list[a], &list[b]));
    put_in_order(list, idx);
}

/// Moves the item at `idx[k]` to place `k`, for every `k` (`idx` is a
/// permutation), each item once, cycle by cycle.
fn put_in_order<T>(list: &mut [T], mut idx: Vec<usize>) {
    // A place done is marked.
    for start in 0..idx.len() {
        let mut k = start;
        while idx[k] != usize::MAX {
            let from = std::mem::replace(&mut idx[k], usize::MAX);
            if from == start {
                break;
            }
            list.swap(k, from);
            k = from;
        }
    }
}

/// What one row changes: gained, lost, and the pairs unchanged.
type RowChanges = (Vec<Change>, Vec<Change>, usize);

fn row_changes(
    o: &DiffSide,
    n: &DiffSide,
    keys: &SourceKeys,
    row: &DiffRow,
    budget: &Budget,
) -> Result<RowChanges, Exceeded> {
    let (ro, rn) = (o.r, n.r);
    let mut gained = Vec::new();
    let mut lost = Vec::new();
    let mut unchanged = 0;
    budget.check()?;
    // The row's sources, in blocks of those in the same class on each side.
    type InClass = Option<(Source, usize)>;
    let mut sources: Vec<(u32, InClass, InClass)> = Vec::new();
    for (i, &ji) in row.old.iter().enumerate() {
        for &m in ro.journeys[ji].members.iter() {
            sources.push((keys.number(false, m), Some((m, i)), None));
        }
    }
    for (i, &ji) in row.new.iter().enumerate() {
        for &m in rn.journeys[ji].members.iter() {
            sources.push((keys.number(true, m), None, Some((m, i))));
        }
    }
    // In key order, a source on both sides one entry (a source is in one
    // class of a row on each side).
    sources.sort_unstable_by_key(|s| (s.0, s.1.is_none()));
    sources.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.2 = kept.2.or(later.2);
        }
        same
    });
    let mut blocks: BTreeMap<(Option<usize>, Option<usize>), Vec<BlockSource>> = BTreeMap::new();
    for (key, a, b) in sources {
        blocks
            .entry((a.map(|x| x.1), b.map(|x| x.1)))
            .or_default()
            .push((&keys.keys[key as usize], a.map(|x| x.0), b.map(|x| x.0)));
    }
    let sockets: Vec<&RowSocket> = row.sockets.iter().collect();
    for ((bo, bn), members) in blocks {
        let olds: Vec<Source> = members.iter().filter_map(|m| m.1).collect();
        let news: Vec<Source> = members.iter().filter_map(|m| m.2).collect();
        let t0 = sockets[0];
        // Each side's packets to the row's first socket, path by path and
        // in all (kept for the changes told for that socket).
        let paths_o = bo.map(|i| {
            let k = t0.old.as_ref().expect("a socket reached there").1[i];
            o.spaces(row.old[i], k, &olds)
        });
        let paths_n = bn.map(|i| {
            let k = t0.new.as_ref().expect("a socket reached there").1[i];
            n.spaces(row.new[i], k, &news)
        });
        let space_o = paths_o.as_deref().map(union);
        let space_n = paths_n.as_deref().map(union);
        let known_o = Known::new(&olds, paths_o.as_deref(), space_o.as_ref());
        let known_n = Known::new(&news, paths_n.as_deref(), space_n.as_ref());
        let g0 = space_n.as_ref().map(|sn| minus(sn, space_o.as_ref()));
        let l0 = space_o.as_ref().map(|so| minus(so, space_n.as_ref()));
        // Per member (their keys are distinct): whether it gains, loses.
        let gains: Vec<bool> = members
            .iter()
            .map(|m| {
                m.2.zip(g0.as_ref())
                    .is_some_and(|(s, g)| sends_any(&n.engine, s, g))
            })
            .collect();
        let loses: Vec<bool> = members
            .iter()
            .map(|m| {
                m.1.zip(l0.as_ref())
                    .is_some_and(|(s, l)| sends_any(&o.engine, s, l))
            })
            .collect();
        let those = |keep: &dyn Fn(usize) -> bool| -> Vec<BlockSource> {
            (0..members.len())
                .filter(|&i| keep(i))
                .map(|i| members[i])
                .collect()
        };
        let gainers = those(&|i| gains[i]);
        let losers = those(&|i| loses[i]);
        if bo.is_some() && bn.is_some() {
            let same = those(&|i| !gains[i] && !loses[i]);
            unchanged += pairs_by_name(&same, &sockets);
        }
        // Each side of the block: its scenario, its classes of the row, the
        // block's class among them, and its packets to the first socket.
        let old_side = (o, row.old.as_slice(), bo, known_o);
        let new_side = (n, row.new.as_slice(), bn, known_n);
        // A side's change: at its class of the row, beside the other side's.
        let side = |(here, mine, at, known): Block,
                    (there, theirs, other, known_there): Block,
                    changed: &[BlockSource],
                    here_is_new: bool| {
            at.and_then(|i| {
                class_change(
                    here,
                    there,
                    Cls {
                        journeys: mine,
                        i,
                        known,
                    },
                    other.map(|i| Cls {
                        journeys: theirs,
                        i,
                        known: known_there,
                    }),
                    changed,
                    &sockets,
                    here_is_new,
                )
            })
        };
        let g = side(new_side, old_side, &gainers, true);
        let l = side(old_side, new_side, &losers, false);
        budget.charge(value_bytes(&g) + value_bytes(&l))?;
        gained.extend(g);
        lost.extend(l);
    }
    Ok((gained, lost, unchanged))
}

/// One side of a block: the side, its classes of the row, the block's class
/// among them (if the block's sources are in one there), and its packets.
type Block<'r> = (
    &'r DiffSide<'r>,
    &'r [usize],
    Option<usize>,
    Option<Known<'r>>,
);

/// Where a change is: its side's classes of the row and which of them,
/// and what its block already worked out there.
#[derive(Clone, Copy)]
struct Cls<'r> {
    journeys: &'r [usize],
    i: usize,
    known: Option<Known<'r>>,
}

/// A block's packets on one side to the row's first socket: from which of
/// its members, path by path and in all. A change told for that socket from
/// the same members takes them instead of working them out again.
#[derive(Clone, Copy)]
struct Known<'r> {
    members: &'r [Source],
    paths: &'r [(usize, Space)],
    all: &'r Space,
}

impl<'r> Known<'r> {
    fn new(
        members: &'r [Source],
        paths: Option<&'r [(usize, Space)]>,
        all: Option<&'r Space>,
    ) -> Option<Known<'r>> {
        paths.zip(all).map(|(paths, all)| Known {
            members,
            paths,
            all,
        })
    }

    /// These packets, when they are those of `members` to the first socket.
    fn of(known: Option<Known<'r>>, first: bool, members: &[Source]) -> Option<Known<'r>> {
        known.filter(|k| first && k.members == members)
    }
}

/// The change of a block's `changed` sources to the row's sockets: what
/// connects in `here` (class `at`) and not in `there` (class `other`, if
/// the sources are in one there), told for one pair of them: the first
/// socket that is not a changed source's own, from its other sources.
#[allow(clippy::too_many_arguments)]
fn class_change(
    here: &DiffSide,
    there: &DiffSide,
    at: Cls,
    other: Option<Cls>,
    changed: &[BlockSource],
    sockets: &[&RowSocket],
    here_is_new: bool,
) -> Option<Change> {
    let pairs = pairs_by_name(changed, sockets);
    if pairs == 0 {
        return None;
    }
    let own_socket = |m: &BlockSource, t: &RowSocket| !m.0 .0 && m.0 .1 == t.key.0;
    let t = sockets
        .iter()
        .copied()
        .find(|t| changed.iter().any(|m| !own_socket(m, t)))?;
    let pick = |m: &BlockSource, new_side: bool| if new_side { m.2 } else { m.1 };
    let senders: Vec<&BlockSource> = changed.iter().filter(|m| !own_socket(m, t)).collect();
    let here_members: Vec<Source> = senders
        .iter()
        .filter_map(|m| pick(m, here_is_new))
        .collect();
    let there_members: Vec<Source> = senders
        .iter()
        .filter_map(|m| pick(m, !here_is_new))
        .collect();
    let side_t = |new_side: bool| {
        if new_side {
            t.new.as_ref()
        } else {
            t.old.as_ref()
        }
    };
    let ks_here = &side_t(here_is_new)?.1;
    let (ji, k) = (at.journeys[at.i], ks_here[at.i]);
    let first = std::ptr::eq(t, sockets[0]);
    let known = Known::of(at.known, first, &here_members);
    let paths: std::borrow::Cow<[(usize, Space)]> = match known {
        Some(kn) => kn.paths.into(),
        None => here.spaces(ji, k, &here_members).into(),
    };
    let mut space = known.map_or_else(|| union(&paths), |kn| kn.all.clone());
    if let (Some(oc), Some((_, ks_there))) = (other, side_t(!here_is_new)) {
        let there_space = match Known::of(oc.known, first, &there_members) {
            Some(kn) => std::borrow::Cow::Borrowed(kn.all),
            None => std::borrow::Cow::Owned(union(&there.spaces(
                oc.journeys[oc.i],
                ks_there[oc.i],
                &there_members,
            ))),
        };
        space = minus(&space, Some(&there_space));
    }
    let space = space.into_coalesced();
    let ex = example(&space)?;
    // The source of the example, and the path that carries it.
    let e_src = addr_u128(ex.src);
    let fam = Fam::of(ex.src);
    let member = here_members
        .iter()
        .copied()
        .find(|&m| {
            here.engine
                .own_addrs(here.engine.source_dev(m))
                .iter()
                .any(|&(f, lo, hi)| f == fam && lo <= e_src && e_src <= hi)
        })
        .unwrap_or(here_members[0]);
    let path = paths
        .iter()
        .find(|(_, s)| s.0.iter().any(|c| contains(c, &ex)))
        .map(|&(i, _)| {
            at_source(
                &here.r.journeys[ji].path_for(k, i),
                here.engine.source_dev(member),
            )
        });
    let rules = path
        .as_ref()
        .map(|p| path_rules(here.scn, p))
        .unwrap_or_default();
    let changed_steps = path
        .as_ref()
        .map(|p| changed_steps(here.scn, p, there.scn, &there.texts))
        .unwrap_or_default();
    let (is_net, name) = source_key(here.scn, member);
    let kind = if is_net { "network" } else { "host" };
    let other_kind = if is_net {
        there.scn.network_by_name(&name).map(Source::Network)
    } else {
        there.scn.host_by_name(&name).map(Source::Host)
    };
    let other_side = match other_kind {
        Some(s) => deciding_hop_with(there.scn, Some(&there.index), s, &name, &ex),
        None => Some(Decider {
            outcome: "absent".into(),
            at: None,
            stage: None,
            rule: None,
            line: None,
            note: Some(format!("{kind} {name} does not exist there")),
        }),
    };
    let th = t.key.0.clone();
    let here_t = side_t(here_is_new)?.0;
    let socket = here.scn.host(here_t.host).sockets[here_t.socket]
        .text
        .clone();
    let mut sources: Vec<String> = changed.iter().map(|m| m.0 .1.clone()).collect();
    sources.sort();
    sources.dedup();
    let targets = sockets
        .iter()
        .filter_map(|s| {
            let (tt, _) = side_t_of(s, here_is_new)?;
            let h = here.scn.host(tt.host);
            Some(ChangeTarget {
                host: h.name.clone(),
                socket: h.sockets[tt.socket].text.clone(),
            })
        })
        .collect();
    Some(Change {
        source: name,
        source_kind: kind.into(),
        host: th,
        socket,
        whole: other.is_none(),
        packets: summarise(&space),
        example: ex,
        rules,
        changed: changed_steps,
        other_side,
        sources,
        targets,
        pairs,
    })
}

fn side_t_of(s: &RowSocket, new_side: bool) -> Option<&(Target, Vec<usize>)> {
    if new_side {
        s.new.as_ref()
    } else {
        s.old.as_ref()
    }
}

fn minus(a: &Space, b: Option<&Space>) -> Space {
    match b {
        None => a.clone(),
        Some(b) => a.split(&b.0).1,
    }
}

/// The steps of `path` (in `here`, the request's and the reply's) that
/// `there` does not have, matched by the filter's or host's name and the
/// declaration's text: a filter rule, a default policy, whether a filter is
/// stateful, a NAT rule, a route. What a path does not show (a filter attached
/// where there was none, an address, a socket) is not compared: the other
/// side's decider says it.
fn changed_steps(
    here: &Scenario,
    path: &[PathStep],
    there: &Scenario,
    there_rules: &RuleTexts,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in path {
        let reply = if s.reply() { " (reply)" } else { "" };
        let host = here.hosts.get(s.device());
        let other_host = host.and_then(|h| there.host_by_name(&h.name).map(|o| there.host(o)));
        let host_name = host.map(|h| h.name.as_str()).unwrap_or_default();
        let step = match s.kind() {
            StepKind::Filter { filter, rule } => {
                let f = here.filter(filter);
                let other = there_rules.0.get(f.name.as_str());
                if other.is_some_and(|(o, _)| o.stateful != f.stateful) {
                    let kind = if f.stateful { "stateful" } else { "stateless" };
                    out.push(format!("{} {kind}", f.name));
                }
                match rule {
                    Some(i) if i == ESTABLISHED => None,
                    Some(i) => {
                        let r = &f.rules[i as usize];
                        (!other.is_some_and(|(_, texts)| texts.contains(r.text.as_str()))).then(
                            || match &r.source {
                                Some(src) => format!("{} {src} `{}`", f.name, r.text),
                                None => format!("{} rule {} `{}`", f.name, i + 1, r.text),
                            },
                        )
                    }
                    None => other
                        .is_none_or(|(o, _)| o.default != f.default)
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

/// A scenario's filters by name (the first of a name), each with the texts of its rules.
struct RuleTexts<'a>(
    std::collections::HashMap<&'a str, (&'a Filter, std::collections::HashSet<&'a str>)>,
);

impl<'a> RuleTexts<'a> {
    fn new(scn: &'a Scenario) -> Self {
        let mut m = std::collections::HashMap::new();
        for f in &scn.filters {
            m.entry(f.name.as_str())
                .or_insert_with(|| (f, f.rules.iter().map(|r| r.text.as_str()).collect()));
        }
        RuleTexts(m)
    }
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
    let pairs = |list: &[Change]| list.iter().map(|c| c.pairs).sum::<usize>();
    let _ = writeln!(
        s,
        "journeys: {} before, {} after; {} gained, {} lost, {} unchanged",
        d.old.journeys,
        d.new.journeys,
        pairs(&d.gained),
        pairs(&d.lost),
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
        let _ = writeln!(s, "\n{title} ({}):", counted(pairs(list), list.len()));
        for group in change_groups(list) {
            let group_pairs = |g: &[usize]| g.iter().map(|&i| list[i].pairs).sum::<usize>();
            let first = &list[group[0]];
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
                    counted(group_pairs(&group), group.len()),
                    if title == "gained" { "old" } else { "new" }
                );
            } else {
                let _ = writeln!(
                    s,
                    "  {} through {} ({fresh})",
                    counted(group_pairs(&group), group.len()),
                    first.changed.join(", ")
                );
            }
            if group.len() > SHOWN {
                let sources = group
                    .iter()
                    .flat_map(|&i| list[i].sources.iter().map(String::as_str));
                // Each socket told once, in first sight order (a group can
                // hold a hundred thousand changes of a few sockets each).
                let mut seen = super::fasthash::FastSet::default();
                let targets: Vec<String> = group
                    .iter()
                    .flat_map(|&i| list[i].targets.iter())
                    .filter(|t| seen.insert(*t))
                    .map(target_text)
                    .collect();
                let _ = writeln!(
                    s,
                    "      from {}\n      to {}",
                    super::name_list(sources),
                    super::name_list(targets.iter().map(String::as_str))
                );
                if !first.changed.is_empty() {
                    let _ = writeln!(
                        s,
                        "      {there}: {}",
                        deciders_by_count(
                            group.iter().filter_map(|&i| list[i].other_side.as_ref())
                        )
                    );
                }
            }
            for &i in group.iter().take(SHOWN) {
                let c = &list[i];
                let part = if c.whole { "" } else { " (in part)" };
                if c.pairs <= 1 {
                    let _ = writeln!(
                        s,
                        "    {mark} {} -> {} {}{part}",
                        c.source, c.host, c.socket
                    );
                } else {
                    let to = if c.targets.len() == 1 {
                        format!("{} {}", c.host, c.socket)
                    } else {
                        super::name_list(
                            c.targets
                                .iter()
                                .map(target_text)
                                .collect::<Vec<_>>()
                                .iter()
                                .map(String::as_str),
                        )
                    };
                    let _ = writeln!(
                        s,
                        "    {mark} {} -> {to}{part} ({} journeys)",
                        super::name_list(c.sources.iter().map(String::as_str)),
                        c.pairs
                    );
                }
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
                if c.pairs <= 1 {
                    let _ = writeln!(s, "        example: {}", example_line(&c.example));
                } else {
                    let _ = writeln!(
                        s,
                        "        example: {} ({} -> {})",
                        example_line(&c.example),
                        c.source,
                        c.host
                    );
                }
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

/// A number of journeys, and of changes when they are fewer.
fn counted(pairs: usize, changes: usize) -> String {
    if pairs == changes {
        pairs.to_string()
    } else {
        format!("{pairs} journeys in {changes} changes")
    }
}

/// A socket of a change in a list (`db tcp/5432`).
fn target_text(t: &ChangeTarget) -> String {
    let sock = t.socket.split_whitespace().next().unwrap_or_default();
    format!("{} {sock}", t.host)
}

/// A group of changes lists this many in full.
const SHOWN: usize = 10;

/// Changes put together by the steps responsible (and, when no step of the
/// path is new, by what decided them on the other side), largest first.
fn change_groups(list: &[Change]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: BTreeMap<(&[String], Option<String>), usize> = BTreeMap::new();
    for (i, c) in list.iter().enumerate() {
        let other = if c.changed.is_empty() {
            c.other_side.as_ref().map(Decider::text)
        } else {
            None
        };
        let key = (c.changed.as_slice(), other);
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

/// The deciders' distinct texts with how often each comes, most first, up
/// to five. Each distinct decider is told once (a group can hold a hundred
/// thousand changes and a few hundred deciders).
fn deciders_by_count<'d>(deciders: impl Iterator<Item = &'d Decider>) -> String {
    let mut distinct: super::fasthash::FastMap<&Decider, usize> = Default::default();
    for d in deciders {
        *distinct.entry(d).or_default() += 1;
    }
    let texts: Vec<(String, usize)> = distinct.into_iter().map(|(d, n)| (d.text(), n)).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, n) in &texts {
        *counts.entry(t).or_default() += n;
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
    super::written_text(|out| write_json(d, out))
}

/// [`render_json`] into a writer as it is made (the generated 2,000-host
/// break diff is hundreds of MB of JSON: the caller need not hold it).
pub fn write_json(d: &Diff, w: impl std::io::Write) -> std::io::Result<()> {
    super::write_pretty(d, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{large, SplitMix64, SynthParams};

    /// The sort in place is the standard library's stable sort: on random
    /// lists with many equal keys (their items told apart by position), of
    /// every length up to 200.
    #[test]
    fn the_sort_in_place_is_the_stable_sort() {
        let mut rng = SplitMix64::new(0x5027);
        for n in 0..200usize {
            let keys = 1 + rng.below(8);
            let list: Vec<(usize, usize)> = (0..n).map(|i| (rng.below(keys), i)).collect();
            let mut want = list.clone();
            want.sort_by_key(|&(k, _)| k);
            let mut got = list;
            sort_in_place_by(&mut got, |a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "{n} items, {keys} keys");
        }
    }

    /// The changes sorted by their keys made once are the changes sorted
    /// stably by comparing them: the changes of generated diffs, reversed
    /// and interleaved so that equal keys come in another order.
    #[test]
    fn changes_sorted_by_keys_are_the_stable_sort() {
        fn order(c: &Change) -> (Option<&String>, &String, Option<&ChangeTarget>) {
            (c.sources.first(), &c.source_kind, c.targets.first())
        }
        let mut sorted = 0;
        for (text, v) in variant_cases(3, SynthParams::sized(2, 150)) {
            let old = crate::load("synth.yaml", &text, None).expect("generated");
            let new = crate::load("synth.yaml", &text, Some(v)).expect("variant");
            for (a, b) in [(&old, &new), (&new, &old)] {
                let d = diff(a, b);
                for list in [d.gained, d.lost] {
                    let half = list.len() / 2;
                    let mut mixed: Vec<Change> = list[half..].iter().rev().cloned().collect();
                    for (i, c) in list[..half].iter().enumerate() {
                        mixed.insert((2 * i).min(mixed.len()), c.clone());
                    }
                    let mut want = mixed.clone();
                    want.sort_by(|x, y| order(x).cmp(&order(y)));
                    sort_changes(&mut mixed);
                    assert!(mixed == want, "{v}: {} changes", want.len());
                    sorted += want.len();
                }
            }
        }
        assert!(sorted > 100, "{sorted} changes");
    }

    /// Generated scenarios with the variant to diff them against: the
    /// small ones of `seeds` seeds with `break` and with `harden`, and a
    /// large one with `break`.
    fn variant_cases(seeds: u64, big: SynthParams) -> Vec<(String, &'static str)> {
        let mut cases = Vec::new();
        for seed in 0..seeds {
            cases.push((crate::synth::small(seed), "break"));
            cases.push((crate::synth::small(seed), "harden"));
        }
        cases.push((large(&big), "break"));
        cases
    }

    /// A diff that walks both sides at once, each engine serving its
    /// reach and its changes, is the diff of the two reaches made one
    /// after the other, each by an engine of its own.
    #[test]
    fn the_sides_walked_at_once_give_the_diff_of_the_reaches() {
        use crate::analysis::reach::{reach, ReachQuery};
        for (text, v) in &variant_cases(3, SynthParams::sized(3, 150)) {
            let old = crate::load("synth.yaml", text, None).expect("generated");
            let new = crate::load("synth.yaml", text, Some(v)).expect("variant");
            for (a, b) in [(&old, &new), (&new, &old)] {
                let q = ReachQuery::default();
                let want = diff_with(a, &reach(a, &q), b, &reach(b, &q));
                let got = diff(a, b);
                assert_eq!(got, want, "{v}");
            }
        }
    }

    /// Each change's decider (traced with the other scenario's filters
    /// indexed, on both cores) is what a trace of its example alone, read
    /// rule by rule, finds: on generated scenarios and their variants, both ways.
    #[test]
    fn each_decider_is_its_example_traced_alone() {
        let mut checked = 0;
        for (text, v) in &variant_cases(4, SynthParams::sized(2, 120)) {
            let old = crate::load("synth.yaml", text, None).expect("generated");
            let new = crate::load("synth.yaml", text, Some(v)).expect("variant");
            for (a, b) in [(&old, &new), (&new, &old)] {
                let d = diff(a, b);
                for (list, there) in [(&d.gained, a), (&d.lost, b)] {
                    for c in list.iter() {
                        let s = if c.source_kind == "network" {
                            there.network_by_name(&c.source).map(Source::Network)
                        } else {
                            there.host_by_name(&c.source).map(Source::Host)
                        };
                        let alone = s.and_then(|s| deciding_hop(there, s, &c.source, &c.example));
                        match alone {
                            Some(want) => assert_eq!(
                                c.other_side.as_ref(),
                                Some(&want),
                                "{} {} -> {} {}",
                                v,
                                c.source,
                                c.host,
                                example_line(&c.example)
                            ),
                            None => assert_eq!(
                                c.other_side.as_ref().map(|o| o.outcome.as_str()),
                                Some("absent")
                            ),
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "{checked} changes checked");
    }

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
