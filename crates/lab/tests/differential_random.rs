//! Differential test against the kernel on random scenarios: seeded small
//! scenarios from `pathproof_core::synth::small` (each seed also picks the
//! base, `break` or `harden` variant) are built for real and every journey is
//! probed; model and kernel must agree on every probe.
//!
//! `PATHPROOF_LAB_SEEDS` (default 200) sets how many, `PATHPROOF_LAB_SEED_BASE`
//! (default 0) where they start.

mod common;

use std::sync::{Arc, Mutex};

/// Per seed: the seed, the variant, probes, probes differing by limit L1, other disagreements.
type SeedResult = (u64, Option<String>, usize, usize, Vec<String>);

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

#[test]
fn random_small_scenarios_agree_with_the_kernel() {
    if !common::root_or_skip("random_small_scenarios_agree_with_the_kernel") {
        return;
    }
    let n = env_u64("PATHPROOF_LAB_SEEDS", 200);
    let base = env_u64("PATHPROOF_LAB_SEED_BASE", 0);
    let seeds: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new((base..base + n).rev().collect()));
    let out: Arc<Mutex<Vec<SeedResult>>> = Arc::new(Mutex::new(Vec::new()));
    // Probes from network stand-ins (expectations whose source is a network).
    let stand_ins = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (seeds, out, stand_ins) = (seeds.clone(), out.clone(), stand_ins.clone());
            std::thread::spawn(move || loop {
                let Some(seed) = seeds.lock().unwrap().pop() else {
                    return;
                };
                let text = pathproof_core::synth::small(seed);
                let file = format!("synth-small-{seed}.yaml");
                let scn = pathproof_core::load(&file, &text, None).unwrap_or_else(|e| {
                    panic!("seed {seed} does not load: {:?}", e.problems.first())
                });
                let variants: Vec<String> = scn.variants.iter().map(|v| v.name.clone()).collect();
                let variant = match seed % 3 {
                    0 => None,
                    k => variants.get(k as usize - 1).cloned(),
                };
                let l = common::Lab::up(&format!("r{w}"), &file, &text, variant.as_deref());
                let results = l.probe_all();
                drop(l);
                stand_ins.fetch_add(
                    results.iter().filter(|r| r.stand_in.is_some()).count(),
                    std::sync::atomic::Ordering::SeqCst,
                );
                let limits = results
                    .iter()
                    .filter(|r| !r.agree && r.known_limit.is_some())
                    .count();
                let bad: Vec<String> = results
                    .iter()
                    .filter(|r| !r.agree && r.known_limit.is_none())
                    .map(|r| {
                        format!(
                            "{} {} -> {}{}: {}",
                            r.proto,
                            r.from,
                            r.to,
                            r.via
                                .as_deref()
                                .map(|v| format!(" via {v}"))
                                .unwrap_or_default(),
                            r.disagreement.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                out.lock()
                    .unwrap()
                    .push((seed, variant, results.len(), limits, bad));
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut out = Arc::try_unwrap(out).unwrap().into_inner().unwrap();
    out.sort_by_key(|o| o.0);
    let total: usize = out.iter().map(|o| o.2).sum();
    let limits: usize = out.iter().map(|o| o.3).sum();
    let bad: usize = out.iter().map(|o| o.4.len()).sum();
    let mut report = Vec::new();
    for (seed, variant, _, _, b) in &out {
        for line in b {
            report.push(format!(
                "seed {seed}{}: {line}",
                variant
                    .as_deref()
                    .map(|v| format!(" @{v}"))
                    .unwrap_or_default()
            ));
        }
    }
    eprintln!(
        "random scenarios: {} scenarios, {} probes ({} from network stand-ins), {} agree ({:.2} %), {} differ by documented limit L1 (answers crossing stateless filters), {} other disagreements",
        out.len(),
        total,
        stand_ins.load(std::sync::atomic::Ordering::SeqCst),
        total - bad - limits,
        100.0 * (total - bad - limits) as f64 / total.max(1) as f64,
        limits,
        bad
    );
    assert_eq!(out.len() as u64, n);
    assert!(total > 0);
    assert!(
        report.is_empty(),
        "{} disagreements:\n{}",
        report.len(),
        report.join("\n")
    );
}
