//! Batfish's AWS snapshots in `../shared/data/upstream-netpol-aws/aws`: every
//! snapshot imports, the scenario loads and every journey computes; and the
//! traces Batfish's own tests assert (`tests/upstream/aws-batfish.txt`,
//! transcribed from AwsConfiguration*Test.java, never from pathproof's
//! output) hold on pathproof's traces.
//!
//! How a Batfish assertion is read here (the same for every line):
//!
//! - Dispositions: ACCEPTED is `reached`; DENIED_IN and DENIED_OUT are
//!   `dropped` (a filter); NULL_ROUTED is `dropped` by a blackhole route or
//!   `no_route` (the packet is discarded by routing either way); NO_ROUTE and
//!   DELIVERED_TO_SUBNET (nobody has the address on the subnet) are
//!   `no_route`. EXITS_NETWORK: the test puts a host on `internet` at the
//!   destination, listening on the port (standing for Batfish's internet
//!   node), and expects `reached` there.
//! - The journey must end at the path's last node. Nodes map to devices: an
//!   instance, gateway or peering connection by its id; a subnet to its edge
//!   router `subnet-X/rtb-Y` (or, as a sender, `subnet-X@ADDRESS`); a VPC to
//!   `vpc-X/router`; INTERNET and BACKBONE to the internet (a sender
//!   `internet@ADDRESS`, or the host the test puts there).
//! - The path's nodes must be visited in order (the request's hops; `back`:
//!   the reply's), leaving out BACKBONE (pathproof's internet is one
//!   segment) and a VPC node between two others (Batfish passes the VPC's
//!   router on the way to a gateway or a peer; pathproof's subnet edges route
//!   to gateways and peering connections directly).
//! - `translates N`: a NAT hop (dnat or snat) at N.
//!
//! Needs `../shared`: outside CI a missing folder skips with a message, under
//! `CI=true` it fails.

use std::path::{Path, PathBuf};

use pathproof_core::evidence::{Direction, OutcomeKind, Stage, Trace};
use pathproof_core::model::Proto;
use pathproof_import::{aws, Input};

fn data() -> Option<PathBuf> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/upstream-netpol-aws/aws");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{} is missing, and CI needs it", p.display());
    }
    eprintln!("note: {} is missing: the AWS data tests skip", p.display());
    None
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn import(dir: &Path) -> String {
    let mut files = Vec::new();
    json_files(dir, &mut files);
    let inputs: Vec<Input> = files
        .iter()
        .map(|f| Input::new(f.display().to_string(), std::fs::read_to_string(f).unwrap()))
        .collect();
    match aws::import(&inputs, &aws::Options::default()) {
        Ok(i) => i.yaml,
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

#[test]
fn every_snapshot_imports_loads_and_computes() {
    let Some(root) = data() else { return };
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let yaml = import(&dir);
        let scn = pathproof_core::load("imported.yaml", &yaml, None).unwrap_or_else(|e| {
            panic!(
                "{}: the imported scenario does not load: {e}",
                dir.display()
            )
        });
        let r = pathproof_core::analysis::reach::reach(&scn, &Default::default());
        assert!(
            !r.journeys.is_empty(),
            "{}: no journey at all",
            dir.display()
        );
        n += 1;
    }
    assert_eq!(n, 6, "the six Batfish snapshots");
}

/// One transcribed assertion.
#[derive(Debug)]
struct Case {
    snapshot: String,
    text: String,
    from: String,
    dst: String,
    proto: Proto,
    port: u16,
    disposition: String,
    path: Vec<String>,
    back: Vec<String>,
    src: Option<String>,
    translates: Option<String>,
    skip: Option<String>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut snapshot = String::new();
    for line in include_str!("upstream/aws-batfish.txt")
        .lines()
        .map(str::trim)
    {
        if let Some(s) = line.strip_prefix("## ") {
            snapshot = s.to_string();
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (body, skip) = match line.split_once(" skip: ") {
            Some((b, s)) => (b, Some(s.to_string())),
            None => (line, None),
        };
        let w: Vec<&str> = body.split_whitespace().collect();
        assert!(
            w.len() >= 8 && w[1] == "->" && w[4] == "=>",
            "bad line: {line}"
        );
        let (proto, port) = w[3].split_once('/').expect("PROTO/PORT");
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "sctp" => Proto::Sctp,
            other => panic!("protocol {other}"),
        };
        let mut c = Case {
            snapshot: snapshot.clone(),
            text: line.to_string(),
            from: w[0].into(),
            dst: w[2].into(),
            proto,
            port: port.parse().unwrap(),
            disposition: w[5].into(),
            path: Vec::new(),
            back: Vec::new(),
            src: None,
            translates: None,
            skip,
        };
        let mut i = 6;
        while i + 1 < w.len() {
            let list = || w[i + 1].split(',').map(str::to_string).collect::<Vec<_>>();
            match w[i] {
                "path" => c.path = list(),
                "back" => c.back = list(),
                "src" => c.src = Some(w[i + 1].into()),
                "translates" => c.translates = Some(w[i + 1].into()),
                other => panic!("unknown word {other} in {line}"),
            }
            i += 2;
        }
        out.push(c);
    }
    out
}

/// Whether a pathproof device stands for a Batfish node.
fn stands_for(device: &str, node: &str) -> bool {
    match node {
        "INTERNET" | "BACKBONE" => device.starts_with("internet@") || device == "exit-host",
        _ => {
            device == node
                || device
                    .strip_prefix(node)
                    .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('@'))
        }
    }
}

/// The nodes a path must visit in order (see the module doc).
fn checked(path: &[String]) -> Vec<&str> {
    let n = path.len();
    path.iter()
        .enumerate()
        .filter(|(i, p)| {
            let inner = *i > 0 && *i + 1 < n;
            *p != "BACKBONE" && !(inner && p.starts_with("vpc-"))
        })
        .map(|(_, p)| p.as_str())
        .collect()
}

/// The devices of the hops in one direction, consecutive repeats folded.
fn devices(t: &Trace, dir: Direction) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in t.hops.iter().filter(|h| h.direction == dir) {
        if out.last() != Some(&h.device) {
            out.push(h.device.clone());
        }
    }
    out
}

fn visits_in_order(devs: &[String], nodes: &[&str]) -> bool {
    let mut it = devs.iter();
    nodes.iter().all(|n| it.by_ref().any(|d| stands_for(d, n)))
}

fn check(case: &Case, root: &Path) -> Result<(), String> {
    let mut yaml = import(&root.join(&case.snapshot));
    let exits = case.disposition == "EXITS_NETWORK";
    if exits {
        let proto = match case.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            _ => "sctp",
        };
        yaml = yaml.replacen(
            "\nhosts:\n",
            &format!(
                "\nhosts:\n  exit-host: {{ at: \"internet {}\", listen: [\"{proto}/{}\"] }}\n",
                case.dst, case.port
            ),
            1,
        );
    }
    let scn = pathproof_core::load("imported.yaml", &yaml, None).map_err(|e| e.to_string())?;
    let from = match (case.from.as_str(), &case.src) {
        ("INTERNET", Some(a)) => format!("internet@{a}"),
        ("INTERNET", None) => "internet".to_string(),
        (f, Some(a)) => format!("{f}@{a}"),
        (f, None) if f.starts_with("vpc-") => format!("{f}/router"),
        (f, None) => f.to_string(),
    };
    let mut q = pathproof_core::Query::new(&from, &format!("{}:{}", case.dst, case.port));
    q.proto = case.proto;
    let t = pathproof_core::trace(&scn, &q).map_err(|e| format!("query: {e:?}"))?;
    let kind = t.outcome.kind;
    let at = t.outcome.at.clone().unwrap_or_default();
    let want: &[OutcomeKind] = match case.disposition.as_str() {
        "ACCEPTED" | "EXITS_NETWORK" => &[OutcomeKind::Reached],
        "DENIED_IN" | "DENIED_OUT" => &[OutcomeKind::Dropped],
        "NULL_ROUTED" => &[OutcomeKind::Dropped, OutcomeKind::NoRoute],
        "NO_ROUTE" | "DELIVERED_TO_SUBNET" => &[OutcomeKind::NoRoute],
        other => return Err(format!("disposition {other} is not mapped")),
    };
    let last = case.path.last().expect("a path");
    let mut problems = Vec::new();
    if !want.contains(&kind) {
        problems.push(format!("outcome {} (want {want:?})", kind.name()));
    }
    if !stands_for(&at, last) {
        problems.push(format!("ends at {at} (want {last})"));
    }
    let fwd = devices(&t, Direction::Request);
    if !visits_in_order(&fwd, &checked(&case.path)) {
        problems.push(format!("request path {fwd:?}"));
    }
    if !case.back.is_empty() {
        let rev = devices(&t, Direction::Reply);
        if !visits_in_order(&rev, &checked(&case.back)) {
            problems.push(format!("reply path {rev:?}"));
        }
    }
    if let Some(n) = &case.translates {
        let nat = t
            .hops
            .iter()
            .any(|h| h.device == *n && matches!(h.stage, Stage::Dnat | Stage::Snat));
        if !nat {
            problems.push(format!("no translation at {n}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", problems.join("; "), t.outcome.text))
    }
}

#[test]
fn batfish_expectations_hold() {
    let Some(root) = data() else { return };
    let all = cases();
    assert!(all.len() >= 30, "{} cases", all.len());
    let mut failed = Vec::new();
    let mut checked_n = 0;
    for c in &all {
        let result = check(c, &root);
        match (&c.skip, result) {
            (None, Ok(())) => checked_n += 1,
            (None, Err(e)) => failed.push(format!("{}: {}\n    {e}", c.snapshot, c.text)),
            (Some(why), Ok(())) => failed.push(format!(
                "{}: {} is marked skip ({why}) but holds: remove the mark",
                c.snapshot, c.text
            )),
            (Some(why), Err(_)) => eprintln!("known difference: {} ({why})", c.text),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!("{checked_n} Batfish assertions hold");
}
