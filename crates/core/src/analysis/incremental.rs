//! Re-checking after a change, from what changed: a warm engine and, per
//! expectation, its verdict and what its evaluation consulted.
//!
//! In the spirit of Delta-net and APKeep: after a change to the rules of
//! some filters, the engine compiles those filters again and keeps every
//! other table ([`Engine::with_filters_changed`]). The walks are kept
//! class of sources by class, each with what its walk consulted: only the
//! classes whose packets met a changed rule (or that sent a network
//! stand-in's alike ranges that the change regrouped) are walked again.
//! An expectation keeps its verdict, detail and counterexample when its
//! walk found the same journeys (naming no rule that changed) and nothing
//! its own evaluation consulted (traces, echo walks) changed; the others
//! are evaluated again on the walk put together from its classes. Any
//! other change (hosts, addresses, routes, NAT, sockets, networks, DNS)
//! builds the engine again and evaluates every expectation.
//!
//! The invariant: [`WarmCheck::report`] is always the report
//! [`check`](super::check::check) makes from scratch for the same scenario
//! (tested in tests/incremental.rs).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::model::*;

use super::budget::{journey_bytes, Budget, Exceeded};
use super::check::{self, CheckReport, CheckResult};
use super::consulted::{self, Consulted, Deps, FilterChange};
use super::reach::{classes_for, reach_parts, ClassPart, Joint, Journey, Reach, ReachQuery};
use super::symbolic::{rule_boxes, Engine, Parked, Source, StepKind, ESTABLISHED};

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
    let boxes = if a.len() == b.len() {
        // As many rules: a rule the same as the one at its place before
        // keeps its number and its match; only the others changed.
        (head..a.len() - tail)
            .filter(|&i| a[i] != b[i])
            .flat_map(|i| [&a[i], &b[i]])
            .flat_map(rule_boxes)
            .collect()
    } else {
        a[head..a.len() - tail]
            .iter()
            .chain(&b[head..b.len() - tail])
            .flat_map(rule_boxes)
            .collect()
    };
    FilterChange {
        filter: id,
        whole,
        first_rule: head,
        boxes,
    }
}

/// One expectation's answer and what it rests on.
struct Record {
    text: String,
    kind: ExpectKind,
    /// The walk it looked at: its sources and hosts (see `check::Plan`).
    walk: (Option<Vec<Source>>, Option<Vec<HostId>>),
    /// What its own evaluation (echo walks, traces) consulted, beyond the
    /// walk (which is kept class by class, with what each class consulted).
    deps: Deps,
    result: CheckResult,
}

/// A walk of the plan, kept class of sources by class.
struct Walked {
    to: Option<Vec<HostId>>,
    parts: Vec<ClassPart>,
}

type Walks = BTreeMap<Option<Vec<Source>>, Walked>;

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
    /// Walks of the engine in which some class of sources was walked.
    pub walks: usize,
    /// Classes of sources walked (the others kept their journeys).
    pub classes: usize,
    pub engine: EngineWas,
}

/// A scenario's check kept warm: its engine, its report, what each
/// expectation's answer rests on, and its walks class by class.
pub struct WarmCheck {
    scn: Arc<Scenario>,
    engine: Option<Parked>,
    records: Vec<Record>,
    walks: Walks,
    report: CheckReport,
    stats: Stats,
}

impl WarmCheck {
    /// `check` of `scn` from scratch, kept warm.
    pub fn new(scn: Arc<Scenario>) -> WarmCheck {
        let engine = Engine::new(&scn);
        let done = evaluate(&engine, &scn, None);
        let report = check::report(
            &scn,
            done.records.iter().map(|r| r.result.clone()).collect(),
        );
        let engine = Some(engine.park());
        let n = done.records.len();
        WarmCheck {
            stats: Stats {
                expectations: n,
                reevaluated: n,
                walks: done.walks_made,
                classes: done.classes,
                engine: EngineWas::Built,
            },
            scn,
            engine,
            records: done.records,
            walks: done.walks,
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
                classes: 0,
                engine: EngineWas::Kept,
            };
            return self.stats;
        }
        // Taken: an update that panics half-way leaves no walks to reuse.
        let old_walks = std::mem::take(&mut self.walks);
        let (engine, filters, groups, was, moved) =
            move_engine(self.engine.take(), &self.scn, &new);
        let reuse = (was != EngineWas::Built).then_some(Reuse {
            // Declarations that moved: every result cites lines anew.
            old: if moved == Moved::Lines {
                &[]
            } else {
                &self.records
            },
            walks: old_walks,
            filters: &filters,
            groups: &groups,
        });
        let done = evaluate(&engine, &new, reuse);
        self.report = check::report(
            &new,
            done.records.iter().map(|r| r.result.clone()).collect(),
        );
        self.engine = Some(engine.park());
        self.stats = Stats {
            expectations: done.records.len(),
            reevaluated: done.reevaluated,
            walks: done.walks_made,
            classes: done.classes,
            engine: was,
        };
        self.records = done.records;
        self.walks = done.walks;
        self.scn = new;
        self.stats
    }
}

/// One reach kept warm class of sources by class (the page's matrix):
/// moved to another scenario (a variant, an edit), its engine is updated as
/// [`WarmCheck`]'s is, and only the classes whose walks met a change are
/// walked again. The classes are walked in units, as `reach_with` walks
/// them ([`Joint::Units`]): the whole matrix is asked for first, and every
/// class is walked again after a change most variants make (a core
/// filter's), so the walk's speed counts more than a record of each class's
/// own packets; `WarmCheck`, whose target is the re-check after one rule,
/// walks each class alone. Its journeys are always those `reach_with` finds
/// from scratch for the same scenario and question (tested below and in the
/// web server's tests).
pub struct WarmReach {
    scn: Arc<Scenario>,
    q: ReachQuery,
    engine: Option<Parked>,
    parts: Vec<ClassPart>,
    stats: ReachStats,
}

/// What the last answer of a [`WarmReach`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReachStats {
    /// Classes of sources in the answer.
    pub classes: usize,
    /// Classes walked for it (the others kept their journeys).
    pub walked: usize,
    pub engine: EngineWas,
}

impl WarmReach {
    /// `q` about `scn`, walked from scratch, kept warm.
    pub fn new(scn: Arc<Scenario>, q: ReachQuery, budget: &Budget) -> Result<WarmReach, Exceeded> {
        let engine = Engine::new(&scn);
        let (parts, walked, _) = rewalk(&engine, &q, None, &[], &[], Joint::Units, budget)?;
        let engine = Some(engine.park());
        Ok(WarmReach {
            stats: ReachStats {
                classes: parts.len(),
                walked,
                engine: EngineWas::Built,
            },
            scn,
            q,
            engine,
            parts,
        })
    }

    /// Moves to `new`, walking again only what a change can affect. Over
    /// budget or cancelled, nothing is kept: the next update walks every
    /// class again.
    pub fn update(&mut self, new: Arc<Scenario>, budget: &Budget) -> Result<ReachStats, Exceeded> {
        if Arc::ptr_eq(&new, &self.scn) && self.engine.is_some() {
            self.stats = ReachStats {
                classes: self.parts.len(),
                walked: 0,
                engine: EngineWas::Kept,
            };
            return Ok(self.stats);
        }
        let old = std::mem::take(&mut self.parts);
        // (The journeys cite no line: declarations that moved change nothing.)
        let (engine, filters, groups, was, _) = move_engine(self.engine.take(), &self.scn, &new);
        let old = (was != EngineWas::Built).then_some(old);
        let (parts, walked, _) = rewalk(
            &engine,
            &self.q,
            old,
            &filters,
            &groups,
            Joint::Units,
            budget,
        )?;
        self.engine = Some(engine.park());
        self.stats = ReachStats {
            classes: parts.len(),
            walked,
            engine: was,
        };
        self.parts = parts;
        self.scn = new;
        Ok(self.stats)
    }

    /// The scenario the journeys are about.
    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.scn
    }

    /// The question.
    pub fn query(&self) -> &ReachQuery {
        &self.q
    }

    /// What the last answer (`new` or `update`) took.
    pub fn stats(&self) -> ReachStats {
        self.stats
    }

    /// The journeys, in the order `reach_with` gives them (by first source,
    /// then first target), without copying them.
    pub fn journeys(&self) -> Vec<&Journey> {
        let mut v: Vec<&Journey> = self.parts.iter().flat_map(|p| &p.journeys).collect();
        v.sort_unstable_by_key(|j| (j.source, j.targets[0]));
        v
    }

    /// The answer as `reach_with` makes it (a copy of the journeys).
    pub fn reach(&self) -> Reach {
        Reach::from_parts(&self.parts)
    }

    /// The memory the journeys kept take (as budgets count it).
    pub fn bytes(&self) -> u64 {
        self.parts
            .iter()
            .flat_map(|p| &p.journeys)
            .map(journey_bytes)
            .sum()
    }
}

/// The engine of `new` from the one `parked` for `old`: kept when the
/// engine reads nothing that changed, updated when only filters' rules
/// changed (with what each change can affect, and the stand-ins whose groups
/// of alike ranges moved), else built again (also when no engine was kept:
/// an update that panicked half-way).
///
/// Declarations that only moved in the file (a line added or removed above
/// them) are not a change to the engine: compared blind to origins, the
/// engine, and walks, can be kept; `Moved::Lines` then says that what cites
/// lines (traces) must be made again.
fn move_engine<'n>(
    parked: Option<Parked>,
    old: &Scenario,
    new: &'n Scenario,
) -> (Engine<'n>, Vec<FilterChange>, Vec<usize>, EngineWas, Moved) {
    let exact = change(old, new);
    if exact == Change::Other && parked.is_some() {
        let blind = blind_to_origins(|| change(old, new));
        if blind != Change::Other {
            let (e, f, g, was) = blind_to_origins(|| engine_for(parked, old, new, blind));
            return (e, f, g, was, Moved::Lines);
        }
    }
    let (e, f, g, was) = engine_for(parked, old, new, exact);
    (e, f, g, was, Moved::Nothing)
}

/// Whether the declarations of a scenario moved in its file (see [`move_engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moved {
    Nothing,
    Lines,
}

fn engine_for<'n>(
    parked: Option<Parked>,
    old: &Scenario,
    new: &'n Scenario,
    change: Change,
) -> (Engine<'n>, Vec<FilterChange>, Vec<usize>, EngineWas) {
    match (parked, change) {
        (Some(parked), Change::Same) => {
            (parked.unpark(new), Vec::new(), Vec::new(), EngineWas::Kept)
        }
        (Some(parked), Change::Filters(fs)) => {
            let n = fs.len();
            let footprints = fs
                .iter()
                .map(|&f| footprint(old.filter(f), new.filter(f), f))
                .collect();
            let (e, moved) = parked.unpark(old).with_filters_changed(new, &fs);
            (e, footprints, moved, EngineWas::Updated(n))
        }
        _ => (Engine::new(new), Vec::new(), Vec::new(), EngineWas::Built),
    }
}

/// The records and walks of the scenario before the change, and what changed.
struct Reuse<'a> {
    old: &'a [Record],
    walks: Walks,
    filters: &'a [FilterChange],
    groups: &'a [usize],
}

/// What [`evaluate`] made.
struct Evaluated {
    records: Vec<Record>,
    walks: Walks,
    /// Expectations evaluated (not kept).
    reevaluated: usize,
    /// Walks in which some class was walked, and classes walked.
    walks_made: usize,
    classes: usize,
}

/// Whether two walks of one class found the same journeys (in the same order).
fn same_journeys(a: &[Journey], b: &[Journey]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.source == y.source
                && x.members == y.members
                && x.targets == y.targets
                && x.paths.len() == y.paths.len()
                && x.paths
                    .iter()
                    .zip(&y.paths)
                    .all(|((p, s), (q, t))| p == q && s == t)
        })
}

/// Whether a journey names a rule that changed or was numbered again (or,
/// for a filter changed as a whole, anything of it): its text may differ
/// even where its packets take the same steps.
fn names_a_change(journeys: &[Journey], changes: &[FilterChange]) -> bool {
    journeys
        .iter()
        .flat_map(|j| j.paths.iter())
        .flat_map(|(p, _)| p.iter())
        .any(|step| match step.kind() {
            StepKind::Filter { filter, rule } => changes.iter().any(|c| {
                c.filter == filter
                    && (c.whole
                        || rule.is_some_and(|r| r != ESTABLISHED && r as usize >= c.first_rule))
            }),
            _ => false,
        })
}

/// The walk for `q` class of sources by class, from `old`, the parts of the
/// same walk before a change to `filters` (and to the groups of `groups`):
/// a class whose walk met nothing that changed keeps its journeys, the
/// others are walked (all of them without `old`). Also how many classes were
/// walked, and whether the journeys are those of `old` (the same classes,
/// each walked again finding what it found, naming no rule that changed).
fn rewalk(
    engine: &Engine,
    q: &ReachQuery,
    old: Option<Vec<ClassPart>>,
    filters: &[FilterChange],
    groups: &[usize],
    joint: Joint,
    budget: &Budget,
) -> Result<(Vec<ClassPart>, usize, bool), Exceeded> {
    let had = old.is_some();
    // The classes are those of the walk kept (only rules changed).
    let classes = match &old {
        Some(parts) => parts.iter().map(|p| p.class.clone()).collect(),
        None => classes_for(engine, q),
    };
    let mut olds: HashMap<Vec<Source>, ClassPart> = old
        .into_iter()
        .flatten()
        .map(|p| (p.class.clone(), p))
        .collect();
    let mut redone: HashMap<Vec<Source>, ClassPart> = HashMap::new();
    let mut kept: HashSet<Vec<Source>> = HashSet::new();
    let (parts, n) = reach_parts(engine, q, classes, joint, budget, |class| {
        let p = olds.remove(class)?;
        if p.deps.meets(filters, groups) {
            redone.insert(p.class.clone(), p);
            None
        } else {
            kept.insert(p.class.clone());
            Some(p)
        }
    })?;
    let same = had
        && olds.is_empty()
        && parts.iter().all(|p| {
            kept.contains(&p.class)
                || redone.get(&p.class).is_some_and(|o| {
                    same_journeys(&o.journeys, &p.journeys) && !names_a_change(&p.journeys, filters)
                })
        });
    Ok((parts, n, same))
}

/// Every walk of `plan` for `scn`, class by class: a class whose earlier
/// walk met nothing that changed keeps its journeys, the others are walked.
/// Also, per walk, whether its journeys may differ from the earlier ones.
fn walk_all(
    engine: &Engine,
    plan: &check::Plan,
    reuse: Option<&mut Reuse>,
) -> (Walks, BTreeMap<Option<Vec<Source>>, bool>, usize, usize) {
    let mut walks = Walks::new();
    let mut differ = BTreeMap::new();
    let (mut made, mut walked) = (0, 0);
    let (mut old_walks, filters, groups) = match reuse {
        Some(r) => (std::mem::take(&mut r.walks), r.filters, r.groups),
        None => (Walks::new(), &[][..], &[][..]),
    };
    for (key, to) in &plan.walks {
        let q = ReachQuery {
            from: key.clone(),
            to: to.clone(),
        };
        let old = old_walks
            .remove(key)
            .filter(|w| &w.to == to)
            .map(|w| w.parts);
        let (parts, n, same) = rewalk(
            engine,
            &q,
            old,
            filters,
            groups,
            Joint::Alone,
            &Budget::unlimited(),
        )
        .expect("an unlimited budget that nobody cancels is never exceeded");
        differ.insert(key.clone(), !same);
        if n > 0 {
            made += 1;
            walked += n;
        }
        walks.insert(
            key.clone(),
            Walked {
                to: to.clone(),
                parts,
            },
        );
    }
    (walks, differ, made, walked)
}

/// Every expectation's record for `scn`: kept from `reuse` where its walk
/// found the same journeys and nothing its own evaluation consulted
/// changed, evaluated (recording what it consults) otherwise.
fn evaluate(engine: &Engine, scn: &Scenario, mut reuse: Option<Reuse>) -> Evaluated {
    let plan = check::plan(scn);
    let (walks, differ, walks_made, classes) = walk_all(engine, &plan, reuse.as_mut());
    let walk_of = |i: usize| {
        let k = &plan.keys[i];
        (k.clone(), plan.walks[k].clone())
    };
    let mut kept: Vec<Option<Record>> = Vec::with_capacity(scn.expectations.len());
    let mut used = vec![false; reuse.as_ref().map_or(0, |r| r.old.len())];
    for (i, e) in scn.expectations.iter().enumerate() {
        let found = reuse.as_ref().and_then(|r| {
            let walk = walk_of(i);
            if differ[&walk.0] {
                return None;
            }
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
    // The answers of the walks that expectations evaluated again look at.
    let mut answers: BTreeMap<&Option<Vec<Source>>, Reach> = BTreeMap::new();
    for (i, k) in kept.iter().enumerate() {
        let key = &plan.keys[i];
        if k.is_none() && !answers.contains_key(key) {
            answers.insert(key, Reach::from_parts(&walks[key].parts));
        }
    }
    let reevaluated = kept.iter().filter(|k| k.is_none()).count();
    let records = kept
        .into_iter()
        .enumerate()
        .map(|(i, k)| match k {
            Some(r) => r,
            None => {
                let e = &scn.expectations[i];
                let reach = &answers[&plan.keys[i]];
                let rec = Consulted::new();
                let result = consulted::recording(Some(rec.clone()), || {
                    check::result_of(scn, engine, reach, e)
                });
                Record {
                    text: e.text.clone(),
                    kind: e.kind.clone(),
                    walk: walk_of(i),
                    deps: rec.deps(),
                    result,
                }
            }
        })
        .collect();
    Evaluated {
        records,
        walks,
        reevaluated,
        walks_made,
        classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::reach::{reach_with, render_json};
    use crate::analysis::space::Cube;
    use crate::synth::{self, change_one_rule, random_expectations, SplitMix64, SynthParams};

    /// After random single-rule changes on one warm check, every walk put
    /// together from its classes (kept or walked again) is the walk made
    /// from scratch on the changed scenario, byte for byte as JSON; and the
    /// classes are really kept (most changes walk few of them again).
    #[test]
    fn kept_classes_make_the_walk_made_from_scratch() {
        let (mut walked, mut total) = (0, 0);
        for seed in 1..=4u64 {
            let p = SynthParams::sized(seed, 50 + 15 * seed as usize);
            let mut scn = crate::load::load("g.yaml", &synth::large(&p), None)
                .expect("generated scenarios load");
            let mut rng = SplitMix64::new(seed ^ 0xc1a55);
            scn.expectations = random_expectations(&scn, &mut rng, 16);
            let mut warm = WarmCheck::new(Arc::new(scn.clone()));
            for _ in 0..6 {
                let Some((next, what)) = change_one_rule(&scn, &mut rng) else {
                    break;
                };
                let stats = warm.update(Arc::new(next.clone()));
                let engine = Engine::new(&next);
                for (from, w) in &warm.walks {
                    let q = ReachQuery {
                        from: from.clone(),
                        to: w.to.clone(),
                    };
                    let want = render_json(&next, &reach_with(&engine, &q));
                    let got = render_json(&next, &Reach::from_parts(&w.parts));
                    assert!(got == want, "seed {seed}, {what}: walk from {from:?}");
                    total += w.parts.len();
                }
                walked += stats.classes;
                scn = next;
            }
        }
        assert!(total > 0);
        assert!(
            walked * 2 < total,
            "{walked} of {total} classes walked again"
        );
    }
    /// An edit of one rule in the text, as the page's editor sends it (the
    /// line longer or shorter, so that every byte after it moves), is a
    /// change to that one filter; two rules changed far apart in one filter
    /// are the two rules' boxes, not those of every rule between.
    #[test]
    fn an_edit_in_place_is_a_change_to_its_rules_only() {
        let text = synth::large(&SynthParams::sized(5, 80));
        let scn = crate::load::load("g.yaml", &text, None).expect("generated scenarios load");
        let lines: Vec<&str> = text.lines().collect();
        // Lines of the filters' own rules (not of the variants' inserts).
        let rules: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().starts_with("- \"allow tcp from"))
            .filter(|&i| {
                scn.filters
                    .iter()
                    .any(|f| f.rules.iter().any(|r| r.origin.line as usize == i + 1))
            })
            .collect();
        assert!(rules.len() > 40);
        let edit = |at: &[usize]| {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            for &i in at {
                l[i] = l[i].replacen("allow tcp", "drop tcp", 1);
            }
            crate::load::load("g.yaml", &(l.join("\n") + "\n"), None).expect("still loads")
        };
        let owner = |s: &Scenario, line: usize| {
            (0..s.filters.len())
                .find(|&f| {
                    s.filters[f]
                        .rules
                        .iter()
                        .any(|r| r.origin.line as usize == line + 1)
                })
                .map(|f| FilterId(f as u32))
                .expect("the rule's filter")
        };
        for &i in rules.iter().step_by(rules.len() / 8) {
            let new = edit(&[i]);
            assert_eq!(
                change(&scn, &new),
                Change::Filters(vec![owner(&scn, i)]),
                "line {}",
                i + 1
            );
        }
        // Two rules of one filter, far apart.
        let f = owner(&scn, rules[0]);
        let same: Vec<usize> = rules
            .iter()
            .copied()
            .filter(|&i| owner(&scn, i) == f)
            .collect();
        let (i, j) = (same[0], *same.last().expect("rules"));
        assert!(j > i + 10);
        let new = edit(&[i, j]);
        let fp = footprint(scn.filter(f), new.filter(f), f);
        let changed: Vec<Cube> = [i, j]
            .iter()
            .flat_map(|&k| {
                let r = |s: &Scenario| {
                    s.filter(f)
                        .rules
                        .iter()
                        .find(|r| r.origin.line as usize == k + 1)
                        .cloned()
                        .expect("the rule")
                };
                [rule_boxes(&r(&scn)), rule_boxes(&r(&new))].concat()
            })
            .collect();
        assert_eq!(fp.boxes, changed);
    }

    /// A line added near the top moves every declaration after it: the
    /// engine and the walks are kept (nothing they read changed), every
    /// expectation is evaluated again (their traces cite the lines), and the
    /// answers are those made from scratch.
    #[test]
    fn declarations_that_moved_keep_the_engine_and_the_walks() {
        let text = synth::large(&SynthParams::sized(6, 80));
        let mut scn = crate::load::load("g.yaml", &text, None).expect("generated scenarios load");
        let mut rng = SplitMix64::new(6);
        scn.expectations = random_expectations(&scn, &mut rng, 12);
        let (first, rest) = text.split_once('\n').expect("lines");
        let moved_text = format!("{first}\n# a note added above everything\n{rest}");
        let mut moved = crate::load::load("g.yaml", &moved_text, None).expect("still loads");
        moved.expectations = scn.expectations.clone();
        for e in &mut moved.expectations {
            e.origin.line += 1;
        }
        assert_eq!(change(&scn, &moved), Change::Other);
        let mut warm = WarmCheck::new(Arc::new(scn.clone()));
        let stats = warm.update(Arc::new(moved.clone()));
        assert_eq!(stats.engine, EngineWas::Kept);
        assert_eq!((stats.classes, stats.reevaluated), (0, 12));
        assert_eq!(
            check::render_json(warm.report()),
            check::render_json(&check::check(&moved))
        );
        let unlimited = Budget::unlimited();
        let mut w =
            WarmReach::new(Arc::new(scn), ReachQuery::default(), &unlimited).expect("unlimited");
        let stats = w
            .update(Arc::new(moved.clone()), &unlimited)
            .expect("unlimited");
        assert_eq!((stats.engine, stats.walked), (EngineWas::Kept, 0));
        assert_eq!(
            render_json(&moved, &w.reach()),
            render_json(
                &moved,
                &reach_with(&Engine::new(&moved), &ReachQuery::default())
            )
        );
    }

    /// The page's matrix is walked as `reach` walks it: classes behind the
    /// same routers together, with tagged joins at the last router (it walked
    /// every class alone, 1.5 times the CPU, while `reach` had both); and
    /// every class of a unit keeps the unit's record.
    #[test]
    fn the_warm_matrix_walks_in_units_as_reach_does() {
        use crate::analysis::symbolic::TAGGED_JOINS;
        use std::sync::atomic::Ordering;
        let p = SynthParams::sized(3, 240);
        let scn =
            crate::load::load("g.yaml", &synth::large(&p), None).expect("generated scenarios load");
        let unlimited = Budget::unlimited();
        let joins = TAGGED_JOINS[0].load(Ordering::Relaxed);
        let w = WarmReach::new(Arc::new(scn.clone()), ReachQuery::default(), &unlimited)
            .expect("unlimited");
        assert!(
            TAGGED_JOINS[0].load(Ordering::Relaxed) > joins,
            "the warm matrix made no tagged join"
        );
        let engine = Engine::new(&scn);
        let classes = classes_for(&engine, &ReachQuery::default());
        let units = engine.walk_units(&classes);
        assert!(
            units.iter().any(|u| u.len() > 1),
            "no unit of several classes"
        );
        // The classes of a unit share its record.
        let deps: HashMap<&[Source], &Deps> = w
            .parts
            .iter()
            .map(|p| (p.class.as_slice(), &p.deps))
            .collect();
        for u in units.iter().filter(|u| u.len() > 1) {
            let first = deps[classes[u[0]].as_slice()];
            assert!(u.iter().all(|&i| deps[classes[i].as_slice()] == first));
        }
    }

    /// A warm reach moved from scenario to scenario (random rule changes,
    /// every built-in variant and back) gives the journeys of a reach from
    /// scratch, and keeps some classes after rule changes; cancelled
    /// half-way, it keeps nothing and walks from scratch next.
    #[test]
    fn a_warm_reach_is_the_reach_from_scratch() {
        let same = |w: &WarmReach, what: &str| {
            let scn = w.scenario();
            let want = render_json(scn, &reach_with(&Engine::new(scn), w.query()));
            let got = render_json(scn, &w.reach());
            assert!(got == want, "{what}");
            assert_eq!(w.journeys().len(), w.reach().journeys.len(), "{what}");
        };
        let unlimited = Budget::unlimited();
        let (mut walked, mut classes) = (0, 0);
        for seed in 1..=3u64 {
            let p = SynthParams::sized(seed, 60 + 20 * seed as usize);
            let scn = crate::load::load("g.yaml", &synth::large(&p), None)
                .expect("generated scenarios load");
            let mut rng = SplitMix64::new(seed ^ 0x3a7);
            let mut w = WarmReach::new(Arc::new(scn.clone()), ReachQuery::default(), &unlimited)
                .expect("unlimited");
            same(&w, "first");
            let mut cur = scn;
            for step in 0..5 {
                let Some((next, what)) = change_one_rule(&cur, &mut rng) else {
                    break;
                };
                let stats = w
                    .update(Arc::new(next.clone()), &unlimited)
                    .expect("unlimited");
                walked += stats.walked;
                classes += stats.classes;
                same(&w, &format!("seed {seed} step {step}: {what}"));
                cur = next;
            }
            // Cancelled: nothing kept, and the next update is whole again.
            let cancelled = Budget::unlimited();
            cancelled.cancel();
            let (next, _) = change_one_rule(&cur, &mut rng).expect("rules to change");
            assert!(w.update(Arc::new(next.clone()), &cancelled).is_err());
            let stats = w.update(Arc::new(next), &unlimited).expect("unlimited");
            assert_eq!(stats.engine, EngineWas::Built);
            same(&w, "after a cancelled update");
        }
        for ex in crate::examples::ALL {
            let scn = crate::load::load(&ex.file(), ex.text, None).expect("built-ins load");
            let base = Arc::new(scn.clone());
            let mut w =
                WarmReach::new(base.clone(), ReachQuery::default(), &unlimited).expect("unlimited");
            for v in &scn.variants {
                let vs =
                    crate::load::load(&ex.file(), ex.text, Some(&v.name)).expect("variants load");
                w.update(Arc::new(vs), &unlimited).expect("unlimited");
                same(&w, &format!("{} {}", ex.name, v.name));
                w.update(base.clone(), &unlimited).expect("unlimited");
                same(&w, &format!("{} back from {}", ex.name, v.name));
            }
        }
        // (Small scenarios: a rule added or removed in a filter that most
        // classes cross renumbers the rules after it, which those classes
        // met; still, some classes must have been kept.)
        assert!(
            walked < classes,
            "{walked} of {classes} classes walked again"
        );
    }
}
