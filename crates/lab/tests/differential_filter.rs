//! Differential test of `pathproof filter` against the kernel: random
//! iptables-save and nft rule sets loaded into a namespace with
//! `iptables-restore` / `nft -f`, random packets sent for real (at least
//! 2,000 per run), the kernel's verdict beside `pathproof_rulesets`'.

mod common;

use pathproof_lab::filterdiff::{random_case, Format, Rig};

#[test]
fn random_rule_sets_agree_with_the_kernel() {
    if !common::root_or_skip("random_rule_sets_agree_with_the_kernel") {
        return;
    }
    let rulesets: u64 = std::env::var("PATHPROOF_LAB_RULESETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let per = 250;
    let (mut total, mut agree) = (0usize, 0usize);
    let mut counts = [0usize; 3];
    let mut report = Vec::new();
    for seed in 0..rulesets {
        let format = if seed % 2 == 0 {
            Format::IptablesSave
        } else {
            Format::Nft
        };
        let (text, packets, locals) = random_case(seed, format, per);
        // A fresh rig per rule set: no conntrack entry or address carries over.
        let rig = Rig::new(&common::lab_name(&format!("filt{seed}"))).expect("rig");
        rig.add_local(&locals).expect("addresses");
        let rs = pathproof_rulesets::parse_ruleset(&text).unwrap_or_else(|e| {
            panic!("seed {seed}: pathproof cannot parse its own rule set: {e:?}\n{text}")
        });
        rig.load(&text, format).unwrap_or_else(|e| {
            panic!("seed {seed}: the kernel refuses the rule set: {e}\n{text}")
        });
        let kernel = rig.verdicts(&packets).expect("packets sent");
        for (p, k) in packets.iter().zip(kernel) {
            let d = rs.evaluate(p);
            total += 1;
            counts[match k {
                pathproof_rulesets::Verdict::Accept => 0,
                pathproof_rulesets::Verdict::Drop => 1,
                pathproof_rulesets::Verdict::Reject => 2,
            }] += 1;
            if d.verdict == k {
                agree += 1;
            } else if report.len() < 20 {
                report.push(format!(
                    "seed {seed} ({format:?}): {:?} -> kernel {k:?}, pathproof {}",
                    p,
                    d.render_line()
                ));
            }
        }
    }
    eprintln!(
        "filter differential: {rulesets} rule sets, {total} packets, {agree} agree ({:.2} %); kernel verdicts: {} accept, {} drop, {} reject",
        100.0 * agree as f64 / total.max(1) as f64,
        counts[0],
        counts[1],
        counts[2]
    );
    assert!(total >= 2000, "only {total} packets");
    assert!(
        counts.iter().all(|c| *c > 50),
        "verdicts too one-sided: {counts:?}"
    );
    assert_eq!(
        agree,
        total,
        "disagreements (first 20):\n{}",
        report.join("\n")
    );
}
