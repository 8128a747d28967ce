use pathproof_rulesets::classbench;
use pathproof_rulesets::classifier::{generate_headers, FastClassifier, LinearClassifier};
use std::time::Instant;
fn main() {
    for name in ["acl1_10k", "fw1_10k", "ipc1_10k"] {
        let text = std::fs::read_to_string(format!("/work/shared/data/classbench/{name}")).unwrap();
        let rules = classbench::parse(&text).unwrap();
        let fast = FastClassifier::new(&rules);
        let lin = LinearClassifier::new(&rules);
        let pkts = generate_headers(&rules, 1_000_000, 0x5EED_0000 ^ rules.len() as u64);
        let mut none = 0;
        let mut pos = 0usize;
        for h in pkts.iter().take(20000) {
            match lin.classify(h) {
                None => none += 1,
                Some(i) => pos += i,
            }
        }
        println!(
            "{name}: none {none}/20000 avg pos {}",
            pos / (20000 - none).max(1)
        );
        let mut ts = vec![];
        for _ in 0..5 {
            let t = Instant::now();
            let mut acc = 0usize;
            for h in &pkts {
                acc = acc.wrapping_add(fast.classify(std::hint::black_box(h)).unwrap_or(7));
            }
            std::hint::black_box(acc);
            ts.push(t.elapsed().as_nanos() as f64 / 1e6);
        }
        ts.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name}: fast {:.1} ns  mem {:.1} MiB",
            ts[2],
            fast.memory_bytes() as f64 / 1048576.0
        );
    }
}
