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
fn transcribed(text: &str) -> Vec<(String, Vec<String>)> {
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
    for (case, lines) in transcribed(include_str!("upstream/e2e-netpol.txt")) {
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

/// The PokeServer assertions of network-policy-api's conformance tests,
/// transcribed for the ClusterNetworkPolicy cases whose test source the code
/// index holds (`tests/upstream/conformance-cnp.txt`); the other conformance
/// cases are import-and-compute checks only (above).
#[test]
fn conformance_expectations_hold() {
    let Some(root) = data() else { return };
    let mut checked = 0;
    let mut failed = Vec::new();
    for (case, lines) in transcribed(include_str!("upstream/conformance-cnp.txt")) {
        let dir = root.join(&case);
        let yaml = import(&dir, lines.clone());
        let scn = pathproof_core::load("imported.yaml", &yaml, None)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let report = pathproof_core::analysis::check::check(&scn);
        for r in report.results.iter().filter(|r| !r.passed) {
            failed.push(format!("{case}: {} ({})", r.expectation, r.detail));
        }
        checked += lines.len();
    }
    assert!(
        failed.is_empty(),
        "these upstream expectations fail:\n{}",
        failed.join("\n")
    );
    assert!(checked >= 44, "only {checked} expectations");
}

/// np-guard/netpol-analyzer's expected connectivity of onlineboutique
/// (`onlineboutique/upstream/connections_map_output.txt`, verbatim upstream):
/// every ordered pair of distinct pods, on each TCP port the destination
/// declares, the port the line names and two ports nobody declares, and on
/// UDP. A journey the network lets through ends `reached` (a socket) or
/// `refused` (no socket on that port); one it does not ends `dropped`.
#[test]
fn onlineboutique_connectivity_is_upstreams() {
    let Some(root) = data() else { return };
    let dir = root.join("onlineboutique");
    let yaml = import(&dir, Vec::new());
    let scn = pathproof_core::load("imported.yaml", &yaml, None).unwrap();
    let text = std::fs::read_to_string(dir.join("upstream/connections_map_output.txt")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rest = line.strip_prefix("src: ").expect("src:");
        let (src, rest) = rest.split_once(", dest: ").expect("dest:");
        let (dst, conns) = rest
            .split_once(", allowed conns: ")
            .expect("allowed conns:");
        if src == dst {
            continue; // a pod's traffic to itself never leaves it
        }
        let allowed_tcp: Option<u16> = match conns {
            "No Connections" => None,
            c => Some(
                c.strip_prefix("TCP ")
                    .unwrap_or_else(|| panic!("unexpected `{c}`"))
                    .parse()
                    .unwrap(),
            ),
        };
        let host = scn
            .hosts
            .iter()
            .find(|h| h.name == dst)
            .unwrap_or_else(|| panic!("no pod {dst}"));
        let mut ports: Vec<u16> = host.sockets.iter().map(|s| s.port).collect();
        ports.extend(allowed_tcp);
        ports.extend([1, 64999]);
        ports.sort_unstable();
        ports.dedup();
        for proto in [
            pathproof_core::model::Proto::Tcp,
            pathproof_core::model::Proto::Udp,
        ] {
            for &port in &ports {
                let mut q = pathproof_core::Query::new(src, &format!("{dst}:{port}"));
                q.proto = proto;
                let t = pathproof_core::trace(&scn, &q).unwrap();
                let through = matches!(
                    t.outcome.kind,
                    pathproof_core::evidence::OutcomeKind::Reached
                        | pathproof_core::evidence::OutcomeKind::Refused
                );
                let want = proto == pathproof_core::model::Proto::Tcp && allowed_tcp == Some(port);
                if through != want {
                    wrong.push(format!(
                        "{src} -> {dst} {proto:?}/{port}: upstream `{conns}`, pathproof {}",
                        t.outcome.text
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked > 500, "only {checked} journeys checked");
}
