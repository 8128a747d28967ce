//! Golden outputs of `audit`, `diff` and the foothold graph on the built-in
//! scenarios; the mini-lab metadata assertions; the shadowed-rule analysis
//! against a brute-force first-match reference; the SARIF structure.

use ipnet::IpNet;
use pathproof_core::analysis::audit::{
    self, analyse_filter, Domain, FindingKind, RuleStatus, Severity,
};
use pathproof_core::analysis::{diff, foothold};
use pathproof_core::model::*;
use pathproof_core::{examples, load};
use proptest::prelude::*;
use std::net::IpAddr;
use std::sync::Arc;

fn scenario(name: &str, variant: Option<&str>) -> Scenario {
    let e = examples::get(name).expect("built-in");
    load(&e.file(), e.text, variant).expect("built-ins load")
}

fn variants(scn: &Scenario) -> Vec<String> {
    scn.variants.iter().map(|v| v.name.clone()).collect()
}

#[test]
fn audit_golden_every_builtin_and_variant() {
    for e in examples::ALL {
        let base = scenario(e.name, None);
        let mut names = vec![None];
        names.extend(variants(&base).into_iter().map(Some));
        for v in names {
            let scn = scenario(e.name, v.as_deref());
            let a = audit::audit(&scn);
            let label = format!("audit__{}__{}", e.name, v.as_deref().unwrap_or("base"));
            insta::assert_snapshot!(label.clone(), audit::render_text(&a));
            // Worst first, and the order is total.
            assert!(
                a.findings
                    .windows(2)
                    .all(|w| w[0].severity >= w[1].severity),
                "{label}: not worst first"
            );
            // Deterministic: the same input gives the same bytes.
            assert_eq!(
                audit::render_json(&a),
                audit::render_json(&audit::audit(&scn))
            );
        }
    }
    let scn = scenario("mini-lab", Some("break"));
    insta::assert_snapshot!(
        "audit__mini-lab__break__json",
        audit::render_json(&audit::audit(&scn))
    );
}

#[test]
fn mini_lab_break_exposes_metadata_and_harden_does_not() {
    let broken = audit::audit(&scenario("mini-lab", Some("break")));
    let meta: Vec<_> = broken
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::MetadataReachable)
        .collect();
    assert_eq!(meta.len(), 1, "one metadata finding in break");
    let f = meta[0];
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(
        broken.findings[0].kind,
        FindingKind::MetadataReachable,
        "the worst finding comes first"
    );
    assert!(f.involves.contains("web"));
    let p = f.proof.as_ref().expect("a proof journey");
    assert_eq!(p.target, "metadata");
    assert_eq!(p.example.dst, "169.254.169.254".parse::<IpAddr>().unwrap());
    assert_eq!(
        p.rules,
        vec!["edge-fw rule 1".to_string()],
        "the inserted allow-from-dmz rule lets it through"
    );
    // The socket's line in mini-lab.yaml.
    let text = examples::get("mini-lab").unwrap().text;
    let line = text.lines().nth(f.location.line as usize - 1).unwrap();
    assert!(
        line.contains("tcp/80 http"),
        "location points at the metadata socket: {line}"
    );

    for v in [None, Some("harden")] {
        let a = audit::audit(&scenario("mini-lab", v));
        assert!(
            a.findings
                .iter()
                .all(|f| f.kind != FindingKind::MetadataReachable),
            "{v:?} must not expose the metadata endpoint"
        );
    }
}

#[test]
fn break_shadows_the_reject_rule() {
    let a = audit::audit(&scenario("mini-lab", Some("break")));
    let shadow = a
        .findings
        .iter()
        .find(|f| {
            f.kind == FindingKind::ShadowedRule && f.title.contains("reject tcp from dmz to data")
        })
        .expect("the reject rule is hidden by the inserted allow");
    assert!(shadow.involves[0].starts_with("edge-fw rule 1 "));
    assert_eq!(
        shadow.severity,
        Severity::Medium,
        "hidden by a rule that decides differently"
    );
    let base = audit::audit(&scenario("mini-lab", None));
    assert!(base
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::ShadowedRule));
}

#[test]
fn dual_stack_break_is_an_ipv6_bypass() {
    let a = audit::audit(&scenario("dual-stack", Some("break")));
    let f = a
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Ipv6Bypass && f.involves == ["client"])
        .expect("client reaches ssh over IPv6 only");
    assert!(f.proof.as_ref().unwrap().example.dst.is_ipv6());
    let d = f.ipv4_decider.as_ref().expect("what stops IPv4");
    assert_eq!(d.outcome, "dropped");
    assert_eq!(d.stage.as_deref(), Some("filter"));
}

#[test]
fn diff_golden_every_builtin_against_each_variant() {
    for e in examples::ALL {
        let base = scenario(e.name, None);
        for v in variants(&base) {
            let new = scenario(e.name, Some(&v));
            let d = diff::diff(&base, &new);
            insta::assert_snapshot!(format!("diff__{}__{v}", e.name), diff::render_text(&d));
            // The reverse diff swaps gained and lost.
            let r = diff::diff(&new, &base);
            assert_eq!(
                (r.gained.len(), r.lost.len(), r.unchanged),
                (d.lost.len(), d.gained.len(), d.unchanged),
                "{} {v}",
                e.name
            );
        }
    }
    let d = diff::diff(
        &scenario("mini-lab", None),
        &scenario("mini-lab", Some("break")),
    );
    insta::assert_snapshot!("diff__mini-lab__break__json", diff::render_json(&d));
}

#[test]
fn diff_of_a_scenario_with_itself_is_empty() {
    for e in examples::ALL {
        let s = scenario(e.name, None);
        let d = diff::diff(&s, &s);
        assert!(d.gained.is_empty() && d.lost.is_empty(), "{}", e.name);
        assert_eq!(d.unchanged, d.old.journeys);
    }
}

#[test]
fn diff_names_the_rule_responsible() {
    let d = diff::diff(
        &scenario("mini-lab", None),
        &scenario("mini-lab", Some("break")),
    );
    let g = d
        .gained
        .iter()
        .find(|c| c.source == "web" && c.host == "db")
        .expect("web reaches db after break");
    assert_eq!(g.rules, vec!["edge-fw rule 1".to_string()]);
    let before = g.other_side.as_ref().unwrap();
    assert_eq!(before.outcome, "rejected");
    assert!(
        before
            .rule
            .as_deref()
            .unwrap()
            .contains("reject tcp from dmz to data"),
        "{before:?}"
    );
    // The change responsible: the inserted rule, new on this side...
    assert_eq!(
        g.changed,
        vec!["edge-fw rule 1 `allow from dmz to any`".to_string()]
    );
    // ...and, the other way round, the rule the lost journey no longer has.
    let back = diff::diff(
        &scenario("mini-lab", Some("break")),
        &scenario("mini-lab", None),
    );
    let l = back
        .lost
        .iter()
        .find(|c| c.source == "web" && c.host == "db")
        .expect("web loses db");
    assert_eq!(l.changed, g.changed);
    // A journey whose every step is in both scenarios names none: the hardened
    // segmentation loses journeys to a filter now attached to db.
    let h = diff::diff(
        &scenario("segmentation", None),
        &scenario("segmentation", Some("harden")),
    );
    assert!(!h.lost.is_empty());
    for c in &h.lost {
        assert!(c.changed.is_empty(), "{c:?}");
        assert!(c.other_side.as_ref().unwrap().text().contains("db-in"));
    }
}

#[test]
fn foothold_golden() {
    for (name, variant, host) in [
        ("mini-lab", None, "web"),
        ("mini-lab", Some("break"), "web"),
        ("mini-lab", None, "client"),
        ("tls-identity", None, "frontend"),
        ("nat-egress", None, "laptop"),
    ] {
        let scn = scenario(name, variant);
        let h = scn
            .host_by_name(host)
            .unwrap_or_else(|| panic!("{name} has {host}"));
        let f = foothold::foothold(&scn, h);
        let label = format!("foothold__{name}__{}__{host}", variant.unwrap_or("base"));
        insta::assert_snapshot!(format!("{label}__text"), foothold::render_text(&f, &scn));
        insta::assert_snapshot!(
            format!("{label}__mermaid"),
            foothold::render_mermaid(&f, &scn)
        );
    }
    let scn = scenario("mini-lab", Some("break"));
    let f = foothold::foothold(&scn, scn.host_by_name("web").unwrap());
    insta::assert_snapshot!(
        "foothold__mini-lab__break__web__json",
        foothold::render_json(&f, &scn)
    );
}

#[test]
fn foothold_paths_are_shortest_and_reach_the_jewels_in_break() {
    let scn = scenario("mini-lab", Some("break"));
    let f = foothold::foothold(&scn, scn.host_by_name("web").unwrap());
    let db = f.jewels.iter().find(|j| j.host == "db").unwrap();
    assert_eq!(
        db.path.as_deref(),
        Some(&["web".to_string(), "db".to_string()][..]),
        "one hop after break"
    );
    let base = scenario("mini-lab", None);
    let f = foothold::foothold(&base, base.host_by_name("web").unwrap());
    let db = f.jewels.iter().find(|j| j.host == "db").unwrap();
    assert_eq!(
        db.path.as_deref(),
        Some(&["web".to_string(), "api".to_string(), "db".to_string()][..]),
        "through the api in the base"
    );
    let meta = f.jewels.iter().find(|j| j.host == "metadata").unwrap();
    assert!(
        meta.path.is_none(),
        "the metadata endpoint is out of reach in the base"
    );
    // Every compromised host's recorded path has length depth + 1 and consecutive edges exist.
    for r in &f.compromised {
        assert_eq!(r.path.len(), r.depth + 1);
        for w in r.path.windows(2) {
            assert!(f.edges.iter().any(|e| e.from == w[0] && e.to == w[1]));
        }
    }
}

#[test]
fn sarif_has_the_required_structure() {
    for (name, v) in [
        ("mini-lab", Some("break")),
        ("dual-stack", Some("break")),
        ("mini-lab", None),
    ] {
        let scn = scenario(name, v);
        let a = audit::audit(&scn);
        let s: serde_json::Value =
            serde_json::from_str(&audit::render_sarif(&a)).expect("valid JSON");
        assert_eq!(s["version"], "2.1.0");
        assert!(s["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
        let runs = s["runs"].as_array().expect("runs is an array");
        assert_eq!(runs.len(), 1);
        let driver = &runs[0]["tool"]["driver"];
        assert_eq!(driver["name"], "pathproof");
        let rules = driver["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let mut uniq = ids.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), ids.len(), "rule ids are unique");
        for r in rules {
            assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty());
        }
        let results = runs[0]["results"].as_array().expect("results is an array");
        assert_eq!(results.len(), a.findings.len(), "one result per finding");
        for (res, f) in results.iter().zip(&a.findings) {
            let id = res["ruleId"].as_str().unwrap();
            assert_eq!(id, f.kind.id());
            let idx = res["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(ids[idx], id, "ruleIndex points at the rule");
            assert!(["none", "note", "warning", "error"].contains(&res["level"].as_str().unwrap()));
            assert!(!res["message"]["text"].as_str().unwrap().is_empty());
            let loc = &res["locations"][0]["physicalLocation"];
            assert_eq!(loc["artifactLocation"]["uri"], scn.file.as_str());
            assert_eq!(
                loc["region"]["startLine"].as_u64().unwrap(),
                f.location.line as u64
            );
            assert!(loc["region"]["startColumn"].as_u64().unwrap() >= 1);
        }
    }
}

// ---------------------------------------------------------------------------
// Shadowed / redundant rules against a brute-force first-match reference.
// ---------------------------------------------------------------------------

const PREFIXES: &[&str] = &[
    "10.0.0.0/30",
    "10.0.0.0/31",
    "10.0.0.2/31",
    "10.0.0.1/32",
    "10.0.0.3/32",
    "11.0.0.0/8",
];
const PORTS: &[(u16, u16)] = &[(22, 22), (80, 80), (20, 25), (80, 443)];

fn addrset(choice: u8, negated: bool) -> AddrSet {
    if choice as usize >= PREFIXES.len() {
        return AddrSet::any();
    }
    let p: IpNet = PREFIXES[choice as usize].parse().unwrap();
    AddrSet {
        terms: vec![AddrTerm::Prefix(p)],
        parts: vec![AddrPart {
            prefix: p,
            minus: Arc::new(Vec::new()),
        }],
        negated,
        text: p.to_string(),
    }
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        (0u8..4, 0u8..8, any::<bool>(), 0u8..8, any::<bool>()),
        (0u8..6, 0u8..3, 0u8..3, 0u8..20),
        0u8..3,
    )
        .prop_map(
            |((proto, src, sneg, dst, dneg), (port, inn, out, st), act)| {
                let net = |x: u8| (x > 0).then(|| NetworkId(x as u32 - 1));
                let state = (st >= 16).then_some(()).map(|_| StateSet {
                    new: st & 1 != 0,
                    established: st & 2 != 0,
                    related: st & 4 != 0,
                    invalid: st & 8 != 0,
                });
                let state = state.or_else(|| {
                    (st < 16 && st % 3 == 0).then_some(StateSet {
                        new: st & 1 != 0,
                        established: st & 2 != 0,
                        related: st & 4 != 0,
                        invalid: st & 8 != 0,
                    })
                });
                Rule {
                    action: [Action::Allow, Action::Drop, Action::Reject][act as usize],
                    reject_with: RejectWith::default(),
                    matches: Match {
                        proto: [None, Some(Proto::Tcp), Some(Proto::Udp), Some(Proto::Icmp)]
                            [proto as usize],
                        src: addrset(src, sneg && (src as usize) < PREFIXES.len()),
                        dst: addrset(dst, dneg && (dst as usize) < PREFIXES.len()),
                        sport: PortSet::any(),
                        dport: PORTS
                            .get(port as usize)
                            .map(|&(a, b)| PortSet::from_ranges(vec![(a, b)]))
                            .unwrap_or_default(),
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

/// One address per region the prefixes above cut the space into, plus IPv6.
fn universe_addrs() -> Vec<IpAddr> {
    [
        "10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9", "11.0.0.0", "12.0.0.0", "::1",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect()
}

fn universe(stateful: bool) -> Vec<MatchInput> {
    let ports = [0u16, 20, 22, 24, 30, 80, 100, 443, 1000];
    let ifaces = [None, Some(NetworkId(0)), Some(NetworkId(1))];
    let states: &[ConnState] = if stateful {
        &[ConnState::New, ConnState::Invalid]
    } else {
        &[
            ConnState::New,
            ConnState::Established,
            ConnState::Related,
            ConnState::Invalid,
        ]
    };
    let addrs = universe_addrs();
    let mut out = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Sctp] {
        for &src in &addrs {
            for &dst in &addrs {
                if src.is_ipv4() != dst.is_ipv4() {
                    continue;
                }
                for &dport in if proto == Proto::Icmp {
                    &ports[..1]
                } else {
                    &ports[..]
                } {
                    for &in_iface in &ifaces {
                        for &out_iface in &ifaces {
                            for &state in states {
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
    out
}

fn first_match(rules: &[Rule], skip: Option<usize>, p: &MatchInput) -> Option<usize> {
    rules
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .find(|(_, r)| r.matches.matches(p))
        .map(|(i, _)| i)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// A rule is shadowed iff no packet of the universe is decided by it under
    /// first match; redundant iff removing it changes no packet's decision.
    #[test]
    fn shadowed_and_redundant_agree_with_brute_force(rules in prop::collection::vec(arb_rule(), 1..7), stateful in any::<bool>(), default_drop in any::<bool>()) {
        let filter = Filter { name: "f".into(), stateful, default: if default_drop { Action::Drop } else { Action::Allow }, default_origin: Origin::default(), default_source: None, rules, origin: Origin::default(), source: None, loopback: None };
        let statuses = analyse_filter(&filter, &Domain::everywhere(2, stateful), 1_000_000);
        let packets = universe(stateful);
        let decide = |skip: Option<usize>, p: &MatchInput| first_match(&filter.rules, skip, p).map(|i| filter.rules[i].action).unwrap_or(filter.default);
        for (i, st) in statuses.iter().enumerate() {
            let hit = packets.iter().any(|p| first_match(&filter.rules, None, p) == Some(i));
            let changes = packets.iter().any(|p| decide(None, p) != decide(Some(i), p));
            match st {
                RuleStatus::Shadowed { by, .. } => {
                    prop_assert!(!hit, "rule {} reported shadowed but a packet hits it", i);
                    prop_assert!(by.iter().all(|k| *k < i));
                }
                RuleStatus::Redundant { .. } => {
                    prop_assert!(hit, "rule {} reported redundant but nothing hits it", i);
                    prop_assert!(!changes, "rule {} reported redundant but removing it changes a decision", i);
                }
                RuleStatus::Live => {
                    prop_assert!(hit, "rule {} reported live but nothing hits it", i);
                    prop_assert!(changes, "rule {} reported live but removing it changes nothing", i);
                }
                RuleStatus::Undecided => prop_assert!(false, "budget too small for a tiny filter"),
            }
        }
    }
}

#[test]
fn shadowing_names_the_hiding_rules_and_respects_interfaces() {
    let scn = load(
        "t.yaml",
        "name: t\nnetworks:\n  a: { cidr: 10.0.1.0/24 }\n  b: { cidr: 10.0.2.0/24 }\n  c: { cidr: 10.0.3.0/24 }\nhosts:\n  r: { router: true, at: [a 10.0.1.1, b 10.0.2.1], filter: fw }\nfilters:\n  fw:\n    default: drop\n    rules:\n      - allow tcp from 10.0.1.0/25\n      - allow tcp from 10.0.1.128/25\n      - drop tcp from 10.0.1.0/24 port 22\n      - allow udp in c\n      - allow udp in a\n",
        None,
    )
    .expect("loads");
    let fid = FilterId(0);
    let st = analyse_filter(
        scn.filter(fid),
        &audit::filter_domain(&scn, fid),
        audit::RULE_BUDGET,
    );
    assert_eq!(
        st[2],
        RuleStatus::Shadowed {
            by: vec![0, 1],
            outside_domain: false
        },
        "two halves hide the /24"
    );
    assert_eq!(
        st[3],
        RuleStatus::Shadowed {
            by: vec![],
            outside_domain: true
        },
        "r has no interface on c"
    );
    assert_eq!(st[4], RuleStatus::Live);
}

/// Broad egress: every finding's proof packet, traced one by one, passes every
/// filter and leaves onto the internet (where nobody answers for it); a
/// workload whose egress the scenario limits is not reported.
#[test]
fn broad_egress_findings_are_confirmed_by_the_tracer() {
    let mut confirmed = 0;
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap();
        for v in std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone()))) {
            let scn = load(&ex.file(), ex.text, v.as_deref()).unwrap();
            for f in audit::audit(&scn)
                .findings
                .iter()
                .filter(|f| f.kind == FindingKind::BroadEgress)
            {
                let p = f.proof.as_ref().expect("a proof");
                let mut q = pathproof_core::Query::new(
                    &p.source,
                    &format!(
                        "{}:{}",
                        match p.example.dst {
                            IpAddr::V6(a) => format!("[{a}]"),
                            IpAddr::V4(a) => a.to_string(),
                        },
                        p.example.dport
                    ),
                );
                q.proto = p.example.proto;
                let t = pathproof_core::trace(&scn, &q).unwrap();
                // The hop that decided (the router's ICMP answer walks back after it).
                let last = t
                    .hops
                    .iter()
                    .find(|h| Some(h.step) == t.outcome.step)
                    .unwrap();
                assert!(
                    t.hops
                        .iter()
                        .all(|h| h.verdict != pathproof_core::evidence::Verdict::Drop
                            || h.stage != pathproof_core::evidence::Stage::Filter),
                    "{} {v:?}: {}: a filter drops the proof: {}",
                    ex.name,
                    f.title,
                    t.outcome.text
                );
                assert!(
                    last.detail.contains("no neighbour") && last.detail.contains(&p.target),
                    "{} {v:?}: {}: the proof should leave onto {}: {}",
                    ex.name,
                    f.title,
                    p.target,
                    t.outcome.text
                );
                confirmed += 1;
            }
        }
    }
    assert!(
        confirmed >= 5,
        "{confirmed} broad-egress findings confirmed"
    );
    // The mini-lab's edge lets only the proxy out on web ports: not broad.
    let a = audit::audit(&scenario("mini-lab", None));
    assert!(a
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::BroadEgress));
    // Its break variant opens the edge to the DMZ: web and proxy are reported.
    let a = audit::audit(&scenario("mini-lab", Some("break")));
    let who: Vec<&str> = a
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::BroadEgress)
        .flat_map(|f| f.involves.iter())
        .collect();
    assert_eq!(who, ["web", "proxy"]);
}
