//! Golden `reach` and `check` answers for every built-in scenario and variant,
//! and the exit-code facts `check` must get right.

use pathproof_core::analysis::check::{check, render_junit, render_sarif, render_text};
use pathproof_core::analysis::reach::{reach, render_csv, render_text as reach_text, ReachQuery};
use pathproof_core::{examples, load};

/// The two views of the table, on a built-in scenario and on a generated one
/// large enough for alike sockets to share blocks and lines to fold.
#[test]
fn reach_views_golden() {
    use pathproof_core::analysis::reach_table::{render, View};
    use pathproof_core::synth::{large, SynthParams};
    let mini = examples::ALL.iter().find(|e| e.name == "mini-lab").unwrap();
    let mini = load(&mini.file(), mini.text, None).unwrap();
    let text = large(&SynthParams::sized(1, 120));
    let synth = load("synth.yaml", &text, None).unwrap();
    for (label, scn) in [("mini-lab", &mini), ("synth-120", &synth)] {
        let r = reach(scn, &ReachQuery::default());
        for (view, name) in [(View::Sockets, "sockets"), (View::Networks, "networks")] {
            let q = ReachQuery::default();
            let out = render(scn, &r, &q, view);
            assert_eq!(out, render(scn, &r, &q, view), "deterministic");
            insta::assert_snapshot!(format!("reach_view__{label}__{name}"), out);
        }
        // Auto: the sockets up to 100 of them.
        let q = ReachQuery::default();
        let auto = render(scn, &r, &q, View::Auto);
        let n = r
            .journeys
            .iter()
            .flat_map(|j| j.targets.iter().map(|t| (t.host, t.socket)))
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let want = if n <= 100 {
            View::Sockets
        } else {
            View::Networks
        };
        assert_eq!(auto, render(scn, &r, &q, want), "{label}: {n} sockets");
    }
}

#[test]
fn reach_and_check_golden() {
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap();
        for v in std::iter::once(None).chain(base.variants.iter().map(|v| Some(v.name.clone()))) {
            let scn = load(&ex.file(), ex.text, v.as_deref()).unwrap();
            let name = format!("{}__{}", ex.name, v.as_deref().unwrap_or("base"));
            let r = reach(&scn, &ReachQuery::default());
            insta::assert_snapshot!(format!("reach__{name}"), reach_text(&scn, &r));
            let c = check(&scn);
            insta::assert_snapshot!(format!("check__{name}"), render_text(&c));
        }
    }
}

#[test]
fn mini_lab_expectations_hold_and_break_violates_them() {
    let ex = examples::get("mini-lab").unwrap();
    let base = check(&load(&ex.file(), ex.text, None).unwrap());
    assert_eq!(base.failed, 0, "{}", render_text(&base));
    let broken = check(&load(&ex.file(), ex.text, Some("break")).unwrap());
    let failed: Vec<&str> = broken
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.expectation.as_str())
        .collect();
    assert!(failed.contains(&"deny web -> metadata:80"), "{failed:?}");
    assert!(failed.contains(&"deny web -> db:5432"), "{failed:?}");
    assert!(
        failed.contains(&"only api, data may reach db:5432"),
        "{failed:?}"
    );
    // Each failure carries a counterexample that really reaches.
    for r in broken.results.iter().filter(|r| !r.passed) {
        let t = r.trace.as_ref().expect("a counterexample");
        assert_eq!(
            t.outcome.kind,
            pathproof_core::evidence::OutcomeKind::Reached,
            "{}",
            r.expectation
        );
    }
    let hardened = check(&load(&ex.file(), ex.text, Some("harden")).unwrap());
    assert_eq!(hardened.failed, 0, "{}", render_text(&hardened));
}

#[test]
fn csv_has_one_row_per_path_and_a_header() {
    let ex = examples::get("mini-lab").unwrap();
    let scn = load(&ex.file(), ex.text, None).unwrap();
    let r = reach(&scn, &ReachQuery::default());
    // A row per path of each class.
    let csv = render_csv(&scn, &r);
    let paths: usize = r.journeys.iter().map(|j| j.paths.len()).sum();
    assert_eq!(csv.lines().count(), paths + 1);
    assert!(csv.starts_with("sources,source_kind,targets,pairs,proto,port,"));
    // With --pairs: a row per path of each (sources, socket) pair.
    let csv = pathproof_core::analysis::reach::render_csv_pairs(&scn, &r);
    let paths: usize = r.per_target(&scn).map(|j| j.paths.len()).sum();
    assert_eq!(csv.lines().count(), paths + 1);
    assert!(csv.starts_with("source,source_kind,host,socket,proto,port,"));
}

#[test]
fn junit_and_sarif_shapes() {
    let ex = examples::get("mini-lab").unwrap();
    let c = check(&load(&ex.file(), ex.text, Some("break")).unwrap());
    let junit = render_junit(&c);
    assert_eq!(junit.matches("<testcase ").count(), c.results.len());
    assert_eq!(junit.matches("<failure ").count(), c.failed);
    let sarif: serde_json::Value = serde_json::from_str(&render_sarif(&c)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), c.failed);
    for r in results {
        assert_eq!(r["ruleId"], "pathproof/expectation");
        assert!(
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "mini-lab.yaml"
        );
    }
}

/// Alike hosts travel as one class, and a network's stand-in configured like
/// them travels with them; every journey still starts at its own source, and
/// each source reaches exactly what it reaches on its own.
#[test]
fn a_class_of_sources_is_told_apart_in_the_answer() {
    use pathproof_core::analysis::reach::{render_json, source_name, Journey};
    use pathproof_core::analysis::symbolic::Source;
    let text = r#"
name: classes
networks:
  lan:  { cidr: 10.0.1.0/24, gateway: r }
  srv:  { cidr: 10.0.2.0/24, gateway: r }
hosts:
  r:  { router: true, at: [lan 10.0.1.1, srv 10.0.2.1], filter: fw }
  h1: { at: lan 10.0.1.10 }
  h2: { at: lan 10.0.1.11 }
  h3: { at: lan 10.0.1.12 }
  s:  { at: srv 10.0.2.10, listen: ["tcp/80 http", "tcp/22 ssh"] }
filters:
  fw:
    stateful: true
    default: drop
    rules:
      - allow tcp from h2 to s port 22
      - allow tcp from lan to s port 80
"#;
    let scn = load("classes.yaml", text, None).unwrap();
    let engine = pathproof_core::analysis::symbolic::Engine::new(&scn);
    let all = pathproof_core::analysis::reach::all_sources(&scn);
    let classes = engine.source_classes(&all);
    let lan = Source::Network(pathproof_core::model::NetworkId(0));
    let class = classes.iter().find(|c| c.len() > 1).expect("a class");
    assert_eq!(
        class.len(),
        4,
        "h1, h2, h3 and the lan's stand-in: {classes:?}"
    );
    assert!(class.contains(&lan));
    let r = reach(&scn, &ReachQuery::default());
    let reached = |j: &Journey| {
        format!(
            "{} {}",
            scn.host(j.host()).name,
            scn.host(j.host()).sockets[j.socket()].port
        )
    };
    let mut seen = Vec::new();
    for j in r.per_target(&scn) {
        for &m in j.members.iter() {
            seen.push(format!("{} -> {}", source_name(&scn, m), reached(&j)));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "h1 -> s 80",
            "h2 -> s 22",
            "h2 -> s 80",
            "h3 -> s 80",
            "lan -> s 80",
            "r -> s 22",
            "r -> s 80",
            "srv -> s 22",
            "srv -> s 80",
        ]
    );
    // A journey's path starts at its first member, never at another member
    // of the class it was walked with.
    let v: serde_json::Value = serde_json::from_str(&render_json(&scn, &r)).unwrap();
    for j in v["classes"].as_array().unwrap() {
        let first = j["sources"][0].as_str().unwrap();
        for p in j["paths"].as_array().unwrap() {
            assert_eq!(p["devices"][0].as_str().unwrap(), first, "{j}");
        }
    }
    let v: serde_json::Value = serde_json::from_str(
        &pathproof_core::analysis::reach::render_json_pairs(&scn, &r),
    )
    .unwrap();
    for j in v["journeys"].as_array().unwrap() {
        let first = j["source"].as_str().unwrap().split(' ').next().unwrap();
        for p in j["paths"].as_array().unwrap() {
            assert_eq!(p["devices"][0].as_str().unwrap(), first, "{j}");
        }
    }
    // Networks are never grouped with hosts.
    for j in r.journeys.iter() {
        let nets = j
            .members
            .iter()
            .filter(|m| matches!(m, Source::Network(_)))
            .count();
        assert!(nets == 0 || j.members.len() == 1, "{:?}", j.members);
    }
}

/// Pings have no socket, so `reach` lists no journey for them; `check` walks
/// echo requests on their own, and a ping that is answered or refused is
/// told apart from one nobody asked about. A DNS name may be the source.
#[test]
fn ping_expectations_are_walked_and_names_can_be_sources() {
    let text = r#"
name: pings
networks:
  lan: { cidr: 10.0.1.0/24, gateway: r, dns: v }
  srv: { cidr: 10.0.2.0/24, gateway: r, dns: v }
hosts:
  r:  { router: true, at: [lan 10.0.1.1, srv 10.0.2.1], filter: fw }
  c:  { at: lan 10.0.1.10 }
  d:  { at: lan 10.0.1.11, output: quiet }
  s1: { at: srv 10.0.2.10, listen: [tcp/80] }
  s2: { at: srv 10.0.2.20, listen: [tcp/80] }
dns:
  v: { c.lab: 10.0.1.10, s1.lab: 10.0.2.10 }
filters:
  fw:
    stateful: true
    default: drop
    rules:
      - allow icmp to s1
      - reject icmp to s2
      - allow tcp
  quiet:
    stateful: true
    default: allow
    rules:
      - drop icmp
expect:
  - allow icmp c -> s1
  - allow icmp c -> s2
  - deny icmp c -> s2
  - deny icmp c -> s1
  - deny icmp d -> s1
  - only c may reach icmp s1
  - only lan may reach icmp s1
  - only lan, srv, r may reach icmp s1
  - allow icmp c.lab -> s1.lab
  - allow c.lab -> s1:80
"#;
    let scn = load("pings.yaml", text, None).unwrap();
    let c = check(&scn);
    let verdicts: Vec<(String, bool)> = c
        .results
        .iter()
        .map(|r| (r.expectation.clone(), r.passed))
        .collect();
    let want = [
        ("allow icmp c -> s1", true),
        ("allow icmp c -> s2", false),
        ("deny icmp c -> s2", true),
        ("deny icmp c -> s1", false),
        ("deny icmp d -> s1", true),
        // The lan's other senders get answers too.
        ("only c may reach icmp s1", false),
        // s2 and the srv stand-in share s1's network (no filter between
        // them), and the router r is not one of lan's sources.
        ("only lan may reach icmp s1", false),
        ("only lan, srv, r may reach icmp s1", true),
        ("allow icmp c.lab -> s1.lab", true),
        ("allow c.lab -> s1:80", true),
    ];
    assert_eq!(verdicts.len(), want.len());
    for ((got, ok), (text, want_ok)) in verdicts.iter().zip(want) {
        assert_eq!(got, text);
        assert_eq!(*ok, want_ok, "{text}: {}", render_text(&c));
    }
    // A failed deny carries the ping that got its answer.
    let r = &c.results[3];
    let t = r.trace.as_ref().expect("a counterexample");
    assert_eq!(
        t.outcome.kind,
        pathproof_core::evidence::OutcomeKind::Reached
    );
}

/// Pings to a name are traced as each client resolves it (split-horizon
/// views), pings to an address count whoever answers after a DNAT, `only`
/// with a name asks every other source in its own view, and the
/// counterexample replays the very echo request that was answered.
#[test]
fn ping_and_name_expectations_follow_each_clients_view_and_nat() {
    let text = r#"
name: views
networks:
  lan: { cidr: 10.0.1.0/24, gateway: r }
  srv: { cidr: 10.0.2.0/24, gateway: r }
hosts:
  r:
    router: true
    at: [lan 10.0.1.1, srv 10.0.2.1]
    filter: fw
    nat: ["dnat icmp to 10.0.1.1 in lan -> s1"]
  c:  { at: lan 10.0.1.10, dns: inside }
  d:  { at: lan 10.0.1.11, dns: guest }
  s1: { at: srv 10.0.2.10, listen: [tcp/80] }
  s2: { at: srv 10.0.2.20, listen: [tcp/80] }
dns:
  inside: { svc.lab: 10.0.2.10 }
  guest: { svc.lab: 10.0.2.20 }
filters:
  fw:
    stateful: true
    default: drop
    rules:
      - allow icmp to s1
      - allow tcp from c to s1 port 80
      - allow tcp from d to s2 port 80
expect:
  - allow icmp c -> svc.lab
  - deny icmp d -> svc.lab
  - allow icmp lan -> svc.lab
  - allow icmp d -> 10.0.1.1
  - deny icmp d -> s2
  - allow d -> svc.lab:80
  - only c, d may reach svc.lab:80
  - only c may reach svc.lab:80
"#;
    let scn = load("views.yaml", text, None).unwrap_or_else(|e| panic!("{e}"));
    let c = check(&scn);
    let want = [
        ("allow icmp c -> svc.lab", true),
        // d's view sends it to s2, whose pings the router drops; s1 would
        // answer, but d never asks it.
        ("deny icmp d -> svc.lab", true),
        // c, on lan, resolves it to s1.
        ("allow icmp lan -> svc.lab", true),
        // The router's own address, destination-NATed to s1: s1 answers.
        ("allow icmp d -> 10.0.1.1", true),
        ("deny icmp d -> s2", true),
        ("allow d -> svc.lab:80", true),
        ("only c, d may reach svc.lab:80", true),
        ("only c may reach svc.lab:80", false),
    ];
    assert_eq!(c.results.len(), want.len());
    for (r, (text, ok)) in c.results.iter().zip(want) {
        assert_eq!(r.expectation, text);
        assert_eq!(r.passed, ok, "{text}: {}", render_text(&c));
    }
    // The failed `only` names d and carries d's trace to s2.
    let only = &c.results[7];
    assert!(only.detail.starts_with("d: "), "{}", only.detail);
    let t = only.trace.as_ref().expect("a counterexample");
    assert_eq!(t.outcome.at.as_deref(), Some("s2"));
}

#[test]
fn a_source_asked_for_twice_is_one_source() {
    use pathproof_core::analysis::reach::render_json;
    use pathproof_core::analysis::symbolic::Source;
    use pathproof_core::model::HostId;
    let ex = examples::get("mini-lab").unwrap();
    let scn = load(&ex.file(), ex.text, None).unwrap();
    let hosts: Vec<Source> = (0..scn.hosts.len() as u32)
        .map(|i| Source::Host(HostId(i)))
        .collect();
    let once = reach(
        &scn,
        &ReachQuery {
            from: Some(hosts.clone()),
            to: None,
        },
    );
    let twice = reach(
        &scn,
        &ReachQuery {
            from: Some(hosts.iter().chain(&hosts).copied().collect()),
            to: None,
        },
    );
    assert!(!once.journeys.is_empty());
    assert_eq!(render_json(&scn, &once), render_json(&scn, &twice));
}
