//! `pathproof tool`: nmap, ss, dig and traceroute answered by the model.

mod common;
use common::pathproof;

use predicates::prelude::*;

#[test]
fn nmap_from_web_finds_the_api_port_and_says_why() {
    pathproof()
        .args(["tool", "nmap", "--from", "web", "10.0.2.0/24"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Nmap scan report for api (10.0.2.10)",
        ))
        .stdout(predicate::str::contains("8080/tcp open  http-proxy"))
        .stdout(predicate::str::contains(
            "# api (10.0.2.10) 8080/tcp open: edge: edge-fw rule 2",
        ));
}

#[test]
fn the_break_opens_the_database_to_a_scan_from_the_dmz() {
    let before = pathproof()
        .args(["tool", "nmap", "--from", "web", "-Pn", "-p", "5432", "db"])
        .output()
        .unwrap();
    let after = pathproof()
        .args([
            "tool",
            "--variant",
            "break",
            "nmap",
            "--from",
            "web",
            "-Pn",
            "-p",
            "5432",
            "db",
        ])
        .output()
        .unwrap();
    let before = String::from_utf8(before.stdout).unwrap();
    let after = String::from_utf8(after.stdout).unwrap();
    assert!(before.contains("5432/tcp filtered"), "{before}");
    assert!(after.contains("5432/tcp open"), "{after}");
    assert!(after.contains("under the variant `break`"), "{after}");
}

#[test]
fn ss_dig_and_traceroute() {
    pathproof()
        .args(["tool", "ss", "--from", "db", "-ltn"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("State  Recv-Q Send-Q"))
        .stdout(predicate::str::contains("0.0.0.0:5432"));
    pathproof()
        .args(["tool", "dig", "--from", "web", "+short", "api.internal"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("10.0.2.10\n"));
    pathproof()
        .args([
            "tool",
            "traceroute",
            "--from",
            "client",
            "-T",
            "-p",
            "443",
            "www.example.com",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(" 1  edge (198.51.100.1)"));
    // Another scenario, and --from anywhere among the tool's arguments.
    pathproof()
        .args([
            "tool",
            "dig",
            "--scenario",
            "split-dns",
            "wiki.corp.example",
            "--from",
            "laptop",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("10.30.0.20"));
}

#[test]
fn bad_questions_exit_2_with_help() {
    pathproof()
        .args(["tool", "nmap", "--from", "wbe", "db"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `web`?"));
    pathproof()
        .args(["tool", "nmap", "db"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--from"));
    pathproof()
        .args(["tool", "nmap", "--from", "web", "--bogus", "db"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized option"));
    pathproof()
        .args(["tool", "nmpa", "--from", "web"])
        .assert()
        .code(2);
}
