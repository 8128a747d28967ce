//! The lessons: every file loads, is complete at every layer, runs on a
//! built-in scenario with `break` and `harden` variants, and every
//! predict-then-see answer is what the engine computes. The last part is the
//! teacher's guarantee: a lesson never tells a student something the
//! simulator contradicts.

use std::collections::BTreeSet;

use pathproof_core::evidence::{Fact, OutcomeKind, Stage};
use pathproof_core::lessons::{self, Lesson, LessonError};
use pathproof_core::{examples, load};

fn all() -> Vec<Lesson> {
    match lessons::all() {
        Ok(l) => l,
        Err(e) => panic!("the lessons do not load: {e}"),
    }
}

#[test]
fn every_lesson_loads_and_ids_are_unique() {
    let all = all();
    assert_eq!(all.len(), lessons::FILES.len());
    let ids: BTreeSet<&str> = all.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "lesson ids must be unique");
    for l in &all {
        assert_eq!(lessons::get(&l.id).as_ref(), Some(l));
        // The file name is NN-ID.yaml, so the directory listing reads in order.
        let name = l.file.rsplit('/').next().unwrap();
        assert!(
            name.ends_with(&format!("-{}.yaml", l.id)),
            "{} should be named NN-{}.yaml",
            l.file,
            l.id
        );
    }
    assert!(lessons::get("no-such-lesson").is_none());
}

#[test]
fn every_lesson_file_in_the_directory_is_embedded() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/lessons");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("scenarios/lessons exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("scenarios/lessons/{n}"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = lessons::FILES.iter().map(|(f, _)| f.to_string()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "a file in scenarios/lessons is a built-in lesson: add it to FILES in crates/core/src/lessons.rs (lessons an instructor hands out need no Rust: `--lessons DIR`)"
    );
}

#[test]
fn every_layer_is_complete() {
    for l in all() {
        assert!(!l.title.trim().is_empty() && !l.summary.trim().is_empty());
        let levels: Vec<u8> = l.layers.iter().map(|x| x.level).collect();
        assert_eq!(
            levels,
            vec![1, 2, 3, 4],
            "{}: layers 1 to 4, once each",
            l.id
        );
        for layer in &l.layers {
            let at = format!("{} layer {}", l.id, layer.level);
            assert_eq!(
                layer.name,
                lessons::LAYER_NAMES[layer.level as usize - 1],
                "{at}"
            );
            for (key, text) in [
                ("takeaway", &layer.takeaway),
                ("attacker_goal", &layer.attacker_goal),
                ("trust_question", &layer.trust_question),
                ("failure_mode", &layer.failure_mode),
                ("mental_model", &layer.mental_model),
                ("security_lens", &layer.security_lens),
                ("why_it_matters", &layer.why_it_matters),
                ("engineers_get_wrong", &layer.engineers_get_wrong),
                ("incident.text", &layer.incident.text),
                ("signal", &layer.signal),
                ("body", &layer.body),
            ] {
                assert!(text.trim().len() >= 20, "{at}: `{key}` is too short");
            }
            assert!(!layer.misconceptions.is_empty(), "{at}: misconceptions");
            assert!(!layer.predict.is_empty(), "{at}: predict");
            assert!(!layer.hands_on.is_empty(), "{at}: hands_on");
            for p in &layer.predict {
                assert!(!p.question.trim().is_empty() && !p.explain.trim().is_empty());
            }
        }
    }
}

#[test]
fn layers_are_told_differently() {
    // The same sentence reworded is not a new layer: no field repeats
    // verbatim between two layers of one lesson.
    for l in all() {
        let mut seen = BTreeSet::new();
        for layer in &l.layers {
            for text in [
                &layer.takeaway,
                &layer.attacker_goal,
                &layer.trust_question,
                &layer.failure_mode,
                &layer.mental_model,
                &layer.body,
            ]
            .into_iter()
            .chain(layer.misconceptions.iter())
            .chain(layer.hands_on.iter().map(|h| &h.text))
            {
                assert!(
                    seen.insert(text.clone()),
                    "{} layer {} repeats: {text}",
                    l.id,
                    layer.level
                );
            }
        }
    }
}

#[test]
fn every_lesson_runs_on_a_builtin_with_break_and_harden() {
    for l in all() {
        let e = examples::get(&l.scenario)
            .unwrap_or_else(|| panic!("{}: no built-in scenario {}", l.id, l.scenario));
        let scn = load(&e.file(), e.text, None).expect("built-ins load");
        let names: Vec<&str> = scn.variants.iter().map(|v| v.name.as_str()).collect();
        for v in ["break", "harden"] {
            assert!(names.contains(&v), "{}: {} has no `{v}`", l.id, l.scenario);
        }
        // At least one question per lesson (a trace or a simulation) shows
        // each variant.
        let used: BTreeSet<Option<&str>> = l
            .layers
            .iter()
            .flat_map(|x| {
                x.predict
                    .iter()
                    .map(|p| p.variant.as_deref())
                    .chain(x.simulate.iter().map(|q| q.variant.as_deref()))
            })
            .collect();
        assert!(used.contains(&Some("break")), "{}: no break question", l.id);
        assert!(
            used.contains(&Some("harden")),
            "{}: no harden question",
            l.id
        );
    }
}

#[test]
fn every_prediction_matches_the_engine() {
    let mut wrong = Vec::new();
    for l in all() {
        let results = lessons::check(&l);
        let count: usize = l.layers.iter().map(|x| x.predict.len()).sum();
        assert_eq!(results.len(), count);
        for r in results {
            if !r.ok {
                wrong.push(format!(
                    "{} layer {} question {} ({:?}): expected {}, engine says {}{}",
                    l.id,
                    r.level,
                    r.index + 1,
                    r.question,
                    lessons::outcome_key(r.expected),
                    r.actual.map(lessons::outcome_key).unwrap_or("no trace"),
                    r.error.map(|e| format!(": {e}")).unwrap_or_default()
                ));
            } else {
                assert!(r.trace.is_some());
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn check_reports_a_wrong_answer() {
    let mut l = lessons::get("checkpoint").expect("the checkpoint lesson");
    l.layers[0].predict[0].answer = OutcomeKind::Dropped;
    let r = &lessons::check(&l)[0];
    assert!(!r.ok);
    assert_eq!(r.actual, Some(OutcomeKind::Reached));
    l.layers[0].predict[0].from = "nobody".into();
    let r = &lessons::check(&l)[0];
    assert!(!r.ok && r.actual.is_none());
    assert!(r.error.as_deref().unwrap_or("").contains("nobody"));
}

#[test]
fn every_topic_of_the_course_is_covered() {
    let all = all();
    assert!(all.len() >= 16, "at least sixteen lessons");
    let ids: BTreeSet<&str> = all.iter().map(|l| l.id.as_str()).collect();
    for (id, scenario) in [
        ("checkpoint", "mini-lab"),
        ("stateful", "stateless-acl"),
        ("nat-egress", "nat-egress"),
        ("split-dns", "split-dns"),
        ("segmentation", "segmentation"),
        ("ssrf-metadata", "ssrf-metadata"),
        ("tls-verify", "tls-identity"),
        ("mtls", "tls-identity"),
        ("ipv6-bypass", "dual-stack"),
        ("proxy-xff", "proxy-xff"),
        ("routing", "routing"),
        ("tls13", "tls-mitm"),
        ("tls-mitm", "tls-mitm"),
        ("dns-spoofing", "dns-spoofing"),
        ("neighbour-spoofing", "lan-spoofing"),
        ("scanner", "mini-lab"),
        ("pod-egress", "pod-egress"),
        ("cloud-acl", "cloud-acl"),
        ("handshake", "syn-flood"),
        ("syn-cookies", "syn-flood"),
        ("rate-limits", "login-limits"),
        ("ddos-layers", "ddos-layers"),
    ] {
        assert!(ids.contains(id), "missing lesson `{id}`");
        assert_eq!(lessons::get(id).unwrap().scenario, scenario, "{id}");
    }
}

#[test]
fn predictions_ask_the_query_they_describe() {
    let l = lessons::get("stateful").unwrap();
    let p = l.layers[1]
        .predict
        .iter()
        .find(|p| p.sport.is_some())
        .expect("a source-port question");
    let q = p.query();
    assert_eq!((q.from.as_str(), q.to.as_str()), ("files", "laptop:3389"));
    assert_eq!(q.sport, Some(445));
    assert_eq!(
        p.command(&l.scenario),
        "pathproof trace stateless-acl --from files --to laptop:3389 --sport 445"
    );
}

#[test]
fn bad_lesson_files_name_the_line_and_the_problem() {
    let good = lessons::FILES[0].1;
    // An outcome that does not exist, with a suggestion.
    let bad = good.replacen("answer: reached", "answer: reachd", 1);
    let line = bad
        .lines()
        .position(|l| l.contains("answer: reachd"))
        .unwrap() as u32
        + 1;
    let e = lessons::parse("x.yaml", &bad).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("x.yaml", line), "{e}");
    assert!(
        e.message.contains("reachd") && e.message.contains("reached"),
        "{e}"
    );
    assert!(e.to_string().starts_with(&format!("x.yaml:{line}:")));

    // An unknown key.
    let bad = good.replacen("    takeaway:", "    takeway:", 1);
    let e = lessons::parse("x.yaml", &bad).unwrap_err();
    assert!(e.message.contains("takeway"), "{e}");
    assert!(e.line > 1, "{e}");

    // A scenario that is not built in.
    let bad = good.replacen("scenario: mini-lab", "scenario: mini-lb", 1);
    let e = lessons::parse("x.yaml", &bad).unwrap_err();
    let line = bad.lines().position(|l| l == "scenario: mini-lb").unwrap() as u32 + 1;
    assert_eq!(e.line, line, "{e}");
    assert!(e.message.contains("mini-lab"), "{e}");

    // A missing layer.
    let cut = good.find("  - level: 4").unwrap();
    let e = lessons::parse("x.yaml", &good[..cut]).unwrap_err();
    assert!(e.message.contains("no layer 4"), "{e}");

    // A level given twice.
    let bad = good.replacen("  - level: 4", "  - level: 3", 1);
    let e = lessons::parse("x.yaml", &bad).unwrap_err();
    assert!(e.message.contains("layer 3 is given twice"), "{e}");

    // An empty list.
    let start = good.find("    misconceptions:").unwrap();
    let end = start + good[start..].find("    security_lens:").unwrap();
    let bad = format!("{}    misconceptions: []\n{}", &good[..start], &good[end..]);
    let e = lessons::parse("x.yaml", &bad).unwrap_err();
    assert!(e.message.contains("misconceptions"), "{e}");

    // A bad protocol.
    let bad = good.replacen(
        "        from: client\n",
        "        proto: sctp\n        from: client\n",
        1,
    );
    let e = lessons::parse("x.yaml", &bad).unwrap_err();
    assert!(e.message.contains("sctp"), "{e}");

    // Not YAML at all.
    let e = lessons::parse("x.yaml", "id: [unclosed").unwrap_err();
    assert_eq!(e.file, "x.yaml");
}

#[test]
fn lessons_serialise_to_json() {
    let l = lessons::get("checkpoint").unwrap();
    let v = serde_json::to_value(&l).unwrap();
    assert_eq!(v["layers"][3]["predict"][0]["answer"], "reached");
    assert_eq!(v["layers"][0]["predict"][0]["proto"], "tcp");
    let r = serde_json::to_value(lessons::check(&l)).unwrap();
    assert_eq!(r[0]["ok"], true);
}

#[test]
fn words_exist_for_every_fact_and_stage_at_every_layer() {
    let facts = [
        Fact::SourceAddress,
        Fact::Destination,
        Fact::Service,
        Fact::Connection,
        Fact::NameMapping,
        Fact::NextHop,
        Fact::ServerIdentity,
        Fact::ClientIdentity,
        Fact::ClientAddress,
        Fact::Confidentiality,
        Fact::Content,
    ];
    let stages = [
        Stage::Resolve,
        Stage::Send,
        Stage::Conntrack,
        Stage::Dnat,
        Stage::Martian,
        Stage::ReversePath,
        Stage::Route,
        Stage::Filter,
        Stage::Snat,
        Stage::Link,
        Stage::Socket,
        Stage::Tls,
        Stage::Proxy,
        Stage::Receive,
    ];
    for level in 1..=4 {
        for f in facts {
            assert!(lessons::fact_words(f, level).len() > 20);
        }
        for s in stages {
            assert!(lessons::stage_words(s, level).len() > 20);
        }
    }
    for s in stages {
        let w: BTreeSet<&str> = (1..=4).map(|l| lessons::stage_words(s, l)).collect();
        assert_eq!(w.len(), 4, "{s:?}: four different wordings");
    }
}

fn text_of(lesson: &Lesson) -> &'static str {
    lessons::FILES
        .iter()
        .find(|(f, _)| *f == lesson.file)
        .map(|(_, t)| *t)
        .expect("a built-in lesson's file is embedded")
}

fn show(errs: &[LessonError]) -> String {
    errs.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_builtin_lesson_passes_the_checks_external_lessons_get() {
    for l in all() {
        assert!(l.builtin && l.builtin_scenario, "{}", l.id);
        let errs = lessons::validate(&l, text_of(&l));
        assert!(errs.is_empty(), "{}:\n{}", l.id, show(&errs));
    }
}

/// The numbers of every citation of a scenario line in a lesson file: the
/// byte offset of the digits and their value.
fn cited_numbers(text: &str) -> Vec<(usize, usize, u32)> {
    let mut out = Vec::new();
    for marker in [".yaml line ", ".yaml lines ", ".yaml:", "(line "] {
        let mut from = 0;
        while let Some(p) = text[from..].find(marker) {
            let at = from + p + marker.len();
            from = at;
            let n = text[at..].bytes().take_while(u8::is_ascii_digit).count();
            if n > 0 {
                out.push((at, at + n, text[at..at + n].parse().unwrap()));
            }
        }
    }
    out
}

#[test]
fn every_cited_scenario_line_holds_the_declaration_the_text_quotes() {
    // validate passes on every built-in (above); here each citation is moved
    // by one line, and validate must notice every time: no citation goes
    // unchecked.
    let mut total = 0;
    for l in all() {
        let text = text_of(&l);
        for (a, b, n) in cited_numbers(text) {
            total += 1;
            for moved in [n + 1, n.saturating_sub(1)] {
                let bad = format!("{}{moved}{}", &text[..a], &text[b..]);
                let lesson = lessons::parse(&l.file, &bad).unwrap();
                let errs = lessons::validate(&lesson, &bad);
                assert!(
                    errs.iter().any(|e| e.message.contains("cites")),
                    "{}: citing line {moved} instead of {n} went unnoticed",
                    l.file
                );
            }
        }
    }
    assert!(total >= 6, "only {total} citations found");
    // The error says where the quoted declaration really is.
    let l = lessons::get("checkpoint").unwrap();
    let bad = text_of(&l).replacen("mini-lab.yaml line 25", "mini-lab.yaml line 24", 1);
    let errs = lessons::validate(&lessons::parse(&l.file, &bad).unwrap(), &bad);
    let e = errs.iter().find(|e| e.message.contains("line 24")).unwrap();
    assert!(e.message.contains("is on line 25"), "{e}");
    let want = bad
        .lines()
        .position(|x| x.contains("mini-lab.yaml line 24"))
        .unwrap() as u32
        + 1;
    assert_eq!(e.line, want, "{e}");
    // A bare line number that nothing could check is an error too.
    let bad = text_of(&l).replacen(
        "The guard checked the door number",
        "See line 12. The guard checked the door number",
        1,
    );
    let errs = lessons::validate(&lessons::parse(&l.file, &bad).unwrap(), &bad);
    assert!(
        errs.iter().any(|e| e.message.contains("nothing checks")),
        "{}",
        show(&errs)
    );
}

#[test]
fn validate_names_each_mistake_at_its_line() {
    let l = lessons::get("checkpoint").unwrap();
    let good = text_of(&l);
    let check = |bad: &str, needle: &str| -> LessonError {
        let lesson = lessons::parse("x/01-x.yaml", bad).unwrap();
        let errs = lessons::validate(&lesson, bad);
        errs.into_iter()
            .find(|e| e.message.contains(needle))
            .unwrap_or_else(|| panic!("no error containing `{needle}`"))
    };
    let line_of = |text: &str, needle: &str| {
        text.lines().position(|x| x.contains(needle)).unwrap() as u32 + 1
    };
    // A prediction the engine contradicts, at the question's line.
    let bad = good.replacen("        answer: dropped\n", "        answer: refused\n", 1);
    let e = check(&bad, "engine computes `dropped`");
    assert_eq!(e.file, "x/01-x.yaml");
    assert_eq!(
        e.line,
        line_of(&bad, "Will the client reach door 22 of the web house"),
        "{e}"
    );
    assert!(
        e.message
            .contains("pathproof trace mini-lab --from client --to web:22"),
        "{e}"
    );
    // A layer under the wrong name.
    let bad = good.replacen("name: Engineer", "name: Engineers", 1);
    let e = check(&bad, "`Engineer`");
    assert_eq!(e.line, line_of(&bad, "- level: 3"));
    // A section that is no sentence.
    let start = good
        .find("    takeaway: >-\n      Know which rule")
        .unwrap();
    let end = start + good[start..].find("    attacker_goal:").unwrap();
    let bad = format!("{}    takeaway: TODO\n{}", &good[..start], &good[end..]);
    let e = check(&bad, "too short");
    assert_eq!(e.line, line_of(&bad, "takeaway: TODO"), "{e}");
    // The same words at two layers.
    let bad = good.replacen(
        "Know which rule decided, on which device, in which hook. A verdict you\n      cannot tie to a rule line is a verdict you cannot safely change.",
        "A packet filter decides on header fields: protocol, addresses, ports and\n      connection state. The allow rule on edge proves the destination and the\n      port; the client's identity and the payload stay unproven.",
        1,
    );
    check(&bad, "repeats layer 2 word for word");
    // No harden question.
    let bad = good.replace("variant: harden", "variant: break");
    check(
        &bad,
        "no predict-then-see question uses the `harden` variant",
    );
    // A variant that does not exist.
    let bad = good.replacen("        variant: break\n", "        variant: brake\n", 1);
    check(&bad, "cannot be traced");
}

/// A lesson directory in memory: path -> text, as the CLI would read it.
fn dir(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

/// The checkpoint lesson rewritten as an instructor's own, on a copy of the
/// mini-lab in `scenario_path` (relative to the lesson).
fn own_lesson(scenario_path: &str) -> String {
    let base = lessons::get("checkpoint").unwrap();
    let file = scenario_path.rsplit('/').next().unwrap();
    text_of(&base)
        .replacen("id: checkpoint", "id: my-checkpoint", 1)
        .replacen("aliases: [firewall]", "aliases: [gate]", 1)
        .replacen(
            "scenario: mini-lab",
            &format!("scenario: {scenario_path}"),
            1,
        )
        .replace("mini-lab.yaml", file)
        .replace(
            "pathproof trace mini-lab",
            &format!("pathproof trace {scenario_path}"),
        )
}

#[test]
fn lessons_from_a_directory_with_their_own_scenario() {
    let scn = examples::get("mini-lab")
        .unwrap()
        .text
        .replacen("name: mini-lab", "name: my-lab", 1);
    for (rel, scn_path) in [
        ("my-lab.yaml", "course/my-lab.yaml"),
        ("labs/my-lab.yaml", "course/labs/my-lab.yaml"),
    ] {
        let files = dir(&[
            ("course/01-mine.yaml", &own_lesson(rel)),
            (scn_path, &scn),
            ("course/other/notes.yaml", "not: a lesson"),
        ]);
        let got = lessons::from_files("course", &files).unwrap_or_else(|e| panic!("{}", show(&e)));
        assert_eq!(got.len(), 1, "the scenario file is not a lesson");
        let l = &got[0];
        assert_eq!(l.id, "my-checkpoint");
        assert!(!l.builtin && !l.builtin_scenario);
        assert_eq!(l.scenario, rel);
        assert_eq!(l.scenario_file, scn_path);
        assert_eq!(l.scenario_arg(), scn_path);
        let results = lessons::check(l);
        assert!(results.iter().all(|r| r.ok));
        let t = results[0].trace.as_ref().unwrap();
        assert_eq!(t.scenario, "my-lab");
        assert_eq!(t.file, scn_path);
        // Found by id, alias and prefix among the built-ins.
        let mut every = all();
        every.extend(got.clone());
        assert_eq!(lessons::find(&every, "gate").unwrap().id, "my-checkpoint");
        assert_eq!(lessons::find(&every, "my").unwrap().id, "my-checkpoint");
    }
    // A lesson may also run on a built-in scenario.
    let text = text_of(&lessons::get("checkpoint").unwrap())
        .replacen("id: checkpoint", "id: gate-two", 1)
        .replacen("aliases: [firewall]\n", "", 1);
    let got = lessons::from_files("c", &dir(&[("c/x.yaml", &text)])).unwrap();
    assert!(got[0].builtin_scenario);
}

#[test]
fn a_bad_lesson_directory_reports_every_problem_with_its_line() {
    let scn = examples::get("mini-lab").unwrap().text;
    let mine = own_lesson("my-lab.yaml");
    // The engine disagrees with an answer.
    let wrong = mine.replacen("        answer: dropped\n", "        answer: reached\n", 1);
    let errs = lessons::from_files("d", &dir(&[("d/01.yaml", &wrong), ("d/my-lab.yaml", scn)]))
        .unwrap_err();
    let line = wrong
        .lines()
        .position(|x| x.contains("door 22 of the web house"))
        .unwrap() as u32
        + 1;
    assert!(
        errs.iter().any(|e| e.file == "d/01.yaml"
            && e.line == line
            && e.message.contains("engine computes `dropped`")),
        "{}",
        show(&errs)
    );
    // The scenario file it names is missing.
    let errs = lessons::from_files("d", &dir(&[("d/01.yaml", &mine)])).unwrap_err();
    assert!(errs[0].message.contains("d/my-lab.yaml"), "{}", show(&errs));
    assert_eq!(
        errs[0].line,
        mine.lines()
            .position(|l| l.starts_with("scenario:"))
            .unwrap() as u32
            + 1,
        "{}",
        show(&errs)
    );
    // It names a file outside its directory.
    let up = mine.replacen("scenario: my-lab.yaml", "scenario: ../my-lab.yaml", 1);
    let errs = lessons::from_files("d", &dir(&[("d/01.yaml", &up)])).unwrap_err();
    assert!(errs[0].message.contains("no `..`"), "{}", show(&errs));
    // Its id is a built-in lesson's.
    let dup = mine.replacen("id: my-checkpoint", "id: checkpoint", 1);
    let errs =
        lessons::from_files("d", &dir(&[("d/01.yaml", &dup), ("d/my-lab.yaml", scn)])).unwrap_err();
    assert!(
        errs[0]
            .message
            .contains("also used by the lesson `checkpoint`"),
        "{}",
        show(&errs)
    );
    // A scenario file that no lesson names is not taken for a broken lesson silently.
    let errs = lessons::from_files(
        "d",
        &dir(&[
            ("d/01.yaml", &mine),
            ("d/my-lab.yaml", scn),
            ("d/spare.yaml", scn),
        ]),
    )
    .unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.file == "d/spare.yaml" && e.message.contains("if it is a scenario")),
        "{}",
        show(&errs)
    );
    // A scenario without break and harden variants.
    let cut = scn.find("variants:").unwrap();
    let errs = lessons::from_files(
        "d",
        &dir(&[("d/01.yaml", &mine), ("d/my-lab.yaml", &scn[..cut])]),
    )
    .unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("no `break` variant")),
        "{}",
        show(&errs)
    );
    // A scenario that does not load: its own problems, with file and line.
    let broken = scn.replacen(
        "gateway: edge, dns: public",
        "gateway: edgy, dns: public",
        1,
    );
    let errs = lessons::from_files(
        "d",
        &dir(&[("d/01.yaml", &mine), ("d/my-lab.yaml", &broken)]),
    )
    .unwrap_err();
    assert!(
        errs.iter().any(|e| e.message.contains("d/my-lab.yaml:8:")),
        "{}",
        show(&errs)
    );
}

#[test]
fn find_takes_ids_aliases_prefixes_and_words() {
    let all = all();
    for (q, id) in [
        ("ssrf-metadata", "ssrf-metadata"),
        ("ssrf", "ssrf-metadata"),
        ("SSRF", "ssrf-metadata"),
        ("metadata", "ssrf-metadata"),
        ("xff", "proxy-xff"),
        ("ipv6", "ipv6-bypass"),
        ("dns", "dns-spoofing"),
        ("split", "split-dns"),
        ("nat", "nat-egress"),
        ("conntrack", "stateful"),
        ("verification", "tls-verify"),
        ("mitm", "tls-mitm"),
        ("arp", "neighbour-spoofing"),
        ("nmap", "scanner"),
        ("rout", "routing"),
        ("mtls", "mtls"),
        ("check", "checkpoint"),
    ] {
        match lessons::find(&all, q) {
            Ok(l) => assert_eq!(l.id, id, "{q}"),
            Err(e) => panic!("{q}: {e:?}"),
        }
    }
    let e = lessons::find(&all, "s").unwrap_err();
    assert!(e.message.contains("more than one"), "{e:?}");
    assert!(
        e.help.contains("stateful") && e.help.contains("ssrf-metadata"),
        "{e:?}"
    );
    // Three lessons start with `tls`: the learner is asked which.
    let e = lessons::find(&all, "tls").unwrap_err();
    assert!(
        e.help.contains("tls-verify") && e.help.contains("tls13"),
        "{e:?}"
    );
    let e = lessons::find(&all, "chekpoint").unwrap_err();
    assert_eq!(e.message, "no lesson named `chekpoint`");
    assert_eq!(e.help, "did you mean `checkpoint`?");
    let e = lessons::find(&all, "zzzzzzzz").unwrap_err();
    assert!(e.help.starts_with("lessons: checkpoint"), "{e:?}");
}

#[test]
fn every_view_has_four_wordings() {
    for v in lessons::VIEWS {
        let w: BTreeSet<&str> = (1..=4).map(|l| lessons::view_words(v, l)).collect();
        assert_eq!(w.len(), 4, "{v:?}");
        assert!(w.iter().all(|x| x.len() > 40));
    }
}

/// The course's shape, at every layer of every lesson: key takeaway,
/// security lens, trust question, failure mode, attacker goal, why it matters,
/// how engineers get it wrong, misconceptions, a named incident with a public
/// link, a Mermaid diagram, a hands-on step with an `expect:` regression
/// check, and an on-call signal.
#[test]
fn every_lesson_has_every_section_at_every_layer() {
    for l in all() {
        for layer in &l.layers {
            let at = format!("{} layer {}", l.id, layer.level);
            for (key, text) in [
                ("takeaway", &layer.takeaway),
                ("security_lens", &layer.security_lens),
                ("trust_question", &layer.trust_question),
                ("failure_mode", &layer.failure_mode),
                ("attacker_goal", &layer.attacker_goal),
                ("why_it_matters", &layer.why_it_matters),
                ("engineers_get_wrong", &layer.engineers_get_wrong),
                ("incident.name", &layer.incident.name),
                ("incident.text", &layer.incident.text),
                ("signal", &layer.signal),
                ("regression", &layer.regression),
            ] {
                assert!(!text.trim().is_empty(), "{at}: `{key}` is empty");
            }
            assert!(!layer.misconceptions.is_empty(), "{at}: misconceptions");
            assert!(
                layer.incident.source.starts_with("https://"),
                "{at}: the incident needs a public https link"
            );
            let first = layer.diagram.lines().next().unwrap_or("");
            assert!(
                first.starts_with("flowchart ") || first.starts_with("sequenceDiagram"),
                "{at}: diagram starts with `{first}`"
            );
            assert!(!layer.hands_on.is_empty(), "{at}: hands_on");
            let words: Vec<&str> = layer.regression.split_whitespace().collect();
            assert!(
                words.contains(&"->") || words.contains(&"only"),
                "{at}: `{}` is not an expect: line",
                layer.regression
            );
        }
    }
}

/// The regression check of every layer keeps the unsafe path blocked: the
/// scenario's `check` fails on it under `break` and passes under `harden`.
#[test]
fn every_regression_line_catches_the_break_and_holds_after_the_harden() {
    use pathproof_core::analysis::check::check;
    for l in all() {
        let e = examples::get(&l.scenario).unwrap();
        let run = |v: &str| check(&load(&e.file(), e.text, Some(v)).unwrap());
        let (broken, hardened) = (run("break"), run("harden"));
        for layer in &l.layers {
            let find = |r: &pathproof_core::analysis::check::CheckReport| {
                r.results
                    .iter()
                    .find(|x| {
                        x.expectation
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            == layer.regression
                    })
                    .map(|x| x.passed)
            };
            let at = format!("{} layer {}: `{}`", l.id, layer.level, layer.regression);
            assert_eq!(find(&broken), Some(false), "{at} must fail under break");
            assert_eq!(find(&hardened), Some(true), "{at} must hold under harden");
        }
    }
}

/// Layer 1 is a picture: no command to type (a step runs its journey), no
/// address prefix, and at least one step with a journey to run.
#[test]
fn layer_one_runs_journeys_instead_of_commands() {
    for l in all() {
        let one = &l.layers[0];
        assert!(one.hands_on.iter().any(|s| s.run.is_some()), "{}", l.id);
        for s in &one.hands_on {
            assert!(!s.text.contains("pathproof "), "{}: {}", l.id, s.text);
        }
        assert!(!one.body.contains("pathproof "), "{}", l.id);
    }
}

/// Layer 4 is not a template: no sentence of six words or more is shared by
/// the layer 4 of two lessons, and no two lessons' layer 4 share more than a
/// fifth of their word triples.
#[test]
fn layer_four_is_not_a_template() {
    fn texts(layer: &lessons::Layer) -> String {
        let mut t = vec![
            layer.takeaway.clone(),
            layer.security_lens.clone(),
            layer.trust_question.clone(),
            layer.failure_mode.clone(),
            layer.attacker_goal.clone(),
            layer.why_it_matters.clone(),
            layer.engineers_get_wrong.clone(),
            layer.signal.clone(),
            layer.body.clone(),
        ];
        t.extend(layer.misconceptions.iter().cloned());
        t.join(" ")
    }
    fn sentences(t: &str) -> BTreeSet<String> {
        // Code spans (commands, expect: lines) are quoted, not written.
        let prose: String = t.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        prose
            .split(['.', ';', ':', '\n'])
            .map(|s| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .filter(|s| s.split(' ').count() >= 6)
            .collect()
    }
    fn triples(t: &str) -> BTreeSet<String> {
        let w: Vec<String> = t
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        w.windows(3).map(|x| x.join(" ")).collect()
    }
    let all = all();
    let fours: Vec<(&str, String)> = all
        .iter()
        .map(|l| (l.id.as_str(), texts(&l.layers[3])))
        .collect();
    for (i, (a, ta)) in fours.iter().enumerate() {
        for (b, tb) in &fours[i + 1..] {
            let shared: Vec<String> = sentences(ta)
                .intersection(&sentences(tb))
                .cloned()
                .collect();
            assert!(shared.is_empty(), "layer 4 of {a} and {b} share {shared:?}");
            let (x, y) = (triples(ta), triples(tb));
            let common = x.intersection(&y).count() as f64;
            let ratio = common / x.len().min(y.len()) as f64;
            assert!(
                ratio < 0.2,
                "layer 4 of {a} and {b} share {:.0}% of their word triples",
                ratio * 100.0
            );
        }
    }
}

#[test]
fn validate_holds_the_new_sections_to_their_shape() {
    let good = lessons::FILES[0].1;
    let check = |text: &str| -> String {
        let l = lessons::parse("x.yaml", text).unwrap();
        lessons::validate(&l, text)
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(check(good), "");
    // A regression line the scenario does not have.
    let bad = good.replacen(
        "regression: deny web -> metadata:80",
        "regression: deny web -> api:9100",
        1,
    );
    assert!(
        check(&bad).contains("is not an `expect:` line"),
        "{}",
        check(&bad)
    );
    // One that the break does not break.
    let bad = good.replacen(
        "regression: deny web -> metadata:80",
        "regression: deny internet -> db:5432",
        1,
    );
    assert!(
        check(&bad).contains("also holds under `break`"),
        "{}",
        check(&bad)
    );
    // An incident without a public link.
    let bad = good.replacen(
        "source: https://www.gao.gov/products/gao-18-559",
        "source: the news",
        1,
    );
    assert!(check(&bad).contains("public source"), "{}", check(&bad));
    // A diagram that is not Mermaid, or one with a link.
    let bad = good.replacen("      flowchart LR\n", "      a picture\n", 1);
    assert!(check(&bad).contains("Mermaid flowchart"), "{}", check(&bad));
    let bad = good.replacen(
        "      flowchart LR\n",
        "      flowchart LR\n        click C \"https://example.com\"\n",
        1,
    );
    assert!(check(&bad).contains("no links"), "{}", check(&bad));
    // A command at layer 1.
    let bad = good.replacen(
        "Send the visitor to the shop:",
        "Type `pathproof trace --from client --to web:443`:",
        1,
    );
    assert!(check(&bad).contains("shows a command"), "{}", check(&bad));
    // A step whose journey names nothing in the scenario.
    let bad = good.replacen(
        "run: { from: client, to: \"web:22\" }",
        "run: { from: clinet, to: \"web:22\" }",
        1,
    );
    assert!(check(&bad).contains("cannot be run"), "{}", check(&bad));
}
