//! The seeded scenario generator: everything it writes loads (with and
//! without variants), the same seed gives the same text, and traces through
//! generated networks complete with a mix of outcomes.

use pathproof_core::evidence::OutcomeKind;
use pathproof_core::model::Scenario;
use pathproof_core::synth::{self, SplitMix64, SynthParams};
use pathproof_core::{load, trace, Query};

fn must_load(name: &str, text: &str, variant: Option<&str>) -> Scenario {
    match load(name, text, variant) {
        Ok(s) => s,
        Err(e) => {
            let shown: Vec<String> = e
                .problems
                .iter()
                .take(10)
                .map(|p| {
                    let line = text.lines().nth(p.line as usize - 1).unwrap_or("");
                    format!(
                        "{}:{}: {} ({})\n    | {line}",
                        p.line, p.column, p.message, p.label
                    )
                })
                .collect();
            panic!(
                "{name} (variant {variant:?}) does not load: {} problem(s)\n{}",
                e.problems.len(),
                shown.join("\n")
            );
        }
    }
}

#[test]
fn large_default_size_loads_with_its_variants() {
    let p = SynthParams::default();
    assert_eq!((p.hosts, p.networks, p.rules), (2_000, 200, 20_000));
    let g = synth::generate(&p);
    let scn = must_load("large.yaml", &g.text, None);
    assert_eq!(scn.networks.len(), 200);
    assert_eq!(scn.hosts.len(), 2_000);
    let rules: usize = scn.filters.iter().map(|f| f.rules.len()).sum();
    assert_eq!(rules, 20_000, "the rule budget is met exactly");
    assert_eq!(g.rules, 20_000);
    // Most of the rules sit on routers.
    let on_routers: usize = scn
        .hosts
        .iter()
        .filter(|h| h.router)
        .filter_map(|h| h.forward)
        .map(|f| scn.filter(f).rules.len())
        .sum();
    assert!(
        on_routers > rules * 9 / 10,
        "{on_routers} of {rules} on routers"
    );
    assert!(scn.hosts.iter().any(|h| h.input.is_some()));
    assert!(scn.hosts.iter().any(|h| !h.nat.is_empty()));
    assert!(scn.dns.iter().all(|v| !v.records.is_empty()));
    assert!(!scn.expectations.is_empty());
    let names: Vec<&str> = scn.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["break", "harden"]);
    for v in names {
        let s = must_load("large.yaml", &g.text, Some(v));
        assert_eq!(s.variant.as_deref(), Some(v));
    }
}

#[test]
fn large_without_ipv6_and_at_other_sizes_loads() {
    for p in [
        SynthParams {
            ipv6: false,
            ..SynthParams::with_seed(7)
        },
        SynthParams {
            seed: 3,
            networks: 3,
            hosts: 5,
            rules: 10,
            ipv6: true,
            routers: 0,
        },
        SynthParams {
            seed: 4,
            networks: 12,
            hosts: 120,
            rules: 600,
            ipv6: true,
            routers: 3,
        },
        SynthParams {
            seed: 5,
            networks: 20,
            hosts: 1_200,
            rules: 2_000,
            ipv6: false,
            routers: 0,
        },
    ] {
        let text = synth::large(&p);
        let scn = must_load("large.yaml", &text, None);
        assert_eq!(scn.networks.len(), p.networks.max(3), "{p:?}");
        for v in ["break", "harden"] {
            must_load("large.yaml", &text, Some(v));
        }
    }
}

#[test]
fn scaled_params_multiply_the_size() {
    let p = SynthParams::default().scaled(4);
    assert_eq!((p.hosts, p.networks, p.rules), (8_000, 800, 80_000));
    let p2 = SynthParams::default().scaled(2);
    let scn = must_load("large-2x.yaml", &synth::large(&p2), None);
    assert_eq!(scn.hosts.len(), 4_000);
    assert_eq!(scn.networks.len(), 400);
    assert_eq!(
        scn.filters.iter().map(|f| f.rules.len()).sum::<usize>(),
        40_000
    );
}

#[test]
fn small_seeds_load_with_and_without_variants() {
    for seed in 0..200u64 {
        let text = synth::small(seed);
        let name = format!("small-{seed}.yaml");
        let scn = must_load(&name, &text, None);
        assert!((2..=4).contains(&scn.networks.len()), "seed {seed}");
        assert!((3..=8).contains(&scn.hosts.len()), "seed {seed}");
        for f in &scn.filters {
            assert!((5..=30).contains(&f.rules.len()), "seed {seed}");
        }
        for v in ["break", "harden"] {
            must_load(&name, &text, Some(v));
        }
    }
}

#[test]
fn small_seeds_cover_the_features() {
    let (mut v6, mut v4, mut stateless, mut stateful, mut dnat, mut snat, mut bound, mut routes) =
        (0, 0, 0, 0, 0, 0, 0, 0);
    let mut through = 0;
    for seed in 0..200u64 {
        let text = synth::small(seed);
        let scn = must_load("s.yaml", &text, None);
        let addrs = scn
            .hosts
            .iter()
            .flat_map(|h| h.interfaces.iter().flat_map(|i| i.addrs.iter()));
        for a in addrs {
            if a.is_ipv6() {
                v6 += 1
            } else {
                v4 += 1
            }
        }
        stateless += scn.filters.iter().filter(|f| !f.stateful).count();
        stateful += scn.filters.iter().filter(|f| f.stateful).count();
        dnat += text.matches("\"dnat ").count();
        snat += text.matches("\"snat ").count() + text.matches("\"masquerade ").count();
        bound += text.matches(" on ").count();
        routes += text.matches(" via ").count();
        through += scn.networks.iter().filter(|n| n.via_gateway).count();
    }
    for (what, n) in [
        ("IPv6 addresses", v6),
        ("IPv4 addresses", v4),
        ("stateless filters", stateless),
        ("stateful filters", stateful),
        ("DNAT rules", dnat),
        ("SNAT or masquerade rules", snat),
        ("bound sockets", bound),
        ("routes via a gateway", routes),
        ("via-gateway networks", through),
    ] {
        assert!(n >= 10, "only {n} {what} in 200 small scenarios");
    }
}

#[test]
fn same_seed_same_text_other_seed_other_text() {
    let a = synth::large(&SynthParams::with_seed(42));
    let b = synth::large(&SynthParams::with_seed(42));
    assert!(a == b, "the same seed gave two texts");
    let c = synth::large(&SynthParams::with_seed(43));
    assert_ne!(a, c);
    for seed in [0u64, 1, 99, u64::MAX] {
        assert_eq!(synth::small(seed), synth::small(seed));
    }
    let smalls: std::collections::BTreeSet<String> = (0..50u64).map(synth::small).collect();
    assert_eq!(smalls.len(), 50, "50 seeds, 50 different scenarios");
    // The PRNG itself is pinned: splitmix64 from seed 0.
    let mut r = SplitMix64::new(0);
    assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
}

#[test]
fn large_probes_have_the_outcomes_they_were_built_for() {
    let g = synth::generate(&SynthParams::default());
    let scn = must_load("large.yaml", &g.text, None);
    let labels: Vec<&str> = g.probes.iter().map(|p| p.label).collect();
    for want in [
        "same-network",
        "across-routers",
        "unresolvable",
        "dropped",
        "internet-dnat",
    ] {
        assert!(labels.contains(&want), "no {want} probe in {labels:?}");
    }
    for p in &g.probes {
        let t = trace(&scn, &p.query()).unwrap_or_else(|e| panic!("{}: {e}", p.label));
        assert_eq!(
            t.outcome.kind, p.expect,
            "{} ({} -> {}): {}",
            p.label, p.from, p.to, t.outcome.text
        );
    }
    // The cross-router probe really crosses three firewalls.
    let across = g
        .probes
        .iter()
        .find(|p| p.label == "across-routers")
        .unwrap();
    let t = trace(&scn, &across.query()).unwrap();
    let filters: std::collections::BTreeSet<String> = t
        .hops
        .iter()
        .filter(|h| format!("{:?}", h.stage) == "Filter")
        .filter_map(|h| h.rule.as_ref().and_then(|r| r.owner.clone()))
        .collect();
    assert!(filters.len() >= 3, "filters on the way: {filters:?}");
}

/// Random pairs of hosts, by host name or by DNS name, mostly towards a port
/// the destination listens on, sometimes towards a common port.
fn random_queries(
    rng: &mut SplitMix64,
    g: &synth::Generated,
    scn: &Scenario,
    n: usize,
) -> Vec<Query> {
    use pathproof_core::model::Proto;
    let mut out = Vec::new();
    let hosts = &g.internal_hosts;
    for i in 0..n {
        let from = match i % 10 {
            0 => rng.pick(&g.internet_hosts).clone(),
            _ => rng.pick(hosts).clone(),
        };
        let (to, host) = match i % 4 {
            0 => {
                let name = rng.pick(&g.internal_names).clone();
                let host = name.strip_suffix(".corp.internal").map(str::to_string);
                (name, host)
            }
            _ => {
                let h = rng.pick(hosts).clone();
                (h.clone(), Some(h))
            }
        };
        let socks = host
            .and_then(|h| scn.host_by_name(&h))
            .map(|id| scn.host(id).sockets.clone())
            .unwrap_or_default();
        let (proto, port) = if !socks.is_empty() && rng.chance(0.7) {
            let s = rng.pick(&socks);
            (s.proto, s.port)
        } else {
            (
                Proto::Tcp,
                *rng.pick(&[22u16, 80, 443, 5432, 8080, 9100, 3389]),
            )
        };
        let mut q = Query::new(&from, &format!("{to}:{port}"));
        q.proto = proto;
        q.ipv6 = i % 7 == 3;
        out.push(q);
    }
    out
}

#[test]
fn random_traces_complete_and_both_reach_and_stop() {
    let g = synth::generate(&SynthParams::with_seed(11));
    let scn = must_load("large.yaml", &g.text, None);
    let mut rng = SplitMix64::new(2024);
    let queries = random_queries(&mut rng, &g, &scn, 400);
    let mut kinds: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut crossed = 0;
    for q in &queries {
        let t = trace(&scn, q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        *kinds.entry(t.outcome.kind.name()).or_default() += 1;
        let routers = t
            .hops
            .iter()
            .filter(|h| h.device == "core" || h.device.starts_with("dist-"))
            .map(|h| h.device.clone())
            .collect::<std::collections::BTreeSet<_>>();
        if routers.len() >= 2 {
            crossed += 1;
        }
    }
    eprintln!("outcomes of 400 random traces: {kinds:?}; {crossed} crossed two routers or more");
    let reached = kinds.get("reached").copied().unwrap_or(0);
    let stopped =
        kinds.get("dropped").copied().unwrap_or(0) + kinds.get("rejected").copied().unwrap_or(0);
    assert!(reached >= 20, "too few reached: {kinds:?}");
    assert!(stopped >= 20, "too few dropped or rejected: {kinds:?}");
    assert!(
        crossed >= 100,
        "only {crossed} traces crossed routers: {kinds:?}"
    );
    assert!(kinds.len() >= 4, "not varied enough: {kinds:?}");
}

#[test]
fn random_traces_in_small_scenarios_complete() {
    let mut reached = 0;
    let mut stopped = 0;
    for seed in 0..200u64 {
        let text = synth::small(seed);
        for variant in [None, Some("break"), Some("harden")] {
            let scn = must_load("s.yaml", &text, variant);
            let mut rng = SplitMix64::new(seed);
            for i in 0..6 {
                let a = &scn.hosts[rng.below(scn.hosts.len())];
                let b = &scn.hosts[rng.below(scn.hosts.len())];
                let port = b
                    .sockets
                    .first()
                    .map(|s| s.port)
                    .filter(|_| rng.chance(0.8))
                    .unwrap_or(rng.range(1, 65535) as u16);
                let to = if i % 3 == 0 {
                    format!("{}.lab:{port}", b.name)
                } else {
                    format!("{}:{port}", b.name)
                };
                let mut q = Query::new(&a.name, &to);
                q.ipv6 = rng.chance(0.3);
                if b.sockets
                    .first()
                    .is_some_and(|s| s.proto == pathproof_core::model::Proto::Udp)
                {
                    q.proto = pathproof_core::model::Proto::Udp;
                }
                let t = trace(&scn, &q).unwrap_or_else(|e| panic!("seed {seed}: {q:?}: {e}"));
                match t.outcome.kind {
                    OutcomeKind::Reached => reached += 1,
                    OutcomeKind::Dropped | OutcomeKind::Rejected => stopped += 1,
                    _ => {}
                }
            }
        }
    }
    assert!(
        reached > 50 && stopped > 50,
        "reached {reached}, stopped {stopped}"
    );
}

/// A host on a `via-gateway` network routes the network's prefixes through
/// the gateway and reaches the gateway's address alone directly; the gateway
/// and hosts of other networks keep their connected routes.
#[test]
fn a_via_gateway_network_routes_its_hosts_through_the_gateway() {
    use pathproof_core::model::{RouteAction, RouteOrigin};
    let scn = must_load("v.yaml", include_str!("via-gateway.yaml"), None);
    let routes = |name: &str| -> Vec<String> {
        let h = scn.hosts.iter().find(|h| h.name == name).expect("host");
        h.routes
            .iter()
            .map(|r| {
                let how = match r.action {
                    RouteAction::Direct { .. } => "direct".to_string(),
                    RouteAction::Via { gateway, .. } => format!("via {gateway}"),
                    RouteAction::Blackhole => "blackhole".to_string(),
                };
                let origin = match r.origin {
                    RouteOrigin::Connected => "connected",
                    RouteOrigin::NetworkGateway(_) => "gateway",
                    RouteOrigin::Declared(_) => "declared",
                };
                format!("{} {how} {origin}", r.dest)
            })
            .collect()
    };
    assert_eq!(
        routes("a"),
        [
            "fd00::1/128 direct gateway",
            "fd00::/64 via fd00::1 gateway",
            "10.0.0.1/32 direct gateway",
            "10.0.0.0/24 via 10.0.0.1 gateway",
            "0.0.0.0/0 via 10.0.0.1 gateway",
            "::/0 via fd00::1 gateway",
        ]
    );
    assert_eq!(
        routes("node"),
        [
            "fd00::/64 direct connected",
            "10.0.0.0/24 direct connected",
            "10.1.0.0/24 direct connected",
        ]
    );
    assert_eq!(
        routes("b"),
        [
            "10.1.0.0/24 direct connected",
            "0.0.0.0/0 via 10.1.0.1 gateway"
        ]
    );
}

/// The sweep that finds overlapping networks finds what a scan of every
/// pair of networks and prefixes finds, in the scan's order: on random
/// networks of nested, equal and disjoint prefixes of both families, with
/// catch-alls among them.
#[test]
fn overlapping_networks_are_those_a_scan_of_every_pair_finds() {
    use ipnet::IpNet;
    use pathproof_core::load::overlapping_prefixes;
    use pathproof_core::model::{Network, Trust};
    use pathproof_core::synth::SplitMix64;
    let mut rng = SplitMix64::new(3);
    let mut overlaps = 0;
    for _ in 0..2000 {
        let nets: Vec<Network> = (0..1 + rng.below(12))
            .map(|i| {
                let prefixes: Vec<IpNet> = (0..1 + rng.below(3))
                    .map(|_| {
                        // Few distinct bits, so that prefixes nest and repeat.
                        let bits = rng.next_u64() & 0x0303_0303;
                        if rng.chance(0.3) {
                            let a = std::net::Ipv6Addr::from(u128::from(bits) << 96);
                            IpNet::new(a.into(), rng.range(0, 128) as u8)
                                .unwrap()
                                .trunc()
                        } else {
                            let a = std::net::Ipv4Addr::from(bits as u32);
                            IpNet::new(a.into(), rng.range(0, 32) as u8)
                                .unwrap()
                                .trunc()
                        }
                    })
                    .collect();
                Network {
                    name: format!("n{i}"),
                    catch_all: prefixes.iter().any(|p| p.prefix_len() == 0),
                    prefixes,
                    trust: Trust::Trusted,
                    gateway: None,
                    via_gateway: false,
                    dns: None,
                    about: String::new(),
                    origin: Default::default(),
                }
            })
            .collect();
        // The reference: every pair of networks, every pair of their prefixes.
        let mut scan = Vec::new();
        for (i, a) in nets.iter().enumerate() {
            for (j, b) in nets.iter().enumerate().skip(i + 1) {
                if a.catch_all || b.catch_all {
                    continue;
                }
                for (ia, pa) in a.prefixes.iter().enumerate() {
                    for (ib, pb) in b.prefixes.iter().enumerate() {
                        if pa.contains(&pb.network()) || pb.contains(&pa.network()) {
                            scan.push((i, j, ia, ib));
                        }
                    }
                }
            }
        }
        overlaps += scan.len();
        assert_eq!(overlapping_prefixes(&nets), scan, "{nets:?}");
    }
    assert!(overlaps > 500, "only {overlaps} overlaps met");
}
