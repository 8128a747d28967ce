//! One `reach` of the generated scenario, for profilers: deterministic work
//! that `valgrind --tool=callgrind` or `perf` can measure without a bench
//! harness around it (see docs/performance.md).
//!
//!     cargo build --release -p pathproof-core --example reach_once
//!     H=600 valgrind --tool=callgrind target/release/examples/reach_once
//!     H=2000 JSON=1 target/release/examples/reach_once | sha256sum
//!     H=2000 ENGINE=40 target/release/examples/reach_once
//!     H=2000 SCENARIO=1 target/release/examples/reach_once > large.yaml
//!
//! `H` is the number of hosts (default 2,000; the shape of the bench's
//! scenarios). `JSON=1` prints the answer as `reach --format json` would, to
//! compare builds; `ENGINE=n` instead builds the engine `n` times and prints
//! the median; `SCENARIO=1` prints the scenario's YAML (for timing the
//! `pathproof` binary on it) and stops.

/// The `pathproof` binary's allocator and its settings.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::time::Instant;

use pathproof_core::analysis::reach::{reach, render_json, ReachQuery};
use pathproof_core::analysis::symbolic::Engine;
use pathproof_core::synth::{large, SynthParams};

fn main() {
    allocator::keep_freed_memory();
    let hosts: usize = std::env::var("H")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let p = SynthParams::sized(1, hosts);
    let text = large(&p);
    if std::env::var("SCENARIO").is_ok() {
        print!("{text}");
        return;
    }
    let scn =
        pathproof_core::load::load("large.yaml", &text, None).expect("generated scenarios load");
    if let Some(n) = std::env::var("ENGINE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        let mut times: Vec<_> = (0..n.max(1))
            .map(|_| {
                let t = Instant::now();
                drop(Engine::new(&scn));
                t.elapsed()
            })
            .collect();
        times.sort();
        eprintln!(
            "engine: median {:?} of {}",
            times[times.len() / 2],
            times.len()
        );
        return;
    }
    let t = Instant::now();
    let r = reach(&scn, &ReachQuery::default());
    eprintln!("reach: {:?}, {} rows", t.elapsed(), r.journeys.len());
    if std::env::var("JSON").is_ok() {
        use std::io::Write;
        std::io::stdout()
            .lock()
            .write_all(render_json(&scn, &r).as_bytes())
            .expect("stdout takes the answer");
    }
    // The process ends here: freeing the answer would only add to what a
    // profiler counts.
    std::mem::forget(r);
}
