//! Crafted sources: packets whose source address no ordinary sender has
//! (the martian and special-purpose addresses, `SOURCES`), sent from a
//! network's stand-in as an attacker with a raw socket would, and followed
//! through the lab's kernels. The model's verdict for each is its trace
//! from `NETWORK@SOURCE` (`pathproof_core::trace`), which drops a martian
//! source where Linux does (docs/semantics.md, stage 4 step 0).
//!
//! How a packet is made: a TCP SYN or a UDP datagram to a socket a
//! stand-in's journey goes to, with its IPv4 and TCP/UDP checksums, in an
//! Ethernet frame addressed to the next hop's MAC (the stand-in's route to
//! the destination, as the model's stand-in has it), written with an
//! `AF_PACKET` socket on the stand-in's interface: the next hop receives it
//! exactly as the kernel would hand it over, whatever its source.
//!
//! How it is followed: every host namespace of the lab gets a table
//! `inet pathproof_martian` whose chains, at priority -300 of prerouting,
//! forward and input (before conntrack, NAT and the lab's filters), add the
//! packet's number (its IPv4 id or IPv6 flow label) to a set when the packet
//! is one of these (its DSCP is `DSCP` and its TCP sequence number, or the
//! first four bytes of its 8-byte UDP payload, `MAGIC`: no answer a host
//! sends has both; a reset carries the DSCP of the SYN it answers, but
//! sequence number 0, and the UDP echo answers with DSCP 0). So each namespace says whether the packet arrived there
//! (prerouting: past the receive checks), was forwarded (the forward hook:
//! past the routing decision and IPv6's forwarding checks) or was for it
//! (the input hook). The model says the same from its hops
//! (`model_seen`); they must be equal in every namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::mem::size_of;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use pathproof_core::evidence::{Direction, Stage, Trace, Verdict};
use pathproof_core::journey::route::{self, MartianAt};
use pathproof_core::model::{NetworkId, Proto, RouteAction, Scenario};
use pathproof_core::Query;

use crate::names::Names;
use crate::netns;
use crate::plan::Plan;
use crate::probe::Job;

/// The crafted sources, besides the stand-in's own address (the control):
/// the martian ones (`route::MARTIANS`) and special-purpose ones that Linux
/// forwards (the rest of 0.0.0.0/8, class E, IPv4 link-local, IPv4-mapped
/// IPv6, the IPv6 discard prefix).
pub const SOURCES: &[&str] = &[
    "0.0.0.0",
    "0.1.2.3",
    "127.0.0.5",
    "224.0.0.5",
    "255.255.255.255",
    "240.0.0.5",
    "169.254.1.1",
    "::",
    "::1",
    "ff02::5",
    "fe80::1",
    "::ffff:10.0.0.1",
    "100::1",
];

/// The special-purpose sources of network `net` itself, which its stand-in
/// may send from as the model has it: of each prefix (not a catch-all's),
/// the network address (for IPv6 the subnet-router anycast address) and,
/// for IPv4 shorter than /31, the directed broadcast address.
pub fn network_sources(scn: &Scenario, net: usize) -> Vec<IpAddr> {
    let n = &scn.networks[net];
    if n.catch_all {
        return Vec::new();
    }
    let mut v = Vec::new();
    for p in &n.prefixes {
        v.push(p.network());
        if p.addr().is_ipv4() && p.prefix_len() < 31 {
            v.push(p.broadcast());
        }
    }
    v
}

/// What marks a crafted packet: its TCP sequence number, or the first four
/// bytes of its UDP payload ("ppma")...
pub const MAGIC: u32 = 0x7070_6d61;
/// ...and its DSCP.
pub const DSCP: u8 = 45;
/// The source port of every crafted packet (the model's trace is asked
/// with it): outside the lab's ephemeral range, so no probe's connection
/// has its tuple.
pub const SPORT: u16 = 40404;
/// The observer table in every host namespace.
const TABLE: &str = "pathproof_martian";

fn observer() -> String {
    let mut t = format!("table inet {TABLE} {{\n");
    for hook in ["prerouting", "forward", "input"] {
        t.push_str(&format!(
            "\tset seen_{hook}4 {{ typeof ip id; flags dynamic; size 65535; }}\n\
             \tset seen_{hook}6 {{ typeof ip6 flowlabel; flags dynamic; size 65535; }}\n\
             \tchain at_{hook} {{\n\t\ttype filter hook {hook} priority -300; policy accept;\n\
             \t\tip dscp {DSCP} tcp sequence {MAGIC:#x} add @seen_{hook}4 {{ ip id }}\n\
             \t\tip dscp {DSCP} udp length 16 @th,64,32 {MAGIC:#x} add @seen_{hook}4 {{ ip id }}\n\
             \t\tip6 dscp {DSCP} tcp sequence {MAGIC:#x} add @seen_{hook}6 {{ ip6 flowlabel }}\n\
             \t\tip6 dscp {DSCP} udp length 16 @th,64,32 {MAGIC:#x} add @seen_{hook}6 {{ ip6 flowlabel }}\n\t}}\n"
        ));
    }
    t.push_str("}\n");
    t
}

/// Where a packet was seen in one namespace (or, for the model, would be).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// Arrived: past the receive checks, at prerouting.
    pub pre: bool,
    /// Forwarded: past the routing decision, at the forward hook.
    pub fwd: bool,
    /// For this host: past the routing decision, at the input hook.
    pub input: bool,
}

impl Seen {
    fn text(self) -> String {
        let mut v = Vec::new();
        if self.pre {
            v.push("prerouting");
        }
        if self.fwd {
            v.push("forward");
        }
        if self.input {
            v.push("input");
        }
        if v.is_empty() {
            "nothing".into()
        } else {
            v.join("+")
        }
    }
}

/// One crafted packet: what the model and the kernel did with it.
#[derive(Debug, Clone, Serialize)]
pub struct Crafted {
    /// The stand-in's network.
    pub network: String,
    pub src: IpAddr,
    /// The source is the stand-in's own address (the control).
    pub control: bool,
    /// What the source is: `control`, `listed` (`SOURCES`), or one of the
    /// network's own (`network address`, `directed broadcast`,
    /// `subnet-router anycast`).
    pub kind: &'static str,
    pub proto: Proto,
    pub dst: IpAddr,
    pub dport: u16,
    /// The host the stand-in's journey goes to (after DNAT).
    pub dest_host: String,
    /// Per host: where the model says the packet is seen.
    pub model: BTreeMap<String, Seen>,
    /// Per host: where the kernel's namespaces saw it.
    pub kernel: BTreeMap<String, Seen>,
    /// The model's outcome and where the request stopped.
    pub model_outcome: String,
    /// The model's martian hop, if it has one: (device, why).
    pub model_martian: Option<(String, String)>,
    pub agree: bool,
}

impl Crafted {
    /// The model says the packet arrives at the journey's host (its
    /// prerouting), and is delivered there (its input hook).
    pub fn model_arrives(&self) -> (bool, bool) {
        let s = self.model.get(&self.dest_host).copied().unwrap_or_default();
        (s.pre, s.input)
    }
    /// The kernel's namespace of the journey's host saw the packet at
    /// prerouting, and at input.
    pub fn kernel_arrives(&self) -> (bool, bool) {
        let s = self
            .kernel
            .get(&self.dest_host)
            .copied()
            .unwrap_or_default();
        (s.pre, s.input)
    }

    /// One line: the packet, and where each side says it went.
    pub fn line(&self) -> String {
        let dst = match self.dst {
            IpAddr::V6(a) => format!("[{a}]:{}", self.dport),
            a => format!("{a}:{}", self.dport),
        };
        let side = |m: &BTreeMap<String, Seen>| -> String {
            let v: Vec<String> = m
                .iter()
                .filter(|(_, s)| **s != Seen::default())
                .map(|(h, s)| format!("{h} {}", s.text()))
                .collect();
            if v.is_empty() {
                "seen nowhere".into()
            } else {
                v.join(", ")
            }
        };
        format!(
            "{} {}@{} -> {dst} ({}): the model ({}) {}; the kernel {}",
            self.proto,
            self.network,
            self.src,
            self.dest_host,
            self.model_outcome,
            side(&self.model),
            side(&self.kernel)
        )
    }
}

/// What `probe` made, and what it could not make (with why).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CraftedReport {
    pub packets: Vec<Crafted>,
    /// Sources the model cannot send from as the network (a stand-in sends
    /// only from its network's addresses) and destinations without a next
    /// hop: (what, why).
    pub not_made: Vec<(String, String)>,
}

/// One packet to make, before it is sent.
struct ToSend {
    net: usize,
    src: IpAddr,
    kind: &'static str,
    proto: Proto,
    dst: IpAddr,
    dport: u16,
    dest_host: String,
    trace: Trace,
    /// The host whose MAC the frame goes to, on `net`.
    next: usize,
}

/// The sockets the stand-ins' TCP and UDP journeys go to, per network: the
/// address and port of each journey's model trace, in each family the
/// journey can take (a host or a name of both families, both); with the
/// stand-in's own address of that family.
fn destinations(scn: &Scenario, jobs: &[Job]) -> Vec<(usize, IpAddr, u16, IpAddr)> {
    let mut out: Vec<(usize, IpAddr, u16, IpAddr)> = Vec::new();
    for j in jobs {
        let Some(net) = j.network else { continue };
        if j.query.proto == Proto::Icmp {
            continue;
        }
        for v6 in [false, true] {
            let mut q = j.query.clone();
            q.ipv6 = v6;
            q.sport = Some(SPORT);
            let Ok(t) = pathproof_core::trace(scn, &q) else {
                continue;
            };
            let (Some(dst), Some(port), Some(src)) = (
                t.query.destination_address,
                t.query.port,
                t.query.source_address,
            ) else {
                continue;
            };
            // An address keeps its family whatever is asked.
            if dst.is_ipv6() != v6 || src.is_ipv6() != v6 {
                continue;
            }
            if !out.iter().any(|o| o.0 == net && o.1 == dst && o.2 == port) {
                out.push((net, dst, port, src));
            }
        }
    }
    out
}

/// The device where a trace's first request is delivered locally, if it is.
fn local_device(t: &Trace) -> Option<String> {
    let mut sender = None;
    for h in &t.hops {
        if h.direction != Direction::Request {
            return None;
        }
        if h.stage == Stage::Send {
            if sender.is_some() {
                return None;
            }
            sender = Some(h.device.clone());
            continue;
        }
        if h.stage == Stage::Route
            && h.verdict == Verdict::Pass
            && h.detail.ends_with(": local delivery")
        {
            return Some(h.device.clone());
        }
    }
    None
}

/// Where the model says a packet is seen, per host: its request's hops (the
/// first walk, from the sender until it stops or is delivered locally), at
/// every device but the sender. Arrived (prerouting): any hop, but a martian
/// drop on receipt (IPv6's `ipv6_rcv`, before the hooks). For this host
/// (input): the routing decision delivers it locally. Forwarded: the routing
/// decision forwards it and no martian check stops it after (IPv6's
/// `ip6_forward`, before the forward hook).
pub fn model_seen(scn: &Scenario, t: &Trace) -> BTreeMap<String, Seen> {
    let mut out: BTreeMap<String, Seen> = BTreeMap::new();
    let mut sender: Option<&str> = None;
    for h in &t.hops {
        if h.direction != Direction::Request {
            break;
        }
        match h.stage {
            Stage::Send if sender.is_none() => {
                sender = Some(&h.device);
                continue;
            }
            // A second walk (a proxy's leg), or past the network layer.
            Stage::Send | Stage::Socket | Stage::Tls | Stage::Proxy | Stage::Receive => break,
            _ => {}
        }
        if Some(h.device.as_str()) == sender {
            continue;
        }
        let s = out.entry(h.device.clone()).or_default();
        if h.stage == Stage::Martian {
            if route::martian_source(h.packet.src, MartianAt::Receipt).is_none() {
                s.pre = true;
            }
            s.fwd = false;
            continue;
        }
        s.pre = true;
        if h.stage == Stage::Route && h.verdict == Verdict::Pass {
            let local = scn
                .host_by_name(&h.device)
                .is_some_and(|id| scn.host(id).has_addr(h.packet.dst));
            if local {
                s.input = true;
            } else {
                s.fwd = true;
            }
        }
    }
    out.retain(|_, s| *s != Seen::default());
    out
}

fn csum_add(sum: &mut u32, data: &[u8]) {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        *sum += w as u32;
    }
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Ethernet frame of crafted packet `n`: a TCP SYN (sequence number
/// `MAGIC`) or a UDP datagram (payload `MAGIC` and four bytes), from
/// `src`:`SPORT` to `dst`:`dport`, DSCP `DSCP`, TTL 64, its number in the
/// IPv4 id or IPv6 flow label, every checksum right.
pub fn frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    proto: Proto,
    dport: u16,
    n: u32,
) -> Vec<u8> {
    let (pnum, mut l4) = match proto {
        Proto::Udp => {
            let mut u = vec![0u8; 16];
            u[0..2].copy_from_slice(&SPORT.to_be_bytes());
            u[2..4].copy_from_slice(&dport.to_be_bytes());
            u[4..6].copy_from_slice(&16u16.to_be_bytes());
            u[8..12].copy_from_slice(&MAGIC.to_be_bytes());
            u[12..16].copy_from_slice(b"!lab");
            (17u8, u)
        }
        _ => {
            let mut t = vec![0u8; 20];
            t[0..2].copy_from_slice(&SPORT.to_be_bytes());
            t[2..4].copy_from_slice(&dport.to_be_bytes());
            t[4..8].copy_from_slice(&MAGIC.to_be_bytes());
            t[12] = 5 << 4;
            t[13] = 0x02; // SYN
            t[14..16].copy_from_slice(&64240u16.to_be_bytes());
            (6u8, t)
        }
    };
    let len = l4.len();
    // The pseudo-header, then the segment.
    let mut sum = 0u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            csum_add(&mut sum, &s.octets());
            csum_add(&mut sum, &d.octets());
            csum_add(&mut sum, &[0, pnum]);
            csum_add(&mut sum, &(len as u16).to_be_bytes());
        }
        (s, d) => {
            let o = |a: IpAddr| match a {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            csum_add(&mut sum, &o(s));
            csum_add(&mut sum, &o(d));
            csum_add(&mut sum, &(len as u32).to_be_bytes());
            csum_add(&mut sum, &[0, 0, 0, pnum]);
        }
    }
    csum_add(&mut sum, &l4);
    let mut c = csum_fold(sum);
    if pnum == 17 && c == 0 {
        c = 0xffff;
    }
    let at = if pnum == 17 { 6 } else { 16 };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[1] = DSCP << 2;
            ip[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&(n as u16).to_be_bytes());
            ip[8] = 64;
            ip[9] = pnum;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&d.octets());
            let mut s = 0u32;
            csum_add(&mut s, &ip);
            let c = csum_fold(s);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        (s, d) => {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let mut ip = [0u8; 40];
            let first = (6u32 << 28) | ((DSCP as u32) << 22) | (n & 0xf_ffff);
            ip[0..4].copy_from_slice(&first.to_be_bytes());
            ip[4..6].copy_from_slice(&(len as u16).to_be_bytes());
            ip[6] = pnum;
            ip[7] = 64;
            let o = |a: IpAddr| match a {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            ip[8..24].copy_from_slice(&o(s));
            ip[24..40].copy_from_slice(&o(d));
            f.extend_from_slice(&ip);
        }
    }
    f.extend_from_slice(&l4);
    f
}

/// The MAC address of interface `ifname` in the calling thread's namespace.
fn mac_of(ifname: &str) -> Result<[u8; 6], String> {
    // SAFETY: an ioctl on a socket we own, with a zeroed ifreq that holds
    // the name (shorter than IFNAMSIZ, NUL-terminated).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in ifname.bytes().take(libc::IFNAMSIZ - 1).enumerate() {
            ifr.ifr_name[i] = b as libc::c_char;
        }
        let rc = libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut ifr);
        let e = std::io::Error::last_os_error();
        libc::close(fd);
        if rc != 0 {
            return Err(format!("the MAC address of {ifname}: {e}"));
        }
        let d = ifr.ifr_ifru.ifru_hwaddr.sa_data;
        Ok([
            d[0] as u8, d[1] as u8, d[2] as u8, d[3] as u8, d[4] as u8, d[5] as u8,
        ])
    }
}

/// Writes every frame on interface `ifname` of the calling thread's
/// namespace with an `AF_PACKET` socket (the frame as it is: no stack of
/// the sender's looks at it).
fn send_frames(ifname: &str, frames: &[Vec<u8>]) -> Result<(), String> {
    let name = std::ffi::CString::new(ifname).map_err(|e| e.to_string())?;
    // SAFETY: plain socket calls on a descriptor we own; the buffers and the
    // address outlive each call.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            return Err(format!("no interface {ifname}"));
        }
        // Protocol 0: this socket sends and receives nothing else.
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(format!(
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut failed = None;
        for (i, f) in frames.iter().enumerate() {
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = u16::from_be_bytes([f[12], f[13]]).to_be();
            sll.sll_ifindex = ifindex as i32;
            sll.sll_halen = 6;
            sll.sll_addr[..6].copy_from_slice(&f[..6]);
            let rc = libc::sendto(
                fd,
                f.as_ptr() as *const libc::c_void,
                f.len(),
                0,
                &sll as *const _ as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            );
            if rc < 0 && failed.is_none() {
                failed = Some(format!(
                    "sending frame {} on {ifname}: {}",
                    i + 1,
                    std::io::Error::last_os_error()
                ));
            }
            if i % 64 == 63 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        libc::close(fd);
        failed.map_or(Ok(()), Err)
    }
}

/// The numbers each observer set of namespace `ns` holds.
fn read_sets(ns: &str) -> Result<BTreeMap<String, BTreeSet<u32>>, String> {
    let out = netns::run_in(ns, || {
        netns::run_cmd("nft", &["-j", "list", "table", "inet", TABLE], None)
    })??;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("nft -j in {ns}: {e}"))?;
    let mut sets = BTreeMap::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let Some(set) = item.get("set") else { continue };
        let name = set["name"].as_str().unwrap_or("").to_string();
        let mut got = BTreeSet::new();
        for e in set["elem"].as_array().into_iter().flatten() {
            let n = e
                .as_u64()
                .or_else(|| e["elem"]["val"].as_u64())
                .or_else(|| e["val"].as_u64());
            if let Some(n) = n {
                got.insert(n as u32);
            }
        }
        sets.insert(name, got);
    }
    Ok(sets)
}

/// Removes what `probe` added to the lab, whatever happened.
struct Cleanup<'a> {
    plan: &'a Plan,
    standins: Vec<crate::plan::StandInPlan>,
    observed: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for ns in &self.observed {
            let _ = netns::run_in(ns, || {
                netns::run_cmd("nft", &["delete", "table", "inet", TABLE], None)
            });
        }
        let _ = crate::lab::remove_standins(self.plan, &self.standins);
    }
}

/// Sends, from the stand-in of every network that `jobs` send from, each
/// crafted source (`SOURCES`, the network's own `network_sources`, and the
/// stand-in's own address) as a TCP SYN
/// and a UDP datagram to every socket those TCP and UDP journeys go to, in
/// the family of each, and sets where every lab namespace saw it beside
/// where the model says it goes. The stand-ins' namespaces are made for
/// this and removed after, with the observer tables, even on failure. Call
/// it on a lab that is up, with no probe running.
pub fn probe(scn: &Scenario, plan: &Plan, jobs: &[Job]) -> Result<CraftedReport, String> {
    let mut report = CraftedReport::default();
    let dests = destinations(scn, jobs);
    if dests.is_empty() {
        return Ok(report);
    }
    let names = Names::new(scn, &plan.lab);
    // The stand-ins, with their own addresses (the controls).
    let mut addrs: BTreeMap<usize, Vec<IpAddr>> = BTreeMap::new();
    for d in &dests {
        let a = addrs.entry(d.0).or_default();
        if !a.contains(&d.3) {
            a.push(d.3);
        }
    }
    let mut packets: Vec<ToSend> = Vec::new();
    for (net, dst, dport, own) in &dests {
        let net_name = &scn.networks[*net].name;
        let standin = pathproof_core::journey::stand_in(scn, NetworkId(*net as u32), &addrs[net]);
        // The next hop, as the stand-in's route has it; the host that owns
        // it on the network.
        let nh = match route::lookup(&standin, *dst).map(|r| &r.action) {
            Some(RouteAction::Direct { .. }) => Some(*dst),
            Some(RouteAction::Via { gateway, .. }) => Some(*gateway),
            _ => None,
        };
        let next = nh.and_then(|nh| {
            scn.owners_of(nh)
                .iter()
                .find(|(h, i)| scn.host(*h).interfaces[*i].network.index() == *net)
                .map(|(h, _)| h.index())
        });
        let Some(next) = next else {
            report.not_made.push((
                format!("{net_name} -> {dst}:{dport}"),
                "the stand-in has no route or no neighbour for it (the model's stand-in cannot send either)".into(),
            ));
            continue;
        };
        let family: Vec<(IpAddr, &'static str)> = std::iter::once((*own, "control"))
            .chain(
                SOURCES
                    .iter()
                    .map(|s| (s.parse().expect("valid"), "listed")),
            )
            .chain(network_sources(scn, *net).into_iter().map(|a| {
                let kind = match a {
                    IpAddr::V6(_) => "subnet-router anycast",
                    a if scn.networks[*net].prefixes.iter().any(|p| p.network() == a) => {
                        "network address"
                    }
                    _ => "directed broadcast",
                };
                (a, kind)
            }))
            .filter(|(a, _)| a.is_ipv6() == dst.is_ipv6())
            .collect();
        let to = match dst {
            IpAddr::V6(a) => format!("[{a}]:{dport}"),
            a => format!("{a}:{dport}"),
        };
        for proto in [Proto::Tcp, Proto::Udp] {
            let ask = |src: IpAddr| {
                let mut q = Query::new(&format!("{net_name}@{src}"), &to);
                q.proto = proto;
                q.sport = Some(SPORT);
                pathproof_core::trace(scn, &q)
            };
            // The host the journey goes to: where the control is delivered
            // (after any DNAT, for this protocol), else the address's owner.
            let dest_host = ask(*own)
                .ok()
                .and_then(|t| local_device(&t))
                .or_else(|| {
                    scn.owners_of(*dst)
                        .first()
                        .map(|(h, _)| scn.host(*h).name.clone())
                })
                .unwrap_or_default();
            for &(src, kind) in &family {
                let trace = match ask(src) {
                    Ok(t) => t,
                    Err(e) => {
                        if proto == Proto::Tcp {
                            report.not_made.push((
                                format!("{net_name}@{src} -> {to}"),
                                format!("the model cannot send from it: {}", e.message),
                            ));
                        }
                        continue;
                    }
                };
                packets.push(ToSend {
                    net: *net,
                    src,
                    kind,
                    proto,
                    dst: *dst,
                    dport: *dport,
                    dest_host: dest_host.clone(),
                    trace,
                    next,
                });
            }
        }
    }
    if packets.is_empty() {
        return Ok(report);
    }
    let standins: Vec<crate::plan::StandInPlan> = addrs
        .iter()
        .map(|(net, a)| crate::plan::standin_plan(scn, &plan.lab, NetworkId(*net as u32), a))
        .collect();
    let mut cleanup = Cleanup {
        plan,
        standins: standins.clone(),
        observed: Vec::new(),
    };
    crate::lab::add_standins(plan, &standins)?;
    let obs = observer();
    for h in &plan.hosts {
        cleanup.observed.push(h.ns.clone());
        let text = obs.clone();
        netns::run_in(&h.ns, move || {
            netns::run_cmd("nft", &["-f", "-"], Some(&text))
        })?
        .map_err(|e| format!("the observer in {}: {e}", h.ns))?;
    }
    // The frames, per stand-in: to the next hop's MAC, from the stand-in's.
    let mut macs: BTreeMap<(usize, usize), [u8; 6]> = BTreeMap::new();
    for p in &packets {
        if let std::collections::btree_map::Entry::Vacant(e) = macs.entry((p.next, p.net)) {
            let ifname = names.ifname_idx(p.net).to_string();
            let mac = netns::run_in(&plan.hosts[p.next].ns, move || mac_of(&ifname))??;
            e.insert(mac);
        }
    }
    for s in &standins {
        let ifname = names.ifname_idx(s.network).to_string();
        let own = {
            let ifname = ifname.clone();
            netns::run_in(&s.plan.ns, move || mac_of(&ifname))??
        };
        let frames: Vec<Vec<u8>> = packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.net == s.network)
            .map(|(i, p)| {
                frame(
                    macs[&(p.next, p.net)],
                    own,
                    p.src,
                    p.dst,
                    p.proto,
                    p.dport,
                    (i + 1) as u32,
                )
            })
            .collect();
        netns::run_in(&s.plan.ns, move || send_frames(&ifname, &frames))??;
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut kernel: Vec<BTreeMap<String, Seen>> = vec![BTreeMap::new(); packets.len()];
    for (hi, h) in plan.hosts.iter().enumerate() {
        let sets = read_sets(&h.ns)?;
        let has = |set: &str, n: u32| sets.get(set).is_some_and(|s| s.contains(&n));
        for (i, p) in packets.iter().enumerate() {
            let n = (i + 1) as u32;
            let fam = if p.dst.is_ipv6() { "6" } else { "4" };
            let s = Seen {
                pre: has(&format!("seen_prerouting{fam}"), n),
                fwd: has(&format!("seen_forward{fam}"), n),
                input: has(&format!("seen_input{fam}"), n),
            };
            if s != Seen::default() {
                kernel[i].insert(scn.hosts[hi].name.clone(), s);
            }
        }
    }
    drop(cleanup);
    for (p, k) in packets.into_iter().zip(kernel) {
        let model = model_seen(scn, &p.trace);
        let model_martian = p
            .trace
            .hops
            .iter()
            .find(|h| h.stage == Stage::Martian)
            .map(|h| (h.device.clone(), h.detail.clone()));
        let agree = model == k;
        report.packets.push(Crafted {
            network: scn.networks[p.net].name.clone(),
            src: p.src,
            control: p.kind == "control",
            kind: p.kind,
            proto: p.proto,
            dst: p.dst,
            dport: p.dport,
            dest_host: p.dest_host,
            model,
            kernel: k,
            model_outcome: format!(
                "{} at {}",
                p.trace.outcome.kind.name(),
                p.trace.outcome.at.as_deref().unwrap_or("?")
            ),
            model_martian,
            agree,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksums of a crafted frame verify (the ones' complement sum
    /// over the header, or the pseudo-header and segment, is 0xffff).
    #[test]
    fn crafted_frames_carry_right_checksums() {
        let verify = |data: &[u8]| {
            let mut s = 0u32;
            csum_add(&mut s, data);
            csum_fold(s) == 0
        };
        for (src, dst) in [
            ("0.0.0.0", "10.0.0.5"),
            ("169.254.1.1", "198.51.100.9"),
            ("::", "fd00:1::5"),
            ("::ffff:10.0.0.1", "2001:db8::1"),
        ] {
            let (s, d): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            for proto in [Proto::Tcp, Proto::Udp] {
                let f = frame([2; 6], [4; 6], s, d, proto, 443, 7);
                let ip = &f[14..];
                let (l4, pseudo) = if s.is_ipv4() {
                    assert!(verify(&ip[..20]), "IPv4 header of {src}");
                    assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 7);
                    assert_eq!(ip[1] >> 2, DSCP);
                    let l4 = &ip[20..];
                    let mut p = Vec::new();
                    p.extend_from_slice(&ip[12..20]);
                    p.extend_from_slice(&[0, ip[9]]);
                    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                    (l4, p)
                } else {
                    let first = u32::from_be_bytes([ip[0], ip[1], ip[2], ip[3]]);
                    assert_eq!(first & 0xf_ffff, 7);
                    assert_eq!(((first >> 20) & 0xff) as u8 >> 2, DSCP);
                    let l4 = &ip[40..];
                    let mut p = Vec::new();
                    p.extend_from_slice(&ip[8..40]);
                    p.extend_from_slice(&(l4.len() as u32).to_be_bytes());
                    p.extend_from_slice(&[0, 0, 0, ip[6]]);
                    (l4, p)
                };
                let mut all = pseudo;
                all.extend_from_slice(l4);
                assert!(verify(&all), "{proto} checksum from {src}");
                assert_eq!(
                    u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]]) == MAGIC,
                    proto == Proto::Udp
                );
                if proto == Proto::Tcp {
                    assert_eq!(u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]), MAGIC);
                }
            }
        }
    }
}
