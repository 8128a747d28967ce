//! End-to-end: `pathproof audit` and `pathproof diff`, as a user runs them.

mod common;
use common::pathproof;

use predicates::prelude::*;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    common::write_in("analyses", name, text)
}

#[test]
fn audit_text_reports_metadata_in_break_only() {
    pathproof()
        .args(["audit", "--variant", "break"])
        .assert()
        .success()
        .stdout(predicate::str::contains("CRITICAL (1)"))
        .stdout(predicate::str::contains(
            "[metadata-reachable] metadata endpoint metadata tcp/80 reachable from proxy, web",
        ))
        .stdout(predicate::str::contains("fix: "));
    pathproof()
        .args(["audit", "mini-lab", "--variant", "harden"])
        .assert()
        .success()
        .stdout(predicate::str::contains("metadata-reachable").not());
}

#[test]
fn audit_json_and_sarif_are_valid() {
    let out = common::stdout_of(&["audit", "--variant", "break", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(v["schema"], 2);
    assert_eq!(v["findings"][0]["kind"], "metadata-reachable");
    assert_eq!(v["findings"][0]["severity"], "critical");
    let lab = write(
        "lab.yaml",
        pathproof_core::examples::get("mini-lab").unwrap().text,
    );
    let out = common::stdout_of(&[
        "audit",
        lab.to_str().unwrap(),
        "--variant",
        "break",
        "--format",
        "sarif",
    ]);
    let s: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(s["version"], "2.1.0");
    let r = &s["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "metadata-reachable");
    assert_eq!(r["level"], "error");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        lab.to_str().unwrap()
    );
}

#[test]
fn audit_input_errors_exit_2() {
    pathproof()
        .args(["audit", "mini-lob"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "did you mean the built-in `mini-lab`?",
        ));
    pathproof()
        .args(["audit", "--variant", "nosuch"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error:"));
    let bad = write(
        "bad.yaml",
        "name: x\nnetworks:\n  a: { cidr: 10.0.0.0/33 }\n",
    );
    pathproof()
        .args(["audit", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml:3:"));
    pathproof()
        .args(["audit", "--format", "xml"])
        .assert()
        .code(2);
}

#[test]
fn diff_against_a_variant_and_between_files() {
    pathproof()
        .args(["diff", "mini-lab", "--variant", "break"])
        .assert()
        .success()
        .stdout(predicate::str::contains("+ web -> db tcp/5432 postgres"))
        .stdout(predicate::str::contains("before: rejected at edge (filter) by filter rule edge-fw #5: reject tcp from dmz to data"));
    let old = write(
        "old.yaml",
        pathproof_core::examples::get("stateless-acl").unwrap().text,
    );
    let text = pathproof_core::examples::get("stateless-acl").unwrap().text;
    let new = write("new.yaml", text);
    let out = common::stdout_of(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--variant",
        "break",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(v["new"]["variant"], "break");
    assert!(
        !v["lost"].as_array().unwrap().is_empty(),
        "break loses the reply path"
    );
    assert!(v["gained"].as_array().unwrap().is_empty());
    let same = common::stdout_of(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&same).unwrap();
    assert!(v["gained"].as_array().unwrap().is_empty() && v["lost"].as_array().unwrap().is_empty());
}

#[test]
fn diff_input_errors_exit_2() {
    pathproof()
        .args(["diff", "mini-lab"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs two scenarios"));
    pathproof()
        .args(["diff", "mini-lab", "nosuch.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no file or built-in scenario named `nosuch.yaml`",
        ));
}
