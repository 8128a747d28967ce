//! `pathproof simulate`, run as a user would: every format, byte-identical
//! output for a seed, and a bad traffic section that exits 2 with the file,
//! line, column, what was expected and a suggestion.

mod common;
use common::pathproof;

use predicates::prelude::*;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    common::write_in("sim-cli", name, text)
}

fn out(args: &[&str]) -> String {
    let o = pathproof().args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn text_names_drops_in_the_kernels_words() {
    pathproof()
        .args(["simulate", "syn-flood", "--seconds", "10"])
        .assert()
        .success()
        .stdout(predicate::str::contains("second by second"))
        .stdout(predicate::str::contains(
            "kept for proven peers: SYN dropped (ListenDrops)  at web:443",
        ))
        .stdout(predicate::str::contains("TcpExtListenDrops"))
        .stdout(predicate::str::contains("TcpExtSyncookiesSent"))
        .stdout(predicate::str::contains("latency p50"));
    pathproof()
        .args([
            "simulate",
            "syn-flood",
            "--seconds",
            "10",
            "--variant",
            "harden",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "SYN queue full: SYN cookie sent, no state kept (TCPReqQFullDoCookies)",
        ));
    pathproof()
        .args(["simulate", "login-limits", "--seconds", "20"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "first refusal: rate limited: 6th request in the 10 s window of key source=",
        ));
}

#[test]
fn json_csv_and_svg() {
    let json = out(&[
        "simulate",
        "login-limits",
        "--seconds",
        "15",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["seconds"], 15);
    assert_eq!(v["flows"][0]["name"], "alice");
    assert_eq!(v["flows"][0]["per_second"].as_array().unwrap().len(), 15);
    assert!(v["flows"][2]["classes"][0]["trace"]["hops"].is_array());
    let csv = out(&["simulate", "syn-flood", "--seconds", "8", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("second,subject,measure,value"));
    assert!(csv.contains("\n7,listener web:443,TcpExtListenDrops,"));
    assert!(csv.lines().skip(1).all(|l| l.split(',').count() >= 4));
    let svg = out(&["simulate", "syn-flood", "--seconds", "8", "--format", "svg"]);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("Listener web:443"));
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let a = out(&[
        "simulate",
        "ddos-layers",
        "--seconds",
        "8",
        "--format",
        "json",
        "--seed",
        "5",
    ]);
    let b = out(&[
        "simulate",
        "ddos-layers",
        "--seconds",
        "8",
        "--format",
        "json",
        "--seed",
        "5",
    ]);
    assert_eq!(a, b);
    let c = out(&[
        "simulate",
        "ddos-layers",
        "--seconds",
        "8",
        "--format",
        "json",
        "--seed",
        "6",
    ]);
    assert_ne!(a, c);
}

#[test]
fn a_bad_traffic_section_exits_2_with_the_line() {
    let bad = write(
        "bad.yaml",
        "networks:\n  lan: 10.0.0.0/24\nhosts:\n  web: { at: lan 10.0.0.10, listen: [\"tcp/80\"] }\ntraffic:\n  flows:\n    users: { kind: client, from: lan, to: web:80, rate: 5/s }\n    more: { kind: clients, from: lna, to: web:80, rate: 5/s }\n",
    );
    pathproof()
        .args(["simulate", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.yaml:7:20: unknown flow kind `client`",
        ))
        .stderr(predicate::str::contains("did you mean `clients`?"))
        .stderr(predicate::str::contains(
            "bad.yaml:8:34: unknown sender `lna`",
        ))
        .stderr(predicate::str::contains("did you mean `lan`?"));
}

#[test]
fn a_flow_the_tracer_cannot_follow_exits_2_at_its_line() {
    let bad = write(
        "nowhere.yaml",
        "networks:\n  lan: 10.0.0.0/24\nhosts:\n  web: { at: lan 10.0.0.10, listen: [\"tcp/80\"] }\ndns:\n  v: { www.example.com: 10.0.0.10 }\ntraffic:\n  flows:\n    users: { kind: clients, from: lan, sources: 1000, to: web:80, rate: 5/s }\n",
    );
    pathproof()
        .args(["simulate", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "nowhere.yaml:9:5: network `lan` has only",
        ))
        .stderr(predicate::str::contains("ask for fewer `sources`"));
    pathproof()
        .args(["simulate", "mini-lab"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no `traffic:` section"));
}
