//! The simulator's speed target (docs/performance.md, "Traffic over time"):
//! 60 simulated seconds of a 100,000 SYN/s flood of forged sources, with 100
//! legitimate clients and one limiter, in at most 1 s of wall time.
//!
//! Run with `cargo bench -p pathproof-sim --bench simulate`. Before
//! criterion's own measurement, the run prints medians: the target run, and
//! as baselines measured in the same run the same minute without the flood
//! (100 clients and the limiter only) and one trace of the mini-lab.

/// The `pathproof` binary's allocator and its settings, so that the figures are its figures.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pathproof_core::{examples, load, trace, Query};
use pathproof_sim::{simulate, Options};

const SCENARIO: &str = include_str!("flood-bench.yaml");
const TARGET: Duration = Duration::from_secs(1);

fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn opts() -> Options {
    Options {
        seconds: Some(60),
        seed: None,
    }
}

fn print_summary() {
    let scn = load("flood-bench.yaml", SCENARIO, None).expect("the bench scenario loads");
    let mut quiet = scn.clone();
    if let Some(t) = quiet.traffic.as_mut() {
        t.flows.retain(|f| f.name != "flood");
    }
    let mini = examples::get("mini-lab").expect("mini-lab");
    let mini_scn = load(&mini.file(), mini.text, None).expect("mini-lab loads");
    let q = Query::new("client", "www.example.com:443");

    let run = simulate(&scn, &opts()).expect("runs");
    let syns: u64 = run
        .flows
        .iter()
        .filter(|f| f.kind == "syn-flood")
        .map(|f| f.offered)
        .sum();
    let clients: u64 = run
        .flows
        .iter()
        .filter(|f| f.legitimate)
        .map(|f| f.offered)
        .sum();
    let full = median_of(7, || {
        black_box(simulate(black_box(&scn), &opts()).unwrap());
    });
    let base = median_of(7, || {
        black_box(simulate(black_box(&quiet), &opts()).unwrap());
    });
    let tr = median_of(201, || {
        black_box(trace(&mini_scn, black_box(&q)).unwrap());
    });
    println!("\n== pathproof simulate: medians ==");
    println!(
        "target    60 s, {syns} forged SYNs, {clients} client connections, 1 limiter {:>10}  ({:.1} M SYNs per second of wall time)  target <= 1 s: {}",
        ms(full),
        syns as f64 / full.as_secs_f64() / 1e6,
        if full <= TARGET { "PASS" } else { "FAIL" }
    );
    println!(
        "baseline  60 s, no flood: the clients and the limiter only      {:>10}  ({:.1}x)",
        ms(base),
        full.as_secs_f64() / base.as_secs_f64()
    );
    println!(
        "baseline  one trace of the mini-lab (client -> www.example.com:443) {:>8.3} ms",
        tr.as_secs_f64() * 1e3
    );
    let l = &run.listeners[0];
    println!(
        "check     TcpExtSyncookiesSent {}, clients served {:.1} %\n",
        l.counters.syncookies_sent,
        run.flows
            .iter()
            .find(|f| f.legitimate)
            .and_then(|f| f.success_rate)
            .unwrap_or(0.0)
            * 100.0
    );
}

fn bench(c: &mut Criterion) {
    allocator::keep_freed_memory();
    print_summary();
    let scn = load("flood-bench.yaml", SCENARIO, None).unwrap();
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    g.bench_function("flood-bench 60 s", |b| {
        b.iter(|| simulate(black_box(&scn), &opts()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
