//! The kernel plan of a scenario: which namespaces, links, addresses, routes,
//! sysctls and rule sets `lab up` makes. A pure function of the model, so it
//! can be printed and tested without root.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use pathproof_core::model::{Host, NetworkId, RouteAction, RouteOrigin, RpFilter, Scenario};

use crate::names::{self, Names};
use crate::nft;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostPlan {
    /// The host's name in the scenario.
    pub name: String,
    pub ns: String,
    /// `ip -batch` lines run inside the namespace (links up, addresses, routes).
    pub ip: Vec<String>,
    /// sysctls (path under /proc/sys, value) set before the links exist.
    pub sysctls: Vec<(String, String)>,
    /// sysctls set once the links exist (per interface).
    pub iface_sysctls: Vec<(String, String)>,
    /// The nft rule set, if the host has filters or NAT.
    pub nft: Option<String>,
    /// The host's own rule set (`ruleset:`), loaded as the user wrote it.
    #[serde(default)]
    pub ruleset: Option<UserRuleset>,
}

/// A host's own rule set as `lab up` loads it: the text with `nft -f`, or with
/// `iptables-restore` / `ip6tables-restore`, then the lab's own rules put first in
/// each filter base chain (see [`lab_inserts`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRuleset {
    pub file: String,
    pub text: String,
    /// `nft`, `iptables-restore` or `ip6tables-restore`.
    pub loader: String,
    /// Commands run after the text is loaded (program and arguments).
    pub inserts: Vec<Vec<String>>,
}

/// The comment of the lab's own rules in a user's rule set.
pub const LAB_RULE: &str = "pathproof lab: not modelled";

/// The lab's own rules, put first in every filter base chain of a user's rule set:
/// IPv6 neighbour discovery (the model's neighbour is "whoever owns the address")
/// and the DNS view resolver on `lo` (DNS is not routed or filtered in the model).
/// No packet the model follows matches them.
pub fn lab_inserts(r: &pathproof_core::model::HostRuleset) -> Vec<Vec<String>> {
    let Ok(rs) = pathproof_rulesets::parse_ruleset(&r.text) else {
        return Vec::new();
    };
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let mut out = Vec::new();
    for c in rs.base_chains().iter().filter(|c| !c.nat) {
        if r.iptables {
            let v6 = rs.ipv6_only();
            let prog = if v6 { "ip6tables" } else { "iptables" };
            if v6 {
                for t in ["neighbour-solicitation", "neighbour-advertisement"] {
                    out.push(v(&[
                        prog,
                        "-w",
                        "-I",
                        &c.chain,
                        "1",
                        "-p",
                        "ipv6-icmp",
                        "--icmpv6-type",
                        t,
                        "-j",
                        "ACCEPT",
                    ]));
                }
            } else if c.chain != "FORWARD" {
                let dir = if c.chain == "INPUT" { "-i" } else { "-o" };
                out.push(v(&[
                    prog,
                    "-w",
                    "-I",
                    &c.chain,
                    "1",
                    dir,
                    "lo",
                    "-s",
                    "127.0.0.53",
                    "-j",
                    "ACCEPT",
                ]));
                out.push(v(&[
                    prog,
                    "-w",
                    "-I",
                    &c.chain,
                    "1",
                    dir,
                    "lo",
                    "-d",
                    "127.0.0.53",
                    "-j",
                    "ACCEPT",
                ]));
            }
            continue;
        }
        let fam = c.family.as_str();
        let base = ["nft", "insert", "rule", fam, &c.table, &c.chain];
        // `meta nfproto` only in an inet table (an ip or ip6 table sees one family).
        let only = |f: &'static str| -> Vec<&'static str> {
            if fam == "inet" {
                vec!["meta", "nfproto", f]
            } else {
                vec![]
            }
        };
        if fam != "ip" {
            let mut a = v(&base);
            a.extend(v(&only("ipv6")));
            a.extend(v(&[
                "icmpv6",
                "type",
                "{",
                "nd-neighbor-solicit,",
                "nd-neighbor-advert",
                "}",
                "accept",
            ]));
            out.push(a);
        }
        if fam != "ip6" {
            for dir in ["saddr", "daddr"] {
                let mut a = v(&base);
                a.extend(v(&only("ipv4")));
                a.extend(v(&["ip", dir, "127.0.0.53", "accept"]));
                out.push(a);
            }
        }
    }
    // Each says what it is (and a recorded rule set can be told from the user's).
    for cmd in &mut out {
        if cmd[0] == "nft" {
            cmd.push("comment".into());
            cmd.push(format!("\"{LAB_RULE}\""));
        } else if let Some(j) = cmd.iter().position(|a| a == "-j") {
            for (k, a) in ["-m", "comment", "--comment", LAB_RULE].iter().enumerate() {
                cmd.insert(j + k, a.to_string());
            }
        }
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub lab: String,
    pub bridge_ns: String,
    /// `ip -batch` lines run in the bridge namespace: bridges and veth pairs.
    pub bridge_ip: Vec<String>,
    pub hosts: Vec<HostPlan>,
}

impl Plan {
    /// Every namespace the plan makes, the bridge namespace first.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![self.bridge_ns.clone()];
        v.extend(self.hosts.iter().map(|h| h.ns.clone()));
        v
    }
}

fn sys(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// The address as `ip addr add` takes it: with the network's prefix length,
/// or a host prefix (and no prefix route) on a catch-all network and on a
/// `via-gateway` network whose gateway the host is not (`through`): its
/// routes onto the segment are then the model's, installed by [`routes`].
fn addr_arg(scn: &Scenario, net: usize, a: IpAddr, through: bool) -> String {
    let n = &scn.networks[net];
    let p = n
        .prefixes
        .iter()
        .filter(|p| p.contains(&a))
        .filter(|_| !through)
        .max_by_key(|p| p.prefix_len());
    let fam6 = a.is_ipv6();
    let extra = if fam6 { " nodad" } else { "" };
    match p {
        Some(p) if p.prefix_len() > 0 => format!("{a}/{}{extra}", p.prefix_len()),
        _ => format!("{a}/{} noprefixroute{extra}", if fam6 { 128 } else { 32 }),
    }
}

fn route_line(ifnames: &[String], dest: &IpNet, action: &RouteAction) -> String {
    match action {
        RouteAction::Direct { iface } => format!("route add {dest} dev {}", ifnames[*iface]),
        RouteAction::Via { gateway, iface } => {
            format!("route add {dest} via {gateway} dev {}", ifnames[*iface])
        }
        RouteAction::Blackhole => format!("route add blackhole {dest}"),
    }
}

/// The routes of a host as kernel routes. Connected routes of ordinary
/// networks come with the addresses. A catch-all's connected route covers its
/// prefix *minus* other networks' prefixes: the kernel gets the whole prefix
/// plus, for each prefix left out, the route the model falls back to (or an
/// `unreachable` route when there is none).
fn routes(ifnames: &[String], host: &Host) -> Vec<String> {
    let mut out = Vec::new();
    let mut installed: Vec<IpNet> = Vec::new();
    for (i, r) in host.routes.iter().enumerate() {
        let connected_plain = matches!(r.origin, pathproof_core::model::RouteOrigin::Connected)
            && r.except.is_empty()
            && r.dest.prefix_len() > 0;
        if installed.contains(&r.dest) {
            continue;
        }
        installed.push(r.dest);
        if !connected_plain {
            out.push(route_line(ifnames, &r.dest, &r.action));
        }
        for e in r.except.iter() {
            if e.addr().is_ipv4() != r.dest.addr().is_ipv4() || !r.dest.contains(e) {
                continue;
            }
            // The model's answer for addresses in `e` that no more specific
            // route covers: the next route (in lookup order) that contains
            // all of `e` and does not leave it out.
            let next = host.routes[i + 1..]
                .iter()
                .chain(host.routes[..i].iter())
                .filter(|o| o.dest.prefix_len() <= e.prefix_len())
                .find(|o| o.dest.contains(e) && !o.except.iter().any(|x| x.contains(e)));
            if installed.contains(e) {
                continue;
            }
            match next {
                Some(o) if o.dest == *e => {}
                Some(o) => {
                    installed.push(*e);
                    out.push(route_line(ifnames, e, &o.action));
                }
                None => {
                    installed.push(*e);
                    out.push(format!("route add unreachable {e}"));
                }
            }
        }
    }
    out
}

/// The plan of a lab named `lab` for a loaded scenario.
pub fn plan(scn: &Scenario, lab: &str) -> Plan {
    let names = Names::new(scn, lab);
    let bridge_ns = names.bridge_ns();
    let mut bridge_ip = Vec::new();
    for (ni, _) in scn.networks.iter().enumerate() {
        bridge_ip.push(format!(
            "link add {} type bridge stp_state 0 mcast_snooping 0",
            names::bridge(ni)
        ));
        bridge_ip.push(format!("link set {} up", names::bridge(ni)));
    }
    let mut hosts = Vec::new();
    for (hi, h) in scn.hosts.iter().enumerate() {
        let ifnames: Vec<String> = (0..h.interfaces.len())
            .map(|i| names.host_ifname(scn, hi, i))
            .collect();
        let mut hp = host_plan(
            scn,
            h,
            names.host_ns(hi),
            &|ni| names::port(hi, ni),
            nft::host_ruleset(scn, &names, hi),
            &ifnames,
            &mut bridge_ip,
        );
        hp.ruleset = h.ruleset.as_ref().map(|r| UserRuleset {
            file: r.file.clone(),
            text: r.text.to_string(),
            loader: if !r.iptables {
                "nft".into()
            } else if pathproof_rulesets::parse_ruleset(&r.text)
                .map(|rs| rs.ipv6_only())
                .unwrap_or(false)
            {
                "ip6tables-restore".into()
            } else {
                "iptables-restore".into()
            },
            inserts: lab_inserts(r),
        });
        hosts.push(hp);
    }
    Plan {
        lab: lab.to_string(),
        bridge_ns,
        bridge_ip,
        hosts,
    }
}

/// The kernel plan of one host (a scenario's, or a stand-in's): its
/// namespace `ns`, the far ends of its veth pairs named by `port(network)`
/// (their lines go to `bridge_ip`), and its rule set.
fn host_plan(
    scn: &Scenario,
    h: &Host,
    ns: String,
    port: &dyn Fn(usize) -> String,
    nft: Option<String>,
    ifnames: &[String],
    bridge_ip: &mut Vec<String>,
) -> HostPlan {
    let mut ip = vec!["link set lo up".to_string()];
    for (ii, iface) in h.interfaces.iter().enumerate() {
        let ni = iface.network.index();
        let ifname = &ifnames[ii];
        let port = port(ni);
        bridge_ip.push(format!(
            "link add {port} type veth peer name {ifname} netns {ns}"
        ));
        bridge_ip.push(format!(
            "link set dev {port} master {} up",
            names::bridge(ni)
        ));
        // A via-gateway network's host reaches the segment only through
        // the route to its gateway (`attached_routes`).
        let through = h.routes.iter().any(|r| {
            matches!(r.origin, RouteOrigin::NetworkGateway(n) if n == iface.network)
                && matches!(r.action, RouteAction::Direct { iface } if iface == ii)
        });
        for a in &iface.addrs {
            ip.push(format!(
                "addr add {} dev {ifname}",
                addr_arg(scn, ni, *a, through)
            ));
        }
        // `dev` always: a bare name like `n` is taken for a keyword (`name`).
        ip.push(format!("link set dev {ifname} up"));
    }
    ip.extend(routes(ifnames, h));
    let rp = match h.rp_filter {
        RpFilter::Off => "0",
        RpFilter::Strict => "1",
        RpFilter::Loose => "2",
    };
    let fwd = if h.router { "1" } else { "0" };
    let mut sysctls = vec![
        sys("net/ipv4/ip_forward", fwd),
        sys("net/ipv6/conf/all/forwarding", fwd),
        sys("net/ipv4/conf/all/rp_filter", "0"),
        sys("net/ipv4/conf/default/rp_filter", rp),
        // The model's neighbour: whoever owns the address *on this segment*.
        sys("net/ipv4/conf/all/arp_ignore", "1"),
        sys("net/ipv4/conf/all/arp_announce", "2"),
        sys("net/ipv6/conf/all/accept_dad", "0"),
        sys("net/ipv6/conf/default/accept_dad", "0"),
        sys("net/ipv6/conf/all/accept_ra", "0"),
        sys("net/ipv6/conf/default/accept_ra", "0"),
    ];
    sysctls.push(sys("net/ipv4/ping_group_range", "0 2147483647"));
    // No ICMP redirects (the model has none; hardened hosts and routers
    // switch them off too): a router forwarding a packet back out the
    // interface it came in on does not teach the sender a shortcut.
    for k in [
        "net/ipv4/conf/all/send_redirects",
        "net/ipv4/conf/default/send_redirects",
        "net/ipv4/conf/all/accept_redirects",
        "net/ipv4/conf/default/accept_redirects",
        "net/ipv6/conf/all/accept_redirects",
        "net/ipv6/conf/default/accept_redirects",
    ] {
        sysctls.push(sys(k, "0"));
    }
    // ICMP errors are not rate limited: the model answers every probe.
    sysctls.push(sys("net/ipv4/icmp_ratelimit", "0"));
    sysctls.push(sys("net/ipv6/icmp/ratelimit", "0"));
    // ...nor counted against the global ICMP budget, which all namespaces share.
    sysctls.push(sys("net/ipv4/icmp_ratemask", "0"));
    sysctls.push(sys("net/ipv6/icmp/ratemask", "\n"));
    let (plo, phi) = crate::probe::EPHEMERAL_RANGE;
    sysctls.push(sys("net/ipv4/ip_local_port_range", &format!("{plo} {phi}")));
    let mut iface_sysctls = Vec::new();
    for (ii, iface) in h.interfaces.iter().enumerate() {
        let ifname = &ifnames[ii];
        iface_sysctls.push(sys(&format!("net/ipv4/conf/{ifname}/rp_filter"), rp));
        // A neighbour nobody answers for fails within a second, not three.
        iface_sysctls.push(sys(
            &format!("net/ipv4/neigh/{ifname}/retrans_time_ms"),
            "200",
        ));
        if iface.addrs.iter().any(|a| a.is_ipv6()) {
            iface_sysctls.push(sys(
                &format!("net/ipv6/neigh/{ifname}/retrans_time_ms"),
                "200",
            ));
        }
    }
    HostPlan {
        name: h.name.clone(),
        ns,
        ip,
        sysctls,
        iface_sysctls,
        nft,
        ruleset: None,
    }
}

/// A stand-in's namespace (`pp-LAB.net_N`) and the bridge-side lines that
/// attach it to its network's bridge (veth far end `sN`).
#[derive(Debug, Clone)]
pub struct StandInPlan {
    pub network: usize,
    pub host: Host,
    pub plan: HostPlan,
    pub bridge_ip: Vec<String>,
}

impl StandInPlan {
    /// The stand-in's ports on the bridges (the bridge ends of its veth pairs).
    pub fn bridge_ports(&self) -> Vec<String> {
        self.bridge_ip
            .iter()
            .filter_map(|l| l.strip_prefix("link add "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }
}

pub fn standin_plan(scn: &Scenario, lab: &str, net: NetworkId, addrs: &[IpAddr]) -> StandInPlan {
    let names = Names::new(scn, lab);
    let host = pathproof_core::journey::stand_in(scn, net, addrs);
    let mut bridge_ip = Vec::new();
    let ifnames: Vec<String> = host
        .interfaces
        .iter()
        .map(|i| names.ifname_idx(i.network.index()).to_string())
        .collect();
    let plan = host_plan(
        scn,
        &host,
        names.standin_ns(net.index()),
        &|ni| format!("s{ni}"),
        None,
        &ifnames,
        &mut bridge_ip,
    );
    StandInPlan {
        network: net.index(),
        host,
        plan,
        bridge_ip,
    }
}
