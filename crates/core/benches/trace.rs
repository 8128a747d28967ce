//! The journey engine's performance targets (docs/performance.md):
//! `trace` on a scenario of 2,000 hosts and 20,000 rules in under 20 ms
//! (load excluded), and loading that scenario in under 1 s.
//!
//! Run with `cargo bench -p pathproof-core --bench trace`. Before criterion's
//! own measurements, the run prints a plain table of medians (with the
//! mini-lab as a baseline and the ratios) and a breakdown of where the time
//! goes, so that one run gives every figure the doc quotes.
//!
//! `SYNTH_SCALES=1,2,4,8` adds load and trace medians of the larger sizes to
//! the printed table (the criterion part always measures the default size).

/// The `pathproof` binary's allocator and its settings, so that the figures are its figures.
#[path = "../../cli/src/allocator.rs"]
mod allocator;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pathproof_core::evidence::{Direction, Stage};
use pathproof_core::examples;
use pathproof_core::journey::filter;
use pathproof_core::load::yaml;
use pathproof_core::model::{ConnState, MatchInput};
use pathproof_core::synth::{self, SynthParams};
use pathproof_core::{load, trace, Query};

const TRACE_TARGET: Duration = Duration::from_millis(20);
const LOAD_TARGET: Duration = Duration::from_secs(1);

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
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mini_lab() -> &'static str {
    examples::get(examples::DEFAULT).expect("mini-lab").text
}

fn mini_query() -> Query {
    Query::new("client", "www.example.com:443")
}

/// The plain table: medians of repeated runs, with ratios to the mini-lab.
fn print_summary() {
    let mini = mini_lab();
    let mini_scn = load("mini-lab.yaml", mini, None).expect("mini-lab loads");
    let mini_load = median_of(51, || {
        black_box(load("mini-lab.yaml", black_box(mini), None).unwrap());
    });
    let mini_trace = median_of(201, || {
        black_box(trace(&mini_scn, &mini_query()).unwrap());
    });
    println!("\n== pathproof journey engine: medians ==");
    println!(
        "baseline  mini-lab load                {:>12}",
        ms(mini_load)
    );
    println!(
        "baseline  mini-lab trace client -> www.example.com:443 {:>12}",
        ms(mini_trace)
    );

    let scales: Vec<usize> = std::env::var("SYNTH_SCALES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1]);
    for factor in scales {
        let p = SynthParams::default().scaled(factor);
        let t = Instant::now();
        let g = synth::generate(&p);
        let gen = t.elapsed();
        let runs = if factor <= 1 { 7 } else { 3 };
        let parse = median_of(runs, || {
            black_box(yaml::parse(black_box(&g.text)).unwrap());
        });
        // The baseline: the tree built the serde way (serde-saphyr's visitor).
        let parse_serde = median_of(runs, || {
            black_box(yaml::parse_reference(black_box(&g.text)).unwrap());
        });
        assert!(yaml::parse_fast(&g.text).is_some(), "the fast way applies");
        let load_t = median_of(runs, || {
            black_box(load("large.yaml", black_box(&g.text), None).unwrap());
        });
        let scn = load("large.yaml", &g.text, None).unwrap();
        println!(
            "\n-- {}x: {} hosts, {} networks, {} rules, {} KiB of YAML (generated in {}) --",
            factor,
            scn.hosts.len(),
            scn.networks.len(),
            scn.filters.iter().map(|f| f.rules.len()).sum::<usize>(),
            g.text.len() / 1024,
            ms(gen)
        );
        println!(
            "load                       {:>12}  ({:>6.1}x mini-lab)  target < 1 s: {}",
            ms(load_t),
            load_t.as_secs_f64() / mini_load.as_secs_f64(),
            if load_t < LOAD_TARGET { "PASS" } else { "FAIL" }
        );
        println!(
            "  of which YAML parse      {:>12}  ({:.0}% of load)",
            ms(parse),
            100.0 * parse.as_secs_f64() / load_t.as_secs_f64()
        );
        println!(
            "  baseline: the serde way  {:>12}  (the fast way: {:.2}x of it)",
            ms(parse_serde),
            parse.as_secs_f64() / parse_serde.as_secs_f64()
        );
        for v in ["break", "harden"] {
            let d = median_of(runs, || {
                black_box(load("large.yaml", &g.text, Some(v)).unwrap());
            });
            println!("load --variant {v:<11} {:>12}", ms(d));
        }
        // Cloning the biggest filter: the engine clones a filter each time it runs one.
        let big = scn
            .filters
            .iter()
            .max_by_key(|f| f.rules.len())
            .expect("filters");
        let clone_t = median_of(31, || {
            black_box(black_box(big).clone());
        });
        println!(
            "clone of {:<10} ({} rules) {:>12}",
            big.name,
            big.rules.len(),
            ms(clone_t)
        );
        for probe in &g.probes {
            let q = probe.query();
            let tr = trace(&scn, &q).unwrap();
            let d = median_of(if factor <= 1 { 51 } else { 11 }, || {
                black_box(trace(&scn, black_box(&q)).unwrap());
            });
            println!(
                "trace {:<20} {:>12}  ({:>6.1}x mini-lab)  {} hops, {:<10} target < 20 ms: {}",
                probe.label,
                ms(d),
                d.as_secs_f64() / mini_trace.as_secs_f64(),
                tr.hops.len(),
                tr.outcome.kind.name(),
                if d < TRACE_TARGET { "PASS" } else { "FAIL" }
            );
            // Where the time goes: the filters this journey ran, cloned (as
            // the engine does per hook) and evaluated (first match), apart.
            let ran: Vec<(&pathproof_core::model::Filter, MatchInput)> = tr
                .hops
                .iter()
                .filter(|h| h.stage == Stage::Filter)
                .filter_map(|h| {
                    let owner = h.rule.as_ref()?.owner.as_deref()?;
                    let f = scn.filters.iter().find(|f| f.name == owner)?;
                    let input = MatchInput {
                        proto: h.packet.proto,
                        src: h.packet.src,
                        dst: h.packet.dst,
                        sport: h.packet.sport.unwrap_or(0),
                        dport: h.packet.dport.unwrap_or(0),
                        in_iface: None,
                        out_iface: None,
                        state: if h.direction == Direction::Request {
                            ConnState::New
                        } else {
                            ConnState::Established
                        },
                    };
                    Some((f, input))
                })
                .collect();
            if !ran.is_empty() {
                let evaluated = median_of(11, || {
                    for (f, input) in &ran {
                        black_box(filter::evaluate(black_box(f), black_box(input)));
                    }
                });
                let rules: usize = ran.iter().map(|(f, _)| f.rules.len()).sum();
                println!(
                    "      {} filter runs over {} rules: evaluating them {} ({:.0}% of the trace)",
                    ran.len(),
                    rules,
                    ms(evaluated),
                    100.0 * evaluated.as_secs_f64() / d.as_secs_f64()
                );
            }
        }
    }
    println!();
}

fn benches(c: &mut Criterion) {
    allocator::keep_freed_memory();
    print_summary();

    let mini = mini_lab();
    let mini_scn = load("mini-lab.yaml", mini, None).unwrap();
    let g = synth::generate(&SynthParams::default());
    let scn = load("large.yaml", &g.text, None).unwrap();

    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("large-2000h-200n-20000r", |b| {
        b.iter(|| load("large.yaml", black_box(&g.text), None).unwrap())
    });
    group.bench_function("mini-lab", |b| {
        b.iter(|| load("mini-lab.yaml", black_box(mini), None).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("trace");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("mini-lab/client-www", |b| {
        let q = mini_query();
        b.iter(|| trace(&mini_scn, black_box(&q)).unwrap())
    });
    for probe in &g.probes {
        let q = probe.query();
        group.bench_function(format!("large/{}", probe.label), |b| {
            b.iter(|| trace(&scn, black_box(&q)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(trace_benches, benches);
criterion_main!(trace_benches);
