//! The flattened first-match lists against the evaluator, packet by packet: the
//! same verdict and the same deciding rule (or map element, or policy) for every
//! packet of a domain, on rule sets with jumps, gotos, returns, verdict maps with
//! `continue`, catch-alls and jumps, several base chains per hook, negations and
//! interface names; and the nat hooks' translations.

use pathproof_rulesets::flatten::{decide, Domain, Outcome};
use pathproof_rulesets::{
    parse_ruleset, CtState, Family, Hook, Packet, RejectWith, Ruleset, Verdict,
};
use std::net::IpAddr;

const STATES: [CtState; 4] = [
    CtState::New,
    CtState::Established,
    CtState::Related,
    CtState::Invalid,
];

fn domain(family: Family, traversal: Hook, devs: &[&str]) -> Domain {
    let protos = match family {
        Family::V4 => vec![6, 17, 1],
        Family::V6 => vec![6, 17, 58],
    };
    let reals: Vec<String> = devs.iter().map(|d| d.to_string()).collect();
    let none = vec![String::new()];
    let (i, o) = match traversal {
        Hook::Input => (reals.clone(), none),
        Hook::Output => (none, reals.clone()),
        _ => (reals.clone(), reals),
    };
    Domain {
        family,
        protos,
        in_devs: i,
        out_devs: o,
        states: STATES.to_vec(),
    }
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() as usize) % v.len()]
    }
}

/// Random packets of the domain from the candidate addresses and ports, checked
/// against the evaluator.
fn agree(
    rs: &Ruleset,
    traversal: Hook,
    dom: &Domain,
    addrs: &[&str],
    ports: &[u16],
    n: usize,
) -> usize {
    let list = rs.flatten_filter(traversal, dom).expect("flattens");
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    let mut rng = Lcg(7);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..n {
        let proto = *rng.pick(&dom.protos);
        let has = matches!(proto, 6 | 17);
        let p = Packet {
            protocol: proto,
            src: *rng.pick(&addrs),
            dst: *rng.pick(&addrs),
            sport: has.then(|| *rng.pick(ports)),
            dport: has.then(|| *rng.pick(ports)),
            in_iface: Some(rng.pick(&dom.in_devs).clone()).filter(|s| !s.is_empty()),
            out_iface: Some(rng.pick(&dom.out_devs).clone()).filter(|s| !s.is_empty()),
            state: *rng.pick(&dom.states),
            hook: traversal,
        };
        let want = rs.evaluate(&p);
        let got = decide(&list, dom, &p).unwrap_or_else(|| panic!("no entry for {p:?}"));
        let verdict = match got.outcome {
            Outcome::Accept => Verdict::Accept,
            Outcome::Drop => Verdict::Drop,
            Outcome::Reject(_) => Verdict::Reject,
            Outcome::Nat(_) => panic!("a translation in a filter list"),
        };
        assert_eq!(
            (verdict, &got.decided_by),
            (want.verdict, &want.decided_by),
            "packet {p:?}"
        );
        seen.insert(format!("{:?}", want.decided_by));
    }
    seen.len()
}

const IPT: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:svc - [0:0]
:admins - [0:0]
:late - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -p tcp -m multiport --ports 22,80 -j svc
-A INPUT -s 10.0.0.0/8 -g admins
-A INPUT -p udp ! --dport 53 -j REJECT --reject-with icmp-host-prohibited
-A INPUT -p icmp -j ACCEPT
-A INPUT -j late
-A svc -s 192.0.2.0/24 -j RETURN
-A svc -p tcp --dport 22 -j ACCEPT
-A svc -p tcp --dport 80 -i eth1 -j ACCEPT
-A admins -i eth0 -j RETURN
-A admins -p tcp -j REJECT --reject-with tcp-reset
-A late ! -i eth+ -j ACCEPT
-A late -m iprange --src-range 10.0.0.5-10.0.0.9 -j LOG
-A FORWARD -i eth0 -o eth1 -j ACCEPT
-A FORWARD -i eth1 -o eth0 -m state --state ESTABLISHED -j ACCEPT
-A FORWARD -d 192.0.2.0/25 -j svc
-A OUTPUT -o eth1 -p tcp --sport 22 -j DROP
COMMIT
";

const ADDRS4: &[&str] = &[
    "10.0.0.1",
    "10.0.0.6",
    "10.255.255.255",
    "192.0.2.5",
    "192.0.2.200",
    "198.51.100.1",
    "0.0.0.0",
    "255.255.255.255",
];
const PORTS: &[u16] = &[0, 22, 53, 80, 443, 1023, 8080, 65535];

#[test]
fn iptables_chains_jumps_gotos_returns() {
    let rs = parse_ruleset(IPT).unwrap();
    let mut deciders = 0;
    for t in [Hook::Input, Hook::Forward, Hook::Output] {
        let dom = domain(Family::V4, t, &["eth0", "eth1", "wlan0"]);
        deciders += agree(&rs, t, &dom, ADDRS4, PORTS, 20_000);
    }
    // The packets met many deciders (the test is not vacuous).
    assert!(deciders >= 15, "{deciders}");
    let lo = domain(Family::V4, Hook::Input, &["lo"]);
    agree(&rs, Hook::Input, &lo, ADDRS4, PORTS, 2_000);
    // An IPv4 rule set has no base chain for IPv6 packets.
    let v6 = domain(Family::V6, Hook::Input, &["eth0"]);
    let l = rs.flatten_filter(Hook::Input, &v6).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].outcome, Outcome::Accept);
}

#[test]
fn reject_answers_are_kept() {
    let rs = parse_ruleset(IPT).unwrap();
    let dom = domain(Family::V4, Hook::Input, &["eth0", "eth1"]);
    let l = rs.flatten_filter(Hook::Input, &dom).unwrap();
    let kinds: Vec<RejectWith> = l
        .iter()
        .filter_map(|e| match e.outcome {
            Outcome::Reject(w) => Some(w),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&RejectWith::HostProhibited));
    assert!(kinds.contains(&RejectWith::TcpReset));
}

const NFT: &str = r#"table inet filter {
	set admins {
		type ipv4_addr
		flags interval
		elements = { 10.0.0.0/24, 192.0.2.1-192.0.2.9 }
	}

	map ports {
		type inet_service : verdict
		elements = { 22 : jump ssh, 80 : accept, 443 : continue, 8000-8999 : goto high, 25 : return }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ct state vmap { established : accept, related : accept, invalid : drop }
		iifname "lo" accept
		tcp dport vmap @ports counter
		tcp dport 443 ip saddr @admins accept
		ip saddr . tcp dport vmap { 10.0.0.0/8 . 443 : drop, * : continue } log
		meta l4proto udp jump udp
		icmp type echo-request accept
	}

	chain ssh {
		ip saddr != @admins reject with tcp reset
		accept
	}

	chain high {
		iifname "eth*" return
		drop
	}

	chain udp {
		udp dport { 53, 123 } accept
		ip6 saddr ::1 return
		reject with icmpx type admin-prohibited
	}

	chain fwd {
		type filter hook forward priority 0; policy accept;
		iifname "eth0" oifname "eth1" ct state new,established accept
		iifname != "eth0" drop
	}

	chain post {
		type filter hook postrouting priority 10; policy accept;
		iifname "eth1" oifname "eth1" reject
		oifname "eth0" meta l4proto icmp drop
	}

	chain pre {
		type filter hook prerouting priority -5; policy accept;
		ip saddr 198.51.100.0/24 drop
	}
}
"#;

#[test]
fn nft_maps_continue_catch_all_and_hooks() {
    // `icmp type` is not supported: drop that line for this test.
    let text = NFT.replace("\t\ticmp type echo-request accept\n", "");
    let rs = parse_ruleset(&text).unwrap();
    let mut deciders = 0;
    for t in [Hook::Input, Hook::Forward, Hook::Output] {
        let dom = domain(Family::V4, t, &["eth0", "eth1", "lo"]);
        deciders += agree(
            &rs,
            t,
            &dom,
            ADDRS4,
            &[22, 25, 53, 80, 443, 8000, 8500, 9000],
            20_000,
        );
        let dom6 = domain(Family::V6, t, &["eth0", "eth1"]);
        deciders += agree(
            &rs,
            t,
            &dom6,
            &["::1", "2001:db8::1", "fe80::1"],
            &[22, 53, 443],
            3_000,
        );
    }
    assert!(deciders >= 20, "{deciders}");
}

#[test]
fn ties_that_matter_are_refused() {
    let text = "table ip a {\n\tchain i {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 22 drop\n\t}\n}\ntable ip b {\n\tchain i {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 22 reject\n\t}\n}\n";
    let rs = parse_ruleset(text).unwrap();
    let dom = domain(Family::V4, Hook::Input, &["eth0"]);
    let e = rs.flatten_filter(Hook::Input, &dom).unwrap_err();
    assert!(e.message.contains("not fixed by the text"), "{e:?}");
    // Same verdicts: the order does not matter.
    let same = text.replace("tcp dport 22 reject", "tcp dport 22 drop");
    let rs = parse_ruleset(&same).unwrap();
    assert!(rs.flatten_filter(Hook::Input, &dom).is_ok());
}

const NAT: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:web - [0:0]
-A PREROUTING -i eth0 -p tcp --dport 443 -j web
-A PREROUTING -d 198.51.100.9 -j DNAT --to-destination 10.0.1.9
-A web -s 203.0.113.0/24 -j RETURN
-A web -p tcp -j DNAT --to-destination 10.0.1.10:8443
-A POSTROUTING -d 10.0.0.0/8 -j ACCEPT
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
";

#[test]
fn nat_hooks_flatten_to_translations() {
    let rs = parse_ruleset(NAT).unwrap();
    let dom = Domain {
        family: Family::V4,
        protos: vec![6, 17, 1],
        in_devs: vec!["eth0".into(), "eth1".into()],
        out_devs: vec![String::new()],
        states: vec![CtState::New],
    };
    let pre = rs.flatten_nat(Hook::Prerouting, &dom).unwrap();
    let pkt = |src: &str, dst: &str, dport: u16, iface: &str| Packet {
        protocol: 6,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport: Some(40000),
        dport: Some(dport),
        in_iface: Some(iface.into()),
        out_iface: None,
        state: CtState::New,
        hook: Hook::Input,
    };
    let to = |e: Option<&pathproof_rulesets::flatten::FlatEntry>| {
        e.map(|e| match &e.outcome {
            Outcome::Nat(n) => (
                n.addr.map(|a| a.0.to_string()),
                n.ports,
                e.decided_by.line(),
            ),
            o => panic!("{o:?}"),
        })
    };
    // Through the user chain, the first translation that matches decides.
    assert_eq!(
        to(decide(
            &pre,
            &dom,
            &pkt("192.0.2.1", "198.51.100.9", 443, "eth0")
        )),
        Some((Some("10.0.1.10".into()), Some((8443, 8443)), 10))
    );
    // A return out of `web` goes on to the next rule of PREROUTING.
    assert_eq!(
        to(decide(
            &pre,
            &dom,
            &pkt("203.0.113.5", "198.51.100.9", 443, "eth0")
        )),
        Some((Some("10.0.1.9".into()), None, 8))
    );
    assert_eq!(
        to(decide(
            &pre,
            &dom,
            &pkt("203.0.113.5", "198.51.100.8", 443, "eth0")
        )),
        None
    );
    let post_dom = Domain {
        in_devs: vec!["eth0".into(), "eth1".into(), String::new()],
        out_devs: vec!["eth0".into(), "eth1".into()],
        ..dom.clone()
    };
    let post = rs.flatten_nat(Hook::Postrouting, &post_dom).unwrap();
    let mut p = pkt("10.0.1.10", "8.8.8.8", 53, "eth1");
    p.out_iface = Some("eth0".into());
    assert!(decide(&post, &post_dom, &p).is_some());
    // An accept (no translation) before the masquerade exempts 10/8.
    p.dst = "10.9.9.9".parse().unwrap();
    assert!(decide(&post, &post_dom, &p).is_none());
}

#[test]
fn nat_tables_are_read_and_drops_there_refused() {
    let bad = "table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 23 drop\n\t\ttcp dport 80 dnat to 10.0.0.1:8080\n\t}\n}\n";
    let rs = parse_ruleset(bad).unwrap();
    let dom = Domain {
        family: Family::V4,
        protos: vec![6, 17, 1],
        in_devs: vec!["eth0".into()],
        out_devs: vec![String::new()],
        states: vec![CtState::New],
    };
    let e = rs.flatten_nat(Hook::Prerouting, &dom).unwrap_err();
    assert_eq!(e.line, 4);
    // `filter` still skips nat chains: every packet is accepted.
    let d = rs.evaluate(&pathproof_rulesets::parse_packet("tcp 1.2.3.4:1 -> 5.6.7.8:23").unwrap());
    assert_eq!(d.verdict, Verdict::Accept);
    assert!(rs.notes().iter().any(|n| n.contains("nat chain")));
}

#[test]
fn unmodelled_tables_are_listed() {
    let t = "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    let rs = parse_ruleset(t).unwrap();
    assert_eq!(rs.unmodelled().len(), 1);
    assert_eq!(rs.unmodelled()[0].0, 3);
    let quiet = "*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    assert!(parse_ruleset(quiet).unwrap().unmodelled().is_empty());
}

#[test]
fn nat_chains_of_one_priority_that_disagree_are_refused() {
    let text = "table ip a {\n\tchain p {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 80 dnat to 10.0.0.1\n\t}\n}\ntable ip b {\n\tchain p {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 80 dnat to 10.0.0.2\n\t}\n}\n";
    let rs = parse_ruleset(text).unwrap();
    let dom = Domain {
        family: Family::V4,
        protos: vec![6, 17, 1],
        in_devs: vec!["eth0".into()],
        out_devs: vec![String::new()],
        states: vec![CtState::New],
    };
    let e = rs.flatten_nat(Hook::Prerouting, &dom).unwrap_err();
    assert!(e.message.contains("not fixed by the text"), "{e:?}");
    // One translating, the other leaving alone: the order does not matter.
    let one = text.replace(
        "tcp dport 80 dnat to 10.0.0.2",
        "tcp dport 81 dnat to 10.0.0.2",
    );
    assert!(parse_ruleset(&one)
        .unwrap()
        .flatten_nat(Hook::Prerouting, &dom)
        .is_ok());
}
