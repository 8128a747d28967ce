//! One semantics: the symbolic all-journeys result and the single-packet tracer
//! must agree. Random concrete packets are traced one by one; each must
//! connect to exactly the socket the symbolic result puts it at, or to none
//! when the symbolic result has it nowhere.

use pathproof_core::analysis::reach::{all_sources, reach, ReachQuery};
use pathproof_core::analysis::space::{addr_u128, u128_addr, Fam, TCP, UDP};
use pathproof_core::analysis::symbolic::{Engine, Source, EPHEMERAL};
use pathproof_core::evidence::{Direction, Stage, Verdict};
use pathproof_core::model::{Proto, Scenario};
use pathproof_core::synth::SplitMix64;
use pathproof_core::{examples, load, synth, trace, Query};
use std::net::IpAddr;

/// What the tracer says about one packet: the (host, port) it connected to.
fn concrete(
    scn: &Scenario,
    from: &str,
    dst: IpAddr,
    proto: Proto,
    sport: u16,
    dport: u16,
) -> (Option<IpAddr>, Option<(String, u16)>) {
    let to = match dst {
        IpAddr::V6(a) => format!("[{a}]:{dport}"),
        IpAddr::V4(a) => format!("{a}:{dport}"),
    };
    let mut q = Query::new(from, &to);
    q.proto = proto;
    q.sport = Some(sport);
    let t = trace(scn, &q).expect("a question about known places");
    let sent = t
        .hops
        .iter()
        .find(|h| h.stage == Stage::Send)
        .map(|h| h.packet.src);
    let connected = t.hops.iter().any(|h| {
        h.stage == Stage::Receive && h.direction == Direction::Reply && h.verdict == Verdict::Accept
    }) || t
        .hops
        .iter()
        .any(|h| h.stage == Stage::Receive && h.verdict == Verdict::Accept);
    if !connected {
        return (sent, None);
    }
    let sock = t
        .hops
        .iter()
        .find(|h| h.stage == Stage::Socket && h.verdict == Verdict::Accept)
        .expect("a connection has a socket");
    (
        sent,
        Some((sock.device.clone(), sock.packet.dport.unwrap_or(0))),
    )
}

/// An address in `lo..=hi`: often close to either end (edges are where
/// interval arithmetic goes wrong; uniform picks in a wide IPv6 range never
/// land near them), otherwise anywhere.
/// Also, often, a value the scenario writes somewhere (an end of any prefix
/// of either family, taken as a number: an IPv4 prefix's numbers are IPv6
/// addresses too, and a slip between families shows there).
fn near_an_edge(rng: &mut SplitMix64, lo: u128, hi: u128, marks: &[u128]) -> u128 {
    let width = hi - lo;
    let near = (rng.next_u64() as u128) % width.saturating_add(1).clamp(1, 1 << 40);
    let a = marks.partition_point(|&m| m < lo);
    let b = marks.partition_point(|&m| m <= hi);
    match rng.below(4) {
        0 => lo + near,
        1 => hi - near,
        2 if a < b => marks[a + rng.below(b - a)],
        _ => lo + (rng.next_u64() as u128 % width.saturating_add(1).max(1)),
    }
}

/// Every end of every prefix and address of a scenario, as numbers, sorted.
fn marks_of(scn: &Scenario) -> Vec<u128> {
    let mut v: Vec<u128> = Vec::new();
    for n in &scn.networks {
        for p in &n.prefixes {
            v.extend([addr_u128(p.network()), addr_u128(p.broadcast())]);
        }
    }
    for h in &scn.hosts {
        for r in &h.routes {
            v.extend([addr_u128(r.dest.network()), addr_u128(r.dest.broadcast())]);
        }
        for i in &h.interfaces {
            v.extend(i.addrs.iter().map(|a| addr_u128(*a)));
        }
    }
    // The martian and special-purpose sources, their ends and just outside:
    // the kernel drops the first whatever the rules say.
    for m in pathproof_core::journey::route::MARTIANS {
        v.extend([m.2.saturating_sub(1), m.2, m.3, m.3.saturating_add(1)]);
    }
    for x in [0x0100_0000u128, 0xf000_0000, 0xa9fe_0001, 0xffff_0a00_0001] {
        v.push(x);
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn check_scenario(
    scn: &Scenario,
    rng: &mut SplitMix64,
    samples_per_source: usize,
    label: &str,
) -> (usize, usize) {
    let engine = Engine::new(scn);
    // The compact answer, told one socket at a time (exactly what its
    // classes stand for).
    let r = reach(scn, &ReachQuery::default()).to_per_target(scn);
    let marks = marks_of(scn);
    let mut addrs: Vec<IpAddr> = scn
        .hosts
        .iter()
        .flat_map(|h| h.interfaces.iter().flat_map(|i| i.addrs.iter().copied()))
        .collect();
    addrs.sort();
    let mut ports: Vec<u16> = scn
        .hosts
        .iter()
        .flat_map(|h| h.sockets.iter().map(|s| s.port))
        .collect();
    ports.extend([22, 80, 443, 8080]);
    ports.sort();
    ports.dedup();
    let (mut checked, mut connected) = (0, 0);
    for source in all_sources(scn) {
        let dev = engine.source_dev(source);
        for _ in 0..samples_per_source {
            let dst = if rng.chance(0.85) || addrs.is_empty() {
                *rng.pick(&addrs)
            } else {
                // Somewhere inside a network, maybe nobody's.
                let n = rng.pick(&scn.networks);
                let p = rng.pick(&n.prefixes);
                let fam = Fam::of(p.addr());
                let lo = addr_u128(p.network());
                let hi = addr_u128(p.broadcast());
                u128_addr(
                    fam,
                    lo + (rng.next_u64() as u128 % (hi - lo).saturating_add(1).max(1)),
                )
            };
            // Mostly a port something listens on at that address, so that many samples connect.
            let own: Vec<u16> = scn
                .owners_of(dst)
                .iter()
                .flat_map(|(h, _)| scn.host(*h).sockets.iter().map(|s| s.port))
                .collect();
            let dport = if !own.is_empty() && rng.chance(0.6) {
                *rng.pick(&own)
            } else if rng.chance(0.8) {
                *rng.pick(&ports)
            } else {
                rng.range(1, 65535) as u16
            };
            let proto = if rng.chance(0.75) {
                Proto::Tcp
            } else {
                Proto::Udp
            };
            let sport = rng.range(EPHEMERAL.0 as usize, EPHEMERAL.1 as usize) as u16;
            let (from, src_pinned) = match source {
                Source::Host(h) => (scn.host(h).name.clone(), None),
                Source::Network(_) => {
                    let owned: Vec<_> = engine.devices[dev]
                        .owned
                        .iter()
                        .filter(|(f, _, _)| *f == Fam::of(dst))
                        .collect();
                    if owned.is_empty() {
                        continue;
                    }
                    let &&(fam, lo, hi) = rng.pick(&owned);
                    let a = u128_addr(fam, near_an_edge(rng, lo, hi, &marks));
                    (format!("{}@{a}", engine.dev_name(dev)), Some(a))
                }
            };
            // A packet to the sender itself is not a journey across the network.
            if let Source::Host(h) = source {
                if scn.host(h).has_addr(dst) {
                    continue;
                }
            }
            let (sent, got) = concrete(scn, &from, dst, proto, sport, dport);
            let Some(src) = sent.or(src_pinned) else {
                continue;
            };
            if src.is_ipv4() != dst.is_ipv4() {
                continue;
            }
            let bit = if proto == Proto::Tcp { TCP } else { UDP };
            let (s, d) = (addr_u128(src), addr_u128(dst));
            let fam = Fam::of(dst);
            let hits: Vec<(String, u16)> = r
                .journeys
                .iter()
                .filter(|j| j.members.contains(&source))
                .filter(|j| {
                    j.cubes().any(|c| {
                        c.fam == fam
                            && c.proto & bit != 0
                            && c.src.0 <= s
                            && s <= c.src.1
                            && c.dst.0 <= d
                            && d <= c.dst.1
                            && c.sport.0 <= sport
                            && sport <= c.sport.1
                            && c.dport.0 <= dport
                            && dport <= c.dport.1
                    })
                })
                .map(|j| {
                    (
                        scn.host(j.host()).name.clone(),
                        scn.host(j.host()).sockets[j.socket()].port,
                    )
                })
                .collect();
            assert!(
                hits.len() <= 1,
                "{label}: {from} -> {dst}:{dport} lands in several journeys: {hits:?}"
            );
            assert_eq!(
                got,
                hits.first().cloned(),
                "{label}: {proto} {from} ({src}:{sport}) -> {dst}:{dport}: tracer vs symbolic"
            );
            checked += 1;
            connected += usize::from(got.is_some());
        }
    }
    (checked, connected)
}

#[test]
fn builtin_scenarios_agree() {
    let mut rng = SplitMix64::new(7);
    let (mut total, mut conn) = (0, 0);
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap();
        for v in std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone()))) {
            let scn = load(&ex.file(), ex.text, v.as_deref()).unwrap();
            let (c, k) = check_scenario(&scn, &mut rng, 40, &format!("{} {v:?}", ex.name));
            total += c;
            conn += k;
        }
    }
    eprintln!("built-in scenarios: {total} packets checked, {conn} connected, all agree");
    assert!(
        total > 1000 && conn > 100,
        "checked {total} packets, {conn} connected"
    );
}

#[test]
fn generated_scenarios_agree() {
    let mut rng = SplitMix64::new(11);
    let (mut total, mut conn, mut scenarios) = (0, 0, 0);
    for seed in 0..150u64 {
        let text = synth::small(seed);
        for v in [None, Some("break"), Some("harden")] {
            let Ok(scn) = load("small.yaml", &text, v) else {
                continue;
            };
            let (c, k) = check_scenario(&scn, &mut rng, 12, &format!("small({seed}) {v:?}"));
            total += c;
            conn += k;
            scenarios += 1;
        }
    }
    eprintln!("generated scenarios: {scenarios} scenarios, {total} packets checked, {conn} connected, all agree");
    assert!(scenarios >= 300, "{scenarios} scenarios");
    assert!(
        total > 5000 && conn > 300,
        "checked {total} packets, {conn} connected"
    );
}

/// The enterprise-shaped generator at a small size: segments of hosts with the
/// same configuration travel as one class, and its rules name single hosts,
/// prefixes and segments, so classes split inside the walk.
#[test]
fn generated_enterprise_scenarios_agree() {
    let mut rng = SplitMix64::new(13);
    let (mut total, mut conn) = (0, 0);
    for (seed, hosts) in [(1u64, 40usize), (2, 60), (3, 80)] {
        let p = synth::SynthParams::sized(seed, hosts);
        let text = synth::large(&p);
        for v in [None, Some("break"), Some("harden")] {
            let scn = load("large.yaml", &text, v).unwrap();
            let (c, k) =
                check_scenario(&scn, &mut rng, 12, &format!("large({seed}, {hosts}) {v:?}"));
            total += c;
            conn += k;
        }
    }
    eprintln!("enterprise-shaped scenarios: {total} packets checked, {conn} connected, all agree");
    assert!(
        total > 2000 && conn > 200,
        "checked {total} packets, {conn} connected"
    );
}

/// `reach` restricted to some destination hosts (what `check` asks for) finds
/// exactly the journeys of the full `reach` that end at those hosts.
#[test]
fn restricted_reach_equals_the_full_one_filtered() {
    use pathproof_core::model::HostId;
    let same = |a: &pathproof_core::analysis::space::Space,
                b: &pathproof_core::analysis::space::Space| {
        a.split(&b.0).1.is_empty() && b.split(&a.0).1.is_empty()
    };
    let mut scenarios = Vec::new();
    for ex in examples::ALL {
        scenarios.push(
            load(&ex.file(), ex.text, Some("break"))
                .or_else(|_| load(&ex.file(), ex.text, None))
                .unwrap(),
        );
    }
    for seed in 0..20u64 {
        if let Ok(s) = load("small.yaml", &synth::small(seed), None) {
            scenarios.push(s);
        }
    }
    let p = synth::SynthParams {
        hosts: 60,
        networks: 6,
        rules: 600,
        ..synth::SynthParams::default()
    };
    scenarios.push(load("large.yaml", &synth::large(&p), None).unwrap());
    let mut compared = 0;
    for scn in &scenarios {
        let full = reach(scn, &ReachQuery::default()).to_per_target(scn);
        for h in (0..scn.hosts.len()).step_by(3) {
            let h = HostId(h as u32);
            let part = reach(
                scn,
                &ReachQuery {
                    from: None,
                    to: Some(vec![h]),
                },
            )
            .to_per_target(scn);
            let mut want: Vec<_> = full.journeys.iter().filter(|j| j.host() == h).collect();
            let mut got: Vec<_> = part.journeys.iter().collect();
            want.sort_by_key(|j| (j.host(), j.socket(), j.members.clone()));
            got.sort_by_key(|j| (j.host(), j.socket(), j.members.clone()));
            assert_eq!(
                want.len(),
                got.len(),
                "{}: journeys to {}",
                scn.name,
                scn.host(h).name
            );
            for (w, g) in want.iter().zip(&got) {
                assert_eq!(
                    (w.socket(), &w.members),
                    (g.socket(), &g.members),
                    "{}",
                    scn.name
                );
                assert!(
                    same(&w.space(), &g.space()),
                    "{}: packets to {}",
                    scn.name,
                    scn.host(h).name
                );
                compared += 1;
            }
        }
    }
    eprintln!("restricted reach: {compared} journeys compared, all equal");
    assert!(compared > 300, "{compared}");
}

/// Cluster-shaped scenarios (`synth::scattered`): classes of alike hosts
/// whose addresses are interleaved with other classes', walked from one
/// address per group of alike addresses; the concrete tracer decides each
/// sampled packet on its own.
#[test]
fn generated_cluster_scenarios_agree() {
    let mut rng = SplitMix64::new(17);
    let (mut total, mut conn) = (0, 0);
    for seed in 0..60u64 {
        let scn = load("scattered.yaml", &synth::scattered(seed), None).unwrap();
        let (c, k) = check_scenario(&scn, &mut rng, 8, &format!("scattered({seed})"));
        total += c;
        conn += k;
    }
    eprintln!("cluster-shaped scenarios: {total} packets checked, {conn} connected, all agree");
    assert!(
        total > 2000 && conn > 200,
        "checked {total} packets, {conn} connected"
    );
}
