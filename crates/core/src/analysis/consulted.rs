//! What a computation consulted: per filter whose rules a walk of the
//! symbolic engine or a trace read, the smallest box around the packets
//! that met its rules (per family and direction, in the coordinates the
//! rules match: the packets as they are at the filter); the filters met at
//! all (a stateful filter that lets a known connection through reads no
//! rule); and the network stand-ins whose groups of alike ranges a walk
//! sent. Recorded while [`recording`] runs (on the calling thread, and on
//! the threads `reach` starts for it), so that an answer can be kept after
//! a change whose rules none of those packets meet (see
//! [`super::incremental`]).
//!
//! Nothing is recorded, and the cost is one look at a thread-local slot,
//! when no recording runs. A recording accumulates on its own thread and
//! adds what it saw to the shared record when it ends.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use super::space::{Cube, Fam};
use crate::model::FilterId;

/// The record shared by the threads of one recording.
#[derive(Debug, Default)]
pub struct Consulted(Mutex<Deps>);

/// What was consulted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deps {
    /// Per (filter, IPv6, reply): the box around the packets that met its rules.
    boxes: BTreeMap<(u32, bool, bool), Cube>,
    /// Every filter met, whether its rules were read or not.
    filters: BTreeSet<u32>,
    /// Stand-ins whose groups of alike ranges were sent.
    groups: BTreeSet<usize>,
}

/// A change to one filter, as far as a record can tell whether it meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterChange {
    pub filter: FilterId,
    /// Anything that met the filter (its policy, statefulness or name changed).
    pub whole: bool,
    /// The first rule that changed: it and every rule after it may be
    /// another rule, or numbered otherwise, than before.
    pub first_rule: usize,
    /// The boxes of the rules that changed (before and after), and of the
    /// rules whose number changed: packets outside all of them meet the same
    /// rule, with the same number, as before.
    pub boxes: Vec<Cube>,
}

pub(crate) fn hull(a: &mut Cube, b: &Cube) {
    a.src = (a.src.0.min(b.src.0), a.src.1.max(b.src.1));
    a.dst = (a.dst.0.min(b.dst.0), a.dst.1.max(b.dst.1));
    a.sport = (a.sport.0.min(b.sport.0), a.sport.1.max(b.sport.1));
    a.dport = (a.dport.0.min(b.dport.0), a.dport.1.max(b.dport.1));
    a.proto |= b.proto;
}

/// Whether two boxes of the same family share a packet.
fn boxes_meet(a: &Cube, b: &Cube) -> bool {
    fn over<T: Ord>(x: &(T, T), y: &(T, T)) -> bool {
        x.0 <= y.1 && y.0 <= x.1
    }
    a.fam == b.fam
        && a.proto & b.proto != 0
        && over(&a.src, &b.src)
        && over(&a.dst, &b.dst)
        && over(&a.sport, &b.sport)
        && over(&a.dport, &b.dport)
}

impl Consulted {
    pub fn new() -> Arc<Consulted> {
        Arc::new(Consulted::default())
    }

    /// Adds `deps` to the record (what another recording saw for it).
    pub fn add(&self, deps: &Deps) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).union(deps);
    }

    /// What was recorded (by recordings that have ended).
    pub fn deps(&self) -> Deps {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Deps {
    /// Adds what `other` holds.
    pub fn union(&mut self, other: &Deps) {
        for (k, b) in &other.boxes {
            match self.boxes.get_mut(k) {
                Some(a) => hull(a, b),
                None => {
                    self.boxes.insert(*k, *b);
                }
            }
        }
        self.filters.extend(other.filters.iter().copied());
        self.groups.extend(other.groups.iter().copied());
    }

    /// Whether a change to these filters, or to the groups of these
    /// stand-ins, can change what was computed.
    pub fn meets(&self, changes: &[FilterChange], groups: &[usize]) -> bool {
        if groups.iter().any(|d| self.groups.contains(d)) {
            return true;
        }
        changes.iter().any(|c| {
            let f = c.filter.0;
            if !self.filters.contains(&f) {
                return false;
            }
            c.whole
                || self
                    .boxes
                    .range((f, false, false)..=(f, true, true))
                    .any(|(_, seen)| c.boxes.iter().any(|b| boxes_meet(seen, b)))
        })
    }

    /// How many filters the record holds.
    pub fn filter_count(&self) -> usize {
        self.filters.len()
    }
}

/// A recording on one thread: where it goes, and what it saw so far.
struct Local {
    shared: Arc<Consulted>,
    seen: Deps,
}

thread_local! {
    static CURRENT: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Runs `f` with `rec` as this thread's record (none: nothing recorded),
/// adds what it saw to `rec`, then puts the previous recording back.
pub fn recording<R>(rec: Option<Arc<Consulted>>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Local>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            let mine = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), prev));
            if let Some(l) = mine {
                l.shared
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .union(&l.seen);
            }
        }
    }
    let local = rec.map(|shared| Local {
        shared,
        seen: Deps::default(),
    });
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), local));
    let _restore = Restore(prev);
    f()
}

/// This thread's record, to hand to a thread started for the same work.
pub fn current() -> Option<Arc<Consulted>> {
    CURRENT.with(|c| c.borrow().as_ref().map(|l| l.shared.clone()))
}

/// Whether a recording runs on this thread (to skip the work of saying
/// what it would record).
pub(crate) fn active() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// A filter is met (its rules read or not).
pub(crate) fn note_filter(f: FilterId) {
    CURRENT.with(|c| {
        if let Some(l) = &mut *c.borrow_mut() {
            l.seen.filters.insert(f.0);
        }
    });
}

/// Packets within `b` (of a request, or of a reply) meet the rules of `f`.
pub(crate) fn note_packets(f: FilterId, reply: bool, b: &Cube) {
    CURRENT.with(|c| {
        if let Some(l) = &mut *c.borrow_mut() {
            l.seen.filters.insert(f.0);
            match l.seen.boxes.get_mut(&(f.0, b.fam == Fam::V6, reply)) {
                Some(a) => hull(a, b),
                None => {
                    l.seen.boxes.insert((f.0, b.fam == Fam::V6, reply), *b);
                }
            }
        }
    });
}

/// A walk sends the stand-in `dev`'s groups of alike ranges.
pub(crate) fn note_range_groups(dev: usize) {
    CURRENT.with(|c| {
        if let Some(l) = &mut *c.borrow_mut() {
            l.seen.groups.insert(dev);
        }
    });
}
