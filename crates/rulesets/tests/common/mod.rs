// Shared helpers for the integration tests.
#![allow(dead_code)]

use pathproof_rulesets::{parse_packet, parse_ruleset, DecidedBy, Decision, Ruleset, Verdict};

/// 1-based line of the only line containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "needle {needle:?} must occur on exactly one line"
    );
    hits[0]
}

pub fn parse_ok(text: &str) -> Ruleset {
    match parse_ruleset(text) {
        Ok(r) => r,
        Err(e) => panic!("unexpected parse errors: {e:#?}"),
    }
}

pub fn eval(rs: &Ruleset, pkt: &str) -> Decision {
    rs.evaluate(&parse_packet(pkt).unwrap_or_else(|e| panic!("packet {pkt:?}: {e}")))
}

/// What decided: `Rule(line)`, `Policy(line of chain)`, or `None` for no base chain.
#[derive(Debug, PartialEq, Eq)]
pub enum By {
    Rule(usize),
    Policy(usize),
    NoChain,
}

pub fn by(d: &Decision) -> By {
    match &d.decided_by {
        DecidedBy::Rule { line, .. } | DecidedBy::MapElement { line, .. } => By::Rule(*line),
        DecidedBy::Policy { line, .. } => By::Policy(*line),
        DecidedBy::NoBaseChain => By::NoChain,
    }
}

pub fn v(s: &str) -> Verdict {
    match s {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        _ => panic!("bad verdict {s}"),
    }
}

/// Resolve an expectation: `rule:NEEDLE` / `policy:NEEDLE` / `none`.
pub fn expect_by(text: &str, spec: &str) -> By {
    if let Some(n) = spec.strip_prefix("rule:") {
        By::Rule(line_of(text, n))
    } else if let Some(n) = spec.strip_prefix("policy:") {
        By::Policy(line_of(text, n))
    } else {
        assert_eq!(spec, "none");
        By::NoChain
    }
}

pub fn run_table(text: &str, cases: &[(&str, &str, &str)]) {
    let rs = parse_ok(text);
    let mut failures = Vec::new();
    for (pkt, verdict, spec) in cases {
        let d = eval(&rs, pkt);
        let want = (v(verdict), expect_by(text, spec));
        let got = (d.verdict, by(&d));
        if want != got {
            failures.push(format!(
                "{pkt}\n   want {want:?}\n   got  {got:?} ({})\n   path {:?}",
                d.render_line(),
                d.path
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
