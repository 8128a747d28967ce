//! Re-checking after a change, from what changed: a warm engine and, per
//! expectation, its verdict and what its evaluation consulted.
//!
//! In the spirit of Delta-net and APKeep: after a change to the rules of
//! some filters, the engine compiles those filters again and keeps every
//! other table ([`Engine::with_filters_changed`]), and only the
//! expectations whose walks or traces consulted a changed filter (or sent a
//! network stand-in's alike ranges that the change regrouped) are evaluated
//! again; the others keep their verdict, detail and counterexample. Any
//! other change (hosts, addresses, routes, NAT, sockets, networks, DNS)
//! builds the engine again and evaluates every expectation.
//!
//! The invariant: [`WarmCheck::report`] is always the report
//! [`check`](super::check::check) makes from scratch for the same scenario
//! (tested in tests/incremental.rs).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::*;

use super::check::{self, CheckReport, CheckResult};
use super::consulted::{self, Consulted, Deps, FilterChange};
use super::reach::Reach;
use super::symbolic::{rule_boxes, Engine, Parked, Source};

/// What differs between two loads of a scenario, as far as the engine and
/// `check` are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing the engine reads (the expectations may differ, and the
    /// variant's name).
    Same,
    /// Only the content of these filters (rules, policy, statefulness,
    /// where they are written), by index; filters are matched by name and
    /// position.
    Filters(Vec<FilterId>),
    /// Something else: hosts, networks, addresses, routes, NAT, sockets,
    /// DNS, filters added, removed, renamed or reordered.
    Other,
}

/// Compares two scenarios: a model diff of what the engine reads. Rules
/// are compared by content (and place in the file: a rule that moved is a
/// change, as traces cite its line).
pub fn change(old: &Scenario, new: &Scenario) -> Change {
    let same_rest = old.name == new.name
        && old.about == new.about
        && old.file == new.file
        && old.networks == new.networks
        && old.hosts == new.hosts
        && old.dns == new.dns
        && old.filters.len() == new.filters.len()
        && old
            .filters
            .iter()
            .zip(&new.filters)
            .all(|(a, b)| a.name == b.name);
    if !same_rest {
        return Change::Other;
    }
    let changed: Vec<FilterId> = old
        .filters
        .iter()
        .zip(&new.filters)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| FilterId(i as u32))
        .collect();
    if changed.is_empty() {
        Change::Same
    } else {
        Change::Filters(changed)
    }
}

/// What a change to one filter can affect: anything that met it when its
/// policy, statefulness, loopback rules or place changed; else the packets
/// within the boxes of the rules that changed (before and after) and, when
/// rules were added or removed, of every rule after them (their numbers,
/// which traces cite, changed). A packet outside all these boxes meets the
/// same rule as before.
pub fn footprint(old: &Filter, new: &Filter, id: FilterId) -> FilterChange {
    let whole = old.name != new.name
        || old.stateful != new.stateful
        || old.default != new.default
        || old.default_origin != new.default_origin
        || old.default_source != new.default_source
        || old.origin != new.origin
        || old.source != new.source
        || old.loopback != new.loopback;
    let (a, b) = (&old.rules, &new.rules);
    let (head, tail) = super::symbolic::changed_span(a, b);
    let boxes = a[head..a.len() - tail]
        .iter()
        .chain(&b[head..b.len() - tail])
        .flat_map(rule_boxes)
        .collect();
    FilterChange {
        filter: id,
        whole,
        boxes,
    }
}

/// One expectation's answer and what it rests on.
struct Record {
    text: String,
    kind: ExpectKind,
    /// The walk it looked at: its sources and hosts (see `check::Plan`).
    walk: (Option<Vec<Source>>, Option<Vec<HostId>>),
    /// What the walk and its own evaluation (echo walks, traces) consulted.
    deps: Deps,
    result: CheckResult,
}

/// How the engine came to be for the last answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineWas {
    /// Built from scratch (the first answer, or a change other than to filters).
    Built,
    /// Kept, with this many filters compiled again.
    Updated(usize),
    /// Kept as it was (no filter changed).
    Kept,
}

impl EngineWas {
    /// `built`, `updated`, `kept`: as the API's header says it.
    pub fn word(self) -> &'static str {
        match self {
            EngineWas::Built => "built",
            EngineWas::Updated(_) => "updated",
            EngineWas::Kept => "kept",
        }
    }
}

/// What the last answer took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub expectations: usize,
    /// Expectations evaluated again (the others kept their result).
    pub reevaluated: usize,
    /// Walks of the engine made for them.
    pub walks: usize,
    pub engine: EngineWas,
}

/// A scenario's check kept warm: its engine, its report, and what each
/// expectation's answer rests on.
pub struct WarmCheck {
    scn: Arc<Scenario>,
    engine: Option<Parked>,
    records: Vec<Record>,
    report: CheckReport,
    stats: Stats,
}

impl WarmCheck {
    /// `check` of `scn` from scratch, kept warm.
    pub fn new(scn: Arc<Scenario>) -> WarmCheck {
        let engine = Engine::new(&scn);
        let (records, _, walks) = evaluate(&engine, &scn, None);
        let report = check::report(&scn, records.iter().map(|r| r.result.clone()).collect());
        let engine = Some(engine.park());
        let n = records.len();
        WarmCheck {
            stats: Stats {
                expectations: n,
                reevaluated: n,
                walks,
                engine: EngineWas::Built,
            },
            scn,
            engine,
            records,
            report,
        }
    }

    /// The scenario the report is about.
    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.scn
    }

    /// The report: the same as `check(self.scenario())` makes.
    pub fn report(&self) -> &CheckReport {
        &self.report
    }

    /// What the last answer (`new` or `update`) took.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Moves to `new` (a variant, an edited scenario): the engine is
    /// updated for the filters that changed and only the expectations that
    /// a change can affect are evaluated again (see the module's text).
    pub fn update(&mut self, new: Arc<Scenario>) -> Stats {
        if Arc::ptr_eq(&new, &self.scn) {
            self.stats = Stats {
                expectations: self.records.len(),
                reevaluated: 0,
                walks: 0,
                engine: EngineWas::Kept,
            };
            return self.stats;
        }
        // No engine kept (an update that panicked half-way): build it again.
        let (engine, filters, groups, was) = match (self.engine.take(), change(&self.scn, &new)) {
            (Some(parked), Change::Same) => {
                (parked.unpark(&new), Vec::new(), Vec::new(), EngineWas::Kept)
            }
            (Some(parked), Change::Filters(fs)) => {
                let n = fs.len();
                let footprints = fs
                    .iter()
                    .map(|&f| footprint(self.scn.filter(f), new.filter(f), f))
                    .collect();
                let (e, moved) = parked.unpark(&self.scn).with_filters_changed(&new, &fs);
                (e, footprints, moved, EngineWas::Updated(n))
            }
            _ => (Engine::new(&new), Vec::new(), Vec::new(), EngineWas::Built),
        };
        let reuse = (was != EngineWas::Built).then_some(Reuse {
            old: &self.records,
            filters: &filters,
            groups: &groups,
        });
        let (records, reevaluated, walks) = evaluate(&engine, &new, reuse);
        self.report = check::report(&new, records.iter().map(|r| r.result.clone()).collect());
        self.engine = Some(engine.park());
        self.stats = Stats {
            expectations: records.len(),
            reevaluated,
            walks,
            engine: was,
        };
        self.records = records;
        self.scn = new;
        self.stats
    }
}

/// The records of the scenario before the change, and what changed.
struct Reuse<'a> {
    old: &'a [Record],
    filters: &'a [FilterChange],
    groups: &'a [usize],
}

/// Every expectation's record for `scn`: kept from `reuse` where nothing
/// it consulted changed, evaluated (recording what it consults) otherwise.
/// Also how many were evaluated, and the number of walks made for them.
fn evaluate(engine: &Engine, scn: &Scenario, reuse: Option<Reuse>) -> (Vec<Record>, usize, usize) {
    let plan = check::plan(scn);
    let walk_of = |i: usize| {
        let k = &plan.keys[i];
        (k.clone(), plan.walks[k].clone())
    };
    let mut kept: Vec<Option<Record>> = Vec::with_capacity(scn.expectations.len());
    let mut used = vec![false; reuse.as_ref().map_or(0, |r| r.old.len())];
    for (i, e) in scn.expectations.iter().enumerate() {
        let found = reuse.as_ref().and_then(|r| {
            let walk = walk_of(i);
            // The same place first (the usual case), else anywhere.
            let fits = |j: usize| {
                let o = &r.old[j];
                !used[j]
                    && o.text == e.text
                    && o.kind == e.kind
                    && o.walk == walk
                    && !o.deps.meets(r.filters, r.groups)
            };
            let j = if i < r.old.len() && fits(i) {
                Some(i)
            } else {
                (0..r.old.len()).find(|&j| fits(j))
            }?;
            used[j] = true;
            let o = &r.old[j];
            let mut result = o.result.clone();
            result.line = e.origin.line;
            result.column = e.origin.column;
            if let Some(t) = &mut result.trace {
                t.scenario.clone_from(&scn.name);
                t.file.clone_from(&scn.file);
                t.variant.clone_from(&scn.variant);
            }
            Some(Record {
                text: o.text.clone(),
                kind: o.kind.clone(),
                walk,
                deps: o.deps.clone(),
                result,
            })
        });
        kept.push(found);
    }
    let fresh = Consulted::new;
    let mut answers: BTreeMap<&Option<Vec<Source>>, (Reach, Deps)> = BTreeMap::new();
    for (i, k) in kept.iter().enumerate() {
        let key = &plan.keys[i];
        if k.is_some() || answers.contains_key(key) {
            continue;
        }
        let rec = fresh();
        let reach = consulted::recording(Some(rec.clone()), || {
            check::walk(engine, key, &plan.walks[key])
        });
        answers.insert(key, (reach, rec.deps()));
    }
    let walks = answers.len();
    let reevaluated = kept.iter().filter(|k| k.is_none()).count();
    let records = kept
        .into_iter()
        .enumerate()
        .map(|(i, k)| match k {
            Some(r) => r,
            None => {
                let e = &scn.expectations[i];
                let (reach, walk_deps) = &answers[&plan.keys[i]];
                let rec = fresh();
                let result = consulted::recording(Some(rec.clone()), || {
                    check::result_of(scn, engine, reach, e)
                });
                let mut deps = rec.deps();
                deps.union(walk_deps);
                Record {
                    text: e.text.clone(),
                    kind: e.kind.clone(),
                    walk: walk_of(i),
                    deps,
                    result,
                }
            }
        })
        .collect();
    (records, reevaluated, walks)
}
