//! `check --format junit`, `check --format sarif` and `audit --format sarif`
//! validated against the official schemas (vendored in `tests/fixtures/schemas`,
//! sources and licences in its README) on every built-in scenario and variant,
//! and broken copies of them rejected, so that the validation is known to bite.
//!
//! The validator is `tests/fixtures/schemas/validate.py` (Python `jsonschema`
//! and `xmlschema`). `scripts/test.sh` installs those in a virtual environment
//! and sets `PATHPROOF_SCHEMA_PYTHON`; without it, `python3` is tried. When
//! neither has the modules the test says so and skips, except under `CI=true`
//! or with `PATHPROOF_SCHEMA_PYTHON` set, where it fails.

mod common;
use common::pathproof;

use pathproof_core::{examples, load};
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemas")
}

/// The Python that has `jsonschema` and `xmlschema`, or `None` (skip) when
/// none does and nothing requires one.
fn python() -> Option<String> {
    let given = std::env::var("PATHPROOF_SCHEMA_PYTHON").ok();
    let py = given.clone().unwrap_or_else(|| "python3".to_string());
    let ok = std::process::Command::new(&py)
        .args(["-c", "import jsonschema, xmlschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let required = given.is_some() || std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !required,
        "{py} cannot import jsonschema and xmlschema: run scripts/test.sh, which installs them"
    );
    eprintln!("note: no Python with jsonschema and xmlschema; schema validation skipped (scripts/test.sh installs them)");
    None
}

fn validate(py: &str, kind: &str, files: &[PathBuf]) -> Output {
    std::process::Command::new(py)
        .arg(fixtures().join("validate.py"))
        .arg(kind)
        .args(files)
        .output()
        .expect("the validator runs")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-schemas-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temporary directory");
    d
}

/// Runs `pathproof ARGS`, which must exit 0 or 1 (a failed expectation), and returns its output.
fn run(args: &[&str]) -> Vec<u8> {
    let out = pathproof().args(args).output().expect("pathproof runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "pathproof {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every built-in scenario with each of its variants: (name, variant).
fn builtins() -> Vec<(String, Option<String>)> {
    let mut v = Vec::new();
    for e in examples::ALL {
        let scn = load(&e.file(), e.text, None).expect("built-ins load");
        v.push((e.name.to_string(), None));
        for var in &scn.variants {
            v.push((e.name.to_string(), Some(var.name.clone())));
        }
    }
    v
}

#[test]
fn junit_and_sarif_outputs_are_valid_against_their_schemas() {
    let Some(py) = python() else { return };
    let dir = scratch("valid");
    let (mut junit, mut sarif) = (Vec::new(), Vec::new());
    for (name, variant) in builtins() {
        let label = format!("{name}-{}", variant.as_deref().unwrap_or("base"));
        for (cmd, format, list) in [
            ("check", "junit", &mut junit),
            ("check", "sarif", &mut sarif),
        ] {
            let mut args = vec![cmd, name.as_str(), "--format", format];
            if let Some(v) = &variant {
                args.extend(["--variant", v.as_str()]);
            }
            let path = dir.join(format!("{cmd}-{label}.{format}"));
            std::fs::write(&path, run(&args)).unwrap();
            list.push(path);
        }
        let mut args = vec!["audit", name.as_str(), "--format", "sarif"];
        if let Some(v) = &variant {
            args.extend(["--variant", v.as_str()]);
        }
        let path = dir.join(format!("audit-{label}.sarif"));
        std::fs::write(&path, run(&args)).unwrap();
        sarif.push(path);
    }
    assert!(junit.len() >= 10, "{} scenarios and variants", junit.len());
    for (kind, files) in [("junit", &junit), ("sarif", &sarif)] {
        let out = validate(&py, kind, files);
        assert!(
            out.status.success(),
            "{kind}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A run with failures is among them: the documents are not trivially empty.
    let failing = std::fs::read_to_string(
        junit
            .iter()
            .find(|p| p.ends_with("check-mini-lab-break.junit"))
            .expect("mini-lab break checked"),
    )
    .unwrap();
    assert!(failing.contains("<failure "), "{failing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each broken copy must be rejected on its own (exit 1, a violation named).
fn assert_each_rejected(py: &str, kind: &str, dir: &Path, docs: &[(&str, String)]) {
    for (what, text) in docs {
        let path = dir.join(format!("{what}.{kind}"));
        std::fs::write(&path, text).unwrap();
        let out = validate(py, kind, std::slice::from_ref(&path));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{kind} `{what}` should be rejected as invalid: {:?}\n{err}",
            out.status
        );
        assert!(err.contains("violation"), "{err}");
    }
}

#[test]
fn broken_sarif_is_rejected() {
    let Some(py) = python() else { return };
    let dir = scratch("bad-sarif");
    let good: serde_json::Value = serde_json::from_slice(&run(&[
        "check",
        "mini-lab",
        "--variant",
        "break",
        "--format",
        "sarif",
    ]))
    .unwrap();
    assert!(!good["runs"][0]["results"].as_array().unwrap().is_empty());
    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_string_pretty(&v).unwrap()
    };
    let docs = [
        ("wrong-version", mutate(&|v| v["version"] = "2.0.0".into())),
        (
            "unknown-level",
            mutate(&|v| v["runs"][0]["results"][0]["level"] = "fatal".into()),
        ),
        (
            "tool-without-name",
            mutate(&|v| {
                v["runs"][0]["tool"]["driver"]
                    .as_object_mut()
                    .unwrap()
                    .remove("name");
            }),
        ),
        (
            "line-zero",
            mutate(&|v| {
                v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
                    ["startLine"] = 0.into()
            }),
        ),
        (
            "unknown-property",
            mutate(&|v| v["runs"][0]["resultz"] = serde_json::json!([])),
        ),
        ("not-json", "{\"version\": \"2.1.0\", ".to_string()),
    ];
    assert_each_rejected(&py, "sarif", &dir, &docs);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_junit_is_rejected() {
    let Some(py) = python() else { return };
    let dir = scratch("bad-junit");
    let good = String::from_utf8(run(&[
        "check",
        "mini-lab",
        "--variant",
        "break",
        "--format",
        "junit",
    ]))
    .unwrap();
    assert!(good.contains("<testcase name=\"") && good.contains("<failure "));
    let docs = [
        (
            "testcase-without-name",
            good.replacen("<testcase name=\"", "<testcase label=\"", 1),
        ),
        (
            "unknown-element",
            good.replacen("<failure ", "<explosion/><failure ", 1),
        ),
        (
            "testsuite-without-tests",
            good.replacen("<testsuite name=", "<testsuite nom=", 1),
        ),
        ("truncated", good[..good.len() / 2].to_string()),
    ];
    assert_each_rejected(&py, "junit", &dir, &docs);
    let _ = std::fs::remove_dir_all(&dir);
}
