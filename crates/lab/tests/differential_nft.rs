//! Differential test of `pathproof filter` against the kernel on random nft
//! rule sets (`pathproof_lab::nftdiff`): tables `ip` and `inet`, several base
//! chains per hook (often of equal priority, in one table or two), jumps,
//! gotos and returns, named and anonymous sets, ranges, `th`/`tcp`/`udp`
//! ports, `meta l4proto`, negation, `ct state`, interfaces, counters, logs,
//! every reject form, verdict maps named and anonymous. Each is loaded with
//! `nft -f` into a namespace, real packets are sent through it in every
//! conntrack state (the rig of `filterdiff`), and the namespace's `nft list
//! ruleset` is what `pathproof_rulesets` evaluates. At least 2,000 packets per
//! run (`PATHPROOF_LAB_NFT_RULESETS` rule sets of 75 packets, default 60:
//! 4,500 packets; `PATHPROOF_LAB_NFT_SEED_BASE` for other seeds).
//!
//! Every packet's verdict must be the kernel's. Some rule sets are loaded in
//! two steps, a base chain added to an earlier table after a later table was
//! made, so that the dump's order is not the order the kernel registered the
//! chains in: there the verdict must be the kernel's or, when the decision
//! carries a tie note, the note's alternative must be.

mod common;

use std::collections::BTreeMap;

use pathproof_lab::filterdiff::Rig;
use pathproof_lab::nftdiff::{random_nft_case, HOOKS};
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

fn with_reset(d: &DecidedBy) -> bool {
    match d {
        DecidedBy::Rule { text, .. } => text.contains("tcp reset"),
        _ => false,
    }
}

/// What the rule sets are made of, counted per rule set (over the dumps):
/// a construct is there when a line of the dump satisfies its test.
#[allow(clippy::type_complexity)]
const CONSTRUCTS: &[(&str, fn(&str) -> bool)] = &[
    ("table inet", |l| l.starts_with("table inet ")),
    ("table ip", |l| l.starts_with("table ip ")),
    ("anonymous vmap", |l| l.contains("vmap {")),
    ("named vmap", |l| l.contains("vmap @")),
    ("map declaration", |l| l.trim_start().starts_with("map ")),
    ("vmap jump", |l| l.contains(": jump ")),
    ("vmap goto", |l| l.contains(": goto ")),
    ("vmap continue", |l| l.contains(": continue")),
    ("vmap return", |l| l.contains(": return")),
    ("vmap catch-all", |l| l.contains("* : ")),
    ("concatenation", |l| l.contains(" . ")),
    ("ct state vmap", |l| l.contains("ct state vmap")),
    ("l4proto vmap", |l| l.contains("l4proto vmap")),
    ("interface vmap", |l| l.contains("ifname vmap")),
    ("port vmap", |l| l.contains("port vmap")),
    ("address vmap", |l| l.contains("addr vmap")),
    ("rule jump", |l| {
        !l.contains("vmap") && l.contains(" jump ") || l.trim_start().starts_with("jump ")
    }),
    ("rule goto", |l| {
        !l.contains("vmap") && l.contains(" goto ") || l.trim_start().starts_with("goto ")
    }),
    ("rule return", |l| {
        l.trim_end().ends_with(" return") || l.trim() == "return"
    }),
    ("named set", |l| l.trim_start().starts_with("set ")),
    ("set lookup", |l| !l.contains("vmap @") && l.contains(" @")),
    ("anonymous set", |l| {
        !l.contains("vmap") && l.contains(" { ")
    }),
    ("address range", |l| {
        l.split(' ').any(|w| w.contains('-') && w.contains('.'))
    }),
    ("port range", |l| {
        l.split(' ').any(|w| {
            w.contains('-')
                && w.chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == ',')
        })
    }),
    ("th dport", |l| l.contains("th dport")),
    ("tcp dport", |l| l.contains("tcp dport")),
    ("udp dport", |l| l.contains("udp dport")),
    ("meta l4proto", |l| l.contains("meta l4proto")),
    ("negation", |l| l.contains("!= ")),
    ("ct state", |l| l.contains("ct state")),
    ("iifname", |l| l.contains("iifname")),
    ("oifname", |l| l.contains("oifname")),
    ("counter", |l| l.contains("counter")),
    ("log", |l| l.contains("log ")),
    ("plain reject", |l| l.trim_end().ends_with("reject")),
    ("reject with icmp", |l| l.contains("reject with icmp ")),
    ("reject with icmpv6", |l| l.contains("reject with icmpv6")),
    ("reject with icmpx", |l| l.contains("reject with icmpx")),
    ("reject with tcp reset", |l| {
        l.contains("reject with tcp reset")
    }),
    ("prerouting chain", |l| l.contains("hook prerouting")),
    ("postrouting chain", |l| l.contains("hook postrouting")),
];

#[test]
fn random_nft_rule_sets_agree_with_the_kernel() {
    if !common::filterdiff_ready_or_skip("random_nft_rule_sets_agree_with_the_kernel") {
        return;
    }
    let rulesets: u64 = std::env::var("PATHPROOF_LAB_NFT_RULESETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let base: u64 = std::env::var("PATHPROOF_LAB_NFT_SEED_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let per = 75;
    let started = std::time::Instant::now();
    // The kernel's side, a few rule sets at a time (each its own rig).
    let queue = std::sync::Arc::new(std::sync::Mutex::new(
        (base..base + rulesets).rev().collect::<Vec<u64>>(),
    ));
    // A worker that fails stops (its rig comes down as it is dropped) and says
    // why; the others finish theirs, so that no namespace is left behind.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || -> Result<Vec<_>, String> {
                let mut done = Vec::new();
                loop {
                    let Some(seed) = queue.lock().unwrap().pop() else {
                        return Ok(done);
                    };
                    let hook = HOOKS[(seed % HOOKS.len() as u64) as usize];
                    let case = random_nft_case(seed, hook, per);
                    let rig = Rig::new(&common::lab_name(&format!("nft{seed}")))
                        .map_err(|e| format!("seed {seed}: rig: {e}"))?;
                    rig.add_fixed(hook, &case.fixed)
                        .map_err(|e| format!("seed {seed}: addresses: {e}"))?;
                    let dump = rig.load_nft(&case.loads).map_err(|e| {
                        format!(
                            "seed {seed} ({}): the kernel refuses the rule set: {e}\n{}",
                            hook.name(),
                            case.loads.join("# ---- next nft -f\n")
                        )
                    })?;
                    rig.connections(&case.entries)
                        .map_err(|e| format!("seed {seed}: conntrack entries: {e}"))?;
                    let kernel = rig
                        .verdicts(hook, &case.packets, &case.shapes)
                        .map_err(|e| format!("seed {seed}: packets: {e}"))?;
                    done.push((seed, case, dump, kernel));
                }
            })
        })
        .collect();
    let mut cases = Vec::new();
    let mut failed = Vec::new();
    for w in workers {
        match w.join().expect("a rig worker") {
            Ok(done) => cases.extend(done),
            Err(e) => failed.push(e),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    cases.sort_by_key(|c| c.0);
    let kernel_secs = started.elapsed().as_secs_f64();

    let mut all = Tally::default();
    let mut by_hook: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_state: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_load: BTreeMap<String, Tally> = BTreeMap::new();
    let mut constructs: BTreeMap<&str, usize> = BTreeMap::new();
    let mut report = Vec::new();
    // Per disagreeing seed: the packets, as `pathproof filter` packet lines.
    let mut failing: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut wrong_state = Vec::new();
    let (mut entries, mut by_element, mut ties, mut ties_alt, mut late_sets) = (0, 0, 0, 0, 0);
    for (seed, case, dump, kernel) in &cases {
        let hook = case.hook;
        let rs = pathproof_rulesets::parse_ruleset(dump).unwrap_or_else(|e| {
            panic!(
                "seed {seed} ({}): pathproof cannot read the kernel's dump: {e:?}\n{dump}",
                hook.name()
            )
        });
        // What nft -f read, in the order it read it (a table named twice is one
        // table; equal priorities run the chain read last first): the kernel's
        // order even when a chain was loaded late.
        let loaded = case.loads.join("\n");
        let rs_loaded = pathproof_rulesets::parse_ruleset(&loaded).unwrap_or_else(|e| {
            panic!(
                "seed {seed} ({}): pathproof cannot read the text nft -f loaded: {e:?}\n{loaded}",
                hook.name()
            )
        });
        for (name, test) in CONSTRUCTS {
            if dump.lines().any(test) {
                *constructs.entry(name).or_default() += 1;
            }
        }
        entries += case.entries.len();
        late_sets += case.late_chain as usize;
        for ((p, shape), seen) in case.packets.iter().zip(&case.shapes).zip(kernel) {
            let k = seen.verdict;
            if seen.state != Some(p.state) && wrong_state.len() < 20 {
                wrong_state.push(format!(
                    "seed {seed} ({}): {shape:?} {p:?}: the kernel's conntrack state is {:?}",
                    hook.name(),
                    seen.state
                ));
            }
            let d = rs.evaluate(p);
            // A reject that sends nothing (for an ICMP error, or a reset for
            // a reset) is a drop to the outside.
            let outside = |v: Verdict, by: &DecidedBy| match v {
                Verdict::Reject if shape.unanswered(with_reset(by)) => Verdict::Drop,
                v => v,
            };
            let model = outside(d.verdict, &d.decided_by);
            let l = rs_loaded.evaluate(p);
            let alt = d.tie.as_ref().map(|t| t.alternative);
            by_element += matches!(d.decided_by, DecidedBy::MapElement { .. }) as usize;
            if alt.is_some() {
                ties += 1;
            }
            // The text nft -f read decides as the kernel did.
            let mut ok = outside(l.verdict, &l.decided_by) == k;
            if case.late_chain {
                // The dump cannot tell the kernel's order: its decision, or
                // its tie note's alternative, is the verdict in the kernel's
                // order.
                ok &= d.verdict == l.verdict || alt == Some(l.verdict);
                if d.verdict != l.verdict && alt == Some(l.verdict) {
                    ties_alt += 1;
                }
            } else {
                ok &= model == k && d.verdict == l.verdict;
            }
            let fam = if p.src.is_ipv6() { "IPv6" } else { "IPv4" };
            for t in [
                &mut all,
                by_hook.entry(format!("{} {fam}", hook.name())).or_default(),
                by_state.entry(state_name(p.state).to_string()).or_default(),
                by_load
                    .entry(
                        if case.late_chain {
                            "a chain loaded late"
                        } else {
                            "one nft -f"
                        }
                        .to_string(),
                    )
                    .or_default(),
            ] {
                t.total += 1;
                t.agree += ok as usize;
                t.verdicts[slot(k)] += 1;
            }
            if !ok {
                failing
                    .entry(*seed)
                    .or_default()
                    .push(format!("{}  # kernel {k:?}", packet_line(p)));
            }
            if !ok && report.len() < 20 {
                report.push(format!(
                    "seed {seed} ({}): {p:?} -> kernel {k:?}, pathproof on the dump {}{}, on the text loaded {}",
                    hook.name(),
                    d.render_line(),
                    d.render_tie()
                        .map(|t| format!("\n    {t}"))
                        .unwrap_or_default(),
                    l.render_line()
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
        "nft differential: {rulesets} rule sets (seeds {base}-{}), {late_sets} of them with a base chain loaded late; {entries} conntrack entries made first; kernel side {kernel_secs:.1} s",
        base + rulesets - 1
    )];
    out.push(line("all", &all));
    for (k, t) in &by_state {
        out.push(line(&format!("state {k}"), t));
    }
    for (k, t) in &by_hook {
        out.push(line(k, t));
    }
    for (k, t) in &by_load {
        out.push(line(k, t));
    }
    out.push(format!(
        "  decided by a verdict map's element: {by_element}; verdict depends on a tie: {ties} (the kernel took the alternative on {ties_alt}, all in rule sets with a chain loaded late)"
    ));
    out.push(format!(
        "  rule sets with: {}",
        constructs
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    eprintln!("{}", out.join("\n"));
    assert!(
        all.total >= 2000 || rulesets < 27,
        "only {} packets",
        all.total
    );
    assert!(
        wrong_state.is_empty(),
        "the rig did not give packets the state they were meant to have (first 20):\n{}",
        wrong_state.join("\n")
    );
    if !failing.is_empty() {
        // Each failing seed's loads, dump and packets, to replay with
        // `pathproof filter DUMP --packets PACKETS`.
        let dir = std::env::temp_dir().join(format!("pathproof-nftdiff-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for (seed, lines) in &failing {
            let (_, case, dump, _) = cases.iter().find(|c| c.0 == *seed).expect("a case");
            let _ = std::fs::write(
                dir.join(format!("seed{seed}.loads.nft")),
                case.loads.join("# ---- next nft -f\n"),
            );
            let _ = std::fs::write(dir.join(format!("seed{seed}.dump.nft")), dump);
            let _ = std::fs::write(
                dir.join(format!("seed{seed}.packets")),
                lines.join("\n") + "\n",
            );
        }
        report.push(format!(
            "seeds {:?}: loads, dumps and packets in {}",
            failing.keys().collect::<Vec<_>>(),
            dir.display()
        ));
    }
    assert_eq!(
        all.agree,
        all.total,
        "disagreements (first 20):\n{}",
        report.join("\n")
    );
    if rulesets >= 27 {
        // The run is a class test only if the constructs are all there, and
        // every verdict, state, hook and family is met.
        for (name, _) in CONSTRUCTS {
            assert!(
                constructs.get(name).copied().unwrap_or(0) > 0,
                "no rule set with {name}: {constructs:?}"
            );
        }
        assert!(
            by_element > 50,
            "only {by_element} decided by a map element"
        );
        assert!(ties > 0, "no packet's verdict depends on a tie");
        assert!(
            ties_alt > 0,
            "no packet of a rule set with a chain loaded late took the tie's alternative"
        );
        assert_eq!(by_state.len(), 4, "states: {:?}", by_state.keys());
        assert_eq!(by_hook.len(), 6, "hooks and families: {:?}", by_hook.keys());
        for (k, t) in by_hook.iter().chain(&by_state) {
            assert!(
                t.verdicts[0] > 0 && t.verdicts[1] > 0,
                "{k}: verdicts {:?}",
                t.verdicts
            );
        }
        assert!(
            all.verdicts.iter().all(|c| *c > 50),
            "verdicts too one-sided: {:?}",
            all.verdicts
        );
    }
}

/// A packet as `pathproof filter` reads it.
fn packet_line(p: &pathproof_rulesets::Packet) -> String {
    let end = |a: std::net::IpAddr, port: Option<u16>| match (a, port) {
        (std::net::IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    let proto = match p.protocol {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        1 => "icmp".to_string(),
        58 => "icmpv6".to_string(),
        n => n.to_string(),
    };
    let mut s = format!("{proto} {} -> {}", end(p.src, p.sport), end(p.dst, p.dport));
    if let Some(i) = &p.in_iface {
        s += &format!(" in {i}");
    }
    if let Some(o) = &p.out_iface {
        s += &format!(" out {o}");
    }
    s += &format!(" state {} hook {}", state_name(p.state), p.hook.name());
    s
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
