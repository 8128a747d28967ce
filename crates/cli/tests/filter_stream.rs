//! `pathproof filter RULESET --packets FILE` streams: what a bad line does (and
//! `--strict`), the JSON document as one packet at a time gives it, and memory
//! that does not grow with the file (the child's peak RSS, from wait4).

mod common;
use common::pathproof;

use predicates::prelude::*;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    common::write_in("filter-stream", name, text)
}

const IPTABLES: &str = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:SSH - [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j SSH\n-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT\n-A SSH -s 10.0.0.0/8 -j ACCEPT\n-A SSH -j REJECT --reject-with tcp-reset\nCOMMIT\n";

/// Lines 1-4 good (one blank, one comment), line 5 bad, line 6 good, line 7 bad.
const PACKETS: &str = "tcp 10.0.0.1:40000 -> 10.0.0.2:22\n# a comment\n\nudp 192.0.2.1:5 -> 10.0.0.2:53\n  tcp 10.0.0.1:1 => 10.0.0.2:22\ntcp 192.0.2.1:40000 -> 10.0.0.2:443\nnot a packet\n";

#[test]
fn a_bad_line_stops_the_stream_after_the_good_lines_before_it() {
    let rules = write("rules", IPTABLES);
    let packets = write("packets.txt", PACKETS);
    let p = packets.to_str().unwrap();
    let out = pathproof()
        .args(["filter", rules.to_str().unwrap(), "--packets", p])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{p}: line 5 is not a packet; the 2 packets before it are decided above, none after it"
        )))
        .stderr(predicate::str::contains(format!(
            "{p}:5:18: expected `->`, got \"=>\""
        )))
        .stderr(predicate::str::contains("help: a packet is PROTO"))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("accept  line 9: -A SSH -s 10.0.0.0/8 -j ACCEPT\ttcp 10.0.0.1:40000")
    );
    assert!(lines[1]
        .starts_with("drop    line 2: policy of chain INPUT (table filter)\tudp 192.0.2.1:5"));
    // JSON: a whole document of the packets before it.
    let out = pathproof()
        .args([
            "filter",
            rules.to_str().unwrap(),
            "--packets",
            p,
            "--format",
            "json",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{p}:5:18:")))
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["packet_line"], 4);
}

#[test]
fn strict_prints_nothing_when_a_line_is_bad() {
    let rules = write("rules", IPTABLES);
    let packets = write("packets.txt", PACKETS);
    let p = packets.to_str().unwrap();
    for format in ["text", "json"] {
        pathproof()
            .args([
                "filter",
                rules.to_str().unwrap(),
                "--packets",
                p,
                "--strict",
                "--format",
                format,
            ])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!(
                "error: 2 lines of {p} are not a packet; nothing was decided (--strict)"
            )))
            .stderr(predicate::str::contains(format!("{p}:5:18: expected `->`")))
            .stderr(predicate::str::contains(format!(
                "{p}:7:1: expected a protocol"
            )));
    }
    // With every line good, --strict prints what the stream prints.
    let good = write(
        "good.txt",
        &PACKETS.replace("=>", "->").replace("not a packet\n", ""),
    );
    let plain = common::stdout_of(&[
        "filter",
        rules.to_str().unwrap(),
        "--packets",
        good.to_str().unwrap(),
    ]);
    pathproof()
        .args([
            "filter",
            rules.to_str().unwrap(),
            "--packets",
            good.to_str().unwrap(),
            "--strict",
        ])
        .assert()
        .success()
        .stdout(predicate::eq(plain));
}

/// The streamed JSON document is, byte for byte, the one built whole from the
/// packets' decisions (each taken from `--packet` alone), with no packet and with
/// several; notes and ties included.
#[test]
fn streamed_json_is_the_whole_document() {
    let nft = "table ip a {\n  map ports {\n    type inet_service : verdict\n    elements = { 22 : accept, 443 : drop }\n  }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport vmap @ports\n  }\n}\ntable inet b {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport vmap { 443 : jump no }\n  }\n  chain no {\n    reject\n  }\n}\ntable ip nat {\n  chain pre {\n    type nat hook prerouting priority -100;\n  }\n}\n";
    let rules = write("rules.nft", nft);
    let r = rules.to_str().unwrap();
    let lines = [
        "tcp 10.1.2.3:5555 -> 10.0.0.2:22",
        "  tcp 10.1.2.3:5555 -> 10.0.0.2:443 state established",
        "udp 10.1.2.3:5 -> 10.0.0.2:53",
        "icmp 10.1.2.3 -> 10.0.0.2 hook forward",
    ];
    for n in [0, 1, lines.len()] {
        let file = write(&format!("p{n}.txt"), &(lines[..n].join("\n") + "\n"));
        let got = common::stdout_of(&[
            "filter",
            r,
            "--packets",
            file.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let mut results = Vec::new();
        let mut notes = serde_json::Value::Null;
        for (i, l) in lines[..n].iter().enumerate() {
            let one = common::stdout_of(&["filter", r, "--packet", l.trim(), "--format", "json"]);
            let mut v: serde_json::Value = serde_json::from_slice(&one).unwrap();
            let mut x = v["results"][0].take();
            x["packet_line"] = (i + 1).into();
            results.push(x);
            notes = v["notes"].take();
        }
        if n == 0 {
            let one = pathproof()
                .args(["filter", r, "--packet", lines[0], "--format", "json"])
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
            notes = v["notes"].clone();
        }
        assert!(
            !notes.as_array().unwrap().is_empty(),
            "the nat table gives a note"
        );
        let want = serde_json::json!({ "ruleset": r, "notes": notes, "results": results });
        let want = serde_json::to_string_pretty(&want).unwrap() + "\n";
        assert_eq!(String::from_utf8(got).unwrap(), want, "{n} packets");
    }
}

/// Peak resident memory (KiB) of `pathproof ARGS` run to the end, its output thrown
/// away; from the child's own rusage (wait4), not from timing.
// The child is reaped by wait4, which clippy does not see.
#[allow(clippy::zombie_processes)]
fn peak_kib(args: &[&str]) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pathproof"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value to fill in; the pid is our child's,
    // not yet waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert_eq!(
        std::process::ExitStatus::from_raw(status).code(),
        Some(0),
        "pathproof {args:?}"
    );
    usage.ru_maxrss
}

/// Memory does not grow with the number of packets: ten times the packets (300,000
/// lines, 11 MB, which held whole took hundreds of MB) adds next to nothing to the
/// peak, and the peak stays under 64 MiB; JSON (90,000 packets) stays near the text's.
#[test]
fn memory_does_not_grow_with_the_packets() {
    let rules = write("mem.rules", IPTABLES);
    let mut small = String::new();
    let lines = [
        "tcp 10.0.0.1:40000 -> 10.0.0.2:22\n",
        "udp 192.0.2.1:5 -> 10.0.0.2:53 state established\n",
        "tcp 192.0.2.1:40000 -> 10.0.0.2:443\n",
    ];
    for i in 0..30_000 {
        small.push_str(lines[i % 3]);
    }
    let small_file = write("mem-small.txt", &small);
    let big_file = write("mem-big.txt", &small.repeat(10));
    let r = rules.to_str().unwrap();
    let small_kib = peak_kib(&["filter", r, "--packets", small_file.to_str().unwrap()]);
    let big_kib = peak_kib(&["filter", r, "--packets", big_file.to_str().unwrap()]);
    eprintln!("peak RSS: 30,000 packets {small_kib} KiB, 300,000 packets {big_kib} KiB");
    assert!(big_kib < 64 * 1024, "{big_kib} KiB");
    assert!(
        big_kib < small_kib + 8 * 1024,
        "{small_kib} KiB -> {big_kib} KiB"
    );
    // JSON is about 600 bytes a packet: 100,000 of them held whole would be 60 MB.
    let json_file = write("mem-json.txt", &small.repeat(3));
    let json_kib = peak_kib(&[
        "filter",
        r,
        "--packets",
        json_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    eprintln!("peak RSS: 90,000 packets as JSON {json_kib} KiB");
    assert!(json_kib < small_kib + 16 * 1024, "JSON: {json_kib} KiB");
}
