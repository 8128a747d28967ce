//! From YAML text to a resolved `Scenario`, or to every problem in it.
//!
//! Loading runs in three steps: `yaml` reads the text into a tree that keeps
//! spans, `variant` patches that tree when a variant is asked for, and this
//! module resolves every name to an id and checks the result. Problems are
//! collected, not thrown: one run reports all of them.

pub mod diagnostic;
pub mod grammar;
mod ruleset;
pub mod traffic;
mod variant;
pub mod yaml;

pub use ruleset::referenced_files;

pub use diagnostic::{LoadError, Problem};

use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::model::*;
use diagnostic::{nearest, LineIndex};
use grammar::{Cursor, RawAddrs, RawExpect, RawMatch, RawRouteAction, SyntaxError, Word};
use yaml::{Node, NodeKind};

/// The texts of the files a scenario names (a host's `ruleset:`), by the name the
/// scenario gives them; the caller reads them (see [`referenced_files`]).
pub type Files = BTreeMap<String, String>;

/// Loads a scenario from its text. `file` is the name used in reports. A scenario
/// that names other files (`ruleset:`) needs [`load_with`].
pub fn load(file: &str, text: &str, variant: Option<&str>) -> Result<Scenario, LoadError> {
    load_with(file, text, variant, &Files::new())
}

/// Loads a scenario from its text and the texts of the files it names.
pub fn load_with(
    file: &str,
    text: &str,
    variant: Option<&str>,
    files: &Files,
) -> Result<Scenario, LoadError> {
    let mut l = Loader {
        text,
        lines: std::sync::Arc::new(LineIndex::new(text)),
        problems: Vec::new(),
        stacked: false,
        files,
    };
    let scenario = l.run(file, variant);
    match scenario {
        Some(s) if l.problems.is_empty() => Ok(s),
        _ => {
            let mut problems = l.problems;
            problems.sort_by_key(|p| (p.span.start, p.message.clone()));
            problems.dedup();
            Err(LoadError {
                file: file.to_string(),
                source_text: text.to_string(),
                problems,
            })
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "name", "about", "networks", "hosts", "dns", "filters", "expect", "variants", "traffic",
];
const NETWORK_KEYS: &[&str] = &["cidr", "trust", "gateway", "via-gateway", "dns", "about"];
const HOST_KEYS: &[&str] = &[
    "about",
    "at",
    "router",
    "routes",
    "rp_filter",
    "filter",
    "forward",
    "input",
    "output",
    "nat",
    "listen",
    "dns",
    "tls",
    "proxy",
    "sensitive",
    "ruleset",
];
const FILTER_KEYS: &[&str] = &["stateful", "default", "rules", "about"];

pub(crate) struct Loader<'t> {
    pub(crate) text: &'t str,
    /// Shared with the workers that load a long filter's rules (`rules`).
    lines: std::sync::Arc<LineIndex<'t>>,
    pub(crate) problems: Vec<Problem>,
    /// Applying a variant on top of another (`break+harden`): removing what
    /// an earlier variant of the stack already removed is not a problem.
    pub(crate) stacked: bool,
    /// The files the scenario names, read by the caller.
    pub(crate) files: &'t Files,
}

/// Names declared in the scenario, by kind.
#[derive(Default)]
struct Names {
    networks: HashMap<String, NetworkId>,
    hosts: HashMap<String, HostId>,
    filters: HashMap<String, FilterId>,
    views: HashMap<String, ViewId>,
}

impl Names {
    fn places(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .keys()
            .chain(self.networks.keys())
            .map(String::as_str)
    }
}

fn sorted_keys<V>(m: &HashMap<String, V>) -> Vec<&str> {
    let mut v: Vec<&str> = m.keys().map(String::as_str).collect();
    v.sort_unstable();
    v
}

impl<'t> Loader<'t> {
    pub(crate) fn problem(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        // A span may come from a word inside an escaped scalar: keep it on
        // character boundaries so that every renderer can slice the text.
        let mut start = (span.start as usize).min(self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (span.start as usize + span.len as usize).clamp(start, self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        let span = Span::new(start as u32, (end - start) as u32);
        let (line, column) = self.lines.line_col(span.start as usize);
        self.problems.push(Problem {
            message: message.into(),
            span,
            label: label.into(),
            help,
            line,
            column,
        });
    }

    fn syntax(&mut self, e: SyntaxError) {
        self.problem(e.span, e.message, e.label, e.help);
    }

    fn origin(&self, span: Span) -> Origin {
        self.lines.origin(span)
    }

    fn unknown_name(&mut self, w: &Word, kind: &str, candidates: Vec<&str>) {
        let help = nearest(&w.text, candidates.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| {
                if candidates.is_empty() {
                    None
                } else {
                    Some(format!("known {kind}s: {}", candidates.join(", ")))
                }
            });
        self.problem(
            w.span,
            format!("unknown {kind} `{}`", w.text),
            format!("no {kind} has this name"),
            help,
        );
    }

    /// The entries of a mapping, or a problem saying a mapping was expected.
    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> &'n [(Node, Node)] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => &[],
            _ => {
                self.problem(
                    node.span,
                    format!("{what} must be a mapping, not {}", node.describe()),
                    "expected `key: value` lines",
                    None,
                );
                &[]
            }
        }
    }

    /// Reports keys that are not in `allowed`, suggesting the nearest.
    pub(crate) fn check_keys(&mut self, entries: &[(Node, Node)], allowed: &[&str], context: &str) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (k, _) in entries {
            let key = k.scalar_text().unwrap_or_default();
            if !allowed.contains(&key.as_str()) {
                let help = nearest(&key, allowed.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("{context} accepts: {}", allowed.join(", "))));
                self.problem(
                    k.span,
                    format!("unknown key `{key}` in {context}"),
                    "not a key of this section",
                    help,
                );
            }
            if let Some(first) = seen.insert(key.clone(), k.span) {
                let (line, _) = self.lines.line_col(first.start as usize);
                self.problem(
                    k.span,
                    format!("`{key}` is given twice in {context}"),
                    format!("first given on line {line}"),
                    None,
                );
            }
        }
    }

    pub(crate) fn scalar(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar_text() {
            Some(s) => Some(s),
            None => {
                self.problem(
                    node.span,
                    format!("{what} must be a single value, not {}", node.describe()),
                    "expected a scalar",
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Bool(b) => Some(*b),
            NodeKind::Str(s) if matches!(s.as_str(), "yes" | "on" | "true") => Some(true),
            NodeKind::Str(s) if matches!(s.as_str(), "no" | "off" | "false") => Some(false),
            _ => {
                self.problem(
                    node.span,
                    format!("{what} must be true or false"),
                    "expected true or false",
                    None,
                );
                None
            }
        }
    }

    /// A list, or a single scalar taken as a one-item list.
    pub(crate) fn items<'n>(&mut self, node: &'n Node) -> Vec<&'n Node> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Null => Vec::new(),
            _ => vec![node],
        }
    }

    pub(crate) fn cursor(&self, node: &Node, text: &str) -> Cursor {
        Cursor::new(grammar::words(text, node, self.text), node.span)
    }

    fn run(&mut self, file: &str, variant: Option<&str>) -> Option<Scenario> {
        let mut root = match yaml::parse(self.text) {
            Ok(root) => root,
            Err(e) => {
                self.problem(
                    e.span,
                    format!("the file is not valid YAML: {}", e.message),
                    "the YAML parser stopped here",
                    None,
                );
                return None;
            }
        };
        if !matches!(root.kind, NodeKind::Map(_)) {
            self.problem(
                root.span,
                format!("a scenario must be a mapping, not {}", root.describe()),
                "expected keys such as networks: and hosts:",
                None,
            );
            return None;
        }
        // The tree is read in place: a scenario of thousands of hosts is
        // megabytes of nodes, so it is cloned only where a variant rewrites it.
        fn get<'n>(top: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
            top.iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
                .map(|(_, v)| v)
        }
        let top = self.map(&root, "the scenario");
        self.check_keys(top, TOP_KEYS, "a scenario");
        let variants = self.variant_infos(get(top, "variants"));
        let vnode = variant.and_then(|_| get(top, "variants").cloned());
        if let Some(name) = variant {
            let Some(vnode) = vnode else {
                self.problem(
                    Span::new(0, 0),
                    format!("unknown variant `{name}`: this scenario has no variants"),
                    "",
                    None,
                );
                return None;
            };
            // Variants stack: `break+harden` applies `break`, then `harden` on
            // top of it (unless a variant is declared under that very name).
            let declared = vnode.as_map().is_some_and(|e| {
                e.iter()
                    .any(|(k, _)| k.scalar_text().as_deref() == Some(name))
            });
            let parts: Vec<&str> = if declared {
                vec![name]
            } else {
                name.split('+').collect()
            };
            for (i, part) in parts.into_iter().enumerate() {
                self.stacked = i > 0;
                root = variant::apply(self, root, &vnode, part)?;
            }
            self.stacked = false;
        }
        let top = self.map(&root, "the scenario");
        let get = |key: &str| get(top, key);
        let null = Node {
            kind: NodeKind::Null,
            span: Span::new(0, 0),
        };

        let name = get("name")
            .and_then(|n| self.scalar(n, "name"))
            .unwrap_or_else(|| file.to_string());
        let about = get("about")
            .and_then(|n| self.scalar(n, "about"))
            .unwrap_or_default();

        let networks_node = get("networks").unwrap_or(&null);
        let hosts_node = get("hosts").unwrap_or(&null);
        let filters_node = get("filters").unwrap_or(&null);
        let dns_node = get("dns").unwrap_or(&null);
        let expect_node = get("expect").unwrap_or(&null);

        let networks_e = self.map(networks_node, "networks");
        let hosts_e = self.map(hosts_node, "hosts");
        let filters_e = self.map(filters_node, "filters");
        let dns_e = self.map(dns_node, "dns");

        let mut names = Names::default();
        let mut declared: HashMap<String, (&str, Span)> = HashMap::new();
        for (kind, entries) in [("network", &networks_e), ("host", &hosts_e)] {
            for (i, (k, _)) in entries.iter().enumerate() {
                let n = k.scalar_text().unwrap_or_default();
                if let Some((other, span)) = declared.get(&n) {
                    let (line, _) = self.lines.line_col(span.start as usize);
                    self.problem(
                        k.span,
                        format!("`{n}` is already the name of a {other}"),
                        format!("first declared on line {line}"),
                        Some("hosts and networks share one namespace: rename one".into()),
                    );
                    continue;
                }
                declared.insert(n.clone(), (kind, k.span));
                if kind == "network" {
                    names.networks.insert(n, NetworkId(i as u32));
                } else {
                    names.hosts.insert(n, HostId(i as u32));
                }
            }
        }
        for (i, (k, _)) in filters_e.iter().enumerate() {
            names
                .filters
                .entry(k.scalar_text().unwrap_or_default())
                .or_insert(FilterId(i as u32));
        }
        for (i, (k, _)) in dns_e.iter().enumerate() {
            names
                .views
                .entry(k.scalar_text().unwrap_or_default())
                .or_insert(ViewId(i as u32));
        }

        let mut networks: Vec<Network> =
            networks_e.iter().map(|(k, v)| self.network(k, v)).collect();
        self.check_overlaps(&networks);
        let catch_minus: Arc<Vec<IpNet>> = Arc::new(
            networks
                .iter()
                .filter(|n| !n.catch_all)
                .flat_map(|n| n.prefixes.iter().copied())
                .collect(),
        );

        // Hosts, first pass: interfaces and addresses (rules need them).
        let mut hosts: Vec<Host> = hosts_e
            .iter()
            .map(|(k, v)| self.host_shell(k, v, &names, &networks))
            .collect();
        let mut addresses: HashMap<IpAddr, Vec<(HostId, usize)>> = HashMap::new();
        for (hi, h) in hosts.iter().enumerate() {
            for (ii, iface) in h.interfaces.iter().enumerate() {
                for a in &iface.addrs {
                    addresses
                        .entry(*a)
                        .or_default()
                        .push((HostId(hi as u32), ii));
                }
            }
        }
        self.check_duplicate_addresses(&hosts, &addresses, hosts_e);

        let ctx = Resolve {
            names: &names,
            networks: &networks,
            hosts: &hosts,
            catch_minus: &catch_minus,
        };
        let mut filters: Vec<Filter> = filters_e
            .iter()
            .map(|(k, v)| self.filter(k, v, &ctx))
            .collect();
        let mut details = Vec::new();
        for (i, (_, v)) in hosts_e.iter().enumerate() {
            details.push(self.host_details(HostId(i as u32), v, &ctx));
        }
        let mut rulesets = Vec::new();
        for (i, (h, d)) in hosts.iter_mut().zip(details).enumerate() {
            if let Some(spec) = d.apply(h) {
                rulesets.push((i, spec));
            }
        }
        for (i, spec) in &rulesets {
            if filters
                .iter()
                .any(|f| f.name.starts_with(&format!("{}:", hosts[*i].name)))
            {
                self.problem(
                    spec.key_span,
                    format!(
                        "a filter is already named `{}:...`, as this host's rule set filters are",
                        hosts[*i].name
                    ),
                    "",
                    Some("rename that filter".into()),
                );
                continue;
            }
            self.apply_ruleset(*i, spec, &mut hosts, &networks, &mut filters, &addresses);
        }
        for (i, (_, v)) in networks_e.iter().enumerate() {
            networks[i].gateway =
                self.network_gateway(v, &names, &hosts, NetworkId(i as u32), &networks[i].name);
            networks[i].dns = self.network_view(v, &names);
            self.check_via_gateway(v, &networks[i], NetworkId(i as u32), &hosts);
        }
        for h in hosts.iter_mut() {
            if h.dns.is_none() {
                h.dns = h
                    .interfaces
                    .iter()
                    .find_map(|i| networks[i.network.index()].dns);
            }
        }
        for hi in 0..hosts.len() {
            let routes = self.derived_routes(
                HostId(hi as u32),
                &hosts,
                &networks,
                &addresses,
                &catch_minus,
            );
            hosts[hi].routes = routes;
        }
        let dns: Vec<DnsView> = dns_e.iter().map(|(k, v)| self.view(k, v)).collect();
        let expectations = self.expectations(expect_node, &names, &dns);
        let traffic = get("traffic").and_then(|n| self.traffic(n, &names, &networks, &hosts, &dns));

        let names = crate::model::Names::new(&hosts, &networks);
        Some(Scenario {
            name,
            about,
            file: file.to_string(),
            names,
            networks,
            hosts,
            filters,
            dns,
            expectations,
            traffic,
            variants,
            variant: variant.map(str::to_string),
            addresses,
        })
    }

    fn variant_infos(&mut self, node: Option<&Node>) -> Vec<VariantInfo> {
        let Some(node) = node else { return Vec::new() };
        let entries = self.map(node, "variants");
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = k.scalar_text().unwrap_or_default();
            let why = v
                .as_map()
                .and_then(|e| {
                    e.iter()
                        .find(|(k, _)| k.scalar_text().as_deref() == Some("why"))
                })
                .and_then(|(_, v)| v.scalar_text());
            if why.is_none() {
                self.problem(
                    k.span,
                    format!("variant `{name}` has no `why:`"),
                    "say what this variant changes and why",
                    Some("add `why: <one sentence>`".into()),
                );
            }
            out.push(VariantInfo {
                name,
                why: why.unwrap_or_default(),
                origin: self.origin(k.span),
            });
        }
        out
    }

    fn network(&mut self, key: &Node, node: &Node) -> Network {
        let name = key.scalar_text().unwrap_or_default();
        let mut net = Network {
            name: name.clone(),
            prefixes: Vec::new(),
            trust: Trust::Trusted,
            catch_all: false,
            gateway: None,
            via_gateway: false,
            dns: None,
            about: String::new(),
            origin: self.origin(key.span),
        };
        // `dmz: 10.0.1.0/24` is short for `dmz: { cidr: 10.0.1.0/24 }`.
        let entries: Vec<(Node, Node)> = match &node.kind {
            NodeKind::Map(e) => e.clone(),
            NodeKind::Str(_) | NodeKind::Seq(_) => vec![(
                Node {
                    kind: NodeKind::Str("cidr".into()),
                    span: node.span,
                },
                node.clone(),
            )],
            _ => {
                self.problem(
                    node.span,
                    format!("network `{name}` must be a mapping or a prefix"),
                    "expected `{ cidr: 10.0.0.0/24 }`",
                    None,
                );
                return net;
            }
        };
        self.check_keys(&entries, NETWORK_KEYS, &format!("network `{name}`"));
        let mut trust = None;
        for (k, v) in &entries {
            match k.scalar_text().as_deref() {
                Some("cidr") => {
                    for item in self.items(v) {
                        let Some(t) = self.scalar(item, "a prefix") else {
                            continue;
                        };
                        match t.parse::<IpNet>() {
                            Ok(p) if p.trunc() != p => self.problem(
                                item.span,
                                format!("`{t}` has host bits set"),
                                format!("the network is {}", p.trunc()),
                                Some(format!("write `{}`", p.trunc())),
                            ),
                            Ok(p) => net.prefixes.push(p),
                            Err(_) => self.problem(
                                item.span,
                                format!("`{t}` is not a prefix"),
                                "expected ADDRESS/LENGTH, such as 10.0.1.0/24 or 2001:db8:1::/64",
                                None,
                            ),
                        }
                    }
                }
                Some("trust") => match self.scalar(v, "trust").as_deref() {
                    Some("trusted") => trust = Some(Trust::Trusted),
                    Some("untrusted") => trust = Some(Trust::Untrusted),
                    Some(other) => {
                        let help = nearest(other, ["trusted", "untrusted"])
                            .map(|s| format!("did you mean `{s}`?"));
                        self.problem(
                            v.span,
                            format!("unknown trust level `{other}`"),
                            "expected trusted or untrusted",
                            help,
                        )
                    }
                    None => {}
                },
                Some("about") => net.about = self.scalar(v, "about").unwrap_or_default(),
                Some("via-gateway") => {
                    net.via_gateway = self.boolean(v, "via-gateway").unwrap_or(false)
                }
                _ => {}
            }
        }
        if net.prefixes.is_empty()
            && entries
                .iter()
                .all(|(k, _)| k.scalar_text().as_deref() != Some("cidr"))
        {
            self.problem(
                key.span,
                format!("network `{name}` has no `cidr`"),
                "every network needs at least one prefix",
                None,
            );
        }
        net.catch_all = net.prefixes.iter().any(|p| p.prefix_len() == 0);
        net.trust = trust.unwrap_or(if net.catch_all {
            Trust::Untrusted
        } else {
            Trust::Trusted
        });
        net
    }

    fn check_overlaps(&mut self, networks: &[Network]) {
        for (i, j, ia, ib) in overlapping_prefixes(networks) {
            let (a, b) = (&networks[i], &networks[j]);
            let (pa, pb) = (a.prefixes[ia], b.prefixes[ib]);
            self.problem(b.origin.span, format!("network `{}` ({pb}) overlaps network `{}` ({pa})", b.name, a.name), "overlapping prefixes", Some("give each network its own prefix; only a catch-all network (/0) may contain others".into()));
        }
    }

    /// A host's name and interfaces; the rest comes once every address is known.
    fn host_shell(&mut self, key: &Node, node: &Node, names: &Names, networks: &[Network]) -> Host {
        let name = key.scalar_text().unwrap_or_default();
        let mut host = Host {
            name: name.clone(),
            about: String::new(),
            router: false,
            interfaces: Vec::new(),
            routes: Vec::new(),
            rp_filter: RpFilter::Off,
            forward: None,
            input: None,
            output: None,
            nat: Vec::new(),
            sockets: Vec::new(),
            dns: None,
            tls: TlsClient::default(),
            proxy: None,
            sensitive: false,
            ruleset: None,
            origin: self.origin(key.span),
        };
        let entries = self.map(node, &format!("host `{name}`"));
        self.check_keys(entries, HOST_KEYS, &format!("host `{name}`"));
        let Some((_, at)) = entries
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some("at"))
        else {
            self.problem(
                key.span,
                format!("host `{name}` has no `at:`"),
                "where is it attached?",
                Some("add `at: NETWORK ADDRESS`, such as `at: dmz 10.0.1.10`".into()),
            );
            return host;
        };
        for item in self.items(at) {
            let (net_word, addr_words) = match &item.kind {
                NodeKind::Map(e) => {
                    self.check_keys(e, &["network", "address"], "an interface");
                    let net = e
                        .iter()
                        .find(|(k, _)| k.scalar_text().as_deref() == Some("network"));
                    let addrs = e
                        .iter()
                        .find(|(k, _)| k.scalar_text().as_deref() == Some("address"));
                    let (Some((_, net)), Some((_, addrs))) = (net, addrs) else {
                        self.problem(
                            item.span,
                            "an interface needs `network` and `address`",
                            "incomplete interface",
                            None,
                        );
                        continue;
                    };
                    let nw = Word {
                        text: net.scalar_text().unwrap_or_default(),
                        span: net.span,
                    };
                    let aw = self
                        .items(addrs)
                        .into_iter()
                        .map(|a| Word {
                            text: a.scalar_text().unwrap_or_default(),
                            span: a.span,
                        })
                        .collect::<Vec<_>>();
                    (nw, aw)
                }
                _ => {
                    let Some(text) = self.scalar(item, "an interface") else {
                        continue;
                    };
                    let mut ws = grammar::words(&text, item, self.text)
                        .into_iter()
                        .filter(|w| w.text != ",");
                    let Some(nw) = ws.next() else {
                        self.problem(
                            item.span,
                            "an empty interface",
                            "expected NETWORK ADDRESS",
                            None,
                        );
                        continue;
                    };
                    (nw, ws.collect())
                }
            };
            let Some(&net_id) = names.networks.get(&net_word.text) else {
                self.unknown_name(&net_word, "network", sorted_keys(&names.networks));
                continue;
            };
            if host.interfaces.iter().any(|i| i.network == net_id) {
                self.problem(net_word.span, format!("host `{name}` is attached to `{}` twice", net_word.text), "one interface per network", Some("list every address of that network on one line: `dmz 10.0.1.10 2001:db8:1::10`".into()));
                continue;
            }
            if addr_words.is_empty() {
                self.problem(
                    net_word.span,
                    format!("no address on `{}`", net_word.text),
                    "expected NETWORK ADDRESS",
                    Some(format!("write `{} <address>`", net_word.text)),
                );
            }
            let network = &networks[net_id.index()];
            let mut addrs = Vec::new();
            for w in addr_words {
                let Ok(a) = w.text.parse::<IpAddr>() else {
                    self.problem(
                        w.span,
                        format!("`{}` is not an address", w.text),
                        "expected an IPv4 or IPv6 address",
                        None,
                    );
                    continue;
                };
                // A network whose prefixes did not parse has its own problem
                // already; an address cannot be judged against nothing.
                if network.prefixes.is_empty() {
                    continue;
                }
                if !network.prefixes.iter().any(|p| p.contains(&a)) {
                    let list: Vec<String> =
                        network.prefixes.iter().map(|p| p.to_string()).collect();
                    self.problem(
                        w.span,
                        format!("{a} is outside network `{}`", network.name),
                        format!("`{}` is {}", network.name, list.join(", ")),
                        None,
                    );
                } else if network.catch_all {
                    if let Some(owner) = networks
                        .iter()
                        .find(|n| !n.catch_all && n.prefixes.iter().any(|p| p.contains(&a)))
                    {
                        self.problem(
                            w.span,
                            format!(
                                "{a} belongs to network `{}`, not to the catch-all `{}`",
                                owner.name, network.name
                            ),
                            "address owned by a more specific network",
                            Some(format!("attach it with `at: {} {a}`", owner.name)),
                        );
                    }
                }
                addrs.push(a);
            }
            host.interfaces.push(Interface {
                network: net_id,
                addrs,
            });
        }
        host
    }

    fn check_duplicate_addresses(
        &mut self,
        hosts: &[Host],
        addresses: &HashMap<IpAddr, Vec<(HostId, usize)>>,
        hosts_e: &[(Node, Node)],
    ) {
        let mut dups: Vec<(&IpAddr, &Vec<(HostId, usize)>)> =
            addresses.iter().filter(|(_, o)| o.len() > 1).collect();
        dups.sort();
        for (addr, owners) in dups {
            let names: Vec<&str> = owners
                .iter()
                .map(|(h, _)| hosts[h.index()].name.as_str())
                .collect();
            let (h, _) = owners[1];
            let span = hosts_e[h.index()].0.span;
            self.problem(
                span,
                format!(
                    "{addr} is used by more than one interface: {}",
                    names.join(", ")
                ),
                "duplicate address",
                Some("give each interface its own address".into()),
            );
        }
    }

    fn filter(&mut self, key: &Node, node: &Node, ctx: &Resolve) -> Filter {
        let name = key.scalar_text().unwrap_or_default();
        let origin = self.origin(key.span);
        let mut f = Filter {
            name: name.clone(),
            stateful: true,
            default: Action::Drop,
            default_origin: origin.clone(),
            default_source: None,
            rules: Vec::new(),
            origin,
            source: None,
            loopback: None,
        };
        let entries = self.map(node, &format!("filter `{name}`"));
        self.check_keys(entries, FILTER_KEYS, &format!("filter `{name}`"));
        for (k, v) in entries {
            match k.scalar_text().as_deref() {
                Some("stateful") => f.stateful = self.boolean(v, "stateful").unwrap_or(true),
                Some("default") => {
                    if let Some(t) = self.scalar(v, "default") {
                        match grammar::parse_action(&Word {
                            text: t,
                            span: v.span,
                        }) {
                            Ok(a) => {
                                f.default = a;
                                f.default_origin = self.origin(v.span);
                            }
                            Err(e) => self.syntax(e),
                        }
                    }
                }
                Some("rules") => {
                    let items: Vec<Node> = self.items(v).into_iter().cloned().collect();
                    f.rules = self.rules(&items, ctx);
                }
                _ => {}
            }
        }
        if !f.stateful {
            for r in &f.rules {
                if r.matches.state.is_some() {
                    self.problem(
                        r.origin.span,
                        format!(
                            "filter `{name}` is stateless, so it cannot match connection state"
                        ),
                        "`state` needs conntrack",
                        Some("remove `state ...` or set `stateful: true`".into()),
                    );
                }
            }
        }
        f
    }

    /// A loader for a worker thread: the same text and files, no problems yet.
    fn worker(&self) -> Loader<'t> {
        Loader {
            text: self.text,
            lines: self.lines.clone(),
            problems: Vec::new(),
            stacked: self.stacked,
            files: self.files,
        }
    }

    /// The rules of a filter's `items` that load, in order. A long list
    /// (a core router's thousands) is loaded on every core, in contiguous
    /// chunks, each worker with a loader of its own; the rules and the
    /// problems come back in the chunks' order, so the scenario and the
    /// problems are those of one loader reading the items one by one.
    fn rules(&mut self, items: &[Node], ctx: &Resolve) -> Vec<Rule> {
        /// Rules per worker below which the threads cost more than they save.
        const PER_WORKER: usize = 512;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(items.len() / PER_WORKER);
        if threads < 2 || one_by_one() {
            return items.iter().filter_map(|i| self.rule(i, ctx)).collect();
        }
        #[cfg(test)]
        tests::RULES_ON_CORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let chunk = items.len().div_ceil(threads);
        let parts: Vec<(Vec<Rule>, Vec<Problem>)> = std::thread::scope(|sc| {
            let workers: Vec<_> = items
                .chunks(chunk)
                .map(|c| {
                    let mut l = self.worker();
                    sc.spawn(move || {
                        let rules: Vec<Rule> = c.iter().filter_map(|i| l.rule(i, ctx)).collect();
                        (rules, l.problems)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a loader worker panicked"))
                .collect()
        });
        let mut rules = Vec::with_capacity(items.len());
        for (r, p) in parts {
            rules.extend(r);
            self.problems.extend(p);
        }
        rules
    }

    /// The words of a rule, from either of its forms.
    pub(crate) fn rule_words(&mut self, item: &Node) -> Option<Vec<Word>> {
        match &item.kind {
            NodeKind::Map(e) => match grammar::structured_rule_words(e, self.text) {
                Ok(w) => Some(w),
                Err(e) => {
                    self.syntax(e);
                    None
                }
            },
            NodeKind::Str(t) => Some(grammar::words(t, item, self.text)),
            _ => {
                self.problem(
                    item.span,
                    format!(
                        "a rule must be a line of text or a mapping, not {}",
                        item.describe()
                    ),
                    "expected a rule",
                    Some("write `allow tcp from dmz to api port 8080`".into()),
                );
                None
            }
        }
    }

    fn rule(&mut self, item: &Node, ctx: &Resolve) -> Option<Rule> {
        let words = self.rule_words(item)?;
        let mut c = Cursor::new(words, item.span);
        let raw = match grammar::parse_rule_line(&mut c) {
            Ok(r) => r,
            Err(e) => {
                self.syntax(e);
                return None;
            }
        };
        let source = match &item.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some("source"))
                .and_then(|(_, v)| self.rule_source(v)),
            _ => None,
        };
        let m = self.resolve_match(&raw.m, ctx)?;
        Some(Rule {
            action: raw.action,
            reject_with: raw.reject_with.unwrap_or_default(),
            matches: m,
            text: raw.canonical(),
            origin: self.origin(item.span),
            source,
        })
    }

    /// A structured rule's `source: { file, line, label, kind }`: where an
    /// importer found the declaration it translated into this rule.
    fn rule_source(&mut self, node: &Node) -> Option<RuleSource> {
        const KEYS: &[&str] = &["file", "line", "label", "kind"];
        let entries = self.map(node, "a rule's `source`");
        self.check_keys(entries, KEYS, "a rule's `source`");
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
                .map(|(_, v)| v)
        };
        let file = match get("file") {
            Some(v) => self.scalar(v, "`file`")?,
            None => {
                self.problem(
                    node.span,
                    "a rule's `source` has no `file`".to_string(),
                    "expected `file: NAME`",
                    Some("write `source: { file: policies.yaml, line: 23, label: ... }`".into()),
                );
                return None;
            }
        };
        let line = match get("line") {
            Some(v) => match &v.kind {
                NodeKind::Int(n) if (0..=u32::MAX as i64).contains(n) => *n as u32,
                _ => {
                    self.problem(
                        v.span,
                        "`line` must be a line number".to_string(),
                        "expected a whole number",
                        None,
                    );
                    return None;
                }
            },
            None => 0,
        };
        let label = match get("label") {
            Some(v) => self.scalar(v, "`label`")?,
            None => String::new(),
        };
        let kind = match get("kind") {
            Some(v) => {
                let t = self.scalar(v, "`kind`")?;
                match SourceKind::parse(&t) {
                    Some(k) => Some(k),
                    None => {
                        let names: Vec<&str> = SourceKind::ALL.iter().map(|k| k.name()).collect();
                        let help = nearest(&t, names.iter().copied())
                            .map(|s| format!("did you mean `{s}`?"))
                            .or_else(|| Some(format!("the kinds are: {}", names.join(", "))));
                        self.problem(
                            v.span,
                            format!("unknown source kind `{t}`"),
                            "not a kind of control pathproof knows",
                            help,
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        Some(RuleSource {
            file,
            line,
            label,
            kind,
        })
    }

    fn resolve_match(&mut self, raw: &RawMatch, ctx: &Resolve) -> Option<Match> {
        let before = self.problems.len();
        let src = raw
            .src
            .as_ref()
            .map(|a| self.resolve_addrs(a, ctx))
            .unwrap_or_default();
        let dst = raw
            .dst
            .as_ref()
            .map(|a| self.resolve_addrs(a, ctx))
            .unwrap_or_default();
        let iface = |w: &Option<Word>, this: &mut Self| -> Option<NetworkId> {
            let w = w.as_ref()?;
            match ctx.names.networks.get(&w.text) {
                Some(id) => Some(*id),
                None => {
                    this.unknown_name(w, "network", sorted_keys(&ctx.names.networks));
                    None
                }
            }
        };
        let in_iface = iface(&raw.in_iface, self);
        let out_iface = iface(&raw.out_iface, self);
        if self.problems.len() > before {
            return None;
        }
        Some(Match {
            proto: raw.proto,
            src,
            dst,
            sport: raw.sport.clone().unwrap_or_default(),
            dport: raw.dport.clone().unwrap_or_default(),
            in_iface,
            out_iface,
            state: raw.state,
        })
    }

    fn resolve_addrs(&mut self, raw: &RawAddrs, ctx: &Resolve) -> AddrSet {
        let mut set = AddrSet {
            negated: raw.negated,
            text: raw.text(),
            ..AddrSet::default()
        };
        for w in &raw.items {
            if let Some((term, parts)) = self.resolve_term(w, ctx) {
                set.terms.push(term);
                set.parts.extend(parts);
            }
        }
        set
    }

    fn resolve_term(&mut self, w: &Word, ctx: &Resolve) -> Option<(AddrTerm, Vec<AddrPart>)> {
        let t = w.text.as_str();
        if t.eq_ignore_ascii_case("any") {
            return Some((AddrTerm::Any, Vec::new()));
        }
        if let Ok(p) = t.parse::<IpNet>() {
            let p = p.trunc();
            return Some((AddrTerm::Prefix(p), vec![AddrPart::whole(p)]));
        }
        if let Ok(a) = t.parse::<IpAddr>() {
            let p = IpNet::from(a);
            return Some((AddrTerm::Prefix(p), vec![AddrPart::whole(p)]));
        }
        if let Some(&id) = ctx.names.networks.get(t) {
            let n = &ctx.networks[id.index()];
            let parts = n
                .prefixes
                .iter()
                .map(|p| AddrPart {
                    prefix: *p,
                    minus: if n.catch_all {
                        ctx.catch_minus.clone()
                    } else {
                        Arc::new(Vec::new())
                    },
                })
                .collect();
            return Some((AddrTerm::Network(id), parts));
        }
        if let Some(&id) = ctx.names.hosts.get(t) {
            let h = &ctx.hosts[id.index()];
            let parts = h
                .interfaces
                .iter()
                .flat_map(|i| i.addrs.iter())
                .map(|a| AddrPart::whole(IpNet::from(*a)))
                .collect();
            return Some((AddrTerm::Host(id), parts));
        }
        let mut candidates: Vec<&str> = ctx.names.places().collect();
        candidates.sort_unstable();
        let help = nearest(t, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        self.problem(
            w.span,
            format!("unknown host or network `{t}`"),
            "expected a host, a network, a prefix, an address or `any`",
            help,
        );
        None
    }

    fn host_details(&mut self, id: HostId, node: &Node, ctx: &Resolve) -> HostDetails {
        let host = &ctx.hosts[id.index()];
        let name = host.name.clone();
        let mut d = HostDetails::default();
        let entries = self.map(node, "a host");
        for (k, v) in entries {
            let key = k.scalar_text().unwrap_or_default();
            match key.as_str() {
                "about" => d.about = self.scalar(v, "about"),
                "router" => d.router = self.boolean(v, "router"),
                "sensitive" => d.sensitive = self.boolean(v, "sensitive"),
                "rp_filter" => {
                    d.rp_filter = match &v.kind {
                        NodeKind::Bool(true) => Some(RpFilter::Strict),
                        NodeKind::Bool(false) => Some(RpFilter::Off),
                        _ => match self.scalar(v, "rp_filter").as_deref() {
                            Some("strict") => Some(RpFilter::Strict),
                            Some("loose") => Some(RpFilter::Loose),
                            Some("off") => Some(RpFilter::Off),
                            Some(other) => {
                                self.problem(
                                    v.span,
                                    format!("unknown rp_filter mode `{other}`"),
                                    "expected strict, loose or off",
                                    None,
                                );
                                None
                            }
                            None => None,
                        },
                    }
                }
                "filter" | "forward" | "input" | "output" => {
                    let Some(fname) = self.scalar(v, "a filter name") else {
                        continue;
                    };
                    let Some(&fid) = ctx.names.filters.get(&fname) else {
                        self.unknown_name(
                            &Word {
                                text: fname,
                                span: v.span,
                            },
                            "filter",
                            sorted_keys(&ctx.names.filters),
                        );
                        continue;
                    };
                    match key.as_str() {
                        "filter" => d.filter_key = Some((fid, k.span)),
                        "forward" => d.forward = Some(fid),
                        "input" => d.input = Some(fid),
                        _ => d.output = Some(fid),
                    }
                }
                "dns" => {
                    let Some(view) = self.scalar(v, "a DNS view") else {
                        continue;
                    };
                    match ctx.names.views.get(&view) {
                        Some(&vid) => d.dns = Some(vid),
                        None => self.unknown_name(
                            &Word {
                                text: view,
                                span: v.span,
                            },
                            "DNS view",
                            sorted_keys(&ctx.names.views),
                        ),
                    }
                }
                "listen" => {
                    for item in self.items(v) {
                        if let Some(s) = self.socket(item, host) {
                            if let Some(prev) = d.sockets.iter().find(|p: &&Socket| {
                                p.proto == s.proto
                                    && p.port == s.port
                                    && (p.bind == s.bind
                                        || p.bind.is_unspecified()
                                        || s.bind.is_unspecified())
                                    && p.bind.is_ipv4() == s.bind.is_ipv4()
                            }) {
                                self.problem(
                                    item.span,
                                    format!("{}/{} is already bound on `{name}`", s.proto, s.port),
                                    format!("clashes with line {}", prev.origin.line),
                                    Some(
                                        "two sockets cannot bind the same port and address".into(),
                                    ),
                                );
                                continue;
                            }
                            d.sockets.push(s);
                        }
                    }
                }
                "nat" => {
                    for item in self.items(v) {
                        if let Some(n) = self.nat(item, ctx) {
                            d.nat.push(n);
                        }
                    }
                }
                "routes" => {
                    for item in self.items(v) {
                        if let Some(r) = self.route(item, host, ctx) {
                            d.routes.push(r);
                        }
                    }
                }
                "tls" => d.tls = self.tls_client(v),
                "proxy" => d.proxy = self.proxy(v, ctx),
                "ruleset" => d.ruleset = self.ruleset_spec(k, v),
                _ => {}
            }
        }
        if let Some(p) = &d.proxy {
            if !d
                .sockets
                .iter()
                .any(|s| s.proto == Proto::Tcp && s.port == p.port)
            {
                self.problem(
                    p.origin.span,
                    format!(
                        "`{name}` proxies on port {} but nothing listens there",
                        p.port
                    ),
                    "no socket for the proxy",
                    Some(format!("add `tcp/{} http-proxy` to `listen:`", p.port)),
                );
            }
        }
        let router = d.router.unwrap_or(false);
        if let Some((fid, span)) = d.filter_key {
            if router {
                d.forward = d.forward.or(Some(fid));
            } else {
                self.problem(
                    span,
                    format!("`filter:` attaches a forward filter, but `{name}` is not a router"),
                    "a host filters what it receives with `input:`",
                    Some(
                        "write `input:` (and `output:` for what it sends), or set `router: true`"
                            .into(),
                    ),
                );
            }
        }
        if let Some(spec) = &d.ruleset {
            let own: Vec<&str> = ["filter", "forward", "input", "output", "nat"]
                .into_iter()
                .filter(|k| {
                    entries
                        .iter()
                        .any(|(e, _)| e.scalar_text().as_deref() == Some(*k))
                })
                .collect();
            if !own.is_empty() {
                self.problem(
                    spec.key_span,
                    format!(
                        "`{name}` takes its filters and NAT rules from its rule set, and also has `{}:`",
                        own.join(":`, `")
                    ),
                    "one or the other",
                    Some("put those rules in the rule set, or drop `ruleset:`".into()),
                );
            }
        }
        if d.forward.is_some() && !router {
            self.problem(
                host.origin.span,
                format!("`{name}` has a forward filter but does not forward"),
                "only routers forward",
                Some("set `router: true`".into()),
            );
        }
        d
    }

    fn socket(&mut self, item: &Node, host: &Host) -> Option<Socket> {
        let raw = match &item.kind {
            NodeKind::Map(e)
                if e.len() == 1 && e[0].0.scalar_text().is_some_and(|k| k.contains('/')) =>
            {
                let key = e[0].0.scalar_text().unwrap_or_default();
                self.problem(
                    item.span,
                    "this socket was read as a mapping: YAML takes `: ` (or a trailing `:`) as a key separator",
                    "an IPv6 address such as `::` needs quotes",
                    Some(format!("quote the whole line: \"{key}:...\"")),
                );
                return None;
            }
            NodeKind::Map(e) => {
                self.check_keys(
                    e,
                    &["proto", "port", "bind", "app", "tls", "issuer", "client_ca"],
                    "a socket",
                );
                let get = |k: &str| {
                    e.iter()
                        .find(|(key, _)| key.scalar_text().as_deref() == Some(k))
                        .map(|(_, v)| v)
                };
                let mut line = format!(
                    "{}/{}",
                    get("proto")
                        .and_then(|n| n.scalar_text())
                        .unwrap_or_else(|| "tcp".into()),
                    get("port")
                        .and_then(|n| n.scalar_text())
                        .unwrap_or_default()
                );
                if let Some(b) = get("bind").and_then(|n| n.scalar_text()) {
                    line.push_str(&format!(" on {b}"));
                }
                if let Some(a) = get("app").and_then(|n| n.scalar_text()) {
                    line.push_str(&format!(" {a}"));
                }
                if let Some(t) = get("tls") {
                    let names: Vec<String> = self
                        .items(t)
                        .iter()
                        .filter_map(|n| n.scalar_text())
                        .collect();
                    line.push_str(&format!(
                        " {} {}",
                        if get("client_ca").is_some() {
                            "mtls"
                        } else {
                            "tls"
                        },
                        names.join(",")
                    ));
                }
                if let Some(i) = get("issuer").and_then(|n| n.scalar_text()) {
                    line.push_str(&format!(" issuer {i}"));
                }
                if let Some(c) = get("client_ca").and_then(|n| n.scalar_text()) {
                    line.push_str(&format!(" client-ca {c}"));
                }
                let fake = Node {
                    kind: NodeKind::Str(line.clone()),
                    span: Span::new(item.span.start, 0),
                };
                let ws: Vec<Word> = grammar::words(&line, &fake, "")
                    .into_iter()
                    .map(|w| Word {
                        text: w.text,
                        span: item.span,
                    })
                    .collect();
                grammar::parse_socket_line(&mut Cursor::new(ws, item.span))
            }
            _ => {
                let text = self.scalar(item, "a socket")?;
                grammar::parse_socket_line(&mut self.cursor(item, &text))
            }
        };
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                self.syntax(e);
                return None;
            }
        };
        let has_v6 = host
            .interfaces
            .iter()
            .flat_map(|i| &i.addrs)
            .any(|a| a.is_ipv6());
        let bind = match &raw.bind {
            None => {
                if has_v6 {
                    IpAddr::from([0u16; 8])
                } else {
                    IpAddr::from([0u8; 4])
                }
            }
            Some(w) => match w.text.parse::<IpAddr>() {
                Ok(a) if a.is_unspecified() || a.is_loopback() || host.has_addr(a) => a,
                Ok(a) => {
                    self.problem(
                        w.span,
                        format!("`{}` has no address {a}", host.name),
                        "a socket can only bind an address of its host",
                        Some("bind 0.0.0.0, ::, 127.0.0.1 or one of the host's addresses".into()),
                    );
                    return None;
                }
                Err(_) => {
                    self.problem(
                        w.span,
                        format!("`{}` is not an address", w.text),
                        "expected an address to bind",
                        None,
                    );
                    return None;
                }
            },
        };
        let tls = raw.tls.then(|| TlsServer {
            names: raw.tls_names.clone(),
            issuer: raw.issuer.clone().unwrap_or_else(|| "public".into()),
            client_ca: if raw.mtls {
                Some(
                    raw.client_ca
                        .clone()
                        .or_else(|| raw.issuer.clone())
                        .unwrap_or_else(|| "public".into()),
                )
            } else {
                None
            },
        });
        let mut text = format!("{}/{}", raw.proto, raw.port);
        if raw.bind.is_some() {
            text.push_str(&format!(" on {bind}"));
        }
        if let Some(a) = &raw.app {
            text.push_str(&format!(" {a}"));
        }
        if let Some(t) = &tls {
            text.push_str(&format!(
                " {} {} issuer {}",
                if t.client_ca.is_some() { "mtls" } else { "tls" },
                t.names.join(","),
                t.issuer
            ));
            if let Some(c) = &t.client_ca {
                text.push_str(&format!(" client-ca {c}"));
            }
        }
        Some(Socket {
            proto: raw.proto,
            port: raw.port,
            bind,
            app: raw.app,
            tls,
            text,
            origin: self.origin(item.span),
        })
    }

    fn nat(&mut self, item: &Node, ctx: &Resolve) -> Option<NatRule> {
        let text = self.scalar(item, "a NAT rule")?;
        let raw = match grammar::parse_nat_line(&mut self.cursor(item, &text)) {
            Ok(r) => r,
            Err(e) => {
                self.syntax(e);
                return None;
            }
        };
        // DNAT happens before routing (no outgoing interface yet), SNAT after
        // it (the incoming interface is gone), as iptables refuses `-o` in
        // PREROUTING and `-i` in POSTROUTING.
        let k = raw.kind.text.to_ascii_lowercase();
        if let (true, Some(w)) = (k == "dnat", &raw.m.out_iface) {
            self.problem(
                w.span,
                "a DNAT rule cannot match the outgoing interface",
                "DNAT runs before the routing decision",
                Some(format!("use `in NETWORK` instead of `out {}`", w.text)),
            );
            return None;
        }
        if let (true, Some(w)) = (k != "dnat", &raw.m.in_iface) {
            self.problem(
                w.span,
                format!("a {k} rule cannot match the incoming interface"),
                "source NAT runs after the routing decision",
                Some(format!("use `out NETWORK` or `from {}`", w.text)),
            );
            return None;
        }
        let m = self.resolve_match(&raw.m, ctx)?;
        let kind = match k.as_str() {
            "masquerade" => NatKind::Masquerade,
            k => {
                let t = raw.target.as_ref()?;
                let (place, port) = match grammar::split_place_port(t) {
                    Ok(x) => x,
                    Err(e) => {
                        self.syntax(e);
                        return None;
                    }
                };
                let (to, host) = if let Ok(a) = place.text.parse::<IpAddr>() {
                    (
                        a,
                        ctx.names
                            .hosts
                            .values()
                            .copied()
                            .find(|h| ctx.hosts[h.index()].has_addr(a) && !a.is_loopback()),
                    )
                } else if let Some(&h) = ctx.names.hosts.get(&place.text) {
                    let v6 = raw
                        .m
                        .dst
                        .as_ref()
                        .is_some_and(|d| d.items.iter().any(|w| w.text.contains(':')));
                    match ctx.hosts[h.index()].first_addr(v6) {
                        Some(a) => (a, Some(h)),
                        None => {
                            self.problem(
                                place.span,
                                format!("host `{}` has no address to translate to", place.text),
                                "no address",
                                None,
                            );
                            return None;
                        }
                    }
                } else {
                    self.unknown_name(&place, "host", sorted_keys(&ctx.names.hosts));
                    return None;
                };
                if k == "dnat" {
                    if port.is_some() && !raw.m.proto.is_some_and(Proto::has_ports) {
                        self.problem(
                            t.span,
                            "a DNAT that changes the port must name tcp or udp",
                            "port translation needs a protocol",
                            Some("write `dnat tcp ...`".into()),
                        );
                    }
                    NatKind::Dnat { to, port, host }
                } else {
                    if port.is_some() {
                        self.problem(
                            t.span,
                            "snat rewrites the address only",
                            "no port here",
                            None,
                        );
                    }
                    NatKind::Snat { to }
                }
            }
        };
        let mut canonical = raw.kind.text.to_ascii_lowercase();
        let m_text = raw.m.canonical();
        if !m_text.is_empty() {
            canonical.push(' ');
            canonical.push_str(&m_text);
        }
        if let Some(t) = &raw.target {
            canonical.push_str(&format!(" -> {}", t.text));
        }
        Some(NatRule {
            kind,
            matches: m,
            text: canonical,
            origin: self.origin(item.span),
            source: None,
        })
    }

    fn route(&mut self, item: &Node, host: &Host, ctx: &Resolve) -> Option<Route> {
        let text = self.scalar(item, "a route")?;
        let raw = match grammar::parse_route_line(&mut self.cursor(item, &text)) {
            Ok(r) => r,
            Err(e) => {
                self.syntax(e);
                return None;
            }
        };
        let dest = match raw.dest.text.as_str() {
            "default" => "0.0.0.0/0".parse().ok(),
            t => t
                .parse::<IpNet>()
                .ok()
                .or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from)),
        };
        let Some(dest) = dest.map(|d| d.trunc()) else {
            self.problem(
                raw.dest.span,
                format!("`{}` is not a destination", raw.dest.text),
                "expected a prefix or `default`",
                None,
            );
            return None;
        };
        let origin = self.origin(item.span);
        let action = match raw.action {
            RawRouteAction::Blackhole => RouteAction::Blackhole,
            RawRouteAction::Dev(w) => {
                let Some(&net) = ctx.names.networks.get(&w.text) else {
                    self.unknown_name(&w, "network", sorted_keys(&ctx.names.networks));
                    return None;
                };
                let Some(iface) = host.interfaces.iter().position(|i| i.network == net) else {
                    self.problem(
                        w.span,
                        format!("`{}` has no interface on `{}`", host.name, w.text),
                        "not attached to this network",
                        None,
                    );
                    return None;
                };
                RouteAction::Direct { iface }
            }
            RawRouteAction::Via(w) => {
                let gw = if let Ok(a) = w.text.parse::<IpAddr>() {
                    a
                } else if let Some(&h) = ctx.names.hosts.get(&w.text) {
                    // The gateway's address on a network this host shares with it.
                    let g = &ctx.hosts[h.index()];
                    let shared = g.interfaces.iter().find_map(|gi| {
                        host.interfaces
                            .iter()
                            .any(|hi| hi.network == gi.network)
                            .then(|| {
                                gi.addrs
                                    .iter()
                                    .copied()
                                    .find(|a| a.is_ipv4() == dest.addr().is_ipv4())
                            })
                            .flatten()
                    });
                    match shared {
                        Some(a) => a,
                        None => {
                            self.problem(
                                w.span,
                                format!("route via unreachable gateway `{}`", w.text),
                                format!("`{}` shares no network with `{}`", w.text, host.name),
                                Some("a gateway must be on one of the host's networks".into()),
                            );
                            return None;
                        }
                    }
                } else {
                    self.unknown_name(&w, "host", sorted_keys(&ctx.names.hosts));
                    return None;
                };
                if gw.is_ipv4() != dest.addr().is_ipv4() {
                    self.problem(
                        w.span,
                        format!("gateway {gw} and destination {dest} are of different families"),
                        "IPv4 and IPv6 mixed",
                        None,
                    );
                    return None;
                }
                let iface = host.interfaces.iter().position(|i| {
                    ctx.networks[i.network.index()]
                        .prefixes
                        .iter()
                        .any(|p| p.contains(&gw))
                        && !(ctx.networks[i.network.index()].catch_all
                            && ctx.catch_minus.iter().any(|m| m.contains(&gw)))
                });
                let Some(iface) = iface else {
                    self.problem(
                        w.span,
                        format!("route via unreachable gateway {gw}"),
                        format!("{gw} is on none of `{}`'s networks", host.name),
                        Some(
                            "a gateway must be directly reachable on one of the host's networks"
                                .into(),
                        ),
                    );
                    return None;
                };
                let net = host.interfaces[iface].network;
                let owned = ctx.hosts.iter().any(|h| {
                    h.interfaces
                        .iter()
                        .any(|i| i.network == net && i.addrs.contains(&gw))
                });
                if !owned {
                    self.problem(
                        w.span,
                        format!("route via unreachable gateway {gw}"),
                        format!(
                            "no host on `{}` has this address",
                            ctx.networks[net.index()].name
                        ),
                        None,
                    );
                    return None;
                }
                RouteAction::Via { gateway: gw, iface }
            }
        };
        Some(Route {
            dest,
            except: Arc::new(Vec::new()),
            action,
            origin: RouteOrigin::Declared(origin),
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }

    fn tls_client(&mut self, node: &Node) -> Option<TlsClient> {
        let entries = self.map(node, "tls");
        self.check_keys(
            entries,
            &["verify", "trust", "identity", "issuer"],
            "a host's tls",
        );
        let mut c = TlsClient::default();
        let mut issuer = None;
        let mut id = None;
        for (k, v) in entries {
            match k.scalar_text().as_deref() {
                Some("verify") => c.verify = self.boolean(v, "verify").unwrap_or(true),
                Some("trust") => {
                    c.trust = self
                        .items(v)
                        .iter()
                        .filter_map(|n| n.scalar_text())
                        .collect()
                }
                Some("identity") => id = self.scalar(v, "identity"),
                Some("issuer") => issuer = self.scalar(v, "issuer"),
                _ => {}
            }
        }
        if let Some(id) = id {
            c.identity = Some(Identity {
                id,
                issuer: issuer
                    .or_else(|| c.trust.iter().find(|t| *t != "public").cloned())
                    .unwrap_or_else(|| "public".into()),
            });
        }
        Some(c)
    }

    fn proxy(&mut self, node: &Node, ctx: &Resolve) -> Option<Proxy> {
        let entries = self.map(node, "proxy");
        self.check_keys(
            entries,
            &["port", "mode", "allow", "upstream", "forwarded_for"],
            "a proxy",
        );
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.scalar_text().as_deref() == Some(k))
                .map(|(_, v)| v.clone())
        };
        let port = match get("port") {
            Some(p) => match &p.kind {
                NodeKind::Int(i) if (0..=65535).contains(i) => *i as u16,
                _ => {
                    self.problem(
                        p.span,
                        "a proxy port must be a number from 0 to 65535",
                        "expected a port",
                        None,
                    );
                    return None;
                }
            },
            None => {
                self.problem(
                    node.span,
                    "a proxy needs a `port`",
                    "where does it listen?",
                    None,
                );
                return None;
            }
        };
        let forwarded_for = match get("forwarded_for")
            .and_then(|n| self.scalar(&n, "forwarded_for"))
            .as_deref()
        {
            None | Some("append") => ForwardedFor::Append,
            Some("overwrite") => ForwardedFor::Overwrite,
            Some("pass") => ForwardedFor::Pass,
            Some("strip") => ForwardedFor::Strip,
            Some(other) => {
                let span = get("forwarded_for").map(|n| n.span).unwrap_or(node.span);
                let help = nearest(other, ["append", "overwrite", "pass", "strip"])
                    .map(|s| format!("did you mean `{s}`?"));
                self.problem(
                    span,
                    format!("unknown forwarded_for mode `{other}`"),
                    "expected append, overwrite, pass or strip",
                    help,
                );
                return None;
            }
        };
        let mode_name = get("mode")
            .and_then(|n| self.scalar(&n, "mode"))
            .unwrap_or_else(|| "forward".into());
        let mode = match mode_name.as_str() {
            "forward" => {
                let mut allow = Vec::new();
                if let Some(a) = get("allow") {
                    for item in self.items(&a) {
                        let Some(text) = self.scalar(item, "an allowed destination") else {
                            continue;
                        };
                        let ws: Vec<Word> = grammar::words(&text, item, self.text);
                        let joined = Word {
                            text: ws.iter().map(|w| w.text.as_str()).collect::<String>(),
                            span: item.span,
                        };
                        let (place, port) = match grammar::split_place_port(&joined) {
                            Ok(x) => x,
                            Err(e) => {
                                self.syntax(e);
                                continue;
                            }
                        };
                        let Some((term, parts)) = self.resolve_term(&place, ctx) else {
                            continue;
                        };
                        allow.push(ProxyAllow {
                            dst: AddrSet {
                                terms: vec![term],
                                parts,
                                negated: false,
                                text: place.text.clone(),
                            },
                            ports: port.map(PortSet::single).unwrap_or_default(),
                            text,
                            origin: self.origin(item.span),
                        });
                    }
                }
                ProxyMode::Forward { allow }
            }
            "reverse" => {
                let Some(up) = get("upstream") else {
                    self.problem(
                        node.span,
                        "a reverse proxy needs an `upstream: HOST:PORT`",
                        "missing upstream",
                        None,
                    );
                    return None;
                };
                let text = self.scalar(&up, "upstream")?;
                let (place, port) = match grammar::split_place_port(&Word {
                    text,
                    span: up.span,
                }) {
                    Ok(x) => x,
                    Err(e) => {
                        self.syntax(e);
                        return None;
                    }
                };
                let Some(&h) = ctx.names.hosts.get(&place.text) else {
                    self.unknown_name(&place, "host", sorted_keys(&ctx.names.hosts));
                    return None;
                };
                let Some(port) = port else {
                    self.problem(
                        up.span,
                        "the upstream needs a port",
                        "expected HOST:PORT",
                        Some(grammar::port_help(&place.text)),
                    );
                    return None;
                };
                ProxyMode::Reverse { upstream: h, port }
            }
            other => {
                let span = get("mode").map(|n| n.span).unwrap_or(node.span);
                self.problem(
                    span,
                    format!("unknown proxy mode `{other}`"),
                    "expected forward or reverse",
                    None,
                );
                return None;
            }
        };
        Some(Proxy {
            port,
            mode,
            forwarded_for,
            origin: self.origin(node.span),
        })
    }

    fn network_gateway(
        &mut self,
        node: &Node,
        names: &Names,
        hosts: &[Host],
        id: NetworkId,
        net_name: &str,
    ) -> Option<HostId> {
        let entries = node.as_map()?;
        let (_, v) = entries
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some("gateway"))?;
        let g = self.scalar(v, "gateway")?;
        let Some(&h) = names.hosts.get(&g) else {
            self.unknown_name(
                &Word {
                    text: g,
                    span: v.span,
                },
                "host",
                sorted_keys(&names.hosts),
            );
            return None;
        };
        if !hosts[h.index()].interfaces.iter().any(|i| i.network == id) {
            self.problem(
                v.span,
                format!("gateway `{g}` is not attached to `{net_name}`"),
                "unreachable gateway",
                Some(format!("add `{net_name} <address>` to `{g}`'s `at:`")),
            );
            return None;
        }
        if !hosts[h.index()].router {
            self.problem(
                v.span,
                format!("gateway `{g}` of `{net_name}` does not forward packets"),
                "a gateway must be a router",
                Some(format!("set `router: true` on `{g}`")),
            );
            return None;
        }
        Some(h)
    }

    /// A `via-gateway` network needs a gateway with an address of every
    /// family its other hosts send in, and cannot be a catch-all.
    fn check_via_gateway(&mut self, node: &Node, net: &Network, id: NetworkId, hosts: &[Host]) {
        if !net.via_gateway {
            return;
        }
        let Some(span) = node.as_map().and_then(|e| {
            e.iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some("via-gateway"))
                .map(|(k, _)| k.span)
        }) else {
            return;
        };
        let name = &net.name;
        if net.catch_all {
            self.problem(
                span,
                format!("catch-all network `{name}` cannot be `via-gateway`"),
                "a catch-all owns only the addresses no other network owns; its hosts are not one segment behind one router",
                Some("remove `via-gateway`".into()),
            );
            return;
        }
        let Some(g) = net.gateway else {
            if !node.as_map().is_some_and(|e| {
                e.iter()
                    .any(|(k, _)| k.scalar_text().as_deref() == Some("gateway"))
            }) {
                self.problem(
                    span,
                    format!("network `{name}` is `via-gateway` but has no `gateway:`"),
                    "its hosts send everything through the gateway",
                    Some("add `gateway: ROUTER`".into()),
                );
            }
            return;
        };
        let through = via_gateway(net, id, None, hosts);
        for (hi, h) in hosts.iter().enumerate() {
            if HostId(hi as u32) == g {
                continue;
            }
            for a in h
                .interfaces
                .iter()
                .filter(|i| i.network == id)
                .flat_map(|i| i.addrs.iter())
            {
                if !through.iter().any(|(t, _)| t.is_ipv6() == a.is_ipv6()) {
                    let fam = if a.is_ipv6() { "IPv6" } else { "IPv4" };
                    let gname = &hosts[g.index()].name;
                    self.problem(
                        span,
                        format!(
                            "network `{name}` is `via-gateway`, but its gateway `{gname}` has no {fam} address on it for `{}` ({a}) to send through",
                            h.name
                        ),
                        "a via-gateway network's gateway needs an address of every family its hosts use",
                        Some(format!("give `{gname}` an {fam} address on `{name}`")),
                    );
                    return;
                }
            }
        }
    }

    fn network_view(&mut self, node: &Node, names: &Names) -> Option<ViewId> {
        let (_, v) = node
            .as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some("dns"))?;
        let view = self.scalar(v, "a DNS view")?;
        match names.views.get(&view) {
            Some(&id) => Some(id),
            None => {
                self.unknown_name(
                    &Word {
                        text: view,
                        span: v.span,
                    },
                    "DNS view",
                    sorted_keys(&names.views),
                );
                None
            }
        }
    }

    /// Declared routes, then connected routes, then the networks' default gateways,
    /// ordered for longest prefix match.
    fn derived_routes(
        &mut self,
        id: HostId,
        hosts: &[Host],
        networks: &[Network],
        addresses: &HashMap<IpAddr, Vec<(HostId, usize)>>,
        catch_minus: &Arc<Vec<IpNet>>,
    ) -> Vec<Route> {
        let host = &hosts[id.index()];
        let mut routes: Vec<Route> = Vec::new();
        for (ii, iface) in host.interfaces.iter().enumerate() {
            let net = &networks[iface.network.index()];
            let except = if net.catch_all {
                catch_minus.clone()
            } else {
                Arc::new(Vec::new())
            };
            let through = via_gateway(net, iface.network, Some(id), hosts);
            routes.extend(attached_routes(
                net,
                iface.network,
                ii,
                &iface.addrs,
                &except,
                &through,
            ));
        }
        routes.extend(host.routes.iter().cloned());
        for v6 in [false, true] {
            let default: IpNet = if v6 {
                "::/0".parse().unwrap()
            } else {
                "0.0.0.0/0".parse().unwrap()
            };
            if routes
                .iter()
                .any(|r| r.dest == default && r.except.is_empty())
                || host.first_addr(v6).is_none()
            {
                continue;
            }
            for (ii, iface) in host.interfaces.iter().enumerate() {
                let net = &networks[iface.network.index()];
                let Some(g) = net.gateway.filter(|g| *g != id) else {
                    continue;
                };
                let gw_addr = hosts[g.index()]
                    .interfaces
                    .iter()
                    .find(|i| i.network == iface.network)
                    .and_then(|i| i.addrs.iter().copied().find(|a| a.is_ipv6() == v6));
                if let Some(gw) = gw_addr {
                    if addresses.contains_key(&gw) {
                        routes.push(Route {
                            except: Arc::new(Vec::new()),
                            dest: default,
                            action: RouteAction::Via {
                                gateway: gw,
                                iface: ii,
                            },
                            origin: RouteOrigin::NetworkGateway(iface.network),
                            text: format!(
                                "default via {gw} ({}, gateway of {})",
                                hosts[g.index()].name,
                                net.name
                            ),
                        });
                        break;
                    }
                }
            }
        }
        // Longest prefix first; the sort is stable, so declaration order breaks ties.
        routes.sort_by_key(|r| std::cmp::Reverse(r.dest.prefix_len()));
        routes
    }

    fn view(&mut self, key: &Node, node: &Node) -> DnsView {
        let name = key.scalar_text().unwrap_or_default();
        let mut view = DnsView {
            name: name.clone(),
            records: Vec::new(),
            origin: self.origin(key.span),
        };
        let entries = self.map(node, &format!("DNS view `{name}`"));
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for (k, v) in entries {
            let Some(rname) = self.scalar(k, "a DNS name") else {
                continue;
            };
            let rname = rname.trim_end_matches('.').to_ascii_lowercase();
            if seen.insert(rname.clone(), k.span).is_some() {
                self.problem(
                    k.span,
                    format!("`{rname}` is defined twice in view `{name}`"),
                    "duplicate name",
                    Some("list every address of a name in one list".into()),
                );
                continue;
            }
            let origin = self.origin(k.span);
            let values: Vec<Node> = match &v.kind {
                NodeKind::Map(e) => {
                    self.check_keys(e, &["a", "aaaa", "cname"], "a DNS record");
                    e.iter()
                        .flat_map(|(rk, rv)| {
                            let t = rk.scalar_text().unwrap_or_default();
                            let items: Vec<Node> = match &rv.kind {
                                NodeKind::Seq(s) => s.clone(),
                                _ => vec![rv.clone()],
                            };
                            items.into_iter().map(move |n| Node {
                                kind: NodeKind::Str(format!(
                                    "{} {}",
                                    t,
                                    n.scalar_text().unwrap_or_default()
                                )),
                                span: n.span,
                            })
                        })
                        .collect()
                }
                NodeKind::Seq(s) => s.clone(),
                _ => vec![v.clone()],
            };
            let cnames = values
                .iter()
                .filter(|n| {
                    n.scalar_text()
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("cname "))
                })
                .count();
            if cnames > 0 && values.len() > 1 {
                self.problem(
                    k.span,
                    format!("`{rname}` has a CNAME and other records"),
                    "a CNAME must stand alone (RFC 1034)",
                    None,
                );
            }
            for n in values {
                let Some(t) = self.scalar(&n, "a DNS record") else {
                    continue;
                };
                let mut parts = t.split_whitespace();
                let first = parts.next().unwrap_or("");
                let (kind, value) = match parts.next() {
                    Some(second) => (first.to_ascii_lowercase(), second.to_string()),
                    None => (String::new(), first.to_string()),
                };
                let data = match kind.as_str() {
                    "cname" => Some(RecordData::Cname {
                        target: value.trim_end_matches('.').to_ascii_lowercase(),
                    }),
                    "" | "a" | "aaaa" => match value.parse::<IpAddr>() {
                        Ok(a) if kind == "a" && a.is_ipv6() => {
                            self.problem(
                                n.span,
                                format!("{a} is IPv6 but the record is A"),
                                "use AAAA for IPv6",
                                None,
                            );
                            None
                        }
                        Ok(a) if kind == "aaaa" && a.is_ipv4() => {
                            self.problem(
                                n.span,
                                format!("{a} is IPv4 but the record is AAAA"),
                                "use A for IPv4",
                                None,
                            );
                            None
                        }
                        Ok(a @ IpAddr::V4(_)) => Some(RecordData::A { address: a }),
                        Ok(a) => Some(RecordData::Aaaa { address: a }),
                        Err(_) => {
                            self.problem(
                                n.span,
                                format!("`{value}` is not an address"),
                                "expected an address, or `cname NAME`",
                                Some(format!("for an alias write `cname {value}`")),
                            );
                            None
                        }
                    },
                    other => {
                        self.problem(
                            n.span,
                            format!("unknown record type `{other}`"),
                            "expected A, AAAA or CNAME",
                            None,
                        );
                        None
                    }
                };
                if let Some(data) = data {
                    view.records.push(DnsRecord {
                        name: rname.clone(),
                        data,
                        origin: origin.clone(),
                    });
                }
            }
        }
        view
    }

    fn expectations(&mut self, node: &Node, names: &Names, views: &[DnsView]) -> Vec<Expectation> {
        let mut out = Vec::new();
        let items: Vec<Node> = self.items(node).into_iter().cloned().collect();
        for item in &items {
            let Some(text) = self.scalar(item, "an expectation") else {
                continue;
            };
            let raw = match grammar::parse_expect_line(&mut self.cursor(item, &text)) {
                Ok(r) => r,
                Err(e) => {
                    self.syntax(e);
                    continue;
                }
            };
            let kind = match self.expectation_kind(raw, names, views) {
                Some(k) => k,
                None => continue,
            };
            out.push(Expectation {
                text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                kind,
                origin: self.origin(item.span),
            });
        }
        out
    }

    fn expectation_kind(
        &mut self,
        raw: RawExpect,
        names: &Names,
        views: &[DnsView],
    ) -> Option<ExpectKind> {
        Some(match raw {
            RawExpect::Allow {
                proto,
                from,
                to,
                port,
            } => ExpectKind::Allow {
                from: self.place(&from, names, views)?,
                to: self.place(&to, names, views)?,
                proto,
                port,
            },
            RawExpect::Deny {
                proto,
                from,
                to,
                port,
            } => ExpectKind::Deny {
                from: self.place(&from, names, views)?,
                to: self.place(&to, names, views)?,
                proto,
                port,
            },
            RawExpect::Only {
                proto,
                from,
                to,
                port,
            } => {
                let from: Vec<Place> = from
                    .iter()
                    .filter(|w| w.text != ",")
                    .filter_map(|w| self.place(w, names, views))
                    .collect();
                ExpectKind::Only {
                    from,
                    to: self.place(&to, names, views)?,
                    proto,
                    port,
                }
            }
            RawExpect::Isolated { network, direction } => {
                if !names.networks.contains_key(&network.text) {
                    self.unknown_name(&network, "network", sorted_keys(&names.networks));
                    return None;
                }
                ExpectKind::Isolated {
                    network: network.text,
                    direction,
                }
            }
            RawExpect::Authenticated {
                proto,
                from,
                to,
                port,
                by,
            } => ExpectKind::Authenticated {
                from: self.place(&from, names, views)?,
                to: self.place(&to, names, views)?,
                proto,
                port,
                by,
            },
        })
    }

    fn place(&mut self, w: &Word, names: &Names, views: &[DnsView]) -> Option<Place> {
        if names.hosts.contains_key(&w.text) {
            return Some(Place::Host(w.text.clone()));
        }
        if names.networks.contains_key(&w.text) {
            return Some(Place::Network(w.text.clone()));
        }
        if let Ok(a) = w.text.parse::<IpAddr>() {
            return Some(Place::Address(a));
        }
        let lower = w.text.trim_end_matches('.').to_ascii_lowercase();
        if views
            .iter()
            .any(|v| v.records.iter().any(|r| r.name == lower))
        {
            return Some(Place::Name(lower));
        }
        let mut candidates: Vec<&str> = names.places().collect();
        candidates.extend(
            views
                .iter()
                .flat_map(|v| v.records.iter().map(|r| r.name.as_str())),
        );
        candidates.sort_unstable();
        candidates.dedup();
        let help =
            nearest(&w.text, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        self.problem(
            w.span,
            format!("unknown place `{}`", w.text),
            "expected a host, a network, an address or a DNS name",
            help,
        );
        None
    }
}

/// What resolution needs to look names up.
struct Resolve<'a> {
    names: &'a Names,
    networks: &'a [Network],
    hosts: &'a [Host],
    catch_minus: &'a Arc<Vec<IpNet>>,
}

/// The parts of a host resolved in the second pass.
#[derive(Default)]
struct HostDetails {
    about: Option<String>,
    router: Option<bool>,
    sensitive: Option<bool>,
    rp_filter: Option<RpFilter>,
    filter_key: Option<(FilterId, Span)>,
    forward: Option<FilterId>,
    input: Option<FilterId>,
    output: Option<FilterId>,
    dns: Option<ViewId>,
    sockets: Vec<Socket>,
    nat: Vec<NatRule>,
    routes: Vec<Route>,
    tls: Option<TlsClient>,
    proxy: Option<Proxy>,
    ruleset: Option<ruleset::RulesetSpec>,
}

impl HostDetails {
    fn apply(mut self, h: &mut Host) -> Option<ruleset::RulesetSpec> {
        h.about = self.about.unwrap_or_default();
        h.router = self.router.unwrap_or(false);
        h.sensitive = self.sensitive.unwrap_or(false);
        h.rp_filter = self.rp_filter.unwrap_or_default();
        h.forward = self.forward;
        h.input = self.input;
        h.output = self.output;
        h.dns = self.dns;
        h.sockets = self.sockets;
        h.nat = self.nat;
        h.routes = self.routes;
        h.tls = self.tls.unwrap_or_default();
        h.proxy = self.proxy;
        self.ruleset.take()
    }
}

/// The prefixes of two networks (neither a catch-all) that overlap, as
/// (network, later network, the first's prefix, the later's prefix), in the
/// order a scan of every pair of networks and every pair of their prefixes
/// meets them.
/// Prefixes overlap only when one holds the other: sorted by first address
/// (the wider first), each prefix overlaps exactly the prefixes still open
/// where it starts, so this is a sweep, not a scan of every pair.
pub fn overlapping_prefixes(networks: &[Network]) -> Vec<(usize, usize, usize, usize)> {
    use crate::analysis::space::{addr_u128, Fam};
    type Entry = (Fam, u128, std::cmp::Reverse<u128>, usize, usize);
    let mut entries: Vec<Entry> = Vec::new();
    for (i, n) in networks.iter().enumerate() {
        if n.catch_all {
            continue;
        }
        for (k, p) in n.prefixes.iter().enumerate() {
            let (lo, hi) = (addr_u128(p.network()), addr_u128(p.broadcast()));
            entries.push((Fam::of(p.addr()), lo, std::cmp::Reverse(hi), i, k));
        }
    }
    // By family, then first address, the wider prefix first.
    entries.sort_unstable();
    let mut open: Vec<Entry> = Vec::new();
    let mut out = Vec::new();
    for e in entries {
        while open.last().is_some_and(|o| o.0 != e.0 || o.2 .0 < e.1) {
            open.pop();
        }
        for o in &open {
            if o.3 != e.3 {
                out.push(if o.3 < e.3 {
                    (o.3, e.3, o.4, e.4)
                } else {
                    (e.3, o.3, e.4, o.4)
                });
            }
        }
        open.push(e);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether a test asked for every rule to be loaded on the calling thread.
fn one_by_one() -> bool {
    #[cfg(test)]
    return tests::one_by_one();
    #[cfg(not(test))]
    false
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};

    thread_local! {
        static ONE_BY_ONE: Cell<bool> = const { Cell::new(false) };
    }

    /// How many rule lists were loaded on several cores.
    pub(super) static RULES_ON_CORES: AtomicU64 = AtomicU64::new(0);

    pub(super) fn one_by_one() -> bool {
        ONE_BY_ONE.with(Cell::get)
    }

    /// `load` on the calling thread only, as one loader reading every rule in turn.
    fn load_one_by_one(text: &str) -> Result<crate::model::Scenario, super::LoadError> {
        ONE_BY_ONE.with(|c| c.set(true));
        let r = super::load("big.yaml", text, None);
        ONE_BY_ONE.with(|c| c.set(false));
        r
    }

    /// A long rule list loaded on every core gives the scenario, or the
    /// problems, that one loader reading the rules in turn gives: on a
    /// generated scenario whose core filter has thousands of rules, as it
    /// is, and with misspelt names, bad ports and bad actions scattered
    /// through it (in every chunk, at its edges too).
    #[test]
    fn long_rule_lists_load_alike_on_every_core() {
        let text = crate::synth::large(&crate::synth::SynthParams::sized(1, 800));
        let before = RULES_ON_CORES.load(Ordering::Relaxed);
        let par = super::load("big.yaml", &text, None).expect("the generated scenario loads");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores >= 2 {
            assert!(
                RULES_ON_CORES.load(Ordering::Relaxed) > before,
                "no list was loaded on several cores"
            );
        }
        let one = load_one_by_one(&text).expect("the generated scenario loads");
        assert_eq!(par, one);
        // Break every 97th rule line of the filters, three ways.
        let mut n = 0;
        let broken: Vec<String> = text
            .lines()
            .map(|l| {
                if !l.starts_with("      - \"allow ") && !l.starts_with("      - \"drop ") {
                    return l.to_string();
                }
                n += 1;
                match (n % 97, n / 97 % 3) {
                    (0, 0) => l.replacen(" from ", " from nosuch-net,", 1),
                    (0, 1) => l.replacen("- \"allow ", "- \"alow ", 1),
                    (0, 2) => l.replacen(" to ", " to any port 99999 and ", 1),
                    _ => l.to_string(),
                }
            })
            .collect();
        let broken = broken.join("\n");
        assert!(n > 2000, "{n} rule lines");
        let par = super::load("big.yaml", &broken, None).expect_err("broken rules do not load");
        let one = load_one_by_one(&broken).expect_err("broken rules do not load");
        assert!(
            par.problems.len() * 2 >= n / 97,
            "{} problems for {} broken lines",
            par.problems.len(),
            n / 97
        );
        assert_eq!(par.to_string(), one.to_string());
        assert_eq!(format!("{:?}", par.problems), format!("{:?}", one.problems));
    }
}
