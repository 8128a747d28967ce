//! `ruleset:` — a host's or router's filters and NAT rules given as a real rule set
//! (`iptables-save`, `ip6tables-save` or `nft list ruleset` text, nat table
//! included), flattened into the model's own first-match filters and NAT rules so
//! that the tracer and the symbolic engine, which share the model, both get its
//! exact netfilter semantics.
//!
//! The rule set's text is not read here (the core does no I/O): the caller hands
//! the loader every file the scenario names ([`super::Files`]). For each hook the
//! model filters on (input, forward, output) and each family, `pathproof_rulesets`
//! flattens the chains a packet traverses into a first-match list of boxes over
//! the model's packet dimensions (protocol, addresses, ports, the host's
//! interfaces, conntrack state); each box becomes a model rule that names the rule
//! set's own file and line ([`SourceRef`]). Packets a host sends to itself (in on
//! and out by `lo`) get a filter of their own ([`Filter::loopback`]). The nat
//! hooks become DNAT rules (prerouting) and SNAT or masquerade rules
//! (postrouting). What cannot be made exact is refused with the construct and its
//! line: unsupported syntax, tables and hooks the model does not evaluate, base
//! chains running before conntrack or on the far side of a translation, rejects
//! whose answer the model does not know, translations to ranges or that change
//! ports the model keeps, source NAT that depends on the input interface.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use pathproof_rulesets::flatten::{
    Domain, FlatEntry, Outcome, PBox, DPORT, DST, IN, OUT, PROTO, SPORT, SRC, STATE,
};
use pathproof_rulesets::{
    CtState, DecidedBy, Family, Hook, NatKind as RsNatKind, RejectWith as RsReject,
};

use super::yaml::{Node, NodeKind};
use super::Loader;
use crate::model::*;

/// What a host's `ruleset:` says, before its file is read.
pub(crate) struct RulesetSpec {
    pub file: String,
    pub file_span: Span,
    /// `interfaces:` entries: (name in the rule set, network, span of the entry).
    pub interfaces: Vec<(String, String, Span)>,
    pub key_span: Span,
}

/// The longest interface name Linux takes (IFNAMSIZ - 1).
const IFNAMSIZ: usize = 15;

/// The file names a scenario's `ruleset:` keys give, in the base scenario and in
/// every variant, in the order written (each once). The caller reads these files and
/// hands their texts to [`super::load_with`]. Text that is not valid YAML names none
/// (loading reports it).
pub fn referenced_files(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Without the word and without an escape (`"rule\x73et"`), no key is
    // `ruleset`: the scenario is not parsed twice for nothing (a third of
    // the load of a 15 MB imported cluster).
    if !text.contains("ruleset") && !text.contains('\\') {
        return out;
    }
    if let Ok(root) = super::yaml::parse(text) {
        collect(&root, &mut out);
    }
    out
}

fn collect(node: &Node, out: &mut Vec<String>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                if k.scalar_text().as_deref() == Some("ruleset") {
                    let file = match &v.kind {
                        NodeKind::Map(e) => e
                            .iter()
                            .find(|(k, _)| k.scalar_text().as_deref() == Some("file"))
                            .and_then(|(_, v)| v.scalar_text()),
                        _ => v.scalar_text(),
                    };
                    if let Some(f) = file {
                        if !out.contains(&f) {
                            out.push(f);
                        }
                    }
                } else {
                    collect(v, out);
                }
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}

fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= IFNAMSIZ
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

impl Loader<'_> {
    /// Reads a host's `ruleset:` value: `FILE`, or `{ file: FILE, interfaces: { NAME:
    /// NETWORK, ... } }`.
    pub(crate) fn ruleset_spec(&mut self, key: &Node, v: &Node) -> Option<RulesetSpec> {
        let mut spec = RulesetSpec {
            file: String::new(),
            file_span: v.span,
            interfaces: Vec::new(),
            key_span: key.span,
        };
        match &v.kind {
            NodeKind::Map(entries) => {
                let entries = entries.clone();
                self.check_keys(&entries, &["file", "interfaces"], "`ruleset:`");
                for (k, val) in &entries {
                    match k.scalar_text().as_deref() {
                        Some("file") => {
                            spec.file = self.scalar(val, "the rule set file")?;
                            spec.file_span = val.span;
                        }
                        Some("interfaces") => {
                            for (name, net) in self.map(val, "`interfaces:`").to_vec() {
                                let n = name.scalar_text().unwrap_or_default();
                                let Some(net_name) = self.scalar(&net, "a network name") else {
                                    continue;
                                };
                                spec.interfaces.push((n, net_name, name.span));
                            }
                        }
                        _ => {}
                    }
                }
                if spec.file.is_empty() {
                    self.problem(
                        v.span,
                        "`ruleset:` needs `file:`",
                        "which rule set?",
                        Some(
                            "write `ruleset: { file: edge.nft, interfaces: { eth0: dmz } }`".into(),
                        ),
                    );
                    return None;
                }
            }
            _ => spec.file = self.scalar(v, "the rule set file")?,
        }
        Some(spec)
    }

    /// Flattens host `hid`'s rule set into filters (appended to `filters`) and NAT
    /// rules, and attaches them.
    pub(crate) fn apply_ruleset(
        &mut self,
        hid: usize,
        spec: &RulesetSpec,
        hosts: &mut [Host],
        networks: &[Network],
        filters: &mut Vec<Filter>,
        addresses: &std::collections::HashMap<IpAddr, Vec<(HostId, usize)>>,
    ) {
        let Some(text) = self.files.get(&spec.file).cloned() else {
            let given: Vec<&str> = self.files.keys().map(String::as_str).collect();
            self.problem(
                spec.file_span,
                format!("rule set file `{}` not found", spec.file),
                "no such file was read",
                Some(if given.is_empty() {
                    "a `ruleset:` file is read from the scenario's folder (a scenario typed into the page can name only the files the command line read at start)".into()
                } else {
                    format!("files read: {}", given.join(", "))
                }),
            );
            return;
        };
        let file = spec.file.clone();
        let at = |line: usize| format!("{file}:{line}");
        let rs = match pathproof_rulesets::parse_ruleset(&text) {
            Ok(rs) => rs,
            Err(errs) => {
                for e in errs.iter().take(20) {
                    let col = if e.column > 0 {
                        format!(":{}", e.column)
                    } else {
                        String::new()
                    };
                    self.problem(
                        spec.file_span,
                        format!("{}{col}: {}", at(e.line), e.message),
                        "in this rule set",
                        None,
                    );
                }
                return;
            }
        };
        let mut bad = false;
        let mut refuse = |l: &mut Self, line: usize, msg: String| {
            l.problem(
                spec.file_span,
                format!("{}: {msg}", at(line)),
                "cannot be modelled exactly",
                None,
            );
            bad = true;
        };
        for (line, what) in rs.unmodelled() {
            refuse(
                self,
                *line,
                format!("{what} is not modelled (a scenario evaluates the filter, route and nat chains of ip, ip6 and inet tables)"),
            );
        }
        // The kernel name of each interface.
        let host = &hosts[hid];
        let mut ifnames: Vec<String> = host
            .interfaces
            .iter()
            .map(|i| networks[i.network.index()].name.clone())
            .collect();
        let mut mapped = vec![false; ifnames.len()];
        let mut used: BTreeMap<String, Span> = BTreeMap::new();
        for (name, net, span) in &spec.interfaces {
            if !valid_ifname(name) || name == "lo" {
                self.problem(
                    *span,
                    format!("`{name}` is not an interface name a host can have"),
                    "expected up to 15 characters, no `/`, `:` or space, not `lo`",
                    None,
                );
                bad = true;
                continue;
            }
            if used.insert(name.clone(), *span).is_some() {
                self.problem(
                    *span,
                    format!("interface `{name}` is named twice"),
                    "",
                    None,
                );
                bad = true;
                continue;
            }
            let on: Vec<&str> = host
                .interfaces
                .iter()
                .map(|i| networks[i.network.index()].name.as_str())
                .collect();
            match host
                .interfaces
                .iter()
                .position(|i| networks[i.network.index()].name == *net)
            {
                Some(i) if mapped[i] => {
                    self.problem(
                        *span,
                        format!("the interface on `{net}` is already named"),
                        "one name per interface",
                        None,
                    );
                    bad = true;
                }
                Some(i) => {
                    ifnames[i] = name.clone();
                    mapped[i] = true;
                }
                None => {
                    let help = super::diagnostic::nearest(net, on.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| Some(format!("`{}` is on {}", host.name, on.join(", "))));
                    self.problem(
                        *span,
                        format!("`{}` has no interface on `{net}`", host.name),
                        "not one of the host's networks",
                        help,
                    );
                    bad = true;
                }
            }
        }
        for (i, n) in ifnames.iter().enumerate() {
            if !mapped[i] && (!valid_ifname(n) || n == "lo" || used.contains_key(n)) {
                self.problem(
                    spec.key_span,
                    format!(
                        "the interface of `{}` on `{n}` needs a name in the rule set",
                        host.name
                    ),
                    "a network's name is the interface's name unless `interfaces:` gives one",
                    Some(format!("add `interfaces: {{ eth{i}: {n} }}` to `ruleset:`")),
                );
                bad = true;
            }
        }
        if bad {
            return;
        }
        let origin = self.origin(spec.key_span);
        let mut fl = Flat {
            file: &file,
            origin: &origin,
            host: &hosts[hid],
            ifnames: &ifnames,
            addresses,
            problems: Vec::new(),
        };
        // Chains that run where the model cannot follow them.
        let chains = rs.base_chains();
        let nat = fl.nat(&rs);
        let has_dnat = nat.iter().any(|n| matches!(n.kind, NatKind::Dnat { .. }));
        let has_snat = nat.iter().any(|n| !matches!(n.kind, NatKind::Dnat { .. }));
        // The model filters after destination NAT and before source NAT: a filter
        // chain on the other side of a nat chain (or level with it: the order is
        // then the registration's) sees other addresses than the model gives it.
        let nat_prio = |hook: Hook| {
            chains
                .iter()
                .filter(move |c| c.nat && c.hook == hook)
                .map(|c| c.priority)
        };
        let dnat_last = nat_prio(Hook::Prerouting).max();
        let snat_first = nat_prio(Hook::Postrouting).min();
        for c in chains.iter().filter(|c| !c.nat) {
            let early = matches!(c.hook, Hook::Prerouting | Hook::Output) && c.priority <= -200;
            if early && c.reads_state {
                fl.refuse(c.line, format!("chain {} (hook {}, priority {}) runs before conntrack (priority -200) and reads the conntrack state: its packets have none yet", c.chain, c.hook.name(), c.priority));
            }
            if let (true, Some(p), Hook::Prerouting) = (has_dnat, dnat_last, c.hook) {
                if c.priority <= p {
                    fl.refuse(c.line, format!("chain {} (hook prerouting, priority {}) does not run after destination NAT (priority {p}): the model filters after it", c.chain, c.priority));
                }
            }
            if let (true, Some(p), Hook::Postrouting) = (has_snat, snat_first, c.hook) {
                if c.priority >= p {
                    fl.refuse(c.line, format!("chain {} (hook postrouting, priority {}) does not run before source NAT (priority {p}): the model filters before it", c.chain, c.priority));
                }
            }
        }
        let router = hosts[hid].router;
        let name = hosts[hid].name.clone();
        let mut made: Vec<(Hook, Filter)> = Vec::new();
        for hook in [Hook::Input, Hook::Forward, Hook::Output] {
            if hook == Hook::Forward && !router {
                continue;
            }
            if let Some(mut f) = fl.filter(&rs, hook, false, &format!("{name}:{}", hook.name())) {
                if hook != Hook::Forward {
                    f.loopback = fl
                        .filter(&rs, hook, true, &format!("{name}:{} (lo)", hook.name()))
                        .map(Box::new);
                }
                made.push((hook, f));
            }
        }
        let problems = std::mem::take(&mut fl.problems);
        for (line, msg) in problems {
            self.problem(
                spec.file_span,
                format!("{}: {msg}", at(line)),
                "cannot be modelled exactly",
                None,
            );
            bad = true;
        }
        if bad {
            return;
        }
        let h = &mut hosts[hid];
        for (hook, f) in made {
            let id = FilterId(filters.len() as u32);
            filters.push(f);
            match hook {
                Hook::Input => h.input = Some(id),
                Hook::Forward => h.forward = Some(id),
                _ => h.output = Some(id),
            }
        }
        h.nat = nat;
        h.ruleset = Some(HostRuleset {
            file: file.clone(),
            text: Arc::from(text.as_str()),
            iptables: rs.format() == pathproof_rulesets::Format::IptablesSave,
            ifnames,
            origin,
        });
    }
}

/// One host's flattening.
struct Flat<'a> {
    file: &'a str,
    origin: &'a Origin,
    host: &'a Host,
    ifnames: &'a [String],
    addresses: &'a std::collections::HashMap<IpAddr, Vec<(HostId, usize)>>,
    problems: Vec<(usize, String)>,
}

const STATES: [CtState; 4] = [
    CtState::New,
    CtState::Established,
    CtState::Related,
    CtState::Invalid,
];

fn protos(f: Family) -> Vec<u8> {
    match f {
        Family::V4 => vec![6, 17, 1],
        Family::V6 => vec![6, 17, 58],
    }
}

fn model_proto(p: u8) -> Proto {
    match p {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        _ => Proto::Icmp,
    }
}

/// An interval of addresses of a family as the fewest prefixes.
fn prefixes(fam: Family, lo: u128, hi: u128) -> Vec<ipnet::IpNet> {
    let bits: u32 = if fam == Family::V4 { 32 } else { 128 };
    let mut out = Vec::new();
    let mut lo = lo;
    loop {
        // the largest aligned block at lo that fits
        let mut size_bits = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        while size_bits > 0 {
            let last = if size_bits >= 128 {
                u128::MAX
            } else {
                lo + ((1u128 << size_bits) - 1)
            };
            if last <= hi && (size_bits >= 128 || last >= lo) {
                break;
            }
            size_bits -= 1;
        }
        let len = (bits - size_bits) as u8;
        let net = match fam {
            Family::V4 => ipnet::IpNet::V4(
                ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(lo as u32), len).expect("valid"),
            ),
            Family::V6 => ipnet::IpNet::V6(
                ipnet::Ipv6Net::new(std::net::Ipv6Addr::from(lo), len).expect("valid"),
            ),
        };
        out.push(net);
        let last = if size_bits >= 128 {
            u128::MAX
        } else {
            lo + ((1u128 << size_bits) - 1)
        };
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

fn addr_set(fam: Family, iv: &[(u128, u128)]) -> AddrSet {
    let nets: Vec<ipnet::IpNet> = iv
        .iter()
        .flat_map(|&(lo, hi)| prefixes(fam, lo, hi))
        .collect();
    AddrSet {
        terms: nets.iter().map(|n| AddrTerm::Prefix(*n)).collect(),
        parts: nets.iter().map(|n| AddrPart::whole(*n)).collect(),
        negated: false,
        text: nets
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn label(by: &DecidedBy) -> String {
    match by {
        DecidedBy::Rule { .. } => "rule".into(),
        DecidedBy::MapElement {
            map: Some(m),
            element,
            ..
        } => format!("element `{element}` of map {m}"),
        DecidedBy::MapElement { element, .. } => format!("element `{element}`"),
        DecidedBy::Policy { table, chain, .. } => {
            format!("policy of chain {chain} (table {table})")
        }
        DecidedBy::NoBaseChain => "no base chain: netfilter accepts".into(),
    }
}

fn text_of(by: &DecidedBy) -> String {
    match by {
        DecidedBy::Rule { text, .. } | DecidedBy::MapElement { text, .. } => text.clone(),
        DecidedBy::Policy { chain, .. } => format!("policy of chain {chain}"),
        DecidedBy::NoBaseChain => "no base chain".into(),
    }
}

impl Flat<'_> {
    fn refuse(&mut self, line: usize, msg: String) {
        if !self.problems.iter().any(|(l, m)| *l == line && *m == msg) {
            self.problems.push((line, msg));
        }
    }

    fn source(&self, by: &DecidedBy) -> SourceRef {
        let line = match by {
            DecidedBy::MapElement { element_line, .. } => *element_line,
            other => other.line(),
        };
        SourceRef {
            file: self.file.to_string(),
            line: line as u32,
            label: label(by),
            kind: None,
        }
    }

    /// The networks of the host's interfaces, by device index of a domain made of
    /// `ifnames` (`None`: a device the model's interfaces do not name).
    fn iface_net(&self, i: usize) -> NetworkId {
        self.host.interfaces[i].network
    }

    /// Every model match of one box. `real_in`/`real_out`: the domain's devices on
    /// that side are the host's interfaces (else a single pseudo-device: none, lo).
    fn matches(
        &self,
        fam: Family,
        dom: &Domain,
        b: &PBox,
        real_in: bool,
        real_out: bool,
    ) -> Vec<Match> {
        let all_protos = (1u64 << dom.protos.len()) - 1;
        let port_protos = dom.port_protos();
        let full_port = |k: usize| b.num[k] == [(0, 65535)];
        let ports_cut = !full_port(SPORT) || !full_port(DPORT);
        // Any protocol; or, with ports, TCP and UDP (a port clause's own meaning).
        let proto_choices: Vec<Option<Proto>> =
            if b.bits[PROTO] == all_protos || (ports_cut && b.bits[PROTO] == port_protos) {
                vec![None]
            } else {
                dom.protos
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| b.bits[PROTO] >> i & 1 == 1)
                    .map(|(_, p)| Some(model_proto(*p)))
                    .collect()
            };
        let devs = |bits: u64, n: usize, real: bool| -> Vec<Option<NetworkId>> {
            if !real || bits == (1u64 << n) - 1 {
                vec![None]
            } else {
                (0..n)
                    .filter(|i| bits >> i & 1 == 1)
                    .map(|i| Some(self.iface_net(i)))
                    .collect()
            }
        };
        let ins = devs(b.bits[IN], dom.in_devs.len(), real_in);
        let outs = devs(b.bits[OUT], dom.out_devs.len(), real_out);
        let max = if fam == Family::V4 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        let whole = |k: usize| b.num[k] == [(0, max)];
        let mut src = if whole(SRC) {
            AddrSet::any()
        } else {
            addr_set(fam, &b.num[SRC])
        };
        let dst = if whole(DST) {
            AddrSet::any()
        } else {
            addr_set(fam, &b.num[DST])
        };
        if src.is_any() && dst.is_any() {
            // Only this family's packets.
            src = addr_set(fam, &[(0, max)]);
        }
        let ports = |k: usize| {
            if full_port(k) {
                PortSet::any()
            } else {
                PortSet::from_ranges(
                    b.num[k]
                        .iter()
                        .map(|&(a, z)| (a as u16, z as u16))
                        .collect(),
                )
            }
        };
        let all_states = STATES.iter().fold(0u64, |m, s| m | u64::from(s.bit()));
        let state = (b.bits[STATE] != all_states).then(|| StateSet {
            new: b.bits[STATE] & u64::from(CtState::New.bit()) != 0,
            established: b.bits[STATE] & u64::from(CtState::Established.bit()) != 0,
            related: b.bits[STATE] & u64::from(CtState::Related.bit()) != 0,
            invalid: b.bits[STATE] & u64::from(CtState::Invalid.bit()) != 0,
        });
        let mut out = Vec::new();
        for p in &proto_choices {
            let with_ports = p.is_none_or(|p| p.has_ports());
            for i in &ins {
                for o in &outs {
                    out.push(Match {
                        proto: *p,
                        src: src.clone(),
                        dst: dst.clone(),
                        sport: if with_ports {
                            ports(SPORT)
                        } else {
                            PortSet::any()
                        },
                        dport: if with_ports {
                            ports(DPORT)
                        } else {
                            PortSet::any()
                        },
                        in_iface: *i,
                        out_iface: *o,
                        state,
                    });
                }
            }
        }
        out
    }

    fn domain(
        &self,
        fam: Family,
        ins: Vec<String>,
        outs: Vec<String>,
        states: &[CtState],
    ) -> Domain {
        Domain {
            family: fam,
            protos: protos(fam),
            in_devs: ins,
            out_devs: outs,
            states: states.to_vec(),
        }
    }

    /// The filter of one hook (`loopback`: for packets that stay on the host), or
    /// `None` when no base chain of the rule set is on the hook's way.
    fn filter(
        &mut self,
        rs: &pathproof_rulesets::Ruleset,
        hook: Hook,
        loopback: bool,
        name: &str,
    ) -> Option<Filter> {
        let reals: Vec<String> = self.ifnames.to_vec();
        let none = vec![String::new()];
        let lo = vec!["lo".to_string()];
        let (ins, outs, real_in, real_out) = match (hook, loopback) {
            (Hook::Input, false) => (reals, none, true, false),
            (Hook::Input, true) => (lo, none, false, false),
            (Hook::Output, false) => (none, reals, false, true),
            (Hook::Output, true) => (none, lo, false, false),
            _ => (reals.clone(), reals, true, true),
        };
        let on_way = rs
            .base_chains()
            .into_iter()
            .filter(|c| !c.nat && hook.traversal().contains(&c.hook))
            .collect::<Vec<_>>();
        if on_way.is_empty() {
            return None;
        }
        let mut rules: Vec<Rule> = Vec::new();
        let mut lists: Vec<(Family, Domain, Vec<FlatEntry>)> = Vec::new();
        for fam in [Family::V4, Family::V6] {
            let dom = self.domain(fam, ins.clone(), outs.clone(), &STATES);
            match rs.flatten_filter(hook, &dom) {
                Ok(l) => lists.push((fam, dom, l)),
                Err(e) => {
                    self.refuse(e.line, e.message);
                    return None;
                }
            }
        }
        // A last entry every family ends with, over all its packets, is the default.
        let full_last = |l: &(Family, Domain, Vec<FlatEntry>)| {
            l.2.last()
                .filter(|e| e.region.len() == 1 && e.region[0] == l.1.full())
                .map(|e| (e.outcome.clone(), e.decided_by.clone()))
        };
        let default = match (full_last(&lists[0]), full_last(&lists[1])) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        };
        if default.is_some() {
            for l in &mut lists {
                l.2.pop();
            }
        }
        for (fam, dom, list) in &lists {
            for e in list {
                let Some((action, with)) = self.verdict(&e.outcome, &e.decided_by) else {
                    continue;
                };
                let source = self.source(&e.decided_by);
                let text = text_of(&e.decided_by);
                for b in &e.region {
                    for m in self.matches(*fam, dom, b, real_in, real_out) {
                        rules.push(Rule {
                            action,
                            reject_with: with,
                            matches: m,
                            text: text.clone(),
                            origin: self.origin.clone(),
                            source: Some(source.clone()),
                        });
                    }
                }
            }
        }
        let (default, default_source) = match default {
            Some((o, by)) => {
                let (a, _) = self.verdict(&o, &by)?;
                (a, Some(self.source(&by)))
            }
            None => (Action::Drop, None),
        };
        let first = &on_way[0];
        Some(Filter {
            name: name.to_string(),
            stateful: false,
            default,
            default_origin: self.origin.clone(),
            default_source,
            rules,
            origin: self.origin.clone(),
            source: Some(SourceRef {
                kind: None,
                file: self.file.to_string(),
                line: first.line as u32,
                label: format!(
                    "the base chains on hooks {}",
                    hook.traversal()
                        .iter()
                        .map(|h| h.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            loopback: None,
        })
    }

    fn verdict(&mut self, o: &Outcome, by: &DecidedBy) -> Option<(Action, RejectWith)> {
        Some(match o {
            Outcome::Accept => (Action::Allow, RejectWith::default()),
            Outcome::Drop => (Action::Drop, RejectWith::default()),
            Outcome::Reject(w) => {
                let with = match w {
                    RsReject::PortUnreachable => RejectWith::PortUnreachable,
                    RsReject::TcpReset => RejectWith::TcpReset,
                    RsReject::AdminProhibited | RsReject::HostProhibited => {
                        RejectWith::AdminProhibited
                    }
                    other => {
                        self.refuse(by.line(), format!("reject with {}: the model answers a reject with a port unreachable, a TCP reset, or admin (host) prohibited", other.name()));
                        return None;
                    }
                };
                (Action::Reject, with)
            }
            Outcome::Nat(_) => {
                self.refuse(
                    by.line(),
                    "a translation where a verdict was expected".into(),
                );
                return None;
            }
        })
    }

    /// The DNAT rules of prerouting, then the SNAT and masquerade rules of
    /// postrouting; translations on the output and input hooks are refused.
    fn nat(&mut self, rs: &pathproof_rulesets::Ruleset) -> Vec<NatRule> {
        let reals: Vec<String> = self.ifnames.to_vec();
        let none = vec![String::new()];
        let mut out = Vec::new();
        let mut snat = Vec::new();
        for fam in [Family::V4, Family::V6] {
            for (hook, ins, outs) in [
                (Hook::Prerouting, reals.clone(), none.clone()),
                (
                    Hook::Postrouting,
                    reals.iter().cloned().chain([String::new()]).collect(),
                    reals.clone(),
                ),
                (Hook::Output, none.clone(), reals.clone()),
                (Hook::Input, reals.clone(), none.clone()),
            ] {
                let dom = self.domain(fam, ins, outs, &[CtState::New]);
                let list = match rs.flatten_nat(hook, &dom) {
                    Ok(l) => l,
                    Err(e) => {
                        self.refuse(e.line, e.message);
                        continue;
                    }
                };
                for e in list {
                    let Outcome::Nat(n) = &e.outcome else {
                        continue;
                    };
                    match hook {
                        Hook::Output => self.refuse(e.decided_by.line(), "destination NAT of what the host sends itself (nat output) is not modelled".into()),
                        Hook::Input => self.refuse(e.decided_by.line(), "source NAT of what the host receives (nat input) is not modelled".into()),
                        Hook::Prerouting => out.extend(self.dnat(fam, &dom, &e, n)),
                        _ => snat.extend(self.snat(fam, &dom, &e, n)),
                    }
                }
            }
        }
        out.extend(snat);
        out
    }

    fn nat_rule(&self, kind: NatKind, m: Match, by: &DecidedBy) -> NatRule {
        NatRule {
            kind,
            matches: m,
            text: text_of(by),
            origin: self.origin.clone(),
            source: Some(self.source(by)),
        }
    }

    fn dnat(
        &mut self,
        fam: Family,
        dom: &Domain,
        e: &FlatEntry,
        n: &pathproof_rulesets::NatAction,
    ) -> Vec<NatRule> {
        let line = e.decided_by.line();
        let port = match n.ports {
            None => None,
            Some((a, b)) if a == b => Some(a),
            Some(_) => {
                self.refuse(line, "a translation to a range of ports: the kernel picks one per connection, the model needs one".into());
                return vec![];
            }
        };
        if port.is_some()
            && e.region
                .iter()
                .any(|b| b.bits[PROTO] & !dom.port_protos() != 0)
        {
            self.refuse(
                line,
                "a translation to a port of packets that may have none (match tcp or udp first)"
                    .into(),
            );
            return vec![];
        }
        let mut out = Vec::new();
        match n.kind {
            RsNatKind::Dnat => {
                let to = match n.addr {
                    Some((a, b)) if a == b => a,
                    Some(_) => {
                        self.refuse(line, "a translation to a range of addresses: the kernel picks one per connection, the model needs one".into());
                        return vec![];
                    }
                    None => {
                        self.refuse(line, "a destination NAT that changes only the port is not modelled (give the address)".into());
                        return vec![];
                    }
                };
                let host = self
                    .addresses
                    .get(&to)
                    .and_then(|o| o.first())
                    .map(|(h, _)| *h);
                for b in &e.region {
                    for m in self.matches(fam, dom, b, true, false) {
                        out.push(self.nat_rule(NatKind::Dnat { to, port, host }, m, &e.decided_by));
                    }
                }
            }
            RsNatKind::Redirect => {
                // To the incoming interface's first address of the family.
                for b in &e.region {
                    for i in 0..dom.in_devs.len() {
                        if b.bits[IN] >> i & 1 == 0 {
                            continue;
                        }
                        let Some(to) = self.host.interfaces[i]
                            .addrs
                            .iter()
                            .copied()
                            .find(|a| a.is_ipv4() == (fam == Family::V4))
                        else {
                            self.refuse(line, format!("a redirect of packets that come in on {}, which has no address of their family (the kernel drops them)", self.ifnames[i]));
                            continue;
                        };
                        let mut one = b.clone();
                        one.bits[IN] = 1 << i;
                        for mut m in self.matches(fam, dom, &one, true, false) {
                            m.in_iface = Some(self.iface_net(i));
                            out.push(self.nat_rule(
                                NatKind::Dnat {
                                    to,
                                    port,
                                    host: None,
                                },
                                m,
                                &e.decided_by,
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        out
    }

    fn snat(
        &mut self,
        fam: Family,
        dom: &Domain,
        e: &FlatEntry,
        n: &pathproof_rulesets::NatAction,
    ) -> Vec<NatRule> {
        let line = e.decided_by.line();
        if n.ports.is_some() {
            self.refuse(
                line,
                "a source NAT to ports: the model keeps the source port".into(),
            );
            return vec![];
        }
        if n.flags.iter().any(|f| f == "random" || f == "fully-random") {
            self.refuse(
                line,
                "a source NAT with random ports: the model keeps the source port".into(),
            );
            return vec![];
        }
        let full_in = (1u64 << dom.in_devs.len()) - 1;
        if e.region.iter().any(|b| b.bits[IN] != full_in) {
            self.refuse(line, "a source NAT that depends on the interface a packet came in on: the model's source NAT sees only the way out".into());
            return vec![];
        }
        let kind = match n.kind {
            RsNatKind::Masquerade => NatKind::Masquerade,
            _ => match n.addr {
                Some((a, b)) if a == b => NatKind::Snat { to: a },
                _ => {
                    self.refuse(line, "a source NAT to a range of addresses: the kernel picks one per connection, the model needs one".into());
                    return vec![];
                }
            },
        };
        let mut out = Vec::new();
        for b in &e.region {
            for m in self.matches(fam, dom, b, false, true) {
                out.push(self.nat_rule(kind.clone(), m, &e.decided_by));
            }
        }
        out
    }
}
