//! `reach` of a scenario file in its phases, each timed: loading the file,
//! building the engine, the walk, and the table (`reach`'s default output).
//! For seeing which phase a change moves (see docs/performance.md).
//!
//!     cargo build --release -p pathproof-core --example reach_phases
//!     target/release/examples/reach_phases /tmp/gen-2000.yaml
//!
//! Prints one line to stderr: `load … ms, engine … ms, walk … ms, table … ms (N bytes)`.
//! With `LOADS=N` it only loads the file N times and prints the median and
//! the fastest load.

/// The `pathproof` binary's allocator and its settings.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::time::Instant;

use pathproof_core::analysis::reach::{reach_with, ReachQuery};
use pathproof_core::analysis::reach_table;
use pathproof_core::analysis::symbolic::Engine;

fn main() {
    allocator::keep_freed_memory();
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: reach_phases SCENARIO.yaml");
        std::process::exit(2);
    };
    let t = Instant::now();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            std::process::exit(2);
        }
    };
    // `LOADS=N`: only load the file, N times, and print the median and the
    // fastest (the loader's own benchmark).
    if let Some(n) = std::env::var("LOADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut times: Vec<f64> = (0..n.max(1))
            .map(|_| {
                let t = Instant::now();
                let s = pathproof_core::load::load(&path, &text, None);
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                drop(s);
                ms
            })
            .collect();
        times.sort_by(f64::total_cmp);
        eprintln!(
            "load: median {:.1} ms, fastest {:.1} ms ({} loads)",
            times[times.len() / 2],
            times[0],
            times.len()
        );
        return;
    }
    let scn = match pathproof_core::load::load(&path, &text, None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {path} does not load: {e:?}");
            std::process::exit(2);
        }
    };
    let load = t.elapsed();
    let t = Instant::now();
    let engine = Engine::new(&scn);
    let build = t.elapsed();
    let t = Instant::now();
    let q = ReachQuery::default();
    let r = reach_with(&engine, &q);
    let walk = t.elapsed();
    let t = Instant::now();
    let table = reach_table::render(&scn, &r, &q, Default::default());
    let render = t.elapsed();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "load {:.0} ms, engine {:.0} ms, walk {:.0} ms, table {:.0} ms ({} bytes)",
        ms(load),
        ms(build),
        ms(walk),
        ms(render),
        table.len()
    );
    // The process ends here: freeing the answer would only add to the time.
    std::mem::forget(r);
}
