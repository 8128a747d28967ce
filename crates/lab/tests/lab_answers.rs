//! Regression scenario for the answer walk (`tests/scenarios/answers.yaml`):
//! the TCP reset or ICMP error that answers a refused, rejected or unroutable
//! request is a packet that filters, routes and NAT on its way back decide
//! about. The model walks it back (docs/semantics.md); the kernel must agree
//! on every probe, and the journeys below must come out as listed, so a
//! tracer that stops walking answers (or walks them wrongly) fails here.

mod common;

use pathproof_core::model::Proto;

const SCENARIO: &str = include_str!("scenarios/answers.yaml");

#[test]
fn answers_walk_back_through_filters_routes_and_nat() {
    if !common::root_or_skip("answers_walk_back_through_filters_routes_and_nat") {
        return;
    }
    let lab = common::Lab::up("ans", "answers.yaml", SCENARIO, None);
    let results = lab.probe_all();
    drop(lab);
    let bad: Vec<String> = results
        .iter()
        .filter(|r| !r.agree)
        .map(|r| {
            format!(
                "{} {} -> {}: {}",
                r.proto,
                r.from,
                r.to,
                r.disagreement.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert!(bad.is_empty(), "disagreements:\n{}", bad.join("\n"));
    // (from, to, proto, the model's outcome, the kernel's class)
    let rows: &[(&str, &str, Proto, &str, &str)] = &[
        ("c1", "s1:22", Proto::Tcp, "reply lost", "timed out"),
        ("c3", "s1:22", Proto::Tcp, "reply lost", "timed out"),
        ("c1", "s1:23", Proto::Tcp, "refused", "refused"),
        ("c2", "s1:23", Proto::Tcp, "reply lost", "timed out"),
        ("c3", "s1:23", Proto::Tcp, "refused", "refused"),
        ("c1", "s1:5353", Proto::Udp, "refused", "refused"),
        ("c2", "s1:5353", Proto::Udp, "reply lost", "timed out"),
        ("c3", "s1:5353", Proto::Udp, "refused", "refused"),
        ("c1", "s1:25", Proto::Tcp, "rejected", "refused"),
        ("c2", "s1:25", Proto::Tcp, "reply lost", "timed out"),
        ("c1", "s1:69", Proto::Udp, "rejected", "refused"),
        ("c2", "s1:69", Proto::Udp, "reply lost", "timed out"),
        ("c1", "10.60.1.1:8443", Proto::Tcp, "rejected", "refused"),
        ("c1", "10.60.9.99:80", Proto::Tcp, "no route", "unreachable"),
        ("c2", "10.60.9.99:80", Proto::Tcp, "reply lost", "timed out"),
        ("c1", "10.70.0.1:80", Proto::Tcp, "no route", "unreachable"),
        ("c2", "10.70.0.1:80", Proto::Tcp, "reply lost", "timed out"),
        ("c1", "s2:22", Proto::Tcp, "reply lost", "timed out"),
        ("c3", "s1:8080", Proto::Tcp, "rejected", "refused"),
    ];
    let mut missing = Vec::new();
    for (from, to, proto, model, kernel) in rows {
        match results
            .iter()
            .find(|r| r.from == *from && r.to == *to && r.proto == *proto && r.via.is_none())
        {
            Some(r) => assert_eq!(
                (r.model.as_str(), r.kernel.class.name()),
                (*model, *kernel),
                "{proto} {from} -> {to}: {}",
                r.model_client_sees
            ),
            None => missing.push(format!("{proto} {from} -> {to}")),
        }
    }
    assert!(missing.is_empty(), "not probed: {missing:?}");
    let lost_answers = results
        .iter()
        .filter(|r| {
            r.model == "reply lost"
                && r.trace.as_ref().is_some_and(|t| {
                    t.outcome
                        .text
                        .contains("that answers it is lost on the way back")
                })
        })
        .count();
    eprintln!(
        "answers: {} probes agree, {lost_answers} of them an answer lost on its way back",
        results.len()
    );
    assert!(lost_answers >= 8, "{lost_answers} lost answers");
}
