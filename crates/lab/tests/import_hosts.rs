//! `pathproof import hosts` on folders recorded from a lab: a scenario whose
//! router and web server carry real rule sets (the fixtures of
//! `crates/core/tests/rulesets`) is built for real; in each host's namespace the
//! three commands an administrator runs (`ip -j addr`, `ip -j route` and `ip -6 -j
//! route`, `iptables-save` or `nft list ruleset`) and `ss -Hltnu` are recorded into
//! a folder per host; the import of those folders must load and give every journey
//! the outcome the original scenario gives it.
//!
//! `PATHPROOF_IMPORT_OUT=DIR` copies the folders there (the committed fixtures of
//! `crates/import/tests/fixtures/hosts` were made so).

mod common;

use std::process::Command;

use pathproof_core::{load_with, trace, Files, Query};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/rulesets");

const SCENARIO: &str = r#"name: import-source
networks:
  outside: 198.51.100.0/24
  dmz: 10.0.1.0/24
  data: 10.0.3.0/24
hosts:
  client: { at: outside 198.51.100.10, routes: ["default via edge"] }
  edge:
    router: true
    at: [outside 198.51.100.1, dmz 10.0.1.1, data 10.0.3.1]
    ruleset: { file: edge.rules, interfaces: { eth0: outside, eth1: dmz, eth2: data } }
    listen: ["tcp/22"]
  admin: { at: dmz 10.0.1.5, routes: ["default via edge"] }
  web:
    at: dmz 10.0.1.10
    routes: ["default via edge"]
    listen: ["tcp/8443", "tcp/22", "tcp/9100"]
    ruleset: { file: web.nft, interfaces: { eth0: dmz } }
  db: { at: data 10.0.3.10, listen: ["tcp/5432", "udp/53"], routes: ["default via edge"] }
"#;

fn run(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn imported_host_folders_give_the_same_journeys() {
    if !common::filterdiff_ready_or_skip("imported_host_folders_give_the_same_journeys") {
        return;
    }
    let files: Files = ["edge.rules", "web.nft"]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read_to_string(format!("{DIR}/{f}")).unwrap(),
            )
        })
        .collect();
    let original = load_with("import-source.yaml", SCENARIO, None, &files).unwrap();
    let l = common::Lab::up_with_files("imp", "import-source.yaml", SCENARIO, None, files);
    let plan = l.plan();
    let tmp = std::env::temp_dir().join(format!("pp-import-{}", std::process::id()));
    let mut dirs = Vec::new();
    for h in &plan.hosts {
        let d = tmp.join(&h.name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("addr.json"), run(&h.ns, &["ip", "-j", "addr"])).unwrap();
        std::fs::write(d.join("route.json"), run(&h.ns, &["ip", "-j", "route"])).unwrap();
        std::fs::write(
            d.join("route6.json"),
            run(&h.ns, &["ip", "-6", "-j", "route"]),
        )
        .unwrap();
        std::fs::write(d.join("ss.txt"), run(&h.ns, &["ss", "-Hltnu"])).unwrap();
        // The lab puts rules of its own first in each chain (neighbour discovery,
        // its DNS resolver); the host would not have them: out they go.
        let own = |t: String| {
            t.lines()
                .filter(|l| !l.contains(pathproof_lab::plan::LAB_RULE))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        };
        match h.name.as_str() {
            "edge" => std::fs::write(d.join("ruleset.rules"), own(run(&h.ns, &["iptables-save"])))
                .unwrap(),
            _ => std::fs::write(
                d.join("ruleset.nft"),
                own(run(&h.ns, &["nft", "list", "ruleset"])),
            )
            .unwrap(),
        }
        dirs.push((h.name.clone(), d));
    }
    drop(l);
    if let Ok(out) = std::env::var("PATHPROOF_IMPORT_OUT") {
        for (name, d) in &dirs {
            let o = std::path::Path::new(&out).join(name);
            std::fs::create_dir_all(&o).unwrap();
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                std::fs::copy(&p, o.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let hosts: Vec<pathproof_import::hosts::HostDir> = dirs
        .iter()
        .map(|(name, d)| {
            let mut files: Vec<pathproof_import::Input> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(|p| pathproof_import::Input {
                    path: format!("{name}/{}", p.file_name().unwrap().to_string_lossy()),
                    text: std::fs::read_to_string(&p).unwrap(),
                })
                .collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            pathproof_import::hosts::HostDir {
                name: name.clone(),
                dir: name.clone(),
                files,
            }
        })
        .collect();
    let imported = pathproof_import::hosts::import(&hosts, &|p| p.to_string())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let files: Files = hosts
        .iter()
        .flat_map(|h| h.files.iter().map(|f| (f.path.clone(), f.text.clone())))
        .collect();
    let scn = load_with("imported.yaml", &imported.yaml, None, &files)
        .unwrap_or_else(|e| panic!("{e}\n{}", imported.yaml));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut compared = 0;
    let mut reached = 0;
    let targets: Vec<String> = original
        .hosts
        .iter()
        .flat_map(|h| {
            h.sockets
                .iter()
                .map(move |s| format!("{}:{}", h.name, s.port))
        })
        .chain(["198.51.100.1:443".to_string()])
        .collect();
    for src in original.hosts.iter().map(|h| h.name.clone()) {
        for to in &targets {
            for proto in [
                pathproof_core::model::Proto::Tcp,
                pathproof_core::model::Proto::Udp,
            ] {
                let mut q = Query::new(&src, to);
                q.proto = proto;
                let a = trace(&original, &q).unwrap();
                let b = trace(&scn, &q).unwrap();
                assert_eq!(
                    (a.outcome.kind, &a.outcome.client_sees),
                    (b.outcome.kind, &b.outcome.client_sees),
                    "{proto} {src} -> {to}:\noriginal: {}\nimported: {}\n{}",
                    a.outcome.text,
                    b.outcome.text,
                    imported.yaml
                );
                compared += 1;
                reached +=
                    usize::from(a.outcome.kind == pathproof_core::evidence::OutcomeKind::Reached);
            }
        }
    }
    eprintln!(
        "imported hosts: {compared} journeys compared ({reached} reached), all alike; notes:\n  {}",
        imported.notes.join("\n  ")
    );
    assert!(compared >= 60 && reached >= 10, "{compared} {reached}");
}
