//! `audit` (including the exact shadowed/redundant rule analysis) at growing
//! sizes of the generated scenario, with the mini-lab as the baseline in the
//! same run. Prints medians.
//!
//!     cargo bench -p pathproof-core --bench audit
//!     AUDIT_HOSTS=50,100,200 cargo bench -p pathproof-core --bench audit

use std::time::{Duration, Instant};

use pathproof_core::analysis::audit;
use pathproof_core::synth::{large, SynthParams};
use pathproof_core::{examples, load};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mini = examples::get("mini-lab").expect("built in");
    let scn = load(&mini.file(), mini.text, None).expect("loads");
    let times: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let mut f = Vec::new();
            audit::rule_findings(&scn, &mut f);
            t.elapsed()
        })
        .collect();
    let base = median(times);
    println!("baseline mini-lab: rule analysis {base:?}");
    let sizes: Vec<usize> = std::env::var("AUDIT_HOSTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![20, 50, 100]);
    println!(
        "{:>6} {:>7} {:>14} {:>12}",
        "hosts", "rules", "rule analysis", "x baseline"
    );
    for h in sizes {
        let p = SynthParams {
            hosts: h,
            networks: (h / 10).max(4),
            rules: h * 10,
            ..SynthParams::default()
        };
        let scn = load("large.yaml", &large(&p), None).expect("generated scenarios load");
        let t = Instant::now();
        let mut f = Vec::new();
        let stats = audit::rule_findings(&scn, &mut f);
        let d = t.elapsed();
        println!(
            "{:>6} {:>7} {:>14.1?} {:>12.0}   {stats:?}",
            h,
            p.rules,
            d,
            d.as_secs_f64() / base.as_secs_f64()
        );
    }
}
