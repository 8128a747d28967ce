//! Long 5-tuple chains are evaluated with the FastClassifier; the answers (verdict,
//! deciding rule, whole path) must equal the rule-by-rule reference evaluation.
mod common;
use common::parse_ok;
use pathproof_rulesets::classifier::SplitMix64;
use pathproof_rulesets::{classbench, CtState, Hook, Packet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

const ADDRS: [u32; 6] = [
    0x0A00_0000,
    0x0A00_0100,
    0x0A01_0000,
    0xC0A8_0000,
    0xC0A8_0101,
    0x0808_0808,
];
const LENS: [u8; 5] = [8, 16, 24, 31, 32];
const PORTS: [u16; 7] = [0, 22, 53, 80, 443, 1024, 65535];

fn mask(a: u32, l: u8) -> u32 {
    if l == 0 {
        0
    } else {
        a & (u32::MAX << (32 - l))
    }
}

struct R {
    src: Option<(u32, u8)>,
    dst: Option<(u32, u8)>,
    proto: Option<&'static str>,
    sport: Option<(u16, u16)>,
    dport: Option<(u16, u16)>,
    verdict: &'static str,
}

fn gen_rules(g: &mut SplitMix64, n: usize, verdicts: &[&'static str]) -> Vec<R> {
    let pick = |g: &mut SplitMix64, k: usize| g.range(0, k as u64 - 1) as usize;
    (0..n)
        .map(|_| {
            let addr = |g: &mut SplitMix64| {
                (g.range(0, 2) != 0).then(|| {
                    let l = LENS[pick(g, LENS.len())];
                    (mask(ADDRS[pick(g, ADDRS.len())], l), l)
                })
            };
            let src = addr(g);
            let dst = addr(g);
            let proto = [None, Some("tcp"), Some("udp"), Some("icmp")][pick(g, 4)];
            let ports = |g: &mut SplitMix64| {
                (proto.is_some_and(|p| p != "icmp") && g.range(0, 1) == 1).then(|| {
                    let a = PORTS[pick(g, PORTS.len())];
                    let b = PORTS[pick(g, PORTS.len())];
                    (a.min(b), a.max(b))
                })
            };
            let sport = ports(g);
            let dport = ports(g);
            R {
                src,
                dst,
                proto,
                sport,
                dport,
                verdict: verdicts[pick(g, verdicts.len())],
            }
        })
        .collect()
}

fn ipt_rule(chain: &str, r: &R) -> String {
    let mut s = format!("-A {chain}");
    let ip = |(a, l): (u32, u8)| format!("{}/{l}", Ipv4Addr::from(a));
    if let Some(a) = r.src {
        s += &format!(" -s {}", ip(a));
    }
    if let Some(a) = r.dst {
        s += &format!(" -d {}", ip(a));
    }
    if let Some(p) = r.proto {
        s += &format!(" -p {p}");
        if p != "icmp" && (r.sport.is_some() || r.dport.is_some()) {
            s += &format!(" -m {p}");
        }
    }
    if let Some((a, b)) = r.sport {
        s += &format!(" --sport {a}:{b}");
    }
    if let Some((a, b)) = r.dport {
        s += &format!(" --dport {a}:{b}");
    }
    s + &format!(" -j {}", r.verdict)
}

fn nft_rule(r: &R) -> String {
    let mut s = String::new();
    let ip = |(a, l): (u32, u8)| format!("{}/{l}", Ipv4Addr::from(a));
    if let Some(a) = r.src {
        s += &format!("ip saddr {} ", ip(a));
    }
    if let Some(a) = r.dst {
        s += &format!("ip daddr {} ", ip(a));
    }
    match (r.proto, r.sport, r.dport) {
        (Some(p), None, None) => s += &format!("meta l4proto {p} "),
        (Some(p), sp, dp) => {
            if let Some((a, b)) = sp {
                s += &format!("{p} sport {a}-{b} ");
            }
            if let Some((a, b)) = dp {
                s += &format!("{p} dport {a}-{b} ");
            }
        }
        _ => {}
    }
    s + match r.verdict {
        "ACCEPT" => "accept",
        "DROP" => "drop",
        "REJECT" => "reject",
        "LOG" => "log prefix \"x\"",
        "RETURN" => "return",
        "U" => "jump u",
        _ => unreachable!(),
    }
}

fn gen_packets(g: &mut SplitMix64, n: usize) -> Vec<Packet> {
    (0..n)
        .map(|_| {
            let addr = |g: &mut SplitMix64| {
                if g.range(0, 3) == 0 {
                    g.next_u64() as u32
                } else {
                    ADDRS[g.range(0, 5) as usize] | (g.range(0, 3) as u32)
                }
            };
            let protocol = [6u8, 17, 1, 47][g.range(0, 3) as usize];
            let port = |g: &mut SplitMix64| {
                if g.range(0, 2) == 0 {
                    g.next_u64() as u16
                } else {
                    PORTS[g.range(0, 6) as usize]
                }
            };
            // Some tcp and udp packets without ports: the classifier then gives a lower bound.
            let ports = matches!(protocol, 6 | 17) && g.range(0, 4) != 0;
            Packet {
                protocol,
                src: IpAddr::V4(Ipv4Addr::from(addr(g))),
                dst: IpAddr::V4(Ipv4Addr::from(addr(g))),
                sport: ports.then(|| port(g)),
                dport: ports.then(|| port(g)),
                in_iface: None,
                out_iface: None,
                state: CtState::New,
                hook: Hook::Input,
            }
        })
        .collect()
}

fn compare(text: &str, packets: &[Packet], want_accel: usize) {
    let rs = parse_ok(text);
    assert_eq!(rs.accelerated_chains(), want_accel);
    for p in packets {
        assert_eq!(rs.evaluate(p), rs.evaluate_reference(p), "packet {p:?}");
    }
}

#[test]
fn accelerated_iptables_and_nft_chains_match_reference() {
    for seed in 0..4u64 {
        let mut g = SplitMix64(seed);
        let main = gen_rules(&mut g, 400, &["ACCEPT", "DROP", "REJECT", "LOG", "U"]);
        let sub = gen_rules(&mut g, 260, &["ACCEPT", "DROP", "LOG", "RETURN"]);
        let packets = gen_packets(&mut g, 5000);
        let mut ipt = String::from(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:U - [0:0]\n",
        );
        for r in &main {
            ipt += &ipt_rule("INPUT", r);
            ipt.push('\n');
        }
        for r in &sub {
            ipt += &ipt_rule("U", r);
            ipt.push('\n');
        }
        ipt += "COMMIT\n";
        compare(&ipt, &packets, 2);
        let mut nft = String::from(
            "table ip t {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n",
        );
        for r in &main {
            nft += &format!("\t\t{}\n", nft_rule(r));
        }
        nft += "\t}\n\tchain u {\n";
        for r in &sub {
            nft += &format!("\t\t{}\n", nft_rule(r));
        }
        nft += "\t}\n}\n";
        compare(&nft, &packets, 2);
    }
}

#[test]
fn chains_with_other_matches_are_not_accelerated() {
    let mut text =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..300 {
        text += &format!("-A INPUT -p tcp -m tcp --dport {i} -j ACCEPT\n");
    }
    text += "-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n";
    assert_eq!(parse_ok(&text).accelerated_chains(), 0);
    // the same chain without the conntrack rule qualifies
    let plain = text.replace(
        "-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n",
        "",
    );
    assert_eq!(parse_ok(&plain).accelerated_chains(), 1);
    let short = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    assert_eq!(parse_ok(short).accelerated_chains(), 0);
    // at most 32 chains are accelerated
    let mut many = String::from("*filter\n:INPUT DROP [0:0]\n");
    for c in 0..40 {
        many += &format!(":C{c} - [0:0]\n");
    }
    for c in 0..40 {
        for p in 0..256 {
            many += &format!("-A C{c} -p udp -m udp --dport {p} -j ACCEPT\n");
        }
    }
    many += "COMMIT\n";
    assert_eq!(parse_ok(&many).accelerated_chains(), 32);
}

#[test]
fn classbench_as_iptables_matches_reference() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/classbench");
    if !dir.is_dir() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but {} is missing",
            dir.display()
        );
        eprintln!(
            "SKIPPED: ClassBench data folder {} not found",
            dir.display()
        );
        return;
    }
    for name in ["acl1_1k", "fw1_1k", "ipc1_1k"] {
        let rules = classbench::parse(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let mut text = String::from(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
        );
        let mut n = 0;
        for (i, r) in rules.iter().enumerate() {
            let proto = match (r.proto, r.proto_mask) {
                (6, 0xFF) => Some("tcp"),
                (17, 0xFF) => Some("udp"),
                (_, 0) => None,
                _ => continue,
            };
            let wild_ports = r.sport == (0, 65535) && r.dport == (0, 65535);
            if proto.is_none() && !wild_ports {
                continue;
            }
            let rr = R {
                src: Some((r.src, r.src_len)),
                dst: Some((r.dst, r.dst_len)),
                proto,
                sport: (!wild_ports).then_some(r.sport),
                dport: (!wild_ports).then_some(r.dport),
                verdict: ["ACCEPT", "DROP", "REJECT", "LOG"][i % 4],
            };
            text += &ipt_rule("INPUT", &rr);
            text.push('\n');
            n += 1;
        }
        text += "COMMIT\n";
        assert!(n > 500, "{name}: only {n} rules expressible");
        let mut g = SplitMix64(7);
        let hs = pathproof_rulesets::classifier::generate_headers(&rules, 4000, 9);
        let mut packets = gen_packets(&mut g, 1000);
        // Every fourth without its ports (the classifier then gives a lower bound).
        packets.extend(hs.iter().enumerate().map(|(k, h)| Packet {
            protocol: h.proto,
            src: IpAddr::V4(Ipv4Addr::from(h.src)),
            dst: IpAddr::V4(Ipv4Addr::from(h.dst)),
            sport: (k % 4 != 0).then_some(h.sport),
            dport: (k % 4 != 0).then_some(h.dport),
            in_iface: None,
            out_iface: None,
            state: CtState::New,
            hook: Hook::Input,
        }));
        compare(&text, &packets, 1);
    }
}
