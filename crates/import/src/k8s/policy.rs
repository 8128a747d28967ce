//! The policies of a cluster as ordered filter lines per pod: for each pod
//! and direction, the admin tier (AdminNetworkPolicy, ClusterNetworkPolicy
//! `tier: Admin`) by priority with its rules in order, then the
//! NetworkPolicy tier (a union of allows, and a drop when some policy
//! isolates the pod), then the baseline tier; `Pass` hands its packets to
//! the tiers below. The lines are first-match rules with concrete address
//! and port sets, so the engine evaluates them as any other filter.

use k8s_openapi::api::networking::v1::{NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::HashMap;

use super::admin::{self, Action, AdminPolicy, Tier};
use super::cluster::{Cluster, Pod};
use super::manifest::Step;
use super::selector;
use super::Proto;
use crate::addrs::Addrs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    Ingress,
    Egress,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::Ingress => "ingress",
            Dir::Egress => "egress",
        }
    }
}

/// Where a line comes from: an index into `Compiled::sources`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub label: String,
    pub file: String,
    pub line: u32,
    pub admin: bool,
}

/// One first-match line. `peer` is the source (ingress) or the destination
/// (egress); `ports` empty means every port; `proto` None every protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Line {
    pub allow: bool,
    pub peer: Addrs,
    pub proto: Option<Proto>,
    pub ports: Vec<(u16, u16)>,
    pub source: Option<usize>,
}

impl Line {
    fn meet(&self, m: &Line) -> Option<Line> {
        let peer = self.peer.intersect(&m.peer);
        if peer.is_empty() {
            return None;
        }
        let proto = match (self.proto, m.proto) {
            (None, p) | (p, None) => p,
            (Some(a), Some(b)) if a == b => Some(a),
            _ => return None,
        };
        let ports = match (self.ports.is_empty(), m.ports.is_empty()) {
            (true, _) => m.ports.clone(),
            (_, true) => self.ports.clone(),
            _ => {
                let mut out = Vec::new();
                for &(a, b) in &self.ports {
                    for &(c, d) in &m.ports {
                        let (lo, hi) = (a.max(c), b.min(d));
                        if lo <= hi {
                            out.push((lo, hi));
                        }
                    }
                }
                if out.is_empty() {
                    return None;
                }
                out
            }
        };
        Some(Line {
            allow: self.allow,
            peer,
            proto,
            ports,
            source: self.source,
        })
    }
}

enum PortItem {
    Any,
    Range(Proto, u16, u16),
    Named(String, Option<Proto>),
}

pub struct Compiled {
    pub sources: Vec<Source>,
    /// Per direction, per pod: an index into `lists` (None: no policy
    /// applies, the pod is not filtered in that direction).
    pub ingress: Vec<Option<usize>>,
    pub egress: Vec<Option<usize>>,
    pub lists: Vec<Vec<Line>>,
    /// What each list is about (the policies that select its pods).
    pub about: Vec<String>,
}

struct Ctx<'c> {
    c: &'c Cluster,
    pod_addrs: Vec<Addrs>,
    node: Addrs,
    ns_labels: HashMap<&'c str, &'c selector::Labels>,
    sources: Vec<Source>,
    source_ids: HashMap<Source, usize>,
}

impl<'c> Ctx<'c> {
    fn source(&mut self, s: Source) -> usize {
        if let Some(&i) = self.source_ids.get(&s) {
            return i;
        }
        self.sources.push(s.clone());
        self.source_ids.insert(s, self.sources.len() - 1);
        self.sources.len() - 1
    }

    fn ns_matches(&self, sel: &LabelSelector, ns: &str) -> bool {
        self.ns_labels
            .get(ns)
            .is_some_and(|l| selector::matches(sel, l))
    }

    /// Pods in namespaces `ns_ok` with labels matching `pod_sel` (None: all).
    fn pods(&self, ns_ok: impl Fn(&str) -> bool, pod_sel: Option<&LabelSelector>) -> Addrs {
        let mut ips = Vec::new();
        for p in &self.c.pods {
            if ns_ok(&p.namespace) && pod_sel.is_none_or(|s| selector::matches(s, &p.labels)) {
                ips.extend(p.ips.iter().copied());
            }
        }
        Addrs::ips(ips)
    }

    fn np_peer(&self, p: &NetworkPolicyPeer, policy_ns: &str) -> Addrs {
        if let Some(b) = &p.ip_block {
            let mut a = Addrs::net(b.cidr.parse().expect("checked when read"));
            for e in b.except.iter().flatten() {
                a = a.minus(&Addrs::net(e.parse().expect("checked when read")));
            }
            return a;
        }
        match &p.namespace_selector {
            Some(ns) => self.pods(|n| self.ns_matches(ns, n), p.pod_selector.as_ref()),
            None => self.pods(|n| n == policy_ns, p.pod_selector.as_ref()),
        }
    }

    fn admin_peer(&self, p: &admin::Peer) -> Addrs {
        match p {
            admin::Peer::Namespaces(ns) => self.pods(|n| self.ns_matches(ns, n), None),
            admin::Peer::Pods { namespaces, pods } => {
                self.pods(|n| self.ns_matches(namespaces, n), Some(pods))
            }
            admin::Peer::Networks(nets) => nets
                .iter()
                .fold(Addrs::default(), |a, n| a.union(&Addrs::net(*n))),
            admin::Peer::Nodes => self.node.clone(),
        }
    }

    fn subject_selects(&self, p: &AdminPolicy, pod: &Pod) -> bool {
        match &p.subject {
            admin::Subject::Namespaces(ns) => self.ns_matches(ns, &pod.namespace),
            admin::Subject::Pods { namespaces, pods } => {
                self.ns_matches(namespaces, &pod.namespace) && selector::matches(pods, &pod.labels)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    /// Lines for one rule: `peer` with the port items, named ports resolved
    /// on `target` (ingress: the pod the filter protects) or, for egress,
    /// on each destination pod inside `peer`.
    fn lines(
        &self,
        allow: bool,
        peer: &Addrs,
        items: &[PortItem],
        dir: Dir,
        target: &Pod,
        source: usize,
        out: &mut Vec<Line>,
    ) {
        if peer.is_empty() {
            return;
        }
        let mut push = |peer: Addrs, proto: Option<Proto>, lo: u16, hi: u16| {
            let ports = if (lo, hi) == (0, 65535) || (lo, hi) == (1, 65535) {
                Vec::new()
            } else {
                vec![(lo, hi)]
            };
            // Ports of one rule, peer and protocol on one line.
            if let Some(last) = out.last_mut() {
                if last.source == Some(source)
                    && last.allow == allow
                    && last.peer == peer
                    && last.proto == proto
                    && proto.is_some()
                    && !last.ports.is_empty()
                    && !ports.is_empty()
                {
                    last.ports.extend(ports);
                    last.ports.sort_unstable();
                    last.ports.dedup();
                    return;
                }
            }
            out.push(Line {
                allow,
                peer,
                proto,
                ports,
                source: Some(source),
            });
        };
        for item in items {
            match item {
                PortItem::Any => push(peer.clone(), None, 0, 65535),
                PortItem::Range(p, lo, hi) => push(peer.clone(), Some(*p), *lo, *hi),
                PortItem::Named(name, proto) => match dir {
                    Dir::Ingress => {
                        for (p, n) in target.named_port(name, *proto) {
                            push(peer.clone(), Some(p), n, n);
                        }
                    }
                    Dir::Egress => {
                        let mut by: Vec<((Proto, u16), Vec<std::net::IpAddr>)> = Vec::new();
                        for pod in &self.c.pods {
                            if !pod.ips.iter().any(|ip| peer.contains(*ip)) {
                                continue;
                            }
                            for key in pod.named_port(name, *proto) {
                                match by.iter_mut().find(|(k, _)| *k == key) {
                                    Some((_, ips)) => ips.extend(pod.ips.iter().copied()),
                                    None => by.push((key, pod.ips.clone())),
                                }
                            }
                        }
                        for ((p, n), ips) in by {
                            push(peer.intersect(&Addrs::ips(ips)), Some(p), n, n);
                        }
                    }
                },
            }
        }
    }
}

fn np_ports(ports: Option<&Vec<NetworkPolicyPort>>) -> Vec<PortItem> {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return vec![PortItem::Any];
    };
    ports
        .iter()
        .map(|p| {
            let proto = match p.protocol.as_deref() {
                Some("UDP") => Proto::Udp,
                Some("SCTP") => Proto::Sctp,
                _ => Proto::Tcp,
            };
            match &p.port {
                None => PortItem::Range(proto, 0, 65535),
                Some(IntOrString::Int(n)) => {
                    PortItem::Range(proto, *n as u16, p.end_port.unwrap_or(*n) as u16)
                }
                Some(IntOrString::String(s)) => PortItem::Named(s.clone(), Some(proto)),
            }
        })
        .collect()
}

fn admin_ports(ports: &Option<Vec<admin::Port>>) -> Vec<PortItem> {
    match ports {
        None => vec![PortItem::Any],
        Some(list) => list
            .iter()
            .map(|p| match p {
                admin::Port::Range(pr, lo, hi) => PortItem::Range(*pr, *lo, *hi),
                admin::Port::Named(n) => PortItem::Named(n.clone(), None),
            })
            .collect(),
    }
}

fn np_types(np: &super::cluster::NetworkPolicy) -> (bool, bool) {
    match &np.spec.policy_types {
        Some(t) if !t.is_empty() => (
            t.iter().any(|x| x == "Ingress"),
            t.iter().any(|x| x == "Egress"),
        ),
        _ => (true, np.spec.egress.is_some()),
    }
}

fn admin_label(p: &AdminPolicy) -> String {
    if p.kind == "ClusterNetworkPolicy" {
        let tier = if p.tier == Tier::Admin {
            "Admin"
        } else {
            "Baseline"
        };
        format!("ClusterNetworkPolicy {} ({tier} tier)", p.name)
    } else {
        format!("{} {}", p.kind, p.name)
    }
}

fn action_word(a: Action, v2: bool) -> &'static str {
    match (a, v2) {
        (Action::Allow, true) => "Accept",
        (Action::Allow, false) => "Allow",
        (Action::Deny, _) => "Deny",
        (Action::Pass, _) => "Pass",
    }
}

/// Compiles every pod's ingress and egress lines. Pods selected by the same
/// policies (and, for named ports, with the same ports) share a list.
#[allow(clippy::type_complexity)]
pub fn compile(c: &Cluster, node: Addrs) -> Compiled {
    let mut ctx = Ctx {
        c,
        pod_addrs: c
            .pods
            .iter()
            .map(|p| Addrs::ips(p.ips.iter().copied()))
            .collect(),
        node,
        ns_labels: c
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), &n.labels))
            .collect(),
        sources: Vec::new(),
        source_ids: HashMap::new(),
    };
    let _ = &ctx.pod_addrs;
    // Peers once per policy rule.
    let np_peers: Vec<[Vec<Addrs>; 2]> = c
        .policies
        .iter()
        .map(|np| {
            let ing = np
                .spec
                .ingress
                .iter()
                .flatten()
                .map(|r| match r.from.as_ref().filter(|f| !f.is_empty()) {
                    None => Addrs::all(),
                    Some(peers) => peers.iter().fold(Addrs::default(), |a, p| {
                        a.union(&ctx.np_peer(p, &np.namespace))
                    }),
                })
                .collect();
            let eg = np
                .spec
                .egress
                .iter()
                .flatten()
                .map(|r| match r.to.as_ref().filter(|f| !f.is_empty()) {
                    None => Addrs::all(),
                    Some(peers) => peers.iter().fold(Addrs::default(), |a, p| {
                        a.union(&ctx.np_peer(p, &np.namespace))
                    }),
                })
                .collect();
            [ing, eg]
        })
        .collect();
    let admin_peers: Vec<[Vec<Addrs>; 2]> = c
        .admin
        .iter()
        .map(|p| {
            let f = |rules: &[admin::Rule]| -> Vec<Addrs> {
                rules
                    .iter()
                    .map(|r| {
                        r.peers
                            .iter()
                            .fold(Addrs::default(), |a, p| a.union(&ctx.admin_peer(p)))
                    })
                    .collect()
            };
            [f(&p.ingress), f(&p.egress)]
        })
        .collect();
    let mut admin_order: Vec<usize> = (0..c.admin.len()).collect();
    admin_order.sort_by(|&a, &b| {
        let (x, y) = (&c.admin[a], &c.admin[b]);
        (x.tier, x.priority, &x.name).cmp(&(y.tier, y.priority, &y.name))
    });

    let mut lists: Vec<Vec<Line>> = Vec::new();
    let mut about: Vec<String> = Vec::new();
    let mut list_ids: HashMap<Vec<Line>, usize> = HashMap::new();
    let mut memo: HashMap<
        (
            Dir,
            Vec<usize>,
            Vec<usize>,
            Vec<super::cluster::ContainerPort>,
        ),
        Option<usize>,
    > = HashMap::new();
    let mut ingress = Vec::with_capacity(c.pods.len());
    let mut egress = Vec::with_capacity(c.pods.len());
    for pod in &c.pods {
        for dir in [Dir::Ingress, Dir::Egress] {
            let d = (dir == Dir::Egress) as usize;
            let admins: Vec<usize> = admin_order
                .iter()
                .copied()
                .filter(|&i| {
                    let p = &c.admin[i];
                    let rules = if d == 0 { &p.ingress } else { &p.egress };
                    !rules.is_empty() && ctx.subject_selects(p, pod)
                })
                .collect();
            let nps: Vec<usize> = (0..c.policies.len())
                .filter(|&i| {
                    let np = &c.policies[i];
                    let (ing, eg) = np_types(np);
                    np.namespace == pod.namespace
                        && (if d == 0 { ing } else { eg })
                        && selector::matches(
                            &np.spec.pod_selector.clone().unwrap_or_default(),
                            &pod.labels,
                        )
                })
                .collect();
            let ports = if dir == Dir::Ingress {
                pod.ports.clone()
            } else {
                Vec::new()
            };
            let key = (dir, admins.clone(), nps.clone(), ports);
            if let Some(&id) = memo.get(&key) {
                if dir == Dir::Ingress {
                    ingress.push(id)
                } else {
                    egress.push(id)
                }
                continue;
            }
            let lines = tier_lines(&mut ctx, dir, pod, &admins, &nps, &np_peers, &admin_peers);
            let id = if lines.is_empty() {
                None
            } else {
                let next = lists.len();
                let id = *list_ids.entry(lines.clone()).or_insert(next);
                if id == next {
                    lists.push(lines);
                    let mut names: Vec<String> =
                        admins.iter().map(|&i| admin_label(&c.admin[i])).collect();
                    names.extend(nps.iter().map(|&i| {
                        let np = &c.policies[i];
                        format!("NetworkPolicy {}/{}", np.namespace, np.name)
                    }));
                    about.push(names.join(", "));
                }
                Some(id)
            };
            memo.insert(key, id);
            if dir == Dir::Ingress {
                ingress.push(id)
            } else {
                egress.push(id)
            }
        }
    }
    Compiled {
        sources: ctx.sources,
        ingress,
        egress,
        lists,
        about,
    }
}

fn tier_lines(
    ctx: &mut Ctx,
    dir: Dir,
    pod: &Pod,
    admins: &[usize],
    nps: &[usize],
    np_peers: &[[Vec<Addrs>; 2]],
    admin_peers: &[[Vec<Addrs>; 2]],
) -> Vec<Line> {
    let c = ctx.c;
    let d = (dir == Dir::Egress) as usize;
    let key = if d == 0 { "ingress" } else { "egress" };
    // The NetworkPolicy tier and, below it, the baseline tier.
    let mut tail = Vec::new();
    let isolated = !nps.is_empty();
    for &i in nps {
        let np = &c.policies[i];
        let n = if d == 0 {
            np.spec.ingress.as_ref().map_or(0, Vec::len)
        } else {
            np.spec.egress.as_ref().map_or(0, Vec::len)
        };
        for r in 0..n {
            let ports = if d == 0 {
                np_ports(np.spec.ingress.as_ref().and_then(|v| v[r].ports.as_ref()))
            } else {
                np_ports(np.spec.egress.as_ref().and_then(|v| v[r].ports.as_ref()))
            };
            let src = ctx.source(Source {
                label: format!(
                    "NetworkPolicy {}/{}, {key} rule {}",
                    np.namespace,
                    np.name,
                    r + 1
                ),
                file: np.obj.file.clone(),
                line: np
                    .obj
                    .line(&[Step::Key("spec"), Step::Key(key), Step::Index(r)]),
                admin: false,
            });
            ctx.lines(true, &np_peers[i][d][r], &ports, dir, pod, src, &mut tail);
        }
    }
    if isolated {
        let first = &c.policies[nps[0]];
        let names: Vec<String> = nps
            .iter()
            .map(|&i| format!("{}/{}", c.policies[i].namespace, c.policies[i].name))
            .collect();
        let label = if names.len() == 1 {
            format!(
                "NetworkPolicy {} isolates the pod for {key} and none of its rules allows this",
                names[0]
            )
        } else {
            format!(
                "NetworkPolicies {} isolate the pod for {key} and none of their rules allows this",
                names.join(", ")
            )
        };
        let src = ctx.source(Source {
            label,
            file: first.obj.file.clone(),
            line: first
                .obj
                .line(&[Step::Key("spec"), Step::Key("podSelector")]),
            admin: false,
        });
        tail.push(Line {
            allow: false,
            peer: Addrs::all(),
            proto: None,
            ports: Vec::new(),
            source: Some(src),
        });
    } else {
        let mut baselines: Vec<usize> = admins
            .iter()
            .copied()
            .filter(|&i| c.admin[i].tier == Tier::Baseline)
            .collect();
        baselines.sort_by_key(|&i| (c.admin[i].priority, c.admin[i].name.clone()));
        for i in baselines {
            admin_rules(ctx, dir, pod, i, admin_peers, &[], false, &mut tail);
        }
    }
    let mut out = Vec::new();
    for &i in admins.iter().filter(|&&i| c.admin[i].tier == Tier::Admin) {
        admin_rules(ctx, dir, pod, i, admin_peers, &tail, isolated, &mut out);
    }
    out.extend(tail);
    out
}

#[allow(clippy::too_many_arguments)]
fn admin_rules(
    ctx: &mut Ctx,
    dir: Dir,
    pod: &Pod,
    i: usize,
    admin_peers: &[[Vec<Addrs>; 2]],
    tail: &[Line],
    isolated: bool,
    out: &mut Vec<Line>,
) {
    let c = ctx.c;
    let p = &c.admin[i];
    let d = (dir == Dir::Egress) as usize;
    let rules = if d == 0 { &p.ingress } else { &p.egress };
    let v2 = p.kind == "ClusterNetworkPolicy";
    for (r, rule) in rules.iter().enumerate() {
        let name = if rule.name.is_empty() {
            String::new()
        } else {
            format!(" `{}`", rule.name)
        };
        let src = ctx.source(Source {
            label: format!(
                "{}, {} rule {}{name} ({})",
                admin_label(p),
                dir.name(),
                r + 1,
                action_word(rule.action, v2)
            ),
            file: p.file.clone(),
            line: rule.line,
            admin: true,
        });
        let items = admin_ports(&rule.ports);
        let mut lines = Vec::new();
        ctx.lines(
            rule.action != Action::Deny,
            &admin_peers[i][d][r],
            &items,
            dir,
            pod,
            src,
            &mut lines,
        );
        if rule.action != Action::Pass {
            out.extend(lines);
            continue;
        }
        // Pass: these packets skip the rest of the admin tier and meet the
        // NetworkPolicy tier (and below it the baseline tier) at once.
        for m in &lines {
            out.extend(tail.iter().filter_map(|t| t.meet(m)));
            if !isolated {
                out.push(Line {
                    allow: true,
                    ..m.clone()
                });
            }
        }
    }
}
