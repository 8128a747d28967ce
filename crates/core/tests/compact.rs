//! The compact answer: `reach` puts targets reached alike into one class of
//! journeys (every member to every target, never a member to its own
//! socket). Expanded one socket at a time, the classes must give exactly the
//! journeys of the answer made with a class for every socket (the form
//! `reach` had before), on the built-in scenarios and their variants, on
//! generated small ones (NAT, proxies, both families), on enterprise-shaped
//! ones and on flat networks of alike hosts, where the classes are few.

use pathproof_core::analysis::reach::{reach_one_target_each, reach_with, Journey, ReachQuery};
use pathproof_core::analysis::space::Space;
use pathproof_core::analysis::symbolic::{Engine, Source};
use pathproof_core::model::{HostId, Scenario};
use pathproof_core::synth::{self, SynthParams};
use pathproof_core::{examples, load};

/// Whether two sets of packets are the same set, however they are cut into boxes.
fn same_set(a: &Space, b: &Space) -> bool {
    a.split(&b.0).1.is_empty() && b.split(&a.0).1.is_empty()
}

fn same_journey(a: &Journey, b: &Journey) -> Result<(), String> {
    if a.members != b.members || a.targets != b.targets {
        return Err(format!(
            "members {:?} / {:?}, targets {:?} / {:?}",
            a.members, b.members, a.targets, b.targets
        ));
    }
    if a.paths.len() != b.paths.len() {
        return Err(format!("{} paths / {}", a.paths.len(), b.paths.len()));
    }
    for ((pa, sa), (pb, sb)) in a.paths.iter().zip(&b.paths) {
        if pa != pb {
            return Err(format!("path {pa:?} / {pb:?}"));
        }
        if !same_set(sa, sb) {
            return Err(format!("packets of a path: {:?} / {:?}", sa.0, sb.0));
        }
    }
    Ok(())
}

/// Compares the two answers; returns how many classes and pairs the
/// compact one has.
fn compare(scn: &Scenario, label: &str) -> (usize, usize) {
    let engine = Engine::new(scn);
    let q = ReachQuery::default();
    let compact = reach_with(&engine, &q);
    let each = reach_one_target_each(&engine, &q);
    let got: Vec<Journey> = compact.per_target(scn).collect();
    let want: Vec<Journey> = each.per_target(scn).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "{label}: {} journeys from the classes, {} one socket at a time",
        got.len(),
        want.len()
    );
    for (g, w) in got.iter().zip(&want) {
        if let Err(e) = same_journey(g, w) {
            panic!("{label}: {e}");
        }
    }
    // Every class is a rectangle of pairs: each of its pairs is a journey.
    let pairs: usize = want.iter().map(|j| j.members.len()).sum::<usize>();
    assert_eq!(compact.pairs(), pairs, "{label}: pairs");
    for j in &compact.journeys {
        for (k, t) in j.targets.iter().enumerate() {
            for &m in j.members.iter() {
                let own = Source::Host(t.host) == m;
                assert_eq!(j.holds(m, k), !own, "{label}");
            }
        }
    }
    (compact.journeys.len(), pairs)
}

/// N alike hosts on one network, each listening on tcp/8000; with a router
/// and a filter towards the internet when `router`.
pub fn flat(n: usize, router: bool) -> String {
    let mut out = format!(
        "name: flat-{n}\nnetworks:\n  lan: {{ cidr: 10.1.0.0/16{} }}\n",
        if router { ", gateway: gw" } else { "" }
    );
    if router {
        out.push_str("  internet: { cidr: 0.0.0.0/0, trust: untrusted, gateway: gw }\n");
    }
    out.push_str("hosts:\n");
    if router {
        out.push_str(
            "  gw: { router: true, at: [lan 10.1.255.254, internet 198.51.100.1], filter: fw }\n",
        );
    }
    for i in 0..n {
        let a = i + 10;
        out.push_str(&format!(
            "  h{i}: {{ at: lan 10.1.{}.{}, listen: [\"tcp/8000\"] }}\n",
            a / 256,
            a % 256
        ));
    }
    if router {
        out.push_str("filters:\n  fw:\n    default: drop\n    rules:\n      - allow tcp from internet to lan port 8000\n");
    }
    out
}

#[test]
fn classes_expand_to_the_journeys_of_one_socket_at_a_time() {
    let mut compared = 0;
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap();
        for v in std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone()))) {
            let scn = load(&ex.file(), ex.text, v.as_deref()).unwrap();
            compare(&scn, &format!("{} {v:?}", ex.name));
            compared += 1;
        }
    }
    let seeds = if std::env::var("CI").as_deref() == Ok("true") {
        120
    } else {
        60
    };
    for seed in 0..seeds {
        if let Ok(scn) = load("small.yaml", &synth::small(seed), None) {
            compare(&scn, &format!("small({seed})"));
            compared += 1;
        }
    }
    for (seed, hosts) in [(1, 60), (2, 90), (5, 120)] {
        let scn = load(
            "large.yaml",
            &synth::large(&SynthParams::sized(seed, hosts)),
            None,
        )
        .unwrap();
        let (classes, pairs) = compare(&scn, &format!("large({seed}, {hosts})"));
        assert!(
            classes < pairs,
            "large({seed}, {hosts}): {classes} classes, {pairs} pairs"
        );
        compared += 1;
    }
    for (n, router) in [(40, false), (40, true), (7, true)] {
        let scn = load("flat.yaml", &flat(n, router), None).unwrap();
        let (classes, pairs) = compare(&scn, &format!("flat({n}, {router})"));
        // All alike: one class for the hosts, one for the network's stand-in
        // (and, with a router, the router's and the internet's).
        assert!(
            classes <= 6,
            "flat({n}): {classes} classes for {pairs} pairs"
        );
        assert!(pairs >= n * (n - 1), "flat({n}): {pairs} pairs");
        compared += 1;
    }
    assert!(compared > 80);
}

/// The flat network's answer is a handful of classes whatever its size: the
/// answer's size follows the classes, not the pairs.
#[test]
fn a_flat_network_is_one_class() {
    let scn = load("flat.yaml", &flat(300, false), None).unwrap();
    let engine = Engine::new(&scn);
    let r = reach_with(&engine, &ReachQuery::default());
    let hosts = r
        .journeys
        .iter()
        .find(|j| matches!(j.source, Source::Host(_)))
        .expect("the hosts' class");
    assert_eq!(hosts.members.len(), 300);
    assert_eq!(hosts.targets.len(), 300);
    assert_eq!(hosts.pairs(), 300 * 299);
    assert!(r.journeys.len() <= 2, "{} classes", r.journeys.len());
    // A member never reaches its own socket.
    let k = hosts
        .targets
        .iter()
        .position(|t| t.host == HostId(0))
        .unwrap();
    assert!(!hosts.holds(Source::Host(HostId(0)), k));
    assert!(hosts.holds(Source::Host(HostId(1)), k));
    let j = hosts.to_target(&scn, k).unwrap();
    assert_eq!(j.members.len(), 299);
    assert!(!j.members.contains(&Source::Host(HostId(0))));
}
