//! Golden `reach` and `check` answers for every built-in scenario and variant,
//! and the exit-code facts `check` must get right.

use pathproof_core::analysis::check::{check, render_junit, render_sarif, render_text};
use pathproof_core::analysis::reach::{reach, render_csv, render_text as reach_text, ReachQuery};
use pathproof_core::{examples, load};

#[test]
fn reach_and_check_golden() {
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap();
        for v in std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone()))) {
            let scn = load(&ex.file(), ex.text, v.as_deref()).unwrap();
            let name = format!("{}__{}", ex.name, v.as_deref().unwrap_or("base"));
            let r = reach(&scn, &ReachQuery::default());
            insta::assert_snapshot!(format!("reach__{name}"), reach_text(&scn, &r));
            let c = check(&scn);
            insta::assert_snapshot!(format!("check__{name}"), render_text(&c));
        }
    }
}

#[test]
fn mini_lab_expectations_hold_and_break_violates_them() {
    let ex = examples::get("mini-lab").unwrap();
    let base = check(&load(&ex.file(), ex.text, None).unwrap());
    assert_eq!(base.failed, 0, "{}", render_text(&base));
    let broken = check(&load(&ex.file(), ex.text, Some("break")).unwrap());
    let failed: Vec<&str> = broken
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.expectation.as_str())
        .collect();
    assert!(failed.contains(&"deny web -> metadata:80"), "{failed:?}");
    assert!(failed.contains(&"deny web -> db:5432"), "{failed:?}");
    assert!(
        failed.contains(&"only api, data may reach db:5432"),
        "{failed:?}"
    );
    // Each failure carries a counterexample that really reaches.
    for r in broken.results.iter().filter(|r| !r.passed) {
        let t = r.trace.as_ref().expect("a counterexample");
        assert_eq!(
            t.outcome.kind,
            pathproof_core::evidence::OutcomeKind::Reached,
            "{}",
            r.expectation
        );
    }
    let hardened = check(&load(&ex.file(), ex.text, Some("harden")).unwrap());
    assert_eq!(hardened.failed, 0, "{}", render_text(&hardened));
}

#[test]
fn csv_has_one_row_per_path_and_a_header() {
    let ex = examples::get("mini-lab").unwrap();
    let scn = load(&ex.file(), ex.text, None).unwrap();
    let r = reach(&scn, &ReachQuery::default());
    let csv = render_csv(&scn, &r);
    let paths: usize = r.journeys.iter().map(|j| j.paths.len()).sum();
    assert_eq!(csv.lines().count(), paths + 1);
    assert!(csv.starts_with("source,source_kind,host,socket,proto,port,"));
}

#[test]
fn junit_and_sarif_shapes() {
    let ex = examples::get("mini-lab").unwrap();
    let c = check(&load(&ex.file(), ex.text, Some("break")).unwrap());
    let junit = render_junit(&c);
    assert_eq!(junit.matches("<testcase ").count(), c.results.len());
    assert_eq!(junit.matches("<failure ").count(), c.failed);
    let sarif: serde_json::Value = serde_json::from_str(&render_sarif(&c)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), c.failed);
    for r in results {
        assert_eq!(r["ruleId"], "pathproof/expectation");
        assert!(
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "mini-lab.yaml"
        );
    }
}
