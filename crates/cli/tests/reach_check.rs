//! `pathproof reach` and `pathproof check`, end to end.

mod common;
use common::pathproof;

use predicates::prelude::*;

#[test]
fn reach_table_json_csv() {
    pathproof()
        .arg("reach")
        .assert()
        .success()
        .stdout(predicate::str::contains("reach in mini-lab:"))
        .stdout(predicate::str::contains("web tcp/443 (https)"))
        .stdout(predicate::str::contains("edge-fw rule 1"));
    let out = common::stdout_of(&["reach", "--from", "web", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema"], 2);
    let classes = v["classes"].as_array().unwrap();
    assert!(classes
        .iter()
        .all(|j| j["sources"] == serde_json::json!(["web"])));
    assert!(classes.iter().any(|j| j["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["host"] == "api")
        && j["port"] == 8080));
    // One (sources, socket) pair at a time, as before classes.
    let out = common::stdout_of(&["reach", "--from", "web", "--format", "json", "--pairs"]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema"], 1);
    let journeys = v["journeys"].as_array().unwrap();
    assert!(journeys.iter().all(|j| j["source"] == "web"));
    assert!(journeys
        .iter()
        .any(|j| j["host"] == "api" && j["port"] == 8080));
    let csv = common::stdout_of(&["reach", "--to", "db", "--format", "csv", "--pairs"]);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.contains(",db,")), "{csv}");
    pathproof()
        .args(["reach", "--from", "wbe"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `web`?"));
}

#[test]
fn reach_views() {
    pathproof()
        .args(["reach", "--view", "networks"])
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp/443 (https) on dmz (1 host)"))
        .stdout(predicate::str::contains("all sources of own network"));
    // The default for a small scenario is the socket table.
    let auto = pathproof()
        .arg("reach")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sockets = common::stdout_of(&["reach", "--view", "sockets"]);
    assert_eq!(auto, sockets);
    pathproof()
        .args(["reach", "--view", "matrix"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "possible values: auto, sockets, networks",
        ));
}

#[test]
fn check_exit_codes_and_text() {
    pathproof()
        .arg("check")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("0 failed"));
    pathproof()
        .args(["check", "--variant", "break"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL  mini-lab.yaml:"))
        .stdout(predicate::str::contains("deny web -> metadata:80"))
        .stdout(predicate::str::contains(
            "---- counterexample for `deny web -> metadata:80`",
        ));
    pathproof()
        .args(["check", "no-such-scenario"])
        .assert()
        .code(2);
}

#[test]
fn check_junit_is_well_formed_xml() {
    let out = pathproof()
        .args(["check", "--variant", "break", "--format", "junit"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let mut reader = quick_xml::Reader::from_reader(out.as_slice());
    let mut buf = Vec::new();
    let (mut cases, mut failures, mut depth) = (0, 0, 0i32);
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    _ => {}
                }
                depth += 1;
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert!(depth > 0);
    assert_eq!(cases, 5);
    assert!(failures >= 3, "{failures}");
}

#[test]
fn check_sarif_and_json() {
    let out = pathproof()
        .args(["check", "--variant", "break", "--format", "sarif"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(!v["runs"][0]["results"].as_array().unwrap().is_empty());
    let out = pathproof()
        .args(["check", "--format", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["failed"], 0);
}

#[test]
fn foothold_from_a_host() {
    pathproof()
        .args(["reach", "--from", "web", "--foothold", "--variant", "break"])
        .assert()
        .success()
        .stdout(predicate::str::contains("metadata"));
    pathproof()
        .args([
            "reach",
            "--from",
            "web",
            "--foothold",
            "--format",
            "mermaid",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("graph LR"));
    let out = common::stdout_of(&["reach", "--from", "web", "--foothold", "--format", "json"]);
    serde_json::from_slice::<serde_json::Value>(&out).expect("JSON");
    pathproof().args(["reach", "--foothold"]).assert().code(2);
    pathproof()
        .args(["reach", "--from", "dmz", "--foothold"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a network"));
    pathproof()
        .args(["reach", "--format", "mermaid"])
        .assert()
        .code(2);
}
