//! The scenarios of `differential_hosts`: hosts carrying random rule sets (shared
//! with `flatten_random`'s agreement of the tracer and the all-journeys engine).
#![allow(dead_code)]

use std::fmt::Write as _;

use pathproof_lab::filterdiff::{kinds, random_case, Family as CaseFamily, Format, Rng};
use pathproof_lab::nftdiff::random_nft_case;
use pathproof_rulesets::Hook;

/// The reject answers the model has (port unreachable, tcp reset, admin and host
/// prohibited) in place of the others the generators write.
pub fn known_rejects(text: &str) -> String {
    let mut t = text.to_string();
    for (from, to) in [
        ("type host-unreachable", "type port-unreachable"),
        ("type net-unreachable", "type port-unreachable"),
        ("type prot-unreachable", "type port-unreachable"),
        ("type net-prohibited", "type admin-prohibited"),
        ("type no-route", "type port-unreachable"),
        ("type addr-unreachable", "type port-unreachable"),
        ("type policy-fail", "type port-unreachable"),
        ("type reject-route", "type port-unreachable"),
        ("icmp-net-unreachable", "icmp-port-unreachable"),
        ("icmp-host-unreachable", "icmp-port-unreachable"),
        ("icmp-proto-unreachable", "icmp-port-unreachable"),
        ("icmp6-no-route", "icmp6-port-unreachable"),
        ("icmp6-addr-unreachable", "icmp6-port-unreachable"),
    ] {
        t = t.replace(from, to);
    }
    t
}

/// An address of the generators' pools on the left (10.0-1.x.x, 2001:db8:0-1::)
/// or right (10.2-3.x.x, 2001:db8:2-3::) network.
fn pool_addr(r: &mut Rng, right: bool, v6: bool) -> String {
    let hi = 2 * u64::from(right) + r.below(2);
    if v6 {
        format!("2001:db8:{hi:x}:{:x}::{:x}", r.below(4), 2 + r.below(500))
    } else {
        format!("10.{hi}.{}.{}", r.below(4), 2 + r.below(250))
    }
}

/// A scenario for `seed` and its rule set files, or `None` when it would put two
/// hosts on one address.
pub fn scenario(seed: u64) -> (String, pathproof_core::Files) {
    let mut r = Rng(seed ^ 0x686f_7374_7364_6966);
    let mut files = pathproof_core::Files::new();
    let mut used: Vec<String> = vec!["10.0.0.1".into(), "10.2.0.1".into()];
    let addr = |r: &mut Rng, right: bool, v6: bool, used: &mut Vec<String>| loop {
        let a = pool_addr(r, right, v6);
        if !used.contains(&a) {
            used.push(a.clone());
            return a;
        }
    };
    // fw: the FORWARD rule set, nft or iptables, with a nat table often.
    let iptables = seed % 2 == 1;
    let (mut fw, fw_v6) = if iptables {
        let family = if seed % 4 == 1 {
            CaseFamily::V4
        } else {
            CaseFamily::V6
        };
        let kind = kinds()
            .into_iter()
            .find(|k| {
                k.format == Format::IptablesSave && k.family == family && k.hook == Hook::Forward
            })
            .expect("a kind");
        (random_case(seed, kind, 1).text, family == CaseFamily::V6)
    } else {
        (random_nft_case(seed, Hook::Forward, 1).text, false)
    };
    let s1_v4 = addr(&mut r, true, false, &mut used);
    let s1_v6 = addr(&mut r, true, true, &mut used);
    let nat = r.chance(0.7);
    let dnat_port = 7000 + r.below(100) as u16;
    let masq_src = if r.chance(0.5) {
        "10.1.0.0/16"
    } else {
        "10.0.0.0/15"
    };
    if nat {
        if iptables && fw_v6 {
            let _ = write!(
                fw,
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 2001:db8::1/128 -i b0 -p tcp -m tcp --dport {dnat_port} -j DNAT --to-destination [{s1_v6}]:80\n-A POSTROUTING -s 2001:db8:1::/48 -o b1 -j MASQUERADE\nCOMMIT\n"
            );
        } else if iptables {
            let _ = write!(
                fw,
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.0.0.1/32 -i b0 -p tcp -m tcp --dport {dnat_port} -j DNAT --to-destination {s1_v4}:80\n-A POSTROUTING -d 10.3.0.0/16 -j ACCEPT\n-A POSTROUTING -s {masq_src} -o b1 -j MASQUERADE\nCOMMIT\n"
            );
        } else {
            let snat = if r.chance(0.5) {
                "masquerade".to_string()
            } else {
                "snat to 10.2.0.1".to_string()
            };
            let _ = write!(
                fw,
                "table ip pnat {{\n\tchain pre {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname \"b0\" ip daddr 10.0.0.1 tcp dport {dnat_port} dnat to {s1_v4}:80\n\t}}\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip daddr 10.3.0.0/16 accept\n\t\toifname \"b1\" ip saddr {masq_src} {snat}\n\t}}\n}}\n"
            );
        }
    }
    files.insert("fw.rules".into(), known_rejects(&fw));
    // s1: an INPUT rule set; c1: an OUTPUT rule set.
    let s1 = random_nft_case(seed.wrapping_add(7_000), Hook::Input, 1).text;
    files.insert("s1.rules".into(), known_rejects(&s1));
    let c1_kind = kinds()
        .into_iter()
        .find(|k| {
            k.format == Format::IptablesSave && k.family == CaseFamily::V4 && k.hook == Hook::Output
        })
        .expect("a kind");
    files.insert(
        "c1.rules".into(),
        known_rejects(&random_case(seed.wrapping_add(9_000), c1_kind, 1).text),
    );
    let c1 = (
        addr(&mut r, false, false, &mut used),
        addr(&mut r, false, true, &mut used),
    );
    let c2 = (
        addr(&mut r, false, false, &mut used),
        addr(&mut r, false, true, &mut used),
    );
    let s2 = (
        addr(&mut r, true, false, &mut used),
        addr(&mut r, true, true, &mut used),
    );
    let ports = |r: &mut Rng| -> Vec<String> {
        let mut v = Vec::new();
        for base in [22u16, 53, 80, 443, 1000, 8080, 30000] {
            if r.chance(0.5) || base == 80 {
                let p = base + r.below(3) as u16;
                let p = if base == 80 { 80 } else { p };
                let proto = if r.chance(0.3) { "udp" } else { "tcp" };
                v.push(format!("\"{proto}/{p}\""));
            }
        }
        v.sort();
        v.dedup();
        v
    };
    let mut y = String::new();
    let _ = writeln!(y, "name: hosts-{seed}");
    let _ = writeln!(y, "networks:");
    let _ = writeln!(
        y,
        "  left: {{ cidr: [10.0.0.0/15, \"2001:db8::/47\"], gateway: fw }}"
    );
    let _ = writeln!(
        y,
        "  right: {{ cidr: [10.2.0.0/15, \"2001:db8:2::/47\"], gateway: fw }}"
    );
    let _ = writeln!(y, "hosts:");
    let _ = writeln!(y, "  fw:\n    router: true\n    at: [\"left 10.0.0.1 2001:db8::1\", \"right 10.2.0.1 2001:db8:2::1\"]\n    ruleset: {{ file: fw.rules, interfaces: {{ b0: left, b1: right }} }}");
    let _ = writeln!(y, "  c1:\n    at: \"left {} {}\"\n    ruleset: {{ file: c1.rules, interfaces: {{ b0: left }} }}", c1.0, c1.1);
    let _ = writeln!(y, "  c2: {{ at: \"left {} {}\" }}", c2.0, c2.1);
    let _ = writeln!(y, "  s1:\n    at: \"right {s1_v4} {s1_v6}\"\n    listen: [{}]\n    ruleset: {{ file: s1.rules, interfaces: {{ b0: right }} }}", ports(&mut r).join(", "));
    let _ = writeln!(
        y,
        "  s2:\n    at: \"right {} {}\"\n    listen: [{}]",
        s2.0,
        s2.1,
        ports(&mut r).join(", ")
    );
    let _ = writeln!(y, "expect:");
    for _ in 0..6 {
        let right = r.chance(0.3);
        let v6 = r.chance(0.4);
        let src = loop {
            let a = pool_addr(&mut r, right, v6);
            if !used.contains(&a) {
                break a;
            }
        };
        // The server's address of the source's family (a host name would be its
        // IPv4 address for the model).
        let dst = match (r.chance(0.5), v6) {
            (true, false) => s1_v4.clone(),
            (true, true) => format!("[{s1_v6}]"),
            (false, false) => s2.0.clone(),
            (false, true) => format!("[{}]", s2.1),
        };
        let proto = if r.chance(0.3) { "udp" } else { "tcp" };
        let port = [22u16, 53, 80, 443, 1001, 8080, 30002][r.below(7) as usize];
        let _ = writeln!(y, "  - \"allow {proto} {src} -> {dst}:{port}\"");
    }
    if nat {
        let to = if iptables && fw_v6 {
            "[2001:db8::1]"
        } else {
            "10.0.0.1"
        };
        let _ = writeln!(y, "  - \"allow c2 -> {to}:{dnat_port}\"");
    }
    (y, files)
}
