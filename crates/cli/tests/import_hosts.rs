//! `pathproof import hosts NAME=DIR... -o OUT.yaml`, end to end, on the folders
//! recorded from a lab (crates/import/tests/fixtures/hosts).

mod common;
use common::pathproof;

const FIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../import/tests/fixtures/hosts"
);

#[test]
fn folders_become_a_scenario_the_other_commands_read() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pp-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("net.yaml");
    let args: Vec<String> = ["client", "edge", "admin", "web", "db"]
        .iter()
        .map(|h| format!("{h}={FIX}/{h}"))
        .collect();
    let o = pathproof()
        .args(["import", "hosts"])
        .args(&args)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("note: host edge: router"), "{err}");
    // The rule set files are named relative to the scenario's folder.
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.contains("ruleset: { file: \""), "{yaml}");
    assert!(
        !yaml.contains(&format!("\"{FIX}")),
        "relative paths: {yaml}"
    );
    let t = pathproof()
        .args(["trace"])
        .arg(&out)
        .args(["--from", "client", "--to", "198.51.100.1:443"])
        .output()
        .unwrap();
    assert!(t.status.success());
    let text = String::from_utf8(t.stdout).unwrap();
    assert!(text.contains("outcome: REACHED at web"), "{text}");
    assert!(text.contains("edge/ruleset.rules:"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2() {
    let o = pathproof()
        .args(["import", "hosts", "web"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not NAME=DIR"));
    let o = pathproof()
        .args(["import", "hosts", "web=/nonexistent/folder"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read folder"));
}
