//! Runs one simulation of a scenario file and prints a short summary and the
//! time it took (for profiling and for comparing answers).
//!
//!     cargo run --release -p pathproof-sim --example simulate_once -- FILE [VARIANT] [SECONDS]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args.get(1).expect("a scenario file");
    let text = std::fs::read_to_string(file).expect("readable");
    let variant = args
        .get(2)
        .filter(|v| v.as_str() != "-")
        .map(String::as_str);
    let seconds = args.get(3).and_then(|s| s.parse().ok());
    let scn = pathproof_core::load(file, &text, variant).unwrap_or_else(|e| panic!("{e}"));
    let start = std::time::Instant::now();
    let run = pathproof_sim::simulate(
        &scn,
        &pathproof_sim::Options {
            seconds,
            seed: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let took = start.elapsed();
    for f in &run.flows {
        println!(
            "{:<12} offered {:>9} ok {:>9} failed {:>9} pending {:>5} success {:?} latency {:?}",
            f.name, f.offered, f.ok, f.failed, f.pending, f.success_rate, f.latency_ms
        );
        for o in &f.outcomes {
            println!("    {:>9}  {} @ {}", o.count, o.what, o.at);
        }
    }
    for l in &run.listeners {
        println!("{} {:?}", l.name, l.counters);
    }
    eprintln!("took {:.3} s", took.as_secs_f64());
}
