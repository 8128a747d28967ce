//! `pathproof import hosts NAME=DIR...`: a scenario from per-host folders, each
//! holding what an administrator collects on the host:
//!
//! ```text
//! ip -j addr > addr.json             # interfaces and addresses
//! ip -j route > route.json           # IPv4 routes (ip -6 -j route > route6.json for IPv6)
//! nft list ruleset > ruleset.nft     # or: iptables-save > ruleset.rules
//! ```
//!
//! and optionally `ss -Hltnu > ss.txt` (the listening sockets).
//!
//! Mapping (docs/import.md has the table): each folder is a host named NAME; each
//! global address of an interface that is up attaches the host to the network of
//! its prefix (hosts on one prefix share the network; the prefixes of one interface
//! make one network); routes with a gateway, blackhole routes and device routes
//! become `routes:` lines (connected routes come with the addresses); a gateway no
//! imported host owns becomes a placeholder router; the rule set becomes the host's
//! `ruleset:`, its interface names kept; `ss` lines become `listen:` sockets. A host
//! another host routes through is a router (`ip_forward` is not in the files: said
//! in a note). Everything not read is listed in the notes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::{ImportError, Imported, Input};

/// One host's folder: its name and its files.
#[derive(Debug, Clone)]
pub struct HostDir {
    pub name: String,
    /// The folder as the user named it (for messages).
    pub dir: String,
    pub files: Vec<Input>,
}

#[derive(Debug, Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Debug, Deserialize)]
struct AddrInfo {
    family: String,
    local: String,
    prefixlen: u8,
    #[serde(default)]
    scope: String,
}

#[derive(Debug, Deserialize)]
struct RouteEntry {
    dst: String,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    dev: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// What one host's folder says.
struct Host {
    name: String,
    /// (interface name, addresses with prefixes)
    ifaces: Vec<(String, Vec<(IpAddr, IpNet)>)>,
    routes: Vec<(String, RouteEntry, bool)>, // (file, entry, v6 file)
    ruleset: Option<Input>,
    sockets: Vec<String>,
}

fn json_error(file: &str, e: &serde_json::Error, what: &str) -> ImportError {
    ImportError {
        file: file.to_string(),
        line: e.line() as u32,
        column: e.column() as u32,
        message: format!("not the JSON of `{what}`: {e}"),
        help: Some(format!("collect it with `{what} > {}`", base(file))),
    }
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// The scenario for `hosts`. `ruleset_path` says how the scenario names a rule set
/// file (the path relative to where the scenario is written).
pub fn import(
    hosts: &[HostDir],
    ruleset_path: &dyn Fn(&str) -> String,
) -> Result<Imported, Vec<ImportError>> {
    let mut errors = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut read: Vec<Host> = Vec::new();
    let mut names = BTreeSet::new();
    for h in hosts {
        if !valid_name(&h.name) {
            errors.push(ImportError {
                file: h.dir.clone(),
                line: 0,
                column: 0,
                message: format!(
                    "`{}` is not a host name (letters, digits, `-`, `_`, `.`)",
                    h.name
                ),
                help: Some("write NAME=DIR, such as `web=hosts/web`".into()),
            });
            continue;
        }
        if !names.insert(h.name.clone()) {
            errors.push(ImportError {
                file: h.dir.clone(),
                line: 0,
                column: 0,
                message: format!("host `{}` is given twice", h.name),
                help: None,
            });
            continue;
        }
        match read_host(h, &mut notes) {
            Ok(x) => read.push(x),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(build(&read, ruleset_path, notes))
}

fn read_host(h: &HostDir, notes: &mut Vec<String>) -> Result<Host, Vec<ImportError>> {
    let mut errors = Vec::new();
    let mut host = Host {
        name: h.name.clone(),
        ifaces: Vec::new(),
        routes: Vec::new(),
        ruleset: None,
        sockets: Vec::new(),
    };
    let mut have_addr = false;
    for f in &h.files {
        let b = base(&f.path);
        match b {
            "addr.json" => {
                have_addr = true;
                match serde_json::from_str::<Vec<Link>>(&f.text) {
                    Err(e) => errors.push(json_error(&f.path, &e, "ip -j addr")),
                    Ok(links) => host.ifaces = interfaces(&h.name, links, notes),
                }
            }
            "route.json" | "route6.json" => match serde_json::from_str::<Vec<RouteEntry>>(&f.text) {
                Err(e) => errors.push(json_error(
                    &f.path,
                    &e,
                    if b == "route.json" {
                        "ip -j route"
                    } else {
                        "ip -6 -j route"
                    },
                )),
                Ok(rs) => host
                    .routes
                    .extend(rs.into_iter().map(|r| (f.path.clone(), r, b == "route6.json"))),
            },
            "ss.txt" => host.sockets = sockets(&h.name, &f.path, &f.text, notes),
            _ if b.starts_with("ruleset")
                || b.starts_with("iptables")
                || b.starts_with("ip6tables")
                || b.starts_with("nft") =>
            {
                let blank = f
                    .text
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
                if blank {
                    // `nft list ruleset` on a host without tables prints nothing.
                    notes.push(format!("{}: an empty rule set: host {} filters nothing", f.path, h.name));
                    continue;
                }
                if let Some(first) = &host.ruleset {
                    errors.push(ImportError {
                        file: f.path.clone(),
                        line: 0,
                        column: 0,
                        message: format!(
                            "a second rule set for host `{}` (the first is {})",
                            h.name, first.path
                        ),
                        help: Some("a host has one rule set file: `nft list ruleset` (both families), or `iptables-save` (one)".into()),
                    });
                } else {
                    host.ruleset = Some(f.clone());
                }
            }
            _ => notes.push(format!("{}: not read (a host folder holds addr.json, route.json, route6.json, ss.txt and the rule set)", f.path)),
        }
    }
    if !have_addr {
        errors.push(ImportError {
            file: h.dir.clone(),
            line: 0,
            column: 0,
            message: format!("host `{}` has no addr.json", h.name),
            help: Some("collect it on the host with `ip -j addr > addr.json`".into()),
        });
    }
    if host.ruleset.is_none()
        && !h.files.iter().any(|f| {
            let b = base(&f.path);
            b.starts_with("ruleset")
                || b.starts_with("iptables")
                || b.starts_with("ip6tables")
                || b.starts_with("nft")
        })
    {
        notes.push(format!(
            "host {}: no rule set file: it filters nothing",
            h.name
        ));
    }
    if errors.is_empty() {
        Ok(host)
    } else {
        Err(errors)
    }
}

fn interfaces(
    host: &str,
    links: Vec<Link>,
    notes: &mut Vec<String>,
) -> Vec<(String, Vec<(IpAddr, IpNet)>)> {
    let mut out = Vec::new();
    for l in links {
        if l.flags.iter().any(|f| f == "LOOPBACK") {
            continue;
        }
        if !l.flags.iter().any(|f| f == "UP") {
            notes.push(format!(
                "host {host}: interface {} is down: not imported",
                l.ifname
            ));
            continue;
        }
        let mut addrs = Vec::new();
        for a in l.addr_info {
            if a.family != "inet" && a.family != "inet6" {
                continue;
            }
            let Ok(addr) = a.local.parse::<IpAddr>() else {
                notes.push(format!(
                    "host {host}: {}: address {:?} not read",
                    l.ifname, a.local
                ));
                continue;
            };
            if a.scope != "global" && !a.scope.is_empty() {
                // Link-local (fe80::/10) and host-scope addresses are not on a network
                // of the scenario.
                notes.push(format!(
                    "host {host}: {}: {addr}/{} (scope {}) not imported: only global addresses join a network",
                    l.ifname, a.prefixlen, a.scope
                ));
                continue;
            }
            let Ok(net) = IpNet::new(addr, a.prefixlen) else {
                notes.push(format!(
                    "host {host}: {}: prefix length {} not read",
                    l.ifname, a.prefixlen
                ));
                continue;
            };
            addrs.push((addr, net.trunc()));
        }
        if addrs.is_empty() {
            notes.push(format!(
                "host {host}: interface {} has no global address: not imported",
                l.ifname
            ));
            continue;
        }
        out.push((l.ifname, addrs));
    }
    out
}

/// `ss -Hltnu` lines: TCP listeners and UDP sockets, as socket lines.
fn sockets(host: &str, path: &str, text: &str, notes: &mut Vec<String>) -> Vec<String> {
    let mut out: BTreeSet<(String, u16, String)> = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 5 {
            if !line.trim().is_empty() {
                notes.push(format!(
                    "{path}:{}: not an `ss -Hltnu` line: not read",
                    i + 1
                ));
            }
            continue;
        }
        let (proto, state, local) = (w[0], w[1], w[4]);
        if !(proto == "tcp" && state == "LISTEN" || proto == "udp" && state == "UNCONN") {
            continue;
        }
        let Some((addr, port)) = local.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let (addr, dev) = match addr.split_once('%') {
            Some((a, d)) => (a, Some(d)),
            None => (addr, None),
        };
        let bind = match addr {
            "*" | "0.0.0.0" => "0.0.0.0".to_string(),
            a => match a.parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => {
                    notes.push(format!("{path}:{}: address {a:?} not read", i + 1));
                    continue;
                }
            },
        };
        if let Some(d) = dev {
            notes.push(format!(
                "host {host}: {proto}/{port} on {bind} is bound to device {d}: imported as bound to the address only"
            ));
        }
        out.insert((proto.to_string(), port, bind));
    }
    // The model takes one socket per protocol, port and family: a wildcard one
    // stands for an address-bound one beside it (which is noted).
    let mut kept = Vec::new();
    for (proto, port, bind) in &out {
        let ip: IpAddr = bind.parse().expect("made above");
        let wildcard = out.iter().any(|(p2, q2, b2)| {
            p2 == proto
                && q2 == port
                && b2 != bind
                && b2
                    .parse::<IpAddr>()
                    .is_ok_and(|b| b.is_unspecified() && b.is_ipv4() == ip.is_ipv4())
        });
        if wildcard && !ip.is_unspecified() {
            notes.push(format!(
                "host {host}: {proto}/{port} on {bind} not imported: the {proto}/{port} socket on every address stands for it (the model takes one socket per port and family)"
            ));
            continue;
        }
        kept.push(format!("{proto}/{port} on {bind}"));
    }
    kept
}

fn net_name(p: &IpNet) -> String {
    let s = p.to_string().replace(['.', ':', '/'], "-");
    format!("net-{}", s.trim_matches('-').replace("--", "-"))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn build(
    hosts: &[Host],
    ruleset_path: &dyn Fn(&str) -> String,
    mut notes: Vec<String>,
) -> Imported {
    // Networks: the prefixes of one interface make one network; one prefix on two
    // hosts is one network.
    let mut parent: BTreeMap<IpNet, IpNet> = BTreeMap::new();
    fn find(p: &mut BTreeMap<IpNet, IpNet>, x: IpNet) -> IpNet {
        let mut r = x;
        while let Some(&n) = p.get(&r) {
            if n == r {
                break;
            }
            r = n;
        }
        p.insert(x, r);
        r
    }
    for h in hosts {
        for (_, addrs) in &h.ifaces {
            for (_, n) in addrs {
                parent.entry(*n).or_insert(*n);
            }
            for w in addrs.windows(2) {
                let (a, b) = (find(&mut parent, w[0].1), find(&mut parent, w[1].1));
                if a != b {
                    parent.insert(a.max(b), a.min(b));
                }
            }
        }
    }
    let prefixes: Vec<IpNet> = parent.keys().copied().collect();
    let mut nets: BTreeMap<IpNet, Vec<IpNet>> = BTreeMap::new();
    for p in prefixes {
        let r = find(&mut parent, p);
        nets.entry(r).or_default().push(p);
    }
    let net_of = |p: IpNet, parent: &mut BTreeMap<IpNet, IpNet>| net_name(&find(parent, p));
    // Who owns which address.
    let mut owner: BTreeMap<IpAddr, (String, IpNet)> = BTreeMap::new();
    for h in hosts {
        for (_, addrs) in &h.ifaces {
            for (a, n) in addrs {
                owner.insert(*a, (h.name.clone(), *n));
            }
        }
    }
    // Routes, and the gateways they need.
    let mut routers: BTreeSet<String> = BTreeSet::new();
    let mut placeholders: BTreeMap<IpAddr, IpNet> = BTreeMap::new();
    let mut host_routes: Vec<Vec<String>> = Vec::new();
    for h in hosts {
        let mut lines = Vec::new();
        let dev_net: BTreeMap<&str, IpNet> = h
            .ifaces
            .iter()
            .filter_map(|(n, a)| a.first().map(|x| (n.as_str(), x.1)))
            .collect();
        for (file, r, v6) in &h.routes {
            let kind = r.kind.as_deref().unwrap_or("unicast");
            let dst = match r.dst.as_str() {
                "default" if *v6 => "default6".to_string(),
                "default" => "default".to_string(),
                d => d.to_string(),
            };
            match kind {
                "blackhole" => {
                    lines.push(format!("{dst} blackhole"));
                    continue;
                }
                "unicast" => {}
                other => {
                    notes.push(format!("{file}: route {} ({other}) not imported: only unicast and blackhole routes are modelled", r.dst));
                    continue;
                }
            }
            if let Some(gw) = &r.gateway {
                let Ok(gw_ip) = gw.parse::<IpAddr>() else {
                    notes.push(format!(
                        "{file}: route {} via {gw}: gateway not read",
                        r.dst
                    ));
                    continue;
                };
                match owner.get(&gw_ip) {
                    Some((o, _)) => {
                        routers.insert(o.clone());
                    }
                    None => {
                        // On the network of the route's device.
                        let Some(n) = r.dev.as_deref().and_then(|d| dev_net.get(d)) else {
                            notes.push(format!("{file}: route {} via {gw} dev {}: the device has no global address: not imported", r.dst, r.dev.as_deref().unwrap_or("?")));
                            continue;
                        };
                        if !n.contains(&gw_ip) {
                            notes.push(format!("{file}: route {} via {gw}: the gateway is outside {n}: not imported", r.dst));
                            continue;
                        }
                        placeholders.insert(gw_ip, *n);
                    }
                }
                lines.push(format!("{dst} via {gw}"));
                continue;
            }
            // No gateway: a connected route (it comes with the address), or a
            // device route to somewhere else.
            // (IPv6 routes carry no scope: the kernel's own are connected ones.)
            let connected = r.protocol.as_deref() == Some("kernel")
                && r.scope.as_deref().is_none_or(|s| s == "link");
            if connected {
                continue;
            }
            match r.dev.as_deref().and_then(|d| dev_net.get(d)) {
                Some(n) => {
                    let name = net_of(*n, &mut parent);
                    if r.dst
                        .parse::<IpNet>()
                        .is_ok_and(|d| nets.values().flatten().any(|p| *p == d))
                    {
                        continue;
                    }
                    lines.push(format!("{dst} dev {name}"));
                }
                None => notes.push(format!(
                    "{file}: route {} dev {}: not imported (a device without a global address)",
                    r.dst,
                    r.dev.as_deref().unwrap_or("?")
                )),
            }
        }
        host_routes.push(lines);
    }
    for r in &routers {
        notes.push(format!(
            "host {r}: router (another host routes through it; `sysctl net.ipv4.ip_forward` is not among the files)"
        ));
    }
    for (gw, n) in &placeholders {
        notes.push(format!(
            "gateway {gw} on {n} is no imported host's: a placeholder router `gw-{}` stands there (it knows no route on)",
            gw.to_string().replace(['.', ':'], "-")
        ));
    }
    let mut y = String::new();
    let _ = writeln!(y, "name: imported-hosts");
    let _ = writeln!(
        y,
        "about: Imported by `pathproof import hosts` from {}.",
        hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(y, "networks:");
    for (root, ps) in &nets {
        let list: Vec<String> = ps.iter().map(|p| quote(&p.to_string())).collect();
        let _ = writeln!(y, "  {}: {{ cidr: [{}] }}", net_name(root), list.join(", "));
    }
    let _ = writeln!(y, "hosts:");
    for (h, routes) in hosts.iter().zip(&host_routes) {
        let _ = writeln!(y, "  {}:", h.name);
        if routers.contains(&h.name) {
            let _ = writeln!(y, "    router: true");
        }
        let _ = writeln!(y, "    at:");
        let mut map = Vec::new();
        for (ifname, addrs) in &h.ifaces {
            let net = net_of(addrs[0].1, &mut parent);
            let list: Vec<String> = addrs.iter().map(|(a, _)| a.to_string()).collect();
            let _ = writeln!(y, "      - {}", quote(&format!("{net} {}", list.join(" "))));
            map.push(format!("{}: {net}", quote(ifname)));
        }
        if !routes.is_empty() {
            let list: Vec<String> = routes.iter().map(|r| quote(r)).collect();
            let _ = writeln!(y, "    routes: [{}]", list.join(", "));
        }
        if !h.sockets.is_empty() {
            let list: Vec<String> = h.sockets.iter().map(|s| quote(s)).collect();
            let _ = writeln!(y, "    listen: [{}]", list.join(", "));
        }
        if let Some(r) = &h.ruleset {
            let _ = writeln!(
                y,
                "    ruleset: {{ file: {}, interfaces: {{ {} }} }}",
                quote(&ruleset_path(&r.path)),
                map.join(", ")
            );
        }
    }
    for (gw, n) in &placeholders {
        let name = format!("gw-{}", gw.to_string().replace(['.', ':'], "-"));
        let net = net_of(*n, &mut parent);
        let _ = writeln!(y, "  {name}:");
        let _ = writeln!(
            y,
            "    about: a gateway the imported hosts route through; not imported"
        );
        let _ = writeln!(y, "    router: true");
        let _ = writeln!(y, "    at: {}", quote(&format!("{net} {gw}")));
    }
    notes.push("not read from `ip -j addr`: link addresses (MAC), MTU, queueing, address lifetimes and labels; from `ip -j route`: metrics, preferred sources, other tables (the model has one table and no metrics)".into());
    Imported { yaml: y, notes }
}
