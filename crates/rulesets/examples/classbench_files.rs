//! Writes a ClassBench rule set as `iptables-save` text and a file of packet
//! lines for `pathproof filter --packets`, the inputs of the `filter`
//! end-to-end benchmark (docs/performance.md, crates/rulesets/PERFORMANCE.md).
//!
//!     cargo run --release -p pathproof-rulesets --example classbench_files -- \
//!         /work/shared/data/classbench/acl1_10k OUT_DIR [PACKETS]
//!
//! Writes OUT_DIR/rules.iptables and OUT_DIR/packets.txt (PACKETS lines,
//! default 1,000,000, from `classifier::generate_headers` with the seed the
//! classifier benchmark uses). Deterministic: the same input gives the same bytes.

use std::fmt::Write as _;
use std::io::Write;
use std::net::Ipv4Addr;

use pathproof_rulesets::classbench;
use pathproof_rulesets::classifier::{generate_headers, Rule5};

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        n => n.to_string(),
    }
}

fn rule_line(r: &Rule5, i: usize) -> String {
    let mut s = String::from("-A INPUT");
    if r.src_len > 0 {
        let _ = write!(s, " -s {}/{}", Ipv4Addr::from(r.src), r.src_len);
    }
    if r.dst_len > 0 {
        let _ = write!(s, " -d {}/{}", Ipv4Addr::from(r.dst), r.dst_len);
    }
    let exact = r.proto_mask == 0xff;
    if exact {
        let _ = write!(s, " -p {}", proto_name(r.proto));
        if matches!(r.proto, 6 | 17) {
            let m = proto_name(r.proto);
            let any = |p: (u16, u16)| p == (0, 65535);
            if !any(r.sport) || !any(r.dport) {
                let _ = write!(s, " -m {m}");
            }
            if !any(r.sport) {
                let _ = write!(s, " --sport {}:{}", r.sport.0, r.sport.1);
            }
            if !any(r.dport) {
                let _ = write!(s, " --dport {}:{}", r.dport.0, r.dport.1);
            }
        }
    }
    // Alternate the verdicts so that the first match matters.
    s.push_str(if i.is_multiple_of(3) {
        " -j DROP"
    } else {
        " -j ACCEPT"
    });
    s
}

fn main() {
    let mut args = std::env::args().skip(1);
    let input = args.next().expect("a ClassBench file");
    let out_dir = args.next().expect("an output folder");
    let n: usize = args
        .next()
        .map(|s| s.parse().expect("a number of packets"))
        .unwrap_or(1_000_000);
    let text = std::fs::read_to_string(&input).expect("readable");
    let rules = classbench::parse(&text).expect("a ClassBench file");
    std::fs::create_dir_all(&out_dir).expect("the output folder");
    let mut rs =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for (i, r) in rules.iter().enumerate() {
        rs.push_str(&rule_line(r, i));
        rs.push('\n');
    }
    rs.push_str("COMMIT\n");
    std::fs::write(format!("{out_dir}/rules.iptables"), rs).expect("written");
    let headers = generate_headers(&rules, n, 0x5EED_0000 ^ rules.len() as u64);
    let f = std::fs::File::create(format!("{out_dir}/packets.txt")).expect("created");
    let mut w = std::io::BufWriter::new(f);
    for h in headers {
        let p = if h.proto == 6 || h.proto == 17 {
            format!(
                "{} {}:{} -> {}:{}",
                proto_name(h.proto),
                Ipv4Addr::from(h.src),
                h.sport,
                Ipv4Addr::from(h.dst),
                h.dport
            )
        } else {
            format!(
                "{} {} -> {}",
                proto_name(h.proto),
                Ipv4Addr::from(h.src),
                Ipv4Addr::from(h.dst)
            )
        };
        writeln!(w, "{p}").expect("written");
    }
    w.flush().expect("flushed");
}
