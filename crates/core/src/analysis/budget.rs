//! A budget for one analysis: a flag that the caller sets from outside to
//! cancel it (a deadline passed, the client went away), and a limit on the
//! size of the answer it builds.
//!
//! The core has no clock and no I/O: the adapter owns the deadline and sets
//! the flag; an analysis only looks at the flag and counts what it keeps, at
//! coarse points, and gives up with [`Exceeded`] instead of an answer. What
//! it built so far is dropped on the way out. The points: in a `reach` walk
//! (`symbolic.rs`, through [`WalkCache::set_budget`](super::symbolic::WalkCache::set_budget)),
//! each device a set of packets reaches (the outcomes kept since are
//! counted, and a set, or a cut about to be made, too large for the whole
//! budget stops it); in `reach`, each source class and each journey (beyond
//! the bytes of its class's outcomes, which it is made of); each journey
//! of [`per_source_reach`](super::audit::per_source_reach_with_budget); each
//! change of `diff`; each host of `foothold` (its step's reach within what
//! is left).
//!
//! The count is an estimate of the heap bytes the answer holds (its boxes,
//! paths and lists, with the vectors' headers) and of what the work keeps
//! on the way: never much less than what is held at any moment (the
//! generated 600-host `reach` counts 53 MiB for about 47 MB held). It is
//! not a measure of the process: it only grows, and its total is the same
//! on every run whatever the order of the threads, so the same question on
//! the same scenario always fits or never does.
//!
//! Invariant: an exceeded budget stays exceeded. The flag is never cleared
//! and the count never goes down, so a step that sees the budget exceeded
//! may simply stop, and the analysis checks once more before it returns:
//! a partial answer never passes for a whole one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::reach::Journey;
use super::space::Cube;
use super::symbolic::{Outcome, PathStep, Source};

/// Why an analysis stopped before its answer was whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The caller cancelled it (its flag is set).
    Cancelled,
    /// The answer would hold more than `limit` bytes.
    TooLarge { limit: u64 },
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Cancelled => write!(f, "cancelled"),
            Exceeded::TooLarge { limit } => {
                write!(f, "the answer is larger than its budget of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for Exceeded {}

/// A cancel flag and a limit on the answer's size, shared by the threads of
/// one analysis (`&Budget` is `Sync`; a clone shares the flag and the count).
#[derive(Debug, Clone)]
pub struct Budget {
    cancel: Arc<AtomicBool>,
    limit: u64,
    used: Arc<AtomicU64>,
    /// Set (for good) when `used` first goes over `limit`: a flag that is
    /// read often and written once, where `used` changes all the time.
    over: Arc<AtomicBool>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::unlimited()
    }
}

impl Budget {
    /// No limit, and a flag nobody else holds: what the command line uses.
    pub fn unlimited() -> Budget {
        Budget::new(u64::MAX)
    }

    /// At most `limit` bytes of answer (estimated), with a fresh flag.
    pub fn new(limit: u64) -> Budget {
        Budget {
            cancel: Arc::new(AtomicBool::new(false)),
            limit,
            used: Arc::new(AtomicU64::new(0)),
            over: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The flag that cancels this budget's analysis when set (to hand to a
    /// timer or to a guard that sets it when the request goes away).
    pub fn canceller(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// A budget for a part of the work whose answer is dropped before the
    /// next part (a step of `foothold`): cancelled with this one, and limited
    /// to what this one has left; what it counts is not counted here. (Call
    /// it between parts, not while other threads count: what is left is
    /// then the same on every run.)
    pub fn scoped(&self) -> Budget {
        Budget {
            cancel: self.cancel.clone(),
            limit: self.limit.saturating_sub(self.used()),
            used: Arc::new(AtomicU64::new(0)),
            over: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Cancels the analysis: every later check fails.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes counted so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// `Ok` while the analysis may go on.
    pub fn check(&self) -> Result<(), Exceeded> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(Exceeded::Cancelled)
        } else if self.over.load(Ordering::Relaxed) {
            Err(Exceeded::TooLarge { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// Counts `bytes` more of answer, then [`Budget::check`]s.
    pub fn charge(&self, bytes: u64) -> Result<(), Exceeded> {
        if bytes > 0 {
            let before = self.used.fetch_add(bytes, Ordering::Relaxed);
            if before.saturating_add(bytes) > self.limit {
                self.over.store(true, Ordering::Relaxed);
            }
        }
        self.check()
    }
}

/// The bytes a vector of `n` elements of `T` holds on the heap.
pub fn vec_bytes<T>(n: usize) -> u64 {
    (n * std::mem::size_of::<T>()) as u64
}

/// The estimated heap bytes of a journey: itself, its members, its paths
/// (each counted whole, though journeys share them) and its boxes.
pub fn journey_bytes(j: &Journey) -> u64 {
    let steps: usize = j.paths.iter().map(|(p, _)| p.len()).sum();
    let cubes: usize = j.paths.iter().map(|(_, s)| s.0.len()).sum();
    std::mem::size_of::<Journey>() as u64
        + vec_bytes::<Source>(j.members.len())
        + vec_bytes::<(Arc<[PathStep]>, Vec<Cube>)>(j.paths.len())
        + vec_bytes::<PathStep>(steps)
        + 16 * j.paths.len() as u64
        + vec_bytes::<Cube>(cubes)
}

/// The estimated heap bytes of a value of an answer made of strings and
/// lists (a change of `diff`, an edge of `foothold`): its size, and as
/// much again as its JSON text (the text of its strings, and more).
pub fn value_bytes<T: serde::Serialize>(v: &T) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    // (Writing to a counter cannot fail; a value that does not serialise counts 0.)
    let _ = serde_json::to_writer(&mut n, v);
    std::mem::size_of::<T>() as u64 + n.0
}

/// The estimated heap bytes of an outcome kept for explanations.
pub fn outcome_bytes(o: &Outcome) -> u64 {
    std::mem::size_of::<(Source, Outcome)>() as u64
        + vec_bytes::<Cube>(o.space.0.len())
        + vec_bytes::<PathStep>(o.path.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::reach::{reach_with, reach_with_budget, ReachQuery};
    use crate::analysis::symbolic::Engine;
    use crate::analysis::{diff, foothold};
    use crate::model::HostId;

    fn generated(hosts: usize) -> crate::model::Scenario {
        let text = crate::synth::large(&crate::synth::SynthParams::sized(3, hosts));
        crate::load::load("g.yaml", &text, None).unwrap()
    }

    /// Within a budget the answer is the one without; past it, or cancelled,
    /// an error and no answer: never a part of one.
    #[test]
    fn analyses_within_a_budget_or_not_at_all() {
        let scn = generated(60);
        let engine = Engine::new(&scn);
        let q = ReachQuery::default();
        let whole = reach_with(&engine, &q);
        let b = Budget::new(u64::MAX / 2);
        let within = reach_with_budget(&engine, &q, false, &b).unwrap();
        assert_eq!(within.journeys.len(), whole.journeys.len());
        let used = b.used();
        assert!(used > 0);
        let bytes: u64 = whole.journeys.iter().map(journey_bytes).sum();
        assert!(
            used >= bytes,
            "each journey is counted (the walks' outcomes they are made of once): {used} < {bytes}"
        );
        // The same count on every run, whatever the order of the threads.
        for _ in 0..3 {
            let again = Budget::unlimited();
            reach_with_budget(&engine, &q, false, &again).unwrap();
            assert_eq!(again.used(), used);
        }
        // One byte short, on every core: the same error every time.
        for _ in 0..3 {
            let short = Budget::new(used - 1);
            assert_eq!(
                reach_with_budget(&engine, &q, false, &short).map(|r| r.journeys.len()),
                Err(Exceeded::TooLarge { limit: used - 1 })
            );
        }
        let fits = Budget::new(used);
        assert!(reach_with_budget(&engine, &q, false, &fits).is_ok());
        let cancelled = Budget::unlimited();
        cancelled.cancel();
        assert_eq!(
            reach_with_budget(&engine, &q, false, &cancelled).map(|r| r.journeys.len()),
            Err(Exceeded::Cancelled)
        );

        let variant = scn.variants.first().map(|v| v.name.clone());
        let new = match &variant {
            Some(v) => {
                let text = crate::synth::large(&crate::synth::SynthParams::sized(3, 60));
                crate::load::load("g.yaml", &text, Some(v)).unwrap()
            }
            None => scn.clone(),
        };
        let d = diff::diff(&scn, &new);
        assert_eq!(
            diff::diff_with_budget(&scn, &new, &Budget::unlimited()),
            Ok(d)
        );
        assert!(matches!(
            diff::diff_with_budget(&scn, &new, &Budget::new(1000)),
            Err(Exceeded::TooLarge { limit: 1000 })
        ));

        let f = foothold::foothold(&scn, HostId(0));
        let b = Budget::unlimited();
        assert_eq!(foothold::foothold_with_budget(&scn, HostId(0), &b), Ok(f));
        let short = Budget::new(b.used() - 1);
        assert_eq!(
            foothold::foothold_with_budget(&scn, HostId(0), &short),
            Err(Exceeded::TooLarge {
                limit: b.used() - 1
            })
        );
        let cancelled = Budget::unlimited();
        cancelled.cancel();
        assert_eq!(
            foothold::foothold_with_budget(&scn, HostId(0), &cancelled),
            Err(Exceeded::Cancelled)
        );
    }

    #[test]
    fn an_exceeded_budget_stays_exceeded() {
        let b = Budget::new(100);
        assert_eq!(b.charge(60), Ok(()));
        assert_eq!(b.charge(40), Ok(()));
        assert_eq!(b.charge(1), Err(Exceeded::TooLarge { limit: 100 }));
        assert_eq!(b.check(), Err(Exceeded::TooLarge { limit: 100 }));
        assert_eq!(b.charge(0), Err(Exceeded::TooLarge { limit: 100 }));
        let b = Budget::unlimited();
        assert_eq!(b.charge(u64::MAX / 2), Ok(()));
        let flag = b.canceller();
        flag.store(true, Ordering::Relaxed);
        assert_eq!(b.check(), Err(Exceeded::Cancelled));
        assert_eq!(b.charge(0), Err(Exceeded::Cancelled));
    }
}
