//! Differential testing of `pathproof filter` against the kernel: random
//! iptables-save and nft rule sets are loaded into a namespace with
//! `iptables-restore` / `nft -f`, random packets are sent to it for real, and
//! the kernel's verdict is set beside `pathproof_rulesets`'.
//!
//! The rig: namespace `a` sends hand-built IPv4 packets (raw socket, any
//! source address) over a veth pair to namespace `b`, which owns every
//! destination address used (on `lo`), so each packet meets `b`'s INPUT hook. What happened to
//! packet number N (its IP id, TCP sequence number and ICMP echo id are N):
//! - accepted: it reaches a chain at priority 100 after the rule set, which
//!   adds N to a set and drops it (so `b` never answers it itself);
//! - rejected: `a` captures the answer (ICMP error quoting IP id N, or a TCP
//!   reset acknowledging N + 1) on its interface;
//! - dropped: neither.

use std::collections::HashSet;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use pathproof_rulesets::{CtState, Hook, Packet, Verdict};

use crate::netns;

/// A deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    IptablesSave,
    Nft,
}

/// A generated rule before it is written in either syntax.
#[derive(Debug, Clone)]
struct GRule {
    src: Option<(Ipv4Addr, u8, bool)>,
    dst: Option<(Ipv4Addr, u8, bool)>,
    proto: Option<u8>,
    sport: Option<(u16, u16)>,
    dport: Option<(u16, u16)>,
    iface: Option<(&'static str, bool)>,
    state: Option<&'static [&'static str]>,
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Accept,
    Drop,
    RejectPort,
    RejectAdmin,
    RejectReset,
    Jump(usize),
    Return,
}

fn prefix(r: &mut Rng, pool: &[(Ipv4Addr, u8)]) -> (Ipv4Addr, u8) {
    if !pool.is_empty() && r.chance(0.5) {
        let (a, l) = pool[r.below(pool.len() as u64) as usize];
        // A neighbouring prefix: same base, another length.
        let len = (l as i64 + r.below(9) as i64 - 4).clamp(8, 32) as u8;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        return (Ipv4Addr::from(u32::from(a) & mask), len);
    }
    let len = [8u8, 16, 16, 24, 24, 24, 28, 32][r.below(8) as usize];
    let a =
        0x0a00_0000u32 | (r.below(4) as u32) << 16 | (r.below(4) as u32) << 8 | r.below(256) as u32;
    let mask = u32::MAX << (32 - len);
    (Ipv4Addr::from(a & mask), len)
}

fn ports(r: &mut Rng) -> (u16, u16) {
    let lo = [22u16, 53, 80, 443, 1000, 8080, 30000][r.below(7) as usize] + r.below(3) as u16;
    if r.chance(0.5) {
        (lo, lo)
    } else {
        (lo, lo + r.below(2000) as u16)
    }
}

fn gen_rule(r: &mut Rng, pool: &mut Vec<(Ipv4Addr, u8)>, chain: usize, chains: usize) -> GRule {
    let mut g = GRule {
        src: None,
        dst: None,
        proto: None,
        sport: None,
        dport: None,
        iface: None,
        state: None,
        target: Target::Accept,
    };
    if r.chance(0.5) {
        let (a, l) = prefix(r, pool);
        pool.push((a, l));
        g.src = Some((a, l, r.chance(0.15)));
    }
    if r.chance(0.5) {
        let (a, l) = prefix(r, pool);
        pool.push((a, l));
        g.dst = Some((a, l, r.chance(0.15)));
    }
    g.proto = match r.below(5) {
        0 | 1 => Some(6),
        2 => Some(17),
        3 => Some(1),
        _ => None,
    };
    if matches!(g.proto, Some(6) | Some(17)) {
        if r.chance(0.5) {
            g.dport = Some(ports(r));
        }
        if r.chance(0.2) {
            g.sport = Some(ports(r));
        }
    }
    if r.chance(0.25) {
        g.iface = Some((["b0", "eth7"][r.below(2) as usize], r.chance(0.3)));
    }
    if r.chance(0.2) {
        const S: [&[&str]; 3] = [&["NEW"], &["ESTABLISHED"], &["NEW", "ESTABLISHED"]];
        g.state = Some(S[r.below(3) as usize]);
    }
    g.target = match r.below(10) {
        0..=2 => Target::Accept,
        3..=4 => Target::Drop,
        5 => Target::RejectPort,
        6 => Target::RejectAdmin,
        7 if g.proto == Some(6) => Target::RejectReset,
        8 if chain == 0 && chains > 1 => Target::Jump(1 + r.below(chains as u64 - 1) as usize),
        9 if chain > 0 => Target::Return,
        _ => Target::Drop,
    };
    g
}

fn ipt_rule(g: &GRule, chain: &str) -> String {
    let mut s = format!("-A {chain}");
    if let Some((a, l, neg)) = g.src {
        s += &format!("{} -s {a}/{l}", if neg { " !" } else { "" });
    }
    if let Some((a, l, neg)) = g.dst {
        s += &format!("{} -d {a}/{l}", if neg { " !" } else { "" });
    }
    if let Some((i, neg)) = g.iface {
        s += &format!("{} -i {i}", if neg { " !" } else { "" });
    }
    if let Some(p) = g.proto {
        let name = match p {
            6 => "tcp",
            17 => "udp",
            _ => "icmp",
        };
        s += &format!(" -p {name}");
        if g.sport.is_some() || g.dport.is_some() {
            s += &format!(" -m {name}");
        }
        if let Some((lo, hi)) = g.sport {
            s += &if lo == hi {
                format!(" --sport {lo}")
            } else {
                format!(" --sport {lo}:{hi}")
            };
        }
        if let Some((lo, hi)) = g.dport {
            s += &if lo == hi {
                format!(" --dport {lo}")
            } else {
                format!(" --dport {lo}:{hi}")
            };
        }
    }
    if let Some(st) = g.state {
        s += &format!(" -m conntrack --ctstate {}", st.join(","));
    }
    s += &match &g.target {
        Target::Accept => " -j ACCEPT".to_string(),
        Target::Drop => " -j DROP".to_string(),
        Target::RejectPort => " -j REJECT --reject-with icmp-port-unreachable".to_string(),
        Target::RejectAdmin => " -j REJECT --reject-with icmp-admin-prohibited".to_string(),
        Target::RejectReset => " -j REJECT --reject-with tcp-reset".to_string(),
        Target::Jump(c) => format!(" -j c{c}"),
        Target::Return => " -j RETURN".to_string(),
    };
    s
}

fn nft_rule(g: &GRule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some((i, neg)) = g.iface {
        parts.push(format!("iifname {}\"{i}\"", if neg { "!= " } else { "" }));
    }
    if let Some((a, l, neg)) = g.src {
        parts.push(format!("ip saddr {}{a}/{l}", if neg { "!= " } else { "" }));
    }
    if let Some((a, l, neg)) = g.dst {
        parts.push(format!("ip daddr {}{a}/{l}", if neg { "!= " } else { "" }));
    }
    let name = match g.proto {
        Some(6) => Some("tcp"),
        Some(17) => Some("udp"),
        Some(_) => Some("icmp"),
        None => None,
    };
    if let Some(name) = name {
        if g.sport.is_none() && g.dport.is_none() {
            parts.push(format!("meta l4proto {name}"));
        }
        for (kw, p) in [("sport", g.sport), ("dport", g.dport)] {
            if let Some((lo, hi)) = p {
                parts.push(if lo == hi {
                    format!("{name} {kw} {lo}")
                } else {
                    format!("{name} {kw} {lo}-{hi}")
                });
            }
        }
    }
    if let Some(st) = g.state {
        let st: Vec<String> = st.iter().map(|s| s.to_ascii_lowercase()).collect();
        parts.push(format!("ct state {}", st.join(",")));
    }
    parts.push(match &g.target {
        Target::Accept => "accept".to_string(),
        Target::Drop => "drop".to_string(),
        Target::RejectPort => "reject with icmp type port-unreachable".to_string(),
        Target::RejectAdmin => "reject with icmp type admin-prohibited".to_string(),
        Target::RejectReset => "reject with tcp reset".to_string(),
        Target::Jump(c) => format!("jump c{c}"),
        Target::Return => "return".to_string(),
    });
    parts.join(" ")
}

/// A random rule set (INPUT hook, IPv4), packets aimed at its rules, and the
/// addresses the packets go to (which the receiving namespace must own).
pub fn random_case(
    seed: u64,
    format: Format,
    npackets: usize,
) -> (String, Vec<Packet>, Vec<Ipv4Addr>) {
    let mut r = Rng(seed ^ 0x6669_6c74_6572);
    let chains = 1 + r.below(3) as usize;
    let policy_drop = r.chance(0.4);
    let mut pool = Vec::new();
    let mut rules: Vec<Vec<GRule>> = Vec::new();
    for c in 0..chains {
        let n = 3 + r.below(if c == 0 { 20 } else { 8 }) as usize;
        rules.push(
            (0..n)
                .map(|_| gen_rule(&mut r, &mut pool, c, chains))
                .collect(),
        );
    }
    let text = match format {
        Format::IptablesSave => {
            let mut t = format!(
                "# generated by pathproof-lab filterdiff, seed {seed}\n*filter\n:INPUT {} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
                if policy_drop { "DROP" } else { "ACCEPT" }
            );
            for c in 1..chains {
                t += &format!(":c{c} - [0:0]\n");
            }
            for (c, rs) in rules.iter().enumerate() {
                let name = if c == 0 {
                    "INPUT".to_string()
                } else {
                    format!("c{c}")
                };
                for g in rs {
                    t += &ipt_rule(g, &name);
                    t.push('\n');
                }
            }
            t += "COMMIT\n";
            t
        }
        Format::Nft => {
            let mut t = format!(
                "# generated by pathproof-lab filterdiff, seed {seed}\ntable ip pf {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy {};\n",
                if policy_drop { "drop" } else { "accept" }
            );
            for g in &rules[0] {
                t += &format!("\t\t{}\n", nft_rule(g));
            }
            t += "\t}\n";
            for (c, rs) in rules.iter().enumerate().skip(1) {
                t += &format!("\tchain c{c} {{\n");
                for g in rs {
                    t += &format!("\t\t{}\n", nft_rule(g));
                }
                t += "\t}\n";
            }
            t += "}\n";
            t
        }
    };
    // Packets: addresses inside or next to the rules' prefixes, ports near theirs.
    let mut packets = Vec::new();
    let mut seen = HashSet::new();
    let mut all_ports: Vec<u16> = Vec::new();
    for g in rules.iter().flatten() {
        for (lo, hi) in [g.sport, g.dport].into_iter().flatten() {
            all_ports.extend([lo, hi, lo.saturating_sub(1), hi.saturating_add(1)]);
        }
    }
    let addr = |r: &mut Rng| -> Ipv4Addr {
        let (a, l) = prefix(r, &pool);
        let host = if l >= 32 {
            0
        } else {
            r.next_u64() as u32 & (u32::MAX >> l)
        };
        let v = (u32::from(a) | host) & 0x00ff_ffff | 0x0a00_0000;
        Ipv4Addr::from(v)
    };
    // Destinations: a fixed set of addresses (the receiver owns each one, so
    // its ICMP answers have a local source); sources: anything else.
    let mut locals: Vec<Ipv4Addr> = Vec::new();
    while locals.len() < 48 {
        let a = addr(&mut r);
        if !locals.contains(&a) {
            locals.push(a);
        }
    }
    while packets.len() < npackets {
        let proto = [6u8, 6, 17, 1][r.below(4) as usize];
        let src = addr(&mut r);
        let dst = locals[r.below(locals.len() as u64) as usize];
        if locals.contains(&src) {
            continue;
        }
        let port = |r: &mut Rng| -> u16 {
            if !all_ports.is_empty() && r.chance(0.7) {
                all_ports[r.below(all_ports.len() as u64) as usize].max(1)
            } else {
                1 + r.below(65000) as u16
            }
        };
        let (sport, dport) = if proto == 1 {
            (None, None)
        } else {
            (Some(port(&mut r)), Some(port(&mut r)))
        };
        let key = (proto, src, dst, sport, dport);
        if src == dst || !seen.insert(key) {
            continue;
        }
        packets.push(Packet {
            protocol: proto,
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            sport,
            dport,
            in_iface: Some("b0".into()),
            out_iface: None,
            state: CtState::New,
            hook: Hook::Input,
        });
    }
    (text, packets, locals)
}

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv4 packet number `n` (IP id, TCP sequence and ICMP echo id are `n`).
fn build(p: &Packet, n: u16) -> Vec<u8> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (p.src, p.dst) else {
        return Vec::new();
    };
    let l4: Vec<u8> = match p.protocol {
        6 => {
            let mut t = vec![0u8; 20];
            t[0..2].copy_from_slice(&p.sport.unwrap_or(1).to_be_bytes());
            t[2..4].copy_from_slice(&p.dport.unwrap_or(1).to_be_bytes());
            t[4..8].copy_from_slice(&(n as u32).to_be_bytes());
            t[12] = 5 << 4;
            t[13] = 0x02; // SYN
            t[14..16].copy_from_slice(&64240u16.to_be_bytes());
            t
        }
        17 => {
            let mut t = vec![0u8; 8 + 8];
            t[0..2].copy_from_slice(&p.sport.unwrap_or(1).to_be_bytes());
            t[2..4].copy_from_slice(&p.dport.unwrap_or(1).to_be_bytes());
            t[4..6].copy_from_slice(&16u16.to_be_bytes());
            t[8..16].copy_from_slice(b"pathprf!");
            t
        }
        _ => {
            let mut t = vec![0u8; 8 + 8];
            t[0] = 8; // echo request
            t[4..6].copy_from_slice(&n.to_be_bytes());
            t[6..8].copy_from_slice(&1u16.to_be_bytes());
            t[8..16].copy_from_slice(b"pathprf!");
            let c = csum(&t);
            t[2..4].copy_from_slice(&c.to_be_bytes());
            t
        }
    };
    let mut l4 = l4;
    if p.protocol == 6 || p.protocol == 17 {
        let mut pseudo = Vec::new();
        pseudo.extend(src.octets());
        pseudo.extend(dst.octets());
        pseudo.extend([0, p.protocol]);
        pseudo.extend((l4.len() as u16).to_be_bytes());
        pseudo.extend(&l4);
        let c = csum(&pseudo);
        let at = if p.protocol == 6 { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&n.to_be_bytes());
    ip[8] = 64;
    ip[9] = p.protocol;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend(l4);
    ip
}

const OBSERVER: &str = "table inet pfobs {\n\tset acc { typeof ip id; flags dynamic; size 65535; }\n\tchain in { type filter hook input priority 100; policy accept; iifname \"b0\" meta nfproto ipv4 add @acc { ip id } drop; }\n}\n";

/// Two namespaces and a veth pair; removed on drop.
pub struct Rig {
    pub a: String,
    pub b: String,
    lab: String,
}

impl Rig {
    /// Builds the rig for lab name `lab` (namespaces `pp-LAB.a`, `pp-LAB.b`).
    pub fn new(lab: &str) -> Result<Rig, String> {
        crate::names::check_lab_name(lab)?;
        let _ = crate::lab::down(lab);
        let a = format!("{}{lab}.a", crate::names::NS_PREFIX);
        let b = format!("{}{lab}.b", crate::names::NS_PREFIX);
        let rig = Rig {
            a: a.clone(),
            b: b.clone(),
            lab: lab.to_string(),
        };
        let batch = format!("netns add {a}\nnetns add {b}\n");
        netns::run_cmd("ip", &["-batch", "-"], Some(&batch))?;
        let sys = vec![
            ("net/ipv4/icmp_ratelimit".to_string(), "0".to_string()),
            ("net/ipv4/icmp_ratemask".to_string(), "0".to_string()),
            ("net/ipv4/conf/all/rp_filter".to_string(), "0".to_string()),
            (
                "net/ipv4/conf/default/rp_filter".to_string(),
                "0".to_string(),
            ),
            (
                "net/ipv6/conf/default/disable_ipv6".to_string(),
                "1".to_string(),
            ),
        ];
        for ns in [&a, &b] {
            let s = sys.clone();
            netns::run_in(ns, move || netns::write_sysctls(&s))??;
        }
        let ip =
            |ns: &str, lines: &str| netns::run_cmd("ip", &["-n", ns, "-batch", "-"], Some(lines));
        ip(
            &a,
            &format!("link add a0 type veth peer name b0 netns {b}\naddr add 169.254.0.1/30 dev a0\nlink set a0 up\nlink set lo up\nroute add default via 169.254.0.2\n"),
        )?;
        ip(
            &b,
            "addr add 169.254.0.2/30 dev b0\nlink set b0 up\nlink set lo up\nroute add default via 169.254.0.1\n",
        )?;
        Ok(rig)
    }

    /// Gives `b` these addresses (on `lo`), so packets to them are local.
    pub fn add_local(&self, addrs: &[Ipv4Addr]) -> Result<(), String> {
        let lines: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/32 dev lo\n"))
            .collect();
        netns::run_cmd("ip", &["-n", &self.b, "-batch", "-"], Some(&lines)).map(|_| ())
    }

    /// Loads a rule set into `b` (replacing what was there) plus the observer.
    pub fn load(&self, text: &str, format: Format) -> Result<(), String> {
        let text = text.to_string();
        netns::run_in(&self.b, move || -> Result<(), String> {
            netns::run_cmd("nft", &["flush", "ruleset"], None)?;
            match format {
                Format::IptablesSave => netns::run_cmd("iptables-restore", &[], Some(&text))?,
                Format::Nft => netns::run_cmd("nft", &["-f", "-"], Some(&text))?,
            };
            let _ = netns::run_cmd("conntrack", &["-F"], None);
            netns::run_cmd("nft", &["-f", "-"], Some(OBSERVER)).map(|_| ())
        })?
    }

    /// Sends every packet and returns the kernel's verdict for each.
    pub fn verdicts(&self, packets: &[Packet]) -> Result<Vec<Verdict>, String> {
        let frames: Vec<(Ipv4Addr, Vec<u8>)> = packets
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let dst = match p.dst {
                    IpAddr::V4(d) => d,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                };
                (dst, build(p, (i + 1) as u16))
            })
            .collect();
        let n = packets.len();
        let rejected = netns::run_in(&self.a, move || send_and_listen(&frames))??;
        let out = netns::run_in(&self.b, || {
            netns::run_cmd("nft", &["list", "set", "inet", "pfobs", "acc"], None)
        })??;
        let accepted: HashSet<u16> = out
            .split_once("elements = {")
            .map(|(_, rest)| {
                rest.split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|x| x.trim().parse::<u16>().ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok((1..=n as u16)
            .map(|id| {
                if accepted.contains(&id) {
                    Verdict::Accept
                } else if rejected.contains(&id) {
                    Verdict::Reject
                } else {
                    Verdict::Drop
                }
            })
            .collect())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = crate::lab::down(&self.lab);
    }
}

/// In namespace `a`: listens on `a0` for answers, sends every frame, and
/// returns the numbers of the packets that were answered with a reject.
fn send_and_listen(frames: &[(Ipv4Addr, Vec<u8>)]) -> Result<HashSet<u16>, String> {
    // SAFETY: plain socket calls on descriptors we own; buffers outlive the calls.
    unsafe {
        let proto = (libc::ETH_P_IP as u16).to_be() as i32;
        let cap = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            proto,
        );
        if cap < 0 {
            return Err(format!(
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        libc::setsockopt(
            cap,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            size_of::<libc::timeval>() as u32,
        );
        let big: libc::c_int = 8 << 20;
        libc::setsockopt(
            cap,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &big as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as u32,
        );
        let raw = libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        );
        if raw < 0 {
            libc::close(cap);
            return Err(format!("raw socket: {}", std::io::Error::last_os_error()));
        }
        let listener = {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop2 = stop.clone();
            let h = std::thread::spawn(move || {
                let mut got = HashSet::new();
                let mut buf = [0u8; 2048];
                let mut quiet_since: Option<Instant> = None;
                loop {
                    let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                    let mut sl = size_of::<libc::sockaddr_ll>() as u32;
                    let n = libc::recvfrom(
                        cap,
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                        &mut sll as *mut _ as *mut libc::sockaddr,
                        &mut sl,
                    );
                    if n <= 0 {
                        if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_millis(300) {
                                break;
                            }
                        }
                        continue;
                    }
                    if sll.sll_pkttype == libc::PACKET_OUTGOING {
                        continue;
                    }
                    if let Some(id) = answered(&buf[..n as usize]) {
                        got.insert(id);
                    }
                }
                libc::close(cap);
                got
            });
            (stop, h)
        };
        for (i, (dst, f)) in frames.iter().enumerate() {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(dst.octets()),
                },
                sin_zero: [0; 8],
            };
            libc::sendto(
                raw,
                f.as_ptr() as *const libc::c_void,
                f.len(),
                0,
                &sin as *const _ as *const libc::sockaddr,
                size_of::<libc::sockaddr_in>() as u32,
            );
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        libc::close(raw);
        std::thread::sleep(Duration::from_millis(300));
        listener.0.store(true, std::sync::atomic::Ordering::SeqCst);
        listener
            .1
            .join()
            .map_err(|_| "the capture thread panicked".to_string())
    }
}

/// The packet number a reject answer refers to.
fn answered(ip: &[u8]) -> Option<u16> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let l4 = ip.get(ihl..)?;
    match ip[9] {
        1 if l4.first() == Some(&3) => {
            // ICMP destination unreachable quoting our header: its IP id.
            let inner = l4.get(8..)?;
            Some(u16::from_be_bytes([*inner.get(4)?, *inner.get(5)?]))
        }
        6 if l4.len() >= 20 && l4[13] & 0x04 != 0 => {
            let ack = u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]);
            u16::try_from(ack.wrapping_sub(1)).ok()
        }
        _ => None,
    }
}
