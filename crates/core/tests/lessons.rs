//! The lessons: every file loads, is complete at every layer, runs on a
//! built-in scenario with `break` and `harden` variants, and every
//! predict-then-see answer is what the engine computes. The last part is the
//! teacher's guarantee: a lesson never tells a student something the
//! simulator contradicts.

use std::collections::BTreeSet;

use pathproof_core::evidence::{Fact, OutcomeKind, Stage};
use pathproof_core::lessons::{self, Lesson};
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
        "add every lesson file to FILES in crates/core/src/lessons.rs"
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
            .chain(layer.hands_on.iter())
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
        // At least one question per lesson shows each variant.
        let used: BTreeSet<Option<&str>> = l
            .layers
            .iter()
            .flat_map(|x| x.predict.iter())
            .map(|p| p.variant.as_deref())
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
fn the_ten_topics_are_covered() {
    let all = all();
    assert!(all.len() >= 10, "at least ten lessons");
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
    assert_eq!(e.line, 3, "{e}");
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
    let end = start + good[start..].find("    body:").unwrap();
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
