//! `check` looks only at the journeys its expectations can see (a walk from
//! the sources they name to the hosts they name). On random scenarios with
//! DNAT, SNAT, masquerade and reverse proxies (chains and loops), and random
//! expectations about hosts, networks, addresses (published ones behind a
//! DNAT too) and names, its verdicts must equal those computed from the full
//! `reach` answer, and every counterexample must replay as a concrete trace
//! that shows what the verdict says: for a failed `deny`, `only` or
//! `isolated` and a passed `allow`, the client's connection opens; for a
//! failed `allow`, it does not.

use pathproof_core::analysis::check::{check, check_with};
use pathproof_core::analysis::reach::{reach_with, ReachQuery};
use pathproof_core::analysis::symbolic::Engine;
use pathproof_core::evidence::{Direction, Stage, Trace, Verdict};
use pathproof_core::load;
use pathproof_core::model::*;
use pathproof_core::synth::{self, SplitMix64};
use std::net::IpAddr;

/// Whether the trace's client opened its connection: it received the reply
/// of its own first leg (whatever a proxy behind did next).
fn client_connected(t: &Trace) -> bool {
    t.hops.iter().any(|h| {
        h.stage == Stage::Receive
            && h.direction == Direction::Reply
            && h.verdict == Verdict::Accept
            && h.device == t.query.source
    })
}

fn places(scn: &Scenario) -> Vec<Place> {
    let mut v: Vec<Place> = Vec::new();
    for h in &scn.hosts {
        v.push(Place::Host(h.name.clone()));
        for i in &h.interfaces {
            v.extend(i.addrs.iter().map(|a| Place::Address(*a)));
        }
        // Addresses a DNAT publishes.
        for n in &h.nat {
            if let NatKind::Dnat { .. } = n.kind {
                for t in &n.matches.dst.terms {
                    if let AddrTerm::Prefix(p) = t {
                        if p.prefix_len() == p.max_prefix_len() {
                            v.push(Place::Address(p.addr()));
                        }
                    }
                }
            }
        }
    }
    for n in &scn.networks {
        v.push(Place::Network(n.name.clone()));
    }
    for view in &scn.dns {
        for r in view.records.iter().take(3) {
            v.push(Place::Name(r.name.clone()));
        }
    }
    v
}

fn ports(scn: &Scenario) -> Vec<u16> {
    let mut v: Vec<u16> = scn
        .hosts
        .iter()
        .flat_map(|h| h.sockets.iter().map(|s| s.port))
        .collect();
    for h in &scn.hosts {
        for n in &h.nat {
            v.extend(n.matches.dport.0.iter().map(|r| r.0));
        }
    }
    v.extend([22, 443]);
    v.sort();
    v.dedup();
    v
}

fn random_expectations(scn: &Scenario, rng: &mut SplitMix64, n: usize) -> Vec<Expectation> {
    let places = places(scn);
    let sources: Vec<Place> = places
        .iter()
        .filter(|p| !matches!(p, Place::Name(_)))
        .cloned()
        .collect();
    let ports = ports(scn);
    let origin = scn
        .expectations
        .first()
        .map(|e| e.origin.clone())
        .unwrap_or_else(|| {
            // Any origin will do: only the verdicts are compared.
            scn.hosts[0].origin.clone()
        });
    // The addresses and ports DNAT rules publish: expectations about them
    // are the ones a walk to the address's owner alone gets wrong.
    let published: Vec<(IpAddr, Option<u16>, Proto)> = scn
        .hosts
        .iter()
        .flat_map(|h| h.nat.iter())
        .filter(|n| matches!(n.kind, NatKind::Dnat { .. }))
        .flat_map(|n| {
            let ports: Vec<Option<u16>> = if n.matches.dport.is_any() {
                vec![None]
            } else {
                n.matches.dport.0.iter().map(|r| Some(r.0)).collect()
            };
            let proto = n.matches.proto.unwrap_or(Proto::Tcp);
            n.matches
                .dst
                .terms
                .iter()
                .filter_map(|t| match t {
                    AddrTerm::Prefix(p) if p.prefix_len() == p.max_prefix_len() => Some(p.addr()),
                    _ => None,
                })
                .flat_map(move |a| ports.clone().into_iter().map(move |p| (a, p, proto)))
                .collect::<Vec<_>>()
        })
        .collect();
    (0..n)
        .map(|_| {
            let mut proto = if rng.chance(0.8) {
                Proto::Tcp
            } else {
                Proto::Udp
            };
            let mut port = if rng.chance(0.9) {
                Some(*rng.pick(&ports))
            } else {
                None
            };
            let from = rng.pick(&sources).clone();
            let mut to = rng.pick(&places).clone();
            if !published.is_empty() && rng.chance(0.35) {
                let &(a, p, pr) = rng.pick(&published);
                (to, port, proto) = (Place::Address(a), p, pr);
            }
            let kind = match rng.below(4) {
                0 => ExpectKind::Allow {
                    from,
                    to,
                    proto,
                    port,
                },
                1 => ExpectKind::Deny {
                    from,
                    to,
                    proto,
                    port,
                },
                2 => {
                    let mut from = vec![from];
                    if rng.chance(0.5) {
                        from.push(rng.pick(&sources).clone());
                    }
                    ExpectKind::Only {
                        from,
                        to,
                        proto,
                        port,
                    }
                }
                _ => ExpectKind::Isolated {
                    network: rng.pick(&scn.networks).name.clone(),
                    direction: ["inbound", "outbound", "both"][rng.below(3)].to_string(),
                },
            };
            Expectation {
                text: format!("{kind:?}"),
                kind,
                origin: origin.clone(),
            }
        })
        .collect()
}

/// Adds reverse proxies (a chain, sometimes a loop) to a generated scenario.
fn with_proxies(text: &str, rng: &mut SplitMix64) -> String {
    let scn = match load("x.yaml", text, None) {
        Ok(s) => s,
        Err(_) => return text.to_string(),
    };
    let tcp: Vec<(String, u16)> = scn
        .hosts
        .iter()
        .filter(|h| !h.router && h.proxy.is_none())
        .filter_map(|h| {
            h.sockets
                .iter()
                .find(|s| s.proto == Proto::Tcp && s.tls.is_none() && !s.bind.is_loopback())
                .map(|s| (h.name.clone(), s.port))
        })
        .collect();
    if tcp.len() < 2 {
        return text.to_string();
    }
    let mut out = text.to_string();
    let n = 1 + rng.below(tcp.len().min(3));
    for i in 0..n {
        let (name, port) = &tcp[i];
        // The next in the list, or (a loop) the first.
        let (up, up_port) = if i + 1 < tcp.len() && !(i + 1 == n && rng.chance(0.4)) {
            tcp[i + 1].clone()
        } else {
            tcp[0].clone()
        };
        let line = format!("  {name}:\n");
        let proxy =
            format!("    proxy: {{ port: {port}, mode: reverse, upstream: \"{up}:{up_port}\" }}\n");
        if let Some(at) = out.find(&line) {
            out.insert_str(at + line.len(), &proxy);
        }
    }
    out
}

#[test]
fn check_equals_the_full_reach_and_its_counterexamples_replay() {
    let seeds = if std::env::var("CI").as_deref() == Ok("true") {
        160
    } else {
        80
    };
    let (mut compared, mut replayed, mut dnat_addr) = (0, 0, 0);
    for seed in 0..seeds {
        let mut rng = SplitMix64::new(seed ^ 0xc4ec_c4ec);
        let text = with_proxies(&synth::small(seed), &mut rng);
        let Ok(base) = load("small.yaml", &text, None) else {
            continue;
        };
        let variants: Vec<Option<String>> = std::iter::once(None)
            .chain(base.variants.iter().map(|v| Some(v.name.clone())))
            .collect();
        let variant = variants[(seed as usize) % variants.len()].clone();
        let Ok(mut scn) = load("small.yaml", &text, variant.as_deref()) else {
            continue;
        };
        scn.expectations = random_expectations(&scn, &mut rng, 14);
        let quick = check(&scn);
        let engine = Engine::new(&scn);
        let full = reach_with(&engine, &ReachQuery::default());
        let reference = check_with(&scn, &engine, &full);
        for ((q, r), e) in quick
            .results
            .iter()
            .zip(&reference.results)
            .zip(&scn.expectations)
        {
            compared += 1;
            if let ExpectKind::Allow {
                to: Place::Address(a),
                ..
            }
            | ExpectKind::Deny {
                to: Place::Address(a),
                ..
            } = &e.kind
            {
                if scn.owners_of(*a).is_empty()
                    || scn.hosts.iter().any(|h| {
                        h.nat.iter().any(|n| {
                            matches!(n.kind, NatKind::Dnat { .. }) && n.matches.dst.contains(*a)
                        })
                    })
                {
                    dnat_addr += 1;
                }
            }
            assert_eq!(
                q.passed, r.passed,
                "seed {seed} {variant:?}: `{}`: check says {} ({}), the full reach says {} ({})",
                e.text, q.passed, q.detail, r.passed, r.detail
            );
            let Some(t) = &q.trace else { continue };
            let opened = client_connected(t);
            let want = match &e.kind {
                ExpectKind::Allow { .. } => Some(q.passed),
                ExpectKind::Deny { .. } | ExpectKind::Only { .. } | ExpectKind::Isolated { .. } => {
                    (!q.passed).then_some(true)
                }
                ExpectKind::Authenticated { .. } => None,
            };
            if let Some(want) = want {
                // Pings have no connection to open: their answer is the echo.
                if t.query.proto != Proto::Icmp {
                    assert_eq!(
                        opened, want,
                        "seed {seed} {variant:?}: `{}` ({}): its trace {} -> {} ends `{}`",
                        e.text, q.detail, t.query.from, t.query.to, t.outcome.text
                    );
                    replayed += 1;
                }
            }
        }
    }
    eprintln!("{compared} expectations compared, {replayed} counterexamples replayed, {dnat_addr} about addresses behind a DNAT or nobody's");
    assert!(compared > seeds as usize * 10);
    assert!(replayed > 100 && dnat_addr > 20);
}
