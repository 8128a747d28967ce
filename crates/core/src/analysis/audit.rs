//! `audit`: the exposures an attacker looks for first, worst first, each
//! proved by a journey of the all-journeys engine (or, for filter rules, by
//! the cube algebra) and each with a suggested fix.
//!
//! The precise definition of every finding is in `docs/analyses.md` (`## audit`);
//! the doc comments on [`FindingKind`] repeat them in short.

use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

use crate::model::*;

use super::budget::{Budget as AnswerBudget, Exceeded};
use super::classes::{
    member_journey, member_space, names_text, rows, sorted_names_text, sources_text, Row,
};
use super::diff::{deciding_hop_with, Decider};
use super::reach::{
    all_sources, at_source, example, path_rules, reach_with_budget, source_name, Example, Journey,
    Reach, ReachQuery, Target,
};
use super::space::*;
use super::symbolic::{End, Engine, Outcome, PathStep, Source, Stop};
use crate::journey::filter::FilterIndex;
use std::sync::Arc;

/// TCP ports of administration and debugging interfaces (not databases).
pub const ADMIN_PORTS: &[(u16, &str)] = &[
    (22, "ssh"),
    (23, "telnet"),
    (135, "msrpc"),
    (445, "smb"),
    (2375, "docker api"),
    (2376, "docker api (tls)"),
    (2379, "etcd"),
    (2380, "etcd peer"),
    (3000, "grafana / dev server"),
    (3389, "rdp"),
    (5900, "vnc"),
    (5985, "winrm"),
    (5986, "winrm (tls)"),
    (6443, "kubernetes api"),
    (8500, "consul"),
    (9090, "prometheus"),
    (9100, "node exporter / metrics"),
    (10250, "kubelet"),
];

/// TCP ports of databases and data stores.
pub const DB_PORTS: &[(u16, &str)] = &[
    (1433, "sql server"),
    (1521, "oracle"),
    (3306, "mysql"),
    (5432, "postgres"),
    (5984, "couchdb"),
    (6379, "redis"),
    (9042, "cassandra"),
    (9200, "elasticsearch"),
    (11211, "memcached"),
    (27017, "mongodb"),
];

/// Addresses of cloud instance-metadata services.
pub const METADATA_ADDRS: &[&str] = &["169.254.169.254", "fd00:ec2::254"];

/// How bad a finding is. Ordered: `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
    /// The SARIF `level` of a finding of this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        }
    }
}

/// What kind of exposure a finding is (its stable id in JSON and SARIF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The metadata endpoint is reachable from a workload (a non-router host
    /// on a trusted network) or from an untrusted source.
    MetadataReachable,
    /// A database socket is reachable from beyond its app tier.
    DatabaseExposed,
    /// An admin or debug port is reachable from an untrusted source.
    AdminPortExposed,
    /// A socket is reachable over IPv6 by a source that cannot reach it over IPv4.
    Ipv6Bypass,
    /// Most pairs of internal hosts reach each other.
    FlatNetwork,
    /// A socket bound to all addresses, reached from another network, that no expectation allows.
    WildcardBind,
    /// A workload reaches the internet on most ports.
    BroadEgress,
    /// A filter rule no packet can ever hit.
    ShadowedRule,
    /// A filter rule whose removal changes no decision.
    RedundantRule,
    /// An allow rule that limits the *source* port to a service port and
    /// leaves the destination port open (`from X port 443`, usually meant as
    /// `to X port 443`): anyone who sends from that port gets through.
    SourcePortRule,
}

impl FindingKind {
    pub const ALL: [FindingKind; 10] = [
        FindingKind::MetadataReachable,
        FindingKind::DatabaseExposed,
        FindingKind::AdminPortExposed,
        FindingKind::Ipv6Bypass,
        FindingKind::FlatNetwork,
        FindingKind::WildcardBind,
        FindingKind::BroadEgress,
        FindingKind::ShadowedRule,
        FindingKind::RedundantRule,
        FindingKind::SourcePortRule,
    ];
    pub fn id(self) -> &'static str {
        match self {
            FindingKind::MetadataReachable => "metadata-reachable",
            FindingKind::DatabaseExposed => "database-exposed",
            FindingKind::AdminPortExposed => "admin-port-exposed",
            FindingKind::Ipv6Bypass => "ipv6-bypass",
            FindingKind::FlatNetwork => "flat-network",
            FindingKind::WildcardBind => "wildcard-bind",
            FindingKind::BroadEgress => "broad-egress",
            FindingKind::ShadowedRule => "shadowed-rule",
            FindingKind::RedundantRule => "redundant-rule",
            FindingKind::SourcePortRule => "source-port-rule",
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            FindingKind::MetadataReachable => "The cloud metadata endpoint is reachable from a workload or an untrusted network.",
            FindingKind::DatabaseExposed => "A database is reachable from beyond its app tier.",
            FindingKind::AdminPortExposed => "An administration or debug port is reachable from an untrusted network.",
            FindingKind::Ipv6Bypass => "A socket is reachable over IPv6 from a source whose IPv4 path to it is closed.",
            FindingKind::FlatNetwork => "Most internal hosts reach each other: the network is flat.",
            FindingKind::WildcardBind => "A socket bound to all addresses is reached from another network and no expectation allows it.",
            FindingKind::BroadEgress => "A workload reaches the internet on most ports: anything running on it can call out.",
            FindingKind::ShadowedRule => "A filter rule no packet can ever hit: earlier rules cover its whole match.",
            FindingKind::RedundantRule => "A filter rule whose removal changes no decision.",
            FindingKind::SourcePortRule => "An allow rule limits the source port to a service port and leaves the destination port open: anyone who sends from that port gets through.",
        }
    }
}

/// Where in the scenario file a finding points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: u32,
    pub column: u32,
    /// What is written there (`socket tcp/22 on web`, `edge-fw rule 3`).
    pub what: String,
}

/// The journey that proves a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proof {
    pub source: String,
    pub target: String,
    /// The target socket (`tcp/22`), or `None` when the target is a network.
    pub socket: Option<String>,
    pub example: Example,
    /// The rules that let the example through, request side.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    /// Everyone the finding concerns (sources that reach, hiding rules).
    pub involves: Names,
    pub proof: Option<Proof>,
    /// For an IPv6 bypass: what stops the same source over IPv4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_decider: Option<Decider>,
    pub fix: String,
    /// The first of `targets` (for a finding about sockets), or the line
    /// of the rule, host or network responsible.
    pub location: Location,
    /// Every socket a finding about journeys is about, in the scenario's
    /// order (empty for the other findings). Its sources are `involves`.
    pub targets: Vec<FindingTarget>,
    /// The (source, socket) pairs the finding stands for: every source of
    /// `involves` with every socket of `targets`, but a host with its own
    /// (0 for findings not about sockets).
    pub pairs: usize,
}

/// A socket a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingTarget {
    pub host: String,
    /// The socket as written (`tcp/22 ssh`).
    pub socket: String,
    pub line: u32,
    pub column: u32,
}

/// The share of internal host pairs that reach each other.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flatness {
    pub scope: String,
    pub hosts: usize,
    pub pairs: usize,
    pub reaching: usize,
    pub share: f64,
}

/// Counts from the filter-rule analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleStats {
    pub filters: usize,
    pub rules: usize,
    pub shadowed: usize,
    pub redundant: usize,
    /// Rules the analysis gave up on (work budget exceeded); never reported as findings.
    pub undecided: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    pub schema: u32,
    pub scenario: String,
    pub file: String,
    pub variant: Option<String>,
    pub findings: Vec<Finding>,
    /// Per network (trusted ones with at least two internal hosts), then `overall`.
    pub flatness: Vec<Flatness>,
    pub rules: RuleStats,
}

// ---------------------------------------------------------------------------
// The audit
// ---------------------------------------------------------------------------

/// More than this many TCP destination ports towards the internet is "broad":
/// more than half of them.
pub const BROAD_EGRESS_PORTS: u32 = 32768;

/// Workloads that reach the open address space of a catch-all network (the
/// internet) on more than half of the TCP ports. One finding per group of
/// workloads of one source class that get out alike (the same ports, by the
/// same path, and alike sensitive).
fn egress_findings(scn: &Scenario, engine: &Engine, out: &mut Vec<Finding>) {
    let workloads: Vec<Source> = (0..scn.hosts.len())
        .map(|i| HostId(i as u32))
        .filter(|&h| is_workload(scn, h))
        .map(Source::Host)
        .collect();
    // Each class's walk out and its findings on every core; the findings
    // in class order. A class's outcomes are dropped once its findings are
    // made (all classes' at once were 0.3 GB on the generated 8,000).
    let classes = engine.source_classes(&workloads);
    let found = super::symbolic::par_map_with(&classes, |cache, class| {
        let outs: Vec<Outcome> = engine
            .egress_from(class, cache)
            .into_iter()
            .filter(|o| {
                matches!(
                    o.end,
                    End::Stopped {
                        stop: Stop::Egress,
                        ..
                    }
                )
            })
            .collect();
        let mut found = Vec::new();
        class_egress_findings(scn, engine, class, &outs, &mut found);
        found
    });
    out.extend(found.into_iter().flatten());
}

/// The broad-egress findings of one class of workloads from its walk's
/// outcomes that got out (see [`egress_findings`]).
fn class_egress_findings(
    scn: &Scenario,
    engine: &Engine,
    class: &[Source],
    outs: &[Outcome],
    out: &mut Vec<Finding>,
) {
    type Ranges = Vec<(u128, u128)>;
    type Alike = BTreeMap<(bool, Ranges, Ranges, usize), Vec<(HostId, Example)>>;
    if outs.is_empty() {
        return;
    }
    // Members alike: (sensitive, TCP ports, UDP ports, the proof's
    // outcome) -> the members, each with its example.
    let mut alike: Alike = BTreeMap::new();
    for &m in class {
        let Source::Host(h) = m else { continue };
        let parts: Vec<(usize, Space)> = outs
            .iter()
            .enumerate()
            .map(|(i, o)| (i, member_space(engine, m, &o.space)))
            .filter(|(_, sp)| !sp.is_empty())
            .collect();
        let ports = |bit: u8| -> Ranges {
            normalise(
                parts
                    .iter()
                    .flat_map(|(_, sp)| sp.0.iter())
                    .filter(|c| c.proto & bit != 0)
                    .map(|c| (c.dport.0 as u128, c.dport.1 as u128))
                    .collect(),
            )
        };
        let (tcp, udp) = (ports(TCP), ports(UDP));
        if port_count(&tcp) <= BROAD_EGRESS_PORTS {
            continue;
        }
        let Some((oi, sp)) = parts.iter().min_by_key(|(_, sp)| {
            example(sp).map(|e| (e.proto == Proto::Udp, e.dport, e.src, e.dst))
        }) else {
            continue;
        };
        let Some(ex) = example(sp) else { continue };
        let ex = readable_egress_example(sp, ex);
        alike
            .entry((scn.host(h).sensitive, tcp, udp, *oi))
            .or_default()
            .push((h, ex));
    }
    for ((sensitive, tcp, udp, oi), hosts) in alike {
        let o = &outs[oi];
        let End::Stopped { dev, .. } = o.end else {
            continue;
        };
        let net = engine.dev_name(dev).to_string();
        let (h0, ex) = hosts[0];
        let host = scn.host(h0);
        let sources: Vec<Source> = hosts.iter().map(|&(h, _)| Source::Host(h)).collect();
        let who = sources_text(scn, &sources);
        let mut involves: Vec<String> = hosts
            .iter()
            .map(|&(h, _)| scn.host(h).name.clone())
            .collect();
        involves.sort();
        let allowed_by = path_rules(scn, &o.path);
        let show = |v: &[(u128, u128)]| {
            v.iter()
                .take(6)
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let verb = if hosts.len() == 1 { "reaches" } else { "reach" };
        out.push(Finding {
            kind: FindingKind::BroadEgress,
            severity: if sensitive { Severity::High } else { Severity::Medium },
            title: format!(
                "{who} {verb} {net} on {} TCP ports and {} UDP ports",
                port_count(&tcp),
                port_count(&udp)
            ),
            detail: format!(
                "Traffic from {who} to addresses on {net} that no host of the scenario has gets out on TCP ports {} and UDP ports {}: malware, a compromised dependency or a curious user can reach any service out there, and data can leave by any port.",
                show(&tcp),
                if udp.is_empty() { "none".to_string() } else { show(&udp) }
            ),
            involves: involves.into(),
            proof: Some(Proof {
                source: host.name.clone(),
                target: net.clone(),
                socket: None,
                example: ex,
                rules: allowed_by.clone(),
            }),
            ipv4_decider: None,
            fix: format!(
                "allow {who} only the destinations and ports {} (or send {} through a proxy) and drop the rest{}",
                if hosts.len() == 1 { "it needs" } else { "they need" },
                if hosts.len() == 1 { "it" } else { "them" },
                allowed_by
                    .first()
                    .map(|r| format!(" ({r} lets it out now)"))
                    .unwrap_or_default()
            ),
            location: Location {
                line: host.origin.line,
                column: host.origin.column,
                what: format!("host {}", host.name),
            },
            targets: Vec::new(),
            pairs: 0,
        });
    }
}

fn port_count(v: &[(u128, u128)]) -> u32 {
    v.iter().map(|(a, b)| (b - a + 1) as u32).sum()
}

/// A readable example of egress: a documentation address on an unusual
/// port, when the space holds one (it usually starts at 0.0.0.0, port 0).
fn readable_egress_example(sp: &Space, mut ex: Example) -> Example {
    for (dst, port) in [
        ("203.0.113.99", 4444u16),
        ("198.51.100.99", 4444),
        ("2001:db8::99", 4444),
        ("203.0.113.99", 443),
    ] {
        let d: IpAddr = dst.parse().expect("a literal address");
        let (fam, x) = (Fam::of(d), addr_u128(d));
        let fits = sp.0.iter().any(|c| {
            c.fam == fam
                && c.proto & TCP != 0
                && c.dst.0 <= x
                && x <= c.dst.1
                && c.dport.0 <= port
                && port <= c.dport.1
                && c.src.0 <= addr_u128(ex.src)
                && addr_u128(ex.src) <= c.src.1
                && Fam::of(ex.src) == fam
        });
        if fits {
            ex.proto = Proto::Tcp;
            ex.dst = d;
            ex.dport = port;
            break;
        }
    }
    ex
}

/// Every finding for a scenario, worst first.
pub fn audit(scn: &Scenario) -> Audit {
    // The rules are read from the scenario alone: that analysis starts at
    // once, on a thread of its own, while the engine is built on one core
    // and then walked on every core (it was the last half second of the
    // generated 2,000 hosts' audit, after the walk).
    let record = super::consulted::current();
    std::thread::scope(|sc| {
        let rules = sc.spawn(|| super::consulted::recording(record.clone(), || rule_part(scn)));
        let engine = Engine::new(scn);
        let r = reach_with_budget(
            &engine,
            &ReachQuery::default(),
            false,
            &AnswerBudget::unlimited(),
        )
        .expect("an unlimited budget that nobody cancels is never exceeded");
        let a = audit_within(scn, &engine, &r, || {
            rules.join().expect("an audit's rule analysis panicked")
        });
        super::reach::free_later(r);
        a
    })
}

/// The findings read from the rules alone, and the rules' statistics.
fn rule_part(scn: &Scenario) -> (Vec<Finding>, RuleStats) {
    let mut findings = Vec::new();
    let rules = rule_findings(scn, &mut findings);
    source_port_findings(scn, &mut findings);
    (findings, rules)
}

/// `reach` with one journey per source: the engine groups sources that no
/// rule tells apart; the analyses here name every source on its own.
pub fn per_source_reach(scn: &Scenario, q: &ReachQuery, keep_stopped: bool) -> Reach {
    per_source_reach_with_budget(scn, q, keep_stopped, &AnswerBudget::unlimited())
        .expect("an unlimited budget that nobody cancels is never exceeded")
}

/// [`per_source_reach`] within `budget` (see [`super::budget`]; this
/// module's own `Budget` bounds the rule analysis).
pub fn per_source_reach_with_budget(
    scn: &Scenario,
    q: &ReachQuery,
    keep_stopped: bool,
    budget: &AnswerBudget,
) -> Result<Reach, Exceeded> {
    use super::budget::{journey_bytes, vec_bytes};
    let engine = Engine::new(scn);
    let r = reach_with_budget(&engine, q, keep_stopped, budget)?;
    let sources = q.from.clone().unwrap_or_else(|| all_sources(scn));
    let classes: BTreeMap<Source, Vec<Source>> = engine
        .source_classes(&sources)
        .into_iter()
        .map(|c| (c[0], c))
        .collect();
    let mut journeys = Vec::new();
    for j in r.per_target(scn) {
        if j.members.len() <= 1 {
            journeys.push(j);
            continue;
        }
        for &m in j.members.iter() {
            if member_space(&engine, m, &j.space()).is_empty() {
                continue;
            }
            let dev = engine.source_dev(m);
            let paths = j
                .paths
                .iter()
                .map(|(p, sp)| (at_source(p, dev), member_space(&engine, m, sp)))
                .filter(|(_, sp)| !sp.is_empty())
                .collect();
            let j = Journey {
                source: m,
                members: std::sync::Arc::from([m]),
                targets: j.targets.clone(),
                paths,
            };
            budget.charge(journey_bytes(&j))?;
            journeys.push(j);
        }
    }
    journeys.sort_by_key(|j| (j.source, j.host(), j.socket()));
    let mut stopped = Vec::new();
    for (s, o) in r.stopped {
        match classes.get(&s) {
            Some(c) if c.len() > 1 => {
                for &m in c {
                    let space = member_space(&engine, m, &o.space);
                    budget.charge(
                        vec_bytes::<Cube>(space.0.len()) + vec_bytes::<PathStep>(o.path.len()),
                    )?;
                    if !space.is_empty() {
                        let path: std::sync::Arc<[PathStep]> = o.path.clone().into();
                        stopped.push((
                            m,
                            Outcome {
                                space,
                                path: at_source(&path, engine.source_dev(m)).to_vec(),
                                end: o.end,
                            },
                        ));
                    }
                }
            }
            _ => stopped.push((s, o)),
        }
    }
    Ok(Reach { journeys, stopped })
}

/// The audit over an already computed reach answer (over every source):
/// the compact answer (classes) or one expanded to single sources and
/// sockets ([`per_source_reach`]); the findings are the same pairs either way.
pub fn audit_with(scn: &Scenario, r: &Reach) -> Audit {
    audit_within(scn, &Engine::new(scn), r, || rule_part(scn))
}

/// The audit of `r`, with the findings read from the rules alone from
/// `rules` (made here, or already under way).
fn audit_within(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    rules: impl FnOnce() -> (Vec<Finding>, RuleStats) + Send,
) -> Audit {
    // Two independent halves, one on another thread: the findings about
    // the answer's sockets, and those that walk the egress and read the
    // rules. Each half's findings keep their order, the answer's half first,
    // as one thread made them; the sort below is total anyway.
    let sockets = || {
        let mut findings = Vec::new();
        let mut reported: BTreeSet<(HostId, usize)> = BTreeSet::new();
        let rows = rows(r);
        let names = SourceNames::new(scn);
        let n = &names;
        metadata_findings(scn, engine, r, &rows, n, &mut findings, &mut reported);
        database_findings(scn, engine, r, &rows, n, &mut findings, &mut reported);
        admin_findings(scn, engine, r, &rows, n, &mut findings, &mut reported);
        ipv6_findings(scn, engine, r, n, &mut findings);
        let flatness = flatness(scn, r);
        flat_findings(scn, &flatness, &mut findings);
        wildcard_findings(scn, engine, r, &rows, n, &mut findings, &reported);
        (findings, flatness)
    };
    let record = super::consulted::current();
    let rest = || {
        super::consulted::recording(record.clone(), || {
            let mut findings = Vec::new();
            egress_findings(scn, engine, &mut findings);
            let (more, stats) = rules();
            findings.extend(more);
            (findings, stats)
        })
    };
    let ((mut findings, flatness), (more, rules)) = std::thread::scope(|sc| {
        let other = sc.spawn(rest);
        let mine = sockets();
        (mine, other.join().expect("an audit worker panicked"))
    });
    findings.extend(more);
    sort_findings(&mut findings);
    Audit {
        schema: 2,
        scenario: scn.name.clone(),
        file: scn.file.clone(),
        variant: scn.variant.clone(),
        findings,
        flatness,
        rules,
    }
}

/// Worst first; then by kind, place in the file, title (a total, stable order).
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then(a.location.line.cmp(&b.location.line))
            .then(a.location.column.cmp(&b.location.column))
            .then(a.title.cmp(&b.title))
    });
}

fn host_trusted(scn: &Scenario, h: HostId) -> bool {
    let host = scn.host(h);
    !host.interfaces.is_empty()
        && host
            .interfaces
            .iter()
            .all(|i| scn.network(i.network).trust == Trust::Trusted)
}

fn host_untrusted(scn: &Scenario, h: HostId) -> bool {
    let host = scn.host(h);
    !host.interfaces.is_empty()
        && host
            .interfaces
            .iter()
            .all(|i| scn.network(i.network).trust == Trust::Untrusted)
}

/// A source outside the owner's trust: an untrusted network, or a host only on untrusted networks.
pub fn source_untrusted(scn: &Scenario, s: Source) -> bool {
    match s {
        Source::Network(n) => scn.network(n).trust == Trust::Untrusted,
        Source::Host(h) => host_untrusted(scn, h),
    }
}

/// A workload: a host that is not a router, on trusted networks only.
pub fn is_workload(scn: &Scenario, h: HostId) -> bool {
    !scn.host(h).router && host_trusted(scn, h)
}

fn host_networks(scn: &Scenario, h: HostId) -> BTreeSet<NetworkId> {
    scn.host(h).interfaces.iter().map(|i| i.network).collect()
}

fn socket_label(s: &Socket) -> String {
    format!("{}/{}", s.proto, s.port)
}

fn socket_location(scn: &Scenario, h: HostId, si: usize) -> Location {
    let host = scn.host(h);
    let s = &host.sockets[si];
    Location {
        line: s.origin.line,
        column: s.origin.column,
        what: format!("socket {} on {}", s.text, host.name),
    }
}

/// The first path of a journey, its example packet and rules (only cubes of `fam` if given).
fn journey_proof(scn: &Scenario, j: &Journey, fam: Option<Fam>) -> Option<Proof> {
    let mut best: Option<(Example, &[PathStep])> = None;
    for (path, space) in &j.paths {
        let sub = Space(
            space
                .0
                .iter()
                .filter(|c| fam.is_none_or(|f| c.fam == f))
                .copied()
                .collect(),
        );
        if let Some(ex) = example(&sub) {
            let better = match &best {
                None => true,
                Some((b, _)) => example_key(&ex) < example_key(b),
            };
            if better {
                best = Some((ex, path));
            }
        }
    }
    let (ex, path) = best?;
    let host = scn.host(j.host());
    Some(Proof {
        source: source_name(scn, j.source),
        target: host.name.clone(),
        socket: Some(socket_label(&host.sockets[j.socket()])),
        example: ex,
        rules: path_rules(scn, path),
    })
}

fn example_key(e: &Example) -> (bool, IpAddr, IpAddr, u16) {
    (e.src.is_ipv6(), e.src, e.dst, e.dport)
}

/// The source a finding's proof starts from: networks before hosts (a
/// network stands for anyone on it), then by name.
fn pick_proof_source(scn: &Scenario, from: &[Source]) -> Option<Source> {
    from.iter()
        .copied()
        .min_by_key(|&s| (matches!(s, Source::Host(_)), source_name(scn, s)))
}

/// Whether a source sits on one of `nets` (a target host's networks).
fn on_nets(scn: &Scenario, s: Source, nets: &[NetworkId]) -> bool {
    match s {
        Source::Network(n) => nets.contains(&n),
        Source::Host(h) => scn
            .host(h)
            .interfaces
            .iter()
            .any(|i| nets.contains(&i.network)),
    }
}

fn nets_of(scn: &Scenario, h: HostId) -> Vec<NetworkId> {
    host_networks(scn, h).into_iter().collect()
}

/// Sockets of one row (see [`rows`]) that one finding is about, and its sources.
struct Hit {
    row: usize,
    /// Indices into the row's targets, in socket order.
    targets: Vec<usize>,
    /// Every source the finding names, sorted: each reaches every socket
    /// of the finding but its own.
    sources: Vec<Source>,
}

/// Socket findings on the compact answer: the sockets of each row (they
/// are reached by the same classes) put together by `target_key` (`None`:
/// not a candidate), their sources those of the row that `source_ok`
/// keeps, and graded by `grade` (of the key, the sources, and the source
/// left out for a socket of a source's own; `None`: no finding). A socket
/// whose only source is its own host is left out.
fn socket_hits<K: Ord + Clone, G: Ord + Clone>(
    r: &Reach,
    rows: &[Row],
    target_key: impl Fn(HostId, usize) -> Option<K>,
    source_ok: impl Fn(Source, &K) -> bool,
    grade: impl Fn(&K, &[Source], Option<Source>) -> Option<G>,
) -> Vec<(K, G, Hit)> {
    let mut out = Vec::new();
    each_socket_hit(r, rows, target_key, source_ok, grade, |k, g, hit| {
        out.push((k, g, hit))
    });
    out
}

/// [`socket_hits`] handed to `each` one at a time, in the same order, as
/// they are found: a finding kind that hits every socket of a large
/// network (thousands of hits of thousands of sources each) makes its
/// findings without holding every hit's sources at once.
fn each_socket_hit<K: Ord + Clone, G: Ord + Clone>(
    r: &Reach,
    rows: &[Row],
    target_key: impl Fn(HostId, usize) -> Option<K>,
    source_ok: impl Fn(Source, &K) -> bool,
    grade: impl Fn(&K, &[Source], Option<Source>) -> Option<G>,
    mut each: impl FnMut(K, G, Hit),
) {
    for (ri, row) in rows.iter().enumerate() {
        let mut by_key: BTreeMap<K, Vec<usize>> = BTreeMap::new();
        for (i, (t, _)) in row.targets.iter().enumerate() {
            if let Some(k) = target_key(t.host, t.socket) {
                by_key.entry(k).or_default().push(i);
            }
        }
        if by_key.is_empty() {
            continue;
        }
        let all = row.sources(r);
        for (key, idx) in by_key {
            let f: Vec<Source> = all
                .iter()
                .copied()
                .filter(|&s| source_ok(s, &key))
                .collect();
            if f.is_empty() {
                continue;
            }
            let shared = grade(&key, &f, None);
            let mut by_grade: BTreeMap<G, Vec<usize>> = BTreeMap::new();
            for i in idx {
                let me = Source::Host(row.targets[i].0.host);
                let g = if f.binary_search(&me).is_ok() {
                    if f.len() == 1 {
                        continue;
                    }
                    grade(&key, &f, Some(me))
                } else {
                    shared.clone()
                };
                if let Some(g) = g {
                    by_grade.entry(g).or_default().push(i);
                }
            }
            for (g, targets) in by_grade {
                let h0 = row.targets[targets[0]].0.host;
                let one_host = targets.iter().all(|&i| row.targets[i].0.host == h0);
                let sources = if one_host {
                    f.iter()
                        .copied()
                        .filter(|&s| s != Source::Host(h0))
                        .collect()
                } else {
                    f.clone()
                };
                each(
                    key.clone(),
                    g,
                    Hit {
                        row: ri,
                        targets,
                        sources,
                    },
                );
            }
        }
    }
}

/// What a socket finding says about its sockets and sources.
struct HitParts {
    /// The sockets' hosts in words (`db`, `db1, db2`, `5000 hosts of lan (…)`).
    hosts: String,
    /// The sources in words.
    who: String,
    involves: Names,
    targets: Vec<FindingTarget>,
    pairs: usize,
    proof: Option<Proof>,
    location: Location,
}

/// The (source, socket) pairs of a rectangle: every source with every
/// socket, but a host with its own.
fn rectangle_pairs(sources: &[Source], hosts: impl Iterator<Item = HostId>) -> usize {
    let mut n = 0;
    for h in hosts {
        n += sources.len() - usize::from(sources.binary_search(&Source::Host(h)).is_ok());
    }
    n
}

#[allow(clippy::too_many_arguments)]
fn hit_parts(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    rows: &[Row],
    names: &SourceNames,
    hit: &Hit,
    proof_from: &[Source],
    fam: Option<Fam>,
) -> HitParts {
    let row = &rows[hit.row];
    let targets: Vec<Target> = hit.targets.iter().map(|&i| row.targets[i].0).collect();
    let proof = pick_proof_source(scn, proof_from).and_then(|p| {
        let i = hit
            .targets
            .iter()
            .copied()
            .find(|&i| Source::Host(row.targets[i].0.host) != p)?;
        let (ji, k) = row.class_of(r, p, i)?;
        let mj = member_journey(scn, engine, &r.journeys[ji], p, k);
        journey_proof(scn, &mj, fam)
    });
    parts_of(scn, names, &hit.sources, &targets, proof)
}

/// A list of names that shares its strings: positions in a table of
/// names that other lists use too. Serialised as the list of names.
///
/// A finding about a socket open to everyone names every source that
/// reaches it: on the generated 8,000 hosts, 4,000 findings of 4,400 names
/// each, 18 million names. As their own strings those took 0.7 GB, more
/// than a third of what the whole audit held; as positions, 72 MB.
#[derive(Clone)]
pub struct Names {
    table: Arc<[Box<str>]>,
    picks: Arc<[u32]>,
}

impl Names {
    /// The names, in this order.
    pub fn new(names: Vec<String>) -> Names {
        let picks = (0..names.len() as u32).collect();
        Names {
            table: names.into_iter().map(String::into_boxed_str).collect(),
            picks,
        }
    }

    pub fn len(&self) -> usize {
        self.picks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.picks.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        self.picks.get(i).map(|&k| &*self.table[k as usize])
    }

    pub fn iter(&self) -> NamesIter<'_> {
        NamesIter {
            table: &self.table,
            picks: self.picks.iter(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }
}

impl From<Vec<String>> for Names {
    fn from(names: Vec<String>) -> Names {
        Names::new(names)
    }
}

impl std::ops::Index<usize> for Names {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        &self.table[self.picks[i] as usize]
    }
}

/// The names of a [`Names`], in its order.
#[derive(Clone)]
pub struct NamesIter<'a> {
    table: &'a [Box<str>],
    picks: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for NamesIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.picks.next().map(|&k| &*self.table[k as usize])
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.picks.size_hint()
    }
}

impl ExactSizeIterator for NamesIter<'_> {}

impl<'a> IntoIterator for &'a Names {
    type Item = &'a str;
    type IntoIter = NamesIter<'a>;
    fn into_iter(self) -> NamesIter<'a> {
        self.iter()
    }
}

impl PartialEq for Names {
    fn eq(&self, other: &Names) -> bool {
        self.iter().eq(other.iter())
    }
}

impl PartialEq<Vec<String>> for Names {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.iter().eq(other.iter().map(String::as_str))
    }
}

impl<const N: usize> PartialEq<[&str; N]> for Names {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Names {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Every source's name ranked once, in name order: a finding's sources (a
/// thousand each on a large network, a thousand findings) are put in name
/// order by rank instead of by their names compared and cloned, and kept
/// as their ranks ([`Names`]).
struct SourceNames {
    /// Per host, then per network: the rank of its name in `names`.
    rank: Vec<u32>,
    hosts: usize,
    /// The names, sorted, each once (a host and a network may share one).
    names: Arc<[Box<str>]>,
}

impl SourceNames {
    fn new(scn: &Scenario) -> SourceNames {
        let all: Vec<&str> = scn
            .hosts
            .iter()
            .map(|h| h.name.as_str())
            .chain(scn.networks.iter().map(|n| n.name.as_str()))
            .collect();
        let mut order: Vec<u32> = (0..all.len() as u32).collect();
        order.sort_by_key(|&i| all[i as usize]);
        let mut rank = vec![0u32; all.len()];
        let mut names: Vec<Box<str>> = Vec::new();
        for i in order {
            let name = all[i as usize];
            if names.last().map(|n| &**n) != Some(name) {
                names.push(name.into());
            }
            rank[i as usize] = names.len() as u32 - 1;
        }
        SourceNames {
            rank,
            hosts: scn.hosts.len(),
            names: names.into(),
        }
    }

    /// The sources' names, sorted, each once.
    fn sorted(&self, sources: &[Source]) -> Names {
        let mut ranks: Vec<u32> = sources
            .iter()
            .map(|s| match *s {
                Source::Host(h) => self.rank[h.index()],
                Source::Network(n) => self.rank[self.hosts + n.0 as usize],
            })
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        Names {
            table: self.names.clone(),
            picks: ranks.into(),
        }
    }
}

fn parts_of(
    scn: &Scenario,
    names: &SourceNames,
    sources: &[Source],
    targets: &[Target],
    proof: Option<Proof>,
) -> HitParts {
    let t0 = targets[0];
    let host_names: Vec<String> = targets
        .iter()
        .map(|t| scn.host(t.host).name.clone())
        .collect();
    let hosts: Vec<HostId> = targets.iter().map(|t| t.host).collect();
    let host_sources: Vec<Source> = hosts.iter().map(|&h| Source::Host(h)).collect();
    let involves = names.sorted(sources);
    HitParts {
        hosts: names_text(scn, &host_sources, host_names),
        who: sorted_names_text(scn, sources, &involves.iter().collect::<Vec<_>>()),
        involves,
        targets: targets
            .iter()
            .map(|t| {
                let h = scn.host(t.host);
                let s = &h.sockets[t.socket];
                FindingTarget {
                    host: h.name.clone(),
                    socket: s.text.clone(),
                    line: s.origin.line,
                    column: s.origin.column,
                }
            })
            .collect(),
        pairs: rectangle_pairs(sources, hosts.into_iter()),
        proof,
        location: socket_location(scn, t0.host, t0.socket),
    }
}
fn is_metadata_socket(scn: &Scenario, h: HostId, si: usize) -> bool {
    let meta: Vec<IpAddr> = METADATA_ADDRS
        .iter()
        .map(|a| a.parse().expect("valid address"))
        .collect();
    let host = scn.host(h);
    let s = &host.sockets[si];
    if meta.contains(&s.bind) {
        return true;
    }
    s.bind.is_unspecified()
        && meta
            .iter()
            .any(|m| host.interfaces.iter().any(|i| i.addrs.contains(m)) && s.accepts(*m))
}

fn metadata_findings(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    rows: &[Row],
    names: &SourceNames,
    out: &mut Vec<Finding>,
    reported: &mut BTreeSet<(HostId, usize)>,
) {
    let hits = socket_hits(
        r,
        rows,
        |h, si| is_metadata_socket(scn, h, si).then(|| socket_label(&scn.host(h).sockets[si])),
        |s, _| match s {
            Source::Host(h) => is_workload(scn, h) || host_untrusted(scn, h),
            Source::Network(n) => scn.network(n).trust == Trust::Untrusted,
        },
        |_, _, _| Some(()),
    );
    for (label, (), hit) in hits {
        let c = hit_parts(scn, engine, r, rows, names, &hit, &hit.sources, None);
        for &i in &hit.targets {
            let t = rows[hit.row].targets[i].0;
            reported.insert((t.host, t.socket));
        }
        out.push(Finding {
            kind: FindingKind::MetadataReachable,
            severity: Severity::Critical,
            title: format!("metadata endpoint {} {label} reachable from {}", c.hosts, c.who),
            detail: "Whoever reaches the instance metadata service can ask it for the credentials of the machine's role. A compromised workload (or a server-side request forgery in it) becomes the cloud account.".into(),
            involves: c.involves,
            proof: c.proof,
            ipv4_decider: None,
            fix: format!("drop traffic to {} on the path (a filter rule `drop from any to {}` before the others), or require session tokens (IMDSv2) and a hop limit of 1", c.hosts, c.hosts),
            location: c.location,
            targets: c.targets,
            pairs: c.pairs,
        });
    }
}

fn port_name(list: &[(u16, &'static str)], port: u16) -> Option<&'static str> {
    list.iter().find(|(p, _)| *p == port).map(|(_, n)| *n)
}

/// The sources an `only` expectation allows to reach `(host, socket)`, if any expectation names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct AppTier {
    hosts: BTreeSet<HostId>,
    networks: BTreeSet<NetworkId>,
}

fn place_hosts(scn: &Scenario, p: &Place) -> (BTreeSet<HostId>, BTreeSet<NetworkId>) {
    let mut hosts = BTreeSet::new();
    let mut nets = BTreeSet::new();
    match p {
        Place::Host(n) => hosts.extend(scn.host_by_name(n)),
        Place::Network(n) => {
            if let Some(id) = scn.network_by_name(n) {
                nets.insert(id);
            }
        }
        Place::Address(a) => hosts.extend(scn.owners_of(*a).iter().map(|(h, _)| *h)),
        Place::Name(name) => {
            for a in resolve_all(scn, name) {
                hosts.extend(scn.owners_of(a).iter().map(|(h, _)| *h));
            }
        }
    }
    (hosts, nets)
}

/// Every address a DNS name has in any view (CNAMEs followed, at most 8).
fn resolve_all(scn: &Scenario, name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for view in &scn.dns {
        let mut cur = name.to_string();
        for _ in 0..8 {
            let recs: Vec<&DnsRecord> = view.records.iter().filter(|r| r.name == cur).collect();
            let mut next = None;
            for rec in recs {
                match &rec.data {
                    RecordData::A { address } | RecordData::Aaaa { address } => out.push(*address),
                    RecordData::Cname { target } => next = Some(target.clone()),
                }
            }
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether an expectation's target is this host and socket.
fn targets(
    scn: &Scenario,
    to: &Place,
    proto: Proto,
    port: Option<u16>,
    h: HostId,
    s: &Socket,
) -> bool {
    if proto != s.proto || port.is_some_and(|p| p != s.port) {
        return false;
    }
    let (hosts, nets) = place_hosts(scn, to);
    hosts.contains(&h)
        || (matches!(to, Place::Network(_))
            && host_networks(scn, h).iter().any(|n| nets.contains(n)))
}

fn app_tier(scn: &Scenario, h: HostId, si: usize) -> Option<AppTier> {
    let s = &scn.host(h).sockets[si];
    let mut tier: Option<AppTier> = None;
    for e in &scn.expectations {
        if let ExpectKind::Only {
            from,
            to,
            proto,
            port,
        } = &e.kind
        {
            if targets(scn, to, *proto, *port, h, s) {
                let t = tier.get_or_insert(AppTier {
                    hosts: BTreeSet::new(),
                    networks: BTreeSet::new(),
                });
                for p in from {
                    let (hs, ns) = place_hosts(scn, p);
                    t.hosts.extend(hs);
                    t.networks.extend(ns);
                }
            }
        }
    }
    tier
}

fn in_tier(scn: &Scenario, t: &AppTier, s: Source) -> bool {
    match s {
        Source::Host(h) => {
            t.hosts.contains(&h) || host_networks(scn, h).iter().any(|n| t.networks.contains(n))
        }
        Source::Network(n) => t.networks.contains(&n),
    }
}

/// What a database socket's finding depends on besides its sources: its
/// label, port, its host's networks and its app tier.
type DbKey = (String, u16, Vec<NetworkId>, Option<AppTier>);

fn database_findings(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    rows: &[Row],
    names: &SourceNames,
    out: &mut Vec<Finding>,
    reported: &mut BTreeSet<(HostId, usize)>,
) {
    let untrusted_in = |f: &[Source], skip: Option<Source>| {
        f.iter()
            .any(|&s| Some(s) != skip && source_untrusted(scn, s))
    };
    let hits = socket_hits(
        r,
        rows,
        |h, si| -> Option<DbKey> {
            let s = &scn.host(h).sockets[si];
            (s.proto == Proto::Tcp && port_name(DB_PORTS, s.port).is_some()).then(|| {
                (
                    socket_label(s),
                    s.port,
                    nets_of(scn, h),
                    app_tier(scn, h, si),
                )
            })
        },
        |s, (_, _, nets, tier)| {
            source_untrusted(scn, s)
                || (!on_nets(scn, s, nets) && tier.as_ref().is_none_or(|t| !in_tier(scn, t, s)))
        },
        |(_, _, _, tier), f, skip| {
            Some(if untrusted_in(f, skip) {
                Severity::Critical
            } else if tier.is_some() {
                Severity::High
            } else {
                Severity::Medium
            })
        },
    );
    for ((label, port, _, tier), severity, hit) in hits {
        let proof_from: Vec<Source> = if severity == Severity::Critical {
            hit.sources
                .iter()
                .copied()
                .filter(|&s| source_untrusted(scn, s))
                .collect()
        } else {
            hit.sources.clone()
        };
        let c = hit_parts(scn, engine, r, rows, names, &hit, &proof_from, None);
        let tier_text = match &tier {
            Some(_) => {
                "outside the sources its `only` expectation names and outside its own network"
                    .to_string()
            }
            None => "from another network (no `only` expectation names its app tier)".to_string(),
        };
        for &i in &hit.targets {
            let t = rows[hit.row].targets[i].0;
            reported.insert((t.host, t.socket));
        }
        out.push(Finding {
            kind: FindingKind::DatabaseExposed,
            severity,
            title: format!("database {} {label} ({}) reachable from {}", c.hosts, port_name(DB_PORTS, port).unwrap_or("database"), c.who),
            detail: format!("The database is reached {tier_text}. Anyone who reaches it can try its credentials and its vulnerabilities directly, without going through the application."),
            involves: c.involves,
            proof: c.proof,
            ipv4_decider: None,
            fix: format!(
                "allow only the app tier to {}:{port} on the filters on the way{}",
                c.hosts,
                if tier.is_none() { ", and write `only APP may reach HOST:PORT` so that `check` keeps it so" } else { "" }
            ),
            location: c.location,
            targets: c.targets,
            pairs: c.pairs,
        });
    }
}

fn admin_findings(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    rows: &[Row],
    names: &SourceNames,
    out: &mut Vec<Finding>,
    reported: &mut BTreeSet<(HostId, usize)>,
) {
    let hits = socket_hits(
        r,
        rows,
        |h, si| {
            let s = &scn.host(h).sockets[si];
            (s.proto == Proto::Tcp && port_name(ADMIN_PORTS, s.port).is_some())
                .then(|| (socket_label(s), s.port, scn.host(h).sensitive))
        },
        |s, _| source_untrusted(scn, s),
        |_, _, _| Some(()),
    );
    for ((label, port, sensitive), (), hit) in hits {
        let c = hit_parts(scn, engine, r, rows, names, &hit, &hit.sources, None);
        for &i in &hit.targets {
            let t = rows[hit.row].targets[i].0;
            reported.insert((t.host, t.socket));
        }
        out.push(Finding {
            kind: FindingKind::AdminPortExposed,
            severity: if sensitive { Severity::Critical } else { Severity::High },
            title: format!("{} {label} ({}) reachable from {}", c.hosts, port_name(ADMIN_PORTS, port).unwrap_or("admin"), c.who),
            detail: "An administration or debug interface answers the untrusted network: it is scanned within minutes and brute-forced or exploited from anywhere.".into(),
            involves: c.involves,
            proof: c.proof,
            ipv4_decider: None,
            fix: format!("drop tcp port {port} from untrusted networks on the edge; reach it through a bastion or VPN, or bind it to a management address"),
            location: c.location,
            targets: c.targets,
            pairs: c.pairs,
        });
    }
}

fn source_has_v4(scn: &Scenario, s: Source) -> bool {
    match s {
        Source::Host(h) => scn.host(h).first_addr(false).is_some(),
        Source::Network(n) => scn.network(n).prefixes.iter().any(|p| p.addr().is_ipv4()),
    }
}

/// Per class: its sockets that take IPv4 (by label and whether their host
/// is sensitive) and its members with an IPv4 address (by whether they are
/// untrusted); one finding per rectangle of them.
fn ipv6_findings(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    names: &SourceNames,
    out: &mut Vec<Finding>,
) {
    // The scenario's filters indexed once for the IPv4 traces (the same
    // answers as a scan of each filter's rules).
    let mut index = None;
    for j in &r.journeys {
        let has = |f: Fam| j.cubes().any(|c| c.fam == f);
        if !has(Fam::V6) || has(Fam::V4) {
            continue;
        }
        let mut by_target: BTreeMap<(String, bool), Vec<usize>> = BTreeMap::new();
        for (k, t) in j.targets.iter().enumerate() {
            let host = scn.host(t.host);
            let s = &host.sockets[t.socket];
            if host.first_addr(false).is_some_and(|a| s.accepts(a)) {
                by_target
                    .entry((socket_label(s), host.sensitive))
                    .or_default()
                    .push(k);
            }
        }
        if by_target.is_empty() {
            continue;
        }
        let with_v4: Vec<Source> = j
            .members
            .iter()
            .copied()
            .filter(|&m| source_has_v4(scn, m))
            .collect();
        let (untrusted, trusted): (Vec<Source>, Vec<Source>) = with_v4
            .iter()
            .copied()
            .partition(|&m| source_untrusted(scn, m));
        for ((label, sensitive), ks) in &by_target {
            let groups: Vec<(&[Source], bool)> = if *sensitive {
                vec![(&with_v4, true)]
            } else {
                vec![(&untrusted, true), (&trusted, false)]
            };
            for (ms, high) in groups {
                let hosts = || ks.iter().map(|&k| j.targets[k].host);
                if rectangle_pairs(ms, hosts()) == 0 {
                    continue;
                }
                let h0 = j.targets[ks[0]].host;
                let sources: Vec<Source> = if hosts().all(|h| h == h0) {
                    ms.iter()
                        .copied()
                        .filter(|&m| m != Source::Host(h0))
                        .collect()
                } else {
                    ms.to_vec()
                };
                let targets: Vec<Target> = ks.iter().map(|&k| j.targets[k]).collect();
                let p = pick_proof_source(scn, &sources).expect("a rectangle with pairs");
                let k0 = *ks
                    .iter()
                    .find(|&&k| Source::Host(j.targets[k].host) != p)
                    .expect("a source reaches a socket not its own");
                let mj = member_journey(scn, engine, j, p, k0);
                let proof = journey_proof(scn, &mj, Some(Fam::V6));
                let target_v4 = scn.host(j.targets[k0].host).first_addr(false);
                let decider = proof.as_ref().and_then(|pr| {
                    let v4 = Example {
                        dst: target_v4.expect("checked"),
                        src: match p {
                            Source::Host(h) => scn.host(h).first_addr(false).expect("checked"),
                            Source::Network(n) => first_v4_of(scn, n).unwrap_or(pr.example.src),
                        },
                        ..pr.example
                    };
                    let index = index.get_or_insert_with(|| FilterIndex::new(scn));
                    deciding_hop_with(scn, Some(index), p, &source_name(scn, p), &v4)
                });
                let c = parts_of(scn, names, &sources, &targets, proof);
                let verb = if c.involves.len() == 1 {
                    "reaches"
                } else {
                    "reach"
                };
                out.push(Finding {
                    kind: FindingKind::Ipv6Bypass,
                    severity: if high { Severity::High } else { Severity::Medium },
                    title: format!("{} {verb} {} {label} over IPv6 but not over IPv4", c.who, c.hosts),
                    detail: "The IPv4 path is closed, the IPv6 path to the same socket is open: a rule was written for one family only. Clients prefer IPv6 when they have it.".into(),
                    involves: c.involves,
                    proof: c.proof,
                    ipv4_decider: decider,
                    fix: "write the IPv6 rule that matches the IPv4 one (or a family-neutral rule naming hosts or networks), or bind the socket to its IPv4 address".into(),
                    location: c.location,
                    targets: c.targets,
                    pairs: c.pairs,
                });
            }
        }
    }
}

fn first_v4_of(scn: &Scenario, n: NetworkId) -> Option<IpAddr> {
    // The address a trace from the network sends from (never a martian).
    crate::journey::stand_in_address(scn, n, false).filter(IpAddr::is_ipv4)
}

/// Internal hosts: workloads (non-routers on trusted networks only).
///
/// On the compact answer: internal hosts that are members of the same
/// classes reach the same hosts (but themselves), so the hosts each such
/// group reaches are counted once per scope, not once per pair.
fn flatness(scn: &Scenario, r: &Reach) -> Vec<Flatness> {
    let internal: Vec<bool> = (0..scn.hosts.len())
        .map(|i| is_workload(scn, HostId(i as u32)))
        .collect();
    // The scopes: each trusted network with at least two internal hosts,
    // then all of them.
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let mut scope_of_net: Vec<Option<usize>> = vec![None; scn.networks.len()];
    for (ni, net) in scn.networks.iter().enumerate() {
        if net.trust != Trust::Trusted {
            continue;
        }
        let n = (0..scn.hosts.len())
            .filter(|&h| {
                internal[h]
                    && scn.hosts[h]
                        .interfaces
                        .iter()
                        .any(|i| i.network.index() == ni)
            })
            .count();
        if n >= 2 {
            scope_of_net[ni] = Some(scopes.len());
            scopes.push((net.name.clone(), n));
        }
    }
    let overall = scopes.len();
    scopes.push(("overall".into(), internal.iter().filter(|&&x| x).count()));
    let scopes_of = |h: usize| -> Vec<usize> {
        let mut v: Vec<usize> = scn.hosts[h]
            .interfaces
            .iter()
            .filter_map(|i| scope_of_net[i.network.index()])
            .collect();
        v.sort_unstable();
        v.dedup();
        v.push(overall);
        v
    };
    // Each internal host's classes, as a signature.
    let mut classes_of: Vec<Vec<u32>> = vec![Vec::new(); scn.hosts.len()];
    for (ji, j) in r.journeys.iter().enumerate() {
        for m in j.members.iter() {
            if let Source::Host(h) = m {
                if internal[h.index()] {
                    classes_of[h.index()].push(ji as u32);
                }
            }
        }
    }
    let mut alike: super::fasthash::FastMap<Vec<u32>, Vec<usize>> = Default::default();
    for (h, sig) in classes_of.into_iter().enumerate() {
        if !sig.is_empty() {
            alike.entry(sig).or_default().push(h);
        }
    }
    let mut reaching = vec![0usize; scopes.len()];
    for (sig, hosts) in alike {
        let mut reached: Vec<usize> = sig
            .iter()
            .flat_map(|&ji| {
                r.journeys[ji as usize]
                    .targets
                    .iter()
                    .map(|t| t.host.index())
            })
            .filter(|&b| internal[b])
            .collect();
        reached.sort_unstable();
        reached.dedup();
        let mut count = vec![0usize; scopes.len()];
        for &b in &reached {
            for sc in scopes_of(b) {
                count[sc] += 1;
            }
        }
        for a in hosts {
            let me = usize::from(reached.binary_search(&a).is_ok());
            for sc in scopes_of(a) {
                reaching[sc] += count[sc] - me;
            }
        }
    }
    scopes
        .into_iter()
        .zip(reaching)
        .map(|((scope, n), reaching)| {
            let pairs = n * n.saturating_sub(1);
            Flatness {
                scope,
                hosts: n,
                pairs,
                reaching,
                share: if pairs == 0 {
                    0.0
                } else {
                    (reaching as f64 / pairs as f64 * 1000.0).round() / 1000.0
                },
            }
        })
        .collect()
}

fn flat_findings(scn: &Scenario, fl: &[Flatness], out: &mut Vec<Finding>) {
    for f in fl {
        let overall = f.scope == "overall";
        let (min_hosts, min_share) = if overall { (4, 0.5) } else { (3, 0.75) };
        if f.hosts < min_hosts || f.share < min_share {
            continue;
        }
        let location = match scn.network_by_name(&f.scope) {
            Some(n) if !overall => {
                let net = scn.network(n);
                Location {
                    line: net.origin.line,
                    column: net.origin.column,
                    what: format!("network {}", net.name),
                }
            }
            _ => Location {
                line: 1,
                column: 1,
                what: "the scenario".into(),
            },
        };
        out.push(Finding {
            kind: FindingKind::FlatNetwork,
            severity: if overall { Severity::Medium } else { Severity::Low },
            title: format!("{}: {} of {} host pairs reach each other ({:.0}%)", if overall { "all internal hosts".to_string() } else { format!("network {}", f.scope) }, f.reaching, f.pairs, f.share * 100.0),
            detail: "In a flat network one compromised host reaches most others directly: lateral movement needs no second foothold.".into(),
            involves: vec![f.scope.clone()].into(),
            proof: None,
            ipv4_decider: None,
            fix: "segment by role: give each tier its own network and allow only the journeys between tiers that the application needs".into(),
            location,
            targets: Vec::new(),
            pairs: 0,
        });
    }
}

fn expected(scn: &Scenario, h: HostId, s: &Socket) -> bool {
    scn.expectations.iter().any(|e| match &e.kind {
        ExpectKind::Allow {
            to, proto, port, ..
        }
        | ExpectKind::Only {
            to, proto, port, ..
        }
        | ExpectKind::Authenticated {
            to, proto, port, ..
        } => targets(scn, to, *proto, *port, h, s),
        _ => false,
    })
}

fn wildcard_findings(
    scn: &Scenario,
    engine: &Engine,
    r: &Reach,
    rows: &[Row],
    names: &SourceNames,
    out: &mut Vec<Finding>,
    reported: &BTreeSet<(HostId, usize)>,
) {
    each_socket_hit(
        r,
        rows,
        |h, si| {
            let s = &scn.host(h).sockets[si];
            (s.bind.is_unspecified() && !reported.contains(&(h, si)) && !expected(scn, h, s))
                .then(|| (socket_label(s), s.bind, nets_of(scn, h)))
        },
        |s, (_, _, nets)| !on_nets(scn, s, nets),
        |_, f, skip| {
            Some(
                if f.iter()
                    .any(|&s| Some(s) != skip && source_untrusted(scn, s))
                {
                    Severity::Medium
                } else {
                    Severity::Low
                },
            )
        },
        |(label, bind, _), severity, hit| {
            let c = hit_parts(scn, engine, r, rows, names, &hit, &hit.sources, None);
            out.push(Finding {
            kind: FindingKind::WildcardBind,
            severity,
            title: format!("{} {label} listens on {bind} and is reached from other networks ({})", c.hosts, c.who),
            detail: "The socket takes connections on every address of the host, it is reached from beyond its own network, and no expectation says anyone should reach it.".into(),
            involves: c.involves,
            proof: c.proof,
            ipv4_decider: None,
            fix: format!("bind {label} to the one address that serves it (or 127.0.0.1), or document who may reach it with `allow`/`only` expectations"),
            location: c.location,
            targets: c.targets,
            pairs: c.pairs,
        });
        },
    );
}

// ---------------------------------------------------------------------------
// Shadowed and redundant filter rules
// ---------------------------------------------------------------------------

/// A cube of packets extended with the filter context: incoming and outgoing
/// interface (network index + 1; 0 means none) and the conntrack state bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XCube {
    pub c: Cube,
    pub inn: (u32, u32),
    pub out: (u32, u32),
    pub state: u8,
}

pub const ST_NEW: u8 = 1;
pub const ST_EST: u8 = 2;
pub const ST_REL: u8 = 4;
pub const ST_INV: u8 = 8;

fn meet32(a: (u32, u32), b: (u32, u32)) -> Option<(u32, u32)> {
    let lo = a.0.max(b.0);
    let hi = a.1.min(b.1);
    (lo <= hi).then_some((lo, hi))
}

impl XCube {
    pub fn intersect(&self, o: &XCube) -> Option<XCube> {
        let state = self.state & o.state;
        if state == 0 {
            return None;
        }
        Some(XCube {
            inn: meet32(self.inn, o.inn)?,
            out: meet32(self.out, o.out)?,
            state,
            c: self.c.intersect(&o.c)?,
        })
    }
    /// Whether the two cubes have a packet in common (`intersect` without building it).
    #[inline]
    pub fn meets(&self, o: &XCube) -> bool {
        let m = |a: (u128, u128), b: (u128, u128)| a.0 <= b.1 && b.0 <= a.1;
        let m16 = |a: (u16, u16), b: (u16, u16)| a.0 <= b.1 && b.0 <= a.1;
        let m32 = |a: (u32, u32), b: (u32, u32)| a.0 <= b.1 && b.0 <= a.1;
        self.c.fam == o.c.fam
            && m(self.c.src, o.c.src)
            && m(self.c.dst, o.c.dst)
            && m16(self.c.dport, o.c.dport)
            && self.c.proto & o.c.proto != 0
            && self.state & o.state != 0
            && m16(self.c.sport, o.c.sport)
            && m32(self.inn, o.inn)
            && m32(self.out, o.out)
    }
    pub fn contains(&self, o: &XCube) -> bool {
        self.intersect(o).as_ref() == Some(o)
    }
    /// `self` less `o`, as disjoint pieces.
    pub fn subtract(&self, o: &XCube) -> Vec<XCube> {
        let Some(i) = self.intersect(o) else {
            return vec![*self];
        };
        let mut out = Vec::new();
        let mut rest = *self;
        if rest.state != i.state {
            out.push(XCube {
                state: rest.state & !i.state,
                ..rest
            });
            rest.state = i.state;
        }
        for pick in [0, 1] {
            let (lo, hi) = if pick == 0 { rest.inn } else { rest.out };
            let (ilo, ihi) = if pick == 0 { i.inn } else { i.out };
            let set = |x: &mut XCube, r: (u32, u32)| if pick == 0 { x.inn = r } else { x.out = r };
            if lo < ilo {
                let mut c = rest;
                set(&mut c, (lo, ilo - 1));
                out.push(c);
            }
            if ihi < hi {
                let mut c = rest;
                set(&mut c, (ihi + 1, hi));
                out.push(c);
            }
            set(&mut rest, (ilo, ihi));
        }
        for piece in rest.c.subtract(&o.c) {
            out.push(XCube { c: piece, ..rest });
        }
        out
    }
}

/// Where a filter's rules are evaluated: (incoming, outgoing) interface ranges
/// and the conntrack states that reach the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub contexts: Vec<((u32, u32), (u32, u32))>,
    pub states: u8,
    /// The largest interface value (network count).
    pub max_iface: u32,
}

impl Domain {
    /// Every interface combination and every state: a filter considered on its own.
    pub fn everywhere(networks: usize, stateful: bool) -> Domain {
        let m = networks as u32;
        Domain {
            contexts: vec![((0, m), (0, m))],
            states: if stateful {
                ST_NEW | ST_INV
            } else {
                ST_NEW | ST_EST | ST_REL | ST_INV
            },
            max_iface: m,
        }
    }
}

/// The domain of a filter in a scenario: the hooks it is attached to on each
/// host, with that host's interfaces; a stateful filter's rules only see new
/// and invalid packets (established and related ones are let through before them).
pub fn filter_domain(scn: &Scenario, fid: FilterId) -> Domain {
    let max = scn.networks.len() as u32;
    let mut ctx = Vec::new();
    for h in &scn.hosts {
        let mut nets: Vec<u128> = h
            .interfaces
            .iter()
            .map(|i| i.network.0 as u128 + 1)
            .collect();
        nets.sort();
        nets.dedup();
        let ranges: Vec<(u32, u32)> = normalise(nets.iter().map(|n| (*n, *n)).collect())
            .into_iter()
            .map(|(a, b)| (a as u32, b as u32))
            .collect();
        let none = [(0u32, 0u32)];
        let mut add = |ins: &[(u32, u32)], outs: &[(u32, u32)]| {
            for i in ins {
                for o in outs {
                    ctx.push((*i, *o));
                }
            }
        };
        if h.input == Some(fid) {
            add(&ranges, &none);
        }
        if h.output == Some(fid) {
            add(&none, &ranges);
        }
        if h.forward == Some(fid) {
            add(&ranges, &ranges);
        }
    }
    ctx.sort();
    ctx.dedup();
    let stateful = scn.filter(fid).stateful;
    Domain {
        contexts: ctx,
        states: if stateful {
            ST_NEW | ST_INV
        } else {
            ST_NEW | ST_EST | ST_REL | ST_INV
        },
        max_iface: max,
    }
}

/// The packets a match selects, as cubes (the engine's reading: ports without
/// a protocol mean TCP or UDP).
pub fn match_xcubes(m: &Match, max_iface: u32) -> Vec<XCube> {
    let ports = !m.sport.is_any() || !m.dport.is_any();
    let proto = match m.proto {
        // A port condition never matches a protocol without ports (as `Match::matches`).
        Some(p) if ports && !p.has_ports() => return Vec::new(),
        Some(p) => proto_bit(p),
        None if ports => PORT_PROTOS,
        None => ANY_PROTO,
    };
    let iface = |n: Option<NetworkId>| match n {
        Some(id) => (id.0 + 1, id.0 + 1),
        None => (0, max_iface),
    };
    let state = match m.state {
        None => ST_NEW | ST_EST | ST_REL | ST_INV,
        Some(s) => {
            (if s.new { ST_NEW } else { 0 })
                | (if s.established { ST_EST } else { 0 })
                | (if s.related { ST_REL } else { 0 })
                | (if s.invalid { ST_INV } else { 0 })
        }
    };
    let mut out = Vec::new();
    if state == 0 {
        return out;
    }
    for fam in [Fam::V4, Fam::V6] {
        for &s in &addrset_intervals(&m.src, fam) {
            for &d in &addrset_intervals(&m.dst, fam) {
                for &sp in &port_intervals(&m.sport) {
                    for &dp in &port_intervals(&m.dport) {
                        out.push(XCube {
                            c: Cube {
                                fam,
                                src: s,
                                dst: d,
                                proto,
                                sport: sp,
                                dport: dp,
                                tag: 0,
                            },
                            inn: iface(m.in_iface),
                            out: iface(m.out_iface),
                            state,
                        });
                    }
                }
            }
        }
    }
    out
}

/// What the analysis found about one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RuleStatus {
    /// Some packet is decided by this rule, and removing it would change a decision.
    Live,
    /// No packet reaches this rule and matches it. `by`: the earlier rules
    /// (0-based) that together take all its packets; `outside_domain`: none
    /// of its match is ever evaluated (interfaces the filter's hosts do not
    /// have, states a stateful filter lets through before its rules).
    Shadowed {
        by: Vec<usize>,
        outside_domain: bool,
    },
    /// Packets reach it, but without it the later rules (`by`) or the default
    /// policy (`default`) decide them the same way.
    Redundant { by: Vec<usize>, default: bool },
    /// The work budget ran out before an answer.
    Undecided,
}

/// Work budget per rule, in work units: one unit per cube-against-cube
/// test and one per piece a split makes.
pub const RULE_BUDGET: usize = 2_000_000;

/// Work budget per filter (all its rules together), in the same units. Once
/// it is spent, every rule not yet decided is undecided.
pub const FILTER_BUDGET: usize = 40_000_000;

/// How much work the rule analysis may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_rule: usize,
    pub per_filter: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            per_rule: RULE_BUDGET,
            per_filter: FILTER_BUDGET,
        }
    }
}

type Decision = (Action, Option<RejectWith>);

fn decision(a: Action, rw: RejectWith) -> Decision {
    (a, (a == Action::Reject).then_some(rw))
}

/// Work left for the current rule and for its filter.
struct Work {
    rule: usize,
    filter: usize,
}

impl Work {
    /// Spends `n` units; `None` when either budget cannot pay for them.
    fn spend(&mut self, n: usize) -> Option<()> {
        if self.rule < n || self.filter < n {
            return None;
        }
        self.rule -= n;
        self.filter -= n;
        Some(())
    }
}

/// The cubes of `list` (after the first `from`) that meet `c`, in order.
/// Cubes of a list in rule order, given as positions in it (`None`: all of
/// them): a piece's cover is narrowed to the cubes that meet it by their
/// positions, not by copies of the cubes (a hundred bytes each, copied at
/// every level of the depth-first split: a tenth of `audit`'s time).
#[cfg(test)]
#[derive(Clone, Copy)]
struct Cover<'a> {
    list: &'a [(usize, XCube)],
    at: Option<&'a [u32]>,
}

#[cfg(test)]
impl<'a> Cover<'a> {
    fn all(list: &'a [(usize, XCube)]) -> Self {
        Cover { list, at: None }
    }

    fn len(&self) -> usize {
        self.at.map_or(self.list.len(), <[u32]>::len)
    }

    fn get(&self, k: usize) -> &'a (usize, XCube) {
        match self.at {
            None => &self.list[k],
            Some(at) => &self.list[at[k] as usize],
        }
    }

    /// The positions of the cubes after the `k`th that meet `c`, in order.
    fn meeting_after(&self, k: usize, c: &XCube, work: &mut Work) -> Option<Vec<u32>> {
        work.spend(self.len() - k - 1)?;
        let pos = |j: usize| match self.at {
            None => j as u32,
            Some(at) => at[j],
        };
        Some(
            (k + 1..self.len())
                .map(pos)
                .filter(|&p| self.list[p as usize].1.meets(c))
                .collect(),
        )
    }

    fn narrowed(&self, at: &'a [u32]) -> Self {
        Cover {
            list: self.list,
            at: Some(at),
        }
    }
}

/// Whether `c` is covered by the union of `cover` (cubes in rule order);
/// collects the rules whose cubes take packets of `c` first (the rules the
/// cover uses). By [`sweep`].
fn covered(
    c: XCube,
    own: &[(u128, u128)],
    cover: &[(usize, XCube)],
    used: &mut BTreeSet<usize>,
    work: &mut Work,
) -> Option<bool> {
    sweep(
        &c,
        own,
        cover,
        &mut |first| match first {
            None => false,
            Some(p) => {
                used.insert(cover[p as usize].0);
                true
            }
        },
        work,
    )
}

/// [`covered`] the plain way, kept for the tests: depth first, `c` is split
/// against the first cube that meets it and each piece is checked against
/// the cubes after that one.
#[cfg(test)]
fn covered_by_splits(
    c: XCube,
    cover: Cover,
    used: &mut BTreeSet<usize>,
    work: &mut Work,
) -> Option<bool> {
    for k in 0..cover.len() {
        let (ri, e) = cover.get(k);
        work.spend(1)?;
        if !c.meets(e) {
            continue;
        }
        used.insert(*ri);
        if e.contains(&c) {
            return Some(true);
        }
        let pieces = c.subtract(e);
        work.spend(pieces.len())?;
        let rest = cover.meeting_after(k, &c, work)?;
        for p in pieces {
            if !covered_by_splits(p, cover.narrowed(&rest), used, work)? {
                return Some(false);
            }
        }
        return Some(true);
    }
    Some(false)
}

/// What happens to the packets of `c` (all of them decided by rule `i`) once
/// rule `i` is removed: `list` holds the cubes of the earlier rules (which
/// take packets before rule `i` could) and of the later rules, in rule order.
/// Returns `Some(false)` as soon as some packet would be decided differently;
/// otherwise records in `w` the later rules that take packets and whether
/// the default policy takes some. By [`sweep`].
fn decided_alike(
    c: XCube,
    own: &[(u128, u128)],
    list: &[(usize, XCube)],
    w: &mut Without,
    work: &mut Work,
) -> Option<bool> {
    sweep(
        &c,
        own,
        list,
        &mut |first| w.first_is(first.map(|p| list[p as usize].0)),
        work,
    )
}

/// Rule `i` taken out of its filter: its decision, the other rules' and the
/// default, and what [`decided_alike`] found (the later rules that take
/// packets of rule `i`'s, whether the default takes some).
struct Without<'d> {
    i: usize,
    mine: Decision,
    decisions: &'d [Decision],
    default: Decision,
    by: BTreeSet<usize>,
    to_default: bool,
}

impl Without<'_> {
    /// Packets whose first rule is `first` (`None`: no rule, the default)
    /// once rule `i` is gone: whether they are decided as rule `i` did.
    fn first_is(&mut self, first: Option<usize>) -> bool {
        match first {
            None if self.default != self.mine => false,
            None => {
                self.to_default = true;
                true
            }
            // Taken before rule `i` could.
            Some(ri) if ri < self.i => true,
            Some(ri) if self.decisions[ri] != self.mine => false,
            Some(ri) => {
                self.by.insert(ri);
                true
            }
        }
    }
}

/// [`decided_alike`] the plain way, kept for the tests: depth first, as
/// [`covered_by_splits`].
#[cfg(test)]
fn decided_alike_by_splits(
    c: XCube,
    list: Cover,
    w: &mut Without,
    work: &mut Work,
) -> Option<bool> {
    for k in 0..list.len() {
        let (ri, e) = list.get(k);
        work.spend(1)?;
        if !c.meets(e) {
            continue;
        }
        if *ri > w.i && !w.first_is(Some(*ri)) {
            return Some(false);
        }
        if e.contains(&c) {
            return Some(true);
        }
        let pieces = c.subtract(e);
        work.spend(pieces.len())?;
        let rest = list.meeting_after(k, &c, work)?;
        for p in pieces {
            if !decided_alike_by_splits(p, list.narrowed(&rest), w, work)? {
                return Some(false);
            }
        }
        return Some(true);
    }
    Some(w.first_is(None))
}

/// The dimensions an [`XCube`] is cut along by [`sweep`]: two bit sets
/// (conntrack states, protocols), then six ranges (incoming and outgoing
/// interface, source and destination port, destination and source address).
const DIMS: usize = 8;

/// The source address: the last dimension, the one an [`Item`] holds a
/// list of ranges in.
const SRC: usize = 7;

/// A dimension's values of a cube: a bit set (dimensions 0 and 1) or a range.
fn bits_of(x: &XCube, d: usize) -> u8 {
    if d == 0 {
        x.state
    } else {
        x.c.proto
    }
}

fn range_of(x: &XCube, d: usize) -> (u128, u128) {
    let wide = |(lo, hi): (u32, u32)| (u128::from(lo), u128::from(hi));
    let port = |(lo, hi): (u16, u16)| (u128::from(lo), u128::from(hi));
    match d {
        2 => wide(x.inn),
        3 => wide(x.out),
        4 => port(x.c.sport),
        5 => port(x.c.dport),
        6 => x.c.dst,
        _ => x.c.src,
    }
}

/// `x` with dimension `d` narrowed to one piece: a bit (bit sets) or a
/// range within `x`'s (ranges; the narrowing keeps each field's type, as
/// the range lies within the field's own).
fn narrowed_to(x: &XCube, d: usize, piece: (u128, u128)) -> XCube {
    let mut y = *x;
    let (lo, hi) = piece;
    match d {
        0 => y.state = lo as u8,
        1 => y.c.proto = lo as u8,
        2 => y.inn = (lo as u32, hi as u32),
        3 => y.out = (lo as u32, hi as u32),
        4 => y.c.sport = (lo as u16, hi as u16),
        5 => y.c.dport = (lo as u16, hi as u16),
        6 => y.c.dst = (lo, hi),
        _ => y.c.src = (lo, hi),
    }
    y
}

/// One rule's cubes that differ only in their source, as one: a source
/// list, a network's scattered ranges, a negation (as the rule index keeps
/// them). Along the source it holds a list of ranges; along every other
/// dimension it is its cube's.
struct Item {
    /// Its first cube's position in the list (rule order).
    pos: u32,
    /// The cube, its source the hull of `srcs`.
    x: XCube,
    /// Its source ranges, sorted and disjoint.
    srcs: Vec<(u128, u128)>,
}

impl Item {
    /// The cube with `c`'s source: for the other dimensions' questions.
    fn rest(&self, c: &XCube) -> XCube {
        XCube {
            c: Cube {
                src: c.c.src,
                ..self.x.c
            },
            ..self.x
        }
    }

    /// Whether it cuts `c` along dimension `d`: holds some of `c`'s values
    /// there but not all (along the source, of `own`'s in `c`).
    fn cuts(&self, c: &XCube, own: &[(u128, u128)], d: usize) -> bool {
        if d < 2 {
            let mine = bits_of(c, d);
            bits_of(&self.x, d) & mine != mine
        } else if d == SRC {
            !clipped(&self.srcs, c.c.src).eq(clipped(own, c.c.src))
        } else {
            let ((lo, hi), (clo, chi)) = (range_of(&self.x, d), range_of(c, d));
            lo > clo || hi < chi
        }
    }

    /// Its source ranges that meet `range`.
    fn srcs_in(&self, range: (u128, u128)) -> &[(u128, u128)] {
        ranges_in(&self.srcs, range)
    }

    /// Whether it holds every packet of `c` whose source is one of `own`'s.
    fn contains(&self, c: &XCube, own: &[(u128, u128)]) -> bool {
        self.rest(c).contains(c) && clipped(&self.srcs, c.c.src).eq(clipped(own, c.c.src))
    }
}

/// The ranges of `list` (sorted, disjoint) that meet `(lo, hi)`.
fn ranges_in(list: &[(u128, u128)], (lo, hi): (u128, u128)) -> &[(u128, u128)] {
    let from = list.partition_point(|s| s.1 < lo);
    let to = from + list[from..].partition_point(|s| s.0 <= hi);
    &list[from..to]
}

/// The ranges of `list` (sorted, disjoint) within `(lo, hi)`, cut at its ends.
fn clipped(
    list: &[(u128, u128)],
    (lo, hi): (u128, u128),
) -> impl Iterator<Item = (u128, u128)> + '_ {
    ranges_in(list, (lo, hi))
        .iter()
        .map(move |&(a, b)| (a.max(lo), b.min(hi)))
}

/// The cubes of `list` (in rule order) that meet the packets of `c` whose
/// source is one of `own`'s, as items: a rule's cubes alike but for their
/// source together (they come in a row, as [`RuleIndex::meeting`] gives
/// them), each keeping the part of its sources that `own` holds.
fn items_of(
    c: &XCube,
    own: &[(u128, u128)],
    list: &[(usize, XCube)],
    work: &mut Work,
) -> Option<Vec<Item>> {
    work.spend(list.len())?;
    let mut items: Vec<Item> = Vec::new();
    let mut last: Option<(usize, XCube)> = None;
    for (p, &(rule, x)) in list.iter().enumerate() {
        if !x.meets(c) || ranges_in(own, x.c.src).is_empty() {
            continue;
        }
        let key = XCube {
            c: Cube { src: (0, 0), ..x.c },
            ..x
        };
        match items.last_mut() {
            Some(it) if last == Some((rule, key)) => it.srcs.push(x.c.src),
            _ => {
                items.push(Item {
                    pos: p as u32,
                    x,
                    srcs: vec![x.c.src],
                });
                last = Some((rule, key));
            }
        }
    }
    work.spend(items.iter().map(|it| it.srcs.len()).sum())?;
    for it in &mut items {
        it.srcs = interval_and(&normalise(std::mem::take(&mut it.srcs)), own);
    }
    items.retain(|it| !it.srcs.is_empty());
    for it in &mut items {
        it.x.c.src = (it.srcs[0].0, it.srcs[it.srcs.len() - 1].1);
    }
    Some(items)
}

/// The pieces that the items `ids` (each meeting `c`) cut `c` into along
/// dimension `d`, in order: the bits of `c`'s bit set (each as `(bit,
/// bit)`), or the elementary ranges between the items' ends within `c`'s
/// range. One piece, `c`'s own, when every item holds `c` along `d`.
/// Along the source, the pieces with no source of `own` are left out (an
/// item's sources are all `own`'s, so a piece is in `own` or no item
/// holds it).
fn pieces_along(
    c: &XCube,
    own: &[(u128, u128)],
    ids: &[u32],
    items: &[Item],
    d: usize,
) -> Vec<(u128, u128)> {
    if d < 2 {
        let mine = bits_of(c, d);
        let whole = ids
            .iter()
            .all(|&k| bits_of(&items[k as usize].x, d) & mine == mine);
        if whole {
            return vec![(u128::from(mine), u128::from(mine))];
        }
        return (0..8)
            .map(|b| 1u8 << b)
            .filter(|b| mine & b != 0)
            .map(|b| (u128::from(b), u128::from(b)))
            .collect();
    }
    let (lo, hi) = range_of(c, d);
    let mut cuts: Vec<u128> = Vec::new();
    let mut cut_at = |(elo, ehi): (u128, u128)| {
        if elo > lo {
            cuts.push(elo);
        }
        if ehi < hi {
            cuts.push(ehi + 1);
        }
    };
    for &k in ids {
        let it = &items[k as usize];
        if d == SRC {
            it.srcs_in((lo, hi)).iter().for_each(|&r| cut_at(r));
        } else {
            cut_at(range_of(&it.x, d));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = lo;
    for x in cuts {
        out.push((from, x - 1));
        from = x;
    }
    out.push((from, hi));
    if d == SRC && out.len() > 1 {
        out.retain(|&piece| !ranges_in(own, piece).is_empty());
    }
    out
}

/// Whether an item holds a piece of dimension `d` (a piece is elementary:
/// an item that meets it holds it).
fn holds_piece(it: &Item, d: usize, piece: (u128, u128)) -> bool {
    if d < 2 {
        bits_of(&it.x, d) as u128 & piece.0 != 0
    } else if d == SRC {
        !it.srcs_in(piece).is_empty()
    } else {
        let (lo, hi) = range_of(&it.x, d);
        lo <= piece.1 && piece.0 <= hi
    }
}

/// Walks the packets of `c` by the first cube of `list` (in rule order)
/// that holds them. `c` is cut along one dimension at a time, at the ends
/// of the cubes within it, into pieces that each cube holds whole or not at
/// all; pieces held by the same cubes are one question, asked once.
/// Along the last dimension that cubes still cut, the first cube of each
/// piece is found in one sweep. `leaf` is told the first cube (its
/// position in `list`) of every part of `c`, `None` for packets no cube
/// holds; it answers whether to go on. `Some(false)` as soon as it says no;
/// `None` when the budget cannot pay. The answers of a depth-first split of
/// `c` by the cubes in turn (`covered_by_splits` and
/// `decided_alike_by_splits`, kept for the tests), without making the
/// pieces that split makes again and again where cubes cut `c` along
/// several dimensions.
///
/// `c`'s packets are those whose source is one of `own`'s ranges (sorted,
/// disjoint, within `c`'s source): a rule's cubes that differ only in
/// their source, walked as one.
fn sweep(
    c: &XCube,
    own: &[(u128, u128)],
    list: &[(usize, XCube)],
    leaf: &mut impl FnMut(Option<u32>) -> bool,
    work: &mut Work,
) -> Option<bool> {
    let items = items_of(c, own, list, work)?;
    let ids: Vec<u32> = (0..items.len() as u32).collect();
    let mut at = Sweep {
        own,
        items: &items,
        asked: Default::default(),
    };
    at.sweep_in(c, &ids, leaf, work)
}

/// What [`Sweep::sweep_in`] keeps from one question to the next.
struct Sweep<'a> {
    own: &'a [(u128, u128)],
    items: &'a [Item],
    asked: Asked,
}

/// The questions [`Sweep::sweep_in`] answered yes to, by their items. The
/// items are all the answer depends on: `c` is only ever narrowed along a
/// dimension it is cut along, to a piece that every item left holds whole,
/// so along the dimensions the items still cut, `c` is the first `c`'s.
type Asked = std::collections::HashSet<Vec<u32>>;

impl Sweep<'_> {
    /// [`sweep`] of `c` by the items `ids` (ascending, each meeting `c`).
    fn sweep_in(
        &mut self,
        c: &XCube,
        ids: &[u32],
        leaf: &mut impl FnMut(Option<u32>) -> bool,
        work: &mut Work,
    ) -> Option<bool> {
        let (own, items) = (self.own, self.items);
        let Some(&first) = ids.first() else {
            return Some(leaf(None));
        };
        // No packet of `c` gets past the first item that holds all of it.
        work.spend(ids.len())?;
        let ids = match ids.iter().position(|&k| items[k as usize].contains(c, own)) {
            Some(k) => &ids[..=k],
            None => ids,
        };
        // The same items (met again from another piece of a dimension cut
        // before) tell `leaf` the same again: asked once.
        if self.asked.contains(ids) {
            return Some(true);
        }
        let question = ids.to_vec();
        // The dimensions the items cut `c` along, with how many times.
        work.spend(DIMS * ids.len())?;
        let mut cut: Vec<(usize, usize)> = Vec::new();
        for d in 0..DIMS {
            // How many ends the items cut it at, about: an item cuts the
            // source at its every range's ends.
            let n: usize = ids
                .iter()
                .map(|&k| &items[k as usize])
                .filter(|it| it.cuts(c, own, d))
                .map(|it| {
                    if d == SRC {
                        it.srcs_in(c.c.src).len()
                    } else {
                        1
                    }
                })
                .sum();
            if n > 0 {
                cut.push((d, n));
            }
        }
        if cut.is_empty() {
            // Every item holds all of `c`: the first takes it.
            return Some(leaf(Some(items[first as usize].pos)));
        }
        // The dimension cut least first: the one cut most is left for the
        // sweep.
        let (d, _) = *cut.iter().min_by_key(|&&(_, n)| n).expect("a dimension");
        let pieces = pieces_along(c, own, ids, items, d);
        work.spend(ids.len() + pieces.len())?;
        let answer = if cut.len() == 1 {
            last_dimension(c, d, &pieces, ids, items, leaf, work)?
        } else {
            let held = held_by_piece(c, d, &pieces, ids, items, work)?;
            let mut all = true;
            for (&piece, held) in pieces.iter().zip(&held) {
                if !self.sweep_in(&narrowed_to(c, d, piece), held, leaf, work)? {
                    all = false;
                    break;
                }
            }
            all
        };
        if answer {
            self.asked.insert(question);
        }
        Some(answer)
    }
}

/// For each piece of `c` along `d` (in order, as [`pieces_along`] makes
/// them), the items of `ids` that hold it, ascending. Each item is put in
/// the run of pieces its ranges hold: the work is the answer's size, not
/// the pieces times the items.
fn held_by_piece(
    c: &XCube,
    d: usize,
    pieces: &[(u128, u128)],
    ids: &[u32],
    items: &[Item],
    work: &mut Work,
) -> Option<Vec<Vec<u32>>> {
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); pieces.len()];
    work.spend(pieces.len() + ids.len())?;
    for &k in ids {
        let it = &items[k as usize];
        if d < 2 {
            work.spend(pieces.len())?;
            for (j, &piece) in pieces.iter().enumerate() {
                if holds_piece(it, d, piece) {
                    held[j].push(k);
                }
            }
            continue;
        }
        let mut put = |(lo, hi): (u128, u128), work: &mut Work| -> Option<()> {
            // The pieces from the one holding `lo` (or the first after it)
            // to the one holding `hi`.
            let from = pieces.partition_point(|p| p.1 < lo);
            let to = pieces.partition_point(|p| p.0 <= hi);
            work.spend(to.saturating_sub(from) + 1)?;
            for h in &mut held[from..to.max(from)] {
                h.push(k);
            }
            Some(())
        };
        if d == SRC {
            for &r in it.srcs_in(c.c.src) {
                put(r, work)?;
            }
        } else {
            put(range_of(&it.x, d), work)?;
        }
    }
    Some(held)
}

/// [`sweep_in`] along its last dimension: the first item of each piece, in
/// one pass over the pieces in order with the items that hold them.
fn last_dimension(
    c: &XCube,
    d: usize,
    pieces: &[(u128, u128)],
    ids: &[u32],
    items: &[Item],
    leaf: &mut impl FnMut(Option<u32>) -> bool,
    work: &mut Work,
) -> Option<bool> {
    // Pieces in a row with the same first item are told once.
    let mut told: Option<Option<u32>> = None;
    let mut tell = |first: Option<u32>| {
        if told == Some(first) {
            return true;
        }
        told = Some(first);
        leaf(first.map(|k| items[k as usize].pos))
    };
    if d < 2 {
        work.spend(pieces.len() * ids.len())?;
        for &piece in pieces {
            let first = ids
                .iter()
                .copied()
                .find(|&k| holds_piece(&items[k as usize], d, piece));
            if !tell(first) {
                return Some(false);
            }
        }
        return Some(true);
    }
    // The items' ranges by where they start; those begun and not yet
    // ended, by item (the first item is the smallest number).
    let mut by_start: Vec<(u128, u128, u32)> = Vec::new();
    for &k in ids {
        let it = &items[k as usize];
        if d == SRC {
            by_start.extend(it.srcs_in(c.c.src).iter().map(|&(lo, hi)| (lo, hi, k)));
        } else {
            let (lo, hi) = range_of(&it.x, d);
            by_start.push((lo, hi, k));
        }
    }
    work.spend(pieces.len() + by_start.len())?;
    by_start.sort_unstable();
    let mut open: std::collections::BinaryHeap<std::cmp::Reverse<(u32, u128)>> =
        std::collections::BinaryHeap::new();
    let mut next = 0;
    for &(lo, _) in pieces {
        while next < by_start.len() && by_start[next].0 <= lo {
            let (_, hi, k) = by_start[next];
            open.push(std::cmp::Reverse((k, hi)));
            next += 1;
        }
        while open
            .peek()
            .is_some_and(|std::cmp::Reverse((_, hi))| *hi < lo)
        {
            open.pop();
        }
        let first = open.peek().map(|std::cmp::Reverse((k, _))| *k);
        if !tell(first) {
            return Some(false);
        }
    }
    Some(true)
}

/// The lowest set bit of a non-empty bit set.
fn low_bit(b: u8) -> u8 {
    b & b.wrapping_neg()
}

/// The packet at the low corner of a cube (a cube of one packet).
fn low_corner(c: &XCube) -> XCube {
    XCube {
        c: Cube {
            fam: c.c.fam,
            src: (c.c.src.0, c.c.src.0),
            dst: (c.c.dst.0, c.c.dst.0),
            proto: low_bit(c.c.proto),
            sport: (c.c.sport.0, c.c.sport.0),
            dport: (c.c.dport.0, c.c.dport.0),
            tag: 0,
        },
        inn: (c.inn.0, c.inn.0),
        out: (c.out.0, c.out.0),
        state: low_bit(c.state),
    }
}

/// Moves the packet `p` of `c` out of `e` (which holds it), staying in `c`:
/// to a state or protocol `e` lacks, or just past `e`'s end in some field.
/// `false` when `e` holds all of `c`.
fn step_out(p: &mut XCube, c: &XCube, e: &XCube) -> bool {
    let st = c.state & !e.state;
    if st != 0 {
        p.state = low_bit(st);
        return true;
    }
    let pr = c.c.proto & !e.c.proto;
    if pr != 0 {
        p.c.proto = low_bit(pr);
        return true;
    }
    if e.c.dport.1 < c.c.dport.1 {
        let x = e.c.dport.1 + 1;
        p.c.dport = (x, x);
        return true;
    }
    if e.c.sport.1 < c.c.sport.1 {
        let x = e.c.sport.1 + 1;
        p.c.sport = (x, x);
        return true;
    }
    if e.c.src.1 < c.c.src.1 {
        let x = e.c.src.1 + 1;
        p.c.src = (x, x);
        return true;
    }
    if e.c.dst.1 < c.c.dst.1 {
        let x = e.c.dst.1 + 1;
        p.c.dst = (x, x);
        return true;
    }
    if e.inn.1 < c.inn.1 {
        p.inn = (e.inn.1 + 1, e.inn.1 + 1);
        return true;
    }
    if e.out.1 < c.out.1 {
        p.out = (e.out.1 + 1, e.out.1 + 1);
        return true;
    }
    // Below `e`: back to the start of `c` in the first field where `e` starts later.
    if e.c.dport.0 > c.c.dport.0 {
        p.c.dport = (c.c.dport.0, c.c.dport.0);
        return true;
    }
    if e.c.sport.0 > c.c.sport.0 {
        p.c.sport = (c.c.sport.0, c.c.sport.0);
        return true;
    }
    if e.c.src.0 > c.c.src.0 {
        p.c.src = (c.c.src.0, c.c.src.0);
        return true;
    }
    if e.c.dst.0 > c.c.dst.0 {
        p.c.dst = (c.c.dst.0, c.c.dst.0);
        return true;
    }
    if e.inn.0 > c.inn.0 {
        p.inn = (c.inn.0, c.inn.0);
        return true;
    }
    if e.out.0 > c.out.0 {
        p.out = (c.out.0, c.out.0);
        return true;
    }
    false
}

/// A rule's cubes the witness search tries, at most (a rule from a network
/// of hundreds of ranges has a cube per range; the sweep takes them as one).
const WITNESS_CUBES: usize = 8;

/// Steps of the witness search per cube before the exact search takes over.
const WITNESS_STEPS: usize = 24;

/// A packet of `c` that no cube of `earlier` holds, if a short greedy walk
/// finds one (a packet the rule decides: proof that it is not shadowed).
fn witness(c: &XCube, earlier: &[(usize, XCube)], work: &mut Work) -> Option<Option<XCube>> {
    let mut p = low_corner(c);
    for _ in 0..WITNESS_STEPS {
        work.spend(earlier.len())?;
        match earlier.iter().find(|(_, e)| e.contains(&p)) {
            None => return Some(Some(p)),
            Some((_, e)) => {
                if !step_out(&mut p, c, e) {
                    return Some(None);
                }
            }
        }
    }
    Some(None)
}

/// The match cubes of every rule of a filter, indexed by destination.
///
/// Per address family, a centred interval tree over the destination
/// addresses that rule boundaries cut the space into: a cube is stored once,
/// at the highest node whose centre its destination interval holds, in two
/// orders (by start, and by end from the last). A query reads, at each node
/// on its way, exactly the cubes whose destination meets the query's.
struct RuleIndex {
    /// (rule, cube) in rule order; an entry's id is its position.
    entries: Vec<(usize, XCube)>,
    /// Per entry, its cubes' sources (the entry's cube holds their hull).
    srcs: Vec<Vec<(u128, u128)>>,
    trees: [DstTree; 2],
}

#[derive(Default)]
struct DstNode {
    /// The centre: every cube stored here holds this address.
    centre: u128,
    /// (start, id) by start; (end, id) by end, last first.
    by_lo: Vec<(u128, u32)>,
    by_hi: Vec<(u128, u32)>,
}

struct DstTree {
    /// Sorted starts of the elementary intervals.
    starts: Vec<u128>,
    /// Heap numbering, root 1; node `v` over elementary intervals `[l, r)`
    /// has its centre at `starts[(l + r) / 2]`.
    nodes: Vec<DstNode>,
}

impl DstTree {
    fn build(entries: &[(usize, XCube)], fam: Fam) -> DstTree {
        let mut starts = vec![0u128];
        for (_, e) in entries.iter().filter(|(_, e)| e.c.fam == fam) {
            starts.push(e.c.dst.0);
            if e.c.dst.1 < fam.max() {
                starts.push(e.c.dst.1 + 1);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut nodes: Vec<DstNode> = Vec::new();
        nodes.resize_with(4 * starts.len(), DstNode::default);
        let mut t = DstTree { starts, nodes };
        for (id, (_, e)) in entries.iter().enumerate() {
            if e.c.fam != fam {
                continue;
            }
            let (a, b) = (t.slot(e.c.dst.0), t.slot(e.c.dst.1));
            let (mut v, mut l, mut r) = (1usize, 0usize, t.starts.len());
            while r - l > 1 {
                let mid = (l + r) / 2;
                if b < mid {
                    (v, r) = (2 * v, mid);
                } else if a >= mid {
                    (v, l) = (2 * v + 1, mid);
                } else {
                    break;
                }
            }
            let n = &mut t.nodes[v];
            n.by_lo.push((e.c.dst.0, id as u32));
            n.by_hi.push((e.c.dst.1, id as u32));
        }
        let mut stack = vec![(1usize, 0usize, t.starts.len())];
        while let Some((v, l, r)) = stack.pop() {
            let n = &mut t.nodes[v];
            n.centre = t.starts[(l + r) / 2];
            n.by_lo.sort_unstable();
            n.by_hi.sort_unstable_by(|x, y| y.cmp(x));
            if r - l > 1 {
                let mid = (l + r) / 2;
                stack.push((2 * v, l, mid));
                stack.push((2 * v + 1, mid, r));
            }
        }
        t
    }

    fn slot(&self, x: u128) -> usize {
        self.starts.partition_point(|s| *s <= x) - 1
    }

    /// Ids of the entries whose destination meets `[lo, hi]`.
    fn query(&self, lo: u128, hi: u128, out: &mut Vec<u32>) {
        let (a, b) = (self.slot(lo), self.slot(hi));
        let mut stack = vec![(1usize, 0usize, self.starts.len())];
        while let Some((v, l, r)) = stack.pop() {
            let n = &self.nodes[v];
            if hi < n.centre {
                out.extend(
                    n.by_lo
                        .iter()
                        .take_while(|(x, _)| *x <= hi)
                        .map(|(_, id)| *id),
                );
            } else if lo > n.centre {
                out.extend(
                    n.by_hi
                        .iter()
                        .take_while(|(x, _)| *x >= lo)
                        .map(|(_, id)| *id),
                );
            } else {
                out.extend(n.by_lo.iter().map(|(_, id)| *id));
            }
            if r - l <= 1 {
                continue;
            }
            let mid = (l + r) / 2;
            if a < mid {
                stack.push((2 * v, l, mid));
            }
            if b >= mid {
                stack.push((2 * v + 1, mid, r));
            }
        }
    }
}

/// What the cubes of one index entry share: all but the source.
type GroupKey = (
    Fam,
    (u128, u128),
    u8,
    (u16, u16),
    (u16, u16),
    (u32, u32),
    (u32, u32),
    u8,
);

impl RuleIndex {
    fn new(raw: &[Vec<XCube>]) -> RuleIndex {
        // Cubes of one rule that differ only in their source (a source list, a
        // catch-all network, a negation) form one entry.
        let mut entries = Vec::new();
        let mut srcs = Vec::new();
        for (k, cs) in raw.iter().enumerate() {
            let mut groups: BTreeMap<GroupKey, Vec<(u128, u128)>> = BTreeMap::new();
            for c in cs {
                let key = (
                    c.c.fam, c.c.dst, c.c.proto, c.c.sport, c.c.dport, c.inn, c.out, c.state,
                );
                groups.entry(key).or_default().push(c.c.src);
            }
            for ((fam, dst, proto, sport, dport, inn, out, state), mut s) in groups {
                s.sort_unstable();
                let hull = (s[0].0, s.iter().map(|x| x.1).max().unwrap_or(s[0].1));
                entries.push((
                    k,
                    XCube {
                        c: Cube {
                            fam,
                            src: hull,
                            dst,
                            proto,
                            sport,
                            dport,
                            tag: 0,
                        },
                        inn,
                        out,
                        state,
                    },
                ));
                srcs.push(s);
            }
        }
        let trees = [
            DstTree::build(&entries, Fam::V4),
            DstTree::build(&entries, Fam::V6),
        ];
        RuleIndex {
            entries,
            srcs,
            trees,
        }
    }

    /// The cubes of rules other than `skip` that meet `c`, in rule order.
    fn meeting(&self, c: &XCube, skip: usize, work: &mut Work) -> Option<Vec<(usize, XCube)>> {
        let mut ids = Vec::new();
        self.trees[usize::from(c.c.fam == Fam::V6)].query(c.c.dst.0, c.c.dst.1, &mut ids);
        work.spend(ids.len())?;
        ids.retain(|&id| {
            let (k, e) = &self.entries[id as usize];
            *k != skip && e.meets(c)
        });
        ids.sort_unstable();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let (k, e) = self.entries[id as usize];
            let s = &self.srcs[id as usize];
            // The group's sources are disjoint and sorted: those that meet `c`'s are a run.
            let from = s.partition_point(|x| x.1 < c.c.src.0);
            for &src in s[from..].iter().take_while(|x| x.0 <= c.c.src.1) {
                out.push((
                    k,
                    XCube {
                        c: Cube { src, ..e.c },
                        ..e
                    },
                ));
            }
        }
        work.spend(out.len())?;
        Some(out)
    }
}

/// An (incoming, outgoing) interface box of a domain.
type Context = ((u32, u32), (u32, u32));

/// Interface values renumbered so that the networks where the filter is
/// evaluated come first (1, 2, …; 0 stays "no interface"), and the domain's
/// contexts in the new numbers, merged. A rule names one interface or any, so
/// renumbering changes no answer; it turns a router's scattered networks into
/// one range, and its forward domain into one box instead of one per pair of
/// ranges.
fn compact_interfaces(dom: &Domain) -> (Vec<u32>, Vec<Context>) {
    let max = dom.max_iface as usize;
    let mut inside = vec![false; max + 1];
    for &(i, o) in &dom.contexts {
        for r in [i, o] {
            for v in r.0.max(1)..=r.1.min(dom.max_iface) {
                inside[v as usize] = true;
            }
        }
    }
    let mut label = vec![0u32; max + 1];
    let mut next = 1;
    for pass in [true, false] {
        for v in 1..=max {
            if inside[v] == pass {
                label[v] = next;
                next += 1;
            }
        }
    }
    let ranges = |r: (u32, u32)| -> Vec<(u32, u32)> {
        let vals: Vec<u128> = (r.0..=r.1.min(dom.max_iface))
            .map(|v| label[v as usize] as u128)
            .collect();
        normalise(vals.into_iter().map(|v| (v, v)).collect())
            .into_iter()
            .map(|(a, b)| (a as u32, b as u32))
            .collect()
    };
    // Per incoming interface (new number), the outgoing ones, as ranges;
    // then runs of incoming interfaces with the same outgoing ranges.
    let mut rows: Vec<Vec<(u128, u128)>> = vec![Vec::new(); max + 1];
    for &(i, o) in &dom.contexts {
        let outs = ranges(o);
        for a in ranges(i) {
            for v in a.0..=a.1 {
                rows[v as usize].extend(outs.iter().map(|&(x, y)| (x as u128, y as u128)));
            }
        }
    }
    let rows: Vec<Vec<(u128, u128)>> = rows.into_iter().map(normalise).collect();
    let mut ctx: Vec<Context> = Vec::new();
    let mut v = 0;
    while v <= max {
        let mut w = v;
        while w < max && rows[w + 1] == rows[v] {
            w += 1;
        }
        for &(x, y) in &rows[v] {
            ctx.push(((v as u32, w as u32), (x as u32, y as u32)));
        }
        v = w + 1;
    }
    (label, ctx)
}

/// Classifies every rule of a filter (see [`analyse_filter_with`]), with a
/// per-rule budget and no cap on the filter as a whole.
pub fn analyse_filter(filter: &Filter, dom: &Domain, budget_per_rule: usize) -> Vec<RuleStatus> {
    analyse_filter_with(
        filter,
        dom,
        Budget {
            per_rule: budget_per_rule,
            per_filter: usize::MAX,
        },
    )
}

/// Classifies every rule of a filter: live, shadowed (with the rules that
/// hide it), redundant (with the rules that decide the same without it), or
/// undecided when the work budget runs out. Exact over the cube algebra.
///
/// Rules are indexed by destination, so a rule is only compared with the
/// rules whose match meets its own. A short greedy search for a packet the
/// rule decides settles most rules (not shadowed, and live when that packet
/// would be decided differently without the rule); the rest go through the
/// exact depth-first searches, within the budget.
pub fn analyse_filter_with(filter: &Filter, dom: &Domain, budget: Budget) -> Vec<RuleStatus> {
    let p = Prepared::new(filter, dom);
    // Every rule classified on every core with its own budget and none for
    // the filter, counting what it spent; then, in rule order, the filter's
    // budget pays for each. A rule that spent no more than what was left
    // ran exactly as it would have with the filter's budget (every spend
    // was paid); one that spent more is classified again with what is
    // left, as one rule after another would have done.
    let ids: Vec<usize> = (0..p.raw.len()).collect();
    let alone = super::symbolic::par_map(&ids, |&i| {
        let eff = p.effective(i);
        if eff.is_empty() {
            return None;
        }
        let mut work = Work {
            rule: budget.per_rule,
            filter: usize::MAX,
        };
        let status = p.classify(i, &eff, &mut work);
        Some((status, usize::MAX - work.filter))
    });
    let mut filter_left = budget.per_filter;
    let mut out = Vec::with_capacity(filter.rules.len());
    for (i, run) in alone.into_iter().enumerate() {
        let Some((status, spent)) = run else {
            out.push(RuleStatus::Shadowed {
                by: Vec::new(),
                outside_domain: true,
            });
            continue;
        };
        let status = if spent <= filter_left {
            filter_left -= spent;
            status
        } else {
            let mut work = Work {
                rule: budget.per_rule,
                filter: filter_left,
            };
            let status = p.classify(i, &p.effective(i), &mut work);
            filter_left = work.filter;
            status
        };
        out.push(status.unwrap_or(RuleStatus::Undecided));
    }
    out
}

/// [`analyse_filter_with`] one rule after another, each paid from what the
/// rules before it left of the filter's budget: the plain way, which the
/// parallel one must equal exactly (kept for the tests).
#[doc(hidden)]
pub fn analyse_filter_in_order(filter: &Filter, dom: &Domain, budget: Budget) -> Vec<RuleStatus> {
    let p = Prepared::new(filter, dom);
    let mut filter_left = budget.per_filter;
    let mut out = Vec::with_capacity(filter.rules.len());
    for i in 0..p.raw.len() {
        let eff = p.effective(i);
        if eff.is_empty() {
            out.push(RuleStatus::Shadowed {
                by: Vec::new(),
                outside_domain: true,
            });
            continue;
        }
        let mut work = Work {
            rule: budget.per_rule,
            filter: filter_left,
        };
        let status = p
            .classify(i, &eff, &mut work)
            .unwrap_or(RuleStatus::Undecided);
        filter_left = work.filter;
        out.push(status);
    }
    out
}

/// A filter made ready for classifying its rules: the contexts it is
/// reached in, each rule's cubes, the index of them, the decisions.
struct Prepared {
    ctx: Vec<XCube>,
    raw: Vec<Vec<XCube>>,
    index: RuleIndex,
    decisions: Vec<Decision>,
    default: Decision,
}

impl Prepared {
    fn new(filter: &Filter, dom: &Domain) -> Prepared {
        let (label, contexts) = compact_interfaces(dom);
        let relabel = |r: (u32, u32)| {
            if r.0 == r.1 {
                (label[r.0 as usize], label[r.0 as usize])
            } else {
                r
            }
        };
        let ctx: Vec<XCube> = contexts
            .iter()
            .flat_map(|&(inn, out)| {
                [Fam::V4, Fam::V6].map(|fam| XCube {
                    c: Cube::full(fam),
                    inn,
                    out,
                    state: dom.states,
                })
            })
            .collect();
        let raw: Vec<Vec<XCube>> = filter
            .rules
            .iter()
            .map(|r| {
                match_xcubes(&r.matches, dom.max_iface)
                    .into_iter()
                    .map(|c| XCube {
                        inn: relabel(c.inn),
                        out: relabel(c.out),
                        ..c
                    })
                    .collect()
            })
            .collect();
        let index = RuleIndex::new(&raw);
        let decisions: Vec<Decision> = filter
            .rules
            .iter()
            .map(|r| decision(r.action, r.reject_with))
            .collect();
        let default = decision(filter.default, RejectWith::default());
        Prepared {
            ctx,
            raw,
            index,
            decisions,
            default,
        }
    }

    /// Rule `i`'s cubes in the contexts the filter is reached in.
    fn effective(&self, i: usize) -> Vec<XCube> {
        self.raw[i]
            .iter()
            .flat_map(|c| self.ctx.iter().filter_map(move |x| c.intersect(x)))
            .collect()
    }

    fn classify(&self, i: usize, eff: &[XCube], work: &mut Work) -> Option<RuleStatus> {
        classify(i, eff, &self.index, &self.decisions, self.default, work)
    }
}

/// The other rules' cubes that meet one cube of a rule, in rule order, and
/// where the later rules' cubes begin.
type Meeting = (Vec<(usize, XCube)>, usize);

/// One rule's status; `None` when the budget runs out.
fn classify(
    i: usize,
    eff: &[XCube],
    index: &RuleIndex,
    decisions: &[Decision],
    default: Decision,
    work: &mut Work,
) -> Option<RuleStatus> {
    // For each of this rule's cubes, the other rules' cubes that meet it, in
    // rule order (the earlier rules' first), computed when first needed.
    let mut lists: Vec<Option<Meeting>> = vec![None; eff.len()];
    fn list<'a>(
        lists: &'a mut [Option<Meeting>],
        m: usize,
        c: &XCube,
        i: usize,
        index: &RuleIndex,
        work: &mut Work,
    ) -> Option<(&'a [(usize, XCube)], usize)> {
        if lists[m].is_none() {
            let l = index.meeting(c, i, work)?;
            let split = l.partition_point(|(k, _)| *k < i);
            lists[m] = Some((l, split));
        }
        lists[m].as_ref().map(|(l, s)| (l.as_slice(), *s))
    }
    let mine = decisions[i];
    // A packet of the rule that no earlier rule takes proves that it is not
    // shadowed; if the next rule that matches it (or the default) decides
    // it differently, the rule is live.
    let mut witnessed = false;
    for (m, c) in eff.iter().enumerate().take(WITNESS_CUBES) {
        let (l, split) = list(&mut lists, m, c, i, index, work)?;
        if let Some(p) = witness(c, &l[..split], work)? {
            witnessed = true;
            let later = &l[split..];
            work.spend(later.len())?;
            let next = later
                .iter()
                .find(|(_, e)| e.contains(&p))
                .map_or(default, |(k, _)| decisions[*k]);
            if next != mine {
                return Some(RuleStatus::Live);
            }
            break;
        }
    }
    // The rule's cubes alike but for their source, each as one cube over
    // its sources' hull with the list of them, and the other rules' cubes
    // that meet the hull.
    // (A cube alone keeps the list made for it above.)
    let mut alike: BTreeMap<AlikeKey, (usize, Vec<(u128, u128)>)> = BTreeMap::new();
    for (m, c) in eff.iter().enumerate() {
        alike
            .entry(AlikeKey::of(c))
            .or_insert((m, Vec::new()))
            .1
            .push(c.c.src);
    }
    for (m, own) in alike.values() {
        if own.len() == 1 {
            list(&mut lists, *m, &eff[*m], i, index, work)?;
        }
    }
    let mut groups = Vec::with_capacity(alike.len());
    for (_, (m, own)) in alike {
        let c = &eff[m];
        if let (1, Some((l, split))) = (own.len(), &lists[m]) {
            groups.push((*c, own, Cow::Borrowed(l.as_slice()), *split));
            continue;
        }
        let own = normalise(own);
        let hull = XCube {
            c: Cube {
                src: (own[0].0, own[own.len() - 1].1),
                ..c.c
            },
            ..*c
        };
        let l = index.meeting(&hull, i, work)?;
        let split = l.partition_point(|(k, _)| *k < i);
        groups.push((hull, own, Cow::Owned(l), split));
    }
    if !witnessed {
        let mut used = BTreeSet::new();
        let mut shadowed = true;
        for (c, own, l, split) in &groups {
            if !covered(*c, own, &l[..*split], &mut used, work)? {
                shadowed = false;
                break;
            }
        }
        if shadowed {
            return Some(RuleStatus::Shadowed {
                by: used.into_iter().collect(),
                outside_domain: false,
            });
        }
    }
    let mut w = Without {
        i,
        mine,
        decisions,
        default,
        by: BTreeSet::new(),
        to_default: false,
    };
    for (c, own, l, _) in &groups {
        if !decided_alike(*c, own, l, &mut w, work)? {
            return Some(RuleStatus::Live);
        }
    }
    Some(RuleStatus::Redundant {
        by: w.by.into_iter().collect(),
        default: w.to_default,
    })
}

/// A rule's cube but for its source: what its cubes alike but for their
/// source share (in an order, to group them the same way every time).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct AlikeKey {
    inn: (u32, u32),
    out: (u32, u32),
    state: u8,
    v6: bool,
    dst: (u128, u128),
    proto: u8,
    sport: (u16, u16),
    dport: (u16, u16),
}

impl AlikeKey {
    fn of(c: &XCube) -> AlikeKey {
        AlikeKey {
            inn: c.inn,
            out: c.out,
            state: c.state,
            v6: c.c.fam == Fam::V6,
            dst: c.c.dst,
            proto: c.c.proto,
            sport: c.c.sport,
            dport: c.c.dport,
        }
    }
}

/// Whether `port` is a port services listen on: a well-known port (below
/// 1024) or one of the admin, database and common web ports above it.
pub fn is_service_port(port: u16) -> bool {
    port < 1024
        || ADMIN_PORTS.iter().chain(DB_PORTS).any(|&(p, _)| p == port)
        || [8000, 8008, 8080, 8443, 8888].contains(&port)
}

/// Allow rules that admit new connections, limit the source port to
/// service ports only, and leave the destination port open. A sender picks
/// its own source port, so such a rule lets anyone who sends from port 443
/// reach every port it covers. In a stateful filter that is almost always a
/// rule meant as `to X port N` (replies already pass on conntrack); in a
/// stateless filter it is the usual reply rule, with that hole in it.
fn source_port_findings(scn: &Scenario, out: &mut Vec<Finding>) {
    for f in &scn.filters {
        for (i, rule) in f.rules.iter().enumerate() {
            let m = &rule.matches;
            let admits_new = m.state.as_ref().is_none_or(|s| s.new);
            let service_only = !m.sport.is_any()
                && m.sport
                    .0
                    .iter()
                    .all(|&(lo, hi)| (lo..=hi).all(is_service_port));
            if rule.action != Action::Allow
                || !admits_new
                || !service_only
                || !m.dport.is_any()
                || m.proto == Some(Proto::Icmp)
            {
                continue;
            }
            let ports = m.sport.text();
            let (severity, detail, fix) = if f.stateful {
                (
                    Severity::Medium,
                    format!(
                        "The rule limits the source port to {ports} and lets the destination port be anything. A sender chooses its own source port, so any host the rule's sources cover reaches every port it names by sending from source port {ports}; and {} is stateful, so replies to its connections already pass without this rule. It was almost certainly meant as a destination port.",
                        f.name
                    ),
                    format!(
                        "write the port after the destination (`... to DEST port {ports}`), or add a destination port"
                    ),
                )
            } else {
                (
                    Severity::Low,
                    format!(
                        "The rule admits packets from source port {ports} to any destination port: the usual way a stateless filter lets replies back, but a sender chooses its own source port, so it also lets in new connections to every port from anyone who sends from source port {ports}."
                    ),
                    "limit the destination ports to the clients' ephemeral range (for example `port 32768-60999`), or make the filter stateful so that replies pass on conntrack".to_string(),
                )
            };
            out.push(Finding {
                kind: FindingKind::SourcePortRule,
                severity,
                title: format!(
                    "{} rule {} `{}` limits the source port, not the destination port",
                    f.name,
                    i + 1,
                    rule.text
                ),
                detail,
                involves: vec![format!("{} rule {} ({})", f.name, i + 1, rule.text)].into(),
                proof: None,
                ipv4_decider: None,
                fix,
                location: Location {
                    line: rule.origin.line,
                    column: rule.origin.column,
                    what: format!("{} rule {}", f.name, i + 1),
                },
                targets: Vec::new(),
                pairs: 0,
            });
        }
    }
}

/// Shadowed and redundant rules of every filter of the scenario, as findings.
pub fn rule_findings(scn: &Scenario, out: &mut Vec<Finding>) -> RuleStats {
    let mut stats = RuleStats::default();
    // Each filter analysed on every core; the findings in filter order.
    let ids: Vec<usize> = (0..scn.filters.len()).collect();
    let analysed = super::symbolic::par_map(&ids, |&fi| {
        let dom = filter_domain(scn, FilterId(fi as u32));
        (!dom.contexts.is_empty())
            .then(|| analyse_filter_with(&scn.filters[fi], &dom, Budget::default()))
    });
    for (f, statuses) in scn.filters.iter().zip(analysed) {
        let Some(statuses) = statuses else {
            continue;
        };
        stats.filters += 1;
        stats.rules += f.rules.len();
        let rule_name = |k: usize| format!("{} rule {} ({})", f.name, k + 1, f.rules[k].text);
        for (i, st) in statuses.iter().enumerate() {
            let rule = &f.rules[i];
            let location = Location {
                line: rule.origin.line,
                column: rule.origin.column,
                what: format!("{} rule {}", f.name, i + 1),
            };
            match st {
                RuleStatus::Live => {}
                RuleStatus::Undecided => stats.undecided += 1,
                RuleStatus::Shadowed { by, outside_domain } => {
                    stats.shadowed += 1;
                    let mut involves: Vec<String> = by.iter().map(|k| rule_name(*k)).collect();
                    let mut why = Vec::new();
                    if !by.is_empty() {
                        why.push(format!(
                            "earlier rules take all its packets: {}",
                            super::name_list(
                                by.iter()
                                    .map(|k| format!("rule {}", k + 1))
                                    .collect::<Vec<_>>()
                                    .iter()
                                    .map(String::as_str)
                            )
                        ));
                    }
                    if *outside_domain {
                        let reason = if f.stateful {
                            "what it matches never reaches the rules (an interface the filter's hosts do not have, or established/related packets the stateful filter lets through first)"
                        } else {
                            "what it matches never reaches the rules (an interface the filter's hosts do not have)"
                        };
                        why.push(reason.to_string());
                        involves.push(format!("{} (where it is attached)", f.name));
                    }
                    let differs = by.iter().any(|k| decisions_differ(&f.rules[*k], rule));
                    out.push(Finding {
                        kind: FindingKind::ShadowedRule,
                        severity: if differs { Severity::Medium } else { Severity::Low },
                        title: format!("{} rule {} `{}` never matches", f.name, i + 1, rule.text),
                        detail: format!(
                            "No packet can reach this rule and match it: {}.{}",
                            why.join("; "),
                            if differs { " The hiding rules decide differently, so the intent of this rule is not what happens." } else { "" }
                        ),
                        involves: involves.into(),
                        proof: None,
                        ipv4_decider: None,
                        fix: if by.is_empty() {
                            format!("delete rule {} of {}, or correct its interface/state condition", i + 1, f.name)
                        } else {
                            format!("delete rule {} of {}, or move it above rule {} if its decision is the one wanted", i + 1, f.name, by[0] + 1)
                        },
                        location,
                        targets: Vec::new(),
                        pairs: 0,
                    });
                }
                RuleStatus::Redundant { by, default } => {
                    stats.redundant += 1;
                    let mut involves: Vec<String> = by.iter().map(|k| rule_name(*k)).collect();
                    if *default {
                        involves.push(format!("{} default {}", f.name, f.default.name()));
                    }
                    out.push(Finding {
                        kind: FindingKind::RedundantRule,
                        severity: Severity::Info,
                        title: format!("{} rule {} `{}` is redundant", f.name, i + 1, rule.text),
                        detail: format!("Every packet it decides would be decided the same way ({}) without it, by {}.", rule.action.name(), super::name_list(involves.iter().map(String::as_str))),
                        involves: involves.into(),
                        proof: None,
                        ipv4_decider: None,
                        fix: format!("delete rule {} of {} (no decision changes)", i + 1, f.name),
                        location,
                        targets: Vec::new(),
                        pairs: 0,
                    });
                }
            }
        }
    }
    stats
}

fn decisions_differ(a: &Rule, b: &Rule) -> bool {
    decision(a.action, a.reject_with) != decision(b.action, b.reject_with)
}

// ---------------------------------------------------------------------------
// Renderings
// ---------------------------------------------------------------------------

fn example_text(e: &Example) -> String {
    super::diff::example_line(e)
}

/// Findings written as one entry in the text: the same kind, severity,
/// explanation, fix, rules and IPv4 decider, each proved by a journey; they
/// differ in their source and target (and so in title, location and example,
/// of which the entry shows the first's). JSON and SARIF list each.
fn alike_entries(a: &Audit) -> Vec<Vec<usize>> {
    type Key<'a> = (
        FindingKind,
        Severity,
        &'a str,
        &'a str,
        &'a [String],
        Option<String>,
    );
    let mut entries: Vec<Vec<usize>> = Vec::new();
    let mut entry_of: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for (i, f) in a.findings.iter().enumerate() {
        let Some(p) = &f.proof else {
            entries.push(vec![i]);
            continue;
        };
        let key = (
            f.kind,
            f.severity,
            f.detail.as_str(),
            f.fix.as_str(),
            p.rules.as_slice(),
            f.ipv4_decider.as_ref().map(Decider::text),
        );
        match entry_of.get(&key) {
            Some(&e) => entries[e].push(i),
            None => {
                entry_of.insert(key, entries.len());
                entries.push(vec![i]);
            }
        }
    }
    entries
}

/// Text: findings grouped by severity, worst first (alike ones as one entry),
/// then the flatness table and rule statistics.
pub fn render_text(a: &Audit) -> String {
    let mut s = String::new();
    let variant = a
        .variant
        .as_ref()
        .map(|v| format!(" (variant {v})"))
        .unwrap_or_default();
    let entries = alike_entries(a);
    let _ = writeln!(
        s,
        "audit of {}{variant}: {} finding{}",
        a.scenario,
        a.findings.len(),
        if a.findings.len() == 1 { "" } else { "s" }
    );
    if entries.len() < a.findings.len() {
        let mut kinds: Vec<(FindingKind, usize)> = Vec::new();
        for f in &a.findings {
            match kinds.iter_mut().find(|k| k.0 == f.kind) {
                Some(k) => k.1 += 1,
                None => kinds.push((f.kind, 1)),
            }
        }
        let kinds: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{} {n}", k.id()))
            .collect();
        let _ = writeln!(
            s,
            "{} entries: findings alike (same kind, rules, IPv4 decider and fix) share one; \
             --format json lists each\nby kind: {}",
            entries.len(),
            kinds.join(", ")
        );
    }
    let mut current: Option<Severity> = None;
    for (n, entry) in entries.iter().enumerate() {
        let f = &a.findings[entry[0]];
        if current != Some(f.severity) {
            current = Some(f.severity);
            let count = a
                .findings
                .iter()
                .filter(|g| g.severity == f.severity)
                .count();
            let in_entries = entries
                .iter()
                .filter(|e| a.findings[e[0]].severity == f.severity)
                .count();
            let count = if in_entries == count {
                count.to_string()
            } else {
                format!("{count} findings in {in_entries} entries")
            };
            let _ = writeln!(s, "\n{} ({count})", f.severity.name().to_uppercase());
        }
        let _ = writeln!(s, "  {}. [{}] {}", n + 1, f.kind.id(), f.title);
        if entry.len() > 1 {
            let targets: Vec<String> = entry
                .iter()
                .filter_map(|&i| a.findings[i].proof.as_ref())
                .map(|p| match &p.socket {
                    Some(sock) => format!("{} {sock}", p.target),
                    None => p.target.clone(),
                })
                .collect();
            let sources =
                super::name_list(entry.iter().flat_map(|&i| a.findings[i].involves.iter()));
            let one_target = targets.iter().all(|t| *t == targets[0]);
            let _ = writeln!(
                s,
                "     and {} more alike ({} in all), {}",
                entry.len() - 1,
                entry.len(),
                if one_target {
                    format!("from {sources}")
                } else {
                    format!(
                        "to {}; from (each to one or more of them) {sources}",
                        super::name_list(targets.iter().map(String::as_str))
                    )
                }
            );
        }
        let _ = writeln!(
            s,
            "     at: {}:{}  {}",
            a.file, f.location.line, f.location.what
        );
        let _ = writeln!(s, "     why: {}", f.detail);
        if let Some(p) = &f.proof {
            let target = match &p.socket {
                Some(sock) => format!("{} {sock}", p.target),
                None => p.target.clone(),
            };
            let _ = writeln!(
                s,
                "     proof: {} -> {target}: {}",
                p.source,
                example_text(&p.example)
            );
            let _ = writeln!(
                s,
                "       let through by: {}",
                super::reach::rules_text(&p.rules)
            );
        }
        if let Some(d) = &f.ipv4_decider {
            let _ = writeln!(s, "     over IPv4: {}", d.text());
        }
        let _ = writeln!(s, "     fix: {}", f.fix);
    }
    let _ = writeln!(s, "\nreachability between internal hosts:");
    for f in &a.flatness {
        let _ = writeln!(
            s,
            "  {:<12} {:>3} hosts  {:>4} of {:>4} pairs  {:>5.1}%",
            f.scope,
            f.hosts,
            f.reaching,
            f.pairs,
            f.share * 100.0
        );
    }
    let r = &a.rules;
    let _ = writeln!(
        s,
        "\nfilter rules: {} in {} filters; {} shadowed, {} redundant, {} undecided",
        r.rules, r.filters, r.shadowed, r.redundant, r.undecided
    );
    s
}

pub fn render_json(a: &Audit) -> String {
    super::written_text(|out| write_json(a, out))
}

/// [`render_json`] written to `w` as it is made.
pub fn write_json(a: &Audit, w: impl std::io::Write) -> std::io::Result<()> {
    super::write_pretty(a, w)
}

/// SARIF 2.1.0: one run, one reporting descriptor per finding kind, one result per finding.
pub fn render_sarif(a: &Audit) -> String {
    super::written_text(|out| write_sarif(a, out))
}

/// [`render_sarif`] written to `w` as it is made: one result at a time
/// (a finding on a large network names thousands of sources).
pub fn write_sarif(a: &Audit, w: impl std::io::Write) -> std::io::Result<()> {
    use serde_json::json;
    // The keys of each object in name order, as `json!` orders them.
    #[derive(Serialize)]
    struct Log<'a> {
        #[serde(rename = "$schema")]
        schema: &'static str,
        runs: [Run<'a>; 1],
        version: &'static str,
    }
    #[derive(Serialize)]
    struct Run<'a> {
        artifacts: serde_json::Value,
        results: Results<'a>,
        tool: serde_json::Value,
    }
    struct Results<'a>(&'a Audit);
    impl Serialize for Results<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.findings.iter().map(|f| sarif_result(self.0, f)))
        }
    }
    let log = Log {
        schema: SARIF_SCHEMA,
        runs: [Run {
            artifacts: json!([{ "location": { "uri": a.file } }]),
            results: Results(a),
            tool: sarif_tool(),
        }],
        version: "2.1.0",
    };
    super::write_pretty(&log, w)
}

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF tool: pathproof, one reporting descriptor per finding kind.
fn sarif_tool() -> serde_json::Value {
    use serde_json::json;
    let rules: Vec<serde_json::Value> = FindingKind::ALL
        .iter()
        .map(|k| {
            json!({
                "id": k.id(),
                "name": k.id(),
                "shortDescription": { "text": k.describe() },
                "fullDescription": { "text": k.describe() },
                "helpUri": format!("https://github.com/pathproof/pathproof/blob/main/docs/analyses.md#{}", k.id()),
            })
        })
        .collect();
    json!({ "driver": {
        "name": "pathproof",
        "informationUri": "https://github.com/pathproof/pathproof",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    }})
}

/// One finding as a SARIF result.
fn sarif_result(a: &Audit, f: &Finding) -> serde_json::Value {
    let index = FindingKind::ALL
        .iter()
        .position(|k| *k == f.kind)
        .expect("every kind listed");
    let mut text = format!("{}. {} Fix: {}", f.title, f.detail, f.fix);
    if let Some(p) = &f.proof {
        let _ = write!(
            text,
            " Proof: {} -> {}: {}.",
            p.source,
            p.target,
            example_text(&p.example)
        );
    }
    serde_json::json!({
        "ruleId": f.kind.id(),
        "ruleIndex": index,
        "level": f.severity.sarif_level(),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": a.file },
                "region": { "startLine": f.location.line.max(1), "startColumn": f.location.column.max(1) }
            },
            "message": { "text": f.location.what }
        }],
        "properties": { "severity": f.severity.name(), "involves": f.involves },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{large, SynthParams};

    /// The text's entries hold every finding once, and only findings alike.
    #[test]
    fn entries_partition_the_findings_into_alike_ones() {
        let text = large(&SynthParams::sized(3, 160));
        let mut scenarios = vec![crate::load("synth.yaml", &text, None).expect("generated")];
        for ex in crate::examples::ALL {
            scenarios.push(crate::load(&ex.file(), ex.text, None).expect("built-in"));
        }
        let mut folded = 0;
        for scn in scenarios {
            let a = audit(&scn);
            let entries = alike_entries(&a);
            let mut all: Vec<usize> = entries.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..a.findings.len()).collect::<Vec<_>>());
            for e in &entries {
                let f = &a.findings[e[0]];
                for &i in &e[1..] {
                    let g = &a.findings[i];
                    let (p, q) = (f.proof.as_ref().unwrap(), g.proof.as_ref().unwrap());
                    assert_eq!((f.kind, f.severity), (g.kind, g.severity));
                    assert_eq!((&f.detail, &f.fix, &p.rules), (&g.detail, &g.fix, &q.rules));
                    assert_eq!(
                        f.ipv4_decider.as_ref().map(Decider::text),
                        g.ipv4_decider.as_ref().map(Decider::text)
                    );
                    folded += 1;
                }
            }
            // Each entry's findings are of one severity, entries in the
            // findings' order (worst first).
            let firsts: Vec<usize> = entries.iter().map(|e| e[0]).collect();
            assert!(firsts.windows(2).all(|w| w[0] < w[1]));
            let text = render_text(&a);
            assert_eq!(
                text.matches("more alike (").count(),
                entries.iter().filter(|e| e.len() > 1).count()
            );
        }
        assert!(folded > 0);
    }

    /// Sources put in order by their names' ranks are their names sorted,
    /// each once: every source, subsets of several sizes in an order unlike
    /// the names', and every source twice, of the built-in scenarios and
    /// generated ones.
    #[test]
    fn ranked_names_are_the_names_sorted() {
        let mut scenarios = Vec::new();
        for (seed, hosts) in [(1, 60), (4, 200)] {
            let text = large(&SynthParams::sized(seed, hosts));
            scenarios.push(crate::load("synth.yaml", &text, None).expect("generated"));
        }
        for ex in crate::examples::ALL {
            scenarios.push(crate::load(&ex.file(), ex.text, None).expect("built-in"));
        }
        for scn in scenarios {
            let names = SourceNames::new(&scn);
            let all = all_sources(&scn);
            for step in [1, 2, 3, 7, all.len().max(1)] {
                // Every `step`th source, from the end (an order unlike the names').
                let some: Vec<Source> = all.iter().rev().step_by(step).copied().collect();
                let mut want: Vec<String> = some.iter().map(|&s| source_name(&scn, s)).collect();
                want.sort();
                want.dedup();
                assert_eq!(names.sorted(&some), want, "{} every {step}", scn.name);
            }
            // Every source twice.
            let twice: Vec<Source> = all.iter().chain(all.iter()).copied().collect();
            let mut want: Vec<String> = all.iter().map(|&s| source_name(&scn, s)).collect();
            want.sort();
            want.dedup();
            assert_eq!(names.sorted(&twice), want);
        }
    }

    /// A [`Names`] reads, compares and serialises as the list of its names
    /// (shared table or its own), and two lists that share a table stay apart.
    #[test]
    fn names_are_the_list_they_stand_for() {
        let scn =
            crate::load("synth.yaml", &large(&SynthParams::sized(2, 80)), None).expect("generated");
        let table = SourceNames::new(&scn);
        let all = all_sources(&scn);
        let (a, b) = (table.sorted(&all[..5]), table.sorted(&all[3..]));
        for n in [&a, &b] {
            let plain: Vec<String> = n.iter().map(str::to_string).collect();
            assert_eq!(n.len(), plain.len());
            assert_eq!(*n, plain);
            assert_eq!(*n, Names::new(plain.clone()));
            assert_eq!(
                serde_json::to_string(n).unwrap(),
                serde_json::to_string(&plain).unwrap()
            );
            assert_eq!(format!("{n:?}"), format!("{plain:?}"));
            for (i, name) in plain.iter().enumerate() {
                assert_eq!(&n[i], name.as_str());
                assert_eq!(n.get(i), Some(name.as_str()));
                assert!(n.contains(name));
            }
            assert_eq!(n.get(plain.len()), None);
            assert_eq!(n.iter().len(), plain.len());
        }
        assert_ne!(a, b);
    }

    /// The SARIF written one result at a time is the document `json!`
    /// makes of the same results and tool, byte for byte (the order of
    /// the keys is what the writer's own structs could get wrong): the
    /// built-ins with each variant and a generated scenario.
    #[test]
    fn sarif_written_as_made_is_the_whole_document() {
        use serde_json::json;
        fn whole(a: &Audit) -> String {
            let results: Vec<serde_json::Value> =
                a.findings.iter().map(|f| sarif_result(a, f)).collect();
            let v = json!({
                "$schema": SARIF_SCHEMA,
                "version": "2.1.0",
                "runs": [{
                    "tool": sarif_tool(),
                    "artifacts": [{ "location": { "uri": a.file } }],
                    "results": results,
                }]
            });
            serde_json::to_string_pretty(&v).unwrap() + "\n"
        }
        let mut scenarios =
            vec![
                crate::load("synth.yaml", &large(&SynthParams::sized(3, 120)), None)
                    .expect("generated"),
            ];
        for ex in crate::examples::ALL {
            let scn = crate::load(&ex.file(), ex.text, None).expect("built-in");
            for v in &scn.variants {
                scenarios.push(crate::load(&ex.file(), ex.text, Some(&v.name)).expect("variant"));
            }
            scenarios.push(scn);
        }
        let mut results = 0;
        for scn in scenarios {
            let a = audit(&scn);
            results += a.findings.len();
            assert_eq!(render_sarif(&a), whole(&a), "{}", scn.name);
        }
        assert!(
            results > 50,
            "the scenarios have findings to write: {results}"
        );
    }
}

/// The class-based findings and changes cover exactly the (source, socket)
/// pairs, with the same severity, that the per-pair computation (every
/// class split into one journey per source and socket) gives.
#[cfg(test)]
mod pair_tests {
    use super::*;
    use crate::analysis::diff;
    use crate::synth::{large, SynthParams};

    /// (kind, severity, source, socket host, socket index).
    type Pair = (FindingKind, Severity, String, String, usize);

    fn socket_kind(k: FindingKind) -> bool {
        matches!(
            k,
            FindingKind::MetadataReachable
                | FindingKind::DatabaseExposed
                | FindingKind::AdminPortExposed
                | FindingKind::WildcardBind
                | FindingKind::Ipv6Bypass
        )
    }

    /// The pairs the findings stand for: every source with every socket, but a host with its own.
    fn finding_pairs(scn: &Scenario, a: &Audit) -> BTreeSet<Pair> {
        let mut out = BTreeSet::new();
        for f in a.findings.iter().filter(|f| socket_kind(f.kind)) {
            let mut n = 0;
            for t in &f.targets {
                let h = scn.host_by_name(&t.host).unwrap();
                let si = scn
                    .host(h)
                    .sockets
                    .iter()
                    .position(|s| s.text == t.socket && s.origin.line == t.line)
                    .unwrap();
                for s in &f.involves {
                    if *s != t.host {
                        out.insert((f.kind, f.severity, s.to_string(), t.host.clone(), si));
                        n += 1;
                    }
                }
            }
            assert_eq!(n, f.pairs, "{}", f.title);
        }
        out
    }

    fn same_segment(scn: &Scenario, s: Source, h: HostId) -> bool {
        on_nets(scn, s, &nets_of(scn, h))
    }

    /// The findings' pairs as the per-pair audit made them.
    fn reference_pairs(scn: &Scenario) -> BTreeSet<Pair> {
        let r = per_source_reach(scn, &ReachQuery::default(), false);
        let mut out = BTreeSet::new();
        let mut reported = BTreeSet::new();
        let name = |s: Source| source_name(scn, s);
        let mut per_socket: BTreeMap<(HostId, usize), Vec<Source>> = BTreeMap::new();
        for j in &r.journeys {
            assert_eq!((j.members.len(), j.targets.len()), (1, 1));
            if j.source != Source::Host(j.host()) {
                per_socket
                    .entry((j.host(), j.socket()))
                    .or_default()
                    .push(j.source);
            }
        }
        for (&(h, si), srcs) in &per_socket {
            let host = scn.host(h);
            let s = &host.sockets[si];
            let hname = host.name.clone();
            if is_metadata_socket(scn, h, si) {
                for &src in srcs {
                    let ok = match src {
                        Source::Host(x) => is_workload(scn, x) || host_untrusted(scn, x),
                        Source::Network(n) => scn.network(n).trust == Trust::Untrusted,
                    };
                    if ok {
                        reported.insert((h, si));
                        out.insert((
                            FindingKind::MetadataReachable,
                            Severity::Critical,
                            name(src),
                            hname.clone(),
                            si,
                        ));
                    }
                }
            }
            if s.proto == Proto::Tcp && port_name(DB_PORTS, s.port).is_some() {
                let tier = app_tier(scn, h, si);
                let beyond: Vec<Source> = srcs
                    .iter()
                    .copied()
                    .filter(|&x| {
                        source_untrusted(scn, x)
                            || (!same_segment(scn, x, h)
                                && tier.as_ref().is_none_or(|t| !in_tier(scn, t, x)))
                    })
                    .collect();
                let sev = if beyond.iter().any(|&x| source_untrusted(scn, x)) {
                    Severity::Critical
                } else if tier.is_some() {
                    Severity::High
                } else {
                    Severity::Medium
                };
                for &x in &beyond {
                    reported.insert((h, si));
                    out.insert((
                        FindingKind::DatabaseExposed,
                        sev,
                        name(x),
                        hname.clone(),
                        si,
                    ));
                }
            }
            if s.proto == Proto::Tcp && port_name(ADMIN_PORTS, s.port).is_some() {
                for &x in srcs.iter().filter(|&&x| source_untrusted(scn, x)) {
                    reported.insert((h, si));
                    let sev = if host.sensitive {
                        Severity::Critical
                    } else {
                        Severity::High
                    };
                    out.insert((
                        FindingKind::AdminPortExposed,
                        sev,
                        name(x),
                        hname.clone(),
                        si,
                    ));
                }
            }
        }
        for (&(h, si), srcs) in &per_socket {
            let s = &scn.host(h).sockets[si];
            if !s.bind.is_unspecified() || reported.contains(&(h, si)) || expected(scn, h, s) {
                continue;
            }
            let from: Vec<Source> = srcs
                .iter()
                .copied()
                .filter(|&x| !same_segment(scn, x, h))
                .collect();
            let sev = if from.iter().any(|&x| source_untrusted(scn, x)) {
                Severity::Medium
            } else {
                Severity::Low
            };
            for x in from {
                out.insert((
                    FindingKind::WildcardBind,
                    sev,
                    name(x),
                    scn.host(h).name.clone(),
                    si,
                ));
            }
        }
        for j in &r.journeys {
            let has = |f: Fam| j.cubes().any(|c| c.fam == f);
            let host = scn.host(j.host());
            let s = &host.sockets[j.socket()];
            let takes_v4 = host.first_addr(false).is_some_and(|a| s.accepts(a));
            if has(Fam::V6)
                && !has(Fam::V4)
                && takes_v4
                && source_has_v4(scn, j.source)
                && j.source != Source::Host(j.host())
            {
                let sev = if host.sensitive || source_untrusted(scn, j.source) {
                    Severity::High
                } else {
                    Severity::Medium
                };
                out.insert((
                    FindingKind::Ipv6Bypass,
                    sev,
                    name(j.source),
                    host.name.clone(),
                    j.socket(),
                ));
            }
        }
        out
    }

    /// (source, socket host, socket) of every pair with packets gained, and lost.
    type DiffPairs = BTreeSet<(String, String, String)>;

    fn change_pairs(list: &[diff::Change]) -> DiffPairs {
        let mut out = BTreeSet::new();
        for c in list {
            let mut n = 0;
            for t in &c.targets {
                for s in &c.sources {
                    if *s != t.host {
                        out.insert((s.clone(), t.host.clone(), t.socket.clone()));
                        n += 1;
                    }
                }
            }
            assert_eq!(n, c.pairs, "{c:?}");
        }
        out
    }

    fn reference_diff(old: &Scenario, new: &Scenario) -> (DiffPairs, DiffPairs) {
        type Key = (String, String, Proto, u16, IpAddr);
        type Spaces = BTreeMap<Key, (String, Space)>;
        let spaces = |scn: &Scenario| -> Spaces {
            per_source_reach(scn, &ReachQuery::default(), false)
                .journeys
                .iter()
                .map(|j| {
                    let h = scn.host(j.host());
                    let s = &h.sockets[j.socket()];
                    (
                        (
                            source_name(scn, j.source),
                            h.name.clone(),
                            s.proto,
                            s.port,
                            s.bind,
                        ),
                        (s.text.clone(), j.space()),
                    )
                })
                .collect()
        };
        let (so, sn) = (spaces(old), spaces(new));
        let minus = |a: &Spaces, b: &Spaces| -> DiffPairs {
            a.iter()
                .filter(|(k, (_, s))| match b.get(*k) {
                    None => true,
                    Some((_, t)) => !s.split(&t.0).1.is_empty(),
                })
                .map(|(k, (text, _))| (k.0.clone(), k.1.clone(), text.clone()))
                .collect()
        };
        (minus(&sn, &so), minus(&so, &sn))
    }

    fn flat(n: usize, skip_db: usize) -> String {
        let mut s = String::from("name: flat\nnetworks:\n  lan: { cidr: 10.1.0.0/16, gateway: r }\n  guest: { cidr: 10.2.0.0/24, trust: untrusted, gateway: r }\nhosts:\n  r: { router: true, at: [lan 10.1.0.1, guest 10.2.0.1], nat: [\"masquerade from 10.2.0.0/24 out lan\"] }\n");
        for i in 0..n {
            let socks = if i < skip_db {
                r#"["tcp/8000", "tcp/22"]"#
            } else {
                r#"["tcp/8000", "tcp/22", "tcp/5432"]"#
            };
            s += &format!(
                "  h{i}: {{ at: lan 10.1.{}.{}, listen: {socks} }}\n",
                1 + i / 200,
                10 + i % 200
            );
        }
        s += "  g1: { at: guest 10.2.0.10 }\n  g2: { at: guest 10.2.0.11 }\n";
        s
    }

    #[test]
    fn class_findings_and_changes_cover_the_per_pair_ones() {
        let mut cases: Vec<(Scenario, Option<Scenario>)> = Vec::new();
        for ex in crate::examples::ALL {
            let base = crate::load(&ex.file(), ex.text, None).expect("built-in");
            for v in base
                .variants
                .iter()
                .map(|v| v.name.clone())
                .collect::<Vec<_>>()
            {
                let new = crate::load(&ex.file(), ex.text, Some(&v)).expect("variant");
                cases.push((new, None));
            }
            let v = base.variants.first().map(|v| v.name.clone());
            let new = v.map(|v| crate::load(&ex.file(), ex.text, Some(&v)).expect("variant"));
            cases.push((base, new));
        }
        let text = large(&SynthParams::sized(2, 120));
        let old = crate::load("synth.yaml", &text, None).expect("generated");
        let new = crate::load("synth.yaml", &text, Some("break")).expect("break");
        cases.push((old, Some(new)));
        let a = crate::load("flat.yaml", &flat(60, 0), None).expect("flat");
        let b = crate::load("flat.yaml", &flat(60, 5), None).expect("flat");
        cases.push((a, Some(b)));
        for (scn, other) in &cases {
            let a = audit(scn);
            assert_eq!(
                finding_pairs(scn, &a),
                reference_pairs(scn),
                "audit of {} {:?}",
                scn.name,
                scn.variant
            );
            if let Some(new) = other {
                for (x, y) in [(scn, new), (new, scn)] {
                    let d = diff::diff(x, y);
                    let (g, l) = reference_diff(x, y);
                    assert_eq!(
                        change_pairs(&d.gained),
                        g,
                        "gained {} {:?}",
                        y.name,
                        y.variant
                    );
                    assert_eq!(change_pairs(&d.lost), l, "lost {} {:?}", y.name, y.variant);
                }
            }
        }
    }
}

/// The sweep that decides a rule's status against the depth-first split it
/// replaced, on random lists of cubes in a small universe: the same answer,
/// and when the answer is yes, the same rules that take packets first.
#[cfg(test)]
mod sweep_tests {
    use super::*;
    use proptest::prelude::*;

    /// A range of `0..=max`: all of it half of the time (rules match
    /// wide), else any.
    fn range(max: u128) -> impl Strategy<Value = (u128, u128)> {
        prop_oneof![
            Just((0, max)),
            (0..=max, 0..=max).prop_map(|(a, b)| (a.min(b), a.max(b))),
        ]
    }

    /// A bit set of `bits` bits: all of them half of the time, else any.
    fn bits(bits: u32) -> impl Strategy<Value = u8> {
        let all = ((1u32 << bits) - 1) as u8;
        prop_oneof![Just(all), 1..=all]
    }

    /// A cube whose ranges `range` makes (given each field's largest value).
    fn cube_of<S: Strategy<Value = (u128, u128)>>(
        range: fn(u128) -> S,
    ) -> impl Strategy<Value = XCube> {
        (
            (range(15), range(7), bits(3), range(5), range(5)),
            (range(3), range(3), bits(4)),
        )
            .prop_map(|((src, dst, proto, sport, dport), (inn, out, state))| {
                let port = |(a, b): (u128, u128)| (a as u16, b as u16);
                let iface = |(a, b): (u128, u128)| (a as u32, b as u32);
                XCube {
                    c: Cube {
                        fam: Fam::V4,
                        src,
                        dst,
                        proto,
                        sport: port(sport),
                        dport: port(dport),
                        tag: 0,
                    },
                    inn: iface(inn),
                    out: iface(out),
                    state,
                }
            })
    }

    /// A rule's cube: wide.
    fn cube() -> impl Strategy<Value = XCube> {
        cube_of(range)
    }

    /// A range of `0..=max` of one value half of the time, else any.
    fn narrow(max: u128) -> impl Strategy<Value = (u128, u128)> {
        prop_oneof![
            (0..=max).prop_map(|a| (a, a)),
            (0..=max, 0..=max).prop_map(|(a, b)| (a.min(b), a.max(b))),
        ]
    }

    /// The packets a rule is checked for: narrower than the rules.
    fn packets() -> impl Strategy<Value = XCube> {
        cube_of(narrow)
    }

    /// Rules of one to three cubes, some of them a cube with several
    /// sources (as a source list gives them), in rule order.
    fn rules() -> impl Strategy<Value = Vec<(usize, XCube)>> {
        proptest::collection::vec((cube(), proptest::collection::vec(range(15), 0..3)), 0..12)
            .prop_map(|rules| {
                let mut list = Vec::new();
                for (k, (c, more)) in rules.into_iter().enumerate() {
                    list.push((k, c));
                    for src in normalise(more) {
                        list.push((
                            k,
                            XCube {
                                c: Cube { src, ..c.c },
                                ..c
                            },
                        ));
                    }
                }
                list
            })
    }

    fn plenty() -> Work {
        Work {
            rule: usize::MAX,
            filter: usize::MAX,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn the_sweep_answers_as_the_split(
            c in packets(),
            own in proptest::collection::vec(range(15), 1..4),
            list in rules(),
            rule in 0usize..12,
            mine in 0u8..2,
            decisions in proptest::collection::vec(0u8..3, 12),
            default in 0u8..2,
        ) {
            // `c`'s own sources within its range, and `c` over their hull.
            let own = interval_and(&normalise(own), &[c.c.src]);
            prop_assume!(!own.is_empty());
            let c = XCube { c: Cube { src: (own[0].0, own[own.len() - 1].1), ..c.c }, ..c };
            let parts: Vec<XCube> = own
                .iter()
                .map(|&src| XCube { c: Cube { src, ..c.c }, ..c })
                .collect();
            let act = |d: u8| decision([Action::Allow, Action::Drop, Action::Reject][d as usize], RejectWith::default());
            let decisions: Vec<Decision> = decisions.into_iter().map(act).collect();
            let (mine, default) = (act(mine), act(default));
            // Some rules match as the rule does from one of its own
            // sources, some from one of them with the rest of the cube
            // their own (as rules naming the same networks do).
            let list: Vec<(usize, XCube)> = list
                .into_iter()
                .enumerate()
                .map(|(n, (k, x))| match n % 4 {
                    1 => (k, XCube { c: Cube { src: own[n % own.len()], ..c.c }, ..c }),
                    2 => (k, XCube { c: Cube { src: own[n % own.len()], ..x.c }, ..x }),
                    _ => (k, x),
                })
                .collect();
            // The list without rule `rule`'s cubes, as `meeting` gives it.
            let others: Vec<(usize, XCube)> = list.iter().copied().filter(|(k, _)| *k != rule).collect();
            let earlier: Vec<(usize, XCube)> = others.iter().copied().filter(|(k, _)| *k < rule).collect();

            let mut used = BTreeSet::new();
            let swept = covered(c, &own, &earlier, &mut used, &mut plenty()).expect("no budget");
            let mut used_split = BTreeSet::new();
            let split = parts.iter().all(|p| {
                covered_by_splits(*p, Cover::all(&earlier), &mut used_split, &mut plenty()).expect("no budget")
            });
            prop_assert_eq!(swept, split);
            if swept {
                prop_assert_eq!(used, used_split);
            }

            let without = || Without { i: rule, mine, decisions: &decisions, default, by: BTreeSet::new(), to_default: false };
            let mut w = without();
            let swept = decided_alike(c, &own, &others, &mut w, &mut plenty()).expect("no budget");
            let mut w_split = without();
            let split = parts.iter().all(|p| {
                decided_alike_by_splits(*p, Cover::all(&others), &mut w_split, &mut plenty()).expect("no budget")
            });
            prop_assert_eq!(swept, split);
            if swept {
                prop_assert_eq!((w.by, w.to_default), (w_split.by, w_split.to_default));
            }
        }
    }

    /// The cases above answer yes often enough to compare the rules that
    /// take packets (a generator of narrow rules would answer no nearly
    /// always, and compare little).
    #[test]
    fn the_cases_cover_and_decide_alike_often() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut covers, mut alike) = (0, 0);
        for _ in 0..2000 {
            let (c, list) = (packets(), rules())
                .new_tree(&mut runner)
                .expect("a case")
                .current();
            let earlier: Vec<(usize, XCube)> =
                list.iter().copied().filter(|(k, _)| *k < 6).collect();
            let later: Vec<(usize, XCube)> =
                list.iter().copied().filter(|(k, _)| *k != 6).collect();
            let own = [c.c.src];
            covers += usize::from(
                covered(c, &own, &earlier, &mut BTreeSet::new(), &mut plenty()) == Some(true),
            );
            let d = decision(Action::Drop, RejectWith::default());
            let a = decision(Action::Allow, RejectWith::default());
            let decisions: Vec<Decision> =
                (0..12).map(|k| if k % 3 == 0 { a } else { d }).collect();
            alike += usize::from(
                decided_alike(
                    c,
                    &own,
                    &later,
                    &mut Without {
                        i: 6,
                        mine: d,
                        decisions: &decisions,
                        default: d,
                        by: BTreeSet::new(),
                        to_default: false,
                    },
                    &mut plenty(),
                ) == Some(true),
            );
        }
        assert!(
            covers > 200 && alike > 200,
            "{covers} covered, {alike} alike of 2000"
        );
    }
}
