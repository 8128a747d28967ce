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
