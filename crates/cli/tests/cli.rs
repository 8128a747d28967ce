//! End-to-end: the built binary, run as a user would.

mod common;
use common::pathproof;

use predicates::prelude::*;

/// `pathproof filter RULES --packets PACKETS [extra…]`'s output (it must succeed).
fn filter_packets(rules: &std::path::Path, packets: &std::path::Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "filter",
        rules.to_str().unwrap(),
        "--packets",
        packets.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::stdout_of(&args)
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    common::write_in("cli", name, text)
}

#[test]
fn trace_the_default_scenario_by_dns_name() {
    pathproof()
        .args(["trace", "--from", "client", "--to", "www.example.com:443"])
        .assert()
        .success()
        .stdout(predicate::str::contains("www.example.com resolves to 198.51.100.1 in view `public`"))
        .stdout(predicate::str::contains("rule: filter rule 1 of edge-fw: allow tcp from internet to web port 443  (mini-lab.yaml:"))
        .stdout(predicate::str::contains("outcome: REACHED at web"))
        .stdout(predicate::str::contains("what web can believe about this request:"))
        .stdout(predicate::str::contains("what it must take on trust:"));
}

#[test]
fn trace_a_file_as_json() {
    let lab = write(
        "lab.yaml",
        pathproof_core::examples::get("mini-lab").unwrap().text,
    );
    let out = common::stdout_of(&[
        "trace",
        lab.to_str().unwrap(),
        "--from",
        "web",
        "--to",
        "169.254.169.254:80",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["file"], lab.to_str().unwrap());
    assert_eq!(v["outcome"]["kind"], "dropped");
    assert_eq!(v["outcome"]["at"], "edge");
    let filter = v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["stage"] == "filter")
        .unwrap();
    assert_eq!(filter["rule"]["kind"], "default policy");
    assert_eq!(filter["rule"]["owner"], "edge-fw");
}

#[test]
fn trace_a_variant_as_mermaid() {
    pathproof()
        .args([
            "trace",
            "--from",
            "client",
            "--to",
            "db:5432",
            "--variant",
            "break",
            "--format",
            "mermaid",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("sequenceDiagram\n"))
        .stdout(predicate::str::contains("participant p0 as client"));
    pathproof()
        .args([
            "trace",
            "--from",
            "web",
            "--to",
            "db:5432",
            "--variant",
            "break",
            "--format",
            "mermaid",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("REACHED"));
}

#[test]
fn examples_lists_the_builtins() {
    pathproof()
        .arg("examples")
        .assert()
        .success()
        .stdout(predicate::str::contains("mini-lab"))
        .stdout(predicate::str::contains("dual-stack"))
        .stdout(predicate::str::contains("[variants: break, harden]"));
    let out = common::stdout_of(&["examples", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let list = v.as_array().unwrap();
    assert!(list.len() >= 5);
    // `traffic` says which ones `simulate` plays: those whose line says so.
    for e in list {
        let teaches = e["teaches"].as_str().unwrap();
        assert_eq!(
            e["traffic"].as_bool(),
            Some(teaches.ends_with("(simulate)")),
            "{e}"
        );
        assert!(e["variants"].is_array(), "{e}");
    }
    assert!(list.iter().any(|e| e["traffic"] == true));
}

#[test]
fn malformed_scenario_exits_2_and_names_the_line() {
    let bad = write("bad.yaml", "networks:\n  a: 10.0.0.0/24\nhosts:\n  web: { at: a 10.0.0.10 }\nfilters:\n  f:\n    rules:\n      - allow tcp from wbe to any port 80\n      - allow tcp from web to any port 99999\n");
    pathproof()
        .args([
            "trace",
            bad.to_str().unwrap(),
            "--from",
            "web",
            "--to",
            "10.0.0.1:80",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has 2 problems"))
        .stderr(predicate::str::contains(
            "bad.yaml:8:24: unknown host or network `wbe`",
        ))
        .stderr(predicate::str::contains("did you mean `web`?"))
        .stderr(predicate::str::contains("bad.yaml:9:"));
    let broken = write("broken.yaml", "networks: [\n");
    pathproof()
        .args([
            "trace",
            broken.to_str().unwrap(),
            "--from",
            "a",
            "--to",
            "b:1",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not valid YAML"));
}

#[test]
fn misspelt_host_gets_a_suggestion() {
    pathproof()
        .args(["trace", "--from", "clinet", "--to", "web:443"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown source `clinet`"))
        .stderr(predicate::str::contains("did you mean `client`?"));
    pathproof()
        .args(["trace", "--from", "client", "--to", "wbe:443"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `web`?"));
    pathproof()
        .args(["trace", "--from", "client", "--to", "web"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no port"));
    pathproof()
        .args(["trace", "mini-lap", "--from", "client", "--to", "web:443"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "did you mean the built-in `mini-lab`?",
        ));
    pathproof()
        .args([
            "trace",
            "--from",
            "client",
            "--to",
            "web:443",
            "--variant",
            "brake",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `break`?"));
}

#[test]
fn bad_flags_exit_2() {
    pathproof()
        .args(["trace", "--from", "client"])
        .assert()
        .code(2);
    pathproof()
        .args([
            "trace", "--from", "client", "--to", "web:443", "--format", "xml",
        ])
        .assert()
        .code(2);
}

#[test]
fn the_same_trace_twice_is_byte_identical() {
    let run = || {
        common::stdout_of(&[
            "trace",
            "--from",
            "client",
            "--to",
            "www.example.com:443",
            "--format",
            "json",
        ])
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let text = || {
        common::stdout_of(&[
            "trace",
            "dual-stack",
            "--from",
            "client",
            "--to",
            "web:22",
            "-6",
            "--variant",
            "break",
        ])
    };
    assert_eq!(text(), text());
}

#[test]
fn json_schema_snapshot() {
    let out = common::stdout_of(&[
        "trace", "--from", "web", "--to", "api:8080", "--via", "proxy", "--format", "json",
    ]);
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

const IPTABLES: &str = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:SSH - [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j SSH\n-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT\n-A SSH -s 10.0.0.0/8 -j ACCEPT\n-A SSH -j REJECT --reject-with tcp-reset\nCOMMIT\n";

#[test]
fn filter_one_packet_and_a_file_of_packets() {
    let rules = write("ipt.rules", IPTABLES);
    pathproof()
        .args([
            "filter",
            rules.to_str().unwrap(),
            "--packet",
            "tcp 10.0.0.1:40000 -> 10.0.0.2:22",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "accept  line 9: -A SSH -s 10.0.0.0/8 -j ACCEPT",
        ));
    let packets = write(
        "packets.txt",
        "# one per line\ntcp 192.0.2.1:40000 -> 10.0.0.2:22\n\nudp 192.0.2.1:5 -> 10.0.0.2:53\n",
    );
    let out = filter_packets(&rules, &packets, &[]);
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("reject  line 10: -A SSH -j REJECT --reject-with tcp-reset"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("drop    line 2: policy of chain INPUT"),
        "{out}"
    );
    let json = filter_packets(&rules, &packets, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["results"][0]["decided_by"]["line"], 10);
    assert_eq!(v["results"][0]["packet_line"], 2);
}

#[test]
fn filter_nft_rule_sets() {
    let rules = write("rules.nft", "table inet fw {\n  chain input {\n    type filter hook input priority 0; policy drop;\n    ct state established,related accept\n    tcp dport { 22, 443 } ip saddr 10.0.0.0/8 accept\n  }\n}\n");
    pathproof()
        .args([
            "filter",
            rules.to_str().unwrap(),
            "--packet",
            "tcp 10.1.2.3:5555 -> 10.0.0.2:443",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("accept  line 5:"));
}

/// Verdict maps and a tie between two tables' base chains of equal priority, in text
/// and JSON.
#[test]
fn filter_nft_verdict_maps_and_ties() {
    let rules = write("vmap.nft", "table ip a {\n  map ports {\n    type inet_service : verdict\n    elements = { 22 : accept, 443 : drop }\n  }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport vmap @ports\n  }\n}\ntable inet b {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport vmap { 443 : jump no }\n  }\n  chain no {\n    reject\n  }\n}\n");
    let packets = write(
        "vmap-packets.txt",
        "tcp 10.1.2.3:5555 -> 10.0.0.2:22\ntcp 10.1.2.3:5555 -> 10.0.0.2:443\n",
    );
    let out = filter_packets(&rules, &packets, &[]);
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(
            "accept  line 8: tcp dport vmap @ports (element `22 : accept`, line 4 of map ports)"
        ),
        "{out}"
    );
    assert!(lines[1].starts_with("reject  line 17: reject\t"), "{out}");
    assert_eq!(
        lines[2],
        "  tie: base chains input (table b, line 12), input (table a, line 6) share hook input priority 0; evaluated in the order nft -f gives them (the chain listed later first); registered in another order: drop line 8: tcp dport vmap @ports (element `443 : drop`, line 4 of map ports)",
        "{out}"
    );
    let json = filter_packets(&rules, &packets, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let r0 = &v["results"][0];
    assert_eq!(r0["decided_by"]["kind"], "map_element");
    assert_eq!(r0["decided_by"]["map"], "ports");
    assert_eq!(r0["decided_by"]["element"], "22 : accept");
    assert_eq!(r0["decided_by"]["element_line"], 4);
    assert!(r0["tie"].is_null());
    let r1 = &v["results"][1];
    assert_eq!(r1["verdict"], "reject");
    assert_eq!(r1["tie"]["alternative"], "drop");
    assert_eq!(r1["tie"]["alternative_decided_by"]["element"], "443 : drop");
    assert_eq!(r1["tie"]["chains"][0]["table"], "b");
    assert_eq!(r1["tie"]["hook"], "input");
    assert!(r1["path"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |s| s["map_element"]["element"] == "443 : jump no" && s["map_element"]["key"] == "443"
        ));
}

#[test]
fn filter_input_errors_exit_2_with_the_line() {
    let bad = write("bad.rules", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m hashlimit --hashlimit-upto 5 -j ACCEPT\nCOMMIT\n");
    pathproof()
        .args([
            "filter",
            bad.to_str().unwrap(),
            "--packet",
            "tcp 1.2.3.4:1 -> 5.6.7.8:2",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(":3:"))
        .stderr(predicate::str::contains("hashlimit"));
    let rules = write("ok.rules", IPTABLES);
    pathproof()
        .args([
            "filter",
            rules.to_str().unwrap(),
            "--packet",
            "tcp 1.2.3.4 => 5.6.7.8",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--packet:1:"));
    pathproof()
        .args(["filter", rules.to_str().unwrap()])
        .assert()
        .code(2);
}

/// A reader that went away (`pathproof reach | head`) ends the output
/// quietly: no panic, the command's own exit code. The pipe's read end is
/// closed before the command starts, so every write meets EPIPE.
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    for args in [
        &["reach", "--format", "json"][..],
        &["trace", "--from", "client", "--to", "web:443"][..],
        &["examples", "--format", "json"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("pathproof"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// `trace --established`: the header says so, the stateful hop takes the
/// entry on trust; it goes through a forward proxy too.
#[test]
fn trace_of_an_earlier_connection() {
    let out = pathproof()
        .args([
            "trace",
            "stateless-acl",
            "--from",
            "files",
            "--to",
            "laptop:3389",
        ])
        .args(["--sport", "445", "--variant", "harden", "--established"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("a packet of a connection opened earlier"),
        "{text}"
    );
    assert!(text.contains("outcome: REACHED at laptop"), "{text}");
    assert!(
        text.contains("still agrees with office-acl's rules"),
        "{text}"
    );
    let via = pathproof()
        .args([
            "trace",
            "--from",
            "web",
            "--to",
            "api:8080",
            "--via",
            "proxy",
            "--established",
        ])
        .output()
        .expect("runs");
    assert_eq!(via.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&via.stdout).contains("opened earlier"));
}

/// Every command that takes a SCENARIO works without one, on the mini-lab,
/// and answers exactly as when `mini-lab` is named (a command that required
/// its scenario, as `diff --variant` once did, fails here).
#[test]
fn every_command_defaults_to_the_mini_lab() {
    let cases: &[&[&str]] = &[
        &["trace", "--from", "client", "--to", "www.example.com:443"],
        &["reach"],
        &["reach", "--format", "json"],
        &["check"],
        &["audit"],
        &["export", "nft"],
        &["diff", "--variant", "break"],
        &["diff", "--variant", "harden", "--format", "json"],
    ];
    for args in cases {
        let bare = pathproof().args(*args).output().unwrap();
        assert!(
            bare.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {}",
            String::from_utf8_lossy(&bare.stderr)
        );
        // The same command with the scenario named, in SCENARIO's place.
        let mut named: Vec<&str> = args.to_vec();
        let at = if args[0] == "export" { 2 } else { 1 };
        named.insert(at, "mini-lab");
        let with = pathproof().args(&named).output().unwrap();
        assert_eq!(bare.status.code(), with.status.code(), "{args:?}");
        assert_eq!(bare.stdout, with.stdout, "{args:?}");
    }
}
