//! Crafted sources against the kernel, one by one: from the stand-in of a
//! catch-all `internet` (IPv4 and IPv6), a TCP SYN and a UDP datagram with
//! each martian and special-purpose source (`martian::SOURCES`) and the
//! stand-in's own address, to web behind the router and to the router's
//! own socket and, through the router's DNAT, to peer beside the stand-in
//! (back out the interface it came in on); from the LAN's stand-in, the
//! LAN's own special addresses
//! (`martian::network_sources`) to the router; with the router's
//! `rp_filter` off and strict. Where each lab namespace saw each packet
//! must be what the model's trace says, and what Linux 6.18 was measured to
//! do (the tables below: the kernel's side is checked against them too, so
//! a kernel that changes shows here).

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

/// The measured fate of each source: (source, to web, to the router, to
/// peer through the router and back out the interface it came in on).
const FATES: &[(&str, Fate, Fate, Fate)] = &[
    ("0.0.0.0", Fate::AtRouter, Fate::AtRouter, Fate::AtRouter),
    ("0.1.2.3", Fate::Arrives, Fate::Arrives, Fate::Arrives),
    ("127.0.0.5", Fate::AtRouter, Fate::AtRouter, Fate::AtRouter),
    ("224.0.0.5", Fate::AtRouter, Fate::AtRouter, Fate::AtRouter),
    (
        "255.255.255.255",
        Fate::AtRouter,
        Fate::AtRouter,
        Fate::AtRouter,
    ),
    ("240.0.0.5", Fate::Arrives, Fate::Arrives, Fate::Arrives),
    ("169.254.1.1", Fate::Arrives, Fate::Arrives, Fate::Arrives),
    // Not forwarded to another interface, but delivered on its own link,
    // and forwarded back out it (`ip6_forward` does not check then).
    ("::", Fate::AtRouter, Fate::Arrives, Fate::Arrives),
    ("::1", Fate::Receipt, Fate::Receipt, Fate::Receipt),
    ("ff02::5", Fate::Receipt, Fate::Receipt, Fate::Receipt),
    ("fe80::1", Fate::AtRouter, Fate::Arrives, Fate::Arrives),
    (
        "::ffff:10.0.0.1",
        Fate::Arrives,
        Fate::Arrives,
        Fate::Arrives,
    ),
    ("100::1", Fate::Arrives, Fate::Arrives, Fate::Arrives),
];

/// The LAN's own special addresses, sent to the router: (source, with
/// `rp_filter` off, strict). The directed broadcast's route back is a
/// broadcast route and the subnet-router anycast's an anycast route: the
/// reverse-path check drops both, strict or loose.
const LAN_FATES: &[(&str, Fate, Fate)] = &[
    ("10.70.0.0", Fate::Arrives, Fate::Arrives),
    ("10.70.0.255", Fate::Arrives, Fate::AtRouter),
    ("fd00:70::", Fate::Arrives, Fate::AtRouter),
];

/// What the namespaces see for a fate, the journey going to `dest`.
fn seen(fate: Fate, dest: &str) -> BTreeMap<String, Seen> {
    let mut m = BTreeMap::new();
    let s = |pre, fwd, input| Seen { pre, fwd, input };
    match (fate, dest) {
        (Fate::Receipt, _) => {}
        (Fate::AtRouter, _) => {
            m.insert("r".to_string(), s(true, false, false));
        }
        (Fate::Arrives, "r") => {
            m.insert("r".to_string(), s(true, false, true));
        }
        (Fate::Arrives, dest) => {
            m.insert("r".to_string(), s(true, true, false));
            m.insert(dest.to_string(), s(true, false, true));
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
        // The LAN's stand-in sends only from the LAN's addresses, as the
        // model's does: the listed sources are not made from it.
        assert_eq!(
            report.not_made.len(),
            martian::SOURCES.len(),
            "{variant:?}: not made: {:?}",
            report.not_made
        );
        for (what, why) in &report.not_made {
            assert!(
                what.starts_with("lan@") && why.contains("cannot send from it"),
                "{what}: {why}"
            );
        }
        // Every source, both protocols, both families (by name), from the
        // internet to web (web:80 and web:53), to the router (r:22, and
        // r:2222 for UDP) and through it to peer (r:2222 for TCP); from the
        // LAN to the router.
        let count = |net: &str, dest: &str| {
            report
                .packets
                .iter()
                .filter(|c| c.network == net && c.dest_host == dest)
                .count()
        };
        let per_dest = martian::SOURCES.len() + 2;
        assert_eq!(count("internet", "web"), 2 * 2 * per_dest, "{variant:?}");
        assert_eq!(count("internet", "r"), 3 * per_dest, "{variant:?}");
        assert_eq!(count("internet", "peer"), per_dest, "{variant:?}");
        assert_eq!(count("lan", "r"), 2 * (3 + 2), "{variant:?}");
        assert_eq!(report.packets.len(), 8 * per_dest + 10, "{variant:?}");
        for c in &report.packets {
            assert!(c.agree, "{variant:?}: {}", c.line());
            let fate = if c.control {
                Fate::Arrives
            } else if c.network == "lan" {
                LAN_FATES
                    .iter()
                    .find(|f| f.0.parse::<std::net::IpAddr>().unwrap() == c.src)
                    .map(|f| if variant.is_none() { f.1 } else { f.2 })
                    .expect("a LAN source")
            } else {
                FATES
                    .iter()
                    .find(|f| f.0.parse::<std::net::IpAddr>().unwrap() == c.src)
                    .map(|f| match c.dest_host.as_str() {
                        "web" => f.1,
                        "r" => f.2,
                        _ => f.3,
                    })
                    .expect("a listed source")
            };
            assert_eq!(
                c.kernel,
                seen(fate, &c.dest_host),
                "{variant:?}: the kernel, measured as {fate:?}: {}",
                c.line()
            );
            // A martian drop is the model's own hop, at the router; the
            // LAN's drops are its reverse-path check.
            if fate != Fate::Arrives && c.network == "internet" {
                let (dev, why) = c.model_martian.as_ref().expect("a martian hop");
                assert_eq!(dev, "r", "{}", c.line());
                assert!(why.contains("martian source"), "{why}");
            }
            assert!(c.proto == Proto::Tcp || c.proto == Proto::Udp);
            checked += 1;
        }
    }
    eprintln!("crafted sources: {checked} packets, every one where the model says");
    assert_eq!(checked, 2 * (8 * (martian::SOURCES.len() + 2) + 10));
}
