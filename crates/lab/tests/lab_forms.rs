//! Pings, and the expectation forms `lab probe` makes or reports as not
//! probed (`tests/scenarios/forms.yaml`): a scenario with ICMP rules gets a
//! ping from every host to every other one (per family) and its ICMP
//! expectations probed; an expectation whose source is a DNS name, whose
//! destination is a network, that names no port, or that is about every
//! journey (`isolated`) is listed with the reason, never silently skipped.

mod common;

use std::net::IpAddr;

use pathproof_core::model::Proto;
use pathproof_lab::probe;

const SCENARIO: &str = include_str!("scenarios/forms.yaml");

#[test]
fn every_expectation_is_probed_or_reported_with_a_reason() {
    let scn = pathproof_core::load("forms.yaml", SCENARIO, None).expect("loads");
    let (jobs, not_probed) = probe::plan_jobs(&scn);
    let reasons: Vec<(&str, &str)> = not_probed
        .iter()
        .map(|n| (n.expect.as_str(), n.reason.as_str()))
        .collect();
    let why = |expect: &str| {
        reasons
            .iter()
            .find(|r| r.0 == expect)
            .map(|r| r.1)
            .unwrap_or_else(|| panic!("`{expect}` is not reported: {reasons:?}"))
    };
    assert!(why("allow c.lab -> s1:80").contains("DNS name"));
    assert!(why("deny c -> srv:80").contains("network"));
    assert!(why("deny c -> s1").contains("no port"));
    assert!(why("isolated srv inbound").contains("every journey"));
    assert_eq!(not_probed.len(), 4, "{reasons:?}");
    // The ICMP expectations are probed, and pings between all hosts.
    for e in [
        "allow icmp c -> s1",
        "allow icmp c -> s1.lab",
        "deny icmp c -> s2",
        "deny icmp c -> s3",
    ] {
        assert!(
            jobs.iter().any(|j| j.why == format!("expect: {e}")),
            "`{e}` is not probed"
        );
    }
    let pings = jobs.iter().filter(|j| j.query.proto == Proto::Icmp).count();
    // 6 hosts, 30 ordered pairs, each over IPv4 and IPv6, and 4 expectations.
    assert_eq!(pings, 30 * 2 + 4);
}

#[test]
fn pings_agree_with_the_kernel() {
    if !common::root_or_skip("pings_agree_with_the_kernel") {
        return;
    }
    let lab = common::Lab::up("forms", "forms.yaml", SCENARIO, None);
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
    let ping = |to: &str, v6: bool| {
        results
            .iter()
            .find(|r| {
                r.proto == Proto::Icmp
                    && r.from == "c"
                    && r.to == to
                    && r.why.starts_with("ping")
                    && r.kernel.dst.is_some_and(|a: IpAddr| a.is_ipv6() == v6)
            })
            .unwrap_or_else(|| panic!("no ping c -> {to} (IPv6 {v6})"))
    };
    for (to, v6, model, kernel) in [
        ("s1", false, "reached", "connected"),
        ("s1", true, "reached", "connected"),
        ("s2", false, "rejected", "refused"),
        ("s2", true, "rejected", "refused"),
        ("s3", false, "dropped", "timed out"),
        ("s4", false, "rejected", "unreachable"),
        ("s4", true, "rejected", "prohibited"),
    ] {
        let r = ping(to, v6);
        assert_eq!(
            (r.model.as_str(), r.kernel.class.name()),
            (model, kernel),
            "ping c -> {to} (IPv6 {v6}): {}",
            r.kernel.detail
        );
    }
    let icmp = results.iter().filter(|r| r.proto == Proto::Icmp).count();
    eprintln!(
        "forms: {} probes agree, {icmp} of them pings",
        results.len()
    );
}
