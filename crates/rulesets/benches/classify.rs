//! ClassBench benchmark: linear scan vs FastClassifier on acl1_10k, fw1_10k, ipc1_10k.
//! Run with `cargo bench -p pathproof-rulesets --bench classify`.
//! Verifies that both classifiers give identical answers on every packet before timing.

use pathproof_rulesets::classbench;
use pathproof_rulesets::classifier::{generate_headers, FastClassifier, Header, LinearClassifier};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

const PACKETS: usize = 1_000_000;
const REPS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_per_lookup<F: Fn(&Header) -> Option<usize>>(pkts: &[Header], f: F) -> f64 {
    let t = Instant::now();
    let mut acc = 0usize;
    for h in pkts {
        acc = acc.wrapping_add(f(black_box(h)).unwrap_or(usize::MAX));
    }
    black_box(acc);
    t.elapsed().as_nanos() as f64 / pkts.len() as f64
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/classbench");
    if !dir.is_dir() {
        eprintln!(
            "ClassBench data not found at {}: nothing to benchmark",
            dir.display()
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            std::process::exit(1);
        }
        return;
    }
    println!(
        "{PACKETS} packets per set (half inside a random rule's box, half uniform), median of {REPS} repetitions, one core"
    );
    println!(
        "| rule set | rules | build (ms) | memory (MiB) | linear (ns/lookup) | fast (ns/lookup) | speed-up |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for name in ["acl1_10k", "fw1_10k", "ipc1_10k"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("read rule file");
        let rules = classbench::parse(&text).expect("parse rule file");
        let lin = LinearClassifier::new(&rules);
        let t = Instant::now();
        let fast = FastClassifier::new(&rules);
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let pkts = generate_headers(&rules, PACKETS, 0x5EED_0000 ^ rules.len() as u64);
        let mut mismatches = 0usize;
        for h in &pkts {
            if lin.classify(h) != fast.classify(h) {
                mismatches += 1;
            }
        }
        assert_eq!(
            mismatches, 0,
            "{name}: fast classifier disagrees with the linear scan"
        );
        let mut lt = Vec::new();
        let mut ft = Vec::new();
        for _ in 0..REPS {
            lt.push(time_per_lookup(&pkts, |h| lin.classify(h)));
            ft.push(time_per_lookup(&pkts, |h| fast.classify(h)));
        }
        let (l, f) = (median(lt), median(ft));
        println!(
            "| {name} | {} | {build_ms:.0} | {:.1} | {l:.0} | {f:.1} | {:.0}x |",
            rules.len(),
            fast.memory_bytes() as f64 / (1024.0 * 1024.0),
            l / f
        );
    }
}
