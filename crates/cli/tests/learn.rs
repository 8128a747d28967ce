//! `pathproof learn`, end to end.

mod common;
use common::pathproof;

use predicates::prelude::*;

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
        let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pathproof-{name}-{}", std::process::id()));
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

#[test]
fn learn_shows_every_section_and_prints_the_diagram_as_mermaid() {
    for layer in ["1", "2", "3", "4"] {
        let out = pathproof()
            .args(["learn", "ssrf", "--layer", layer])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for section in [
            "Key takeaway",
            "Security lens",
            "Trust question",
            "Failure mode",
            "Attacker's goal",
            "Why this matters in real systems",
            "How engineers get this wrong",
            "Common misconceptions",
            "```mermaid\n",
            "A real incident: ",
            "  source: https://",
            "Predict, then see",
            "Hands on",
            "Regression check",
            "On-call signal",
        ] {
            assert!(
                text.contains(section),
                "layer {layer}: no `{section}` in\n{text}"
            );
        }
        let mermaid = text.split("```mermaid\n").nth(1).unwrap();
        assert!(mermaid.starts_with("flowchart ") || mermaid.starts_with("sequenceDiagram"));
    }
}

#[test]
fn the_quiz_asks_reads_stdin_then_shows_the_engine_and_the_verdict() {
    let lesson = pathproof_core::lessons::get("checkpoint").unwrap();
    let two = &lesson.layers[1];
    // Layer 2: first refused (right: `2` is refused among the choices), then `dropped` for a reject (half right).
    let out = pathproof()
        .args(["learn", "checkpoint", "--layer", "2", "--quiz"])
        .write_stdin("refused\ndropped\n")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let q1 = text.find(&two.predict[0].question).unwrap();
    let prompt = text[q1..].find("your prediction").unwrap() + q1;
    let engine = text[q1..].find("engine: REFUSED").unwrap() + q1;
    assert!(
        prompt < engine,
        "the question is asked before the answer is shown:\n{text}"
    );
    assert!(text.contains("right: you said refused"), "{text}");
    assert!(text.contains("half right: you said dropped"), "{text}");
    assert!(text.contains("score: 1 of 2 predictions right"), "{text}");
    // Numbers work too, and a bad answer is asked again; no input means no prediction.
    let out = pathproof()
        .args(["learn", "checkpoint", "--layer", "1", "--quiz"])
        .write_stdin("9\n1\n")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("`9` is not one of the choices"), "{text}");
    assert!(text.contains("right: you said reached"), "{text}");
    assert!(text.contains("no prediction"), "{text}");
    // --quiz needs a lesson.
    pathproof().args(["learn", "--quiz"]).assert().code(2);
}

/// Every `pathproof ...` command a lesson shows in backticks is a valid
/// command line (the stateful lesson once showed `trace files -> laptop:3389`,
/// which a shell reads as a redirection), and every trace among them runs.
#[test]
fn every_command_in_a_lesson_is_a_valid_command_line() {
    let mut checked = 0;
    for l in pathproof_core::lessons::all().unwrap() {
        for layer in &l.layers {
            let mut texts: Vec<&str> = vec![layer.body.as_str()];
            texts.extend(layer.hands_on.iter().map(|h| h.text.as_str()));
            texts.extend(layer.misconceptions.iter().map(String::as_str));
            for t in texts {
                let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                for (i, span) in t.split('`').enumerate() {
                    if i % 2 == 0 || !span.starts_with("pathproof ") {
                        continue;
                    }
                    assert!(
                        !span.contains("->") && !span.contains('>'),
                        "{} layer {}: `{span}`",
                        l.id,
                        layer.level
                    );
                    let words: Vec<&str> = span.split_whitespace().skip(1).collect();
                    // Commands that need root, a browser or a port are parsed, not run.
                    let run = matches!(
                        words.first(),
                        Some(
                            &("trace"
                                | "check"
                                | "reach"
                                | "diff"
                                | "audit"
                                | "tool"
                                | "examples"
                                | "export")
                        )
                    );
                    if !run || words.iter().any(|w| w.ends_with(".yaml")) {
                        continue;
                    }
                    let out = pathproof().args(&words).output().unwrap();
                    assert!(
                        out.status.code() == Some(0) || out.status.code() == Some(1),
                        "{} layer {}: `{span}` exits {:?}: {}",
                        l.id,
                        layer.level,
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 10, "{checked} commands");
}
