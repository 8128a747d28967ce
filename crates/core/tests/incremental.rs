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
use pathproof_core::synth::{self, change_one_rule, random_expectations, SplitMix64, SynthParams};
use proptest::prelude::*;

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

    /// The same on cluster-shaped scenarios, whose classes are walked from
    /// one address per group of alike addresses: a changed rule may tell
    /// addresses of a group apart, or no longer.
    #[test]
    fn single_rule_changes_of_clusters_recheck_as_from_scratch(seed in 0u64..1_000_000) {
        let mut scn = load("scattered.yaml", &synth::scattered(seed), None).expect("generated scenarios load");
        let mut rng = SplitMix64::new(seed ^ 0xc105);
        scn.expectations = random_expectations(&scn, &mut rng, 24);
        let mut warm = WarmCheck::new(Arc::new(scn.clone()));
        same(&warm, &scn, "first check")?;
        let mut current = scn;
        for step in 0..6 {
            let Some((next, what)) = change_one_rule(&current, &mut rng) else { break };
            warm.update(Arc::new(next.clone()));
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
