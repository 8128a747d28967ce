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

/// The foothold search walks classes; the reference here walks every host
/// on its own, breadth first (the search as it was). The hosts taken over,
/// their depths and shortest paths, and every foothold edge between them
/// (expanded from the edge classes) must be the same.
#[test]
fn foothold_over_classes_equals_a_search_host_by_host() {
    use pathproof_core::analysis::foothold::{foothold, gives_foothold};
    use pathproof_core::analysis::reach::reach;
    use std::collections::{BTreeMap, BTreeSet, VecDeque};

    /// Each host taken over (name, depth, path), and the edges used.
    type Reference = (
        Vec<(String, usize, Vec<String>)>,
        BTreeSet<(String, String)>,
    );

    fn reference(scn: &Scenario, from: HostId) -> Reference {
        let n = scn.hosts.len();
        // Per host: the hosts it reaches on a foothold socket, in file order.
        let step = |h: HostId| -> Vec<HostId> {
            let r = reach(
                scn,
                &ReachQuery {
                    from: Some(vec![Source::Host(h)]),
                    to: None,
                },
            );
            let mut v: Vec<HostId> = r
                .per_target(scn)
                .filter(|j| {
                    j.host() != h && gives_foothold(&scn.host(j.host()).sockets[j.socket()])
                })
                .map(|j| j.host())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut depth: Vec<Option<usize>> = vec![None; n];
        let mut parent: Vec<Option<HostId>> = vec![None; n];
        let mut order = Vec::new();
        let mut edges = BTreeSet::new();
        depth[from.index()] = Some(0);
        let mut q = VecDeque::from([from]);
        let mut out_edges: BTreeMap<HostId, Vec<HostId>> = BTreeMap::new();
        while let Some(h) = q.pop_front() {
            order.push(h);
            let ts = step(h);
            for &t in &ts {
                if depth[t.index()].is_none() {
                    depth[t.index()] = Some(depth[h.index()].unwrap() + 1);
                    parent[t.index()] = Some(h);
                    q.push_back(t);
                }
            }
            out_edges.insert(h, ts);
        }
        for (h, ts) in &out_edges {
            for t in ts {
                edges.insert((scn.host(*h).name.clone(), scn.host(*t).name.clone()));
            }
        }
        let path = |t: HostId| {
            let mut p = vec![scn.host(t).name.clone()];
            let mut c = t;
            while let Some(x) = parent[c.index()] {
                p.push(scn.host(x).name.clone());
                c = x;
            }
            p.reverse();
            p
        };
        let compromised = order
            .iter()
            .map(|&h| (scn.host(h).name.clone(), depth[h.index()].unwrap(), path(h)))
            .collect();
        (compromised, edges)
    }

    let mut scenarios: Vec<(String, Scenario)> = Vec::new();
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap();
        for v in std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone()))) {
            scenarios.push((
                format!("{} {v:?}", ex.name),
                load(&ex.file(), ex.text, v.as_deref()).unwrap(),
            ));
        }
    }
    for seed in 0..12 {
        if let Ok(s) = load("small.yaml", &synth::small(seed), None) {
            scenarios.push((format!("small({seed})"), s));
        }
    }
    scenarios.push((
        "large".into(),
        load("l.yaml", &synth::large(&SynthParams::sized(3, 40)), None).unwrap(),
    ));
    scenarios.push((
        "flat".into(),
        load("f.yaml", &flat(25, true), None).unwrap(),
    ));
    let mut compared = 0;
    for (label, scn) in &scenarios {
        for h in (0..scn.hosts.len()).step_by(4) {
            let h = HostId(h as u32);
            let f = foothold(scn, h);
            let (want, want_edges) = reference(scn, h);
            let got: Vec<(String, usize, Vec<String>)> = f
                .compromised
                .iter()
                .map(|r| (r.host.clone(), r.depth, r.path.clone()))
                .collect();
            assert_eq!(got, want, "{label} from {}", scn.host(h).name);
            let mut got_edges = BTreeSet::new();
            for c in &f.edge_classes {
                for a in &c.from {
                    for b in c.to.iter().filter(|b| *b != a) {
                        got_edges.insert((a.clone(), b.clone()));
                    }
                }
            }
            assert_eq!(got_edges, want_edges, "{label} from {}", scn.host(h).name);
            for e in &f.edges {
                assert!(want_edges.contains(&(e.from.clone(), e.to.clone())));
            }
            compared += 1;
        }
    }
    assert!(compared > 40, "{compared}");
}

/// Classes of alike hosts whose addresses are scattered (pods of one app
/// across a cluster) are walked from one address per group of addresses
/// that nothing tells apart, the others given its outcomes. The answer must
/// be the one of walks that send every member's address: journeys (per
/// socket, every path's packets as a set) and the parts that stopped, on
/// generated cluster-shaped scenarios with NAT, IPv6, routes through the
/// router for the network itself, and rules that cut through the groups;
/// a class that holds the network's stand-in as well sends one range per
/// group of the stand-in's alike ranges.
#[test]
fn walks_from_one_address_per_group_answer_as_walks_from_every_address() {
    use pathproof_core::analysis::reach::reach_with_options;
    use pathproof_core::analysis::symbolic::{End, ALIKE_SENDS, MIXED_GROUP_SENDS};
    use std::sync::atomic::Ordering;
    let given_before = ALIKE_SENDS[0].load(Ordering::Relaxed);
    let mixed_before = MIXED_GROUP_SENDS.load(Ordering::Relaxed);
    let seeds = if std::env::var("CI").as_deref() == Ok("true") {
        160
    } else {
        80
    };
    let mut grouped = 0;
    for seed in 0..seeds {
        let text = synth::scattered(seed);
        let scn = load("scattered.yaml", &text, None)
            .unwrap_or_else(|e| panic!("scattered({seed}) loads: {e:?}\n{text}"));
        let label = format!("scattered({seed})");
        let q = ReachQuery::default();
        let fast = Engine::new(&scn);
        let plain = Engine::new(&scn).without_alike_hosts();
        let got = reach_with_options(&fast, &q, true);
        let want = reach_with_options(&plain, &q, true);
        let g: Vec<Journey> = got.per_target(&scn).collect();
        let w: Vec<Journey> = want.per_target(&scn).collect();
        assert_eq!(g.len(), w.len(), "{label}: journeys\n{text}");
        for (a, b) in g.iter().zip(&w) {
            if let Err(e) = same_journey(a, b) {
                panic!("{label}: {e}\n{text}");
            }
        }
        // What stopped, per source and place, as sets of packets. A request
        // for several hosts of a group of alike hosts stops at one member
        // standing for the group; which one may differ (a walk from one
        // address per group carries a member's packets to itself to be cut
        // later, and with a gateway between them they reach the group), so
        // places are told by group.
        let all: Vec<Source> = (0..scn.hosts.len())
            .map(|i| Source::Host(HostId(i as u32)))
            .collect();
        let mut group_of: std::collections::HashMap<usize, usize> = Default::default();
        for (g, class) in fast.source_classes(&all).iter().enumerate() {
            for m in class.iter().filter(|_| class.len() > 1) {
                if let Source::Host(h) = m {
                    group_of.insert(h.0 as usize, 100_000 + g);
                }
            }
        }
        let place = |d: usize| group_of.get(&d).copied().unwrap_or(d);
        let stopped = |r: &pathproof_core::analysis::reach::Reach| {
            let mut m: std::collections::BTreeMap<String, Space> = Default::default();
            for (s, o) in &r.stopped {
                let end = match o.end {
                    End::Stopped { dev, stop, reply } => format!("{} {stop:?} {reply}", place(dev)),
                    End::Reached { .. } => format!("{:?}", o.end),
                };
                let path: Vec<String> = o
                    .path
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {} {} {:?}",
                            place(p.device()),
                            p.reply(),
                            p.home(),
                            p.kind()
                        )
                    })
                    .collect();
                let key = format!("{s:?} {end} {path:?}");
                m.entry(key)
                    .or_default()
                    .0
                    .extend(o.space.0.iter().copied());
            }
            m
        };
        let (sg, sw) = (stopped(&got), stopped(&want));
        assert_eq!(
            sg.keys().collect::<Vec<_>>(),
            sw.keys().collect::<Vec<_>>(),
            "{label}: where packets stopped\n{text}"
        );
        for (k, a) in &sg {
            assert!(same_set(a, &sw[k]), "{label}: stopped at {k}\n{text}");
        }
        // Also compared with the answer of one class per socket.
        compare(&scn, &label);
        grouped += usize::from(g.iter().any(|j| j.members.len() > 1));
    }
    // The groups were used (not every walk fell back to every address).
    assert!(
        ALIKE_SENDS[0].load(Ordering::Relaxed) > given_before + seeds,
        "walks gave outcomes to alike addresses {} times",
        ALIKE_SENDS[0].load(Ordering::Relaxed) - given_before
    );
    assert!(
        grouped > seeds as usize / 2,
        "{grouped} scenarios with classes"
    );
    // Classes of hosts and the network's stand-in sent one range per group
    // of the stand-in's alike ranges too.
    let mixed = MIXED_GROUP_SENDS.load(Ordering::Relaxed) - mixed_before;
    assert!(
        mixed > seeds / 4,
        "{mixed} walks with a stand-in's groups among hosts"
    );
}

/// Hosts of two apps that nothing but a third app's filter tells apart
/// (`a` and `b`, configured alike: one class), their addresses interleaved
/// with the third's (`x`, filtered: another class), two `a` hosts next to
/// each other: the class is walked from one address per app, and the
/// answer given to the others keeps adjacent addresses merged: as many
/// boxes as the walk from every address, not a box per host.
#[test]
fn a_group_of_alike_addresses_is_given_out_as_ranges() {
    use pathproof_core::analysis::reach::Reach;
    use pathproof_core::analysis::symbolic::ALIKE_SENDS;
    use std::sync::atomic::Ordering;
    let given_before = ALIKE_SENDS[0].load(Ordering::Relaxed);
    let mut text = String::from("name: gaps\nnetworks:\n  lan: { cidr: 10.1.0.0/16 }\nhosts:\n");
    let name = |i: usize| format!("{}{i}", ["a", "a", "x", "b"][i % 4]);
    for i in 0..600 {
        text += &format!(
            "  {}: {{ at: lan 10.1.{}.{}, listen: [\"tcp/8000\"]{} }}\n",
            name(i),
            i / 250,
            i % 250 + 1,
            if i % 4 == 2 { ", input: fx" } else { "" }
        );
    }
    let apps: Vec<String> = (0..600).filter(|i| i % 4 < 2).map(name).collect();
    text += &format!(
        "filters:\n  fx:\n    default: drop\n    rules:\n      - {{ action: allow, proto: tcp, from: [{}], dport: \"8000\" }}\n",
        apps.join(", ")
    );
    let scn = load("gaps.yaml", &text, None).unwrap();
    let boxes = |r: &Reach| -> usize {
        r.journeys
            .iter()
            .flat_map(|j| j.paths.iter().map(|(_, s)| s.0.len()))
            .sum()
    };
    let q = ReachQuery::default();
    let (fast, plain) = (Engine::new(&scn), Engine::new(&scn).without_alike_hosts());
    // What the walks hold before `reach` merges anything.
    let sources = pathproof_core::analysis::reach::all_sources(&scn);
    for class in fast.source_classes(&sources) {
        let held =
            |e: &Engine| -> usize { e.from_sources(&class).iter().map(|o| o.space.0.len()).sum() };
        assert_eq!(
            held(&fast),
            held(&plain),
            "boxes of the walk from a class of {}",
            class.len()
        );
    }
    assert!(
        ALIKE_SENDS[0].load(Ordering::Relaxed) > given_before,
        "the class was walked from every address"
    );
    let got = reach_with(&fast, &q);
    let want = reach_with(&plain, &q);
    assert_eq!(got.journeys.len(), want.journeys.len());
    assert_eq!(boxes(&got), boxes(&want), "boxes of the answer");
    for (a, b) in got.journeys.iter().zip(&want.journeys) {
        assert_eq!(a.members, b.members);
        same_journey(a, b).unwrap();
    }
}

/// Classes walked together from the routers they share (their flows joined
/// and told apart by source address again) answer as classes walked each
/// alone: the journeys per socket, every path's packets as a set, on the
/// built-in scenarios and generated ones (enterprise-shaped with NAT, IPv6
/// and stand-ins beside hosts; cluster-shaped; small random ones).
#[test]
fn classes_walked_together_answer_as_classes_walked_alone() {
    use pathproof_core::analysis::symbolic::JOINED_WALKS;
    use std::sync::atomic::Ordering;
    let joined_before = JOINED_WALKS.load(Ordering::Relaxed);
    let compared = answers_alike(&joint_walk_corpus(&[]), |e| e.without_joint_walks());
    assert!(compared > 40, "{compared} scenarios compared");
    // Flows were joined (not every class walked alone after all).
    let joined = JOINED_WALKS.load(Ordering::Relaxed) - joined_before;
    assert!(joined > 20, "{joined} joined walks");
}

/// The built-in scenarios and generated ones (enterprise-shaped with NAT,
/// IPv6 and stand-ins beside hosts, of these sizes and the `more`; cluster-
/// shaped; small random ones), as (label, text).
fn joint_walk_corpus(more: &[(u64, usize)]) -> Vec<(String, String)> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut scenarios: Vec<(String, String)> = Vec::new();
    for ex in examples::ALL {
        scenarios.push((ex.name.to_string(), ex.text.to_string()));
    }
    for &(seed, hosts) in [(1, 60), (2, 90), (3, 40), (5, 120), (7, 200)]
        .iter()
        .chain(more)
    {
        let text = synth::large(&SynthParams::sized(seed, hosts));
        scenarios.push((format!("large({seed}, {hosts})"), text));
    }
    for seed in 0..if ci { 40 } else { 16 } {
        scenarios.push((format!("scattered({seed})"), synth::scattered(seed)));
        scenarios.push((format!("small({seed})"), synth::small(seed)));
    }
    scenarios
}

/// Every scenario of `scenarios` and each of its variants answers alike
/// from `Engine::new` and from the engine `reference` makes of it: the
/// journeys per socket, every path's packets as a set. Returns how many
/// were compared.
fn answers_alike(
    scenarios: &[(String, String)],
    reference: impl for<'e> Fn(Engine<'e>) -> Engine<'e>,
) -> usize {
    use pathproof_core::analysis::reach::reach_with_options;
    let mut compared = 0;
    let loaded: Vec<(String, Scenario)> = scenarios
        .iter()
        .filter_map(|(label, text)| {
            let base = load("s.yaml", text, None).ok()?;
            let variants =
                std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone())));
            Some(
                variants
                    .map(|v| {
                        (
                            format!("{label} {v:?}"),
                            load("s.yaml", text, v.as_deref()).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();
    for (label, scn) in &loaded {
        let q = ReachQuery::default();
        let got = reach_with_options(&Engine::new(scn), &q, false);
        let want = reach_with_options(&reference(Engine::new(scn)), &q, false);
        let g: Vec<Journey> = got.per_target(scn).collect();
        let w: Vec<Journey> = want.per_target(scn).collect();
        assert_eq!(g.len(), w.len(), "{label}: journeys");
        for (a, b) in g.iter().zip(&w) {
            if let Err(e) = same_journey(a, b) {
                panic!("{label}: {e}");
            }
        }
        compared += 1;
    }
    compared
}

/// Tagged joins (every request held at the last router of a joint walk
/// joined as one flow of tagged parts, their boxes' sources widened) answer
/// as the joins before them (one flow per class in each layer, boxes merged
/// only along adjacent sources): the journeys per socket and every path's
/// packets as sets, on the built-in scenarios and generated ones. (Walks
/// that keep the stopped parts walk each class alone.) Joins with tags must
/// happen, with several parts each.
#[test]
fn tagged_joins_answer_as_joins_by_adjacent_sources() {
    use pathproof_core::analysis::symbolic::TAGGED_JOINS;
    use std::sync::atomic::Ordering;
    let joins_before = TAGGED_JOINS[0].load(Ordering::Relaxed);
    let parts_before = TAGGED_JOINS[1].load(Ordering::Relaxed);
    let corpus = joint_walk_corpus(&[(4, 150), (9, 300)]);
    let compared = answers_alike(&corpus, |e| e.without_tagged_joins());
    assert!(compared > 40, "{compared} scenarios compared");
    let joins = TAGGED_JOINS[0].load(Ordering::Relaxed) - joins_before;
    let parts = TAGGED_JOINS[1].load(Ordering::Relaxed) - parts_before;
    assert!(joins > 20, "{joins} tagged joins");
    assert!(parts > 4 * joins, "{parts} parts in {joins} tagged joins");
}

/// `via-gateway: true` is the routes it stands for: on cluster-shaped
/// scenarios, a pod network marked `via-gateway` and the same network whose
/// pods each route both halves of every prefix through the router (the form
/// `import k8s` wrote before) answer alike from every pod: the same targets,
/// the same paths but for their route steps, the same packets. (The network's
/// own stand-in differs on purpose: it takes no declared routes.)
#[test]
fn a_via_gateway_network_answers_as_the_routes_it_stands_for() {
    use pathproof_core::analysis::symbolic::StepKind;
    use std::collections::BTreeMap;
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut compared = 0usize;
    for seed in 0..if ci { 60 } else { 30 } {
        let plain = synth::scattered(seed)
            .replace(
                ", routes: [\"10.20.0.0/25 via node\", \"10.20.0.128/25 via node\"]",
                "",
            )
            .replace(", via-gateway: true", "");
        let through = plain.replacen("gateway: node }", "gateway: node, via-gateway: true }", 1);
        assert!(through.contains("pods: { cidr: [10.20.0.0/24"));
        assert!(
            through.lines().nth(2).unwrap().contains("via-gateway"),
            "{through}"
        );
        let mut routes = vec!["\"10.20.0.0/25 via node\"", "\"10.20.0.128/25 via node\""];
        if plain.contains("fd00:20::/64") {
            routes.extend([
                "\"fd00:20::/65 via node\"",
                "\"fd00:20:0:0:8000::/65 via node\"",
            ]);
        }
        let routed: String = plain
            .lines()
            .map(|l| {
                if l.starts_with("  h") {
                    l.replacen(
                        "\", listen: [",
                        &format!("\", routes: [{}], listen: [", routes.join(", ")),
                        1,
                    )
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        // (member, target) → paths without their route steps → packets.
        let answer = |text: &str| {
            let scn = load::load("s.yaml", text, None).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            let engine = Engine::new(&scn);
            let reach = reach_with(&engine, &ReachQuery::default());
            let mut out: BTreeMap<String, BTreeMap<String, Space>> = BTreeMap::new();
            for j in reach.per_target(&scn) {
                for m in j.members.iter().filter(|m| matches!(m, Source::Host(_))) {
                    let key = format!("{m:?} -> {:?}", j.targets[0]);
                    let paths = out.entry(key).or_default();
                    for (path, space) in &j.paths {
                        let steps: Vec<String> = path
                            .iter()
                            .filter(|s| !matches!(s.kind(), StepKind::Route(_)))
                            .map(|s| format!("{s:?}"))
                            .collect();
                        paths
                            .entry(steps.join(" "))
                            .or_insert_with(|| Space(Vec::new()))
                            .0
                            .extend(space.0.iter().copied());
                    }
                }
            }
            out
        };
        let (a, b) = (answer(&through), answer(&routed));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "scattered({seed}): the journeys differ"
        );
        for (k, pa) in &a {
            let pb = &b[k];
            assert_eq!(
                pa.keys().collect::<Vec<_>>(),
                pb.keys().collect::<Vec<_>>(),
                "scattered({seed}) {k}: the paths differ"
            );
            for (p, sa) in pa {
                assert!(
                    same_set(sa, &pb[p]),
                    "scattered({seed}) {k} {p}: the packets differ"
                );
            }
        }
        compared += a.len();
    }
    assert!(compared > 1000, "only {compared} journeys compared");
}
