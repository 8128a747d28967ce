//! `import hosts` on folders recorded from a lab (`crates/lab/tests/import_hosts.rs`
//! made them: `ip -j addr`, `ip -j route`, `ip -6 -j route`, `ss -Hltnu`, and
//! `iptables-save` on the router, `nft list ruleset` elsewhere), and on bad input.

use pathproof_core::evidence::OutcomeKind;
use pathproof_core::{load_with, trace, Files, Query};
use pathproof_import::hosts::{import, HostDir};
use pathproof_import::Input;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hosts");

fn dir(name: &str) -> HostDir {
    let mut files: Vec<Input> = std::fs::read_dir(format!("{FIX}/{name}"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| Input {
            path: format!("{name}/{}", p.file_name().unwrap().to_string_lossy()),
            text: std::fs::read_to_string(&p).unwrap(),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    HostDir {
        name: name.into(),
        dir: name.into(),
        files,
    }
}

fn recorded() -> Vec<HostDir> {
    ["client", "edge", "admin", "web", "db"].map(dir).to_vec()
}

#[test]
fn recorded_folders_make_a_scenario_that_traces() {
    let hosts = recorded();
    let out = import(&hosts, &|p| p.to_string()).unwrap();
    let files: Files = hosts
        .iter()
        .flat_map(|h| h.files.iter().map(|f| (f.path.clone(), f.text.clone())))
        .collect();
    let scn = load_with("imported.yaml", &out.yaml, None, &files).unwrap_or_else(|e| panic!("{e}"));
    // Three networks from the prefixes; the router with its rule set's names.
    assert_eq!(scn.networks.len(), 3, "{}", out.yaml);
    let edge = scn.host(scn.host_by_name("edge").unwrap());
    assert!(edge.router);
    assert_eq!(
        edge.ruleset.as_ref().unwrap().ifnames,
        vec!["eth0", "eth1", "eth2"]
    );
    assert!(
        out.yaml.contains("routes: [\"default via 10.0.1.1\"]"),
        "{}",
        out.yaml
    );
    // Journeys as the lab had them: DNAT to web, the forward chain's reject, web's
    // own rule set.
    let t = trace(&scn, &Query::new("client", "198.51.100.1:443")).unwrap();
    assert_eq!(t.outcome.kind, OutcomeKind::Reached, "{:?}", t.outcome);
    let t = trace(&scn, &Query::new("admin", "db:5432")).unwrap();
    assert_eq!(t.outcome.kind, OutcomeKind::Rejected);
    assert!(
        t.outcome.text.contains("edge/ruleset.rules line"),
        "{}",
        t.outcome.text
    );
    let t = trace(&scn, &Query::new("admin", "web:9100")).unwrap();
    assert!(
        t.outcome.text.contains("web/ruleset.nft line 14"),
        "{}",
        t.outcome.text
    );
    // What was not read is said.
    assert!(out
        .notes
        .iter()
        .any(|n| n.contains("scope link") && n.contains("not imported")));
    assert!(out.notes.iter().any(|n| n.contains("an empty rule set")));
    assert!(out.notes.iter().any(|n| n.contains("host edge: router")));
    assert!(out
        .notes
        .iter()
        .any(|n| n.contains("not read from `ip -j addr`")));
}

#[test]
fn output_is_deterministic() {
    let a = import(&recorded(), &|p| p.to_string()).unwrap();
    let b = import(&recorded(), &|p| p.to_string()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_gateway_no_host_owns_becomes_a_placeholder() {
    // client alone: its default gateway (edge) is not imported.
    let out = import(&[dir("client")], &|p| p.to_string()).unwrap();
    assert!(out.yaml.contains("gw-198-51-100-1:"), "{}", out.yaml);
    assert!(out.notes.iter().any(|n| n.contains("placeholder router")));
    let scn = load_with("x.yaml", &out.yaml, None, &Files::new()).unwrap_or_else(|e| panic!("{e}"));
    let t = trace(&scn, &Query::new("client", "203.0.113.9:443")).unwrap();
    assert_eq!(t.outcome.kind, OutcomeKind::NoRoute);
}

#[test]
fn bad_input_names_the_file_line_and_column() {
    let bad = HostDir {
        name: "h".into(),
        dir: "h".into(),
        files: vec![Input {
            path: "h/addr.json".into(),
            text: "[\n  {\"ifname\": \"eth0\",\n   \"addr_info\": [ {\"family\": \"inet\" } ]\n  }\n]\n".into(),
        }],
    };
    let e = import(&[bad], &|p| p.to_string()).unwrap_err();
    assert_eq!((e[0].file.as_str(), e[0].line), ("h/addr.json", 3), "{e:?}");
    assert!(
        e[0].column > 0 && e[0].message.contains("ip -j addr"),
        "{e:?}"
    );
    let none = HostDir {
        name: "h".into(),
        dir: "dir/h".into(),
        files: vec![],
    };
    let e = import(&[none], &|p| p.to_string()).unwrap_err();
    assert!(e[0].message.contains("has no addr.json"), "{e:?}");
    assert!(e[0]
        .help
        .as_deref()
        .unwrap()
        .contains("ip -j addr > addr.json"));
    let e = import(&[dir("web"), dir("web")], &|p| p.to_string()).unwrap_err();
    assert!(e[0].message.contains("given twice"), "{e:?}");
    let mut two = dir("web");
    two.files.push(Input {
        path: "web/iptables.rules".into(),
        text: "*filter\nCOMMIT\n".into(),
    });
    let e = import(&[two], &|p| p.to_string()).unwrap_err();
    assert!(e[0].message.contains("a second rule set"), "{e:?}");
}
