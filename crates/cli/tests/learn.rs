//! `pathproof learn`, end to end.

use assert_cmd::Command;
use predicates::prelude::*;

fn pathproof() -> Command {
    Command::cargo_bin("pathproof").unwrap()
}

#[test]
fn learn_lists_every_lesson_with_its_scenario() {
    let out = pathproof().arg("learn").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for l in pathproof_core::lessons::all().unwrap() {
        let line = text
            .lines()
            .find(|x| x.split_whitespace().next() == Some(l.id.as_str()))
            .unwrap_or_else(|| panic!("{} missing from:\n{text}", l.id));
        assert!(
            line.contains(&l.scenario) && line.contains(&l.title),
            "{line}"
        );
    }
}

#[test]
fn learn_shows_one_layer_with_live_traces() {
    pathproof()
        .args(["learn", "checkpoint", "--layer", "4"])
        .assert()
        .success()
        .stdout(predicate::str::contains("layer 4: Security architect"))
        .stdout(predicate::str::contains(
            "After the break, will web reach 169.254.169.254:80?",
        ))
        .stdout(predicate::str::contains(
            "$ pathproof trace mini-lab --from web --to 169.254.169.254:80 --variant break",
        ))
        .stdout(predicate::str::contains("engine: REACHED at metadata"))
        .stdout(predicate::str::contains("the lesson's answer: reached\n"))
        .stdout(predicate::str::contains("Hands on"))
        .stdout(predicate::str::contains("(the engine disagrees)").not());
}

#[test]
fn learn_layers_differ_and_default_to_one() {
    let one = pathproof().args(["learn", "stateful"]).output().unwrap();
    let four = pathproof()
        .args(["learn", "stateful", "--layer", "4"])
        .output()
        .unwrap();
    let one = String::from_utf8(one.stdout).unwrap();
    assert!(one.contains("layer 1: School student"));
    assert_ne!(one, String::from_utf8(four.stdout).unwrap());
    // The question comes before the engine's answer.
    let q = one.find("1. Will the laptop").unwrap();
    let a = one.find("engine: REACHED").unwrap();
    assert!(q < a);
}

#[test]
fn learn_output_is_deterministic() {
    let a = pathproof()
        .args(["learn", "split-dns", "--layer", "2"])
        .output()
        .unwrap();
    let b = pathproof()
        .args(["learn", "split-dns", "--layer", "2"])
        .output()
        .unwrap();
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn unknown_lesson_exits_2_with_a_suggestion() {
    pathproof()
        .args(["learn", "chekpoint"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no lesson named `chekpoint`"))
        .stderr(predicate::str::contains("did you mean `checkpoint`?"));
    pathproof()
        .args(["learn", "zzzzzzzzzz"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("lessons: checkpoint"));
}

#[test]
fn layer_out_of_range_is_an_error() {
    pathproof()
        .args(["learn", "checkpoint", "--layer", "5"])
        .assert()
        .code(2);
}

#[test]
fn learn_takes_a_prefix_an_alias_or_a_word() {
    // As the issue writes it.
    pathproof()
        .args(["learn", "ssrf", "--layer", "3"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "SSRF to the metadata endpoint (ssrf-metadata), layer 3: Engineer\n",
        ));
    for (q, id) in [
        ("xff", "proxy-xff"),
        ("conntrack", "stateful"),
        ("IPv6", "ipv6-bypass"),
    ] {
        pathproof()
            .args(["learn", q])
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("({id}), layer 1")));
    }
    pathproof()
        .args(["learn", "s"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`s` could be more than one lesson",
        ))
        .stderr(predicate::str::contains("ssrf-metadata"));
}

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("pathproof-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An instructor's lesson: the checkpoint lesson retold on `labs/gate.yaml`,
/// a copy of the mini-lab beside it.
fn instructor_dir(name: &str) -> TempDir {
    let d = TempDir::new(name);
    let lesson = include_str!("../../../scenarios/lessons/01-checkpoint.yaml")
        .replacen("id: checkpoint", "id: my-gate", 1)
        .replacen("aliases: [firewall]", "aliases: [gatehouse]", 1)
        .replacen("scenario: mini-lab", "scenario: labs/gate.yaml", 1)
        .replace("mini-lab.yaml", "gate.yaml");
    d.write("01-my-gate.yaml", &lesson);
    d.write(
        "labs/gate.yaml",
        &include_str!("../../../scenarios/mini-lab.yaml").replacen(
            "name: mini-lab",
            "name: gate",
            1,
        ),
    );
    d
}

#[test]
fn learn_reads_an_instructors_lessons_from_a_directory() {
    let d = instructor_dir("learn-ok");
    let out = pathproof()
        .args(["learn", "--lessons", d.path()])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.lines().any(|l| l.starts_with("checkpoint ")), "{text}");
    let mine = text
        .lines()
        .find(|l| l.starts_with("my-gate "))
        .expect(&text);
    assert!(
        mine.contains("labs/gate.yaml") && mine.contains("01-my-gate.yaml"),
        "{mine}"
    );
    let scn = format!("{}/labs/gate.yaml", d.path());
    pathproof()
        .args(["learn", "gatehouse", "--layer", "4", "--lessons", d.path()])
        .assert()
        .success()
        .stdout(predicate::str::contains("(my-gate), layer 4"))
        .stdout(predicate::str::contains(format!(
            "$ pathproof trace {scn} --from web --to 169.254.169.254:80 --variant break"
        )))
        .stdout(predicate::str::contains("engine: REACHED at metadata"))
        .stdout(predicate::str::contains("(the engine disagrees)").not());
    // The command it prints runs.
    pathproof()
        .args([
            "trace",
            &scn,
            "--from",
            "web",
            "--to",
            "169.254.169.254:80",
            "--variant",
            "break",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("in gate, variant break"));
}

#[test]
fn a_bad_lesson_in_the_directory_exits_2_with_file_and_line() {
    let d = instructor_dir("learn-bad");
    let path = d.0.join("01-my-gate.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = text.replacen("        answer: dropped\n", "        answer: refused\n", 1);
    std::fs::write(&path, &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.contains("door 22 of the web house"))
        .unwrap()
        + 1;
    pathproof()
        .args(["learn", "--lessons", d.path()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:{line}:1: layer 1 question 2: the lesson's answer is `refused`, but the engine computes `dropped`",
            path.display()
        )));
    // The same for serve, which refuses to start.
    pathproof()
        .args(["serve", "--port", "0", "--lessons", d.path()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("engine computes `dropped`"));
    pathproof()
        .args(["learn", "--lessons", "/no/such/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a directory"));
}
