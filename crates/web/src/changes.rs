//! What a variant changes in the declarations of a scenario: rules, default
//! policies, filters attached to hooks, sockets, NAT, routes, addresses,
//! networks and DNS records, each with the line where the change is written.
//!
//! This is a comparison of two loaded models by the text of their
//! declarations; it decides nothing about journeys. `/api/diff` uses it to
//! name the change responsible for each journey gained or lost: the change
//! whose declaration a hop of the journey's trace cites.

use serde::Serialize;

use pathproof_core::evidence::Trace;
use pathproof_core::model::{Filter, Host, RouteOrigin, Scenario};

/// One declaration added, removed or changed by a variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclChange {
    /// `rule`, `default`, `stateful`, `filter`, `attach`, `socket`, `nat`,
    /// `route`, `rp_filter`, `address`, `proxy`, `tls`, `resolver` (the DNS view a
    /// host or network asks), `sensitive`, `host`, `network`, `trust`,
    /// `gateway` (the router a network's hosts use by default), `dns`
    /// (a record), `expect`, `traffic` (a declaration of the `traffic:`
    /// section: kernel settings, listeners, links, limiters, flows).
    pub kind: &'static str,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// The filter, host, network or DNS view the declaration belongs to.
    pub owner: String,
    /// The declaration (for `changed`: its value under the variant).
    pub text: String,
    /// For `changed`: the value as written.
    pub before: Option<String>,
    /// Where it is written: in the variant for `added` and `changed`, in the
    /// scenario as written for `removed` (both are lines of the same file).
    pub line: Option<u32>,
    /// One sentence for people.
    pub summary: String,
}

struct Acc {
    out: Vec<DeclChange>,
}

impl Acc {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: &'static str,
        change: &'static str,
        owner: &str,
        what: &str,
        text: String,
        before: Option<String>,
        line: Option<u32>,
    ) {
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        let summary = match (change, &before) {
            ("changed", Some(b)) => format!("{owner}: {what} `{b}` became `{text}`{at}"),
            _ => format!("{owner}: {what} `{text}` {change}{at}"),
        };
        self.out.push(DeclChange {
            kind,
            change,
            owner: owner.to_string(),
            text,
            before,
            line,
            summary,
        });
    }

    /// Declarations of one owner compared as multisets of their text.
    fn list(
        &mut self,
        kind: &'static str,
        owner: &str,
        what: &str,
        old: &[(String, Option<u32>)],
        new: &[(String, Option<u32>)],
    ) {
        let mut unmatched_new: Vec<bool> = vec![true; new.len()];
        for (t, line) in old {
            match new
                .iter()
                .enumerate()
                .find(|(i, (n, _))| unmatched_new[*i] && n == t)
            {
                Some((i, _)) => unmatched_new[i] = false,
                None => self.push(kind, "removed", owner, what, t.clone(), None, *line),
            }
        }
        for (i, (t, line)) in new.iter().enumerate() {
            if unmatched_new[i] {
                self.push(kind, "added", owner, what, t.clone(), None, *line);
            }
        }
    }

    fn value(
        &mut self,
        kind: &'static str,
        owner: &str,
        what: &str,
        old: String,
        new: String,
        line: Option<u32>,
    ) {
        if old != new {
            self.push(kind, "changed", owner, what, new, Some(old), line);
        }
    }
}

fn rules(f: &Filter) -> Vec<(String, Option<u32>)> {
    f.rules
        .iter()
        .map(|r| (r.text.clone(), Some(r.origin.line)))
        .collect()
}

fn default_text(f: &Filter) -> String {
    format!("default {}", f.default.name())
}

fn stateful_text(f: &Filter) -> String {
    if f.stateful { "stateful" } else { "stateless" }.to_string()
}

fn hook_text(scn: &Scenario, h: &Host) -> Vec<(&'static str, String)> {
    let name = |f: Option<pathproof_core::model::FilterId>| {
        f.map(|f| scn.filter(f).name.clone())
            .unwrap_or_else(|| "none".to_string())
    };
    vec![
        ("forward", name(h.forward)),
        ("input", name(h.input)),
        ("output", name(h.output)),
    ]
}

fn addresses(scn: &Scenario, h: &Host) -> Vec<(String, Option<u32>)> {
    h.interfaces
        .iter()
        .flat_map(|i| {
            let net = scn.network(i.network).name.clone();
            i.addrs
                .iter()
                .map(move |a| (format!("{net} {a}"), Some(h.origin.line)))
        })
        .collect()
}

fn routes(h: &Host) -> Vec<(String, Option<u32>)> {
    h.routes
        .iter()
        .filter_map(|r| match &r.origin {
            RouteOrigin::Declared(o) => Some((r.text.clone(), Some(o.line))),
            _ => None,
        })
        .collect()
}

fn proxy_text(scn: &Scenario, h: &Host) -> String {
    match &h.proxy {
        None => "none".into(),
        Some(p) => match &p.mode {
            pathproof_core::model::ProxyMode::Forward { allow } => format!(
                "forward proxy on {} allowing {}",
                p.port,
                allow
                    .iter()
                    .map(|a| a.text.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            pathproof_core::model::ProxyMode::Reverse { upstream, port } => format!(
                "reverse proxy on {} to {}:{port}",
                p.port,
                scn.host(*upstream).name
            ),
        },
    }
}

/// Every declaration `new` (the scenario under a variant) changes from `old`
/// (as written), filters first, then hosts, networks and DNS views, each in
/// declaration order.
pub fn changes(old: &Scenario, new: &Scenario) -> Vec<DeclChange> {
    let mut acc = Acc { out: Vec::new() };
    for f in &new.filters {
        match old.filters.iter().find(|o| o.name == f.name) {
            Some(o) => {
                acc.list("rule", &f.name, "rule", &rules(o), &rules(f));
                acc.value(
                    "default",
                    &f.name,
                    "default policy",
                    default_text(o),
                    default_text(f),
                    Some(f.default_origin.line),
                );
                acc.value(
                    "stateful",
                    &f.name,
                    "connection tracking",
                    stateful_text(o),
                    stateful_text(f),
                    Some(f.origin.line),
                );
            }
            None => {
                acc.push(
                    "filter",
                    "added",
                    &f.name,
                    "filter",
                    format!("{}, {}", stateful_text(f), default_text(f)),
                    None,
                    Some(f.origin.line),
                );
                acc.list("rule", &f.name, "rule", &[], &rules(f));
                acc.push(
                    "default",
                    "added",
                    &f.name,
                    "default policy",
                    default_text(f),
                    None,
                    Some(f.default_origin.line),
                );
            }
        }
    }
    for o in &old.filters {
        if !new.filters.iter().any(|f| f.name == o.name) {
            acc.push(
                "filter",
                "removed",
                &o.name,
                "filter",
                format!("{}, {}", stateful_text(o), default_text(o)),
                None,
                Some(o.origin.line),
            );
        }
    }
    for h in &new.hosts {
        let Some(o) = old.hosts.iter().find(|o| o.name == h.name) else {
            acc.push(
                "host",
                "added",
                &h.name,
                "host",
                h.name.clone(),
                None,
                Some(h.origin.line),
            );
            continue;
        };
        let line = Some(h.origin.line);
        for ((hook, was), (_, is)) in hook_text(old, o).into_iter().zip(hook_text(new, h)) {
            acc.value("attach", &h.name, &format!("{hook} filter"), was, is, line);
        }
        acc.value(
            "rp_filter",
            &h.name,
            "reverse-path check",
            format!("rp_filter {:?}", o.rp_filter).to_lowercase(),
            format!("rp_filter {:?}", h.rp_filter).to_lowercase(),
            line,
        );
        acc.list(
            "address",
            &h.name,
            "address",
            &addresses(old, o),
            &addresses(new, h),
        );
        let sockets = |x: &Host| -> Vec<(String, Option<u32>)> {
            x.sockets
                .iter()
                .map(|s| (s.text.clone(), Some(s.origin.line)))
                .collect()
        };
        acc.list("socket", &h.name, "socket", &sockets(o), &sockets(h));
        let nat = |x: &Host| -> Vec<(String, Option<u32>)> {
            x.nat
                .iter()
                .map(|n| (n.text.clone(), Some(n.origin.line)))
                .collect()
        };
        acc.list("nat", &h.name, "NAT rule", &nat(o), &nat(h));
        acc.list("route", &h.name, "route", &routes(o), &routes(h));
        acc.value(
            "proxy",
            &h.name,
            "proxy",
            proxy_text(old, o),
            proxy_text(new, h),
            h.proxy.as_ref().map(|p| p.origin.line).or(line),
        );
        let view = |scn: &Scenario, x: &Host| {
            x.dns
                .map(|v| scn.view(v).name.clone())
                .unwrap_or_else(|| "the network's".into())
        };
        acc.value(
            "resolver",
            &h.name,
            "DNS view",
            view(old, o),
            view(new, h),
            line,
        );
        let tls = |x: &Host| {
            format!(
                "verify {}, trust {}",
                if x.tls.verify { "on" } else { "off" },
                x.tls.trust.join(" ")
            )
        };
        acc.value("tls", &h.name, "TLS client", tls(o), tls(h), line);
        acc.value(
            "sensitive",
            &h.name,
            "marking",
            if o.sensitive {
                "sensitive"
            } else {
                "not sensitive"
            }
            .into(),
            if h.sensitive {
                "sensitive"
            } else {
                "not sensitive"
            }
            .into(),
            line,
        );
    }
    for o in &old.hosts {
        if !new.hosts.iter().any(|h| h.name == o.name) {
            acc.push(
                "host",
                "removed",
                &o.name,
                "host",
                o.name.clone(),
                None,
                Some(o.origin.line),
            );
        }
    }
    for n in &new.networks {
        let prefixes = |x: &pathproof_core::model::Network| {
            x.prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let trust = |x: &pathproof_core::model::Network| format!("{:?}", x.trust).to_lowercase();
        match old.networks.iter().find(|o| o.name == n.name) {
            Some(o) => {
                let line = Some(n.origin.line);
                acc.value(
                    "network",
                    &n.name,
                    "prefixes",
                    prefixes(o),
                    prefixes(n),
                    line,
                );
                acc.value("trust", &n.name, "trust", trust(o), trust(n), line);
                let gateway = |scn: &Scenario, x: &pathproof_core::model::Network| {
                    x.gateway
                        .map(|g| scn.host(g).name.clone())
                        .unwrap_or_else(|| "none".into())
                };
                acc.value(
                    "gateway",
                    &n.name,
                    "gateway",
                    gateway(old, o),
                    gateway(new, n),
                    line,
                );
                let view = |scn: &Scenario, x: &pathproof_core::model::Network| {
                    x.dns
                        .map(|v| scn.view(v).name.clone())
                        .unwrap_or_else(|| "none".into())
                };
                acc.value(
                    "resolver",
                    &n.name,
                    "DNS view",
                    view(old, o),
                    view(new, n),
                    line,
                );
            }
            None => acc.push(
                "network",
                "added",
                &n.name,
                "network",
                prefixes(n),
                None,
                Some(n.origin.line),
            ),
        }
    }
    for o in &old.networks {
        if !new.networks.iter().any(|n| n.name == o.name) {
            acc.push(
                "network",
                "removed",
                &o.name,
                "network",
                o.name.clone(),
                None,
                Some(o.origin.line),
            );
        }
    }
    let records = |v: &pathproof_core::model::DnsView| -> Vec<(String, Option<u32>)> {
        v.records
            .iter()
            .map(|r| {
                let value = match &r.data {
                    pathproof_core::model::RecordData::A { address } => format!("A {address}"),
                    pathproof_core::model::RecordData::Aaaa { address } => {
                        format!("AAAA {address}")
                    }
                    pathproof_core::model::RecordData::Cname { target } => {
                        format!("CNAME {target}")
                    }
                };
                (format!("{} {value}", r.name), Some(r.origin.line))
            })
            .collect()
    };
    for v in &new.dns {
        let old_records = old
            .dns
            .iter()
            .find(|o| o.name == v.name)
            .map(records)
            .unwrap_or_default();
        acc.list("dns", &v.name, "DNS record", &old_records, &records(v));
    }
    for o in &old.dns {
        if !new.dns.iter().any(|v| v.name == o.name) {
            acc.list("dns", &o.name, "DNS record", &records(o), &[]);
        }
    }
    let expectations = |scn: &Scenario| -> Vec<(String, Option<u32>)> {
        scn.expectations
            .iter()
            .map(|e| (e.text.clone(), Some(e.origin.line)))
            .collect()
    };
    acc.list(
        "expect",
        "expect",
        "expectation",
        &expectations(old),
        &expectations(new),
    );
    let (old_t, new_t) = (traffic_decls(old), traffic_decls(new));
    for owner in ["hosts", "listeners", "links", "limiters", "flows"] {
        let pick = |v: &[(&'static str, String, u32)]| -> Vec<(String, Option<u32>)> {
            v.iter()
                .filter(|(o, _, _)| *o == owner)
                .map(|(_, t, l)| (t.clone(), Some(*l)))
                .collect()
        };
        acc.list(
            "traffic",
            &format!("traffic {owner}"),
            "declaration",
            &pick(&old_t),
            &pick(&new_t),
        );
    }
    acc.out
}

/// The `traffic:` section's declarations as (part, text, line): what
/// `simulate` runs, compared by text like the rest.
fn traffic_decls(scn: &Scenario) -> Vec<(&'static str, String, u32)> {
    use pathproof_core::model::traffic::*;
    let Some(t) = &scn.traffic else {
        return Vec::new();
    };
    let host = |h: pathproof_core::model::HostId| scn.host(h).name.clone();
    let line = |o: &pathproof_core::model::Origin| o.line;
    let mut out = Vec::new();
    for h in &t.hosts {
        let d = HostTuning::defaults(h.host);
        let mut parts = Vec::new();
        for (name, v, dv) in [
            ("somaxconn", h.somaxconn, d.somaxconn),
            (
                "tcp_max_syn_backlog",
                h.tcp_max_syn_backlog,
                d.tcp_max_syn_backlog,
            ),
            (
                "tcp_syncookies",
                h.tcp_syncookies as u32,
                d.tcp_syncookies as u32,
            ),
            (
                "tcp_synack_retries",
                h.tcp_synack_retries as u32,
                d.tcp_synack_retries as u32,
            ),
            (
                "tcp_syn_retries",
                h.tcp_syn_retries as u32,
                d.tcp_syn_retries as u32,
            ),
            ("tcp_no_metrics_save", h.tcp_no_metrics_save as u32, 0),
            ("conntrack_max", h.conntrack_max, d.conntrack_max),
            (
                "conntrack_buckets",
                h.conntrack_buckets,
                d.conntrack_buckets,
            ),
        ] {
            if v != dv {
                parts.push(format!("{name} {v}"));
            }
        }
        if h.conntrack_timeouts != d.conntrack_timeouts {
            parts.push(format!("conntrack timeouts {:?}", h.conntrack_timeouts));
        }
        out.push((
            "hosts",
            format!("{}: {}", host(h.host), parts.join(", ")),
            h.origin.as_ref().map(line).unwrap_or(0),
        ));
    }
    for l in &t.listeners {
        out.push((
            "listeners",
            format!(
                "{}:{} backlog {}, accept_rate {}, service {} µs",
                host(l.host),
                l.port,
                l.backlog,
                l.accept_rate
                    .map(|r| format!("{r}/s"))
                    .unwrap_or("any".into()),
                l.service_us
            ),
            line(&l.origin),
        ));
    }
    for l in &t.links {
        out.push((
            "links",
            format!(
                "{}: {} bit/s, queue {}",
                l.text, l.capacity_bps, l.queue_packets
            ),
            line(&l.origin),
        ));
    }
    for l in &t.limiters {
        let at = match l.place {
            LimiterPlace::Host { host: h } => host(h),
            LimiterPlace::Socket { host: h, port } => format!("{}:{port}", host(h)),
        };
        out.push((
            "limiters",
            format!(
                "{} at {at}: {}, key {}, answer {:?}",
                l.name,
                serde_json::to_string(&l.algorithm).unwrap_or_default(),
                l.key.name(),
                l.answer
            ),
            line(&l.origin),
        ));
    }
    for f in &t.flows {
        out.push((
            "flows",
            format!(
                "{}: {} from {} to {}{}, {}/s, {}, sources {}, accounts {}, start {} µs, stop {:?}",
                f.name,
                f.kind.name(),
                f.from,
                f.to,
                f.via
                    .as_deref()
                    .map(|v| format!(" via {v}"))
                    .unwrap_or_default(),
                f.rate,
                serde_json::to_string(&f.pattern).unwrap_or_default(),
                serde_json::to_string(&f.sources).unwrap_or_default(),
                serde_json::to_string(&f.accounts).unwrap_or_default(),
                f.start_us,
                f.stop_us
            ),
            line(&f.origin),
        ));
    }
    out
}

/// Kinds of change a hop names exactly (by owner and declaration text).
const EXACT: [&str; 5] = ["rule", "default", "socket", "nat", "route"];

/// The changes that explain why a journey differs, given its trace in each
/// scenario: first the changed declarations a hop of either trace cites
/// (`owner` and text as the hop's `rule`); when none is cited, the changes to
/// a filter or host the traces pass through. Indices into `all`, ascending.
pub fn responsible(all: &[DeclChange], traces: &[&Trace]) -> Vec<usize> {
    let cited: Vec<(&str, &str)> = traces
        .iter()
        .flat_map(|t| t.hops.iter())
        .filter_map(|h| h.rule.as_ref())
        .filter(|r| r.kind != "implicit")
        .filter_map(|r| r.owner.as_deref().map(|o| (o, r.text.as_str())))
        .collect();
    let exact: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, c)| EXACT.contains(&c.kind))
        .filter(|(_, c)| {
            cited
                .iter()
                .any(|(o, t)| *o == c.owner && (*t == c.text || c.before.as_deref() == Some(*t)))
        })
        .map(|(i, _)| i)
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    let passed: Vec<&str> = traces
        .iter()
        .flat_map(|t| t.hops.iter())
        .flat_map(|h| {
            std::iter::once(h.device.as_str())
                .chain(h.rule.as_ref().and_then(|r| r.owner.as_deref()))
        })
        .collect();
    all.iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                c.kind,
                "stateful"
                    | "attach"
                    | "rp_filter"
                    | "filter"
                    | "address"
                    | "proxy"
                    | "tls"
                    | "resolver"
            ) && passed.contains(&c.owner.as_str())
        })
        .map(|(i, _)| i)
        .collect()
}
