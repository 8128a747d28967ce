//! Crafted sources against the kernel, one by one: from the stand-in of a
//! catch-all `internet` (IPv4 and IPv6), a TCP SYN and a UDP datagram with
//! each martian and special-purpose source (`martian::SOURCES`) and the
//! stand-in's own address, to web behind the router and to the router's
//! own socket, with the router's `rp_filter` off and strict. Where each
//! lab namespace saw each packet must be what the model's trace says, and
//! what Linux 6.18 was measured to do (the table below: the kernel's side
//! is checked against it too, so a kernel that changes shows here).

mod common;

use std::collections::BTreeMap;

use pathproof_core::model::Proto;
use pathproof_lab::martian::{self, Seen};

const SCENARIO: &str = include_str!("scenarios/martian.yaml");

/// How far a packet from each source gets, by what the namespaces see:
/// through the router to web, or into the router itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Seen nowhere: dropped on receipt (IPv6 `ipv6_rcv`).
    Receipt,
    /// Seen at the router's prerouting only: dropped at its routing
    /// decision (IPv4), or when forwarding (IPv6).
    AtRouter,
    /// Arrives: forwarded to web, or delivered to the router.
    Arrives,
}

/// The measured fate of each source: (source, to web, to the router).
const FATES: &[(&str, Fate, Fate)] = &[
    ("0.0.0.0", Fate::AtRouter, Fate::AtRouter),
    ("0.1.2.3", Fate::Arrives, Fate::Arrives),
    ("127.0.0.5", Fate::AtRouter, Fate::AtRouter),
    ("224.0.0.5", Fate::AtRouter, Fate::AtRouter),
    ("255.255.255.255", Fate::AtRouter, Fate::AtRouter),
    ("240.0.0.5", Fate::Arrives, Fate::Arrives),
    ("169.254.1.1", Fate::Arrives, Fate::Arrives),
    // Not forwarded, but delivered on its own link.
    ("::", Fate::AtRouter, Fate::Arrives),
    ("::1", Fate::Receipt, Fate::Receipt),
    ("ff02::5", Fate::Receipt, Fate::Receipt),
    ("fe80::1", Fate::AtRouter, Fate::Arrives),
    ("::ffff:10.0.0.1", Fate::Arrives, Fate::Arrives),
    ("100::1", Fate::Arrives, Fate::Arrives),
];

/// What the namespaces see for a fate.
fn seen(fate: Fate, to_web: bool) -> BTreeMap<String, Seen> {
    let mut m = BTreeMap::new();
    let s = |pre, fwd, input| Seen { pre, fwd, input };
    match (fate, to_web) {
        (Fate::Receipt, _) => {}
        (Fate::AtRouter, _) => {
            m.insert("r".to_string(), s(true, false, false));
        }
        (Fate::Arrives, true) => {
            m.insert("r".to_string(), s(true, true, false));
            m.insert("web".to_string(), s(true, false, true));
        }
        (Fate::Arrives, false) => {
            m.insert("r".to_string(), s(true, false, true));
        }
    }
    m
}

#[test]
fn each_crafted_source_goes_where_the_model_says() {
    if !common::root_or_skip("each_crafted_source_goes_where_the_model_says") {
        return;
    }
    let mut checked = 0;
    for variant in [None, Some("strict")] {
        let l = common::Lab::up("mart", "martian.yaml", SCENARIO, variant);
        let scn = l.spec.load().expect("loads");
        // The ordinary journeys agree first.
        for r in l.probe_all() {
            assert!(
                r.agree,
                "{variant:?}: {} -> {}: {:?}",
                r.from, r.to, r.disagreement
            );
        }
        let jobs = pathproof_lab::probe::jobs(&scn);
        let report = martian::probe(&scn, &l.plan(), &jobs).expect("crafted probes run");
        drop(l);
        assert!(
            report.not_made.is_empty(),
            "{variant:?}: not made: {:?}",
            report.not_made
        );
        // Every source, both protocols, to web (both families: by name,
        // web:80 and web:53) and to the router (r:22, both families).
        let per_dest = |to_web: bool| {
            report
                .packets
                .iter()
                .filter(|c| (c.dest_host == "web") == to_web)
                .count()
        };
        assert_eq!(
            per_dest(true),
            2 * 2 * (martian::SOURCES.len() + 2),
            "{variant:?}"
        );
        assert_eq!(
            per_dest(false),
            2 * (martian::SOURCES.len() + 2),
            "{variant:?}"
        );
        for c in &report.packets {
            assert!(c.agree, "{variant:?}: {}", c.line());
            let to_web = c.dest_host == "web";
            let fate = if c.control {
                Fate::Arrives
            } else {
                FATES
                    .iter()
                    .find(|f| f.0.parse::<std::net::IpAddr>().unwrap() == c.src)
                    .map(|f| if to_web { f.1 } else { f.2 })
                    .expect("a listed source")
            };
            assert_eq!(
                c.kernel,
                seen(fate, to_web),
                "{variant:?}: the kernel, measured as {fate:?}: {}",
                c.line()
            );
            // A martian drop is the model's own hop, at the router.
            if fate != Fate::Arrives {
                let (dev, why) = c.model_martian.as_ref().expect("a martian hop");
                assert_eq!(dev, "r", "{}", c.line());
                assert!(why.contains("martian source"), "{why}");
            }
            assert!(c.proto == Proto::Tcp || c.proto == Proto::Udp);
            checked += 1;
        }
    }
    eprintln!("crafted sources: {checked} packets, every one where the model says");
    assert_eq!(checked, 2 * 6 * (martian::SOURCES.len() + 2));
}
