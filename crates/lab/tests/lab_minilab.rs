//! The mini-lab for real: every probe agrees with the model in every variant;
//! the `break` variant really lets web reach the metadata service and
//! `harden` really blocks it; up + probe + down stays under 10 s.

mod common;

use std::time::Instant;

use pathproof_core::model::Proto;
use pathproof_core::Query;
use pathproof_lab::probe::{self, Class, Job};

fn web_to_metadata(l: &common::Lab) -> probe::ProbeResult {
    let scn = l.spec.load().unwrap();
    let job = Job {
        why: "web -> metadata".into(),
        query: {
            let mut q = Query::new("web", "metadata:80");
            q.proto = Proto::Tcp;
            q
        },
        source: scn.host_by_name("web").unwrap().index(),
        by_name: false,
        via_target: None,
        network: None,
    };
    probe::probe(&scn, &l.plan(), vec![job]).unwrap().remove(0)
}

/// A journey from a network is sent for real by a stand-in namespace with the
/// model's stand-in address, which exists only while it is probed.
#[test]
fn a_network_source_is_probed_from_a_stand_in() {
    if !common::root_or_skip("a_network_source_is_probed_from_a_stand_in") {
        return;
    }
    let l = common::Lab::builtin("standin", "mini-lab", None);
    let scn = l.spec.load().unwrap();
    let internet = scn.network_by_name("internet").unwrap().index();
    let job = |to: &str| Job {
        why: format!("internet -> {to}"),
        query: Query::new("internet", to),
        source: 0,
        by_name: false,
        via_target: None,
        network: Some(internet),
    };
    let r = probe::probe(&scn, &l.plan(), vec![job("web:443"), job("db:5432")]).unwrap();
    // Through the edge's DNAT to web, which sees the stand-in's own address.
    assert_eq!(r[0].kernel.class, Class::Connected, "{:?}", r[0]);
    assert_eq!(r[0].kernel.answered_by.as_deref(), Some("web"));
    let addr: std::net::IpAddr = r[0]
        .stand_in
        .as_deref()
        .and_then(|s| s.rsplit_once('@'))
        .and_then(|s| s.1.parse().ok())
        .expect("the stand-in's address");
    assert!(scn.owners_of(addr).is_empty(), "{addr} belongs to a host");
    assert_eq!(r[0].kernel.peer_seen, Some(addr));
    assert!(r[0].agree, "{:?}", r[0].disagreement);
    // The edge drops the internet's way to the database.
    assert!(
        matches!(r[1].kernel.class, Class::Timeout | Class::LocalDrop),
        "{:?}",
        r[1].kernel
    );
    assert!(r[1].agree, "{:?}", r[1].disagreement);
    // The stand-in is gone again; the lab's own namespaces are still there.
    let left = pathproof_lab::netns::list().unwrap();
    assert!(
        !left
            .iter()
            .any(|n| n.starts_with(&format!("pp-{}.net_", l.name))),
        "{left:?}"
    );
    assert!(
        left.iter().any(|n| n == &format!("pp-{}.web", l.name)),
        "{left:?}"
    );
    // Its port on the bridge is gone at once too (it used to linger until
    // the kernel cleaned the deleted namespace up, later), so a probe made
    // right after makes the stand-in again instead of failing with
    // `File exists`.
    let port = format!("s{internet}");
    let links = pathproof_lab::netns::run_cmd(
        "ip",
        &["-n", &format!("pp-{}.br", l.name), "-o", "link", "show"],
        None,
    )
    .unwrap();
    assert!(
        !links
            .lines()
            .any(|x| x.split(':').nth(1).map(|n| n.trim().split('@').next()) == Some(Some(&port))),
        "{links}"
    );
    let again = probe::probe(&scn, &l.plan(), vec![job("web:443"), job("db:5432")])
        .expect("a second probe right after the first");
    assert!(again.iter().all(|r| r.agree), "{again:?}");
}

#[test]
fn break_reaches_the_metadata_service_and_harden_blocks_it() {
    if !common::root_or_skip("break_reaches_the_metadata_service_and_harden_blocks_it") {
        return;
    }
    let base = common::Lab::builtin("mdbase", "mini-lab", None);
    let r = web_to_metadata(&base);
    assert_eq!(r.kernel.class, Class::Timeout, "{r:?}");
    drop(base);

    let broken = common::Lab::builtin("mdbreak", "mini-lab", Some("break"));
    let r = web_to_metadata(&broken);
    assert_eq!(r.kernel.class, Class::Connected, "{:?}", r.kernel);
    assert_eq!(r.kernel.answered_by.as_deref(), Some("metadata"));
    assert_eq!(r.kernel.peer_seen, Some("10.0.1.10".parse().unwrap()));
    assert!(r.agree, "{:?}", r.disagreement);
    drop(broken);

    let hard = common::Lab::builtin("mdharden", "mini-lab", Some("harden"));
    let r = web_to_metadata(&hard);
    // web's own egress filter drops it before it leaves: EPERM from the output hook.
    assert!(
        matches!(r.kernel.class, Class::Timeout | Class::LocalDrop),
        "{:?}",
        r.kernel
    );
    assert!(r.agree, "{:?}", r.disagreement);
}

#[test]
fn mini_lab_up_probe_down_under_ten_seconds_and_in_agreement() {
    if !common::root_or_skip("mini_lab_up_probe_down_under_ten_seconds_and_in_agreement") {
        return;
    }
    let start = Instant::now();
    let l = common::Lab::builtin("speed", "mini-lab", None);
    let up = start.elapsed();
    let results = l.probe_all();
    let probed = start.elapsed();
    drop(l);
    let total = start.elapsed();
    eprintln!(
        "mini-lab: up {:.2} s, probe {:.2} s ({} probes), down {:.2} s, total {:.2} s",
        up.as_secs_f64(),
        (probed - up).as_secs_f64(),
        results.len(),
        (total - probed).as_secs_f64(),
        total.as_secs_f64()
    );
    let bad: Vec<_> = results
        .iter()
        .filter(|r| !r.agree)
        .map(|r| (&r.from, &r.to, &r.disagreement))
        .collect();
    assert!(bad.is_empty(), "disagreements: {bad:#?}");
    assert!(results.len() >= 90, "only {} probes", results.len());
    // Every probe class shows up: the comparison is not vacuous.
    for c in [
        Class::Connected,
        Class::Refused,
        Class::Timeout,
        Class::ProxyDenied,
    ] {
        assert!(
            results.iter().any(|r| r.kernel.class == c),
            "no probe was {c:?}"
        );
    }
    assert!(total.as_secs_f64() < 10.0, "took {total:?}");
}
