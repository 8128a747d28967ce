//! Random nftables rule sets for the differential of `pathproof filter`
//! against the kernel (`tests/differential_nft.rs`), run on the rig of
//! [`crate::filterdiff`].
//!
//! A case is one or more tables (`ip` and `inet`), several base chains on the
//! hooks the packets traverse (for INPUT: prerouting and input; FORWARD:
//! prerouting, forward and postrouting; OUTPUT: output and postrouting), often
//! of equal priority, in one table or in two; regular chains reached by
//! `jump` and `goto` (from rules and from verdict maps), `return`; named and
//! anonymous sets of addresses, ports, interfaces, protocols and conntrack
//! states; prefixes and ranges; `tcp`, `udp` and `th` ports; `meta l4proto`
//! and `ip protocol`; negation; `ct state`; interface names (with wildcards);
//! counters and logs; every form of reject; verdict maps, named and
//! anonymous, on ports, protocols, addresses, conntrack states, interfaces,
//! `meta nfproto` and a concatenation, with every verdict a map may hold
//! (accept, drop, continue, return, jump, goto) and catch-alls.
//!
//! The rule set is loaded with `nft -f` (in one go, or for some cases in two:
//! a base chain added to an earlier table after a later table was made, so
//! that the dump's order is not the order the kernel registered the chains
//! in), and `pathproof_rulesets` is given the namespace's `nft list ruleset`.
//!
//! Constraints the generator keeps, as nft and the kernel want them: jumps
//! and gotos only go to a regular chain of the same table listed later (no
//! loops); no reject in a chain a postrouting base chain can reach (the
//! kernel refuses it there); no two elements of a map or an interval set
//! overlap (nft refuses them); a reject of one ICMP family never follows a
//! match of the other family, nor `with tcp reset` a match of another
//! protocol; `th` ports only after `meta l4proto { tcp, udp }` (the kernel
//! would read other protocols' bytes there); priorities between -150 and 100
//! exclusive, so that the rig's own chains (conntrack state at -150, the
//! accepted packets at 100) come before and after every chain of the rule
//! set.

use std::collections::HashSet;
use std::net::IpAddr;

use pathproof_rulesets::{Hook, Packet};

use crate::filterdiff::{packets_for, ports, prefix, CtEntry, Prefix, Rng, Shape};

/// A random nft case.
#[derive(Debug, Clone)]
pub struct NftCase {
    /// The hook the packets are sent through (input, forward or output).
    pub hook: Hook,
    /// The rule set as one `nft -f` text.
    pub text: String,
    /// What is loaded, one `nft -f` after the other: `[text]`, or the rule
    /// set without one base chain and then that chain (see the module docs).
    pub loads: Vec<String>,
    /// Whether `loads` adds a chain late, after a later table was made.
    pub late_chain: bool,
    pub packets: Vec<Packet>,
    pub shapes: Vec<Shape>,
    pub entries: Vec<CtEntry>,
    pub fixed: Vec<IpAddr>,
}

/// The hooks a case cycles through.
pub const HOOKS: [Hook; 3] = [Hook::Input, Hook::Forward, Hook::Output];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    Ip,
    Inet,
}

/// A chain being generated.
#[derive(Debug, Clone)]
struct GChain {
    name: String,
    /// (hook, priority, policy drop) for a base chain.
    base: Option<(Hook, i32, bool)>,
    /// A chain that must hold no reject (a postrouting chain can reach it).
    noreject: bool,
    rules: Vec<String>,
}

/// A named set or map of a table, by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Addr4,
    Addr6,
    Ports,
    Ifaces,
    States,
    Protos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapKey {
    Ports,
    Addr4,
    States,
    Pair,
}

#[derive(Debug, Clone)]
struct GTable {
    fam: Fam,
    name: String,
    /// Declarations of named sets and maps, in order.
    decls: Vec<String>,
    sets: Vec<Named>,
    /// Named verdict maps: (name, key, whether an element jumps to a chain
    /// that may reject).
    maps: Vec<(String, MapKey, bool)>,
    chains: Vec<GChain>,
}

/// What a rule may do, where it is.
struct Where<'a> {
    fam: Fam,
    /// The base chain's hook; `None` for a regular chain (entered from base
    /// chains of several hooks, perhaps).
    hook: Option<Hook>,
    /// The regular chains (indexes into the table's chains) a jump or goto may
    /// go to.
    targets: &'a [usize],
    names: &'a [String],
    reject_ok: bool,
    sets: &'a [Named],
    maps: &'a [(String, MapKey, bool)],
    base: bool,
}

const IFACES: [&str; 4] = ["b0", "b1", "eth7", "lo"];

fn pick<'a, T>(r: &mut Rng, v: &'a [T]) -> &'a T {
    &v[r.below(v.len() as u64) as usize]
}

fn u(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// An address element: a prefix, a host or a range, as `(text, lo, hi)`.
fn addr_elem(r: &mut Rng, pool: &mut Vec<Prefix>, v6: bool) -> (String, u128, u128) {
    let (a, l) = prefix(r, pool, v6);
    pool.push((a, l));
    let bits = if v6 { 128 } else { 32 };
    let lo = u(a);
    let host = if l as u32 >= bits {
        0
    } else {
        u128::MAX >> (128 - (bits - l as u32))
    };
    let hi = lo | host;
    if l as u32 == bits {
        return (a.to_string(), lo, lo);
    }
    if r.chance(0.25) && hi > lo + 2 {
        // A range inside the prefix.
        let span = (hi - lo).min(1 << 20) as u64;
        let a0 = lo + r.below(span / 2 + 1) as u128;
        let a1 = a0 + 1 + r.below(span / 2 + 1) as u128;
        let a1 = a1.min(hi);
        let txt = |x: u128| {
            if v6 {
                std::net::Ipv6Addr::from(x).to_string()
            } else {
                std::net::Ipv4Addr::from(x as u32).to_string()
            }
        };
        return (format!("{}-{}", txt(a0), txt(a1)), a0, a1);
    }
    (format!("{a}/{l}"), lo, hi)
}

/// Up to `n` elements that do not overlap each other, from `gen`.
fn disjoint<T>(
    r: &mut Rng,
    n: usize,
    mut gen: impl FnMut(&mut Rng) -> (T, u128, u128),
) -> Vec<(T, u128, u128)> {
    let mut out: Vec<(T, u128, u128)> = Vec::new();
    for _ in 0..n * 4 {
        if out.len() == n {
            break;
        }
        let (t, lo, hi) = gen(r);
        if out.iter().all(|(_, a, b)| hi < *a || lo > *b) {
            out.push((t, lo, hi));
        }
    }
    out
}

fn port_elem(r: &mut Rng, ports_seen: &mut Vec<u16>) -> (String, u128, u128) {
    let (lo, hi) = ports(r);
    ports_seen.extend([lo, hi, lo.saturating_sub(1), hi.saturating_add(1)]);
    let t = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    };
    (t, lo as u128, hi as u128)
}

fn set_text(items: &[String]) -> String {
    if items.len() == 1 && !items[0].contains(',') {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// A map element's verdict: accept, drop, continue, return, or a jump or goto
/// to one of `w.targets`.
fn map_verdict(r: &mut Rng, w: &Where<'_>) -> String {
    let k = r.below(10);
    match k {
        0..=2 => "accept".into(),
        3..=4 => "drop".into(),
        5 => "continue".into(),
        6 => "return".into(),
        _ if !w.targets.is_empty() => {
            let t = *pick(r, w.targets);
            format!("{} {}", if k == 9 { "goto" } else { "jump" }, w.names[t])
        }
        _ => "drop".into(),
    }
}

/// One random rule.
fn gen_rule(
    r: &mut Rng,
    pool: &mut Vec<Prefix>,
    ports_seen: &mut Vec<u16>,
    w: &Where<'_>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    // The family the rule's addresses are of (an inet rule picks one).
    let v6 = w.fam == Fam::Inet && r.chance(0.4);
    let fam_kw = if v6 { "ip6" } else { "ip" };
    // What the rule's matches say of the protocol: Some(6) tcp, Some(17) udp,
    // Some(1 or 58) ICMP, Some(0) tcp or udp, Some(255) anything else (a
    // negation), None nothing.
    let mut proto: Option<u8> = None;
    let mut fam_bound = false;
    let neg = |r: &mut Rng| if r.chance(0.2) { "!= " } else { "" };
    if r.chance(0.15) {
        parts.push("counter".into());
    }
    // Interfaces, where the packet has the device (elsewhere the name is
    // empty: a positive match never holds, a negated one always).
    // (At postrouting a forwarded packet has its input device, a local one
    // none: both are worth asking.)
    let hook_has = |out: bool| match w.hook {
        None => true,
        Some(h) => {
            if out {
                matches!(h, Hook::Forward | Hook::Output | Hook::Postrouting)
            } else {
                matches!(
                    h,
                    Hook::Prerouting | Hook::Input | Hook::Forward | Hook::Postrouting
                )
            }
        }
    };
    for (kw, out) in [("iifname", false), ("oifname", true)] {
        let p = if hook_has(out) { 0.25 } else { 0.05 };
        if r.chance(p) {
            let v = match r.below(6) {
                0 => "\"b*\"".to_string(),
                1 => "{ \"b0\", \"eth7\" }".to_string(),
                2 if w.sets.contains(&Named::Ifaces) => "@ifs".to_string(),
                _ => format!("\"{}\"", pick(r, &IFACES)),
            };
            parts.push(format!("{kw} {}{v}", neg(r)));
        }
    }
    // Addresses.
    for kw in ["saddr", "daddr"] {
        if r.chance(0.4) {
            fam_bound = true;
            let named = if v6 { Named::Addr6 } else { Named::Addr4 };
            let v = if r.chance(0.2) && w.sets.contains(&named) {
                if v6 {
                    "@a6".to_string()
                } else {
                    "@a4".to_string()
                }
            } else {
                let n = 1 + r.below(3) as usize;
                let els: Vec<String> = disjoint(r, n, |r| addr_elem(r, pool, v6))
                    .into_iter()
                    .map(|e| e.0)
                    .collect();
                set_text(&els)
            };
            parts.push(format!("{fam_kw} {kw} {}{v}", neg(r)));
        }
    }
    // Protocol and ports.
    let icmp = if v6 { "ipv6-icmp" } else { "icmp" };
    match r.below(8) {
        0..=2 => {
            // tcp or udp ports
            let pr = if r.chance(0.6) { "tcp" } else { "udp" };
            proto = Some(if pr == "tcp" { 6 } else { 17 });
            let mut any = false;
            for kw in ["dport", "sport"] {
                if r.chance(if kw == "dport" { 0.7 } else { 0.25 }) {
                    any = true;
                    let v = if r.chance(0.15) && w.sets.contains(&Named::Ports) {
                        "@pt".to_string()
                    } else {
                        let n = 1 + r.below(3) as usize;
                        let els: Vec<String> = disjoint(r, n, |r| port_elem(r, ports_seen))
                            .into_iter()
                            .map(|e| e.0)
                            .collect();
                        set_text(&els)
                    };
                    parts.push(format!("{pr} {kw} {}{v}", neg(r)));
                }
            }
            if !any {
                parts.push(format!("meta l4proto {pr}"));
            }
        }
        3 => {
            // th ports, after a protocol match that makes them ports
            parts.push("meta l4proto { tcp, udp }".into());
            proto = Some(0);
            let n = 1 + r.below(2) as usize;
            let els: Vec<String> = disjoint(r, n, |r| port_elem(r, ports_seen))
                .into_iter()
                .map(|e| e.0)
                .collect();
            parts.push(format!("th dport {}{}", neg(r), set_text(&els)));
        }
        4 => {
            let v = match r.below(4) {
                0 => {
                    proto = Some(0);
                    "{ tcp, udp }".to_string()
                }
                1 if w.sets.contains(&Named::Protos) => {
                    proto = Some(0);
                    "@pr".to_string()
                }
                _ => {
                    proto = Some(if v6 { 58 } else { 1 });
                    icmp.to_string()
                }
            };
            let n = neg(r);
            if !n.is_empty() {
                // anything but: no ports, no reset
                proto = Some(255);
            }
            if !v6 && w.fam == Fam::Ip && r.chance(0.3) {
                parts.push(format!("ip protocol {n}{v}"));
            } else {
                parts.push(format!("meta l4proto {n}{v}"));
                if v == icmp && n.is_empty() {
                    fam_bound = true;
                }
            }
        }
        _ => {}
    }
    if r.chance(0.3) {
        const S: [&str; 9] = [
            "new",
            "established",
            "established,related",
            "related",
            "invalid",
            "new,invalid",
            "{ new, established }",
            "untracked",
            "@cts",
        ];
        let mut v = *pick(r, &S);
        if v == "@cts" && !w.sets.contains(&Named::States) {
            v = "established";
        }
        // `!= a,b` nft reads as `!= a | b` (one value), `! a,b` is none of
        // them, `== a | b` one value compared exactly (printed `a | b`; a bare
        // `a | b` nft reads as `a,b`).
        let mut op = match r.below(10) {
            0 | 1 => "!= ",
            2 if !v.starts_with('{') && !v.starts_with('@') => "! ",
            _ => "",
        };
        if op.is_empty() && r.chance(0.1) {
            op = "== ";
            v = "established | related";
        }
        parts.push(format!("ct state {op}{v}"));
    }
    if r.chance(0.1) {
        parts.push(format!("log prefix \"pp{} \"", r.below(100)));
    }
    if r.chance(0.05) {
        parts.push("log level debug".into());
    }
    if r.chance(0.1) {
        parts.push("counter".into());
    }
    // The ending: a verdict map, a verdict, or nothing.
    let k = r.below(20);
    if k < 6 {
        parts.push(gen_vmap(r, pool, ports_seen, w, v6, proto));
        if r.chance(0.2) {
            parts.push("counter".into());
        }
        if r.chance(0.15) {
            parts.push(if r.chance(0.5) { "accept" } else { "drop" }.into());
        }
    } else {
        let verdict = match k {
            6..=8 => "accept".to_string(),
            9 => "drop".to_string(),
            10..=13 if w.reject_ok => reject(r, w.fam, v6, proto, fam_bound),
            14..=15 if !w.targets.is_empty() => {
                let t = *pick(r, w.targets);
                format!("{} {}", if k == 15 { "goto" } else { "jump" }, w.names[t])
            }
            16 if !w.base || r.chance(0.3) => "return".into(),
            17 => "continue".into(),
            18 => String::new(),
            _ => "drop".into(),
        };
        if !verdict.is_empty() {
            parts.push(verdict);
        } else if parts.is_empty() {
            parts.push("counter".into());
        }
    }
    if r.chance(0.1) {
        parts.push(format!("comment \"r{}\"", r.below(1000)));
    }
    parts.join(" ")
}

/// A reject statement that nft takes after the rule's matches.
fn reject(r: &mut Rng, fam: Fam, v6: bool, proto: Option<u8>, fam_bound: bool) -> String {
    // tcp reset: only when nothing says another protocol
    if matches!(proto, None | Some(6)) && r.chance(0.25) {
        return "reject with tcp reset".into();
    }
    const ICMP4: [&str; 7] = [
        "port-unreachable",
        "host-unreachable",
        "net-unreachable",
        "prot-unreachable",
        "net-prohibited",
        "host-prohibited",
        "admin-prohibited",
    ];
    const ICMP6: [&str; 6] = [
        "no-route",
        "admin-prohibited",
        "addr-unreachable",
        "port-unreachable",
        "policy-fail",
        "reject-route",
    ];
    const ICMPX: [&str; 4] = [
        "port-unreachable",
        "admin-prohibited",
        "no-route",
        "host-unreachable",
    ];
    match (fam, r.below(4)) {
        (_, 0) => "reject".into(),
        (Fam::Ip, _) => format!("reject with icmp type {}", pick(r, &ICMP4)),
        (Fam::Inet, 1) => format!("reject with icmpx type {}", pick(r, &ICMPX)),
        (Fam::Inet, _) => {
            // One family's ICMP: the rule's family if it has one.
            let six = if fam_bound { v6 } else { r.chance(0.5) };
            if six {
                format!("reject with icmpv6 type {}", pick(r, &ICMP6))
            } else {
                format!("reject with icmp type {}", pick(r, &ICMP4))
            }
        }
    }
}

/// A verdict-map lookup, anonymous or of a named map.
fn gen_vmap(
    r: &mut Rng,
    pool: &mut Vec<Prefix>,
    ports_seen: &mut Vec<u16>,
    w: &Where<'_>,
    v6: bool,
    proto: Option<u8>,
) -> String {
    // A named map (only base chains use them, never a postrouting one when
    // an element reaches a chain that may reject).
    if w.base && !w.maps.is_empty() && r.chance(0.35) {
        let (name, key, rejects) = pick(r, w.maps).clone();
        if w.reject_ok || !rejects {
            let keytext = match key {
                MapKey::Ports => {
                    if matches!(proto, Some(17)) {
                        "udp dport"
                    } else if matches!(proto, None | Some(6)) {
                        "tcp dport"
                    } else {
                        "th dport"
                    }
                }
                MapKey::Addr4 => {
                    if r.chance(0.5) {
                        "ip saddr"
                    } else {
                        "ip daddr"
                    }
                }
                MapKey::States => "ct state",
                MapKey::Pair => "ip saddr . tcp dport",
            };
            // th only after `meta l4proto { tcp, udp }`, a tcp key only where tcp
            // may be, IPv4 keys only in an IPv4 rule
            let unusable = keytext == "th dport" && proto != Some(0)
                || key == MapKey::Pair && !matches!(proto, None | Some(6))
                || (key == MapKey::Addr4 || key == MapKey::Pair) && v6;
            if !unusable {
                return format!("{keytext} vmap @{name}");
            }
        }
    }
    let mut elems: Vec<String> = Vec::new();
    let n = 1 + r.below(4) as usize;
    let key: String;
    let mut kind = r.below(8);
    if kind < 2 && matches!(proto, Some(1) | Some(58) | Some(255)) {
        // no ports after an ICMP match or a negated one
        kind = 4;
    }
    match kind {
        0 | 1 => {
            // ports of the rule's protocol (tcp or udp when it has none; th
            // after `meta l4proto { tcp, udp }`)
            let kw = match proto {
                Some(17) => "udp",
                Some(6) => "tcp",
                Some(_) => "th", // after `meta l4proto { tcp, udp }` only
                None => {
                    if r.chance(0.7) {
                        "tcp"
                    } else {
                        "udp"
                    }
                }
            };
            key = format!("{kw} {}", if r.chance(0.8) { "dport" } else { "sport" });
            for (t, _, _) in disjoint(r, n, |r| port_elem(r, ports_seen)) {
                elems.push(t);
            }
        }
        2 => {
            key = if w.fam == Fam::Ip && r.chance(0.3) {
                "ip protocol".into()
            } else {
                "meta l4proto".into()
            };
            let mut ps = vec!["tcp", "udp", "icmp"];
            if w.fam == Fam::Inet && key == "meta l4proto" {
                ps.push("ipv6-icmp");
            }
            for p in ps {
                if r.chance(0.6) {
                    elems.push(p.into());
                }
            }
            if elems.is_empty() {
                elems.push("tcp".into());
            }
        }
        3 => {
            let fk = if v6 { "ip6" } else { "ip" };
            key = format!("{fk} {}", if r.chance(0.5) { "saddr" } else { "daddr" });
            for (t, _, _) in disjoint(r, n, |r| addr_elem(r, pool, v6)) {
                elems.push(t);
            }
        }
        4 => {
            key = "ct state".into();
            let mut st = vec!["new", "established", "related", "invalid", "untracked"];
            if r.chance(0.15) {
                // one value no packet has: a lookup is exact
                st.push("established | related");
                st.retain(|s| *s != "established" && *s != "related");
            }
            for s in st {
                if r.chance(0.5) {
                    elems.push(s.into());
                }
            }
            if elems.is_empty() {
                elems.push("established".into());
            }
        }
        5 => {
            let out = match w.hook {
                Some(Hook::Prerouting | Hook::Input) => false,
                Some(Hook::Output | Hook::Postrouting) => true,
                _ => r.chance(0.5),
            };
            key = if out { "oifname" } else { "iifname" }.into();
            if r.chance(0.3) {
                elems.push("\"b*\"".into());
                elems.push("\"eth7\"".into());
            } else {
                for i in IFACES {
                    if r.chance(0.5) {
                        elems.push(format!("\"{i}\""));
                    }
                }
                if elems.is_empty() {
                    elems.push("\"b0\"".into());
                }
            }
        }
        6 if w.fam == Fam::Inet => {
            key = "meta nfproto".into();
            elems.push("ipv4".into());
            elems.push("ipv6".into());
        }
        _ => {
            if v6 || !matches!(proto, None | Some(6)) {
                key = "ct state".into();
                elems.push("established".into());
                elems.push("new".into());
            } else {
                key = "ip saddr . tcp dport".into();
                let addrs = disjoint(r, n, |r| addr_elem(r, pool, false));
                for (a, _, _) in addrs {
                    let (p, _, _) = port_elem(r, ports_seen);
                    elems.push(format!("{a} . {p}"));
                }
            }
        }
    }
    let mut items: Vec<String> = elems
        .into_iter()
        .map(|e| format!("{e} : {}", map_verdict(r, w)))
        .collect();
    if r.chance(0.2) {
        items.push(format!("* : {}", map_verdict(r, w)));
    }
    format!("{key} vmap {{ {} }}", items.join(", "))
}

/// The base chains' priorities: few values, so that chains often tie.
const PRIOS: [i32; 5] = [-10, 0, 0, 0, 10];

fn prio_text(p: i32) -> String {
    match p {
        0 => "filter".into(),
        p if p < 0 => format!("filter - {}", -p),
        p => format!("filter + {p}"),
    }
}

/// A random case: an nft rule set for packets at `hook`, and `npackets`
/// packets.
pub fn random_nft_case(seed: u64, hook: Hook, npackets: usize) -> NftCase {
    let mut r = Rng(seed ^ 0x006e_6674_6469_6666);
    let ntables = 1 + r.below(3) as usize;
    let mut tables: Vec<GTable> = Vec::new();
    for t in 0..ntables {
        let fam = if r.chance(0.55) { Fam::Inet } else { Fam::Ip };
        tables.push(GTable {
            fam,
            name: format!("t{t}"),
            decls: Vec::new(),
            sets: Vec::new(),
            maps: Vec::new(),
            chains: Vec::new(),
        });
    }
    let mut pool: Vec<Prefix> = Vec::new();
    let mut ports_seen: Vec<u16> = Vec::new();
    // Regular chains first (so that base chains and maps can name them), then
    // named sets and maps, then base chains.
    for t in tables.iter_mut() {
        let n = r.below(4) as usize;
        for i in 0..n {
            t.chains.push(GChain {
                name: format!("r{i}"),
                base: None,
                noreject: r.chance(0.35),
                rules: Vec::new(),
            });
        }
    }
    // Base chains: on the packet's own hook 1-3 over the tables, on the other
    // hooks it traverses 0-1 each.
    let mut bases: Vec<(usize, Hook)> = Vec::new();
    for &h in hook.traversal() {
        let n = if h == hook {
            1 + r.below(3) as usize
        } else {
            r.below(2) as usize
        };
        for _ in 0..n {
            bases.push((r.below(ntables as u64) as usize, h));
        }
    }
    for (ti, h) in &bases {
        let t = &mut tables[*ti];
        let idx = t.chains.iter().filter(|c| c.base.is_some()).count();
        let prio = *pick(&mut r, &PRIOS);
        let drop = r.chance(0.2);
        t.chains.push(GChain {
            name: format!("{}{idx}", h.name()),
            base: Some((*h, prio, drop)),
            noreject: *h == Hook::Postrouting,
            rules: Vec::new(),
        });
    }
    // A chain that a postrouting base chain reaches must not reject: make a
    // regular chain noreject if any postrouting base chain may jump there
    // (they only jump to noreject chains), and noreject chains only jump to
    // noreject chains.
    for t in tables.iter_mut() {
        let fam = t.fam;
        let regular: Vec<usize> = (0..t.chains.len())
            .filter(|&i| t.chains[i].base.is_none())
            .collect();
        let names: Vec<String> = t.chains.iter().map(|c| c.name.clone()).collect();
        // Named sets.
        for (named, p) in [
            (Named::Addr4, 0.4),
            (Named::Addr6, if fam == Fam::Inet { 0.4 } else { 0.0 }),
            (Named::Ports, 0.4),
            (Named::Ifaces, 0.3),
            (Named::States, 0.3),
            (Named::Protos, 0.2),
        ] {
            if !r.chance(p) {
                continue;
            }
            let decl = match named {
                Named::Addr4 | Named::Addr6 => {
                    let v6 = named == Named::Addr6;
                    let n = 1 + r.below(4) as usize;
                    let els: Vec<String> = disjoint(&mut r, n, |r| addr_elem(r, &mut pool, v6))
                        .into_iter()
                        .map(|e| e.0)
                        .collect();
                    format!(
                        "\tset {} {{\n\t\ttype {}\n\t\tflags interval\n\t\telements = {{ {} }}\n\t}}\n",
                        if v6 { "a6" } else { "a4" },
                        if v6 { "ipv6_addr" } else { "ipv4_addr" },
                        els.join(", ")
                    )
                }
                Named::Ports => {
                    let n = 1 + r.below(4) as usize;
                    let els: Vec<String> = disjoint(&mut r, n, |r| port_elem(r, &mut ports_seen))
                        .into_iter()
                        .map(|e| e.0)
                        .collect();
                    format!(
                        "\tset pt {{\n\t\ttype inet_service\n\t\tflags interval\n\t\tcounter\n\t\telements = {{ {} }}\n\t}}\n",
                        els.join(", ")
                    )
                }
                Named::Ifaces => {
                    "\tset ifs {\n\t\ttype ifname\n\t\telements = { \"b0\", \"eth7\" }\n\t}\n"
                        .to_string()
                }
                Named::States => format!(
                    "\tset cts {{\n\t\ttype ct_state\n\t\telements = {{ {} }}\n\t}}\n",
                    pick(
                        &mut r,
                        &["established, related", "new", "invalid, new", "related"]
                    )
                ),
                Named::Protos => {
                    "\tset pr {\n\t\ttypeof meta l4proto\n\t\telements = { tcp, udp }\n\t}\n"
                        .to_string()
                }
            };
            t.decls.push(decl);
            t.sets.push(named);
        }
        // Named maps.
        for (key, name) in [
            (MapKey::Ports, "mports"),
            (MapKey::Addr4, "mnets"),
            (MapKey::States, "mstates"),
            (MapKey::Pair, "mpairs"),
        ] {
            if !r.chance(0.3) {
                continue;
            }
            let w = Where {
                fam,
                hook: None,
                targets: &regular,
                names: &names,
                reject_ok: true,
                sets: &[],
                maps: &[],
                base: true,
            };
            let n = 1 + r.below(4) as usize;
            let (ty, keys): (&str, Vec<String>) = match key {
                MapKey::Ports => (
                    if r.chance(0.5) {
                        "type inet_service : verdict\n\t\tflags interval"
                    } else {
                        "typeof tcp dport : verdict\n\t\tflags interval"
                    },
                    disjoint(&mut r, n, |r| port_elem(r, &mut ports_seen))
                        .into_iter()
                        .map(|e| e.0)
                        .collect(),
                ),
                MapKey::Addr4 => (
                    "type ipv4_addr : verdict\n\t\tflags interval",
                    disjoint(&mut r, n, |r| addr_elem(r, &mut pool, false))
                        .into_iter()
                        .map(|e| e.0)
                        .collect(),
                ),
                MapKey::States => (
                    "type ct_state : verdict",
                    ["new", "established", "related", "invalid"]
                        .iter()
                        .filter(|_| r.chance(0.6))
                        .map(|s| s.to_string())
                        .collect(),
                ),
                MapKey::Pair => {
                    let a = disjoint(&mut r, n, |r| addr_elem(r, &mut pool, false));
                    (
                        "typeof ip saddr . tcp dport : verdict\n\t\tflags interval",
                        a.into_iter()
                            .map(|(a, _, _)| {
                                format!("{a} . {}", port_elem(&mut r, &mut ports_seen).0)
                            })
                            .collect(),
                    )
                }
            };
            let mut keys = keys;
            if r.chance(0.2) && key != MapKey::States {
                keys.push("*".into());
            }
            let mut rejects = false;
            let mut items: Vec<String> = Vec::new();
            for k in keys {
                let v = map_verdict(&mut r, &w);
                if v.starts_with("jump") || v.starts_with("goto") {
                    let target = v.split(' ').nth(1).unwrap_or("");
                    if t.chains.iter().any(|c| c.name == target && !c.noreject) {
                        rejects = true;
                    }
                }
                items.push(format!("{k} : {v}"));
            }
            let elements = if items.is_empty() {
                String::new()
            } else {
                format!("\n\t\telements = {{ {} }}", items.join(", "))
            };
            t.decls
                .push(format!("\tmap {name} {{\n\t\t{ty}{elements}\n\t}}\n"));
            t.maps.push((name.to_string(), key, rejects));
        }
        // Rules.
        for ci in 0..t.chains.len() {
            let c = t.chains[ci].clone();
            let targets: Vec<usize> = match c.base {
                // base chains: any regular chain (noreject ones from postrouting)
                Some(_) => regular
                    .iter()
                    .copied()
                    .filter(|&j| !c.noreject || t.chains[j].noreject)
                    .collect(),
                // regular chains: later regular chains
                None => regular
                    .iter()
                    .copied()
                    .filter(|&j| j > ci && (!c.noreject || t.chains[j].noreject))
                    .collect(),
            };
            let w = Where {
                fam,
                hook: c.base.map(|b| b.0),
                targets: &targets,
                names: &names,
                reject_ok: !c.noreject,
                sets: &t.sets,
                maps: &t.maps,
                base: c.base.is_some(),
            };
            let n = if c.base.is_some() {
                3 + r.below(10) as usize
            } else {
                2 + r.below(5) as usize
            };
            let rules: Vec<String> = (0..n)
                .map(|_| gen_rule(&mut r, &mut pool, &mut ports_seen, &w))
                .collect();
            t.chains[ci].rules = rules;
        }
    }
    let chain_text = |c: &GChain| -> String {
        let mut s = format!("\tchain {} {{\n", c.name);
        if let Some((h, p, drop)) = c.base {
            s += &format!(
                "\t\ttype filter hook {} priority {}; policy {};\n",
                h.name(),
                prio_text(p),
                if drop { "drop" } else { "accept" }
            );
        }
        for rule in &c.rules {
            s += &format!("\t\t{rule}\n");
        }
        s += "\t}\n";
        s
    };
    let table_text = |t: &GTable, skip: Option<&str>| -> String {
        let mut s = format!(
            "table {} {} {{\n",
            if t.fam == Fam::Inet { "inet" } else { "ip" },
            t.name
        );
        for d in &t.decls {
            s += d;
        }
        for c in &t.chains {
            if Some(c.name.as_str()) != skip {
                s += &chain_text(c);
            }
        }
        s += "}\n";
        s
    };
    let mut text = format!("# generated by pathproof-lab nftdiff, seed {seed}\n");
    for t in &tables {
        text += &table_text(t, None);
    }
    // Some cases load a base chain late: a chain of an earlier table, of a
    // priority a later table's chain on its hook shares, added after that
    // table was made. Its dump lists it with its table, before the later
    // table's chain; the kernel registered it last.
    let mut loads = vec![text.clone()];
    let mut late_chain = false;
    if r.chance(0.35) {
        let mut cands = Vec::new();
        for (ti, t) in tables.iter().enumerate() {
            for c in &t.chains {
                let Some((h, p, _)) = c.base else { continue };
                let later = tables[ti + 1..].iter().any(|u| {
                    u.chains
                        .iter()
                        .any(|d| d.base.is_some_and(|(h2, p2, _)| h2 == h && p2 == p))
                });
                if later {
                    cands.push((ti, c.name.clone()));
                }
            }
        }
        if !cands.is_empty() {
            let (ti, name) = pick(&mut r, &cands).clone();
            let mut first =
                format!("# generated by pathproof-lab nftdiff, seed {seed} (without {name})\n");
            for (i, t) in tables.iter().enumerate() {
                first += &table_text(t, if i == ti { Some(&name) } else { None });
            }
            let t = &tables[ti];
            let c = t.chains.iter().find(|c| c.name == name).expect("candidate");
            let second = format!(
                "table {} {} {{\n{}}}\n",
                if t.fam == Fam::Inet { "inet" } else { "ip" },
                t.name,
                chain_text(c)
            );
            loads = vec![first, second];
            late_chain = true;
        }
    }
    let fams: &[bool] = if tables.iter().any(|t| t.fam == Fam::Inet) {
        &[false, false, true]
    } else {
        &[false]
    };
    let mut seen = HashSet::new();
    ports_seen.retain(|p| seen.insert(*p));
    let p = packets_for(&mut r, &pool, &ports_seen, hook, fams, npackets);
    NftCase {
        hook,
        text,
        loads,
        late_chain,
        packets: p.packets,
        shapes: p.shapes,
        entries: p.entries,
        fixed: p.fixed,
    }
}
