//! The incremental re-check (issue 15, item 5): the generated scenario
//! (`H` hosts, default 2,000) with 100 varied expectations, one rule
//! changed at a time (removed, added, flipped or given another match, in a
//! random filter), re-checked on a warm engine; and `check` of the same
//! changed scenario from scratch, the baseline, in the same run.
//!
//!     cargo run --release -p pathproof-core --example recheck
//!     H=2000 N=40 SEED=7 cargo run --release -p pathproof-core --example recheck
//!     PAIRS=1 cargo run --release -p pathproof-core --example recheck
//!
//! `PAIRS=1` keeps only the allow and deny lines (questions about named
//! sources), leaving out `only` and `isolated`, whose walk is from every
//! source.
//!
//! Prints the median (and the 90th percentile) of each, their ratio, and
//! how many expectations the warm re-checks evaluated again. Each re-check
//! is also compared with the from-scratch report (they must be equal).

/// The `pathproof` binary's allocator and its settings.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pathproof_core::analysis::check::{check, render_json};
use pathproof_core::analysis::incremental::WarmCheck;
use pathproof_core::synth::{change_one_rule, large, random_expectations, SplitMix64, SynthParams};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    allocator::keep_freed_memory();
    let hosts = env("H", 2000) as usize;
    let n = env("N", 30) as usize;
    let seed = env("SEED", 1);
    let text = large(&SynthParams::sized(1, hosts));
    let mut scn =
        pathproof_core::load::load("large.yaml", &text, None).expect("generated scenarios load");
    let mut rng = SplitMix64::new(seed);
    scn.expectations = random_expectations(
        &scn,
        &mut rng,
        if std::env::var("PAIRS").is_ok() {
            300
        } else {
            100
        },
    );
    if std::env::var("PAIRS").is_ok() {
        scn.expectations.retain(|e| {
            matches!(
                e.kind,
                pathproof_core::model::ExpectKind::Allow { .. }
                    | pathproof_core::model::ExpectKind::Deny { .. }
            )
        });
        scn.expectations.truncate(100);
    }
    let t = Instant::now();
    let mut warm = WarmCheck::new(Arc::new(scn.clone()));
    eprintln!(
        "{hosts} hosts, {} rules, {} expectations; first check (engine + every walk): {:?}",
        scn.filters.iter().map(|f| f.rules.len()).sum::<usize>(),
        scn.expectations.len(),
        t.elapsed()
    );
    let (mut incremental, mut scratch) = (Vec::new(), Vec::new());
    let (mut reevaluated, mut walks, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    let mut current = scn;
    for _ in 0..n {
        let Some((next, what)) = change_one_rule(&current, &mut rng) else {
            break;
        };
        let next = Arc::new(next);
        let t = Instant::now();
        let stats = warm.update(next.clone());
        incremental.push(t.elapsed());
        reevaluated.push(stats.reevaluated);
        walks.push(stats.walks);
        classes.push(stats.classes);
        if std::env::var("VERBOSE").is_ok() {
            eprintln!("{what}: {:?}, {stats:?}", t.elapsed());
        }
        let t = Instant::now();
        let fresh = check(&next);
        scratch.push(t.elapsed());
        assert_eq!(
            render_json(warm.report()),
            render_json(&fresh),
            "the warm re-check differs from check"
        );
        current = Arc::unwrap_or_clone(next);
    }
    let (mi, si) = (quantile(&mut incremental, 0.5), quantile(&mut scratch, 0.5));
    let (pi, ps) = (quantile(&mut incremental, 0.9), quantile(&mut scratch, 0.9));
    reevaluated.sort();
    walks.sort();
    classes.sort();
    println!(
        "incremental re-check: median {mi:?} (p90 {pi:?}); from scratch: median {si:?} (p90 {ps:?}); ratio {:.1}x; {} changes",
        si.as_secs_f64() / mi.as_secs_f64(),
        incremental.len()
    );
    println!(
        "expectations evaluated again per change: median {} (max {}) of {}; walks: median {} (max {}); classes of sources walked: median {} (max {})",
        reevaluated[reevaluated.len() / 2],
        reevaluated.last().copied().unwrap_or(0),
        warm.report().results.len(),
        walks[walks.len() / 2],
        walks.last().copied().unwrap_or(0),
        classes[classes.len() / 2],
        classes.last().copied().unwrap_or(0)
    );
}
