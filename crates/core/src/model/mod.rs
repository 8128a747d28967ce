//! The resolved network: what the loader produces and every stage reads.
//!
//! Names have been turned into ids, addresses parsed, rules compiled into
//! matchers. Nothing here can dangle: a `HostId` always indexes `Scenario::hosts`.
//! The model knows nothing about YAML (see `load`) or about packets in flight
//! (see `journey`).

mod addr;
mod rule;
pub mod traffic;

pub use addr::{AddrPart, AddrSet, AddrTerm, PortSet};
pub use rule::{
    Action, ConnState, Match, MatchInput, NatKind, NatRule, Proto, RejectWith, Rule, RuleSource,
    SourceKind, StateSet,
};

use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// A byte range in the scenario source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub fn new(start: u32, len: u32) -> Self {
        Span { start, len }
    }

    /// A span cut to fit inside a text of `text_len` bytes.
    pub fn clamped(start: usize, len: usize, text_len: usize) -> Self {
        let start = start.min(text_len);
        let len = len.min(text_len - start);
        Span {
            start: start as u32,
            len: len as u32,
        }
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// Where a rule came from when the scenario file does not hold it: a line of a
/// rule set a host loads (`ruleset:`), or of a file an importer read
/// ([`RuleSource`]). Traces, `reach` and the lab cite it besides the
/// scenario's own line.
pub type SourceRef = RuleSource;

/// Where a declaration came from, resolved to a line and column for reports.
///
/// Two origins are equal when they name the same line and column: the byte
/// span (for the diagnostics of the text that was loaded) is not compared,
/// so an edit that changes the length of one line leaves the declarations
/// on the lines after it as they were (what reports cite of them has not
/// changed), and the warm re-check sees only the declaration edited.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Origin {
    #[serde(skip)]
    pub span: Span,
    pub line: u32,
    pub column: u32,
}

impl PartialEq for Origin {
    fn eq(&self, other: &Origin) -> bool {
        BLIND_TO_ORIGINS.with(std::cell::Cell::get)
            || (self.line, self.column) == (other.line, other.column)
    }
}

thread_local! {
    static BLIND_TO_ORIGINS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every [`Origin`] equal to every other on this thread: to
/// compare two loads of a scenario as the engine reads them (a line added
/// above moves every declaration after it, and changes nothing the engine
/// walks). Nothing may be hashed by origin inside `f`.
pub fn blind_to_origins<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            BLIND_TO_ORIGINS.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BLIND_TO_ORIGINS.with(|b| b.replace(true)));
    f()
}

impl Eq for Origin {}

impl std::hash::Hash for Origin {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.line, self.column).hash(state);
    }
}

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}
id_type!(HostId);
id_type!(NetworkId);
id_type!(FilterId);
id_type!(ViewId);

/// A whole scenario after loading (and after applying a variant, if one was asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub about: String,
    /// The file name shown in reports (`mini-lab.yaml`, `<built-in mini-lab>`).
    pub file: String,
    pub networks: Vec<Network>,
    pub hosts: Vec<Host>,
    pub filters: Vec<Filter>,
    pub dns: Vec<DnsView>,
    pub expectations: Vec<Expectation>,
    /// What flows over the network in time (`traffic:`), for `simulate`.
    pub traffic: Option<traffic::Traffic>,
    pub variants: Vec<VariantInfo>,
    /// The variant applied while loading, if any.
    pub variant: Option<String>,
    pub(crate) addresses: HashMap<IpAddr, Vec<(HostId, usize)>>,
    /// Hosts and networks by name (see [`Scenario::host_by_name`]).
    pub(crate) names: Names,
}

/// Hosts and networks by name, made with the scenario: a diff or a trace
/// looks a name up once per change or hop.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Names {
    hosts: HashMap<String, u32>,
    networks: HashMap<String, u32>,
}

impl Names {
    pub(crate) fn new(hosts: &[Host], networks: &[Network]) -> Names {
        let mut names = Names::default();
        for (i, h) in hosts.iter().enumerate() {
            names.hosts.entry(h.name.clone()).or_insert(i as u32);
        }
        for (i, n) in networks.iter().enumerate() {
            names.networks.entry(n.name.clone()).or_insert(i as u32);
        }
        names
    }
}

/// The first of `items` named `name`: from `index` when it holds one name
/// per item (names are unique in a loaded scenario) and names the item
/// right, else by a scan. Nothing renames a loaded scenario's hosts or
/// networks; code that adds or renames some must make the index again.
fn by_name<T>(
    items: &[T],
    index: &HashMap<String, u32>,
    name: &str,
    name_of: impl Fn(&T) -> &str,
) -> Option<usize> {
    if index.len() == items.len() {
        match index.get(name) {
            None => return None,
            Some(&i) if items.get(i as usize).is_some_and(|t| name_of(t) == name) => {
                // The first of that name: the index keeps the first.
                return Some(i as usize);
            }
            Some(_) => {}
        }
    }
    items.iter().position(|t| name_of(t) == name)
}

impl Scenario {
    pub fn host(&self, id: HostId) -> &Host {
        &self.hosts[id.index()]
    }
    pub fn network(&self, id: NetworkId) -> &Network {
        &self.networks[id.index()]
    }
    pub fn filter(&self, id: FilterId) -> &Filter {
        &self.filters[id.index()]
    }
    pub fn view(&self, id: ViewId) -> &DnsView {
        &self.dns[id.index()]
    }
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        by_name(&self.hosts, &self.names.hosts, name, |h| &h.name).map(|i| HostId(i as u32))
    }
    pub fn network_by_name(&self, name: &str) -> Option<NetworkId> {
        by_name(&self.networks, &self.names.networks, name, |n| &n.name)
            .map(|i| NetworkId(i as u32))
    }
    /// The interfaces that carry `addr`, as (host, interface index).
    pub fn owners_of(&self, addr: IpAddr) -> &[(HostId, usize)] {
        self.addresses.get(&addr).map(Vec::as_slice).unwrap_or(&[])
    }
    /// The most specific network whose prefixes contain `addr`.
    pub fn network_of(&self, addr: IpAddr) -> Option<NetworkId> {
        let mut best: Option<(u8, NetworkId)> = None;
        for (i, n) in self.networks.iter().enumerate() {
            for p in &n.prefixes {
                if p.contains(&addr) && best.is_none_or(|(len, _)| p.prefix_len() > len) {
                    best = Some((p.prefix_len(), NetworkId(i as u32)));
                }
            }
        }
        best.map(|(_, id)| id)
    }
}

/// How far the scenario's owner trusts what arrives from a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    Trusted,
    Untrusted,
}

/// A layer-2 segment: every interface on it can reach every other directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub prefixes: Vec<IpNet>,
    pub trust: Trust,
    /// A catch-all network (such as the internet at 0.0.0.0/0) owns only the
    /// addresses that no more specific network owns.
    pub catch_all: bool,
    /// The router whose address hosts on this network use as default gateway.
    pub gateway: Option<HostId>,
    /// `via-gateway: true`: every host on this network but the gateway sends
    /// even to the network's own addresses through the gateway (see
    /// [`attached_routes`]).
    pub via_gateway: bool,
    /// The DNS view hosts on this network ask, unless they name their own.
    pub dns: Option<ViewId>,
    pub about: String,
    pub origin: Origin,
}

/// Reverse-path filtering (anti-spoofing), as Linux's `rp_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RpFilter {
    #[default]
    Off,
    Loose,
    Strict,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    pub network: NetworkId,
    pub addrs: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteAction {
    /// The destination is on the segment behind this interface.
    Direct { iface: usize },
    /// Hand the packet to a gateway on the segment behind this interface.
    Via { gateway: IpAddr, iface: usize },
    /// Discard silently.
    Blackhole,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteOrigin {
    /// The prefix of a network the host is attached to.
    Connected,
    /// The default route through the network's `gateway`, or on a
    /// `via-gateway` network the routes through it to the network's own
    /// prefixes and the route to the gateway itself.
    NetworkGateway(NetworkId),
    /// A line in the host's `routes:`.
    Declared(Origin),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub dest: IpNet,
    /// Addresses inside `dest` this route does not cover: a catch-all network's
    /// connected route leaves out the prefixes other networks own.
    pub except: std::sync::Arc<Vec<IpNet>>,
    pub action: RouteAction,
    pub origin: RouteOrigin,
    pub text: String,
}

/// The routes an interface (number `iface`, with addresses `addrs`) on
/// network `net` (`id`) gets for the network's own prefixes, in the order of
/// the prefixes, for the families the interface has.
///
/// Ordinarily one connected route `PREFIX dev NETWORK` per prefix. On a
/// `via-gateway` network, for a host that is not its gateway, `through` holds
/// the gateway's addresses on it (one per family, with the gateway's name):
/// the host then has no route straight onto the segment, only one to the
/// gateway's address, and `PREFIX via GATEWAY` for each prefix, the way a
/// CNI gives each pod a /32 and routes everything through the node.
pub fn attached_routes(
    net: &Network,
    id: NetworkId,
    iface: usize,
    addrs: &[IpAddr],
    except: &Arc<Vec<IpNet>>,
    through: &[(IpAddr, &str)],
) -> Vec<Route> {
    let has = |v6: bool| addrs.iter().any(|a| a.is_ipv6() == v6);
    let gateway = |v6: bool| through.iter().find(|(g, _)| g.is_ipv6() == v6);
    let mut routes = Vec::new();
    for (gw, name) in through.iter().filter(|(g, _)| has(g.is_ipv6())) {
        routes.push(Route {
            dest: IpNet::from(*gw),
            except: Arc::new(Vec::new()),
            action: RouteAction::Direct { iface },
            origin: RouteOrigin::NetworkGateway(id),
            text: format!(
                "{gw} dev {} ({name}, gateway of {}, via-gateway)",
                net.name, net.name
            ),
        });
    }
    for p in net.prefixes.iter().filter(|p| has(p.addr().is_ipv6())) {
        routes.push(match gateway(p.addr().is_ipv6()) {
            Some((gw, name)) => Route {
                dest: *p,
                except: except.clone(),
                action: RouteAction::Via {
                    gateway: *gw,
                    iface,
                },
                origin: RouteOrigin::NetworkGateway(id),
                text: format!(
                    "{p} via {gw} ({name}, gateway of {}, via-gateway)",
                    net.name
                ),
            },
            None => Route {
                dest: *p,
                except: except.clone(),
                action: RouteAction::Direct { iface },
                origin: RouteOrigin::Connected,
                text: format!("{p} dev {}", net.name),
            },
        });
    }
    routes
}

/// The gateway's addresses on network `net` (`id`), with its name, that a
/// host (`me`; `None` for a sender standing for the network) sends its
/// traffic for the network through: those of a `via-gateway` network's
/// gateway, unless the host is that gateway; none otherwise. The `through`
/// of [`attached_routes`].
pub fn via_gateway<'h>(
    net: &Network,
    id: NetworkId,
    me: Option<HostId>,
    hosts: &'h [Host],
) -> Vec<(IpAddr, &'h str)> {
    let Some(g) = net.gateway.filter(|g| net.via_gateway && Some(*g) != me) else {
        return Vec::new();
    };
    let gw = &hosts[g.index()];
    let mut out: Vec<(IpAddr, &str)> = Vec::new();
    for i in gw.interfaces.iter().filter(|i| i.network == id) {
        for a in &i.addrs {
            if !out.iter().any(|(o, _)| o.is_ipv6() == a.is_ipv6()) {
                out.push((*a, gw.name.as_str()));
            }
        }
    }
    out
}

/// What a client that connects to this socket must present, if anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsServer {
    pub names: Vec<String>,
    pub issuer: String,
    /// Mutual TLS: the CA that must have issued the client's certificate.
    pub client_ca: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Socket {
    pub proto: Proto,
    pub port: u16,
    pub bind: IpAddr,
    pub app: Option<String>,
    pub tls: Option<TlsServer>,
    pub text: String,
    pub origin: Origin,
}

impl Socket {
    /// Whether a packet to `dst` finds this socket (Linux semantics: a
    /// wildcard bind takes any local address of its family, `::` also takes
    /// IPv4 unless the host sets `bindv6only`).
    pub fn accepts(&self, dst: IpAddr) -> bool {
        if self.bind.is_unspecified() {
            return match self.bind {
                IpAddr::V4(_) => dst.is_ipv4(),
                IpAddr::V6(_) => true,
            };
        }
        self.bind == dst
    }
}

/// How a host's TLS client behaves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsClient {
    pub verify: bool,
    pub trust: Vec<String>,
    pub identity: Option<Identity>,
}

impl Default for TlsClient {
    fn default() -> Self {
        TlsClient {
            verify: true,
            trust: vec!["public".to_string()],
            identity: None,
        }
    }
}

/// A client certificate: a workload identity (often a SPIFFE ID) and its issuer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub id: String,
    pub issuer: String,
}

/// What a proxy does with the `X-Forwarded-For` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedFor {
    /// Adds the client's address after whatever the client sent.
    Append,
    /// Replaces the header with the client's address.
    Overwrite,
    /// Leaves the header as the client sent it.
    Pass,
    /// Removes the header.
    Strip,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProxyMode {
    /// Goes wherever the client asks, if the destination is allowed.
    Forward { allow: Vec<ProxyAllow> },
    /// Sends every request to one upstream.
    Reverse { upstream: HostId, port: u16 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProxyAllow {
    pub dst: AddrSet,
    pub ports: PortSet,
    pub text: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    pub port: u16,
    pub mode: ProxyMode,
    pub forwarded_for: ForwardedFor,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub about: String,
    pub router: bool,
    pub interfaces: Vec<Interface>,
    /// Sorted longest prefix first, then in declaration order.
    pub routes: Vec<Route>,
    pub rp_filter: RpFilter,
    pub forward: Option<FilterId>,
    pub input: Option<FilterId>,
    pub output: Option<FilterId>,
    pub nat: Vec<NatRule>,
    pub sockets: Vec<Socket>,
    pub dns: Option<ViewId>,
    pub tls: TlsClient,
    pub proxy: Option<Proxy>,
    /// A crown jewel: what an attacker wants.
    pub sensitive: bool,
    /// The real rule set the host's filters and NAT rules were flattened from.
    pub ruleset: Option<HostRuleset>,
    pub origin: Origin,
}

/// A host's filters given as a real rule set (`ruleset:`): the file's text, kept
/// so that the lab can load it into the host's namespace as it is, and the kernel
/// name of each of the host's interfaces.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRuleset {
    /// The file as the scenario names it.
    pub file: String,
    pub text: Arc<str>,
    /// iptables-save (`true`) or nft text.
    pub iptables: bool,
    /// Per interface (index into `Host::interfaces`): its name in the rule set.
    pub ifnames: Vec<String>,
    /// The `ruleset:` key.
    pub origin: Origin,
}

/// Whether `net` holds `addr` (`IpNet::contains`, without making the
/// network's first and last addresses: a route lookup asks it of every route).
pub fn net_contains(net: &IpNet, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpNet::V4(n), IpAddr::V4(a)) => {
            let len = u32::from(n.prefix_len());
            len == 0 || (u32::from(n.addr()) ^ u32::from(a)) >> (32 - len) == 0
        }
        (IpNet::V6(n), IpAddr::V6(a)) => {
            let len = u32::from(n.prefix_len());
            len == 0 || (u128::from(n.addr()) ^ u128::from(a)) >> (128 - len) == 0
        }
        _ => false,
    }
}

impl Route {
    pub fn covers(&self, addr: IpAddr) -> bool {
        net_contains(&self.dest, addr) && !self.except.iter().any(|e| net_contains(e, addr))
    }
}

impl Host {
    /// The first address of the wanted family, in declaration order.
    pub fn first_addr(&self, v6: bool) -> Option<IpAddr> {
        self.interfaces
            .iter()
            .flat_map(|i| i.addrs.iter())
            .copied()
            .find(|a| a.is_ipv6() == v6)
    }
    pub fn has_addr(&self, addr: IpAddr) -> bool {
        addr.is_loopback() || self.interfaces.iter().any(|i| i.addrs.contains(&addr))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub name: String,
    /// Lets packets of known connections (established, related) through before any
    /// rule. A filter flattened from a rule set is not stateful in this sense (its
    /// own rules say what they do with each state) but tracks connections all the same.
    pub stateful: bool,
    pub default: Action,
    pub default_origin: Origin,
    /// The rule set's line that decides what no rule takes (a chain policy).
    pub default_source: Option<SourceRef>,
    pub rules: Vec<Rule>,
    pub origin: Origin,
    /// The rule set and hook this filter was flattened from (`ruleset:`).
    pub source: Option<SourceRef>,
    /// What the rule set decides for a packet that never leaves the host (in on or
    /// out by `lo`: a host's packets to itself), which the model's interfaces
    /// cannot name; used by the tracer when a packet has neither interface.
    pub loopback: Option<Box<Filter>>,
}

impl Filter {
    /// Whether the filter's host tracks connections for it: a stateful filter, or
    /// one flattened from a rule set (netfilter's conntrack sees every packet).
    pub fn tracks_connections(&self) -> bool {
        self.stateful || self.source.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RecordData {
    A { address: IpAddr },
    Aaaa { address: IpAddr },
    Cname { target: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsRecord {
    pub name: String,
    pub data: RecordData,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DnsView {
    pub name: String,
    pub records: Vec<DnsRecord>,
    pub origin: Origin,
}

/// A place in an expectation: a host, a network, an address or a DNS name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Place {
    Host(String),
    Network(String),
    Address(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpectKind {
    Allow {
        from: Place,
        to: Place,
        proto: Proto,
        port: Option<u16>,
    },
    Deny {
        from: Place,
        to: Place,
        proto: Proto,
        port: Option<u16>,
    },
    /// Only these sources reach the target.
    Only {
        from: Vec<Place>,
        to: Place,
        proto: Proto,
        port: Option<u16>,
    },
    /// Nothing enters (`inbound`), leaves (`outbound`) or either (`both`).
    Isolated { network: String, direction: String },
    /// The journey must carry this proof (`tls` or `mtls`).
    Authenticated {
        from: Place,
        to: Place,
        proto: Proto,
        port: Option<u16>,
        by: String,
    },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Place::Host(n) | Place::Network(n) | Place::Name(n) => f.write_str(n),
            Place::Address(a) => write!(f, "{a}"),
        }
    }
}

impl ExpectKind {
    /// The journeys this expectation is about, as (from, to, protocol, port):
    /// one for `allow`, `deny` and `authenticated`, one per source for `only`,
    /// none for `isolated` (which is about a network's edge, not one journey).
    pub fn journeys(&self) -> Vec<(&Place, &Place, Proto, Option<u16>)> {
        match self {
            ExpectKind::Allow {
                from,
                to,
                proto,
                port,
            }
            | ExpectKind::Deny {
                from,
                to,
                proto,
                port,
            }
            | ExpectKind::Authenticated {
                from,
                to,
                proto,
                port,
                ..
            } => vec![(from, to, *proto, *port)],
            ExpectKind::Only {
                from,
                to,
                proto,
                port,
            } => from.iter().map(|f| (f, to, *proto, *port)).collect(),
            ExpectKind::Isolated { .. } => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    pub text: String,
    #[serde(flatten)]
    pub kind: ExpectKind,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantInfo {
    pub name: String,
    pub why: String,
    pub origin: Origin,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The name index finds what a scan of the lists finds, for every host
    /// and network and for names that are not there.
    #[test]
    fn names_find_what_a_scan_finds() {
        let texts = (0..40)
            .map(crate::synth::small)
            .chain((0..20).map(crate::synth::scattered));
        for text in texts {
            let scn = crate::load::load("s.yaml", &text, None).expect("generated scenarios load");
            assert_eq!(scn.names.hosts.len(), scn.hosts.len());
            for (i, h) in scn.hosts.iter().enumerate() {
                assert_eq!(scn.host_by_name(&h.name), Some(HostId(i as u32)));
                assert_eq!(
                    scn.network_by_name(&h.name),
                    scn.networks
                        .iter()
                        .position(|n| n.name == h.name)
                        .map(|i| NetworkId(i as u32))
                );
            }
            for (i, n) in scn.networks.iter().enumerate() {
                assert_eq!(scn.network_by_name(&n.name), Some(NetworkId(i as u32)));
            }
            assert_eq!(scn.host_by_name("no-such-host"), None);
            assert_eq!(scn.network_by_name(""), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// `net_contains` is `IpNet::contains`, on prefixes of every length
        /// (host bits set or not) and addresses of both families, near the
        /// prefix and anywhere.
        #[test]
        fn net_contains_is_ipnets_contains(
            v6 in any::<bool>(),
            base in any::<u128>(),
            len in 0u8..=128,
            flip in 0u32..=128,
            other in any::<u128>(),
            near in any::<bool>(),
            addr_v6 in any::<bool>(),
        ) {
            let net = if v6 {
                IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(base), len).unwrap())
            } else {
                IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(base as u32), len % 33).unwrap())
            };
            // An address that differs from the base in one bit (or none), or any.
            let bits = if near { base ^ (1u128.checked_shl(flip).unwrap_or(0)) } else { other };
            let addr = if addr_v6 {
                IpAddr::V6(Ipv6Addr::from(bits))
            } else {
                IpAddr::V4(Ipv4Addr::from(bits as u32))
            };
            prop_assert_eq!(net_contains(&net, addr), net.contains(&addr));
        }
    }
}
