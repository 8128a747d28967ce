//! What a computation consulted: the filters whose rules a walk of the
//! symbolic engine or a trace read, and the network stand-ins whose groups
//! of alike ranges a walk sent. Recorded while [`recording`] runs (on the
//! calling thread, and on the threads `reach` starts for it), so that an
//! answer can be kept after a change that touches none of them (see
//! [`super::incremental`]).
//!
//! Nothing is recorded, and the cost is one look at a thread-local slot,
//! when no recording runs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::model::FilterId;

/// The filters and stand-ins consulted, as bit sets; shared by the threads
/// of one recording.
#[derive(Debug)]
pub struct Consulted {
    filters: Vec<AtomicU64>,
    groups: Vec<AtomicU64>,
    /// Something past the sizes given was consulted: treat as everything.
    overflow: AtomicBool,
}

/// A finished record: what [`Consulted`] held, frozen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deps {
    filters: Vec<u64>,
    groups: Vec<u64>,
    all: bool,
}

fn set(bits: &[AtomicU64], i: usize) -> bool {
    match bits.get(i / 64) {
        Some(w) => {
            w.fetch_or(1 << (i % 64), Ordering::Relaxed);
            true
        }
        None => false,
    }
}

fn has(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

impl Consulted {
    /// An empty record for a scenario of `filters` filters and `devices`
    /// devices (hosts and network stand-ins).
    pub fn new(filters: usize, devices: usize) -> Arc<Consulted> {
        let words = |n: usize| (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Consulted {
            filters: words(filters),
            groups: words(devices),
            overflow: AtomicBool::new(false),
        })
    }

    fn filter(&self, f: FilterId) {
        if !set(&self.filters, f.index()) {
            self.overflow.store(true, Ordering::Relaxed);
        }
    }

    fn group(&self, dev: usize) {
        if !set(&self.groups, dev) {
            self.overflow.store(true, Ordering::Relaxed);
        }
    }

    /// What was recorded so far.
    pub fn deps(&self) -> Deps {
        let load = |v: &[AtomicU64]| v.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        Deps {
            filters: load(&self.filters),
            groups: load(&self.groups),
            all: self.overflow.load(Ordering::Relaxed),
        }
    }
}

impl Deps {
    /// Everything: a record that any change meets.
    pub fn all() -> Deps {
        Deps {
            all: true,
            ..Deps::default()
        }
    }

    /// Adds what `other` holds.
    pub fn union(&mut self, other: &Deps) {
        let or = |a: &mut Vec<u64>, b: &[u64]| {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x |= y;
            }
        };
        or(&mut self.filters, &other.filters);
        or(&mut self.groups, &other.groups);
        self.all |= other.all;
    }

    /// Whether the record holds one of `filters` or one of the stand-ins
    /// `groups`.
    pub fn meets(&self, filters: &[FilterId], groups: &[usize]) -> bool {
        self.all
            || filters.iter().any(|f| has(&self.filters, f.index()))
            || groups.iter().any(|&d| has(&self.groups, d))
    }

    /// How many filters the record holds.
    pub fn filter_count(&self) -> usize {
        self.filters.iter().map(|w| w.count_ones() as usize).sum()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Consulted>>> = const { RefCell::new(None) };
}

/// Runs `f` with `rec` as this thread's record (none: nothing recorded),
/// then puts the previous one back.
pub fn recording<R>(rec: Option<Arc<Consulted>>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Consulted>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), rec));
    let _restore = Restore(prev);
    f()
}

/// This thread's record, to hand to a thread started for the same work.
pub fn current() -> Option<Arc<Consulted>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A filter's rules (or its policy, or its statefulness) are read.
pub(crate) fn note_filter(f: FilterId) {
    CURRENT.with(|c| {
        if let Some(r) = &*c.borrow() {
            r.filter(f);
        }
    });
}

/// A walk sends the stand-in `dev`'s groups of alike ranges.
pub(crate) fn note_range_groups(dev: usize) {
    CURRENT.with(|c| {
        if let Some(r) = &*c.borrow() {
            r.group(dev);
        }
    });
}
