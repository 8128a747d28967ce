//! Compiles a host's filters and NAT rules to one nftables table.
//!
//! One table `inet pathproof_HOST` per host, with a base chain per attached
//! filter (`input`, `forward`, `output`) and, when the host has NAT rules, the
//! `prerouting` (dnat) and `postrouting` (snat, masquerade) chains. Every
//! generated rule carries a `comment` naming the scenario rule and its line.
//! See docs/lab.md for the mapping.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pathproof_core::model::{
    Action, AddrSet, Filter, Match, NatKind, NatRule, Proto, RejectWith, RpFilter, Scenario,
    StateSet,
};

use crate::names::Names;

/// Address ranges of one family, inclusive, sorted and merged.
type Ranges = Vec<(u128, u128)>;

/// An address set split by family; `None` means "any address".
#[derive(Debug, Clone, PartialEq)]
struct FamSets {
    v4: Ranges,
    v6: Ranges,
}

const V4_MAX: u128 = u32::MAX as u128;
const V6_MAX: u128 = u128::MAX;

fn merge(mut r: Ranges) -> Ranges {
    r.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn subtract(r: &Ranges, cut: &Ranges) -> Ranges {
    let mut out = Vec::new();
    for &(lo, hi) in r {
        let mut pieces = vec![(lo, hi)];
        for &(clo, chi) in cut {
            let mut next = Vec::new();
            for (plo, phi) in pieces {
                if chi < plo || clo > phi {
                    next.push((plo, phi));
                    continue;
                }
                if clo > plo {
                    next.push((plo, clo - 1));
                }
                if chi < phi {
                    next.push((chi + 1, phi));
                }
            }
            pieces = next;
        }
        out.extend(pieces);
    }
    merge(out)
}

fn net_range(n: &ipnet::IpNet) -> (bool, (u128, u128)) {
    match n {
        ipnet::IpNet::V4(n) => (
            false,
            (
                u32::from(n.network()) as u128,
                u32::from(n.broadcast()) as u128,
            ),
        ),
        ipnet::IpNet::V6(n) => (true, (u128::from(n.network()), u128::from(n.broadcast()))),
    }
}

fn fam_sets(set: &AddrSet) -> Option<FamSets> {
    if set.is_any() {
        return None;
    }
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for part in &set.parts {
        let (is6, r) = net_range(&part.prefix);
        let mut cuts = Vec::new();
        for m in part.minus.iter() {
            let (m6, mr) = net_range(m);
            if m6 == is6 {
                cuts.push(mr);
            }
        }
        let pieces = subtract(&vec![r], &merge(cuts));
        if is6 {
            v6.extend(pieces);
        } else {
            v4.extend(pieces);
        }
    }
    let (mut v4, mut v6) = (merge(v4), merge(v6));
    if set.negated {
        v4 = subtract(&vec![(0, V4_MAX)], &v4);
        v6 = subtract(&vec![(0, V6_MAX)], &v6);
    }
    Some(FamSets { v4, v6 })
}

fn addr_text(v: u128, v6: bool) -> String {
    if v6 {
        Ipv6Addr::from(v).to_string()
    } else {
        Ipv4Addr::from(v as u32).to_string()
    }
}

/// A range as nft writes it: a prefix when it is one, else `LO-HI`.
fn range_text(lo: u128, hi: u128, v6: bool) -> String {
    let bits = if v6 { 128 } else { 32 };
    if lo == hi {
        return addr_text(lo, v6);
    }
    let size = hi.wrapping_sub(lo).wrapping_add(1);
    // A whole address space (size overflows to 0 for IPv6).
    if lo == 0 && hi == if v6 { V6_MAX } else { V4_MAX } {
        return format!("{}/0", addr_text(0, v6));
    }
    if size.is_power_of_two() && lo.is_multiple_of(size) {
        let len = bits - size.trailing_zeros();
        return format!("{}/{len}", addr_text(lo, v6));
    }
    format!("{}-{}", addr_text(lo, v6), addr_text(hi, v6))
}

fn set_text(r: &Ranges, v6: bool) -> String {
    let items: Vec<String> = r.iter().map(|&(lo, hi)| range_text(lo, hi, v6)).collect();
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

fn ports_text(p: &pathproof_core::model::PortSet) -> String {
    let t = p.text().replace(',', ", ");
    if p.0.len() == 1 {
        t
    } else {
        format!("{{ {t} }}")
    }
}

fn quote(s: &str) -> String {
    // nft comments are at most 128 bytes and may not contain a double quote.
    let mut c: String = s
        .chars()
        .map(|ch| if ch == '"' || ch == '\\' { '\'' } else { ch })
        .collect();
    if c.len() > 127 {
        let mut cut = 124;
        while !c.is_char_boundary(cut) {
            cut -= 1;
        }
        c.truncate(cut);
        c.push_str("...");
    }
    format!("\"{c}\"")
}

/// The match expressions of one rule, one string per family it needs (an
/// empty vector when the rule can match nothing, for example `from` an IPv4
/// set `to` an IPv6 set).
fn match_exprs(
    m: &Match,
    names: &Names,
    scn: &Scenario,
    stateful: bool,
) -> Vec<(Option<bool>, String)> {
    let src = fam_sets(&m.src);
    let dst = fam_sets(&m.dst);
    let mut fams: Vec<Option<bool>> = Vec::new();
    if src.is_none() && dst.is_none() {
        fams.push(None);
    } else {
        for v6 in [false, true] {
            let ok = |s: &Option<FamSets>| match s {
                None => true,
                Some(f) => !(if v6 { &f.v6 } else { &f.v4 }).is_empty(),
            };
            if ok(&src) && ok(&dst) {
                fams.push(Some(v6));
            }
        }
    }
    let mut out = Vec::new();
    for fam in fams {
        let mut parts: Vec<String> = Vec::new();
        if let Some(i) = m.in_iface {
            parts.push(format!("iifname {}", quote(names.ifname(scn, i))));
        }
        if let Some(o) = m.out_iface {
            parts.push(format!("oifname {}", quote(names.ifname(scn, o))));
        }
        if let Some(v6) = fam {
            let kw = if v6 { "ip6" } else { "ip" };
            if let Some(s) = &src {
                parts.push(format!(
                    "{kw} saddr {}",
                    set_text(if v6 { &s.v6 } else { &s.v4 }, v6)
                ));
            }
            if let Some(d) = &dst {
                parts.push(format!(
                    "{kw} daddr {}",
                    set_text(if v6 { &d.v6 } else { &d.v4 }, v6)
                ));
            }
        }
        let ports = !m.sport.is_any() || !m.dport.is_any();
        match m.proto {
            Some(Proto::Tcp) | Some(Proto::Udp) | Some(Proto::Sctp) => {
                let p = m.proto.expect("checked").name();
                if ports {
                    if !m.sport.is_any() {
                        parts.push(format!("{p} sport {}", ports_text(&m.sport)));
                    }
                    if !m.dport.is_any() {
                        parts.push(format!("{p} dport {}", ports_text(&m.dport)));
                    }
                } else {
                    parts.push(format!("meta l4proto {p}"));
                }
            }
            Some(Proto::Icmp) => parts.push(match fam {
                Some(false) => "meta l4proto icmp".to_string(),
                Some(true) => "meta l4proto ipv6-icmp".to_string(),
                None => "meta l4proto { icmp, ipv6-icmp }".to_string(),
            }),
            None => {
                if ports {
                    parts.push("meta l4proto { tcp, udp, sctp }".to_string());
                    if !m.sport.is_any() {
                        parts.push(format!("th sport {}", ports_text(&m.sport)));
                    }
                    if !m.dport.is_any() {
                        parts.push(format!("th dport {}", ports_text(&m.dport)));
                    }
                }
            }
        }
        if stateful {
            if let Some(st) = m.state {
                parts.push(format!("ct state {}", state_text(&st)));
            }
        }
        out.push((fam, parts.join(" ")));
    }
    out
}

fn state_text(st: &StateSet) -> String {
    let t = st.text().replace(',', ", ");
    if t.contains(',') {
        format!("{{ {t} }}")
    } else {
        t
    }
}

fn verdicts(action: Action, with: RejectWith, proto: Option<Proto>) -> Vec<(String, String)> {
    // (extra match, verdict statement)
    match action {
        Action::Allow => vec![(String::new(), "accept".into())],
        Action::Drop => vec![(String::new(), "drop".into())],
        Action::Reject => match with {
            RejectWith::PortUnreachable => vec![(
                String::new(),
                "reject with icmpx type port-unreachable".into(),
            )],
            RejectWith::AdminProhibited => vec![(
                String::new(),
                "reject with icmpx type admin-prohibited".into(),
            )],
            RejectWith::TcpReset => match proto {
                Some(Proto::Tcp) => vec![(String::new(), "reject with tcp reset".into())],
                // netfilter sends a reset only to TCP; everything else gets
                // the ICMP default, as iptables' REJECT needs `-p tcp` for it.
                _ => vec![
                    ("meta l4proto tcp".into(), "reject with tcp reset".into()),
                    (
                        String::new(),
                        "reject with icmpx type port-unreachable".into(),
                    ),
                ],
            },
        },
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a} {b}"),
    }
}

fn filter_chain(out: &mut String, scn: &Scenario, names: &Names, hook: &str, f: &Filter) {
    let _ = writeln!(
        out,
        "\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter; policy accept;"
    );
    if hook != "forward" {
        // Not part of the model: IPv6 neighbour discovery (the model's ARP/ND
        // is "whoever owns the address answers") and the lab's DNS resolver.
        let _ = writeln!(
            out,
            "\t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept comment {}",
            quote("pathproof lab: IPv6 neighbour discovery (not modelled)")
        );
        let dir = if hook == "input" {
            "iifname"
        } else {
            "oifname"
        };
        let _ = writeln!(
            out,
            "\t\t{dir} \"lo\" ip daddr 127.0.0.53 udp dport 53 accept comment {}",
            quote("pathproof lab: the DNS view resolver (DNS is not routed or filtered)")
        );
        let _ = writeln!(
            out,
            "\t\t{dir} \"lo\" ip saddr 127.0.0.53 udp sport 53 accept comment {}",
            quote("pathproof lab: the DNS view resolver (DNS is not routed or filtered)")
        );
    }
    if f.stateful {
        let _ = writeln!(
            out,
            "\t\tct state established,related accept comment {}",
            quote(&format!(
                "{} line {}: stateful: allow state established,related",
                f.name, f.origin.line
            ))
        );
    }
    for (i, r) in f.rules.iter().enumerate() {
        let comment = quote(&format!(
            "{} rule {} line {}: {}",
            f.name,
            i + 1,
            r.origin.line,
            r.text
        ));
        let exprs = match_exprs(&r.matches, names, scn, f.stateful);
        if exprs.is_empty() {
            let _ = writeln!(
                out,
                "\t\t# {} rule {} line {} matches no packet of any family: {}",
                f.name,
                i + 1,
                r.origin.line,
                r.text
            );
        }
        for (_, e) in exprs {
            for (extra, verdict) in verdicts(r.action, r.reject_with, r.matches.proto) {
                let _ = writeln!(
                    out,
                    "\t\t{} comment {comment}",
                    join(&join(&e, &extra), &verdict)
                );
            }
        }
    }
    let comment = quote(&format!(
        "{} line {}: default {}",
        f.name,
        f.default_origin.line,
        f.default.name()
    ));
    for (extra, verdict) in verdicts(f.default, RejectWith::PortUnreachable, None) {
        let _ = writeln!(out, "\t\t{} comment {comment}", join(&extra, &verdict));
    }
    let _ = writeln!(out, "\t}}");
}

fn nat_target(n: &NatRule) -> Vec<(Option<bool>, String)> {
    match &n.kind {
        NatKind::Dnat { to, port, .. } => {
            let (fam, a) = match to {
                IpAddr::V4(a) => (false, a.to_string()),
                IpAddr::V6(a) => (true, format!("[{a}]")),
            };
            let kw = if fam { "ip6" } else { "ip" };
            let t = match port {
                Some(p) => format!("dnat {kw} to {a}:{p}"),
                None => format!("dnat {kw} to {}", to),
            };
            vec![(Some(fam), t)]
        }
        NatKind::Snat { to } => {
            let fam = to.is_ipv6();
            let kw = if fam { "ip6" } else { "ip" };
            vec![(Some(fam), format!("snat {kw} to {to}"))]
        }
        NatKind::Masquerade => vec![(None, "masquerade".to_string())],
    }
}

fn nat_chain(
    out: &mut String,
    scn: &Scenario,
    names: &Names,
    hook: &str,
    rules: &[(usize, &NatRule)],
) {
    let prio = if hook == "prerouting" {
        "dstnat"
    } else {
        "srcnat"
    };
    let _ = writeln!(
        out,
        "\tchain {hook} {{\n\t\ttype nat hook {hook} priority {prio}; policy accept;"
    );
    for (i, n) in rules {
        let comment = quote(&format!(
            "nat rule {} line {}: {}",
            i + 1,
            n.origin.line,
            n.text
        ));
        for (efam, e) in match_exprs(&n.matches, names, scn, false) {
            for (fam, target) in nat_target(n) {
                // A translation of one family applies only to packets of that family.
                let famx = match (fam, efam) {
                    (Some(f), Some(g)) if f != g => continue,
                    (Some(false), None) => "meta nfproto ipv4",
                    (Some(true), None) => "meta nfproto ipv6",
                    _ => "",
                };
                let _ = writeln!(
                    out,
                    "\t\t{} comment {comment}",
                    join(&join(famx, &e), &target)
                );
            }
        }
    }
    let _ = writeln!(out, "\t}}");
}

/// The nft table name of a host.
pub fn table_name(names: &Names, host: usize) -> String {
    format!("pathproof_{}", names.host_token(host))
}

/// The rule set a host's filters, NAT rules and (IPv6) reverse-path filter
/// compile to; `None` when the host has none of them.
pub fn host_ruleset(scn: &Scenario, names: &Names, hid: usize) -> Option<String> {
    let host = &scn.hosts[hid];
    let has_v6 = host
        .interfaces
        .iter()
        .any(|i| i.addrs.iter().any(|a| a.is_ipv6()));
    let rp6 = host.rp_filter != RpFilter::Off && has_v6;
    // A host with its own rule set (`ruleset:`) loads that, as written: its
    // filters and NAT rules here are the model's flattening of it.
    let own = host.ruleset.is_none();
    if (!own
        || host.input.is_none()
            && host.output.is_none()
            && host.forward.is_none()
            && host.nat.is_empty())
        && !rp6
    {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# host {} ({}), scenario {}{}",
        host.name,
        scn.file,
        scn.name,
        scn.variant
            .as_ref()
            .map(|v| format!(", variant {v}"))
            .unwrap_or_default()
    );
    let table = table_name(names, hid);
    let _ = writeln!(out, "table inet {table} {{");
    let dnat: Vec<(usize, &NatRule)> = host
        .nat
        .iter()
        .enumerate()
        .filter(|(_, n)| own && matches!(n.kind, NatKind::Dnat { .. }))
        .collect();
    let snat: Vec<(usize, &NatRule)> = host
        .nat
        .iter()
        .enumerate()
        .filter(|(_, n)| own && !matches!(n.kind, NatKind::Dnat { .. }))
        .collect();
    if !dnat.is_empty() {
        nat_chain(&mut out, scn, names, "prerouting", &dnat);
    }
    if rp6 {
        // Linux's rp_filter sysctl is IPv4 only; the IPv6 reverse-path check
        // is nft's fib expression, after DNAT as in IPv4's input routing.
        let (expr, mode) = match host.rp_filter {
            RpFilter::Strict => ("fib saddr . iif oif missing", "strict"),
            _ => ("fib saddr oif missing", "loose"),
        };
        let _ = writeln!(
            out,
            "\tchain rpfilter6 {{\n\t\ttype filter hook prerouting priority -90; policy accept;\n\t\tmeta nfproto ipv6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept comment {}\n\t\tmeta nfproto ipv6 {expr} drop comment {}\n\t}}",
            quote("pathproof lab: IPv6 neighbour discovery (not modelled)"),
            quote(&format!("host {} line {}: rp_filter {mode} (IPv6)", host.name, host.origin.line))
        );
    }
    for (hook, f) in [
        ("input", host.input),
        ("forward", host.forward),
        ("output", host.output),
    ] {
        if let (Some(f), true) = (f, own) {
            filter_chain(&mut out, scn, names, hook, scn.filter(f));
        }
    }
    if !snat.is_empty() {
        nat_chain(&mut out, scn, names, "postrouting", &snat);
    }
    let _ = writeln!(out, "}}");
    Some(out)
}

/// `pathproof export nft`: the rule sets of every host (or of one), in host order.
pub fn export(scn: &Scenario, host: Option<&str>) -> Result<String, String> {
    let names = Names::new(scn, "export");
    let ids: Vec<usize> = match host {
        Some(h) => match scn.host_by_name(h) {
            Some(id) => vec![id.index()],
            None => {
                let all: Vec<&str> = scn.hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(format!(
                    "no host `{h}` in scenario {}; hosts: {}",
                    scn.name,
                    all.join(", ")
                ));
            }
        },
        None => (0..scn.hosts.len()).collect(),
    };
    let mut out = String::new();
    for id in ids {
        if let Some(r) = &scn.hosts[id].ruleset {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&own_ruleset(scn, id, r));
        }
        match host_ruleset(scn, &names, id) {
            Some(r) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&r);
            }
            None if scn.hosts[id].ruleset.is_some() => {}
            None if host.is_some() => {
                let _ = writeln!(
                    out,
                    "# host {} has no filter, NAT rule or IPv6 rp_filter: no rule set",
                    scn.hosts[id].name
                );
            }
            None => {}
        }
    }
    if out.is_empty() {
        out.push_str("# no host of this scenario has a filter or NAT rule\n");
    }
    Ok(out)
}

/// What `lab up` loads for a host with its own rule set: the text as written, then
/// the lab's own rules put first in each filter base chain.
fn own_ruleset(scn: &Scenario, id: usize, r: &pathproof_core::model::HostRuleset) -> String {
    let host = &scn.hosts[id];
    let mut out = String::new();
    let names: Vec<String> = host
        .interfaces
        .iter()
        .zip(&r.ifnames)
        .map(|(i, n)| format!("{n} on {}", scn.networks[i.network.index()].name))
        .collect();
    let _ = writeln!(
        out,
        "# host {}: its own rule set {} ({}), loaded as written; interfaces {}",
        host.name,
        r.file,
        if r.iptables {
            "iptables-save text, loaded with iptables-restore"
        } else {
            "nft -f"
        },
        names.join(", ")
    );
    if r.iptables {
        for l in r.text.lines() {
            let _ = writeln!(out, "#   {l}");
        }
    } else {
        out.push_str(&r.text);
        if !r.text.ends_with('\n') {
            out.push('\n');
        }
    }
    let inserts = crate::plan::lab_inserts(r);
    if !inserts.is_empty() {
        let _ = writeln!(
            out,
            "# then, first in each filter base chain: IPv6 neighbour discovery and the lab's DNS resolver (not modelled)"
        );
        for i in inserts {
            // As a shell would take it: an argument with a space in quotes.
            let line = i
                .iter()
                .map(|a| {
                    if a.contains(' ') && !a.starts_with('"') {
                        format!("\"{a}\"")
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            if r.iptables {
                let _ = writeln!(out, "#   {line}");
            } else {
                let _ = writeln!(out, "{}", line.trim_start_matches("nft "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_print_as_prefixes_where_they_can() {
        assert_eq!(range_text(0, V4_MAX, false), "0.0.0.0/0");
        assert_eq!(
            range_text(0x0a000100, 0x0a0001ff, false),
            "10.0.1.0/24".to_string()
        );
        assert_eq!(range_text(5, 9, false), "0.0.0.5-0.0.0.9");
        assert_eq!(range_text(0, V6_MAX, true), "::/0");
    }

    #[test]
    fn subtraction_cuts_holes() {
        let r = subtract(&vec![(0, 100)], &vec![(10, 20), (50, 100)]);
        assert_eq!(r, vec![(0, 9), (21, 49)]);
        assert_eq!(subtract(&vec![(0, 10)], &vec![(0, 10)]), vec![]);
    }
}
