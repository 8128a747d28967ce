//! The upstream Kubernetes inputs in `../shared/data/upstream-netpol-aws/k8s`
//! (network-policy-api conformance, kubernetes e2e netpol, onlineboutique):
//! every case imports, the scenario loads, and the connectivity the engine
//! computes holds the expectations transcribed from the upstream tests'
//! own assertions (`tests/upstream/*.txt`, never from pathproof's output)
//! and, where the data folder has one, the case's `expected.txt`.
//!
//! Needs `../shared`: outside CI a missing folder skips with a message, under
//! `CI=true` it fails.

use std::path::{Path, PathBuf};

use pathproof_import::{k8s, Input};

fn data() -> Option<PathBuf> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/upstream-netpol-aws/k8s");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing, and CI needs it", p.display());
    }
    eprintln!(
        "note: {} is missing: the upstream data tests skip",
        p.display()
    );
    None
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "upstream") {
                continue;
            }
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
}

/// Case folders: those that hold manifests directly.
fn cases(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    yaml_files(root, &mut files);
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| f.parent().unwrap().to_path_buf())
        .collect();
    dirs.dedup();
    dirs
}

fn import(dir: &Path, expect: Vec<String>) -> String {
    let mut files = Vec::new();
    yaml_files(dir, &mut files);
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| Input::new(f.display().to_string(), std::fs::read_to_string(f).unwrap()))
        .collect();
    let opts = k8s::Options {
        expect,
        ..Default::default()
    };
    match k8s::import(&inputs, &opts) {
        Ok(i) => i.yaml,
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

/// Transcribed expectations: `## CASE/STEP` headers, then `expect:` lines.
fn transcribed() -> Vec<(String, Vec<String>)> {
    let text = include_str!("upstream/e2e-netpol.txt");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(case) = line.strip_prefix("## ") {
            out.push((case.to_string(), Vec::new()));
        } else if !line.is_empty() && !line.starts_with('#') {
            out.last_mut()
                .expect("a case header first")
                .1
                .push(line.to_string());
        }
    }
    out
}

#[test]
fn every_upstream_case_imports_and_loads() {
    let Some(root) = data() else { return };
    let all = cases(&root);
    assert!(all.len() > 60, "found {} cases", all.len());
    for dir in &all {
        let yaml = import(dir, Vec::new());
        let scn = pathproof_core::load("imported.yaml", &yaml, None).unwrap_or_else(|e| {
            panic!(
                "{}: the imported scenario does not load: {e}",
                dir.display()
            )
        });
        // Every journey computes (the all-journeys engine on the imported scenario).
        let r = pathproof_core::analysis::reach::reach(&scn, &Default::default());
        assert!(
            !r.journeys.is_empty(),
            "{}: no journey at all",
            dir.display()
        );
    }
}

#[test]
fn e2e_expectations_hold() {
    let Some(root) = data() else { return };
    let mut checked = 0;
    for (case, lines) in transcribed() {
        let dir = root.join("e2e-netpol").join(&case);
        let yaml = import(&dir, lines.clone());
        let scn = pathproof_core::load("imported.yaml", &yaml, None)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let report = pathproof_core::analysis::check::check(&scn);
        let failed: Vec<String> = report
            .results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{} ({})", r.expectation, r.detail))
            .collect();
        assert!(
            failed.is_empty(),
            "{case}: these upstream expectations fail: {failed:#?}"
        );
        checked += lines.len();
    }
    assert!(checked > 20, "only {checked} expectations");
}
