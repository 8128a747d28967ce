//! Hosts whose filters are real rule sets (`ruleset:`): traces name the rule set's
//! own file and line, NAT comes from its nat table, a host's packets to itself meet
//! its `lo` rules, `reach` agrees with the tracer, and what cannot be modelled
//! exactly is refused with the construct and its line.

use pathproof_core::analysis::reach::{reach, ReachQuery};
use pathproof_core::evidence::{OutcomeKind, Stage, Verdict};
use pathproof_core::{load_with, referenced_files, trace, Files, Query};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rulesets");

fn files_for(text: &str) -> Files {
    referenced_files(text)
        .into_iter()
        .map(|f| {
            let t = std::fs::read_to_string(format!("{DIR}/{f}")).unwrap();
            (f, t)
        })
        .collect()
}

fn edge() -> pathproof_core::model::Scenario {
    let text = std::fs::read_to_string(format!("{DIR}/edge.yaml")).unwrap();
    load_with("edge.yaml", &text, None, &files_for(&text)).unwrap_or_else(|e| panic!("{e}"))
}

fn tr(scn: &pathproof_core::model::Scenario, from: &str, to: &str) -> pathproof_core::Trace {
    trace(scn, &Query::new(from, to)).unwrap()
}

#[test]
fn referenced_files_lists_each_ruleset_once() {
    let text = std::fs::read_to_string(format!("{DIR}/edge.yaml")).unwrap();
    assert_eq!(referenced_files(&text), vec!["edge.rules", "web.nft"]);
    let v = "hosts:\n  a: { at: n 10.0.0.1, ruleset: a.nft }\nvariants:\n  x: { hosts: { a: { ruleset: b.nft } } }\n";
    assert_eq!(referenced_files(v), vec!["a.nft", "b.nft"]);
    // The word written with escapes is still the key; text without the word
    // or an escape names nothing.
    let escaped = "hosts:\n  a: { at: n 10.0.0.1, \"rule\\x73et\": c.nft }\n  b: { at: n 10.0.0.2, \"\\x72uleset\": d.nft }\n";
    assert_eq!(referenced_files(escaped), vec!["c.nft", "d.nft"]);
    assert!(referenced_files("hosts:\n  a: { at: n 10.0.0.1, rules: x.nft }\n").is_empty());
}

#[test]
fn verdicts_name_the_rule_sets_own_lines() {
    let scn = edge();
    let t = tr(&scn, "client", "198.51.100.1:443");
    assert_eq!(t.outcome.kind, OutcomeKind::Reached, "{:?}", t.outcome);
    let dnat = t.hops.iter().find(|h| h.stage == Stage::Dnat).unwrap();
    let src = dnat.rule.as_ref().unwrap().source.as_ref().unwrap();
    assert_eq!((src.file.as_str(), src.line), ("edge.rules", 7));
    let fwd = t
        .hops
        .iter()
        .find(|h| h.stage == Stage::Filter && h.device == "edge")
        .unwrap();
    assert_eq!(fwd.rule.as_ref().unwrap().source.as_ref().unwrap().line, 19);
    // The web server's own rule set lets 8443 in, and the reply back out.
    let web_in = t
        .hops
        .iter()
        .find(|h| h.stage == Stage::Filter && h.device == "web")
        .unwrap();
    let s = web_in.rule.as_ref().unwrap().source.as_ref().unwrap();
    assert_eq!((s.file.as_str(), s.line), ("web.nft", 13));
    // JSON carries the source.
    let json = pathproof_core::render::trace_json(&t);
    assert!(json.contains("\"file\": \"edge.rules\""), "{json}");

    // The forward chain's last rule rejects with host-prohibited (a return out of
    // from-dmz for the data network gets there).
    let t = tr(&scn, "admin", "db:5432");
    assert_eq!(t.outcome.kind, OutcomeKind::Rejected);
    assert!(
        t.outcome.text.contains("edge.rules line 21"),
        "{}",
        t.outcome.text
    );
    assert_eq!(
        t.outcome.client_sees,
        "no route to host (ICMP administratively prohibited)"
    );
    // web's own output chain drops what it sends to the data network.
    let t = tr(&scn, "web", "db:5432");
    assert_eq!(t.outcome.kind, OutcomeKind::Dropped);
    assert!(
        t.outcome.text.contains("web.nft line 19"),
        "{}",
        t.outcome.text
    );
    // A map element decides, with the element's line.
    let t = tr(&scn, "admin", "web:9100");
    assert_eq!(t.outcome.kind, OutcomeKind::Rejected);
    let t = tr(&scn, "admin", "web:22");
    assert_eq!(t.outcome.kind, OutcomeKind::Reached, "{:?}", t.outcome);
    let t = tr(&scn, "intern", "web:22");
    assert_eq!(t.outcome.kind, OutcomeKind::Dropped, "{:?}", t.outcome);
    let drop = t.hops.iter().find(|h| h.verdict == Verdict::Drop).unwrap();
    let s = drop.rule.as_ref().unwrap().source.as_ref().unwrap();
    assert!(s.label.contains("policy of chain input"), "{s:?}");
}

#[test]
fn a_hosts_packets_to_itself_meet_its_lo_rules() {
    let scn = edge();
    // INPUT's first rule: -i lo -j ACCEPT (the policy drops everything else).
    let t = tr(&scn, "edge", "10.0.1.1:22");
    assert_eq!(t.outcome.kind, OutcomeKind::Reached, "{:?}", t.outcome);
    let f = t
        .hops
        .iter()
        .find(|h| {
            h.stage == Stage::Filter
                && h.verdict == Verdict::Allow
                && h.rule
                    .as_ref()
                    .is_some_and(|r| r.source.as_ref().is_some_and(|s| s.line == 15))
        })
        .is_some();
    assert!(f, "{:#?}", t.hops);
    // From the internet, port 22 on edge meets the policy drop.
    let t = tr(&scn, "client", "198.51.100.1:22");
    assert_eq!(t.outcome.kind, OutcomeKind::Dropped, "{:?}", t.outcome);
}

#[test]
fn reach_agrees_with_the_tracer() {
    use pathproof_core::analysis::space::{addr_u128, Fam, TCP};
    use pathproof_core::analysis::symbolic::Source;
    let scn = edge();
    let r = reach(&scn, &ReachQuery::default()).to_per_target(&scn);
    let dests = [
        "198.51.100.1:443",
        "198.51.100.1:22",
        "10.0.1.1:22",
        "10.0.1.10:8443",
        "10.0.1.10:22",
        "10.0.1.10:9100",
        "10.0.3.10:5432",
    ];
    let mut connected = 0;
    for src in ["client", "admin", "web", "db", "edge"] {
        let sid = scn.host_by_name(src).unwrap();
        for to in dests {
            let t = tr(&scn, src, to);
            let (addr, port) = to.rsplit_once(':').unwrap();
            let (d, port): (std::net::IpAddr, u16) = (addr.parse().unwrap(), port.parse().unwrap());
            if scn.host(sid).has_addr(d) {
                continue;
            }
            let got = (t.outcome.kind == OutcomeKind::Reached).then(|| {
                t.hops
                    .iter()
                    .find(|h| h.stage == Stage::Socket)
                    .map(|h| h.device.clone())
                    .unwrap()
            });
            let s = addr_u128(t.query.source_address.unwrap());
            let hits: Vec<String> = r
                .journeys
                .iter()
                .filter(|j| j.members.contains(&Source::Host(sid)))
                .filter(|j| {
                    j.cubes().any(|c| {
                        c.fam == Fam::V4
                            && c.proto & TCP != 0
                            && c.src.0 <= s
                            && s <= c.src.1
                            && c.dst.0 <= addr_u128(d)
                            && addr_u128(d) <= c.dst.1
                            && c.sport.0 <= 49152
                            && 49152 <= c.sport.1
                            && c.dport.0 <= port
                            && port <= c.dport.1
                    })
                })
                .map(|j| scn.host(j.host()).name.clone())
                .collect();
            assert_eq!(got, hits.first().cloned(), "{src} -> {to}: {:?}", t.outcome);
            connected += usize::from(got.is_some());
        }
    }
    assert!(connected >= 4, "{connected}");
}

fn load_err(yaml: &str, files: &[(&str, &str)]) -> String {
    let files: Files = files
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    match load_with("t.yaml", yaml, None, &files) {
        Ok(_) => panic!("loads"),
        Err(e) => e.to_string(),
    }
}

const ONE: &str =
    "networks:\n  lan: 10.0.0.0/24\nhosts:\n  h:\n    at: lan 10.0.0.1\n    ruleset: h.rules\n";

#[test]
fn what_cannot_be_modelled_is_refused_with_its_line() {
    let cases: &[(&str, &str)] = &[
        (
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --syn -j DROP\nCOMMIT\n",
            "h.rules:3",
        ),
        (
            "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
            "h.rules:3: table *mangle",
        ),
        (
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j REJECT --reject-with icmp-net-unreachable\nCOMMIT\n",
            "h.rules:3: reject with net-unreachable",
        ),
        (
            "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.5-10.0.0.9\nCOMMIT\n",
            "h.rules:3: a translation to a range of addresses",
        ),
        (
            "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -i lan -j MASQUERADE\nCOMMIT\n",
            "h.rules:3: a source NAT that depends on the interface",
        ),
        (
            "table ip a {\n\tchain i {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\ntable ip b {\n\tchain i {\n\t\ttype filter hook input priority 0; policy accept;\n\t\treject\n\t}\n}\n",
            "not fixed by the text",
        ),
        (
            "table ip a {\n\tchain i {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tct state new drop\n\t}\n}\n",
            "runs before conntrack",
        ),
    ];
    for (rules, want) in cases {
        let e = load_err(ONE, &[("h.rules", rules)]);
        assert!(e.contains(want), "want {want:?} in:\n{e}");
    }
    let e = load_err(ONE, &[]);
    assert!(e.contains("rule set file `h.rules` not found"), "{e}");
    let e = load_err(
        "networks:\n  lan: 10.0.0.0/24\nhosts:\n  h:\n    at: lan 10.0.0.1\n    ruleset: { file: h.rules, interfaces: { eth0: lna } }\n",
        &[("h.rules", "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")],
    );
    assert!(
        e.contains("has no interface on `lna`") && e.contains("did you mean `lan`?"),
        "{e}"
    );
    let e = load_err(
        "networks:\n  lan: 10.0.0.0/24\nfilters:\n  f: { rules: [allow] }\nhosts:\n  h:\n    at: lan 10.0.0.1\n    input: f\n    ruleset: h.rules\n",
        &[("h.rules", "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")],
    );
    assert!(e.contains("also has `input:`"), "{e}");
}
