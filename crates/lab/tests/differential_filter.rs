//! Differential test of `pathproof filter` against the kernel: random
//! iptables-save, ip6tables-save and nft (`ip`, `ip6`, `inet`) rule sets
//! loaded into a namespace with `iptables-restore` / `ip6tables-restore` /
//! `nft -f`, random IPv4 and IPv6 packets sent for real through the INPUT,
//! FORWARD and OUTPUT hooks (at least 2,000 per run), the kernel's verdict
//! beside `pathproof_rulesets`'.
//!
//! Packets come in every conntrack state a rule can ask for: `new` (no
//! connection), `established` (the answer of a connection made first with
//! `conntrack -I`), `related` (an ICMP error quoting such a connection) and
//! `invalid` (a TCP segment without flags, a reset or an echo reply of no
//! connection, an ICMP error quoting none); the rule sets' `--ctstate` and
//! `ct state` matches meet them all. The kernel's own state for each packet
//! is recorded too and must be the one `filter` is given.

mod common;

use std::collections::BTreeMap;

use pathproof_lab::filterdiff::{kinds, random_case, Rig};
use pathproof_rulesets::{CtState, DecidedBy, Verdict};

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
    if !common::filterdiff_ready_or_skip("random_rule_sets_agree_with_the_kernel") {
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
    let mut by_state: BTreeMap<String, Tally> = BTreeMap::new();
    let mut report = Vec::new();
    let mut wrong_state = Vec::new();
    let mut entries = 0;
    // The kernel's side, a few rule sets at a time (each its own rig).
    let queue = std::sync::Arc::new(std::sync::Mutex::new(
        (0..rulesets).rev().collect::<Vec<u64>>(),
    ));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (queue, kinds) = (queue.clone(), kinds.clone());
            std::thread::spawn(move || {
                let mut done = Vec::new();
                loop {
                    let Some(seed) = queue.lock().unwrap().pop() else {
                        return done;
                    };
                    let kind = kinds[(seed % kinds.len() as u64) as usize];
                    let case = random_case(seed, kind, per);
                    // A fresh rig per rule set: no conntrack entry, address or route carries over.
                    let rig = Rig::new(&common::lab_name(&format!("filt{seed}"))).expect("rig");
                    rig.add_fixed(kind.hook, &case.fixed).expect("addresses");
                    rig.load(&case.text, kind).unwrap_or_else(|e| {
                        panic!(
                            "seed {seed} ({}): the kernel refuses the rule set: {e}\n{}",
                            kind.name(),
                            case.text
                        )
                    });
                    rig.connections(&case.entries)
                        .unwrap_or_else(|e| panic!("seed {seed}: conntrack entries: {e}"));
                    let kernel = rig
                        .verdicts(kind.hook, &case.packets, &case.shapes)
                        .expect("packets sent");
                    done.push((seed, kind, case, kernel));
                }
            })
        })
        .collect();
    let mut cases = Vec::new();
    for w in workers {
        cases.extend(w.join().expect("a rig worker"));
    }
    cases.sort_by_key(|c| c.0);
    for (seed, kind, case, kernel) in cases {
        let rs = pathproof_rulesets::parse_ruleset(&case.text).unwrap_or_else(|e| {
            panic!(
                "seed {seed} ({}): pathproof cannot parse its own rule set: {e:?}\n{}",
                kind.name(),
                case.text
            )
        });
        entries += case.entries.len();
        for ((p, shape), seen) in case.packets.iter().zip(&case.shapes).zip(kernel) {
            let k = seen.verdict;
            if seen.state != Some(p.state) && wrong_state.len() < 20 {
                wrong_state.push(format!(
                    "seed {seed} ({}): {shape:?} {p:?}: the kernel's conntrack state is {:?}",
                    kind.name(),
                    seen.state
                ));
            }
            let d = rs.evaluate(p);
            let fam = if p.src.is_ipv6() { "IPv6" } else { "IPv4" };
            // A reject that sends nothing (for an ICMP error, or a reset
            // for a reset) is a drop to the outside.
            let with_reset = match &d.decided_by {
                DecidedBy::Rule { text, .. } => {
                    text.contains("tcp-reset") || text.contains("tcp reset")
                }
                _ => false,
            };
            let model = match d.verdict {
                Verdict::Reject if shape.unanswered(with_reset) => Verdict::Drop,
                v => v,
            };
            let ok = model == k;
            for t in [
                &mut all,
                by_hook
                    .entry(format!("{} {fam}", kind.hook.name()))
                    .or_default(),
                by_kind.entry(kind.name()).or_default(),
                by_state.entry(state_name(p.state).to_string()).or_default(),
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
    let mut out = vec![format!(
        "filter differential: {rulesets} rule sets, {entries} conntrack entries made first"
    )];
    out.push(line("all", &all));
    for (k, t) in &by_state {
        out.push(line(&format!("state {k}"), t));
    }
    for (k, t) in &by_hook {
        out.push(line(k, t));
    }
    for (k, t) in &by_kind {
        out.push(line(k, t));
    }
    eprintln!("{}", out.join("\n"));
    assert!(all.total >= 2000, "only {} packets", all.total);
    assert!(
        wrong_state.is_empty(),
        "the rig did not give packets the state they were meant to have (first 20):\n{}",
        wrong_state.join("\n")
    );
    // Every state is met often, and decided every way.
    assert_eq!(by_state.len(), 4, "states: {:?}", by_state.keys());
    for (k, t) in &by_state {
        assert!(t.total >= 200, "state {k}: only {} packets", t.total);
        assert!(
            t.verdicts[0] > 0 && t.verdicts[1] > 0,
            "state {k}: verdicts {:?}",
            t.verdicts
        );
    }
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

fn state_name(s: CtState) -> &'static str {
    match s {
        CtState::New => "new",
        CtState::Established => "established",
        CtState::Related => "related",
        CtState::Invalid => "invalid",
        CtState::Untracked => "untracked",
    }
}
