//! `audit`'s exact shadowed/redundant rule analysis at growing sizes of the
//! generated scenario, with the mini-lab as the baseline in the same run.
//! Prints medians.
//!
//!     cargo bench -p pathproof-core --bench audit
//!     AUDIT_HOSTS=100,200,2000 cargo bench -p pathproof-core --bench audit
//!     AUDIT_FULL=1 AUDIT_HOSTS=100 cargo bench -p pathproof-core --bench audit
//!
//! A size of N hosts has N / 10 networks and 10 N rules, the shape of the
//! default generated scenario (2,000 hosts is exactly `SynthParams::default()`).
//! With `AUDIT_FULL=1` the whole `audit` (all journeys, then every finding)
//! is timed once per size as well.

/// The `pathproof` binary's allocator and its settings, so that the figures are its figures.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::time::{Duration, Instant};

use pathproof_core::analysis::audit;
use pathproof_core::model::Scenario;
use pathproof_core::synth::{large, SynthParams};
use pathproof_core::{examples, load};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time of the rule analysis over `runs` runs, and its statistics.
fn rule_analysis(scn: &Scenario, runs: usize) -> (Duration, Duration, Duration, audit::RuleStats) {
    let mut stats = None;
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let mut f = Vec::new();
            let s = audit::rule_findings(scn, &mut f);
            let d = t.elapsed();
            stats = Some(s);
            d
        })
        .collect();
    let lo = *times.iter().min().expect("runs > 0");
    let hi = *times.iter().max().expect("runs > 0");
    (median(times), lo, hi, stats.expect("runs > 0"))
}

fn main() {
    allocator::keep_freed_memory();
    let mini = examples::get("mini-lab").expect("built in");
    let scn = load(&mini.file(), mini.text, None).expect("loads");
    let (base, _, _, _) = rule_analysis(&scn, 51);
    println!("baseline mini-lab: rule analysis {base:?} (median of 51)");
    let sizes: Vec<usize> = std::env::var("AUDIT_HOSTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![20, 50, 100]);
    let full = std::env::var("AUDIT_FULL").is_ok_and(|v| v == "1");
    println!(
        "{:>6} {:>7} {:>5} {:>14} {:>22} {:>12}",
        "hosts", "rules", "runs", "rule analysis", "min .. max", "x baseline"
    );
    for h in sizes {
        let p = SynthParams {
            hosts: h,
            networks: (h / 10).max(4),
            rules: h * 10,
            ..SynthParams::default()
        };
        let scn = load("large.yaml", &large(&p), None).expect("generated scenarios load");
        let runs = if h <= 200 { 11 } else { 5 };
        let (d, lo, hi, stats) = rule_analysis(&scn, runs);
        println!(
            "{:>6} {:>7} {:>5} {:>14.1?} {:>22} {:>12.0}   {stats:?}",
            h,
            p.rules,
            runs,
            d,
            format!("{lo:.1?} .. {hi:.1?}"),
            d.as_secs_f64() / base.as_secs_f64()
        );
        if full {
            let t = Instant::now();
            let a = audit::audit(&scn);
            println!(
                "{:>6} whole audit (all journeys and every finding, one run): {:.2?}, {} findings",
                h,
                t.elapsed(),
                a.findings.len()
            );
        }
    }
}
