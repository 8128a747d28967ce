//! The loaded scenario as the page draws it: a topology of networks and the
//! hosts on them, with the filters, DNS views, expectations and variants the
//! page explains. Built from `pathproof_core::model`; every list keeps the
//! scenario's declaration order, so the JSON is deterministic.

use serde::Serialize;

use pathproof_core::model::{
    ExpectKind, Filter, FilterId, Host, Origin, Place, Proto, ProxyMode, RecordData, RouteAction,
    RouteOrigin, Scenario,
};

#[derive(Debug, Serialize)]
pub struct ScenarioView {
    pub name: String,
    pub about: String,
    pub file: String,
    /// The YAML text the scenario was loaded from.
    pub source: String,
    pub networks: Vec<NetworkView>,
    pub hosts: Vec<HostView>,
    pub filters: Vec<FilterView>,
    pub dns: Vec<DnsViewView>,
    pub expectations: Vec<ExpectationView>,
    pub variants: Vec<VariantView>,
    /// The `traffic:` section, if the scenario has one (what `pathproof
    /// simulate` runs); `null` otherwise, so that the page can say there is
    /// nothing to simulate without asking the simulator.
    pub traffic: Option<TrafficView>,
}

#[derive(Debug, Serialize)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

impl From<&Origin> for Loc {
    fn from(o: &Origin) -> Self {
        Loc {
            line: o.line,
            column: o.column,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NetworkView {
    pub name: String,
    pub prefixes: Vec<String>,
    pub trust: &'static str,
    pub catch_all: bool,
    pub gateway: Option<String>,
    pub dns: Option<String>,
    pub about: String,
    pub at: Loc,
}

/// `router` forwards without a forward filter, `firewall` forwards through
/// one, `host` does not forward.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    Router,
    Firewall,
    Host,
}

#[derive(Debug, Serialize)]
pub struct HostView {
    pub name: String,
    pub kind: HostKind,
    pub about: String,
    pub sensitive: bool,
    pub interfaces: Vec<InterfaceView>,
    pub routes: Vec<RouteView>,
    pub rp_filter: &'static str,
    /// The filter names attached at each hook.
    pub forward: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub nat: Vec<Declared>,
    pub sockets: Vec<SocketView>,
    pub dns: Option<String>,
    pub tls: TlsClientView,
    pub proxy: Option<ProxyView>,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct InterfaceView {
    pub network: String,
    pub addrs: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RouteView {
    pub dest: String,
    /// `direct`, `via` or `blackhole`.
    pub action: &'static str,
    pub gateway: Option<String>,
    /// The network of the outgoing interface (none for a blackhole).
    pub interface: Option<String>,
    /// `connected`, `network gateway` or `route` (declared in `routes:`).
    pub origin: &'static str,
    pub text: String,
    pub at: Option<Loc>,
}

/// A declaration known by its canonical text and where it was written.
#[derive(Debug, Serialize)]
pub struct Declared {
    pub text: String,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct SocketView {
    pub proto: Proto,
    pub port: u16,
    pub bind: String,
    pub app: Option<String>,
    pub tls: Option<TlsServerView>,
    pub text: String,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct TlsServerView {
    pub names: Vec<String>,
    pub issuer: String,
    pub client_ca: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TlsClientView {
    pub verify: bool,
    pub trust: Vec<String>,
    pub identity: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProxyView {
    pub port: u16,
    /// `forward` or `reverse`.
    pub mode: &'static str,
    pub allow: Vec<Declared>,
    pub upstream: Option<String>,
    pub upstream_port: Option<u16>,
    pub forwarded_for: &'static str,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct FilterView {
    pub name: String,
    pub stateful: bool,
    pub default: &'static str,
    pub default_at: Loc,
    /// The hosts and hooks this filter is attached to, as `host/hook`.
    pub attached: Vec<String>,
    pub rules: Vec<RuleView>,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    /// 1-based, as `rule.index` in the trace JSON.
    pub index: usize,
    pub action: &'static str,
    pub text: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Serialize)]
pub struct DnsViewView {
    pub name: String,
    pub records: Vec<RecordView>,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct RecordView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
    pub at: Loc,
}

#[derive(Debug, Serialize)]
pub struct ExpectationView {
    pub text: String,
    /// `allow`, `deny`, `only`, `isolated` or `authenticated`.
    pub kind: &'static str,
    /// The journeys this expectation is about, as `POST /api/trace` bodies
    /// (empty for `isolated`, which is about whole networks).
    pub journeys: Vec<JourneyView>,
    pub at: Loc,
}

#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct JourneyView {
    pub from: String,
    pub to: String,
    pub proto: Proto,
}

#[derive(Debug, Serialize)]
pub struct VariantView {
    pub name: String,
    pub why: String,
    pub at: Loc,
}

/// The `traffic:` section in brief: the run's length and seed unless the
/// question says otherwise, and its flows in declaration order.
#[derive(Debug, Serialize)]
pub struct TrafficView {
    pub seconds: u32,
    pub seed: u64,
    pub flows: Vec<String>,
    pub at: Loc,
}

fn filter_name(scn: &Scenario, id: Option<FilterId>) -> Option<String> {
    id.map(|f| scn.filter(f).name.clone())
}

fn host_kind(h: &Host) -> HostKind {
    if !h.router {
        HostKind::Host
    } else if h.forward.is_some() {
        HostKind::Firewall
    } else {
        HostKind::Router
    }
}

fn place_text(p: &Place) -> String {
    match p {
        Place::Host(s) | Place::Network(s) | Place::Name(s) => s.clone(),
        Place::Address(a) => a.to_string(),
    }
}

fn target_text(p: &Place, port: Option<u16>) -> String {
    let base = place_text(p);
    match (port, p) {
        (Some(port), Place::Address(a)) if a.is_ipv6() => format!("[{base}]:{port}"),
        (Some(port), _) => format!("{base}:{port}"),
        (None, _) => base,
    }
}

fn journeys(kind: &ExpectKind) -> (&'static str, Vec<JourneyView>) {
    let one = |from: &Place, to: &Place, proto: &Proto, port: &Option<u16>| JourneyView {
        from: place_text(from),
        to: target_text(to, *port),
        proto: *proto,
    };
    match kind {
        ExpectKind::Allow {
            from,
            to,
            proto,
            port,
        } => ("allow", vec![one(from, to, proto, port)]),
        ExpectKind::Deny {
            from,
            to,
            proto,
            port,
        } => ("deny", vec![one(from, to, proto, port)]),
        ExpectKind::Authenticated {
            from,
            to,
            proto,
            port,
            ..
        } => ("authenticated", vec![one(from, to, proto, port)]),
        ExpectKind::Only {
            from,
            to,
            proto,
            port,
        } => (
            "only",
            from.iter().map(|f| one(f, to, proto, port)).collect(),
        ),
        ExpectKind::Isolated { .. } => ("isolated", Vec::new()),
    }
}

fn filter_view(scn: &Scenario, idx: usize, f: &Filter) -> FilterView {
    let mut attached = Vec::new();
    for h in &scn.hosts {
        for (hook, id) in [
            ("forward", h.forward),
            ("input", h.input),
            ("output", h.output),
        ] {
            if id.map(|i| i.index()) == Some(idx) {
                attached.push(format!("{}/{hook}", h.name));
            }
        }
    }
    FilterView {
        name: f.name.clone(),
        stateful: f.stateful,
        default: f.default.name(),
        default_at: (&f.default_origin).into(),
        attached,
        rules: f
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleView {
                index: i + 1,
                action: r.action.name(),
                text: r.text.clone(),
                line: r.origin.line,
                column: r.origin.column,
            })
            .collect(),
        at: (&f.origin).into(),
    }
}

fn host_view(scn: &Scenario, h: &Host) -> HostView {
    let iface_net = |i: usize| {
        h.interfaces
            .get(i)
            .map(|x| scn.network(x.network).name.clone())
    };
    HostView {
        name: h.name.clone(),
        kind: host_kind(h),
        about: h.about.clone(),
        sensitive: h.sensitive,
        interfaces: h
            .interfaces
            .iter()
            .map(|i| InterfaceView {
                network: scn.network(i.network).name.clone(),
                addrs: i.addrs.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        routes: h
            .routes
            .iter()
            .map(|r| {
                let (action, gateway, interface) = match &r.action {
                    RouteAction::Direct { iface } => ("direct", None, iface_net(*iface)),
                    RouteAction::Via { gateway, iface } => {
                        ("via", Some(gateway.to_string()), iface_net(*iface))
                    }
                    RouteAction::Blackhole => ("blackhole", None, None),
                };
                let (origin, at) = match &r.origin {
                    RouteOrigin::Connected => ("connected", None),
                    RouteOrigin::NetworkGateway(n) => {
                        ("network gateway", Some((&scn.network(*n).origin).into()))
                    }
                    RouteOrigin::Declared(o) => ("route", Some(o.into())),
                };
                RouteView {
                    dest: r.dest.to_string(),
                    action,
                    gateway,
                    interface,
                    origin,
                    text: r.text.clone(),
                    at,
                }
            })
            .collect(),
        rp_filter: match h.rp_filter {
            pathproof_core::model::RpFilter::Off => "off",
            pathproof_core::model::RpFilter::Loose => "loose",
            pathproof_core::model::RpFilter::Strict => "strict",
        },
        forward: filter_name(scn, h.forward),
        input: filter_name(scn, h.input),
        output: filter_name(scn, h.output),
        nat: h
            .nat
            .iter()
            .map(|n| Declared {
                text: n.text.clone(),
                at: (&n.origin).into(),
            })
            .collect(),
        sockets: h
            .sockets
            .iter()
            .map(|s| SocketView {
                proto: s.proto,
                port: s.port,
                bind: s.bind.to_string(),
                app: s.app.clone(),
                tls: s.tls.as_ref().map(|t| TlsServerView {
                    names: t.names.clone(),
                    issuer: t.issuer.clone(),
                    client_ca: t.client_ca.clone(),
                }),
                text: s.text.clone(),
                at: (&s.origin).into(),
            })
            .collect(),
        dns: h.dns.map(|v| scn.view(v).name.clone()),
        tls: TlsClientView {
            verify: h.tls.verify,
            trust: h.tls.trust.clone(),
            identity: h.tls.identity.as_ref().map(|i| i.id.clone()),
        },
        proxy: h.proxy.as_ref().map(|p| {
            let (mode, allow, upstream, upstream_port) = match &p.mode {
                ProxyMode::Forward { allow } => (
                    "forward",
                    allow
                        .iter()
                        .map(|a| Declared {
                            text: a.text.clone(),
                            at: (&a.origin).into(),
                        })
                        .collect(),
                    None,
                    None,
                ),
                ProxyMode::Reverse { upstream, port } => (
                    "reverse",
                    Vec::new(),
                    Some(scn.host(*upstream).name.clone()),
                    Some(*port),
                ),
            };
            ProxyView {
                port: p.port,
                mode,
                allow,
                upstream,
                upstream_port,
                forwarded_for: match p.forwarded_for {
                    pathproof_core::model::ForwardedFor::Append => "append",
                    pathproof_core::model::ForwardedFor::Overwrite => "overwrite",
                    pathproof_core::model::ForwardedFor::Pass => "pass",
                    pathproof_core::model::ForwardedFor::Strip => "strip",
                },
                at: (&p.origin).into(),
            }
        }),
        at: (&h.origin).into(),
    }
}

impl ScenarioView {
    pub fn new(scn: &Scenario, source: &str) -> Self {
        ScenarioView {
            name: scn.name.clone(),
            about: scn.about.clone(),
            file: scn.file.clone(),
            source: source.to_string(),
            networks: scn
                .networks
                .iter()
                .map(|n| NetworkView {
                    name: n.name.clone(),
                    prefixes: n.prefixes.iter().map(|p| p.to_string()).collect(),
                    trust: match n.trust {
                        pathproof_core::model::Trust::Trusted => "trusted",
                        pathproof_core::model::Trust::Untrusted => "untrusted",
                    },
                    catch_all: n.catch_all,
                    gateway: n.gateway.map(|g| scn.host(g).name.clone()),
                    dns: n.dns.map(|v| scn.view(v).name.clone()),
                    about: n.about.clone(),
                    at: (&n.origin).into(),
                })
                .collect(),
            hosts: scn.hosts.iter().map(|h| host_view(scn, h)).collect(),
            filters: scn
                .filters
                .iter()
                .enumerate()
                .map(|(i, f)| filter_view(scn, i, f))
                .collect(),
            dns: scn
                .dns
                .iter()
                .map(|v| DnsViewView {
                    name: v.name.clone(),
                    records: v
                        .records
                        .iter()
                        .map(|r| {
                            let (kind, value) = match &r.data {
                                RecordData::A { address } => ("A", address.to_string()),
                                RecordData::Aaaa { address } => ("AAAA", address.to_string()),
                                RecordData::Cname { target } => ("CNAME", target.clone()),
                            };
                            RecordView {
                                name: r.name.clone(),
                                kind,
                                value,
                                at: (&r.origin).into(),
                            }
                        })
                        .collect(),
                    at: (&v.origin).into(),
                })
                .collect(),
            expectations: scn
                .expectations
                .iter()
                .map(|e| {
                    let (kind, journeys) = journeys(&e.kind);
                    ExpectationView {
                        text: e.text.clone(),
                        kind,
                        journeys,
                        at: (&e.origin).into(),
                    }
                })
                .collect(),
            variants: scn
                .variants
                .iter()
                .map(|v| VariantView {
                    name: v.name.clone(),
                    why: v.why.clone(),
                    at: (&v.origin).into(),
                })
                .collect(),
            traffic: scn.traffic.as_ref().map(|t| TrafficView {
                seconds: t.seconds,
                seed: t.seed,
                flows: t.flows.iter().map(|f| f.name.clone()).collect(),
                at: (&t.origin).into(),
            }),
        }
    }
}
