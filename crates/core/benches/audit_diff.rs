//! `audit` and `diff --variant break` on the compact answer (classes), next
//! to the per-pair baseline in the same run: the same findings' input with
//! every class split into one journey per source and socket
//! (`per_source_reach`, what `audit` and `diff` did before), timed where it
//! fits in memory (`BASELINE_MAX` pairs, default 2,000,000).
//!
//!     cargo bench -p pathproof-core --bench audit_diff
//!     FLAT=2000,5000,20000 SYNTH=2000,8000 cargo bench -p pathproof-core --bench audit_diff
//!
//! Flat: N hosts on one /16, one tcp socket each, no filter. Synth:
//! `SynthParams::sized(1, N)`; `diff` is against its `break` variant.

/// The `pathproof` binary's allocator and its settings, so that the figures are its figures.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::time::{Duration, Instant};

use pathproof_core::analysis::audit;
use pathproof_core::analysis::diff;
use pathproof_core::analysis::reach::ReachQuery;
use pathproof_core::load;
use pathproof_core::model::Scenario;
use pathproof_core::synth::{large, SynthParams};

fn flat(n: usize) -> String {
    let mut s = String::from("name: flat\nnetworks:\n  lan: { cidr: 10.1.0.0/16 }\nhosts:\n");
    for i in 0..n {
        s += &format!(
            "  h{i}: {{ at: lan 10.1.{}.{}, listen: [\"tcp/8000\"] }}\n",
            i / 250,
            1 + i % 250
        );
    }
    s
}

fn sizes(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn row(label: &str, n: usize, pairs: usize, what: &str, new: Duration, base: Option<Duration>) {
    let base_text = base.map_or("(not run)".to_string(), |b| format!("{b:.2?}"));
    let ratio = base.map_or(String::new(), |b| {
        format!("x{:.1}", b.as_secs_f64() / new.as_secs_f64())
    });
    println!("{label:>6} {n:>6} {pairs:>11} {what:>8} {new:>12.2?} {base_text:>12} {ratio:>8}");
}

fn main() {
    allocator::keep_freed_memory();
    let max: usize = std::env::var("BASELINE_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    println!(
        "{:>6} {:>6} {:>11} {:>8} {:>12} {:>12} {:>8}",
        "kind", "hosts", "pairs", "command", "classes", "per pair", "speedup"
    );
    let pairs_of = |scn: &Scenario| {
        pathproof_core::analysis::reach::reach(scn, &ReachQuery::default()).pairs()
    };
    for n in sizes("FLAT", &[500, 2000, 5000]) {
        let scn = load("flat.yaml", &flat(n), None).expect("flat loads");
        let pairs = pairs_of(&scn);
        let (a, t) = timed(|| audit::audit(&scn));
        let base = (pairs <= max).then(|| {
            timed(|| {
                let r = audit::per_source_reach(&scn, &ReachQuery::default(), false);
                audit::audit_with(&scn, &r)
            })
            .1
        });
        row("flat", n, pairs, "audit", t, base);
        assert!(a.findings.len() < 10);
    }
    for n in sizes("SYNTH", &[200, 1000]) {
        let text = large(&SynthParams::sized(1, n));
        let scn = load("large.yaml", &text, None).expect("generated");
        let brk = load("large.yaml", &text, Some("break")).expect("break");
        let pairs = pairs_of(&scn);
        let (_, t) = timed(|| audit::audit(&scn));
        let base = (pairs <= max).then(|| {
            timed(|| {
                let r = audit::per_source_reach(&scn, &ReachQuery::default(), false);
                audit::audit_with(&scn, &r)
            })
            .1
        });
        row("synth", n, pairs, "audit", t, base);
        let (_, t) = timed(|| diff::diff(&scn, &brk));
        let base = (pairs <= max).then(|| {
            timed(|| {
                let q = ReachQuery::default();
                let ro = audit::per_source_reach(&scn, &q, false);
                let rn = audit::per_source_reach(&brk, &q, false);
                diff::diff_with(&scn, &ro, &brk, &rn)
            })
            .1
        });
        row("synth", n, pairs, "diff", t, base);
    }
}
