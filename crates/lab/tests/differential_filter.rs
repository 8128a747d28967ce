//! Differential test of `pathproof filter` against the kernel: random
//! iptables-save, ip6tables-save and nft (`ip`, `ip6`, `inet`) rule sets
//! loaded into a namespace with `iptables-restore` / `ip6tables-restore` /
//! `nft -f`, random IPv4 and IPv6 packets sent for real through the INPUT,
//! FORWARD and OUTPUT hooks (at least 2,000 per run), the kernel's verdict
//! beside `pathproof_rulesets`'.

mod common;

use std::collections::BTreeMap;

use pathproof_lab::filterdiff::{kinds, random_case, Rig};
use pathproof_rulesets::Verdict;

#[derive(Default)]
struct Tally {
    total: usize,
    agree: usize,
    verdicts: [usize; 3],
}

fn slot(v: Verdict) -> usize {
    match v {
        Verdict::Accept => 0,
        Verdict::Drop => 1,
        Verdict::Reject => 2,
    }
}

#[test]
fn random_rule_sets_agree_with_the_kernel() {
    if !common::root_or_skip("random_rule_sets_agree_with_the_kernel") {
        return;
    }
    let kinds = kinds();
    let rulesets: u64 = std::env::var("PATHPROOF_LAB_RULESETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2 * kinds.len() as u64);
    let per = 75;
    let mut all = Tally::default();
    // Per hook and packet family, and per rule-set kind.
    let mut by_hook: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut report = Vec::new();
    for seed in 0..rulesets {
        let kind = kinds[(seed % kinds.len() as u64) as usize];
        let case = random_case(seed, kind, per);
        // A fresh rig per rule set: no conntrack entry, address or route carries over.
        let rig = Rig::new(&common::lab_name(&format!("filt{seed}"))).expect("rig");
        rig.add_fixed(kind.hook, &case.fixed).expect("addresses");
        let rs = pathproof_rulesets::parse_ruleset(&case.text).unwrap_or_else(|e| {
            panic!(
                "seed {seed} ({}): pathproof cannot parse its own rule set: {e:?}\n{}",
                kind.name(),
                case.text
            )
        });
        rig.load(&case.text, kind).unwrap_or_else(|e| {
            panic!(
                "seed {seed} ({}): the kernel refuses the rule set: {e}\n{}",
                kind.name(),
                case.text
            )
        });
        let kernel = rig
            .verdicts(kind.hook, &case.packets)
            .expect("packets sent");
        for (p, k) in case.packets.iter().zip(kernel) {
            let d = rs.evaluate(p);
            let fam = if p.src.is_ipv6() { "IPv6" } else { "IPv4" };
            let ok = d.verdict == k;
            for t in [
                &mut all,
                by_hook
                    .entry(format!("{} {fam}", kind.hook.name()))
                    .or_default(),
                by_kind.entry(kind.name()).or_default(),
            ] {
                t.total += 1;
                t.agree += ok as usize;
                t.verdicts[slot(k)] += 1;
            }
            if !ok && report.len() < 20 {
                report.push(format!(
                    "seed {seed} ({}): {:?} -> kernel {k:?}, pathproof {}",
                    kind.name(),
                    p,
                    d.render_line()
                ));
            }
        }
    }
    let line = |name: &str, t: &Tally| {
        format!(
            "  {name:<22} {:>5} packets, {:>5} agree ({:.2} %); {} accept, {} drop, {} reject",
            t.total,
            t.agree,
            100.0 * t.agree as f64 / t.total.max(1) as f64,
            t.verdicts[0],
            t.verdicts[1],
            t.verdicts[2]
        )
    };
    let mut out = vec![format!("filter differential: {rulesets} rule sets")];
    out.push(line("all", &all));
    for (k, t) in &by_hook {
        out.push(line(k, t));
    }
    for (k, t) in &by_kind {
        out.push(line(k, t));
    }
    eprintln!("{}", out.join("\n"));
    assert!(all.total >= 2000, "only {} packets", all.total);
    assert!(
        all.verdicts.iter().all(|c| *c > 50),
        "verdicts too one-sided: {:?}",
        all.verdicts
    );
    if rulesets >= kinds.len() as u64 {
        // Every hook sees both families, and each of them all three verdicts.
        assert_eq!(by_hook.len(), 6, "hooks and families: {:?}", by_hook.keys());
        for (k, t) in &by_hook {
            assert!(
                t.verdicts.iter().all(|c| *c > 0),
                "{k}: verdicts {:?}",
                t.verdicts
            );
        }
    }
    assert_eq!(
        all.agree,
        all.total,
        "disagreements (first 20):\n{}",
        report.join("\n")
    );
}
