//! Differential testing of `pathproof filter` against the kernel: random
//! iptables-save / ip6tables-save and nft (`ip`, `ip6`, `inet`) rule sets are
//! loaded into a namespace with `iptables-restore`, `ip6tables-restore` or
//! `nft -f`, random IPv4 and IPv6 packets are sent for real through the
//! INPUT, FORWARD or OUTPUT hook, and the kernel's verdict is set beside
//! `pathproof_rulesets`'.
//!
//! The rig: namespace `b` holds the rule set. For INPUT and FORWARD,
//! namespace `a` sends hand-built packets (raw socket, any source address)
//! over a veth pair `a0`–`b0` to `b`, which owns every destination address of
//! an INPUT case (on `lo`) and routes every destination of a FORWARD case out
//! of a veth `b1` (its peer `b9` stays in `b`). For OUTPUT, `b` itself sends them (raw socket)
//! from addresses it owns, out of `b0`. Packet number N carries N in its IPv4
//! id or IPv6 flow label, its TCP sequence number and its ICMP echo id. An
//! observer table in `b` (table `inet pfobs`, not part of the rule set):
//! - accepted: a chain at priority 100 of the packet's last hook (input, or
//!   postrouting for FORWARD and OUTPUT, so that an nft rule set's postrouting
//!   chains decide too), after the rule set, adds N to a set and drops the
//!   packet (so `b` never answers it);
//! - rejected: the answer `b` sends (ICMP/ICMPv6 destination unreachable
//!   quoting N (the low 16 bits of the quoted flow label for IPv6), or a TCP
//!   reset acknowledging N + 1) meets a chain at output
//!   priority -300, before the rule set's own output chains, which adds N
//!   to a set and drops it;
//! - dropped: neither.
//!
//! Packets come in four conntrack states (`Shape`): `new`; `established`,
//! the answer of a connection `b` is told about first (`conntrack -I`, with
//! `nf_conntrack_tcp_be_liberal` so that a TCP entry without a window is not
//! found out of window); `related`, an ICMP error quoting such a connection;
//! `invalid`, a TCP segment without flags, a reset or an echo reply of no
//! connection, or an ICMP error quoting none. A chain at priority -150 (after
//! conntrack, before the rule set) records the state the kernel gave each
//! packet, so the rig itself is checked. A reject sends nothing for an ICMP
//! error, nor a reset for a reset: those rejects look like drops.
//!
//! The packets `b` sends itself carry the mark `RIG_MARK`, so that the
//! observer does not take its ICMP errors and resets for answers.
//!
//! Neighbours are static (IPv6 neighbour discovery would otherwise cross the
//! random rule set and could be dropped by it).

use std::collections::HashSet;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    IptablesSave,
    Nft,
}

/// The families a rule set covers: iptables-save (`V4`) and ip6tables-save
/// (`V6`); nft tables `ip` (`V4`), `ip6` (`V6`) and `inet` (`Inet`, both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Inet,
}

/// What a random case tests: a format, a hook, a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub format: Format,
    pub hook: Hook,
    pub family: Family,
}

impl Kind {
    pub fn name(&self) -> String {
        let f = match (self.format, self.family) {
            (Format::IptablesSave, Family::V6) => "ip6tables",
            (Format::IptablesSave, _) => "iptables",
            (Format::Nft, Family::V4) => "nft ip",
            (Format::Nft, Family::V6) => "nft ip6",
            (Format::Nft, Family::Inet) => "nft inet",
        };
        format!("{f} {}", self.hook.name())
    }
}

/// Every kind, in the order seeds cycle through them: iptables, ip6tables,
/// nft ip, ip6 and inet, each at INPUT, FORWARD and OUTPUT.
pub fn kinds() -> Vec<Kind> {
    let mut v = Vec::new();
    for (format, family) in [
        (Format::IptablesSave, Family::V4),
        (Format::IptablesSave, Family::V6),
        (Format::Nft, Family::V4),
        (Format::Nft, Family::V6),
        (Format::Nft, Family::Inet),
    ] {
        for hook in [Hook::Input, Hook::Forward, Hook::Output] {
            v.push(Kind {
                format,
                hook,
                family,
            });
        }
    }
    v
}

/// An address prefix of either family.
pub(crate) type Prefix = (IpAddr, u8);

fn mask(a: IpAddr, len: u8) -> IpAddr {
    match a {
        IpAddr::V4(a) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// A generated rule before it is written in either syntax.
#[derive(Debug, Clone)]
struct GRule {
    src: Option<(IpAddr, u8, bool)>,
    dst: Option<(IpAddr, u8, bool)>,
    proto: Option<u8>,
    sport: Option<(u16, u16)>,
    dport: Option<(u16, u16)>,
    iif: Option<(&'static str, bool)>,
    oif: Option<(&'static str, bool)>,
    state: Option<&'static [&'static str]>,
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Accept,
    Drop,
    /// `reject` with the default answer (port unreachable).
    RejectPlain,
    RejectPort,
    RejectAdmin,
    RejectReset,
    /// nft `inet` only: a reject naming one family's ICMP (`icmp type ...` or
    /// `icmpv6 type ...`), which applies to that family only.
    RejectFamily(bool),
    Jump(usize),
    Return,
}

pub(crate) fn prefix(r: &mut Rng, pool: &[Prefix], v6: bool) -> Prefix {
    let mine: Vec<&Prefix> = pool.iter().filter(|p| p.0.is_ipv6() == v6).collect();
    if !mine.is_empty() && r.chance(0.5) {
        let (a, l) = *mine[r.below(mine.len() as u64) as usize];
        // A neighbouring prefix: same base, another length.
        let (lo, hi, step) = if v6 { (32, 128, 16) } else { (8, 32, 4) };
        let len = (l as i64 + r.below(2 * step + 1) as i64 - step as i64).clamp(lo, hi) as u8;
        return (mask(a, len), len);
    }
    if v6 {
        let len = [32u8, 48, 56, 64, 64, 96, 120, 128][r.below(8) as usize];
        let a = (0x2001_0db8u128 << 96)
            | (r.below(4) as u128) << 80
            | (r.below(4) as u128) << 64
            | r.next_u64() as u128 & 0xffff_0000_0000_00ff;
        (mask(IpAddr::V6(Ipv6Addr::from(a)), len), len)
    } else {
        let len = [8u8, 16, 16, 24, 24, 24, 28, 32][r.below(8) as usize];
        let a = 0x0a00_0000u32
            | (r.below(4) as u32) << 16
            | (r.below(4) as u32) << 8
            | r.below(256) as u32;
        (mask(IpAddr::V4(Ipv4Addr::from(a)), len), len)
    }
}

/// An address inside (or next to) a prefix of the pool, kept inside
/// 10.0.0.0/8 or 2001:db8::/32.
pub(crate) fn addr(r: &mut Rng, pool: &[Prefix], v6: bool) -> IpAddr {
    let (a, l) = prefix(r, pool, v6);
    match a {
        IpAddr::V4(a) => {
            let host = if l >= 32 {
                0
            } else {
                r.next_u64() as u32 & (u32::MAX >> l)
            };
            IpAddr::V4(Ipv4Addr::from(
                (u32::from(a) | host) & 0x00ff_ffff | 0x0a00_0000,
            ))
        }
        IpAddr::V6(a) => {
            let host = if l >= 128 {
                0
            } else {
                // Mostly small host parts, so that neighbouring prefixes meet.
                let h = if r.chance(0.5) {
                    r.below(512) as u128
                } else {
                    (r.next_u64() as u128) << 64 | r.next_u64() as u128
                };
                h & (u128::MAX >> l)
            };
            let v = (u128::from(a) | host) & (u128::MAX >> 32) | (0x2001_0db8u128 << 96);
            IpAddr::V6(Ipv6Addr::from(v))
        }
    }
}

pub(crate) fn ports(r: &mut Rng) -> (u16, u16) {
    let lo = [22u16, 53, 80, 443, 1000, 8080, 30000][r.below(7) as usize] + r.below(3) as u16;
    if r.chance(0.5) {
        (lo, lo)
    } else {
        (lo, lo + r.below(2000) as u16)
    }
}

fn icmp_of(v6: bool) -> u8 {
    if v6 {
        58
    } else {
        1
    }
}

fn gen_rule(r: &mut Rng, pool: &mut Vec<Prefix>, kind: Kind, chain: usize, chains: usize) -> GRule {
    let mut g = GRule {
        src: None,
        dst: None,
        proto: None,
        sport: None,
        dport: None,
        iif: None,
        oif: None,
        state: None,
        target: Target::Accept,
    };
    // The family of this rule's addresses (an inet rule picks one).
    let v6 = match kind.family {
        Family::V4 => false,
        Family::V6 => true,
        Family::Inet => r.chance(0.5),
    };
    if r.chance(0.5) {
        let (a, l) = prefix(r, pool, v6);
        pool.push((a, l));
        g.src = Some((a, l, r.chance(0.15)));
    }
    if r.chance(0.5) {
        let (a, l) = prefix(r, pool, v6);
        pool.push((a, l));
        g.dst = Some((a, l, r.chance(0.15)));
    }
    g.proto = match r.below(5) {
        0 | 1 => Some(6),
        2 => Some(17),
        3 => Some(icmp_of(
            kind.family == Family::V6 || kind.family == Family::Inet && r.chance(0.5),
        )),
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
    // Interface matches where the hook has that device (iptables refuses
    // `-o` in INPUT and `-i` in OUTPUT).
    if kind.hook != Hook::Output && r.chance(0.25) {
        g.iif = Some((["b0", "eth7"][r.below(2) as usize], r.chance(0.3)));
    }
    if kind.hook != Hook::Input && r.chance(0.25) {
        let out = if kind.hook == Hook::Forward {
            "b1"
        } else {
            "b0"
        };
        g.oif = Some(([out, "eth7"][r.below(2) as usize], r.chance(0.3)));
    }
    if r.chance(0.3) {
        const S: [&[&str]; 8] = [
            &["NEW"],
            &["ESTABLISHED"],
            &["NEW", "ESTABLISHED"],
            &["RELATED"],
            &["ESTABLISHED", "RELATED"],
            &["INVALID"],
            &["NEW", "INVALID"],
            &["UNTRACKED"],
        ];
        g.state = Some(S[r.below(8) as usize]);
    }
    g.target = match r.below(12) {
        0..=2 => Target::Accept,
        3..=4 => Target::Drop,
        5 => Target::RejectPort,
        6 => Target::RejectAdmin,
        7 => Target::RejectPlain,
        // nft gives a bare `reject with tcp reset` an implicit `meta l4proto
        // tcp`; iptables refuses tcp-reset without `-p tcp`.
        8 if g.proto == Some(6) || g.proto.is_none() && kind.format == Format::Nft => {
            Target::RejectReset
        }
        9 if chain == 0 && chains > 1 => Target::Jump(1 + r.below(chains as u64 - 1) as usize),
        10 if chain > 0 => Target::Return,
        11 if kind.family == Family::Inet && kind.format == Format::Nft => {
            // nft refuses a reject of one family after a match of the other.
            let fam6 = if g.src.is_some() || g.dst.is_some() {
                v6
            } else {
                match g.proto {
                    Some(1) => false,
                    Some(58) => true,
                    _ => r.chance(0.5),
                }
            };
            Target::RejectFamily(fam6)
        }
        _ => Target::Drop,
    };
    g
}

fn ipt_prefix((a, l): (IpAddr, u8)) -> String {
    format!("{a}/{l}")
}

fn ipt_rule(g: &GRule, chain: &str, v6: bool) -> String {
    let mut s = format!("-A {chain}");
    if let Some((a, l, neg)) = g.src {
        s += &format!("{} -s {}", if neg { " !" } else { "" }, ipt_prefix((a, l)));
    }
    if let Some((a, l, neg)) = g.dst {
        s += &format!("{} -d {}", if neg { " !" } else { "" }, ipt_prefix((a, l)));
    }
    if let Some((i, neg)) = g.iif {
        s += &format!("{} -i {i}", if neg { " !" } else { "" });
    }
    if let Some((i, neg)) = g.oif {
        s += &format!("{} -o {i}", if neg { " !" } else { "" });
    }
    if let Some(p) = g.proto {
        let name = match p {
            6 => "tcp",
            17 => "udp",
            58 => "ipv6-icmp",
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
    let (port, admin) = if v6 {
        ("icmp6-port-unreachable", "icmp6-adm-prohibited")
    } else {
        ("icmp-port-unreachable", "icmp-admin-prohibited")
    };
    s += &match &g.target {
        Target::Accept => " -j ACCEPT".to_string(),
        Target::Drop => " -j DROP".to_string(),
        Target::RejectPlain => " -j REJECT".to_string(),
        Target::RejectPort | Target::RejectFamily(_) => {
            format!(" -j REJECT --reject-with {port}")
        }
        Target::RejectAdmin => format!(" -j REJECT --reject-with {admin}"),
        Target::RejectReset => " -j REJECT --reject-with tcp-reset".to_string(),
        Target::Jump(c) => format!(" -j c{c}"),
        Target::Return => " -j RETURN".to_string(),
    };
    s
}

fn nft_rule(g: &GRule, family: Family) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some((i, neg)) = g.iif {
        parts.push(format!("iifname {}\"{i}\"", if neg { "!= " } else { "" }));
    }
    if let Some((i, neg)) = g.oif {
        parts.push(format!("oifname {}\"{i}\"", if neg { "!= " } else { "" }));
    }
    for (kw, m) in [("saddr", g.src), ("daddr", g.dst)] {
        if let Some((a, l, neg)) = m {
            let fam = if a.is_ipv6() { "ip6" } else { "ip" };
            parts.push(format!(
                "{fam} {kw} {}{a}/{l}",
                if neg { "!= " } else { "" }
            ));
        }
    }
    let name = match g.proto {
        Some(6) => Some("tcp"),
        Some(17) => Some("udp"),
        Some(58) => Some("icmpv6"),
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
    let icmp = match family {
        Family::V4 => "icmp",
        Family::V6 => "icmpv6",
        Family::Inet => "icmpx",
    };
    parts.push(match &g.target {
        Target::Accept => "accept".to_string(),
        Target::Drop => "drop".to_string(),
        Target::RejectPlain => "reject".to_string(),
        Target::RejectPort => format!("reject with {icmp} type port-unreachable"),
        Target::RejectAdmin => format!("reject with {icmp} type admin-prohibited"),
        Target::RejectFamily(false) => "reject with icmp type host-unreachable".to_string(),
        Target::RejectFamily(true) => "reject with icmpv6 type admin-prohibited".to_string(),
        Target::RejectReset => "reject with tcp reset".to_string(),
        Target::Jump(c) => format!("jump c{c}"),
        Target::Return => "return".to_string(),
    });
    parts.join(" ")
}

/// A random rule set, the packets aimed at it, and the fixed addresses of the
/// case: the destinations of an INPUT or FORWARD case (the rig makes them
/// local to, or routed by, the namespace under test), the sources of an
/// OUTPUT case (local to it).
#[derive(Debug, Clone)]
pub struct Case {
    pub kind: Kind,
    pub text: String,
    pub packets: Vec<Packet>,
    /// How each packet is made (so that conntrack gives it its `state`).
    pub shapes: Vec<Shape>,
    /// The conntrack entries to make before the packets are sent.
    pub entries: Vec<CtEntry>,
    pub fixed: Vec<IpAddr>,
}

/// How a packet is built, so that the kernel's conntrack puts it in the state
/// its `Packet` names. Conntrack entries (`CtEntry`, made with `conntrack -I`)
/// stand for connections the namespace already knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `new`: a TCP SYN, a UDP datagram or an ICMP echo request, of no
    /// known connection.
    First,
    /// `established`: the answer of a known connection (an entry whose
    /// original direction is this packet reversed): a TCP ACK, a UDP
    /// datagram, an ICMP echo reply.
    Answer,
    /// `related`: an ICMP (ICMPv6) port unreachable quoting a UDP packet of a
    /// known connection, from the packet's destination to its source, ports
    /// `qsport` -> `qdport`.
    Error { qsport: u16, qdport: u16 },
    /// `invalid`: what conntrack cannot track.
    Stray(Stray),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stray {
    /// A TCP segment without any flag.
    TcpNoFlags,
    /// A TCP reset of no connection.
    TcpReset,
    /// An ICMP (ICMPv6) echo reply of no connection.
    EchoReply,
    /// An ICMP error quoting a packet of no connection.
    Error,
}

impl Shape {
    /// Whether a reject (`with_reset`: with a TCP reset) sends nothing for
    /// this packet, so that it looks like a drop from outside: Linux never
    /// answers an ICMP error, and never resets a reset (an ICMP error about
    /// a reset it does send).
    pub fn unanswered(self, with_reset: bool) -> bool {
        match self {
            Shape::Error { .. } | Shape::Stray(Stray::Error) => true,
            Shape::Stray(Stray::TcpReset) => with_reset,
            _ => false,
        }
    }
}

/// A conntrack entry, by its original direction: `conntrack -I` makes the
/// reply direction from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEntry {
    pub protocol: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Ports (TCP, UDP), or the ICMP echo id in `sport`.
    pub sport: u16,
    pub dport: u16,
}

impl CtEntry {
    /// The arguments of `conntrack -I` for it.
    pub fn args(&self) -> Vec<String> {
        let v6 = self.src.is_ipv6();
        // The family follows from the addresses (`-f` is refused with `-I`).
        let mut a: Vec<String> = vec![
            "-I".into(),
            "-s".into(),
            self.src.to_string(),
            "-d".into(),
            self.dst.to_string(),
            "-t".into(),
            "300".into(),
        ];
        match self.protocol {
            6 | 17 => {
                a.extend([
                    "-p".into(),
                    if self.protocol == 6 { "tcp" } else { "udp" }.into(),
                    "--sport".into(),
                    self.sport.to_string(),
                    "--dport".into(),
                    self.dport.to_string(),
                ]);
                if self.protocol == 6 {
                    a.extend(["--state".into(), "ESTABLISHED".into()]);
                }
            }
            _ if v6 => a.extend([
                "-p".into(),
                "icmpv6".into(),
                "--icmpv6-type".into(),
                "128".into(),
                "--icmpv6-code".into(),
                "0".into(),
                "--icmpv6-id".into(),
                self.sport.to_string(),
            ]),
            _ => a.extend([
                "-p".into(),
                "icmp".into(),
                "--icmp-type".into(),
                "8".into(),
                "--icmp-code".into(),
                "0".into(),
                "--icmp-id".into(),
                self.sport.to_string(),
            ]),
        }
        a
    }
}

/// The chain of `hook` in iptables-save and nft.
fn chain_names(hook: Hook) -> (&'static str, &'static str) {
    match hook {
        Hook::Forward => ("FORWARD", "forward"),
        Hook::Output => ("OUTPUT", "output"),
        _ => ("INPUT", "input"),
    }
}

pub fn random_case(seed: u64, kind: Kind, npackets: usize) -> Case {
    let mut r = Rng(seed ^ 0x6669_6c74_6572);
    let chains = 1 + r.below(3) as usize;
    let policy_drop = r.chance(0.4);
    let mut pool = Vec::new();
    let mut rules: Vec<Vec<GRule>> = Vec::new();
    for c in 0..chains {
        let n = 3 + r.below(if c == 0 { 20 } else { 8 }) as usize;
        rules.push(
            (0..n)
                .map(|_| gen_rule(&mut r, &mut pool, kind, c, chains))
                .collect(),
        );
    }
    let (ipt_chain, nft_chain) = chain_names(kind.hook);
    let text = match kind.format {
        Format::IptablesSave => {
            let v6 = kind.family == Family::V6;
            let pol = |c: &str| {
                if c == ipt_chain && policy_drop {
                    "DROP"
                } else {
                    "ACCEPT"
                }
            };
            let mut t = format!(
                "# Generated by {} (pathproof-lab filterdiff, seed {seed})\n*filter\n:INPUT {} [0:0]\n:FORWARD {} [0:0]\n:OUTPUT {} [0:0]\n",
                if v6 { "ip6tables-save" } else { "iptables-save" },
                pol("INPUT"),
                pol("FORWARD"),
                pol("OUTPUT")
            );
            for c in 1..chains {
                t += &format!(":c{c} - [0:0]\n");
            }
            for (c, rs) in rules.iter().enumerate() {
                let name = if c == 0 {
                    ipt_chain.to_string()
                } else {
                    format!("c{c}")
                };
                for g in rs {
                    t += &ipt_rule(g, &name, v6);
                    t.push('\n');
                }
            }
            t += "COMMIT\n";
            t
        }
        Format::Nft => {
            let fam = match kind.family {
                Family::V4 => "ip",
                Family::V6 => "ip6",
                Family::Inet => "inet",
            };
            let mut t = format!(
                "# generated by pathproof-lab filterdiff, seed {seed}\ntable {fam} pf {{\n\tchain {nft_chain} {{\n\t\ttype filter hook {nft_chain} priority filter; policy {};\n",
                if policy_drop { "drop" } else { "accept" }
            );
            for g in &rules[0] {
                t += &format!("\t\t{}\n", nft_rule(g, kind.family));
            }
            t += "\t}\n";
            for (c, rs) in rules.iter().enumerate().skip(1) {
                t += &format!("\tchain c{c} {{\n");
                for g in rs {
                    t += &format!("\t\t{}\n", nft_rule(g, kind.family));
                }
                t += "\t}\n";
            }
            t += "}\n";
            t
        }
    };
    // Packets: addresses inside or next to the rules' prefixes, ports near theirs.
    let mut all_ports: Vec<u16> = Vec::new();
    for g in rules.iter().flatten() {
        for (lo, hi) in [g.sport, g.dport].into_iter().flatten() {
            all_ports.extend([lo, hi, lo.saturating_sub(1), hi.saturating_add(1)]);
        }
    }
    let fams: &[bool] = match kind.family {
        Family::V4 => &[false],
        Family::V6 => &[true],
        Family::Inet => &[false, true],
    };
    let p = packets_for(&mut r, &pool, &all_ports, kind.hook, fams, npackets);
    Case {
        kind,
        text,
        packets: p.packets,
        shapes: p.shapes,
        entries: p.entries,
        fixed: p.fixed,
    }
}

/// The packets of a case, how each is made, the conntrack entries to make first and
/// the case's fixed addresses (see [`Case`]).
pub(crate) struct Packets {
    pub packets: Vec<Packet>,
    pub shapes: Vec<Shape>,
    pub entries: Vec<CtEntry>,
    pub fixed: Vec<IpAddr>,
}

/// `npackets` packets at `hook` of the families `fams` (`true`: IPv6): addresses
/// inside or next to the prefixes of `pool`, ports mostly from `all_ports`, in every
/// conntrack state.
pub(crate) fn packets_for(
    r: &mut Rng,
    pool: &[Prefix],
    all_ports: &[u16],
    hook: Hook,
    fams: &[bool],
    npackets: usize,
) -> Packets {
    let mut packets = Vec::new();
    // The fixed side: a set of addresses per family, so that the namespace
    // under test owns (or routes) each one and its ICMP answers have a local
    // source; the other side: anything else.
    let mut fixed: Vec<IpAddr> = Vec::new();
    for &v6 in fams {
        let want = fixed.len() + 48 / fams.len();
        while fixed.len() < want {
            let a = addr(r, pool, v6);
            if !fixed.contains(&a) {
                fixed.push(a);
            }
        }
    }
    let (in_iface, out_iface) = match hook {
        Hook::Forward => (Some("b0"), Some("b1")),
        Hook::Output => (None, Some("b0")),
        _ => (Some("b0"), None),
    };
    let mut shapes = Vec::new();
    let mut entries = Vec::new();
    // Every 5-tuple in use, either way round, so that no packet meets
    // another one's connection.
    let mut used: HashSet<(u8, IpAddr, IpAddr, u16, u16)> = HashSet::new();
    let mut tries = 0;
    while packets.len() < npackets && tries < npackets * 100 {
        tries += 1;
        let n = packets.len() as u16 + 1;
        let v6 = fams[r.below(fams.len() as u64) as usize];
        // The state the packet is meant to have: about 40 % new, the rest
        // established, related and invalid.
        let state = match r.below(20) {
            0..=7 => CtState::New,
            8..=12 => CtState::Established,
            13..=15 => CtState::Related,
            _ => CtState::Invalid,
        };
        let icmp = icmp_of(v6);
        let (proto, shape) = match state {
            CtState::New => ([6u8, 6, 17, icmp][r.below(4) as usize], Shape::First),
            CtState::Established => ([6u8, 17, 17, icmp][r.below(4) as usize], Shape::Answer),
            CtState::Related => (
                icmp,
                Shape::Error {
                    qsport: 1 + r.below(65000) as u16,
                    qdport: 1 + r.below(65000) as u16,
                },
            ),
            _ => match r.below(4) {
                0 => (6, Shape::Stray(Stray::TcpNoFlags)),
                1 => (6, Shape::Stray(Stray::TcpReset)),
                2 => (icmp, Shape::Stray(Stray::EchoReply)),
                _ => (icmp, Shape::Stray(Stray::Error)),
            },
        };
        let mine: Vec<IpAddr> = fixed
            .iter()
            .copied()
            .filter(|a| a.is_ipv6() == v6)
            .collect();
        let one = mine[r.below(mine.len() as u64) as usize];
        let other = addr(r, pool, v6);
        if fixed.contains(&other) {
            continue;
        }
        let (src, dst) = if hook == Hook::Output {
            (one, other)
        } else {
            (other, one)
        };
        let port = |r: &mut Rng| -> u16 {
            if !all_ports.is_empty() && r.chance(0.7) {
                all_ports[r.below(all_ports.len() as u64) as usize].max(1)
            } else {
                1 + r.below(65000) as u16
            }
        };
        let (sport, dport) = if proto == 1 || proto == 58 {
            (None, None)
        } else {
            (Some(port(r)), Some(port(r)))
        };
        if src == dst {
            continue;
        }
        // The tuples this packet and its entry occupy.
        let (tp, ts, td) = match shape {
            Shape::Error { qsport, qdport } => (17u8, qdport, qsport),
            Shape::Stray(Stray::Error) => (17u8, STRAY_QUOTED_DPORT, n),
            _ if proto == 1 || proto == 58 => (proto, n, n),
            _ => (proto, sport.unwrap_or(0), dport.unwrap_or(0)),
        };
        let key = (tp, src, dst, ts, td);
        let rev = (tp, dst, src, td, ts);
        if used.contains(&key) || used.contains(&rev) {
            continue;
        }
        used.insert(key);
        used.insert(rev);
        match shape {
            Shape::Answer => entries.push(CtEntry {
                protocol: proto,
                src: dst,
                dst: src,
                sport: if proto == 1 || proto == 58 {
                    n
                } else {
                    dport.unwrap_or(0)
                },
                dport: sport.unwrap_or(0),
            }),
            // The quoted packet went from this packet's destination to its source.
            Shape::Error { qsport, qdport } => entries.push(CtEntry {
                protocol: 17,
                src: dst,
                dst: src,
                sport: qsport,
                dport: qdport,
            }),
            _ => {}
        }
        shapes.push(shape);
        packets.push(Packet {
            protocol: proto,
            src,
            dst,
            sport,
            dport,
            in_iface: in_iface.map(str::to_string),
            out_iface: out_iface.map(str::to_string),
            state,
            hook,
        });
    }
    Packets {
        packets,
        shapes,
        entries,
        fixed,
    }
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

/// The destination port of the UDP packet a stray ICMP error quotes (its
/// source port is the packet's number).
const STRAY_QUOTED_DPORT: u16 = 9;

/// The IP header of a packet from `src` to `dst` with `len` bytes of
/// protocol `proto` after it; `n` is its IPv4 id or IPv6 flow label.
fn ip_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize, n: u16) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut ip = vec![0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&n.to_be_bytes());
            ip[8] = 64;
            ip[9] = proto;
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let c = csum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut ip = vec![0u8; 40];
            ip[0..4].copy_from_slice(&(0x6000_0000u32 | n as u32).to_be_bytes());
            ip[4..6].copy_from_slice(&(len as u16).to_be_bytes());
            ip[6] = proto;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&src.octets());
            ip[24..40].copy_from_slice(&dst.octets());
            ip
        }
        _ => Vec::new(),
    }
}

/// Packet number `n`, built as `shape` says: its IPv4 id or IPv6 flow label
/// is `n`, and so is a SYN's (or a stray segment's, less one) sequence
/// number, an ACK's acknowledgement number and an ICMP echo id, so that the
/// answer a reject sends names it too.
fn build(p: &Packet, n: u16, shape: Shape) -> Vec<u8> {
    let v6 = p.src.is_ipv6();
    let mut l4: Vec<u8> = match p.protocol {
        6 => {
            let mut t = vec![0u8; 20];
            t[0..2].copy_from_slice(&p.sport.unwrap_or(1).to_be_bytes());
            t[2..4].copy_from_slice(&p.dport.unwrap_or(1).to_be_bytes());
            t[12] = 5 << 4;
            t[14..16].copy_from_slice(&64240u16.to_be_bytes());
            match shape {
                Shape::Answer => {
                    // An ACK: a reset answering it takes its sequence number
                    // from this acknowledgement number.
                    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
                    t[8..12].copy_from_slice(&(n as u32).to_be_bytes());
                    t[13] = 0x10;
                }
                Shape::Stray(Stray::TcpNoFlags) => {
                    // A reset answering it acknowledges this sequence number.
                    t[4..8].copy_from_slice(&(n as u32 + 1).to_be_bytes());
                    t[13] = 0;
                }
                Shape::Stray(Stray::TcpReset) => {
                    t[4..8].copy_from_slice(&(n as u32).to_be_bytes());
                    t[13] = 0x04;
                }
                _ => {
                    t[4..8].copy_from_slice(&(n as u32).to_be_bytes());
                    t[13] = 0x02; // SYN
                }
            }
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
            let quoted = match shape {
                Shape::Error { qsport, qdport } => Some((qsport, qdport)),
                Shape::Stray(Stray::Error) => Some((n, STRAY_QUOTED_DPORT)),
                _ => None,
            };
            let mut t = match quoted {
                Some((qs, qd)) => {
                    // Destination unreachable, port unreachable, quoting a
                    // UDP packet from this packet's destination to its source.
                    let mut t = vec![0u8; 8];
                    t[0] = if v6 { 1 } else { 3 };
                    t[1] = if v6 { 4 } else { 3 };
                    let mut udp = vec![0u8; 8];
                    udp[0..2].copy_from_slice(&qs.to_be_bytes());
                    udp[2..4].copy_from_slice(&qd.to_be_bytes());
                    udp[4..6].copy_from_slice(&16u16.to_be_bytes());
                    t.extend(ip_header(p.dst, p.src, 17, 16, 0x7777));
                    t.extend(udp);
                    t
                }
                None => {
                    let mut t = vec![0u8; 8 + 8];
                    let reply = matches!(shape, Shape::Answer | Shape::Stray(Stray::EchoReply));
                    t[0] = match (v6, reply) {
                        (false, false) => 8,
                        (false, true) => 0,
                        (true, false) => 128,
                        (true, true) => 129,
                    };
                    t[4..6].copy_from_slice(&n.to_be_bytes());
                    t[6..8].copy_from_slice(&1u16.to_be_bytes());
                    t[8..16].copy_from_slice(b"pathprf!");
                    t
                }
            };
            if !v6 {
                let c = csum(&t);
                t[2..4].copy_from_slice(&c.to_be_bytes());
            }
            t
        }
    };
    // Checksums with the pseudo-header (ICMPv6 has one too, ICMPv4 not).
    let at = match p.protocol {
        6 => Some(16),
        17 => Some(6),
        58 => Some(2),
        _ => None,
    };
    if let Some(at) = at {
        let mut pseudo = Vec::new();
        match (p.src, p.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                pseudo.extend(s.octets());
                pseudo.extend(d.octets());
                pseudo.extend([0, p.protocol]);
                pseudo.extend((l4.len() as u16).to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                pseudo.extend(s.octets());
                pseudo.extend(d.octets());
                pseudo.extend((l4.len() as u32).to_be_bytes());
                pseudo.extend([0, 0, 0, p.protocol]);
            }
            _ => return Vec::new(),
        }
        pseudo.extend(&l4);
        let c = csum(&pseudo);
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut ip = ip_header(p.src, p.dst, p.protocol, l4.len(), n);
    if ip.is_empty() {
        return ip;
    }
    ip.extend(l4);
    ip
}

/// The mark on the packets the rig sends itself (from `b`, for OUTPUT), so
/// that the observer does not take its ICMP errors and resets for answers.
const RIG_MARK: u32 = 0x7070;

/// The observer (see the module comment). Accepted packets are recorded at
/// priority 100 of input and postrouting; answers to rejected ones at output -300; the
/// conntrack state of every packet at priority -150, after conntrack and
/// before the rule set.
const OBSERVER: &str = "table inet pfobs {
\tset acc4 { typeof ip id; flags dynamic; size 65535; }
\tset acc6 { typeof ip6 flowlabel; flags dynamic; size 65535; }
\tset rej4 { type inet_service; flags dynamic; size 65535; }
\tset rej6 { type inet_service; flags dynamic; size 65535; }
\tset rst { typeof tcp sequence; flags dynamic; size 65535; }
\tset rstseq { typeof tcp sequence; flags dynamic; size 65535; }
\tset new4 { typeof ip id; flags dynamic; size 65535; }
\tset est4 { typeof ip id; flags dynamic; size 65535; }
\tset rel4 { typeof ip id; flags dynamic; size 65535; }
\tset inv4 { typeof ip id; flags dynamic; size 65535; }
\tset new6 { typeof ip6 flowlabel; flags dynamic; size 65535; }
\tset est6 { typeof ip6 flowlabel; flags dynamic; size 65535; }
\tset rel6 { typeof ip6 flowlabel; flags dynamic; size 65535; }
\tset inv6 { typeof ip6 flowlabel; flags dynamic; size 65535; }
\tchain answers {
\t\ttype filter hook output priority -300; policy accept;
\t\tmeta mark 0x7070 return
\t\ticmp type destination-unreachable add @rej4 { @th,96,16 } drop
\t\ticmpv6 type destination-unreachable add @rej6 { @th,80,16 } drop
\t\ttcp flags & (rst | ack) == rst add @rstseq { tcp sequence } drop
\t\ttcp flags & rst == rst add @rst { tcp ackseq } drop
\t}
\tchain states {
\t\tmeta nfproto ipv4 ct state new add @new4 { ip id }
\t\tmeta nfproto ipv4 ct state established add @est4 { ip id }
\t\tmeta nfproto ipv4 ct state related add @rel4 { ip id }
\t\tmeta nfproto ipv4 ct state invalid add @inv4 { ip id }
\t\tmeta nfproto ipv6 ct state new add @new6 { ip6 flowlabel }
\t\tmeta nfproto ipv6 ct state established add @est6 { ip6 flowlabel }
\t\tmeta nfproto ipv6 ct state related add @rel6 { ip6 flowlabel }
\t\tmeta nfproto ipv6 ct state invalid add @inv6 { ip6 flowlabel }
\t}
\tchain states_in { type filter hook prerouting priority -150; policy accept; iifname \"b0\" jump states; }
\tchain states_out { type filter hook output priority -150; policy accept; oifname \"b0\" meta mark 0x7070 jump states; }
\tchain obs_in { type filter hook input priority 100; policy accept; iifname \"b0\" meta nfproto ipv4 add @acc4 { ip id } drop; iifname \"b0\" meta nfproto ipv6 add @acc6 { ip6 flowlabel } drop; }
\tchain obs_fwd { type filter hook postrouting priority 100; policy accept; oifname \"b1\" meta nfproto ipv4 add @acc4 { ip id } drop; oifname \"b1\" meta nfproto ipv6 add @acc6 { ip6 flowlabel } drop; }
\tchain obs_out { type filter hook postrouting priority 101; policy accept; oifname \"b0\" meta mark 0x7070 meta nfproto ipv4 add @acc4 { ip id } drop; oifname \"b0\" meta mark 0x7070 meta nfproto ipv6 add @acc6 { ip6 flowlabel } drop; }
}
";

const MAC_A: &str = "02:70:70:00:00:0a";
const MAC_B: &str = "02:70:70:00:00:0b";

/// Two namespaces and a veth pair; removed on drop.
pub struct Rig {
    pub a: String,
    pub b: String,
    lab: String,
}

impl Rig {
    /// Builds the rig for lab name `lab` (namespaces `pp-LAB.a`, `pp-LAB.b`).
    pub fn new(lab: &str) -> Result<Rig, String> {
        crate::lab::preflight_filterdiff()?;
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
        let mut sys: Vec<(String, String)> = [
            ("net/ipv4/icmp_ratelimit", "0"),
            ("net/ipv4/icmp_ratemask", "0"),
            ("net/ipv6/icmp/ratelimit", "0"),
            ("net/ipv6/icmp/ratemask", "\n"),
            ("net/ipv4/conf/all/rp_filter", "0"),
            ("net/ipv4/conf/default/rp_filter", "0"),
            ("net/ipv6/conf/all/accept_dad", "0"),
            ("net/ipv6/conf/default/accept_dad", "0"),
            ("net/ipv6/conf/all/accept_ra", "0"),
            ("net/ipv6/conf/default/accept_ra", "0"),
            ("net/ipv4/conf/all/send_redirects", "0"),
            ("net/ipv4/conf/default/send_redirects", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ra = sys.clone();
        netns::run_in(&a, move || netns::write_sysctls(&ra))??;
        sys.push(("net/ipv4/ip_forward".into(), "1".into()));
        sys.push(("net/ipv6/conf/all/forwarding".into(), "1".into()));
        netns::run_in(&b, move || netns::write_sysctls(&sys))??;
        let ip =
            |ns: &str, lines: &str| netns::run_cmd("ip", &["-n", ns, "-batch", "-"], Some(lines));
        ip(
            &a,
            &format!(
                "link add a0 address {MAC_A} type veth peer name b0 address {MAC_B} netns {b}\n\
                 addr add 169.254.0.1/30 dev a0\naddr add fd00:ffff::1/64 dev a0 nodad\n\
                 link set a0 up\nlink set lo up\n\
                 neigh replace 169.254.0.2 lladdr {MAC_B} dev a0 nud permanent\n\
                 neigh replace fd00:ffff::2 lladdr {MAC_B} dev a0 nud permanent\n\
                 route add default via 169.254.0.2\nroute add default via fd00:ffff::2\n"
            ),
        )?;
        ip(
            &b,
            &format!(
                "addr add 169.254.0.2/30 dev b0\naddr add fd00:ffff::2/64 dev b0 nodad\n\
                 link set b0 up\nlink set lo up\nlink add b1 type veth peer name b9\nlink set b1 up\nlink set b9 up\n\
                 neigh replace 169.254.0.1 lladdr {MAC_A} dev b0 nud permanent\n\
                 neigh replace fd00:ffff::1 lladdr {MAC_A} dev b0 nud permanent\n\
                 route add default via 169.254.0.1\nroute add default via fd00:ffff::1\n"
            ),
        )?;
        Ok(rig)
    }

    /// Prepares `b` for a case's fixed addresses: local (on `lo`) for INPUT
    /// and OUTPUT, routed out of `b1` for FORWARD.
    pub fn add_fixed(&self, hook: Hook, addrs: &[IpAddr]) -> Result<(), String> {
        let lines: String = addrs
            .iter()
            .map(|a| {
                let len = if a.is_ipv6() { 128 } else { 32 };
                if hook == Hook::Forward {
                    format!("route add {a}/{len} dev b1\n")
                } else {
                    format!("addr add {a}/{len} dev lo\n")
                }
            })
            .collect();
        netns::run_cmd("ip", &["-n", &self.b, "-batch", "-"], Some(&lines)).map(|_| ())
    }

    /// Loads a rule set into `b` (replacing what was there) plus the observer.
    pub fn load(&self, text: &str, kind: Kind) -> Result<(), String> {
        let text = text.to_string();
        netns::run_in(&self.b, move || -> Result<(), String> {
            netns::run_cmd("nft", &["flush", "ruleset"], None)?;
            match (kind.format, kind.family) {
                (Format::IptablesSave, Family::V6) => {
                    netns::run_cmd("ip6tables-restore", &[], Some(&text))?
                }
                (Format::IptablesSave, _) => netns::run_cmd("iptables-restore", &[], Some(&text))?,
                (Format::Nft, _) => netns::run_cmd("nft", &["-f", "-"], Some(&text))?,
            };
            let _ = netns::run_cmd("conntrack", &["-F"], None);
            let _ = netns::run_cmd("conntrack", &["-F", "-f", "ipv6"], None);
            netns::run_cmd("nft", &["-f", "-"], Some(OBSERVER))?;
            // Entries made by `conntrack -I` carry no TCP window: a segment
            // of one must not be found out of window (and so invalid).
            netns::write_sysctls(&[(
                "net/netfilter/nf_conntrack_tcp_be_liberal".into(),
                "1".into(),
            )])
        })?
    }

    /// Loads an nft rule set into `b` with `nft -f`, one text after the other
    /// (replacing what was there), and returns `nft list ruleset` of it, taken
    /// before the observer is loaded beside it.
    pub fn load_nft(&self, loads: &[String]) -> Result<String, String> {
        let loads = loads.to_vec();
        netns::run_in(&self.b, move || -> Result<String, String> {
            netns::run_cmd("nft", &["flush", "ruleset"], None)?;
            for (i, text) in loads.iter().enumerate() {
                netns::run_cmd("nft", &["-f", "-"], Some(text))
                    .map_err(|e| format!("nft -f of load {}: {e}", i + 1))?;
            }
            let dump = netns::run_cmd("nft", &["list", "ruleset"], None)?;
            let _ = netns::run_cmd("conntrack", &["-F"], None);
            let _ = netns::run_cmd("conntrack", &["-F", "-f", "ipv6"], None);
            netns::run_cmd("nft", &["-f", "-"], Some(OBSERVER))?;
            netns::write_sysctls(&[(
                "net/netfilter/nf_conntrack_tcp_be_liberal".into(),
                "1".into(),
            )])?;
            Ok(dump)
        })?
    }

    /// Makes the conntrack entries in `b` (`conntrack -I`, four at a time).
    pub fn connections(&self, entries: &[CtEntry]) -> Result<(), String> {
        let chunks: Vec<Vec<Vec<String>>> = (0..4)
            .map(|k| {
                entries
                    .iter()
                    .skip(k)
                    .step_by(4)
                    .map(CtEntry::args)
                    .collect()
            })
            .collect();
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let b = self.b.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    netns::enter(&b)?;
                    for a in chunk {
                        let args: Vec<&str> = a.iter().map(String::as_str).collect();
                        netns::run_cmd("conntrack", &args, None)
                            .map_err(|e| format!("conntrack {}: {e}", a.join(" ")))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| "a conntrack worker panicked".to_string())??;
        }
        Ok(())
    }

    /// Sends every packet (from `a`, or from `b` itself for OUTPUT), each
    /// built as its shape says, and returns what the kernel did with each:
    /// its verdict and the conntrack state it gave it.
    pub fn verdicts(
        &self,
        hook: Hook,
        packets: &[Packet],
        shapes: &[Shape],
    ) -> Result<Vec<Observed>, String> {
        let frames: Vec<(IpAddr, Vec<u8>)> = packets
            .iter()
            .zip(shapes)
            .enumerate()
            .map(|(i, (p, s))| (p.dst, build(p, (i + 1) as u16, *s)))
            .collect();
        let n = packets.len();
        let from = if hook == Hook::Output {
            &self.b
        } else {
            &self.a
        };
        netns::run_in(from, move || send_all(&frames))??;
        std::thread::sleep(Duration::from_millis(200));
        let set = |name: &str| -> Result<HashSet<u64>, String> {
            let out = netns::run_in(&self.b, {
                let name = name.to_string();
                move || netns::run_cmd("nft", &["-n", "list", "set", "inet", "pfobs", &name], None)
            })??;
            Ok(out
                .split_once("elements = {")
                .map(|(_, rest)| {
                    rest.split('}')
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(|x| x.trim().parse::<u64>().ok())
                        .collect()
                })
                .unwrap_or_default())
        };
        let both = |a: &str, b: &str| -> Result<HashSet<u64>, String> {
            let mut s = set(a)?;
            s.extend(set(b)?);
            Ok(s)
        };
        let accepted = both("acc4", "acc6")?;
        let mut rejected = both("rej4", "rej6")?;
        rejected.extend(set("rst")?.into_iter().map(|a| a.wrapping_sub(1)));
        rejected.extend(set("rstseq")?);
        let states = [
            (CtState::New, both("new4", "new6")?),
            (CtState::Established, both("est4", "est6")?),
            (CtState::Related, both("rel4", "rel6")?),
            (CtState::Invalid, both("inv4", "inv6")?),
        ];
        Ok((1..=n as u64)
            .map(|id| Observed {
                verdict: if accepted.contains(&id) {
                    Verdict::Accept
                } else if rejected.contains(&id) {
                    Verdict::Reject
                } else {
                    Verdict::Drop
                },
                state: states
                    .iter()
                    .find(|(_, s)| s.contains(&id))
                    .map(|(st, _)| *st),
            })
            .collect())
    }
}

/// What the kernel did with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub verdict: Verdict,
    /// The conntrack state it gave the packet (`None`: the observer did not
    /// see it, or saw no state).
    pub state: Option<CtState>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = crate::lab::down(&self.lab);
    }
}

/// Sends every frame from the calling thread's namespace (raw sockets with
/// the IP header included).
fn send_all(frames: &[(IpAddr, Vec<u8>)]) -> Result<(), String> {
    // SAFETY: plain socket calls on descriptors we own; buffers outlive the calls.
    unsafe {
        let raw4 = libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        );
        let raw6 = libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_RAW,
        );
        if raw4 < 0 || raw6 < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(raw4);
            libc::close(raw6);
            return Err(format!("raw socket: {e}"));
        }
        for fd in [raw4, raw6] {
            let mark: u32 = RIG_MARK;
            if libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_MARK,
                &mark as *const _ as *const libc::c_void,
                size_of::<u32>() as libc::socklen_t,
            ) != 0
            {
                let e = std::io::Error::last_os_error();
                libc::close(raw4);
                libc::close(raw6);
                return Err(format!("SO_MARK: {e}"));
            }
        }
        let mut failed = None;
        for (i, (dst, f)) in frames.iter().enumerate() {
            let rc = match dst {
                IpAddr::V4(d) => {
                    let sin = libc::sockaddr_in {
                        sin_family: libc::AF_INET as u16,
                        sin_port: 0,
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(d.octets()),
                        },
                        sin_zero: [0; 8],
                    };
                    libc::sendto(
                        raw4,
                        f.as_ptr() as *const libc::c_void,
                        f.len(),
                        0,
                        &sin as *const _ as *const libc::sockaddr,
                        size_of::<libc::sockaddr_in>() as u32,
                    )
                }
                IpAddr::V6(d) => {
                    let sin6 = libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as u16,
                        sin6_port: 0,
                        sin6_flowinfo: 0,
                        sin6_addr: libc::in6_addr {
                            s6_addr: d.octets(),
                        },
                        sin6_scope_id: 0,
                    };
                    libc::sendto(
                        raw6,
                        f.as_ptr() as *const libc::c_void,
                        f.len(),
                        0,
                        &sin6 as *const _ as *const libc::sockaddr,
                        size_of::<libc::sockaddr_in6>() as u32,
                    )
                }
            };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                // An output-hook drop or reject of a local packet is EPERM:
                // that is a verdict, not a failure of the rig.
                if e.raw_os_error() != Some(libc::EPERM) && failed.is_none() {
                    failed = Some(format!("sending packet {} to {dst}: {e}", i + 1));
                }
            }
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        libc::close(raw4);
        libc::close(raw6);
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
