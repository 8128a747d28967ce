//! Differential test against the kernel on scenarios whose hosts carry random
//! rule sets (`ruleset:`): a router `fw` between two networks with a random
//! FORWARD rule set (nft from `nftdiff`, or iptables-save / ip6tables-save from
//! `filterdiff`) and often a nat table (DNAT of a port of its own address to a
//! server, masquerade or SNAT to the right), a server with a random INPUT rule set,
//! a client with a random OUTPUT rule set, and hosts without. The lab loads each
//! rule set as written (`nft -f`, `iptables-restore`); the model flattens it. Every
//! journey is probed (host to socket, pings, and the expectations' journeys from
//! random addresses of both networks and to the DNAT port); model and kernel must
//! agree on every probe.
//!
//! The generators' reject answers the model does not know (host unreachable, no
//! route, ...) are turned into port unreachable first; a rule set the model refuses
//! (base chains of one priority in two tables that may decide a packet differently,
//! a filter chain on the far side of a nat chain) is counted and skipped, and the
//! refusal must be one of those.
//!
//! `PATHPROOF_LAB_HOSTS_SEEDS` (default 24) and `PATHPROOF_LAB_HOSTS_SEED_BASE`
//! (default 0) choose the seeds; `PATHPROOF_LAB_HOSTS_DUMP=DIR` writes each
//! scenario and its rule sets there (for `pathproof trace` by hand).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use pathproof_lab::filterdiff::{kinds, random_case, Family as CaseFamily, Format, Rng};
use pathproof_lab::nftdiff::random_nft_case;
use pathproof_rulesets::Hook;

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// The reject answers the model has (port unreachable, tcp reset, admin and host
/// prohibited) in place of the others the generators write.
fn known_rejects(text: &str) -> String {
    let mut t = text.to_string();
    for (from, to) in [
        ("type host-unreachable", "type port-unreachable"),
        ("type net-unreachable", "type port-unreachable"),
        ("type prot-unreachable", "type port-unreachable"),
        ("type net-prohibited", "type admin-prohibited"),
        ("type no-route", "type port-unreachable"),
        ("type addr-unreachable", "type port-unreachable"),
        ("type policy-fail", "type port-unreachable"),
        ("type reject-route", "type port-unreachable"),
        ("icmp-net-unreachable", "icmp-port-unreachable"),
        ("icmp-host-unreachable", "icmp-port-unreachable"),
        ("icmp-proto-unreachable", "icmp-port-unreachable"),
        ("icmp6-no-route", "icmp6-port-unreachable"),
        ("icmp6-addr-unreachable", "icmp6-port-unreachable"),
    ] {
        t = t.replace(from, to);
    }
    t
}

/// An address of the generators' pools on the left (10.0-1.x.x, 2001:db8:0-1::)
/// or right (10.2-3.x.x, 2001:db8:2-3::) network.
fn pool_addr(r: &mut Rng, right: bool, v6: bool) -> String {
    let hi = 2 * u64::from(right) + r.below(2);
    if v6 {
        format!("2001:db8:{hi:x}:{:x}::{:x}", r.below(4), 2 + r.below(500))
    } else {
        format!("10.{hi}.{}.{}", r.below(4), 2 + r.below(250))
    }
}

/// A scenario for `seed` and its rule set files, or `None` when it would put two
/// hosts on one address.
fn scenario(seed: u64) -> (String, pathproof_core::Files) {
    let mut r = Rng(seed ^ 0x686f_7374_7364_6966);
    let mut files = pathproof_core::Files::new();
    let mut used: Vec<String> = vec!["10.0.0.1".into(), "10.2.0.1".into()];
    let addr = |r: &mut Rng, right: bool, v6: bool, used: &mut Vec<String>| loop {
        let a = pool_addr(r, right, v6);
        if !used.contains(&a) {
            used.push(a.clone());
            return a;
        }
    };
    // fw: the FORWARD rule set, nft or iptables, with a nat table often.
    let iptables = seed % 2 == 1;
    let (mut fw, fw_v6) = if iptables {
        let family = if seed % 4 == 1 {
            CaseFamily::V4
        } else {
            CaseFamily::V6
        };
        let kind = kinds()
            .into_iter()
            .find(|k| {
                k.format == Format::IptablesSave && k.family == family && k.hook == Hook::Forward
            })
            .expect("a kind");
        (random_case(seed, kind, 1).text, family == CaseFamily::V6)
    } else {
        (random_nft_case(seed, Hook::Forward, 1).text, false)
    };
    let s1_v4 = addr(&mut r, true, false, &mut used);
    let s1_v6 = addr(&mut r, true, true, &mut used);
    let nat = r.chance(0.7);
    let dnat_port = 7000 + r.below(100) as u16;
    let masq_src = if r.chance(0.5) {
        "10.1.0.0/16"
    } else {
        "10.0.0.0/15"
    };
    if nat {
        if iptables && fw_v6 {
            let _ = write!(
                fw,
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 2001:db8::1/128 -i b0 -p tcp -m tcp --dport {dnat_port} -j DNAT --to-destination [{s1_v6}]:80\n-A POSTROUTING -s 2001:db8:1::/48 -o b1 -j MASQUERADE\nCOMMIT\n"
            );
        } else if iptables {
            let _ = write!(
                fw,
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.0.0.1/32 -i b0 -p tcp -m tcp --dport {dnat_port} -j DNAT --to-destination {s1_v4}:80\n-A POSTROUTING -d 10.3.0.0/16 -j ACCEPT\n-A POSTROUTING -s {masq_src} -o b1 -j MASQUERADE\nCOMMIT\n"
            );
        } else {
            let snat = if r.chance(0.5) {
                "masquerade".to_string()
            } else {
                "snat to 10.2.0.1".to_string()
            };
            let _ = write!(
                fw,
                "table ip pnat {{\n\tchain pre {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname \"b0\" ip daddr 10.0.0.1 tcp dport {dnat_port} dnat to {s1_v4}:80\n\t}}\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip daddr 10.3.0.0/16 accept\n\t\toifname \"b1\" ip saddr {masq_src} {snat}\n\t}}\n}}\n"
            );
        }
    }
    files.insert("fw.rules".into(), known_rejects(&fw));
    // s1: an INPUT rule set; c1: an OUTPUT rule set.
    let s1 = random_nft_case(seed.wrapping_add(7_000), Hook::Input, 1).text;
    files.insert("s1.rules".into(), known_rejects(&s1));
    let c1_kind = kinds()
        .into_iter()
        .find(|k| {
            k.format == Format::IptablesSave && k.family == CaseFamily::V4 && k.hook == Hook::Output
        })
        .expect("a kind");
    files.insert(
        "c1.rules".into(),
        known_rejects(&random_case(seed.wrapping_add(9_000), c1_kind, 1).text),
    );
    let c1 = (
        addr(&mut r, false, false, &mut used),
        addr(&mut r, false, true, &mut used),
    );
    let c2 = (
        addr(&mut r, false, false, &mut used),
        addr(&mut r, false, true, &mut used),
    );
    let s2 = (
        addr(&mut r, true, false, &mut used),
        addr(&mut r, true, true, &mut used),
    );
    let ports = |r: &mut Rng| -> Vec<String> {
        let mut v = Vec::new();
        for base in [22u16, 53, 80, 443, 1000, 8080, 30000] {
            if r.chance(0.5) || base == 80 {
                let p = base + r.below(3) as u16;
                let p = if base == 80 { 80 } else { p };
                let proto = if r.chance(0.3) { "udp" } else { "tcp" };
                v.push(format!("\"{proto}/{p}\""));
            }
        }
        v.sort();
        v.dedup();
        v
    };
    let mut y = String::new();
    let _ = writeln!(y, "name: hosts-{seed}");
    let _ = writeln!(y, "networks:");
    let _ = writeln!(
        y,
        "  left: {{ cidr: [10.0.0.0/15, \"2001:db8::/47\"], gateway: fw }}"
    );
    let _ = writeln!(
        y,
        "  right: {{ cidr: [10.2.0.0/15, \"2001:db8:2::/47\"], gateway: fw }}"
    );
    let _ = writeln!(y, "hosts:");
    let _ = writeln!(y, "  fw:\n    router: true\n    at: [\"left 10.0.0.1 2001:db8::1\", \"right 10.2.0.1 2001:db8:2::1\"]\n    ruleset: {{ file: fw.rules, interfaces: {{ b0: left, b1: right }} }}");
    let _ = writeln!(y, "  c1:\n    at: \"left {} {}\"\n    ruleset: {{ file: c1.rules, interfaces: {{ b0: left }} }}", c1.0, c1.1);
    let _ = writeln!(y, "  c2: {{ at: \"left {} {}\" }}", c2.0, c2.1);
    let _ = writeln!(y, "  s1:\n    at: \"right {s1_v4} {s1_v6}\"\n    listen: [{}]\n    ruleset: {{ file: s1.rules, interfaces: {{ b0: right }} }}", ports(&mut r).join(", "));
    let _ = writeln!(
        y,
        "  s2:\n    at: \"right {} {}\"\n    listen: [{}]",
        s2.0,
        s2.1,
        ports(&mut r).join(", ")
    );
    let _ = writeln!(y, "expect:");
    for _ in 0..6 {
        let right = r.chance(0.3);
        let v6 = r.chance(0.4);
        let src = loop {
            let a = pool_addr(&mut r, right, v6);
            if !used.contains(&a) {
                break a;
            }
        };
        // The server's address of the source's family (a host name would be its
        // IPv4 address for the model).
        let dst = match (r.chance(0.5), v6) {
            (true, false) => s1_v4.clone(),
            (true, true) => format!("[{s1_v6}]"),
            (false, false) => s2.0.clone(),
            (false, true) => format!("[{}]", s2.1),
        };
        let proto = if r.chance(0.3) { "udp" } else { "tcp" };
        let port = [22u16, 53, 80, 443, 1001, 8080, 30002][r.below(7) as usize];
        let _ = writeln!(y, "  - \"allow {proto} {src} -> {dst}:{port}\"");
    }
    if nat {
        let to = if iptables && fw_v6 {
            "[2001:db8::1]"
        } else {
            "10.0.0.1"
        };
        let _ = writeln!(y, "  - \"allow c2 -> {to}:{dnat_port}\"");
    }
    (y, files)
}

#[test]
fn hosts_with_random_rule_sets_agree_with_the_kernel() {
    if !common::filterdiff_ready_or_skip("hosts_with_random_rule_sets_agree_with_the_kernel") {
        return;
    }
    let n = env_u64("PATHPROOF_LAB_HOSTS_SEEDS", 24);
    let base = env_u64("PATHPROOF_LAB_HOSTS_SEED_BASE", 0);
    let started = std::time::Instant::now();
    let seeds: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new((base..base + n).rev().collect()));
    type Out = (
        u64,
        Result<(BTreeMap<(String, String), usize>, Vec<String>), String>,
    );
    let out: Arc<Mutex<Vec<Out>>> = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (seeds, out) = (seeds.clone(), out.clone());
            std::thread::spawn(move || loop {
                let Some(seed) = seeds.lock().unwrap().pop() else {
                    return;
                };
                let (text, files) = scenario(seed);
                let file = format!("hosts-{seed}.yaml");
                if let Ok(dir) = std::env::var("PATHPROOF_LAB_HOSTS_DUMP") {
                    // The scenario and its rule sets, to trace a seed by hand.
                    let dir = std::path::Path::new(&dir);
                    let _ = std::fs::create_dir_all(dir);
                    let _ = std::fs::write(dir.join(&file), &text);
                    for (name, t) in &files {
                        let _ = std::fs::write(dir.join(name), t);
                    }
                }
                let scn = match pathproof_core::load_with(&file, &text, None, &files) {
                    Ok(s) => s,
                    Err(e) => {
                        let msg = e.to_string();
                        out.lock().unwrap().push((seed, Err(msg)));
                        continue;
                    }
                };
                // A failure is this seed's, and the lab still comes down (its drop).
                let run = std::panic::catch_unwind(|| {
                    let l =
                        common::Lab::up_with_files(&format!("hd{w}"), &file, &text, None, files);
                    l.probe_all()
                });
                let results = match run {
                    Ok(r) => r,
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        out.lock()
                            .unwrap()
                            .push((seed, Err(format!("lab failed: {msg}"))));
                        continue;
                    }
                };
                let mut classes = BTreeMap::new();
                for r in &results {
                    *classes
                        .entry((r.model.clone(), r.kernel.class.name().to_string()))
                        .or_insert(0) += 1;
                }
                // The model follows a TCP SYN and its reply, never a retransmission
                // (docs/semantics.md, modelling limits). When a filter stops the
                // reply (SYN-ACK) after conntrack saw it, the client's retransmitted
                // SYN is `established` there, and a rule set that rejects
                // established packets answers the client: the kernel reports what
                // the model cannot. Counted, and only that case.
                let retransmitted = |r: &pathproof_lab::probe::ProbeResult| {
                    r.proto == pathproof_core::model::Proto::Tcp
                        && r.model == "reply lost"
                        && r.trace.as_ref().is_some_and(|t| {
                            t.hops.iter().any(|h| {
                                h.direction == pathproof_core::evidence::Direction::Reply
                                    && h.stage == pathproof_core::evidence::Stage::Filter
                                    && matches!(
                                        h.verdict,
                                        pathproof_core::evidence::Verdict::Reject
                                            | pathproof_core::evidence::Verdict::Drop
                                    )
                                    && h.detail.contains("[conntrack state established]")
                            })
                        })
                };
                // Likewise the model counts a TCP connection as made when the SYN-ACK
                // comes back; a rule set that stops the connection's later packets
                // (`ct state established`: the client's ACK, the service's report)
                // breaks it after the handshake. The model says so itself for the
                // journey's later packets (`trace --established`): only then.
                let later = |r: &pathproof_lab::probe::ProbeResult| {
                    if r.proto != pathproof_core::model::Proto::Tcp || r.model != "reached" {
                        return false;
                    }
                    let from = r.stand_in.clone().unwrap_or_else(|| r.from.clone());
                    let mut q = pathproof_core::Query::new(&from, &r.to);
                    q.proto = r.proto;
                    q.established = true;
                    pathproof_core::trace(&scn, &q).is_ok_and(|t| {
                        t.outcome.kind != pathproof_core::evidence::OutcomeKind::Reached
                    })
                };
                let excused = results
                    .iter()
                    .filter(|r| !r.agree && retransmitted(r))
                    .count();
                let excused_later = results.iter().filter(|r| !r.agree && later(r)).count();
                classes.insert(("(excused)".into(), "retransmitted SYN".into()), excused);
                classes.insert(("(excused)".into(), "later packets".into()), excused_later);
                let bad: Vec<String> = results
                    .iter()
                    .filter(|r| !r.agree && !retransmitted(r) && !later(r))
                    .map(|r| {
                        format!(
                            "{} {} -> {}: {}",
                            r.proto,
                            r.from,
                            r.to,
                            r.disagreement.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                out.lock().unwrap().push((seed, Ok((classes, bad))));
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut out = Arc::try_unwrap(out).unwrap().into_inner().unwrap();
    out.sort_by_key(|o| o.0);
    let mut classes: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut refused = Vec::new();
    let mut report = Vec::new();
    let mut built = 0;
    for (seed, o) in &out {
        match o {
            Err(msg) => {
                assert!(
                    msg.contains("not fixed by the text")
                        || msg.contains("does not run after destination NAT")
                        || msg.contains("does not run before source NAT"),
                    "seed {seed}: refused for another reason:\n{msg}"
                );
                refused.push(*seed);
            }
            Ok((c, bad)) => {
                built += 1;
                for (k, v) in c {
                    *classes.entry(k.clone()).or_insert(0) += v;
                }
                for b in bad {
                    report.push(format!("seed {seed}: {b}\n  (alone: PATHPROOF_LAB_HOSTS_SEED_BASE={seed} PATHPROOF_LAB_HOSTS_SEEDS=1 cargo test -p pathproof-lab --test differential_hosts)"));
                }
            }
        }
    }
    let excused = classes
        .remove(&("(excused)".to_string(), "retransmitted SYN".to_string()))
        .unwrap_or(0);
    let excused_later = classes
        .remove(&("(excused)".to_string(), "later packets".to_string()))
        .unwrap_or(0);
    let total: usize = classes.values().sum();
    eprintln!(
        "hosts with rule sets: {built} scenarios built (seeds {base}..{}), {} refused ({refused:?}), {total} probes, {} agree, {} disagree; beyond the model's SYN and reply: {excused} where the kernel answers a retransmitted SYN, {excused_later} where a connection's later packets are stopped; {:.1} s",
        base + n,
        refused.len(),
        total - report.len() - excused - excused_later,
        report.len(),
        started.elapsed().as_secs_f64()
    );
    for ((m, k), v) in &classes {
        eprintln!("  {v:>5}  model {m:<12} kernel {k}");
    }
    for (seed, o) in &out {
        if let Err(msg) = o {
            eprintln!(
                "  seed {seed} refused: {}",
                msg.lines().next().unwrap_or("")
            );
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert!(built * 2 >= n as usize, "most seeds build: {built} of {n}");
}
