//! The incremental re-check (`analysis::incremental`) answers exactly what a
//! `check` from scratch answers: after random single-rule changes (a rule
//! added, removed or changed in a random filter, one after another on the
//! same warm engine) of generated scenarios with random expectations, and
//! after toggling the variants of the built-in scenarios, the report is
//! equal, byte for byte as JSON, to the one `check` makes of the new
//! scenario.

use std::sync::Arc;

use pathproof_core::analysis::check::{check, render_json};
use pathproof_core::analysis::incremental::{change, Change, EngineWas, WarmCheck};
use pathproof_core::load;
use pathproof_core::model::*;
use pathproof_core::synth::{self, SplitMix64, SynthParams};
use proptest::prelude::*;

fn places(scn: &Scenario) -> Vec<Place> {
    let mut v: Vec<Place> = Vec::new();
    for h in &scn.hosts {
        v.push(Place::Host(h.name.clone()));
        if let Some(a) = h.interfaces.iter().flat_map(|i| i.addrs.iter()).next() {
            v.push(Place::Address(*a));
        }
    }
    for n in &scn.networks {
        v.push(Place::Network(n.name.clone()));
    }
    for view in &scn.dns {
        for r in view.records.iter().take(2) {
            v.push(Place::Name(r.name.clone()));
        }
    }
    v
}

/// `n` random expectations: allow, deny, only and isolated lines about
/// hosts, addresses, networks and names.
pub fn random_expectations(scn: &Scenario, rng: &mut SplitMix64, n: usize) -> Vec<Expectation> {
    let places = places(scn);
    let sources: Vec<Place> = places
        .iter()
        .filter(|p| !matches!(p, Place::Name(_)))
        .cloned()
        .collect();
    let mut ports: Vec<u16> = scn
        .hosts
        .iter()
        .flat_map(|h| h.sockets.iter().map(|s| s.port))
        .collect();
    ports.extend([22, 443]);
    ports.sort();
    ports.dedup();
    let origin = scn.hosts[0].origin.clone();
    (0..n)
        .map(|_| {
            let proto = match rng.below(10) {
                0 => Proto::Udp,
                1 => Proto::Icmp,
                _ => Proto::Tcp,
            };
            let port = (proto != Proto::Icmp && rng.chance(0.9)).then(|| *rng.pick(&ports));
            let from = rng.pick(&sources).clone();
            let to = rng.pick(&places).clone();
            let kind = match rng.below(6) {
                0 | 1 => ExpectKind::Allow {
                    from,
                    to,
                    proto,
                    port,
                },
                2 | 3 => ExpectKind::Deny {
                    from,
                    to,
                    proto,
                    port,
                },
                4 => {
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

/// One random change of one rule: removed, added (a copy of a rule of any
/// filter, its action flipped or not) or changed (its action, or its match
/// taken from another rule), in a random filter with rules.
pub fn change_one_rule(scn: &Scenario, rng: &mut SplitMix64) -> Option<(Scenario, String)> {
    let with_rules: Vec<usize> = (0..scn.filters.len())
        .filter(|&i| !scn.filters[i].rules.is_empty())
        .collect();
    if with_rules.is_empty() {
        return None;
    }
    let all_rules: Vec<&Rule> = scn.filters.iter().flat_map(|f| f.rules.iter()).collect();
    let mut new = scn.clone();
    let fi = *rng.pick(&with_rules);
    let f = &mut new.filters[fi];
    let ri = rng.below(f.rules.len());
    let flip = |a: Action| match a {
        Action::Allow => Action::Drop,
        _ => Action::Allow,
    };
    let what = match rng.below(4) {
        0 => {
            f.rules.remove(ri);
            "remove"
        }
        1 => {
            let mut r = (*rng.pick(&all_rules)).clone();
            if rng.chance(0.5) {
                r.action = flip(r.action);
            }
            // Interfaces name networks: keep only those the filter's rules know.
            f.rules.insert(rng.below(f.rules.len() + 1), r);
            "add"
        }
        2 => {
            f.rules[ri].action = flip(f.rules[ri].action);
            "flip"
        }
        _ => {
            f.rules[ri].matches = rng.pick(&all_rules).matches.clone();
            "rematch"
        }
    };
    Some((new, format!("{what} rule {ri} of filter {}", f.name)))
}

fn same(warm: &WarmCheck, scn: &Scenario, what: &str) -> Result<(), TestCaseError> {
    let want = render_json(&check(scn));
    let got = render_json(warm.report());
    prop_assert!(
        got == want,
        "{what}: the incremental report differs from check's\n--- incremental\n{got}\n--- check\n{want}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn single_rule_changes_recheck_as_from_scratch(
        seed in 1u64..1_000_000,
        hosts in 40usize..120,
    ) {
        let p = SynthParams::sized(seed, hosts);
        let mut scn = load("large.yaml", &synth::large(&p), None).expect("generated scenarios load");
        let mut rng = SplitMix64::new(seed ^ 0x5eed);
        scn.expectations = random_expectations(&scn, &mut rng, 24);
        let mut warm = WarmCheck::new(Arc::new(scn.clone()));
        same(&warm, &scn, "first check")?;
        let mut current = scn;
        for step in 0..4 {
            let Some((next, what)) = change_one_rule(&current, &mut rng) else { break };
            prop_assert!(matches!(change(&current, &next), Change::Filters(ref f) if f.len() == 1 || what.contains("remove")), "{what}");
            let stats = warm.update(Arc::new(next.clone()));
            prop_assert!(matches!(stats.engine, EngineWas::Updated(1) | EngineWas::Kept), "{what}: {stats:?}");
            same(&warm, &next, &format!("step {step}: {what}"))?;
            current = next;
        }
    }
}

/// Every built-in scenario with variants: from the scenario as written to
/// each variant and back, and from one variant to the next, on one warm
/// engine.
#[test]
fn variant_toggles_recheck_as_from_scratch() {
    let mut toggled = 0;
    for ex in pathproof_core::examples::ALL {
        let base = load(&ex.file(), ex.text, None).expect("built-ins load");
        if base.variants.is_empty() {
            continue;
        }
        let base = Arc::new(base);
        let mut warm = WarmCheck::new(base.clone());
        assert_eq!(
            render_json(warm.report()),
            render_json(&check(&base)),
            "{}",
            ex.name
        );
        let names: Vec<String> = base.variants.iter().map(|v| v.name.clone()).collect();
        for v in &names {
            let under = Arc::new(load(&ex.file(), ex.text, Some(v)).expect("variants load"));
            for (to, label) in [(&under, v.as_str()), (&base, "as written"), (&under, v)] {
                let stats = warm.update(to.clone());
                assert_eq!(
                    render_json(warm.report()),
                    render_json(&check(to)),
                    "{} {label} ({stats:?})",
                    ex.name
                );
                toggled += 1;
            }
        }
    }
    assert!(toggled > 0);
}

/// A change that is not to filter rules (an address, a host) builds the
/// engine again, and still answers as `check`.
#[test]
fn other_changes_rebuild_and_answer_as_from_scratch() {
    let p = SynthParams::sized(3, 60);
    let mut scn = load("large.yaml", &synth::large(&p), None).expect("generated scenarios load");
    let mut rng = SplitMix64::new(3);
    scn.expectations = random_expectations(&scn, &mut rng, 20);
    let mut warm = WarmCheck::new(Arc::new(scn.clone()));
    let mut next = scn.clone();
    let h = next
        .hosts
        .iter()
        .position(|h| !h.router && !h.sockets.is_empty())
        .expect("a host with sockets");
    next.hosts[h].sockets.pop();
    assert_eq!(change(&scn, &next), Change::Other);
    let stats = warm.update(Arc::new(next.clone()));
    assert_eq!(stats.engine, EngineWas::Built);
    assert_eq!(stats.reevaluated, 20);
    assert_eq!(render_json(warm.report()), render_json(&check(&next)));
    // Expectations alone: the engine is kept, only the new line is evaluated.
    let mut more = next.clone();
    more.expectations
        .extend(random_expectations(&next, &mut rng, 1));
    let stats = warm.update(Arc::new(more.clone()));
    assert_eq!(stats.engine, EngineWas::Kept);
    assert_eq!(stats.reevaluated, 1);
    assert_eq!(render_json(warm.report()), render_json(&check(&more)));
}
