//! The indexed shadowed/redundant rule analysis of `audit` against two
//! references:
//!
//! - a brute-force first-match evaluation over a universe of packets with one
//!   representative per region of the rules' prefixes, ports, interfaces and
//!   states (so "over sampled packets" is exhaustive here), on random filters
//!   of up to 40 rules and random evaluation domains: every status and every
//!   list of rules a finding names is checked;
//! - the previous pairwise analysis (each rule against every earlier and later
//!   one, kept below as it was), on the filters of generated scenarios: where
//!   the reference decides, the indexed analysis must say the same.
//!
//! And the budget: with any smaller budget a rule is either decided as with an
//! ample one or reported as undecided, never guessed.

use ipnet::IpNet;
use pathproof_core::analysis::audit::{
    analyse_filter, analyse_filter_in_order, analyse_filter_with, filter_domain, match_xcubes,
    Budget, Domain, RuleStatus, XCube, ST_EST, ST_INV, ST_NEW, ST_REL,
};
use pathproof_core::analysis::space::{Cube, Fam};
use pathproof_core::load;
use pathproof_core::model::*;
use pathproof_core::synth::{self, SynthParams};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

// ---------------------------------------------------------------------------
// Random filters over a small alphabet of prefixes and ports
// ---------------------------------------------------------------------------

const PREFIXES: &[&str] = &[
    "10.0.0.0/30",
    "10.0.0.0/31",
    "10.0.0.2/31",
    "10.0.0.1/32",
    "10.0.0.3/32",
    "11.0.0.0/8",
    "10.0.0.0/8",
];
const PORTS: &[(u16, u16)] = &[(22, 22), (80, 80), (20, 25), (80, 443)];
/// Networks 0..3; interface values in a domain are network + 1 (0: none).
const NETS: u32 = 3;

fn addrset(choices: &[u8], negated: bool) -> AddrSet {
    let prefixes: Vec<IpNet> = choices
        .iter()
        .filter_map(|c| PREFIXES.get(*c as usize))
        .map(|p| p.parse().unwrap())
        .collect();
    if prefixes.is_empty() {
        return AddrSet::any();
    }
    AddrSet {
        terms: prefixes.iter().map(|p| AddrTerm::Prefix(*p)).collect(),
        parts: prefixes
            .iter()
            .map(|p| AddrPart {
                prefix: *p,
                minus: Arc::new(Vec::new()),
            })
            .collect(),
        negated,
        text: prefixes
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn ports(choices: &[u8]) -> PortSet {
    let r: Vec<(u16, u16)> = choices
        .iter()
        .filter_map(|c| PORTS.get(*c as usize).copied())
        .collect();
    if r.is_empty() {
        PortSet::any()
    } else {
        PortSet::from_ranges(r)
    }
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        (
            0u8..4,
            prop::collection::vec(0u8..10, 1..3),
            any::<bool>(),
            prop::collection::vec(0u8..10, 1..3),
            any::<bool>(),
        ),
        (prop::collection::vec(0u8..6, 1..3), 0u8..5, 0u8..5, 0u8..24),
        (0u8..5, 0u8..3),
    )
        .prop_map(
            |((proto, src, sneg, dst, dneg), (dport, inn, out, st), (act, rw))| {
                let net = |x: u8| (x > 0 && (x as u32) <= NETS).then(|| NetworkId(x as u32 - 1));
                let state = (st < 16 && st > 0).then_some(StateSet {
                    new: st & 1 != 0,
                    established: st & 2 != 0,
                    related: st & 4 != 0,
                    invalid: st & 8 != 0,
                });
                let action = [
                    Action::Allow,
                    Action::Allow,
                    Action::Drop,
                    Action::Reject,
                    Action::Drop,
                ][act as usize];
                Rule {
                    action,
                    reject_with: [
                        RejectWith::PortUnreachable,
                        RejectWith::TcpReset,
                        RejectWith::AdminProhibited,
                    ][rw as usize],
                    matches: Match {
                        proto: [None, Some(Proto::Tcp), Some(Proto::Udp), Some(Proto::Icmp)]
                            [proto as usize],
                        src: addrset(&src, sneg),
                        dst: addrset(&dst, dneg),
                        sport: PortSet::any(),
                        dport: ports(&dport),
                        in_iface: net(inn),
                        out_iface: net(out),
                        state,
                    },
                    text: String::new(),
                    origin: Origin::default(),
                    source: None,
                }
            },
        )
}

/// A domain: some (incoming, outgoing) interface boxes over networks 0..3,
/// as a filter attached to a few hooks of a few hosts would have.
fn arb_domain() -> impl Strategy<Value = Domain> {
    let range = (0u32..=NETS, 0u32..=NETS).prop_map(|(a, b)| (a.min(b), a.max(b)));
    (
        prop::collection::vec((range.clone(), range), 1..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(contexts, stateful, everywhere)| {
            if everywhere {
                Domain::everywhere(NETS as usize, stateful)
            } else {
                let mut contexts = contexts;
                contexts.sort();
                contexts.dedup();
                Domain {
                    contexts,
                    states: if stateful {
                        ST_NEW | ST_INV
                    } else {
                        ST_NEW | ST_EST | ST_REL | ST_INV
                    },
                    max_iface: NETS,
                }
            }
        })
}

/// One address per region the prefixes above cut the space into, plus IPv6.
fn universe_addrs() -> Vec<IpAddr> {
    [
        "10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "11.0.0.0", "12.0.0.0", "::1",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect()
}

fn state_bit(s: ConnState) -> u8 {
    match s {
        ConnState::New => ST_NEW,
        ConnState::Established => ST_EST,
        ConnState::Related => ST_REL,
        ConnState::Invalid => ST_INV,
    }
}

fn iface_value(i: Option<NetworkId>) -> u32 {
    i.map_or(0, |n| n.0 + 1)
}

/// Every packet of the universe that the domain lets reach the rules.
fn universe(dom: &Domain) -> Vec<MatchInput> {
    // One port per region of PORTS.
    let port_reps = [0u16, 20, 22, 24, 30, 80, 100, 443, 1000];
    let ifaces: Vec<Option<NetworkId>> = std::iter::once(None)
        .chain((0..NETS).map(|n| Some(NetworkId(n))))
        .collect();
    let states = [
        ConnState::New,
        ConnState::Established,
        ConnState::Related,
        ConnState::Invalid,
    ];
    let addrs = universe_addrs();
    let in_domain = |i: Option<NetworkId>, o: Option<NetworkId>, s: ConnState| {
        let (iv, ov) = (iface_value(i), iface_value(o));
        dom.states & state_bit(s) != 0
            && dom
                .contexts
                .iter()
                .any(|(a, b)| a.0 <= iv && iv <= a.1 && b.0 <= ov && ov <= b.1)
    };
    let mut out = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Sctp] {
        for &src in &addrs {
            for &dst in &addrs {
                if src.is_ipv4() != dst.is_ipv4() {
                    continue;
                }
                let dports: &[u16] = if proto == Proto::Icmp {
                    &port_reps[..1]
                } else {
                    &port_reps
                };
                for &dport in dports {
                    for &in_iface in &ifaces {
                        for &out_iface in &ifaces {
                            for &state in &states {
                                if in_domain(in_iface, out_iface, state) {
                                    out.push(MatchInput {
                                        proto,
                                        src,
                                        dst,
                                        sport: 40000,
                                        dport,
                                        in_iface,
                                        out_iface,
                                        state,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

type Decision = (Action, Option<RejectWith>);

fn decision_of(a: Action, rw: RejectWith) -> Decision {
    (a, (a == Action::Reject).then_some(rw))
}

/// What brute force says about each rule: the first and the next matching
/// rule of every packet of the universe.
fn brute_force(filter: &Filter, packets: &[MatchInput]) -> Vec<RuleStatus> {
    let n = filter.rules.len();
    let dec = |k: Option<usize>| match k {
        Some(k) => decision_of(filter.rules[k].action, filter.rules[k].reject_with),
        None => decision_of(filter.default, RejectWith::default()),
    };
    let mut matched = vec![false; n];
    let mut first_of: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut hit = vec![false; n];
    let mut next_of: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut to_default = vec![false; n];
    let mut changes = vec![false; n];
    for p in packets {
        let ms: Vec<usize> = (0..n)
            .filter(|&k| filter.rules[k].matches.matches(p))
            .collect();
        for &k in &ms {
            matched[k] = true;
            first_of[k].insert(ms[0]);
        }
        if let Some(&f) = ms.first() {
            hit[f] = true;
            let g = ms.get(1).copied();
            match g {
                Some(g) => {
                    next_of[f].insert(g);
                }
                None => to_default[f] = true,
            }
            if dec(Some(f)) != dec(g) {
                changes[f] = true;
            }
        }
    }
    (0..n)
        .map(|i| {
            if !matched[i] {
                RuleStatus::Shadowed {
                    by: vec![],
                    outside_domain: true,
                }
            } else if !hit[i] {
                RuleStatus::Shadowed {
                    by: first_of[i].iter().copied().collect(),
                    outside_domain: false,
                }
            } else if changes[i] {
                RuleStatus::Live
            } else {
                RuleStatus::Redundant {
                    by: next_of[i].iter().copied().collect(),
                    default: to_default[i],
                }
            }
        })
        .collect()
}

fn filter_of(rules: Vec<Rule>, stateful: bool, default_drop: bool) -> Filter {
    Filter {
        name: "f".into(),
        stateful,
        default: if default_drop {
            Action::Drop
        } else {
            Action::Allow
        },
        default_origin: Origin::default(),
        default_source: None,
        rules,
        origin: Origin::default(),
        source: None,
        loopback: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every status, and every rule list a status names, is what first match
    /// over the whole universe says.
    #[test]
    fn indexed_analysis_agrees_with_brute_force(
        rules in prop::collection::vec(arb_rule(), 1..40),
        dom in arb_domain(),
        default_drop in any::<bool>(),
    ) {
        let stateful = dom.states & ST_EST == 0;
        let filter = filter_of(rules, stateful, default_drop);
        let got = analyse_filter(&filter, &dom, 10_000_000);
        let want = brute_force(&filter, &universe(&dom));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g, w, "rule {} of {:#?}\ndomain {:?}", i, filter.rules[i], dom);
        }
        // The previous pairwise analysis, where it decides, says the same.
        let old = pairwise::analyse_filter(&filter, &dom, 1_000_000);
        for (i, (g, o)) in got.iter().zip(&old).enumerate() {
            if *o != RuleStatus::Undecided {
                prop_assert_eq!(g, o, "rule {}: indexed vs pairwise", i);
            }
        }
    }

    /// A smaller budget only ever turns answers into "undecided".
    #[test]
    fn a_smaller_budget_never_guesses(
        rules in prop::collection::vec(arb_rule(), 1..40),
        dom in arb_domain(),
        default_drop in any::<bool>(),
        per_rule in 0usize..400,
        per_filter in 0usize..4000,
    ) {
        let stateful = dom.states & ST_EST == 0;
        let filter = filter_of(rules, stateful, default_drop);
        let full = analyse_filter(&filter, &dom, 10_000_000);
        let capped = analyse_filter_with(&filter, &dom, Budget { per_rule, per_filter });
        for (i, (c, f)) in capped.iter().zip(&full).enumerate() {
            prop_assert!(*c == RuleStatus::Undecided || c == f, "rule {}: {:?} with a small budget, {:?} with an ample one", i, c, f);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The rules classified on every core, the filter's budget paid after,
    /// answer exactly what one rule after another answers, whether the
    /// filter's budget runs out early, late or never (more than 64 rules
    /// take the parallel path).
    #[test]
    fn rules_classified_apart_answer_as_in_order(
        rules in prop::collection::vec(arb_rule(), 1..110),
        dom in arb_domain(),
        default_drop in any::<bool>(),
        per_rule in prop_oneof![0usize..400, Just(RULE_BUDGET_AMPLE)],
        per_filter in prop_oneof![0usize..6000, Just(RULE_BUDGET_AMPLE)],
    ) {
        let stateful = dom.states & ST_EST == 0;
        let filter = filter_of(rules, stateful, default_drop);
        let budget = Budget { per_rule, per_filter };
        prop_assert_eq!(
            analyse_filter_with(&filter, &dom, budget),
            analyse_filter_in_order(&filter, &dom, budget)
        );
    }
}

const RULE_BUDGET_AMPLE: usize = 10_000_000;

/// A budget too small for anything decides nothing (a rule outside the
/// domain needs no work and is still reported).
#[test]
fn a_spent_budget_leaves_rules_undecided() {
    let text = "name: t\nnetworks:\n  a: { cidr: 10.0.1.0/24 }\n  b: { cidr: 10.0.2.0/24 }\n  c: { cidr: 10.0.3.0/24 }\nhosts:\n  r: { router: true, at: [a 10.0.1.1, b 10.0.2.1], filter: fw }\nfilters:\n  fw:\n    default: drop\n    rules:\n      - allow tcp from 10.0.1.0/25\n      - allow tcp from 10.0.1.128/25\n      - drop tcp from 10.0.1.0/24 port 22\n      - allow udp in c\n";
    let scn = load("t.yaml", text, None).expect("loads");
    let fid = FilterId(0);
    let dom = filter_domain(&scn, fid);
    let none = analyse_filter_with(
        scn.filter(fid),
        &dom,
        Budget {
            per_rule: 1_000,
            per_filter: 0,
        },
    );
    assert_eq!(
        none,
        vec![
            RuleStatus::Undecided,
            RuleStatus::Undecided,
            RuleStatus::Undecided,
            RuleStatus::Shadowed {
                by: vec![],
                outside_domain: true
            }
        ]
    );
    let all = analyse_filter_with(scn.filter(fid), &dom, Budget::default());
    assert_eq!(all[0], RuleStatus::Live);
    assert_eq!(
        all[2],
        RuleStatus::Shadowed {
            by: vec![0, 1],
            outside_domain: false
        }
    );
}

// ---------------------------------------------------------------------------
// Generated scenarios: the indexed analysis against the pairwise one
// ---------------------------------------------------------------------------

fn compare_with_pairwise(scn: &Scenario, what: &str) -> (usize, usize) {
    let (mut rules, mut decided) = (0, 0);
    for fi in 0..scn.filters.len() {
        let fid = FilterId(fi as u32);
        let dom = filter_domain(scn, fid);
        if dom.contexts.is_empty() {
            continue;
        }
        let f = scn.filter(fid);
        let new = analyse_filter_with(f, &dom, Budget::default());
        let old = pairwise::analyse_filter(f, &dom, pairwise::RULE_BUDGET);
        for (i, (n, o)) in new.iter().zip(&old).enumerate() {
            rules += 1;
            assert_ne!(
                *n,
                RuleStatus::Undecided,
                "{what}: {} rule {} undecided",
                f.name,
                i + 1
            );
            if *o != RuleStatus::Undecided {
                decided += 1;
                assert_eq!(
                    n,
                    o,
                    "{what}: {} rule {} `{}`",
                    f.name,
                    i + 1,
                    f.rules[i].text
                );
            }
        }
    }
    (rules, decided)
}

#[test]
fn indexed_analysis_agrees_with_pairwise_on_small_generated_scenarios() {
    let mut total = (0, 0);
    for seed in 0..120u64 {
        let text = synth::small(seed);
        let base = load("small.yaml", &text, None).expect("generated scenarios load");
        let mut names = vec![None];
        names.extend(base.variants.iter().map(|v| Some(v.name.clone())));
        for v in names {
            let scn = load("small.yaml", &text, v.as_deref()).expect("variants load");
            let (r, d) = compare_with_pairwise(&scn, &format!("small({seed}) {v:?}"));
            total.0 += r;
            total.1 += d;
        }
    }
    assert!(total.1 > 2_000, "too few rules compared: {total:?}");
}

#[test]
fn indexed_analysis_agrees_with_pairwise_on_large_generated_scenarios() {
    for (seed, hosts) in [(1u64, 30usize), (2, 40), (3, 60)] {
        let p = SynthParams::sized(seed, hosts);
        let text = synth::large(&p);
        let scn = load("large.yaml", &text, None).expect("generated scenarios load");
        let (rules, decided) = compare_with_pairwise(&scn, &format!("large seed {seed}"));
        assert!(
            decided * 10 >= rules * 9,
            "the reference decided {decided} of {rules}"
        );
    }
}

// ---------------------------------------------------------------------------
// The previous analysis, kept as the reference: each rule against every
// earlier rule (shadowing) and every later one (redundancy), splitting cubes.
// ---------------------------------------------------------------------------

mod pairwise {
    use super::*;

    pub const RULE_BUDGET: usize = 200_000;

    fn decision(a: Action, rw: RejectWith) -> Decision {
        decision_of(a, rw)
    }

    fn covered(
        c: XCube,
        cover: &[(usize, XCube)],
        used: &mut BTreeSet<usize>,
        budget: &mut usize,
    ) -> Option<bool> {
        for (k, (ri, e)) in cover.iter().enumerate() {
            if c.intersect(e).is_none() {
                continue;
            }
            used.insert(*ri);
            if e.contains(&c) {
                return Some(true);
            }
            let pieces = c.subtract(e);
            if *budget < pieces.len() {
                return None;
            }
            *budget -= pieces.len();
            for p in pieces {
                if !covered(p, &cover[k + 1..], used, budget)? {
                    return Some(false);
                }
            }
            return Some(true);
        }
        Some(false)
    }

    fn minus(set: Vec<XCube>, by: &[XCube], budget: &mut usize) -> Option<Vec<XCube>> {
        let mut cur = set;
        for b in by {
            let mut next = Vec::with_capacity(cur.len());
            for c in cur {
                if c.intersect(b).is_none() {
                    next.push(c);
                } else {
                    let pieces = c.subtract(b);
                    if *budget < pieces.len() + 1 {
                        return None;
                    }
                    *budget -= pieces.len() + 1;
                    next.extend(pieces);
                }
            }
            cur = next;
            if cur.is_empty() {
                break;
            }
        }
        Some(cur)
    }

    fn bounds(v: &[XCube]) -> Option<XCube> {
        let mut it = v.iter();
        let mut b = *it.next()?;
        for x in it {
            if x.c.fam != b.c.fam {
                return None;
            }
            b.c.src = (b.c.src.0.min(x.c.src.0), b.c.src.1.max(x.c.src.1));
            b.c.dst = (b.c.dst.0.min(x.c.dst.0), b.c.dst.1.max(x.c.dst.1));
            b.c.proto |= x.c.proto;
            b.c.sport = (b.c.sport.0.min(x.c.sport.0), b.c.sport.1.max(x.c.sport.1));
            b.c.dport = (b.c.dport.0.min(x.c.dport.0), b.c.dport.1.max(x.c.dport.1));
            b.inn = (b.inn.0.min(x.inn.0), b.inn.1.max(x.inn.1));
            b.out = (b.out.0.min(x.out.0), b.out.1.max(x.out.1));
            b.state |= x.state;
        }
        Some(b)
    }

    fn touches(a: &[XCube], b: &[XCube]) -> bool {
        a.iter().any(|x| b.iter().any(|y| x.intersect(y).is_some()))
    }

    pub fn analyse_filter(
        filter: &Filter,
        dom: &Domain,
        budget_per_rule: usize,
    ) -> Vec<RuleStatus> {
        let ctx: Vec<XCube> = dom
            .contexts
            .iter()
            .flat_map(|&(inn, out)| {
                [Fam::V4, Fam::V6].map(|fam| XCube {
                    c: Cube::full(fam),
                    inn,
                    out,
                    state: dom.states,
                })
            })
            .collect();
        let raw: Vec<Vec<XCube>> = filter
            .rules
            .iter()
            .map(|r| match_xcubes(&r.matches, dom.max_iface))
            .collect();
        let eff: Vec<Vec<XCube>> = raw
            .iter()
            .map(|cs| {
                cs.iter()
                    .flat_map(|c| ctx.iter().filter_map(move |x| c.intersect(x)))
                    .collect()
            })
            .collect();
        let boxes: Vec<[Option<XCube>; 2]> = raw
            .iter()
            .map(|cs| {
                [Fam::V4, Fam::V6].map(|f| {
                    bounds(
                        &cs.iter()
                            .filter(|c| c.c.fam == f)
                            .copied()
                            .collect::<Vec<_>>(),
                    )
                })
            })
            .collect();
        let fam_i = |f: Fam| usize::from(f == Fam::V6);
        let decisions: Vec<Decision> = filter
            .rules
            .iter()
            .map(|r| decision(r.action, r.reject_with))
            .collect();
        let default = decision(filter.default, RejectWith::default());
        let mut out = Vec::with_capacity(filter.rules.len());
        for i in 0..filter.rules.len() {
            let mut budget = budget_per_rule;
            if eff[i].is_empty() {
                out.push(RuleStatus::Shadowed {
                    by: Vec::new(),
                    outside_domain: true,
                });
                continue;
            }
            let mut shadowed = true;
            let mut used = BTreeSet::new();
            let mut undecided = false;
            for c in &eff[i] {
                let fi = fam_i(c.c.fam);
                let cover: Vec<(usize, XCube)> = (0..i)
                    .filter(|&k| boxes[k][fi].is_none_or(|b| b.intersect(c).is_some()))
                    .flat_map(|k| {
                        raw[k]
                            .iter()
                            .filter(|x| x.intersect(c).is_some())
                            .map(move |x| (k, *x))
                    })
                    .collect();
                match covered(*c, &cover, &mut used, &mut budget) {
                    Some(true) => {}
                    Some(false) => {
                        shadowed = false;
                        break;
                    }
                    None => {
                        undecided = true;
                        break;
                    }
                }
            }
            if undecided {
                out.push(RuleStatus::Undecided);
                continue;
            }
            if shadowed {
                out.push(RuleStatus::Shadowed {
                    by: used.into_iter().collect(),
                    outside_domain: false,
                });
                continue;
            }
            let mut earlier: Vec<XCube> = Vec::new();
            for r in &raw[..i] {
                if touches(r, &eff[i]) {
                    earlier.extend(r.iter().copied());
                }
            }
            let Some(mut rest) = minus(eff[i].clone(), &earlier, &mut budget) else {
                out.push(RuleStatus::Undecided);
                continue;
            };
            let mut by = Vec::new();
            let mut status = None;
            for j in i + 1..filter.rules.len() {
                if rest.is_empty() {
                    break;
                }
                if !touches(&raw[j], &rest) {
                    continue;
                }
                if decisions[j] != decisions[i] {
                    status = Some(RuleStatus::Live);
                    break;
                }
                by.push(j);
                match minus(std::mem::take(&mut rest), &raw[j], &mut budget) {
                    Some(r) => rest = r,
                    None => {
                        status = Some(RuleStatus::Undecided);
                        break;
                    }
                }
            }
            let status = status.unwrap_or_else(|| {
                if rest.is_empty() {
                    RuleStatus::Redundant { by, default: false }
                } else if default == decisions[i] {
                    RuleStatus::Redundant { by, default: true }
                } else {
                    RuleStatus::Live
                }
            });
            out.push(status);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// source-port-rule: the finding appears exactly for allow rules that admit new
// connections, name only service ports as the source port and no destination
// port, whichever way the rule is written.
// ---------------------------------------------------------------------------

mod source_port {
    use pathproof_core::analysis::audit::{self, is_service_port, FindingKind, Severity};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct RuleSpec {
        action: u8,
        proto: u8,
        sport: Option<(u16, u16)>,
        dport: Option<(u16, u16)>,
        /// 0: no state clause; 1: `state new`; 2: `state established`; 3: `state new,established`.
        state: u8,
        /// Write the source port as `port` right after the source (1) or as `sport` (0).
        bare_port: bool,
    }

    fn ports() -> impl Strategy<Value = (u16, u16)> {
        prop_oneof![
            prop::sample::select(vec![
                22u16, 53, 80, 443, 445, 3389, 5432, 8080, 40000, 51000, 1023, 1024
            ])
            .prop_map(|p| (p, p)),
            Just((80, 443)),
            Just((1000, 1100)),
            Just((32768, 60999)),
        ]
    }

    fn spec() -> impl Strategy<Value = RuleSpec> {
        (
            0u8..3,
            0u8..3,
            prop::option::of(ports()),
            prop::option::of(ports()),
            0u8..4,
            any::<bool>(),
        )
            .prop_map(|(action, proto, sport, dport, state, bare_port)| RuleSpec {
                action,
                proto,
                sport,
                dport,
                state,
                bare_port,
            })
    }

    fn text(r: &RuleSpec, stateful: bool) -> String {
        let action = ["allow", "drop", "reject"][r.action as usize];
        let proto = ["tcp ", "udp ", ""][r.proto as usize];
        let range = |(lo, hi): (u16, u16)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        };
        let state = match (stateful, r.state) {
            (false, _) | (_, 0) => "",
            (_, 1) => "state new ",
            (_, 2) => "state established ",
            _ => "state new,established ",
        };
        // Ports need a protocol.
        let (sport, dport) = if r.proto == 2 {
            (None, None)
        } else {
            (r.sport, r.dport)
        };
        let mut t = format!("{action} {proto}{state}from lan");
        if let Some(p) = sport {
            t.push_str(&format!(
                " {} {}",
                if r.bare_port { "port" } else { "sport" },
                range(p)
            ));
        }
        t.push_str(" to srv");
        if let Some(p) = dport {
            t.push_str(&format!(" port {}", range(p)));
        }
        t
    }

    /// The finding's definition, written on the generator's terms.
    fn expected(r: &RuleSpec, stateful: bool) -> bool {
        let admits_new = !stateful || r.state != 2;
        r.action == 0
            && r.proto != 2
            && admits_new
            && r.dport.is_none()
            && r.sport
                .is_some_and(|(lo, hi)| (lo..=hi).all(is_service_port))
    }

    proptest! {
        #[test]
        fn flagged_exactly_when_the_source_port_stands_for_the_destination(
            rules in prop::collection::vec(spec(), 1..6),
            stateful in any::<bool>(),
        ) {
            let lines: Vec<String> = rules.iter().map(|r| format!("      - {}", text(r, stateful))).collect();
            let yaml = format!(
                "name: sp\nnetworks:\n  lan: {{ cidr: 10.0.0.0/24 }}\n  dc: {{ cidr: 10.0.1.0/24 }}\nhosts:\n  r: {{ router: true, at: [lan 10.0.0.1, dc 10.0.1.1], filter: f }}\n  srv: {{ at: dc 10.0.1.10, listen: [\"tcp/22\"] }}\n  pc: {{ at: lan 10.0.0.10 }}\nfilters:\n  f:\n    stateful: {stateful}\n    default: drop\n    rules:\n{}\n",
                lines.join("\n")
            );
            let scn = pathproof_core::load("sp.yaml", &yaml, None).map_err(|e| TestCaseError::fail(format!("{:?}\n{yaml}", e.problems)))?;
            let a = audit::audit(&scn);
            let flagged: Vec<u32> = a.findings.iter().filter(|f| f.kind == FindingKind::SourcePortRule).map(|f| f.location.line).collect();
            for (i, r) in rules.iter().enumerate() {
                let line = scn.filters[0].rules[i].origin.line;
                prop_assert_eq!(flagged.contains(&line), expected(r, stateful), "rule `{}` (stateful: {})", text(r, stateful), stateful);
            }
            for f in a.findings.iter().filter(|f| f.kind == FindingKind::SourcePortRule) {
                prop_assert_eq!(f.severity, if stateful { Severity::Medium } else { Severity::Low });
            }
        }
    }
}
