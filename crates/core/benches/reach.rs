//! `reach` and `check` at growing sizes of the generated scenario, with the
//! mini-lab as the baseline measured in the same run. Prints medians.
//!
//!     cargo bench -p pathproof-core --bench reach
//!     REACH_HOSTS=100,200,400,800 cargo bench -p pathproof-core --bench reach
//!
//! Each size keeps the shape of the default 2,000-host scenario (ten hosts per
//! network, ten rules per host).

use std::time::{Duration, Instant};

use pathproof_core::analysis::check::check;
use pathproof_core::analysis::reach::{reach, ReachQuery};
use pathproof_core::synth::{large, SynthParams};
use pathproof_core::{examples, load};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let mini = examples::get("mini-lab").expect("built in");
    let scn = load(&mini.file(), mini.text, None).expect("loads");
    let (base_reach, r) = time(20, || reach(&scn, &ReachQuery::default()));
    let (base_check, _) = time(20, || check(&scn));
    println!(
        "baseline mini-lab: reach {base_reach:?} ({} journeys), check {base_check:?}",
        r.journeys.len()
    );
    let sizes: Vec<usize> = std::env::var("REACH_HOSTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![50, 100, 200]);
    println!(
        "{:>6} {:>8} {:>7} {:>10} {:>12} {:>10} {:>12} {:>10} {:>9}",
        "hosts",
        "networks",
        "rules",
        "load",
        "reach",
        "journeys",
        "x baseline",
        "check",
        "peak MiB"
    );
    for h in sizes {
        let p = SynthParams {
            hosts: h,
            networks: (h / 10).max(4),
            rules: h * 10,
            ..SynthParams::default()
        };
        let text = large(&p);
        let (load_t, scn) = time(3, || {
            load("large.yaml", &text, None).expect("generated scenarios load")
        });
        let runs = if h <= 200 { 3 } else { 1 };
        let (reach_t, r) = time(runs, || reach(&scn, &ReachQuery::default()));
        let (check_t, c) = time(runs, || check(&scn));
        println!(
            "{:>6} {:>8} {:>7} {:>10.1?} {:>12.1?} {:>10} {:>12.0} {:>10.1?} {:>9.0}   ({} expectations)",
            h,
            p.networks,
            p.rules,
            load_t,
            reach_t,
            r.journeys.len(),
            reach_t.as_secs_f64() / base_reach.as_secs_f64(),
            check_t,
            peak_rss_mib(),
            c.results.len()
        );
    }
}
