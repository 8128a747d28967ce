//! The flattening of rule sets (what a scenario's `ruleset:` hosts get) against
//! `pathproof filter`'s evaluator, on the random rule sets of the kernel
//! differentials (`filterdiff`: iptables-save and nft; `nftdiff`: several tables
//! and base chains, sets, verdict maps): for every packet of the case and for
//! variations of each (other devices, states, ports), the first entry of the
//! flattened list that holds the packet gives the evaluator's verdict, decided by
//! the same rule, map element or policy. No root needed.
//!
//! `PATHPROOF_FLATTEN_SEEDS=N` sets the number of seeds per generator (default 600).

use pathproof_lab::filterdiff::{kinds, random_case, Family as CaseFamily, Rng};
use pathproof_lab::nftdiff::{random_nft_case, HOOKS};
use pathproof_rulesets::flatten::{decide, Domain, Outcome};
use pathproof_rulesets::{parse_ruleset, CtState, Family, Hook, Packet, Ruleset, Verdict};

const DEVS: [&str; 4] = ["b0", "b1", "eth7", "lo"];
const STATES: [CtState; 4] = [
    CtState::New,
    CtState::Established,
    CtState::Related,
    CtState::Invalid,
];

fn domain(family: Family, traversal: Hook) -> Domain {
    let reals: Vec<String> = DEVS.iter().map(|d| d.to_string()).collect();
    let none = vec![String::new()];
    let (i, o) = match traversal {
        Hook::Input => (reals.clone(), none),
        Hook::Output => (none, reals),
        _ => (reals.clone(), reals),
    };
    Domain {
        family,
        protos: match family {
            Family::V4 => vec![6, 17, 1],
            Family::V6 => vec![6, 17, 58],
        },
        in_devs: i,
        out_devs: o,
        states: STATES.to_vec(),
    }
}

fn seeds() -> u64 {
    std::env::var("PATHPROOF_FLATTEN_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

/// Checks `packets` and variations of them; returns the number of packets checked.
fn check(rs: &Ruleset, traversal: Hook, packets: &[Packet], seed: u64, what: &str) -> usize {
    let mut lists = Vec::new();
    for family in [Family::V4, Family::V6] {
        let dom = domain(family, traversal);
        let list = rs
            .flatten_filter(traversal, &dom)
            .unwrap_or_else(|e| panic!("{what}: flatten fails: line {}: {}", e.line, e.message));
        lists.push((dom, list));
    }
    let mut r = Rng(seed ^ 0x9e37_79b9);
    let mut n = 0;
    for p in packets {
        let mut variants = vec![p.clone()];
        for _ in 0..6 {
            let mut q = p.clone();
            let dom = &lists[usize::from(p.src.is_ipv6())].0;
            if r.chance(0.5) {
                q.in_iface = Some(dom.in_devs[r.below(dom.in_devs.len() as u64) as usize].clone())
                    .filter(|s| !s.is_empty());
                q.out_iface =
                    Some(dom.out_devs[r.below(dom.out_devs.len() as u64) as usize].clone())
                        .filter(|s| !s.is_empty());
            }
            if r.chance(0.5) {
                q.state = STATES[r.below(4) as usize];
            }
            if q.sport.is_some() && r.chance(0.3) {
                std::mem::swap(&mut q.sport, &mut q.dport);
            }
            if r.chance(0.2) {
                std::mem::swap(&mut q.src, &mut q.dst);
            }
            variants.push(q);
        }
        for q in variants {
            let q = Packet {
                hook: traversal,
                ..q
            };
            let (dom, list) = &lists[usize::from(q.src.is_ipv6())];
            let want = rs.evaluate(&q);
            let Some(got) = decide(list, dom, &q) else {
                panic!("{what}: no entry holds {q:?}");
            };
            let verdict = match got.outcome {
                Outcome::Accept => Verdict::Accept,
                Outcome::Drop => Verdict::Drop,
                Outcome::Reject(_) => Verdict::Reject,
                Outcome::Nat(_) => panic!("{what}: a translation in a filter list"),
            };
            assert_eq!(
                (verdict, &got.decided_by),
                (want.verdict, &want.decided_by),
                "{what}: packet {q:?}\nrule set:\n{}",
                "(see the case text)"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn flattened_filter_cases_decide_as_the_evaluator() {
    let kinds = kinds();
    let mut total = 0;
    for seed in 0..seeds() {
        let kind = kinds[(seed % kinds.len() as u64) as usize];
        let case = random_case(seed, kind, 40);
        let rs = parse_ruleset(&case.text).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
        let what = format!("filterdiff seed {seed} ({})", kind.name());
        total += check(&rs, kind.hook, &case.packets, seed, &what);
        let _ = CaseFamily::Inet;
    }
    eprintln!("filterdiff: {total} packets agree");
    assert!(total > 0);
}

#[test]
fn flattened_nft_cases_decide_as_the_evaluator() {
    let mut total = 0;
    let mut refused = 0;
    for seed in 0..seeds() {
        let hook = HOOKS[(seed % 3) as usize];
        let case = random_nft_case(seed, hook, 40);
        let rs = parse_ruleset(&case.text).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
        let what = format!("nftdiff seed {seed} ({})", hook.name());
        // Base chains of one priority in two tables that may decide a packet
        // differently are refused (the dump does not fix their order): every
        // packet whose decision carries a tie note is then such a case.
        let ties = case
            .packets
            .iter()
            .any(|p| rs.evaluate(&Packet { hook, ..p.clone() }).tie.is_some());
        let flat = [Family::V4, Family::V6]
            .iter()
            .map(|f| rs.flatten_filter(hook, &domain(*f, hook)))
            .collect::<Result<Vec<_>, _>>();
        match flat {
            Err(e) => {
                assert!(
                    e.message.contains("not fixed by the text"),
                    "{what}: refused: line {}: {}",
                    e.line,
                    e.message
                );
                refused += 1;
            }
            Ok(_) => {
                assert!(
                    !ties,
                    "{what}: a tie note, but the flattening was not refused"
                );
                total += check(&rs, hook, &case.packets, seed, &what);
            }
        }
    }
    eprintln!("nftdiff: {total} packets agree, {refused} rule sets refused for a tie");
    assert!(total > 0);
}

mod common;

/// One semantics on rule set hosts: on the scenarios of `differential_hosts`
/// (random rule sets on a router, a server and a client, nat tables), every
/// journey the tracer makes from each host to each socket (and to the addresses
/// and ports the expectations name, the DNAT port among them), TCP and UDP, lands
/// exactly where the all-journeys engine's `reach` puts it.
#[test]
fn rule_set_scenarios_trace_as_reach_finds() {
    use pathproof_core::analysis::reach::{reach, ReachQuery};
    use pathproof_core::analysis::space::{addr_u128, Fam, TCP, UDP};
    use pathproof_core::analysis::symbolic::Source;
    use pathproof_core::evidence::{OutcomeKind, Stage};
    use pathproof_core::model::{Place, Proto};
    let n = std::env::var("PATHPROOF_FLATTEN_SCENARIOS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40u64);
    let (mut checked, mut reached, mut built) = (0, 0, 0);
    for seed in 0..n {
        let (text, files) = common::hosts::scenario(seed);
        let Ok(scn) = pathproof_core::load_with("h.yaml", &text, None, &files) else {
            continue;
        };
        built += 1;
        let r = reach(&scn, &ReachQuery::default()).to_per_target(&scn);
        let mut dests: Vec<(std::net::IpAddr, u16)> = Vec::new();
        for h in &scn.hosts {
            for a in h.interfaces.iter().flat_map(|i| i.addrs.iter()) {
                for s in &h.sockets {
                    dests.push((*a, s.port));
                }
            }
        }
        for e in &scn.expectations {
            for (_, to, _, port) in e.kind.journeys() {
                if let (Place::Address(a), Some(p)) = (to, port) {
                    dests.push((*a, p));
                }
            }
        }
        dests.sort();
        dests.dedup();
        for src in &scn.hosts {
            let sid = scn.host_by_name(&src.name).unwrap();
            for &(d, port) in &dests {
                if src.has_addr(d) {
                    continue;
                }
                for proto in [Proto::Tcp, Proto::Udp] {
                    let to = match d {
                        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
                        a => format!("{a}:{port}"),
                    };
                    let mut q = pathproof_core::Query::new(&src.name, &to);
                    q.proto = proto;
                    let t = pathproof_core::trace(&scn, &q).unwrap();
                    let Some(sa) = t.query.source_address else {
                        continue;
                    };
                    if sa.is_ipv4() != d.is_ipv4() {
                        continue;
                    }
                    let got = (t.outcome.kind == OutcomeKind::Reached).then(|| {
                        let h = t.hops.iter().find(|h| h.stage == Stage::Socket).unwrap();
                        (h.device.clone(), h.packet.dport.unwrap_or(0))
                    });
                    let (s, dd) = (addr_u128(sa), addr_u128(d));
                    let bit = if proto == Proto::Tcp { TCP } else { UDP };
                    let fam = if d.is_ipv4() { Fam::V4 } else { Fam::V6 };
                    let hits: Vec<(String, u16)> = r
                        .journeys
                        .iter()
                        .filter(|j| j.members.contains(&Source::Host(sid)))
                        .filter(|j| {
                            j.cubes().any(|c| {
                                c.fam == fam
                                    && c.proto & bit != 0
                                    && c.src.0 <= s
                                    && s <= c.src.1
                                    && c.dst.0 <= dd
                                    && dd <= c.dst.1
                                    && c.sport.0 <= 49152
                                    && 49152 <= c.sport.1
                                    && c.dport.0 <= port
                                    && port <= c.dport.1
                            })
                        })
                        .map(|j| {
                            let h = scn.host(j.host());
                            (h.name.clone(), h.sockets[j.socket()].port)
                        })
                        .collect();
                    assert_eq!(
                        got,
                        hits.first().cloned(),
                        "seed {seed}: {proto} {} -> {to}: {}",
                        src.name,
                        t.outcome.text
                    );
                    checked += 1;
                    reached += usize::from(got.is_some());
                }
            }
        }
    }
    eprintln!("rule set scenarios: {built} built, {checked} journeys traced, {reached} reached, all where reach puts them");
    assert!(checked > 1000 && reached > 100, "{checked} {reached}");
}
