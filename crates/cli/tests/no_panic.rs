//! Every command's error path, end to end: scenarios with a problem at any
//! column (lines of hundreds of thousands of characters, wide characters,
//! tabs, CRLF), names of any length, and rule sets with long lines, given to
//! every command that reads a file. Each must exit 0, 1 or 2 with its
//! message, never panic (exit 101), and a problem must be shown with its
//! line and column.

use assert_cmd::Command;
use proptest::prelude::*;
use std::time::Duration;

fn pathproof() -> Command {
    let mut c = Command::cargo_bin("pathproof").expect("the binary is built");
    c.timeout(Duration::from_secs(60));
    c
}

fn dir() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pathproof-nopanic-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A filler of `n` characters: plain, wide (3-byte), 4-byte, or with tabs.
fn filler(kind: u8, n: usize) -> String {
    match kind % 4 {
        0 => "x".repeat(n),
        1 => "漢".repeat(n),
        2 => "🦀".repeat(n),
        _ => "ab\t".repeat(n / 3 + 1),
    }
}

/// A scenario with a problem placed after a long run of text on one line.
fn long_line_scenario(base: &str, line: usize, kind: u8, n: usize, crlf: bool) -> String {
    let lines: Vec<&str> = base.lines().collect();
    // Before a top-level key (or at the end): anywhere else, the new key
    // would cut a block in two and the problem reported would be the
    // block's rest, not this one.
    let tops: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with(|c: char| c.is_ascii_alphabetic()))
        .chain([lines.len()])
        .collect();
    let at = tops[line % tops.len()];
    // (YAML allows an implicit key of at most 1,024 characters: a longer
    // one is another problem, tested on its own below.)
    let bad = format!(
        "# {}\nbogus_{}: {{ key: 1 }}",
        filler(kind, n),
        filler(kind, (n / 2).min(300))
    );
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out.insert(at, bad);
    let mut text = out.join("\n");
    // A one-line flow mapping whose problem sits past the 65,536th column.
    if kind.is_multiple_of(2) {
        text = format!("{{name: {}, bogus: 1}}", filler(kind, n));
    }
    if crlf {
        text = text.replace('\n', "\r\n");
    }
    text
}

/// A valid scenario whose first host has a name of `n` characters, and a
/// broken copy of it (an unknown network named as long).
fn long_name_scenarios(n: usize) -> (String, String, String) {
    let name = format!("h{}", "x".repeat(n));
    let good = format!(
        "name: long\nnetworks:\n  lan: {{ cidr: 10.0.0.0/24 }}\nhosts:\n  {name}: {{ at: lan 10.0.0.1, listen: [\"tcp/22\"] }}\n  b: {{ at: lan 10.0.0.2 }}\nexpect:\n  - allow b -> {name}:22\n"
    );
    let bad = good.replace(
        "at: lan 10.0.0.1",
        &format!("at: n{} 10.0.0.1", "y".repeat(n)),
    );
    (good, bad, name)
}

/// Runs `args` and checks it ended as a command should: not by a panic, not
/// by a signal, and with a located message when it said the input was bad.
fn run(args: &[&str]) -> i32 {
    let out = pathproof().args(args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        !stderr.contains("panicked"),
        "{:?} panicked: {}",
        &args[..1],
        &stderr[..stderr.len().min(2000)]
    );
    let code = code.unwrap_or_else(|| panic!("{:?} ended by a signal", &args[..1]));
    assert!(
        [0, 1, 2].contains(&code),
        "{:?} exit {code}: {}",
        &args[..1],
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        stderr.len() < 64 * 1024,
        "{:?} wrote {} bytes of errors",
        &args[..1],
        stderr.len()
    );
    code
}

/// Every command that reads a scenario file, on `file`. Commands that would
/// act (serve, the lab) only run on files that cannot load: they must stop
/// at the load, before binding a port or touching the kernel.
fn every_command(file: &str, from: &str, to: &str, loads: bool) {
    let to_port = format!("{to}:22");
    let mut cmds: Vec<Vec<&str>> = vec![
        vec!["trace", file, "--from", from, "--to", &to_port],
        vec![
            "trace", file, "--from", from, "--to", &to_port, "--format", "json",
        ],
        vec!["reach", file],
        vec!["reach", file, "--format", "json"],
        vec!["check", file],
        vec!["check", file, "--format", "sarif"],
        vec!["audit", file],
        vec!["export", "nft", file],
        vec!["diff", file, file],
        vec!["diff", file, "--variant", "break"],
    ];
    if !loads {
        cmds.push(vec!["serve", file, "--port", "0"]);
        cmds.push(vec!["lab", "down", file]);
        cmds.push(vec!["lab", "up", file]);
        cmds.push(vec!["lab", "probe", file]);
    }
    for c in &cmds {
        let code = run(c);
        if !loads {
            assert_eq!(code, 2, "{c:?} on a broken file");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn a_problem_at_any_column_is_shown_not_a_panic(
        which in 0usize..64,
        line in 0usize..200,
        kind in 0u8..4,
        n in prop_oneof![1usize..200, 60_000usize..70_000, 150_000usize..200_000],
        crlf in any::<bool>(),
    ) {
        let all = pathproof_core::examples::ALL;
        let base = all[which % all.len()].text;
        let text = long_line_scenario(base, line, kind, n, crlf);
        let f = dir().join(format!("long-{which}-{line}-{kind}-{n}.yaml"));
        std::fs::write(&f, &text).unwrap();
        let file = f.to_str().unwrap();
        every_command(file, "client", "web", false);
        // The problem is reported at its line and column, with the text around it.
        let out = pathproof().args(["check", file]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let head: String = err.chars().take(500).collect();
        prop_assert!(err.contains(&format!("{file}:")), "{head}");
        prop_assert!(err.contains("bogus"), "{head}");
        std::fs::remove_file(&f).ok();
    }

    #[test]
    fn names_of_any_length_are_answered(n in prop_oneof![1usize..100, 60_000usize..70_000]) {
        let (good, bad, name) = long_name_scenarios(n);
        let d = dir();
        let (g, b) = (d.join(format!("name-good-{n}.yaml")), d.join(format!("name-bad-{n}.yaml")));
        std::fs::write(&g, &good).unwrap();
        std::fs::write(&b, &bad).unwrap();
        every_command(g.to_str().unwrap(), "b", &name, true);
        every_command(b.to_str().unwrap(), "b", &name, false);
        // Misspelt long names in a question: an error with a suggestion, cut to a readable size.
        let wrong = format!("{name}z");
        let code = run(&["trace", g.to_str().unwrap(), "--from", &wrong, "--to", "b:22"]);
        prop_assert_eq!(code, 2);
        std::fs::remove_file(&g).ok();
        std::fs::remove_file(&b).ok();
    }

    #[test]
    fn rule_sets_and_packets_with_long_lines(
        kind in 0u8..4,
        n in prop_oneof![1usize..100, 60_000usize..70_000],
        nft in any::<bool>(),
    ) {
        let d = dir();
        let rules = if nft {
            format!("table inet t {{\n  chain c {{ type filter hook input priority 0; policy drop; }}\n}}\n# {}\ntable inet u {{ chain d {{ {} }} }}\n", filler(kind, n), filler(kind, n))
        } else {
            format!("*filter\n:INPUT DROP [0:0]\n-A INPUT -s {} -j ACCEPT\nCOMMIT\n", filler(kind, n))
        };
        let r = d.join(format!("rules-{kind}-{n}-{nft}.txt"));
        std::fs::write(&r, rules).unwrap();
        // One argument may hold at most 128 KiB (MAX_ARG_STRLEN).
        let packet = format!("tcp 10.0.0.1:1 -> 10.0.0.2:{}", filler(kind, n.min(25_000)));
        prop_assert_eq!(run(&["filter", r.to_str().unwrap(), "--packet", "tcp 10.0.0.1:1 -> 10.0.0.2:22"]), 2);
        let good = d.join("good-rules.txt");
        std::fs::write(&good, "*filter\n:INPUT DROP [0:0]\nCOMMIT\n").unwrap();
        prop_assert_eq!(run(&["filter", good.to_str().unwrap(), "--packet", &packet]), 2);
        let pk = d.join(format!("packets-{kind}-{n}.txt"));
        std::fs::write(&pk, format!("tcp 10.0.0.1:1 -> 10.0.0.2:22\n{packet}\n")).unwrap();
        prop_assert_eq!(run(&["filter", good.to_str().unwrap(), "--packets", pk.to_str().unwrap()]), 2);
        std::fs::remove_file(&r).ok();
        std::fs::remove_file(&pk).ok();
    }
}

/// A key longer than YAML's 1,024 characters for an implicit key (in
/// characters of three bytes, past column 2,000): reported where it ends,
/// with exit code 2, not a panic.
#[test]
fn a_key_longer_than_yaml_allows_is_located() {
    let base = pathproof_core::examples::ALL[0].text;
    let text = format!("bogus_{}: {{ key: 1 }}\n{base}", "漢".repeat(2000));
    let f = dir().join("long-key.yaml");
    std::fs::write(&f, &text).unwrap();
    let file = f.to_str().unwrap();
    let out = pathproof().args(["check", file]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let head: String = err.chars().take(500).collect();
    assert!(err.contains(&format!("{file}:1:")), "{head}");
    assert!(!err.contains("panicked"), "{head}");
    std::fs::remove_file(&f).ok();
}
