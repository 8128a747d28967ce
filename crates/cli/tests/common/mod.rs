//! What the end-to-end tests of the `pathproof` binary share (each test file
//! uses what it needs of it).
#![allow(dead_code)]

use assert_cmd::Command;

/// The `pathproof` binary built for these tests.
pub fn pathproof() -> Command {
    Command::cargo_bin("pathproof").expect("the binary is built")
}

/// Writes `text` to `name` in a folder of this test process's own (named
/// after `area`, so that test files running at once do not share it). The
/// end-to-end tests keep their files under cargo's `target/tmp`
/// (`CARGO_TARGET_TMPDIR`), not in the machine's /tmp, which they filled
/// with a folder per test process.
pub fn write_in(area: &str, name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-{area}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// What `pathproof ARGS` prints on standard output, asserting it succeeds.
pub fn stdout_of(args: &[&str]) -> Vec<u8> {
    pathproof()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}
