//! `reach`: for every source and every listening socket, the exact set of
//! packets that arrive (and whose reply makes it back), the paths they take,
//! the rules that let them through, and one example packet per path.

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::model::*;

use super::budget::{journey_bytes, outcome_bytes, Budget, Exceeded};
use super::space::*;
use super::symbolic::{
    End, Engine, Outcome, PathStep, Source, StepKind, WalkCache, EPHEMERAL, ESTABLISHED,
};

/// Which journeys to compute.
#[derive(Debug, Clone, Default)]
pub struct ReachQuery {
    /// Only these sources (default: every host and every network).
    pub from: Option<Vec<Source>>,
    /// Only sockets on these hosts (default: all).
    pub to: Option<Vec<HostId>>,
}

/// A listening socket: a host and the index of one of its sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub host: HostId,
    pub socket: usize,
}

/// A class of journeys: every source of `members` reaches every socket of
/// `targets` alike (a rectangle of (source, socket) pairs), but a host never
/// makes a journey to itself: the pair of a member and its own socket is
/// not in the class.
///
/// `paths` are told for the first target; for another target they are the
/// same with the steps taken at the first target's host taken at that
/// target's host, and the packets addressed to the first target's own
/// addresses addressed to the same of that target's (see
/// [`Journey::to_target`]). A flat network of N alike hosts is one class,
/// not N^2 pairs.
#[derive(Debug, Clone)]
pub struct Journey {
    /// The first of `members`.
    pub source: Source,
    /// Every source these packets come from: hosts configured alike that
    /// reach the targets alike, each with its own source address in `space`
    /// (the same paths and packets but for that address), or one network.
    pub members: Arc<[Source]>,
    /// The sockets reached alike, sorted; at least one.
    pub targets: Arc<[Target]>,
    /// Distinct paths to the first target, each with the packets that take
    /// it, as the source sends them (before any NAT); the paths' packets are
    /// disjoint.
    pub paths: Vec<(Arc<[PathStep]>, Space)>,
}

impl Journey {
    /// Every packet of the journey to the first target: the packets of its
    /// paths together.
    pub fn space(&self) -> Space {
        Space(self.cubes().copied().collect())
    }

    /// The boxes of [`Journey::space`], without copying them.
    pub fn cubes(&self) -> impl Iterator<Item = &Cube> {
        self.paths.iter().flat_map(|(_, s)| s.0.iter())
    }

    /// The first target's host.
    pub fn host(&self) -> HostId {
        self.targets[0].host
    }

    /// The first target's socket index.
    pub fn socket(&self) -> usize {
        self.targets[0].socket
    }

    /// The number of (source, socket) pairs the class stands for.
    pub fn pairs(&self) -> usize {
        let selves = self
            .targets
            .iter()
            .filter(|t| self.members.binary_search(&Source::Host(t.host)).is_ok())
            .count();
        self.members.len() * self.targets.len() - selves
    }

    /// Whether `m` reaches target `k` in this class (a member never reaches
    /// its own socket).
    pub fn holds(&self, m: Source, k: usize) -> bool {
        Source::Host(self.targets[k].host) != m && self.members.binary_search(&m).is_ok()
    }

    /// The class's paths and packets told for `targets[k]` (see
    /// [`Journey`]), every member's packets kept: a member's packets to its
    /// own socket are there as the other members' are (they are what that
    /// member sends to the class's other targets, told for this one).
    pub fn paths_for(&self, scn: &Scenario, k: usize) -> Vec<(Arc<[PathStep]>, Space)> {
        if self.targets[0].host == self.targets[k].host {
            return self.paths.clone();
        }
        (0..self.paths.len())
            .map(|i| self.path_for(k, i))
            .zip(self.spaces_for(scn, k))
            .collect()
    }

    /// The packets of [`Journey::paths_for`] without their steps: path by
    /// path, the packets addressed to the first target's own addresses
    /// addressed to the same of `targets[k]`'s.
    pub fn spaces_for(&self, scn: &Scenario, k: usize) -> Vec<Space> {
        let (t0, t) = (self.targets[0], self.targets[k]);
        if t0.host == t.host {
            return self.paths.iter().map(|(_, sp)| sp.clone()).collect();
        }
        let (own0, own) = (host_own(scn, t0.host), host_own(scn, t.host));
        self.paths
            .iter()
            .map(|(_, sp)| Space(sp.0.iter().map(|c| retold_at(&own0, &own, c)).collect()))
            .collect()
    }

    /// [`Journey::spaces_for`] with only the packets whose source is in
    /// `ranges` (per family, sorted and merged), as
    /// [`super::classes::restrict_sources`] leaves them: restricted before
    /// they are retold, so the other sources' boxes are never copied (a
    /// `diff` asks this of classes of thousands of sources, for a few).
    pub fn spaces_from(&self, scn: &Scenario, k: usize, ranges: &[Intervals; 2]) -> Vec<Space> {
        let (t0, t) = (self.targets[0], self.targets[k]);
        let owns = (t0.host != t.host).then(|| (host_own(scn, t0.host), host_own(scn, t.host)));
        self.paths
            .iter()
            .map(|(_, sp)| {
                let mut cubes = super::classes::restricted_pieces(sp, ranges);
                if let Some((own0, own)) = &owns {
                    for c in &mut cubes {
                        *c = retold_at(own0, own, c);
                    }
                }
                Space(cubes).into_coalesced()
            })
            .collect()
    }

    /// The steps of path `i` of [`Journey::paths_for`]: those taken at the
    /// first target's host taken at `targets[k]`'s.
    pub fn path_for(&self, k: usize, i: usize) -> Arc<[PathStep]> {
        let (t0, t) = (self.targets[0], self.targets[k]);
        let p = &self.paths[i].0;
        if t0.host == t.host {
            return p.clone();
        }
        p.iter()
            .map(|s| {
                if !s.home() && s.device() == t0.host.index() {
                    s.at(t.host.index())
                } else {
                    *s
                }
            })
            .collect()
    }

    /// The journeys of this class to the one socket `targets[k]`: its paths
    /// and packets told for that target, its members but the target's own
    /// host. None when that leaves no member.
    pub fn to_target(&self, scn: &Scenario, k: usize) -> Option<Journey> {
        let t = self.targets[k];
        let me = Source::Host(t.host);
        let members: Arc<[Source]> = if self.members.binary_search(&me).is_ok() {
            self.members.iter().copied().filter(|&m| m != me).collect()
        } else {
            self.members.clone()
        };
        if members.is_empty() {
            return None;
        }
        let mine: Vec<Cube> = if members.len() < self.members.len() {
            host_own(scn, t.host)
                .iter()
                .map(|&(fam, lo, hi)| Cube {
                    src: (lo, hi),
                    ..Cube::full(fam)
                })
                .collect()
        } else {
            Vec::new()
        };
        let paths = self
            .paths_for(scn, k)
            .into_iter()
            .filter_map(|(p, mut sp)| {
                if !mine.is_empty() {
                    sp = sp.split(&mine).1.into_coalesced();
                }
                (!sp.is_empty()).then_some((p, sp))
            })
            .collect::<Vec<_>>();
        if paths.is_empty() {
            return None;
        }
        Some(Journey {
            source: members[0],
            members,
            targets: Arc::from([t]),
            paths,
        })
    }
}

/// Box `c` of a journey's first target, `own0` its addresses, told at
/// another target of it whose addresses are `own`: a destination that is
/// one of the first's own addresses becomes the other's in the same place.
fn retold_at(own0: &[(Fam, u128, u128)], own: &[(Fam, u128, u128)], c: &Cube) -> Cube {
    match own0
        .iter()
        .position(|&(f, lo, hi)| f == c.fam && (lo, hi) == c.dst)
    {
        Some(j) => Cube {
            dst: (own[j].1, own[j].2),
            ..*c
        },
        None => *c,
    }
}

/// Frees `r` on a thread of its own, so that whoever is done with it need
/// not wait: freeing the answer of the generated 8,000 hosts (a million
/// classes) takes 0.6 s of one core, of 2,000 hosts 50 ms. A process that
/// ends first simply never frees it.
pub fn free_later(r: Reach) {
    if r.journeys.len() < 1000 {
        return;
    }
    // No thread to be had: `spawn` drops the closure, and `r` with it, here.
    let _ = std::thread::Builder::new()
        .name("free".into())
        .spawn(move || drop(r));
}

/// A host's own addresses as the engine lists them: each address a range of
/// one, sorted by family and address.
pub fn host_own(scn: &Scenario, h: HostId) -> Vec<(Fam, u128, u128)> {
    let mut v: Vec<(Fam, u128, u128)> = scn
        .host(h)
        .interfaces
        .iter()
        .flat_map(|i| i.addrs.iter())
        .map(|a| (Fam::of(*a), addr_u128(*a), addr_u128(*a)))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl Reach {
    /// The number of (source, socket) pairs the answer stands for.
    pub fn pairs(&self) -> usize {
        self.journeys.iter().map(Journey::pairs).sum()
    }

    /// [`Reach::per_target`] as an answer of its own (the stopped parts copied).
    pub fn to_per_target(&self, scn: &Scenario) -> Reach {
        Reach {
            journeys: self.per_target(scn).collect(),
            stopped: self.stopped.clone(),
        }
    }

    /// The answer one socket at a time (each journey with one target), in
    /// (source, host, socket) order: the form `reach` had before classes of
    /// targets, for answers that list pairs (`--pairs`) and for tests. Its
    /// size grows with the pairs: prefer the classes.
    pub fn per_target<'a>(&'a self, scn: &'a Scenario) -> impl Iterator<Item = Journey> + 'a {
        let mut order: Vec<(Source, Target, usize, usize)> = Vec::new();
        for (ji, j) in self.journeys.iter().enumerate() {
            for (k, t) in j.targets.iter().enumerate() {
                let first = j
                    .members
                    .iter()
                    .copied()
                    .find(|&m| m != Source::Host(t.host));
                if let Some(first) = first {
                    order.push((first, *t, ji, k));
                }
            }
        }
        order.sort_unstable();
        order
            .into_iter()
            .filter_map(move |(_, _, ji, k)| self.journeys[ji].to_target(scn, k))
    }
}

/// The answer: every connected (source, socket) pair, in a stable order.
#[derive(Debug, Clone)]
pub struct Reach {
    pub journeys: Vec<Journey>,
    /// Every part of every source's traffic that stopped, for analyses that explain losses.
    pub stopped: Vec<(Source, Outcome)>,
}

pub fn all_sources(scn: &Scenario) -> Vec<Source> {
    let mut v: Vec<Source> = (0..scn.hosts.len())
        .map(|i| Source::Host(HostId(i as u32)))
        .collect();
    v.extend((0..scn.networks.len()).map(|i| Source::Network(NetworkId(i as u32))));
    v
}

pub fn reach(scn: &Scenario, q: &ReachQuery) -> Reach {
    let engine = Engine::new(scn);
    reach_with(&engine, q)
}

pub fn reach_with(engine: &Engine, q: &ReachQuery) -> Reach {
    reach_with_options(engine, q, false)
}

/// `reach_with`, keeping the parts of the traffic that stopped when `keep_stopped`
/// (for explanations; it costs memory on large scenarios).
pub fn reach_with_options(engine: &Engine, q: &ReachQuery, keep_stopped: bool) -> Reach {
    reach_with_budget(engine, q, keep_stopped, &Budget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// `reach_with_options` within `budget`: checked before each source class
/// and charged for each journey (see [`super::budget`]).
pub fn reach_with_budget(
    engine: &Engine,
    q: &ReachQuery,
    keep_stopped: bool,
    budget: &Budget,
) -> Result<Reach, Exceeded> {
    reach_classes(engine, q, keep_stopped, budget, true)
}

/// The answer with a class of its own for every socket: what `reach` made
/// before targets reached alike shared a class. The reference the classes
/// are tested against (their expansion to single sockets must equal it).
pub fn reach_one_target_each(engine: &Engine, q: &ReachQuery) -> Reach {
    reach_classes(engine, q, false, &Budget::unlimited(), false)
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

fn reach_classes(
    engine: &Engine,
    q: &ReachQuery,
    keep_stopped: bool,
    budget: &Budget,
    group_targets: bool,
) -> Result<Reach, Exceeded> {
    let classes = classes_for(engine, q);
    let targets = q.to.as_ref().map(|to| engine.targets_of(to));
    let targets = targets.as_deref();
    // What the workers consult is recorded with what their caller records.
    let record = super::consulted::current();
    let units = if keep_stopped {
        (0..classes.len()).map(|i| vec![i]).collect()
    } else {
        engine.walk_units(&classes)
    };
    let mut parts: Vec<(usize, ClassReach)> = on_every_core(units.len(), budget, |u, cache| {
        let walk = Walk {
            engine,
            targets,
            keep_stopped,
            budget,
            group_targets,
        };
        super::consulted::recording(record.clone(), || {
            unit_reach(&walk, q, &classes, &units[u], cache)
        })
    })
    .into_iter()
    .flat_map(|(_, v)| v)
    .collect();
    parts.sort_by_key(|(i, _)| *i);
    let mut journeys = Vec::with_capacity(parts.iter().map(|(_, (j, _))| j.len()).sum());
    let mut stopped = Vec::new();
    for (_, (j, st)) in parts {
        journeys.extend(j);
        stopped.extend(st);
    }
    // Keys are unique (a source is in one class, and in one group of its
    // class per socket): any sort gives the one order. By keys taken once
    // (a journey's first target is behind a pointer, read at every
    // comparison otherwise), then the journeys moved in place: no buffer of
    // journeys.
    journeys.sort_by_cached_key(|j| (j.source, j.targets[0]));
    budget.check()?;
    Ok(Reach { journeys, stopped })
}

/// The classes of sources a reach for `q` walks, in the order it walks them
/// (they depend on the hosts' settings, not on the filters' rules).
pub(crate) fn classes_for(engine: &Engine, q: &ReachQuery) -> Vec<Vec<Source>> {
    let mut sources = q.from.clone().unwrap_or_else(|| all_sources(engine.scn));
    // A source asked for twice is walked once (the first time it is named).
    let mut seen = std::collections::HashSet::new();
    sources.retain(|s| seen.insert(*s));
    engine.source_classes(&sources)
}

/// How [`reach_parts`] walks the classes it walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Joint {
    /// In units walked together, as `reach_with` walks them: faster, and
    /// each class keeps its unit's record, so that a change any class of
    /// the unit met walks the class again.
    Units,
    /// Each class alone, with a record of its own packets only.
    Alone,
}

/// One class of sources' journeys in a reach, and what its walk consulted
/// (see [`reach_parts`]).
#[derive(Debug, Clone)]
pub(crate) struct ClassPart {
    pub class: Vec<Source>,
    pub journeys: Vec<Journey>,
    pub deps: super::consulted::Deps,
}

/// The journeys `reach_with` finds for `q`, class of sources by class
/// (`classes`: those of [`classes_for`]), each with what its walk (or its
/// unit's, see [`Joint`]) consulted: `keep` gives a class's part when an
/// earlier answer can serve (the class is then not walked). Also how many
/// classes were walked. [`Reach::from_parts`] puts the parts together as
/// `reach_with` answers.
pub(crate) fn reach_parts(
    engine: &Engine,
    q: &ReachQuery,
    classes: Vec<Vec<Source>>,
    joint: Joint,
    budget: &Budget,
    mut keep: impl FnMut(&[Source]) -> Option<ClassPart>,
) -> Result<(Vec<ClassPart>, usize), Exceeded> {
    use super::consulted::{self, Consulted};
    let mut slots: Vec<Option<ClassPart>> = classes.iter().map(|c| keep(c)).collect();
    let todo: Vec<usize> = (0..classes.len()).filter(|&i| slots[i].is_none()).collect();
    if todo.is_empty() {
        return Ok((slots.into_iter().flatten().collect(), 0));
    }
    let targets = q.to.as_ref().map(|to| engine.targets_of(to));
    let targets = targets.as_deref();
    let outer = consulted::current();
    // The classes to walk, in units walked together as `reach_with` walks
    // them (a unit of one class is walked alone). A unit's walk is recorded
    // once, and every class of it keeps that record: a record of more
    // packets than its own, which may walk a class again after a change
    // that its own packets did not meet, never less.
    let todo_classes: Vec<Vec<Source>> = todo.iter().map(|&i| classes[i].clone()).collect();
    let units = match joint {
        Joint::Units => engine.walk_units(&todo_classes),
        Joint::Alone => (0..todo_classes.len()).map(|k| vec![k]).collect(),
    };
    let walked = on_every_core(units.len(), budget, |u, cache| {
        let walk = Walk {
            engine,
            targets,
            keep_stopped: false,
            budget,
            group_targets: true,
        };
        let rec = Consulted::new();
        let found = consulted::recording(Some(rec.clone()), || {
            unit_reach(&walk, q, &todo_classes, &units[u], cache)
        });
        let deps = rec.deps();
        if let Some(o) = &outer {
            o.add(&deps);
        }
        found
            .into_iter()
            .map(|(k, (journeys, _))| {
                let part = ClassPart {
                    class: todo_classes[k].clone(),
                    journeys,
                    deps: deps.clone(),
                };
                (todo[k], part)
            })
            .collect::<Vec<_>>()
    });
    // Over budget or cancelled: some classes were not walked (or only in part).
    budget.check()?;
    let mut n = 0;
    for (i, part) in walked.into_iter().flat_map(|(_, v)| v) {
        slots[i] = Some(part);
        n += 1;
    }
    let parts = slots
        .into_iter()
        .map(|p| p.expect("every class is kept or walked"))
        .collect();
    Ok((parts, n))
}

impl Reach {
    /// The answer of the parts [`reach_parts`] made: the one `reach_with`
    /// makes for the same question.
    pub(crate) fn from_parts(parts: &[ClassPart]) -> Reach {
        let mut journeys: Vec<Journey> = parts
            .iter()
            .flat_map(|p| p.journeys.iter().cloned())
            .collect();
        journeys.sort_unstable_by_key(|j| (j.source, j.targets[0]));
        Reach {
            journeys,
            stopped: Vec::new(),
        }
    }
}

type ClassReach = (Vec<Journey>, Vec<(Source, Outcome)>);

/// Runs `walk` for the items `0..n` on every core, each worker keeping one
/// `WalkCache` across its items, the budget checked before each item and
/// handed to the cache (the walk counts the outcomes it keeps and stops when
/// over); the results come back with their item, in no particular order
/// (callers put them back in item order, so that answers do not depend on
/// timing). Over budget or cancelled, the items not started are left out.
fn on_every_core<T: Send>(
    n: usize,
    budget: &Budget,
    walk: impl Fn(usize, &mut WalkCache) -> T + Sync,
) -> Vec<(usize, T)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(n.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    let mut cache = WalkCache::default();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n || budget.check().is_err() {
                            break;
                        }
                        cache.set_budget(Some(budget.clone()));
                        mine.push((i, walk(i, &mut cache)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a reach worker panicked"))
            .collect()
    })
}

/// How a worker walks its classes.
struct Walk<'e, 's> {
    engine: &'e Engine<'s>,
    targets: Option<&'e [Cube]>,
    keep_stopped: bool,
    budget: &'e Budget,
    /// Targets reached alike share a class (else each has its own).
    group_targets: bool,
}

/// The journeys (and, if asked, the stopped parts) of one class of sources.
fn class_reach(w: &Walk, q: &ReachQuery, class: &[Source], cache: &mut WalkCache) -> ClassReach {
    let outcomes = w
        .engine
        .from_sources_cached(class, w.keep_stopped, w.targets, cache);
    class_reach_of(w, q, class, outcomes)
}

/// The journeys of a unit of classes walked together (see
/// [`Engine::walk_units`]), each with its class's number.
fn unit_reach(
    w: &Walk,
    q: &ReachQuery,
    classes: &[Vec<Source>],
    unit: &[usize],
    cache: &mut WalkCache,
) -> Vec<(usize, ClassReach)> {
    if unit.len() == 1 || w.keep_stopped {
        return unit
            .iter()
            .map(|&i| (i, class_reach(w, q, &classes[i], cache)))
            .collect();
    }
    let members: Vec<&[Source]> = unit.iter().map(|&i| classes[i].as_slice()).collect();
    let outcomes = w.engine.walk_classes(&members, w.targets, cache);
    unit.iter()
        .zip(outcomes)
        .map(|(&i, o)| (i, class_reach_of(w, q, &classes[i], o)))
        .collect()
}

/// A class's journeys from its walk's outcomes.
fn class_reach_of(
    w: &Walk,
    q: &ReachQuery,
    class: &[Source],
    outcomes: Vec<Outcome>,
) -> ClassReach {
    let (engine, keep_stopped) = (w.engine, w.keep_stopped);
    let s = class[0];
    let class_addrs = ClassAddrs::new(engine, class);
    let mut journeys = Vec::new();
    let mut stopped = Vec::new();
    let mut by_target: BTreeMap<(usize, usize), Vec<Outcome>> = BTreeMap::new();
    // A walk stopped by its budget has part of the answer: none, then.
    if w.budget.check().is_err() {
        return (Vec::new(), Vec::new());
    }
    // The walk counted its outcomes; the journeys are made of their boxes,
    // so only what they take beyond that is counted again.
    let mut credit: u64 = outcomes.iter().map(outcome_bytes).sum();
    let mut reached: Vec<Outcome> = Vec::with_capacity(outcomes.len());
    let mut halted: Vec<Outcome> = Vec::new();
    for o in outcomes {
        match o.end {
            End::Reached { .. } => reached.push(o),
            End::Stopped { .. } if keep_stopped => halted.push(o),
            End::Stopped { .. } => {}
        }
    }
    // What stopped on a member's way to itself is not a journey's; what
    // reached a member's own socket from itself stays in its target's
    // packets, so that alike targets keep alike packets: a class never
    // holds the pair of a member and its own socket (see `Journey`).
    engine.drop_self_pairs(class, &mut halted);
    stopped.extend(halted.into_iter().map(|o| (s, o)));
    for o in reached {
        if let End::Reached { dev, socket } = o.end {
            if socket != usize::MAX
                && q.to
                    .as_ref()
                    .is_none_or(|t| t.contains(&HostId(dev as u32)))
            {
                by_target.entry((dev, socket)).or_default().push(o);
            }
        }
    }
    // Paths are kept once per class however many journeys take them (the
    // walk marks a delivery to a group of hosts the same way for each of
    // their sockets): they are a third of the memory a large reach keeps.
    // By the path's hash, hashed once (a set hashed a new path twice: to
    // look it up, then to insert it).
    // The first path of a hash is kept in place, others beside it.
    type Slot = (Arc<[PathStep]>, Vec<Arc<[PathStep]>>);
    let mut kept: super::fasthash::FastMap<u64, Slot> = Default::default();
    let mut keep = |p: &[PathStep]| -> Arc<[PathStep]> {
        use std::collections::hash_map::Entry;
        match kept.entry(super::fasthash::hash_of(p)) {
            Entry::Occupied(mut e) => {
                let (first, more) = e.get_mut();
                if **first == *p {
                    return first.clone();
                }
                if let Some(a) = more.iter().find(|a| ***a == *p) {
                    return a.clone();
                }
                let a: Arc<[PathStep]> = Arc::from(p);
                more.push(a.clone());
                a
            }
            Entry::Vacant(e) => {
                let a: Arc<[PathStep]> = Arc::from(p);
                e.insert((a.clone(), Vec::new()));
                a
            }
        }
    };
    // Targets whose paths and packets are the same but for the target
    // itself (its device in the steps taken there, its own addresses as the
    // destination) are reached alike: one class for all of them.
    // By the template's hash: the classes of `alike` with that hash.
    let mut templates: super::fasthash::FastMap<u64, Vec<usize>> = Default::default();
    let mut alike: Vec<(Paths, Vec<Target>)> = Vec::new();
    for ((dev, socket), outs) in by_target {
        let mut paths: Paths = Vec::new();
        for o in outs {
            match paths.iter_mut().find(|(p, _)| **p == *o.path) {
                Some((_, sp)) => sp.0.extend(o.space.0),
                None => paths.push((keep(&o.path), o.space)),
            }
        }
        for (_, sp) in &mut paths {
            *sp = std::mem::take(sp).into_coalesced();
        }
        // In one order whatever order the walk found them in (classes
        // walked together find them in another): IPv4 first, then by steps.
        paths.sort_by(|(pa, sa), (pb, sb)| {
            let fam = |s: &Space| s.0.first().map(|c| c.fam);
            (fam(sa), &**pa).cmp(&(fam(sb), &**pb))
        });
        let target = Target {
            host: HostId(dev as u32),
            socket,
        };
        let here = Template {
            own: engine.own_addrs(dev),
            dev,
            socket,
            paths: &paths,
        };
        let same = w.group_targets.then(|| {
            let slot = templates.entry(here.hash()).or_default();
            let found = slot.iter().copied().find(|&i| {
                let t = alike[i].1[0];
                let there = Template {
                    own: engine.own_addrs(t.host.index()),
                    dev: t.host.index(),
                    socket: t.socket,
                    paths: &alike[i].0,
                };
                here.same_as(&there)
            });
            if found.is_none() {
                slot.push(alike.len());
            }
            found
        });
        match same.flatten() {
            Some(i) => alike[i].1.push(target),
            None => alike.push((paths, vec![target])),
        }
    }
    // The members' pieces of one socket's boxes, kept for the next socket.
    let mut pieces = Vec::new();
    for (paths, targets) in alike {
        let targets: Arc<[Target]> = Arc::from(targets);
        for (members, mut paths) in alike_members(engine, class, &class_addrs, paths, &mut pieces) {
            // A member alone with its own socket as the only target: no journey.
            if members.len() == 1
                && targets.len() == 1
                && members[0] == Source::Host(targets[0].host)
            {
                continue;
            }
            // The class walked as its first member: the steps at the source
            // are this group's own.
            if class.len() > 1 {
                let dev = engine.source_dev(members[0]);
                for (p, _) in &mut paths {
                    let retold = at_source(p, dev);
                    if !Arc::ptr_eq(&retold, p) {
                        *p = keep(&retold);
                    }
                }
            }
            // Journeys are kept by the hundred thousand: no spare capacity.
            for (_, sp) in &mut paths {
                sp.0.shrink_to_fit();
            }
            paths.shrink_to_fit();
            let mut members = members;
            members.sort_unstable();
            let j = Journey {
                source: members[0],
                members: Arc::from(members),
                targets: targets.clone(),
                paths,
            };
            // Over budget: stop here (the caller sees the budget exceeded).
            let bytes = journey_bytes(&j);
            let beyond = bytes.saturating_sub(credit);
            credit = credit.saturating_sub(bytes);
            if w.budget.charge(beyond).is_err() {
                return (journeys, stopped);
            }
            journeys.push(j);
        }
    }
    (journeys, stopped)
}

/// What targets reached alike have in common: the socket index, and per
/// path its steps with those taken at the target (not at the source) told
/// at no device, and its packets with each destination that is one of the
/// target's own addresses told as that address's position among them.
/// Hashed and compared as told, without making the told copy (a copy of
/// every path of every target was an allocation and a hash of its own).
struct Template<'t> {
    own: &'t [(Fam, u128, u128)],
    dev: usize,
    socket: usize,
    paths: &'t Paths,
}

impl Template<'_> {
    fn step(&self, s: &PathStep) -> PathStep {
        const NOWHERE: usize = u32::MAX as usize;
        if !s.home() && s.device() == self.dev {
            s.at(NOWHERE)
        } else {
            *s
        }
    }

    fn cube(&self, c: &Cube) -> Cube {
        match self
            .own
            .iter()
            .position(|&(f, lo, hi)| f == c.fam && (lo, hi) == c.dst)
        {
            Some(j) => Cube {
                dst: (u128::MAX - j as u128, u128::MAX - j as u128),
                ..*c
            },
            None => *c,
        }
    }

    fn hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = super::fasthash::FastHasher::default();
        (self.socket, self.paths.len()).hash(&mut h);
        for (p, sp) in self.paths {
            (p.len(), sp.0.len()).hash(&mut h);
            for s in p.iter() {
                self.step(s).hash(&mut h);
            }
            for c in &sp.0 {
                self.cube(c).hash(&mut h);
            }
        }
        h.finish()
    }

    fn same_as(&self, other: &Template) -> bool {
        self.socket == other.socket
            && self.paths.len() == other.paths.len()
            && self
                .paths
                .iter()
                .zip(other.paths)
                .all(|((pa, sa), (pb, sb))| {
                    pa.len() == pb.len()
                        && sa.0.len() == sb.0.len()
                        && pa
                            .iter()
                            .zip(pb.iter())
                            .all(|(a, b)| self.step(a) == other.step(b))
                        && sa
                            .0
                            .iter()
                            .zip(&sb.0)
                            .all(|(a, b)| self.cube(a) == other.cube(b))
                })
    }
}

type Paths = Vec<(Arc<[PathStep]>, Space)>;

/// A path with the steps taken at the journey's source told as taken at
/// `dev` (a walk for a class of sources tells them at its first member).
pub fn at_source(path: &Arc<[PathStep]>, dev: usize) -> Arc<[PathStep]> {
    if path.iter().all(|s| !s.home() || s.device() == dev) {
        return path.clone();
    }
    path.iter()
        .map(|s| if s.home() { s.at(dev) } else { *s })
        .collect()
}

/// What `alike_members` needs to know about a class, computed once per class.
struct ClassAddrs {
    /// Every own address range of every member, sorted: (family, range, member).
    addrs: Vec<(Fam, u128, u128, usize)>,
    /// Per member: 1 for a network's stand-in, 0 for a host (they never
    /// reach a socket "alike").
    kind: Vec<u128>,
    /// Per member and family: its one own range of that family, when it has
    /// at most one per family (hosts with one address each), else `None`.
    single: Vec<Option<OneRange>>,
}

/// A member's one own range per family (IPv4, IPv6), if it has one, with
/// its position in the member's own ranges.
type OneRange = PerFam<Option<(u128, u128, u128)>>;

impl ClassAddrs {
    fn new(engine: &Engine, class: &[Source]) -> ClassAddrs {
        let mut addrs = Vec::new();
        let mut single = Vec::with_capacity(class.len());
        for (mi, &m) in class.iter().enumerate() {
            let mut one: OneRange = [None, None];
            let mut ok = true;
            for (k, &(fam, lo, hi)) in engine.own_addrs(engine.source_dev(m)).iter().enumerate() {
                addrs.push((fam, lo, hi, mi));
                let slot = &mut one[usize::from(fam == Fam::V6)];
                ok &= slot.is_none();
                *slot = Some((lo, hi, k as u128));
            }
            single.push(ok.then_some(one));
        }
        addrs.sort_unstable();
        let kind = class
            .iter()
            .map(|m| matches!(m, Source::Network(_)) as u128)
            .collect();
        ClassAddrs {
            addrs,
            kind,
            single,
        }
    }
}

/// Splits a class's journey to one socket into groups of members that
/// reach it alike: the same paths, carrying the same packets but for each
/// member's own source address. Members that do not reach it are left out.
fn alike_members(
    engine: &Engine,
    class: &[Source],
    ca: &ClassAddrs,
    paths: Paths,
    pieces: &mut Vec<(usize, usize, u32, Cube)>,
) -> Vec<(Vec<Source>, Paths)> {
    if class.len() == 1 {
        return vec![(class.to_vec(), paths)];
    }
    pieces.clear();
    // Every member's part of every box: (member, path, box, the box cut to
    // one of the member's own ranges), grouped by member and path with the
    // boxes in the order the paths hold them.
    for (pi, (_, sp)) in paths.iter().enumerate() {
        for (bi, c) in sp.0.iter().enumerate() {
            let start = ca.addrs.partition_point(|e| (e.0, e.2) < (c.fam, c.src.0));
            for e in &ca.addrs[start..] {
                if e.0 != c.fam || e.1 > c.src.1 {
                    break;
                }
                let piece = Cube {
                    src: (e.1.max(c.src.0), e.2.min(c.src.1)),
                    ..*c
                };
                pieces.push((e.3, pi, bi as u32, piece));
            }
        }
    }
    // (A box's pieces for one member come in the order of its ranges:
    // with the range, the key is unique and an unstable sort is stable.)
    pieces.sort_unstable_by_key(|p| (p.0, p.1, p.2, p.3.src.0));
    // Per group: its key (per path, the member's packets with the source
    // replaced by the position of the member's own range: equal for members
    // that reach the socket alike), the members, and per path the union of
    // their packets. Groups are few: they are compared one by one.
    type Key = Vec<(usize, Cube)>;
    let mut groups: Vec<Group> = Vec::new();
    // Members with one own range per family whose pieces are those whole
    // ranges, and the same pieces but for the source, have the same parts
    // but for the source (a box's source is then the member's range of its
    // family): the first such member's parts and group serve the others.
    // (signature: the pieces by path, sources blanked, sorted; the first
    // member; its group; its parts)
    type Shared = (Key, usize, usize, Vec<(usize, Space)>);
    let mut shared: Vec<Shared> = Vec::new();
    let mut sig: Key = Vec::new();
    let mut key: Key = Vec::new();
    let mut parts: Vec<(usize, Space)> = Vec::new();
    for member in pieces.chunk_by(|a, b| a.0 == b.0) {
        let mi = member[0].0;
        let whole = ca.single[mi].filter(|ranges| {
            member.iter().all(|p| {
                ranges[usize::from(p.3.fam == Fam::V6)]
                    .is_some_and(|(lo, hi, _)| (lo, hi) == p.3.src)
            })
        });
        if let Some(ranges) = whole {
            // The source as the position of the member's range (as in the key).
            sig.clear();
            sig.extend(member.iter().map(|p| {
                let k = ranges[usize::from(p.3.fam == Fam::V6)].map_or(0, |r| r.2);
                (p.1, Cube { src: (k, k), ..p.3 })
            }));
            sig.sort_unstable();
            if let Some(sh) = shared
                .iter()
                .find(|sh| sh.0 == sig && ca.kind[sh.1] == ca.kind[mi])
            {
                let g = &mut groups[sh.2];
                g.members.push(class[mi]);
                match &mut g.alike {
                    // The group is its first member's parts: note the range.
                    Some(alike) => alike.push(ranges),
                    // Mixed already: the first member's parts, from this source.
                    None => {
                        for (pi, part) in &sh.3 {
                            g.per_path[*pi].0.extend(part.0.iter().map(|c| {
                                Cube {
                                    src: ranges[usize::from(c.fam == Fam::V6)]
                                        .map_or(c.src, |(lo, hi, _)| (lo, hi)),
                                    ..*c
                                }
                            }));
                        }
                    }
                }
                continue;
            }
        }
        key.clear();
        key.push((
            usize::MAX,
            Cube {
                src: (ca.kind[mi], 0),
                ..Cube::full(Fam::V4)
            },
        ));
        parts.clear();
        for on_path in member.chunk_by(|a, b| a.1 == b.1) {
            let pi = on_path[0].1;
            let part = Space(on_path.iter().map(|p| p.3).collect()).into_coalesced();
            let from = key.len();
            // The position of the member's range each box of the part lies in.
            let own = engine.own_addrs(engine.source_dev(class[mi]));
            key.extend(part.0.iter().map(|c| {
                let k = own
                    .iter()
                    .position(|&(f, lo, hi)| f == c.fam && lo <= c.src.0 && c.src.1 <= hi)
                    .unwrap_or(usize::MAX) as u128;
                (pi, Cube { src: (k, k), ..*c })
            }));
            key[from..].sort_unstable();
            parts.push((pi, part));
        }
        let gi = match groups.iter().position(|g| g.key == key) {
            Some(gi) => {
                let g = &mut groups[gi];
                g.spell_out();
                g.members.push(class[mi]);
                for (pi, part) in &parts {
                    g.per_path[*pi].0.extend_from_slice(&part.0);
                }
                gi
            }
            None => {
                let mut per_path = vec![Space::default(); paths.len()];
                for (pi, part) in &parts {
                    per_path[*pi] = part.clone();
                }
                groups.push(Group {
                    key: key.clone(),
                    members: vec![class[mi]],
                    per_path,
                    alike: whole.map(|r| vec![r]),
                });
                groups.len() - 1
            }
        };
        if whole.is_some() {
            shared.push((sig.clone(), mi, gi, std::mem::take(&mut parts)));
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let (members, per_path) = g.finish();
            let ps = paths
                .iter()
                .zip(per_path)
                .filter(|(_, sp)| !sp.is_empty())
                .map(|((p, _), sp)| (p.clone(), sp))
                .collect();
            (members, ps)
        })
        .collect()
}

/// Members of a class that reach a socket alike, with their packets per path.
struct Group {
    /// Per path, the boxes with the source told as the position of the
    /// member's own range (equal for every member of the group).
    key: Vec<(usize, Cube)>,
    members: Vec<Source>,
    /// Per path, the members' packets (while `alike` is `Some`: only the
    /// first member's, coalesced).
    per_path: Vec<Space>,
    /// While every member's packets are the first member's with the source
    /// replaced by its own range: each member's ranges, the first's first.
    alike: Option<Vec<OneRange>>,
}

impl Group {
    /// Writes out the packets of the members that joined as copies of the
    /// first (before a member unlike the first joins).
    fn spell_out(&mut self) {
        let Some(alike) = self.alike.take() else {
            return;
        };
        for sp in &mut self.per_path {
            let first = sp.0.len();
            for ranges in &alike[1..] {
                for i in 0..first {
                    let c = sp.0[i];
                    let src =
                        ranges[usize::from(c.fam == Fam::V6)].map_or(c.src, |(lo, hi, _)| (lo, hi));
                    sp.0.push(Cube { src, ..c });
                }
            }
        }
    }

    /// The group's members, and its packets per path, coalesced.
    fn finish(self) -> (Vec<Source>, Vec<Space>) {
        let (members, per_path) = (self.members, self.per_path);
        let Some(alike) = self.alike else {
            return (
                members,
                per_path.into_iter().map(Space::into_coalesced).collect(),
            );
        };
        // The first member's parts are coalesced and every box's source is
        // its range of the box's family, so no two of its boxes merge along
        // any field once their sources are equal: the union of the members'
        // copies merges along the source alone, box by box, into the union
        // of the members' ranges (what `into_coalesced` gives, in its order).
        let mut ranges: PerFam<Intervals> = Default::default();
        for (k, list) in ranges.iter_mut().enumerate() {
            *list = normalise(
                alike
                    .iter()
                    .filter_map(|r| r[k].map(|(lo, hi, _)| (lo, hi)))
                    .collect(),
            );
        }
        let per_path = per_path
            .into_iter()
            .map(|sp| {
                let mut out: Vec<Cube> =
                    sp.0.iter()
                        .flat_map(|c| {
                            ranges[usize::from(c.fam == Fam::V6)]
                                .iter()
                                .map(move |&src| Cube { src, ..*c })
                        })
                        .collect();
                out.sort_unstable();
                Space(out)
            })
            .collect();
        (members, per_path)
    }
}

/// Source ranges an example packet avoids while its set has another address:
/// every martian source (`route::MARTIANS`) and the other special-purpose
/// blocks a reader would take for a mistake (RFC 6890): 0.0.0.0/8,
/// 169.254.0.0/16, 240.0.0.0/4; ::/8 (unspecified, loopback, IPv4-mapped),
/// fe80::/10 and ff00::/8.
/// Sorted by family, then start.
const AVOIDED_SOURCES: [(Fam, u128, u128); 7] = [
    (Fam::V4, 0x0000_0000, 0x00ff_ffff),
    (Fam::V4, 0x7f00_0000, 0x7fff_ffff),
    (Fam::V4, 0xa9fe_0000, 0xa9fe_ffff),
    (Fam::V4, 0xe000_0000, 0xffff_ffff),
    (Fam::V6, 0, (1 << 120) - 1),
    (Fam::V6, 0xfe80 << 112, (0xfec0 << 112) - 1),
    (Fam::V6, 0xff00 << 112, u128::MAX),
];

/// The lowest source of `lo..=hi` outside `AVOIDED_SOURCES`, if any.
fn plain_source(fam: Fam, lo: u128, hi: u128) -> Option<u128> {
    let mut x = lo;
    for &(_, a, b) in AVOIDED_SOURCES.iter().filter(|r| r.0 == fam) {
        if a <= x && x <= b {
            x = b.checked_add(1)?;
        }
    }
    (x <= hi).then_some(x)
}

/// A concrete packet inside a space: the lowest source that is not a
/// special-purpose address (the lowest at all only when the set has no
/// other), the lowest destination, an ephemeral source port if the set has
/// one, the lowest destination port.
pub fn example(space: &Space) -> Option<Example> {
    let (c, src) = space
        .0
        .iter()
        .map(|c| (c, plain_source(c.fam, c.src.0, c.src.1)))
        .min_by_key(|(c, plain)| {
            (
                c.fam,
                c.proto.trailing_zeros(),
                plain.is_none(),
                plain.unwrap_or(c.src.0),
                c.dst.0,
                c.dport.0,
            )
        })
        .map(|(c, plain)| (c, plain.unwrap_or(c.src.0)))?;
    let sport = if c.sport.0 <= EPHEMERAL.0 && EPHEMERAL.0 <= c.sport.1 {
        EPHEMERAL.0.max(49152.min(c.sport.1))
    } else {
        c.sport.0
    };
    let sport = sport.clamp(c.sport.0, c.sport.1);
    Some(Example {
        proto: bit_proto(c.proto & c.proto.wrapping_neg()),
        src: u128_addr(c.fam, src),
        sport,
        dst: u128_addr(c.fam, c.dst.0),
        dport: c.dport.0,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Example {
    pub proto: Proto,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

/// A summary of a space for people: protocols, source prefixes, destination
/// addresses, destination port ranges (never enumerations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SpaceSummary {
    pub protocols: Vec<Proto>,
    pub sources: Vec<String>,
    pub destinations: Vec<String>,
    pub ports: Vec<String>,
}

/// The smallest list of prefixes that covers an interval exactly.
pub fn interval_prefixes(fam: Fam, lo: u128, hi: u128) -> Vec<String> {
    let bits = if fam == Fam::V4 { 32 } else { 128 };
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // The largest aligned block starting at `cur` that fits.
        let mut size_log = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while size_log > 0 {
            let span = if size_log >= 128 {
                u128::MAX
            } else {
                (1u128 << size_log) - 1
            };
            if cur.checked_add(span).is_some_and(|end| end <= hi) {
                break;
            }
            size_log -= 1;
        }
        let span = if size_log >= 128 {
            u128::MAX
        } else {
            (1u128 << size_log) - 1
        };
        let addr = u128_addr(fam, cur);
        let len = bits - size_log;
        out.push(if len == bits {
            addr.to_string()
        } else {
            format!("{addr}/{len}")
        });
        let end = cur + span;
        if end >= hi {
            break;
        }
        cur = end + 1;
        if out.len() > 64 {
            out.push("…".into());
            break;
        }
    }
    out
}

pub fn summarise(space: &Space) -> SpaceSummary {
    summarise_with(space, true)
}

/// [`summarise`], leaving the sources out unless `sources` (writing every
/// source prefix is most of the work for a network's stand-in).
pub(crate) fn summarise_with(space: &Space, sources: bool) -> SpaceSummary {
    let mut s = SpaceSummary::default();
    let mut protos = 0u8;
    let mut src: BTreeMap<Fam, Vec<(u128, u128)>> = BTreeMap::new();
    let mut dst: BTreeMap<Fam, Vec<(u128, u128)>> = BTreeMap::new();
    let mut ports: Vec<(u128, u128)> = Vec::new();
    for c in &space.0 {
        protos |= c.proto;
        src.entry(c.fam).or_default().push(c.src);
        dst.entry(c.fam).or_default().push(c.dst);
        if c.proto & PORT_PROTOS != 0 {
            ports.push((c.dport.0 as u128, c.dport.1 as u128));
        }
    }
    for b in [TCP, UDP, ICMP] {
        if protos & b != 0 {
            s.protocols.push(bit_proto(b));
        }
    }
    for (fam, v) in src.into_iter().filter(|_| sources) {
        for (lo, hi) in normalise(v) {
            s.sources.extend(interval_prefixes(fam, lo, hi));
        }
    }
    for (fam, v) in dst {
        for (lo, hi) in normalise(v) {
            s.destinations.extend(interval_prefixes(fam, lo, hi));
        }
    }
    for (lo, hi) in normalise(ports) {
        s.ports.push(if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        });
    }
    s
}

/// A readable name for a source.
pub fn source_name(scn: &Scenario, s: Source) -> String {
    match s {
        Source::Host(h) => scn.host(h).name.clone(),
        Source::Network(n) => scn.network(n).name.clone(),
    }
}

/// The rules that let a path through, as `filter rule N` or `filter default` (request side).
pub fn path_rules(scn: &Scenario, path: &[PathStep]) -> Vec<String> {
    path_via(scn, path)
        .into_iter()
        .map(|(label, n)| match n {
            Some(n) => format!("{label} rule {n}"),
            None => label,
        })
        .collect()
}

/// A path's rules as the text views write them.
pub fn rules_text(rules: &[String]) -> String {
    if rules.is_empty() {
        "no filter on the way".to_string()
    } else {
        rules.join(", ")
    }
}

/// [`path_rules`] with each rule's number apart from its filter's name (the
/// table puts lines that differ only in a number together).
pub(crate) fn path_via(scn: &Scenario, path: &[PathStep]) -> Vec<(String, Option<u32>)> {
    path.iter()
        .filter(|s| !s.reply())
        .filter_map(|s| match s.kind() {
            StepKind::Filter {
                filter,
                rule: Some(i),
            } if i != ESTABLISHED => {
                let f = scn.filter(filter);
                // A rule flattened from a rule set: its own file and line.
                match f.rules.get(i as usize).and_then(|r| r.source.as_ref()) {
                    Some(src) => Some((format!("{} {src}", f.name), None)),
                    None => Some((f.name.clone(), Some(i + 1))),
                }
            }
            StepKind::Filter { filter, rule: None } => {
                let f = scn.filter(filter);
                match &f.default_source {
                    Some(src) => Some((format!("{} {src}", f.name), None)),
                    None => Some((format!("{} default", f.name), None)),
                }
            }
            StepKind::Dnat(i) => Some((
                format!("dnat: {}", path_host_nat(scn, s.device(), i as usize)),
                None,
            )),
            StepKind::Snat(i) => Some((
                format!("snat: {}", path_host_nat(scn, s.device(), i as usize)),
                None,
            )),
            _ => None,
        })
        .collect()
}

fn path_host_nat(scn: &Scenario, dev: usize, i: usize) -> String {
    scn.hosts
        .get(dev)
        .and_then(|h| h.nat.get(i))
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journey's packets to each of its targets from some of its
    /// members, restricted first and retold after, are those retold first
    /// and restricted after: every journey and target of the built-ins and
    /// generated scenarios, from its first member, every other member, its
    /// last two and all of them.
    #[test]
    fn spaces_from_some_members_are_the_spaces_restricted() {
        use super::super::classes::{members_ranges, restrict_sources};
        let mut checked = 0;
        for scn in &crate::synth::sample_scenarios(12) {
            let engine = Engine::new(scn);
            let r = reach_with(&engine, &ReachQuery::default());
            for j in &r.journeys {
                let m = &j.members;
                let picks: [Vec<Source>; 4] = [
                    vec![m[0]],
                    m.iter().step_by(2).copied().collect(),
                    m[m.len().saturating_sub(2)..].to_vec(),
                    m.to_vec(),
                ];
                for members in &picks {
                    let ranges = members_ranges(&engine, members);
                    for k in 0..j.targets.len() {
                        let want: Vec<Space> = j
                            .spaces_for(scn, k)
                            .iter()
                            .map(|sp| restrict_sources(sp, &ranges))
                            .collect();
                        assert_eq!(j.spaces_from(scn, k, &ranges), want, "{}", scn.name);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked} cases");
    }

    /// The writers' device names are the engine's, device for device, on
    /// every built-in scenario and generated ones with networks of every kind.
    #[test]
    fn device_names_are_the_engines() {
        for scn in &crate::synth::sample_scenarios(20) {
            let engine = super::super::symbolic::Engine::new(scn);
            let want: Vec<String> = engine.devices.iter().map(|d| d.host.name.clone()).collect();
            assert_eq!(device_names(scn), want, "{}", scn.name);
        }
    }

    #[test]
    fn prefixes_cover_intervals_exactly() {
        assert_eq!(
            interval_prefixes(Fam::V4, 0, u32::MAX as u128),
            vec!["0.0.0.0/0"]
        );
        assert_eq!(interval_prefixes(Fam::V4, 10, 10), vec!["0.0.0.10"]);
        let v = interval_prefixes(
            Fam::V4,
            addr_u128("10.0.0.0".parse().unwrap()),
            addr_u128("10.0.1.255".parse().unwrap()),
        );
        assert_eq!(v, vec!["10.0.0.0/23"]);
        let v = interval_prefixes(
            Fam::V4,
            addr_u128("10.0.0.1".parse().unwrap()),
            addr_u128("10.0.0.6".parse().unwrap()),
        );
        assert_eq!(
            v,
            vec!["10.0.0.1", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6"]
        );
        assert_eq!(interval_prefixes(Fam::V6, 0, u128::MAX), vec!["::/0"]);
    }

    /// The writers render classes on every core, a window at a time: their
    /// bytes are those of the plain way, one class after another through
    /// serde (the JSON) and through `json_class` (the CSV), on every
    /// built-in scenario and variant, on generated ones with more classes
    /// than a window, and on an answer with no class at all.
    #[test]
    fn windowed_writers_write_what_the_plain_way_writes() {
        use crate::synth::{large, SynthParams};
        let mut scns = Vec::new();
        for ex in crate::examples::ALL {
            let base = crate::load::load(&ex.file(), ex.text, None).expect("built-in");
            for var in
                std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone())))
            {
                scns.push(
                    crate::load::load(&ex.file(), ex.text, var.as_deref()).expect("built-in"),
                );
            }
        }
        for (seed, hosts) in [(3, 160), (4, 300)] {
            let text = large(&SynthParams::sized(seed, hosts));
            scns.push(crate::load::load("synth.yaml", &text, None).expect("generated"));
        }
        let mut windows_crossed = false;
        for scn in &scns {
            let full = reach(scn, &ReachQuery::default());
            let none = Reach {
                journeys: Vec::new(),
                ..full.clone()
            };
            windows_crossed |= full.journeys.len() > WRITE_WINDOW;
            for r in [&full, &none] {
                let names = device_names(scn);
                let classes: Vec<serde_json::Value> = r
                    .journeys
                    .iter()
                    .map(|j| serde_json::to_value(json_class(scn, &names, j)).unwrap())
                    .collect();
                let plain = serde_json::json!({
                    "classes": classes,
                    "file": scn.file,
                    "pairs": r.pairs(),
                    "scenario": scn.name,
                    "schema": 2,
                    "variant": scn.variant,
                });
                let want = serde_json::to_string_pretty(&plain).unwrap() + "\n";
                assert_eq!(render_json(scn, r), want, "{}", scn.name);
                let mut want = String::from("sources,source_kind,targets,pairs,proto,port,told_for,packet_sources,destinations,dports,rules,devices,example\n");
                for j in &r.journeys {
                    let c = json_class(scn, &names, j);
                    let targets: Vec<String> = c
                        .targets
                        .iter()
                        .map(|t| format!("{}:{}", t.host, t.socket.replace(' ', "_")))
                        .collect();
                    for p in &c.paths {
                        let row = [
                            csv_quote(&c.sources.join(" ")),
                            c.source_kind.to_string(),
                            csv_quote(&targets.join(" ")),
                            c.pairs.to_string(),
                            c.proto.to_string(),
                            c.port.to_string(),
                            csv_quote(&c.told_for),
                            csv_quote(&p.packets.sources.join(" ")),
                            csv_quote(&p.packets.destinations.join(" ")),
                            csv_quote(&p.packets.ports.join(" ")),
                            csv_quote(&p.rules.join("; ")),
                            csv_quote(&p.devices.join(" ")),
                            csv_quote(&example_text(&p.example)),
                        ];
                        want.push_str(&row.join(","));
                        want.push('\n');
                    }
                }
                assert_eq!(render_csv(scn, r), want, "{}", scn.name);
            }
        }
        assert!(
            windows_crossed,
            "no scenario has more classes than a window"
        );
    }
}

/// A source's set of sending addresses, for saying "any" when a journey covers all of it.
/// One field's intervals (`|c| c.src` or `|c| c.dst`) of a space's boxes of
/// one family, sorted and merged.
pub(crate) fn fam_ranges(
    space: &Space,
    fam: Fam,
    field: fn(&Cube) -> (u128, u128),
) -> Vec<(u128, u128)> {
    normalise(space.0.iter().filter(|c| c.fam == fam).map(field).collect())
}

/// The addresses of network `n` that a device's reverse-path check may drop
/// whatever the routes say (`route::not_unicast_back`): of each of its
/// prefixes (not a catch-all's), the IPv4 directed broadcast and the IPv6
/// subnet-router anycast address.
pub(crate) fn rp_exempt(scn: &Scenario, n: NetworkId) -> Vec<(Fam, u128)> {
    let net = scn.network(n);
    if net.catch_all {
        return Vec::new();
    }
    net.prefixes
        .iter()
        .filter_map(|p| match p {
            ipnet::IpNet::V4(p) if p.prefix_len() < 31 => {
                Some((Fam::V4, addr_u128(IpAddr::V4(p.broadcast()))))
            }
            ipnet::IpNet::V6(p) if p.prefix_len() < 127 => {
                Some((Fam::V6, addr_u128(IpAddr::V6(p.network()))))
            }
            _ => None,
        })
        .collect()
}

/// Whether a space's sources are every address a network's stand-in can
/// reach anything from, in the space's families: its own ranges, less the
/// martian sources that a device may drop on the way (whether it drops
/// them depends on the path: a link-local IPv6 source reaches a neighbour
/// but is not forwarded) and less `exempt` (`rp_exempt`: what a
/// reverse-path check drops depends on the path too), and nothing beyond
/// its own ranges.
pub(crate) fn full_source_space(
    engine_owned: &[(Fam, u128, u128)],
    exempt: &[(Fam, u128)],
    space: &Space,
    fams: &[Fam],
) -> bool {
    FullSources::new(engine_owned, exempt).holds(space, fams)
}

/// [`full_source_space`] for one network, its ranges worked out once (a
/// table of a million journeys asks it for each journey from a stand-in).
pub(crate) struct FullSources {
    /// Per family: the network's own ranges, and those less the martians
    /// and exempt addresses.
    fams: PerFam<(Intervals, Intervals)>,
}

impl FullSources {
    pub(crate) fn new(engine_owned: &[(Fam, u128, u128)], exempt: &[(Fam, u128)]) -> FullSources {
        let of = |fam: Fam| {
            let own = normalise(
                engine_owned
                    .iter()
                    .filter(|o| o.0 == fam)
                    .map(|o| (o.1, o.2))
                    .collect(),
            );
            let martian = normalise(
                crate::journey::route::MARTIANS
                    .iter()
                    .filter(|m| m.1 == (fam == Fam::V6))
                    .map(|m| (m.2, m.3))
                    .chain(exempt.iter().filter(|e| e.0 == fam).map(|&(_, x)| (x, x)))
                    .collect(),
            );
            let needed = intervals_minus(&own, &martian);
            (own, needed)
        };
        FullSources {
            fams: [of(Fam::V4), of(Fam::V6)],
        }
    }

    /// Whether `space`'s sources are every address the stand-in can reach
    /// anything from, in the families `fams`.
    pub(crate) fn holds(&self, space: &Space, fams: &[Fam]) -> bool {
        fams.iter().all(|&fam| {
            let have = fam_ranges(space, fam, |c| c.src);
            let (own, needed) = &self.fams[usize::from(fam == Fam::V6)];
            intervals_within(&have, own) && intervals_within(needed, &have)
        })
    }
}

/// `a` minus `b`, both sorted and disjoint.
fn intervals_minus(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    for &(lo, hi) in a {
        let mut cur = lo;
        let mut done = false;
        for &(x, y) in b.iter().skip_while(|iv| iv.1 < lo) {
            if x > hi {
                break;
            }
            if x > cur {
                out.push((cur, x - 1));
            }
            if y >= hi {
                done = true;
                break;
            }
            cur = cur.max(y + 1);
        }
        if !done {
            out.push((cur, hi));
        }
    }
    out
}

/// Whether every interval of `a` lies inside `b` (both sorted and disjoint).
fn intervals_within(a: &[(u128, u128)], b: &[(u128, u128)]) -> bool {
    a.iter().all(|&(lo, hi)| {
        let i = b.partition_point(|iv| iv.1 < lo);
        b.get(i).is_some_and(|iv| iv.0 <= lo && hi <= iv.1)
    })
}

/// The table a person reads in a terminal (see [`super::reach_table`]) of a
/// reach from every source. JSON and CSV hold everything.
pub fn render_text(scn: &Scenario, r: &Reach) -> String {
    super::reach_table::render(
        scn,
        r,
        &ReachQuery::default(),
        super::reach_table::View::Auto,
    )
}

pub(crate) fn owned_by_source(
    scn: &Scenario,
) -> std::collections::HashMap<NetworkId, Vec<(Fam, u128, u128)>> {
    // (What `Engine::new` gives the stand-ins, without building the engine.)
    super::symbolic::stand_ins_owned(scn)
        .into_iter()
        .enumerate()
        .map(|(i, owned)| (NetworkId(i as u32), owned))
        .collect()
}

#[derive(Serialize)]
struct JsonPath {
    rules: Vec<String>,
    devices: Vec<String>,
    packets: SpaceSummary,
    example: Option<Example>,
}

#[derive(Serialize)]
struct JsonJourney {
    source: String,
    source_kind: &'static str,
    host: String,
    socket: String,
    proto: Proto,
    port: u16,
    packets: SpaceSummary,
    paths: Vec<JsonPath>,
}

fn path_devices(scn: &Scenario, engine_names: &[String], path: &[PathStep]) -> Vec<String> {
    let _ = scn;
    let mut v: Vec<String> = Vec::new();
    for s in path.iter().filter(|s| !s.reply()) {
        let n = engine_names.get(s.device()).cloned().unwrap_or_default();
        if v.last() != Some(&n) {
            v.push(n);
        }
    }
    v
}

/// The engine's device names, for the devices of a path: the hosts, then a
/// stand-in per network, named as its network (see `Engine::new`; not built
/// here, which took as long as the answer's writing on large scenarios).
fn device_names(scn: &Scenario) -> Vec<String> {
    scn.hosts
        .iter()
        .map(|h| h.name.clone())
        .chain(scn.networks.iter().map(|n| n.name.clone()))
        .collect()
}

fn json_journey(scn: &Scenario, names: &[String], j: &Journey) -> JsonJourney {
    let h = scn.host(j.host());
    let s = &h.sockets[j.socket()];
    JsonJourney {
        source: j
            .members
            .iter()
            .map(|m| source_name(scn, *m))
            .collect::<Vec<_>>()
            .join(" "),
        source_kind: match j.source {
            Source::Host(_) => "host",
            Source::Network(_) => "network",
        },
        host: h.name.clone(),
        socket: s.text.clone(),
        proto: s.proto,
        port: s.port,
        packets: summarise(&j.space()),
        paths: j
            .paths
            .iter()
            .map(|(p, sp)| JsonPath {
                rules: path_rules(scn, p),
                devices: path_devices(scn, names, p),
                packets: summarise(sp),
                example: example(sp),
            })
            .collect(),
    }
}

/// The journeys of a reach for `render_json`, each made as it is written
/// (the answer for a large scenario is gigabytes as one JSON tree).
struct LazyJourneys<'a> {
    scn: &'a Scenario,
    r: &'a Reach,
    names: Vec<String>,
}

impl Serialize for LazyJourneys<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        for j in self.r.per_target(self.scn) {
            // Through a JSON value, so that keys come sorted as in the
            // other JSON answers.
            let v = serde_json::to_value(json_journey(self.scn, &self.names, &j))
                .map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

/// The whole JSON answer, its keys in sorted order.
#[derive(Serialize)]
struct JsonReach<'a> {
    file: &'a str,
    journeys: LazyJourneys<'a>,
    scenario: &'a str,
    schema: u32,
    variant: &'a Option<String>,
}

/// The answer as JSON (schema 2): one entry per class of journeys
/// (docs/json.md, "reach").
pub fn render_json(scn: &Scenario, r: &Reach) -> String {
    let mut out = Vec::new();
    write_json(scn, r, &mut out).expect("a vector takes every write");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// The answer one (sources, socket) pair at a time (schema 1, `--pairs`):
/// its size grows with the pairs.
pub fn render_json_pairs(scn: &Scenario, r: &Reach) -> String {
    let mut out = Vec::new();
    write_json_pairs(scn, r, &mut out).expect("a vector takes every write");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// One class of journeys in the JSON answer.
#[derive(Serialize)]
struct JsonClass {
    /// Every source of the class.
    sources: Vec<String>,
    source_kind: &'static str,
    /// Every socket of the class.
    targets: Vec<JsonTarget>,
    /// The (source, socket) pairs the class stands for (a host never
    /// reaches its own socket).
    pairs: usize,
    proto: Proto,
    port: u16,
    /// The target the paths and packets below are told for.
    told_for: String,
    packets: SpaceSummary,
    paths: Vec<JsonPath>,
}

#[derive(Serialize)]
struct JsonTarget {
    host: String,
    socket: String,
}

fn json_class(scn: &Scenario, names: &[String], j: &Journey) -> JsonClass {
    let t0 = j.targets[0];
    let h0 = scn.host(t0.host);
    let s0 = &h0.sockets[t0.socket];
    JsonClass {
        sources: j.members.iter().map(|m| source_name(scn, *m)).collect(),
        source_kind: match j.source {
            Source::Host(_) => "host",
            Source::Network(_) => "network",
        },
        targets: j
            .targets
            .iter()
            .map(|t| {
                let h = scn.host(t.host);
                JsonTarget {
                    host: h.name.clone(),
                    socket: h.sockets[t.socket].text.clone(),
                }
            })
            .collect(),
        pairs: j.pairs(),
        proto: s0.proto,
        port: s0.port,
        told_for: h0.name.clone(),
        packets: summarise(&j.space()),
        paths: j
            .paths
            .iter()
            .map(|(p, sp)| JsonPath {
                rules: path_rules(scn, p),
                devices: path_devices(scn, names, p),
                packets: summarise(sp),
                example: example(sp),
            })
            .collect(),
    }
}

/// [`render_json`] into a writer as it is made: the text
/// `serde_json::to_writer_pretty` makes of the answer (keys sorted), its
/// classes written on every core a window at a time and put in order.
pub fn write_json(scn: &Scenario, r: &Reach, mut w: impl std::io::Write) -> std::io::Result<()> {
    let names = device_names(scn);
    let js = &r.journeys;
    w.write_all(b"{\n  \"classes\": [")?;
    for start in (0..js.len()).step_by(WRITE_WINDOW) {
        let end = (start + WRITE_WINDOW).min(js.len());
        let texts = in_order(end - start, |i, out: &mut Vec<u8>| {
            // Through a JSON value, so that keys come sorted as in the
            // other JSON answers.
            let v = serde_json::to_value(json_class(scn, &names, &js[start + i]))
                .expect("a class is plain data");
            pretty_at_depth(&v, 2, out);
        });
        for (i, t) in texts.iter().enumerate() {
            w.write_all(if start + i == 0 {
                b"\n    "
            } else {
                b",\n    "
            })?;
            w.write_all(t)?;
        }
    }
    w.write_all(if js.is_empty() { b"]" } else { b"\n  ]" })?;
    let tail = [
        ("file", serde_json::to_string(&scn.file)?),
        ("pairs", r.pairs().to_string()),
        ("scenario", serde_json::to_string(&scn.name)?),
        ("schema", "2".to_string()),
        ("variant", serde_json::to_string(&scn.variant)?),
    ];
    for (k, v) in tail {
        write!(w, ",\n  \"{k}\": {v}")?;
    }
    w.write_all(b"\n}\n")
}

/// [`render_json_pairs`] into a writer as it is made (the 2,000-host answer
/// is 1.6 GB of text: the caller need not hold it).
pub fn write_json_pairs(
    scn: &Scenario,
    r: &Reach,
    mut w: impl std::io::Write,
) -> std::io::Result<()> {
    let answer = JsonReach {
        file: &scn.file,
        journeys: LazyJourneys {
            scn,
            r,
            names: device_names(scn),
        },
        scenario: &scn.name,
        schema: 1,
        variant: &scn.variant,
    };
    // (An error of the writer comes back as it was: a reader that went away
    // stays a broken pipe.)
    serde_json::to_writer_pretty(&mut w, &answer).map_err(std::io::Error::from)?;
    w.write_all(b"\n")
}

/// CSV: one row per path of each class; lists are space-separated.
pub fn render_csv(scn: &Scenario, r: &Reach) -> String {
    let mut out = Vec::new();
    write_csv(scn, r, &mut out).expect("a vector takes every write");
    String::from_utf8(out).expect("CSV is UTF-8")
}

/// CSV one (sources, socket) pair at a time (`--pairs`).
pub fn render_csv_pairs(scn: &Scenario, r: &Reach) -> String {
    let mut out = Vec::new();
    write_csv_pairs(scn, r, &mut out).expect("a vector takes every write");
    String::from_utf8(out).expect("CSV is UTF-8")
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn example_text(e: &Option<Example>) -> String {
    e.map(|e| format!("{} {}:{} -> {}:{}", e.proto, e.src, e.sport, e.dst, e.dport))
        .unwrap_or_default()
}

/// [`render_csv`] into a writer, row by row: classes are written on every
/// core, a window at a time, and the rows come out in class order.
pub fn write_csv(scn: &Scenario, r: &Reach, mut w: impl std::io::Write) -> std::io::Result<()> {
    w.write_all(b"sources,source_kind,targets,pairs,proto,port,told_for,packet_sources,destinations,dports,rules,devices,example\n")?;
    let names = device_names(scn);
    let js = &r.journeys;
    for start in (0..js.len()).step_by(WRITE_WINDOW) {
        let end = (start + WRITE_WINDOW).min(js.len());
        for rows in in_order(end - start, |i, out| {
            csv_class(scn, &names, &js[start + i], out)
        }) {
            w.write_all(&rows)?;
        }
    }
    Ok(())
}

/// The CSV rows of one class: one per path.
fn csv_class(scn: &Scenario, names: &[String], j: &Journey, out: &mut Vec<u8>) {
    let q = csv_quote;
    let t0 = j.targets[0];
    let h0 = scn.host(t0.host);
    let s0 = &h0.sockets[t0.socket];
    let sources: Vec<String> = j.members.iter().map(|m| source_name(scn, *m)).collect();
    let targets: Vec<String> = j
        .targets
        .iter()
        .map(|t| {
            let h = scn.host(t.host);
            format!("{}:{}", h.name, h.sockets[t.socket].text.replace(' ', "_"))
        })
        .collect();
    let head = [
        q(&sources.join(" ")),
        match j.source {
            Source::Host(_) => "host",
            Source::Network(_) => "network",
        }
        .to_string(),
        q(&targets.join(" ")),
        j.pairs().to_string(),
        s0.proto.to_string(),
        s0.port.to_string(),
        q(&h0.name),
    ]
    .join(",");
    for (p, sp) in &j.paths {
        let packets = summarise(sp);
        let row = [
            head.clone(),
            q(&packets.sources.join(" ")),
            q(&packets.destinations.join(" ")),
            q(&packets.ports.join(" ")),
            q(&path_rules(scn, p).join("; ")),
            q(&path_devices(scn, names, p).join(" ")),
            q(&example_text(&example(sp))),
        ];
        out.extend_from_slice(row.join(",").as_bytes());
        out.push(b'\n');
    }
}

/// How many classes the writers hold rendered at once.
const WRITE_WINDOW: usize = 512;

/// `n` items rendered by `render` on every core, in item order.
fn in_order(n: usize, render: impl Fn(usize, &mut Vec<u8>) + Sync) -> Vec<Vec<u8>> {
    let items: Vec<usize> = (0..n).collect();
    super::symbolic::par_map(&items, |&i| {
        let mut v = Vec::new();
        render(i, &mut v);
        v
    })
}

/// `v` as `serde_json::to_writer_pretty` writes it `depth` levels down
/// (each line after the first indented by two spaces a level).
fn pretty_at_depth(v: &serde_json::Value, depth: usize, out: &mut Vec<u8>) {
    let mut text = Vec::new();
    serde_json::to_writer_pretty(&mut text, v).expect("a vector takes every write");
    let indent = "  ".repeat(depth);
    // A JSON string holds no raw line break: every one is between tokens.
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
            out.extend_from_slice(indent.as_bytes());
        }
        out.extend_from_slice(line);
    }
}

/// [`render_csv_pairs`] into a writer, row by row.
pub fn write_csv_pairs(
    scn: &Scenario,
    r: &Reach,
    mut w: impl std::io::Write,
) -> std::io::Result<()> {
    let q = csv_quote;
    w.write_all(b"source,source_kind,host,socket,proto,port,sources,destinations,dports,rules,devices,example\n")?;
    let names = device_names(scn);
    for j in r.per_target(scn).map(|j| json_journey(scn, &names, &j)) {
        for p in &j.paths {
            let ex = p
                .example
                .map(|e| format!("{} {}:{} -> {}:{}", e.proto, e.src, e.sport, e.dst, e.dport))
                .unwrap_or_default();
            let row = [
                q(&j.source),
                j.source_kind.to_string(),
                q(&j.host),
                q(&j.socket),
                j.proto.to_string(),
                j.port.to_string(),
                q(&p.packets.sources.join(" ")),
                q(&p.packets.destinations.join(" ")),
                q(&p.packets.ports.join(" ")),
                q(&p.rules.join("; ")),
                q(&p.devices.join(" ")),
                q(&ex),
            ];
            w.write_all(row.join(",").as_bytes())?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}
