//! `export nft` golden files: the rule set of every built-in scenario and
//! variant is compared with `tests/golden/*.nft`, and `nft -c -f` (a dry run
//! in the kernel's own parser and validator) must accept each file.
//! Rewrite the files with `UPDATE_GOLDEN=1 cargo test -p pathproof-lab --test export_nft`.

mod common;

use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cases() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in pathproof_core::examples::ALL {
        let base = pathproof_core::load(&e.file(), e.text, None).expect("built-in loads");
        let mut variants: Vec<Option<String>> = vec![None];
        variants.extend(base.variants.iter().map(|v| Some(v.name.clone())));
        for v in variants {
            let scn = pathproof_core::load(&e.file(), e.text, v.as_deref()).expect("variant loads");
            let text = pathproof_lab::nft::export(&scn, None).expect("exports");
            let name = match &v {
                Some(v) => format!("{}@{v}.nft", e.name),
                None => format!("{}.nft", e.name),
            };
            out.push((name, text));
        }
    }
    out
}

#[test]
fn export_matches_the_golden_files() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok();
    let mut stale = Vec::new();
    for (name, text) in cases() {
        let path = golden_dir().join(&name);
        if update {
            std::fs::write(&path, &text).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
        if want != text {
            stale.push(name);
        }
    }
    assert!(stale.is_empty(), "export differs from the golden files: {stale:?} (UPDATE_GOLDEN=1 rewrites them; read the diff)");
}

#[test]
fn every_rule_carries_a_comment_naming_its_source() {
    for (name, text) in cases() {
        for line in text.lines().map(str::trim) {
            let verdict = ["accept", "drop", "reject", "dnat", "snat", "masquerade"]
                .iter()
                .any(|v| line.contains(v));
            if verdict && !line.starts_with('#') && !line.starts_with("type ") {
                assert!(
                    line.contains("comment \""),
                    "{name}: rule without comment: {line}"
                );
            }
        }
    }
}

#[test]
fn the_kernel_accepts_every_golden_file() {
    if !common::root_or_skip("the_kernel_accepts_every_golden_file") {
        return;
    }
    let mut checked = 0;
    for (name, _) in cases() {
        let path = golden_dir().join(&name);
        let out = std::process::Command::new("nft")
            .args(["-c", "-f"])
            .arg(&path)
            .output()
            .expect("nft runs");
        assert!(
            out.status.success(),
            "nft -c -f {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} golden files checked");
}

#[test]
fn one_host_and_an_unknown_host() {
    let e = pathproof_core::examples::get("mini-lab").unwrap();
    let scn = pathproof_core::load(&e.file(), e.text, None).unwrap();
    let edge = pathproof_lab::nft::export(&scn, Some("edge")).unwrap();
    assert!(edge.contains("table inet pathproof_edge"));
    assert!(edge.contains("dnat ip to 10.0.1.10:443"));
    assert!(edge.contains("masquerade"));
    let web = pathproof_lab::nft::export(&scn, Some("web")).unwrap();
    assert!(web.starts_with("# host web has no filter"));
    let err = pathproof_lab::nft::export(&scn, Some("nope")).unwrap_err();
    assert!(
        err.contains("no host `nope`") && err.contains("edge"),
        "{err}"
    );
}
